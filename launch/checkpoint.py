"""Checkpoint folders: naming, completeness, retention, resume resolution and config compatibility.

Layout under `<output_dir>/checkpoints/`: one DeepSpeed tag folder per saved step, `step_00000012/`,
holding DeepSpeed's model/optimizer/scheduler files, one `rng_rank<r>.pt` per rank, and
`msvg_meta.json`, written last (atomically, by rank 0 once every rank's save has completed): a folder
without it is an interrupted save and is ignored. The metadata lists every file of the folder with
its size and sha256 (`checkpoint_files`); a checkpoint is loaded only when its files match that list
exactly, unless `--trust-checkpoint` says to load one without it (DeepSpeed unpickles its files).
"""

from __future__ import annotations

import errno
import json
import re
import shutil
from pathlib import Path
from typing import Any

from msvg_bench.core.atomic import atomic_write_json
from msvg_bench.core.distributed import get_rank, get_world_size
from msvg_bench.core.errors import ConfigError, MsvgError
from msvg_bench.core.schema import ConfigRecord
from msvg_bench.launch.checkpoint_files import incomplete_reason, mismatch_reason
from msvg_bench.launch.checkpoint_files import shared_manifest
from msvg_bench.launch.rng_state import rng_state

META_NAME = "msvg_meta.json"
STEP_DIR = re.compile(r"^step_(\d{8})$")

# Keys that may change between a run and its resumption (length, logging, launch topology, paths).
RESUMABLE_KEYS = (
    "train.steps",
    "train.epochs",
    "train.resume",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.export",
    "train.export_probe",
    "train.log_every",
    "train.eval_every",
    "train.step_callbacks",
    "train.output_dir",
    "train.rdzv_timeout_s",
    "train.init_timeout_s",
    "train.nproc_per_node",
    "train.nnodes",
    "train.node_rank",
    "train.hostfile",
    "train.master_addr",
    "train.master_port",
    "train.device",
    "train.oversubscribe",
    "train.trust_checkpoint",
    "data.root",
    "data.cache_dir",
)
RESUMABLE_SECTIONS = ("tracking.", "generate.", "eval.")
LOW_SPACE_BYTES = 16 << 20  # a failed write with less free space than this is taken for a full disk
UNTRUSTED = (
    "its DeepSpeed files would be unpickled, which can run any code they contain; "
    "pass --trust-checkpoint to load it anyway"
)


class CheckpointSaveError(MsvgError):
    """A checkpoint could not be written (the cause and the path in one line)."""


def checkpoints_dir(output_dir: Path) -> Path:
    """Where the checkpoints of a run live."""
    return Path(output_dir) / "checkpoints"


def tag_for_step(step: int) -> str:
    """The DeepSpeed tag (and folder name) of the checkpoint after `step` optimizer steps."""
    return f"step_{step:08d}"


