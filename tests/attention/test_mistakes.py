"""The anti-examples of `book_code.attention.mistakes` differ from the correct code exactly as documented."""

from __future__ import annotations

import math

import pytest
import torch

from book_code.attention import MultiHeadAttention, masked_softmax, scaled_dot_product_attention, split_heads
from book_code.attention.mistakes import (
    EmbedDimScaledAttention,
    SharedHeadProjection,
    large_negative_masked_softmax,
)
from tests.attention.helpers import assert_close64, max_abs_diff, randn


def _randomise(module: torch.nn.Module, seed: int) -> None:
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)


def _entropy(weights: torch.Tensor) -> torch.Tensor:
    return -torch.xlogy(weights, weights).sum(-1)


# --- one nn.Linear(head_dim, head_dim) shared by all heads --------------------------------------


@pytest.mark.parametrize(("embed_dim", "num_heads"), [(8, 2), (16, 4), (64, 8), (12, 1)])
def test_shared_head_projection_parameter_counts(embed_dim, num_heads):
    head_dim = embed_dim // num_heads
    shared = SharedHeadProjection(embed_dim, num_heads)
    correct = MultiHeadAttention(embed_dim, num_heads)
    # Q, K and V projections: 3 (head_dim^2 + head_dim) shared versus 3 (E^2 + E) per layer.
    expected_shared_proj = 3 * (head_dim**2 + head_dim)
    expected_correct_proj = 3 * (embed_dim**2 + embed_dim)
    out_proj = embed_dim**2 + embed_dim
    shared_proj = sum(p.numel() for m in (shared.q, shared.k, shared.v) for p in m.parameters())
    assert shared_proj == expected_shared_proj
    assert sum(p.numel() for p in correct.in_proj.parameters()) == expected_correct_proj
    assert sum(p.numel() for p in shared.parameters()) == expected_shared_proj + out_proj
    assert sum(p.numel() for p in correct.parameters()) == expected_correct_proj + out_proj
    # "About num_heads**2 times fewer": exactly num_heads**2 fewer projection weights.
    shared_weights = sum(m.weight.numel() for m in (shared.q, shared.k, shared.v))
    assert correct.in_proj.weight.numel() == num_heads**2 * shared_weights


def _copy_out_proj(shared: SharedHeadProjection, correct: MultiHeadAttention) -> None:
    with torch.no_grad():
        shared.out_proj.load_state_dict(correct.out_proj.state_dict())


def test_shared_head_output_differs_even_with_matched_weights():
    embed_dim, num_heads = 8, 2
    head_dim = embed_dim // num_heads
    correct = MultiHeadAttention(embed_dim, num_heads).double()
    _randomise(correct, 0)
    shared = SharedHeadProjection(embed_dim, num_heads).double()
    _copy_out_proj(shared, correct)
    # The closest one can get: give the shared Linear head 0's block of W_Q, W_K and W_V.
    w, b = correct.in_proj.weight, correct.in_proj.bias
    with torch.no_grad():
        for i, linear in enumerate((shared.q, shared.k, shared.v)):
            rows = slice(i * embed_dim, i * embed_dim + head_dim)
            linear.weight.copy_(w[rows, :head_dim])
            linear.bias.copy_(b[rows])
    x = randn(2, 5, embed_dim, seed=1)
    assert max_abs_diff(shared(x), correct(x)[0]) > 0.1


def test_shared_head_equals_mha_restricted_to_block_diagonal_tied_weights():
    """What the mistake really computes: W_Q, W_K, W_V forced to be block-diagonal with one
    repeated block. Any other (ordinary) multi-head weights are out of its reach."""
    embed_dim, num_heads = 12, 3
    shared = SharedHeadProjection(embed_dim, num_heads).double()
    _randomise(shared, 2)
    restricted = MultiHeadAttention(embed_dim, num_heads).double()
    with torch.no_grad():
        linears = (shared.q, shared.k, shared.v)
        blocks = [torch.block_diag(*[m.weight] * num_heads) for m in linears]
        restricted.in_proj.weight.copy_(torch.cat(blocks))
        restricted.in_proj.bias.copy_(torch.cat([m.bias.repeat(num_heads) for m in linears]))
        restricted.out_proj.load_state_dict(shared.out_proj.state_dict())
    x = randn(2, 5, embed_dim, seed=3)
    assert_close64(shared(x), restricted(x, need_weights=True)[0], tol=1e-12)


def _heads_before_out_proj(module, x):
    """Set the output projection to the identity so the output is the concatenated heads."""
    with torch.no_grad():
        module.out_proj.weight.copy_(torch.eye(module.out_proj.weight.shape[0]))
        module.out_proj.bias.zero_()
    out = module(x)
    return out[0] if isinstance(out, tuple) else out


