"""Checks made before any worker starts: the process count against the node, one global batch of data."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from msvg_bench.cli import main
from msvg_bench.core.errors import ConfigError
from msvg_bench.launch.preflight import check_process_count


def test_more_processes_than_the_node_has_need_oversubscribe() -> None:
    cpus = os.cpu_count() or 1
    check_process_count(cpus, "cpu", oversubscribe=False)
    with pytest.raises(ConfigError, match=rf"--nproc-per-node {cpus + 1}: this node has {cpus} CPU\(s\) .* --oversubscribe"):
        check_process_count(cpus + 1, "cpu", oversubscribe=False)
    check_process_count(cpus + 1, "cpu", oversubscribe=True)


def test_gpu_count_is_the_visible_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_process_count(2, "cuda", oversubscribe=False)
    with pytest.raises(ConfigError, match=r"this node has 2 visible GPU\(s\) for cuda training"):
        check_process_count(3, "cuda", oversubscribe=False)


def test_too_many_ranks_for_the_data_fail_before_launch(tmp_path: Path, capsys, tracking_uri: str) -> None:  # noqa: ANN001
    run = tmp_path / "run"
    started = time.monotonic()
    code = main(["train", "--stage", "mlp", "--preset", "tiny", "train.mlp_samples=16", "--nproc-per-node", "17",
                 "--oversubscribe", "-o", str(run)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1, err
    assert "the data set has 16 samples, fewer than one global batch (1 micro x 1 accum x 17 ranks = 17)" in err
    assert time.monotonic() - started < 30 and not run.exists()  # no worker was started, nothing left behind


def test_the_cli_refuses_more_processes_than_cpus(tmp_path: Path, capsys, tracking_uri: str) -> None:  # noqa: ANN001
    cpus = os.cpu_count() or 1
    code = main(["train", "--stage", "mlp", "--preset", "tiny", "--device", "cpu", "--nproc-per-node", str(cpus + 1),
                 "-o", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err == (f"error: --nproc-per-node {cpus + 1}: this node has {cpus} CPU(s) for cpu training; "
                                 "use at most that many, or pass --oversubscribe")


@pytest.fixture(scope="module")
def cached_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from train_reference import make_cached_dataset

    return make_cached_dataset(tmp_path_factory.mktemp("data"), stories=2, scenes=3)


@pytest.mark.parametrize("stage", ["extractor", "joint", "mlp"])
def test_the_count_made_before_launch_is_the_data_set_size(cached_data: Path, stage: str) -> None:
    """What the launcher counts must be what the workers build, or the pre-launch check is wrong."""
    from msvg_bench.config import resolve_config
    from msvg_bench.launch.recipes import get_recipe

    cfg = resolve_config(flags={"preset": "tiny", "train.stage": stage, "data.root": str(cached_data), "train.mlp_samples": 5}).training().setup
    recipe = get_recipe(stage)
    assert recipe.num_samples(cfg) == len(recipe.dataset(cfg))
