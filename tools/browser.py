"""Headless Chromium for the book: serve a built site on 127.0.0.1 and print pages to PDF.

Used by ``make pdf`` (the whole book as one PDF) and by the browser tests.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import io
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """Path of a Chromium executable, or ``None``."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files as a web host does: gzip-compressed text when the browser accepts it."""

    COMPRESSIBLE = (".html", ".css", ".js", ".json", ".svg", ".xml", ".ipynb", ".map")

    def log_message(self, format, *args):
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            if not self.path.split("?")[0].endswith("/"):
                return super().send_head()  # the base class redirects to the trailing slash
            path = path / "index.html"
        accepts = "gzip" in self.headers.get("Accept-Encoding", "")
        if not accepts or path.suffix not in self.COMPRESSIBLE or not path.is_file():
            return super().send_head()
        body = gzip.compress(path.read_bytes(), compresslevel=6)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` at ``http://127.0.0.1:<free port>`` while the block runs."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_chromium(chromium: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run headless Chromium with a fresh profile, no traffic of its own, and no host but
    ``127.0.0.1``: a request to any other host fails."""
    with tempfile.TemporaryDirectory(prefix="book-chromium-") as profile:
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            # Let MathJax finish typesetting before the DOM is dumped or the page printed.
            "--virtual-time-budget=60000", "--run-all-compositor-stages-before-draw",
            *args,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def print_to_pdf(chromium: str, url: str, pdf: Path) -> None:
    """Print ``url`` to ``pdf`` as a reader's browser would, without date and URL lines."""
    pdf.parent.mkdir(parents=True, exist_ok=True)
    partial = pdf.with_name(pdf.name + ".part")
    result = run_chromium(chromium, "--no-pdf-header-footer", f"--print-to-pdf={partial}", url)
    if result.returncode != 0 or not partial.exists() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"Chromium could not print {url}:\n{result.stderr[-2000:]}")
    partial.replace(pdf)  # atomic: never a half-written PDF under the final name
