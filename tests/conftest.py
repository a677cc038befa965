"""Fixtures shared by every test."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """One PyTorch thread per test. The tests use tiny models, for which a second thread adds
    overhead, and on a busy two-core machine two threads can wait on each other for a long time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
