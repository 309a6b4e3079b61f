"""`msvg-bench plan`: GPU memory per ZeRO stage x offload and the largest micro-batch that fits."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from msvg_bench.cli_options import (
    ConfigFileOption,
    OverridesArgument,
    PresetOption,
    load_config,
)


def plan(
    overrides: OverridesArgument = None,
    gpus: Annotated[int, typer.Option("--gpus", help="GPUs per node.")] = 8,
    nodes: Annotated[int, typer.Option("--nodes", help="Number of nodes.")] = 1,
    gpu_mem_gb: Annotated[float, typer.Option("--gpu-mem-gb", help="Memory of one GPU (GiB).")] = 80.0,
    frames: Annotated[int | None, typer.Option("--frames", help="Frames per clip (default: the preset's).")] = None,
    height: Annotated[int | None, typer.Option("--height", help="Clip height (default: the preset's).")] = None,
    width: Annotated[int | None, typer.Option("--width", help="Clip width (default: the preset's).")] = None,
    history_tokens: Annotated[
        int, typer.Option("--history-tokens", help="History tokens the multi-scene model adds (0: plain CogVideoX).")
    ] = 226,
    reserve_gb: Annotated[
        float, typer.Option("--reserve-gb", help="Per-GPU memory held back (CUDA context, fragmentation, buckets).")
    ] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
    config_file: ConfigFileOption = None,
    preset: PresetOption = None,
) -> None:
    """Model-state memory (DeepSpeed's estimators) + activations with gradient checkpointing per ZeRO stage x offload.

    The model is the preset's family at full size (`model.family`; its folder's config with `model.model_dir`).
    """
    from msvg_bench.core.errors import ConfigError

    config = load_config(config_file, overrides, {"preset": preset})
    if gpus < 1 or nodes < 1 or gpu_mem_gb <= 0:
        raise ConfigError("plan: --gpus and --nodes must be >= 1 and --gpu-mem-gb > 0")
    from dataclasses import asdict

    from msvg_bench.launch.plan import family_shape, rows_as_dicts
    from msvg_bench.launch.plan import plan as make_plan
    from msvg_bench.models.families import get_family
    from msvg_bench.models.info import full_transformer_config

    family = get_family(config.model.family)
    shape = family_shape(config.model, config.train.trainable_patterns, history_tokens=history_tokens)
    f = frames or config.model.num_frames
    h = height or config.model.height
    w = width or config.model.width
    problems = family.geometry_problems(f, h, w)
    if problems:
        raise ConfigError(f"plan: {'; '.join(problems)}")
    grid = family.token_grid(f, h, w, full_transformer_config(config.model))
    rows = make_plan(shape, gpus=gpus, nodes=nodes, gpu_mem_gb=gpu_mem_gb, frames=f, height=h, width=w, reserve_gb=reserve_gb)
    if as_json:
        typer.echo(json.dumps({"family": family.name, "model": shape.__dict__, "frames": f, "height": h, "width": w,
                               "tokens": {**asdict(grid), "video": grid.tokens}, "gpus": gpus,
                               "nodes": nodes, "gpu_mem_gb": gpu_mem_gb, "reserve_gb": reserve_gb,
                               "rows": rows_as_dicts(rows)}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=(
            f"{shape.name}: {shape.trainable_params:,} trainable / {shape.frozen_params:,} frozen params, "
            f"{f}x{h}x{w}, {nodes}x{gpus} GPUs of {gpu_mem_gb:g} GiB"
        )
    )
    for column in ("ZeRO", "offload", "model states GiB/GPU", "CPU GiB/node", "act. GiB/sample", "free GiB", "max micro-batch"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            str(r.zero), r.offload, f"{r.model_states_gb:.2f}", f"{r.cpu_gb_per_node:.1f}",
            f"{r.activation_gb_per_sample:.2f}", f"{r.free_for_activations_gb:.2f}", str(r.max_micro_batch),
        )
    console = Console()
    console.print(table)
    padding = f" (padded to {grid.padded_frames} for temporal patches of {shape.patch_t})" if grid.pad_frames else ""
    console.print(
        f"{family.title} tokens per clip: {grid.latent_frames} latent frames{padding} -> "
        f"{grid.frames}x{grid.height}x{grid.width} = {grid.tokens:,} video + {shape.text_tokens} text "
        f"+ {shape.history_tokens} history"
    )
    console.print(
        "activations/sample = L*S*h*2 (checkpointed block inputs, bf16) + 34*S*h (one recomputed block) "
        "+ fp32 output/target/loss; model states from DeepSpeed's estimators; "
        f"{reserve_gb:g} GiB reserved per GPU."
    )


def register(app: typer.Typer) -> None:
    """Add the command to the CLI."""
    app.command("plan", rich_help_panel="Training")(plan)
