"""The stages of training that run inside the MLflow run: the steps, the export and the summary.

Every optimizer step: the `train.step_callbacks`, its micro-batches (the global RNG reseeded from
seed, step and sample indices, the recipe's noise from per-sample generators, so the loss curve does
not depend on the number of ranks), its metrics (rank 0 logs them), and a checkpoint every
`train.checkpoint_every` steps.
"""

from __future__ import annotations

import resource
import time
from typing import TYPE_CHECKING, Any

from msvg_bench.core.atomic import atomic_write_json
from msvg_bench.core.errors import ConfigError
from msvg_bench.core.progress import progress
from msvg_bench.core.schema import config_hash
from msvg_bench.core.tracking import metric_safe
from msvg_bench.launch.checkpoint import checkpoints_dir, save_checkpoint
from msvg_bench.launch.export import consolidated_state_dict

if TYPE_CHECKING:
    from msvg_bench.launch.trainer import Job, TrainResult

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


def run_tags(job: Job) -> dict[str, Any]:
    """The MLflow tags that say how the run was distributed."""
    tc = job.config.train
    return {
        "msvg.zero_stage": tc.zero,
        "msvg.offload": tc.offload,
        "msvg.world_size": job.world,
        "msvg.stage": tc.stage,
        "msvg.device": job.device_kind,
        "msvg.precision": "bf16" if job.bf16 else "fp32",
    }


def open_run(job: Job, tracker: Any) -> None:
    """Name a new run and log its counts and DeepSpeed config, or tag a resumed one; announce the job."""
    config, tc = job.config, job.config.train
    if job.rank == 0:
        (job.out_dir / "mlflow_run_id").write_text(f"{tracker.run_id}\n")
        if job.run_id is None and not config.tracking.run_name:
            tracker.rename(train_run_name(tc.stage, tc.zero, tc.offload, config.preset, tracker.run_id))
    if job.resume_dir is None:
        counts = job.counts
        tracker.log_params(
            {
                "counts.trainable_params": counts.trainable,
                "counts.frozen_params": counts.frozen,
                "counts.trainable_tensors": counts.trainable_tensors,
                "counts.frozen_tensors": counts.frozen_tensors,
                "counts.world_size": job.world,
                "counts.global_batch": job.sampler.global_batch,
                "counts.total_steps": job.total_steps,
            }
        )
        tracker.log_dict(job.ds_config, "config/deepspeed.json")
    else:
        tracker.set_tags({"msvg.resumed_from": str(job.resume_dir), "msvg.resumed_at_step": job.start_step})
    if job.rank == 0:
        print(
            f"training {tc.stage}: {job.counts.trainable:,} trainable / {job.counts.frozen:,} frozen parameters, "
            f"ZeRO-{tc.zero} offload={tc.offload} {'bf16' if job.bf16 else 'fp32'} on {job.world} {job.device_kind} rank(s), "
            f"steps {job.start_step}->{job.total_steps}",
            flush=True,
        )


def run_steps(job: Job, tracker: Any, result: TrainResult) -> None:
    """Every optimizer step from the start step on: callbacks, the step, its metrics, checkpoints."""
    tc = job.config.train
    # Steps a killed job logged after its last checkpoint are replayed exactly on resume; they are
    # not logged twice, so the run keeps one continuous history.
    logged_through = tracker.last_step("train/loss") if job.resume_dir is not None else -1
    callbacks = load_step_callbacks(tc.step_callbacks)
    with progress() as bar:
        task = bar.add_task(f"train {tc.stage}", total=job.total_steps)
        bar.update(task, completed=job.start_step)
        for step in range(job.start_step, job.total_steps):
            for callback in callbacks:
                callback(rank=job.rank, step=step + 1)
            metrics = train_step(job, step)
            number = step + 1
            if step == job.start_step:
                job.timeline.mark("first_step")
            result.losses[number] = metrics["train/loss"]
            result.final_step = number
            if number > logged_through and (number % tc.log_every == 0 or number == job.total_steps):
                tracker.log_metrics({**metrics, **job.recipe.monitor(job.engine.module, job.config)}, step=number)
            bar.advance(task)
            if tc.checkpoint_every and (number % tc.checkpoint_every == 0 or number == job.total_steps):
                save_checkpoint(job.engine, checkpoints_dir(job.out_dir), number, tracker.run_id, job.config, len(job.dataset))


