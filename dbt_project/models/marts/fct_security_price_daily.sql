-- One row per (security, session) with a bar: the daily price series the other marts only show at
-- news sessions. daily_return is kept from the densified series, so it is null after a gap.
select
    cast(security_id as varchar) as security_id,
    cast(ticker as varchar) as ticker,
    cast(session_date as date) as session_date,
    cast(close as double) as close,
    cast(adj_close as double) as adj_close,
    cast(volume as double) as volume,
    cast("return" as double) as daily_return,
    cast(benchmark_return as double) as benchmark_return
from {{ ref('int_prices__daily_returns') }}
where has_bar
