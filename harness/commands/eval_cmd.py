"""`msvg-bench eval`: generate (or ingest) a suite's stories, score them, write results, log to MLflow.

The command parses its options into a config; `msvg_bench.evaluation` does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from msvg_bench.cli_options import (
    ConfigFileOption,
    OverridesArgument,
    PresetOption,
    PrintConfigOption,
    RunNameOption,
    SeedOption,
    TrackingUriOption,
    comma_ints,
    comma_list,
    load_config,
    print_config,
)
from msvg_bench.core.errors import ConfigError

PANEL = "Evaluation"
SOURCE_PANEL = "What to score"


def eval_command(
    overrides: OverridesArgument = None,
    suite: Annotated[str | None, typer.Option("--suite", "-s", help="Suite name (see --list-suites) or suite JSON file.", rich_help_panel=SOURCE_PANEL)] = None,
    method: Annotated[str | None, typer.Option("--method", "-m", help="Generate with msvg | plain | streaming (with --videos: a label).", rich_help_panel=SOURCE_PANEL)] = None,
    model: Annotated[str | None, typer.Option("--model", help="Trained weights folder, MLflow run id, or latest (the newest finished training run of the preset). Default without --method/--videos: latest.", rich_help_panel=SOURCE_PANEL)] = None,
    videos: Annotated[Path | None, typer.Option("--videos", help="Score existing videos: manifest / prompts-folder data root, or <story_id>.mp4 files.", rich_help_panel=SOURCE_PANEL)] = None,
    scene_lengths: Annotated[str | None, typer.Option("--scene-lengths", help="Frames per scene for one-video-per-story folders (one value or one per scene).", rich_help_panel=SOURCE_PANEL)] = None,
    metrics: Annotated[str | None, typer.Option("--metrics", help="Comma-separated subset of metrics (default: all).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N stories.", min=1)] = None,
    output_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Where results.json and videos go.")] = None,
    output_dir_alias: Annotated[Path | None, typer.Option("--output-dir", hidden=True, help="Old spelling of --out.")] = None,
    shard: Annotated[str | None, typer.Option("--shard", help="i/n: score every n-th story from i (then --merge).")] = None,
    merge: Annotated[bool, typer.Option("--merge", help="Merge the shard results in --out and log them.")] = False,
    no_resume: Annotated[bool, typer.Option("--no-resume", help="Re-score every story, ignoring an existing results.json.")] = False,
    no_videos: Annotated[bool, typer.Option("--no-videos", help="Do not log video artifacts.")] = False,
    plan_power: Annotated[str | None, typer.Option("--plan-power", metavar="EFFECT", help="After scoring, print the stories needed to detect EFFECT per metric (0.05, 5% of the mean, or key=value,...).")] = None,
    list_suites: Annotated[bool, typer.Option("--list-suites", help="List the evaluation suites and exit.")] = False,
    list_metrics: Annotated[bool, typer.Option("--list-metrics", help="List the metrics and exit.")] = False,
    config_file: ConfigFileOption = None,
    preset: PresetOption = None,
    seed: SeedOption = None,
    show_config: PrintConfigOption = False,
    tracking_uri: TrackingUriOption = None,
    run_name: RunNameOption = None,
) -> None:
    """Score a suite's stories with scene/character consistency, SCuts, MAWE and CLIP prompt alignment."""
    if list_suites:
        from msvg_bench.benchmarks.suite import list_suites as all_suites
        from msvg_bench.eval.report import print_suites

        print_suites(all_suites())
        return
    if list_metrics:
        from msvg_bench.eval.report import print_metrics

        print_metrics()
        return
    if plan_power is not None:
        from msvg_bench.comparison.power_plan import parse_effect

        parse_effect(plan_power)  # a malformed effect fails before any work
    from msvg_bench.models.methods import method_names

    flags: dict[str, Any] = {
        "preset": preset,
        "seed": seed,
        "eval.suite": suite,
        "eval.metrics": comma_list(metrics),
        "eval.limit": limit,
        "eval.output_dir": str(output_dir or output_dir_alias) if (output_dir or output_dir_alias) else None,
        "eval.videos": str(videos) if videos else None,
        "eval.scene_lengths": comma_ints(scene_lengths),
        "eval.shard": shard,
        "eval.resume": False if no_resume else None,
        "eval.log_videos": False if no_videos else None,
        "generate.method": method if method in method_names() else None,
        "tracking.uri": tracking_uri,
        "tracking.run_name": run_name,
    }
    from msvg_bench.evaluation import (
        load_suite_kind,
        no_training_run,
        pick_latest_model,
        resolve_model,
        run_eval,
    )

    cfg = load_config(config_file, overrides, flags)
    unspecified = model is None and method is None and cfg.eval.videos is None and cfg.model.weights is None
    if model == "latest" or unspecified:
        weights = pick_latest_model(cfg.tracking.uri, cfg.preset, echo=typer.echo)
        if weights is not None:
            method = method or "msvg"
            flags["generate.method"] = method
        elif model == "latest":
            raise ConfigError(f"--model latest: {no_training_run(cfg.tracking.uri, cfg.preset)}")
        elif load_suite_kind(cfg.eval.suite) == "synthetic":
            typer.echo(f"{no_training_run(cfg.tracking.uri, cfg.preset)}; scoring the suite's reference videos", err=True)
    else:
        weights = resolve_model(model, tracking_uri)
    if weights is not None:
        flags["model.weights"] = weights
        cfg = load_config(config_file, overrides, flags)
    if show_config:
        print_config(cfg)
        return
    if method is not None and videos is None and method not in method_names():
        raise ConfigError(f"--method {method!r}: generation methods are {', '.join(method_names())}")
    from msvg_bench.core.cleanup import no_empty_dirs_on_failure

    with no_empty_dirs_on_failure(Path(cfg.eval.output_dir)):
        code = run_eval(cfg, method, merge=merge, echo=typer.echo)
    if plan_power is not None and (Path(cfg.eval.output_dir) / "results.json").is_file():
        from msvg_bench.comparison.power_plan import print_results_plan

        print_results_plan(Path(cfg.eval.output_dir) / "results.json", plan_power)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add `eval` to the CLI."""
    app.command("eval", rich_help_panel=PANEL)(eval_command)

