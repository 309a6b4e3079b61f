"""`msvg-bench eval`: generate (or ingest) a suite's stories, score them, write results, log to MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from msvg_bench.cli_options import (
    ConfigFileOption,
    OverridesArgument,
    PresetOption,
    PrintConfigOption,
    RunNameOption,
    SeedOption,
    TrackingUriOption,
    load_config,
    print_config,
)
from msvg_bench.errors import ConfigError, DataError

if TYPE_CHECKING:
    from msvg_bench.benchmarks.suite import Suite
    from msvg_bench.config import Config
    from msvg_bench.eval.sources import StorySource

PANEL = "Evaluation"
SOURCE_PANEL = "What to score"


def _csv(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def _ints(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--scene-lengths {text!r}: expected comma-separated frame counts, e.g. 49,49,49") from None


def resolve_model(value: str | None, tracking_uri: str | None) -> str | None:
    """`--model PATH|RUN`: a weights folder, or a training run (its `msvg.export_dir` tag, else a `weights` artifact)."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.exists():
        return str(path)
    from msvg_bench.tracking import make_client, resolve_tracking_uri

    client = make_client(resolve_tracking_uri(tracking_uri))
    try:
        run = client.get_run(value)
    except Exception:  # noqa: BLE001 - MLflow raises several types for an unknown id
        raise ConfigError(f"--model {value!r} is neither an existing weights folder nor a run id in the tracking store") from None
    for tag in ("msvg.export_dir", "msvg.weights_dir"):  # the training run's exported weights folder
        tagged = run.data.tags.get(tag)
        if tagged and Path(tagged).is_dir():
            return tagged
    names = [a.path for a in client.list_artifacts(value)]
    if "weights" in names:
        return client.download_artifacts(value, "weights")
    raise DataError(f"run {value} has no msvg.export_dir tag naming an existing folder and no 'weights' artifact")


TRAIN_EXPERIMENT = "msvg-bench/train"
HOW_TO_TRAIN = "train one with `msvg-bench train --zero 2` (after `msvg-bench data synth --out data`)"
HOW_TO_SCORE = "or pass --method msvg|plain|streaming [--model DIR] to generate, or --videos DIR to score existing videos"


def latest_training_run(tracking_uri: str | None, preset: str) -> tuple[str, str, str] | None:
    """(run id, run name, export folder) of the newest FINISHED joint training run of `preset` whose export exists."""
    from msvg_bench.tracking import make_client, resolve_tracking_uri

    client = make_client(resolve_tracking_uri(tracking_uri))
    experiment = client.get_experiment_by_name(TRAIN_EXPERIMENT)
    if experiment is None:
        return None
    escaped = preset.replace("'", "\\'")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"attributes.status = 'FINISHED' and params.preset = '{escaped}' and tags.`msvg.stage` = 'joint'",
        order_by=["attributes.start_time DESC"],
        max_results=200,
    )
    for run in runs:
        export = run.data.tags.get("msvg.export_dir")
        if export and Path(export).is_dir():
            return run.info.run_id, run.info.run_name or "", export
    return None


def pick_latest_model(tracking_uri: str | None, preset: str) -> str | None:
    """The export folder of the newest finished training run (announced with its id and name), or None."""
    found = latest_training_run(tracking_uri, preset)
    if found is None:
        return None
    run_id, name, export = found
    typer.echo(f"evaluating method msvg with training run {run_id} ({name}): model {export}")
    return export


def no_training_run(uri: str | None, preset: str) -> str:
    """The sentence saying no usable training run exists, and what to do instead."""
    from msvg_bench.tracking import resolve_tracking_uri

    return f"the tracking store {resolve_tracking_uri(uri)} has no finished training run of preset {preset!r} with an export: {HOW_TO_TRAIN}"


def build_sources(cfg: Config, suite: Suite, method: str | None, output_dir: Path, generate: bool = True) -> tuple[list[StorySource], str, str]:
    """The stories to score, the method label and the model identity, from where the videos come from."""
    from msvg_bench.eval import sources as src

    if cfg.eval.videos is not None:
        folder = Path(cfg.eval.videos)
        return src.video_sources(suite, folder, cfg.eval.scene_lengths), method or "external", f"videos:{folder.resolve()}"
    if method is not None:
        from msvg_bench.hashing import hash_json

        settings = {"model": cfg.model.model_dump(mode="json"), "generate": cfg.generate.model_dump(mode="json")}
        identity = f"{cfg.model.source}:{hash_json(settings)[:16]}"
        if cfg.model.weights is not None:
            identity += f" weights:{Path(cfg.model.weights).resolve()}"
        return src.generated_sources(suite, cfg, method, output_dir / "generated", identity, generate), method, identity
    if suite.has_reference_videos:
        from msvg_bench.benchmarks.synth import SYNTH_VERSION

        return src.reference_sources(suite, output_dir / "reference"), "reference", f"synthetic-world:v{SYNTH_VERSION}"
    raise ConfigError(
        f"suite {suite.name!r} has no videos of its own and {no_training_run(cfg.tracking.uri, cfg.preset)}, {HOW_TO_SCORE}"
    )


def load_suite_kind(name: str | None) -> str | None:
    """The kind of suite `name` (synthetic suites carry reference videos), None when it does not load."""
    if name is None:
        return None
    from msvg_bench.benchmarks.suite import load_suite

    try:
        return load_suite(name).kind
    except Exception:  # noqa: BLE001 - the evaluation itself reports an unknown suite
        return None


def _distributed() -> tuple[int, int]:
    from msvg_bench.distributed import get_rank, get_world_size

    return get_rank(), get_world_size()


