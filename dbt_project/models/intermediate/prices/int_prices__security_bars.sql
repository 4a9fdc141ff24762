-- One row per (security, bar): every daily bar, mapped to the security whose ticker period is
-- valid at the bar's session date, and to the session index of the configured calendar.
with bars as (
    select * from {{ ref('stg_prices__daily_bars') }}
),

ticker_periods as (
    select * from {{ ref('int_securities__ticker_periods') }}
),

sessions as (
    select session_date, session_index from {{ ref('stg_calendar__sessions') }}
)

select
    tp.security_id,
    b.ticker,
    b.session_date,
    s.session_index,
    s.session_index is not null as is_calendar_session,
    b.open,
    b.high,
    b.low,
    b.close,
    b.adj_close,
    b.volume
from bars as b
inner join ticker_periods as tp
    on tp.ticker = b.ticker
    and b.session_date >= coalesce(tp.valid_from, date '0001-01-01')
    and (tp.valid_to is null or b.session_date <= tp.valid_to)  -- valid_to is inclusive
left join sessions as s
    on s.session_date = b.session_date
