-- One row per (event with a session, linked security, configured window): whether the window
-- [s + a, s + b] overlaps the same window of another event of the same security. Two windows of
-- width b - a + 1 overlap exactly when their day-0 sessions are at most b - a sessions apart, so
-- the overlap is a range join on session_index.
-- Incremental: a night recomputes the links of int_event_windows__changes (the changed links and
-- their neighbours), each against every other event of its security.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=delete_before_begin("{{ delete_changed_events(ref('int_event_windows__changes')) }}")
) }}

with linked as (
    select event_id, security_id, event_session_index
    from {{ ref('int_events__linked_securities') }}
    where event_session_index is not null
),

windows as (
    select * from {{ event_windows_relation(var('event_windows')) }}
),

event_windows as (
    select l.event_id, l.security_id, l.event_session_index, w.window_start, w.window_end
    from linked as l
    {{ changed_events_only('l', ref('int_event_windows__changes')) }}
    cross join windows as w
),

overlapping as (
    select
        ew.event_id,
        ew.security_id,
        ew.window_start,
        ew.window_end,
        count(*) as overlapping_event_count,
        list(other.event_id order by other.event_id) as overlapping_event_ids
    from event_windows as ew
    inner join linked as other
        on other.security_id = ew.security_id
        and other.event_id <> ew.event_id
        and other.event_session_index between ew.event_session_index - (ew.window_end - ew.window_start)
                                          and ew.event_session_index + (ew.window_end - ew.window_start)
    group by ew.event_id, ew.security_id, ew.window_start, ew.window_end
)

select
    cast(ew.event_id as varchar) as event_id,
    cast(ew.security_id as varchar) as security_id,
    cast(ew.window_start as integer) as window_start,
    cast(ew.window_end as integer) as window_end,
    cast(ew.event_session_index as integer) as event_session_index,
    coalesce(o.overlapping_event_count, 0) > 0 as is_confounded,
    cast(coalesce(o.overlapping_event_count, 0) as integer) as overlapping_event_count,
    cast(coalesce(o.overlapping_event_ids, []) as varchar[]) as overlapping_event_ids
from event_windows as ew
left join overlapping as o
    on o.event_id = ew.event_id
    and o.security_id = ew.security_id
    and o.window_start = ew.window_start
    and o.window_end = ew.window_end
