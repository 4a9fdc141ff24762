-- One row per (security, ticker period): the curated periods of `ref_securities`; one open period
-- for every other ticker of the security master (`sec_cik_<cik>_<ticker>`, its company's
-- security); one for every ticker that appears only in the price files (a security named by its
-- ticker); and one for every `$TICKER` of the news known nowhere else (a security without
-- prices, so its events get `no_price_coverage` rows instead of silently none).
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

master as (

    select * from {{ ref('stg_securities__master') }}

),

master_companies as (

    select * from {{ ref('int_entities__master_companies') }}

),

first_bars as (

    select
        ticker,
        min(session_date) as first_session_date

    from {{ ref('stg_prices__daily_bars') }}
    group by ticker

),

-- the first dated `$TICKER` mention of each ticker (null when no mention has a timestamp)
first_mentions as (

    select
        annotations.annotation_name as ticker,
        min({{ utc_date('documents.published_at') }}) as first_mention_date

    from {{ ref('stg_news__annotations') }} as annotations
    left join {{ ref('stg_news__documents') }} as documents
        on documents.document_id = annotations.document_id
    where annotations.kind = 'ticker'
        and annotations.annotation_name <> ''
    group by annotations.annotation_name

),

-- seeds win: a master ticker with any curated period adds nothing. The master only says that a
-- ticker is listed now, not since when: the period opens on the earliest day the data shows the
-- ticker in use (first bar, first dated mention), so every bar and mention of the ticker falls
-- inside it; 1970-01-01 (the earliest date ingestion accepts) when neither exists. Never the
-- load date: the same inputs must give the same warehouse whenever they are loaded.
master_periods as (

    select
        'sec_cik_' || ltrim(master.cik, '0') || '_' || lower(master.ticker) as security_id,
        master_companies.entity_id,
        master.ticker,
        coalesce(
            least(first_bars.first_session_date, first_mentions.first_mention_date),
            cast('1970-01-01' as date)
        ) as valid_from,
        cast(null as date) as valid_to,
        master.company_name,
        master.exchange,
        'equity' as security_type

    from master
    inner join master_companies
        on master_companies.cik = master.cik
    left join first_bars
        on first_bars.ticker = master.ticker
    left join first_mentions
        on first_mentions.ticker = master.ticker
    where not exists (
        select 1
        from reference_periods
        where reference_periods.ticker = master.ticker
    )

),

-- tickers neither the seeds nor the master know: named by their ticker, open from their first
-- bar, else (news only) from their first dated mention
unlisted_tickers as (

    select
        coalesce(first_bars.ticker, first_mentions.ticker) as ticker,
        coalesce(first_bars.first_session_date, first_mentions.first_mention_date) as valid_from

    from first_bars
    full outer join first_mentions
        on first_mentions.ticker = first_bars.ticker
    where not exists (
        select 1
        from reference_periods
        where reference_periods.ticker = coalesce(first_bars.ticker, first_mentions.ticker)
    )
        and not exists (
            select 1
            from master
            where master.ticker = coalesce(first_bars.ticker, first_mentions.ticker)
        )

),

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

    from unlisted_tickers

),

ticker_periods as (

    select * from reference_periods
    union all
    select * from master_periods
    union all
    select * from unlisted_periods

)

select * from ticker_periods
