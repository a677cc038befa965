"""The book in a real browser: math renders offline, pages ask no other host for anything and
stay light, and chapters (and the whole book) print to clean PDFs."""

from __future__ import annotations

import html as html_lib
import re
import subprocess

import pytest

from tests.book.chapters import CHAPTERS
from tools.browser import print_to_pdf, run_chromium
from tools.page_weight import load_pages, site_pages

pytestmark = pytest.mark.slow
RAW_TEX = ("\\frac", "\\sqrt", "\\(", "\\[", "$$", "\\operatorname", "\\mathbf", "\\begin{")
MAX_PAGE_BYTES = 2_000_000


def built(site, chapter) -> str:
    return (site / "chapters" / chapter.stem / "index.html").read_text(encoding="utf-8")


def text_of(fragment: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


NOT_PROSE = re.compile(
    r'<(?:span|div) class="arithmatex">.*?</(?:span|div)>'
    r'|<div class="(?:language-\w+ )?highlight".*?</div>|<code>.*?</code>|<a class="headerlink".*?</a>',
    re.S,
)


def prose_pieces(fragment: str) -> list[str]:
    """The stretches of plain prose in ``fragment`` (math and code cut out), spaces removed:
    text that pdftotext must reproduce however the lines are broken."""
    pieces = (text_of(piece).replace(" ", "") for piece in NOT_PROSE.split(fragment))
    return [piece for piece in pieces if piece]


def pdf_text(pdftotext: str, pdf) -> str:
    """The PDF's text with white space folded and the "Page N" footer of each page removed."""
    raw = subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = [re.sub(r"\s*Page \d+\s*$", " ", page) for page in raw.split("\f")]
    return " ".join(" ".join(pages).split())


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_math_renders_in_chromium(chromium, site_url, chapter):
    result = run_chromium(chromium, "--dump-dom", f"{site_url}/chapters/{chapter.stem}/")
    dom = result.stdout
    assert result.returncode == 0 and "<html" in dom, result.stderr[-2000:]
    assert 'data-mathjax="done"' in dom, "MathJax did not finish typesetting"
    assert dom.count("<mjx-container") >= 5, "expected typeset formulas"
    assert "<mjx-merror" not in dom and "data-mjx-error" not in dom, "MathJax reported a TeX error"
    for span in re.findall(r'<(?:span|div) class="arithmatex">(.*?)</(?:span|div)>', dom, re.S):
        assert "<mjx-container" in span, f"formula left as TeX: {span[:120]}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_prints_cleanly(chromium, pdftotext, site, site_url, chapter, tmp_path):
    pdf = tmp_path / f"{chapter.stem}.pdf"
    print_to_pdf(chromium, f"{site_url}/chapters/{chapter.stem}/", pdf)
    text = pdf_text(pdftotext, pdf)
    page = built(site, chapter)
    # TeX that the page's code listings contain (a regular expression, a plot label) is code.
    code = " ".join(text_of(c) for c in re.findall(r"<pre[^>]*>(.*?)</pre>", page, re.S))
    leftovers = [tex for tex in RAW_TEX if tex in text and tex not in code]
    assert not leftovers, f"raw TeX in the printed {chapter.stem}: {leftovers}"
    article = page[page.index("<article"):page.index("</article>")]
    squeezed = text.replace(" ", "")
    for heading in re.findall(r"<h[1-4][^>]*>(.*?)</h[1-4]>", article, re.S):
        for words in prose_pieces(heading):
            assert words in squeezed, f"heading text {words!r} missing from the PDF"
    captions = [text_of(c) for c in re.findall(r"<figcaption>(.*?)</figcaption>", article, re.S)]
    assert captions, f"{chapter.stem} has no figure"
    for caption in captions:
        assert caption[:60].replace(" ", "") in squeezed, f"caption {caption[:60]!r} missing"
    # Collapsed solutions print expanded: their prose is on paper. (pdftotext puts the sub- and
    # superscripts of inline formulas on lines of their own, so a stretch of prose next to a
    # formula may come out interrupted; one clean stretch per solution is enough.)
    for body in re.findall(r'<details class="success">\s*<summary>.*?</summary>(.*?)</details>',
                           article, re.S):
        samples = [piece[:12] for piece in prose_pieces(body) if len(piece) >= 12]
        assert any(sample in squeezed for sample in samples), f"solution {samples[:3]} did not print"


def test_whole_book_prints_to_one_pdf(chromium, pdftotext, site, site_url, tmp_path):
    # Every formula of the combined page is typeset (its code cells may contain TeX strings,
    # such as matplotlib labels, so the PDF text itself is not searched for TeX).
    dom = run_chromium(chromium, "--dump-dom", f"{site_url}/print_page/").stdout
    assert 'data-mathjax="done"' in dom
    for span in re.findall(r'<(?:span|div) class="arithmatex">(.*?)</(?:span|div)>', dom, re.S):
        assert "<mjx-container" in span, f"formula left as TeX: {span[:120]}"
    pdf = tmp_path / "book.pdf"
    print_to_pdf(chromium, f"{site_url}/print_page/", pdf)
    text = pdf_text(pdftotext, pdf)
    assert "Contents" in text and "CC BY 4.0" in text
    for chapter in CHAPTERS:
        title = chapter.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
        assert text.count(title) >= 2, f"{title!r} should be in the contents and the body"


def test_pages_load_offline_and_stay_light(chromium, site):
    pages = [p for p in site_pages(site) if not p.startswith("print_page")]
    loads = load_pages(site, pages, chromium)
    assert len(loads) >= 10
    for load in loads:
        assert not load.external, f"{load.path} asked another host: {load.external[:3]}"
        assert not load.failed, f"{load.path}: failed requests {load.failed[:3]}"
        assert not load.console_errors, f"{load.path}: console errors {load.console_errors[:3]}"
        if load.path.startswith(("chapters/", "notebooks/")):
            # Compressed, as a web host sends it.
            assert load.bytes < MAX_PAGE_BYTES, f"{load.path} transfers {load.bytes} bytes"
    assert any(load.math_done for load in loads)
