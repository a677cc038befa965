"""The hand-written attention backward against autograd, and what each variant saves for it."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from book_code.attention import (
    causal_mask,
    combine_masks,
    key_padding_to_attention_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from book_code.attention.backward import (
    RecomputeAttentionFunction,
    ScaledDotProductAttentionFunction,
    attention_with_manual_backward,
    saved_bytes,
    saved_tensors,
    storage_bytes,
)
from tests.attention.helpers import assert_close64, randn

BATCH, HEADS, D_K, D_V = 2, 3, 4, 5
VARIANTS = {"store_P": {"recompute": False}, "recompute": {"recompute": True, "block_size": 3}}


def _inputs(query_len: int, key_len: int, seed: int = 0, d_v: int = D_V, scale: float = 1.0):
    """float64 (batch, heads, len, features) query, key and value that require grad."""
    q = randn(BATCH, HEADS, query_len, D_K, seed=seed, scale=scale).requires_grad_()
    k = randn(BATCH, HEADS, key_len, D_K, seed=seed + 1, scale=scale).requires_grad_()
    v = randn(BATCH, HEADS, key_len, d_v, seed=seed + 2).requires_grad_()
    return q, k, v


def _left_padding(key_len: int) -> torch.Tensor:
    """(batch, 1, 1, key_len) mask with padding at the *start*: the first key blocks of the
    second sequence are fully masked, which the online softmax must survive."""
    keep = torch.ones(BATCH, key_len, dtype=torch.bool)
    keep[1, : key_len - 2] = False
    return key_padding_to_attention_mask(keep)


def _random_mask(shape: tuple[int, ...], seed: int = 0, empty_rows: tuple[int, ...] = ()) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(shape, generator=generator) < 0.5
    mask[..., list(empty_rows), :] = False
    return mask


# (id, query_len, key_len, mask builder)
CASES = [
    ("no_mask", 6, 7, lambda lq, lk: None),
    ("padding", 6, 7, lambda lq, lk: key_padding_to_attention_mask(padding_mask(torch.tensor([7, 3]), lk))),
    ("left_padding", 6, 7, lambda lq, lk: _left_padding(lk)),
    ("causal", 7, 7, lambda lq, lk: causal_mask(lq)),
    ("causal_cross", 4, 7, lambda lq, lk: causal_mask(lq, lk)),
    ("padding_and_causal", 7, 7, lambda lq, lk: combine_masks(
        key_padding_to_attention_mask(padding_mask(torch.tensor([7, 2]), lk)), causal_mask(lq))),
    ("fully_masked_rows", 6, 7, lambda lq, lk: _random_mask((BATCH, HEADS, lq, lk), empty_rows=(1, 4))),
    ("query_broadcast_mask", 5, 7, lambda lq, lk: _random_mask((1, lk), seed=2) | (torch.arange(lk) == 0)),
]


def _autograd_reference(q, k, v, mask, scale=None):
    out, _ = scaled_dot_product_attention(q, k, v, mask, scale=scale)
    return out


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
@pytest.mark.parametrize(("name", "query_len", "key_len", "make_mask"), CASES, ids=[c[0] for c in CASES])
def test_forward_and_gradients_match_autograd(variant, name, query_len, key_len, make_mask):
    mask = make_mask(query_len, key_len)
    q, k, v = _inputs(query_len, key_len, seed=len(name))
    ours = attention_with_manual_backward(q, k, v, mask, **VARIANTS[variant])
    ref = _autograd_reference(q, k, v, mask)
    assert_close64(ours, ref)

    upstream = randn(*ours.shape, seed=99)
    grads = torch.autograd.grad(ours, (q, k, v), upstream)
    ref_grads = torch.autograd.grad(ref, (q, k, v), upstream)
    for letter, g, r in zip("qkv", grads, ref_grads, strict=True):
        assert torch.isfinite(g).all(), f"d{letter} has NaN or inf"
        assert_close64(g, r)


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_fully_masked_rows_give_exact_zeros(variant):
    empty = (1, 4)
    mask = _random_mask((BATCH, HEADS, 6, 7), seed=5, empty_rows=empty)
    q, k, v = _inputs(6, 7, seed=3)
    out = attention_with_manual_backward(q, k, v, mask, **VARIANTS[variant])
    dq, dk, dv = torch.autograd.grad(out, (q, k, v), randn(*out.shape, seed=4))
    assert (out[..., empty, :] == 0).all()
    assert (dq[..., empty, :] == 0).all()
    for g in (out, dq, dk, dv):
        assert not torch.isnan(g).any()
    # A key that no query may attend to gets zero gradient, in K and in V.
    unseen = torch.ones(BATCH, HEADS, 6, 7, dtype=torch.bool)
    unseen[..., 2] = False
    dq, dk, dv = torch.autograd.grad(
        attention_with_manual_backward(q, k, v, unseen, **VARIANTS[variant]).sum(), (q, k, v))
    assert (dk[..., 2, :] == 0).all() and (dv[..., 2, :] == 0).all()
    assert (dk[..., 3, :] != 0).any()


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_every_mask_fully_masked_gives_zero_output_and_gradients(variant):
    q, k, v = _inputs(3, 4, seed=6)
    mask = torch.zeros(3, 4, dtype=torch.bool)
    out = attention_with_manual_backward(q, k, v, mask, **VARIANTS[variant])
    grads = torch.autograd.grad(out.sum(), (q, k, v))
    assert (out == 0).all()
    assert all((g == 0).all() for g in grads)


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
@pytest.mark.parametrize("with_mask", [False, True], ids=["no_mask", "causal_and_padding"])
def test_gradcheck(variant, with_mask):
    q = randn(2, 4, 3, seed=10).requires_grad_()
    k = randn(2, 5, 3, seed=11).requires_grad_()
    v = randn(2, 5, 2, seed=12).requires_grad_()
    mask = None
    if with_mask:
        mask = combine_masks(padding_mask(torch.tensor([5, 2]), 5)[:, None, :], causal_mask(4, 5))
        mask[1, 0] = False  # and one fully masked row
    options = dict(VARIANTS[variant], block_size=2) if variant == "recompute" else VARIANTS[variant]
    assert torch.autograd.gradcheck(
        lambda q, k, v: attention_with_manual_backward(q, k, v, mask, scale=0.7, **options), (q, k, v)
    )


@pytest.mark.parametrize("block_size", [1, 2, 6, 7, 100])
def test_recompute_is_exact_for_every_block_size(block_size):
    mask = causal_mask(6, 7)
    q, k, v = _inputs(6, 7, seed=13, scale=3.0)  # large scores: the running maximum moves a lot
    ours = attention_with_manual_backward(q, k, v, mask, recompute=True, block_size=block_size)
    ref = _autograd_reference(q, k, v, mask)
    assert_close64(ours, ref)
    upstream = randn(*ours.shape, seed=14)
    for g, r in zip(torch.autograd.grad(ours, (q, k, v), upstream),
                    torch.autograd.grad(ref, (q, k, v), upstream), strict=True):
        assert_close64(g, r)


def test_custom_scale_and_unbatched_inputs():
    q, k, v = (randn(5, 4, seed=20).requires_grad_(), randn(6, 4, seed=21).requires_grad_(),
               randn(6, 3, seed=22).requires_grad_())
    for options in VARIANTS.values():
        ours = attention_with_manual_backward(q, k, v, scale=0.25, **options)
        ref = _autograd_reference(q, k, v, None, scale=0.25)
        assert_close64(ours, ref)
        for g, r in zip(torch.autograd.grad(ours.sum(), (q, k, v)),
                        torch.autograd.grad(ref.sum(), (q, k, v)), strict=True):
            assert_close64(g, r)


@settings(max_examples=25, deadline=None)
@given(
    query_len=st.integers(1, 6), key_len=st.integers(1, 6), block_size=st.integers(1, 7),
    seed=st.integers(0, 2**31 - 1), recompute=st.booleans(),
)
def test_gradients_match_autograd_for_random_shapes_and_masks(
    query_len, key_len, block_size, seed, recompute
):
    q, k, v = _inputs(query_len, key_len, seed=seed % 1000)
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(BATCH, 1, query_len, key_len, generator=generator) < 0.6  # may empty rows
    ours = attention_with_manual_backward(q, k, v, mask, recompute=recompute, block_size=block_size)
    ref = _autograd_reference(q, k, v, mask)
    assert_close64(ours, ref)
    upstream = randn(*ours.shape, seed=seed % 997)
    for g, r in zip(torch.autograd.grad(ours, (q, k, v), upstream),
                    torch.autograd.grad(ref, (q, k, v), upstream), strict=True):
        assert torch.isfinite(g).all()
        assert_close64(g, r)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_lower_precision_keeps_dtype_and_is_close(dtype):
    q, k, v = (randn(2, 5, 8, seed=s).to(dtype).requires_grad_() for s in (30, 31, 32))
    mask = causal_mask(5)
    ref = _autograd_reference(*(t.detach().double().requires_grad_() for t in (q, k, v)), mask)
    tol = 1e-5 if dtype == torch.float32 else 5e-3
    for options in VARIANTS.values():
        out = attention_with_manual_backward(q, k, v, mask, **options)
        assert out.dtype == dtype
        assert (out.double() - ref).abs().max() < tol
        grads = torch.autograd.grad(out.float().sum(), (q, k, v))
        assert all(g.dtype == dtype and torch.isfinite(g).all() for g in grads)


def test_functions_refuse_second_derivatives():
    q, k, v = _inputs(3, 4, seed=40)
    for options in VARIANTS.values():
        out = attention_with_manual_backward(q, k, v, **options)
        # dq is linear in the upstream gradient; autograd would record that dependence.
        upstream = torch.ones_like(out, requires_grad=True)
        (dq,) = torch.autograd.grad(out, q, upstream, create_graph=True)
        with pytest.raises(RuntimeError, match="once_differentiable"):
            dq.sum().backward()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"block_size": 0}, ValueError, "block_size"),
        ({"block_size": 2.0}, ValueError, "block_size"),
        ({"mask": torch.ones(3, 5)}, TypeError, "torch.bool"),
        ({"mask": torch.ones(3, 4, dtype=torch.bool)}, ValueError, "broadcast"),
    ],
)
def test_clear_errors_on_bad_input(kwargs, error, match):
    q, k, v = randn(3, 2), randn(5, 2), randn(5, 2)
    with pytest.raises(error, match=match):
        attention_with_manual_backward(q, k, v, recompute=True, **kwargs)


# ---------------------------------------------------------------- what is saved for the backward

SHAPES = [(1, 1, 4, 4, 2), (2, 3, 5, 7, 4), (1, 2, 16, 9, 8)]


@pytest.mark.parametrize("recompute", [False, True], ids=["store_P", "recompute"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_saved_bytes_formula_matches_measurement(shape, dtype, recompute):
    batch, heads, n, m, d = shape
    q, k, v = (randn(batch, heads, length, d, seed=i).to(dtype).requires_grad_()
               for i, length in enumerate((n, m, m)))
    saved = saved_tensors(attention_with_manual_backward, q, k, v, recompute=recompute, block_size=4)
    expected = saved_bytes(batch, heads, n, m, d, dtype.itemsize, recompute)
    assert storage_bytes(saved) == expected
    largest = max(t.numel() for t in saved)
    if recompute:  # nothing of size n * m is kept
        assert largest == max(batch * heads * n * d, batch * heads * m * d)
        assert any(t.shape == (batch, heads, n, 1) for t in saved)  # L
    else:
        assert any(t.shape == (batch, heads, n, m) for t in saved)  # P


def test_a_mask_is_saved_by_the_recompute_variant_only():
    batch, heads, n, m, d = 2, 3, 5, 7, 4
    q, k, v = _inputs(n, m, d_v=d)
    mask = key_padding_to_attention_mask(padding_mask(torch.tensor([7, 3]), m))  # 2 * 7 bytes of storage
    store = saved_tensors(attention_with_manual_backward, q, k, v, mask)
    recompute = saved_tensors(attention_with_manual_backward, q, k, v, mask, recompute=True)
    assert storage_bytes(store) == saved_bytes(batch, heads, n, m, d, 8, recompute=False)
    assert storage_bytes(recompute) == saved_bytes(batch, heads, n, m, d, 8, recompute=True) + batch * m


def test_explicit_autograd_saves_the_same_without_a_mask_and_more_with_one():
    batch, heads, n, m, d = 2, 3, 5, 7, 4
    q, k, v = _inputs(n, m, d_v=d)
    formula = saved_bytes(batch, heads, n, m, d, 8, recompute=False)
    explicit = saved_tensors(scaled_dot_product_attention, q, k, v)
    assert storage_bytes(explicit) == formula
    mask = causal_mask(n, m)
    masked = storage_bytes(saved_tensors(scaled_dot_product_attention, q, k, v, mask))
    # A second float (n, m) matrix per head (softmax output and masked weights) plus boolean masks.
    assert masked >= formula + batch * heads * n * m * 8


def test_storage_bytes_counts_shared_storage_once():
    x = torch.zeros(4, 3, dtype=torch.float64)
    assert storage_bytes([x, x.t(), x[1:]]) == 4 * 3 * 8
    assert storage_bytes([x, torch.zeros(2, dtype=torch.float32)]) == 4 * 3 * 8 + 2 * 4
    assert storage_bytes([]) == 0


def test_saved_tensors_sees_what_save_for_backward_keeps():
    q, k, v = _inputs(3, 4, seed=50)
    saved = saved_tensors(ScaledDotProductAttentionFunction.apply, q, k, v, None, 0.5)
    assert [tuple(t.shape) for t in saved] == [
        (BATCH, HEADS, 3, D_K), (BATCH, HEADS, 4, D_K), (BATCH, HEADS, 4, D_V), (BATCH, HEADS, 3, 4)]
    saved = saved_tensors(RecomputeAttentionFunction.apply, q, k, v, None, 0.5, 2)
    assert [tuple(t.shape) for t in saved] == [
        (BATCH, HEADS, 3, D_K), (BATCH, HEADS, 4, D_K), (BATCH, HEADS, 4, D_V), (BATCH, HEADS, 3, D_V),
        (BATCH, HEADS, 3, 1)]
    with torch.no_grad():
        assert saved_tensors(ScaledDotProductAttentionFunction.apply, q, k, v, None, 0.5) == []


def test_saved_bytes_grows_quadratically_only_when_storing_p():
    def ratio(recompute):
        return (saved_bytes(1, 1, 8192, 8192, 64, 2, recompute)
                / saved_bytes(1, 1, 4096, 4096, 64, 2, recompute))
    assert ratio(recompute=True) == 2
    assert 3.5 < ratio(recompute=False) < 4
    with pytest.raises(ValueError, match="heads"):
        saved_bytes(1, 0, 4, 4, 2, 8, False)
    with pytest.raises(ValueError, match="dtype_bytes"):
        saved_bytes(1, 1, 4, 4, 2, 2.5, False)


def test_default_scale_is_one_over_sqrt_d_k():
    q, k, v = _inputs(3, 4, seed=60)
    default = attention_with_manual_backward(q, k, v)
    explicit = attention_with_manual_backward(q, k, v, scale=1 / math.sqrt(D_K))
    assert_close64(default, explicit, tol=1e-15)
