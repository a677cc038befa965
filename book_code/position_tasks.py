"""A tiny length-extrapolation experiment for chapter 4.

Task ("lag copy"): read a sequence of random tokens and output, at every position ``t``, the
token at position ``t - lag``. Nothing about the tokens says where they are, so the model has
to use position information; the rule itself is the same at every position, so a model that
learned it *relatively* should keep working on sequences longer than those it trained on.

The model is deliberately minimal: token embedding, an optional position encoding, one causal
`MultiHeadAttention` layer and a linear read-out. `extrapolation_experiment` trains one model
per encoding on short sequences and measures its accuracy at every position of longer ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from book_code.attention import MultiHeadAttention
from book_code.positional import LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding

ENCODINGS = ("none", "sinusoidal", "learned", "rotary")
"""The position encodings the experiment compares; ``"none"`` is the baseline without one."""

IGNORE = -100
"""Target value that ``F.cross_entropy`` skips: positions ``t < lag`` have no answer."""


def lag_copy_batch(
    batch_size: int, seq_len: int, vocab_size: int, lag: int = 1, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random tokens ``(batch_size, seq_len)`` and targets with ``targets[:, t] = tokens[:, t - lag]``.

    The first ``lag`` targets are `IGNORE`.

    >>> tokens, targets = lag_copy_batch(1, 5, 10, lag=2, generator=torch.Generator().manual_seed(0))
    >>> tokens, targets
    (tensor([[4, 9, 3, 0, 3]]), tensor([[-100, -100,    4,    9,    3]]))
    """
    if batch_size < 1 or vocab_size < 2 or not 1 <= lag < seq_len:
        raise ValueError(
            "need batch_size >= 1, vocab_size >= 2 and 1 <= lag < seq_len; got "
            f"batch_size={batch_size}, vocab_size={vocab_size}, lag={lag}, seq_len={seq_len}"
        )
    tokens = torch.randint(vocab_size, (batch_size, seq_len), generator=generator)
    targets = torch.full_like(tokens, IGNORE)
    targets[:, lag:] = tokens[:, :-lag]
    return tokens, targets


class PositionProbe(nn.Module):
    """Token embedding, optional position encoding, one causal attention layer, read-out.

    Args:
        encoding: one of `ENCODINGS`. ``"sinusoidal"`` and ``"learned"`` add a table to the
            token embeddings; ``"rotary"`` rotates queries and keys inside attention.
        vocab_size: number of distinct tokens.
        embed_dim: model width.
        num_heads: attention heads.
        max_len: longest sequence the position encoding covers.
    """

    def __init__(self, encoding: str, vocab_size: int, embed_dim: int = 32, num_heads: int = 1,
                 max_len: int = 64):
        super().__init__()
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}; got {encoding!r}")
        self.encoding = encoding
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.position: nn.Module | None = None
        rotary = None
        if encoding == "sinusoidal":
            self.position = SinusoidalPositionalEncoding(embed_dim, max_len)
        elif encoding == "learned":
            self.position = LearnedPositionalEmbedding(max_len, embed_dim)
        elif encoding == "rotary":
            rotary = RotaryEmbedding(embed_dim // num_heads, max_len)
        self.attention = MultiHeadAttention(embed_dim, num_heads, rotary=rotary)
        self.readout = nn.Linear(embed_dim, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, seq_len, vocab_size)`` for integer ``tokens`` ``(batch, seq_len)``."""
        x = self.embed(tokens)
        if self.position is not None:
            x = self.position(x)
        # Causal, as in a language model: the answer (an earlier token) is always visible.
        out, _ = self.attention(x, is_causal=True)
        return self.readout(out)


def train_probe(
    encoding: str,
    *,
    train_len: int = 16,
    max_len: int = 64,
    vocab_size: int = 16,
    embed_dim: int = 32,
    num_heads: int = 1,
    lag: int = 1,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-2,
    seed: int = 0,
) -> tuple[PositionProbe, float]:
    """Train a `PositionProbe` on lag-copy sequences of length ``train_len``.

    Returns the model (in eval mode) and its mean loss over the last 20 steps.
    """
    torch.manual_seed(seed)  # initial weights
    generator = torch.Generator().manual_seed(seed)  # data
    model = PositionProbe(encoding, vocab_size, embed_dim, num_heads, max_len)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        tokens, targets = lag_copy_batch(batch_size, train_len, vocab_size, lag, generator)
        loss = F.cross_entropy(model(tokens).flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    tail = losses[-20:]
    return model.eval(), sum(tail) / len(tail)


@torch.no_grad()
def position_accuracy(
    model: PositionProbe, seq_len: int, vocab_size: int, *, lag: int = 1, num_sequences: int = 512,
    seed: int = 1234,
) -> torch.Tensor:
    """Accuracy at each position ``(seq_len,)`` on fresh lag-copy sequences; ``nan`` for
    the first ``lag`` positions, which have no answer."""
    generator = torch.Generator().manual_seed(seed)
    tokens, targets = lag_copy_batch(num_sequences, seq_len, vocab_size, lag, generator)
    correct = (model(tokens).argmax(dim=-1) == targets).double().mean(dim=0)
    correct[:lag] = math.nan
    return correct


@dataclass(frozen=True)
class ExtrapolationResult:
    """One trained model's accuracy at every position of sequences longer than its training ones."""

    encoding: str
    seed: int
    train_len: int
    final_loss: float
    """Mean training loss over the last 20 steps (nats per token)."""
    accuracy: tuple[float, ...]
    """Accuracy at positions ``0 .. eval_len - 1`` (``nan`` where there is no target)."""

    def mean_accuracy(self, start: int, stop: int) -> float:
        """Mean accuracy over positions ``start .. stop - 1`` that have a target."""
        values = [a for a in self.accuracy[start:stop] if not math.isnan(a)]
        if not values:
            raise ValueError(f"no positions with a target in [{start}, {stop})")
        return sum(values) / len(values)


def extrapolation_experiment(
    encodings: tuple[str, ...] = ENCODINGS,
    seeds: tuple[int, ...] = (0, 1),
    *,
    train_len: int = 16,
    eval_len: int = 64,
    vocab_size: int = 16,
    lag: int = 1,
    **train_kwargs,
) -> list[ExtrapolationResult]:
    """Train one `PositionProbe` per encoding and seed on length ``train_len``; measure its
    accuracy at every position of length-``eval_len`` sequences.

    ``train_kwargs`` go to `train_probe` (``steps``, ``embed_dim``, ``lr``, ...).
    """
    if eval_len < train_len:
        raise ValueError(f"eval_len must be at least train_len; got {eval_len} < {train_len}")
    results = []
    for encoding in encodings:
        for seed in seeds:
            model, loss = train_probe(
                encoding, train_len=train_len, max_len=eval_len, vocab_size=vocab_size, lag=lag,
                seed=seed, **train_kwargs,
            )
            accuracy = position_accuracy(model, eval_len, vocab_size, lag=lag)
            results.append(ExtrapolationResult(encoding, seed, train_len, loss, tuple(accuracy.tolist())))
    return results
