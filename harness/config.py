"""The resolved run configuration: preset < YAML file < key=value overrides < CLI flags.

Every command resolves one `Config`; it is what `--print-config` prints, what MLflow logs as
params, and what `config_hash` identifies.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from msvg_bench.benchmarks.config import DataConfig
from msvg_bench.core.errors import ConfigError
from msvg_bench.core.registry import Registry
from msvg_bench.core.schema import ConfigRecord, StrictModel, config_to_dict
from msvg_bench.core.yaml_safe import load_yaml
from msvg_bench.eval.config import EvalConfig
from msvg_bench.launch.config import TrainConfig, TrainJob, TrainSetup
from msvg_bench.models.config import GenerateConfig, GenerationSettings, ModelConfig
from msvg_bench.presets import build_presets
from pydantic import Field, ValidationError, model_validator


class TrackingConfig(StrictModel):
    """Where runs are logged (None: $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db)."""

    uri: str | None = None
    run_name: str | None = None


class Config(StrictModel):
    """The whole resolved configuration of one job."""

    preset: str = "tiny"
    seed: int = 42
    model: ModelConfig = Field(default_factory=ModelConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @model_validator(mode="after")
    def _world_encoder_paths(self) -> Config:
        """With `model.world_dir`, the `world-clip` encoder and the `world` detector load from its `clip/` and
        `detector/` unless paths are given."""
        if self.model.world_dir is not None and "world-clip" not in self.eval.encoder_paths:
            self.eval.encoder_paths["world-clip"] = Path(self.model.world_dir) / "clip"
        if self.model.world_dir is not None and self.eval.detector == "world" and self.eval.detector_path is None:
            self.eval.detector_path = Path(self.model.world_dir) / "detector"
        return self

    def record(self) -> ConfigRecord:
        """This config as runs and checkpoints record it (plain form, seed, preset, tracking settings)."""
        return ConfigRecord(
            tree=config_to_dict(self), seed=self.seed, preset=self.preset, tracking_uri=self.tracking.uri, run_name=self.tracking.run_name
        )

    def training(self) -> TrainJob:
        """What training reads (`launch`): the sections of `TrainSetup` and this config's record."""
        setup = TrainSetup(seed=self.seed, model=self.model, data=self.data, train=self.train, generate=self.generate)
        return TrainJob(setup=setup, record=self.record())

    def generation(self) -> GenerationSettings:
        """The sections generation reads (`models.pipelines`): model, generate and the seed."""
        return GenerationSettings(model=self.model, generate=self.generate, seed=self.seed)


PRESETS: Registry[dict[str, Any]] = build_presets()
"""name -> {section: values}: the section presets and every model family's (`msvg_bench.presets`)."""


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """Turn `a.b=value` strings into a nested dict; values are parsed as YAML scalars/lists."""
    tree: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value (dotted keys, e.g. train.steps=10)")
        try:
            value = load_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        set_dotted(tree, key, value)
    return tree


def set_dotted(tree: dict[str, Any], dotted_key: str, value: Any) -> None:
    """Set `tree[a][b][c] = value` for `dotted_key` 'a.b.c', creating levels as needed."""
    parts = dotted_key.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key {dotted_key!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `update` merged in recursively (mappings merge, other values replace)."""
    merged = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML config file into a mapping, with one-line errors naming the file."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections, got {type(data).__name__}")
    return data


def resolve_config(
    config_file: Path | None = None,
    overrides: Iterable[str] = (),
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Resolve preset < file < overrides < flags into a validated `Config`.

    `flags` maps dotted keys to CLI flag values; flags left at None are not applied. The preset is
    chosen by the highest layer that names one (default `tiny`).
    """
    file_tree = read_config_file(config_file) if config_file is not None else {}
    override_tree = parse_overrides(overrides)
    flag_tree: dict[str, Any] = {}
    for key, value in (flags or {}).items():
        if value is not None:
            set_dotted(flag_tree, key, value)

    preset = "tiny"
    for layer in (file_tree, override_tree, flag_tree):
        if "preset" in layer:
            preset = str(layer["preset"])
    merged: dict[str, Any] = deep_merge(PRESETS.get(preset), {"preset": preset})
    for layer in (file_tree, override_tree, flag_tree):
        merged = deep_merge(merged, layer)
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, config_file)) from None


def format_validation_error(exc: ValidationError, config_file: Path | None = None) -> str:
    """One line naming each bad key (dotted) and what is wrong with it."""
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "value_error":
            message = str(error.get("ctx", {}).get("error", error["msg"]))
        else:
            message = error["msg"]
        problems.append(f"{key!r}: {message}")
    source = f"{config_file}: " if config_file is not None else ""
    return f"{source}invalid config: " + "; ".join(problems)
