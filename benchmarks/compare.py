"""Time two implementations side by side, with the machine's yardstick between them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks.machine import Yardstick
from benchmarks.stats import ratio_summary, summarize
from benchmarks.timing import TimingPolicy, time_interleaved

YARDSTICK = "matmul"


def compare(
    candidates: dict[str, Callable[[], object]],
    policy: TimingPolicy,
    flops: int,
    yardstick: Yardstick | None = None,
) -> dict:
    """Time two candidates interleaved and summarise them.

    Args:
        candidates: exactly two ``name -> function``; the ratio is first / second.
        policy: warm-up, repetitions and time budget.
        flops: counted FLOPs of one call (the same computation for both).
        yardstick: a matrix product timed in the same repetitions, between the two
            candidates (so that each follows it equally often); ``None`` skips it.

    Returns:
        ``seconds`` (summaries), ``samples`` (raw, per repetition), ``<a>_over_<b>``
        (`ratio_summary`), ``gflops`` (at the median time) and, with a yardstick,
        ``matmul_gflops`` and ``fraction_of_matmul``: the median over repetitions of the
        candidate's rate divided by the yardstick's rate in the same repetition, with its
        quartiles in ``fraction_of_matmul_iqr``.
    """
    if len(candidates) != 2 or YARDSTICK in candidates:
        raise ValueError(f"need exactly two candidates, none named {YARDSTICK!r}; got {list(candidates)}")
    first, second = candidates
    timed = {first: candidates[first]}
    if yardstick is not None:
        timed[YARDSTICK] = yardstick
    timed[second] = candidates[second]
    samples = time_interleaved(timed, policy, sizing=(first, second))
    names = (first, second)
    seconds = {name: summarize(samples[name]) for name in names}
    result = {
        "seconds": seconds,
        "samples": samples,
        f"{first}_over_{second}": ratio_summary(samples[first], samples[second]),
        "gflops": {name: flops / seconds[name]["median"] / 1e9 for name in names},
    }
    if yardstick is not None:
        reference = np.asarray(samples[YARDSTICK])
        result["matmul_gflops"] = yardstick.flops / float(np.median(reference)) / 1e9
        result["fraction_of_matmul"] = {}
        result["fraction_of_matmul_iqr"] = {}
        for name in names:
            # (flops / t) / (yardstick.flops / t_matmul), repetition by repetition.
            fraction = summarize(flops * reference / (yardstick.flops * np.asarray(samples[name])))
            result["fraction_of_matmul"][name] = fraction["median"]
            result["fraction_of_matmul_iqr"][name] = [fraction["q1"], fraction["q3"]]
    return result
