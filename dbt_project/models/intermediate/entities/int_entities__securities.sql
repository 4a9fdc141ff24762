-- One row per (entity, equity security) with the security's current ticker and whether it is the
-- entity's primary security. Primary = a security with a current ticker period if any, then the
-- one listed first (Alphabet class A, not the class C shares issued in 2014), then security_id.
with ticker_periods as (

    select * from {{ ref('int_securities__ticker_periods') }}
    where security_type = 'equity'

),

latest_periods as (

    select
        security_id,
        ticker as current_ticker,
        company_name as current_company_name,
        row_number() over (partition by security_id order by valid_from desc) as period_recency

    from ticker_periods

),

securities as (

    select
        entity_id,
        security_id,
        min(valid_from) as first_valid_from,
        max(case when valid_to is null then 1 else 0 end) as has_current_period,
        case
            when max(case when valid_to is null then 1 else 0 end) = 1 then null
            else max(valid_to)
        end as last_valid_to

    from ticker_periods
    group by entity_id, security_id

),

ranked as (

    select
        securities.entity_id,
        securities.security_id,
        latest_periods.current_ticker,
        latest_periods.current_company_name,
        securities.first_valid_from,
        securities.last_valid_to,
        row_number() over (
            partition by securities.entity_id
            order by securities.has_current_period desc, securities.first_valid_from, securities.security_id
        ) as security_rank

    from securities
    inner join latest_periods
        on latest_periods.security_id = securities.security_id
        and latest_periods.period_recency = 1

)

select
    entity_id,
    security_id,
    current_ticker,
    current_company_name,
    first_valid_from,
    last_valid_to,
    security_rank = 1 as is_primary

from ranked
