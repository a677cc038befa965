"""Solutions to the coding exercises of Chapter 4 (position).

Each solution is printed, collapsed, under its exercise; ``tests/exercises/test_ch04.py``
checks that it really solves the exercise.
"""

from __future__ import annotations

# --8<-- [start:imports]
import math

import torch
from torch import nn

from book_code.attention import MultiHeadAttention, causal_mask, masked_softmax

# --8<-- [end:imports]
# Outside the listed section on purpose: in the chapter, these are the reader's copies from the
# chapter's listings, and re-importing the package's versions would silently replace them.
from book_code.positional import RotaryEmbedding, apply_rotary_half, rotate_half_permutation


# --8<-- [start:alibi]
def alibi_slopes(num_heads: int) -> torch.Tensor:
    """Head ``h = 1 .. H`` penalises distance with slope ``2^(-8h/H)`` (Press et al., 2022):
    for 8 heads, ``1/2, 1/4, ..., 1/256``."""
    if not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"num_heads must be a positive integer; got {num_heads!r}")
    return 2.0 ** (-8.0 * torch.arange(1, num_heads + 1, dtype=torch.float64) / num_heads)


def alibi_bias(slopes: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Bias ``(heads, seq_len, seq_len)``: ``-slope * (i - j)`` for query ``i`` and key ``j``.

    Only ``j <= i`` is used under a causal mask, so the bias is never positive there.
    """
    offsets = torch.arange(seq_len)[:, None] - torch.arange(seq_len)[None, :]  # i - j
    return -slopes[:, None, None] * offsets.to(slopes.dtype)


def alibi_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, slopes: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal attention with linear biases: ``softmax(q k^T / sqrt(d_k) + bias) v``.

    ``q, k, v`` are ``(batch, heads, seq_len, head_dim)``; no position enters anywhere else.
    Returns ``(output, weights)`` like `scaled_dot_product_attention`.
    """
    num_heads, seq_len, head_dim = q.shape[1], q.shape[2], q.shape[3]
    slopes = alibi_slopes(num_heads) if slopes is None else slopes
    scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)
    scores = scores + alibi_bias(slopes, seq_len).to(scores.dtype)
    weights = masked_softmax(scores, causal_mask(seq_len, device=q.device))
    return weights @ v, weights
# --8<-- [end:alibi]


# --8<-- [start:rotate_half_weights]
class RotateHalfRotary(nn.Module):
    """RoPE with the rotate-half pairing (as in GPT-NeoX / LLaMA code), at positions 0, 1, ..."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        self.head_dim, self.base = head_dim, base

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return tuple(
            apply_rotary_half(t, torch.arange(t.shape[-2], device=t.device), self.base) for t in (q, k)
        )


def to_paper_pairing(layer: MultiHeadAttention) -> MultiHeadAttention:
    """A copy of ``layer`` (trained with `RotateHalfRotary`) that gives the same outputs with
    the paper's pairing, `RotaryEmbedding`.

    Rotate-half pairs dimension ``i`` of a head with ``i + d/2``; the paper pairs ``2i`` with
    ``2i + 1``. Reorder the rows of ``W^Q`` and ``W^K`` inside every head so that the new query
    satisfies ``q_new[..., perm] = q_old``: then ``apply_rotary(q_new)[..., perm]`` equals
    ``apply_rotary_half(q_old)`` and every score is unchanged. ``W^V`` and ``W^O`` stay.
    """
    if not isinstance(layer.rotary, RotateHalfRotary):
        raise TypeError("layer must use RotateHalfRotary (the rotate-half pairing)")
    embed_dim, num_heads, head_dim = layer.embed_dim, layer.num_heads, layer.head_dim
    inverse = torch.argsort(rotate_half_permutation(head_dim))  # q_new = q_old[..., inverse]
    rows = torch.cat([h * head_dim + inverse for h in range(num_heads)])
    in_rows = torch.cat([rows, rows + embed_dim, torch.arange(2 * embed_dim, 3 * embed_dim)])  # Q, K, V
    weight = layer.in_proj.weight
    rotary = RotaryEmbedding(head_dim, base=layer.rotary.base, device=weight.device, dtype=weight.dtype)
    new = MultiHeadAttention(embed_dim, num_heads, layer.dropout, bias=layer.in_proj.bias is not None,
                             rotary=rotary)
    new.to(device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.in_proj.weight.copy_(weight[in_rows])
        if layer.in_proj.bias is not None:
            new.in_proj.bias.copy_(layer.in_proj.bias[in_rows])
        new.out_proj.load_state_dict(layer.out_proj.state_dict())
    return new
# --8<-- [end:rotate_half_weights]
