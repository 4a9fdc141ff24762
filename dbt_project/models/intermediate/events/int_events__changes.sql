-- One row per (event, linked security) whose event-study rows must be recomputed, found by
-- comparing the links with those the previous build measured (fct_event_impact) and the events
-- with the securities whose series changed (int_prices__changes; docs/incremental.md):
--   new       a link the previous build did not have
--   removed   a link that is gone: its rows go
--   relinked  the link's entity, ticker, session or timestamp changed
--   prices    the security's series changed at or before the last session the event reads
-- On a first build or a full refresh every link is `new`.
-- depends_on: {{ ref('int_prices__changes') }}
{%- set previous = previous_state('fct_event_impact', 'marts') %}
{%- set reach = event_reach(var('event_windows'), var('estimation_window_end'), var('daily_window_end')) | trim %}

with links as (
    select event_id, security_id, entity_id, ticker, event_session, event_session_index,
        published_at is null as has_no_timestamp
    from {{ ref('int_events__linked_securities') }}
),

{% if previous is none %}

changes as (
    select event_id, security_id, 'new' as change_kind from links
)

{% else %}

previous_links as (
    select event_id, security_id, entity_id, ticker, event_session,
        {{ dbt.bool_or("status = 'no_timestamp'") }} as has_no_timestamp
    from {{ previous }}
    group by event_id, security_id, entity_id, ticker, event_session
),

relinked as (
    select
        coalesce(l.event_id, p.event_id) as event_id,
        coalesce(l.security_id, p.security_id) as security_id,
        case
            when p.event_id is null then 'new'
            when l.event_id is null then 'removed'
            else 'relinked'
        end as change_kind
    from links as l
    full outer join previous_links as p
        on p.event_id = l.event_id
        and p.security_id = l.security_id
    where l.event_id is null
        or p.event_id is null
        or l.entity_id is distinct from p.entity_id
        or l.ticker is distinct from p.ticker
        or l.event_session is distinct from p.event_session
        or l.has_no_timestamp is distinct from p.has_no_timestamp
),

repriced as (
    select l.event_id, l.security_id, 'prices' as change_kind
    from links as l
    inner join {{ ref('int_prices__changes') }} as c
        on c.security_id = l.security_id
    where l.event_session_index + {{ reach }} >= c.recompute_from_index
),

changes as (
    select event_id, security_id, change_kind from relinked
    union all
    select r.event_id, r.security_id, r.change_kind from repriced as r
    where not exists (
        select 1 from relinked
        where relinked.event_id = r.event_id and relinked.security_id = r.security_id
    )
)

{% endif %}

select
    cast(event_id as varchar) as event_id,
    cast(security_id as varchar) as security_id,
    cast(change_kind as varchar) as change_kind
from changes
