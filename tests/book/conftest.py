"""Fixtures for tests of the book itself: one strict build of the site per test session, a
local web server for it, and a headless Chromium."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.book.chapters import ROOT

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
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        pass


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable Chromium. Missing: a skip for readers, a failure in CI."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
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


def run_chromium(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with a fresh profile and no traffic of its own."""
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        # Only this machine resolves: a request to any other host fails.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=30000", "--run-all-compositor-stages-before-draw",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=240)
