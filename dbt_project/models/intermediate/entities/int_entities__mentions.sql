-- One row per entity or ticker annotation of a document, resolved to an entity:
--   * `$TICKER`: the security whose ticker period covers the document's (UTC) publication date;
--     without a timestamp or without such a period, the ticker's most recent period; a ticker
--     unknown everywhere becomes the company entity `ent_tkr_<ticker>`.
--   * a name: its `company_name_key` looked up in `int_entities__aliases` (curated aliases,
--     canonical names, security master titles, tickers), so "Nvidia", "Nvidia Corp." and
--     "NVIDIA CORP" are one company; otherwise a news-only entity `ent_<md5(normalised name)>`
--     (the id keeps the finer `normalize_entity_name`, so ids stay stable), typed by the keyword
--     rule of the `infer_entity_type` macro.
with annotations as (

    select * from {{ ref('stg_news__annotations') }}
    where kind in ('entity', 'ticker')

),

documents as (

    select * from {{ ref('stg_news__documents') }}

),

ticker_periods as (

    select * from {{ ref('int_securities__ticker_periods') }}

),

aliases as (

    select * from {{ ref('int_entities__aliases') }}

),

reference_entities as (

    select * from {{ ref('ref_entities') }}

),

-- each distinct name's forms, once: news repeats names, and the regular expressions are most of
-- the model's cost (1,004,000 annotations, 10,000 names in the benchmark)
name_forms as (

    select
        annotation_name,
        {{ normalize_entity_name('annotation_name') }} as name_normalized,
        {{ company_name_key('annotation_name') }} as name_key

    from (select distinct annotation_name from annotations) as distinct_names

),

mentions as (

    select
        annotations.document_id,
        annotations.position,
        annotations.kind,
        annotations.annotation_key,
        annotations.annotation_name,
        annotations.description,
        documents.published_at,
        {{ utc_date('documents.published_at') }} as published_date,
        name_forms.name_normalized,
        name_forms.name_key

    from annotations
    left join documents
        on documents.document_id = annotations.document_id
    left join name_forms
        on name_forms.annotation_name is not distinct from annotations.annotation_name

),

-- tickers ------------------------------------------------------------------------------------

ticker_periods_at_publication as (

    select
        mentions.document_id,
        mentions.position,
        ticker_periods.security_id,
        ticker_periods.entity_id,
        row_number() over (
            partition by mentions.document_id, mentions.position
            order by ticker_periods.valid_from desc, ticker_periods.security_id
        ) as match_rank

    from mentions
    inner join ticker_periods
        on ticker_periods.ticker = mentions.annotation_name
        and mentions.published_date >= ticker_periods.valid_from
        and (ticker_periods.valid_to is null or mentions.published_date <= ticker_periods.valid_to)
    where mentions.kind = 'ticker'

),

latest_ticker_periods as (

    select
        ticker,
        security_id,
        entity_id,
        row_number() over (partition by ticker order by valid_from desc, security_id) as period_recency

    from ticker_periods

),

ticker_mentions as (

    select
        mentions.document_id,
        mentions.position,
        coalesce(at_publication.security_id, latest.security_id) as security_id,
        coalesce(
            at_publication.entity_id,
            latest.entity_id,
            'ent_tkr_' || lower(mentions.annotation_name)
        ) as entity_id,
        case
            when at_publication.security_id is not null then 'ticker_period'
            when latest.security_id is not null then 'ticker_latest_period'
            else 'unknown_ticker'
        end as resolved_by,
        -- a ticker denotes a listed company (the reference type overrides this below)
        'company' as inferred_entity_type

    from mentions
    left join ticker_periods_at_publication as at_publication
        on at_publication.document_id = mentions.document_id
        and at_publication.position = mentions.position
        and at_publication.match_rank = 1
    left join latest_ticker_periods as latest
        on latest.ticker = mentions.annotation_name
        and latest.period_recency = 1
    where mentions.kind = 'ticker'

),

-- names --------------------------------------------------------------------------------------

names as (

    select
        mentions.document_id,
        mentions.position,
        mentions.annotation_name,
        mentions.description,
        mentions.name_normalized,
        aliases.entity_id as alias_entity_id,
        aliases.alias_source

    from mentions
    left join aliases
        on aliases.name_key = mentions.name_key
    where mentions.kind = 'entity'

),

aliased_names as (

    select
        document_id,
        position,
        cast(null as varchar) as security_id,
        alias_entity_id as entity_id,
        'alias_' || alias_source as resolved_by,
        -- a ticker written as a name (price-only tickers are companies too)
        'company' as inferred_entity_type

    from names
    where alias_entity_id is not null

),

-- the typing text and its keyword positions as columns, each computed once per distinct name and
-- description: under a CASE, an expression is evaluated as many times as it appears
news_only_keyword_positions as (

    select
        annotation_name,
        description,
        name_normalized,
        {{ entity_keyword_position('typing_text', 'person') }} as person_at,
        {{ entity_keyword_position('typing_text', 'company') }} as company_at,
        {{ entity_keyword_position('typing_text', 'organization') }} as organization_at

    from (
        select
            *,
            {{ entity_typing_text('annotation_name', 'description') }} as typing_text
        from (
            select distinct annotation_name, description, name_normalized
            from names
            where alias_entity_id is null
        ) as news_only
    ) as typed

),

news_only_entities as (

    select
        annotation_name,
        description,
        'ent_' || {{ dbt.hash('name_normalized') }} as entity_id,
        {{ infer_entity_type('person_at', 'company_at', 'organization_at') }} as inferred_entity_type

    from news_only_keyword_positions

),

news_only_names as (

    select
        names.document_id,
        names.position,
        cast(null as varchar) as security_id,
        news_only_entities.entity_id,
        'news_only' as resolved_by,
        news_only_entities.inferred_entity_type

    from names
    inner join news_only_entities
        on news_only_entities.annotation_name is not distinct from names.annotation_name
        and news_only_entities.description is not distinct from names.description
    where names.alias_entity_id is null

),

resolved as (

    select * from ticker_mentions
    union all
    select * from aliased_names
    union all
    select * from news_only_names

),

final as (

    select
        mentions.document_id,
        mentions.position,
        mentions.kind,
        mentions.annotation_key,
        mentions.annotation_name,
        resolved.entity_id,
        coalesce(reference_entities.entity_type, resolved.inferred_entity_type) as entity_type,
        mentions.kind = 'ticker' as via_ticker,
        resolved.security_id,
        resolved.resolved_by,
        mentions.published_at,
        mentions.description

    from mentions
    inner join resolved
        on resolved.document_id = mentions.document_id
        and resolved.position = mentions.position
    left join reference_entities
        on reference_entities.entity_id = resolved.entity_id

)

select * from final
