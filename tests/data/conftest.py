"""Fixtures for the data tests: where the real datasets are.

The real-data tests read ``BOOK_DATA_DIR`` (CI sets it to ``../shared/data``). When it is set,
the files must be there: a missing file fails the tests rather than skipping them, so a broken
CI configuration cannot pass silently. When it is unset (a reader's machine), the tests use the
cache (``BOOK_CACHE_DIR`` or ``~/.cache/book_code``), downloading and verifying the datasets into
it the first time, exactly as the loaders do; only when that download fails (offline) do they
skip, with a message that says how to provide the files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from book_code.data.datasets import DataNotFoundError, cache_dir, load_rt_polarity, load_sst2

#: Files every data root must hold for the real-data tests.
REQUIRED = ("sst2/train.tsv", "sst2/dev.tsv", "sst2/test.tsv", "rt-polarity/rt-polarity.pos",
            "rt-polarity/rt-polarity.neg")
#: Also required when BOOK_DATA_DIR is set: the book's own data folder has the SST-2 test labels.
REQUIRED_IN_DATA_DIR = (*REQUIRED, "sst2/test_labeled.tsv")

HOW_TO_PROVIDE = (
    "set the environment variable BOOK_DATA_DIR to a folder that holds sst2/ (the GLUE SST-2 files, "
    "plus test_labeled.tsv) and rt-polarity/ (rt-polarity.pos and .neg); in this project: "
    "BOOK_DATA_DIR=../shared/data"
)


def find_data_root() -> Path:
    """The folder holding ``sst2/`` and ``rt-polarity/``; fails or skips as the module says."""
    configured = os.environ.get("BOOK_DATA_DIR")
    if configured:
        root = Path(configured)
        missing = [name for name in REQUIRED_IN_DATA_DIR if not (root / name).is_file()]
        if missing:
            pytest.fail(f"BOOK_DATA_DIR={configured} is set but lacks {missing}; {HOW_TO_PROVIDE}",
                        pytrace=False)
        return root
    try:  # the loaders download into the cache once, verified, then read the cache
        load_sst2("dev")
        load_rt_polarity("dev")
    except DataNotFoundError as err:
        pytest.skip(f"the real datasets could not be downloaded: {err} (In this project: "
                    "BOOK_DATA_DIR=../shared/data.)")
    return cache_dir()


@pytest.fixture(scope="session")
def data_root() -> Path:
    return find_data_root()


@pytest.fixture
def no_network(monkeypatch):
    """Make every download attempt fail the way an offline machine does; count the attempts."""
    import urllib.error
    import urllib.request

    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return calls


@pytest.fixture
def empty_environment(monkeypatch, tmp_path):
    """No BOOK_DATA_DIR, and an empty cache under tmp_path; returns the cache root."""
    monkeypatch.delenv("BOOK_DATA_DIR", raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("BOOK_CACHE_DIR", str(cache))
    return cache
