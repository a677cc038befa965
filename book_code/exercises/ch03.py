"""Solutions to the coding exercises of Chapter 3 (multi-head attention).

Each solution is printed, collapsed, under its exercise; ``tests/exercises/test_ch03.py``
checks that it really solves the exercise.
"""

from __future__ import annotations

# --8<-- [start:imports]
import torch
from torch import nn

from book_code.attention import MultiHeadAttention, merge_heads, scaled_dot_product_attention, split_heads

# --8<-- [end:imports]


# --8<-- [start:counts]
def multi_head_parameters(embed_dim: int, num_heads: int, bias: bool = True) -> int:
    """Parameters of a multi-head attention layer: ``4 E^2 + 4 E`` with biases.

    ``W^Q, W^K, W^V`` and ``W^O`` are each ``E x E`` however the columns are grouped into
    heads, so ``num_heads`` does not appear in the result.
    """
    _check_heads(embed_dim, num_heads)
    return 4 * embed_dim**2 + (4 * embed_dim if bias else 0)


def multi_head_flops(embed_dim: int, num_heads: int, seq_len: int) -> int:
    """Floating-point operations of one self-attention forward pass over ``seq_len`` tokens.

    Counts the matrix products only (a multiply-add is 2 FLOPs; softmax, biases and
    scaling are lower order): projections ``2 n E (3E) + 2 n E E = 8 n E^2`` and, summed
    over the heads, scores ``2 n^2 E`` and weighted values ``2 n^2 E``.
    """
    _check_heads(embed_dim, num_heads)
    return 8 * seq_len * embed_dim**2 + 4 * seq_len**2 * embed_dim


def _check_heads(embed_dim: int, num_heads: int) -> None:
    if embed_dim < 1 or num_heads < 1 or embed_dim % num_heads != 0:
        raise ValueError(
            f"embed_dim must be a positive multiple of num_heads; got {embed_dim}, {num_heads}"
        )
# --8<-- [end:counts]


# --8<-- [start:per_head]
class PerHeadAttention(nn.Module):
    """Multi-head attention written as the formula reads: one ``nn.Linear(E, d_h)`` for each
    of ``W_i^Q, W_i^K, W_i^V``, a loop over the heads, then ``Concat(...) W^O``."""

    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        _check_heads(embed_dim, num_heads)
        self.num_heads, head_dim = num_heads, embed_dim // num_heads
        self.q = nn.ModuleList(nn.Linear(embed_dim, head_dim) for _ in range(num_heads))
        self.k = nn.ModuleList(nn.Linear(embed_dim, head_dim) for _ in range(num_heads))
        self.v = nn.ModuleList(nn.Linear(embed_dim, head_dim) for _ in range(num_heads))
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        heads = [
            scaled_dot_product_attention(q(x), k(x), v(x), mask)[0]  # (batch, n, head_dim)
            for q, k, v in zip(self.q, self.k, self.v, strict=True)
        ]
        return self.out_proj(torch.cat(heads, dim=-1))


def per_head_from_fused(layer: MultiHeadAttention) -> PerHeadAttention:
    """A `PerHeadAttention` with the weights of ``layer``: head ``i`` owns rows
    ``i*d_h .. (i+1)*d_h - 1`` of each of ``W^Q, W^K, W^V`` in PyTorch's ``(out, in)`` layout."""
    if layer.in_proj.bias is None or layer.rotary is not None:
        raise ValueError("PerHeadAttention has biases and no rotary embedding; layer must match")
    new = PerHeadAttention(layer.embed_dim, layer.num_heads).to(layer.in_proj.weight.dtype)
    weights = layer.in_proj.weight.chunk(3)  # W^Q, W^K, W^V, each (E, E)
    biases = layer.in_proj.bias.chunk(3)
    with torch.no_grad():
        for linears, weight, bias in zip((new.q, new.k, new.v), weights, biases, strict=True):
            blocks = zip(weight.chunk(layer.num_heads), bias.chunk(layer.num_heads), strict=True)
            for linear, (w, b) in zip(linears, blocks, strict=True):
                linear.weight.copy_(w)
                linear.bias.copy_(b)
        new.out_proj.load_state_dict(layer.out_proj.state_dict())
    return new
