with theme_mentions as (

    select * from {{ ref('int_themes__mentions') }}

),

final as (

    select distinct
        document_id as event_id,
        theme_id

    from theme_mentions

)

select * from final
