-- One row per (event, security, window) with status ok: the standardised CAR of
-- int_event_study__scar and whether another event of the security confounds the window.
-- Incremental: a night recomputes the links of int_event_windows__changes (those whose CAR or
-- confounding may have changed).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=delete_before_begin("{{ delete_changed_events(ref('int_event_windows__changes')) }}")
) }}

with scar as (
    select s.* from {{ ref('int_event_study__scar') }} as s
    {{ changed_events_only('s', ref('int_event_windows__changes')) }}
),

window_overlaps as (
    select * from {{ ref('int_event_windows__overlaps') }}
)

select
    cast(s.event_id as varchar) as event_id,
    cast(s.security_id as varchar) as security_id,
    cast(s.window_start as integer) as window_start,
    cast(s.window_end as integer) as window_end,
    cast(s.n as integer) as estimation_returns,
    cast(s.scar as double) as scar,
    cast(s.p_scar as double) as p_scar,
    -- an ok row has a session, so it has an overlaps row
    cast(o.is_confounded as boolean) as is_confounded,
    cast(o.overlapping_event_ids as varchar[]) as overlapping_event_ids
from scar as s
left join window_overlaps as o
    on o.event_id = s.event_id
    and o.security_id = s.security_id
    and o.window_start = s.window_start
    and o.window_end = s.window_end
