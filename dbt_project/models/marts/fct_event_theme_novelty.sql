-- One row per (event, entity, theme): is the event the first story about this entity on this theme
-- within var `novelty_days` days. Same ordering and timestamp rules as fct_event_novelty.
with event_entity_themes as (

    select
        entities.event_id,
        entities.entity_id,
        themes.theme_id,
        events.published_at
    from {{ ref('bridge_event_entity') }} as entities
    inner join {{ ref('bridge_event_theme') }} as themes
        on themes.event_id = entities.event_id
    inner join {{ ref('fct_news_event') }} as events
        on events.event_id = entities.event_id

),

with_previous_story as (

    select
        event_id,
        entity_id,
        theme_id,
        lag(event_id) over pair_stories as previous_event_id,
        lag(published_at) over pair_stories as previous_published_at
    from event_entity_themes
    where published_at is not null
    window pair_stories as (partition by entity_id, theme_id order by published_at, event_id)

),

final as (

    select
        event_entity_themes.event_id,
        event_entity_themes.entity_id,
        event_entity_themes.theme_id,
        event_entity_themes.published_at,
        case
            when event_entity_themes.published_at is not null then
                with_previous_story.previous_event_id is null
                or {{ seconds_between('with_previous_story.previous_published_at', 'event_entity_themes.published_at') }}
                    > {{ var('novelty_days') }} * 86400
        end as is_novel_entity_theme,
        with_previous_story.previous_event_id,
        {{ seconds_between('with_previous_story.previous_published_at', 'event_entity_themes.published_at') }}
            / 86400.0 as days_since_previous_story

    from event_entity_themes
    left join with_previous_story
        on with_previous_story.event_id = event_entity_themes.event_id
        and with_previous_story.entity_id = event_entity_themes.entity_id
        and with_previous_story.theme_id = event_entity_themes.theme_id

)

select
    cast(event_id as varchar) as event_id,
    cast(entity_id as varchar) as entity_id,
    cast(theme_id as varchar) as theme_id,
    cast(published_at as timestamp with time zone) as published_at,
    cast(is_novel_entity_theme as boolean) as is_novel_entity_theme,
    cast(previous_event_id as varchar) as previous_event_id,
    cast(days_since_previous_story as double) as days_since_previous_story
from final
