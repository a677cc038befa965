"""A reader who copies a chapter's listings in page order gets code that runs.

Each chapter's listings are assembled exactly as the site shows them and executed in a fresh
interpreter, followed by a check that the copied code computes what ``book_code`` computes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.book.chapters import CHAPTERS, DOCS, PYTHON_LANGS, blocks, section_text, snippet_includes

# Every page with listings: the chapters and the appendix of derivations.
LISTING_PAGES = [*CHAPTERS, DOCS / "appendix" / "derivations.md"]

# What each chapter's copied code must reproduce; the names come from the chapter's listings.
CHECKS = {
    "01-attention": """
        import book_code.attention.lookup as book
        torch.manual_seed(0)
        assert soft_lookup is not book.soft_lookup
        q, K, V = torch.randn(8), torch.randn(5, 8), torch.randn(5, 3)
        for mine, theirs in zip(soft_lookup(q, K, V), book.soft_lookup(q, K, V)):
            assert torch.equal(mine, theirs)
        assert torch.equal(softmax(K), book.softmax(K))
        assert torch.equal(hard_lookup(q, K, V), book.hard_lookup(q, K, V))
        assert measure_scaling(16, True).as_dict() == book_measure(16, True).as_dict()
    """,
    "02-scaled-dot-product": """
        import book_code.attention as book
        torch.manual_seed(0)
        assert scaled_dot_product_attention is not book.scaled_dot_product_attention
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
        assert MultiHeadAttention is not book.MultiHeadAttention  # the reader's own class
        assert isinstance(MultiHeadAttention.from_torch(theirs.to_torch()), MultiHeadAttention)
    """,
    "04-position": """
        import book_code.positional as book
        import book_code.exercises.ch04 as book_ex
        from book_code.attention import MultiHeadAttention
        torch.manual_seed(0)
        assert sinusoidal_encoding.__module__ == "__main__"
        assert torch.equal(sinusoidal_encoding(50, 16), book.sinusoidal_encoding(50, 16))
        assert torch.equal(sinusoidal_shift_matrix(-3, 16), book.sinusoidal_shift_matrix(-3, 16))
        x = torch.randn(2, 7, 16)
        sinusoidal = SinusoidalPositionalEncoding(16, 32)(x)
        assert torch.equal(sinusoidal, book.SinusoidalPositionalEncoding(16, 32)(x))
        torch.manual_seed(1)
        mine = LearnedPositionalEmbedding(32, 16)
        torch.manual_seed(1)
        assert torch.equal(mine(x), book.LearnedPositionalEmbedding(32, 16)(x))
        q, k = torch.randn(2, 2, 7, 8), torch.randn(2, 2, 5, 8)
        pos = torch.arange(7) * 3 - 4
        assert torch.equal(apply_rotary(q, pos), book.apply_rotary(q, pos))
        assert torch.equal(apply_rotary_half(q, pos), book.apply_rotary_half(q, pos))
        for a, b in zip(RotaryEmbedding(8, 16)(q, k), book.RotaryEmbedding(8, 16)(q, k)):
            assert torch.equal(a, b)
        assert torch.equal(alibi_bias(alibi_slopes(4), 6), book_ex.alibi_bias(book_ex.alibi_slopes(4), 6))
        v = torch.randn(2, 2, 7, 3)
        assert torch.equal(alibi_attention(q, q, v)[0], book_ex.alibi_attention(q, q, v)[0])
        torch.manual_seed(2)
        layer = MultiHeadAttention(16, 2, rotary=RotateHalfRotary(8)).double()
        x64 = torch.randn(1, 6, 16, dtype=torch.float64)
        torch.testing.assert_close(to_paper_pairing(layer)(x64)[0], layer(x64)[0], rtol=0, atol=1e-12)
    """,
    "05-encoder": """
        import book_code.encoder as book
        torch.manual_seed(0)
        mine = TransformerClassifier(50, 3, embed_dim=16, num_heads=2, num_layers=2, pooling="mean")
        torch.manual_seed(0)
        theirs = book.TransformerClassifier(50, 3, embed_dim=16, num_heads=2, num_layers=2, pooling="mean")
        mine.eval(), theirs.eval()
        assert type(mine) is not type(theirs)  # the copied class, not the package's
        ids = torch.tensor([[1, 7, 9, 4, 2], [1, 4, 3, 0, 0]])
        assert torch.equal(mine(ids), theirs(ids))
        assert torch.equal(mine.forward_with_weights(ids)[0], theirs.forward_with_weights(ids)[0])
        reference = torch.nn.TransformerEncoderLayer(16, 4, 32, norm_first=True, batch_first=True).eval()
        x = torch.randn(2, 5, 16)
        pad = ids != 0
        a = EncoderLayer.from_torch(reference).eval()(x, key_padding_mask=pad)
        b = book.EncoderLayer.from_torch(reference).eval()(x, key_padding_mask=pad)
        assert torch.equal(a, b)
        assert torch.equal(layer_norm(x), book.layer_norm(x))
        config = ClassifierConfig(vocab_size=1000, num_classes=2)
        book_config = book.ClassifierConfig(vocab_size=1000, num_classes=2)
        assert count_parameters(config) == book.count_parameters(book_config)
        assert flops_per_forward(config, 2, 64) == book.flops_per_forward(book_config, 2, 64)
        assert bert_parameters() == book.bert_parameters()
        steps = range(9)
        assert [warmup_then_decay(t, 3, 9) for t in steps] == [book.warmup_then_decay(t, 3, 9) for t in steps]
    """,
    "derivations": """
        import book_code.attention.backward as book
        from book_code.attention import causal_mask
        assert attention_with_manual_backward is not book.attention_with_manual_backward
        torch.manual_seed(0)
        q, k, v = (torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
        mask = causal_mask(5)
        mask[2] = False
        upstream = torch.randn(2, 3, 5, 4, dtype=torch.float64)
        for recompute in (False, True):
            mine = attention_with_manual_backward(q, k, v, mask, recompute=recompute, block_size=2)
            theirs = book.attention_with_manual_backward(q, k, v, mask, recompute=recompute, block_size=2)
            assert torch.equal(mine, theirs)
            for a, b in zip(torch.autograd.grad(mine, (q, k, v), upstream),
                            torch.autograd.grad(theirs, (q, k, v), upstream)):
                assert torch.equal(a, b)
            saved = saved_tensors(attention_with_manual_backward, q, k, v, recompute=recompute)
            assert storage_bytes(saved) == book.saved_bytes(2, 3, 5, 5, 4, 8, recompute)
    """,
}
PRELUDE = {"01-attention": "from book_code.attention.scaling import measure_scaling as book_measure"}


def listing_groups(chapter) -> list[str]:
    """The chapter's listings in page order, joined where a listing continues the one before.

    A listing whose first line is indented (a method shown on its own) belongs to the class of
    the listing before it; the two are run as one piece of code.
    """
    groups: list[str] = []
    for block in blocks(chapter):
        if block.lang not in PYTHON_LANGS:
            continue
        for path, section in snippet_includes(block):
            code = section_text(path, section)
            first = next((line for line in code.splitlines() if line.strip()), "")
            if groups and first[:1].isspace():
                groups[-1] += "\n" + code
            else:
                groups.append(code)
    return groups


RUNNER = """
import json, sys
groups = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
copied = {}
for index, code in enumerate(groups):
    exec(compile(code, f"<listing {index}>", "exec"), namespace)
    # Remember what the reader's own code defined before a later import can shadow it.
    for name, value in namespace.items():
        if getattr(value, "__module__", None) == "__main__" and name not in copied:
            copied[name] = value
check_namespace = {**namespace, **copied, "__name__": "__check__"}
exec(compile(CHECK, "<check>", "exec"), check_namespace)
print("ok")
"""


@pytest.mark.slow
@pytest.mark.parametrize("chapter", LISTING_PAGES, ids=lambda p: p.stem)
def test_copied_listings_run(chapter, tmp_path):
    groups = listing_groups(chapter)
    assert groups, f"{chapter.name} shows no listings"
    check = textwrap.dedent(CHECKS.get(chapter.stem, ""))
    assert check, f"add a check of the copied code for {chapter.stem} to CHECKS"
    check = f"import torch\n{PRELUDE.get(chapter.stem, '')}\n{check}"
    script = tmp_path / "run_listings.py"
    script.write_text(f"CHECK = {check!r}\n{RUNNER}", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], input=json.dumps(groups), cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (
        f"copying the listings of {chapter.name} in page order gives code that fails:\n"
        f"{result.stderr[-3000:]}"
    )
