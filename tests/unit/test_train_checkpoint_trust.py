"""Checkpoint manifests: incomplete checkpoints are passed over, unverified ones are not unpickled, and a
failed save (full disk) is reported with its cause and path and never resumed from."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch
from msvg_bench.cli import main
from msvg_bench.config import resolve_config
from msvg_bench.core.errors import ConfigError
from msvg_bench.core.schema import config_to_dict, flatten
from msvg_bench.launch.checkpoint import META_NAME, CheckpointSaveError, resolve_resume, save_checkpoint, tag_for_step
from msvg_bench.launch.checkpoint_files import file_manifest

MODEL = "mp_rank_00_model_states.pt"
OPTIM = "zero_pp_rank_0_mp_rank_00_optim_states.pt"
FLAGS = {"preset": "tiny", "train.stage": "mlp"}


class Payload:
    """What a hostile checkpoint carries: unpickling it creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (open, (str(self.marker), "w"))


def saved(ckpt: Path, step: int, meta: dict | None = None) -> Path:
    """A checkpoint folder as `save_checkpoint` leaves it: files, then metadata listing them."""
    folder = ckpt / tag_for_step(step)
    folder.mkdir(parents=True)
    torch.save({"module": {"w": torch.arange(8.0)}}, folder / MODEL)
    torch.save({"optimizer_state_dict": {"m": torch.zeros(8)}}, folder / OPTIM)
    torch.save({"format": 2}, folder / "rng_rank0.pt")
    record = {"step": step, "world_size": 1, **(meta or {}), "files": file_manifest(folder, META_NAME)}
    (folder / META_NAME).write_text(json.dumps(record))
    return folder


def test_latest_passes_over_a_checkpoint_missing_its_optimizer_states(tmp_path: Path) -> None:
    ckpt = tmp_path / "run" / "checkpoints"
    two = saved(ckpt, 2)
    four = saved(ckpt, 4)
    (four / OPTIM).unlink()
    skipped: list[str] = []
    assert resolve_resume("latest", tmp_path / "run", skipped) == two
    assert skipped == [f"{four / OPTIM}: missing (the checkpoint's metadata lists it); the checkpoint is incomplete; "
                       "resuming from step_00000002 instead"]
    with pytest.raises(ConfigError, match=f"{four / OPTIM}: missing"):
        resolve_resume(str(four), tmp_path)


