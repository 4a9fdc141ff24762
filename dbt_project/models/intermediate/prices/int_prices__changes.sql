-- One row per security whose dense daily series must be recomputed from `recompute_from_index` on,
-- found by comparing the bars with the series the previous build left in int_prices__daily_returns
-- (docs/incremental.md). The incremental price and event-study models recompute only these rows.
--   new        no series yet: from its first bar
--   appended   the bars already in the series are unchanged: from the first new bar
--   rewritten  a bar of the series changed or disappeared (a re-adjustment after a split or
--              dividend, a corrected bar): the whole series
--   removed    no bar any more: the whole series goes
--   benchmark  the benchmark's series changed from that session: every series from there
--   calendar   the calendar's last session moved: every series from the first session it changed
-- On a first build or a full refresh every security with a bar is `new`.
{%- set previous = previous_state('int_prices__daily_returns') %}
{%- set benchmark = var("benchmark_ticker") | replace("'", "''") %}

with bars as (
    select security_id, ticker, session_index, adj_close, close, volume
    from {{ ref('int_prices__security_bars') }}
    where is_calendar_session
),

calendar as (
    select max(session_index) as last_session_index from {{ ref('stg_calendar__sessions') }}
),

{% if previous is none %}

changes as (
    select
        security_id,
        min(session_index) as series_start_index,
        min(session_index) as recompute_from_index,
        'new' as change_kind
    from bars
    group by security_id
)

{% else %}

previous as (
    select
        security_id,
        min(session_index) as first_row_index,
        max(session_index) as last_row_index,
        max(session_index) filter (where has_bar) as last_bar_index,
        count(*) filter (where has_bar) as bar_count,
        {{ set_fingerprint(['session_index', 'ticker', 'adj_close', 'close', 'volume']) }}
            filter (where has_bar) as bars_fingerprint,
        bool_or(ticker = '{{ benchmark }}') as is_benchmark
    from {{ previous }}
    group by security_id
),

-- the bars up to the previous series' last bar, fingerprinted the same way, and the first bar after
current_series as (
    select
        b.security_id,
        min(b.session_index) as first_bar_index,
        count(*) filter (where b.session_index <= p.last_bar_index) as kept_count,
        {{ set_fingerprint(['b.session_index', 'b.ticker', 'b.adj_close', 'b.close', 'b.volume']) }}
            filter (where b.session_index <= p.last_bar_index) as kept_fingerprint,
        min(b.session_index) filter (where p.last_bar_index is null or b.session_index > p.last_bar_index)
            as first_new_index,
        bool_or(b.ticker = '{{ benchmark }}') as is_benchmark
    from bars as b
    left join previous as p
        on p.security_id = b.security_id
    group by b.security_id
),

per_security as (
    select
        coalesce(c.security_id, p.security_id) as security_id,
        c.first_bar_index as series_start_index,
        coalesce(c.is_benchmark, false) or coalesce(p.is_benchmark, false) as is_benchmark,
        case
            when p.security_id is null then 'new'
            when c.security_id is null then 'removed'
            when c.kept_count = p.bar_count and c.kept_fingerprint = p.bars_fingerprint then 'appended'
            else 'rewritten'
        end as change_kind,
        case
            when p.security_id is null then c.first_bar_index
            when c.security_id is null then p.first_row_index
            when c.kept_count = p.bar_count and c.kept_fingerprint = p.bars_fingerprint then c.first_new_index
            else least(c.first_bar_index, p.first_row_index)
        end as own_from_index
    from current_series as c
    full outer join previous as p
        on p.security_id = c.security_id
),

-- every series is dense to the calendar's last session and carries the benchmark's return
everywhere as (
    select
        (select min(own_from_index) from per_security where is_benchmark) as benchmark_from_index,
        case when (select max(last_row_index) from previous) <> calendar.last_session_index
            then least((select max(last_row_index) from previous), calendar.last_session_index) + 1
        end as calendar_from_index
    from calendar
),

changes as (
    select
        p.security_id,
        p.series_start_index,
        least(p.own_from_index, e.benchmark_from_index, e.calendar_from_index) as recompute_from_index,
        case
            when p.own_from_index <= least(e.benchmark_from_index, e.calendar_from_index)
                or (e.benchmark_from_index is null and e.calendar_from_index is null)
                then p.change_kind
            when e.benchmark_from_index <= e.calendar_from_index or e.calendar_from_index is null
                then 'benchmark'
            else 'calendar'
        end as change_kind
    from per_security as p
    cross join everywhere as e
    where least(p.own_from_index, e.benchmark_from_index, e.calendar_from_index) is not null
)

{% endif %}

select
    cast(security_id as varchar) as security_id,
    cast(series_start_index as integer) as series_start_index,
    cast(recompute_from_index as integer) as recompute_from_index,
    cast(change_kind as varchar) as change_kind
from changes