def complete_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Complete checkpoint folders in `ckpt_dir`, oldest first."""
    if not Path(ckpt_dir).is_dir():
        return []
    found = [p for p in Path(ckpt_dir).iterdir() if p.is_dir() and STEP_DIR.match(p.name) and (p / META_NAME).is_file()]
    return sorted(found, key=lambda p: p.name)


def read_meta(folder: Path) -> dict[str, Any]:
    """The metadata of a checkpoint folder (one-line error when it is not one)."""
    meta_path = Path(folder) / META_NAME
    if not meta_path.is_file():
        raise ConfigError(f"{folder}: not a complete checkpoint (no {META_NAME})")
    try:
        return json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{meta_path}: unreadable checkpoint metadata ({exc.msg})") from None


def checkpoint_problem(folder: Path, trust: bool = False) -> str | None:
    """Why a complete-looking checkpoint folder must not be loaded (None when it may).

    With a file manifest in its metadata: every listed file must be there, and (unless `trust`) no
    other file, and every size and sha256 must match. Without one: refused unless `trust`. Trusted,
    every `.pt` file must at least be an intact torch archive (zip directory and CRCs). Nothing is
    unpickled.
    """
    folder = Path(folder)
    try:
        meta = json.loads((folder / META_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{folder / META_NAME}: unreadable metadata ({exc})"
    manifest = meta.get("files") if isinstance(meta, dict) else None
    if isinstance(manifest, dict) and manifest and all(isinstance(entry, dict) for entry in manifest.values()):
        reason = incomplete_reason(folder, manifest)
        if reason is None and not trust:
            reason = mismatch_reason(folder, manifest, META_NAME)
            if reason is not None:
                reason = f"{reason}; {UNTRUSTED}"
        if reason is not None or not trust:
            return reason
    elif not trust:
        return f"{folder}: no file manifest in {META_NAME} (not saved by this version of msvg-bench); {UNTRUSTED}"
    return _archive_problem(folder)


def _archive_problem(folder: Path) -> str | None:
    """Why a `.pt` file of `folder` is not an intact torch archive (None when all are)."""
    import zipfile

    files = sorted(folder.rglob("*.pt"))
    if not files:
        return f"{folder}: holds no checkpoint files (*.pt)"
    for file in files:
        try:
            with zipfile.ZipFile(file) as archive:
                bad = archive.testzip()
        except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:
            return f"{file}: damaged checkpoint file ({' '.join(str(exc).split())})"
        if bad is not None:
            return f"{file}: damaged checkpoint file (CRC mismatch in {bad})"
    return None


def resolve_resume(
    resume: str, output_dir: Path, skipped: list[str] | None = None, verify: bool = True, trust: bool = False
) -> Path:
    """The checkpoint folder `--resume` names: `latest` (of this run), a step folder, a checkpoints folder or a run folder.

    `latest` is the newest checkpoint that passes `checkpoint_problem`: incomplete, damaged or
    unverifiable newer ones are passed over, each with a line in `skipped` naming the file at fault.
    An explicitly named checkpoint with a problem is an error. `verify=False` skips the check (the
    workers, once the launcher has made it); `trust` is `--trust-checkpoint`.
    """
    if resume == "latest":
        ckpt_dir = checkpoints_dir(output_dir)
        found = complete_checkpoints(ckpt_dir)
        if not found:
            raise ConfigError(f"{ckpt_dir}: no complete checkpoint to resume from (--resume latest)")
        reasons = []
        for folder in reversed(found):
            problem = checkpoint_problem(folder, trust)
            if problem is None:
                if skipped is not None:
                    skipped.extend(f"{reason}; resuming from {folder.name} instead" for reason in reasons)
                return folder
            reasons.append(problem)
        raise ConfigError(f"{ckpt_dir}: no readable checkpoint to resume from (--resume latest); newest: {reasons[0]}")
    path = Path(resume)
    if not path.exists():
        raise ConfigError(f"{path}: checkpoint not found (--resume)")
    if (path / META_NAME).is_file():
        chosen = path
    else:
        chosen = None
        for candidate_dir in (path, checkpoints_dir(path)):
            found = complete_checkpoints(candidate_dir)
            if found:
                chosen = found[-1]
                break
        if chosen is None:
            raise ConfigError(f"{path}: no complete checkpoint in this folder (--resume)")
    problem = checkpoint_problem(chosen, trust) if verify else None
    if problem is not None:
        raise ConfigError(f"{problem} (--resume {resume})")
    return chosen


def shape_fingerprint(flat_config: dict[str, Any]) -> dict[str, Any]:
    """The part of a flattened config that must match for an exact resume."""
    return {
        key: value
        for key, value in flat_config.items()
        if key not in RESUMABLE_KEYS and not key.startswith(RESUMABLE_SECTIONS)
    }


def check_compatible(meta: dict[str, Any], flat_config: dict[str, Any], world_size: int, folder: Path) -> None:
    """Raise a one-line `ConfigError` when the checkpoint was written by a different config or world size."""
    saved = shape_fingerprint(meta.get("config", {}))
    current = shape_fingerprint(flat_config)
    differing = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if differing:
        shown = ", ".join(f"{k} ({saved.get(k)!r} -> {current.get(k)!r})" for k in differing[:4])
        more = f" and {len(differing) - 4} more" if len(differing) > 4 else ""
        raise ConfigError(f"{folder}: checkpoint is from another config: {shown}{more}")
    saved_world = meta.get("world_size")
    if saved_world != world_size:
        raise ConfigError(
            f"{folder}: checkpoint was written by {saved_world} ranks, this job has {world_size}; "
            "resume with the same number of processes"
        )


def prune_checkpoints(ckpt_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` complete checkpoints (and stale incomplete ones); return what went."""
    complete = complete_checkpoints(ckpt_dir)
    removed: list[Path] = []
    for folder in complete[: max(len(complete) - keep, 0)]:
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    newest = complete[-1].name if complete else None
    for folder in Path(ckpt_dir).iterdir() if Path(ckpt_dir).is_dir() else []:
        if folder.is_dir() and STEP_DIR.match(folder.name) and not (folder / META_NAME).exists():
            if newest is not None and folder.name < newest:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def save_checkpoint(
    engine: Any, ckpt_dir: Path, step: int, run_id: str | None, record: ConfigRecord, num_samples: int, keep: int
) -> Path:
    """All ranks: DeepSpeed state + per-rank RNG, then the file manifest (each rank hashes a share); rank 0
    writes it into the metadata, which marks the folder complete, and prunes.

    A failed write (a full disk, a lost mount) raises `CheckpointSaveError` naming the cause and the
    path; the half-written folder is removed (it has no metadata, so it is never resumed from).
    """
    import torch
    import torch.distributed as dist
    rank = get_rank()
    tag = tag_for_step(step)
    folder = ckpt_dir / tag
    try:
        engine.save_checkpoint(str(ckpt_dir), tag=tag, client_state={"msvg_step": step}, save_latest=True)
        torch.save(rng_state(), folder / f"rng_rank{rank}.pt")
    except (OSError, RuntimeError) as exc:
        raise save_failed(exc, folder, step) from exc
    if dist.is_initialized():
        dist.barrier()
    files = shared_manifest(folder, META_NAME)
    if rank == 0:
        try:
            atomic_write_json(
                folder / META_NAME,
                {
                    "step": step,
                    "world_size": get_world_size(),
                    "num_samples": num_samples,
                    "mlflow_run_id": run_id,
                    "config_hash": record.config_hash,
                    "config": json.loads(json.dumps(record.params, default=str)),
                    "files": files,
                },
            )
        except OSError as exc:
            raise save_failed(exc, folder, step) from exc
        prune_checkpoints(ckpt_dir, keep)
    if dist.is_initialized():
        dist.barrier()
    return folder


def save_failed(exc: BaseException, folder: Path, step: int) -> CheckpointSaveError:
    """The one-line error of a failed checkpoint write; the half-written `folder` is removed first (freeing its space)."""
    free = _free_bytes(folder.parent)
    if isinstance(exc, OSError) and exc.errno is not None:
        code = errno.errorcode.get(exc.errno, str(exc.errno))
        cause = f"{exc.strerror or exc} [{code}]: {exc.filename or folder}"
    elif free is not None and free < LOW_SPACE_BYTES:
        cause = f"No space left on device [ENOSPC] ({free >> 20} MiB free): {folder}"
    else:
        cause = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    shutil.rmtree(folder, ignore_errors=True)
    return CheckpointSaveError(f"{folder}: could not save the step-{step} checkpoint: {cause}")


def _free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None
