"""Interleaved wall-clock timing of several implementations of the same computation.

A comparison of A with B is only fair if both see the same machine. On a shared computer
the load changes from second to second, so timing all of A and then all of B can put the
noise into one side of the ratio. `time_interleaved` measures them in turns instead: in
every repetition each candidate is measured once, back to back, and the order alternates
between repetitions (A B, B A, A B, ...) so that neither always runs first, in the cache
state the other left behind.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TimingPolicy:
    """How long and how often to measure.

    Attributes:
        warmup: calls of every candidate before the samples (one-off costs: allocator
            growth, kernel selection, lazy initialisation); the last one also estimates
            the time per call. At least one call is made even when this is 0.
        min_repeats: at least this many repetitions (samples per candidate).
        max_repeats: at most this many.
        min_time: seconds one sample should last at least; fast calls are repeated
            ``number`` times within a sample so that timer resolution does not matter.
        budget: seconds the whole measurement of all candidates may take; the number of
            repetitions is chosen from it, within ``[min_repeats, max_repeats]``.
    """

    warmup: int = 2
    min_repeats: int = 5
    max_repeats: int = 15
    min_time: float = 0.05
    budget: float = 10.0

    def __post_init__(self) -> None:
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0; got {self.warmup}")
        if not 1 <= self.min_repeats <= self.max_repeats:
            raise ValueError(
                f"need 1 <= min_repeats <= max_repeats; got {self.min_repeats} and {self.max_repeats}"
            )
        if self.min_time < 0 or self.budget < 0:
            raise ValueError("min_time and budget must be >= 0")


def plan(
    seconds_per_call: Sequence[float], policy: TimingPolicy, shortest: float | None = None
) -> tuple[int, int]:
    """``(number, repeats)``: calls per sample and samples per candidate.

    Every candidate makes the same ``number`` of calls per sample, chosen so that a sample
    of the fastest candidate (or one call of ``shortest`` seconds, if given) lasts at least
    ``policy.min_time``; ``repeats`` is what fits in ``policy.budget``, clipped to
    ``[min_repeats, max_repeats]``.

    Args:
        seconds_per_call: an estimate of one call's time, per candidate.
        policy: the time budget.
        shortest: the call time that sizes the samples; default ``min(seconds_per_call)``.

    >>> plan([0.001, 0.002], TimingPolicy(min_time=0.05, budget=2.0, min_repeats=3, max_repeats=9))
    (50, 9)
    >>> plan([2.0, 1.0], TimingPolicy(min_time=0.05, budget=10.0, min_repeats=3, max_repeats=9))
    (1, 3)
    """
    if not seconds_per_call or min(seconds_per_call) <= 0:
        raise ValueError(f"need positive per-call times; got {list(seconds_per_call)}")
    shortest = min(seconds_per_call) if shortest is None else shortest
    if shortest <= 0:
        raise ValueError(f"shortest must be positive; got {shortest}")
    number = max(1, math.ceil(policy.min_time / shortest))
    per_repetition = number * sum(seconds_per_call)
    repeats = int(policy.budget // per_repetition)
    return number, min(policy.max_repeats, max(policy.min_repeats, repeats))


def time_interleaved(
    candidates: Mapping[str, Callable[[], object]],
    policy: TimingPolicy,
    sizing: Collection[str] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of every candidate, measured in alternating turns.

    Args:
        candidates: name -> a function of no arguments that does the work once.
        policy: warm-up, repetitions and time budget.
        sizing: the candidates whose time per call sizes the samples (see `plan`);
            default all. A reference measurement that rides along, such as a matrix
            product, should not make the compared candidates repeat their calls.

    Returns:
        name -> one sample per repetition: the mean time of ``number`` back-to-back calls.
        All lists have the same length, and sample ``i`` of every candidate was taken in
        the same repetition, so paired ratios are meaningful.
    """
    if not candidates:
        raise ValueError("need at least one candidate")
    names = list(candidates)
    # The warm-up calls are timed too: the last one of each candidate estimates the time
    # per call that sizes the samples (without warm-up, one extra call does that alone).
    single = dict.fromkeys(names, 0.0)
    for _ in range(max(policy.warmup, 1)):
        for name in names:
            single[name] = max(_seconds(candidates[name], 1), 1e-9)
    sizing = names if sizing is None else [name for name in names if name in sizing]
    if not sizing:
        raise ValueError(f"sizing must name at least one candidate of {names}")
    number, repeats = plan(list(single.values()), policy, min(single[name] for name in sizing))
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            samples[name].append(_seconds(candidates[name], number) / number)
    return samples


def _seconds(fn: Callable[[], object], number: int) -> float:
    # The garbage collector would run at moments that depend on the allocation pattern of
    # whichever candidate came before; switch it off while timing, as timeit does.
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()
