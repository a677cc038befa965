"""Boolean masks (True = may attend): constructors, combination and the shape/dtype check."""

from __future__ import annotations

import re

import pytest
import torch

from book_code._checks import shape_str
from book_code.attention.masks import (
    causal_mask,
    check_mask,
    combine_masks,
    key_padding_to_attention_mask,
    padding_mask,
)

# --- padding_mask ---------------------------------------------------------------------------


def test_padding_mask_docstring_example():
    expected = torch.tensor([[True, True, True, False], [True, False, False, False]])
    assert torch.equal(padding_mask(torch.tensor([3, 1]), max_len=4), expected)


def test_padding_mask_defaults_to_longest_sequence():
    mask = padding_mask(torch.tensor([2, 5, 0]))
    assert mask.shape == (3, 5) and mask.dtype == torch.bool
    assert mask.sum(-1).tolist() == [2, 5, 0]
    # Left-aligned: real tokens come first, so each row is non-increasing.
    assert (mask[:, :-1].int() >= mask[:, 1:].int()).all()


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.uint8])
def test_padding_mask_accepts_any_integer_dtype(dtype):
    assert padding_mask(torch.tensor([1, 2], dtype=dtype), 3).tolist() == [
        [True, False, False], [True, True, False]]


def test_padding_mask_of_empty_batch():
    assert padding_mask(torch.tensor([], dtype=torch.long), 4).shape == (0, 4)


def test_padding_mask_length_equal_to_max_len_is_all_true():
    assert padding_mask(torch.tensor([4]), 4).all()


@pytest.mark.parametrize(
    ("lengths", "max_len", "match"),
    [
        (torch.tensor([1.0, 2.0]), None,
         r"1-D integer tensor of shape \(batch,\); got shape \(2,\) and dtype torch.float32"),
        (torch.tensor([True]), None, r"integer tensor.*dtype torch.bool"),
        (torch.tensor([[1, 2]]), None, r"of shape \(batch,\); got shape \(1, 2\)"),
        (torch.tensor([4, 1]), 3, r"lengths must lie in \[0, max_len=3\]; got \[4, 1\]"),
        (torch.tensor([-1, 1]), 3, r"lengths must lie in \[0, max_len=3\]; got \[-1, 1\]"),
    ],
    ids=["float", "bool", "2-D", "too-long", "negative"],
)
def test_padding_mask_rejects(lengths, max_len, match):
    with pytest.raises(ValueError, match=match):
        padding_mask(lengths, max_len)


def test_padding_mask_rejects_non_tensor():
    with pytest.raises(TypeError, match=r"lengths must be a torch.Tensor; got list"):
        padding_mask([1, 2])


# --- causal_mask ----------------------------------------------------------------------------


def test_causal_mask_docstring_example():
    assert causal_mask(3).int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]


@pytest.mark.parametrize("n", [1, 2, 7])
def test_square_causal_mask_is_lower_triangular(n):
    mask = causal_mask(n)
    assert mask.dtype == torch.bool and mask.shape == (n, n)
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    assert torch.equal(mask, j <= i)


@pytest.mark.parametrize(("query_len", "key_len"), [(1, 4), (2, 5), (3, 3), (3, 8)])
def test_causal_mask_aligns_queries_with_the_end_of_the_keys(query_len, key_len):
    mask = causal_mask(query_len, key_len)
    assert mask.shape == (query_len, key_len)
    # Query i is position key_len - query_len + i of the full sequence (decoding with a cache):
    # its row equals that row of the square mask over all keys.
    assert torch.equal(mask, causal_mask(key_len)[key_len - query_len:])
    assert mask[-1].all()  # the newest query sees every key
    offset = key_len - query_len
    assert mask[0].sum().item() == offset + 1


def test_causal_mask_matches_torch_lower_right_causal_bias():
    bias = pytest.importorskip("torch.nn.attention.bias")
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 1, n, 4, generator=generator, dtype=torch.float64) for n in (3, 6, 6))
    ours = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(3, 6))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias.causal_lower_right(3, 6))
    assert (ours - ref).abs().max() < 1e-12


@pytest.mark.parametrize(
    ("query_len", "key_len"), [(4, 3), (0, None), (0, 2), (2, 1)],
    ids=["short-keys", "empty", "empty-q", "2>1"],
)
def test_causal_mask_rejects(query_len, key_len):
    key = query_len if key_len is None else key_len
    match = rf"needs 1 <= query_len <= key_len; got query_len={query_len}, key_len={key}"
    with pytest.raises(ValueError, match=match):
        causal_mask(query_len, key_len)


# --- key_padding_to_attention_mask and combine_masks ---------------------------------------


