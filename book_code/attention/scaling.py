"""Why attention divides by sqrt(d_k): measurements behind chapter 1's figure.

With query and key entries drawn independently from N(0, 1), the dot product q . k has mean 0
and variance d_k. Unscaled, the logits grow with the width, the softmax saturates and its
gradient vanishes. These functions measure all three, so that the chapter's claims are numbers
computed by the book's code rather than assertions.
"""

from __future__ import annotations

# --8<-- [start:imports]
import math
from dataclasses import asdict, dataclass

import torch

# --8<-- [end:imports]


# --8<-- [start:measurement]
@dataclass(frozen=True)
class ScalingMeasurement:
    """Statistics of attention logits and weights for one width ``d_k``."""

    d_k: int
    scaled: bool
    logit_variance: float
    """Variance of the logits q . k (divided by sqrt(d_k) when ``scaled``)."""
    max_weight: float
    """Mean over queries of the largest softmax weight (1.0 = one-hot, saturated)."""
    grad_norm: float
    """Mean Frobenius norm of the softmax Jacobian d weights / d logits."""

    def as_dict(self) -> dict:
        return asdict(self)
# --8<-- [end:measurement]


# --8<-- [start:measure_scaling]
def measure_scaling(
    d_k: int, scaled: bool, num_keys: int = 32, num_queries: int = 2000, seed: int = 0
) -> ScalingMeasurement:
    """Draw random unit-variance queries and keys of width ``d_k`` and measure the softmax."""
    if d_k < 1 or num_keys < 2 or num_queries < 2:
        raise ValueError(
            f"need d_k >= 1, num_keys >= 2, num_queries >= 2; got {d_k}, {num_keys}, {num_queries}"
        )
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randn(num_queries, d_k, generator=generator, dtype=torch.float64)
    keys = torch.randn(num_keys, d_k, generator=generator, dtype=torch.float64)
    logits = queries @ keys.T  # (num_queries, num_keys)
    if scaled:
        logits = logits / math.sqrt(d_k)
    weights = torch.softmax(logits, dim=-1)
    # Softmax Jacobian per query: diag(w) - w w^T. Its norm measures how much gradient flows.
    jacobian = torch.diag_embed(weights) - weights[:, :, None] * weights[:, None, :]
    return ScalingMeasurement(
        d_k=d_k,
        scaled=scaled,
        logit_variance=logits.var().item(),
        max_weight=weights.amax(dim=-1).mean().item(),
        grad_norm=jacobian.flatten(1).norm(dim=-1).mean().item(),
    )
# --8<-- [end:measure_scaling]


def scaling_sweep(
    widths: tuple[int, ...] = (4, 16, 64, 256, 1024), **kwargs
) -> list[ScalingMeasurement]:
    """`measure_scaling` for every width in ``widths``, unscaled and scaled."""
    return [measure_scaling(d, scaled, **kwargs) for scaled in (False, True) for d in widths]
