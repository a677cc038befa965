"""Chapter 1's single-query attention: softmax, hard lookup and soft lookup."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch

from book_code.attention.lookup import hard_lookup, soft_lookup, softmax
from tests.attention.helpers import assert_close64, randn


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_matches_torch(dim):
    scores = randn(4, 6, seed=0, scale=3.0)
    assert_close64(softmax(scores, dim=dim), torch.softmax(scores, dim=dim), tol=1e-15)


def test_softmax_docstring_example():
    out = softmax(torch.tensor([1000.0, 1000.0, 999.0]))
    assert torch.allclose(out, torch.tensor([0.4223, 0.4223, 0.1554]), atol=5e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shift", [1000.0, -1000.0])
def test_softmax_survives_thousand_scale_inputs(dtype, shift):
    scores = (randn(3, 8, seed=1, scale=1000.0) + shift).to(dtype)
    # Without subtracting the maximum, exp overflows to inf (or every term underflows to 0): NaN.
    naive = scores.exp() / scores.exp().sum(-1, keepdim=True)
    assert torch.isnan(naive).any()
    out = softmax(scores)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, torch.softmax(scores.double(), -1).to(dtype), atol=1e-6)
    assert torch.allclose(out.sum(-1), torch.ones(3, dtype=dtype))


def test_softmax_is_shift_invariant():
    scores = randn(5, seed=2)
    assert_close64(softmax(scores + 123.0), softmax(scores), tol=1e-14)


def test_hard_lookup_returns_the_value_of_the_best_matching_key():
    keys = torch.eye(4)
    values = torch.tensor([[10.0], [20.0], [30.0], [40.0]])
    assert hard_lookup(torch.tensor([0.0, 0.0, 1.0, 0.2]), keys, values).item() == 30.0
    for seed in range(5):
        query, keys, values = randn(6, seed=seed), randn(9, 6, seed=seed + 10), randn(9, 3, seed=seed + 20)
        best = max(range(9), key=lambda i: float(keys[i] @ query))
        assert torch.equal(hard_lookup(query, keys, values), values[best])


@pytest.mark.parametrize("scaled", [True, False])
def test_soft_lookup_is_a_softmax_weighted_average(scaled):
    query, keys, values = randn(4, seed=3), randn(7, 4, seed=4), randn(7, 5, seed=5)
    out, weights = soft_lookup(query, keys, values, scaled=scaled)
    assert out.shape == (5,) and weights.shape == (7,)
    divisor = math.sqrt(4) if scaled else 1.0
    assert_close64(weights, torch.softmax(keys @ query / divisor, -1), tol=1e-15)
    assert_close64(out, weights @ values, tol=1e-15)
    assert abs(weights.sum().item() - 1) < 1e-12


def test_soft_lookup_approaches_hard_lookup_as_the_query_grows():
    query, keys, values = randn(8, seed=6), randn(10, 8, seed=7), randn(10, 3, seed=8)
    hard = hard_lookup(query, keys, values)
    best = (keys @ query).argmax()
    distances, top_weights = [], []
    for factor in (0.1, 1.0, 10.0, 100.0, 1000.0):
        out, weights = soft_lookup(query * factor, keys, values)
        distances.append((out - hard).norm().item())
        top_weights.append(weights[best].item())
    assert all(a > b for a, b in pairwise(distances))
    assert all(a < b for a, b in pairwise(top_weights))
    assert distances[-1] < 1e-9 and top_weights[-1] > 1 - 1e-9
    # Scaling a query down flattens it towards the plain average of the values.
    out, _ = soft_lookup(query * 1e-9, keys, values)
    assert_close64(out, values.mean(0), tol=1e-8)
