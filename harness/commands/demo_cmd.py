"""`msvg-bench demo`: the whole loop (data, ZeRO-2 training, generation + evaluation, comparison) on CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from msvg_bench.cli_options import TrackingUriOption


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Parent folder of the demo's outputs.")] = Path("demo_out"),
    stories: Annotated[int, typer.Option("--stories", min=1, help="Synthetic training stories.")] = 4,
    train_steps: Annotated[int, typer.Option("--train-steps", min=1, help="Optimizer steps of the tiny model.")] = 4,
    nproc: Annotated[int, typer.Option("--nproc", min=1, help="Training processes (DeepSpeed ranks).")] = 2,
    eval_stories: Annotated[int, typer.Option("--eval-stories", min=1, help="Synthetic-suite stories per method.")] = 3,
    inference_steps: Annotated[int, typer.Option("--inference-steps", min=1, help="Sampler steps per scene.")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Global seed.")] = 42,
    full: Annotated[bool, typer.Option("--full", help="The story-world recipe from nothing (~2 h on 2 CPU cores): world VAE and CLIP, both stages, held-out suites.")] = False,
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Run the whole loop on this machine in a few minutes and print the comparison.

    Synthesizes a small story dataset, trains the tiny model with DeepSpeed ZeRO-2 on 2 processes, generates and scores the synthetic suite with msvg, plain and streaming, logs everything to MLflow, then prints the comparison table, the HTML report's path and how to open the UI.
    """
    import sys

    from msvg_bench.comparison.render import render_rich_table
    from msvg_bench.demo import DemoSettings, run_demo
    from rich.console import Console

    console = Console() if sys.stdout.isatty() else Console(width=120)
    if full:
        from msvg_bench.world_recipe import WorldRecipeSettings, run_world_recipe

        world_out = out if out != Path("demo_out") else Path("world_out")
        result = run_world_recipe(WorldRecipeSettings(out_dir=world_out, tracking_uri=tracking_uri), echo=typer.echo)
        typer.echo("world encoders on held-out videos: " + ", ".join(f"{k} {v:.3g}" for k, v in result.quality.items()))
        for suite, comparison in result.comparisons.items():
            typer.echo(f"\n{suite}:")
            console.print(render_rich_table(comparison))
        typer.echo(f"summary: {result.out_dir / 'recipe_summary.json'}")
        return

    settings = DemoSettings(
        out_dir=out, tracking_uri=tracking_uri, seed=seed, stories=stories, train_steps=train_steps,
        nproc=nproc, eval_stories=eval_stories, inference_steps=inference_steps,
    )  # fmt: skip
    result = run_demo(settings, echo=typer.echo)
    console.print(render_rich_table(result.comparison))
    typer.echo(f"demo finished in {result.total_seconds:.0f}s (stage timings: {result.out_dir / 'timings.json'})")
    typer.echo(f"runs: train {result.train_run_id}; eval " + ", ".join(f"{m} {i}" for m, i in result.eval_run_ids.items()))
    if result.report_path is not None:
        typer.echo(f"HTML report: {result.report_path}")
    ui_flag = f" --tracking-uri {result.tracking_uri}" if tracking_uri else ""
    typer.echo(f"open the MLflow UI: msvg-bench ui{ui_flag}   then, in a browser, http://127.0.0.1:5000")
    if result.compare_run_id and result.compare_experiment_id:
        typer.echo(
            "  the report in the UI: http://127.0.0.1:5000/#/experiments/"
            f"{result.compare_experiment_id}/runs/{result.compare_run_id}/artifacts/report/report.html"
        )


def register(app: typer.Typer) -> None:
    """Add the command to the CLI."""
    app.command("demo", rich_help_panel="Quick start")(demo)
