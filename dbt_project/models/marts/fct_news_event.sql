-- One row per news document, with its session and how many distinct entities and themes it names.
with documents as (

    select * from {{ ref('stg_news__documents') }}

),

aligned_events as (

    select * from {{ ref('int_events__aligned') }}

),

event_entities as (

    select * from {{ ref('bridge_event_entity') }}

),

event_themes as (

    select * from {{ ref('bridge_event_theme') }}

),

entity_counts as (

    select event_id, count(distinct entity_id) as entity_count
    from event_entities
    group by event_id

),

theme_counts as (

    select event_id, count(distinct theme_id) as theme_count
    from event_themes
    group by event_id

),

final as (

    select
        documents.document_id as event_id,
        documents.source,
        documents.title,
        documents.url,
        documents.published_at,
        aligned_events.event_session,
        documents.sentiment,
        cast(coalesce(entity_counts.entity_count, 0) as integer) as entity_count,
        cast(coalesce(theme_counts.theme_count, 0) as integer) as theme_count,
        documents.ingested_at,
        aligned_events.event_session_index,
        documents.source_name,
        documents.file_path

    from documents
    inner join aligned_events
        on aligned_events.event_id = documents.document_id
    left join entity_counts
        on entity_counts.event_id = documents.document_id
    left join theme_counts
        on theme_counts.event_id = documents.document_id

)

select * from final
