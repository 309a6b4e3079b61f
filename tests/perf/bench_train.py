"""Benchmark: DeepSpeed ZeRO-2 / ZeRO-3 against plain PyTorch DDP on 2 CPU ranks (gloo, fp32).

    python tests/perf/bench_train.py [--width 1024 --depth 8 --batch 4096 --steps 4 --rounds 3]

The parent starts `torchrun --standalone --nproc-per-node 2` on this file; each rank trains the same
residual MLP with DDP (torch AdamW), ZeRO-2 and ZeRO-3 (DeepSpeed, `torch_adam`), with their steps
interleaved (ddp, zero2, zero3, ddp, ...) so that load from other users of the machine hits every
mode alike; the figure per mode is the median over rounds of each round's median step time.
Parameter + optimizer memory per rank is measured by a census of the live tensors each rank holds
(module parameters — ZeRO-3: their partitions `ds_tensor` — the optimizer's flat fp32 partitions and
the AdamW state), deduplicated by storage.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build_model(width: int, depth: int, seed: int):  # noqa: ANN201
    """The benchmark MLP: `depth` residual Linear+GELU blocks of `width`."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(width, width)

        def forward(self, x):  # noqa: ANN001, ANN202
            return x + torch.nn.functional.gelu(self.linear(x))

    return nn.Sequential(*[Block() for _ in range(depth)], nn.Linear(width, width))


def storage_bytes(tensors) -> int:  # noqa: ANN001
    """Bytes of the distinct storages behind `tensors`."""
    seen: dict[int, int] = {}
    for t in tensors:
        if t is None or t.numel() == 0:
            continue
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def optimizer_state_tensors(optimizer):  # noqa: ANN001, ANN201
    """Every tensor in a torch optimizer's state."""
    import torch

    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                yield value


def census_ddp(model, optimizer) -> dict[str, int]:  # noqa: ANN001
    """Parameter and optimizer-state bytes held by a DDP rank (no separate master copy in fp32)."""
    return {
        "params": storage_bytes(list(model.parameters())),
        "master": 0,
        "optim": storage_bytes(list(optimizer_state_tensors(optimizer))),
    }


def census_deepspeed(engine, stage: int) -> dict[str, int]:  # noqa: ANN001
    """Parameter, fp32 master-partition and optimizer-state bytes held by a DeepSpeed rank.

    ZeRO-3 parameters count as their partitions (`ds_tensor`); ZeRO-2 keeps whole parameters.
    """
    zopt = engine.optimizer
    if stage == 3:
        params = [p.ds_tensor for p in engine.module.parameters()]
        master = list(getattr(zopt, "fp32_partitioned_groups_flat", []))
    else:
        params = list(engine.module.parameters())
        master = list(getattr(zopt, "single_partition_of_fp32_groups", []))
    master_ptrs = {t.untyped_storage().data_ptr() for t in master}
    optim = [t for t in optimizer_state_tensors(zopt.optimizer) if t.untyped_storage().data_ptr() not in master_ptrs]
    return {"params": storage_bytes(params), "master": storage_bytes(master), "optim": storage_bytes(optim)}


