"""Bad inputs fail early, with the right exception and a message naming what was expected and given.

Each case is one distinct mistake a reader could make. The ``match`` pattern of every case names
both sides: the expected shape/dtype/range and the one actually passed.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from book_code.attention import (
    MultiHeadAttention,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)

E, H = 8, 2


def mha(dtype=torch.float32):
    return MultiHeadAttention(E, H).to(dtype)


def x(*shape, dtype=torch.float32):
    return torch.zeros(*shape, dtype=dtype)


def sdpa(q_shape=(2, 3, 4), k_shape=(2, 5, 4), v_shape=(2, 5, 6), dtypes=(torch.float32,) * 3, **kwargs):
    q, k, v = (torch.zeros(s, dtype=d) for s, d in zip((q_shape, k_shape, v_shape), dtypes, strict=True))
    return scaled_dot_product_attention(q, k, v, **kwargs)


def esc(text: str) -> str:
    return re.escape(text)


# (id, thunk, exception type, pattern naming expected and given)
CASES = [
    # --- constructor ---------------------------------------------------------------------
    ("embed_dim_not_divisible", lambda: MultiHeadAttention(10, 3), ValueError,
     r"embed_dim must be a positive multiple of num_heads; got embed_dim=10, num_heads=3"),
    ("num_heads_zero", lambda: MultiHeadAttention(8, 0), ValueError,
     r"positive multiple of num_heads; got embed_dim=8, num_heads=0"),
    ("embed_dim_zero", lambda: MultiHeadAttention(0, 1), ValueError,
     r"positive multiple of num_heads; got embed_dim=0, num_heads=1"),
    ("dropout_one", lambda: MultiHeadAttention(8, 2, dropout=1.0), ValueError,
     esc("dropout must lie in [0, 1); got 1.0")),
    ("dropout_negative", lambda: MultiHeadAttention(8, 2, dropout=-0.1), ValueError,
     esc("dropout must lie in [0, 1); got -0.1")),
    # --- module inputs -------------------------------------------------------------------
    ("module_query_2d", lambda: mha()(x(5, E)), ValueError,
     esc("query must have shape (batch, seq_len, embed_dim) (3 dimensions); "
         "got shape (5, 8) (2 dimensions)")),
    ("module_query_4d", lambda: mha()(x(2, 2, 5, E)), ValueError,
     esc("query must have shape (batch, seq_len, embed_dim) (3 dimensions); "
         "got shape (2, 2, 5, 8) (4 dimensions)")),
    ("module_key_4d", lambda: mha()(x(2, 5, E), x(2, 1, 5, E)), ValueError,
     esc("key must have shape (batch, seq_len, embed_dim) (3 dimensions); got shape (2, 1, 5, 8)")),
    ("module_wrong_embed_dim", lambda: mha()(x(2, 5, 6)), ValueError,
     esc("query must have embed_dim=8 features in its last dimension; got shape (2, 5, 6)")),
    ("module_key_wrong_embed_dim", lambda: mha()(x(2, 5, E), x(2, 5, 16)), ValueError,
     esc("key must have embed_dim=8 features in its last dimension; got shape (2, 5, 16)")),
    ("module_batch_mismatch", lambda: mha()(x(2, 5, E), x(3, 5, E)), ValueError,
     esc("query, key and value must have the same batch size; "
         "got shapes (2, 5, 8), (3, 5, 8) and (3, 5, 8)")),
    ("module_key_value_lengths", lambda: mha()(x(2, 3, E), x(2, 5, E), x(2, 4, E)), ValueError,
     esc("key and value must have the same length; got key (2, 5, 8) and value (2, 4, 8)")),
    ("module_non_tensor", lambda: mha()([[0.0] * E]), TypeError,
     r"query must be a torch\.Tensor; got list"),
    ("module_integer_input", lambda: mha()(torch.zeros(2, 5, E, dtype=torch.long)), TypeError,
     r"query must have a floating-point dtype \(float16, bfloat16, float32 or float64\); got torch\.int64"),
    ("module_dtype_mismatch", lambda: mha(torch.float32)(x(2, 5, E, dtype=torch.float64)), TypeError,
     r"query, key, value and the layer's parameters must share a dtype; got torch\.float64, torch\.float64, "
     r"torch\.float64 and torch\.float32"),
    ("module_mixed_input_dtypes",
     lambda: mha(torch.float64)(x(2, 5, E, dtype=torch.float64), x(2, 5, E)), TypeError,
     r"must share a dtype; got torch\.float64, torch\.float32, torch\.float32 and torch\.float64"),
    ("module_additive_float_attn_mask", lambda: mha()(x(2, 5, E), attn_mask=torch.zeros(5, 5)), TypeError,
     r"mask must have dtype torch\.bool \(True = may attend\); got torch\.float32\. "
     r"Convert an additive float mask with `mask == 0`"),
    ("module_attn_mask_wrong_shape",
     lambda: mha()(x(2, 5, E), attn_mask=torch.ones(4, 5, dtype=torch.bool)), ValueError,
     esc("mask of shape (4, 5) does not broadcast to the scores of shape (2, 2, 5, 5)")),
    ("module_torch_style_3d_attn_mask",
     lambda: mha()(x(2, 5, E), attn_mask=torch.ones(2 * H + 1, 5, 5, dtype=torch.bool)), ValueError,
     esc("mask of shape (5, 5, 5) does not broadcast to the scores of shape (2, 5, 5)")),
    ("key_padding_mask_wrong_shape",
     lambda: mha()(x(2, 5, E), key_padding_mask=torch.ones(2, 4, dtype=torch.bool)), ValueError,
     esc("key_padding_mask must be a bool tensor of shape (batch, key_len) = (2, 5), True at real tokens; "
         "got shape (2, 4) and dtype torch.bool")),
    ("key_padding_mask_is_query_len_for_cross_attention",
     lambda: mha()(x(2, 3, E), x(2, 5, E), key_padding_mask=torch.ones(2, 3, dtype=torch.bool)),
     ValueError,
     esc("(batch, key_len) = (2, 5), True at real tokens; got shape (2, 3)")),
    ("key_padding_mask_float",
     lambda: mha()(x(2, 5, E), key_padding_mask=torch.ones(2, 5)), ValueError,
     esc("must be a bool tensor of shape (batch, key_len) = (2, 5), True at real tokens; got shape (2, 5) "
         "and dtype torch.float32")),
    ("key_padding_mask_int",
     lambda: mha()(x(2, 5, E), key_padding_mask=torch.ones(2, 5, dtype=torch.long)), ValueError,
     esc("must be a bool tensor of shape (batch, key_len) = (2, 5), True at real tokens; got shape (2, 5) "
         "and dtype torch.int64")),
    ("key_padding_mask_non_tensor",
     lambda: mha()(x(2, 5, E), key_padding_mask=[[True] * 5] * 2), TypeError,
     r"key_padding_mask must be a torch\.Tensor; got list"),
    ("module_is_causal_with_longer_query",
     lambda: mha()(x(2, 5, E), x(2, 3, E), is_causal=True), ValueError,
     esc("causal_mask needs 1 <= query_len <= key_len; got query_len=5, key_len=3")),
    # --- functional --------------------------------------------------------------------------
    ("function_key_value_lengths", lambda: sdpa(v_shape=(2, 4, 6)), ValueError,
     esc("key and value must have the same length; got key (2, 5, 4) (key_len=5) and value (2, 4, 6) "
         "(value_len=4)")),
    ("function_feature_sizes", lambda: sdpa(k_shape=(2, 5, 7)), ValueError,
     esc("query and key must have the same feature size d_k; got query (2, 3, 4) (d_k=4) and key (2, 5, 7) "
         "(d_k=7)")),
    ("function_batch_mismatch", lambda: sdpa(k_shape=(3, 5, 4), v_shape=(3, 5, 6)), ValueError,
     esc("must share their leading (batch) dimensions; got (2, 3, 4), (3, 5, 4) and (3, 5, 6)")),
    ("function_rank_mismatch", lambda: sdpa(k_shape=(5, 4), v_shape=(5, 6)), ValueError,
     esc("must have the same number of dimensions; got (2, 3, 4), (5, 4) and (5, 6)")),
    ("function_1d_query", lambda: sdpa(q_shape=(4,), k_shape=(5, 4), v_shape=(5, 6)), ValueError,
     r"query must have shape \(\*batch, seq_len, features\) with at least 2 dimensions; got shape \(4,\)"),
    ("function_non_tensor",
     lambda: scaled_dot_product_attention(x(3, 4), [[0.0] * 4] * 5, x(5, 6)), TypeError,
     r"key must be a torch\.Tensor; got list"),
    ("function_integer_dtype", lambda: sdpa(dtypes=(torch.int64, torch.float32, torch.float32)), TypeError,
     r"query must have a floating-point dtype .*; got torch\.int64"),
    ("function_mixed_dtypes", lambda: sdpa(dtypes=(torch.float32, torch.float64, torch.float32)), TypeError,
     r"query, key and value must have the same dtype; got torch\.float32, torch\.float64 and torch\.float32"),
    ("function_float_mask", lambda: sdpa(mask=torch.zeros(3, 5)), TypeError,
     r"mask must have dtype torch\.bool \(True = may attend\); got torch\.float32"),
    ("function_int_mask", lambda: sdpa(mask=torch.ones(3, 5, dtype=torch.int32)), TypeError,
     r"mask must have dtype torch\.bool \(True = may attend\); got torch\.int32"),
    ("function_mask_wrong_shape", lambda: sdpa(mask=torch.ones(5, 3, dtype=torch.bool)), ValueError,
     esc("mask of shape (5, 3) does not broadcast to the scores of shape (2, 3, 5); "
         "expected (query_len, key_len) = (3, 5)")),
    ("function_dropout_one", lambda: sdpa(dropout_p=1.0), ValueError,
     esc("dropout_p must lie in [0, 1); got 1.0")),
    ("function_dropout_negative", lambda: sdpa(dropout_p=-0.5), ValueError,
     esc("dropout_p must lie in [0, 1); got -0.5")),
    # --- masks ---------------------------------------------------------------------------------
    ("padding_mask_float_lengths", lambda: padding_mask(torch.tensor([2.0, 3.0])), ValueError,
     esc("lengths must be a 1-D integer tensor of shape (batch,); got shape (2,) and dtype torch.float32")),
    ("padding_mask_too_long", lambda: padding_mask(torch.tensor([2, 6]), max_len=4), ValueError,
     esc("lengths must lie in [0, max_len=4]; got [2, 6]")),
    ("causal_mask_short_keys", lambda: causal_mask(4, 2), ValueError,
     esc("causal_mask needs 1 <= query_len <= key_len; got query_len=4, key_len=2")),
    # --- conversion from PyTorch -----------------------------------------------------------
    ("from_torch_not_mha", lambda: MultiHeadAttention.from_torch(nn.Linear(E, E)), TypeError,
     r"expected torch\.nn\.MultiheadAttention; got Linear"),
    ("from_torch_kdim", lambda: MultiHeadAttention.from_torch(nn.MultiheadAttention(E, H, kdim=4, vdim=4)),
     ValueError, r"kdim == vdim == embed_dim.*; got embed_dim=8, kdim=4, vdim=4"),
    ("from_torch_bias_kv",
     lambda: MultiHeadAttention.from_torch(nn.MultiheadAttention(E, H, add_bias_kv=True)), ValueError,
     r"no bias_k/bias_v.*got .*add_bias_kv=True"),
    ("from_torch_zero_attn",
     lambda: MultiHeadAttention.from_torch(nn.MultiheadAttention(E, H, add_zero_attn=True)), ValueError,
     r"add_zero_attn=False has an equivalent here; got .*add_zero_attn=True"),
]


def test_cases_are_distinct_and_enough():
    ids = [case[0] for case in CASES]
    assert len(set(ids)) == len(ids) >= 15
    assert len({case[3] for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("thunk", "exception", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error(thunk, exception, pattern):
    with pytest.raises(exception, match=pattern) as info:
        thunk()
    # The exact type, not a subclass that happens to match (and not torch's RuntimeError).
    assert type(info.value) is exception


@pytest.mark.parametrize("need_weights", [True, False])
def test_good_inputs_next_to_the_bad_ones_pass(need_weights):
    """Guard against checks that reject everything: the nearest valid inputs are accepted."""
    layer = mha()
    out, _ = layer(x(2, 3, E), x(2, 5, E), key_padding_mask=torch.ones(2, 5, dtype=torch.bool),
                   attn_mask=torch.ones(2, 3, 5, dtype=torch.bool), need_weights=need_weights)
    assert out.shape == (2, 3, E)
    out, weights = sdpa(mask=torch.ones(3, 5, dtype=torch.bool), dropout_p=0.0)
    assert out.shape == (2, 3, 6) and weights.shape == (2, 3, 5)
    assert padding_mask(torch.tensor([2, 4]), max_len=4).shape == (2, 4)
    assert causal_mask(2, 4).shape == (2, 4)
    MultiHeadAttention.from_torch(nn.MultiheadAttention(E, H))
