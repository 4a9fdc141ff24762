"""The progress display of `newsimpact run`: one line per step, with its outcome and time."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

import dagster as dg

_LABELS = {  # step keys: an asset's op is named after its key
    "raw_news": "ingest news",
    "raw__prices_daily": "ingest prices",
    "raw__exchange_sessions": "exchange calendar",
    "raw__security_master": "ingest securities",
    "newsimpact_dbt_assets": "dbt build + tests",
    "serving__warehouse": "publish",
    "serving__report": "report",
}
_OUTCOMES = {
    dg.DagsterEventType.STEP_SUCCESS: "ok",
    dg.DagsterEventType.STEP_FAILURE: "FAILED",
    dg.DagsterEventType.STEP_SKIPPED: "skipped",
}
_WIDTH = 34


def step_label(step_key: str) -> str:
    """`gx_marts` -> `checks: marts` (the Great Expectations layer checks), else a readable name."""
    if step_key.startswith("gx_"):
        return f"checks: {step_key[3:].replace('_', ' ')}"
    if step_key.startswith("landing__"):
        return f"pull {step_key.removeprefix('landing__')}"
    return _LABELS.get(step_key, step_key)


class _ProgressHandler(logging.Handler):
    """Reads the step events Dagster logs: a step's label when it starts, its outcome when done."""

    def __init__(self, stream: TextIO):
        super().__init__()
        self.stream = stream
        self.started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        if event is None or event.step_key is None:
            return
        if event.event_type == dg.DagsterEventType.STEP_START:
            self.started[event.step_key] = time.monotonic()
            self.stream.write(f"  {step_label(event.step_key):<{_WIDTH}}")
        elif event.event_type in _OUTCOMES:
            started = self.started.pop(event.step_key, None)
            if started is None:  # skipped: it never started
                self.stream.write(f"  {step_label(event.step_key):<{_WIDTH}}")
            elapsed = f"{time.monotonic() - started:6.1f} s" if started is not None else ""
            self.stream.write(f"{_OUTCOMES[event.event_type]:<8}{elapsed}\n")
        else:
            return
        self.stream.flush()


@dg.logger(description="newsimpact's progress display: one line per step, outcome and time.")
def progress_logger(_init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("newsimpact.progress", level=logging.DEBUG)
    logger.addHandler(_ProgressHandler(sys.stdout))
    return logger
