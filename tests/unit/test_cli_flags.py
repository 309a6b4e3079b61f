"""One output flag for every command that writes (`--out`/`-o`; the old `--output-dir` still works
but is not advertised), and no type column for on/off flags in `--help`."""

from __future__ import annotations

import pytest
from msvg_bench.cli import main


@pytest.mark.parametrize("command, key", [(["train"], "output_dir"), (["eval"], "output_dir")])
@pytest.mark.parametrize("flag", ["--out", "-o", "--output-dir"])
def test_output_flag_spellings(command: list[str], key: str, flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, flag, "somewhere/run", "--print-config"]) == 0
    assert f"{key}: somewhere/run" in capsys.readouterr().out


@pytest.mark.parametrize(
    "command", [["generate"], ["compare"], ["data", "synth"], ["data", "prepare"], ["eval"], ["train"], ["demo"]]
)
def test_help_shows_out_and_no_bool_metavars(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "--out" in text and "-o" in text
    assert "--output-dir" not in text
    assert "<bool>" not in text
