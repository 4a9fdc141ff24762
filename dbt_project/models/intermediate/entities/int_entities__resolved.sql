-- One row per entity: every reference entity, every entity mentioned in the news and every
-- issuer of a security (security master companies and price-only tickers included), with its
-- name, type, primary security, SEC CIK and mention statistics.
with reference_entities as (

    select * from {{ ref('ref_entities') }}

),

mentions as (

    select * from {{ ref('int_entities__mentions') }}

),

entity_securities as (

    select * from {{ ref('int_entities__securities') }}

),

ticker_periods as (

    select * from {{ ref('int_securities__ticker_periods') }}

),

-- a seed entity may be the company of several CIKs (one is enough to show)
entity_ciks as (

    select
        entity_id,
        min(cik) as cik

    from {{ ref('int_entities__master_companies') }}
    group by entity_id

),

all_entity_ids as (

    select entity_id from reference_entities
    union
    select entity_id from mentions
    union
    select entity_id from ticker_periods

),

mention_stats as (

    select
        entity_id,
        count(distinct document_id) as mention_count,
        min(published_at) as first_seen_at,
        max(published_at) as last_seen_at

    from mentions
    group by entity_id

),

-- the most frequent surface form of a news-only entity; ties: most recent, then alphabetical
surface_form_counts as (

    select
        entity_id,
        annotation_name,
        count(*) as n_mentions,
        max(published_at) as last_published_at

    from mentions
    group by entity_id, annotation_name

),

top_surface_forms as (

    select
        entity_id,
        annotation_name,
        row_number() over (
            partition by entity_id
            order by n_mentions desc, last_published_at desc nulls last, annotation_name
        ) as form_rank

    from surface_form_counts

),

-- the most frequent type of a news-only entity; `other` only when nothing else was inferred
type_counts as (

    select
        entity_id,
        entity_type,
        count(*) as n_mentions

    from mentions
    group by entity_id, entity_type

),

top_types as (

    select
        entity_id,
        entity_type,
        row_number() over (
            partition by entity_id
            order by
                case when entity_type = 'other' then 1 else 0 end,
                n_mentions desc,
                case entity_type when 'company' then 1 when 'person' then 2 when 'organization' then 3 else 4 end
        ) as type_rank

    from type_counts

),

-- the description of the most recent mention; ties: the longest
latest_descriptions as (

    select
        entity_id,
        description,
        row_number() over (
            partition by entity_id
            order by published_at desc nulls last, length(description) desc, document_id, position
        ) as description_rank

    from mentions
    where description is not null and trim(description) <> ''

),

primary_securities as (

    select * from entity_securities
    where is_primary

),

final as (

    select
        all_entity_ids.entity_id,
        coalesce(
            reference_entities.entity_name,
            -- an issuer known only from its listing: the SEC title, or the ticker of a price-only one
            primary_securities.current_company_name,
            top_surface_forms.annotation_name
        ) as entity_name,
        coalesce(
            reference_entities.entity_type,
            case when primary_securities.security_id is not null then 'company' end,
            top_types.entity_type,
            'other'
        ) as entity_type,
        primary_securities.security_id,
        primary_securities.current_ticker,
        entity_ciks.cik,
        coalesce(reference_entities.description, latest_descriptions.description) as description,
        coalesce(mention_stats.mention_count, 0) as mention_count,
        mention_stats.first_seen_at,
        mention_stats.last_seen_at

    from all_entity_ids
    left join reference_entities
        on reference_entities.entity_id = all_entity_ids.entity_id
    left join top_surface_forms
        on top_surface_forms.entity_id = all_entity_ids.entity_id
        and top_surface_forms.form_rank = 1
    left join top_types
        on top_types.entity_id = all_entity_ids.entity_id
        and top_types.type_rank = 1
    left join latest_descriptions
        on latest_descriptions.entity_id = all_entity_ids.entity_id
        and latest_descriptions.description_rank = 1
    left join primary_securities
        on primary_securities.entity_id = all_entity_ids.entity_id
    left join mention_stats
        on mention_stats.entity_id = all_entity_ids.entity_id
    left join entity_ciks
        on entity_ciks.entity_id = all_entity_ids.entity_id

)

select * from final
