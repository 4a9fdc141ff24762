-- Completeness: every (linked event, security, configured window) has a row in fct_event_impact,
-- and no other row exists: nothing is dropped or invented silently. Cross-table, so a dbt test.
{{ config(meta={'dagster': {'ref': {'name': 'fct_event_impact'}}}) }}

with expected as (
    select distinct l.event_id, l.security_id, w.window_start, w.window_end
    from {{ ref('int_events__linked_securities') }} as l
    cross join {{ event_windows_relation(var('event_windows')) }} as w
),

actual as (
    select event_id, security_id, window_start, window_end
    from {{ ref('fct_event_impact') }}
)

select 'missing' as problem, * from (select * from expected except select * from actual)
union all
select 'unexpected' as problem, * from (select * from actual except select * from expected)