def test_key_padding_to_attention_mask_broadcasts_over_heads_and_queries():
    pad = padding_mask(torch.tensor([2, 3]), 3)
    mask = key_padding_to_attention_mask(pad)
    assert mask.shape == (2, 1, 1, 3)
    full = mask.expand(2, 4, 5, 3)  # (batch, heads, query_len, key_len)
    for b in range(2):
        assert (full[b] == pad[b]).all()


@pytest.mark.parametrize(
    ("mask", "match"),
    [
        (torch.ones(2, 3, 4, dtype=torch.bool),
         r"shape \(batch, key_len\); got shape \(2, 3, 4\) and dtype torch.bool"),
        (torch.ones(2, 3),
         r"bool tensor of shape \(batch, key_len\); got shape \(2, 3\) and dtype torch.float32"),
        (torch.ones(2, 3, dtype=torch.long), r"got shape \(2, 3\) and dtype torch.int64"),
    ],
    ids=["3-D", "float", "int"],
)
def test_key_padding_to_attention_mask_rejects(mask, match):
    with pytest.raises(ValueError, match=match):
        key_padding_to_attention_mask(mask)


def test_combine_masks_docstring_example():
    pad = key_padding_to_attention_mask(padding_mask(torch.tensor([2]), 3))
    combined = combine_masks(pad, causal_mask(3), None)
    assert combined.int().tolist() == [[[[1, 0, 0], [1, 1, 0], [1, 1, 0]]]]


def test_combine_masks_is_logical_and_with_broadcasting():
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(2, 1, 4, 5, generator=generator) < 0.5
    b = torch.rand(4, 5, generator=generator) < 0.5
    c = torch.rand(2, 3, 1, 5, generator=generator) < 0.5
    combined = combine_masks(a, None, b, c)
    assert combined.shape == (2, 3, 4, 5) and combined.dtype == torch.bool
    assert torch.equal(combined, a & b & c)
    # Commutative, and a position survives only if every mask allows it.
    assert torch.equal(combined, combine_masks(c, b, a))
    assert not (combined & ~a).any()


def test_combine_masks_skips_none():
    mask = causal_mask(3)
    assert combine_masks(None, None) is None
    assert combine_masks() is None
    assert torch.equal(combine_masks(None, mask), mask)


# --- check_mask -----------------------------------------------------------------------------

BATCH, HEADS, Q, K = 2, 3, 4, 5


@pytest.mark.parametrize(
    "shape",
    [(Q, K), (1, K), (BATCH, 1, Q, K), (BATCH, 1, 1, K), (BATCH, HEADS, Q, K), (1, 1, Q, K),
     (HEADS, Q, K), (HEADS, 1, K), (1, HEADS, 1, K)],
)
def test_check_mask_accepts_broadcastable_shapes(shape):
    check_mask(torch.ones(shape, dtype=torch.bool), (BATCH, HEADS), Q, K)
    # Whatever check_mask accepts must really broadcast against the scores.
    torch.zeros(BATCH, HEADS, Q, K).masked_fill(~torch.ones(shape, dtype=torch.bool), 0.0)


@pytest.mark.parametrize(
    "shape",
    [(K,), (Q, K + 1), (Q + 1, K), (K, Q), (BATCH + 1, HEADS, Q, K), (BATCH, HEADS + 1, Q, K),
     (1, BATCH, HEADS, Q, K), (BATCH * HEADS, Q, K), (BATCH, Q, K)],
    ids=["1-D", "key_len", "query_len", "transposed", "batch", "heads", "5-D", "torch-style-3-D",
         "batch-aligned-with-heads"],
)
def test_check_mask_rejects_wrong_shapes(shape):
    got = re.escape(shape_str(shape))
    with pytest.raises(ValueError, match=rf"mask of shape {got} does not broadcast "
                       rf"to the scores of shape \({BATCH}, {HEADS}, {Q}, {K}\)"):
        check_mask(torch.ones(shape, dtype=torch.bool), (BATCH, HEADS), Q, K)


def test_check_mask_accepts_batch_query_key_for_three_dim_scores():
    check_mask(torch.ones(BATCH, Q, K, dtype=torch.bool), (BATCH,), Q, K)
    check_mask(torch.ones(BATCH, 1, K, dtype=torch.bool), (BATCH,), Q, K)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.uint8])
def test_check_mask_rejects_non_bool_dtypes(dtype):
    match = rf"mask must have dtype torch.bool \(True = may attend\); got {dtype}"
    with pytest.raises(TypeError, match=match):
        check_mask(torch.ones(Q, K, dtype=dtype), (BATCH,), Q, K)


def test_check_mask_rejects_non_tensor():
    with pytest.raises(TypeError, match=r"mask must be a torch\.Tensor; got list"):
        check_mask([[True]], (BATCH,), Q, K)
