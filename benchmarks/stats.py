"""Statistics for benchmark timings: robust summaries, ratios and scaling exponents.

Timings on a shared machine have a long right tail (another process takes the core for a
while), so every summary here is built on quantiles: the median as the central value and
the interquartile range (IQR) as the spread. Means and standard deviations would let one
slow repetition move the result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def quantiles(samples: Sequence[float], probs: Sequence[float]) -> list[float]:
    """Quantiles of ``samples`` by linear interpolation between order statistics.

    This is NumPy's default ("linear", type 7 of Hyndman and Fan, 1996), so the quartiles
    of ``[1, 2, 3, 4]`` are 1.75 and 3.25.

    >>> quantiles([4.0, 1.0, 3.0, 2.0], [0.25, 0.5, 0.75])
    [1.75, 2.5, 3.25]
    """
    values = _check_samples(samples)
    for p in probs:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"quantile probabilities must lie in [0, 1]; got {p}")
    return [float(q) for q in np.quantile(values, list(probs))]


def summarize(samples: Sequence[float]) -> dict[str, float | int]:
    """Median, quartiles, IQR, extremes and count of ``samples`` (for example, seconds).

    >>> summarize([1.0, 2.0, 3.0, 4.0, 100.0])["median"]
    3.0
    """
    values = _check_samples(samples)
    q1, median, q3 = quantiles(values, [0.25, 0.5, 0.75])
    return {
        "median": median,
        "q1": q1,
        "q3": q3,
        "iqr": q3 - q1,
        "min": float(values.min()),
        "max": float(values.max()),
        "n": int(values.size),
    }


def ratio_summary(numerator: Sequence[float], denominator: Sequence[float]) -> dict[str, float | int]:
    """How many times ``numerator``'s timings are ``denominator``'s, from paired samples.

    Sample ``i`` of both lists must come from the same repetition of an interleaved
    measurement. The headline ``ratio`` is the median of the paired ratios
    ``numerator[i] / denominator[i]``, with their quartiles ``q1`` and ``q3``. On a shared
    machine the load changes from one repetition to the next and hits both halves of a
    repetition alike, so it cancels in each paired ratio; the ratio of the two medians,
    also returned as ``ratio_of_medians``, does not cancel it: if the machine slows down
    halfway through, the two medians can fall on different sides of the change.

    >>> summary = ratio_summary([2.0, 2.0, 4.0], [1.0, 1.0, 2.0])
    >>> summary["ratio"], summary["ratio_of_medians"]
    (2.0, 2.0)
    """
    top, bottom = _check_samples(numerator), _check_samples(denominator)
    if top.size != bottom.size:
        raise ValueError(f"paired samples must have equal length; got {top.size} and {bottom.size}")
    if (bottom <= 0).any():
        raise ValueError("denominator samples must be positive")
    paired = summarize(top / bottom)
    return {
        "ratio": paired["median"],
        "q1": paired["q1"],
        "q3": paired["q3"],
        "ratio_of_medians": float(np.median(top) / np.median(bottom)),
        "n": paired["n"],
    }


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``: the exponent ``k`` in ``y ~ x^k``.

    >>> round(loglog_slope([1, 2, 4, 8], [3, 12, 48, 192]), 6)
    2.0
    """
    x, y = _check_samples(xs), _check_samples(ys)
    if x.size != y.size or x.size < 2:
        raise ValueError(f"need at least two (x, y) pairs of equal length; got {x.size} and {y.size}")
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("a log-log slope needs positive x and y")
    if np.ptp(np.log(x)) == 0:
        raise ValueError("the x values must not all be equal")
    slope, _ = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope)


def _check_samples(samples: Sequence[float]) -> np.ndarray:
    values = np.asarray(samples, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("need at least one sample")
    if not np.isfinite(values).all():
        raise ValueError(f"samples must be finite; got {values.tolist()}")
    return values


def geometric_mean(values: Sequence[float]) -> float:
    """Geometric mean, the right average of ratios (it treats 2x and 0.5x symmetrically).

    >>> geometric_mean([2.0, 0.5])
    1.0
    """
    x = _check_samples(values)
    if (x <= 0).any():
        raise ValueError("a geometric mean needs positive values")
    return float(math.exp(np.log(x).mean()))
