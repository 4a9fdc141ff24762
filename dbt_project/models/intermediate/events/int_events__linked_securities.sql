-- One row per (event, linked security). A security is linked to an event through a `$TICKER`
-- annotation (the security that ticker denoted at publication) or through a named company that
-- resolves to a listed company (its security listed at the event date, else its primary one).
-- Only equities are linked: the benchmark index never is. Events without a timestamp keep their
-- rows with a null session.
with mentions as (

    select * from {{ ref('int_entities__mentions') }}

),

events as (

    select * from {{ ref('int_events__aligned') }}

),

entity_securities as (

    select * from {{ ref('int_entities__securities') }}

),

ticker_periods as (

    select * from {{ ref('int_securities__ticker_periods') }}
    where security_type = 'equity'

),

mentions_with_dates as (

    select
        mentions.document_id as event_id,
        mentions.entity_id,
        mentions.security_id,
        mentions.via_ticker,
        events.event_session,
        {{ utc_date('events.published_at') }} as published_date,
        coalesce(events.event_session, {{ utc_date('events.published_at') }}) as link_date

    from mentions
    inner join events
        on events.event_id = mentions.document_id

),

ticker_links as (

    select
        mentions_with_dates.event_id,
        mentions_with_dates.security_id,
        true as via_ticker

    from mentions_with_dates
    inner join entity_securities
        on entity_securities.security_id = mentions_with_dates.security_id
    where mentions_with_dates.via_ticker

),

-- a named company: the entity's security whose ticker period covers the event date (the one
-- listed first when several do), else the entity's primary security
named_company_candidates as (

    select
        mentions_with_dates.event_id,
        mentions_with_dates.entity_id,
        entity_securities.security_id,
        row_number() over (
            partition by mentions_with_dates.event_id, mentions_with_dates.entity_id
            order by
                case when covering_periods.security_id is not null then 0 else 1 end,
                case when entity_securities.is_primary then 0 else 1 end,
                entity_securities.first_valid_from,
                entity_securities.security_id
        ) as candidate_rank

    from mentions_with_dates
    inner join entity_securities
        on entity_securities.entity_id = mentions_with_dates.entity_id
    left join ticker_periods as covering_periods
        on covering_periods.security_id = entity_securities.security_id
        and mentions_with_dates.link_date >= covering_periods.valid_from
        and (covering_periods.valid_to is null or mentions_with_dates.link_date <= covering_periods.valid_to)
    where not mentions_with_dates.via_ticker

),

named_company_links as (

    select
        event_id,
        security_id,
        false as via_ticker

    from named_company_candidates
    where candidate_rank = 1

),

links as (

    select
        event_id,
        security_id,
        {{ dbt.bool_or('via_ticker') }} as via_ticker

    from (
        select * from ticker_links
        union all
        select * from named_company_links
    ) as all_links
    group by event_id, security_id

),

-- the ticker as traded at the event: at the session, else at the publication date, else the
-- period nearest to the event (news before a listing names the ticker it is about to trade
-- under), and the current ticker for news without a timestamp
tickers_at_event as (

    select
        links.event_id,
        links.security_id,
        ticker_periods.ticker,
        row_number() over (
            partition by links.event_id, links.security_id
            order by
                case
                    when events.event_session >= ticker_periods.valid_from
                        and (ticker_periods.valid_to is null or events.event_session <= ticker_periods.valid_to)
                        then 0
                    when {{ utc_date('events.published_at') }} >= ticker_periods.valid_from
                        and (ticker_periods.valid_to is null or {{ utc_date('events.published_at') }} <= ticker_periods.valid_to)
                        then 1
                    else 2
                end,
                case
                    when events.event_session is null and events.published_at is null then 0
                    when coalesce(events.event_session, {{ utc_date('events.published_at') }}) < ticker_periods.valid_from
                        then {{ dbt.datediff("coalesce(events.event_session, " ~ utc_date('events.published_at') ~ ")", 'ticker_periods.valid_from', 'day') }}
                    else {{ dbt.datediff('ticker_periods.valid_to', "coalesce(events.event_session, " ~ utc_date('events.published_at') ~ ")", 'day') }}
                end,
                ticker_periods.valid_from desc
        ) as ticker_rank

    from links
    inner join events
        on events.event_id = links.event_id
    inner join ticker_periods
        on ticker_periods.security_id = links.security_id

),

final as (

    select
        links.event_id,
        entity_securities.entity_id,
        links.security_id,
        tickers_at_event.ticker,
        links.via_ticker,
        events.event_session,
        events.event_session_index,
        events.published_at

    from links
    inner join events
        on events.event_id = links.event_id
    inner join entity_securities
        on entity_securities.security_id = links.security_id
    inner join tickers_at_event
        on tickers_at_event.event_id = links.event_id
        and tickers_at_event.security_id = links.security_id
        and tickers_at_event.ticker_rank = 1

)

select * from final
