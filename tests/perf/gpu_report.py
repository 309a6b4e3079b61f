"""Rendering of `bench_gpu.py`'s report: the Markdown tables, and the JSON + Markdown files written
after every section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables."""
    def gb(value: float | None) -> str:
        return "—" if value is None else f"{value:.3g}"

    lines = [
        f"# bench_gpu: {report['layout']} layout, {report['frames']}x{report['height']}x{report['width']}, bf16, "
        f"gradient checkpointing ({report['device_name']})",
        "",
        "| ZeRO-2 | step s | MFU | HFU | peak alloc GiB | peak reserved GiB | plan GiB (states + act.) | plan error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    flops = report["flops"]
    for key in ("zero2", "zero2_offload"):
        row = report["train"].get(key)
        if row is None or "skipped" in row:
            lines.append(f"| {key} | skipped: {row['skipped'] if row else 'not run'} | | | | | | |")
            continue
        mfu, hfu = row.get("mfu"), row.get("hfu")
        plan = row["plan"]
        err = row["plan_error"]
        lines.append(
            f"| {row['offload']} ({row['optimizer']}) | {row['step_s']:.3f} | {'—' if mfu is None else f'{mfu:.1%}'} | "
            f"{'—' if hfu is None else f'{hfu:.1%}'} | {gb(row['peak_allocated_gb'])} | {gb(row['peak_reserved_gb'])} | "
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
    den = report.get("denoise")
    if den and "skipped" not in den:
        lines += [
            "| denoising step | s (median) |",
            "|---|---|",
            f"| msvg (3 branches, history) | {den['msvg_step_s']:.3f} |",
            f"| plain (2 branches) | {den['plain_step_s']:.3f} |",
            f"| msvg / plain | {den['msvg_over_plain']:.2f} |",
            "",
        ]
    elif den:
        lines.append(f"denoising step: skipped: {den['skipped']}")
    lines.append(f"total wall time {report['wall_s']:.0f} s")
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out: Path) -> None:
    """Write the JSON and the Markdown table (called after every section)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_gpu.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "bench_gpu.md").write_text(markdown(report), encoding="utf-8")
