"""Step callbacks for training fault drills (`train.step_callbacks`); workers import this module from
the tests folder put on PYTHONPATH by the test that uses it."""

from __future__ import annotations

import os
import signal


def kill_rank1_before_step5(rank: int, step: int) -> None:
    """SIGKILL rank 1 just before its 5th optimizer step (a worker dying mid-run)."""
    if rank == 1 and step == 5:
        os.kill(os.getpid(), signal.SIGKILL)
