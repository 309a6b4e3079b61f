"""Interval estimates shared by evaluation results and comparisons (the story is the unit)."""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_BOOTSTRAPS = 2000
DEFAULT_SEED = 0
CONFIDENCE_LEVEL = 0.95


def bootstrap_mean_ci(
    values: Sequence[float], n_boot: int = DEFAULT_BOOTSTRAPS, seed: int = DEFAULT_SEED, level: float = CONFIDENCE_LEVEL
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (NaN, NaN when empty).

    Resample indices come from `numpy.random.default_rng(seed).integers(0, n, size=(n_boot, n))`.
    """
    import numpy as np

    data = np.asarray(values, dtype=np.float64)
    n = data.shape[0]
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    means = data[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)
