-- One row per normalised name that resolves to a reference entity: curated aliases, canonical
-- names and tickers (a company written as "AAPL" is Apple). On a collision an alias or canonical
-- name beats a ticker, then the smallest entity_id wins (deterministic).
with entities as (

    select * from {{ ref('ref_entities') }}

),

aliases as (

    select * from {{ ref('ref_entity_aliases') }}

),

ticker_periods as (

    select * from {{ ref('int_securities__ticker_periods') }}

),

name_candidates as (

    select entity_id, alias, 'alias' as alias_source, 1 as alias_priority
    from aliases

    union all

    select entity_id, entity_name as alias, 'canonical_name' as alias_source, 1 as alias_priority
    from entities

    union all

    select distinct entity_id, ticker as alias, 'ticker' as alias_source, 2 as alias_priority
    from ticker_periods

),

normalised as (

    select
        {{ normalize_entity_name('alias') }} as alias_normalized,
        entity_id,
        alias,
        alias_source,
        alias_priority

    from name_candidates

),

ranked as (

    select
        *,
        row_number() over (
            partition by alias_normalized
            order by alias_priority, entity_id, alias_source, alias
        ) as alias_rank

    from normalised
    where alias_normalized <> ''

)

select
    alias_normalized,
    entity_id,
    alias,
    alias_source

from ranked
where alias_rank = 1
