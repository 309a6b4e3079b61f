"""`msvg-bench train`: DeepSpeed ZeRO-0/2/3 (+ CPU offload) training, launched through torchrun."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from msvg_bench.config import Config

LAUNCH_PANEL = "Launch"
DEFAULT_DATA = Path("data")
OPTIM_PANEL = "Optimisation"


def train(
    overrides: OverridesArgument = None,
    stage: Annotated[
        str | None, typer.Option("--stage", help="extractor (stage 1) | joint (stage 2) | mlp (synthetic check).")
    ] = None,
    zero: Annotated[int | None, typer.Option("--zero", help="ZeRO stage: 0, 2 or 3.", rich_help_panel=LAUNCH_PANEL)] = None,
    offload: Annotated[
        str | None, typer.Option("--offload", help="none | optimizer | full (full: ZeRO-3 only).", rich_help_panel=LAUNCH_PANEL)
    ] = None,
    nproc_per_node: Annotated[
        int | None, typer.Option("--nproc-per-node", help="Worker processes (GPUs) per node.", rich_help_panel=LAUNCH_PANEL)
    ] = None,
    oversubscribe: Annotated[
        bool,
        typer.Option("--oversubscribe", help="Allow more processes than CPUs (cpu) or visible GPUs (cuda).", rich_help_panel=LAUNCH_PANEL),
    ] = False,
    nnodes: Annotated[int | None, typer.Option("--nnodes", help="Number of nodes.", rich_help_panel=LAUNCH_PANEL)] = None,
    node_rank: Annotated[
        int | None, typer.Option("--node-rank", help="This node's rank (default: from the hostfile).", rich_help_panel=LAUNCH_PANEL)
    ] = None,
    hostfile: Annotated[
        Path | None, typer.Option("--hostfile", help="Hostfile: '<host> slots=<n>' per line.", rich_help_panel=LAUNCH_PANEL)
    ] = None,
    master_addr: Annotated[
        str | None, typer.Option("--master-addr", help="Rendezvous host (multi-node).", rich_help_panel=LAUNCH_PANEL)
    ] = None,
    master_port: Annotated[
        int | None, typer.Option("--master-port", help="Rendezvous port (multi-node).", rich_help_panel=LAUNCH_PANEL)
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="auto | cpu | cuda.", rich_help_panel=LAUNCH_PANEL)
    ] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Data folder (with its embedding cache).")] = None,
    output_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder: checkpoints/, export/, logs/.")
    ] = None,
    output_dir_alias: Annotated[
        Path | None, typer.Option("--output-dir", hidden=True, help="Old spelling of --out.")
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Optimizer steps.", rich_help_panel=OPTIM_PANEL)] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Passes over the data (instead of --steps).", rich_help_panel=OPTIM_PANEL)
    ] = None,
    micro_batch: Annotated[
        int | None, typer.Option("--micro-batch", help="Samples per rank per forward.", rich_help_panel=OPTIM_PANEL)
    ] = None,
    grad_accum: Annotated[
        int | None, typer.Option("--grad-accum", help="Micro-batches per optimizer step.", rich_help_panel=OPTIM_PANEL)
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.", rich_help_panel=OPTIM_PANEL)] = None,
    checkpoint_every: Annotated[
        int | None, typer.Option("--checkpoint-every", help="Save a checkpoint every N steps.", rich_help_panel=OPTIM_PANEL)
    ] = None,
    resume: Annotated[
        str | None, typer.Option("--resume", help="latest | path of a checkpoint to continue from.")
    ] = None,
    trust_checkpoint: Annotated[
        bool,
        typer.Option(
            "--trust-checkpoint",
            help="Resume from a checkpoint without a matching file manifest (its files are unpickled: they can run code).",
        ),
    ] = False,
    config_file: ConfigFileOption = None,
    preset: PresetOption = None,
    seed: SeedOption = None,
    print_config_only: PrintConfigOption = False,
    tracking_uri: TrackingUriOption = None,
    run_name: RunNameOption = None,
) -> None:
    """Train the stage-1 extractor or the stage-2 joint model with DeepSpeed on N processes / nodes."""
    output_dir = output_dir or output_dir_alias
    flags = {
        "preset": preset,
        "seed": seed,
        "train.stage": stage,
        "train.zero": zero,
        "train.offload": offload,
        "train.nproc_per_node": nproc_per_node,
        "train.oversubscribe": oversubscribe or None,
        "train.nnodes": nnodes,
        "train.node_rank": node_rank,
        "train.hostfile": str(hostfile) if hostfile is not None else None,
        "train.master_addr": master_addr,
        "train.master_port": master_port,
        "train.device": device,
        "data.root": str(data) if data is not None else None,
        "train.output_dir": str(output_dir) if output_dir is not None else None,
        "train.steps": steps,
        "train.epochs": epochs,
        "train.micro_batch": micro_batch,
        "train.grad_accum": grad_accum,
        "train.lr": lr,
        "train.checkpoint_every": checkpoint_every,
        "train.resume": resume,
        "train.trust_checkpoint": trust_checkpoint or None,
        "tracking.uri": tracking_uri,
        "tracking.run_name": run_name,
    }
    config = load_config(config_file, overrides, flags)
    config = with_default_data(config)
    if print_config_only:
        print_config(config)
        return
    from msvg_bench.core.cleanup import no_empty_dirs_on_failure
    from msvg_bench.launch.launcher import launch

    with no_empty_dirs_on_failure(Path(config.train.output_dir)):
        out_dir = launch(config.training())
    summary_path = out_dir / "train_summary.json"
    if summary_path.is_file():
        import json

        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        last = summary["losses"].get(str(summary["final_step"]))
        loss_text = f", loss {last:.6g}" if last is not None else ""
        typer.echo(f"trained steps {summary['start_step']}->{summary['final_step']}{loss_text}; MLflow run {summary['run_id']}")
        if summary.get("export_dir"):
            typer.echo(f"exported model: {summary['export_dir']} (generate --model / model.weights)")
    typer.echo(f"run folder: {out_dir}")


def holds_dataset(folder: Path) -> bool:
    """Whether `folder` looks like a story data set (a `manifest.jsonl`, or `prompts/*.json`)."""
    return (folder / "manifest.jsonl").is_file() or any((folder / "prompts").glob("*.json"))


def with_default_data(config: Config) -> Config:
    """`config` with `data.root` = ./data when unset and ./data holds a data set (else unchanged)."""
    if config.data.root is not None or not holds_dataset(DEFAULT_DATA):
        return config
    typer.echo(f"using the data folder {DEFAULT_DATA}/ (pass --data DIR for another)", err=True)
    return config.model_copy(update={"data": config.data.model_copy(update={"root": DEFAULT_DATA})})


def register(app: typer.Typer) -> None:
    """Add the command to the CLI."""
    app.command("train", rich_help_panel="Training")(train)
