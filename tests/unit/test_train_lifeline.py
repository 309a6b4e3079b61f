"""Orphaned workers end the job's MLflow run KILLED even when rank 0 cannot.

Reproduces what a SIGKILL of the launcher's process group can leave: rank 0 blocked inside a
collective (native code that never returns to the interpreter, so its SIGTERM handler never runs),
or killed in native code outright, when its parent disappears. Here a worker's main thread blocks
SIGTERM and sleeps in libc, its parent is SIGKILLed, and the parent-death watchdog must end the run
before it exits the process hard; and a worker without the run (another rank) ends it through its
orphan hook.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

WORKER = textwrap.dedent(
    """
    import ctypes, signal, sys
    from msvg_bench.core.tracking import Tracker
    from msvg_bench.launch.lifeline import watch_parent

    with Tracker("train", tracking_uri=sys.argv[1], enabled=True) as run:
        watch_parent(grace_s=2.0, poll_s=0.1)
        print(run.run_id, flush=True)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # SIGTERM lands on another thread
        ctypes.CDLL(None).sleep(120)  # native code: the interpreter's signal handler cannot run here
    """
)

OTHER_RANK = textwrap.dedent(
    """
    import ctypes, signal, sys
    from pathlib import Path
    from msvg_bench.launch.launcher import mark_killed
    from msvg_bench.train_worker import ORPHAN_HOOK_MODULES, preload

    preload(ORPHAN_HOOK_MODULES)  # as the training worker does on ranks other than 0
    from msvg_bench.launch.lifeline import watch_parent

    hooks = []
    watch_parent(grace_s=4.0, poll_s=0.1, on_orphaned=hooks)
    hooks.append(lambda: mark_killed(sys.argv[1], Path(sys.argv[2])))  # appended after the watchdog started
    print("-", flush=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    ctypes.CDLL(None).sleep(120)
    """
)

WATCHES_LAUNCHER = textwrap.dedent(
    """
    import ctypes, signal, sys
    from msvg_bench.launch.lifeline import watch_parent

    watch_parent(grace_s=2.0, poll_s=0.1, launcher_pid=int(sys.argv[1]))
    print("-", flush=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    ctypes.CDLL(None).sleep(120)
    """
)

LINGERING_PARENT = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # like torchrun waiting out a stuck rank
    child = subprocess.Popen([sys.executable, "-c", *sys.argv[1:]], stdout=sys.stdout)
    print(child.pid, flush=True)
    time.sleep(120)
    """
)

PARENT = textwrap.dedent(
    """
    import subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", *sys.argv[1:]], stdout=sys.stdout)
    print(child.pid, flush=True)
    child.wait()
    """
)


@contextmanager
def orphanable(script: str, *args: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """`script` in a grandchild of this process (its parent waits on it): (parent, grandchild pid)."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, script, *args], stdout=subprocess.PIPE, text=True)
    try:
        yield parent, int(parent.stdout.readline())
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.stdout.close()


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie or a process gone meanwhile does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def orphan_and_wait(parent: subprocess.Popen, worker_pid: int) -> None:
    """SIGKILL the worker's parent, then wait until the orphaned worker has exited (at most 15 s)."""
    time.sleep(0.5)  # the worker is now inside the native sleep
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 15
    while alive(worker_pid):
        assert time.monotonic() < deadline, "the orphaned worker did not exit"
        time.sleep(0.1)


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death handling is Linux-only")


@pytest.mark.slow
def test_stuck_orphan_ends_its_run_killed_and_exits(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with orphanable(WORKER, uri) as (parent, worker_pid):
        run_id = parent.stdout.readline().strip()
        assert len(run_id) == 32
        client = MlflowClient(uri)
        assert client.get_run(run_id).info.status == "RUNNING"
        orphan_and_wait(parent, worker_pid)
        assert client.get_run(run_id).info.status == "KILLED"


def test_another_rank_ends_the_job_run_through_its_orphan_hook(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("t")).info.run_id  # rank 0's run, left RUNNING
    (tmp_path / "mlflow_run_id").write_text(run_id + "\n")
    with orphanable(OTHER_RANK, uri, str(tmp_path)) as (parent, worker_pid):
        assert parent.stdout.readline().strip() == "-"
        orphan_and_wait(parent, worker_pid)
        assert client.get_run(run_id).info.status == "KILLED"


def test_worker_stops_when_the_launcher_dies_though_its_parent_lingers() -> None:
    """torchrun may wait 30 s on a stuck rank: the worker watches the launcher itself, and the
    launcher's last resort (`kill_tree`) takes the lingering parent down."""
    from msvg_bench.launch.lifeline import kill_tree

    launcher = subprocess.Popen(["sleep", "120"])
    parent = subprocess.Popen([sys.executable, "-c", LINGERING_PARENT, WATCHES_LAUNCHER, str(launcher.pid)],
                              stdout=subprocess.PIPE, text=True)
    try:
        worker_pid = int(parent.stdout.readline())
        assert parent.stdout.readline().strip() == "-"
        time.sleep(1.0)
        assert alive(worker_pid), "the worker stopped while its launcher was alive"
        launcher.kill()
        launcher.wait(timeout=10)
        stopped_at = time.monotonic()
        while alive(worker_pid):
            assert time.monotonic() - stopped_at < 8, "the worker outlived its launcher"
            time.sleep(0.1)
        assert parent.poll() is None  # the parent ignored everything and lingers ...
        kill_tree(parent.pid)
        assert parent.wait(timeout=10) == -signal.SIGKILL  # ... until the launcher's last resort
    finally:
        for proc in (launcher, parent):
            if proc.poll() is None:
                proc.kill()
        parent.stdout.close()
