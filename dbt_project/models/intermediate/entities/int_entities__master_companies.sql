-- One row per company (CIK) of the security master, with the entity it is. A company with a
-- ticker the reference seeds know is that seed entity (seeds win: the ticker's latest seeded
-- period decides; several -> the smallest entity_id); any other company is `ent_cik_<cik>`.
with master as (

    select * from {{ ref('stg_securities__master') }}

),

reference_periods as (

    select * from {{ ref('ref_securities') }}

),

latest_reference_periods as (

    select
        ticker,
        entity_id,
        row_number() over (
            partition by ticker
            order by valid_to is null desc, valid_to desc, valid_from desc, security_id
        ) as period_recency

    from reference_periods

),

seed_entities_of_companies as (

    select
        master.cik,
        min(latest_reference_periods.entity_id) as entity_id

    from master
    inner join latest_reference_periods
        on latest_reference_periods.ticker = master.ticker
        and latest_reference_periods.period_recency = 1
    group by master.cik

),

companies as (

    select
        cik,
        -- one title per CIK in SEC's files; should two rows disagree, the first alphabetically
        min(company_name) as company_name

    from master
    group by cik

),

final as (

    select
        companies.cik,
        coalesce(
            seed_entities_of_companies.entity_id,
            'ent_cik_' || ltrim(companies.cik, '0')
        ) as entity_id,
        seed_entities_of_companies.entity_id is not null as is_seed_entity,
        companies.company_name

    from companies
    left join seed_entities_of_companies
        on seed_entities_of_companies.cik = companies.cik

)

select * from final
