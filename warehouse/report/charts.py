"""The report's charts: matplotlib figures rendered to inline SVG text (no files, no fonts fetched).

Plotted artists carry the id `<chart>-mark-<n>` and every id in an SVG is prefixed with its
chart's name, so several charts share one HTML page without clashing ids.
"""

from __future__ import annotations

import io
import math
import re

import matplotlib
import polars as pl
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

_POSITIVE, _NEGATIVE, _NEUTRAL, _BAND = "#1b7837", "#b2182b", "#2c5f8a", "#9ecae1"


def theme_caar_chart(frame: pl.DataFrame, name: str = "theme-caar") -> str:
    """CAAR per theme with its 95 % CI, one panel per window (event filter `all`)."""
    shown = frame.filter(pl.col("event_filter") == "all")
    windows = shown.select("window_start", "window_end").unique(maintain_order=True).rows()
    themes = sorted(shown["theme_code"].unique().to_list(), reverse=True)
    figure = Figure(figsize=(2.6 * max(len(windows), 1), 0.35 * len(themes) + 1.2))
    axes = figure.subplots(1, max(len(windows), 1), sharey=True, squeeze=False)[0]
    for panel, (axis, (start, end)) in enumerate(zip(axes, windows, strict=False)):
        rows = shown.filter(window_start=start, window_end=end)
        positions = [themes.index(theme) for theme in rows["theme_code"]]
        caar = [value * 100 for value in rows["caar"]]
        low = [_percent(value) for value in rows["caar_ci_low"]]
        high = [_percent(value) for value in rows["caar_ci_high"]]
        errors = [
            [c - lo if not math.isnan(lo) else 0 for c, lo in zip(caar, low, strict=True)],
            [hi - c if not math.isnan(hi) else 0 for c, hi in zip(caar, high, strict=True)],
        ]
        colours = [_POSITIVE if value > 0 else _NEGATIVE for value in caar]
        axis.errorbar(caar, positions, xerr=errors, fmt="none", ecolor="#555555", capsize=2,
                      linewidth=1)
        axis.scatter(caar, positions, c=colours, s=18, zorder=3)
        _tag_marks(axis, panel)
        axis.axvline(0, color="#999999", linewidth=0.8)
        axis.set_title(f"window [{start}, {end}]", fontsize=9)
        axis.set_xlabel("CAAR (%)", fontsize=8)
    axes[0].set_yticks(range(len(themes)), themes, fontsize=8)
    _style(figure, axes, grid="x")
    return to_svg(figure, name)


def caar_curves_chart(frame: pl.DataFrame, name: str = "caar-curves") -> str:
    """Mean CAR by relative day with its 95 % band, one small panel per theme."""
    themes = frame["theme_code"].unique(maintain_order=True).to_list()
    columns = min(len(themes), 3) or 1
    rows = max(math.ceil(len(themes) / columns), 1)
    figure = Figure(figsize=(3.0 * columns, 2.2 * rows))
    axes = figure.subplots(rows, columns, sharex=True, squeeze=False).ravel()
    for panel, (axis, theme) in enumerate(zip(axes, themes, strict=False)):
        curve = frame.filter(theme_code=theme)
        days = curve["rel_day"].to_list()
        axis.fill_between(days, [_percent(v) for v in curve["ci_low"]],
                          [_percent(v) for v in curve["ci_high"]], color=_BAND, alpha=0.6,
                          linewidth=0)
        axis.plot(days, [v * 100 for v in curve["mean"]], color=_NEUTRAL, linewidth=1.4)
        _tag_marks(axis, panel)
        axis.axhline(0, color="#999999", linewidth=0.8)
        axis.axvline(0, color="#999999", linewidth=0.8, linestyle=":")
        axis.set_title(f"{theme} (n = {curve['n'][0]})", fontsize=8)
        axis.tick_params(labelsize=7)
    for axis in axes[len(themes):]:
        axis.set_visible(False)
    for axis in axes[-columns:]:
        axis.set_xlabel("relative day", fontsize=7)
    _style(figure, axes)
    return to_svg(figure, name)


def entity_timeline_chart(frame: pl.DataFrame, title: str, name: str) -> str:
    """Daily adjusted close with markers on the sessions with news, above those sessions'
    abnormal returns."""
    figure = Figure(figsize=(8.0, 3.4))
    price_axis, return_axis = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    price_axis.plot(frame["session"].to_list(), frame["adj_close"].to_list(), color="#888888",
                    linewidth=1, zorder=1)
    news = frame.filter(pl.col("mention_count").is_not_null())
    price_axis.scatter(news["session"].to_list(), news["adj_close"].to_list(),
                       s=[14 * count for count in news["mention_count"]], color=_NEUTRAL,
                       zorder=2)
    returns = frame.filter(pl.col("abnormal_return").is_not_null())
    values = [value * 100 for value in returns["abnormal_return"]]
    # Bars a day wide vanish over years of prices: scale them with the span shown.
    days_shown = (frame["session"].max() - frame["session"].min()).days
    return_axis.bar(returns["session"].to_list(), values, width=max(days_shown / 150, 1),
                    color=[_POSITIVE if value > 0 else _NEGATIVE for value in values])
    _tag_marks(price_axis, 0)
    _tag_marks(return_axis, 1)
    return_axis.axhline(0, color="#999999", linewidth=0.8)
    dates = AutoDateLocator(maxticks=8)
    return_axis.xaxis.set_major_locator(dates)
    return_axis.xaxis.set_major_formatter(ConciseDateFormatter(dates))
    price_axis.set_title(title, fontsize=9)
    price_axis.set_ylabel("adjusted close", fontsize=8)
    return_axis.set_ylabel("AR (%)", fontsize=8)
    _style(figure, [price_axis, return_axis])
    return to_svg(figure, name)


def to_svg(figure: Figure, name: str) -> str:
    """The figure as an `<svg>` element: no XML prolog, text kept as text, ids prefixed."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', text)
    text = text.replace("url(#", f"url(#{name}-").replace('href="#', f'href="#{name}-')
    return text.replace("<svg ", f'<svg data-chart="{name}" role="img" ', 1)


def _tag_marks(axis: Axes, panel: int) -> None:
    """Name the artists plotted so far in this panel as the chart's data marks."""
    artists = [*axis.lines, *axis.collections, *axis.patches]
    for number, artist in enumerate(artists, start=1):
        artist.set_gid(f"mark-{panel}-{number}")


def _style(figure: Figure, axes, grid: str = "y") -> None:
    for axis in axes:
        axis.spines[["top", "right"]].set_visible(False)
        axis.grid(axis=grid, color="#eeeeee", linewidth=0.6)
        axis.set_axisbelow(True)
    figure.tight_layout()


def _percent(value: float | None) -> float:
    return math.nan if value is None else value * 100
