"""The machine record shared by the experiments."""

from __future__ import annotations

import os

import torch

from book_code import machine


def test_software_records_versions_and_threads():
    record = machine.software()
    assert record["torch"] == torch.__version__ and record["cpu_threads"] == torch.get_num_threads()
    assert set(record) == {"torch", "python", "processor", "cpu_threads", "book_code"}


def test_cpu_model_and_load_average_degrade_gracefully(monkeypatch):
    def unavailable(*args, **kwargs):
        raise OSError("not available here")

    monkeypatch.setattr(machine.Path, "read_text", unavailable)
    monkeypatch.setattr(os, "getloadavg", unavailable)
    assert machine.cpu_model() == (machine.platform.processor() or machine.platform.machine() or "unknown")
    assert machine.load_average() is None


def test_load_average_is_three_rounded_numbers():
    values = machine.load_average()
    if not hasattr(os, "getloadavg"):  # Windows
        assert values is None
    else:
        assert len(values) == 3 and all(v == round(v, 2) >= 0 for v in values)
