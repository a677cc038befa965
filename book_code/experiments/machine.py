"""What the experiments record about the machine they ran on, written once for all of them."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

import book_code


def cpu_model() -> str | None:
    """The processor's model name from ``/proc/cpuinfo`` (Linux), or None where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


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
