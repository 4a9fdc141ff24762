-- One row per news event (document) with the exchange session it belongs to: the first session
-- of the configured calendar whose close is after the publication time. That one rule puts a
-- time at or after the close (regular or early) into the next session and carries weekends,
-- holidays and unscheduled closures (Hurricane Sandy, 2012-10-29..30) to the next open day;
-- close times are stored in UTC, so daylight-saving changes need no special case.
with documents as (

    select * from {{ ref('stg_news__documents') }}

),

sessions as (

    select * from {{ ref('stg_calendar__sessions') }}

),

-- the first session whose close is after the publication (an ASOF join on DuckDB)
later_closes as (

    {{ first_session_closing_after('documents', 'document_id', 'published_at', 'sessions') }}

),

aligned as (

    select
        documents.document_id as event_id,
        documents.published_at,
        sessions.session_date as event_session,
        cast(sessions.session_index as integer) as event_session_index

    from documents
    left join later_closes
        on later_closes.document_id = documents.document_id
    left join sessions
        on sessions.session_index = later_closes.session_index

)

select * from aligned
