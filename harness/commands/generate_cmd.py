"""`msvg-bench generate` (stories with msvg / plain / streaming) and `msvg-bench models info`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

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
from msvg_bench.core.errors import DataError, MsvgError
from msvg_bench.models.methods import method_names


def read_prompt_stories(values: list[str]) -> list[tuple[str, list[str]]]:
    """Stories (id, prompts) from `--prompts` values.

    Each value is a file or a prompt. Files: `.txt` (one prompt per line, one story), `.json`
    (a list of prompts, a list of lists, or {story_id: [prompts]}), a data folder or
    `manifest.jsonl` (the stories' captions, ids kept). Plain strings together form one story.
    """
    stories: list[tuple[str, list[str]]] = []
    loose: list[str] = []
    for value in values:
        path = Path(value)
        if path.exists():
            stories.extend(_stories_from_file(path, len(stories)))
        else:
            loose.append(value)
    if loose:
        stories.append((f"story_{len(stories):03d}", loose))
    if not stories:
        raise DataError("no prompts given (use --prompts FILE or --prompts 'Scene 1 prompt.' --prompts 'Scene 2 ...')")
    from msvg_bench.core.paths import id_problem

    for story_id, prompts in stories:
        bad_id = id_problem(story_id)
        if bad_id is not None:
            raise DataError(f"story id {bad_id} (ids name the output folders under --out)")
        if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
            raise DataError(f"story {story_id!r}: prompts must be non-empty strings")
    return stories


def _stories_from_file(path: Path, start: int) -> list[tuple[str, list[str]]]:
    if path.is_dir() or path.name.endswith(".jsonl"):
        from msvg_bench.benchmarks.dataset import load_stories

        return [(story.id, story.prompts) for story in load_stories(path)]
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        from msvg_bench.core.jsonpos import dotted, duplicate_keys

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        repeated = duplicate_keys(text)  # json.loads keeps only the last of them: a story would be dropped
        if repeated:
            where, line = repeated[0]
            inside = f" in {dotted(where[:-1])}" if len(where) > 1 else ""
            raise DataError(f"{path}:{line}: duplicate key {where[-1]!r}{inside} (only the last would be kept; give each story id once)")
        if isinstance(data, dict):
            return [(str(k), list(v)) for k, v in data.items()]
        if isinstance(data, list) and data and all(isinstance(x, list) for x in data):
            return [(f"story_{start + i:03d}", list(x)) for i, x in enumerate(data)]
        if isinstance(data, list):
            return [(path.stem, list(data))]
        raise DataError(f"{path}: expected a list of prompts, a list of lists or {{story_id: [prompts]}}")
    prompts = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(path.stem, prompts)]


def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (manifest.jsonl + videos/).")],
    prompts: Annotated[
        list[str] | None,
        typer.Option("--prompts", "-p", help="Prompt file (.txt/.json/manifest/data folder) or a scene prompt; repeatable."),
    ] = None,
    method: Annotated[str | None, typer.Option("--method", "-m", help=f"A generation method: {' | '.join(method_names())}.")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="Trained msvg weights folder (from train).")] = None,
    model_dir: Annotated[Path | None, typer.Option("--model-dir", help="CogVideoX diffusers folder.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Denoising steps.")] = None,
    guidance: Annotated[float | None, typer.Option("--guidance", help="w1: text guidance scale.")] = None,
    history_guidance: Annotated[float | None, typer.Option("--history-guidance", help="w2: history guidance scale.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto | cpu | cuda | cuda:N.")] = None,
    overrides: OverridesArgument = None,
    config_file: ConfigFileOption = None,
    preset: PresetOption = None,
    seed: SeedOption = None,
    show_config: PrintConfigOption = False,
) -> None:
    """Generate multi-scene stories (one clip per scene + the joined story, H.264 + GIF) in the data format."""
    cfg = load_config(
        config_file,
        overrides,
        {
            "preset": preset,
            "seed": seed,
            "generate.method": method,
            "model.weights": str(model) if model else None,
            "model.model_dir": str(model_dir) if model_dir else None,
            "generate.num_inference_steps": steps,
            "generate.guidance_scale": guidance,
            "generate.method_settings.msvg.history_guidance_scale": history_guidance,
            "model.device": device,
        },
    )
    if show_config:
        print_config(cfg)
        return
    stories = read_prompt_stories(prompts or [])
    from msvg_bench.benchmarks.dataset import write_manifest
    from msvg_bench.core.progress import progress
    from msvg_bench.models.pipelines import StoryRequest, generate_in_batches

    written = []
    failures: list[str] = []
    requests = [StoryRequest(story_id, tuple(story_prompts), cfg.seed) for story_id, story_prompts in stories]
    with progress() as bar:  # generate.story_batch stories at a time; a broken story fails alone
        for request, made in generate_in_batches(cfg.generation(), requests, out, cfg.generate.method, progress=bar):
            if isinstance(made, MsvgError):
                failures.append(f"{request.story_id}: {made}")
            else:
                written.append(made)
    if written:
        write_manifest(out, written)
    typer.echo(f"{len(written)} stor{'y' if len(written) == 1 else 'ies'} written to {out} (method {cfg.generate.method}, seed {cfg.seed})")
    if failures:
        for line in failures:
            typer.echo(f"failed: {line}", err=True)
        raise typer.Exit(1)


models_app = typer.Typer(help="Model architecture information.", no_args_is_help=True, rich_markup_mode="rich")


@models_app.command("info")
def models_info(
    overrides: OverridesArgument = None,
    config_file: ConfigFileOption = None,
    preset: PresetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Parameter counts (base CogVideoX transformer + new modules), instantiated on the meta device."""
    cfg = load_config(config_file, overrides, {"preset": preset})
    from msvg_bench.models.info import parameter_report

    report: dict[str, Any] = parameter_report(cfg.model)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"model parameters ({cfg.preset}, meta device, nothing allocated)")
    table.add_column("part")
    table.add_column("parameters", justify="right")
    labels = {
        "base_transformer": "CogVideoX transformer (base)",
        "history_weights": "history tokens: projection + adaLN + gates",
        "decoupler": "decoupler",
        "extractor_trainable": "feature extractor (trainable)",
        "extractor_teacher_frozen": "extractor teacher (frozen)",
        "new_modules_total": "new modules, total",
        "total": "total",
    }
    for key, label in labels.items():
        value = report[key]
        table.add_row(label, f"{value:,}" if value >= 0 else "from checkpoint")
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add `generate` and `models` to the CLI."""
    app.command("generate", rich_help_panel="Generation")(generate)
    app.add_typer(models_app, name="models", rich_help_panel="Generation")
