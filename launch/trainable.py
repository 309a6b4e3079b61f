"""Choosing the trainable set by parameter-name patterns (through `named_parameters`, in place)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from msvg_bench.errors import ConfigError

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
