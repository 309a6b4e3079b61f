"""Checkpoint folders: resume resolution, completeness, retention and config compatibility."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from msvg_bench.config import resolve_config
from msvg_bench.core.errors import ConfigError
from msvg_bench.core.schema import config_to_dict, flatten
from msvg_bench.launch.checkpoint import (
    META_NAME,
    check_compatible,
    complete_checkpoints,
    prune_checkpoints,
    resolve_resume,
    tag_for_step,
)


def _make(ckpt: Path, step: int, complete: bool = True, manifest: bool = True) -> Path:
    """A checkpoint folder as `save_checkpoint` leaves it (metadata with its file manifest, written last)."""
    import torch
    from msvg_bench.launch.checkpoint_files import file_manifest

    folder = ckpt / tag_for_step(step)
    folder.mkdir(parents=True)
    torch.save({"w": torch.arange(64.0)}, folder / "mp_rank_00_model_states.pt")
    torch.save({"m": torch.zeros(8)}, folder / "zero_pp_rank_0_mp_rank_00_optim_states.pt")
    if complete:
        meta = {"step": step, **({"files": file_manifest(folder, META_NAME)} if manifest else {})}
        (folder / META_NAME).write_text(json.dumps(meta))
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


def test_latest_falls_back_past_a_damaged_checkpoint_and_says_why(tmp_path: Path) -> None:
    ckpt = tmp_path / "run" / "checkpoints"
    three = _make(ckpt, 3)
    six = _make(ckpt, 6)
    damaged = six / "mp_rank_00_model_states.pt"
    import torch

    data = bytearray(damaged.read_bytes())
    data[data.index(torch.arange(64.0).numpy().tobytes()) + 100] ^= 0xFF  # one flipped byte inside the stored tensor
    damaged.write_bytes(bytes(data))
    skipped: list[str] = []
    assert resolve_resume("latest", tmp_path / "run", skipped) == three
    assert len(skipped) == 1
    assert skipped[0].startswith(f"{damaged}: content differs from the checkpoint's manifest (sha256; damaged or changed")
    assert skipped[0].endswith("resuming from step_00000003 instead")
    # truncated: shorter than its manifest lists
    (three / "mp_rank_00_model_states.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ConfigError, match=r"no readable checkpoint to resume from .*step_00000006.*content differs"):
        resolve_resume("latest", tmp_path / "run")
    with pytest.raises(ConfigError, match=r"step_00000003/mp_rank_00_model_states.pt: 14 bytes, the checkpoint's manifest lists \d+ \(damaged"):
        resolve_resume(str(three), tmp_path)


def test_trusted_checkpoint_without_manifest_still_gets_its_archives_checked(tmp_path: Path) -> None:
    ckpt = tmp_path / "run" / "checkpoints"
    three = _make(ckpt, 3, manifest=False)
    assert resolve_resume("latest", tmp_path / "run", trust=True) == three
    damaged = three / "mp_rank_00_model_states.pt"
    import torch

    data = bytearray(damaged.read_bytes())
    data[data.index(torch.arange(64.0).numpy().tobytes()) + 100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=r"mp_rank_00_model_states.pt: damaged checkpoint file \(CRC mismatch in mp_rank_00_model_states/data/0\)"):
        resolve_resume(str(three), tmp_path, trust=True)


def test_rng_state_round_trips_without_unpickling_objects(tmp_path: Path) -> None:
    import pickle
    import random

    import numpy as np
    import torch
    from msvg_bench.launch.rng_state import load_rng_state
    from msvg_bench.launch.rng_state import rng_state as _rng_state
    from msvg_bench.launch.rng_state import set_rng_state as _set_rng_state

    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    random.random(), np.random.normal(), torch.rand(1)
    torch.save(_rng_state(), tmp_path / "rng_rank0.pt")
    expected = (random.random(), float(np.random.normal()), float(torch.rand(1)))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    _set_rng_state(load_rng_state(tmp_path / "rng_rank0.pt"))
    assert (random.random(), float(np.random.normal()), float(torch.rand(1))) == expected

    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):  # noqa: ANN204 - what a hostile checkpoint would carry
            return (marker.write_text, ("pwned",))

    with open(tmp_path / "rng_rank1.pt", "wb") as handle:
        pickle.dump({"format": 2, "python": Payload()}, handle)
    with pytest.raises(ConfigError, match="rng_rank1.pt: unreadable RNG state"):
        load_rng_state(tmp_path / "rng_rank1.pt")
    assert not marker.exists()
