"""`msvg-bench train` / `plan` flags resolve into the config; pre-flight errors are one line."""

from __future__ import annotations

from pathlib import Path

import yaml
from msvg_bench.cli import app, main
from typer.testing import CliRunner


def test_train_flags_map_to_the_config(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["train", "--stage", "extractor", "--zero", "3", "--offload", "full", "--nproc-per-node", "4", "--nnodes", "2",
         "--master-addr", "10.1.2.3", "--master-port", "29600", "--data", str(tmp_path), "--steps", "7",
         "--micro-batch", "2", "--grad-accum", "3", "--resume", "latest", "--checkpoint-every", "5", "-o", str(tmp_path / "run"),
         "--print-config", "train.keep_checkpoints=4"],
    )
    assert result.exit_code == 0, result.output
    cfg = yaml.safe_load(result.output.split("# config_hash")[0])
    train = cfg["train"]
    assert (train["stage"], train["zero"], train["offload"], train["nproc_per_node"], train["nnodes"]) == ("extractor", 3, "full", 4, 2)
    assert (train["master_addr"], train["master_port"], train["steps"], train["micro_batch"], train["grad_accum"]) == ("10.1.2.3", 29600, 7, 2, 3)
    assert (train["resume"], train["checkpoint_every"], train["keep_checkpoints"]) == ("latest", 5, 4)
    assert cfg["data"]["root"] == str(tmp_path)


def test_invalid_offload_is_a_one_line_config_error(capsys) -> None:  # noqa: ANN001
    assert main(["train", "--zero", "2", "--offload", "full", "--print-config"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs ZeRO stage 3" in err


def test_bad_hostfile_is_reported_before_any_worker_starts(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    hostfile = tmp_path / "hosts"
    hostfile.write_text("node-a slots=2\nnode-a slots=2\n")
    assert main(["train", "--stage", "mlp", "--hostfile", str(hostfile), "-o", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: {hostfile}:2: host 'node-a' is listed twice"
    assert not (tmp_path / "run").exists()


def test_commands_are_in_the_training_panel() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert "train" in result.output and "plan" in result.output and "Training" in result.output
