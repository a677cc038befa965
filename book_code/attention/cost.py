"""What attention costs: wall time and peak memory against sequence length (chapter 2).

Explicit attention builds the full ``(n, n)`` matrix of weights, so its time grows like
``n**2 * d`` and its memory like ``n**2``. PyTorch's fused
:func:`torch.nn.functional.scaled_dot_product_attention` does the same arithmetic in tiles and
never stores that matrix. These helpers measure both on the machine that runs them, so that the
chapter's figure comes from the book's own code.

Two numbers are measured per call, on CPU:

* **time**: the median of ``repeats`` calls timed with :func:`time.perf_counter`, after
  ``warmup`` untimed calls (the first call pays for one-off work such as allocating buffers);
* **peak memory**: the largest number of bytes that PyTorch's CPU allocator held *above the
  level at the start of the call*, read from the allocation records of
  :mod:`torch.profiler` (``profile_memory=True``). It counts every tensor the call allocates,
  including scratch buffers that a fused kernel frees before it returns, and nothing else
  (not Python objects, not memory the allocator caches).

Beside the measurement, :func:`attention_weights_bytes` gives the size of one weight matrix
exactly, from its shape.
"""

from __future__ import annotations

# --8<-- [start:imports]
import functools
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from book_code.attention.functional import scaled_dot_product_attention

# --8<-- [end:imports]

METHODS = ("explicit", "fused")
"""``explicit``: the book's function, which returns the weights; ``fused``: PyTorch's kernel."""


