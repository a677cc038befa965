"""Solutions to the coding exercises of Chapter 2 (scaled dot-product attention in code).

Each solution is printed, collapsed, under its exercise; ``tests/exercises/test_ch02.py``
checks that it really solves the exercise.
"""

from __future__ import annotations

# --8<-- [start:imports]
import torch

from book_code.attention.functional import scaled_dot_product_attention

# --8<-- [end:imports]


# --8<-- [start:sliding_window_mask]
def sliding_window_mask(n: int, w: int, device=None) -> torch.Tensor:
    """Mask of shape ``(n, n)`` in which query ``i`` may attend key ``j`` iff ``|i - j| <= w``.

    Each query sees at most ``2 * w + 1`` keys: itself and ``w`` neighbours on each side.
    ``w = 0`` lets each position see only itself; ``w >= n - 1`` allows everything.
    Combine it with a causal mask (logical AND) for a window that only looks back.

    >>> sliding_window_mask(4, 1).int()
    tensor([[1, 1, 0, 0],
            [1, 1, 1, 0],
            [0, 1, 1, 1],
            [0, 0, 1, 1]], dtype=torch.int32)
    """
    for name, value, least in (("n", n, 1), ("w", w, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}; got {value!r}")
    positions = torch.arange(n, device=device)
    distance = positions[:, None] - positions[None, :]  # (n, n): i - j
    return distance.abs() <= w
# --8<-- [end:sliding_window_mask]


# --8<-- [start:output_input_influence]
def output_input_influence(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """How much output ``i`` of self-attention depends on input ``j``, as an ``(n, n)`` matrix.

    Self-attention here uses the inputs as queries, keys and values, ``x`` of shape
    ``(n, d)``. Entry ``(i, j)`` is the Frobenius norm of the Jacobian block
    ``d output_i / d x_j``; it is exactly zero when output ``i`` ignores input ``j``.
    """
    if x.dim() != 2 or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor of shape (n, d); got {tuple(x.shape)}")

    def attend(inputs: torch.Tensor) -> torch.Tensor:
        return scaled_dot_product_attention(inputs, inputs, inputs, mask=mask)[0]

    jacobian = torch.autograd.functional.jacobian(attend, x)  # (n, d, n, d)
    return jacobian.pow(2).sum(dim=(1, 3)).sqrt()
# --8<-- [end:output_input_influence]
