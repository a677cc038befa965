"""Where the time goes: a per-operator breakdown from ``torch.profiler``.

Ratios say *that* one implementation is slower; the operator table says *why* (an extra
copy, a different kernel). The benchmark stores a short table for a few cases beside the
timings, and the Performance appendix shows it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from torch.profiler import ProfilerActivity, profile


def top_operators(fn: Callable[[], object], calls: int = 3, limit: int = 10) -> list[dict]:
    """The ``limit`` operators with the most self CPU time over ``calls`` calls of ``fn``.

    Returns:
        One dictionary per operator, slowest first: ``name``, ``calls`` (per call of
        ``fn``) and ``self_ms`` (self CPU milliseconds per call of ``fn``). Self time
        excludes the operators an operator calls, so the rows do not count anything twice.
    """
    if calls < 1 or limit < 1:
        raise ValueError(f"calls and limit must be positive; got {calls} and {limit}")
    fn()  # warm-up outside the profile
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")  # silence libkineto's start/stop lines
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            fn()
    rows = sorted(prof.key_averages(), key=lambda event: event.self_cpu_time_total, reverse=True)
    return [
        {
            "name": event.key,
            "calls": event.count / calls,
            "self_ms": event.self_cpu_time_total / 1000.0 / calls,
        }
        for event in rows[:limit]
    ]


def profile_candidates(candidates: Mapping[str, Callable[[], object]], calls: int = 3) -> dict:
    """`top_operators` of every candidate."""
    return {name: top_operators(fn, calls) for name, fn in candidates.items()}
