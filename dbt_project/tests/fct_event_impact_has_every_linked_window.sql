-- Completeness: every (linked event, security, configured window) has a row in fct_event_impact,
-- and no other row exists: nothing is dropped or invented silently. Cross-table, so a dbt test.
-- On an incremental build it reads the (event, security) pairs the build recomputed, as the data
-- tests of fct_event_impact do (macros/incremental/changed_rows_tests.sql): int_events__changes
-- lists every pair whose links differ from the table's, so a pair missing on either side is one
-- of them; the windows of a kept pair were tested by the build that wrote them.
{{ config(meta={'dagster': {'ref': {'name': 'fct_event_impact'}}}) }}
{%- set changed = newsimpact.changed_rows_condition(ref('fct_event_impact')) %}

with expected as (
    select distinct tested.event_id, tested.security_id, w.window_start, w.window_end
    from {{ ref('int_events__linked_securities') }} as tested
    cross join {{ event_windows_relation(var('event_windows')) }} as w
    {% if changed %}where {{ changed }}{% endif %}
),

actual as (
    select event_id, security_id, window_start, window_end
    from {{ ref('fct_event_impact') }} as tested
    {% if changed %}where {{ changed }}{% endif %}
)

select 'missing' as problem, * from (select * from expected except select * from actual)
union all
select 'unexpected' as problem, * from (select * from actual except select * from expected)
