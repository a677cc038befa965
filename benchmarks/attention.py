"""Attention benchmarks: the book's multi-head layer and scaled dot-product attention
against PyTorch's own.

Every case builds both implementations with the same weights and inputs, checks that they
compute the same output, and then times them interleaved (see `benchmarks.timing`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.compare import compare
from benchmarks.flops import BACKWARD_FACTOR, attention_core_flops, mha_flops
from benchmarks.machine import Yardstick
from benchmarks.profiling import profile_candidates
from benchmarks.timing import TimingPolicy
from book_code.attention import MultiHeadAttention, scaled_dot_product_attention
from book_code.attention.cost import attention_weights_bytes, peak_allocated_bytes


@dataclass(frozen=True)
class MHASettings:
    """Sizes of the multi-head attention benchmark (self-attention, float32, CPU)."""

    lengths: tuple[int, ...] = (64, 128, 256, 512, 1024)
    batch: int = 32
    embed_dim: int = 128
    num_heads: int = 4


@dataclass(frozen=True)
class SDPASettings:
    """Sizes of the explicit-versus-fused attention benchmark: ``(batch, heads, n, head_dim)``."""

    lengths: tuple[int, ...] = (256, 512, 1024, 2048, 4096)
    batch: int = 1
    heads: int = 4
    head_dim: int = 32


def forward_backward(module: nn.Module, call: Callable[[], torch.Tensor], inputs: list[torch.Tensor]):
    """A function that runs ``call()`` (the forward) and backpropagates ``output.sum()``.

    Gradients are reset to ``None`` first, as ``optimizer.zero_grad()`` does, so every call
    allocates its gradients afresh, identically for every implementation.
    """

    def step() -> None:
        module.zero_grad(set_to_none=True)
        for tensor in inputs:
            tensor.grad = None
        call().sum().backward()

    return step


def mha_case(
    settings: MHASettings,
    seq_len: int,
    need_weights: bool,
    policy: TimingPolicy,
    seed: int,
    profile: bool = False,
    yardstick: Yardstick | None = None,
) -> dict:
    """Forward + backward of the book's `MultiHeadAttention` and ``nn.MultiheadAttention``.

    ``need_weights=False`` is the fast path of both (PyTorch's fused kernel);
    ``need_weights=True`` makes both return per-head weights, which they must then
    materialise (PyTorch with ``average_attn_weights=False``, to return the same tensor).
    """
    torch.manual_seed(seed)
    E, H, B = settings.embed_dim, settings.num_heads, settings.batch
    reference = nn.MultiheadAttention(E, H, batch_first=True)  # dropout 0: the same arithmetic
    book = MultiHeadAttention.from_torch(reference)
    x = torch.randn(B, seq_len, E, requires_grad=True)

    def run_book() -> torch.Tensor:
        return book(x, need_weights=need_weights)[0]

    def run_torch() -> torch.Tensor:
        return reference(x, x, x, need_weights=need_weights, average_attn_weights=False)[0]

    with torch.no_grad():
        max_abs_diff = (run_book() - run_torch()).abs().max().item()
    candidates = {
        "book": forward_backward(book, run_book, [x]),
        "torch": forward_backward(reference, run_torch, [x]),
    }
    flops = BACKWARD_FACTOR * mha_flops(B, seq_len, E, H)
    case = {
        "seq_len": seq_len,
        "need_weights": need_weights,
        "max_abs_diff": max_abs_diff,
        "flops": flops,
        **compare(candidates, policy, flops, yardstick),
    }
    if profile:
        case["profile"] = profile_candidates(candidates)
    return case


def sdpa_case(
    settings: SDPASettings,
    seq_len: int,
    policy: TimingPolicy,
    seed: int,
    yardstick: Yardstick | None = None,
) -> dict:
    """The book's explicit attention against ``F.scaled_dot_product_attention``.

    Timed forward alone (inference, no autograd graph) and forward + backward; peak memory
    measured for both modes with the profiler's allocation records (one untimed call each).
    """
    generator = torch.Generator().manual_seed(seed)
    shape = (settings.batch, settings.heads, seq_len, settings.head_dim)
    q, k, v = (torch.randn(shape, generator=generator, requires_grad=True) for _ in range(3))

    def explicit() -> torch.Tensor:
        return scaled_dot_product_attention(q, k, v)[0]

    def fused() -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v)

    with torch.no_grad():
        max_abs_diff = (explicit() - fused()).abs().max().item()
    inference = {"explicit": _no_grad(explicit), "fused": _no_grad(fused)}
    training = {
        "explicit": forward_backward(nn.Module(), explicit, [q, k, v]),
        "fused": forward_backward(nn.Module(), fused, [q, k, v]),
    }
    forward_flops = attention_core_flops(settings.batch, settings.heads, seq_len, settings.head_dim)
    modes = {}
    for mode, candidates, flops in (
        ("forward", inference, forward_flops),
        ("forward_backward", training, BACKWARD_FACTOR * forward_flops),
    ):
        timing = compare(candidates, policy, flops, yardstick)
        # Measured after the timing, so that the profiler's own start-up is not timed.
        # Gradients left by the timing are freed first: the peak is the call's own memory.
        peak = {}
        for name, fn in candidates.items():
            for tensor in (q, k, v):
                tensor.grad = None
            peak[name] = peak_allocated_bytes(fn)
        modes[mode] = {
            "flops": flops,
            "peak_bytes": peak,
            **timing,
        }
    return {
        "seq_len": seq_len,
        "max_abs_diff": max_abs_diff,
        "weights_bytes": attention_weights_bytes(settings.batch, settings.heads, seq_len),
        **modes,
    }


def _no_grad(fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
    def call() -> None:
        with torch.no_grad():
            fn()

    return call
