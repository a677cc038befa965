"""Scaled dot-product attention with a hand-written backward pass (appendix: derivations).

Two :class:`torch.autograd.Function` classes compute ``O = softmax(Q K^T * scale + mask) V`` and
implement the gradients derived in the appendix instead of letting autograd record the forward:

* :class:`ScaledDotProductAttentionFunction` saves ``Q, K, V`` and the weights ``P`` (one
  ``(query_len, key_len)`` matrix per batch element and head) and reads ``P`` back in the backward.
* :class:`RecomputeAttentionFunction` saves ``Q, K, V``, the output ``O`` and one number per query
  row, the log-sum-exp ``L`` of the scores. It runs both passes over blocks of keys and recomputes
  each block of ``P`` from ``L`` in the backward, the way FlashAttention does: what it saves grows
  like ``n d``, not ``n**2``.

:func:`saved_bytes` gives what each one saves, from the shapes; :func:`saved_tensors` and
:func:`storage_bytes` measure it with :func:`torch.autograd.graph.saved_tensors_hooks`.

Shapes: ``query`` ``(*batch, n, d_k)``, ``key`` ``(*batch, m, d_k)``, ``value`` ``(*batch, m, d_v)``;
masks are boolean with ``True`` = may attend, as everywhere in the book.
"""

from __future__ import annotations

# --8<-- [start:imports]
import math
from collections.abc import Callable

import torch
from torch.autograd.function import once_differentiable

from book_code._checks import check_attention_inputs
from book_code.attention.functional import masked_softmax
from book_code.attention.masks import check_mask

# --8<-- [end:imports]


# --8<-- [start:forward]
class ScaledDotProductAttentionFunction(torch.autograd.Function):
    """Attention that saves ``Q, K, V`` and the weights ``P`` for a hand-written backward."""

    @staticmethod
    def forward(ctx, q, k, v, mask, scale):
        scores = (q @ k.transpose(-2, -1)) * scale  # S: (*batch, n, m)
        weights = masked_softmax(scores, mask)  # P: (*batch, n, m), exactly 0 where masked
        # P = 0 at masked positions is all the backward needs to know about the mask.
        ctx.save_for_backward(q, k, v, weights)
        ctx.scale = scale
        return weights @ v  # O: (*batch, n, d_v)
# --8<-- [end:forward]

# --8<-- [start:backward]
    @staticmethod
    @once_differentiable  # the backward itself is not recorded: no second derivatives
    def backward(ctx, grad_out):
        q, k, v, weights = ctx.saved_tensors
        grad_v = weights.transpose(-2, -1) @ grad_out  # dV = P^T dO: (*batch, m, d_v)
        grad_weights = grad_out @ v.transpose(-2, -1)  # dP = dO V^T: (*batch, n, m)
        # Softmax VJP row by row, without the (m, m) Jacobian: dS = P * (dP - rowsum(dP * P)).
        row_dot = (grad_weights * weights).sum(dim=-1, keepdim=True)  # D: (*batch, n, 1)
        grad_scores = weights * (grad_weights - row_dot)  # dS: (*batch, n, m)
        grad_q = (grad_scores @ k) * ctx.scale  # dQ = dS K * scale: (*batch, n, d_k)
        grad_k = (grad_scores.transpose(-2, -1) @ q) * ctx.scale  # dK = dS^T Q * scale
        return grad_q, grad_k, grad_v, None, None  # no gradient for mask and scale
# --8<-- [end:backward]


# --8<-- [start:recompute_forward]
class RecomputeAttentionFunction(torch.autograd.Function):
    """Attention that saves ``Q, K, V, O`` and the row log-sum-exp ``L``, never ``P``.

    Both passes walk over blocks of ``block_size`` keys, so no ``(n, m)`` matrix exists
    at any time; the largest temporary is ``(*batch, n, block_size)``.
    """

    @staticmethod
    def forward(ctx, q, k, v, mask, scale, block_size):
        *batch, n, _ = q.shape
        # Online softmax: a running row maximum, a running sum of exponentials and a
        # running output, all rescaled whenever a new block raises the maximum.
        row_max = q.new_full((*batch, n, 1), -math.inf)
        row_sum = q.new_zeros((*batch, n, 1))
        acc = q.new_zeros((*batch, n, v.shape[-1]))
        for start in range(0, k.shape[-2], block_size):
            block = slice(start, start + block_size)
            scores = (q @ k[..., block, :].transpose(-2, -1)) * scale  # (*batch, n, block)
            if mask is not None:
                scores = scores.masked_fill(~mask[..., block], -math.inf)
            new_max = torch.maximum(row_max, scores.amax(dim=-1, keepdim=True))
            # A row that has seen no allowed key yet has maximum -inf; shift it by 0
            # instead, so that exp(-inf - (-inf)) = NaN never happens.
            shift = new_max.masked_fill(new_max == -math.inf, 0.0)
            unnormalized = torch.exp(scores - shift)
            rescale = torch.exp(row_max - shift)
            row_sum = rescale * row_sum + unnormalized.sum(dim=-1, keepdim=True)
            acc = rescale * acc + unnormalized @ v[..., block, :]
            row_max = new_max
        empty = row_sum == 0  # fully masked rows: output 0, and L = +inf makes exp(S - L) = 0
        out = acc / row_sum.masked_fill(empty, 1.0)
        lse = (row_max + torch.log(row_sum)).masked_fill(empty, math.inf)  # L: (*batch, n, 1)
        ctx.save_for_backward(q, k, v, out, lse, mask)
        ctx.scale, ctx.block_size = scale, block_size
        return out
