"""What machine and software a benchmark ran on, recorded beside its numbers."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

import numpy as np
import torch

from book_code.machine import cpu_model


def cpu_flags() -> list[str]:
    """The vector-instruction flags that decide which matrix-multiply kernels can run."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return []
    for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("flags") and ":" in line:
            flags = set(line.split(":", 1)[1].split())
            wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
            return [flag for flag in wanted if flag in flags]
    return []


def memory_total_bytes() -> int | None:
    """Installed memory from ``/proc/meminfo``, or ``None`` where that file does not exist."""
    meminfo = Path("/proc/meminfo")
    if not meminfo.is_file():
        return None
    for line in meminfo.read_text(encoding="utf-8").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def hardware() -> dict:
    """CPU model, core count, memory and PyTorch's thread settings."""
    return {
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cores": os.cpu_count(),
        "machine": platform.machine(),
        "system": platform.system(),
        "memory_total_bytes": memory_total_bytes(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_parallel_backend": _parallel_backend(),
    }


def versions() -> dict:
    """Versions of Python, PyTorch and NumPy."""
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }


def timestamp() -> str:
    """The current time in UTC, ISO 8601, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def command_line() -> str:
    """How this process was started, as the reader would type it."""
    return " ".join(["python -m benchmarks", *sys.argv[1:]])


def _parallel_backend() -> str:
    for line in torch.__config__.parallel_info().splitlines():
        if line.startswith("ATen parallel backend:"):
            return line.split(":", 1)[1].strip()
    return "unknown"
