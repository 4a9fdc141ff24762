-- One row per (security, calendar session), densified over the calendar from the security's first
-- bar to the calendar's last session, so that a missing bar is a row with has_bar = false and
-- returns never bridge a gap: R_t = AdjClose_t / AdjClose at the previous calendar session - 1.
-- Incremental: a night recomputes each changed security from its `recompute_from_index`
-- (int_prices__changes) and keeps the rest; the pre-hook deletes the rows it replaces.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=delete_before_begin("{{ delete_recomputed_rows(ref('int_prices__changes'), 'changes.recompute_from_index') }}")
) }}

with changes as (
    select * from {{ ref('int_prices__changes') }}
    where series_start_index is not null
),

bars as (
    select b.*
    from {{ ref('int_prices__security_bars') }} as b
    {% if is_incremental() %}
    inner join changes as c
        on c.security_id = b.security_id
        and b.session_index >= c.recompute_from_index - 1  -- the bar the first return starts from
    {% endif %}
    where b.is_calendar_session
),

sessions as (
    select session_date, session_index from {{ ref('stg_calendar__sessions') }}
),

benchmark as (
    select session_index, benchmark_return from {{ ref('int_prices__benchmark_returns') }}
),

dense as (
    select c.security_id, s.session_date, s.session_index
    from changes as c
    inner join sessions as s
        on s.session_index >= c.series_start_index
        {% if is_incremental() %}and s.session_index >= c.recompute_from_index - 1{% endif %}
),

series as (
    select
        d.security_id,
        d.session_date,
        d.session_index,
        b.ticker,
        b.session_index is not null as has_bar,
        b.adj_close,
        b.close,
        b.volume,
        b.adj_close / lag(b.adj_close) over (
            partition by d.security_id order by d.session_index
        ) - 1 as "return",
        m.benchmark_return
    from dense as d
    left join bars as b
        on b.security_id = d.security_id
        and b.session_index = d.session_index
    left join benchmark as m
        on m.session_index = d.session_index
)

select * from series
{% if is_incremental() %}
where exists (
    select 1 from changes as c
    where c.security_id = series.security_id and series.session_index >= c.recompute_from_index
)
{% endif %}
