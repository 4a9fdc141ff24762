-- One row per (theme, configured window): the cross-section of fct_event_impact rows with status ok
-- for the events tagged with the theme. Every theme x window has a row (n_events = 0 when none).
{%- set impact_aggregates = {
    'caar': ['avg', 'oi.car'],
    'sd_car': ['stddev_samp', 'oi.car'],
    'mean_raw_return': ['avg', 'oi.raw_return'],
} %}

with themes as (
    select theme_id, theme_code from {{ ref('dim_theme') }}
),

windows as (
    select * from {{ event_windows_relation(var('event_windows')) }}
),

ok_impacts as (
    select bt.theme_id, fi.event_id, fi.security_id, fi.window_start, fi.window_end, fi.car, fi.raw_return
    from {{ ref('bridge_event_theme') }} as bt
    inner join {{ ref('fct_event_impact') }} as fi
        on fi.event_id = bt.event_id
    where fi.status = 'ok'
),

grouped as (
    select
        t.theme_id,
        t.theme_code,
        w.window_start,
        w.window_end,
        count(oi.car) as n_events,
        avg(case when oi.car > 0 then 1.0 when oi.car is not null then 0.0 end) as pct_positive,
        -- in value order: a fixed sequence whatever the join's row order (the same bits), and
        -- half the time of sorting by (event, security) over the 2 M impacts
        {{ ordered_aggregates(impact_aggregates, 'oi.car, oi.raw_return') }}
    from themes as t
    cross join windows as w
    left join ok_impacts as oi
        on oi.theme_id = t.theme_id
        and oi.window_start = w.window_start
        and oi.window_end = w.window_end
    group by t.theme_id, t.theme_code, w.window_start, w.window_end
),

aggregated as (
    select
        g.theme_id,
        g.theme_code,
        g.window_start,
        g.window_end,
        g.n_events,
        g.pct_positive,
        {{ ordered_aggregate_results(impact_aggregates, 'g') }}
    from grouped as g
)

select
    cast(theme_id as varchar) as theme_id,
    cast(theme_code as varchar) as theme_code,
    cast(window_start as integer) as window_start,
    cast(window_end as integer) as window_end,
    cast(n_events as integer) as n_events,
    cast(caar as double) as caar,
    cast(case when n_events >= 2 and sd_car > 0 then caar / (sd_car / sqrt(n_events)) end as double) as caar_t,
    cast(pct_positive as double) as pct_positive,
    cast(mean_raw_return as double) as mean_raw_return
from aggregated
