"""A reader who copies a chapter's listings in page order gets code that runs.

Each chapter's listings are assembled exactly as the site shows them and executed in a fresh
interpreter, followed by a check that the copied code computes what ``book_code`` computes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.book.chapters import CHAPTERS, PYTHON_LANGS, blocks, section_text, snippet_includes

# What each chapter's copied code must reproduce; the names come from the chapter's listings.
CHECKS = {
    "01-attention": """
        import book_code.attention.lookup as book
        torch.manual_seed(0)
        q, K, V = torch.randn(8), torch.randn(5, 8), torch.randn(5, 3)
        for mine, theirs in zip(soft_lookup(q, K, V), book.soft_lookup(q, K, V)):
            assert torch.equal(mine, theirs)
        assert torch.equal(softmax(K), book.softmax(K))
        assert torch.equal(hard_lookup(q, K, V), book.hard_lookup(q, K, V))
        assert measure_scaling(16, True) == book_measure(16, True)
    """,
    "02-scaled-dot-product": """
        import book_code.attention as book
        torch.manual_seed(0)
        q, k, v = torch.randn(2, 4, 8), torch.randn(2, 6, 8), torch.randn(2, 6, 5)
        mask = padding_mask(torch.tensor([6, 3]), 6)[:, None, :]
        mask = combine_masks(mask, causal_mask(4, 6))
        for mine, theirs in zip(scaled_dot_product_attention(q, k, v, mask),
                                book.scaled_dot_product_attention(q, k, v, mask)):
            assert torch.equal(mine, theirs)
    """,
    "03-multi-head": """
        import book_code.attention as book
        torch.manual_seed(0)
        mine = MultiHeadAttention(16, 4)
        torch.manual_seed(0)
        theirs = book.MultiHeadAttention(16, 4)
        x = torch.randn(2, 5, 16)
        pad = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
        for need_weights in (False, True):
            a = mine(x, key_padding_mask=pad, need_weights=need_weights)
            b = theirs(x, key_padding_mask=pad, need_weights=need_weights)
            assert torch.equal(a[0], b[0])
        assert isinstance(MultiHeadAttention.from_torch(theirs.to_torch()), MultiHeadAttention)
    """,
}
PRELUDE = {"01-attention": "from book_code.attention.scaling import measure_scaling as book_measure"}


def assembled_listings(chapter) -> str:
    parts = []
    for block in blocks(chapter):
        if block.lang in PYTHON_LANGS:
            parts.extend(section_text(path, section) for path, section in snippet_includes(block))
    return "\n\n\n".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_copied_listings_run(chapter, tmp_path):
    code = assembled_listings(chapter)
    assert code.strip(), f"{chapter.name} shows no listings"
    check = textwrap.dedent(CHECKS.get(chapter.stem, ""))
    assert check, f"add a check of the copied code for {chapter.stem} to CHECKS"
    script = tmp_path / f"{chapter.stem}.py"
    # The prelude only imports the package's version for comparison, after the listings.
    script.write_text(
        f"{code}\n\n\nimport torch\n{PRELUDE.get(chapter.stem, '')}\n{check}\nprint('ok')\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (
        f"copying the listings of {chapter.name} in page order gives code that fails:\n"
        f"{result.stderr[-3000:]}"
    )
