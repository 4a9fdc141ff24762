-- session_index follows session_date without gaps, from 0: relative days are differences of it.
-- A check across rows, so a dbt test (the raw table's primary key cannot express it).
select session_date, session_index, expected_index
from (
    select session_date, session_index,
           cast(row_number() over (order by session_date) - 1 as bigint) as expected_index
    from {{ ref('stg_calendar__sessions') }}
)
where session_index is distinct from expected_index
