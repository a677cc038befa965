"""Encoder benchmarks: one `EncoderLayer` against ``nn.TransformerEncoderLayer``, and the
training throughput of `TransformerClassifier` against a classifier built on
``nn.TransformerEncoder`` (`benchmarks.reference`)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import cycle

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.attention import forward_backward
from benchmarks.compare import compare
from benchmarks.flops import BACKWARD_FACTOR, encoder_layer_flops
from benchmarks.machine import Yardstick
from benchmarks.profiling import profile_candidates
from benchmarks.reference import TorchEncoderClassifier, book_model_like, parameter_count
from benchmarks.stats import ratio_summary
from benchmarks.timing import TimingPolicy
from book_code.encoder import EncoderLayer


@dataclass(frozen=True)
class LayerSettings:
    """Sizes of the encoder-layer benchmark (PyTorch's defaults: post-LN, ReLU).

    Dropout is 0 so that both layers run PyTorch's fused attention kernel: with dropout on
    the attention weights, the CPU kernel falls back to an explicit computation for both.
    """

    lengths: tuple[int, ...] = (64, 128, 256, 512)
    batch: int = 32
    embed_dim: int = 128
    num_heads: int = 4
    ff_dim: int = 512
    dropout: float = 0.0
    activation: str = "relu"
    norm_first: bool = False


@dataclass(frozen=True)
class TrainingSettings:
    """The classifier and batches of the training-throughput benchmark.

    The model is the small classifier of chapters 6 and 7 (two pre-LN layers of width 128,
    learned positions, mean pooling). Each batch has ``batch`` sequences padded to
    ``seq_len``, with real lengths drawn uniformly from ``[seq_len // 4, seq_len]``, so the
    padding masks are exercised as in real training.
    """

    vocab_size: int = 8192
    num_classes: int = 2
    embed_dim: int = 128
    num_heads: int = 4
    num_layers: int = 2
    ff_dim: int = 512
    max_len: int = 128
    dropout: float = 0.1
    norm_first: bool = True
    activation: str = "gelu"
    batch: int = 64
    seq_len: int = 64
    batches: int = 4
    learning_rate: float = 5e-4


def encoder_layer_case(
    settings: LayerSettings,
    seq_len: int,
    policy: TimingPolicy,
    seed: int,
    profile: bool = False,
    yardstick: Yardstick | None = None,
) -> dict:
    """Forward + backward of `EncoderLayer` and ``nn.TransformerEncoderLayer``, same weights."""
    torch.manual_seed(seed)
    s = settings
    reference = nn.TransformerEncoderLayer(
        s.embed_dim,
        s.num_heads,
        s.ff_dim,
        s.dropout,
        s.activation,
        batch_first=True,
        norm_first=s.norm_first,
    )
    book = EncoderLayer.from_torch(reference)
    x = torch.randn(s.batch, seq_len, s.embed_dim, requires_grad=True)
    with torch.no_grad():
        max_abs_diff = (book(x) - reference(x)).abs().max().item()
    candidates = {
        "book": forward_backward(book, lambda: book(x), [x]),
        "torch": forward_backward(reference, lambda: reference(x), [x]),
    }
    flops = BACKWARD_FACTOR * encoder_layer_flops(s.batch, seq_len, s.embed_dim, s.num_heads, s.ff_dim)
    case = {
        "seq_len": seq_len,
        "max_abs_diff": max_abs_diff,
        "flops": flops,
        **compare(candidates, policy, flops, yardstick),
    }
    if profile:
        case["profile"] = profile_candidates(candidates)
    return case


def make_batches(settings: TrainingSettings, generator: torch.Generator) -> list[tuple[torch.Tensor, ...]]:
    """``settings.batches`` batches of ``(token_ids, padding_mask, labels)``; pad id 0."""
    s = settings
    batches = []
    for _ in range(s.batches):
        lengths = torch.randint(s.seq_len // 4, s.seq_len + 1, (s.batch,), generator=generator)
        mask = torch.arange(s.seq_len) < lengths.unsqueeze(1)
        tokens = torch.randint(1, s.vocab_size, (s.batch, s.seq_len), generator=generator) * mask
        labels = torch.randint(0, s.num_classes, (s.batch,), generator=generator)
        batches.append((tokens, mask, labels))
    return batches


def training_case(
    settings: TrainingSettings,
    policy: TimingPolicy,
    seed: int,
    profile: bool = False,
    yardstick: Yardstick | None = None,
) -> dict:
    """Optimizer steps per second of the book's classifier and the PyTorch-encoder one.

    Both models start from the same weights, see the same batches in the same order and
    are trained by their own AdamW optimizer. One call is one full step: forward, loss,
    backward, update.
    """
    s = settings
    torch.manual_seed(seed)
    config = {
        "vocab_size": s.vocab_size,
        "num_classes": s.num_classes,
        "embed_dim": s.embed_dim,
        "num_heads": s.num_heads,
        "num_layers": s.num_layers,
        "ff_dim": s.ff_dim,
        "max_len": s.max_len,
        "dropout": s.dropout,
        "norm_first": s.norm_first,
        "activation": s.activation,
    }
    reference = TorchEncoderClassifier(**config)
    book = book_model_like(reference, **config)
    batches = make_batches(s, torch.Generator().manual_seed(seed))
    book.eval()
    reference.eval()
    with torch.no_grad():
        tokens, mask, _ = batches[0]
        max_abs_diff = (book(tokens, mask) - reference(tokens, mask)).abs().max().item()
    book.train()
    reference.train()

    def trainer(model: nn.Module):
        optimizer = torch.optim.AdamW(model.parameters(), lr=s.learning_rate)
        stream = cycle(batches)

        def step() -> None:
            tokens, mask, labels = next(stream)
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(tokens, mask), labels).backward()
            optimizer.step()

        return step

    candidates = {"book": trainer(book), "torch": trainer(reference)}
    # Counted like a layer: the encoder's matrix products, three times for the backward.
    flops = (
        BACKWARD_FACTOR
        * s.num_layers
        * encoder_layer_flops(s.batch, s.seq_len, s.embed_dim, s.num_heads, s.ff_dim)
    )
    timing = compare(candidates, policy, flops, yardstick)
    samples, seconds = timing["samples"], timing["seconds"]
    real_tokens = sum(int(mask.sum()) for _, mask, _ in batches) / len(batches)
    case = {
        "parameters": {"book": parameter_count(book), "torch": parameter_count(reference)},
        "max_abs_diff": max_abs_diff,
        "real_tokens_per_step": real_tokens,
        "padded_tokens_per_step": s.batch * s.seq_len,
        "flops": flops,
        **timing,
        "tokens_per_second": {name: real_tokens / seconds[name]["median"] for name in ("book", "torch")},
        # Throughput is the inverse of time: the book's relative throughput is torch / book.
        "throughput_book_over_torch": ratio_summary(samples["torch"], samples["book"]),
    }
    if profile:  # after the timing: the profiled steps train both models a little further
        case["profile"] = profile_candidates(candidates)
    return case
