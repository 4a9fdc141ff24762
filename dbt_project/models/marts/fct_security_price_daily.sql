-- One row per (security, session) with a bar: the daily price series the other marts only show at
-- news sessions. daily_return is kept from the densified series, so it is null after a gap.
-- Incremental like int_prices__daily_returns: the changed securities from their first changed session.
-- depends_on: {{ ref('stg_calendar__sessions') }}
-- depends_on: {{ ref('int_prices__changes') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=delete_before_begin("{{ delete_recomputed_days(ref('int_prices__changes'), ref('stg_calendar__sessions')) }}")
) }}

select
    cast(d.security_id as varchar) as security_id,
    cast(d.ticker as varchar) as ticker,
    cast(d.session_date as date) as session_date,
    cast(d.close as double) as close,
    cast(d.adj_close as double) as adj_close,
    cast(d.volume as double) as volume,
    cast(d."return" as double) as daily_return,
    cast(d.benchmark_return as double) as benchmark_return
from {{ ref('int_prices__daily_returns') }} as d
{% if is_incremental() %}
inner join {{ ref('int_prices__changes') }} as changes
    on changes.security_id = d.security_id
    and d.session_index >= changes.recompute_from_index
{% endif %}
where d.has_bar
