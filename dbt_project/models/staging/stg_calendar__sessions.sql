with source as (

    select * from {{ source('calendar', 'exchange_sessions') }}

),

configured_calendar as (

    select
        calendar_code,
        session_date,
        session_index,
        open_at,
        close_at,
        is_early_close

    from source
    where calendar_code = '{{ var("calendar_code") | replace("'", "''") }}'

)

select * from configured_calendar
