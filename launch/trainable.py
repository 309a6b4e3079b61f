"""Choosing the trainable set by parameter-name patterns (through `named_parameters`, in place)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from msvg_bench.core.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class TrainableCounts:
    """How many parameters (elements) train and how many stay frozen."""

    trainable: int
    frozen: int
    trainable_tensors: int
    frozen_tensors: int


def apply_trainable_patterns(module: nn.Module, patterns: list[str]) -> TrainableCounts:
    """Set `requires_grad` on each parameter of `module` to whether its name matches any regex in `patterns`.

    Freezing happens on the live parameters (`named_parameters`), never on `state_dict` copies.
    A pattern that matches nothing is an error (it is almost always a typo).
    """
    try:
        compiled = [re.compile(p) for p in patterns]
    except re.error as exc:
        raise ConfigError(f"train.trainable_patterns: invalid regex ({exc})") from None
    used = [False] * len(compiled)
    trainable = frozen = trainable_tensors = frozen_tensors = 0
    for name, param in module.named_parameters():
        hits = [i for i, rx in enumerate(compiled) if rx.search(name)]
        for i in hits:
            used[i] = True
        param.requires_grad_(bool(hits))
        if hits:
            trainable += param.numel()
            trainable_tensors += 1
        else:
            frozen += param.numel()
            frozen_tensors += 1
    unused = [patterns[i] for i, ok in enumerate(used) if not ok]
    if unused:
        raise ConfigError(f"train.trainable_patterns: {', '.join(map(repr, unused))} match no parameter of the model")
    if trainable == 0:
        raise ConfigError("train.trainable_patterns: no parameter is trainable")
    return TrainableCounts(trainable, frozen, trainable_tensors, frozen_tensors)


def parameter_groups(module: nn.Module, base_lr: float, multipliers: dict[str, float]) -> list[dict]:
    """Optimizer parameter groups: trainable parameters matching a regex of `multipliers` train at
    `base_lr x multiplier` (first matching pattern wins), the rest at `base_lr`.

    Each group carries its `name` (the pattern, or `base`) and `lr_multiplier`; warmup and schedule
    scale every group's lr by the same factor, so the ratios hold for the whole run. A pattern that
    matches no trainable parameter is an error (a typo would otherwise silently train at `base_lr`).
    """
    try:
        compiled = [(pattern, re.compile(pattern), float(mult)) for pattern, mult in multipliers.items()]
    except re.error as exc:
        raise ConfigError(f"train.lr_multipliers: invalid regex ({exc})") from None
    for pattern, _, mult in compiled:
        if mult <= 0:
            raise ConfigError(f"train.lr_multipliers: {pattern!r} has multiplier {mult}; it must be > 0")
    members: dict[str, list] = {"base": []}
    members.update({pattern: [] for pattern, _, _ in compiled})
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        group = next((pattern for pattern, rx, _ in compiled if rx.search(name)), "base")
        members[group].append(param)
    unused = [pattern for pattern, _, _ in compiled if not members[pattern]]
    if unused:
        raise ConfigError(f"train.lr_multipliers: {', '.join(map(repr, unused))} match no trainable parameter")
    factors = {"base": 1.0, **{pattern: mult for pattern, _, mult in compiled}}
    return [
        {"params": params, "lr": base_lr * factors[name], "name": name, "lr_multiplier": factors[name]}
        for name, params in members.items()
        if params
    ]
