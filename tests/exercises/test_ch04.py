"""The Chapter 4 solutions solve their exercises: ALiBi biases depend on the offset only and
reduce to causal attention with zero slopes; converting rotate-half weights to the paper's
pairing changes no output."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from book_code.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention
from book_code.exercises.ch04 import (
    RotateHalfRotary,
    alibi_attention,
    alibi_bias,
    alibi_slopes,
    to_paper_pairing,
)
from book_code.positional import RotaryEmbedding
from tests.attention.helpers import assert_close64, max_abs_diff, randn


def test_alibi_slopes_are_the_papers():
    assert alibi_slopes(8).tolist() == [2.0**-h for h in range(1, 9)]
    assert alibi_slopes(4).tolist() == [2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8]
    with pytest.raises(ValueError, match="num_heads"):
        alibi_slopes(0)


def test_alibi_bias_depends_only_on_the_offset():
    bias = alibi_bias(alibi_slopes(4), 7)
    assert bias.shape == (4, 7, 7)
    for i in range(6):
        for j in range(6):
            assert torch.equal(bias[:, i + 1, j + 1], bias[:, i, j])
    assert torch.all(bias.diagonal(dim1=-2, dim2=-1) == 0)
    lower = torch.tril(torch.ones(7, 7, dtype=torch.bool))
    assert torch.all(bias[:, lower] <= 0)  # the keys a causal query sees are only penalised


def test_alibi_with_zero_slopes_is_causal_attention():
    q, k, v = randn(2, 3, 6, 4, seed=1), randn(2, 3, 6, 4, seed=2), randn(2, 3, 6, 5, seed=3)
    out, weights = alibi_attention(q, k, v, slopes=torch.zeros(3, dtype=torch.float64))
    want, want_weights = scaled_dot_product_attention(q, k, v, causal_mask(6))
    assert_close64(out, want)
    assert_close64(weights, want_weights)


def test_alibi_weights_decay_geometrically_when_content_is_silent():
    # Zero queries: every score is the bias alone, so weight(j) is proportional to
    # exp(-slope * (i - j)): each step back multiplies the weight by exp(-slope).
    q = torch.zeros(1, 2, 5, 4, dtype=torch.float64)
    k, v = randn(1, 2, 5, 4), randn(1, 2, 5, 3)
    _, weights = alibi_attention(q, k, v)
    slopes = alibi_slopes(2)
    last = weights[0, :, 4]  # query at position 4 sees keys 0 .. 4
    assert_close64(last[:, :-1] / last[:, 1:], torch.exp(-slopes)[:, None].expand(2, 4))
    assert_close64(weights.sum(-1), torch.ones(1, 2, 5, dtype=torch.float64))


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([(8, 1), (16, 2), (16, 4), (24, 3)]), st.integers(0, 2**16))
def test_converted_layer_gives_the_same_outputs(size, seed):
    embed_dim, num_heads = size
    torch.manual_seed(seed)
    half = MultiHeadAttention(embed_dim, num_heads, rotary=RotateHalfRotary(embed_dim // num_heads)).double()
    with torch.no_grad():  # non-zero biases: a bias left in the old order would show
        half.in_proj.bias.normal_()
    paper = to_paper_pairing(half)
    assert isinstance(paper.rotary, RotaryEmbedding)
    x = randn(2, 7, embed_dim, seed=seed)
    for need_weights in (False, True):
        assert_close64(paper(x, need_weights=need_weights)[0], half(x, need_weights=need_weights)[0])
    _, w_paper = paper(x, need_weights=True)
    _, w_half = half(x, need_weights=True)
    assert_close64(w_paper, w_half)


def test_swapping_the_rotary_without_reordering_weights_changes_the_outputs():
    torch.manual_seed(0)
    half = MultiHeadAttention(16, 2, rotary=RotateHalfRotary(8)).double()
    naive = MultiHeadAttention(16, 2, rotary=RotaryEmbedding(8, dtype=torch.float64)).double()
    naive.load_state_dict(half.state_dict())
    x = randn(1, 6, 16)
    assert max_abs_diff(naive(x)[0], half(x)[0]) > 1e-4
    with pytest.raises(TypeError, match="RotateHalfRotary"):
        to_paper_pairing(naive)