# --8<-- [start:attention_weights_bytes]
def attention_weights_bytes(
    batch: int,
    heads: int,
    query_len: int,
    key_len: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> int:
    """Bytes of one ``(batch, heads, query_len, key_len)`` tensor of attention weights.

    >>> attention_weights_bytes(1, 1, 1024)  # 1024 * 1024 float32 numbers = 4 MiB
    4194304
    """
    key_len = query_len if key_len is None else key_len
    for name, value in (("batch", batch), ("heads", heads), ("query_len", query_len), ("key_len", key_len)):
        _check_positive_int(value, name)
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype; got {type(dtype).__name__}")
    itemsize = torch.empty((), dtype=dtype).element_size()
    return batch * heads * query_len * key_len * itemsize
# --8<-- [end:attention_weights_bytes]


# --8<-- [start:measurement]
@dataclass(frozen=True)
class CostMeasurement:
    """Time and memory of one attention call on ``(batch, heads, n, d)`` inputs."""

    method: str
    """``"explicit"`` (the book's function) or ``"fused"`` (PyTorch's kernel)."""
    n: int
    d: int
    batch: int
    heads: int
    seconds: float
    """Median wall time of one call, in seconds."""
    peak_bytes: int
    """Peak bytes held by PyTorch's CPU allocator during one call, above its level before."""
    weights_bytes: int
    """Bytes of one ``(batch, heads, n, n)`` weight matrix in the input dtype (computed)."""

    def as_dict(self) -> dict:
        return asdict(self)
# --8<-- [end:measurement]


# --8<-- [start:median_seconds]
def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls.

    The median, not the mean: one call slowed down by another process on the machine
    should not move the result.
    """
    _check_positive_int(repeats, "repeats")
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0; got {warmup!r}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
# --8<-- [end:median_seconds]


# --8<-- [start:peak_allocated_bytes]
def peak_allocated_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes that PyTorch's CPU allocator holds during ``fn()``, above the level before.

    The profiler records every allocation and free with a timestamp; replaying them in
    order gives the running total, whose maximum is the peak. Tensors that ``fn`` returns
    count, since they are alive at the end of the call.
    """
    # libkineto prints a "profiler_start/stop" line to stderr for every session unless its
    # log level is raised; respect a level the user has set.
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # `prof.events()` folds allocations into the operators that made them and so hides
    # buffers that an operator frees before it returns; the raw records keep every one.
    # (`kineto_results` is undocumented: tests/attention/test_cost.py fails if it changes.)
    records = sorted(
        (
            (event.start_ns(), event.nbytes())
            for event in prof.profiler.kineto_results.events()
            if event.name() == "[memory]" and event.device_type() == DeviceType.CPU
        ),
        key=lambda record: record[0],
    )
    held = peak = 0
    for _, nbytes in records:
        held += nbytes
        peak = max(peak, held)
    return peak
# --8<-- [end:peak_allocated_bytes]


# --8<-- [start:measure_attention_cost]
def measure_attention_cost(
    lengths: Sequence[int],
    d: int = 64,
    batch: int = 1,
    heads: int = 4,
    repeats: int = 5,
    warmup: int = 1,
    methods: Sequence[str] = METHODS,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    threads: int | None = 1,
) -> list[CostMeasurement]:
    """Time and peak memory of self-attention for every sequence length in ``lengths``.

    Queries, keys and values are random ``(batch, heads, n, d)`` CPU tensors. Each method
    is timed with :func:`median_seconds` and its memory measured, in a separate call, with
    :func:`peak_allocated_bytes` (the profiler slows the call down, so it is never timed).

    ``threads`` sets PyTorch's number of CPU threads for the measurement (and restores it
    afterwards); one thread gives steadier timings on a machine that other work shares.
    ``None`` keeps the current setting.
    """
    lengths = _check_lengths(lengths)
    for name, value in (("d", d), ("batch", batch), ("heads", heads), ("repeats", repeats)):
        _check_positive_int(value, name)
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0; got {warmup!r}")
    if isinstance(methods, str) or not methods or any(m not in METHODS for m in methods):
        raise ValueError(f"methods must be a non-empty list drawn from {METHODS}; got {methods!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype; got {dtype!r}")
    if threads is not None:
        _check_positive_int(threads, "threads")

    generator = torch.Generator().manual_seed(seed)
    attend = {"explicit": scaled_dot_product_attention, "fused": F.scaled_dot_product_attention}
    results = []
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.inference_mode():  # no autograd graph: measure attention, not bookkeeping
            for n in lengths:
                q, k, v = (torch.randn(batch, heads, n, d, generator=generator).to(dtype) for _ in range(3))
                for method in methods:
                    call = functools.partial(attend[method], q, k, v)
                    results.append(
                        CostMeasurement(
                            method=method,
                            n=n,
                            d=d,
                            batch=batch,
                            heads=heads,
                            seconds=median_seconds(call, repeats, warmup),
                            peak_bytes=peak_allocated_bytes(call),
                            weights_bytes=attention_weights_bytes(batch, heads, n, dtype=dtype),
                        )
                    )
    finally:
        torch.set_num_threads(previous_threads)
    return results
# --8<-- [end:measure_attention_cost]


# --8<-- [start:fit_loglog_slope]
def fit_loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``: the exponent ``p`` in ``y ~ x**p``.

    >>> round(fit_loglog_slope([128, 256, 512], [3 * n**2 for n in (128, 256, 512)]), 6)
    2.0
    """
    if len(xs) != len(ys):
        raise ValueError(f"xs and ys must have the same length; got {len(xs)} and {len(ys)}")
    if len(xs) < 2:
        raise ValueError(f"need at least two points to fit a slope; got {len(xs)}")
    if any(not (v > 0 and math.isfinite(v)) for v in (*xs, *ys)):
        raise ValueError("xs and ys must be positive and finite to take logarithms")
    log_x = [math.log(x) for x in xs]
    log_y = [math.log(y) for y in ys]
    mean_x, mean_y = statistics.fmean(log_x), statistics.fmean(log_y)
    spread = sum((x - mean_x) ** 2 for x in log_x)
    if spread == 0:
        raise ValueError("xs must contain at least two different values")
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(log_x, log_y, strict=True)) / spread
# --8<-- [end:fit_loglog_slope]


def _check_positive_int(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")


def _check_lengths(lengths: Sequence[int]) -> list[int]:
    if isinstance(lengths, (str, bytes)) or not isinstance(lengths, Sequence):
        raise TypeError(
            f"lengths must be a sequence of positive integers such as [128, 256]; got "
            f"{type(lengths).__name__}"
        )
    if not lengths:
        raise ValueError("lengths must not be empty")
    for n in lengths:
        _check_positive_int(n, "every entry of lengths")
    return list(lengths)
