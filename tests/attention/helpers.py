"""Small helpers shared by the attention tests."""

from __future__ import annotations

import torch

TOL = 1e-10
"""Largest absolute difference allowed between two float64 computations of the same thing."""


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute elementwise difference, after checking that the shapes agree."""
    assert a.shape == b.shape, f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}"
    if a.numel() == 0:
        return 0.0
    return (a.double() - b.double()).abs().max().item()


def assert_close64(a: torch.Tensor, b: torch.Tensor, tol: float = TOL) -> None:
    """Assert that two tensors agree to ``tol`` in max absolute difference."""
    diff = max_abs_diff(a, b)
    assert diff < tol, f"max abs difference {diff:.3e} >= {tol:.0e}"


def randn(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float64, scale: float = 1.0):
    """Deterministic normal samples that do not touch the global RNG."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=dtype) * scale
