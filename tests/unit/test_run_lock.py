"""One command per output folder: a held lock names its holder, a dead holder's lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from msvg_bench.cli import main
from msvg_bench.core.run_lock import FolderLockedError, acquire, folder_lock, lock_path, release

HOLD = """
import sys, time
from msvg_bench.core.run_lock import folder_lock
with folder_lock(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    time.sleep(120)
"""


def hold_in_child(folder: Path, name: str) -> subprocess.Popen:
    """A separate process holding the lock `name` of `folder` (until killed)."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), name], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_live_holder_is_named_and_a_dead_one_is_taken_over(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    child = hold_in_child(folder, "train")
    try:
        with pytest.raises(FolderLockedError) as caught:
            acquire(folder, "train")
        message = str(caught.value)
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(psutil.Process(child.pid).create_time()))
        assert len(message.splitlines()) == 1
        assert f"pid {child.pid} on {socket.gethostname()}" in message and started in message and "folder_lock" in message
        assert json.loads(lock_path(folder, "train").read_text())["pid"] == child.pid  # untouched
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    notes: list[str] = []
    path = acquire(folder, "train", note=notes.append)  # the holder died without releasing: stale
    assert json.loads(path.read_text())["pid"] == os.getpid()
    assert len(notes) == 1 and "stale lock" in notes[0] and f"pid {child.pid}" in notes[0]
    release(path)
    assert not path.exists()


def test_a_reused_pid_does_not_keep_a_lock(tmp_path: Path) -> None:
    """A record naming a live pid with another start time is a dead holder whose pid was reused."""
    path = lock_path(tmp_path, "eval")
    record = {"pid": os.getppid(), "host": socket.gethostname(), "command": "old", "start": 1000.0}
    path.write_text(json.dumps(record))
    with folder_lock(tmp_path, "eval", note=lambda _line: None):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()


RACE = """
import sys, time
from msvg_bench.core.run_lock import FolderLockedError, acquire
try:
    acquire(sys.argv[1], "train")
except FolderLockedError:
    print("refused", flush=True)
else:
    print("won", flush=True)
    time.sleep(120)  # holds the lock until the test has every answer, however slowly the others start
"""


def test_commands_starting_together_get_one_winner(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(tmp_path)], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    try:
        outcomes = sorted(p.stdout.readline().strip() for p in procs)
    finally:
        for p in procs:
            p.kill()
            p.communicate(timeout=60)
    assert outcomes == ["refused", "refused", "refused", "won"]


def test_train_and_eval_refuse_a_held_output_folder(tmp_path: Path, capsys, tracking_uri: str) -> None:  # noqa: ANN001
    run, out = tmp_path / "run", tmp_path / "eval"
    holders = [hold_in_child(run, "train"), hold_in_child(out, "eval")]
    try:
        assert main(["train", "--stage", "mlp", "--preset", "tiny", "--steps", "1", "-o", str(run)]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"{run}: in use by another command (pid {holders[0].pid} on " in err
        assert [p.name for p in run.iterdir()] == [".msvg-train.lock"]  # nothing of the second command was written
        assert main(["eval", "--suite", "synthetic", "--videos", str(tmp_path / "videos"), "--method", "x", "-o", str(out)]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"{out}: in use by another command (pid {holders[1].pid} on " in err
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()


def test_a_lock_is_not_reentrant(tmp_path: Path) -> None:
    with folder_lock(tmp_path, "train"), pytest.raises(FolderLockedError, match=f"pid {os.getpid()} "):
        acquire(tmp_path, "train")
    assert not lock_path(tmp_path, "train").exists()


def test_a_record_cut_short_by_a_kill_names_nobody(tmp_path: Path) -> None:
    lock_path(tmp_path, "train").write_text('{"pid": 12')  # killed while writing its record
    with folder_lock(tmp_path, "train", note=lambda _line: None) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
