"""The training recipe one worker runs: named stages around a DeepSpeed engine.

`train(config)`: `init_process_group` (gloo on CPU, nccl on GPU, bounded by `train.init_timeout_s`)
-> `find_resume_checkpoint` -> `build_modules` (the recipe's module, trainable set by name patterns,
activation recompute, frozen parts kept out of DeepSpeed) -> `build_data` (cached samples, the
rank-sharding sampler) -> `build_engine` (`deepspeed.initialize`, parameter groups, warmup +
schedule `LambdaLR`) -> `restore_checkpoint` (model, optimizer, scheduler, per-rank RNG; the data
position is the step) -> inside the MLflow run, `launch.train_loop`: the steps, the export and
`train_summary.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msvg_bench.core.atomic import atomic_write_json
from msvg_bench.core.devices import resolve_device
from msvg_bench.core.distributed import get_local_rank, get_rank, get_world_size
from msvg_bench.core.errors import ConfigError
from msvg_bench.core.schema import config_to_dict, flatten
from msvg_bench.core.seeding import seed_everything
from msvg_bench.core.tracking import start_run
from msvg_bench.launch.checkpoint import check_compatible, read_meta, resolve_resume
from msvg_bench.launch.cpu_adam import offload_optimizer_choice
from msvg_bench.launch.ds_config import build_ds_config
from msvg_bench.launch.recipes import get_recipe
from msvg_bench.launch.rng_state import load_rng_state, set_rng_state
from msvg_bench.launch.timeline import Timeline
from msvg_bench.launch.train_loop import export_trained, open_run, run_steps, run_tags, write_summary
from msvg_bench.launch.trainable import apply_trainable_patterns, parameter_groups

if TYPE_CHECKING:
    from msvg_bench.config import Config


@dataclass
class TrainResult:
    """What one invocation of the loop did (rank 0's view)."""

    run_id: str | None
    start_step: int
    final_step: int
    losses: dict[int, float] = field(default_factory=dict)
    export_dir: str | None = None


def training_bf16(model_dtype: str) -> bool:
    """Whether training runs in DeepSpeed's bf16 mode: `model.dtype` bf16 -> yes, fp32 -> no (fp16 is refused).

    In bf16 mode DeepSpeed casts the trainable module to bf16 (fp32 master weights and optimizer
    states stay in the optimizer); batches and the frozen modules kept outside the engine are cast to
    bf16 alongside it.
    """
    if model_dtype == "fp16":
        raise ConfigError("training supports model.dtype fp32 or bf16, not fp16 (its loss scaling is not wired up)")
    return model_dtype == "bf16"




@dataclass
class Job:
    """Everything the stages of one rank's training share."""

    config: Config
    rank: int
    world: int
    device: Any
    device_kind: str
    out_dir: Path
    recipe: Any = None
    resume_dir: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    model: Any = None
    counts: Any = None
    frozen: dict[str, Any] = field(default_factory=dict)
    bf16: bool = False
    dataset: Any = None
    sampler: Any = None
    total_steps: int = 0
    ds_config: dict[str, Any] = field(default_factory=dict)
    optimizer: str = ""
    engine: Any = None
    start_step: int = 0
    run_id: str | None = None
    timeline: Timeline = field(default_factory=Timeline)

    @property
    def dtype(self) -> Any:
        """The dtype batches and frozen modules are cast to (None: leave as built)."""
        import torch

        return torch.bfloat16 if self.bf16 else None


def train(config: Config) -> TrainResult:
    """Run (or continue) training as one rank of the job described by the environment (torchrun).

    The stages, in order: join the process group, find the checkpoint to resume, build the modules,
    the data and the DeepSpeed engine, restore the checkpoint, then (inside the MLflow run) the
    steps, the export and the summary.
    """
    timeline = Timeline.of_this_worker()
    timeline.mark("worker_imports")
    job = init_process_group(config, timeline)
    timeline.mark("process_group")
    job.recipe = get_recipe(config.train.stage)
    find_resume_checkpoint(job)
    build_modules(job)
    timeline.mark("modules")
    build_data(job)
    timeline.mark("data")
    build_engine(job)
    timeline.mark("engine")
    restore_checkpoint(job)
    result = TrainResult(run_id=None, start_step=job.start_step, final_step=job.start_step)
    with start_run("train", config.record(), run_name=config.tracking.run_name, tags=run_tags(job), run_id=job.run_id) as tracker:
        result.run_id = tracker.run_id
        open_run(job, tracker)
        run_steps(job, tracker, result)
        timeline.mark("steps")
        if config.train.export:
            export_trained(job, tracker, result)
            timeline.mark("export")
        if job.rank == 0:
            write_summary(job, result)
    shutdown(job.engine)
    return result


def init_process_group(config: Config, timeline: Timeline | None = None) -> Job:
    """This rank's place in the job and its device; the process group (gloo on CPU, nccl on GPU).

    `timeline` (default: a new one) gets the end of the torch + DeepSpeed import ("torch_deepspeed")."""
    import deepspeed
    import torch

    timeline = timeline if timeline is not None else Timeline()
    timeline.mark("torch_deepspeed")

    tc = config.train
    rank, world, local_rank = get_rank(), get_world_size(), get_local_rank()
    device_kind = resolve_device(tc.device, "train.device").type
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
    return Job(
        config=config, rank=rank, world=world, device=device, device_kind=device_kind, out_dir=Path(tc.output_dir), timeline=timeline
    )


def find_resume_checkpoint(job: Job) -> None:
    """The checkpoint folder `train.resume` names (the launcher verified it), checked against this config."""
    if job.config.train.resume:
        job.resume_dir = resolve_resume(job.config.train.resume, job.out_dir, verify=False)
        job.meta = read_meta(job.resume_dir)
        check_compatible(job.meta, flatten(config_to_dict(job.config)), job.world, job.resume_dir)


def build_modules(job: Job) -> None:
    """The recipe's trainable module (seeded; trainable set by name patterns; recompute) and its frozen parts."""
    config, recipe = job.config, job.recipe
    seed_everything(config.seed)
    job.model = recipe.build(config)
    job.counts = apply_trainable_patterns(job.model, config.train.trainable_patterns or recipe.default_trainable_patterns(config))
    if config.train.gradient_checkpointing:
        recipe.enable_gradient_checkpointing(job.model)
    job.bf16 = training_bf16(config.model.dtype)
    job.frozen = recipe.build_frozen(config, job.device)
    for module in job.frozen.values():
        module.eval().requires_grad_(False)
        if job.dtype is not None:
            module.to(dtype=job.dtype)  # DeepSpeed casts only its own module; frozen ones must match the bf16 batches


def build_data(job: Job) -> None:
    """The cached samples and the rank-sharding sampler; the step count."""
    from msvg_bench.launch.sampling import GlobalBatchSampler

    tc = job.config.train
    job.dataset = job.recipe.dataset(job.config)
    job.sampler = GlobalBatchSampler(len(job.dataset), tc.micro_batch, tc.grad_accum, job.world, job.rank, job.config.seed)
    if job.resume_dir is not None and job.meta.get("num_samples") not in (None, len(job.dataset)):
        raise ConfigError(
            f"{job.resume_dir}: checkpoint was trained on {job.meta['num_samples']} samples, the data now has {len(job.dataset)}; "
            "the data order cannot be continued exactly"
        )
    job.total_steps = tc.epochs * job.sampler.steps_per_epoch if tc.epochs else tc.steps


def build_engine(job: Job) -> None:
    """`deepspeed.initialize` with the generated config, parameter groups and a warmup + schedule `LambdaLR`."""
    import deepspeed
    import torch
    from msvg_bench.launch.sampling import lr_factor

    tc, total_steps = job.config.train, job.total_steps
    choice = offload_optimizer_choice(job.device_kind, tc.offload)
    job.optimizer = choice.optimizer
    job.ds_config = build_ds_config(tc, job.world, device=job.device_kind, cpu_adam=choice.available, bf16=job.bf16)
    if job.rank == 0:
        print(f"optimizer: {choice.optimizer} ({choice.detail})", flush=True)
        atomic_write_json(job.out_dir / "deepspeed_config.json", job.ds_config)

    def make_scheduler(optimizer: Any) -> Any:
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda s: lr_factor(s, tc.warmup_steps, total_steps, tc.schedule, tc.min_lr_ratio),
        )

    multipliers = tc.lr_multipliers if tc.lr_multipliers is not None else job.recipe.default_lr_multipliers(job.config)
    groups = parameter_groups(job.model, tc.lr, multipliers)
    job.engine, _, _, _ = deepspeed.initialize(model=job.model, model_parameters=groups, config=job.ds_config, lr_scheduler=make_scheduler)
    job.engine.train()


