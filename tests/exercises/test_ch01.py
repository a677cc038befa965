"""The solutions to Chapter 1's exercises solve their exercises."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from book_code.attention.lookup import hard_lookup, soft_lookup
from book_code.attention.scaling import measure_scaling
from book_code.exercises.ch01 import additive_lookup, measure_with_offsets, nadaraya_watson

SEEDS = st.integers(0, 2**31 - 1)


def additive_inputs(seed: int, n: int = 5, d_q: int = 3, d_k: int = 4, d_h: int = 6, d_v: int = 2):
    generator = torch.Generator().manual_seed(seed)

    def draw(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    return draw(d_q), draw(n, d_k), draw(n, d_v), draw(d_q, d_h), draw(d_k, d_h), draw(d_h)


# Exercise 3: additive (Bahdanau) attention for one query.


@settings(max_examples=50, deadline=None)
@given(seed=SEEDS, n=st.integers(1, 8), d_q=st.integers(1, 5), d_k=st.integers(1, 5))
def test_additive_lookup_matches_the_formula_key_by_key(seed, n, d_q, d_k):
    query, keys, values, w_query, w_key, v = additive_inputs(seed, n, d_q, d_k)
    output, weights = additive_lookup(query, keys, values, w_query, w_key, v)
    # The formula as written in the exercise, one key at a time, with exp / sum.
    scores = torch.stack([torch.tanh(query @ w_query + key @ w_key) @ v for key in keys])
    expected = scores.exp() / scores.exp().sum()
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(output, (expected[:, None] * values).sum(dim=0))
    assert output.shape == values.shape[1:] and weights.shape == (n,)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, size=st.floats(1.0, 1e6))
def test_additive_weights_stay_bounded_however_large_the_inputs(seed, size):
    """tanh bounds every score by sum|v|, so the weights can never become one-hot."""
    query, keys, values, w_query, w_key, v = additive_inputs(seed, n=6)
    _, weights = additive_lookup(query * size, keys * size, values, w_query, w_key, v)
    assert torch.isfinite(weights).all()
    bound = v.abs().sum()
    largest_possible = math.exp(2 * bound) / (math.exp(2 * bound) + len(keys) - 1)
    assert weights.max() <= largest_possible + 1e-12
    assert weights.min() > 0


def test_additive_lookup_is_differentiable_in_every_parameter():
    tensors = [t.requires_grad_() for t in additive_inputs(seed=0)]
    output, _ = additive_lookup(*tensors)
    output.sum().backward()
    for tensor in tensors:
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0


def test_additive_lookup_rejects_mismatched_shapes():
    query, keys, values, w_query, w_key, v = additive_inputs(seed=0)
    with pytest.raises(ValueError, match="w_key"):
        additive_lookup(query, keys, values, w_query, w_key[1:], v)
    with pytest.raises(ValueError, match="values"):
        additive_lookup(query, keys, values[1:], w_query, w_key, v)
    with pytest.raises(ValueError):
        additive_lookup(query, keys, values, w_query, w_key, v[1:])


# Exercise 4: Nadaraya-Watson kernel regression is a soft lookup.


@settings(max_examples=50, deadline=None)
@given(seed=SEEDS, n=st.integers(1, 8), d=st.integers(1, 4), bandwidth=st.floats(0.3, 5.0))
def test_nadaraya_watson_matches_the_kernel_formula(seed, n, d, bandwidth):
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(d, generator=generator, dtype=torch.float64)
    keys = torch.randn(n, d, generator=generator, dtype=torch.float64)
    values = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    estimate, weights = nadaraya_watson(query, keys, values, bandwidth)
    kernel = torch.tensor(
        [math.exp(-float(((query - key) ** 2).sum()) / (2 * bandwidth**2)) for key in keys],
        dtype=torch.float64,
    )
    torch.testing.assert_close(weights, kernel / kernel.sum())
    torch.testing.assert_close(estimate, kernel @ values / kernel.sum())


@settings(max_examples=50, deadline=None)
@given(seed=SEEDS, n=st.integers(1, 8), d=st.integers(1, 6), bandwidth=st.floats(0.3, 5.0))
def test_nadaraya_watson_on_equal_norm_keys_is_dot_product_attention(seed, n, d, bandwidth):
    """The solution's claim: with keys of equal norm, the Gaussian kernel's weights are
    softmax(q . k_i / h^2), dot-product attention at temperature h^2."""
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(d, generator=generator, dtype=torch.float64)
    keys = torch.randn(n, d, generator=generator, dtype=torch.float64)
    keys = 2.5 * keys / keys.norm(dim=-1, keepdim=True)
    values = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    estimate, weights = nadaraya_watson(query, keys, values, bandwidth)
    output, attention = soft_lookup(query / bandwidth**2, keys, values, scaled=False)
    torch.testing.assert_close(weights, attention)
    torch.testing.assert_close(estimate, output)


def test_nadaraya_watson_with_a_narrow_kernel_is_a_hard_lookup():
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    values = torch.tensor([[10.0], [20.0], [30.0]], dtype=torch.float64)
    query = torch.tensor([0.2, 0.9], dtype=torch.float64)
    estimate, _ = nadaraya_watson(query, keys, values, bandwidth=0.01)
    torch.testing.assert_close(estimate, hard_lookup(query, keys, values))
    _, weights = nadaraya_watson(query, keys, values, bandwidth=1e4)
    torch.testing.assert_close(weights, torch.full((3,), 1 / 3, dtype=torch.float64))


@pytest.mark.parametrize("bandwidth", [0.0, -1.0, float("nan")])
def test_nadaraya_watson_rejects_a_bandwidth_that_is_not_positive(bandwidth):
    with pytest.raises(ValueError, match="bandwidth"):
        nadaraya_watson(torch.zeros(2), torch.zeros(3, 2), torch.zeros(3, 1), bandwidth)


# Exercise 5: keys and queries whose components have a non-zero mean.


def test_offsets_of_zero_reproduce_measure_scaling():
    plain = measure_scaling(32, scaled=True, num_queries=500)
    shifted = measure_with_offsets(32, num_queries=500)
    assert shifted.logit_variance == pytest.approx(plain.logit_variance, rel=1e-12)
    assert shifted.max_weight == pytest.approx(plain.max_weight, rel=1e-12)


@pytest.mark.parametrize("offset", [0.5, 1.0, 2.0])
def test_a_key_offset_changes_the_logit_variance_but_not_the_weights(offset):
    """Shift invariance: q . mu is the same for every key, so the softmax ignores it."""
    plain = measure_with_offsets(64, num_queries=1000)
    shifted = measure_with_offsets(64, key_offset=offset, num_queries=1000)
    assert shifted.max_weight == pytest.approx(plain.max_weight, rel=1e-9)
    assert shifted.key_spread == pytest.approx(plain.key_spread, rel=1e-9)
    # Var(q . k / sqrt(d_k)) over all pairs grows from 1 to 1 + offset^2.
    assert shifted.logit_variance == pytest.approx(1 + offset**2, rel=0.15)


@pytest.mark.parametrize("offset", [0.5, 1.0, 2.0])
def test_a_query_offset_spreads_the_scores_and_sharpens_the_weights(offset):
    plain = measure_with_offsets(64, num_queries=1000)
    shifted = measure_with_offsets(64, query_offset=offset, num_queries=1000)
    # Given q, the spread across keys is |q|^2 / d_k, about 1 + offset^2.
    assert shifted.key_spread == pytest.approx(1 + offset**2, rel=0.25)
    assert shifted.max_weight > plain.max_weight
    sharper = measure_with_offsets(64, query_offset=2 * offset, num_queries=1000)
    assert sharper.max_weight > shifted.max_weight


# Exercise 2: the variance of q . k for other variances and for correlated components.


def test_dot_product_variance_is_d_sigma_q_squared_sigma_k_squared():
    generator = torch.Generator().manual_seed(0)
    d, sigma_q, sigma_k = 16, 0.5, 3.0
    q = sigma_q * torch.randn(200_000, d, generator=generator, dtype=torch.float64)
    k = sigma_k * torch.randn(200_000, d, generator=generator, dtype=torch.float64)
    dots = (q * k).sum(dim=-1)
    assert dots.var().item() == pytest.approx(d * sigma_q**2 * sigma_k**2, rel=0.02)
    assert (dots / (math.sqrt(d) * sigma_q * sigma_k)).var().item() == pytest.approx(1.0, rel=0.02)


def test_dot_product_variance_with_correlated_components_is_a_trace():
    generator = torch.Generator().manual_seed(1)
    d, rho = 8, 0.6
    # Every component shares one common factor: covariance (1 - rho) I + rho 1 1^T.
    covariance = (1 - rho) * torch.eye(d, dtype=torch.float64) + rho
    factor = torch.linalg.cholesky(covariance)
    q = torch.randn(200_000, d, generator=generator, dtype=torch.float64) @ factor.T
    k = torch.randn(200_000, d, generator=generator, dtype=torch.float64) @ factor.T
    dots = (q * k).sum(dim=-1)
    expected = torch.trace(covariance @ covariance).item()  # d (1 - rho^2) + d^2 rho^2
    assert expected == pytest.approx(d * (1 - rho**2) + d**2 * rho**2)
    assert dots.var().item() == pytest.approx(expected, rel=0.03)
