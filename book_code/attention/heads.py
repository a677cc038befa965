"""Measurements of multi-head attention for Chapter 3.

Three things a reader of Chapter 3 wants to see rather than take on trust: what the heads of
a freshly initialised layer attend to, how the divisor of the scores changes how sharp each
head's softmax is as the number of heads grows, and how closely
[`MultiHeadAttention`][book_code.attention.MultiHeadAttention] agrees with
``torch.nn.MultiheadAttention``. Every function returns data; the chapter's notebook prints
and plots it.
"""

from __future__ import annotations

# --8<-- [start:imports]
import math
from dataclasses import dataclass

import torch
from torch import nn

from book_code.attention.functional import scaled_dot_product_attention
from book_code.attention.masks import causal_mask, padding_mask
from book_code.attention.multihead import MultiHeadAttention, split_heads

# --8<-- [end:imports]


# --8<-- [start:attention_entropy]
def attention_entropy(weights: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of every row of attention weights; shape ``weights.shape[:-1]``.

    A row that puts all its weight on one key has entropy 0; a uniform row over ``n`` keys
    has entropy ``log(n)``. Zero weights contribute nothing (``0 log 0 = 0``), so an
    all-zero row (a query that may attend to no key) also has entropy 0.

    >>> attention_entropy(torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    tensor([0.0000, 0.6931])
    """
    if not isinstance(weights, torch.Tensor) or not weights.is_floating_point():
        raise TypeError("weights must be a floating-point torch.Tensor")
    return 0.0 - torch.xlogy(weights, weights).sum(dim=-1)  # 0 - x, not -x: no -0.0
# --8<-- [end:attention_entropy]


# --8<-- [start:head_weights]
def head_weights(
    layer: MultiHeadAttention,
    x: torch.Tensor,
    divisor: float | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-head self-attention weights ``(batch, heads, n, n)`` of ``layer`` on ``x``.

    The scores are divided by ``divisor``; the default ``sqrt(head_dim)`` is what the layer
    itself uses, so ``head_weights(layer, x)`` equals ``layer(x, need_weights=True)[1]``.
    Other values show what a different scale would have done with the same weights.
    """
    divisor = math.sqrt(layer.head_dim) if divisor is None else divisor
    if divisor <= 0:
        raise ValueError(f"divisor must be positive; got {divisor}")
    q, k, v = (split_heads(t, layer.num_heads) for t in layer.project(x, x, x))
    _, weights = scaled_dot_product_attention(q, k, v, mask, scale=1.0 / divisor)
    return weights
# --8<-- [end:head_weights]


# --8<-- [start:token_heads]
def token_head_weights(
    tokens: list[str], embed_dim: int = 32, num_heads: int = 4, seed: int = 0
) -> torch.Tensor:
    """Per-head weights ``(num_heads, n, n)`` of a randomly initialised layer on ``tokens``.

    Each distinct token gets a random embedding (no positions), so repeated tokens have
    identical rows and columns: attention alone cannot tell them apart (Chapter 4).

    >>> token_head_weights(["a", "b", "a"], embed_dim=8, num_heads=2).shape
    torch.Size([2, 3, 3])
    """
    if not tokens:
        raise ValueError("tokens must not be empty")
    generator = torch.Generator().manual_seed(seed)
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    table = torch.randn(len(vocab), embed_dim, generator=generator)
    x = table[torch.tensor([vocab[t] for t in tokens])].unsqueeze(0)
    torch.manual_seed(seed)
    layer = MultiHeadAttention(embed_dim, num_heads).eval()
    with torch.no_grad():
        _, weights = layer(x, need_weights=True)
    return weights[0]
# --8<-- [end:token_heads]


# --8<-- [start:scale_sweep]
@dataclass(frozen=True)
class ScaleResult:
    """Statistics of the softmax of one layer's heads under one choice of divisor.

    ``score_std`` is the standard deviation of the scaled scores; ``entropy`` is the mean
    row entropy divided by ``log(seq_len)`` (1 = uniform averaging); ``max_weight`` is the
    mean over rows of the largest weight.
    """

    num_heads: int
    head_dim: int
    divisor: str
    score_std: float
    entropy: float
    max_weight: float


def scale_sweep(
    embed_dim: int = 256,
    heads: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64),
    seq_len: int = 32,
    batch: int = 16,
    seed: int = 0,
) -> list[ScaleResult]:
    """Divide by ``sqrt(head_dim)`` (correct) or ``sqrt(embed_dim)`` (a common mistake).

    For each number of heads, one freshly initialised layer attends over standard-normal
    inputs (the statistics a LayerNorm output has), and both divisors are applied to the
    same scores.
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, seq_len, embed_dim, generator=generator, dtype=torch.float64)
    results = []
    for num_heads in heads:
        torch.manual_seed(seed)
        layer = MultiHeadAttention(embed_dim, num_heads).double()
        q, k, _ = (split_heads(t, num_heads) for t in layer.project(x, x, x))
        raw = (q @ k.transpose(-2, -1)).detach()
        for name, divisor in (("sqrt(head_dim)", layer.head_dim), ("sqrt(embed_dim)", embed_dim)):
            scores = raw / math.sqrt(divisor)
            weights = torch.softmax(scores, dim=-1)
            results.append(ScaleResult(
                num_heads=num_heads,
                head_dim=layer.head_dim,
                divisor=name,
                score_std=scores.std().item(),
                entropy=(attention_entropy(weights).mean() / math.log(seq_len)).item(),
                max_weight=weights.amax(dim=-1).mean().item(),
            ))
    return results
# --8<-- [end:scale_sweep]


# --8<-- [start:compare_with_torch]
@dataclass(frozen=True)
class TorchComparison:
    """Largest absolute differences from ``torch.nn.MultiheadAttention`` in one setting.

    ``explicit`` and ``fused`` compare the outputs of the explicit path
    (``need_weights=True``) and the fused-kernel path; ``weights`` compares the per-head
    attention weights.
    """

    setting: str
    explicit: float
    fused: float
    weights: float


def compare_with_torch(
    embed_dim: int = 32, num_heads: int = 4, batch: int = 3, seq_len: int = 7, seed: int = 0
) -> list[TorchComparison]:
    """Run both layers, with the same float64 weights, under several masks.

    PyTorch's masks mark with ``True`` what to *ignore*, so they get ``~mask``. Every
    sequence keeps at least one real token, so no query is left with no key (PyTorch
    returns NaN there, this book returns zeros).
    """
    torch.manual_seed(seed)
    reference = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True, dtype=torch.float64)
    reference.eval()
    ours = MultiHeadAttention.from_torch(reference).eval()
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, seq_len, embed_dim, generator=generator, dtype=torch.float64)
    memory = torch.randn(batch, seq_len + 2, embed_dim, generator=generator, dtype=torch.float64)
    lengths = torch.arange(seq_len, 0, -max(1, seq_len // batch))[:batch]
    pad = padding_mask(lengths, seq_len)
    memory_pad = padding_mask(lengths + 2, seq_len + 2)
    causal = causal_mask(seq_len)
    settings = {  # name: (key/value input, key padding, attention mask); True = may attend
        "self, no mask": (x, None, None),
        "self, key padding": (x, pad, None),
        "self, causal": (x, None, causal),
        "self, padding + causal": (x, pad, causal),
        "cross, no mask": (memory, None, None),
        "cross, key padding": (memory, memory_pad, None),
    }
    rows = []
    with torch.no_grad():
        for name, (source, key_pad, attn) in settings.items():
            want, want_weights = reference(
                x, source, source,
                key_padding_mask=None if key_pad is None else ~key_pad,
                attn_mask=None if attn is None else ~attn,
                need_weights=True, average_attn_weights=False,
            )
            got, got_weights = ours(
                x, source, key_padding_mask=key_pad, attn_mask=attn, need_weights=True
            )
            fused, _ = ours(x, source, key_padding_mask=key_pad, attn_mask=attn)
            rows.append(TorchComparison(
                setting=name,
                explicit=(got - want).abs().max().item(),
                fused=(fused - want).abs().max().item(),
                weights=(got_weights - want_weights).abs().max().item(),
            ))
    return rows
# --8<-- [end:compare_with_torch]
