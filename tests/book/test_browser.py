"""The book in a real browser: math renders offline, and chapters print to PDF without raw TeX."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.book.chapters import CHAPTERS
from tests.book.conftest import run_chromium

pytestmark = pytest.mark.slow
RAW_TEX = ("\\frac", "\\sqrt", "\\(", "\\[", "$$", "\\operatorname", "\\mathbf")


def chapter_url(site_url: str, chapter) -> str:
    return f"{site_url}/chapters/{chapter.stem}/"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_math_renders_in_chromium(chromium, site_url, chapter, tmp_path):
    result = run_chromium(chromium, tmp_path, "--dump-dom", chapter_url(site_url, chapter))
    dom = result.stdout
    assert result.returncode == 0 and "<html" in dom, result.stderr[-2000:]
    assert 'data-mathjax="done"' in dom, "MathJax did not finish typesetting"
    assert dom.count("<mjx-container") >= 5, "expected typeset formulas"
    assert "merror" not in dom, "MathJax reported a TeX error"
    # Every arithmatex span has been replaced by MathJax output: no TeX source remains.
    for span in re.findall(r'<(?:span|div) class="arithmatex">(.*?)</(?:span|div)>', dom, re.S):
        assert "<mjx-container" in span, f"formula left as TeX: {span[:120]}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_prints_without_raw_tex(chromium, pdftotext, site_url, chapter, tmp_path):
    pdf = tmp_path / f"{chapter.stem}.pdf"
    result = run_chromium(
        chromium, tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
        chapter_url(site_url, chapter),
    )
    assert pdf.exists() and pdf.stat().st_size > 10_000, result.stderr[-2000:]
    text = subprocess.run([pdftotext, "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    leftovers = [tex for tex in RAW_TEX if tex in text]
    assert not leftovers, f"raw TeX in the printed {chapter.stem}: {leftovers}"
    title = chapter.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
    assert title.split()[-1] in text, "the chapter title is missing from the PDF"
