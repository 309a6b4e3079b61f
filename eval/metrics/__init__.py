"""The metric registry and the metric modules (scene/character consistency, scuts, mawe, prompt_alignment,
setting_recognition)."""

from msvg_bench.eval.metrics import character_consistency as _character  # noqa: F401 - registers character/face_consistency
from msvg_bench.eval.metrics import consistency as _consistency  # noqa: F401 - registers scene_consistency
from msvg_bench.eval.metrics import mawe as _mawe  # noqa: F401 - registers mawe
from msvg_bench.eval.metrics import prompt_alignment as _prompt_alignment  # noqa: F401 - registers prompt_alignment
from msvg_bench.eval.metrics import scuts as _scuts  # noqa: F401 - registers scuts
from msvg_bench.eval.metrics import setting_recognition as _setting  # noqa: F401 - registers setting_recognition
from msvg_bench.eval.metrics.base import METRICS, Metric, MetricValues

DEFAULT_METRICS = ("scene_consistency", "character_consistency", "scuts", "mawe", "prompt_alignment", "setting_recognition")
"""The full metric set, in the order tables print it."""


def resolve_metrics(names: list[str] | None) -> list[Metric]:
    """Metric instances for `names` (all of DEFAULT_METRICS when None), unknown names rejected."""
    return [METRICS.get(name)() for name in (names or DEFAULT_METRICS)]


__all__ = ["DEFAULT_METRICS", "METRICS", "Metric", "MetricValues", "resolve_metrics"]
