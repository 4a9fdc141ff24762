-- One row per session with news: how many events were aligned to it and how many distinct
-- securities were measured on it (an fct_event_impact row with status ok in any window). When
-- several securities have news on one session, their abnormal returns share that day's market
-- shocks, so the cross-section is not independent: `is_clustered` flags those sessions.
with sessions_with_news as (

    select
        event_session,
        count(*) as event_count
    from {{ ref('fct_news_event') }}
    where event_session is not null
    group by event_session

),

measured_securities as (

    select
        event_session,
        count(distinct event_id) as measured_event_count,
        count(distinct security_id) as measured_security_count
    from {{ ref('fct_event_impact') }}
    where status = 'ok'
    group by event_session

),

final as (

    select
        sessions_with_news.event_session,
        sessions_with_news.event_count,
        coalesce(measured_securities.measured_event_count, 0) as measured_event_count,
        coalesce(measured_securities.measured_security_count, 0) as measured_security_count

    from sessions_with_news
    left join measured_securities
        on measured_securities.event_session = sessions_with_news.event_session

)

select
    cast(event_session as date) as event_session,
    cast(event_count as integer) as event_count,
    cast(measured_event_count as integer) as measured_event_count,
    cast(measured_security_count as integer) as measured_security_count,
    cast(measured_security_count >= {{ var('cluster_min_securities') }} as boolean) as is_clustered
from final