# --8<-- [end:per_head]


# --8<-- [start:grouped_query]
def key_value_parameters(embed_dim: int, num_heads: int, num_kv_heads: int, bias: bool = True) -> int:
    """Parameters of ``W^K`` and ``W^V`` when ``num_kv_heads`` key/value heads serve all
    query heads: ``2 (E g d_h + g d_h)`` with ``g = num_kv_heads`` and ``d_h = E / H``."""
    _check_heads(embed_dim, num_heads)
    if num_kv_heads < 1 or num_heads % num_kv_heads != 0:
        raise ValueError(f"num_kv_heads must divide num_heads; got {num_kv_heads}, {num_heads}")
    width = num_kv_heads * (embed_dim // num_heads)
    return 2 * (embed_dim * width + (width if bias else 0))


class GroupedQueryAttention(nn.Module):
    """Grouped-query attention: ``num_heads`` query heads share ``num_kv_heads`` key/value
    heads, each serving a group of ``num_heads // num_kv_heads`` consecutive query heads.
    ``num_kv_heads = num_heads`` is multi-head attention; ``num_kv_heads = 1`` is
    multi-query attention."""

    def __init__(self, embed_dim: int, num_heads: int, num_kv_heads: int):
        super().__init__()
        key_value_parameters(embed_dim, num_heads, num_kv_heads)  # validates the sizes
        self.num_heads, self.num_kv_heads = num_heads, num_kv_heads
        kv_width = num_kv_heads * (embed_dim // num_heads)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.kv_proj = nn.Linear(embed_dim, 2 * kv_width)  # W^K then W^V, stacked
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q = split_heads(self.q_proj(x), self.num_heads)  # (batch, H, n, d_h)
        k, v = (split_heads(t, self.num_kv_heads) for t in self.kv_proj(x).chunk(2, dim=-1))
        group = self.num_heads // self.num_kv_heads
        # Query head i reads key/value head i // group: repeat each K/V head `group` times.
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        heads, _ = scaled_dot_product_attention(q, k, v, mask)
        return self.out_proj(merge_heads(heads))
# --8<-- [end:grouped_query]


# --8<-- [start:permute_heads]
def permute_heads(layer: MultiHeadAttention, order: list[int]) -> MultiHeadAttention:
    """A copy of ``layer`` whose head ``j`` is head ``order[j]`` of ``layer``.

    The rows of each head in ``W^Q, W^K, W^V`` move together with the matching columns of
    ``W^O`` (the block of ``Concat(...)`` that head feeds), so the output is unchanged.
    """
    num_heads, head_dim, embed_dim = layer.num_heads, layer.head_dim, layer.embed_dim
    if sorted(order) != list(range(num_heads)):
        raise ValueError(f"order must be a permutation of 0..{num_heads - 1}; got {order}")
    # Feature index of every head_dim slot, in the new head order.
    index = torch.tensor([h * head_dim + j for h in order for j in range(head_dim)])
    in_rows = torch.cat([index + part * embed_dim for part in range(3)])  # Q, K, V blocks
    # A rotary embedding rotates every head alike, so the new layer can share it.
    has_bias = layer.in_proj.bias is not None
    new = MultiHeadAttention(embed_dim, num_heads, layer.dropout, bias=has_bias, rotary=layer.rotary)
    new.to(layer.in_proj.weight.dtype)
    with torch.no_grad():
        new.in_proj.weight.copy_(layer.in_proj.weight[in_rows])
        new.out_proj.weight.copy_(layer.out_proj.weight[:, index])
        if has_bias:
            new.in_proj.bias.copy_(layer.in_proj.bias[in_rows])
            new.out_proj.bias.copy_(layer.out_proj.bias)
    return new
# --8<-- [end:permute_heads]
