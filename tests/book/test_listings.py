"""The in-step rule: every Python listing in the book is an include of a named section of
``book_code`` (or a ``pycon`` example, tested in ``test_examples.py``), never a pasted copy."""

from __future__ import annotations

import textwrap

import pytest

from tests.book import chapters
from tests.book.chapters import ALL_PAGES, ROOT, Block, blocks, section_text, snippet_includes

PYTHON_BLOCKS = [b for page in ALL_PAGES for b in blocks(page) if b.lang in chapters.PYTHON_LANGS]


def check_listing(block: Block) -> None:
    """Raise unless ``block`` consists of includes of existing ``book_code`` sections."""
    includes = snippet_includes(block)
    if not includes:
        raise ValueError(f"{block.where()}: empty Python listing")
    for path, section in includes:
        if not path.startswith("book_code/"):
            raise ValueError(f"{block.where()}: listing includes {path}, outside book_code/")
        if section is None:
            raise ValueError(f"{block.where()}: include {path} names no section")
        if not (ROOT / path).is_file():
            raise FileNotFoundError(f"{block.where()}: {path} does not exist")
        if not section_text(path, section).strip():
            raise ValueError(f"{block.where()}: section {path}:{section} is empty")


def test_book_has_listings():
    assert len(PYTHON_BLOCKS) >= 10, "the chapters should show book_code listings"


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=Block.where)
def test_listing_is_a_section_include(block):
    check_listing(block)


def test_every_marker_is_paired():
    """Each ``[start:x]`` in book_code has exactly one ``[end:x]`` after it (a missing end
    marker would make pymdownx.snippets include the rest of the file silently)."""
    for module in (ROOT / "book_code").rglob("*.py"):
        text = module.read_text(encoding="utf-8")
        names = [line.split("[start:")[1].split("]")[0] for line in text.splitlines()
                 if "# --8<-- [start:" in line]
        assert len(names) == len(set(names)), f"{module}: duplicate section names {names}"
        for name in names:
            section_text(str(module.relative_to(ROOT)), name)  # raises when unpaired


# The checker itself must catch what it is for.
def _page(tmp_path, text: str):
    page = tmp_path / "page.md"
    page.write_text(textwrap.dedent(text), encoding="utf-8")
    (block,) = [b for b in blocks(page) if b.lang == "python"]
    return Block(ROOT / "docs" / "page.md", block.line, block.lang, block.body)


def test_checker_rejects_pasted_listing(tmp_path):
    block = _page(tmp_path, """
        ```python
        def attention(q, k, v):
            return q
        ```
    """)
    with pytest.raises(ValueError, match="pasted Python listing"):
        check_listing(block)


def test_checker_rejects_missing_section(tmp_path):
    block = _page(tmp_path, """
        ```python
        --8<-- "book_code/attention/functional.py:no_such_section"
        ```
    """)
    with pytest.raises(LookupError, match="no_such_section"):
        check_listing(block)


def test_checker_rejects_missing_file_and_missing_end(tmp_path):
    block = _page(tmp_path, """
        ```python
        --8<-- "book_code/no_such_module.py:imports"
        ```
    """)
    with pytest.raises(FileNotFoundError):
        check_listing(block)
    (tmp_path / "half.py").write_text("# --8<-- [start:half]\nx = 1\n", encoding="utf-8")
    with pytest.raises(LookupError, match="half"):
        section_text("half.py", "half", root=tmp_path)


def test_checker_finds_indented_listings(tmp_path):
    block = _page(tmp_path, """
        ??? success "Solution"
            ```python
            x = 1
            ```
    """)
    with pytest.raises(ValueError, match="pasted"):
        check_listing(block)
