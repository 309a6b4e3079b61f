"""`msvg-bench demo`: the whole loop (data, ZeRO-2 training, generation + evaluation, comparison) on CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from msvg_bench.cli_options import TrackingUriOption


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Parent folder of the demo's outputs.")] = Path("demo_out"),
    stories: Annotated[int, typer.Option("--stories", min=1, help="Synthetic training stories of the fine-tune.")] = 4,
    train_steps: Annotated[int, typer.Option("--train-steps", min=1, help="Optimizer steps of the fine-tune.")] = 4,
    nproc: Annotated[int, typer.Option("--nproc", min=1, help="Training processes (DeepSpeed ranks).")] = 2,
    eval_stories: Annotated[int | None, typer.Option("--eval-stories", min=1, help="Held-out stories per method (world: 8, tiny: 3).")] = None,
    inference_steps: Annotated[int | None, typer.Option("--inference-steps", min=1, help="Sampler steps per scene (world: 20, tiny: 4).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Global seed (demo: 42; --full: the recipe's, 1).")] = None,
    world_weights: Annotated[Path | None, typer.Option("--world-weights", help="World weights folder to start from (default: the shipped one).")] = None,
    tiny: Annotated[bool, typer.Option("--tiny", help="Train the random-init tiny model instead (plumbing only: noise clips).")] = False,
    full: Annotated[bool, typer.Option("--full", help="The story-world recipe from nothing (about 2 h on 2 idle CPU cores): world VAE, CLIP and detector, both stages, held-out suites.")] = False,
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Run the whole loop on this machine in a few minutes and print the comparison.

    Starts from the shipped story-world weights (world-trained VAE and CLIP, trained stages 1 and 2), fine-tunes them on freshly synthesized world stories with DeepSpeed ZeRO-2 on 2 processes, generates and scores held-out 8-scene world_long stories with msvg and both baselines (plain, streaming), logs everything to MLflow, then prints the comparison table, the consistency over scene distance, the HTML report's path and how to open the UI. --full makes those weights from nothing.
    """
    import sys

    from msvg_bench.comparison.render import distance_tables, render_rich_table
    from msvg_bench.demo import DemoSettings, run_demo
    from rich.console import Console

    if tiny and world_weights is not None:
        raise typer.BadParameter("give --tiny or --world-weights, not both")
    console = Console() if sys.stdout.isatty() else Console(width=120)
    if full:
        from msvg_bench.world_recipe import WorldRecipeSettings, run_world_recipe

        world_out = out if out != Path("demo_out") else Path("world_out")
        recipe = WorldRecipeSettings(out_dir=world_out, tracking_uri=tracking_uri)
        if seed is not None:
            recipe = recipe.model_copy(update={"seed": seed})
        result = run_world_recipe(recipe, echo=typer.echo)
        typer.echo("world encoders on held-out videos: " + ", ".join(f"{k} {v:.3g}" for k, v in result.quality.items()))
        for suite, comparison in result.comparisons.items():
            typer.echo(f"\n{suite}:")
            console.print(render_rich_table(comparison, console.width))
            for table in distance_tables(comparison):
                console.print(table)
        typer.echo(f"summary: {result.out_dir / 'recipe_summary.json'}")
        return

    settings = DemoSettings(
        out_dir=out, tracking_uri=tracking_uri, stories=stories, train_steps=train_steps,
        nproc=nproc, eval_stories=eval_stories, inference_steps=inference_steps,
    )  # fmt: skip
    if seed is not None:
        settings.seed = seed
    if tiny or world_weights is not None:
        settings.world_weights = None if tiny else world_weights
    result = run_demo(settings, echo=typer.echo)
    console.print(render_rich_table(result.comparison, console.width))
    for table in distance_tables(result.comparison):
        console.print(table)
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
