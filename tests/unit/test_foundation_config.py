"""Config resolution: preset < file < key=value overrides < flags; unknown keys are named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from msvg_bench.config import parse_overrides, resolve_config
from msvg_bench.core.errors import ConfigError, UnknownNameError
from msvg_bench.core.schema import config_hash, config_to_yaml, flatten


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_precedence_preset_file_override_flag(tmp_path: Path) -> None:
    config_file = write_yaml(
        tmp_path / "run.yaml", {"seed": 7, "train": {"steps": 11, "lr": 0.5, "micro_batch": 3}}
    )
    cfg = resolve_config(
        config_file,
        overrides=["train.steps=22", "train.lr=0.25"],
        flags={"train.steps": 33, "train.zero": None},
    )
    assert cfg.seed == 7  # file beats default
    assert cfg.train.micro_batch == 3  # file beats preset/default
    assert cfg.train.lr == 0.25  # override beats file
    assert cfg.train.steps == 33  # flag beats override
    assert cfg.train.zero == 2  # a flag left at None does not apply
    assert cfg.train.warmup_steps == 2  # tiny preset value kept when nothing overrides it


def test_preset_selects_section_values() -> None:
    tiny = resolve_config(flags={"preset": "tiny"})
    big = resolve_config(flags={"preset": "cogvideox-2b"})
    assert (tiny.model.num_frames, tiny.model.height, tiny.model.width) == (9, 16, 16)
    assert (big.model.num_frames, big.model.height, big.model.width) == (49, 480, 720)
    assert big.model.dtype == "bf16"


def test_unknown_key_rejected_with_dotted_name(tmp_path: Path) -> None:
    config_file = write_yaml(tmp_path / "bad.yaml", {"train": {"stepz": 3}})
    with pytest.raises(ConfigError, match=r"'train\.stepz': unknown key") as info:
        resolve_config(config_file)
    assert str(config_file) in str(info.value)
    with pytest.raises(ConfigError, match=r"'model\.heigth': unknown key"):
        resolve_config(overrides=["model.heigth=32"])


def test_invalid_value_named() -> None:
    with pytest.raises(ConfigError, match=r"'train\.zero'"):
        resolve_config(overrides=["train.zero=1"])


def test_unknown_preset_suggests() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'tiny'"):
        resolve_config(flags={"preset": "tinny"})


def test_override_syntax_errors() -> None:
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["train.steps"])
    assert parse_overrides(["a.b=[1, 2]", "a.c=true", "d=text"]) == {"a": {"b": [1, 2], "c": True}, "d": "text"}


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve_config(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        resolve_config(tmp_path / "nope.yaml")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        resolve_config(scalar)


def test_printed_config_round_trips_and_hash_is_stable(tmp_path: Path) -> None:
    cfg = resolve_config(overrides=["train.steps=5", "seed=3"])
    dumped = write_yaml(tmp_path / "dump.yaml", yaml.safe_load(config_to_yaml(cfg)))
    again = resolve_config(dumped)
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)
    assert config_hash(resolve_config(overrides=["seed=4"])) != config_hash(resolve_config(overrides=["seed=3"]))
    # tracking settings do not change what results are
    assert config_hash(resolve_config(overrides=["tracking.uri=sqlite:///x.db"])) == config_hash(resolve_config())


def test_flatten_uses_dotted_keys() -> None:
    flat = flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None})
    assert flat == {"a.b": 1, "a.c.d": [1, 2], "e": None}