def test_shared_head_sees_only_its_own_slice_of_features():
    embed_dim, num_heads = 8, 2
    shared = SharedHeadProjection(embed_dim, num_heads).double()
    correct = MultiHeadAttention(embed_dim, num_heads).double()
    _randomise(shared, 4)
    _randomise(correct, 5)
    x = randn(1, 6, embed_dim, seed=6)
    x2 = x.clone()
    x2[..., :4] += 1.0  # change only the features that head 0's slice holds
    for module, head1_changes in ((shared, False), (correct, True)):
        before, after = _heads_before_out_proj(module, x), _heads_before_out_proj(module, x2)
        assert max_abs_diff(before[..., :4], after[..., :4]) > 1e-3  # head 0 changes
        assert (max_abs_diff(before[..., 4:], after[..., 4:]) > 1e-3) == head1_changes


def test_shared_heads_cannot_differ_on_identical_slices():
    embed_dim, num_heads = 8, 4
    shared = SharedHeadProjection(embed_dim, num_heads).double()
    correct = MultiHeadAttention(embed_dim, num_heads).double()
    _randomise(shared, 7)
    _randomise(correct, 8)
    x = randn(1, 5, 2, seed=9).repeat(1, 1, num_heads)  # every head's slice holds the same features
    for module, heads_equal in ((shared, True), (correct, False)):
        heads = _heads_before_out_proj(module, x).unflatten(-1, (num_heads, 2))
        spread = (heads - heads[..., :1, :]).abs().max().item()
        assert (spread < 1e-12) == heads_equal


# --- dividing by sqrt(embed_dim) instead of sqrt(head_dim) ----------------------------------------


def _wrong_and_correct(embed_dim: int, num_heads: int, seed: int):
    correct = MultiHeadAttention(embed_dim, num_heads).double()
    _randomise(correct, seed)
    wrong = EmbedDimScaledAttention(embed_dim, num_heads).double()
    wrong.load_state_dict(correct.state_dict())
    return wrong, correct


@pytest.mark.parametrize("num_heads", [2, 4, 8])
def test_embed_dim_scaling_gives_flatter_weights(num_heads):
    wrong, correct = _wrong_and_correct(16, num_heads, seed=10)
    x = randn(3, 7, 16, seed=11)
    wrong_out, wrong_w = wrong(x)
    right_out, right_w = correct(x, need_weights=True)
    assert max_abs_diff(wrong_out, right_out) > 1e-3
    # Dividing by sqrt(num_heads) more is a softmax temperature sqrt(num_heads) > 1: every row's
    # entropy rises and its largest weight falls.
    assert (_entropy(wrong_w) > _entropy(right_w)).all()
    assert (wrong_w.amax(-1) < right_w.amax(-1)).all()
    # Precisely: the correct attention with scale 1 / sqrt(embed_dim).
    q, k, v = (split_heads(t, num_heads) for t in correct.project(x, x, x))
    _, expected = scaled_dot_product_attention(q, k, v, scale=1 / math.sqrt(16))
    assert_close64(wrong_w, expected, tol=1e-12)


def test_embed_dim_scaling_is_harmless_with_one_head():
    wrong, correct = _wrong_and_correct(16, 1, seed=12)
    x = randn(2, 5, 16, seed=13)
    wrong_out, wrong_w = wrong(x)
    right_out, right_w = correct(x, need_weights=True)
    assert_close64(wrong_out, right_out, tol=1e-12)
    assert_close64(wrong_w, right_w, tol=1e-12)


# --- filling masked scores with a large negative number ------------------------------------------


def _scores_and_mask():
    scores = randn(2, 4, 5, seed=14, scale=3.0)
    mask = torch.tensor(
        [[True, False, True, True, False],
         [False] * 5,  # fully masked row
         [False, False, False, False, True],
         [True] * 5]
    )
    return scores, mask


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_large_negative_fill_gives_uniform_weights_on_fully_masked_rows(dtype):
    scores, mask = _scores_and_mask()
    scores = scores.to(dtype)
    wrong = large_negative_masked_softmax(scores, mask)
    right = masked_softmax(scores, mask)
    key_len = scores.shape[-1]
    assert torch.allclose(wrong[:, 1], torch.full_like(wrong[:, 1], 1 / key_len))
    assert (right[:, 1] == 0).all()
    # Rows with at least one allowed key agree: exp(-1e9 - max) is exactly 0.
    rows = [0, 2, 3]
    assert torch.equal(wrong[:, rows] == 0, right[:, rows] == 0)
    assert max_abs_diff(wrong[:, rows], right[:, rows]) < (1e-12 if dtype == torch.float64 else 1e-6)


def test_large_negative_fill_makes_a_masked_query_average_the_padding():
    scores, mask = _scores_and_mask()
    values = randn(2, 5, 3, seed=15)
    wrong_out = large_negative_masked_softmax(scores, mask) @ values
    query, key = randn(2, 4, 2, seed=16), randn(2, 5, 2, seed=17)
    right_out, _ = scaled_dot_product_attention(query, key, values, mask)
    assert_close64(wrong_out[:, 1], values.mean(-2))
    assert (right_out[:, 1] == 0).all()
