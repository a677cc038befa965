"""What each page of the built book transfers, and whether it asks any other host for anything.

``python -m tools.page_weight SITE_DIR`` loads every page in headless Chromium (through
Playwright), serving the site on 127.0.0.1 and refusing every request to another host, and
prints the bytes each page transfers. The browser tests use the same function.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from tools.browser import find_chromium, serve


@dataclass
class PageLoad:
    """What loading one page did."""

    path: str
    bytes: int = 0
    """Bytes transferred: headers and bodies as sent, compressed where the server compresses."""
    requests: int = 0
    external: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    math_done: bool = False


def load_pages(site: Path, paths: list[str], chromium: str) -> list[PageLoad]:
    """Load each ``path`` (relative to the site root, e.g. ``chapters/01-attention/``)."""
    from playwright.sync_api import sync_playwright

    results = []
    with serve(site) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        for path in paths:
            load = PageLoad(path)
            context = browser.new_context()  # empty cache: count every byte
            page = context.new_page()

            def route(route, load=load):
                if urlparse(route.request.url).hostname in ("127.0.0.1", None):
                    route.continue_()
                else:
                    load.external.append(route.request.url)
                    route.abort()

            def finished(request, load=load):
                sizes = request.sizes()
                load.bytes += sizes["responseBodySize"] + sizes["responseHeadersSize"]
                load.requests += 1

            page.route("**/*", route)
            page.on("requestfinished", finished)
            page.on("requestfailed", lambda r, load=load: load.failed.append(r.url))
            page.on("console", lambda m, load=load: m.type == "error" and load.console_errors.append(m.text))
            page.on("pageerror", lambda e, load=load: load.console_errors.append(str(e)))
            page.goto(f"{base}/{path}", wait_until="load")
            if page.evaluate("typeof window.MathJax === 'object'"):
                page.wait_for_function("document.documentElement.dataset.mathjax === 'done'", timeout=60000)
                load.math_done = True
            page.wait_for_load_state("networkidle")
            context.close()
            results.append(load)
        browser.close()
    return results


def site_pages(site: Path) -> list[str]:
    """Every page of the built site, as a path relative to its root."""
    pages = []
    for html in sorted(site.rglob("index.html")):
        relative = html.parent.relative_to(site).as_posix()
        pages.append("" if relative == "." else relative + "/")
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path)
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        parser.error("Chromium is needed: on Debian or Ubuntu, `sudo apt-get install chromium`")
    loads = load_pages(args.site, site_pages(args.site), chromium)
    print(f"{'page':48} {'requests':>8} {'kB sent':>8}  other hosts")
    for load in loads:
        print(f"{load.path or '/':48} {load.requests:>8} {load.bytes / 1000:>8.0f}  {len(load.external)}")
    return 1 if any(load.external or load.failed for load in loads) else 0


if __name__ == "__main__":
    sys.exit(main())
