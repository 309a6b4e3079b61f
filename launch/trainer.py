"""The training recipe one worker runs: named stages around a DeepSpeed engine.

`train(job)`: `init_process_group` (gloo on CPU, nccl on GPU, bounded by `train.init_timeout_s`)
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
from msvg_bench.core.seeding import seed_everything
from msvg_bench.core.tracking import start_run
from msvg_bench.launch.checkpoint import check_compatible, read_meta, resolve_resume
from msvg_bench.launch.cpu_adam import offload_optimizer_choice
from msvg_bench.launch.ds_config import build_ds_config
from msvg_bench.launch.recipes import get_recipe
from msvg_bench.launch.rng_state import load_rng_state, set_rng_state
from msvg_bench.launch.timeline import Timeline
from msvg_bench.launch.train_state import EngineParts, Modules, Place, ResumePoint, StartPoint, TrainData, TrainingRun
from msvg_bench.launch.train_loop import export_trained, open_run, run_steps, run_tags, write_summary
from msvg_bench.launch.trainable import apply_trainable_patterns, parameter_groups

if TYPE_CHECKING:
    from msvg_bench.launch.config import TrainConfig, TrainJob, TrainSetup
    from msvg_bench.launch.recipes import Recipe


@dataclass
class TrainResult:
    """What one invocation of the loop did (rank 0's view)."""

    run_id: str | None
    start_step: int
    final_step: int
    losses: dict[int, float] = field(default_factory=dict)
    evaluations: dict[int, dict[str, float]] = field(default_factory=dict)
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




def train(job: TrainJob) -> TrainResult:
    """Run (or continue) training as one rank of the job described by the environment (torchrun).

    The stages, in order, each taking the typed results of the earlier ones (`launch.train_state`):
    join the process group, find the checkpoint to resume, build the modules, the data and the
    DeepSpeed engine, restore the checkpoint, then (inside the MLflow run) the steps, the export and
    the summary.
    """
    setup = job.setup
    timeline = Timeline.of_this_worker()
    timeline.mark("worker_imports")
    place = init_process_group(setup.train, timeline)
    timeline.mark("process_group")
    recipe = get_recipe(setup.train.stage)
    resume = find_resume_checkpoint(job, place)
    modules = build_modules(setup, recipe, place)
    timeline.mark("modules")
    data = build_data(setup, recipe, place, resume)
    timeline.mark("data")
    engine = build_engine(setup, recipe, place, modules, data.total_steps)
    timeline.mark("engine")
    start = restore_checkpoint(engine, place, resume)
    run = TrainingRun(job, place, recipe, resume, modules, data, engine, start, timeline)
    result = TrainResult(run_id=None, start_step=start.step, final_step=start.step)
    with start_run("train", job.record, run_name=job.record.run_name, tags=run_tags(run), run_id=start.run_id) as tracker:
        result.run_id = tracker.run_id
        open_run(run, tracker)
        run_steps(run, tracker, result)
        timeline.mark("steps")
        if setup.train.export:
            export_trained(run, tracker, result)
            timeline.mark("export")
        if place.rank == 0:
            write_summary(run, result)
    shutdown(engine.engine)
    return result


def init_process_group(train: TrainConfig, timeline: Timeline | None = None) -> Place:
    """This rank's place in the job and its device; the process group (gloo on CPU, nccl on GPU).

    `timeline` (default: a new one) gets the end of the torch + DeepSpeed import ("torch_deepspeed")."""
    import deepspeed
    import torch

    timeline = timeline if timeline is not None else Timeline()
    timeline.mark("torch_deepspeed")

    rank, world, local_rank = get_rank(), get_world_size(), get_local_rank()
    device_kind = resolve_device(train.device, "train.device").type
    if device_kind == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
        skip_cpu_inference_comm_op()
    deepspeed.init_distributed(
        dist_backend="nccl" if device_kind == "cuda" else "gloo",
        timeout=timedelta(seconds=train.init_timeout_s),
        verbose=False,
    )
    return Place(rank=rank, world=world, device=device, device_kind=device_kind, out_dir=Path(train.output_dir))


def skip_cpu_inference_comm_op() -> None:
    """Keep DeepSpeed from building its CPU shared-memory communication op when the process group starts.

    DeepSpeed JIT-compiles `deepspeed_shm_comm` in every CPU `init_distributed` (about a minute on 2 cores,
    again whenever its extensions folder holds another build), but only its inference all-reduce uses it;
    training's collectives go through torch.distributed (gloo). Marked incompatible, it is not built."""
    import deepspeed.ops
    from deepspeed.accelerator import get_accelerator

    builder = get_accelerator().create_op_builder("ShareMemCommBuilder")
    if builder is not None:
        deepspeed.ops.__compatible_ops__[builder.NAME] = False


def find_resume_checkpoint(job: TrainJob, place: Place) -> ResumePoint | None:
    """The checkpoint folder `train.resume` names (the launcher verified it), checked against this config."""
    if not job.setup.train.resume:
        return None
    folder = resolve_resume(job.setup.train.resume, place.out_dir, verify=False)
    meta = read_meta(folder)
    check_compatible(meta, job.record.params, place.world, folder)
    return ResumePoint(folder, meta)


def build_modules(setup: TrainSetup, recipe: Recipe, place: Place) -> Modules:
    """The recipe's trainable module (seeded; trainable set by name patterns; recompute) and its frozen parts."""
    seed_everything(setup.seed)
    model = recipe.build(setup)
    counts = apply_trainable_patterns(model, setup.train.trainable_patterns or recipe.default_trainable_patterns(setup))
    if setup.train.gradient_checkpointing:
        recipe.enable_gradient_checkpointing(model)
    bf16 = training_bf16(setup.model.dtype)
    modules = Modules(model, counts, recipe.build_frozen(setup, place.device), bf16)
    for module in modules.frozen.values():
        module.eval().requires_grad_(False)
        if modules.dtype is not None:
            module.to(dtype=modules.dtype)  # DeepSpeed casts only its own module; frozen ones must match the bf16 batches
    return modules


def build_data(setup: TrainSetup, recipe: Recipe, place: Place, resume: ResumePoint | None) -> TrainData:
    """The cached samples and the rank-sharding sampler; the step count."""
    from msvg_bench.launch.sampling import GlobalBatchSampler

    tc = setup.train
    dataset = recipe.dataset(setup)
    sampler = GlobalBatchSampler(len(dataset), tc.micro_batch, tc.grad_accum, place.world, place.rank, setup.seed)
    if resume is not None and resume.meta.get("num_samples") not in (None, len(dataset)):
        raise ConfigError(
            f"{resume.folder}: checkpoint was trained on {resume.meta['num_samples']} samples, the data now has {len(dataset)}; "
            "the data order cannot be continued exactly"
        )
    return TrainData(dataset, sampler, tc.epochs * sampler.steps_per_epoch if tc.epochs else tc.steps)


def build_engine(setup: TrainSetup, recipe: Recipe, place: Place, modules: Modules, total_steps: int) -> EngineParts:
    """`deepspeed.initialize` with the generated config, parameter groups and a warmup + schedule `LambdaLR`."""
    import deepspeed
    import torch
    from msvg_bench.launch.sampling import lr_factor

    tc = setup.train
    choice = offload_optimizer_choice(place.device_kind, tc.offload)
    ds_config = build_ds_config(tc, place.world, device=place.device_kind, cpu_adam=choice.available, bf16=modules.bf16)
    if place.rank == 0:
        print(f"optimizer: {choice.optimizer} ({choice.detail})", flush=True)
        atomic_write_json(place.out_dir / "deepspeed_config.json", ds_config)

    def make_scheduler(optimizer: Any) -> Any:
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda s: lr_factor(s, tc.warmup_steps, total_steps, tc.schedule, tc.min_lr_ratio),
        )

    multipliers = tc.lr_multipliers if tc.lr_multipliers is not None else recipe.default_lr_multipliers(setup)
    groups = parameter_groups(modules.model, tc.lr, multipliers)
    engine, _, _, _ = deepspeed.initialize(model=modules.model, model_parameters=groups, config=ds_config, lr_scheduler=make_scheduler)
    engine.train()
    return EngineParts(engine, ds_config, choice.optimizer)


