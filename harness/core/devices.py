"""Which torch device a `device` setting means, and DeepSpeed's accelerator for it (one place for both)."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import TYPE_CHECKING

from msvg_bench.core.errors import ConfigError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str | None = "auto", what: str = "device") -> torch.device:
    """`auto` (or None): CUDA when a GPU is visible, else the CPU; `cuda[:N]` without a GPU is an error naming `what`."""
    import torch

    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{what}={name!r} but no CUDA device is visible (use {what}=cpu)")
    return torch.device(name)


def select_deepspeed_accelerator(device: str, env: MutableMapping[str, str] | None = None) -> None:
    """Point DeepSpeed at its CPU accelerator (in `env`, default this process's) when `device` is the CPU.

    Must happen before DeepSpeed is imported in the process that reads `env`.
    """
    if device == "cpu":
        (os.environ if env is None else env)["DS_ACCELERATOR"] = "cpu"
