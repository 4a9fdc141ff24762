-- One row per calendar session: the benchmark's (var benchmark_ticker) bar and daily return.
-- Rm_t = AdjClose_t / AdjClose at the previous calendar session - 1; null when either bar is missing.
with sessions as (
    select session_date, session_index from {{ ref('stg_calendar__sessions') }}
),

benchmark_bars as (
    select session_index, adj_close, volume
    from {{ ref('int_prices__security_bars') }}
    where ticker = '{{ var("benchmark_ticker") | replace("'", "''") }}'
        and session_index is not null
)

select
    s.session_date,
    s.session_index,
    b.session_index is not null as has_bar,
    b.adj_close,
    b.adj_close / lag(b.adj_close) over (order by s.session_index) - 1 as benchmark_return
from sessions as s
left join benchmark_bars as b
    on b.session_index = s.session_index
