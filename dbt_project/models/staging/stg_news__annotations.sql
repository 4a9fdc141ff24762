with source as (

    select * from {{ source('news', 'news_annotations') }}

),

renamed as (

    select
        document_id,
        position,
        kind,
        annotation_key,
        case
            when kind = 'ticker' then upper(trim(ltrim(trim(annotation_key), '$')))
            else {{ collapse_whitespace('annotation_key') }}
        end as annotation_name,
        description

    from source

)

select * from renamed
