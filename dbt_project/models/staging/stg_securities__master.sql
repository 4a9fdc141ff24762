-- One row per ticker of the security master. A ticker listed by two sources (company_tickers.json
-- and company_tickers_exchange.json) is taken from the one that names its exchange, then the
-- newer snapshot, then the first source name (deterministic).
with source as (

    select * from {{ source('securities', 'security_master') }}

),

renamed as (

    select
        cik,
        upper(trim(ticker)) as ticker,
        {{ collapse_whitespace('company_name') }} as company_name,
        upper(trim(exchange)) as exchange,
        source_name,
        row_number() over (
            partition by upper(trim(ticker))
            order by exchange is null, ingested_at desc, source_name
        ) as listing_rank

    from source

)

select
    cik,
    ticker,
    company_name,
    exchange,
    source_name

from renamed
where listing_rank = 1
