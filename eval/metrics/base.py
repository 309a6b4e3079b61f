"""The metric interface and the `METRICS` registry.

A metric has a name, a version (bump when its numbers change), what it needs (frames at which size,
which encoder role or flow backend), its keys with their direction, and `compute(story, ctx)` that
returns per-story and per-scene values. Values that are undefined for a story (no pair of scenes
sharing a setting, say) are left out rather than stored as NaN. Values the story defines but that
could not be measured (no detector found the annotated characters, say) are *unavailable*: left out
of the values and recorded with the reason, so that no aggregate or comparison counts them.

The contract is checked, not trusted: registration refuses a metric whose `needs` has a key outside
`NEEDS` (or an unknown encoder role), and `check_values` refuses values under a key the metric did
not declare (`keys()` per story, `scene_keys` per scene), with one line naming the metric and key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from msvg_bench.core.errors import ConfigError
from msvg_bench.core.registry import Registry

if TYPE_CHECKING:
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.inputs import StoryInput

NEEDS: dict[str, str] = {
    "encoder": "the encoder role (scene, character, text, face): MetricContext.encoder(role), the recorded component",
    "frames": "which frames, at which size (shown by eval --list-metrics)",
    "flow": "uses the configured flow backend (shown by eval --list-metrics)",
    "detector": "uses the configured (or named) character detector (shown by eval --list-metrics)",
    "annotations": "which scene annotations it reads (shown by eval --list-metrics)",
}
"""The keys a metric's `needs` may have, and what reads each."""

ENCODER_ROLES = ("scene", "character", "text", "face")
"""The encoder roles `needs["encoder"]` may name (fields `eval.<role>_encoder`)."""


class MetricContractError(ConfigError):
    """A metric broke its declared contract (an undeclared key, an unknown need): the run stops."""


def check_metric_class(name: str, metric: Any) -> None:
    """Registration check of a metric class: a Metric subclass whose `needs` uses only known keys and roles."""
    if not (isinstance(metric, type) and issubclass(metric, Metric)):
        raise TypeError(f"metric {name!r}: {metric!r} is not a Metric subclass")
    unknown = sorted(set(metric.needs) - set(NEEDS))
    if unknown:
        raise MetricContractError(f"metric {name!r}: unknown needs key {unknown[0]!r} (known: {', '.join(NEEDS)})")
    role = metric.needs.get("encoder")
    if role is not None and role not in ENCODER_ROLES:
        raise MetricContractError(f"metric {name!r}: needs encoder role {role!r} (known: {', '.join(ENCODER_ROLES)})")


METRICS: Registry[type[Metric]] = Registry("metric", named=True, check=check_metric_class)
"""Metric classes by name."""


@dataclass
class MetricValues:
    """What one metric computed for one story."""

    story: dict[str, float] = field(default_factory=dict)
    scenes: dict[int, dict[str, float]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    """Story-level keys the story defines but that could not be measured, with the reason."""
    scene_unavailable: dict[int, dict[str, str]] = field(default_factory=dict)
    """Per scene: keys that could not be measured there, with the reason."""
    details: dict[str, Any] = field(default_factory=dict)
    """Story-level diagnostics by metric name (which detector was used, per-character values, ...)."""
    scene_details: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Per-scene diagnostics by metric name (detected vs annotated characters, ...)."""

    def scene(self, index: int) -> dict[str, float]:
        """The (created on demand) value dict of scene `index`."""
        return self.scenes.setdefault(index, {})


class Metric(ABC):
    """One metric. Subclasses set the class attributes and implement `compute`."""

    name: str
    version: str
    higher_is_better: bool
    description: str
    needs: dict[str, Any] = {}
    extra_keys: dict[str, bool] = {}
    """Further story-level keys (key -> higher is better), e.g. the non-shared mean and the gap."""
    scene_keys: tuple[str, ...] | None = None
    """The per-scene keys it writes (None: only `name`)."""

    def keys(self) -> dict[str, bool]:
        """Every story-level key this metric writes, with its direction."""
        return {self.name: self.higher_is_better, **self.extra_keys}

    def declared_scene_keys(self) -> tuple[str, ...]:
        """Every per-scene key this metric may write."""
        return self.scene_keys if self.scene_keys is not None else (self.name,)

    def encoder_role(self) -> str | None:
        """Which configured encoder (scene, character, text) the metric uses, if any."""
        return self.needs.get("encoder")

    def component(self, ctx: MetricContext) -> tuple[str | None, str | None]:
        """(encoder identity, backend identity) recorded with the metric's keys."""
        role = self.encoder_role()
        return (ctx.encoder(role).identity if role else None), None

    def describe_components(self, ctx: MetricContext) -> dict[str, dict[str, Any]]:
        """What the metric measures with, by role (encoder, flow backend, detector): identity, kind, non-semantic flag."""
        role = self.encoder_role()
        return {role: ctx.encoder(role).describe()} if role else {}

    @abstractmethod
    def compute(self, story: StoryInput, ctx: MetricContext) -> MetricValues:
        """Per-story and per-scene values of one story."""


def check_values(metric: Metric, values: MetricValues) -> None:
    """Refuse values (or unavailable reasons) under a key `metric` did not declare, naming metric and key."""
    story_keys, scene_keys = set(metric.keys()), set(metric.declared_scene_keys())
    for key in [*values.story, *values.unavailable]:
        if key not in story_keys:
            raise MetricContractError(f"metric {metric.name!r} wrote undeclared story key {key!r} "
                                      f"(declared: {', '.join(sorted(story_keys))}; add it to extra_keys)")
    for index, per_scene in [*values.scenes.items(), *values.scene_unavailable.items()]:
        for key in per_scene:
            if key not in scene_keys:
                raise MetricContractError(f"metric {metric.name!r} wrote undeclared per-scene key {key!r} in scene {index} "
                                          f"(declared: {', '.join(sorted(scene_keys))}; add it to scene_keys)")


def pair_means(pairs: list[tuple[bool, float]]) -> dict[str, float]:
    """Mean over shared pairs, mean over non-shared pairs and their gap (each only when defined)."""
    shared = [v for s, v in pairs if s]
    other = [v for s, v in pairs if not s]
    out: dict[str, float] = {}
    if shared:
        out["shared"] = sum(shared) / len(shared)
    if other:
        out["nonshared"] = sum(other) / len(other)
    if shared and other:
        out["gap"] = out["shared"] - out["nonshared"]
    return out