def restore_checkpoint(job: Job) -> None:
    """Model, optimizer, scheduler and this rank's RNG from the resume checkpoint; the step to go on from."""
    if job.resume_dir is None:
        return
    resume_dir = job.resume_dir
    rng_file = resume_dir / f"rng_rank{job.rank}.pt"
    state = load_rng_state(rng_file) if rng_file.is_file() else None
    try:
        # DeepSpeed unpickles its own checkpoint files (torch.load weights_only=False): only resume
        # from checkpoint folders you trust (README, "Checkpoints").
        load_path, _ = job.engine.load_checkpoint(
            str(resume_dir.parent), tag=resume_dir.name, load_optimizer_states=True, load_lr_scheduler_states=True
        )
    except (RuntimeError, OSError, EOFError, KeyError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise ConfigError(f"{resume_dir}: DeepSpeed could not load this checkpoint ({type(exc).__name__}: {detail})") from None
    if load_path is None:
        raise ConfigError(f"{resume_dir}: DeepSpeed could not load this checkpoint")
    if state is not None:
        set_rng_state(state)
    job.start_step = int(job.meta["step"])
    job.run_id = job.meta.get("mlflow_run_id")


def shutdown(engine: Any) -> None:
    """Release the engine and leave the process group together, so no rank exits with work in flight."""
    import torch.distributed as dist

    engine.destroy()
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
