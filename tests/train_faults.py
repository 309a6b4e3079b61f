"""Step callbacks for training fault drills (`train.step_callbacks`); workers import this module from
the tests folder put on PYTHONPATH by the test that uses it."""

from __future__ import annotations

import os
import signal


def kill_rank1_before_step5(rank: int, step: int) -> None:
    """SIGKILL rank 1 just before its 5th optimizer step (a worker dying mid-run)."""
    if rank == 1 and step == 5:
        os.kill(os.getpid(), signal.SIGKILL)


def disk_full_from_step3(rank: int, step: int) -> None:
    """From the 3rd optimizer step on, every write into the run folder fails with ENOSPC (a full disk):
    `torch.save` and Python-level file opens for writing. Files opened before (torchrun's logs) keep working."""
    if step != 3:
        return
    import builtins
    import errno
    import io
    import sys
    from pathlib import Path

    import torch

    run_dir = str(Path(sys.argv[sys.argv.index("--config") + 1]).resolve().parent)
    real_open, real_save = builtins.open, torch.save

    def full(path: object) -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    def in_run(path: object) -> bool:
        return isinstance(path, (str, os.PathLike)) and os.path.abspath(os.fspath(path)).startswith(run_dir)

    def open_full(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if in_run(file) and any(flag in mode for flag in "wax+"):
            raise full(file)
        return real_open(file, mode, *args, **kwargs)

    def save_full(obj: object, f: object, *args: object, **kwargs: object) -> None:
        if in_run(f):
            raise full(f)
        real_save(obj, f, *args, **kwargs)

    builtins.open = io.open = open_full
    torch.save = save_full
