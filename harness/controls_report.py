"""The control table: terminal (rich), and an HTML section for reports.

One row per (control, target metric): detected / n, the detection rate with its 95 % Wilson interval,
the median effect, and the collateral column: the steady metric whose median moved most, with its
median change. A control no story could carry shows why.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any


def _num(value: float, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}f}" if abs(value) < 1e3 else f"{value:+.3e}"


def _rate(row: dict[str, Any]) -> str:
    if not row["n"]:
        return "n/a"
    return f"{100 * row['rate']:.0f} % [{100 * row['ci_low']:.0f}, {100 * row['ci_high']:.0f}]"


SHORT = {"scene_consistency": "scene", "character_consistency": "character", "face_consistency": "face",
         "prompt_alignment": "prompt", "setting_recognition": "setting"}
"""Short names of the collateral column."""


def worst_collateral(summary: dict[str, Any]) -> str:
    """The steady key whose median change is largest in size, as `key +0.012` ('-' when none)."""
    steady = [(k, r["median_change"]) for k, r in summary["collateral"].items() if r["steady"] and r["n"] and math.isfinite(r["median_change"])]
    if not steady:
        return "-"
    key, value = max(steady, key=lambda kv: abs(kv[1]))
    return f"{SHORT.get(key, key)} {_num(value)}"


def rows(doc: dict[str, Any]) -> list[list[str]]:
    """Table rows: control, metric (↑ must rise / ↓ must drop), detected/n, rate [CI], median effect, collateral."""
    out = []
    for name, summary in doc["controls"].items():
        collateral = worst_collateral(summary)
        if not summary["targets"] or not summary["applied"]:
            reasons = "; ".join(f"{r} ({n})" for r, n in summary.get("skipped", {}).items()) or "no target metric scored"
            out.append([name, "-", f"0/{summary['applied']}", "n/a", "n/a", f"not applied: {reasons}"])
            continue
        for key, row in summary["targets"].items():
            arrow = "↑" if row["direction"] == "rise" else "↓"
            out.append([name, f"{key} {arrow}", f"{row['detected']}/{row['n']}", _rate(row), _num(row["median_effect"]), collateral])
            name, collateral = "", ""
    return out


HEADERS = ["control", "metric (must move)", "hits", "rate [95% CI]", "median", "collateral (largest steady)"]


def print_controls(doc: dict[str, Any], path: Path | None = None) -> None:
    """The control table on stdout, with the suite, the encoders' kind and where the JSON is."""
    from rich.console import Console
    from rich.table import Table

    flag = " (non-semantic encoders)" if doc["non_semantic"] else ""
    from rich import box

    table = Table(title=f"Metric controls: {doc['suite']['name']}@{doc['suite']['version']} · {doc['method']}{flag}", box=box.SIMPLE_HEAD)
    for header in HEADERS:
        wrap = header.startswith("collateral")
        table.add_column(header, justify="right" if header in ("hits", "median") else "left", no_wrap=not wrap, overflow="fold")
    for row in rows(doc):
        table.add_row(*row)
    timing = doc.get("timing", {})
    table.caption = (f"{len(doc['stories'])} stories; a story detects a control when the metric moved strictly the "
                     f"expected way; originals {timing.get('original_s', 0):.0f} s, controls {timing.get('controls_s', 0):.0f} s")
    console = Console(width=max(Console().width, 100), soft_wrap=False)
    console.print(table)
    if path is not None:
        console.print(f"controls: {path}")


def controls_section(doc: dict[str, Any]) -> str:
    """An HTML `<section>` with the control table (for a standalone page or a larger report)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows(doc))
    note = " (non-semantic encoders)" if doc["non_semantic"] else ""
    title = html.escape(f"Metric controls: {doc['suite']['name']}@{doc['suite']['version']} · {doc['method']}{note}")
    encoders = "".join(f"<li>{html.escape(role)}: {html.escape(str(d.get('identity')))}</li>" for role, d in doc["encoders"].items())
    return (f'<section class="controls"><h2>{title}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            f"<p>{len(doc['stories'])} stories. Detection: the metric moved strictly the expected way; "
            f"interval: Wilson 95 %; effect and collateral: median change (corrupted − original).</p><ul>{encoders}</ul></section>")


def controls_html(doc: dict[str, Any]) -> str:
    """A standalone HTML page holding the control section."""
    style = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>metric controls</title><style>{style}</style></head><body>{controls_section(doc)}</body></html>\n"