# --8<-- [end:recompute_forward]

# --8<-- [start:recompute_backward]
    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        q, k, v, out, lse, mask = ctx.saved_tensors
        # D = rowsum(dO * O) = rowsum(dP * P), from O(n d) numbers, before any block of P exists.
        row_dot = (grad_out * out).sum(dim=-1, keepdim=True)  # D: (*batch, n, 1)
        grad_q = torch.zeros_like(q)
        grad_k, grad_v = torch.empty_like(k), torch.empty_like(v)
        for start in range(0, k.shape[-2], ctx.block_size):
            block = slice(start, start + ctx.block_size)
            k_block, v_block = k[..., block, :], v[..., block, :]
            scores = (q @ k_block.transpose(-2, -1)) * ctx.scale
            if mask is not None:
                scores = scores.masked_fill(~mask[..., block], -math.inf)
            weights = torch.exp(scores - lse)  # this block of P, recomputed: (*batch, n, block)
            grad_v[..., block, :] = weights.transpose(-2, -1) @ grad_out
            grad_scores = weights * (grad_out @ v_block.transpose(-2, -1) - row_dot)
            grad_q += (grad_scores @ k_block) * ctx.scale
            grad_k[..., block, :] = (grad_scores.transpose(-2, -1) @ q) * ctx.scale
        return grad_q, grad_k, grad_v, None, None, None
# --8<-- [end:recompute_backward]


# --8<-- [start:wrapper]
def attention_with_manual_backward(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
    recompute: bool = False,
    block_size: int = 64,
) -> torch.Tensor:
    """Return softmax(Q K^T * scale) V with the appendix's hand-written backward.

    Same inputs and output as the first element of
    [`scaled_dot_product_attention`][book_code.attention.functional.scaled_dot_product_attention]
    (no dropout). ``recompute=False`` saves the weights ``P`` for the backward;
    ``recompute=True`` saves only the row log-sum-exp and recomputes ``P`` in blocks of
    ``block_size`` keys. Half-precision inputs are computed in float32.
    """
    check_attention_inputs(query, key, value)
    *batch, query_len, d_k = query.shape
    if mask is not None:
        check_mask(mask, tuple(batch), query_len, key.shape[-2])
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int; got {block_size!r}")
    scale = 1.0 / math.sqrt(d_k) if scale is None else float(scale)
    compute_dtype = torch.promote_types(query.dtype, torch.float32)
    q, k, v = (t.to(compute_dtype) for t in (query, key, value))
    if recompute:
        out = RecomputeAttentionFunction.apply(q, k, v, mask, scale, block_size)
    else:
        out = ScaledDotProductAttentionFunction.apply(q, k, v, mask, scale)
    return out.to(query.dtype)
# --8<-- [end:wrapper]


# --8<-- [start:saved_bytes]
def saved_bytes(
    batch: int, heads: int, n: int, m: int, d: int, dtype_bytes: int, recompute: bool
) -> int:
    """Bytes that the two Functions save for the backward (without a mask), from the shapes.

    ``n`` queries and ``m`` keys of size ``d`` (``d_k = d_v = d``) per batch element and
    head, ``dtype_bytes`` bytes per number. Both save Q, K, V (``n d + 2 m d``); storing
    adds P (``n m``), recomputing adds O and L (``n d + n``). A boolean mask adds its own
    size, one byte per element, to the recompute variant only.

    >>> saved_bytes(1, 1, n=4, m=4, d=2, dtype_bytes=8, recompute=False)  # (8 + 16 + 16) * 8
    320
    >>> saved_bytes(1, 1, n=4, m=4, d=2, dtype_bytes=8, recompute=True)  # (8 + 16 + 12) * 8
    288
    """
    for name, value in (("batch", batch), ("heads", heads), ("n", n), ("m", m), ("d", d),
                        ("dtype_bytes", dtype_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")
    inputs = n * d + 2 * m * d  # Q, K, V
    extra = n * d + n if recompute else n * m  # O and L, or P
    return batch * heads * (inputs + extra) * dtype_bytes
# --8<-- [end:saved_bytes]


# --8<-- [start:measure]
def saved_tensors(fn: Callable[..., object], *args, **kwargs) -> list[torch.Tensor]:
    """The tensors autograd saves for the backward of ``fn(*args, **kwargs)``, in order.

    A pack hook sees every tensor that an operation (or a custom Function's
    ``save_for_backward``) keeps for its backward.
    """
    saved: list[torch.Tensor] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn(*args, **kwargs)
    return saved


def storage_bytes(tensors: list[torch.Tensor]) -> int:
    """Bytes of the distinct memory blocks behind ``tensors``.

    A tensor saved by two operations, or a view such as ``k.transpose(-2, -1)``, shares
    its storage with another and is counted once.
    """
    sizes = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(sizes.values())
# --8<-- [end:measure]
