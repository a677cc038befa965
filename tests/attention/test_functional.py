"""`scaled_dot_product_attention` and `masked_softmax` against PyTorch and against their contracts."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from book_code.attention import (
    causal_mask,
    combine_masks,
    key_padding_to_attention_mask,
    masked_softmax,
    padding_mask,
    scaled_dot_product_attention,
)
from tests.attention.helpers import assert_close64, max_abs_diff, randn

BATCH, HEADS, D_K, D_V = 3, 2, 8, 5


def _inputs(query_len: int, key_len: int, seed: int = 0, scale: float = 1.0):
    """float64 (batch, heads, len, features) query, key and value that require grad."""
    q = randn(BATCH, HEADS, query_len, D_K, seed=seed, scale=scale).requires_grad_()
    k = randn(BATCH, HEADS, key_len, D_K, seed=seed + 1, scale=scale).requires_grad_()
    v = randn(BATCH, HEADS, key_len, D_V, seed=seed + 2).requires_grad_()
    return q, k, v


def _padding(key_len: int) -> torch.Tensor:
    """(batch, 1, 1, key_len) mask; every sequence keeps at least one real token."""
    lengths = torch.tensor([key_len, max(1, key_len - 2), 1])
    return key_padding_to_attention_mask(padding_mask(lengths, key_len))


# (id, query_len, key_len, mask builder): no case has a fully masked query row.
CASES = [
    ("no_mask", 6, 6, lambda lq, lk: None),
    ("key_padding", 6, 6, lambda lq, lk: _padding(lk)),
    ("causal", 6, 6, lambda lq, lk: causal_mask(lq)),
    ("padding_and_causal", 6, 6, lambda lq, lk: combine_masks(_padding(lk), causal_mask(lq))),
    ("cross", 4, 7, lambda lq, lk: None),
    ("cross_padding", 4, 7, lambda lq, lk: _padding(lk)),
    ("cross_causal_bottom_right", 4, 7, lambda lq, lk: causal_mask(lq, lk)),
    ("per_head_random", 5, 6, lambda lq, lk: _random_mask((BATCH, HEADS, lq, lk))),
]


def _random_mask(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Random bool mask with at least one allowed key in every row."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(shape, generator=generator) < 0.5
    first = torch.randint(shape[-1], shape[:-1], generator=generator)
    return mask | F.one_hot(first, shape[-1]).bool()


@pytest.mark.parametrize(("name", "query_len", "key_len", "make_mask"), CASES, ids=[c[0] for c in CASES])
def test_matches_torch_forward_and_gradients(name, query_len, key_len, make_mask):
    mask = make_mask(query_len, key_len)
    q, k, v = _inputs(query_len, key_len)
    ours, weights = scaled_dot_product_attention(q, k, v, mask)
    # torch's boolean attn_mask uses our convention: True = may attend.
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close64(ours, ref)
    assert_close64(weights @ v, ours)

    upstream = randn(*ours.shape, seed=99)
    grads = torch.autograd.grad(ours, (q, k, v), upstream)
    ref_grads = torch.autograd.grad(ref, (q, k, v), upstream)
    for name_, g, r in zip("qkv", grads, ref_grads, strict=True):
        assert torch.isfinite(g).all(), name_
        assert_close64(g, r)


def test_matches_torch_with_three_dim_inputs_and_custom_scale():
    q = randn(2, 4, 6, seed=1).requires_grad_()
    k = randn(2, 5, 6, seed=2).requires_grad_()
    v = randn(2, 5, 3, seed=3).requires_grad_()
    mask = padding_mask(torch.tensor([5, 2]), 5)[:, None, :]  # (batch, 1, key_len)
    ours, _ = scaled_dot_product_attention(q, k, v, mask, scale=0.3)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3)
    assert_close64(ours, ref)
    for g, r in zip(torch.autograd.grad(ours.sum(), (q, k, v)), torch.autograd.grad(ref.sum(), (q, k, v)),
                    strict=True):
        assert_close64(g, r)


def test_default_scale_is_one_over_sqrt_d_k():
    q, k, v = _inputs(3, 4)
    _, default = scaled_dot_product_attention(q, k, v)
    _, explicit = scaled_dot_product_attention(q, k, v, scale=1 / math.sqrt(D_K))
    _, unscaled = scaled_dot_product_attention(q, k, v, scale=1.0)
    assert_close64(default, explicit, tol=1e-15)
    assert max_abs_diff(default, unscaled) > 1e-3


@pytest.mark.parametrize("with_mask", [False, True])
def test_weight_rows_sum_to_one_and_masked_weights_are_zero(with_mask):
    q, k, v = _inputs(6, 6, seed=5)
    mask = combine_masks(_padding(6), causal_mask(6)) if with_mask else None
    _, weights = scaled_dot_product_attention(q, k, v, mask)
    assert_close64(weights.sum(-1), torch.ones(weights.shape[:-1], dtype=torch.float64), tol=1e-12)
    assert (weights >= 0).all()
    if with_mask:
        mask = mask.expand_as(weights)
        assert (weights[~mask] == 0).all()
        assert (weights[mask] > 0).all()


def _mask_with_empty_rows(query_len: int = 5, key_len: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """(query_len, key_len) mask whose rows 1 and 3 allow no key, and the list of empty rows."""
    mask = _random_mask((query_len, key_len), seed=3)
    empty = torch.tensor([1, 3])
    mask[empty] = False
    return mask, empty


def test_fully_masked_rows_give_zero_output_and_zero_weights():
    mask, empty = _mask_with_empty_rows()
    q, k, v = _inputs(5, 6, seed=7)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(out).all() and torch.isfinite(weights).all()
    # Exactly zero: not NaN, and not the uniform 1/key_len of a large-negative fill.
    assert (weights[..., empty, :] == 0).all()
    assert (out[..., empty, :] == 0).all()
    # The other rows are ordinary attention rows.
    kept = torch.tensor([0, 2, 4])
    assert_close64(weights[..., kept, :].sum(-1), torch.ones(BATCH, HEADS, 3, dtype=torch.float64), 1e-12)


def test_fully_masked_rows_have_finite_gradients_and_contribute_nothing():
    mask, empty = _mask_with_empty_rows()
    kept = torch.tensor([0, 2, 4])
    q, k, v = _inputs(5, 6, seed=8)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    upstream = randn(*out.shape, seed=11)
    dq, dk, dv = torch.autograd.grad(out, (q, k, v), upstream)
    for g in (dq, dk, dv):
        assert torch.isfinite(g).all()
    assert (dq[..., empty, :] == 0).all()

    # Compare the remaining rows separately: torch on the queries that may attend somewhere.
    ref = F.scaled_dot_product_attention(q[..., kept, :], k, v, attn_mask=mask[kept])
    assert_close64(out[..., kept, :], ref)
    rq, rk, rv = torch.autograd.grad(ref, (q, k, v), upstream[..., kept, :])
    assert_close64(dq, rq)
    assert_close64(dk, rk)
    assert_close64(dv, rv)


def test_masked_softmax_contract():
    scores = randn(2, 3, 4, seed=4)
    mask = torch.tensor([[True, False, True, True], [False] * 4, [False, False, False, True]])
    weights = masked_softmax(scores, mask)
    assert (weights[:, 1] == 0).all()
    assert (weights[:, 2] == torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)).all()
    ref = torch.softmax(scores[:, 0, [0, 2, 3]], dim=-1)
    assert_close64(weights[:, 0, [0, 2, 3]], ref, tol=1e-15)
    assert (weights[:, 0, 1] == 0).all()
    assert_close64(masked_softmax(scores, None), torch.softmax(scores, -1), tol=1e-15)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_large_logits_stay_finite_and_match_float64(sign):
    # Logits of order 1e4: exp overflows (or underflows to 0/0) without the max-subtraction.
    q = randn(2, 1, 4, 8, seed=21, scale=100.0) * sign
    k = randn(2, 1, 6, 8, seed=22, scale=100.0)
    v = randn(2, 1, 6, 3, seed=23)
    logits = (q @ k.transpose(-2, -1)) / math.sqrt(8)
    assert logits.abs().max() > 1e4
    mask = _padding(6)[:2]
    out64, w64 = scaled_dot_product_attention(q, k, v, mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.isfinite(out64).all() and torch.isfinite(w64).all()
    assert_close64(out64, ref)
    # In float32 the logits themselves are rounded (relative error ~1e-7 of 1e4), so allow 1e-3.
    out32, w32 = scaled_dot_product_attention(q.float(), k.float(), v.float(), mask)
    assert torch.isfinite(out32).all()
    assert max_abs_diff(out32, ref) < 1e-3
    assert max_abs_diff(w32, w64) < 1e-3


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_keeps_dtype_and_matches_float32(dtype):
    q = randn(2, 2, 5, 8, seed=31).to(dtype)
    k = randn(2, 2, 7, 8, seed=32).to(dtype)
    v = randn(2, 2, 7, 4, seed=33).to(dtype)
    mask = _padding(7)[:2]
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert out.dtype == dtype and weights.dtype == dtype
    # Same (already rounded) inputs in float32: the only error left should be the final cast.
    ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
    eps = torch.finfo(dtype).eps
    assert torch.allclose(out.float(), ref, rtol=eps, atol=eps * 1e-2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_survives_logits_beyond_float16_range(dtype):
    # q . k / sqrt(d_k) = 4 * 200 * 200 / 2 = 80000 > 65504, the largest float16: a float16 score
    # would be inf and the softmax NaN. Computed in float32 it is a sharp but finite softmax.
    q = torch.full((1, 2, 4), 200.0, dtype=dtype)
    k = torch.stack([torch.full((4,), 200.0), torch.full((4,), 199.0), torch.zeros(4)])[None].to(dtype)
    v = torch.eye(3, dtype=dtype)[None]
    out, weights = scaled_dot_product_attention(q, k, v)
    assert torch.isfinite(out).all() and torch.isfinite(weights).all()
    # The first key wins by 4 * 200 / 2 = 400 logits: weight 1 to within half precision.
    assert (weights[..., 0] == 1).all() and (weights[..., 1:] == 0).all()
    assert (out == torch.tensor([1.0, 0.0, 0.0], dtype=dtype)).all()


def test_dropout_zeroes_weights_and_rescales_the_rest():
    p = 0.4
    q, k, v = (t.detach() for t in _inputs(8, 8, seed=41))
    mask = causal_mask(8)
    _, clean = scaled_dot_product_attention(q, k, v, mask)
    torch.manual_seed(0)
    out, dropped = scaled_dot_product_attention(q, k, v, mask, dropout_p=p)
    kept = dropped != 0
    allowed = clean != 0
    zeroed = allowed & ~kept
    assert zeroed.any() and (kept & allowed).any()
    # Survivors are scaled by 1 / (1 - p), not by 1 / p (a common mistake) and not left alone.
    assert_close64(dropped[kept], clean[kept] / (1 - p), tol=1e-12)
    assert_close64(out, dropped @ v)
    # The fraction dropped is near p: 2 * 3 * 36 = 216 allowed weights, binomial sd ~ 0.033.
    fraction = zeroed.sum().item() / allowed.sum().item()
    assert abs(fraction - p) < 0.15
    # The same seed drops the same weights.
    torch.manual_seed(0)
    _, again = scaled_dot_product_attention(q, k, v, mask, dropout_p=p)
    assert torch.equal(again, dropped)


def test_dropout_zero_is_deterministic():
    q, k, v = (t.detach() for t in _inputs(4, 4, seed=42))
    a = scaled_dot_product_attention(q, k, v, dropout_p=0.0)
    b = scaled_dot_product_attention(q, k, v)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_gradcheck_with_mask():
    mask = combine_masks(key_padding_to_attention_mask(padding_mask(torch.tensor([3, 2]), 3)),
                         causal_mask(2, 3))
    q = randn(2, 1, 2, 3, seed=51).requires_grad_()
    k = randn(2, 1, 3, 3, seed=52).requires_grad_()
    v = randn(2, 1, 3, 2, seed=53).requires_grad_()

    def fn(q, k, v):
        return scaled_dot_product_attention(q, k, v, mask)

    assert torch.autograd.gradcheck(fn, (q, k, v))
    assert torch.autograd.gradgradcheck(fn, (q, k, v))


def test_gradcheck_with_a_fully_masked_row():
    mask = torch.tensor([[True, False, True], [False, False, False]])
    q = randn(1, 2, 3, seed=54).requires_grad_()
    k = randn(1, 3, 3, seed=55).requires_grad_()
    v = randn(1, 3, 2, seed=56).requires_grad_()
    assert torch.autograd.gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask), (q, k, v))
