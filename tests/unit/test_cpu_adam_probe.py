"""DeepSpeedCPUAdam only when its extension really builds: a failed build falls back to torch AdamW
with `zero_force_ds_cpu_optimizer: false`, and says so (the probe `bench_gpu` and `train --offload` share)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from msvg_bench.launch.config import TrainConfig
from msvg_bench.launch.cpu_adam import offload_optimizer_choice, probe_cpu_adam
from msvg_bench.launch.ds_config import build_ds_config


def test_failed_cpu_adam_build_falls_back_to_torch_adamw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "false")  # the JIT build's compiler fails at once
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    choice = offload_optimizer_choice("cuda", "optimizer")
    assert not choice.available and choice.optimizer == "torch AdamW"
    assert "cpu_adam did not build" in choice.detail
    config = build_ds_config(TrainConfig(zero=2, offload="optimizer"), 1, device="cuda", cpu_adam=choice.available)
    assert config["zero_force_ds_cpu_optimizer"] is False
    assert config["optimizer"]["params"]["torch_adam"] is True
    assert os.environ["TORCH_EXTENSIONS_DIR"] == str(tmp_path / "ext")  # restored
    assert list((tmp_path / "ext").iterdir()) == []  # no build folder (or lock) left behind


def test_unusable_extensions_folder_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(blocker / "ext"))
    choice = probe_cpu_adam()
    assert not choice.available and choice.optimizer == "torch AdamW" and "not usable" in choice.detail


def test_no_probe_without_offload_or_off_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "false")
    for device, offload in (("cuda", "none"), ("cpu", "optimizer")):
        choice = offload_optimizer_choice(device, offload)
        assert choice.optimizer == "torch AdamW" and "no probe needed" in choice.detail


def test_train_offload_on_cuda_runs_torch_adamw_when_cpu_adam_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `train --offload optimizer` on a GPU whose CPUAdam build fails: the engine is built with torch
    # AdamW and `zero_force_ds_cpu_optimizer: false`, and the run says which optimizer it uses.
    # (deepspeed.initialize is replaced: no GPU here; what matters is the config it is handed.)
    import json
    from types import SimpleNamespace

    import deepspeed
    import torch
    from msvg_bench.launch.train_state import Modules, Place
    from msvg_bench.launch.trainable import TrainableCounts
    from msvg_bench.launch.trainer import build_engine

    monkeypatch.setenv("CXX", "false")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    handed: dict[str, dict] = {}

    def fake_initialize(model, model_parameters, config, lr_scheduler):  # noqa: ANN001, ANN202
        handed["config"] = config
        return SimpleNamespace(train=lambda: None), None, None, None

    monkeypatch.setattr(deepspeed, "initialize", fake_initialize)
    setup = SimpleNamespace(train=TrainConfig(zero=2, offload="optimizer", lr_multipliers={}))
    place = Place(rank=0, world=1, device=torch.device("cpu"), device_kind="cuda", out_dir=tmp_path)
    modules = Modules(torch.nn.Linear(2, 2), TrainableCounts(6, 0, 2, 0), bf16=True)
    built = build_engine(setup, None, place, modules, total_steps=10)
    assert handed["config"]["zero_force_ds_cpu_optimizer"] is False
    assert handed["config"]["optimizer"]["params"]["torch_adam"] is True
    assert built.optimizer == "torch AdamW"
    assert json.loads((tmp_path / "deepspeed_config.json").read_text())["zero_force_ds_cpu_optimizer"] is False
    assert "optimizer: torch AdamW (cpu_adam did not build" in capsys.readouterr().out