def train_step(job: Job, step: int) -> dict[str, float]:
    """One optimizer step (its micro-batches, reseeded from seed, step and sample indices); its metrics.

    The loss is averaged over micro-batches and ranks, so the curve does not depend on the rank count.
    """
    import torch
    import torch.distributed as dist
    from msvg_bench.launch.sampling import micro_seed, sample_generators

    config, tc, engine, sampler = job.config, job.config.train, job.engine, job.sampler
    t0 = time.perf_counter()
    group_lrs = {g.get("name", str(i)): float(g["lr"]) for i, g in enumerate(engine.optimizer.param_groups)}
    loss_sum = torch.zeros((), dtype=torch.float64, device=job.device)
    grad_norm: float | None = None
    for micro in range(tc.grad_accum):
        indices = sampler.micro_indices(step, micro)
        batch = job.recipe.collate([job.dataset[i] for i in indices])
        batch["index"] = torch.tensor(indices, dtype=torch.long)
        batch = job.recipe.to_device(batch, job.device, job.dtype)
        torch.manual_seed(micro_seed(config.seed, step, indices))
        generators = sample_generators(config.seed, step, indices)
        loss = job.recipe.loss(engine, job.frozen, batch, generators, config)
        engine.backward(loss)
        if tc.zero == 0 and micro == tc.grad_accum - 1:
            grad_norm = _grad_norm(engine.module)
        engine.step()
        loss_sum += loss.detach().double()
    if dist.is_initialized() and job.world > 1:
        dist.all_reduce(loss_sum)
    if grad_norm is None:
        norm = engine.get_global_grad_norm()
        grad_norm = float(norm) if norm is not None else float("nan")
    if job.device_kind == "cuda":
        torch.cuda.synchronize()
    step_s = time.perf_counter() - t0
    return {
        "train/loss": float(loss_sum) / (tc.grad_accum * job.world),
        "train/lr": group_lrs.get("base", next(iter(group_lrs.values()))),
        "train/grad_norm": grad_norm,
        "train/epoch": sampler.epoch_of(step),
        "perf/samples_per_s": sampler.global_batch / step_s,
        "perf/step_s": step_s,
        "perf/peak_mem_gb": peak_memory_gb(job.device_kind),
        **{f"train/lr/{metric_safe(name)}": lr for name, lr in group_lrs.items() if name != "base"},
    }


def export_trained(job: Job, tracker: Any, result: TrainResult) -> None:
    """Consolidate the trained weights (collectively under ZeRO-3) and write the export on rank 0."""
    import torch.distributed as dist

    config, engine = job.config, job.engine
    engine.eval()
    probe = job.recipe.probe(engine.module, job.dataset, config) if config.train.export_probe else {}
    engine.train()
    state = consolidated_state_dict(engine, config.train.zero)
    if job.rank == 0 and state is not None:
        export_dir = job.recipe.export(state, job.out_dir / "export", config)
        if probe:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in probe.items()}, str(job.out_dir / "export" / PROBE_FILE))
        atomic_write_json(
            job.out_dir / "export" / "export.json",
            {
                "stage": config.train.stage,
                "step": result.final_step,
                "config_hash": config_hash(config),
                "mlflow_run_id": tracker.run_id,
                "path": str(export_dir),
            },
        )
        result.export_dir = str(export_dir)
        tracker.set_tags({"msvg.export_dir": str(export_dir)})
    if dist.is_initialized():
        dist.barrier()


def write_summary(job: Job, result: TrainResult) -> None:
    """`train_summary.json`: the run, its steps and losses, the export and how it was distributed."""
    tc = job.config.train
    atomic_write_json(
        job.out_dir / "train_summary.json",
        {
            "run_id": result.run_id,
            "start_step": result.start_step,
            "final_step": result.final_step,
            "losses": {str(k): v for k, v in result.losses.items()},
            "export_dir": result.export_dir,
            "world_size": job.world,
            "zero": tc.zero,
            "offload": tc.offload,
            "optimizer": job.optimizer,
            "trainable_params": job.counts.trainable,
            "frozen_params": job.counts.frozen,
            # seconds since the launcher started: launcher_start, torchrun_start, worker_start, then the
            # end of each stage (worker_imports, torch_deepspeed, process_group, modules, data, engine, first_step, steps, export)
            "timeline_s": job.timeline.offsets(),
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
