"""Floating-point operation counts of the benchmarked computations.

A multiply-add counts as two FLOPs. Only matrix products are counted: softmax, layer
norms, biases and activations touch each element a few times, which is negligible in
FLOPs (though not always in time, as the appendix shows). A backward pass computes two
products of the forward's size for every product of the forward (the gradients with
respect to both factors), so a forward-and-backward step costs three forwards.
"""

from __future__ import annotations

BACKWARD_FACTOR = 3
"""FLOPs of forward + backward over FLOPs of the forward alone."""


def attention_core_flops(batch: int, heads: int, seq_len: int, head_dim: int) -> int:
    """``Q K^T`` and ``P V`` of every head: ``2 n^2 d_h`` FLOPs each, ``4 B H n^2 d_h`` in all.

    >>> attention_core_flops(1, 1, 2, 3)  # two (2 x 3)(3 x 2)-sized products: 2 * 2*2*3 * 2
    48
    """
    _check_positive(batch=batch, heads=heads, seq_len=seq_len, head_dim=head_dim)
    return 4 * batch * heads * seq_len**2 * head_dim


def projection_flops(batch: int, seq_len: int, embed_dim: int) -> int:
    """W_Q, W_K, W_V and W_O applied to every token: ``4 * 2 n E^2 = 8 B n E^2``.

    >>> projection_flops(1, 1, 2)
    32
    """
    _check_positive(batch=batch, seq_len=seq_len, embed_dim=embed_dim)
    return 8 * batch * seq_len * embed_dim**2


def mha_flops(batch: int, seq_len: int, embed_dim: int, num_heads: int) -> int:
    """One multi-head self-attention forward: ``4 B H n^2 d_h + 8 B n E^2`` (``H d_h = E``)."""
    if num_heads < 1 or embed_dim % num_heads:
        raise ValueError(f"num_heads must divide embed_dim; got {num_heads} and {embed_dim}")
    head_dim = embed_dim // num_heads
    return attention_core_flops(batch, num_heads, seq_len, head_dim) + projection_flops(
        batch, seq_len, embed_dim
    )


def encoder_layer_flops(batch: int, seq_len: int, embed_dim: int, num_heads: int, ff_dim: int) -> int:
    """One encoder layer forward: attention as `mha_flops` plus the feed-forward ``4 B n E F``."""
    _check_positive(ff_dim=ff_dim)
    return mha_flops(batch, seq_len, embed_dim, num_heads) + 4 * batch * seq_len * embed_dim * ff_dim


def matmul_flops(m: int, k: int, n: int) -> int:
    """An ``(m x k)(k x n)`` matrix product: ``2 m k n``."""
    _check_positive(m=m, k=k, n=n)
    return 2 * m * k * n


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
