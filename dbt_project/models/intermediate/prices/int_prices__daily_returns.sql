-- One row per (security, calendar session), densified over the calendar from the security's first
-- bar to the calendar's last session, so that a missing bar is a row with has_bar = false and
-- returns never bridge a gap: R_t = AdjClose_t / AdjClose at the previous calendar session - 1.
with bars as (
    select * from {{ ref('int_prices__security_bars') }}
    where is_calendar_session
),

sessions as (
    select session_date, session_index from {{ ref('stg_calendar__sessions') }}
),

benchmark as (
    select session_index, benchmark_return from {{ ref('int_prices__benchmark_returns') }}
),

series_start as (
    select security_id, min(session_index) as first_session_index
    from bars
    group by security_id
),

dense as (
    select ss.security_id, s.session_date, s.session_index
    from series_start as ss
    inner join sessions as s
        on s.session_index >= ss.first_session_index
)

select
    d.security_id,
    d.session_date,
    d.session_index,
    b.ticker,
    b.session_index is not null as has_bar,
    b.adj_close,
    b.close,
    b.volume,
    b.adj_close / lag(b.adj_close) over (
        partition by d.security_id order by d.session_index
    ) - 1 as "return",
    m.benchmark_return
from dense as d
left join bars as b
    on b.security_id = d.security_id
    and b.session_index = d.session_index
left join benchmark as m
    on m.session_index = d.session_index
