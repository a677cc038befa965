"""Input checks shared by the book's modules.

Every public function of `book_code` validates its inputs and raises an error that names what was
expected and what was given. These helpers keep those messages uniform.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def shape_str(shape: Sequence[int | str]) -> str:
    """Format a shape as ``(2, 5, 64)`` for error messages."""
    items = [str(s) for s in shape]
    return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"


def check_int(value: object, name: str, minimum: int | None = None) -> int:
    """Return ``value`` if it is an integer (not a bool) at least ``minimum``; else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int; got {value!r} of type {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {value}")
    return value


def check_tensor(value: object, name: str) -> torch.Tensor:
    """Return ``value`` if it is a tensor, otherwise raise ``TypeError``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    return value


def check_floating(tensor: torch.Tensor, name: str) -> None:
    """Raise ``TypeError`` unless ``tensor`` has a floating-point dtype."""
    if not tensor.is_floating_point():
        raise TypeError(
            f"{name} must have a floating-point dtype (float16, bfloat16, float32 or float64); "
            f"got {tensor.dtype}"
        )


def check_rank(tensor: torch.Tensor, name: str, ranks: Sequence[int], layout: str) -> None:
    """Raise ``ValueError`` unless ``tensor.dim()`` is one of ``ranks``."""
    if tensor.dim() not in ranks:
        raise ValueError(
            f"{name} must have shape {layout} ({' or '.join(map(str, ranks))} dimensions); "
            f"got shape {shape_str(tensor.shape)} ({tensor.dim()} dimensions)"
        )


def check_attention_inputs(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> None:
    """Check the shapes and dtypes of attention inputs ``(*batch, seq_len, features)``."""
    for name, tensor in (("query", query), ("key", key), ("value", value)):
        check_tensor(tensor, name)
        check_floating(tensor, name)
        if tensor.dim() < 2:
            raise ValueError(
                f"{name} must have shape (*batch, seq_len, features) with at least 2 dimensions; "
                f"got shape {shape_str(tensor.shape)}"
            )
    if not (query.dim() == key.dim() == value.dim()):
        raise ValueError(
            "query, key and value must have the same number of dimensions; got "
            f"{shape_str(query.shape)}, {shape_str(key.shape)} and {shape_str(value.shape)}"
        )
    if query.shape[:-2] != key.shape[:-2] or key.shape[:-2] != value.shape[:-2]:
        raise ValueError(
            "query, key and value must share their leading (batch) dimensions; got "
            f"{shape_str(query.shape)}, {shape_str(key.shape)} and {shape_str(value.shape)}"
        )
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"query and key must have the same feature size d_k; got query {shape_str(query.shape)} "
            f"(d_k={query.shape[-1]}) and key {shape_str(key.shape)} (d_k={key.shape[-1]})"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"key and value must have the same length; got key {shape_str(key.shape)} "
            f"(key_len={key.shape[-2]}) and value {shape_str(value.shape)} "
            f"(value_len={value.shape[-2]})"
        )
    if not (query.dtype == key.dtype == value.dtype):
        raise TypeError(
            "query, key and value must have the same dtype; got "
            f"{query.dtype}, {key.dtype} and {value.dtype}"
        )