def restore_checkpoint(engine: EngineParts, place: Place, resume: ResumePoint | None) -> StartPoint:
    """Model, optimizer, scheduler and this rank's RNG from the resume checkpoint; the step to go on from."""
    if resume is None:
        return StartPoint()
    resume_dir = resume.folder
    rng_file = resume_dir / f"rng_rank{place.rank}.pt"
    state = load_rng_state(rng_file) if rng_file.is_file() else None
    try:
        # DeepSpeed unpickles its own checkpoint files (torch.load weights_only=False): only resume
        # from checkpoint folders you trust (README, "Checkpoints").
        load_path, _ = engine.engine.load_checkpoint(
            str(resume_dir.parent), tag=resume_dir.name, load_optimizer_states=True, load_lr_scheduler_states=True
        )
    except (RuntimeError, OSError, EOFError, KeyError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise ConfigError(f"{resume_dir}: DeepSpeed could not load this checkpoint ({type(exc).__name__}: {detail})") from None
    if load_path is None:
        raise ConfigError(f"{resume_dir}: DeepSpeed could not load this checkpoint")
    if state is not None:
        set_rng_state(state)
    return StartPoint(int(resume.meta["step"]), resume.meta.get("mlflow_run_id"))


def shutdown(engine: Any) -> None:
    """Release the engine and leave the process group together, so no rank exits with work in flight."""
    import torch.distributed as dist

    engine.destroy()
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
