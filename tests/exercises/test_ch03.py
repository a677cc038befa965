"""The Chapter 3 solutions solve their exercises: counts match real layers, the per-head
and grouped-query layers equal the fused layer, and permuting heads changes nothing."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from book_code.attention import MultiHeadAttention, causal_mask, padding_mask
from book_code.attention.masks import combine_masks, key_padding_to_attention_mask
from book_code.exercises.ch03 import (
    GroupedQueryAttention,
    PerHeadAttention,
    key_value_parameters,
    multi_head_flops,
    multi_head_parameters,
    per_head_from_fused,
    permute_heads,
)
from book_code.positional import RotaryEmbedding

SIZES = st.sampled_from([(8, 1), (8, 2), (12, 3), (16, 4), (32, 8), (24, 6)])


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@settings(max_examples=20, deadline=None)
@given(SIZES, st.booleans())
def test_parameter_count_matches_the_layer(size, bias):
    embed_dim, num_heads = size
    layer = MultiHeadAttention(embed_dim, num_heads, bias=bias)
    assert multi_head_parameters(embed_dim, num_heads, bias) == n_params(layer)
    reference = torch.nn.MultiheadAttention(embed_dim, num_heads, bias=bias)
    assert multi_head_parameters(embed_dim, num_heads, bias) == n_params(reference)


@pytest.mark.parametrize(("embed_dim", "num_heads", "seq_len"), [(16, 1, 5), (16, 4, 5), (32, 8, 11)])
def test_flop_count_matches_pytorchs_counter(embed_dim, num_heads, seq_len):
    layer = MultiHeadAttention(embed_dim, num_heads).double()
    x = torch.randn(1, seq_len, embed_dim, dtype=torch.float64)
    with FlopCounterMode(display=False) as counter:
        layer(x, need_weights=True)  # the explicit path: every matmul is visible to the counter
    assert counter.get_total_flops() == multi_head_flops(embed_dim, num_heads, seq_len)


def test_counts_do_not_depend_on_the_number_of_heads():
    assert len({multi_head_parameters(64, h) for h in (1, 2, 4, 8, 64)}) == 1
    assert len({multi_head_flops(64, h, 10) for h in (1, 2, 4, 8, 64)}) == 1
    with pytest.raises(ValueError, match="multiple"):
        multi_head_parameters(10, 3)


@settings(max_examples=15, deadline=None)
@given(SIZES, st.integers(1, 6), st.integers(0, 2**16))
def test_per_head_layer_equals_fused_layer(size, seq_len, seed):
    embed_dim, num_heads = size
    torch.manual_seed(seed)
    fused = MultiHeadAttention(embed_dim, num_heads).double()
    with torch.no_grad():  # non-zero biases, so that a misplaced bias would show
        fused.in_proj.bias.normal_()
        fused.out_proj.bias.normal_()
    per_head = per_head_from_fused(fused)
    assert isinstance(per_head, PerHeadAttention)
    assert n_params(per_head) == n_params(fused)
    x = torch.randn(2, seq_len, embed_dim, dtype=torch.float64)
    lengths = torch.tensor([seq_len, max(1, seq_len // 2)])
    pad = padding_mask(lengths, seq_len)
    mask = combine_masks(key_padding_to_attention_mask(pad)[:, 0], causal_mask(seq_len))
    want, _ = fused(x, key_padding_mask=pad, is_causal=True, need_weights=True)
    got = per_head(x, mask)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_per_head_copy_detects_swapped_heads():
    # The test above must be able to fail: a copy with two heads exchanged differs.
    torch.manual_seed(0)
    fused = MultiHeadAttention(16, 4).double()
    per_head = per_head_from_fused(fused)
    with torch.no_grad():
        w0 = per_head.q[0].weight.clone()
        per_head.q[0].weight.copy_(per_head.q[1].weight)
        per_head.q[1].weight.copy_(w0)
    x = torch.randn(1, 5, 16, dtype=torch.float64)
    assert (per_head(x) - fused(x)[0]).abs().max() > 1e-6


@pytest.mark.parametrize(("num_heads", "num_kv_heads"), [(8, 8), (8, 4), (8, 2), (8, 1)])
def test_key_value_parameters_count_the_layer(num_heads, num_kv_heads):
    layer = GroupedQueryAttention(64, num_heads, num_kv_heads)
    assert key_value_parameters(64, num_heads, num_kv_heads) == n_params(layer.kv_proj)
    saved = key_value_parameters(64, num_heads, num_heads) - key_value_parameters(64, num_heads, num_kv_heads)
    assert n_params(MultiHeadAttention(64, num_heads)) - n_params(layer) == saved
    # The K/V projections shrink by exactly num_heads / num_kv_heads.
    assert key_value_parameters(64, num_heads, num_heads) == (
        num_heads // num_kv_heads * key_value_parameters(64, num_heads, num_kv_heads)
    )


def test_key_value_parameters_rejects_groups_that_do_not_divide():
    with pytest.raises(ValueError, match="divide"):
        key_value_parameters(64, 8, 3)


def gqa_as_multi_head(gqa: GroupedQueryAttention, embed_dim: int) -> MultiHeadAttention:
    """The multi-head layer whose K/V heads are copies of the shared ones, group by group."""
    num_heads, group = gqa.num_heads, gqa.num_heads // gqa.num_kv_heads
    head_dim = embed_dim // num_heads
    layer = MultiHeadAttention(embed_dim, num_heads).double()
    w_k, w_v = gqa.kv_proj.weight.chunk(2)
    b_k, b_v = gqa.kv_proj.bias.chunk(2)

    def expand(t):  # repeat each kv head's rows `group` times
        return t.reshape(gqa.num_kv_heads, head_dim, *t.shape[1:]).repeat_interleave(group, 0).flatten(0, 1)

    with torch.no_grad():
        layer.in_proj.weight.copy_(torch.cat([gqa.q_proj.weight, expand(w_k), expand(w_v)]))
        layer.in_proj.bias.copy_(torch.cat([gqa.q_proj.bias, expand(b_k), expand(b_v)]))
        layer.out_proj.load_state_dict(gqa.out_proj.state_dict())
    return layer


@pytest.mark.parametrize("num_kv_heads", [4, 2, 1])
def test_grouped_query_equals_multi_head_with_shared_key_value_heads(num_kv_heads):
    torch.manual_seed(num_kv_heads)
    gqa = GroupedQueryAttention(32, 4, num_kv_heads).double()
    reference = gqa_as_multi_head(gqa, 32)
    x = torch.randn(2, 6, 32, dtype=torch.float64)
    mask = causal_mask(6)
    torch.testing.assert_close(gqa(x, mask), reference(x, is_causal=True)[0], rtol=0, atol=1e-12)


def test_grouped_query_with_all_heads_is_multi_head_attention():
    torch.manual_seed(1)
    fused = MultiHeadAttention(16, 4).double()
    gqa = GroupedQueryAttention(16, 4, 4).double()
    with torch.no_grad():
        gqa.q_proj.weight.copy_(fused.in_proj.weight[:16])
        gqa.q_proj.bias.copy_(fused.in_proj.bias[:16])
        gqa.kv_proj.weight.copy_(fused.in_proj.weight[16:])
        gqa.kv_proj.bias.copy_(fused.in_proj.bias[16:])
        gqa.out_proj.load_state_dict(fused.out_proj.state_dict())
    x = torch.randn(3, 5, 16, dtype=torch.float64)
    torch.testing.assert_close(gqa(x), fused(x)[0], rtol=0, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(st.permutations(range(4)), st.integers(0, 2**16))
def test_permuting_heads_changes_nothing_but_the_head_order(order, seed):
    torch.manual_seed(seed)
    layer = MultiHeadAttention(16, 4).double()
    with torch.no_grad():
        layer.in_proj.bias.normal_()
    permuted = permute_heads(layer, list(order))
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    out, weights = layer(x, need_weights=True)
    new_out, new_weights = permuted(x, need_weights=True)
    torch.testing.assert_close(new_out, out, rtol=0, atol=1e-12)
    torch.testing.assert_close(new_weights, weights[:, list(order)], rtol=0, atol=0)


def test_permuting_heads_keeps_a_rotary_embedding():
    torch.manual_seed(3)
    layer = MultiHeadAttention(16, 4, rotary=RotaryEmbedding(4, dtype=torch.float64)).double()
    permuted = permute_heads(layer, [3, 2, 1, 0])
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    torch.testing.assert_close(permuted(x)[0], layer(x)[0], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="rotary"):
        per_head_from_fused(layer)


def test_permuting_only_the_input_projection_would_change_the_output():
    torch.manual_seed(0)
    layer = MultiHeadAttention(16, 4).double()
    permuted = permute_heads(layer, [1, 0, 2, 3])
    with torch.no_grad():
        permuted.out_proj.weight.copy_(layer.out_proj.weight)  # forget to move W^O's columns
    x = torch.randn(1, 5, 16, dtype=torch.float64)
    assert (permuted(x)[0] - layer(x)[0]).abs().max() > 1e-6
    with pytest.raises(ValueError, match="permutation"):
        permute_heads(layer, [0, 0, 1, 2])
