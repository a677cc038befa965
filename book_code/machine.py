"""What the experiments and benchmarks record about the machine they ran on, written once for all."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

import book_code


def cpu_model() -> str:
    """The CPU's marketing name from ``/proc/cpuinfo`` (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, rounded; None where the system has none (Windows)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def software() -> dict[str, Any]:
    """The versions and the thread count that a measurement depends on."""
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "processor": platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "book_code": getattr(book_code, "__version__", "unknown"),
    }
