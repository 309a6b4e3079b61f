"""Rendering of `bench_gpu.py`'s report: the Markdown tables, and the JSON + Markdown files written
after every section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def not_measured(row: dict[str, Any] | None) -> str | None:
    """Why a section has no figures ("error: ...", "skipped: ...", "not run"), None when it has them."""
    if row is None:
        return "not run"
    for key in ("error", "skipped", "pending"):
        if key in row:
            return f"{'not run' if key == 'pending' else key}: {row[key]}"
    return None


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables; a failed, skipped or pending section is a row saying so."""
    def gb(value: float | None) -> str:
        return "—" if value is None else f"{value:.3g}"

    lines = [
        f"# bench_gpu: {report['layout']} layout, {report['frames']}x{report['height']}x{report['width']}, bf16, "
        f"gradient checkpointing ({report['device_name']}, torch {report.get('torch', '?')})",
        "",
    ]
    group = not_measured(report.get("process_group"))
    if group:
        lines += [f"process group: {group}", ""]
    lines += [
        "| ZeRO-2 | step s | MFU | HFU | peak alloc GiB (steps) | peak reserved GiB | init peak alloc GiB | plan GiB (states + act.) | plan error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    flops = report["flops"]
    for key in ("zero2", "zero2_offload"):
        row = report["train"].get(key)
        why = not_measured(row)
        if why:
            lines.append(f"| {key} | {why.splitlines()[0]} | | | | | | | |")
            continue
        mfu, hfu = row.get("mfu"), row.get("hfu")
        plan = row["plan"]
        err = row["plan_error"]
        lines.append(
            f"| {row['offload']} ({row['optimizer']}) | {row['step_s']:.3f} | {'—' if mfu is None else f'{mfu:.1%}'} | "
            f"{'—' if hfu is None else f'{hfu:.1%}'} | {gb(row['peak_allocated_gb'])} | {gb(row['peak_reserved_gb'])} | "
            f"{gb(row.get('init_peak_allocated_gb'))} | "
            f"{gb(plan['total_gb'])} ({gb(plan['model_states_gb'])} + {gb(plan['activations_gb'])}) | "
            f"{'—' if err is None else f'{err:+.1%}'} |"
        )
    lines += [
        "",
        f"FLOPs per training step per sample: forward {flops['forward']:.3e} over {flops['tokens']} tokens; "
        f"model (3x) {flops['model']:.3e}, hardware with recompute (4x) {flops['hardware']:.3e}; "
        f"peak {report['peak_tflops'] or '—'} TFLOPS bf16 dense.",
        "",
    ]
    for key in ("zero2", "zero2_offload"):
        row = report["train"].get(key) or {}
        if "optimizer_detail" in row:
            lines.append(f"{key} optimizer: {row['optimizer']} ({row['optimizer_detail']})")
    den = report.get("denoise")
    why = not_measured(den)
    if why:
        lines.append(f"denoising step: {why.splitlines()[0]}")
    else:
        lines += [
            "",
            "| denoising step | s (median) |",
            "|---|---|",
            f"| msvg (3 branches, history) | {den['msvg_step_s']:.3f} |",
            f"| plain (2 branches) | {den['plain_step_s']:.3f} |",
            f"| msvg / plain | {den['msvg_over_plain']:.2f} |",
        ]
    batch = report.get("story_batch")
    why = not_measured(batch)
    if why:
        lines.append(f"story batch: {why.splitlines()[0]}")
    else:
        lines += ["", "| story_batch | one by one (s) | together (s) | throughput ratio | max latent diff |", "|---|---|---|---|---|"]
        lines += [f"| {r['story_batch']} | {r['one_by_one_s']:.2f} | {r['together_s']:.2f} | {r['throughput_ratio']:.2f} | "
                  f"{r['max_abs_latent_diff']:.1e} |" for r in batch["rows"]]
    errors = [(name, row) for name, row in (("process_group", report.get("process_group")), *report["train"].items(), ("denoise", den),
                                            ("story_batch", batch))
              if isinstance(row, dict) and "error" in row]
    for name, row in errors:
        lines += ["", f"## error in {name}", "", "```", row.get("traceback") or row["error"], "```"]
    lines += ["", f"total wall time {report['wall_s']:.0f} s"]
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out: Path) -> None:
    """Write the JSON and the Markdown table (called after every section)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("bench_gpu.json", json.dumps(report, indent=2) + "\n"), ("bench_gpu.md", markdown(report))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / name)  # a run killed mid-write keeps the previous complete file
