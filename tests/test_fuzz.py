"""Fuzzing the ingestion path (readers + loaders into DuckDB) with generated hostile inputs.

For every generated folder of news documents or price files, whatever they hold: nothing raises,
every file read is in `audit.ingested_files`, every record is loaded or quarantined with a
reason (`records_read = records_loaded + records_quarantined`, and both match the tables), every
record that is valid by construction is loaded, and reading the same folder again changes
nothing. Seeded (`derandomize`), so a CI run is reproducible; together the two properties
generate well over 1,000 documents and price files per run.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.news import read_documents
from ingestion.prices import read_price_files
from orchestration.ingestion.assets import MAX_PASSES
from warehouse.loaders import files_needing_reread, load_news, load_prices, manifest_hashes
from warehouse.schema import ensure_schema

FUZZ = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
GENERATED = {"documents": 0, "price_files": 0}

# -- news documents -----------------------------------------------------------------------------

TICKERS = ("AAPL", "MSFT", "IBM", "GOOG", "FB", "META", "^GSPC")
HOSTILE_TICKERS = ("$", "$$", "$ΑAPL", "$АAPL", "$ＡＡＰＬ", "$A A", "$" + "X" * 300, "$\x00")
valid_moments = st.datetimes(
    min_value=datetime(2010, 1, 4), max_value=datetime(2013, 2, 1)
).map(lambda moment: moment.replace(tzinfo=UTC, microsecond=0))
odd_moments = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
        lambda moment: moment.replace(microsecond=0).isoformat() + "Z"
    ),
    st.sampled_from(["2099-01-01T00:00:00Z", "tomorrow", "", "2012-13-45T25:61:00Z", "0"]),
    st.text(max_size=30),
)
words = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r"), max_size=80)


@st.composite
def valid_document(draw) -> str:
    published = draw(valid_moments).isoformat().replace("+00:00", "Z")
    title = draw(st.sampled_from(["Results", "A launch", "Deal agreed", "CEO named"]))
    ticker = draw(st.sampled_from(TICKERS[:-1]))
    body = draw(st.sampled_from([
        "The company reported higher quarterly revenue.",
        "Shares moved after the announcement, and analysts were split.",
        "A new product line was shown to the press.",
    ]))
    return (
        f"---\npublished_at: {published}\ntitle: {title}\n---\n{body}\n"
        f"${ticker}: ${ticker} is the company's ticker.\nEarnings_Report: Quarterly results.\n"
    )


@st.composite
def hostile_document(draw) -> str | bytes:
    kind = draw(st.sampled_from(["bytes", "front_matter", "annotations", "text", "many_tags"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    if kind == "many_tags":
        return "Body.\n" + "".join(f"$T{i}: t\n" for i in range(draw(st.integers(1, 3000))))
    published = draw(st.one_of(odd_moments, valid_moments.map(datetime.isoformat)))
    front = f"---\npublished_at: {published}\nid: {draw(words)}\n---\n" if kind == "front_matter" else ""
    tags = draw(st.lists(
        st.one_of(st.sampled_from(HOSTILE_TICKERS), words).map(lambda key: f"{key}: {key}"),
        max_size=6,
    ))
    return front + draw(words) + "\n" + "\n".join(tags) + "\n"


documents = st.lists(  # (valid by construction, content)
    st.one_of(valid_document().map(lambda c: (True, c)), hostile_document().map(lambda c: (False, c))),
    min_size=5, max_size=30,
)


def _write(folder: Path, name: str, content: str | bytes) -> None:
    data = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
    (folder / name).write_bytes(data)


def _load_twice(
    folder: Path, source: str, read, load, table: str, files: set[str]
) -> duckdb.DuckDBPyConnection:
    """Load `folder` into a new database as the ingestion asset does (a pass, then further
    passes while a duplicate verdict waits to be re-decided), check that every record is
    accounted for; then read it again, which must change nothing. Returns the database."""
    connection = duckdb.connect()
    ensure_schema(connection)
    for _ in range(MAX_PASSES):
        load(connection, read(folder, source, skip_hashes=manifest_hashes(connection, source)))
        if not files_needing_reread(connection, source):
            break
    _assert_everything_is_accounted_for(_accounting(connection, table), files)
    before = _snapshot(connection)
    load(connection, read(folder, source, skip_hashes=manifest_hashes(connection, source)))
    assert _snapshot(connection) == before
    return connection


def _accounting(connection: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    """Per file: read, loaded, quarantined, and the rows really in the raw and quarantine tables."""
    return connection.execute(
        f"""
        select f.file_path, f.records_read, f.records_loaded, f.records_quarantined,
               (select count(*) from {table} t where t.file_path = f.file_path),
               (select count(*) from audit.quarantine q where q.file_path = f.file_path),
               (select count(*) from audit.quarantine q
                where q.file_path = f.file_path and coalesce(trim(q.reason), '') = '')
        from audit.ingested_files f order by 1
        """
    ).fetchall()


def _assert_everything_is_accounted_for(rows: list[tuple], files: set[str]) -> None:
    assert {row[0] for row in rows} == files
    for path, read, loaded, quarantined, in_table, in_quarantine, without_reason in rows:
        assert read == loaded + quarantined, path
        assert (loaded, quarantined, without_reason) == (in_table, in_quarantine, 0), path


def _snapshot(connection: duckdb.DuckDBPyConnection) -> list:
    return [
        sorted(connection.sql(f"select * from {table}").fetchall(), key=repr)
        for table in ("raw.news_documents", "raw.news_annotations", "raw.prices_daily",
                      "audit.quarantine", "audit.ingested_files")
    ]


@FUZZ
@given(documents)
def test_every_generated_document_is_loaded_or_quarantined_with_a_reason(generated):
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        valid = set()
        for number, (is_valid, content) in enumerate(generated):
            _write(folder, f"doc_{number:03d}.txt", content)
            if is_valid:
                valid.add(f"doc_{number:03d}")
        GENERATED["documents"] += len(generated)
        files = {f"doc_{n:03d}.txt" for n in range(len(generated))}

        connection = _load_twice(folder, "news[0]", read_documents, load_news, "raw.news_documents", files)

        loaded = {row[0] for row in connection.sql("select document_id from raw.news_documents").fetchall()}
        assert valid <= loaded


# -- price files --------------------------------------------------------------------------------

HEADERS = (
    "Date,Open,High,Low,Close,Adj Close,Volume",
    "date,open,high,low,close,volume",
    "Ticker,Date,Open,High,Low,Close,Adj Close,Volume",
    "Date,Open,High,Close,Volume",  # Low missing
    "",
)


def _valid_rows(first: date, count: int) -> list[str]:
    rows, day = [], first
    while len(rows) < count:
        if day.weekday() < 5:
            price = 10 + len(rows) % 7
            rows.append(f"{day},{price},{price + 1},{price - 1},{price + 0.5},{price + 0.5},1000")
        day += timedelta(days=1)
    return rows


hostile_row = st.one_of(
    st.sampled_from([
        "not-a-date,1,2,0.5,1,1,10", "2012-01-03,10,9,11,10,10,5", "2012-01-03,-1,1,-2,0,0,1",
        "0001-01-01,1,2,0.5,1,1,10", "9999-12-31,1,2,0.5,1,1,10", "2012-01-03,a,b,c,d,e,f",
        '"BRK\nB",2012-01-03,1,2,0.5,1,1,10', "2012-01-03,1,2,0.5,1,1,-5", ",,,,,,",
        "2012-01-03,1e308,1e308,1e308,1e308,1e308,1e308", "2012-01-03,5,6,4,5,5",
    ]),
    words.map(lambda text: text.replace("\n", " ")),
)


@st.composite
def price_file(draw, number: int) -> tuple[str, str, int]:
    """(file name, content, valid rows by construction)."""
    header = draw(st.sampled_from(HEADERS))
    valid = _valid_rows(date(2011, 1, 3) + timedelta(days=number * 400), draw(st.integers(0, 30)))
    if header != HEADERS[0]:
        valid_count = 0  # other headers are for the hostile half: they may or may not load
    else:
        valid_count = len(valid)
    hostile = draw(st.lists(hostile_row, max_size=8))
    lines = [header, *valid, *hostile]
    if draw(st.booleans()):
        return f"FZ{number}.csv", draw(st.binary(max_size=300)).decode("latin-1"), 0
    return f"FZ{number}.csv", "\n".join(lines) + "\n", valid_count


@st.composite
def price_folders(draw) -> list[tuple[str, str, int]]:
    return [draw(price_file(number)) for number in range(draw(st.integers(1, 6)))]


@FUZZ
@given(price_folders())
def test_every_generated_price_row_is_loaded_or_quarantined_with_a_reason(generated):
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        for name, content, _ in generated:
            (folder / name).write_text(content, encoding="utf-8", newline="")
        GENERATED["price_files"] += len(generated)

        connection = _load_twice(
            folder, "prices[0]", read_price_files, load_prices, "raw.prices_daily",
            {name for name, _, _ in generated},
        )

        loaded = dict(connection.sql(
            "select ticker, count(*) from raw.prices_daily group by ticker"
        ).fetchall())
        # A file Polars cannot parse as a table at all (e.g. a row with more fields than the
        # header) is quarantined whole, as one record: its valid rows are not loaded.
        unreadable = {path for (path,) in connection.sql(
            "select file_path from audit.quarantine where row_number is null"
        ).fetchall()}
        for name, _, valid_rows in generated:
            if name not in unreadable:
                assert loaded.get(name.removesuffix(".csv"), 0) >= valid_rows, name


def test_the_fuzz_run_generated_over_a_thousand_inputs():
    """Guards the two properties above against a settings change that would make them trivial."""
    if GENERATED["documents"] == 0:
        pytest.skip("run with the two fuzz properties (the whole file)")
    assert GENERATED["documents"] + GENERATED["price_files"] >= 1000, GENERATED


# -- the whole run ------------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=1, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(generated_documents=documents, generated_prices=price_folders())
def test_a_night_with_generated_junk_beside_the_samples_publishes_and_leaves_good_data_alone(
    generated_documents, generated_prices, sample_warehouse_for_fuzz
):
    """The real CLI on the samples plus a folder of generated documents and price files."""
    from tests.conftest import newsimpact, query, write_config

    sample_serving, samples = sample_warehouse_for_fuzz
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        news, prices = folder / "news", folder / "prices"
        shutil.copytree(samples / "news", news)
        shutil.copytree(samples / "prices", prices)
        for number, (_, content) in enumerate(generated_documents):
            _write(news, f"fuzz_{number:03d}.txt", content)
        for name, content, _ in generated_prices:
            (prices / name).write_text(content, encoding="utf-8", newline="")
        config = write_config(folder / "run", news=news, prices=prices)

        result = newsimpact("run", "--config", str(config))

        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        serving = folder / "run" / "newsimpact.duckdb"
        files = query(serving, "select records_read, records_loaded, records_quarantined "
                               "from audit.ingested_files")
        assert len(files) == len(list(news.iterdir())) + len(list(prices.iterdir()))
        assert all(read == loaded + quarantined for read, loaded, quarantined in files)
        impact_of_the_samples = (
            "select * from marts.fct_event_impact where event_id in "
            "(select event_id from marts.fct_news_event where file_path not like 'fuzz_%') "
            "order by all"
        )
        assert query(serving, impact_of_the_samples) == query(sample_serving, impact_of_the_samples)


@pytest.fixture(scope="module")
def sample_warehouse_for_fuzz(sample_warehouse: Path) -> tuple[Path, Path]:
    from tests.conftest import SAMPLES

    return sample_warehouse, SAMPLES
