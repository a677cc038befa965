"""The strict build of the whole book, with every notebook executed, and what it must contain."""

from __future__ import annotations

import json
import re

import pytest

from tests.book.chapters import CHAPTERS, DOCS

pytestmark = pytest.mark.slow

NOTEBOOKS = sorted((DOCS / "notebooks").glob("*.py"))
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.I)
CSS_EXTERNAL = re.compile(r"""(?:@import\s+["']?|url\(\s*["']?)(?:https?:)?//""", re.I)


def page(site, src: str) -> str:
    name = src.removesuffix(".md").removesuffix(".py")
    folder = site if name == "index" else site / name
    return (folder / "index.html").read_text(encoding="utf-8")


def test_every_chapter_and_notebook_is_built(site):
    assert len(CHAPTERS) >= 3 and len(NOTEBOOKS) >= 3
    for chapter in CHAPTERS:
        html = page(site, f"chapters/{chapter.name}")
        assert "<h1" in html and "Exercises" in html, chapter.name
    for notebook in NOTEBOOKS:
        html = page(site, f"notebooks/{notebook.name}")
        assert "jp-Notebook" in html and "jp-OutputArea" in html, notebook.name


def test_notebook_pages_offer_a_jupyter_download(site):
    for notebook in NOTEBOOKS:
        html = page(site, f"notebooks/{notebook.name}")
        ipynb = notebook.with_suffix(".ipynb").name
        assert f'href="{ipynb}" download' in html
        data = json.loads((site / "notebooks" / ipynb).read_text(encoding="utf-8"))
        assert data["nbformat"] == 4 and len(data["cells"]) >= 3
        assert data["metadata"]["kernelspec"]["name"] == "python3"


def test_notebooks_executed_without_errors(site):
    for notebook in NOTEBOOKS:
        html = page(site, f"notebooks/{notebook.name}")
        assert "Traceback" not in html and 'data-mime-type="application/vnd.jupyter.stderr"' not in html


def test_chapter_figures_come_from_notebooks_with_alt_text(site):
    placed = 0
    for chapter in CHAPTERS:
        html = page(site, f"chapters/{chapter.name}")
        assert 'class="notebook-figure"' not in html, f"{chapter.name}: unplaced figure"
        placed += html.count('class="book-figure"')
    assert placed >= 3, "each chapter should show at least one figure from its notebook"
    for html_file in site.rglob("*.html"):
        for tag in re.findall(r"<img\b[^>]*>", html_file.read_text(encoding="utf-8")):
            alt = re.search(r'\balt="([^"]*)"', tag)
            assert alt and alt.group(1).strip(), f"{html_file}: image without alt text: {tag[:120]}"


def test_math_is_marked_for_the_local_mathjax(site):
    html = page(site, f"chapters/{CHAPTERS[0].name}")
    assert 'class="arithmatex"' in html
    assert re.search(r'<script src="(\.\./)+assets/mathjax/startup\.js"', html)
    assert (site / "assets/mathjax/startup.js").stat().st_size > 10_000
    fonts = list((site / "assets/mathjax/output/chtml/fonts/woff-v2").glob("*.woff"))
    assert len(fonts) > 10


def test_no_page_loads_anything_from_another_host(site):
    for html_file in site.rglob("*.html"):
        html = html_file.read_text(encoding="utf-8")
        for tag in re.findall(r"<(?:script|link|img|iframe|source|video|audio)\b[^>]*>", html, re.I):
            assert not EXTERNAL.search(tag), f"{html_file}: external resource {tag[:160]}"
        assert "cdn" not in " ".join(re.findall(r"<script\b[^>]*>", html)).lower()
    for css in site.rglob("*.css"):
        assert not CSS_EXTERNAL.search(css.read_text(encoding="utf-8")), f"{css} loads from another host"


def test_footer_states_the_licences(site):
    html = page(site, "index.md")
    assert "CC BY 4.0" in html and "MIT" in html
