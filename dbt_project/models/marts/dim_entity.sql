with entities as (

    select * from {{ ref('int_entities__resolved') }}

),

final as (

    select
        entity_id,
        entity_name,
        entity_type,
        security_id,
        current_ticker,
        description,
        cast(mention_count as integer) as mention_count,
        first_seen_at,
        last_seen_at,
        cik

    from entities

)

select * from final
