"""Tie training processes to the launcher's life: nothing trains on after the launcher is gone.

torchrun starts its workers in their own session, so killing the launcher's process group does not
reach them. Two mechanisms close that gap, both in production code paths:

- the launcher starts torchrun with a parent-death signal (Linux `PR_SET_PDEATHSIG`): torchrun gets
  SIGTERM the moment the launcher dies, however it died, and stops its workers;
- every worker runs a watchdog thread that notices when its parent (torchrun) is gone — e.g. both were
  SIGKILLed — and then stops the worker: SIGTERM first (rank 0 ends its MLflow run KILLED), and a hard
  exit after a short grace period.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
ORPHAN_GRACE_S = 5.0
POLL_S = 0.5


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


def watch_parent(grace_s: float = ORPHAN_GRACE_S, poll_s: float = POLL_S) -> threading.Thread:
    """Start a daemon thread that stops this process once its parent has exited.

    On orphaning: the job is noted as interrupted (so the MLflow run ends KILLED), the process gets
    SIGTERM (the main thread unwinds: checkpoints are not half-written by a rank that lives on), and
    after `grace_s` seconds it exits hard whatever the main thread is doing.
    """
    parent = os.getppid()

    def run() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        from msvg_bench.core.tracking import note_interrupted

        note_interrupted()
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            time.sleep(grace_s)
            os._exit(143)

    thread = threading.Thread(target=run, name="msvg-parent-watchdog", daemon=True)
    thread.start()
    return thread
