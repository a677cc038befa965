"""Scaled dot-product attention, written out so that every step can be read and tested.

Shapes follow PyTorch: ``query`` is ``(*batch, query_len, d_k)``, ``key`` is
``(*batch, key_len, d_k)`` and ``value`` is ``(*batch, key_len, d_v)``, where ``*batch`` is any
number of leading dimensions (usually ``(batch,)`` or ``(batch, heads)``). Masks follow the
convention of [`book_code.attention.masks`][book_code.attention.masks]: ``True`` = may attend.
"""

from __future__ import annotations

# --8<-- [start:imports]
import math

import torch
import torch.nn.functional as F

from book_code._checks import check_attention_inputs
from book_code.attention.masks import check_mask

# --8<-- [end:imports]


# --8<-- [start:masked_softmax]
def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last dimension that gives exactly zero weight where ``mask`` is False.

    A row in which every key is masked gets all-zero weights (not NaN, and not the
    uniform weights that filling with a large negative number would give).
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    scores = scores.masked_fill(~mask, float("-inf"))
    # A fully masked row would be softmax(-inf, ..., -inf) = NaN. Give it finite scores;
    # the multiplication by the mask below zeroes its weights anyway.
    row_is_empty = ~mask.any(dim=-1, keepdim=True)
    scores = scores.masked_fill(row_is_empty, 0.0)
    return torch.softmax(scores, dim=-1) * mask
# --8<-- [end:masked_softmax]


# --8<-- [start:scaled_dot_product_attention]
def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(output, weights)`` of softmax(Q K^T / sqrt(d_k)) V.

    ``weights`` has shape ``(*batch, query_len, key_len)``; each row sums to 1 over the
    keys the mask allows, or is all zeros when it allows none. Half-precision inputs are
    computed in float32 and the result is cast back. ``dropout_p`` drops weights (and
    rescales the rest by ``1 / (1 - dropout_p)``); the caller passes 0 at evaluation.
    """
    check_attention_inputs(query, key, value)
    *batch, query_len, d_k = query.shape
    key_len = key.shape[-2]
    if mask is not None:
        check_mask(mask, tuple(batch), query_len, key_len)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must lie in [0, 1); got {dropout_p}")

    scale = 1.0 / math.sqrt(d_k) if scale is None else scale
    # Softmax in float16 loses too much; compute the scores and weights in float32 at least.
    compute_dtype = torch.promote_types(query.dtype, torch.float32)
    # Scaling the (n, d_k) queries costs n*d_k multiplications; scaling the (n, m) scores, n*m.
    scores = (query.to(compute_dtype) * scale) @ key.to(compute_dtype).transpose(-2, -1)
    weights = masked_softmax(scores, mask)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    output = weights @ value.to(compute_dtype)
    return output.to(query.dtype), weights.to(query.dtype)
# --8<-- [end:scaled_dot_product_attention]
