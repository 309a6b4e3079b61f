"""Worker entry point: `python -m msvg_bench.train_worker --config <run_dir>/train_config.yaml`.

torchrun starts one per rank; a watchdog stops the worker when torchrun or the launcher is gone
(`lifeline`). The resolved config comes from the YAML file the launcher wrote; an expected failure
is written as one line to `<output_dir>/logs/error_rank<r>.txt` and sent to the launcher over its
loopback error channel (which needs no disk: `launch.failure_report`); the launcher reports it and
the worker exits 1.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
import threading
import traceback
from pathlib import Path

from msvg_bench.config import Config
from msvg_bench.core.devices import resolve_device, select_deepspeed_accelerator
from msvg_bench.core.errors import MsvgError
from msvg_bench.core.tracking import Terminated
from msvg_bench.core.yaml_safe import load_yaml
from msvg_bench.launch.failure_report import send_error
from msvg_bench.launch.launcher import mark_killed
from msvg_bench.launch.lifeline import launcher_pid_from_env, watch_parent
from msvg_bench.launch.trainer import train

# What the orphan hook (`mark_killed`) needs on a rank that does not track: the MLflow client and its
# SQL store, loaded at start-up so that ending the run in the grace period is database work only.
ORPHAN_HOOK_MODULES = ("mlflow.tracking", "mlflow.store.tracking.sqlalchemy_store")
STOPPED = 143  # the exit code of a rank stopped by SIGTERM or by its launcher's end
PRELOAD_JOIN_S = 120.0  # at exit, how long a rank waits for that preload to finish importing


def error_file(output_dir: Path, rank: int) -> Path:
    """Where rank `rank` leaves its one-line failure message."""
    return Path(output_dir) / "logs" / f"error_rank{rank}.txt"


def preload(modules: tuple[str, ...]) -> None:
    """Import `modules` (for a background thread)."""
    for name in modules:
        importlib.import_module(name)


def load_worker_config(path: Path):  # noqa: ANN201 - returns msvg_bench.config.Config
    """Read the resolved config the launcher wrote."""
    return Config.model_validate(load_yaml(Path(path).read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    """Run one training rank; return its exit code."""
    parser = argparse.ArgumentParser(description="msvg-bench training worker (started by torchrun)")
    parser.add_argument("--config", type=Path, required=True, help="resolved config YAML written by the launcher")
    args = parser.parse_args(argv)
    parent = os.getppid()
    orphan_hooks: list = []
    # torchrun or the launcher gone (launcher group killed): stop instead of training on alone
    watch_parent(on_orphaned=orphan_hooks, launcher_pid=launcher_pid_from_env())
    rank = int(os.environ.get("RANK", "0"))
    config = load_worker_config(args.config)
    orphan_hooks.append(lambda: mark_killed(config.tracking.uri, Path(config.train.output_dir)))  # any rank: rank 0 may be stuck
    preloader = None
    if rank != 0:  # the hook needs MLflow, which only rank 0 imports: load it now, not in the grace period
        preloader = threading.Thread(target=preload, args=(ORPHAN_HOOK_MODULES,), daemon=True)
        preloader.start()
    code = _run(config, rank, parent)
    if preloader is not None and code != STOPPED:
        # A short run can end while the preload is still importing native modules; the interpreter must
        # not shut down under it (that aborts the process: "terminate called without an active exception").
        preloader.join(timeout=PRELOAD_JOIN_S)
    return code


def _run(config, rank: int, parent: int) -> int:  # noqa: ANN001 - msvg_bench.config.Config
    """Train one rank; return its exit code (failures reported as one line)."""
    select_deepspeed_accelerator(resolve_device(config.train.device, "train.device").type)
    try:
        train(config.training())
    except Terminated:
        print(f"rank {rank}: stopped (SIGTERM)", file=sys.stderr, flush=True)
        return STOPPED
    except Exception as exc:  # noqa: BLE001 - report any crash as one line, keep the traceback in the log
        if os.getppid() != parent:  # orphaned: a peer's collective broke because the job was killed, not a bug
            if rank == 0:
                mark_killed(config.tracking.uri, Path(config.train.output_dir))
            print(f"rank {rank}: stopped (launcher gone)", file=sys.stderr, flush=True)
            return STOPPED
        if not isinstance(exc, MsvgError):
            traceback.print_exc()
        _report(config.train.output_dir, rank, str(exc) if isinstance(exc, MsvgError) else f"{type(exc).__name__}: {exc}")
        return 1
    return 0


def _report(output_dir: Path, rank: int, message: str) -> None:
    """Leave the one-line failure where the launcher finds it: stderr, the launcher's error channel and
    the error file (on a full disk the file cannot be written; the channel needs no disk)."""
    line = " ".join(message.split())
    print(f"rank {rank}: error: {line}", file=sys.stderr, flush=True)
    send_error(rank, line)
    path = error_file(output_dir, rank)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(line + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"rank {rank}: could not write {path} ({exc.strerror or exc})", file=sys.stderr, flush=True)
        try:
            path.unlink(missing_ok=True)  # an empty file would read as "no message"
        except OSError:
            pass


def exit_rank(code: int) -> None:
    """End this rank with `code` at once, streams flushed, without tearing the interpreter down.

    A rank other than 0 tracks nothing and has left the process group by now. Rank 0 first runs the
    exit hooks a normal exit would run (MLflow's, logging's); the run and its files are closed by
    then. The teardown skipped is the interpreter's own (modules and native libraries' threads): it
    took about 3 s of a finished rank 0's time on 2 loaded cores, and under load it could abort a
    finished rank ("terminate called without an active exception", SIGABRT), failing a job whose
    work was done."""
    if int(os.environ.get("RANK", "0")) == 0:
        atexit._run_exitfuncs()  # noqa: SLF001 - the hooks of a normal exit, then no teardown
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_rank(main())
