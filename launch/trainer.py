"""The distributed training loop one worker runs (DeepSpeed engine around the recipe's trainable module).

Per rank: process group (gloo on CPU, nccl on GPU, bounded by `train.init_timeout_s`) -> recipe
module, trainable set by name patterns, gradient checkpointing -> frozen parts (kept out of
DeepSpeed) -> cached samples and the rank-sharding sampler -> `deepspeed.initialize` with the
generated config and a warmup + schedule `LambdaLR` -> optional resume (model, optimizer,
scheduler, per-rank RNG; the data position is the step) -> steps. Before each micro-batch the global
RNG is reseeded from (seed, step, sample indices) and the recipe draws its noise from per-sample
generators, so the loss curve does not depend on the number of ranks. Rank 0 logs to MLflow and
writes `deepspeed_config.json`, `mlflow_run_id`, `train_summary.json` and the export (+ the probe
outputs of the trained module, `export/probe.safetensors`).

Fault injection for resume tests: `MSVG_TRAIN_FAULT=kill:<rank>:<step>` makes that rank SIGKILL
itself just before that (1-based) step.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from msvg_bench.atomic import atomic_write_json
from msvg_bench.config import Config, config_hash, config_to_dict, flatten
from msvg_bench.errors import ConfigError

FAULT_ENV = "MSVG_TRAIN_FAULT"
PROBE_FILE = "probe.safetensors"


@dataclass
class TrainResult:
    """What one invocation of the loop did (rank 0's view)."""

    run_id: str | None
    start_step: int
    final_step: int
    losses: dict[int, float] = field(default_factory=dict)
    export_dir: str | None = None


def ensure_ds_accelerator() -> None:
    """Select DeepSpeed's CPU accelerator before DeepSpeed is imported when no GPU is visible."""
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")


def training_bf16(model_dtype: str) -> bool:
    """Whether training runs in DeepSpeed's bf16 mode: `model.dtype` bf16 -> yes, fp32 -> no (fp16 is refused).

    In bf16 mode DeepSpeed casts the trainable module to bf16 (fp32 master weights and optimizer
    states stay in the optimizer); batches and the frozen modules kept outside the engine are cast to
    bf16 alongside it.
    """
    if model_dtype == "fp16":
        raise ConfigError("training supports model.dtype fp32 or bf16, not fp16 (its loss scaling is not wired up)")
    return model_dtype == "bf16"


def train_run_name(stage: str, zero: int, offload: str, preset: str, run_id: str) -> str:
    """What a training run is, as its MLflow name: `train <stage> zero<N>[+offload-<what>] <preset> <id[:8]>`."""
    zero_text = f"zero{zero}" + (f"+offload-{offload}" if offload != "none" else "")
    return f"train {stage} {zero_text} {preset} {run_id[:8]}"


def resolve_device(requested: str) -> str:
    """`cpu` or `cuda` for `train.device` (auto: cuda when a GPU is visible)."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but no CUDA device is visible")
    return requested


def peak_memory_gb(device: str) -> float:
    """Peak accelerator memory (CUDA) or peak resident set size of this process (CPU), in GiB."""
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def cpu_adam_builds() -> bool:
    """Whether DeepSpeedCPUAdam can be built here (used for offloaded optimizer states on GPU)."""
    try:
        from deepspeed.ops.op_builder import CPUAdamBuilder

        return bool(CPUAdamBuilder().is_compatible(verbose=False))
    except Exception:  # noqa: BLE001 - any build probe failure means "use torch's AdamW"
        return False


def _maybe_inject_fault(rank: int, step_number: int) -> None:
    """Fault injection for resume tests: `MSVG_TRAIN_FAULT=kill:<rank>:<step>` SIGKILLs that rank before that step."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    kind, fault_rank, fault_step = spec.split(":")
    if kind == "kill" and int(fault_rank) == rank and int(fault_step) == step_number:
        os.kill(os.getpid(), signal.SIGKILL)


def _rng_state() -> dict[str, Any]:
    """This rank's RNG states as plain tensors and numbers (loadable with `torch.load(weights_only=True)`)."""
    import random

    import numpy as np
    import torch

    version, mt_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "format": 2,
        "python": {"version": version, "state": torch.tensor(mt_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import random

    import numpy as np
    import torch

    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_rng_state(path: Path) -> dict[str, Any]:
    """Read a rank's RNG file without unpickling arbitrary objects (`weights_only=True`); one-line error."""
    import pickle

    import torch

    try:
        state = torch.load(path, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise ConfigError(f"{path}: unreadable RNG state (written by an older version or damaged): {detail}") from None
    if not isinstance(state, dict) or state.get("format") != 2:
        raise ConfigError(f"{path}: not an RNG state file of this version")
    return state


def train(config: Config) -> TrainResult:
    """Run (or continue) training as one rank of the job described by the environment (torchrun)."""
    import deepspeed
    import torch
    import torch.distributed as dist

    from msvg_bench.distributed import get_local_rank, get_rank, get_world_size
    from msvg_bench.launch.checkpoint import check_compatible, checkpoints_dir, read_meta, resolve_resume
    from msvg_bench.launch.ds_config import build_ds_config
    from msvg_bench.launch.export import consolidated_state_dict
    from msvg_bench.launch.recipes import get_recipe
    from msvg_bench.launch.sampling import GlobalBatchSampler, lr_factor, micro_seed, sample_generators
    from msvg_bench.launch.trainable import apply_trainable_patterns, parameter_groups
    from msvg_bench.tracking import metric_safe
    from msvg_bench.progress import progress
    from msvg_bench.seeding import seed_everything
    from msvg_bench.tracking import start_run

    tc = config.train
    rank, world, local_rank = get_rank(), get_world_size(), get_local_rank()
    device_kind = resolve_device(tc.device)
    if device_kind == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    deepspeed.init_distributed(
        dist_backend="nccl" if device_kind == "cuda" else "gloo",
        timeout=timedelta(seconds=tc.init_timeout_s),
        verbose=False,
    )
    out_dir = Path(tc.output_dir)
    flat = flatten(config_to_dict(config))

    resume_dir: Path | None = None
    meta: dict[str, Any] = {}
    if tc.resume:
        resume_dir = resolve_resume(tc.resume, out_dir, verify=False)  # the launcher checked it
        meta = read_meta(resume_dir)
        check_compatible(meta, flat, world, resume_dir)

    recipe = get_recipe(tc.stage)
    seed_everything(config.seed)
    model = recipe.build(config)
    patterns = tc.trainable_patterns or recipe.default_trainable_patterns(config)
    counts = apply_trainable_patterns(model, patterns)
    if tc.gradient_checkpointing:
        recipe.enable_gradient_checkpointing(model)
    bf16 = training_bf16(config.model.dtype)
    dtype = torch.bfloat16 if bf16 else None
    frozen = recipe.build_frozen(config, device)
    for module in frozen.values():
        module.eval().requires_grad_(False)
        if dtype is not None:
            module.to(dtype=dtype)  # DeepSpeed casts only its own module; frozen ones must match the bf16 batches
    dataset = recipe.dataset(config)
    sampler = GlobalBatchSampler(len(dataset), tc.micro_batch, tc.grad_accum, world, rank, config.seed)
    if resume_dir is not None and meta.get("num_samples") not in (None, len(dataset)):
        raise ConfigError(
            f"{resume_dir}: checkpoint was trained on {meta['num_samples']} samples, the data now has {len(dataset)}; "
            "the data order cannot be continued exactly"
        )
    total_steps = tc.epochs * sampler.steps_per_epoch if tc.epochs else tc.steps

    ds_config = build_ds_config(
        tc, world, device=device_kind, cpu_adam=device_kind == "cuda" and cpu_adam_builds(), bf16=bf16
    )
    if rank == 0:
        atomic_write_json(out_dir / "deepspeed_config.json", ds_config)

    def make_scheduler(optimizer: Any) -> Any:
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda s: lr_factor(s, tc.warmup_steps, total_steps, tc.schedule, tc.min_lr_ratio),
        )

    multipliers = tc.lr_multipliers if tc.lr_multipliers is not None else recipe.default_lr_multipliers(config)
    groups = parameter_groups(model, tc.lr, multipliers)
    engine, _, _, _ = deepspeed.initialize(
        model=model,
        model_parameters=groups,
        config=ds_config,
        lr_scheduler=make_scheduler,
    )
    engine.train()

    start_step = 0
    run_id: str | None = None
    if resume_dir is not None:
        rng_file = resume_dir / f"rng_rank{rank}.pt"
        rng_state = load_rng_state(rng_file) if rng_file.is_file() else None
        try:
            # DeepSpeed unpickles its own checkpoint files (torch.load weights_only=False): only resume
            # from checkpoint folders you trust (README, "Checkpoints").
            load_path, _ = engine.load_checkpoint(
                str(resume_dir.parent), tag=resume_dir.name, load_optimizer_states=True, load_lr_scheduler_states=True
            )
        except (RuntimeError, OSError, EOFError, KeyError) as exc:
            detail = " ".join(str(exc).split())[:200]
            raise ConfigError(f"{resume_dir}: DeepSpeed could not load this checkpoint ({type(exc).__name__}: {detail})") from None
        if load_path is None:
            raise ConfigError(f"{resume_dir}: DeepSpeed could not load this checkpoint")
        if rng_state is not None:
            _set_rng_state(rng_state)
        start_step = int(meta["step"])
        run_id = meta.get("mlflow_run_id")

    tags = {
        "msvg.zero_stage": tc.zero,
        "msvg.offload": tc.offload,
        "msvg.world_size": world,
        "msvg.stage": tc.stage,
        "msvg.device": device_kind,
        "msvg.precision": "bf16" if bf16 else "fp32",
    }
    result = TrainResult(run_id=None, start_step=start_step, final_step=start_step)
    with start_run("train", config, run_name=config.tracking.run_name, tags=tags, run_id=run_id) as tracker:
        result.run_id = tracker.run_id
        if rank == 0:
            (out_dir / "mlflow_run_id").write_text(f"{tracker.run_id}\n")
            if run_id is None and not config.tracking.run_name:
                tracker.rename(train_run_name(tc.stage, tc.zero, tc.offload, config.preset, tracker.run_id))
        if resume_dir is None:
            tracker.log_params(
                {
                    "counts.trainable_params": counts.trainable,
                    "counts.frozen_params": counts.frozen,
                    "counts.trainable_tensors": counts.trainable_tensors,
                    "counts.frozen_tensors": counts.frozen_tensors,
                    "counts.world_size": world,
                    "counts.global_batch": sampler.global_batch,
                    "counts.total_steps": total_steps,
                }
            )
            tracker.log_dict(ds_config, "config/deepspeed.json")
        else:
            tracker.set_tags({"msvg.resumed_from": str(resume_dir), "msvg.resumed_at_step": start_step})
        # Steps a killed job logged after its last checkpoint are replayed exactly on resume; they are
        # not logged twice, so the run keeps one continuous history.
        logged_through = tracker.last_step("train/loss") if resume_dir is not None else -1
        if rank == 0:
            print(
                f"training {tc.stage}: {counts.trainable:,} trainable / {counts.frozen:,} frozen parameters, "
                f"ZeRO-{tc.zero} offload={tc.offload} {'bf16' if bf16 else 'fp32'} on {world} {device_kind} rank(s), steps {start_step}->{total_steps}",
                flush=True,
            )

        with progress() as bar:
            task = bar.add_task(f"train {tc.stage}", total=total_steps)
            bar.update(task, completed=start_step)
            for step in range(start_step, total_steps):
                _maybe_inject_fault(rank, step + 1)
                t0 = time.perf_counter()
                group_lrs = {g.get("name", str(i)): float(g["lr"]) for i, g in enumerate(engine.optimizer.param_groups)}
                lr_now = group_lrs.get("base", next(iter(group_lrs.values())))
                loss_sum = torch.zeros((), dtype=torch.float64, device=device)
                grad_norm: float | None = None
                for micro in range(tc.grad_accum):
                    indices = sampler.micro_indices(step, micro)
                    batch = recipe.collate([dataset[i] for i in indices])
                    batch["index"] = torch.tensor(indices, dtype=torch.long)
                    batch = recipe.to_device(batch, device, dtype)
                    torch.manual_seed(micro_seed(config.seed, step, indices))
                    generators = sample_generators(config.seed, step, indices)
                    loss = recipe.loss(engine, frozen, batch, generators, config)
                    engine.backward(loss)
                    if tc.zero == 0 and micro == tc.grad_accum - 1:
                        grad_norm = _grad_norm(engine.module)
                    engine.step()
                    loss_sum += loss.detach().double()
                if dist.is_initialized() and world > 1:
                    dist.all_reduce(loss_sum)
                mean_loss = float(loss_sum) / (tc.grad_accum * world)
                if grad_norm is None:
                    norm = engine.get_global_grad_norm()
                    grad_norm = float(norm) if norm is not None else float("nan")
                if device_kind == "cuda":
                    torch.cuda.synchronize()
                step_s = time.perf_counter() - t0
                number = step + 1
                result.losses[number] = mean_loss
                result.final_step = number
                if number > logged_through and (number % tc.log_every == 0 or number == total_steps):
                    tracker.log_metrics(
                        {
                            "train/loss": mean_loss,
                            "train/lr": lr_now,
                            "train/grad_norm": grad_norm,
                            "train/epoch": sampler.epoch_of(step),
                            "perf/samples_per_s": sampler.global_batch / step_s,
                            "perf/step_s": step_s,
                            "perf/peak_mem_gb": peak_memory_gb(device_kind),
                            **{f"train/lr/{metric_safe(name)}": lr for name, lr in group_lrs.items() if name != "base"},
                            **recipe.monitor(engine.module, config),
                        },
                        step=number,
                    )
                bar.advance(task)
                if tc.checkpoint_every and (number % tc.checkpoint_every == 0 or number == total_steps):
                    save_checkpoint(engine, checkpoints_dir(out_dir), number, tracker.run_id, config, len(dataset))

        if tc.export:
            engine.eval()
            probe = recipe.probe(engine.module, dataset, config)
            engine.train()
            state = consolidated_state_dict(engine, tc.zero)
            if rank == 0 and state is not None:
                export_dir = recipe.export(state, out_dir / "export", config)
                if probe:
                    from safetensors.torch import save_file

                    save_file({k: v.contiguous() for k, v in probe.items()}, str(out_dir / "export" / PROBE_FILE))
                atomic_write_json(
                    out_dir / "export" / "export.json",
                    {
                        "stage": tc.stage,
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
        if rank == 0:
            atomic_write_json(
                out_dir / "train_summary.json",
                {
                    "run_id": result.run_id,
                    "start_step": result.start_step,
                    "final_step": result.final_step,
                    "losses": {str(k): v for k, v in result.losses.items()},
                    "export_dir": result.export_dir,
                    "world_size": world,
                    "zero": tc.zero,
                    "offload": tc.offload,
                    "trainable_params": counts.trainable,
                    "frozen_params": counts.frozen,
                },
            )
    shutdown(engine)
    return result


def shutdown(engine: Any) -> None:
    """Release the engine and leave the process group together, so no rank exits with work in flight."""
    import torch.distributed as dist

    engine.destroy()
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _grad_norm(module: Any) -> float:
    import torch

    total = torch.zeros((), dtype=torch.float64)
    for param in module.parameters():
        if param.grad is not None:
            total += param.grad.detach().double().pow(2).sum().cpu()
    return float(total.sqrt())


def save_checkpoint(
    engine: Any, ckpt_dir: Path, step: int, run_id: str | None, config: Config, num_samples: int
) -> Path:
    """All ranks: DeepSpeed state + per-rank RNG; then rank 0 marks the folder complete and prunes old ones."""
    import torch
    import torch.distributed as dist

    from msvg_bench.distributed import get_rank, get_world_size
    from msvg_bench.launch.checkpoint import META_NAME, prune_checkpoints, tag_for_step

    rank = get_rank()
    tag = tag_for_step(step)
    engine.save_checkpoint(str(ckpt_dir), tag=tag, client_state={"msvg_step": step}, save_latest=True)
    torch.save(_rng_state(), ckpt_dir / tag / f"rng_rank{rank}.pt")
    if dist.is_initialized():
        dist.barrier()
    if rank == 0:
        atomic_write_json(
            ckpt_dir / tag / META_NAME,
            {
                "step": step,
                "world_size": get_world_size(),
                "num_samples": num_samples,
                "mlflow_run_id": run_id,
                "config_hash": config_hash(config),
                "config": json.loads(json.dumps(flatten(config_to_dict(config)), default=str)),
            },
        )
        prune_checkpoints(ckpt_dir, config.train.keep_checkpoints)
    if dist.is_initialized():
        dist.barrier()
    return ckpt_dir / tag
