"""A rank that finishes before its background preload has imported the orphan hook's modules waits
for it: the interpreter must not shut down under a thread that is importing native modules (that
aborts the rank with "terminate called without an active exception", failing a finished run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_a_finished_rank_exits_only_after_its_preload(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "slow_native_stand_in.py").write_text(
        f"import time\ntime.sleep(3)\nopen({str(marker)!r}, 'w').write('done')\n", encoding="utf-8"
    )
    script = textwrap.dedent(f"""
        import os, sys, types
        sys.path.insert(0, {str(tmp_path)!r})
        os.environ["RANK"] = "1"
        import msvg_bench.train_worker as worker
        worker.ORPHAN_HOOK_MODULES = ("slow_native_stand_in",)
        worker.load_worker_config = lambda path: types.SimpleNamespace(train=types.SimpleNamespace(output_dir={str(tmp_path)!r}))
        worker._run = lambda config, rank, parent: 0  # a run that is over at once
        sys.exit(worker.main(["--config", "unused.yaml"]))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert marker.read_text() == "done"  # the preload finished before the process ended


def test_rank_0_runs_its_exit_hooks_and_skips_the_interpreter_teardown(tmp_path: Path) -> None:
    """Rank 0 keeps MLflow's / logging's exit hooks (an atexit hook runs, its exit code stays) but does
    not wait for the interpreter's teardown (a module global's finalizer, standing in for native
    libraries' slow teardown, does not run)."""
    hook, teardown = tmp_path / "hook", tmp_path / "teardown"
    script = textwrap.dedent(f"""
        import atexit, os
        os.environ["RANK"] = "0"
        import msvg_bench.train_worker as worker

        FD = os.open({str(teardown)!r}, os.O_WRONLY | os.O_CREAT)

        class SlowTeardown:
            def __del__(self, write=os.write, fd=FD):  # bound now: builtins may be gone at teardown
                write(fd, b"ran")

        KEEP = SlowTeardown()
        atexit.register(lambda: open({str(hook)!r}, "w").write("ran"))
        print("finished", flush=False)
        worker.exit_rank(3)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert proc.stdout.strip() == "finished"  # flushed
    assert hook.read_text() == "ran"
    assert teardown.read_text() == ""  # created before exit, never written: no teardown
