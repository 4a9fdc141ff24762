-- Incremental: a night recomputes each changed security (int_prices__changes) from the first model
-- its new returns reach, reading the series from a segment-tree-aligned start (docs/incremental.md).
-- One row per (security, session_index k): the market model R = alpha + beta * Rm estimated over the
-- estimation window [k + E1, k + E2] (relative sessions, both ends inclusive), i.e. the model of an
-- event whose day 0 is session k. Window aggregates over each security's dense series: it has a row at
-- every session (tests/int_prices__daily_returns_series_are_dense.sql), so a ROWS frame is exactly
-- those sessions, and DuckDB computes it about 3 times faster than the same RANGE frame.
{%- set e1 = var('estimation_window_start') | int %}
{%- set e2 = var('estimation_window_end') | int %}
{%- set min_n = var('min_estimation_returns') | int %}
{%- set model_from = first_changed_model_index() | trim %}
{%- if e1 > e2 %}{{ exceptions.raise_compiler_error("estimation_window_start must be <= estimation_window_end") }}{% endif %}

{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=delete_before_begin("{{ delete_recomputed_rows(ref('int_prices__changes'), '" ~ model_from ~ "') }}")
) }}

with changes as (
    select * from {{ ref('int_prices__changes') }}
    where series_start_index is not null
),

daily as (
    select d.*
    from {{ ref('int_prices__daily_returns') }} as d
    {% if is_incremental() %}
    inner join changes
        on changes.security_id = d.security_id
        and d.session_index >= {{ aligned_input_start('changes.series_start_index', model_from, e1, e2 - e1 + 1) }}
    {% endif %}
),

windowed as (
    select
        security_id,
        session_date,
        session_index,
        -- regr_* ignore the days where R or Rm is null: n counts the pairs.
        regr_count("return", benchmark_return) over estimation as n,
        regr_avgx("return", benchmark_return) over estimation as mean_rm,
        regr_intercept("return", benchmark_return) over estimation as ols_intercept,
        regr_slope("return", benchmark_return) over estimation as ols_slope,
        regr_sxx("return", benchmark_return) over estimation as sxx,
        regr_syy("return", benchmark_return) over estimation as syy,
        regr_sxy("return", benchmark_return) over estimation as sxy,
        avg(volume) over estimation as mean_estimation_volume
    from daily
    window estimation as (
        partition by security_id
        order by session_index
        rows between {{ frame_bound(e1) }} and {{ frame_bound(e2) }}
    )
),

estimable as (
    select
        *,
        n >= {{ min_n }} and n > 2 and sxx > 0 as has_model
    from windowed
)

select
    security_id,
    session_date,
    session_index,
    cast(coalesce(n, 0) as integer) as estimation_returns,
    has_model,
    case when has_model then ols_intercept end as alpha,
    case when has_model then ols_slope end as beta,
    -- the standardised CARs' forecast-error variance needs them (int_event_study__scar)
    case when has_model then mean_rm end as mean_benchmark_return,
    case when has_model then sxx end as benchmark_sxx,
    -- sigma^2 = SSR / (n - 2) with SSR = Syy - Sxy^2 / Sxx on centred sums (regr_s**: no raw-moment
    -- cancellation). A numerically perfect fit (SSR within rounding of 0, e.g. the benchmark regressed
    -- on itself) is sigma = 0 exactly, rather than the square root of rounding noise.
    case
        when not has_model then null
        when syy - sxy * sxy / sxx <= {{ perfect_fit_tolerance() }} * syy then 0.0
        else sqrt((syy - sxy * sxy / sxx) / (n - 2))
    end as sigma,
    mean_estimation_volume
from estimable
{% if is_incremental() %}
where exists (
    select 1 from changes
    where changes.security_id = estimable.security_id and estimable.session_index >= {{ model_from }}
)
{% endif %}