def worker(args: argparse.Namespace) -> None:
    """One rank: time DDP, ZeRO-2 and ZeRO-3 steps and census their memory."""
    import deepspeed
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    deepspeed.init_distributed(dist_backend="gloo", verbose=False)
    rank, world = dist.get_rank(), dist.get_world_size()
    gen = torch.Generator().manual_seed(1000 + rank)
    x = torch.randn(args.batch, args.width, generator=gen)
    y = torch.randn(args.batch, args.width, generator=gen)
    loss_fn = torch.nn.functional.mse_loss

    def ds_config(stage: int) -> dict:
        zero = {"stage": stage, "contiguous_gradients": True, "overlap_comm": False, "reduce_bucket_size": 50_000_000}
        if stage == 3:
            zero.update({"stage3_prefetch_bucket_size": 50_000_000, "stage3_param_persistence_threshold": 100_000})
        zero.update(json.loads(args.zero_extra))
        return {
            "train_batch_size": args.batch * world,
            "train_micro_batch_size_per_gpu": args.batch,
            "gradient_accumulation_steps": 1,
            "gradient_clipping": 1.0,
            "optimizer": {"type": "AdamW", "params": {"lr": 1e-4, "betas": [0.9, 0.95], "weight_decay": 1e-4, "torch_adam": True}},
            "zero_optimization": zero,
            "steps_per_print": 10**9,
        }

    setups = {}

    def setup(mode: str):  # noqa: ANN202
        model = build_model(args.width, args.depth, seed=0)
        if mode == "ddp":
            ddp = DistributedDataParallel(model)
            opt = torch.optim.AdamW(ddp.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=1e-4)

            def step() -> None:
                loss = loss_fn(ddp(x), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(ddp.parameters(), 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)

            return step, lambda: census_ddp(model, opt)
        stage = 2 if mode == "zero2" else 3
        engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=ds_config(stage))

        def ds_step() -> None:
            loss = loss_fn(engine(x), y)
            engine.backward(loss)
            engine.step()

        return ds_step, lambda: census_deepspeed(engine, stage)

    modes = tuple(args.modes.split(","))
    for mode in modes:
        setups[mode] = setup(mode)
    # Steps of the three modes are interleaved (ddp, zero2, zero3, ddp, ...) so that a change of load
    # on the shared machine hits every mode alike; each round's figure is the median over its steps.
    results: dict[str, dict] = {m: {"medians": [], "bytes": {}} for m in modes}
    for _ in range(args.warmup):
        for mode in modes:
            setups[mode][0]()
    for _ in range(args.rounds):
        times: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(args.steps):
            for mode in modes:
                dist.barrier()
                t0 = time.perf_counter()
                setups[mode][0]()
                times[mode].append(time.perf_counter() - t0)
        for mode in modes:
            # the slowest rank sets the pace: max over ranks of each step's time
            t = torch.tensor(times[mode], dtype=torch.float64)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            results[mode]["medians"].append(statistics.median(t.tolist()))
    for mode in modes:
        results[mode]["bytes"] = setups[mode][1]()
    kinds = ("params", "master", "optim")
    mem = torch.tensor([results[m]["bytes"][k] for m in modes for k in kinds], dtype=torch.float64)
    gathered = [torch.zeros_like(mem) for _ in range(world)]
    dist.all_gather(gathered, mem)
    if rank == 0:
        params = sum(p.numel() for p in build_model(args.width, args.depth, seed=0).parameters())
        out = {
            "params": params,
            "width": args.width,
            "depth": args.depth,
            "batch_per_rank": args.batch,
            "world_size": world,
            "threads_per_rank": torch.get_num_threads(),
            "modes": {
                m: {
                    "step_s": statistics.median(results[m]["medians"]),
                    "round_medians_s": results[m]["medians"],
                    "bytes_per_rank": {
                        k: [float(g[i * len(kinds) + j]) for g in gathered] for j, k in enumerate(kinds)
                    },
                }
                for i, m in enumerate(modes)
            },
        }
        Path(args.result).write_text(json.dumps(out, indent=2))
    dist.barrier()


def main() -> None:
    """Parse arguments; as the parent, launch 2 ranks and print the side-by-side figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4096, help="samples per rank per step")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument("--zero-extra", default="{}", help="JSON merged into zero_optimization (both stages)")
    parser.add_argument("--modes", default="ddp,zero2,zero3", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        env = {**os.environ, "DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // args.nproc)))}
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(args.nproc),
            __file__, "--worker", "--result", str(result),
            "--width", str(args.width), "--depth", str(args.depth), "--batch", str(args.batch),
            "--steps", str(args.steps), "--warmup", str(args.warmup), "--rounds", str(args.rounds),
            "--zero-extra", args.zero_extra, "--modes", args.modes,
        ]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-4000:])
            sys.exit(proc.returncode)
        data = json.loads(result.read_text())
    modes = data["modes"]
    ddp = modes["ddp"]

    def mem(row: dict, kinds: tuple[str, ...]) -> float:
        return max(sum(row["bytes_per_rank"][k][r] for k in kinds) for r in range(data["world_size"]))

    core = ("params", "optim")
    full = ("params", "master", "optim")
    print(f"MLP {data['params'] / 1e6:.1f} M params, batch {data['batch_per_rank']}/rank, "
          f"{data['world_size']} CPU ranks x {data['threads_per_rank']} thread(s), gloo, fp32")
    print(f"{'mode':<7}{'step s':>9}{'/DDP':>7}{'params+Adam MiB':>17}{'/DDP':>7}{'+fp32 master MiB':>18}{'/DDP':>7}")
    for name, row in modes.items():
        print(f"{name:<7}{row['step_s']:>9.3f}{row['step_s'] / ddp['step_s']:>7.2f}"
              f"{mem(row, core) / 2**20:>17.1f}{mem(row, core) / mem(ddp, core):>7.2f}"
              f"{mem(row, full) / 2**20:>18.1f}{mem(row, full) / mem(ddp, full):>7.2f}")
    data["ratios"] = {}
    for name in modes:
        if name != "ddp":
            data["ratios"][f"{name}_over_ddp_step"] = modes[name]["step_s"] / ddp["step_s"]
            data["ratios"][f"{name}_over_ddp_params_adam_mem"] = mem(modes[name], core) / mem(ddp, core)
            data["ratios"][f"{name}_over_ddp_with_master_mem"] = mem(modes[name], full) / mem(ddp, full)
    print(json.dumps(data["ratios"]))
    if args.out:
        args.out.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
