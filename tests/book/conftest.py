"""Fixtures for tests of the book itself: one strict build of the site per test session, a
local web server for it, and a headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.book.chapters import ROOT
from tools.browser import find_chromium, serve

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """Build the whole book with ``mkdocs build --strict``, executing every notebook."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "BOOK_NOTEBOOK_CACHE": "false"}
    result = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"strict build failed:\n{log[-6000:]}"
    warnings = [line for line in log.splitlines() if line.startswith("WARNING")]
    assert not warnings, "the build printed warnings:\n" + "\n".join(warnings)
    return out


@pytest.fixture(scope="session")
def site_url(site):
    """Serve the built site on 127.0.0.1 (a free port) for the browser tests."""
    with serve(site) as url:
        yield url


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable Chromium. Missing: a skip for readers, a failure in CI."""
    path = find_chromium()
    if path:
        return path
    message = (
        "the browser checks need Chromium: on Debian or Ubuntu run "
        "`sudo apt-get install chromium poppler-utils`"
    )
    if os.environ.get("BOOK_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pdftotext() -> str:
    path = shutil.which("pdftotext")
    if path:
        return path
    message = "the print checks need poppler-utils (pdftotext): `sudo apt-get install poppler-utils`"
    if os.environ.get("BOOK_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)
