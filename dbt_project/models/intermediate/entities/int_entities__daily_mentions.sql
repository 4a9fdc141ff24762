-- One row per (entity, session) with activity: the events of that session that mention the entity,
-- their mean sentiment, and the entity's security with its ticker at that session. The part of
-- mart_entity_daily that needs no prices, rebuilt whole: mart_entity_daily recomputes only the
-- days whose row here changed, or whose prices did (docs/incremental.md).
with mentions as (
    select
        be.entity_id,
        ne.event_session as session,
        count(distinct ne.event_id) as mention_count,
        avg(ne.sentiment order by ne.event_id) as avg_sentiment  -- ordered: same bits every run
    from {{ ref('bridge_event_entity') }} as be
    inner join {{ ref('fct_news_event') }} as ne
        on ne.event_id = be.event_id
    where ne.event_session is not null
    group by be.entity_id, ne.event_session
),

entities as (
    select entity_id, security_id from {{ ref('dim_entity') }}
),

ticker_periods as (
    select security_id, ticker, valid_from, valid_to from {{ ref('int_securities__ticker_periods') }}
)

select
    cast(mn.entity_id as varchar) as entity_id,
    cast(mn.session as date) as session,
    cast(mn.mention_count as integer) as mention_count,
    cast(mn.avg_sentiment as double) as avg_sentiment,
    cast(e.security_id as varchar) as security_id,
    cast(tp.ticker as varchar) as ticker
from mentions as mn
left join entities as e
    on e.entity_id = mn.entity_id
left join ticker_periods as tp
    on tp.security_id = e.security_id
    and mn.session >= coalesce(tp.valid_from, date '0001-01-01')
    and (tp.valid_to is null or mn.session <= tp.valid_to)  -- valid_to is inclusive
