"""Statistical power of a paired comparison: the smallest effect the suite can detect, and the stories needed.

For a two-sided test at level `alpha` with power `power` on the mean of n paired differences with
standard deviation `sd` (ddof 1), the minimum detectable effect is

    MDE = (z_{1 - alpha/2} + z_{power}) * sd / sqrt(n)        (about 2.80 * sd / sqrt(n) at 5 %, 80 %)

and the number of stories needed to detect an effect `effect` is ceil(((z_{1-alpha/2} + z_{power}) * sd / effect)^2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

POWER = 0.8
ALPHA = 0.05


def z_sum(power: float = POWER, alpha: float = ALPHA) -> float:
    """z_{1 - alpha/2} + z_{power} of the standard normal (2.8016 at the defaults)."""
    if not (0.0 < power < 1.0 and 0.0 < alpha < 1.0):
        raise ValueError(f"power and alpha must lie in (0, 1), got power={power}, alpha={alpha}")
    normal = NormalDist()
    return normal.inv_cdf(1.0 - alpha / 2.0) + normal.inv_cdf(power)


def sample_sd(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof 1); NaN with fewer than two values."""
    n = len(values)
    if n < 2:
        return float("nan")
    mean = math.fsum(values) / n
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))


def minimum_detectable_effect(sd: float, n: int, power: float = POWER, alpha: float = ALPHA) -> float:
    """The smallest true mean difference detected with probability `power` at two-sided level `alpha` (NaN when n < 2)."""
    if n < 2 or not math.isfinite(sd):
        return float("nan")
    return z_sum(power, alpha) * sd / math.sqrt(n)


def stories_needed(effect: float, sd: float, power: float = POWER, alpha: float = ALPHA) -> int | None:
    """Paired stories needed to detect a true difference `effect`: ceil(((z_a + z_b) * sd / effect)^2).

    None when it cannot be said: `effect` is zero or not finite, or `sd` is not finite.
    """
    if not (math.isfinite(effect) and math.isfinite(sd)) or effect == 0:
        return None
    return math.ceil((z_sum(power, alpha) * sd / effect) ** 2)
