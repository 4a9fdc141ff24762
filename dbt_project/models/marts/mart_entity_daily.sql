-- One row per (entity, session) with activity (int_entities__daily_mentions), with the prices of
-- the entity's security at that session; the abnormal return uses the rolling market model at
-- that session (estimation window trailing the session).
-- Incremental: the pre-hook deletes the rows whose mentions, security or ticker changed or went,
-- and each recomputed security's rows from its first recomputed session on; the model adds the
-- days the table then lacks.
-- depends_on: {{ ref('int_prices__changes') }}
-- depends_on: {{ ref('stg_calendar__sessions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=delete_before_begin("{{ delete_changed_entity_days(ref('int_entities__daily_mentions'), ref('int_prices__changes'), ref('stg_calendar__sessions')) }}")
) }}

with mentions as (
    select * from {{ ref('int_entities__daily_mentions') }} as mn
    {% if is_incremental() %}
    where not exists (
        select 1 from {{ this }} as kept
        where kept.entity_id = mn.entity_id and kept.session = mn.session
    )
    {% endif %}
),

daily as (
    select * from {{ ref('int_prices__daily_returns') }}
),

models as (
    select * from {{ ref('int_market_model__rolling') }}
)

select
    cast(mn.entity_id as varchar) as entity_id,
    cast(mn.session as date) as session,
    cast(mn.mention_count as integer) as mention_count,
    cast(mn.avg_sentiment as double) as avg_sentiment,
    cast(mn.security_id as varchar) as security_id,
    cast(mn.ticker as varchar) as ticker,
    cast(d.close as double) as close,
    cast(d."return" as double) as "return",
    cast({{ abnormal_return('d."return"', 'd.benchmark_return', 'm.alpha', 'm.beta') }} as double) as abnormal_return
from mentions as mn
left join daily as d
    on d.security_id = mn.security_id
    and d.session_date = mn.session
left join models as m
    on m.security_id = mn.security_id
    and m.session_index = d.session_index
