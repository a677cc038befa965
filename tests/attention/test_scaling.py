"""Chapter 1's experiment: why the logits are divided by sqrt(d_k)."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch

from book_code.attention.scaling import ScalingMeasurement, measure_scaling, scaling_sweep

WIDTHS = (4, 16, 64, 256, 1024)


@pytest.fixture(scope="module")
def sweep() -> dict[tuple[int, bool], ScalingMeasurement]:
    return {(m.d_k, m.scaled): m for m in scaling_sweep(WIDTHS)}


def _relative_sd(d_k: int, num_keys: int, num_queries: int) -> float:
    """Standard deviation of (sample logit variance / true variance).

    The sample variance is about tr(S_q S_k) / d_k with S_q, S_k the sample second-moment
    matrices of the queries and keys; its relative variance is
    2 / (d_k num_keys) + 2 / (d_k num_queries) + 2 / (num_keys num_queries).
    """
    return math.sqrt(2 / (d_k * num_keys) + 2 / (d_k * num_queries) + 2 / (num_keys * num_queries))


@pytest.mark.parametrize(("d_k", "seed"), [(16, 0), (64, 1), (256, 2)])
@pytest.mark.parametrize("scaled", [False, True])
def test_logit_variance_is_d_k_unscaled_and_one_scaled(d_k, seed, scaled):
    num_keys, num_queries = 128, 500
    m = measure_scaling(d_k, scaled, num_keys=num_keys, num_queries=num_queries, seed=seed)
    expected = 1.0 if scaled else float(d_k)
    assert abs(m.logit_variance / expected - 1) < 5 * _relative_sd(d_k, num_keys, num_queries)


def test_default_sweep_variances_within_sampling_error(sweep):
    for d_k in WIDTHS:
        tol = 5 * _relative_sd(d_k, 32, 2000)
        assert abs(sweep[d_k, False].logit_variance / d_k - 1) < tol
        assert abs(sweep[d_k, True].logit_variance - 1) < tol
        # Scaling divides the logits by sqrt(d_k), hence their variance by d_k exactly (same seed).
        assert math.isclose(sweep[d_k, False].logit_variance / d_k, sweep[d_k, True].logit_variance,
                            rel_tol=1e-12)


def test_unscaled_softmax_saturates_and_its_gradient_vanishes(sweep):
    max_weight = [sweep[d, False].max_weight for d in WIDTHS]
    assert all(a < b for a, b in pairwise(max_weight))
    assert max_weight[-1] > 0.9
    # The Jacobian norm is small for a near-uniform softmax too (tiny d_k), so it first rises;
    # from d_k = 16 on it falls steadily.
    grad = [sweep[d, False].grad_norm for d in WIDTHS[1:]]
    assert all(a > b for a, b in pairwise(grad))
    assert grad[-1] < 0.5 * grad[0]
    assert sweep[1024, False].grad_norm < 0.5 * sweep[1024, True].grad_norm


def test_scaled_softmax_stays_flat_across_widths(sweep):
    for field in ("max_weight", "grad_norm"):
        values = [getattr(sweep[d, True], field) for d in WIDTHS]
        assert max(values) / min(values) < 1.2, (field, values)
    # With 32 keys and unit-variance logits, no weight dominates.
    assert all(sweep[d, True].max_weight < 0.3 for d in WIDTHS)


def test_measurement_matches_an_independent_computation():
    d_k, num_keys, num_queries, seed = 8, 5, 6, 3
    m = measure_scaling(d_k, True, num_keys=num_keys, num_queries=num_queries, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randn(num_queries, d_k, generator=generator, dtype=torch.float64)
    keys = torch.randn(num_keys, d_k, generator=generator, dtype=torch.float64)
    logits = queries @ keys.T / math.sqrt(d_k)
    weights = torch.softmax(logits, -1)
    jacobians = torch.stack([torch.autograd.functional.jacobian(lambda z: torch.softmax(z, -1), row)
                             for row in logits])
    assert math.isclose(m.logit_variance, logits.var().item(), rel_tol=1e-12)
    assert math.isclose(m.max_weight, weights.max(-1).values.mean().item(), rel_tol=1e-12)
    assert math.isclose(m.grad_norm, jacobians.flatten(1).norm(dim=-1).mean().item(), rel_tol=1e-12)


def test_measurement_is_reproducible_and_serialisable():
    a = measure_scaling(16, False, num_queries=50, seed=5)
    assert a == measure_scaling(16, False, num_queries=50, seed=5)
    assert a != measure_scaling(16, False, num_queries=50, seed=6)
    assert a.as_dict() == {"d_k": 16, "scaled": False, "logit_variance": a.logit_variance,
                           "max_weight": a.max_weight, "grad_norm": a.grad_norm}


def test_sweep_order_and_keyword_forwarding():
    result = scaling_sweep((2, 8), num_keys=4, num_queries=10, seed=1)
    assert [(m.d_k, m.scaled) for m in result] == [(2, False), (8, False), (2, True), (8, True)]
    assert result[0] == measure_scaling(2, False, num_keys=4, num_queries=10, seed=1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"d_k": 0}, r"need d_k >= 1, num_keys >= 2, num_queries >= 2; got 0, 32, 2000"),
        ({"d_k": 4, "num_keys": 1}, r"num_keys >= 2.*; got 4, 1, 2000"),
        ({"d_k": 4, "num_queries": 1}, r"num_queries >= 2; got 4, 32, 1"),
    ],
    ids=["d_k", "num_keys", "num_queries"],
)
def test_bad_inputs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        measure_scaling(scaled=True, **kwargs)