def _barrier() -> None:
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")
    dist.barrier()


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
    flags: dict[str, Any] = {
        "preset": preset,
        "seed": seed,
        "eval.suite": suite,
        "eval.metrics": _csv(metrics),
        "eval.limit": limit,
        "eval.output_dir": str(output_dir or output_dir_alias) if (output_dir or output_dir_alias) else None,
        "eval.videos": str(videos) if videos else None,
        "eval.scene_lengths": _ints(scene_lengths),
        "eval.shard": shard,
        "eval.resume": False if no_resume else None,
        "eval.log_videos": False if no_videos else None,
        "generate.method": method if method in ("msvg", "plain", "streaming") else None,
        "tracking.uri": tracking_uri,
        "tracking.run_name": run_name,
    }
    cfg = load_config(config_file, overrides, flags)
    unspecified = model is None and method is None and cfg.eval.videos is None and cfg.model.weights is None
    if model == "latest" or unspecified:
        weights = pick_latest_model(cfg.tracking.uri, cfg.preset)
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
    if method is not None and videos is None and method not in ("msvg", "plain", "streaming"):
        raise ConfigError(f"--method {method!r}: generation methods are msvg, plain, streaming")
    from msvg_bench.cleanup import no_empty_dirs_on_failure

    with no_empty_dirs_on_failure(Path(cfg.eval.output_dir)):
        code = run_eval(cfg, method, merge=merge)
    if code:
        raise typer.Exit(code)


def run_eval(cfg: Config, method: str | None, merge: bool = False) -> int:
    """Run (or merge) an evaluation as configured; returns the exit code (1 when a story failed)."""
    from msvg_bench.benchmarks.suite import load_suite
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.metrics import resolve_metrics
    from msvg_bench.eval.runner import merge_shards, parse_shard, run_suite

    suite = load_suite(cfg.eval.suite).limited(cfg.eval.limit)
    output_dir = Path(cfg.eval.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    generating = method in ("msvg", "plain", "streaming") and cfg.eval.videos is None
    if merge:
        results, path = merge_shards(output_dir, suite.story_ids())
        sources, _, _ = build_sources(cfg, suite, method, output_dir, generate=False)
        if generating:
            _write_generated_manifest(sources, output_dir / "generated")
        with _eval_run(cfg, suite.name, results.method) as tracker:
            return finish(cfg, results, path, sources, tracker)
    shard = parse_shard(cfg.eval.shard)
    rank, world = _distributed()
    launched = world > 1 and shard is None  # torchrun: one shard per rank, rank 0 merges
    if launched:
        shard = (rank, world)
    metrics = resolve_metrics(cfg.eval.metrics)
    cache_root = Path(cfg.eval.cache_dir) if cfg.eval.cache_dir else output_dir / "cache"
    ctx = MetricContext(cfg.eval, cache_root, default_paths={"clip4clip": cfg.model.clip4clip_dir})
    sources, label, identity = build_sources(cfg, suite, method, output_dir)
    if shard is not None and not launched:
        from msvg_bench.eval.report import print_results

        outcome = run_suite(cfg, suite, sources, metrics, ctx, output_dir, label, identity, shard)
        if generating:
            _write_generated_manifest(sources, output_dir / "generated")
        print_results(outcome.results, outcome.path)
        return 1 if outcome.results.failed else 0
    # The run exists from the start, so an interrupted evaluation leaves a KILLED run behind.
    with _eval_run(cfg, suite.name, label) as tracker:
        outcome = run_suite(cfg, suite, sources, metrics, ctx, output_dir, label, identity, shard)
        if launched:
            _barrier()
            if rank != 0:
                return 1 if outcome.results.failed else 0
            results, path = merge_shards(output_dir, suite.story_ids())
        else:
            results, path = outcome.results, outcome.path
        if generating:
            _write_generated_manifest(sources, output_dir / "generated")
        return finish(cfg, results, path, sources, tracker)


def _eval_run(cfg: Config, suite_name: str, label: str) -> Any:
    """The MLflow run of an evaluation (named `<suite> <method>` unless --run-name is given)."""
    from msvg_bench.tracking import start_run

    return start_run("eval", cfg, run_name=cfg.tracking.run_name or f"{suite_name} {label}")


def _write_generated_manifest(sources: list[Any], root: Path) -> None:
    """A manifest of the generated stories so `eval --videos <output>/generated` re-scores them."""
    from msvg_bench.benchmarks.dataset import write_manifest

    stories = [s for s in (source.video_story() for source in sources) if s is not None]
    if stories:
        write_manifest(root, stories)


def finish(cfg: Config, results: Any, path: Path, sources: list[Any], tracker: Any) -> int:
    """Print the table, log into `tracker`'s run (aggregates, per-story values, results, videos); exit code.

    When a story failed the run is ended FAILED (its error names how many) and the exit code is 1.
    """
    from msvg_bench.eval.mlflow_log import log_results, log_story_videos
    from msvg_bench.eval.report import print_results

    print_results(results, path)
    if cfg.model.weights is not None:
        tracker.set_tags({"msvg.model_weights": str(Path(cfg.model.weights).resolve())})
    log_results(tracker, results, path)
    if cfg.eval.log_videos and sources:
        for note in log_story_videos(tracker, sources, results):
            typer.echo(note, err=True)
    if tracker.run_id:
        typer.echo(f"MLflow run {tracker.run_id} (experiment msvg-bench/eval)")
    if results.failed:
        message = f"{len(results.failed)} of {len(results.stories)} stories failed (see {path})"
        tracker.mark_failed(message)
        typer.echo(message, err=True)
        return 1
    return 0


def register(app: typer.Typer) -> None:
    """Add `eval` to the CLI."""
    app.command("eval", rich_help_panel=PANEL)(eval_command)

