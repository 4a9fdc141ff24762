-- One row per theme annotation of a document (`AI_Labor_Strategy: ...`).
with annotations as (

    select * from {{ ref('stg_news__annotations') }}
    where kind = 'theme'

),

documents as (

    select * from {{ ref('stg_news__documents') }}

),

themes as (

    select
        annotations.document_id,
        annotations.position,
        'thm_' || lower(annotations.annotation_name) as theme_id,
        annotations.annotation_name as theme_code,
        replace(annotations.annotation_name, '_', ' ') as theme_name,
        annotations.description,
        documents.published_at

    from annotations
    left join documents
        on documents.document_id = annotations.document_id

)

select * from themes
