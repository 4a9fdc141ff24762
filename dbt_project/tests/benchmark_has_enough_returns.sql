-- The configured benchmark (config key event_study.benchmark) has bars and at least
-- min_estimation_returns daily returns: without them every market model is missing and every
-- impact row would silently read `missing_prices`. A blocking test, so such a run publishes
-- nothing. dbt prints no failing rows, so when it fails the test stops with a message that
-- names the ticker and the config key (the run summary shows dbt's errors); the query below
-- is the same rule as rows, for `dbt test` by hand.
{{ config(meta={'dagster': {'ref': {'name': 'int_prices__benchmark_returns'}}}) }}
{%- set ticker = var('benchmark_ticker') | replace("'", "''") %}
{%- set min_n = var('min_estimation_returns') | int %}
{%- set returns = ref('int_prices__benchmark_returns') %}

{%- if execute %}
    {%- set counts = run_query(
        "select count(*) filter (where has_bar), count(benchmark_return) from " ~ returns
    ).rows[0] %}
    {%- if counts[1] < min_n %}
        {{- exceptions.raise_compiler_error(
            "benchmark '" ~ ticker ~ "' (config key event_study.benchmark) has " ~ counts[0]
            ~ " price bars and " ~ counts[1] ~ " daily returns; at least " ~ min_n
            ~ " (event_study.min_estimation_returns) are needed: add its price file or fix the key"
        ) }}
    {%- endif %}
{%- endif %}

with counts as (
    select
        count(*) filter (where has_bar) as n_bars,
        count(benchmark_return) as n_returns
    from {{ returns }}
)

select
    'benchmark ''{{ ticker }}'' (config key event_study.benchmark) has too few returns' as problem,
    n_bars,
    n_returns
from counts
where n_returns < {{ min_n }}
