"""Every pre-registered plan in docs/results.md was committed before the results that report it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = "docs/results.md"
PLAN = re.compile(r"^## Pre-registered plan: (?P<name>.+?)(?:, training seeds .*)?$", re.M)


def _first_commit_with(text: str) -> tuple[int, str] | None:
    """(commit time, hash) of the oldest commit whose change to docs/results.md adds or removes `text`."""
    out = subprocess.run(["git", "log", "--reverse", "--format=%ct %H", "-S", text, "--", RESULTS],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return (int(out[0]), out[1]) if out else None


def _ancestor(older: str, newer: str) -> bool:
    return subprocess.run(["git", "merge-base", "--is-ancestor", older, newer], cwd=ROOT).returncode == 0


def test_plans_predate_their_results() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: commit order cannot be read")
    text = (ROOT / RESULTS).read_text(encoding="utf-8")
    plans = [m.group("name") for m in PLAN.finditer(text)]
    assert plans, "docs/results.md holds no pre-registered plan"
    for name in plans:
        plan = _first_commit_with(f"## Pre-registered plan: {name}")
        assert plan is not None, name
        result = _first_commit_with(f"## Results: {name}")
        if result is None:
            continue  # the experiment has not reported yet
        assert plan[1] != result[1] and _ancestor(plan[1], result[1]), f"the results of {name!r} were committed with or before the plan"
