"""Every ``pycon`` example in the book runs and prints what the page says it prints.

Examples on one page share a namespace, in page order, as they would for a reader typing
them into one Python session.
"""

from __future__ import annotations

import doctest

import pytest
from sybil import Sybil
from sybil.evaluators.doctest import DocTestEvaluator
from sybil.parsers.abstract import DocTestStringParser
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer

from tests.book.chapters import ALL_PAGES, ROOT

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


class PyconParser:
    """Sybil parser for fenced ``pycon`` blocks (indented ones included)."""

    def __init__(self) -> None:
        self.lexer = FencedCodeBlockLexer(language="pycon")
        self.doctests = DocTestStringParser(DocTestEvaluator(FLAGS))

    def __call__(self, document):
        for region in self.lexer(document):
            source = region.lexemes["source"]
            for example in self.doctests(source, document.path):
                example.adjust(region, source)
                yield example


SYBIL = Sybil(parsers=[PyconParser()])
PAGES = [page for page in ALL_PAGES if "```pycon" in page.read_text(encoding="utf-8")]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT / "docs")))
def test_pycon_examples(page):
    document = SYBIL.parse(page)
    examples = list(document)
    assert examples, f"{page} has a pycon block but Sybil found no example in it"
    try:
        for example in examples:
            example.evaluate()
    finally:
        document.namespace.clear()
