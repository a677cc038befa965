"""`MultiHeadAttention` against `torch.nn.MultiheadAttention`, on both of its code paths."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from book_code.attention import (
    MultiHeadAttention,
    causal_mask,
    merge_heads,
    padding_mask,
    split_heads,
)
from tests.attention.helpers import assert_close64, max_abs_diff, randn

E, H = 12, 3
BATCH = 3


def make_pair(bias: bool = True, seed: int = 0, dropout: float = 0.0, dtype=torch.float64):
    """A torch layer with random weights *and biases* (biases start at zero) and our copy of it."""
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(E, H, dropout=dropout, bias=bias, batch_first=True, dtype=dtype)
    with torch.no_grad():
        for i, p in enumerate(ref.parameters()):
            p.copy_(randn(*p.shape, seed=1000 * seed + i, scale=0.4))
    ours = MultiHeadAttention.from_torch(ref)
    return ours, ref


def param_pairs(ours: MultiHeadAttention, ref: nn.MultiheadAttention):
    """(name, our parameter, torch's parameter) for the four (or two) projection tensors."""
    pairs = [
        ("in_proj.weight", ours.in_proj.weight, ref.in_proj_weight),
        ("out_proj.weight", ours.out_proj.weight, ref.out_proj.weight),
    ]
    if ours.in_proj.bias is not None:
        pairs += [
            ("in_proj.bias", ours.in_proj.bias, ref.in_proj_bias),
            ("out_proj.bias", ours.out_proj.bias, ref.out_proj.bias),
        ]
    return pairs


@dataclass(frozen=True)
class Case:
    name: str
    query_len: int
    key_len: int | None = None  # None: self-attention
    padding: bool = False
    causal: str | None = None  # "is_causal" or "attn_mask"
    separate_value: bool = False
    per_head_mask: bool = False


CASES = [
    Case("self_no_mask", 5),
    Case("self_key_padding", 5, padding=True),
    Case("self_causal_flag", 5, causal="is_causal"),
    Case("self_causal_attn_mask", 5, causal="attn_mask"),
    Case("self_padding_and_causal", 5, padding=True, causal="is_causal"),
    Case("self_per_head_mask", 5, per_head_mask=True),
    Case("cross_no_mask", 3, 6),
    Case("cross_key_padding", 3, 6, padding=True),
    Case("cross_separate_value", 4, 6, padding=True, separate_value=True),
    Case("cross_padding_and_causal", 3, 6, padding=True, causal="is_causal"),
    Case("cross_longer_query", 7, 4, padding=True),
]


def _run_case(case: Case, need_weights: bool, bias: bool = True):
    ours, ref = make_pair(bias=bias)
    query = randn(BATCH, case.query_len, E, seed=1).requires_grad_()
    if case.key_len is None:
        key = value = query
    else:
        key = randn(BATCH, case.key_len, E, seed=2).requires_grad_()
        value = randn(BATCH, case.key_len, E, seed=3).requires_grad_() if case.separate_value else key
    key_len = key.shape[1]
    inputs = tuple({id(t): t for t in (query, key, value)}.values())

    kpm = padding_mask(torch.tensor([key_len, 2, 1]), key_len) if case.padding else None
    causal = causal_mask(case.query_len, key_len) if case.causal else None
    our_attn = causal if case.causal == "attn_mask" else None
    per_head = None
    if case.per_head_mask:
        generator = torch.Generator().manual_seed(4)
        per_head = torch.rand(BATCH, H, case.query_len, key_len, generator=generator) < 0.5
        per_head[..., 0] = True  # no fully masked rows here
        our_attn = per_head

    our_out, our_w = ours(
        query, None if case.key_len is None else key, None if value is key else value,
        key_padding_mask=kpm, attn_mask=our_attn, is_causal=case.causal == "is_causal",
        need_weights=need_weights,
    )
    # torch: True = *ignore*, so invert; per-head 3-D masks are (batch * heads, L, S).
    torch_attn = None
    if causal is not None:
        torch_attn = ~causal
    if per_head is not None:
        torch_attn = ~per_head.reshape(BATCH * H, case.query_len, key_len)
    ref_out, ref_w = ref(
        query, key, value, key_padding_mask=None if kpm is None else ~kpm, attn_mask=torch_attn,
        need_weights=True, average_attn_weights=False,
    )
    return ours, ref, inputs, (our_out, our_w), (ref_out, ref_w)


@pytest.mark.parametrize("need_weights", [True, False], ids=["explicit", "fused"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_torch_forward_and_all_gradients(case, need_weights):
    ours, ref, inputs, (our_out, our_w), (ref_out, ref_w) = _run_case(case, need_weights)
    assert_close64(our_out, ref_out)
    if need_weights:
        assert our_w.shape == (BATCH, H, case.query_len, case.key_len or case.query_len)
        assert_close64(our_w, ref_w)
    else:
        assert our_w is None

    upstream = randn(*our_out.shape, seed=77)
    our_out.backward(upstream, inputs=[*inputs, *ours.parameters()])
    our_input_grads = [t.grad.clone() for t in inputs]
    for t in inputs:
        t.grad = None
    ref_out.backward(upstream, inputs=[*inputs, *ref.parameters()])
    for got, want in zip(our_input_grads, (t.grad for t in inputs), strict=True):
        assert_close64(got, want)
    for name, ours_p, ref_p in param_pairs(ours, ref):
        assert ours_p.grad is not None, name
        assert_close64(ours_p.grad, ref_p.grad)


@pytest.mark.parametrize("need_weights", [True, False], ids=["explicit", "fused"])
def test_matches_torch_without_bias(need_weights):
    case = Case("cross_key_padding", 3, 6, padding=True)
    ours, ref, _, (our_out, _), (ref_out, _) = _run_case(case, need_weights, bias=False)
    assert ours.in_proj.bias is None and ours.out_proj.bias is None
    assert_close64(our_out, ref_out)
    our_out.sum().backward()
    ref_out.sum().backward()
    for _, ours_p, ref_p in param_pairs(ours, ref):
        assert_close64(ours_p.grad, ref_p.grad)


def test_torch_is_causal_hint_agrees_with_our_flag():
    ours, ref = make_pair()
    x = randn(BATCH, 6, E, seed=5)
    mask = causal_mask(6)
    ref_out, _ = ref(x, x, x, attn_mask=~mask, is_causal=True, need_weights=False)
    for need_weights in (True, False):
        our_out, _ = ours(x, is_causal=True, need_weights=need_weights)
        assert_close64(our_out, ref_out)


def test_causal_flag_equals_causal_attn_mask_and_combines_with_attn_mask():
    ours, _ = make_pair()
    x = randn(2, 5, E, seed=6)
    by_flag, w_flag = ours(x, is_causal=True, need_weights=True)
    by_mask, w_mask = ours(x, attn_mask=causal_mask(5), need_weights=True)
    assert torch.equal(by_flag, by_mask) and torch.equal(w_flag, w_mask)
    # Both given: their AND. A band mask (|i - j| <= 1) and causal leave keys i-1 and i.
    i, j = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    _, w_both = ours(x, attn_mask=(i - j).abs() <= 1, is_causal=True, need_weights=True)
    allowed = (j <= i) & (i - j <= 1)
    assert ((w_both != 0) == allowed).all()


def test_three_dim_attn_mask_is_shared_by_all_heads():
    ours, _ = make_pair()
    x = randn(2, 5, E, seed=7)
    generator = torch.Generator().manual_seed(8)
    mask = torch.rand(2, 5, 5, generator=generator) < 0.5
    mask[..., 0] = True
    out3, w3 = ours(x, attn_mask=mask, need_weights=True)
    out4, w4 = ours(x, attn_mask=mask[:, None].expand(2, H, 5, 5), need_weights=True)
    assert torch.equal(out3, out4) and torch.equal(w3, w4)
    assert ((w3 != 0) == mask[:, None]).all()


# --- paths, round trips and shapes ------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_and_explicit_paths_agree(dtype):
    ours, _ = make_pair(dtype=dtype)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    q = randn(BATCH, 4, E, seed=9, dtype=dtype).requires_grad_()
    kv = randn(BATCH, 7, E, seed=10, dtype=dtype).requires_grad_()
    kpm = padding_mask(torch.tensor([7, 3, 1]), 7)
    results = []
    for need_weights in (True, False):
        out, _ = ours(q, kv, key_padding_mask=kpm, is_causal=True, need_weights=need_weights)
        grads = torch.autograd.grad(out.square().sum(), (q, kv, ours.in_proj.weight))
        results.append((out, *grads))
    for explicit, fused in zip(*results, strict=True):
        assert max_abs_diff(explicit, fused) < tol * max(1.0, explicit.abs().max().item())


def test_to_torch_round_trip():
    ours, _ = make_pair()
    ours.dropout = 0.25
    module = ours.to_torch()
    assert isinstance(module, nn.MultiheadAttention)
    assert module.batch_first and module.dropout == 0.25 and module.num_heads == H
    assert module.in_proj_weight.dtype == torch.float64
    x = randn(2, 5, E, seed=11)
    kpm = padding_mask(torch.tensor([5, 3]), 5)
    ours.eval()
    module.eval()
    with torch.no_grad():
        ref_out, ref_w = module(x, x, x, key_padding_mask=~kpm, average_attn_weights=False)
        out, weights = ours(x, key_padding_mask=kpm, need_weights=True)
    assert_close64(out, ref_out)
    assert_close64(weights, ref_w)
    back = MultiHeadAttention.from_torch(module)
    assert back.dropout == 0.25
    for (name, a), (_, b) in zip(ours.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_to_torch_round_trip_without_bias():
    ours = MultiHeadAttention(E, H, bias=False)
    module = ours.to_torch()
    assert module.in_proj_bias is None and module.out_proj.bias is None
    back = MultiHeadAttention.from_torch(module)
    assert back.in_proj.bias is None
    assert torch.equal(back.in_proj.weight, ours.in_proj.weight)
    assert torch.equal(back.out_proj.weight, ours.out_proj.weight)


def test_from_torch_copies_rather_than_shares():
    ours, ref = make_pair()
    with torch.no_grad():
        ref.in_proj_weight.zero_()
    assert ours.in_proj.weight.abs().sum() > 0


def test_initialisation_follows_torch():
    layer = MultiHeadAttention(E, H)
    bound = (6 / (E + 3 * E)) ** 0.5  # Xavier-uniform on the (3E, E) stacked matrix
    assert layer.in_proj.weight.abs().max() <= bound
    assert layer.in_proj.weight.abs().max() > 0.8 * bound
    assert (layer.in_proj.bias == 0).all() and (layer.out_proj.bias == 0).all()


def test_split_and_merge_heads():
    x = torch.arange(2 * 5 * E, dtype=torch.float64).reshape(2, 5, E)
    heads = split_heads(x, H)
    assert heads.shape == (2, H, 5, E // H)
    # Head h reads features h * head_dim .. (h + 1) * head_dim - 1 of every position.
    for h in range(H):
        assert torch.equal(heads[:, h], x[..., h * (E // H):(h + 1) * (E // H)])
    assert torch.equal(merge_heads(heads), x)


def test_output_shapes_and_defaults():
    layer = MultiHeadAttention(E, H)
    q, kv = torch.randn(2, 3, E), torch.randn(2, 6, E)
    out, weights = layer(q, kv)
    assert out.shape == (2, 3, E) and weights is None
    out, weights = layer(q, kv, need_weights=True)
    assert weights.shape == (2, H, 3, 6)
    # value defaults to key, key defaults to query.
    assert torch.equal(layer(q, kv)[0], layer(q, kv, kv)[0])
    assert torch.equal(layer(q)[0], layer(q, q, q)[0])
    assert "embed_dim=12, num_heads=3" in repr(layer)


# --- fully masked rows, dropout, half precision ---------------------------------------------


@pytest.mark.parametrize("need_weights", [True, False], ids=["explicit", "fused"])
def test_fully_masked_rows_give_zero_heads_on_both_paths(need_weights):
    ours, ref = make_pair()
    x = randn(BATCH, 5, E, seed=12).requires_grad_()
    kpm = padding_mask(torch.tensor([5, 0, 2]), 5)  # sequence 1 is all padding
    attn = torch.ones(5, 5, dtype=torch.bool)
    attn[3] = False  # query 3 may attend to nothing, in every sequence
    out, weights = ours(x, key_padding_mask=kpm, attn_mask=attn, need_weights=need_weights)
    assert torch.isfinite(out).all()
    # The heads are zero there, so the output is just the output projection's bias.
    empty = torch.zeros(BATCH, 5, dtype=torch.bool)
    empty[1] = True
    empty[:, 3] = True
    bias = ours.out_proj.bias.detach()
    assert_close64(out[empty], bias.expand(int(empty.sum()), E), tol=1e-15)
    if need_weights:
        assert (weights.permute(0, 2, 1, 3)[empty] == 0).all()
        assert_close64(weights.permute(0, 2, 1, 3)[~empty].sum(-1),
                       torch.ones(int((~empty).sum()), H, dtype=torch.float64), 1e-12)
    # The rows that may attend somewhere match torch.
    ref_out, _ = ref(x, x, x, key_padding_mask=~kpm, attn_mask=~attn, need_weights=False)
    assert_close64(out[~empty], ref_out[~empty])
    out.square().sum().backward()
    assert torch.isfinite(x.grad).all()
    for p in ours.parameters():
        assert torch.isfinite(p.grad).all()


@pytest.mark.parametrize("need_weights", [True, False], ids=["explicit", "fused"])
def test_dropout_only_in_training(need_weights):
    ours, _ = make_pair(dropout=0.5)
    plain = MultiHeadAttention(E, H, dropout=0.0).to(torch.float64)
    plain.load_state_dict(ours.state_dict())
    x = randn(2, 6, E, seed=13)
    ours.eval()
    evaluated = ours(x, need_weights=need_weights)[0]
    assert torch.equal(evaluated, ours(x, need_weights=need_weights)[0])
    assert_close64(evaluated, plain(x, need_weights=need_weights)[0], tol=1e-12)

    ours.train()
    torch.manual_seed(0)
    trained = ours(x, need_weights=need_weights)[0]
    torch.manual_seed(0)
    same_seed = ours(x, need_weights=need_weights)[0]
    torch.manual_seed(1)
    other_seed = ours(x, need_weights=need_weights)[0]
    assert torch.equal(trained, same_seed)
    assert max_abs_diff(trained, evaluated) > 1e-3
    assert max_abs_diff(trained, other_seed) > 1e-3


def test_training_dropout_rescales_surviving_weights():
    p = 0.5
    ours, _ = make_pair(dropout=p)
    x = randn(2, 6, E, seed=14)
    _, clean = ours.eval()(x, need_weights=True)
    torch.manual_seed(0)
    _, dropped = ours.train()(x, need_weights=True)
    kept = dropped != 0
    assert (~kept).any() and kept.any()
    assert_close64(dropped[kept], clean[kept] / (1 - p), tol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("need_weights", [True, False], ids=["explicit", "fused"])
def test_half_precision_module_forward(dtype, need_weights):
    ours, _ = make_pair(dtype=torch.float32)
    half = MultiHeadAttention(E, H).to(dtype)
    half.load_state_dict(ours.state_dict())
    ours.load_state_dict(half.state_dict())  # the float32 reference uses the rounded weights
    x = randn(2, 5, E, seed=15).to(dtype)
    kpm = padding_mask(torch.tensor([5, 2]), 5)
    out, weights = half(x, key_padding_mask=kpm, is_causal=True, need_weights=need_weights)
    ref, ref_w = ours(x.float(), key_padding_mask=kpm, is_causal=True, need_weights=need_weights)
    assert out.dtype == dtype and torch.isfinite(out).all()
    # Each projection rounds to the half dtype once: allow a few dozen ulps of the output scale.
    tol = 32 * torch.finfo(dtype).eps * ref.abs().max().item()
    assert max_abs_diff(out, ref) < tol
    if need_weights:
        assert weights.dtype == dtype
        assert max_abs_diff(weights, ref_w) < 32 * torch.finfo(dtype).eps


def test_module_follows_functional_per_head():
    """The explicit path is per-head `softmax(Q K^T / sqrt(head_dim)) V` on the split projections."""
    ours, _ = make_pair()
    x = randn(2, 4, E, seed=16)
    _, weights = ours(x, need_weights=True)
    q, k, _ = (split_heads(t, H) for t in ours.project(x, x, x))
    expected = torch.softmax(q @ k.transpose(-2, -1) / (E // H) ** 0.5, dim=-1)
    assert_close64(weights, expected)
    # And matches F.scaled_dot_product_attention on the same heads.
    q, k, v = (split_heads(t, H) for t in ours.project(x, x, x))
    heads = F.scaled_dot_product_attention(q, k, v)
    assert_close64(ours(x)[0], ours.out_proj(merge_heads(heads)))


def test_fused_path_zeroes_empty_rows_even_if_the_kernel_returns_nan(monkeypatch):
    """Some backends (the math kernel before torch 2.5, some GPU kernels) return NaN for a query
    that may attend to no key; the layer must not pass that NaN on."""
    original = F.scaled_dot_product_attention

    def nan_for_empty_rows(q, k, v, attn_mask=None, dropout_p=0.0, **kwargs):
        out = original(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, **kwargs)
        return out.masked_fill(~attn_mask.any(dim=-1, keepdim=True), float("nan"))

    monkeypatch.setattr(F, "scaled_dot_product_attention", nan_for_empty_rows)
    ours, _ = make_pair()
    x = randn(2, 4, E, seed=17).requires_grad_()
    kpm = padding_mask(torch.tensor([4, 0]), 4)
    out, _ = ours(x, key_padding_mask=kpm, need_weights=False)
    assert torch.isfinite(out).all()
    assert_close64(out[1], ours.out_proj.bias.detach().expand(4, E), tol=1e-15)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
