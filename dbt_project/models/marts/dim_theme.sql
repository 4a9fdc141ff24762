-- One row per theme: its code and name as most recently written, the most recent description
-- and the number of events tagged with it.
with theme_mentions as (

    select * from {{ ref('int_themes__mentions') }}

),

latest_mentions as (

    select
        theme_id,
        theme_code,
        theme_name,
        description,
        row_number() over (
            partition by theme_id
            order by published_at desc nulls last, length(description) desc, document_id, position
        ) as recency_rank

    from theme_mentions

),

theme_stats as (

    select
        theme_id,
        count(distinct document_id) as event_count,
        min(published_at) as first_seen_at,
        max(published_at) as last_seen_at

    from theme_mentions
    group by theme_id

),

final as (

    select
        latest_mentions.theme_id,
        latest_mentions.theme_code,
        latest_mentions.theme_name,
        latest_mentions.description,
        cast(theme_stats.event_count as integer) as event_count,
        theme_stats.first_seen_at,
        theme_stats.last_seen_at

    from latest_mentions
    inner join theme_stats
        on theme_stats.theme_id = latest_mentions.theme_id
    where latest_mentions.recency_rank = 1

)

select * from final
