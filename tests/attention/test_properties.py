"""Properties that hold for every shape and mask, checked on examples drawn by hypothesis."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call

from book_code.attention import (
    MultiHeadAttention,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from tests.attention.helpers import assert_close64, randn

FEW = settings(max_examples=25, deadline=None)

seeds = st.integers(0, 2**31 - 1)


def _mask_with_an_allowed_key_per_row(shape, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(shape, generator=generator) < torch.rand((), generator=generator)
    first = torch.randint(shape[-1], shape[:-1], generator=generator)
    return mask | F.one_hot(first, shape[-1]).bool()


@FEW
@given(
    batch=st.integers(1, 3), heads=st.integers(1, 3), query_len=st.integers(1, 6),
    key_len=st.integers(1, 7), d_k=st.integers(1, 8), seed=seeds, masked=st.booleans(),
    big=st.sampled_from([1.0, 30.0]),
)
def test_weight_rows_sum_to_one(batch, heads, query_len, key_len, d_k, seed, masked, big):
    q = randn(batch, heads, query_len, d_k, seed=seed, scale=big)
    k = randn(batch, heads, key_len, d_k, seed=seed + 1, scale=big)
    v = randn(batch, heads, key_len, 3, seed=seed + 2)
    mask = _mask_with_an_allowed_key_per_row((batch, heads, query_len, key_len), seed) if masked else None
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(weights).all() and (weights >= 0).all()
    assert_close64(weights.sum(-1), torch.ones(batch, heads, query_len, dtype=torch.float64), tol=1e-12)
    if masked:
        assert (weights[~mask] == 0).all()
    # The output is a convex combination of value rows: inside their range, feature by feature.
    assert (out <= v.amax(-2, keepdim=True) + 1e-12).all()
    assert (out >= v.amin(-2, keepdim=True) - 1e-12).all()


def _layer(seed: int, embed_dim: int, num_heads: int) -> MultiHeadAttention:
    torch.manual_seed(seed)
    layer = MultiHeadAttention(embed_dim, num_heads).to(torch.float64)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(torch.randn_like(p) * 0.3)  # non-zero biases too
    return layer


@FEW
@given(
    batch=st.integers(1, 3), seq_len=st.integers(1, 7), num_heads=st.sampled_from([1, 2, 4]),
    seed=seeds, need_weights=st.booleans(), data=st.data(),
)
def test_self_attention_is_permutation_equivariant(batch, seq_len, num_heads, seed, need_weights, data):
    layer = _layer(seed, 8, num_heads)
    x = randn(batch, seq_len, 8, seed=seed)
    lengths = torch.tensor(data.draw(st.lists(st.integers(1, seq_len), min_size=batch, max_size=batch)))
    kpm = padding_mask(lengths, seq_len)
    perm = torch.tensor(data.draw(st.permutations(range(seq_len))))

    out, weights = layer(x, key_padding_mask=kpm, need_weights=need_weights)
    out_p, weights_p = layer(x[:, perm], key_padding_mask=kpm[:, perm], need_weights=need_weights)
    # Without positional information, permuting the tokens (and their padding flags) permutes
    # the outputs the same way, and permutes the weights along both axes.
    assert_close64(out_p, out[:, perm], tol=1e-12)
    if need_weights:
        assert_close64(weights_p, weights[:, :, perm][..., perm], tol=1e-12)


@FEW
@given(
    seq_len=st.integers(2, 8), d_k=st.integers(1, 6), seed=seeds, data=st.data(),
    padded=st.booleans(),
)
def test_causal_function_ignores_later_tokens(seq_len, d_k, seed, data, padded):
    cut = data.draw(st.integers(1, seq_len - 1))  # positions >= cut are changed
    q, k, v = (randn(2, seq_len, d_k, seed=seed + i) for i in range(3))
    q2, k2, v2 = (t.clone() for t in (q, k, v))
    for i, t in enumerate((q2, k2, v2)):
        t[:, cut:] = randn(2, seq_len - cut, d_k, seed=seed + 10 + i, scale=5.0)
    mask = causal_mask(seq_len)
    if padded:
        mask = mask & padding_mask(torch.tensor([seq_len, 1]), seq_len)[:, None, :]
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    out2, weights2 = scaled_dot_product_attention(q2, k2, v2, mask)
    assert torch.equal(out[:, :cut], out2[:, :cut])
    assert torch.equal(weights[:, :cut], weights2[:, :cut])
    assert (weights[:, :cut, cut:] == 0).all()
    assert not torch.equal(out[:, cut:], out2[:, cut:])


@FEW
@given(
    seq_len=st.integers(2, 8), num_heads=st.sampled_from([1, 2, 4]), seed=seeds,
    need_weights=st.booleans(), data=st.data(),
)
def test_causal_module_ignores_later_tokens(seq_len, num_heads, seed, need_weights, data):
    layer = _layer(seed, 8, num_heads)
    cut = data.draw(st.integers(1, seq_len - 1))
    x = randn(2, seq_len, 8, seed=seed)
    x2 = x.clone()
    x2[:, cut:] = randn(2, seq_len - cut, 8, seed=seed + 1, scale=5.0)
    out, _ = layer(x, is_causal=True, need_weights=need_weights)
    out2, _ = layer(x2, is_causal=True, need_weights=need_weights)
    # Earlier outputs may differ only by rounding (the fused kernel tiles differently per length).
    assert_close64(out[:, :cut], out2[:, :cut], tol=1e-12)
    assert (out[:, cut:] - out2[:, cut:]).abs().max() > 1e-6


@settings(max_examples=10, deadline=None)
@given(
    batch=st.integers(1, 2), query_len=st.integers(1, 3), key_len=st.integers(1, 4),
    num_heads=st.sampled_from([1, 2]), seed=seeds, need_weights=st.booleans(), padded=st.booleans(),
)
def test_module_gradcheck(batch, query_len, key_len, num_heads, seed, need_weights, padded):
    layer = _layer(seed, 4, num_heads)
    query = randn(batch, query_len, 4, seed=seed).requires_grad_()
    key = randn(batch, key_len, 4, seed=seed + 1).requires_grad_()
    kpm = padding_mask(torch.ones(batch, dtype=torch.long), key_len) if padded else None
    names = [name for name, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())

    def fn(query, key, *params):
        out, _ = functional_call(layer, dict(zip(names, params, strict=True)), (query, key),
                                 {"key_padding_mask": kpm, "need_weights": need_weights})
        return out

    # fast_mode checks a random projection of the Jacobian: cheap enough for many examples.
    assert torch.autograd.gradcheck(fn, (query, key, *params), fast_mode=True)


def test_module_gradcheck_full_jacobian_with_causal_and_padding_masks():
    layer = _layer(3, 4, 2)
    x = randn(2, 3, 4, seed=3).requires_grad_()
    kpm = padding_mask(torch.tensor([3, 2]), 3)
    names = [name for name, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())

    def fn(x, *params):
        out, _ = functional_call(layer, dict(zip(names, params, strict=True)), (x,),
                                 {"key_padding_mask": kpm, "is_causal": True, "need_weights": True})
        return out

    assert torch.autograd.gradcheck(fn, (x, *params))
