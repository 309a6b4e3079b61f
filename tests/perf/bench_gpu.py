"""Device check: the 2B-sized history transformer on one GPU — train step time and MFU, peak memory
for ZeRO-2 with and without optimizer offload beside `plan`'s prediction, msvg vs plain denoising step.

    OUT=... bash tests/perf/gpu_device.sh                       # on the device: bundle install, env.txt, this script
    python tests/perf/bench_gpu.py [--layout 2b] [--out DIR]     # CUDA, about 4-6 min on an H100/H200
    python tests/perf/bench_gpu.py --dry-run --out bench_gpu_dry # same code, small shapes, CPU

No weights and no network: the history transformer (CogVideoX layout + history projection and adaLN
expert) and the decoupler are random-init from config, the inputs random tensors of the shapes the
cached training data has (latents 16 x 13 x 60 x 90 for 49 x 480 x 720, 226 text tokens of width
4096, history features). Everything runs in bf16 with gradient checkpointing at every block, as
`msvg-bench train --preset cogvideox-2b` does.

Fail-soft: a skeleton report (every section "pending") is written before the process group starts;
joining the one-rank process group (nccl with DeepSpeed's cuda accelerator on device 0, given up
after `--init-timeout-s`, default 120) and each section run in try/except; a failure becomes an
error row (message + traceback) in the JSON and the Markdown, and the run goes on. Sections, most
valuable first (`SECTIONS`; a new measurement is one function plus one entry there):
1. `train/zero2`: a one-rank DeepSpeed ZeRO-2 engine built from the same `build_ds_config` the
   trainer uses (bf16, torch AdamW), the stage-2 loss (`Stage2Module`) on one sample; warm-up steps,
   then timed steps (synchronised). Peak memory is reset after `deepspeed.initialize`: `peak_*` are
   the training steps' (what `plan` predicts: DeepSpeed's model-state estimator + the activation
   estimate of one sample, `launch.plan`, and its error relative to the measured peak allocated),
   `init_peak_*` the engine build's. FLOPs per step, MFU and HFU (the count: `gpu_flops.py`).
2. `denoise`: one denoising step (batched transformer forward + guidance combination) for msvg
   (3 branches with history tokens) and plain (2 branches, no history), no gradients, median of
   repeats.
3. `train/zero2_offload`: as 1 with the optimizer offloaded; DeepSpeedCPUAdam when its extension
   really builds and loads (`launch.cpu_adam`, the probe `train --offload` uses), else torch AdamW
   with `zero_force_ds_cpu_optimizer: false`; the row names the optimizer that ran and why.

Output: `<out>/bench_gpu.json` and `<out>/bench_gpu.md` (`gpu_report.py`), rewritten after every
step; `--out` defaults to `$OUT`. `--budget-s` (default 330) skips what would not fit: each section
starts only when the time left covers it. `--fail-section NAME` makes one step raise (checks the
fail-soft path); `--cpu-adam probe` tries the CPUAdam build in a dry run too. Exit code 0 when no
step failed and every training loss was finite.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import socket
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, also when loaded from a file path
from gpu_flops import LAYOUTS, VAE_SPATIAL, peak_tflops, step_flops  # noqa: E402
from gpu_report import markdown, write  # noqa: E402

GIB = 2**30

# Decoupler / history feature sizes per layout (the cogvideox-2b preset's, and the tiny preset's).
DECOUPLER: dict[str, dict[str, int]] = {
    "2b": {"history_dim": 512, "decoupler_dim": 512, "decoupler_heads": 8},
    "5b": {"history_dim": 512, "decoupler_dim": 512, "decoupler_heads": 8},
    "tiny": {"history_dim": 32, "decoupler_dim": 16, "decoupler_heads": 2},
}


class Budget:
    """Wall-clock budget: sections start only when their estimate fits in what is left."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left."""
        return self.end - time.monotonic()


