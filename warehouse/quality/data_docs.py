"""Data Docs that read offline: GX's validation pages and our own plain index.

GX's own index page loads its scripts from CDNs and is blank without internet; its validation
pages read fine unstyled. So each suite gets one GX validation page per run, under
`validations/<suite>/<run time>.html`, with a small JSON summary next to it; `index.html` is
plain HTML (no script, no remote link) built from those summaries. Only the newest
`KEEP_VALIDATIONS` validations of each suite are kept.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterable
from pathlib import Path

from warehouse.quality.runner import SuiteOutcome

KEEP_VALIDATIONS = 30


def write_data_docs(docs_dir: Path, outcomes: Iterable[SuiteOutcome], run_name: str = "") -> Path:
    """Add this run's validation pages, prune old ones, rebuild the index; returns the index path."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    for outcome in outcomes:
        folder = docs_dir / "validations" / outcome.suite
        folder.mkdir(parents=True, exist_ok=True)
        if outcome.result is not None:  # GX ran (it did not for a suite with no rows to check)
            from great_expectations.render.renderer import ValidationResultsPageRenderer
            from great_expectations.render.view import DefaultJinjaPageView

            page = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(outcome.result))
            (folder / f"{stamp}.html").write_text(page, encoding="utf-8")
        summary = {
            "suite": outcome.suite, "dataset": outcome.dataset, "severity": outcome.severity,
            "success": outcome.success, "evaluated": outcome.evaluated_expectations,
            "successful": outcome.successful_expectations, "rows": outcome.row_count,
            "batches": outcome.batch_count, "failures": outcome.failures, "run": run_name,
            "time": stamp, "page": f"{stamp}.html" if outcome.result is not None else None,
        }
        (folder / f"{stamp}.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
        _prune(folder)
    index = docs_dir / "index.html"
    index.write_text(_index_html(docs_dir), encoding="utf-8")
    return index


def _prune(folder: Path) -> None:
    """Keep the newest validations (run stamps sort as they happened): the site must not grow."""
    for old in sorted(folder.glob("*.json"))[:-KEEP_VALIDATIONS]:
        old.with_suffix(".html").unlink(missing_ok=True)
        old.unlink()


def _index_html(docs_dir: Path) -> str:
    rows = []
    for folder in sorted((docs_dir / "validations").iterdir()):
        newest_first = sorted(folder.glob("*.json"), reverse=True)
        summaries = [json.loads(path.read_text(encoding="utf-8")) for path in newest_first]
        if not summaries:
            continue
        latest = summaries[0]
        links = " ".join(
            f'<a href="validations/{html.escape(folder.name)}/{html.escape(s["page"])}">'
            f'{html.escape(s["time"][:15])}{"" if s["success"] else " (failed)"}</a>'
            for s in summaries
            if s["page"]
        )
        failures = "".join(f"<li>{html.escape(f)}</li>" for f in latest["failures"])
        rows.append(
            f"<tr><td>{html.escape(latest['suite'])}</td><td>{html.escape(latest['dataset'])}</td>"
            f"<td>{html.escape(latest['severity'])}</td>"
            f"<td>{'passed' if latest['success'] else 'FAILED'}</td>"
            f"<td>{latest['successful']}/{latest['evaluated']}</td>"
            f"<td>{latest['rows']} in {latest['batches']}</td>"
            f"<td>{links}{f'<ul>{failures}</ul>' if failures else ''}</td></tr>"
        )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>newsimpact Data Docs</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px;vertical-align:top}</style></head><body>"
        "<h1>newsimpact: Great Expectations suites</h1>"
        "<p>The latest result of each suite, and its newest validation pages (newest first).</p>"
        "<table><tr><th>Suite</th><th>Dataset</th><th>Severity</th><th>Latest</th>"
        "<th>Expectations passed</th><th>Rows in batches</th><th>Validations</th></tr>"
        + "\n".join(rows)
        + "</table></body></html>\n"
    )
