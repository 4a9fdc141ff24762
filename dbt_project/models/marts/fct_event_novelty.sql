-- One row per (event, entity): is the event the first story about the entity within var
-- `novelty_days` days, and is it a near-duplicate of an earlier story about the entity that day.
-- Stories are ordered by (published_at, event_id), so two stories at the same instant still have
-- a first one. An event without a timestamp cannot be placed in time: its flags are null and it
-- is never another story's previous story or near-duplicate.
-- Two titles are near-identical from this share of common words (Jaccard over word sets).
{% set near_duplicate_min_jaccard = 0.8 %}

with event_entities as (

    select
        bridge.event_id,
        bridge.entity_id,
        events.published_at,
        events.title
    from {{ ref('bridge_event_entity') }} as bridge
    inner join {{ ref('fct_news_event') }} as events
        on events.event_id = bridge.event_id

),

timed_event_entities as (

    select
        *,
        {{ utc_date('published_at') }} as published_on,
        row_number() over (partition by entity_id order by published_at, event_id) as story_rank
    from event_entities
    where published_at is not null

),

with_previous_story as (

    select
        *,
        lag(event_id) over (partition by entity_id order by story_rank) as previous_event_id,
        lag(published_at) over (partition by entity_id order by story_rank) as previous_published_at
    from timed_event_entities

),

-- For each story, the earliest earlier story about the same entity on the same UTC day whose title
-- has (nearly) the same words.
near_duplicates as (

    select
        later.event_id,
        later.entity_id,
        min(earlier.story_rank) as earliest_rank
    from timed_event_entities as later
    inner join timed_event_entities as earlier
        on earlier.entity_id = later.entity_id
        and earlier.published_on = later.published_on
        and earlier.story_rank < later.story_rank
    where {{ title_word_jaccard('later.title', 'earlier.title') }} >= {{ near_duplicate_min_jaccard }}
    group by later.event_id, later.entity_id

),

near_duplicate_events as (

    select
        near_duplicates.event_id,
        near_duplicates.entity_id,
        earliest.event_id as near_duplicate_of
    from near_duplicates
    inner join timed_event_entities as earliest
        on earliest.entity_id = near_duplicates.entity_id
        and earliest.story_rank = near_duplicates.earliest_rank

),

final as (

    select
        event_entities.event_id,
        event_entities.entity_id,
        event_entities.published_at,
        case
            when event_entities.published_at is not null then
                with_previous_story.previous_event_id is null
                or {{ seconds_between('with_previous_story.previous_published_at', 'event_entities.published_at') }}
                    > {{ var('novelty_days') }} * 86400
        end as is_novel_entity,
        with_previous_story.previous_event_id,
        {{ seconds_between('with_previous_story.previous_published_at', 'event_entities.published_at') }}
            / 86400.0 as days_since_previous_story,
        case
            when event_entities.published_at is not null then near_duplicate_events.event_id is not null
        end as is_near_duplicate,
        near_duplicate_events.near_duplicate_of

    from event_entities
    left join with_previous_story
        on with_previous_story.event_id = event_entities.event_id
        and with_previous_story.entity_id = event_entities.entity_id
    left join near_duplicate_events
        on near_duplicate_events.event_id = event_entities.event_id
        and near_duplicate_events.entity_id = event_entities.entity_id

)

select
    cast(event_id as varchar) as event_id,
    cast(entity_id as varchar) as entity_id,
    cast(published_at as timestamp with time zone) as published_at,
    cast(is_novel_entity as boolean) as is_novel_entity,
    cast(previous_event_id as varchar) as previous_event_id,
    cast(days_since_previous_story as double) as days_since_previous_story,
    cast(is_near_duplicate as boolean) as is_near_duplicate,
    cast(near_duplicate_of as varchar) as near_duplicate_of
from final