def setup_process_group(device: str, timeout_s: float) -> None:
    """A one-rank process group for DeepSpeed: nccl on CUDA (device 0 set explicitly, DeepSpeed's cuda
    accelerator), gloo on CPU; joining gives up after `timeout_s` instead of hanging."""
    import deepspeed
    import torch

    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("LOCAL_RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    if "MASTER_PORT" not in os.environ:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            os.environ["MASTER_PORT"] = str(sock.getsockname()[1])
    if device == "cuda":
        torch.cuda.set_device(0)
    else:
        from msvg_bench.launch.trainer import skip_cpu_inference_comm_op

        skip_cpu_inference_comm_op()
    deepspeed.init_distributed(dist_backend="nccl" if device == "cuda" else "gloo", verbose=False, timeout=timedelta(seconds=timeout_s))


def build_stage2(layout_name: str, device: Any, seed: int = 0) -> Any:
    """The stage-2 module (history transformer + decoupler + scheduler), random init on `device`, fp32."""
    import torch
    from diffusers import CogVideoXDDIMScheduler
    from msvg_bench.models.component_specs import COGVIDEOX_SCHEDULER
    from msvg_bench.models.decoupler import Decoupler
    from msvg_bench.models.history_transformer import HistoryCogVideoXTransformer3DModel
    from msvg_bench.models.multiscene import Stage2Module

    layout, dec = LAYOUTS[layout_name], DECOUPLER[layout_name]
    torch.manual_seed(seed)
    with torch.device(device):
        transformer = HistoryCogVideoXTransformer3DModel.from_base_config(layout)
        decoupler = Decoupler(layout["text_embed_dim"], dec["history_dim"], dec["decoupler_dim"], dec["decoupler_heads"])
    model_cfg = argparse.Namespace(text_dropout=0.1, history_dropout=0.1)
    return Stage2Module(transformer, decoupler, CogVideoXDDIMScheduler(**COGVIDEOX_SCHEDULER), model_cfg)


def sample_batch(layout_name: str, frames: int, height: int, width: int, device: Any, dtype: Any, seed: int = 0) -> dict[str, Any]:
    """Random inputs of the cached-sample shapes: latents [1, C, T, h, w], prompt / negative embeddings, history features."""
    import torch

    layout, dec = LAYOUTS[layout_name], DECOUPLER[layout_name]
    gen = torch.Generator().manual_seed(seed)
    t = 1 + (frames - 1) // layout["temporal_compression_ratio"]
    latents = torch.randn(1, layout["in_channels"], t, height // VAE_SPATIAL, width // VAE_SPATIAL, generator=gen)
    text = torch.randn(1, layout["max_text_seq_length"], layout["text_embed_dim"], generator=gen)
    feats = torch.randn(1, layout["max_text_seq_length"], dec["history_dim"], generator=gen)
    batch = {
        "latents": latents,
        "prompt_embeds": text,
        "negative_prompt_embeds": torch.zeros_like(text),
        "history_features": feats,
        "null_history_features": torch.zeros_like(feats),
    }
    return {k: v.to(device, dtype) for k, v in batch.items()}


def plan_shape(module: Any, layout_name: str) -> Any:
    """`launch.plan.ModelShape` of the built stage-2 module (all parameters trainable)."""
    from msvg_bench.launch.plan import ModelShape

    layout = LAYOUTS[layout_name]
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in module.modules())
    return ModelShape(
        name=f"history transformer {layout_name} + decoupler",
        trainable_params=sum(p.numel() for p in module.parameters()),
        frozen_params=0,
        largest_layer_params=largest,
        num_layers=layout["num_layers"],
        hidden=layout["num_attention_heads"] * layout["attention_head_dim"],
        text_tokens=layout["max_text_seq_length"],
        history_tokens=layout["max_text_seq_length"],
        latent_channels=layout["in_channels"],
        patch=layout["patch_size"],
        temporal_compression=layout["temporal_compression_ratio"],
    )


def plan_prediction(shape: Any, offload: str, frames: int, height: int, width: int) -> dict[str, float]:
    """`plan`'s per-GPU figures for ZeRO-2 on one GPU: model states + activations of one sample (GiB)."""
    from msvg_bench.launch.plan import activation_bytes_per_sample, model_states_bytes

    _, states = model_states_bytes(shape, 2, offload, 1, 1)
    act = activation_bytes_per_sample(shape, frames, height, width)
    return {"model_states_gb": states / GIB, "activations_gb": act / GIB, "total_gb": (states + act) / GIB}


def memory_now(device: str) -> dict[str, float | None]:
    """Peak allocated / reserved accelerator memory since the last reset (GiB); on CPU the process's peak RSS."""
    import torch

    if device == "cuda":
        return {
            "peak_allocated_gb": torch.cuda.max_memory_allocated() / GIB,
            "peak_reserved_gb": torch.cuda.max_memory_reserved() / GIB,
        }
    return {"peak_allocated_gb": None, "peak_reserved_gb": None, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def sync(device: str) -> None:
    """Wait for queued device work."""
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def release(device: str) -> None:
    """Free what the previous section left and reset the peak counters."""
    import torch

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def optimizer_choice(args: argparse.Namespace, device: str, offload: str) -> Any:
    """The optimizer for one engine: the shared CPUAdam probe (`launch.cpu_adam`) per `--cpu-adam`."""
    from msvg_bench.launch.cpu_adam import TORCH_ADAMW, CpuAdamProbe, offload_optimizer_choice, probe_cpu_adam

    if args.cpu_adam == "off" or offload == "none":
        return CpuAdamProbe(False, TORCH_ADAMW, f"no probe (--cpu-adam {args.cpu_adam}, offload {offload})")
    if args.cpu_adam == "probe":
        return probe_cpu_adam()
    return offload_optimizer_choice(device, offload)


def train_section(args: argparse.Namespace, device: str, offload: str) -> dict[str, Any]:
    """One ZeRO-2 engine (optionally with optimizer offload): timed steps, peak memory, plan's prediction.

    The peak counters are reset after `deepspeed.initialize`: `peak_*` cover the training steps
    (what `plan` predicts: model states + activations), `init_peak_*` the engine build on its own.
    """
    import deepspeed
    import torch
    from msvg_bench.launch.config import TrainConfig
    from msvg_bench.launch.ds_config import build_ds_config

    release(device)
    baseline = torch.cuda.memory_allocated() / GIB if device == "cuda" else None  # left over by earlier sections
    choice = optimizer_choice(args, device, offload)
    print(f"optimizer for offload={offload}: {choice.optimizer} ({choice.detail})", flush=True)
    dev = torch.device(device)
    module = build_stage2(args.layout, dev)
    module.transformer.enable_gradient_checkpointing()
    shape = plan_shape(module, args.layout)
    tc = TrainConfig(zero=2, offload=offload, lr=1e-5, warmup_steps=0, device=device, gradient_checkpointing=True)
    ds_config = build_ds_config(tc, 1, device=device, cpu_adam=choice.available, bf16=True)
    t_build = time.perf_counter()
    engine, _, _, _ = deepspeed.initialize(model=module, model_parameters=[p for p in module.parameters() if p.requires_grad], config=ds_config)
    sync(device)
    init_s = time.perf_counter() - t_build
    init_mem = {f"init_{key}": value for key, value in memory_now(device).items()}
    release(device)  # the steps' peak starts here
    batch = sample_batch(args.layout, args.frames, args.height, args.width, dev, torch.bfloat16)
    times, losses = [], []
    for i in range(args.warmup + args.steps):
        gen = torch.Generator().manual_seed(i)
        sync(device)
        t0 = time.perf_counter()
        loss = engine(batch, gen)
        engine.backward(loss)
        engine.step()
        sync(device)
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
        losses.append(float(loss.detach().float()))
    mem = memory_now(device)
    predicted = plan_prediction(shape, offload, args.frames, args.height, args.width)
    measured = mem["peak_allocated_gb"]
    out: dict[str, Any] = {
        "zero": 2,
        "offload": offload,
        "optimizer": choice.optimizer,
        "optimizer_detail": choice.detail,
        "zero_force_ds_cpu_optimizer": ds_config.get("zero_force_ds_cpu_optimizer", True),
        "params": shape.trainable_params,
        "engine_init_s": init_s,
        "baseline_allocated_gb": baseline,
        "step_s": statistics.median(times),
        "step_times_s": times,
        "losses": losses,
        "losses_finite": all(math.isfinite(x) for x in losses),
        **init_mem,
        **mem,
        "plan": predicted,
        "plan_error": (predicted["total_gb"] - measured) / measured if measured else None,
    }
    engine.destroy()
    del engine, module, batch
    release(device)
    return out


def denoise_section(args: argparse.Namespace, device: str) -> dict[str, Any]:
    """Median time of one msvg (3-branch, history tokens) and one plain (2-branch) denoising step."""
    import torch
    from msvg_bench.models.guidance import combine_branches
    from msvg_bench.models.multiscene import history_tokens

    release(device)
    dev = torch.device(device)
    module = build_stage2(args.layout, dev).to(torch.bfloat16).eval()
    batch = sample_batch(args.layout, args.frames, args.height, args.width, dev, torch.bfloat16)
    latents = batch["latents"].permute(0, 2, 1, 3, 4)
    timestep = torch.full((1,), 500, dtype=torch.long, device=dev)
    text, negative = batch["prompt_embeds"], batch["negative_prompt_embeds"]

    def msvg_step() -> torch.Tensor:
        hist = history_tokens(module.decoupler, text, batch["history_features"])
        null = history_tokens(module.decoupler, text, batch["null_history_features"])
        out = module.transformer(
            latents.repeat(3, 1, 1, 1, 1), torch.cat([negative, text, text]), timestep.repeat(3),
            history_hidden_states=torch.cat([hist, hist, null]), return_dict=False,
        )[0]
        return combine_branches(out, 3, 6.0, 3.0)

    def plain_step() -> torch.Tensor:
        out = module.transformer(latents.repeat(2, 1, 1, 1, 1), torch.cat([negative, text]), timestep.repeat(2), return_dict=False)[0]
        return combine_branches(out, 2, 6.0, 0.0)

    result: dict[str, Any] = {}
    with torch.no_grad():
        for name, fn in (("msvg", msvg_step), ("plain", plain_step)):
            fn()  # warm-up
            times = []
            for _ in range(args.denoise_repeats):
                sync(device)
                t0 = time.perf_counter()
                fn()
                sync(device)
                times.append(time.perf_counter() - t0)
            result[f"{name}_step_s"] = statistics.median(times)
            result[f"{name}_times_s"] = times
    result["msvg_over_plain"] = result["msvg_step_s"] / result["plain_step_s"]
    result.update(memory_now(device))
    return result


def story_batch_section(args: argparse.Namespace, device: str) -> dict[str, Any]:
    """Batched vs story-by-story generation of the same world stories (`generate.story_batch`): throughput ratios."""
    from bench_story_batch import measure_story_batch
    from msvg_bench.demo import shipped_world_weights

    if args.dry_run:
        return measure_story_batch("cpu", "fp32", [2], preset="tiny", scenes=2, steps=2, repeats=1)
    weights = shipped_world_weights()
    overrides = [] if weights is None else [f"model.world_dir={weights / 'world'}", f"model.weights={weights / 'joint'}"]
    return measure_story_batch(device, "bf16", [4, 8], preset="world" if weights else "tiny", scenes=4, steps=20,
                               repeats=2, overrides=overrides)


@dataclass(frozen=True)
class Section:
    """One fail-soft section: where its row goes in the report, what it costs, whether it needs DeepSpeed's process group."""

    key: str
    slot: tuple[str, ...]  # report path of its row: ("train", "zero2") or ("denoise",)
    run: Callable[[argparse.Namespace, str], dict[str, Any]]
    gpu_estimate_s: float  # rough cost on an H100/H200 for the 2b layout (model build + engine + steps)
    needs_process_group: bool


# Most valuable first: a run cut short or failing part-way keeps what matters most. A new measurement
# is one function (args, device) -> row plus one entry here.
SECTIONS: tuple[Section, ...] = (
    Section("zero2", ("train", "zero2"), lambda args, device: train_section(args, device, "none"), 70.0, True),
    Section("denoise", ("denoise",), denoise_section, 40.0, False),
    Section("zero2_offload", ("train", "zero2_offload"), lambda args, device: train_section(args, device, "optimizer"), 150.0, True),
    Section("story_batch", ("story_batch",), story_batch_section, 60.0, False),
)
DRY_RUN_ESTIMATE_S = 5.0


def place(report: dict[str, Any], slot: tuple[str, ...], row: dict[str, Any]) -> None:
    """Put `row` at `slot` in the report."""
    node = report
    for key in slot[:-1]:
        node = node[key]
    node[slot[-1]] = row


def guarded(name: str, fn: Callable[[], dict[str, Any]], args: argparse.Namespace, device: str) -> dict[str, Any]:
    """`fn()`'s row, or an error row (error + traceback) when it raises; `--fail-section name` raises on purpose."""
    try:
        if args.fail_section == name:
            raise RuntimeError(f"injected failure (--fail-section {name})")
        return fn()
    except Exception as exc:  # noqa: BLE001 - one failed section must not end the run
        trace = traceback.format_exc()
        print(f"{name}: FAILED: {type(exc).__name__}: {exc}\n{trace}", file=sys.stderr, flush=True)
        row = {"error": f"{type(exc).__name__}: {exc}", "traceback": trace}
    try:
        release(device)
    except Exception:  # noqa: BLE001 - a broken device must not hide the first error
        pass
    return row


def skeleton(args: argparse.Namespace, device: str, device_name: str, peak: float | None) -> dict[str, Any]:
    """The report before anything ran: every section pending (written before the process group starts)."""
    import torch

    report: dict[str, Any] = {
        "layout": args.layout, "frames": args.frames, "height": args.height, "width": args.width,
        "dry_run": args.dry_run, "device": device, "device_name": device_name, "torch": torch.__version__,
        "peak_tflops": peak, "flops": step_flops(LAYOUTS[args.layout], args.frames, args.height, args.width),
        "flops_source": "Narayanan et al. 2021 sec. 5.1 (no vocabulary term); MFU 3x forward, HFU 4x",
        "process_group": {"pending": "not started"}, "train": {}, "denoise": None,
        "sections": [section.key for section in SECTIONS], "wall_s": 0.0,
    }
    for section in SECTIONS:
        place(report, section.slot, {"pending": "not run yet"})
    return report


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every section for `args.layout`, each fail-soft; returns the report (also written under `args.out`)."""
    import torch

    start = time.monotonic()
    budget = Budget(args.budget_s)
    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device visible (use --dry-run on a CPU)")
    device_name = torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu"
    peak = peak_tflops(device_name, args.peak_tflops)
    report = skeleton(args, device, device_name, peak)
    write(report, args.out)

    def join() -> dict[str, Any]:
        t0 = time.perf_counter()
        setup_process_group(device, args.init_timeout_s)
        return {"ok": True, "init_s": time.perf_counter() - t0}

    report["process_group"] = guarded("process_group", join, args, device)
    write(report, args.out)
    for section in SECTIONS:
        estimate = section.gpu_estimate_s if not args.dry_run else DRY_RUN_ESTIMATE_S
        if section.needs_process_group and "error" in report["process_group"]:
            row: dict[str, Any] = {"skipped": "the process group did not start (see process_group)"}
        elif budget.left() < estimate:
            row = {"skipped": f"{budget.left():.0f} s of budget left, about {estimate:.0f} s needed"}
        else:
            row = guarded(section.key, lambda section=section: section.run(args, device), args, device)
            if section.slot[0] == "train" and peak and "step_s" in row:
                row["mfu"] = report["flops"]["model"] / row["step_s"] / (peak * 1e12)
                row["hfu"] = report["flops"]["hardware"] / row["step_s"] / (peak * 1e12)
        place(report, section.slot, row)
        report["wall_s"] = time.monotonic() - start
        write(report, args.out)
        print(f"{section.key}: {json.dumps({k: v for k, v in row.items() if not isinstance(v, list) and k != 'traceback'})}", flush=True)
    print(markdown(report), flush=True)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (the dry run swaps in the tiny layout and small shapes)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default=None, help="transformer layout (default 2b; dry run: tiny)")
    parser.add_argument("--frames", type=int, default=None, help="video frames (default 49; dry run 9)")
    parser.add_argument("--height", type=int, default=None, help="video height (default 480; dry run 32)")
    parser.add_argument("--width", type=int, default=None, help="video width (default 720; dry run 48)")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per engine")
    parser.add_argument("--warmup", type=int, default=1, help="untimed training steps per engine")
    parser.add_argument("--denoise-repeats", type=int, default=5, help="timed denoising steps per method")
    parser.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak of the GPU (default: by device name)")
    parser.add_argument("--budget-s", type=float, default=330.0, help="skip sections that would not fit in this many seconds")
    parser.add_argument("--init-timeout-s", type=float, default=120.0, help="give up joining the one-rank process group after this long")
    parser.add_argument(
        "--cpu-adam", choices=("auto", "probe", "off"), default="auto",
        help="offload row's optimizer: auto = build DeepSpeedCPUAdam on CUDA, torch AdamW if that fails; "
        "probe = try the build in a dry run too; off = torch AdamW",
    )
    parser.add_argument(
        "--fail-section", choices=("process_group", *(section.key for section in SECTIONS)), default=None,
        help="make this section raise, to check that the others still run and the error is reported",
    )
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "bench_gpu_out"),
                        help="folder for bench_gpu.json and bench_gpu.md (default: $OUT, else bench_gpu_out)")
    parser.add_argument("--dry-run", action="store_true", help="the same code at small shapes on the CPU (tiny layout, gloo)")
    args = parser.parse_args(argv)
    small = {"layout": "tiny", "frames": 9, "height": 32, "width": 48}
    full = {"layout": "2b", "frames": 49, "height": 480, "width": 720}
    for key, value in (small if args.dry_run else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the device check; exit code 0 when every section ran without error and every training loss was finite."""
    args = parse_args(argv)
    os.environ["DS_ACCELERATOR"] = "cpu" if args.dry_run else "cuda"
    report = run(args)
    rows = [report["process_group"], *report["train"].values(), report["denoise"], report["story_batch"]]
    ok = all("error" not in row and row.get("losses_finite", True) for row in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
