"""`msvg-bench data`: draw synthetic stories, prepare real ones, validate them, precompute caches."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from msvg_bench.cli_options import (
    ConfigFileOption,
    OverridesArgument,
    PresetOption,
    PrintConfigOption,
    SeedOption,
    load_config,
    print_config,
)

data_app = typer.Typer(
    help="Synthetic stories, scene cutting and validation of real data, embedding caches.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


def _report_problems(problems: list[str], what: str) -> None:
    """Print every problem on stderr and exit 1 (nothing is silently skipped)."""
    typer.echo(f"{len(problems)} problem(s) in {what}:", err=True)
    for problem in problems:
        typer.echo(f"  - {problem}", err=True)
    raise typer.Exit(1)


@data_app.command("synth")
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output data folder.")],
    stories: Annotated[int | None, typer.Option("--stories", help="Number of stories.")] = None,
    scenes: Annotated[int | None, typer.Option("--scenes", help="Scenes per story.")] = None,
    frames: Annotated[int | None, typer.Option("--frames", help="Frames per scene.")] = None,
    height: Annotated[int | None, typer.Option("--height", help="Frame height.")] = None,
    width: Annotated[int | None, typer.Option("--width", help="Frame width.")] = None,
    fps: Annotated[float | None, typer.Option("--fps", help="Frames per second.")] = None,
    caption_register: Annotated[str | None, typer.Option("--register", help="Captions: reference (names only) | described (looks in words) | mixed.")] = None,
    boxes: Annotated[bool | None, typer.Option("--boxes", help="Also write per-frame character boxes beside each clip.")] = None,
    overrides: OverridesArgument = None,
    config_file: ConfigFileOption = None,
    preset: PresetOption = None,
    seed: SeedOption = None,
    show_config: PrintConfigOption = False,
) -> None:
    """Draw a procedural multi-scene story world (cast actors, setting variants, actions) with exact annotations."""
    cfg = load_config(config_file, overrides, {
        "preset": preset, "seed": seed, "data.synth.stories": stories, "data.synth.scenes": scenes,
        "data.synth.frames": frames, "data.synth.height": height, "data.synth.width": width, "data.synth.fps": fps,
        "data.synth.caption_register": caption_register, "data.synth.boxes": boxes,
    })
    if show_config:
        print_config(cfg)
        return
    from msvg_bench.benchmarks.synth import synthesize

    s = cfg.data.synth
    result = synthesize(out, stories=s.stories, scenes=s.scenes, frames=s.frames, height=s.height, width=s.width,
                        seed=cfg.seed, fps=s.fps, register=s.caption_register, boxes=s.boxes)
    typer.echo(f"wrote {len(result)} stories x {s.scenes} scenes ({s.frames} frames {s.height}x{s.width}) "
               f"to {out} (manifest: {out / 'manifest.jsonl'})")


@data_app.command("prepare")
def prepare(
    raw: Annotated[list[Path] | None, typer.Option("--raw", help="Long video file or folder of videos (repeatable).")] = None,
    captions: Annotated[Path | None, typer.Option("--captions", help="Folder of <video_id>.json / .txt captions (omit: cut now, caption later).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output data folder (ingest: where the manifest goes).")] = None,
    ingest_dir: Annotated[Path | None, typer.Option("--ingest", help="Validate an existing dataset and write its manifest.")] = None,
    detector: Annotated[str | None, typer.Option("--detector", help="adaptive | content | threshold | histogram | hash.")] = None,
    min_seconds: Annotated[float | None, typer.Option("--min-seconds", help="Drop shorter scenes.")] = None,
    max_seconds: Annotated[float | None, typer.Option("--max-seconds", help="Drop longer scenes.")] = None,
    overrides: OverridesArgument = None,
    config_file: ConfigFileOption = None,
    preset: PresetOption = None,
    show_config: PrintConfigOption = False,
) -> None:
    """Cut long videos into captioned scenes with PySceneDetect, or ingest and validate a seed-format dataset.

    Detector parameters: overrides such as data.prepare.detector_params.adaptive_threshold=4.
    """
    from msvg_bench.core.errors import ConfigError

    cfg = load_config(config_file, overrides, {
        "preset": preset, "data.prepare.detector": detector, "data.prepare.min_seconds": min_seconds,
        "data.prepare.max_seconds": max_seconds,
    })
    if show_config:
        print_config(cfg)
        return
    from msvg_bench.benchmarks import prepare as prep

    if ingest_dir is not None:
        if raw:
            raise ConfigError("give either --ingest DIR or --raw ... --captions DIR --out DIR, not both")
        report = prep.ingest(ingest_dir, out)
        if report.problems:
            _report_problems(report.problems, str(ingest_dir))
        typer.echo(f"{ingest_dir}: {len(report.stories)} stories, "
                   f"{sum(len(s.scenes) for s in report.stories)} scenes valid; manifest: {report.manifest}")
        return
    if not raw or out is None:
        raise ConfigError("data prepare needs --raw VIDEO_OR_DIR --out DIR [--captions DIR] (or --ingest DIR)")
    p = cfg.data.prepare
    report = prep.prepare_raw(list(raw), captions, out, p.detector, p.detector_params, p.min_seconds, p.max_seconds)
    for dropped in report.dropped:
        typer.echo(f"dropped: {dropped}", err=True)
    if report.problems:
        _report_problems(report.problems, "data prepare")
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    scenes = sum(len(s.scenes) for s in report.stories)
    note = "" if captions is not None else " uncaptioned (add captions to the manifest before training)"
    typer.echo(f"wrote {len(report.stories)} stories, {scenes} scenes{note} to {out} "
               f"({len(report.dropped)} dropped by length); manifest: {report.manifest}")


@data_app.command("validate")
def validate(
    data: Annotated[Path, typer.Argument(help="Data folder (manifest.jsonl or prompts/) or manifest file.")],
    no_decode: Annotated[bool, typer.Option("--no-decode", help="Skip decoding every clip.")] = False,
) -> None:
    """List every problem of a dataset (missing or corrupt clips, empty captions, duplicates, order).

    Scenes cut but not captioned yet (caption null) are warnings: the data is valid, not ready to train.
    """
    from msvg_bench.benchmarks.dataset import load_stories, validation_report

    problems, warnings = validation_report(data, decode=not no_decode)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    if problems:
        _report_problems(problems, str(data))
    stories = load_stories(data)
    note = f", {len(warnings)} warning(s)" if warnings else ""
    typer.echo(f"{data}: {len(stories)} stories, {sum(len(s.scenes) for s in stories)} scenes, no problems{note}")


@data_app.command("cache")
def cache(
    data: Annotated[Path | None, typer.Option("--data", help="Data folder or manifest (default: data.root).")] = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Cache folder (default: <data>/cache).")] = None,
    parts: Annotated[list[str] | None, typer.Option("--part", help="latents | text | frames (repeatable; default all).")] = None,
    overrides: OverridesArgument = None,
    config_file: ConfigFileOption = None,
    preset: PresetOption = None,
    show_config: PrintConfigOption = False,
) -> None:
    """Precompute VAE latents, text embeddings and history-encoder frame embeddings (resumable, per rank; corrupt entries are recomputed)."""
    cfg = load_config(config_file, overrides, {
        "preset": preset, "data.root": str(data) if data is not None else None,
        "data.cache_dir": str(cache_dir) if cache_dir is not None else None, "data.cache.parts": parts,
    })
    if show_config:
        print_config(cfg)
        return
    from msvg_bench.benchmarks.config import resolve_cache_dir
    from msvg_bench.benchmarks.dataset import load_stories
    from msvg_bench.core.distributed import is_rank_zero
    from msvg_bench.core.embedding_cache import EmbeddingCache
    from msvg_bench.core.errors import ConfigError
    from msvg_bench.models.precompute import (
        ModelEncoders,
        cache_dataset,
        cache_identity,
        rank_model_config,
    )

    if cfg.data.root is None:
        raise ConfigError("data cache needs --data DIR (or data.root in the config)")
    root = Path(cfg.data.root)
    stories = load_stories(root)
    model_cfg = rank_model_config(cfg.model)
    encoders = ModelEncoders(model_cfg)
    with_frames = "frames" in cfg.data.cache.parts
    identity = cache_identity(model_cfg, with_frames=with_frames)  # builds no encoder
    store = EmbeddingCache(resolve_cache_dir(cfg.data, root if root.is_dir() else root.parent))
    report = cache_dataset(stories, store, identity, encoders, cfg.data.cache.parts, text_batch=cfg.data.cache.text_batch,
                           full_check=True)
    if is_rank_zero() or report.forwards:
        encoder = f", frame encoder {identity.encoder_id}" if identity.encoder_id else ""
        typer.echo(f"cache {store.root}: model {identity.model_id}{encoder}")
        typer.echo(report.summary())


@data_app.command("reconstruct")
def reconstruct(
    suite: Annotated[str, typer.Option("--suite", help="Synthetic suite whose ground truth is drawn and reconstructed.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for ground_truth/ and reconstruction/.")],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N stories.")] = None,
    overrides: OverridesArgument = None,
    config_file: ConfigFileOption = None,
    preset: PresetOption = None,
) -> None:
    """The instrument's ceiling: a suite's ground-truth videos and their VAE reconstructions, ready for `eval --videos`."""
    cfg = load_config(config_file, overrides, {"preset": preset})
    from msvg_bench.benchmarks.suite import load_suite
    from msvg_bench.reconstruction import write_ceiling_folders

    folders = write_ceiling_folders(cfg, load_suite(suite), out, limit)
    for label, folder in folders.items():
        typer.echo(f"{label}: {folder}  (score: msvg-bench eval --suite {suite} --videos {folder} --method {label.replace('_', '-')})")


def register(app: typer.Typer) -> None:
    """Add the `data` command group to the CLI."""
    app.add_typer(data_app, name="data", rich_help_panel="Data")
