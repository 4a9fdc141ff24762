with source as (

    select * from {{ source('news', 'news_documents') }}

),

renamed as (

    select
        document_id,
        source_name,
        file_path,
        published_at,
        source,
        url,
        title,
        body,
        front_matter,
        sentiment,
        content_hash,
        ingested_at

    from source

)

select * from renamed
