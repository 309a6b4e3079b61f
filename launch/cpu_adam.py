"""Which optimizer runs for offloaded optimizer states: DeepSpeedCPUAdam when its extension really
builds and loads here, torch's AdamW otherwise.

`CPUAdamBuilder().is_compatible()` is True wherever a compiler might exist, so it says nothing about
whether the JIT build succeeds. `probe_cpu_adam` tries the build itself (`CPUAdamBuilder().load()`)
in a fresh `TORCH_EXTENSIONS_DIR` of this process (a lock left by a killed earlier build cannot
hang it) with `MAX_JOBS` set, and reports the outcome instead of raising. The built op stays loaded
in the process, so DeepSpeed's own `DeepSpeedCPUAdam` reuses it; each process builds it anew
(about half a minute on 16 cores).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

CPU_ADAM = "DeepSpeedCPUAdam"
TORCH_ADAMW = "torch AdamW"


@dataclass(frozen=True)
class CpuAdamProbe:
    """The probe's outcome: whether DeepSpeedCPUAdam can run, the optimizer that will, and why."""

    available: bool
    optimizer: str
    detail: str


def _extensions_root() -> Path:
    """Where the fresh per-process build folders go: `TORCH_EXTENSIONS_DIR` if set, else the user cache."""
    base = os.environ.get("TORCH_EXTENSIONS_DIR")
    return Path(base) if base else Path.home() / ".cache" / "msvg_bench" / "torch_extensions"


def probe_cpu_adam(max_jobs: int | None = None) -> CpuAdamProbe:
    """Build and load DeepSpeed's cpu_adam op in a fresh extensions folder; never raises.

    The environment is restored and the build folder removed afterwards (the loaded op stays in
    DeepSpeed's cache of loaded ops). On success the result names DeepSpeedCPUAdam; on any failure
    (no compiler, no Python headers, unwritable folder, a compile error) torch's AdamW, with the reason.
    """
    try:
        root = _extensions_root()
        root.mkdir(parents=True, exist_ok=True)
        fresh = tempfile.mkdtemp(prefix=f"cpu_adam-{os.getpid()}-", dir=root)
    except OSError as exc:
        return CpuAdamProbe(False, TORCH_ADAMW, f"cpu_adam build folder not usable: {exc}")
    saved = {key: os.environ.get(key) for key in ("TORCH_EXTENSIONS_DIR", "MAX_JOBS")}
    os.environ["TORCH_EXTENSIONS_DIR"] = fresh
    os.environ.setdefault("MAX_JOBS", str(max_jobs or max(1, min(8, os.cpu_count() or 1))))
    try:
        from deepspeed.ops.op_builder import CPUAdamBuilder

        CPUAdamBuilder().load(verbose=False)  # DeepSpeed keeps the loaded op: DeepSpeedCPUAdam reuses it
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failed build means torch AdamW
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        return CpuAdamProbe(False, TORCH_ADAMW, f"cpu_adam did not build ({type(exc).__name__}: {reason})")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(fresh, ignore_errors=True)  # the op is loaded (or failed): no build folder outlives the probe
    return CpuAdamProbe(True, CPU_ADAM, "cpu_adam built and loaded")


def offload_optimizer_choice(device_kind: str, offload: str) -> CpuAdamProbe:
    """The optimizer for a run: the probe only for offloaded optimizer states on CUDA, torch AdamW otherwise."""
    if device_kind != "cuda" or offload not in ("optimizer", "full"):
        return CpuAdamProbe(False, TORCH_ADAMW, f"no probe needed (device {device_kind}, offload {offload})")
    return probe_cpu_adam()
