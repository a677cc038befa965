"""The Chapter 3 measurements measure what they claim to."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from book_code.attention import MultiHeadAttention, padding_mask
from book_code.attention.heads import (
    attention_entropy,
    compare_with_torch,
    head_weights,
    scale_sweep,
    token_head_weights,
)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**16))
def test_entropy_bounds_and_extremes(n, seed):
    generator = torch.Generator().manual_seed(seed)
    weights = torch.softmax(torch.randn(3, n, generator=generator, dtype=torch.float64), dim=-1)
    entropy = attention_entropy(weights)
    assert entropy.shape == (3,)
    assert (entropy >= -1e-12).all() and (entropy <= math.log(n) + 1e-12).all()
    uniform = torch.full((n,), 1.0 / n, dtype=torch.float64)
    assert attention_entropy(uniform).item() == pytest.approx(math.log(n))
    one_hot = torch.zeros(n, dtype=torch.float64)
    one_hot[seed % n] = 1.0
    assert attention_entropy(one_hot).item() == 0.0
    assert attention_entropy(torch.zeros(n)).item() == 0.0  # fully masked row: no NaN
    with pytest.raises(TypeError):
        attention_entropy(torch.ones(3, dtype=torch.long))


def test_head_weights_default_equals_the_layer():
    torch.manual_seed(0)
    layer = MultiHeadAttention(16, 4).double()
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    pad = padding_mask(torch.tensor([5, 2]), 5)
    _, want = layer(x, key_padding_mask=pad, need_weights=True)
    got = head_weights(layer, x, mask=pad[:, None, None, :])
    torch.testing.assert_close(got, want, rtol=0, atol=1e-14)
    flatter = head_weights(layer, x, divisor=math.sqrt(16))  # sqrt(embed_dim): the mistake
    assert attention_entropy(flatter).mean() > attention_entropy(head_weights(layer, x)).mean()
    with pytest.raises(ValueError, match="positive"):
        head_weights(layer, x, divisor=0.0)


def test_token_head_weights_rows_and_repeats():
    tokens = "the cat sat on the mat".split()
    weights = token_head_weights(tokens, embed_dim=16, num_heads=4, seed=3)
    assert weights.shape == (4, 6, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, 6))
    # "the" at positions 0 and 4 has one embedding and no position: same row, same column.
    torch.testing.assert_close(weights[:, 0], weights[:, 4])
    torch.testing.assert_close(weights[:, :, 0], weights[:, :, 4])
    assert not torch.allclose(weights[0], weights[1])  # the heads differ
    torch.testing.assert_close(weights, token_head_weights(tokens, 16, 4, seed=3), rtol=0, atol=0)
    with pytest.raises(ValueError):
        token_head_weights([])


def test_scale_sweep_shows_the_sqrt_heads_shrinkage():
    heads = (1, 4, 16)
    results = scale_sweep(embed_dim=64, heads=heads, seq_len=16, batch=4)
    assert len(results) == 2 * len(heads)
    by_key = {(r.num_heads, r.divisor): r for r in results}
    for h in heads:
        right, wrong = by_key[h, "sqrt(head_dim)"], by_key[h, "sqrt(embed_dim)"]
        assert right.head_dim == wrong.head_dim == 64 // h
        # Same raw scores, divisor larger by sqrt(h): the spread shrinks by exactly sqrt(h).
        assert wrong.score_std * math.sqrt(h) == pytest.approx(right.score_std, rel=1e-12)
        assert 0.0 < right.entropy <= 1.0 and 0.0 < wrong.entropy <= 1.0
        if h > 1:
            assert wrong.entropy > right.entropy and wrong.max_weight < right.max_weight
        else:
            assert (wrong.score_std, wrong.entropy) == (right.score_std, right.entropy)
    # The correct divisor keeps the spread roughly independent of the number of heads.
    stds = [by_key[h, "sqrt(head_dim)"].score_std for h in heads]
    assert max(stds) / min(stds) < 1.5


def test_compare_with_torch_agrees_to_rounding_error():
    rows = compare_with_torch()
    assert [r.setting for r in rows][:2] == ["self, no mask", "self, key padding"]
    assert len(rows) == 6
    for row in rows:
        for diff in (row.explicit, row.fused, row.weights):
            assert math.isfinite(diff) and diff < 1e-12, row