def test_a_changed_or_extra_file_is_refused_without_trust(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    folder = saved(tmp_path / "checkpoints", 2)
    torch.save({"module": Payload(marker)}, folder / "mp_rank_01_model_states.pt")
    with pytest.raises(ConfigError, match=r"mp_rank_01_model_states.pt: not in the checkpoint's manifest"):
        resolve_resume(str(folder), tmp_path)
    (folder / "mp_rank_01_model_states.pt").unlink()
    torch.save({"module": Payload(marker)}, folder / MODEL)  # same name, other content
    with pytest.raises(ConfigError, match=rf"{folder / MODEL}: .*changed since it was saved.*--trust-checkpoint"):
        resolve_resume(str(folder), tmp_path)
    assert resolve_resume(str(folder), tmp_path, trust=True) == folder  # the user's explicit call
    assert not marker.exists()


def test_resume_from_a_crafted_checkpoint_runs_no_code(tmp_path: Path, capsys, tracking_uri: str) -> None:  # noqa: ANN001
    """A checkpoint folder dropped into the run folder, metadata compatible with the command: refused, unpickled by nobody."""
    run = tmp_path / "run"
    marker = tmp_path / "code-ran"
    folder = run / "checkpoints" / tag_for_step(1)
    folder.mkdir(parents=True)
    torch.save({"module": Payload(marker)}, folder / MODEL)
    torch.save({"optimizer_state_dict": Payload(marker)}, folder / OPTIM)
    config = flatten(config_to_dict(resolve_config(flags=FLAGS)))
    (folder / META_NAME).write_text(json.dumps({"step": 1, "world_size": 1, "num_samples": 64, "config": config}))
    code = main(["train", "--stage", "mlp", "--preset", "tiny", "--steps", "2", "--resume", "latest", "-o", str(run)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1, err
    assert f"{folder}: no file manifest in {META_NAME}" in err and "--trust-checkpoint" in err
    assert not marker.exists()
    assert not (run / "logs").exists()  # refused before any worker started


class FullDiskEngine:
    """A DeepSpeed engine whose save hits a full disk after writing part of a file."""

    def save_checkpoint(self, save_dir: str, tag: str, **_kwargs: object) -> None:
        target = Path(save_dir) / tag / MODEL
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"PK\x03\x04 half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))


def test_a_full_disk_at_save_names_the_cause_and_leaves_nothing_to_resume(tmp_path: Path) -> None:
    ckpt = tmp_path / "run" / "checkpoints"
    two = saved(ckpt, 2)
    config = resolve_config(flags=FLAGS)
    with pytest.raises(CheckpointSaveError) as caught:
        save_checkpoint(FullDiskEngine(), ckpt, 3, None, config.record(), 64, config.train.keep_checkpoints)
    message = str(caught.value)
    assert f"could not save the step-3 checkpoint: No space left on device [ENOSPC]: {ckpt / tag_for_step(3) / MODEL}" in message
    assert not (ckpt / tag_for_step(3)).exists()
    assert resolve_resume("latest", tmp_path / "run") == two


class TorchWriterEngine:
    """torch's zip writer reports a full disk as a RuntimeError without an errno."""

    def save_checkpoint(self, save_dir: str, tag: str, **_kwargs: object) -> None:
        (Path(save_dir) / tag).mkdir(parents=True, exist_ok=True)
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0")


def test_a_torch_writer_failure_on_a_full_file_system_reads_as_enospc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    ckpt = tmp_path / "checkpoints"
    config = resolve_config(flags=FLAGS)
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: shutil._ntuple_diskusage(10 << 30, 10 << 30, 4096))  # full
    with pytest.raises(CheckpointSaveError, match=rf"No space left on device \[ENOSPC\] \(0 MiB free\): {ckpt / tag_for_step(5)}$"):
        save_checkpoint(TorchWriterEngine(), ckpt, 5, None, config.record(), 64, config.train.keep_checkpoints)
    monkeypatch.undo()  # plenty of space: the writer's own words
    with pytest.raises(CheckpointSaveError, match=r"step-5 checkpoint: RuntimeError: \[enforce fail at inline_container.cc:603\]"):
        save_checkpoint(TorchWriterEngine(), ckpt, 5, None, config.record(), 64, config.train.keep_checkpoints)
    assert not (ckpt / tag_for_step(5)).exists()


def test_a_worker_error_reaches_the_launcher_when_its_error_file_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from msvg_bench.launch.failure_report import ERROR_CHANNEL_ENV, ErrorChannel, failure_message
    from msvg_bench.train_worker import _report, error_file

    real_write_text = Path.write_text

    def full_disk(self: Path, *args: object, **kwargs: object) -> int:
        if self.name.startswith("error_rank"):
            real_write_text(self, "")  # created, then the write fails: what a full disk leaves
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write_text(self, *args, **kwargs)

    channel = ErrorChannel()
    try:
        monkeypatch.setenv(ERROR_CHANNEL_ENV, channel.env_value())
        monkeypatch.setattr(Path, "write_text", full_disk)
        line = "/runs/x/checkpoints/step_00000003: could not save the step-3 checkpoint: No space left on device [ENOSPC]: /runs/x/f.pt"
        _report(tmp_path, 0, line)
        monkeypatch.undo()
        assert not error_file(tmp_path, 0).exists()  # no empty file that reads as "no message"
        log = tmp_path / "launcher.log"
        log.write_text("Root Cause (first observed failure):\n[0]:\n  rank      : 0 (local_rank: 0)\n  exitcode  : 1 (pid: 7)\n")
        assert failure_message(tmp_path, 1, log, channel.received()) == f"{line} (rank 0; logs in {tmp_path / 'logs'})"
    finally:
        channel.close()
    error_file(tmp_path, 0).parent.mkdir(parents=True, exist_ok=True)
    error_file(tmp_path, 0).write_text("")  # an empty error file and nothing sent: never an empty message
    assert failure_message(tmp_path, 1, log).startswith("training failed (torchrun exit code 1)")


SHARED = """
import json, sys
import torch.distributed as dist
from msvg_bench.launch.checkpoint_files import shared_manifest
dist.init_process_group("gloo", init_method=f"file://{sys.argv[2]}", rank=int(sys.argv[3]), world_size=2)
print(json.dumps(shared_manifest(sys.argv[1], "msvg_meta.json")))
dist.destroy_process_group()
"""


def test_ranks_share_the_hashing_and_rank_0_gets_the_whole_manifest(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = saved(tmp_path / "checkpoints", 2)
    store = tmp_path / "store"
    procs = [subprocess.Popen([sys.executable, "-c", SHARED, str(folder), str(store), str(rank)], stdout=subprocess.PIPE, text=True)
             for rank in (0, 1)]
    outputs = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert outputs[0] == json.loads((folder / META_NAME).read_text())["files"] and len(outputs[0]) == 3
    assert outputs[1] == {}
