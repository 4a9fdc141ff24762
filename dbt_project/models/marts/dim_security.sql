with ticker_periods as (

    select * from {{ ref('int_securities__ticker_periods') }}

),

final as (

    select
        security_id,
        ticker,
        valid_from,
        valid_to,
        company_name,
        exchange,
        entity_id,
        security_type

    from ticker_periods

)

select * from final
