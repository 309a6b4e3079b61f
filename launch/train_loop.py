"""The stages of training that run inside the MLflow run: the steps, the export and the summary.

Every optimizer step: the `train.step_callbacks`, its micro-batches (the global RNG reseeded from
seed, step and sample indices, the recipe's noise from per-sample generators, so the loss curve does
not depend on the number of ranks), its metrics (rank 0 logs them), the recipe's held-out evaluation
every `train.eval_every` steps, and a checkpoint every `train.checkpoint_every` steps.
"""

from __future__ import annotations

import resource
import time
from typing import TYPE_CHECKING, Any

from msvg_bench.core.atomic import atomic_write_json
from msvg_bench.core.errors import ConfigError
from msvg_bench.core.progress import progress
from msvg_bench.core.tracking import metric_safe
from msvg_bench.launch.checkpoint import checkpoints_dir, save_checkpoint
from msvg_bench.launch.export import consolidated_state_dict

if TYPE_CHECKING:
    from msvg_bench.launch.train_state import TrainingRun
    from msvg_bench.launch.trainer import TrainResult

PROBE_FILE = "probe.safetensors"


def load_step_callbacks(specs: list[str]) -> list[Any]:
    """The functions `train.step_callbacks` names (`package.module:function`), imported once."""
    import importlib

    callbacks = []
    for spec in specs:
        module, sep, name = spec.partition(":")
        if not sep or not module or not name:
            raise ConfigError(f"train.step_callbacks: {spec!r} is not 'package.module:function'")
        try:
            callbacks.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"train.step_callbacks: cannot load {spec!r} ({type(exc).__name__}: {exc})") from None
    return callbacks


def train_run_name(stage: str, zero: int, offload: str, preset: str, run_id: str) -> str:
    """What a training run is, as its MLflow name: `train <stage> zero<N>[+offload-<what>] <preset> <id[:8]>`."""
    zero_text = f"zero{zero}" + (f"+offload-{offload}" if offload != "none" else "")
    return f"train {stage} {zero_text} {preset} {run_id[:8]}"


def run_tags(run: TrainingRun) -> dict[str, Any]:
    """The MLflow tags that say how the run was distributed."""
    tc = run.setup.train
    return {
        "msvg.zero_stage": tc.zero,
        "msvg.offload": tc.offload,
        "msvg.world_size": run.place.world,
        "msvg.stage": tc.stage,
        "msvg.device": run.place.device_kind,
        "msvg.precision": "bf16" if run.modules.bf16 else "fp32",
    }


def open_run(run: TrainingRun, tracker: Any) -> None:
    """Name a new run and log its counts and DeepSpeed config, or tag a resumed one; announce the job."""
    record, tc, place, counts = run.job.record, run.setup.train, run.place, run.modules.counts
    if place.rank == 0:
        (place.out_dir / "mlflow_run_id").write_text(f"{tracker.run_id}\n")
        if run.start.run_id is None and not record.run_name:
            tracker.rename(train_run_name(tc.stage, tc.zero, tc.offload, record.preset, tracker.run_id))
    if run.resume is None:
        tracker.log_params(
            {
                "counts.trainable_params": counts.trainable,
                "counts.frozen_params": counts.frozen,
                "counts.trainable_tensors": counts.trainable_tensors,
                "counts.frozen_tensors": counts.frozen_tensors,
                "counts.world_size": place.world,
                "counts.global_batch": run.data.sampler.global_batch,
                "counts.total_steps": run.data.total_steps,
            }
        )
        tracker.log_dict(run.engine.ds_config, "config/deepspeed.json")
    else:
        tracker.set_tags({"msvg.resumed_from": str(run.resume.folder), "msvg.resumed_at_step": run.start.step})
    if place.rank == 0:
        print(
            f"training {tc.stage}: {counts.trainable:,} trainable / {counts.frozen:,} frozen parameters, "
            f"ZeRO-{tc.zero} offload={tc.offload} {'bf16' if run.modules.bf16 else 'fp32'} on {place.world} {place.device_kind} rank(s), "
            f"steps {run.start.step}->{run.data.total_steps}",
            flush=True,
        )


def run_steps(run: TrainingRun, tracker: Any, result: TrainResult) -> None:
    """Every optimizer step from the start step on: callbacks, the step, its metrics, checkpoints."""
    tc, total_steps, engine = run.setup.train, run.data.total_steps, run.engine.engine
    # Steps a killed job logged after its last checkpoint are replayed exactly on resume; they are
    # not logged twice, so the run keeps one continuous history.
    logged_through = tracker.last_step("train/loss") if run.resume is not None else -1
    callbacks = load_step_callbacks(tc.step_callbacks)
    with progress() as bar:
        task = bar.add_task(f"train {tc.stage}", total=total_steps)
        bar.update(task, completed=run.start.step)
        for step in range(run.start.step, total_steps):
            for callback in callbacks:
                callback(rank=run.place.rank, step=step + 1)
            metrics = train_step(run, step)
            number = step + 1
            if step == run.start.step:
                run.timeline.mark("first_step")
            result.losses[number] = metrics["train/loss"]
            result.final_step = number
            if number > logged_through and (number % tc.log_every == 0 or number == total_steps):
                tracker.log_metrics({**metrics, **run.recipe.monitor(engine.module, run.setup)}, step=number)
            if tc.eval_every and number > logged_through and (number % tc.eval_every == 0 or number == total_steps):
                evaluation = evaluate(run)
                if evaluation:
                    result.evaluations[number] = evaluation
                    tracker.log_metrics(evaluation, step=number)
                    shown = " ".join(f"{name.removeprefix('eval/')} {value:.4g}" for name, value in evaluation.items())
                    bar.update(task, description=f"train {tc.stage} (step {number}: {shown})")
            bar.advance(task)
            if tc.checkpoint_every and (number % tc.checkpoint_every == 0 or number == total_steps):
                save_checkpoint(
                    engine, checkpoints_dir(run.place.out_dir), number, tracker.run_id, run.job.record, len(run.data.dataset),
                    tc.keep_checkpoints,
                )


