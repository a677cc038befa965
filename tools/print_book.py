"""Print the whole book to one PDF: ``python -m tools.print_book SITE_DIR OUTPUT.pdf``.

``SITE_DIR`` is a site built by ``mkdocs build`` (``make pdf`` builds it first). The combined
page ``print_page/`` made by mkdocs-print-site-plugin (cover, contents, every chapter and
notebook) is served on 127.0.0.1 and printed by headless Chromium.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.browser import find_chromium, print_to_pdf, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="directory of the built site")
    parser.add_argument("output", type=Path, help="where to write the PDF")
    args = parser.parse_args(argv)
    if not (args.site / "print_page" / "index.html").is_file():
        parser.error(f"{args.site} has no print_page/index.html; build the site first (make build)")
    chromium = find_chromium()
    if chromium is None:
        parser.error("Chromium is needed: on Debian or Ubuntu, `sudo apt-get install chromium`")
    with serve(args.site) as url:
        print_to_pdf(chromium, f"{url}/print_page/", args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
