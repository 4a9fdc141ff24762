"""Great Expectations checks of the newsimpact warehouse, layer by layer (docs/quality.md).

    from warehouse.quality import load_suites, run_suites, write_data_docs
    outcomes = run_suites(con, load_suites("raw_prices"), {"now": run_time})
    write_data_docs(docs_dir, outcomes)

The suites are GX ExpectationSuite JSON files in `suites/<layer>/`. Importing this package does
not import Great Expectations (it takes seconds); running the suites does.
"""

from warehouse.quality.data_docs import KEEP_VALIDATIONS, write_data_docs
from warehouse.quality.runner import BATCH_ROWS, LAYERS, Suite, SuiteOutcome, load_suites, run_suites

__all__ = [
    "BATCH_ROWS",
    "KEEP_VALIDATIONS",
    "LAYERS",
    "Suite",
    "SuiteOutcome",
    "load_suites",
    "run_suites",
    "write_data_docs",
]
