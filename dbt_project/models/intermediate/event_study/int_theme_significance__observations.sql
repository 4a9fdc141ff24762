-- One row per (theme, window, event filter, ok CAR): the CARs each theme test reads, every ok
-- CAR of the theme's events ('all') and those no other event of the same security overlaps
-- ('unconfounded'). event_month (the month of the event session) splits the Corrado rank
-- sums so that a night recomputes the months its new events reach, not the whole history.
{{ config(materialized='view') }}

with themed as (
    select t.theme_code, c.event_id, c.security_id, c.window_start, c.window_end, c.car,
        cast({{ dbt.date_trunc('month', 'c.event_session') }} as date) as event_month
    from {{ ref('fct_event_impact') }} as c
    inner join {{ ref('bridge_event_theme') }} as bt using (event_id)
    inner join {{ ref('dim_theme') }} as t using (theme_id)
    where c.status = 'ok'
)

select *, 'all' as event_filter from themed
union all
select *, 'unconfounded' as event_filter from themed
where not exists (
    select 1 from {{ ref('int_event_windows__overlaps') }} as o
    where o.is_confounded
        and o.event_id = themed.event_id and o.security_id = themed.security_id
        and o.window_start = themed.window_start and o.window_end = themed.window_end
)
