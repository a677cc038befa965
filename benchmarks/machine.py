"""What this machine can do at best: the throughput of a large float32 matrix product.

Nearly all of attention's arithmetic is matrix products, so a large, square, contiguous
product (which the BLAS library runs close to the CPU's peak) is the yardstick against
which the benchmarks' achieved GFLOP/s are put. The yardstick is measured on its own, at
the start and at the end of a run, and also inside every comparison, interleaved with the
two implementations, so that each case's fraction of the machine's best is computed from
measurements taken at the same moments (on a shared machine the load, and with it the
achievable rate, changes within minutes).
"""

from __future__ import annotations

import torch

from benchmarks.flops import matmul_flops
from benchmarks.stats import summarize
from benchmarks.timing import TimingPolicy, time_interleaved


class Yardstick:
    """One ``(size x size) @ (size x size)`` float32 product per call, into a fixed output.

    Writing into a preallocated output keeps allocation out of the measurement.

    >>> Yardstick(4).flops
    128
    """

    def __init__(self, size: int, seed: int = 0):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive integer; got {size!r}")
        generator = torch.Generator().manual_seed(seed)
        self.size = size
        self.flops = matmul_flops(size, size, size)
        self._a, self._b = (torch.randn(size, size, generator=generator) for _ in range(2))
        self._out = torch.empty(size, size)

    def __call__(self) -> None:
        torch.mm(self._a, self._b, out=self._out)


def matmul_samples(yardstick: Yardstick, policy: TimingPolicy) -> list[float]:
    """Seconds per product, one sample per repetition."""
    return time_interleaved({"matmul": yardstick}, policy)["matmul"]


def matmul_result(yardstick: Yardstick, samples: list[float]) -> dict:
    """Summary of ``samples`` and the GFLOP/s at their median and quartiles."""
    seconds = summarize(samples)
    return {
        "size": yardstick.size,
        "flops": yardstick.flops,
        "seconds": seconds,
        "samples": samples,
        # The first quartile of the time is the third of the rate, and vice versa.
        "gflops": {
            "median": yardstick.flops / seconds["median"] / 1e9,
            "q1": yardstick.flops / seconds["q3"] / 1e9,
            "q3": yardstick.flops / seconds["q1"] / 1e9,
        },
    }
