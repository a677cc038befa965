"""Three mistakes that popular tutorial code makes, kept here so that tests can show them.

Nothing in this module should be used for real work. Chapter 3 prints each one beside the
correct code, and ``tests/attention/test_mistakes.py`` measures how each differs from
[`MultiHeadAttention`][book_code.attention.MultiHeadAttention].
"""

from __future__ import annotations

# --8<-- [start:imports]
import math

import torch
from torch import nn

from book_code.attention.multihead import MultiHeadAttention, merge_heads, split_heads

# --8<-- [end:imports]


# --8<-- [start:shared_head_linear]
class SharedHeadProjection(nn.Module):
    """MISTAKE: split the input into heads first, then project every head with one shared
    ``nn.Linear(head_dim, head_dim)``.

    Each head then sees only its own slice of the input features, and all heads share the
    same weights: the layer has about ``num_heads**2`` times fewer projection parameters
    and cannot learn different attention patterns per head on the same features.
    """

    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        head_dim = embed_dim // num_heads
        self.q = nn.Linear(head_dim, head_dim)  # shared by all heads: the mistake
        self.k = nn.Linear(head_dim, head_dim)
        self.v = nn.Linear(head_dim, head_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heads = split_heads(x, self.num_heads)  # (batch, heads, seq, head_dim)
        q, k, v = self.q(heads), self.k(heads), self.v(heads)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
        return self.out_proj(merge_heads(weights @ v))
# --8<-- [end:shared_head_linear]


# --8<-- [start:wrong_scale]
class EmbedDimScaledAttention(MultiHeadAttention):
    """MISTAKE: divide the scores by ``sqrt(embed_dim)`` instead of ``sqrt(head_dim)``.

    The logits shrink by a factor ``sqrt(num_heads)``, so every head's softmax is flatter
    than intended (closer to uniform averaging) at initialisation.
    """

    def forward(self, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q, k, v = (split_heads(t, self.num_heads) for t in self.project(query, query, query))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.embed_dim)  # should be head_dim
        weights = torch.softmax(scores, dim=-1)
        return self.out_proj(merge_heads(weights @ v)), weights
# --8<-- [end:wrong_scale]


# --8<-- [start:large_negative_mask]
def large_negative_masked_softmax(
    scores: torch.Tensor, mask: torch.Tensor, fill: float = -1e9
) -> torch.Tensor:
    """MISTAKE: fill masked scores with a large negative number instead of excluding them.

    Where a row has at least one allowed key this looks right. Where every key is masked,
    all scores equal ``fill`` and the softmax returns *uniform* weights: the query
    attends to every padding token equally instead of to nothing.
    """
    return torch.softmax(scores.masked_fill(~mask, fill), dim=-1)
# --8<-- [end:large_negative_mask]
