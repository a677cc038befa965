"""Attention as a soft dictionary lookup, for a single query (chapter 1).

These functions are deliberately small: one query, plain tensors, no masks. The batched,
masked version is [`scaled_dot_product_attention`][book_code.attention.scaled_dot_product_attention].
"""

from __future__ import annotations

# --8<-- [start:imports]
import math

import torch

# --8<-- [end:imports]


# --8<-- [start:softmax]
def softmax(scores: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Numerically stable softmax: subtracting the maximum changes nothing but avoids overflow.

    >>> softmax(torch.tensor([1000.0, 1000.0, 999.0]))
    tensor([0.4223, 0.4223, 0.1554])
    """
    shifted = scores - scores.amax(dim=dim, keepdim=True)
    exp = shifted.exp()
    return exp / exp.sum(dim=dim, keepdim=True)
# --8<-- [end:softmax]


# --8<-- [start:hard_lookup]
def hard_lookup(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Return the value whose key has the largest dot product with ``query``."""
    scores = keys @ query  # (n,): one score per key
    return values[scores.argmax()]
# --8<-- [end:hard_lookup]


# --8<-- [start:soft_lookup]
def soft_lookup(
    query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, scaled: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention for one query: a weighted average of ``values``.

    Args:
        query: ``(d_k,)``.
        keys: ``(n, d_k)``, one key per row.
        values: ``(n, d_v)``, one value per row.
        scaled: divide the scores by ``sqrt(d_k)``.

    Returns:
        ``(output, weights)`` with shapes ``(d_v,)`` and ``(n,)``.
    """
    scores = keys @ query
    if scaled:
        scores = scores / math.sqrt(query.shape[-1])
    weights = softmax(scores)
    return weights @ values, weights
# --8<-- [end:soft_lookup]
