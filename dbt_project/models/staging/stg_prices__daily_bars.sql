with source as (

    select * from {{ source('prices', 'prices_daily') }}

),

renamed as (

    select
        ticker,
        session_date,
        open,
        high,
        low,
        close,
        adj_close,
        volume

    from source

)

select * from renamed
