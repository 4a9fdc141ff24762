-- At any date a ticker names one security, and a security has one ticker: no two periods of the
-- same ticker (or of the same security) overlap. A check across rows, so a dbt test. On the
-- periods themselves (dim_security publishes them as they are), so that it fails before the
-- daily bars are mapped through them: with the raw bars' key (ticker, session_date), it is what
-- makes int_prices__security_bars one row per (security, session date).
with periods as (
    select security_id, ticker, valid_from, coalesce(valid_to, date '9999-12-31') as valid_until
    from {{ ref('int_securities__ticker_periods') }}
)

select 'ticker on two securities at once' as problem, a.ticker, a.security_id, b.security_id as other_security_id,
       a.valid_from, b.valid_from as other_valid_from
from periods as a
join periods as b
  on a.ticker = b.ticker and a.security_id < b.security_id
 and a.valid_from <= b.valid_until and b.valid_from <= a.valid_until
union all
select 'security with overlapping ticker periods', a.ticker || '/' || b.ticker, a.security_id, b.security_id,
       a.valid_from, b.valid_from
from periods as a
join periods as b
  on a.security_id = b.security_id and a.valid_from < b.valid_from
 and b.valid_from <= a.valid_until
