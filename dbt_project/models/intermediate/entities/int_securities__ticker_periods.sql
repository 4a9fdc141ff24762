-- One row per (security, ticker period): the curated periods of `ref_securities`, plus one open
-- period for every ticker that appears only in the price files (a security named by its ticker),
-- plus one for every `$TICKER` of the news known nowhere else (a security without prices, so its
-- events get `no_price_coverage` rows instead of silently none).
with reference_periods as (

    select
        security_id,
        entity_id,
        ticker,
        valid_from,
        valid_to,
        company_name,
        exchange,
        security_type

    from {{ ref('ref_securities') }}

),

bars as (

    select * from {{ ref('stg_prices__daily_bars') }}

),

price_only_tickers as (

    select
        bars.ticker,
        min(bars.session_date) as first_session_date

    from bars
    where not exists (
        select 1
        from reference_periods
        where reference_periods.ticker = bars.ticker
    )
    group by bars.ticker

),

-- tickers written in the news (`$TICKER`) that neither the reference nor the price files know;
-- open from their first dated mention (null when no mention has a timestamp)
news_only_tickers as (

    select
        annotations.annotation_name as ticker,
        min({{ utc_date('documents.published_at') }}) as first_mention_date

    from {{ ref('stg_news__annotations') }} as annotations
    left join {{ ref('stg_news__documents') }} as documents
        on documents.document_id = annotations.document_id
    where annotations.kind = 'ticker'
        and annotations.annotation_name <> ''
        and not exists (
            select 1 from reference_periods where reference_periods.ticker = annotations.annotation_name
        )
        and not exists (
            select 1 from price_only_tickers where price_only_tickers.ticker = annotations.annotation_name
        )
    group by annotations.annotation_name

),

-- a security named by its ticker for each ticker known only from the prices or the news
unlisted_periods as (

    select
        'tkr_' || lower(ticker) as security_id,
        'ent_tkr_' || lower(ticker) as entity_id,
        ticker,
        valid_from,
        cast(null as date) as valid_to,
        ticker as company_name,
        cast(null as varchar) as exchange,
        'equity' as security_type

    from (
        select ticker, first_session_date as valid_from from price_only_tickers
        union all
        select ticker, first_mention_date from news_only_tickers
    ) as unlisted_tickers

),

ticker_periods as (

    select * from reference_periods
    union all
    select * from unlisted_periods

)

select * from ticker_periods
