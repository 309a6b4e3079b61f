"""Configuration models: the strict base class, and a config's plain, YAML, flat and hashed forms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from msvg_bench.core.hashing import hash_json
from msvg_bench.core.yaml_safe import dump_yaml
from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A pydantic model that rejects unknown keys (`extra="forbid"`) and validates assignments."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


def config_to_dict(config: BaseModel) -> dict[str, Any]:
    """The configuration as plain JSON-able data."""
    return config.model_dump(mode="json")


def config_to_yaml(config: BaseModel) -> str:
    """The configuration as YAML, in section order; loading it back gives the same config."""
    return dump_yaml(config_to_dict(config))


def config_hash(config: BaseModel) -> str:
    """12-hex-digit identity of everything that shapes results (tracking settings excluded)."""
    return tree_hash(config_to_dict(config))


def tree_hash(tree: Mapping[str, Any]) -> str:
    """`config_hash` of a config's plain form (`config_to_dict`)."""
    data = dict(tree)
    data.pop("tracking", None)
    return hash_json(data)[:12]


PLAIN_KEY = re.compile(r"^[\w\-. :/]+$")
"""Keys that may become part of a dotted parameter name (what MLflow accepts in one)."""


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted keys (lists stay values; so does a mapping keyed by free text,
    such as `train.lr_multipliers`' regexes, which cannot be parts of a parameter name)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and all(PLAIN_KEY.match(str(k)) for k in value):
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat



@dataclass(frozen=True)
class ConfigRecord:
    """A resolved config as runs and checkpoints record it, built by the app layer (`Config.record()`):
    its plain form (`tree`, `config_to_dict`), the seed and preset tags, and the tracking settings."""

    tree: dict[str, Any]
    seed: int
    preset: str
    tracking_uri: str | None = None
    run_name: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The config as dotted parameters (`flatten`)."""
        return flatten(self.tree)

    @property
    def yaml(self) -> str:
        """The config as YAML, in section order (`config_to_yaml`)."""
        return dump_yaml(self.tree)

    @property
    def config_hash(self) -> str:
        """The config's identity (`config_hash`: tracking settings excluded)."""
        return tree_hash(self.tree)

    def with_section(self, name: str, section: BaseModel) -> ConfigRecord:
        """This record with section `name` replaced by `section` (the other sections and their order kept)."""
        return replace(self, tree={**self.tree, name: config_to_dict(section)})
