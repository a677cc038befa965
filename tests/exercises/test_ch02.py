"""The solutions to Chapter 2's exercises solve their exercises."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from book_code.attention import causal_mask, combine_masks, scaled_dot_product_attention
from book_code.attention.cost import attention_weights_bytes
from book_code.exercises.ch02 import output_input_influence, sliding_window_mask

# Exercise 1: a sliding-window mask.


@settings(deadline=None)
@given(st.integers(1, 40), st.integers(0, 45))
def test_sliding_window_matches_its_definition(n, w):
    mask = sliding_window_mask(n, w)
    assert mask.shape == (n, n) and mask.dtype == torch.bool
    for i in range(n):
        for j in range(n):
            assert bool(mask[i, j]) == (abs(i - j) <= w), (i, j)


@settings(deadline=None)
@given(st.integers(1, 40), st.integers(0, 45))
def test_sliding_window_rows_hold_at_most_2w_plus_1_keys(n, w):
    counts = sliding_window_mask(n, w).sum(dim=-1)
    assert int(counts.max()) == min(n, 2 * w + 1)
    assert bool((counts >= 1).all())  # never a fully masked row: each query sees itself


def test_sliding_window_extremes():
    assert torch.equal(sliding_window_mask(5, 0), torch.eye(5, dtype=torch.bool))
    assert bool(sliding_window_mask(5, 4).all())
    assert bool(sliding_window_mask(5, 100).all())


def test_causal_sliding_window_looks_back_w_steps():
    mask = combine_masks(sliding_window_mask(6, 2), causal_mask(6))
    expected = torch.tensor([[i - 2 <= j <= i for j in range(6)] for i in range(6)])
    assert torch.equal(mask, expected)


def test_window_mask_makes_attention_ignore_far_values():
    # Changing a value more than w positions away must not change the output.
    n, w = 8, 2
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(n, 4, generator=generator, dtype=torch.float64) for _ in range(3))
    mask = sliding_window_mask(n, w)
    before, _ = scaled_dot_product_attention(q, k, v, mask=mask)
    v_far = v.clone()
    v_far[7] += 100.0  # position 7 is within reach of queries 5, 6, 7 only
    after, _ = scaled_dot_product_attention(q, k, v_far, mask=mask)
    assert torch.equal(before[:5], after[:5])
    assert not torch.allclose(before[5:], after[5:])


@pytest.mark.parametrize(("n", "w"), [(0, 1), (-3, 1), (4, -1), (4.0, 1), (4, 1.5), (True, 1)])
def test_sliding_window_rejects_bad_sizes(n, w):
    with pytest.raises(ValueError, match="must be an integer"):
        sliding_window_mask(n, w)


# Exercise 2: memory of the weights (the solution's numbers).


def test_memory_of_the_weights_matches_the_solution():
    # B = 8, H = 12, n = 4096 in float32: 8 * 12 * 4096**2 * 4 bytes = 6 GiB.
    assert attention_weights_bytes(8, 12, 4096) == 6 * 2**30
    # Doubling n quadruples it; halving the bytes per number (float16) halves it.
    assert attention_weights_bytes(8, 12, 8192) == 4 * 6 * 2**30
    assert attention_weights_bytes(8, 12, 4096, dtype=torch.float16) == 3 * 2**30


# Exercise 3: the causal mask makes output i independent of inputs j > i.


@settings(deadline=None, max_examples=25)
@given(st.integers(2, 7), st.integers(0, 2**31 - 1))
def test_causal_output_does_not_depend_on_later_inputs(n, seed):
    x = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    influence = output_input_influence(x, causal_mask(n))
    assert influence.shape == (n, n)
    assert bool((influence.triu(diagonal=1) == 0).all())  # exactly zero above the diagonal
    assert bool((influence.diagonal() > 0).all())


def test_without_a_mask_every_output_depends_on_every_input():
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert bool((output_input_influence(x) > 0).all())


def test_influence_matches_a_finite_difference():
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    influence = output_input_influence(x)
    eps, i, j = 1e-6, 0, 3
    for c in range(3):
        bumped = x.clone()
        bumped[j, c] += eps
        out = scaled_dot_product_attention(x, x, x)[0]
        out_bumped = scaled_dot_product_attention(bumped, bumped, bumped)[0]
        # A column of the Jacobian block can be no larger than the block's Frobenius norm.
        column = (out_bumped[i] - out[i]) / eps
        assert float(column.norm()) <= float(influence[i, j]) + 1e-6


def test_influence_rejects_a_batched_input():
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        output_input_influence(torch.zeros(2, 3, 4))


# Exercise 4: softmax over dim=-2 normalises columns, not rows.


def test_softmax_over_the_query_axis_normalises_columns_not_rows():
    scores = torch.randn(4, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    wrong = torch.softmax(scores, dim=-2)
    ones_k = torch.ones(6, dtype=torch.float64)
    ones_q = torch.ones(4, dtype=torch.float64)
    assert torch.allclose(wrong.sum(dim=-2), ones_k)  # every key's column sums to 1
    assert not torch.allclose(wrong.sum(dim=-1), ones_q)  # rows do not
