"""Tie training processes to the launcher's life: nothing trains on after the launcher is gone.

torchrun starts its workers in their own session, so killing the launcher's process group does not
reach them. Three mechanisms close that gap, all in production code paths:

- the launcher starts torchrun with a parent-death signal (Linux `PR_SET_PDEATHSIG`): torchrun gets
  SIGTERM the moment the launcher dies, however it died, and stops its workers;
- a launcher that is asked to stop forwards the request to torchrun and, if the job has not ended
  after a short grace period, kills torchrun's whole process tree (`kill_tree`);
- every worker runs a watchdog thread that notices when its parent (torchrun) or the launcher (its
  pid in `$MSVG_LAUNCHER_PID`) is gone — torchrun alone may wait 30 s for a stuck rank — and then
  stops the worker: the job's MLflow run ends KILLED from a helper thread of *every* rank (rank 0's
  main thread may be stuck in a collective, or die in native code, and never end it), SIGTERM, and a
  hard exit after a short grace period.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from msvg_bench.core.tracking import end_open_runs
from msvg_bench.core.tracking import note_interrupted

PR_SET_PDEATHSIG = 1
LAUNCHER_PID_ENV = "MSVG_LAUNCHER_PID"
ORPHAN_GRACE_S = 5.0
POLL_S = 0.5
HOOKS_SHARE = 0.8  # of the grace period, for the orphan hooks; the rest lets the main thread unwind


def set_parent_death_signal(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent exits (Linux; elsewhere a no-op).

    Meant as a `subprocess.Popen(preexec_fn=...)` hook: it runs in the child between fork and exec,
    and the setting survives exec. If the parent is already gone, the signal is sent at once.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)


def die_with_parent() -> None:
    """`preexec_fn` for torchrun: SIGTERM when the launcher dies."""
    set_parent_death_signal(signal.SIGTERM)


def kill_tree(pid: int) -> None:
    """SIGKILL process `pid` and every descendant it has now (children listed first, so none escapes)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def owner_alive(pid: int | None) -> Callable[[], bool]:
    """A check that process `pid` (as it is now: a reused pid does not count) still runs; always true for None."""
    if pid is None:
        return lambda: True
    import psutil

    try:
        owner = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return lambda: False

    def alive() -> bool:
        try:
            return owner.is_running() and owner.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    return alive


def launcher_pid_from_env() -> int | None:
    """The launcher's pid that `msvg-bench train` hands its workers, if any."""
    value = os.environ.get(LAUNCHER_PID_ENV, "")
    return int(value) if value.isdigit() else None


def watch_parent(
    grace_s: float = ORPHAN_GRACE_S,
    poll_s: float = POLL_S,
    on_orphaned: list[Callable[[], None]] | None = None,
    launcher_pid: int | None = None,
) -> threading.Thread:
    """Start a daemon thread that stops this process once its parent, or the launcher `launcher_pid`, has exited.

    On orphaning: the job is noted as interrupted; a helper thread ends this process's open MLflow
    runs KILLED and then calls `on_orphaned`'s hooks in order (the caller may append to the list after
    the watchdog started, e.g. once it knows the job's run), for at most 80 % of the grace period; then
    the process gets SIGTERM (the main thread unwinds: checkpoints are not half-written by a rank that
    lives on); and `grace_s` seconds after orphaning it exits hard whatever the main thread is doing —
    which may be stuck in a collective whose peer is gone, so the hooks must not rely on it.
    """
    parent = os.getppid()
    launcher_alive = owner_alive(launcher_pid)
    hooks = on_orphaned if on_orphaned is not None else []

    def stop_hooks() -> None:
        for hook in [lambda: end_open_runs("KILLED"), *hooks]:
            try:
                hook()
            except Exception as exc:  # noqa: BLE001 - the process is going down; say so and go on
                print(f"warning: orphaned worker: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    def run() -> None:
        while os.getppid() == parent and launcher_alive():
            time.sleep(poll_s)
        deadline = time.monotonic() + grace_s
        note_interrupted()
        helper = threading.Thread(target=stop_hooks, name="msvg-orphan-hooks", daemon=True)
        helper.start()
        helper.join(grace_s * HOOKS_SHARE)  # before SIGTERM: a rank without a handler dies of it at once
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            time.sleep(max(deadline - time.monotonic(), 0.0))
            os._exit(143)

    thread = threading.Thread(target=run, name="msvg-parent-watchdog", daemon=True)
    thread.start()
    return thread
