"""The start-up timeline a training rank records: process starts from the OS, stage ends in order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from msvg_bench.launch.lifeline import LAUNCHER_PID_ENV
from msvg_bench.launch.timeline import Timeline, process_start

WORKER = """
import json, time
from msvg_bench.launch.timeline import Timeline
timeline = Timeline.of_this_worker()
time.sleep(0.3)
timeline.mark("imports")
print(json.dumps({"marks": timeline.marks, "offsets": timeline.offsets()}))
"""


def run_worker(launcher_pid: str) -> dict:
    env = {**os.environ, LAUNCHER_PID_ENV: launcher_pid}
    out = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, text=True, env=env, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_worker_timeline_starts_at_the_launcher_and_keeps_stage_order() -> None:
    before = time.time()
    launcher = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(1.0)  # the launcher starts clearly before this test's worker
        got = run_worker(str(launcher.pid))
    finally:
        launcher.kill()
        launcher.wait()
    marks, offsets = got["marks"], got["offsets"]
    assert list(marks) == ["launcher_start", "torchrun_start", "worker_start", "imports"]
    assert offsets["launcher_start"] == 0.0  # the origin
    assert before - 0.5 <= marks["launcher_start"] <= marks["worker_start"]
    # this test process is the worker's parent (torchrun's place); it started before the launcher
    assert offsets["torchrun_start"] < 0
    assert offsets["worker_start"] >= 0.8  # the worker started about 1 s after the launcher
    assert offsets["imports"] - offsets["worker_start"] >= 0.3


def test_a_gone_launcher_leaves_no_launcher_start() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert process_start(gone.pid) is None
    got = run_worker(str(gone.pid))
    assert "launcher_start" not in got["marks"] and "worker_start" in got["marks"]
    assert min(got["offsets"].values()) == 0.0


def test_empty_timeline_has_no_offsets() -> None:
    assert Timeline().offsets() == {}
