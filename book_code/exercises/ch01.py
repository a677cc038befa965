"""Solutions to the coding exercises of Chapter 1 (attention from first principles).

Each solution is printed, collapsed, under its exercise; ``tests/exercises/test_ch01.py``
checks that it really solves the exercise.
"""

from __future__ import annotations

# --8<-- [start:imports]
import math
from dataclasses import dataclass

import torch

# --8<-- [end:imports]
# Outside the listed section on purpose: in the chapter, `softmax` is the reader's copy from
# section 1.2, and re-importing the package's version would silently replace it.
from book_code.attention.lookup import softmax


# --8<-- [start:additive_lookup]
def additive_lookup(
    query: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    w_query: torch.Tensor,
    w_key: torch.Tensor,
    v: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention for one query with additive (Bahdanau) scores ``tanh(q W_q + k_i W_k) v``.

    Args:
        query: ``(d_q,)``.
        keys: ``(n, d_k)``; ``d_k`` may differ from ``d_q``.
        values: ``(n, d_v)``, one value per key.
        w_query: ``(d_q, d_h)``, maps the query into a hidden space of width ``d_h``.
        w_key: ``(d_k, d_h)``, maps the keys into the same space.
        v: ``(d_h,)``, turns a hidden vector into a score.

    Returns:
        ``(output, weights)`` with shapes ``(d_v,)`` and ``(n,)``.
    """
    shapes_fit = (
        w_query.shape[0] == query.shape[-1]
        and w_key.shape[0] == keys.shape[-1]
        and w_query.shape[1] == w_key.shape[1] == v.shape[0]
        and keys.shape[0] == values.shape[0]
    )
    if not shapes_fit:
        raise ValueError(
            "expected query (d_q,), keys (n, d_k), values (n, d_v), w_query (d_q, d_h), "
            f"w_key (d_k, d_h), v (d_h,); got {tuple(query.shape)}, {tuple(keys.shape)}, "
            f"{tuple(values.shape)}, {tuple(w_query.shape)}, {tuple(w_key.shape)}, "
            f"{tuple(v.shape)}"
        )
    # The projected query broadcasts over the n projected keys: one hidden vector per key.
    hidden = torch.tanh(query @ w_query + keys @ w_key)  # (n, d_h)
    # tanh lies in [-1, 1], so |score| <= sum(|v|) however large the inputs are.
    scores = hidden @ v  # (n,)
    weights = softmax(scores)
    return weights @ values, weights
# --8<-- [end:additive_lookup]


# --8<-- [start:nadaraya_watson]
def nadaraya_watson(
    query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, bandwidth: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nadaraya-Watson kernel regression with a Gaussian kernel, written as a soft lookup.

    The weight of key ``k_i`` is ``exp(-|q - k_i|^2 / (2 h^2))``, normalised over the keys,
    which is a softmax of the scores ``-|q - k_i|^2 / (2 h^2)``.

    Args:
        query: ``(d,)``, the point at which to estimate the regression function.
        keys: ``(n, d)``, the sample inputs.
        values: ``(n, d_v)``, the sample outputs.
        bandwidth: ``h > 0``, the width of the kernel.

    Returns:
        ``(estimate, weights)`` with shapes ``(d_v,)`` and ``(n,)``.
    """
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive; got {bandwidth}")
    squared_distances = ((keys - query) ** 2).sum(dim=-1)  # (n,)
    # softmax, not exp / sum: far-away keys would otherwise underflow to 0 / 0.
    weights = softmax(-squared_distances / (2 * bandwidth**2))
    return weights @ values, weights
# --8<-- [end:nadaraya_watson]


# --8<-- [start:measure_with_offsets]
@dataclass(frozen=True)
class OffsetMeasurement:
    """Softmax statistics when every query and key component is shifted by a constant."""

    key_offset: float
    query_offset: float
    logit_variance: float
    """Variance of all logits, over every query and every key."""
    key_spread: float
    """Variance of the logits across the keys, averaged over queries: what softmax sees."""
    max_weight: float
    """Mean over queries of the largest softmax weight."""


def measure_with_offsets(
    d_k: int,
    key_offset: float = 0.0,
    query_offset: float = 0.0,
    num_keys: int = 32,
    num_queries: int = 2000,
    seed: int = 0,
) -> OffsetMeasurement:
    """Scaled logits of unit-variance queries and keys whose components have a non-zero mean.

    With both offsets zero this draws the same numbers as
    ``measure_scaling(d_k, scaled=True, ...)`` and measures the same variance and max weight.
    """
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randn(num_queries, d_k, generator=generator, dtype=torch.float64)
    keys = torch.randn(num_keys, d_k, generator=generator, dtype=torch.float64)
    queries, keys = queries + query_offset, keys + key_offset
    logits = queries @ keys.T / math.sqrt(d_k)  # (num_queries, num_keys)
    weights = torch.softmax(logits, dim=-1)
    return OffsetMeasurement(
        key_offset=key_offset,
        query_offset=query_offset,
        logit_variance=logits.var().item(),
        key_spread=logits.var(dim=-1).mean().item(),
        max_weight=weights.amax(dim=-1).mean().item(),
    )
# --8<-- [end:measure_with_offsets]
