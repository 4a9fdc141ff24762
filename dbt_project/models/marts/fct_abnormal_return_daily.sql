-- One row per (event with a timestamp, linked security, relative day in var daily_window_start..end):
-- the data behind cumulative-abnormal-return plots. The abnormal return uses the event's market model
-- (the rolling model at day 0), so summing abnormal_return over [a, b] gives fct_event_impact.car.
-- Incremental: a night recomputes the (event, security) pairs of int_events__changes.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=delete_before_begin("{{ delete_changed_events(ref('int_events__changes')) }}")
) }}

with linked as (
    select l.* from {{ ref('int_events__linked_securities') }} as l
    {{ changed_events_only('l', ref('int_events__changes')) }}
    where l.published_at is not null
),

rel_days as (
    select * from {{ relative_days_relation(var('daily_window_start'), var('daily_window_end')) }}
),

sessions as (
    select session_date, session_index from {{ ref('stg_calendar__sessions') }}
),

daily as (
    -- Bounded: without it DuckDB built its hash table on all 12.7 M daily returns (bench scale)
    -- to join a night's few events (0.7 to 1.3 s for one event; 0.07 s with it).
    select d.* from {{ ref('int_prices__daily_returns') }} as d
    where {{ within_event_days('d.session_index', 'linked', var('daily_window_start'), var('daily_window_end')) }}
),

benchmark as (
    select session_index, benchmark_return from {{ ref('int_prices__benchmark_returns') }}
),

models as (
    select * from {{ ref('int_market_model__rolling') }}
),

event_days as (
    select
        l.event_id,
        l.security_id,
        l.ticker,
        r.rel_day,
        l.event_session_index + r.rel_day as session_index,
        m.alpha,
        m.beta
    from linked as l
    cross join rel_days as r
    left join models as m
        on m.security_id = l.security_id
        and m.session_index = l.event_session_index
)

select
    cast(ed.event_id as varchar) as event_id,
    cast(ed.security_id as varchar) as security_id,
    cast(ed.ticker as varchar) as ticker,
    cast(ed.rel_day as integer) as rel_day,
    cast(s.session_date as date) as session,
    cast(d."return" as double) as "return",
    cast(b.benchmark_return as double) as benchmark_return,
    cast({{ abnormal_return('d."return"', 'b.benchmark_return', 'ed.alpha', 'ed.beta') }} as double) as abnormal_return
from event_days as ed
left join sessions as s
    on s.session_index = ed.session_index
left join daily as d
    on d.security_id = ed.security_id
    and d.session_index = ed.session_index
left join benchmark as b
    on b.session_index = ed.session_index
