-- One row per company name key (`company_name_key`: normalised, trailing legal-form words
-- dropped) that resolves to an entity: curated aliases and canonical names of the seeds, the SEC
-- titles of the security master, and tickers (a company written as "AAPL" is Apple). On a
-- collision a seed name beats a master title, which beats a ticker; then a seed entity beats a
-- master company, the lowest CIK beats a higher one, and the smallest entity_id wins
-- (deterministic).
with entities as (

    select * from {{ ref('ref_entities') }}

),

aliases as (

    select * from {{ ref('ref_entity_aliases') }}

),

master_companies as (

    select * from {{ ref('int_entities__master_companies') }}

),

ticker_periods as (

    select * from {{ ref('int_securities__ticker_periods') }}

),

name_candidates as (

    select entity_id, alias, 'alias' as alias_source, 1 as alias_priority, cast(null as varchar) as cik
    from aliases

    union all

    select entity_id, entity_name as alias, 'canonical_name' as alias_source, 1 as alias_priority, cast(null as varchar) as cik
    from entities

    union all

    select entity_id, company_name as alias, 'master_title' as alias_source, 2 as alias_priority, cik
    from master_companies

    union all

    select distinct entity_id, ticker as alias, 'ticker' as alias_source, 3 as alias_priority, cast(null as varchar) as cik
    from ticker_periods

),

keyed as (

    select
        {{ company_name_key('name_candidates.alias') }} as name_key,
        name_candidates.entity_id,
        name_candidates.alias,
        name_candidates.alias_source,
        name_candidates.alias_priority,
        -- the CIK of a master company's entity, also when a ticker names it
        coalesce(name_candidates.cik, master_companies.cik) as cik,
        entities.entity_id is not null as is_seed_entity

    from name_candidates
    left join entities
        on entities.entity_id = name_candidates.entity_id
    left join master_companies
        on master_companies.entity_id = name_candidates.entity_id
        and name_candidates.cik is null
        and not master_companies.is_seed_entity

),

ranked as (

    select
        *,
        row_number() over (
            partition by name_key
            order by alias_priority, is_seed_entity desc, cik nulls last, entity_id, alias_source, alias
        ) as alias_rank

    from keyed
    where name_key <> ''

)

select
    name_key,
    entity_id,
    alias,
    alias_source

from ranked
where alias_rank = 1
