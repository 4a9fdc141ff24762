-- What the news names but the build cannot measure, so the gaps are said rather than silent:
-- companies named in the news that resolve to no security, and securities linked to events that
-- have no price bar at all (their fct_event_impact rows are all `no_price_coverage`).
with mentions as (
    select * from {{ ref('int_entities__mentions') }}
),

entity_securities as (
    select * from {{ ref('int_entities__securities') }}
),

entities as (
    select * from {{ ref('int_entities__resolved') }}
),

linked as (
    select * from {{ ref('int_events__linked_securities') }}
),

priced as (  -- securities with at least one bar
    select security_id from {{ ref('mart_price_coverage') }}
),

companies_without_security as (
    select
        'company_without_security' as reason,
        mentions.entity_id as subject_id,
        mentions.entity_id,
        cast(null as varchar) as security_id,
        entities.entity_name as name,
        count(distinct mentions.document_id) as event_count,
        max(mentions.published_at) as last_published_at
    from mentions
    left join entities
        on entities.entity_id = mentions.entity_id
    where mentions.entity_type = 'company'
        and not exists (
            select 1 from entity_securities where entity_securities.entity_id = mentions.entity_id
        )
    group by mentions.entity_id, entities.entity_name
),

securities_without_prices as (
    select
        'security_without_prices' as reason,
        linked.security_id as subject_id,
        min(linked.entity_id) as entity_id,
        linked.security_id,
        entity_securities.current_ticker as name,
        count(distinct linked.event_id) as event_count,
        max(linked.published_at) as last_published_at
    from linked
    left join entity_securities
        on entity_securities.security_id = linked.security_id
    where not exists (select 1 from priced where priced.security_id = linked.security_id)
    group by linked.security_id, entity_securities.current_ticker
),

gaps as (
    select * from companies_without_security
    union all
    select * from securities_without_prices
)

select
    cast(reason as varchar) as reason,
    cast(subject_id as varchar) as subject_id,
    cast(entity_id as varchar) as entity_id,
    cast(security_id as varchar) as security_id,
    cast(name as varchar) as name,
    cast(event_count as bigint) as event_count,
    cast(last_published_at as timestamp with time zone) as last_published_at
from gaps
