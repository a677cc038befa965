"""Run the training tests single-threaded: their models are tiny, and with other work on the
machine two threads per matrix multiply mostly wait for each other."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