def evaluate(run: TrainingRun) -> dict[str, float]:
    """The recipe's held-out metrics of the model as it is now (eval mode, no gradients, on every rank)."""
    import torch

    engine = run.engine.engine
    engine.eval()
    with torch.no_grad():
        metrics = run.recipe.evaluate(engine.module, run.setup)
    engine.train()
    return metrics


def train_step(run: TrainingRun, step: int) -> dict[str, float]:
    """One optimizer step (its micro-batches, reseeded from seed, step and sample indices); its metrics.

    The loss is averaged over micro-batches and ranks, so the curve does not depend on the rank count.
    """
    import torch
    import torch.distributed as dist
    from msvg_bench.launch.sampling import micro_seed, sample_generators

    setup, tc, engine, sampler, place = run.setup, run.setup.train, run.engine.engine, run.data.sampler, run.place
    t0 = time.perf_counter()
    group_lrs = {g.get("name", str(i)): float(g["lr"]) for i, g in enumerate(engine.optimizer.param_groups)}
    loss_sum = torch.zeros((), dtype=torch.float64, device=place.device)
    grad_norm: float | None = None
    for micro in range(tc.grad_accum):
        indices = sampler.micro_indices(step, micro)
        batch = run.recipe.collate([run.data.dataset[i] for i in indices])
        batch["index"] = torch.tensor(indices, dtype=torch.long)
        batch = run.recipe.to_device(batch, place.device, run.modules.dtype)
        torch.manual_seed(micro_seed(setup.seed, step, indices))
        generators = sample_generators(setup.seed, step, indices)
        loss = run.recipe.loss(engine, run.modules.frozen, batch, generators, setup)
        engine.backward(loss)
        if tc.zero == 0 and micro == tc.grad_accum - 1:
            grad_norm = _grad_norm(engine.module)
        engine.step()
        loss_sum += loss.detach().double()
    if dist.is_initialized() and place.world > 1:
        dist.all_reduce(loss_sum)
    if grad_norm is None:
        norm = engine.get_global_grad_norm()
        grad_norm = float(norm) if norm is not None else float("nan")
    if place.device_kind == "cuda":
        torch.cuda.synchronize()
    step_s = time.perf_counter() - t0
    return {
        "train/loss": float(loss_sum) / (tc.grad_accum * place.world),
        "train/lr": group_lrs.get("base", next(iter(group_lrs.values()))),
        "train/grad_norm": grad_norm,
        "train/epoch": sampler.epoch_of(step),
        "perf/samples_per_s": sampler.global_batch / step_s,
        "perf/step_s": step_s,
        "perf/peak_mem_gb": peak_memory_gb(place.device_kind),
        **{f"train/lr/{metric_safe(name)}": lr for name, lr in group_lrs.items() if name != "base"},
    }


def export_trained(run: TrainingRun, tracker: Any, result: TrainResult) -> None:
    """Consolidate the trained weights (collectively under ZeRO-3) and write the export on rank 0."""
    import torch.distributed as dist

    setup, engine, out_dir = run.setup, run.engine.engine, run.place.out_dir
    engine.eval()
    probe = run.recipe.probe(engine.module, run.data.dataset, setup) if setup.train.export_probe else {}
    engine.train()
    state = consolidated_state_dict(engine, setup.train.zero)
    if run.place.rank == 0 and state is not None:
        export_dir = run.recipe.export(state, out_dir / "export", setup)
        if probe:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in probe.items()}, str(out_dir / "export" / PROBE_FILE))
        atomic_write_json(
            out_dir / "export" / "export.json",
            {
                "stage": setup.train.stage,
                "step": result.final_step,
                "config_hash": run.job.record.config_hash,
                "mlflow_run_id": tracker.run_id,
                "path": str(export_dir),
            },
        )
        result.export_dir = str(export_dir)
        tracker.set_tags({"msvg.export_dir": str(export_dir)})
    if dist.is_initialized():
        dist.barrier()


def write_summary(run: TrainingRun, result: TrainResult) -> None:
    """`train_summary.json`: the run, its steps and losses, the export and how it was distributed."""
    tc = run.setup.train
    atomic_write_json(
        run.place.out_dir / "train_summary.json",
        {
            "run_id": result.run_id,
            "start_step": result.start_step,
            "final_step": result.final_step,
            "losses": {str(k): v for k, v in result.losses.items()},
            "evaluations": {str(k): v for k, v in result.evaluations.items()},
            "export_dir": result.export_dir,
            "world_size": run.place.world,
            "zero": tc.zero,
            "offload": tc.offload,
            "optimizer": run.engine.optimizer,
            "trainable_params": run.modules.counts.trainable,
            "frozen_params": run.modules.counts.frozen,
            # seconds since the launcher started: launcher_start, torchrun_start, worker_start, then the
            # end of each stage (worker_imports, torch_deepspeed, process_group, modules, data, engine, first_step, steps, export)
            "timeline_s": run.timeline.offsets(),
        },
    )


def peak_memory_gb(device: str) -> float:
    """Peak accelerator memory (CUDA) or peak resident set size of this process (CPU), in GiB."""
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _grad_norm(module: Any) -> float:
    import torch

    total = torch.zeros((), dtype=torch.float64)
    for param in module.parameters():
        if param.grad is not None:
            total += param.grad.detach().double().pow(2).sum().cpu()
    return float(total.sqrt())
