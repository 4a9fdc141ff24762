-- One row per (event, linked security, configured window), whatever the status.
-- Set-based: each (event, security, window) row expands to its relative days, which meet the
-- security's dense daily series on the exact key (security, session_index) -- a hash join whose cost
-- grows with the window days, not with the length of the series -- and are aggregated per window.
-- The market model is the rolling one at day 0.
{%- set min_n = var('min_estimation_returns') | int %}
{%- set window_aggregates = {
    'gross_return': ['product', '1 + d."return"'],
    'gross_benchmark_return': ['product', '1 + d.benchmark_return'],
    'car_market_adjusted': ['sum', 'd."return" - d.benchmark_return'],
    'car': ['sum', abnormal_return('d."return"', 'd.benchmark_return', 'ew.alpha', 'ew.beta')],
    'mean_window_volume': ['avg', 'd.volume'],
} %}

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
),

windows as (
    select * from {{ event_windows_relation(var('event_windows')) }}
),

window_rel_days as (
    select * from {{ event_window_days_relation(var('event_windows')) }}
),

models as (
    select * from {{ ref('int_market_model__rolling') }}
    where {{ within_event_days('session_index', 'linked', 0, 0) }}
),

daily as (
    select * from {{ ref('int_prices__daily_returns') }}
    where {{ within_event_days('session_index', 'linked',
        '(select min(rel_day) from window_rel_days)', '(select max(rel_day) from window_rel_days)') }}
),

event_windows as (
    select
        l.event_id,
        l.entity_id,
        l.security_id,
        l.ticker,
        l.published_at,
        l.event_session,
        l.event_session_index,
        w.window_start,
        w.window_end,
        m.estimation_returns,
        m.alpha,
        m.beta,
        m.sigma,
        m.mean_estimation_volume
    from linked as l
    cross join windows as w
    left join models as m
        on m.security_id = l.security_id
        and m.session_index = l.event_session_index
),

window_day_groups as (
    select
        ew.event_id,
        ew.security_id,
        ew.window_start,
        ew.window_end,
        count(*) filter (where d.has_bar) as n_bars,
        count(*) filter (where d."return" is not null and d.benchmark_return is not null) as n_return_days,
        -- in session order: the same bits every run (macros/ordered_aggregates.sql)
        {{ ordered_aggregates(window_aggregates, 'd.session_index') }}
    from event_windows as ew
    inner join window_rel_days as wr
        on wr.window_start = ew.window_start
        and wr.window_end = ew.window_end
    inner join daily as d
        on d.security_id = ew.security_id
        and d.session_index = ew.event_session_index + wr.rel_day
    where ew.published_at is not null
    group by ew.event_id, ew.security_id, ew.window_start, ew.window_end
),

window_days as (
    select
        g.event_id,
        g.security_id,
        g.window_start,
        g.window_end,
        g.n_bars,
        g.n_return_days,
        {{ ordered_aggregate_results(window_aggregates, 'g') }}
    from window_day_groups as g
),

classified as (
    select
        ew.*,
        wd.gross_return - 1 as raw_return,
        wd.gross_benchmark_return - 1 as benchmark_return,
        wd.car_market_adjusted,
        wd.car,
        wd.mean_window_volume,
        case
            when ew.published_at is null then 'no_timestamp'
            when coalesce(wd.n_bars, 0) = 0 then 'no_price_coverage'
            -- a window day beyond the calendar or before the series start has no row: it counts as null
            when coalesce(wd.n_return_days, 0) < ew.window_end - ew.window_start + 1 then 'missing_prices'
            when coalesce(ew.estimation_returns, 0) < {{ min_n }} or ew.sigma is null then 'insufficient_history'
            else 'ok'
        end as status
    from event_windows as ew
    left join window_days as wd
        on wd.event_id = ew.event_id
        and wd.security_id = ew.security_id
        and wd.window_start = ew.window_start
        and wd.window_end = ew.window_end
)

select
    cast(event_id as varchar) as event_id,
    cast(entity_id as varchar) as entity_id,
    cast(security_id as varchar) as security_id,
    cast(ticker as varchar) as ticker,
    cast(event_session as date) as event_session,
    cast(window_start as integer) as window_start,
    cast(window_end as integer) as window_end,
    cast(status as varchar) as status,
    cast(case when event_session_index is not null then coalesce(estimation_returns, 0) end as integer)
        as estimation_returns,
    cast(alpha as double) as alpha,
    cast(beta as double) as beta,
    cast(sigma as double) as sigma,
    cast(case when status in ('ok', 'insufficient_history') then raw_return end as double) as raw_return,
    cast(case when status in ('ok', 'insufficient_history') then benchmark_return end as double)
        as benchmark_return,
    cast(case when status in ('ok', 'insufficient_history') then car_market_adjusted end as double)
        as car_market_adjusted,
    cast(case when status = 'ok' then car end as double) as car,
    -- sigma = 0 is a perfect fit (e.g. the benchmark itself): no t statistic
    cast(case when status = 'ok' and sigma > 0
        then car / (sigma * sqrt(window_end - window_start + 1)) end as double) as car_t,
    cast(case when status <> 'no_timestamp'
        then mean_window_volume / nullif(mean_estimation_volume, 0) end as double) as abnormal_volume_ratio
from classified
