"""`book_code.attention.cost`: sensible structures, exact byte counts, clear errors.

Nothing here asserts a timing: wall time depends on the machine. Memory is asserted only
where it is exact (the allocator's records of tensors we know the call must create).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from book_code.attention.cost import (
    METHODS,
    CostMeasurement,
    attention_weights_bytes,
    fit_loglog_slope,
    measure_attention_cost,
    median_seconds,
    peak_allocated_bytes,
)
from book_code.attention.functional import scaled_dot_product_attention

# --- attention_weights_bytes -------------------------------------------------------------


@settings(deadline=None)
@given(
    st.integers(1, 8),
    st.integers(1, 16),
    st.integers(1, 512),
    st.integers(1, 512),
    st.sampled_from([torch.float16, torch.bfloat16, torch.float32, torch.float64]),
)
def test_weights_bytes_is_the_size_of_the_weight_tensor(batch, heads, query_len, key_len, dtype):
    weights = torch.empty(batch, heads, query_len, key_len, dtype=dtype)
    expected = weights.numel() * weights.element_size()
    assert attention_weights_bytes(batch, heads, query_len, key_len, dtype=dtype) == expected


def test_weights_bytes_defaults_to_square_float32():
    assert attention_weights_bytes(2, 3, 10) == 2 * 3 * 10 * 10 * 4


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "8"])
def test_weights_bytes_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        attention_weights_bytes(bad, 1, 4)


def test_weights_bytes_rejects_a_non_dtype():
    with pytest.raises(TypeError, match=r"dtype must be a torch\.dtype"):
        attention_weights_bytes(1, 1, 4, dtype="float32")


# --- median_seconds -----------------------------------------------------------------------


def test_median_seconds_calls_warmup_plus_repeats_times():
    calls = []
    seconds = median_seconds(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7
    assert 0.0 <= seconds < 1.0


@pytest.mark.parametrize(
    ("repeats", "warmup", "message"),
    [
        (0, 1, "repeats must be a positive integer"),
        (3, -1, "warmup must be an integer >= 0"),
        (3, 0.5, "warmup must be an integer >= 0"),
    ],
)
def test_median_seconds_rejects_bad_counts(repeats, warmup, message):
    with pytest.raises(ValueError, match=message):
        median_seconds(lambda: None, repeats=repeats, warmup=warmup)


# --- peak_allocated_bytes -----------------------------------------------------------------


def test_peak_counts_a_tensor_created_and_freed_inside_the_call():
    # 1000 float64 numbers, dropped before the call returns: the peak still sees them.
    def make_and_drop():
        torch.ones(1000, dtype=torch.float64)
        return None

    assert peak_allocated_bytes(make_and_drop) >= 8000


def test_peak_is_the_maximum_not_the_sum():
    # Two 8000-byte tensors that never coexist: the peak is one of them, not both.
    def one_after_another():
        for _ in range(2):
            torch.ones(1000, dtype=torch.float64)

    assert 8000 <= peak_allocated_bytes(one_after_another) < 16000


def test_peak_of_a_call_that_allocates_nothing_is_zero():
    x = torch.ones(10)
    assert peak_allocated_bytes(lambda: x.mul_(x)) == 0


def test_explicit_attention_holds_at_least_the_weight_matrix_and_fused_holds_less():
    q = torch.randn(1, 2, 256, 16)
    weights = attention_weights_bytes(1, 2, 256)
    with torch.inference_mode():
        explicit = peak_allocated_bytes(lambda: scaled_dot_product_attention(q, q, q))
        fused = peak_allocated_bytes(lambda: F.scaled_dot_product_attention(q, q, q))
    assert explicit >= weights
    assert fused < weights


# --- measure_attention_cost ---------------------------------------------------------------


def test_measure_returns_one_record_per_length_and_method():
    results = measure_attention_cost([16, 32], d=8, batch=2, heads=3, repeats=2, warmup=0)
    assert [(r.n, r.method) for r in results] == [
        (16, "explicit"),
        (16, "fused"),
        (32, "explicit"),
        (32, "fused"),
    ]
    for r in results:
        assert isinstance(r, CostMeasurement)
        assert (r.d, r.batch, r.heads) == (8, 2, 3)
        assert r.seconds > 0 and math.isfinite(r.seconds)
        assert r.weights_bytes == 2 * 3 * r.n * r.n * 4
        assert isinstance(r.peak_bytes, int) and r.peak_bytes > 0
        assert set(r.as_dict()) >= {"method", "n", "seconds", "peak_bytes", "weights_bytes"}
    explicit = [r for r in results if r.method == "explicit"]
    # The explicit path returns the (batch, heads, n, n) weights, so it must hold them.
    assert all(r.peak_bytes >= r.weights_bytes for r in explicit)


def test_measure_restores_the_thread_count():
    before = torch.get_num_threads()
    measure_attention_cost([8], d=4, repeats=1, warmup=0, methods=["fused"], threads=1)
    assert torch.get_num_threads() == before


def test_measure_one_method_and_another_dtype():
    (result,) = measure_attention_cost([8], d=4, repeats=1, methods=["explicit"], dtype=torch.float64)
    assert result.method == "explicit"
    assert result.weights_bytes == 1 * 4 * 8 * 8 * 8


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"lengths": []}, ValueError, "lengths must not be empty"),
        ({"lengths": 128}, TypeError, "lengths must be a sequence"),
        ({"lengths": "128"}, TypeError, "lengths must be a sequence"),
        ({"lengths": [128, 0]}, ValueError, "every entry of lengths must be a positive integer"),
        ({"lengths": [12.5]}, ValueError, "every entry of lengths must be a positive integer"),
        ({"lengths": [8], "d": 0}, ValueError, "d must be a positive integer"),
        ({"lengths": [8], "heads": -2}, ValueError, "heads must be a positive integer"),
        ({"lengths": [8], "repeats": 0}, ValueError, "repeats must be a positive integer"),
        ({"lengths": [8], "warmup": -1}, ValueError, "warmup must be an integer >= 0"),
        ({"lengths": [8], "methods": ["flash"]}, ValueError, "methods must be a non-empty list"),
        ({"lengths": [8], "methods": []}, ValueError, "methods must be a non-empty list"),
        ({"lengths": [8], "methods": "fused"}, ValueError, "methods must be a non-empty list"),
        ({"lengths": [8], "dtype": torch.int64}, TypeError, r"floating-point torch\.dtype"),
        ({"lengths": [8], "threads": 0}, ValueError, "threads must be a positive integer"),
    ],
)
def test_measure_rejects_bad_input_before_measuring(kwargs, error, message):
    with pytest.raises(error, match=message):
        measure_attention_cost(**kwargs)


def test_methods_are_the_two_documented_ones():
    assert METHODS == ("explicit", "fused")


# --- fit_loglog_slope ---------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    st.floats(0.5, 3.5),
    st.floats(1e-6, 1e3),
    st.lists(st.integers(2, 10_000), min_size=2, max_size=8, unique=True),
)
def test_slope_recovers_the_exponent_of_a_power_law(exponent, constant, xs):
    ys = [constant * x**exponent for x in xs]
    assert fit_loglog_slope(xs, ys) == pytest.approx(exponent, abs=1e-9)


def test_slope_is_least_squares_for_noisy_points():
    # log y = 2 log x, with the middle point raised: least squares splits the difference.
    xs = [1.0, math.e, math.e**2]
    ys = [1.0, math.e**3, math.e**4]
    assert fit_loglog_slope(xs, ys) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("xs", "ys", "message"),
    [
        ([1, 2], [1], "same length"),
        ([1], [1], "at least two points"),
        ([1, 2], [0, 1], "positive and finite"),
        ([1, -2], [1, 1], "positive and finite"),
        ([1, 2], [1, math.inf], "positive and finite"),
        ([3, 3], [1, 2], "two different values"),
    ],
)
def test_slope_rejects_bad_points(xs, ys, message):
    with pytest.raises(ValueError, match=message):
        fit_loglog_slope(xs, ys)
