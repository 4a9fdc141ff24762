-- One row per (event, linked security with a day-0 market model, relative day) over the estimation
-- window and every configured event window, where both R and Rm exist: the abnormal returns the
-- test statistics standardise, rank and sign. On estimation days these are the OLS residuals.
{%- set e1 = var('estimation_window_start') | int %}
{%- set e2 = var('estimation_window_end') | int %}
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
    where l.event_session_index is not null
),

windows as (
    select * from {{ event_windows_relation(var('event_windows')) }}
),

rel_days as (
    select rel_day from {{ relative_days_relation(e1, e2) }}
    union
    select unnest(generate_series(window_start, window_end)) as rel_day from windows
),

-- numbered for security_session_key
security_keys as (
    select security_id, cast(row_number() over (order by security_id) as bigint) as security_key
    from (select distinct security_id from linked) as linked_securities
),

models as (
    select security_id, session_index, alpha, beta
    from {{ ref('int_market_model__rolling') }}
    where has_model and {{ within_event_days('session_index', 'linked', 0, 0) }}
),

daily as (
    select
        {{ security_session_key('k.security_key', 'd.session_index') }} as security_session_key,
        d.session_index, d."return", d.benchmark_return
    from {{ ref('int_prices__daily_returns') }} as d
    inner join security_keys as k
        on k.security_id = d.security_id
    where d."return" is not null and d.benchmark_return is not null
        and {{ within_event_days('d.session_index', 'linked',
            '(select min(rel_day) from rel_days)', '(select max(rel_day) from rel_days)') }}
)

select
    cast(l.event_id as varchar) as event_id,
    cast(l.security_id as varchar) as security_id,
    cast(r.rel_day as integer) as rel_day,
    cast(d.session_index as integer) as session_index,
    r.rel_day between {{ e1 }} and {{ e2 }} as is_estimation_day,
    cast(d.benchmark_return as double) as benchmark_return,
    cast({{ abnormal_return('d."return"', 'd.benchmark_return', 'm.alpha', 'm.beta') }} as double) as abnormal_return
from linked as l
inner join security_keys as k
    on k.security_id = l.security_id
inner join models as m
    on m.security_id = l.security_id
    and m.session_index = l.event_session_index
cross join rel_days as r
inner join daily as d
    on d.security_session_key = {{ security_session_key('k.security_key', 'l.event_session_index + r.rel_day') }}
