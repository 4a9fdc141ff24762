-- One row per (event, entity): the distinct surface forms the entity was written as in the
-- document (`Meta`, `$META`) and whether any of them was a `$TICKER`.
with mentions as (

    select * from {{ ref('int_entities__mentions') }}

),

distinct_surface_forms as (

    select distinct
        document_id,
        entity_id,
        annotation_key

    from mentions

),

surface_form_lists as (

    select
        document_id,
        entity_id,
        {{ dbt.listagg('annotation_key', "', '", 'order by annotation_key') }} as mentioned_as,
        {{ ordered_array_agg('annotation_key', 'annotation_key') }} as mentioned_as_list

    from distinct_surface_forms
    group by document_id, entity_id

),

mention_flags as (

    select
        document_id,
        entity_id,
        {{ dbt.bool_or('via_ticker') }} as via_ticker,
        count(*) as mention_count,
        min(position) as first_position

    from mentions
    group by document_id, entity_id

),

final as (

    select
        mention_flags.document_id as event_id,
        mention_flags.entity_id,
        surface_form_lists.mentioned_as,
        surface_form_lists.mentioned_as_list,
        mention_flags.via_ticker,
        cast(mention_flags.mention_count as integer) as mention_count,
        mention_flags.first_position

    from mention_flags
    inner join surface_form_lists
        on surface_form_lists.document_id = mention_flags.document_id
        and surface_form_lists.entity_id = mention_flags.entity_id

)

select * from final
