-- One row per (event, linked security) whose rows in int_event_windows__overlaps and fct_event_scar
-- a build recomputes (docs/incremental.md): the links of int_events__changes, and every link of the
-- same security whose day 0 is at most the widest window's width (b - a) from where a changed link
-- sits now or sat in the previous build: their windows overlap its window, or did. On a first build
-- or a full refresh every link is in int_events__changes: no neighbour to add.
-- depends_on: {{ ref('int_events__linked_securities') }}
{%- set previous = previous_state('int_event_windows__overlaps') %}
{%- set widest = widest_event_window(var('event_windows')) | trim %}

with changes as (
    select event_id, security_id from {{ ref('int_events__changes') }}
),

{%- if previous is none %}

recomputed as (
    select event_id, security_id from changes
)

{%- else %}

linked as (
    select event_id, security_id, event_session_index
    from {{ ref('int_events__linked_securities') }}
    where event_session_index is not null
),

-- where each changed link's day 0 is, and was
positions as (
    select l.security_id, l.event_session_index as session_index
    from changes as c
    inner join linked as l
        on l.event_id = c.event_id
        and l.security_id = c.security_id
    union
    select p.security_id, p.event_session_index as session_index
    from changes as c
    inner join {{ previous }} as p
        on p.event_id = c.event_id
        and p.security_id = c.security_id
),

neighbours as (
    select l.event_id, l.security_id
    from linked as l
    inner join positions as p
        on p.security_id = l.security_id
        and l.event_session_index between p.session_index - {{ widest }}
                                      and p.session_index + {{ widest }}
),

recomputed as (
    select event_id, security_id from changes
    union
    select event_id, security_id from neighbours
)

{%- endif %}

select cast(event_id as varchar) as event_id, cast(security_id as varchar) as security_id
from recomputed
