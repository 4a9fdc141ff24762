-- One row per security with price bars: the span of its price history in this build, so a BI
-- user can tell "no impact because no prices" from "no impact because no news".
select
    security_id,
    arg_max(ticker, session_date) as last_ticker,
    min(session_date) as first_session,
    max(session_date) as last_session,
    count(*) as bar_count
from {{ ref('int_prices__security_bars') }}
group by security_id
