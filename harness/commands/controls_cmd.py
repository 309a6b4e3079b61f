"""`msvg-bench controls`: check that each metric moves when, and only when, the thing it names changes.

The command parses its options into a config; `msvg_bench.controls` does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from msvg_bench.cli_options import (
    ConfigFileOption,
    OverridesArgument,
    PresetOption,
    RunNameOption,
    SeedOption,
    TrackingUriOption,
    comma_ints,
    comma_list,
    load_config,
)

SOURCE_PANEL = "What to score"


def controls_command(
    overrides: OverridesArgument = None,
    suite: Annotated[str | None, typer.Option("--suite", "-s", help="Suite name or suite JSON file (annotated: settings and characters per scene).", rich_help_panel=SOURCE_PANEL)] = None,
    videos: Annotated[Path | None, typer.Option("--videos", help="Footage to check on: manifest / prompts-folder data root, or <story_id>.mp4 files (default: the suite's reference videos).", rich_help_panel=SOURCE_PANEL)] = None,
    scene_lengths: Annotated[str | None, typer.Option("--scene-lengths", help="Frames per scene for one-video-per-story folders.", rich_help_panel=SOURCE_PANEL)] = None,
    method: Annotated[str | None, typer.Option("--method", "-m", help="A method's stories already generated under --out (by eval), or a label for --videos.", rich_help_panel=SOURCE_PANEL)] = None,
    only: Annotated[str | None, typer.Option("--only", help="Comma-separated controls (default: all): identity, character_swap, setting_swap, inserted_cut, motion_break, caption_swap, recast, variant_swap.")] = None,
    metrics: Annotated[str | None, typer.Option("--metrics", help="Comma-separated subset of metrics (default: all).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N stories.", min=1)] = None,
    output_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Where controls.json/.html and the corrupted clips go; an eval's --out reuses its cache.")] = None,
    config_file: ConfigFileOption = None,
    preset: PresetOption = None,
    seed: SeedOption = None,
    tracking_uri: TrackingUriOption = None,
    run_name: RunNameOption = None,
) -> None:
    """Metric controls: score corrupted copies of each story (character/setting swap, inserted cut, motion break,
    caption swap, the world's re-cast and variant swap, and the unchanged copy) beside the originals, and report
    per metric and control the detection rate, the median effect and the collateral movement."""
    from msvg_bench.controls import run_controls

    flags: dict[str, Any] = {
        "preset": preset,
        "seed": seed,
        "eval.suite": suite,
        "eval.metrics": comma_list(metrics),
        "eval.limit": limit,
        "eval.output_dir": str(output_dir) if output_dir else None,
        "eval.videos": str(videos) if videos else None,
        "eval.scene_lengths": comma_ints(scene_lengths),
        "tracking.uri": tracking_uri,
        "tracking.run_name": run_name,
    }
    cfg = load_config(config_file, overrides, flags)
    code = run_controls(cfg, method, comma_list(only), echo=typer.echo)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add `controls` to the CLI."""
    app.command("controls", rich_help_panel="Evaluation")(controls_command)
