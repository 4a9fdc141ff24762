-- Each security's series has a row at every session from its first to its last (with the unique
-- (security_id, session_index) test, as many rows as sessions): the rolling market model's ROWS
-- frame counts sessions by rows (int_market_model__rolling).
select security_id, count(*) as series_rows,
       max(session_index) - min(session_index) + 1 as series_sessions
from {{ ref('int_prices__daily_returns') }}
group by security_id
having count(*) <> max(session_index) - min(session_index) + 1
