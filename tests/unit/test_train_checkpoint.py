"""Checkpoint folders: resume resolution, completeness, retention and config compatibility."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msvg_bench.config import config_to_dict, flatten, resolve_config
from msvg_bench.errors import ConfigError
from msvg_bench.launch.checkpoint import (
    META_NAME,
    check_compatible,
    complete_checkpoints,
    prune_checkpoints,
    resolve_resume,
    tag_for_step,
)


def _make(ckpt: Path, step: int, complete: bool = True) -> Path:
    folder = ckpt / tag_for_step(step)
    folder.mkdir(parents=True)
    if complete:
        (folder / META_NAME).write_text(json.dumps({"step": step}))
    return folder


def test_latest_ignores_incomplete_saves(tmp_path: Path) -> None:
    ckpt = tmp_path / "run" / "checkpoints"
    _make(ckpt, 3)
    six = _make(ckpt, 6)
    _make(ckpt, 9, complete=False)  # interrupted save
    assert resolve_resume("latest", tmp_path / "run") == six
    assert resolve_resume(str(tmp_path / "run"), tmp_path / "elsewhere") == six
    assert resolve_resume(str(ckpt), tmp_path / "elsewhere") == six
    assert resolve_resume(str(ckpt / tag_for_step(3)), tmp_path) == ckpt / tag_for_step(3)


def test_resume_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no complete checkpoint"):
        resolve_resume("latest", tmp_path)
    with pytest.raises(ConfigError, match="checkpoint not found"):
        resolve_resume(str(tmp_path / "missing"), tmp_path)


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    ckpt = tmp_path / "checkpoints"
    for step in (2, 4, 6, 8):
        _make(ckpt, step)
    _make(ckpt, 5, complete=False)
    prune_checkpoints(ckpt, keep=2)
    assert [p.name for p in complete_checkpoints(ckpt)] == [tag_for_step(6), tag_for_step(8)]
    assert not (ckpt / tag_for_step(5)).exists()


def test_compatibility_names_the_differing_keys(tmp_path: Path) -> None:
    base = flatten(config_to_dict(resolve_config(flags={"train.lr": 1e-3})))
    meta = {"config": base, "world_size": 2}
    longer = flatten(config_to_dict(resolve_config(flags={"train.lr": 1e-3, "train.steps": 99, "train.resume": "latest"})))
    check_compatible(meta, longer, 2, tmp_path)  # length and resume flags may change
    other = flatten(config_to_dict(resolve_config(flags={"train.lr": 5e-4})))
    with pytest.raises(ConfigError, match=r"another config: train\.lr \(0\.001 -> 0\.0005\)"):
        check_compatible(meta, other, 2, tmp_path)
    with pytest.raises(ConfigError, match="written by 2 ranks, this job has 4"):
        check_compatible(meta, longer, 4, tmp_path)
