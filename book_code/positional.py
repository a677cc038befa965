"""Position information for attention (chapter 4): sinusoidal, learned and rotary encodings.

Self-attention without positions is permutation equivariant: shuffle the tokens and the
outputs shuffle the same way. The encodings here break that symmetry in the three ways the
chapter compares:

* `sinusoidal_encoding` / `SinusoidalPositionalEncoding`: a fixed table added to the token
  embeddings (Vaswani et al., 2017), interleaved ``sin, cos, sin, cos, ...`` per frequency.
* `LearnedPositionalEmbedding`: a trained table added to the token embeddings.
* `apply_rotary` / `RotaryEmbedding`: rotary position embedding, RoPE (Su et al., 2021),
  which rotates queries and keys inside attention. Dimensions are paired as in the paper,
  ``(x[2i], x[2i+1])``; `apply_rotary_half` implements the "rotate-half" pairing
  ``(x[i], x[i + d/2])`` used by GPT-NeoX and LLaMA code, which is the same map up to the
  fixed permutation `rotate_half_permutation`.

Modules take ``(batch, seq_len, embed_dim)`` tensors (``batch_first``), like
`book_code.attention.MultiHeadAttention`; the rotary functions take ``(..., seq_len, head_dim)``.
"""

from __future__ import annotations

# --8<-- [start:imports]
import torch
from torch import nn

from book_code._checks import check_floating, check_rank, check_tensor, shape_str

# --8<-- [end:imports]


# --8<-- [start:frequencies]
def frequencies(dim: int, base: float = 10000.0) -> torch.Tensor:
    """The angular frequencies ``theta_i = base^(-2i/dim)``, ``i = 0 .. dim/2 - 1`` (float64).

    Pair ``i`` of the sinusoidal table and of RoPE turns by ``theta_i`` radians per position:
    from one turn per ``2 pi`` positions (``i = 0``) down to almost ``1/base`` radians.
    """
    if not isinstance(dim, int) or dim < 2 or dim % 2 != 0:
        raise ValueError(
            f"the dimension must be a positive even integer (features come in sin/cos or "
            f"rotation pairs); got {dim!r}"
        )
    if not base > 0:
        raise ValueError(f"base must be positive; got {base!r}")
    exponents = torch.arange(0, dim, 2, dtype=torch.float64) / dim  # 2i / dim
    return base**-exponents
# --8<-- [end:frequencies]


# --8<-- [start:sinusoidal_encoding]
def sinusoidal_encoding(
    num_positions: int, embed_dim: int, base: float = 10000.0, *, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """The sinusoidal table of Vaswani et al. (2017), shape ``(num_positions, embed_dim)``.

    ``PE[p, 2i] = sin(p theta_i)`` and ``PE[p, 2i+1] = cos(p theta_i)`` with
    ``theta_i = base^(-2i/embed_dim)``. Computed in float64, returned in ``dtype``
    (default: ``torch.get_default_dtype()``).

    >>> pe = sinusoidal_encoding(50, 8)
    >>> pe.shape
    torch.Size([50, 8])
    >>> pe[0]  # position 0: sin 0 = 0, cos 0 = 1 in every pair
    tensor([0., 1., 0., 1., 0., 1., 0., 1.])
    """
    if not isinstance(num_positions, int) or num_positions < 0:
        raise ValueError(f"num_positions must be a non-negative integer; got {num_positions!r}")
    if not isinstance(embed_dim, int) or embed_dim < 2 or embed_dim % 2 != 0:
        raise ValueError(
            "embed_dim must be a positive even integer: the table interleaves one sine and "
            f"one cosine per frequency; got embed_dim={embed_dim!r}"
        )
    positions = torch.arange(num_positions, dtype=torch.float64)
    angles = torch.outer(positions, frequencies(embed_dim, base))  # (num_positions, embed_dim/2)
    table = torch.empty(num_positions, embed_dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table.to(dtype or torch.get_default_dtype())
# --8<-- [end:sinusoidal_encoding]


# --8<-- [start:shift_matrix]
def sinusoidal_shift_matrix(
    offset: int, embed_dim: int, base: float = 10000.0, *, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """The matrix ``M_k`` with ``PE[p + k] = PE[p] @ M_k.T`` for every position ``p``.

    Block-diagonal: the block of frequency pair ``i`` is
    ``[[cos k theta_i, sin k theta_i], [-sin k theta_i, cos k theta_i]]``, a rotation by
    ``-k theta_i``, from the angle-addition formulas. It depends on the offset ``k`` only.
    """
    if not isinstance(offset, int):
        raise TypeError(f"offset must be an int; got {type(offset).__name__}")
    if not isinstance(embed_dim, int) or embed_dim < 2 or embed_dim % 2 != 0:
        raise ValueError(f"embed_dim must be a positive even integer; got embed_dim={embed_dim!r}")
    angles = offset * frequencies(embed_dim, base)
    cos, sin = torch.cos(angles), torch.sin(angles)
    matrix = torch.zeros(embed_dim, embed_dim, dtype=torch.float64)
    matrix[0::2, 0::2] = torch.diag(cos)  # new sin = sin cos(k theta) + cos sin(k theta)
    matrix[0::2, 1::2] = torch.diag(sin)
    matrix[1::2, 0::2] = torch.diag(-sin)  # new cos = cos cos(k theta) - sin sin(k theta)
    matrix[1::2, 1::2] = torch.diag(cos)
    return matrix.to(dtype or torch.get_default_dtype())
# --8<-- [end:shift_matrix]


# --8<-- [start:check_sequence]
def _check_sequence(x: torch.Tensor, embed_dim: int, max_len: int, owner: str) -> None:
    """Raise a clear error unless ``x`` is a float ``(batch, seq_len, embed_dim)`` that fits."""
    check_tensor(x, "x")
    check_floating(x, "x")
    check_rank(x, "x", (3,), "(batch, seq_len, embed_dim)")
    if x.shape[-1] != embed_dim:
        raise ValueError(
            f"x must have embed_dim={embed_dim} features in its last dimension for this "
            f"{owner}; got shape {shape_str(x.shape)}"
        )
    if x.shape[1] > max_len:
        raise ValueError(
            f"sequence length {x.shape[1]} exceeds max_len={max_len} of this {owner}; "
            f"build it with max_len >= {x.shape[1]}"
        )
# --8<-- [end:check_sequence]


# --8<-- [start:sinusoidal_module]
class SinusoidalPositionalEncoding(nn.Module):
    """Add the sinusoidal table to ``(batch, seq_len, embed_dim)`` inputs: ``x + PE[:seq_len]``.

    The table is a buffer, not a parameter: it moves with ``.to(device)`` but nothing trains
    it. It is computed in float64 and stored in ``dtype``; pass ``dtype=torch.float64`` for
    float64 accuracy (a later ``.double()`` keeps the float32 values).

    Args:
        embed_dim: model width; must be even.
        max_len: longest sequence the table covers.
        base: the ``10000`` of the frequencies ``base^(-2i/embed_dim)``.
        device: where to build the table.
        dtype: dtype of the table (default: ``torch.get_default_dtype()``).
    """

    def __init__(
        self,
        embed_dim: int,
        max_len: int = 2048,
        base: float = 10000.0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.embed_dim, self.max_len, self.base = embed_dim, max_len, base
        table = sinusoidal_encoding(max_len, embed_dim, base, dtype=dtype)
        # persistent=False: the table is a function of the arguments, so checkpoints skip it.
        self.register_buffer("pe", table.to(device), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_sequence(x, self.embed_dim, self.max_len, type(self).__name__)
        return x + self.pe[: x.shape[1]].to(x.dtype)  # broadcasts over the batch

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, max_len={self.max_len}, base={self.base}"
# --8<-- [end:sinusoidal_module]


# --8<-- [start:learned_module]
class LearnedPositionalEmbedding(nn.Module):
    """Add a trained vector per position to ``(batch, seq_len, embed_dim)`` inputs.

    One ``nn.Embedding(max_len, embed_dim)`` row per position, as in BERT and GPT-2.
    Positions at or beyond ``max_len`` have no row: the table cannot extrapolate.

    Args:
        max_len: number of positions, hence the longest sequence.
        embed_dim: model width.
    """

    def __init__(self, max_len: int, embed_dim: int):
        super().__init__()
        if not isinstance(max_len, int) or max_len < 1:
            raise ValueError(f"max_len must be a positive integer; got {max_len!r}")
        self.max_len, self.embed_dim = max_len, embed_dim
        self.embedding = nn.Embedding(max_len, embed_dim)
        # Small, as BERT and GPT-2 do: nn.Embedding's default N(0, 1) rows would swamp
        # token embeddings of a similar scale at the start of training.
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_sequence(x, self.embed_dim, self.max_len, type(self).__name__)
        return x + self.embedding.weight[: x.shape[1]].to(x.dtype)
# --8<-- [end:learned_module]


# --8<-- [start:apply_rotary]
def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair ``(x[..., 2i], x[..., 2i+1])`` by the angle whose cosine and sine are
    ``cos[..., i]`` and ``sin[..., i]``: in complex numbers, ``(x_2i + j x_2i+1) e^{j angle}``."""
    even, odd = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2)  # back to (..., head_dim), pairs interleaved again


def apply_rotary(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """RoPE (Su et al., 2021): rotate pair ``i`` of the token at position ``m`` by ``m theta_i``.

    Args:
        x: ``(..., seq_len, head_dim)`` queries or keys, ``head_dim`` even.
        positions: integer positions, shape ``(seq_len,)`` or broadcastable to
            ``x.shape[:-1]``; any integers, negative ones included.
        base: the ``10000`` of ``theta_i = base^(-2i/head_dim)``.

    >>> q = torch.tensor([[1.0, 0.0]])
    >>> apply_rotary(q, torch.tensor([1]))  # theta_0 = 1: turn by one radian
    tensor([[0.5403, 0.8415]])
    """
    cos, sin = rotary_cos_sin(x, positions, base)
    return rotate_pairs(x, cos, sin)


def rotary_cos_sin(
    x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the arguments of `apply_rotary`; return ``cos`` and ``sin`` of the angles
    ``positions * theta_i``, shape ``(..., seq_len, head_dim/2)``, in ``x``'s dtype."""
    check_tensor(x, "x")
    check_floating(x, "x")
    check_tensor(positions, "positions")
    if x.dim() < 2:
        raise ValueError(f"x must have shape (..., seq_len, head_dim); got shape {shape_str(x.shape)}")
    if positions.is_floating_point() or positions.is_complex() or positions.dtype == torch.bool:
        raise TypeError(f"positions must be an integer tensor; got {positions.dtype}")
    try:
        torch.broadcast_shapes(positions.shape, x.shape[:-1])
    except RuntimeError:
        raise ValueError(
            f"positions of shape {shape_str(positions.shape)} do not broadcast to "
            f"x.shape[:-1] = {shape_str(x.shape[:-1])}"
        ) from None
    if x.shape[-1] % 2 != 0:
        raise ValueError(
            "the last dimension of x (head_dim) must be even: RoPE rotates pairs of dimensions; "
            f"got shape {shape_str(x.shape)}"
        )
    theta = frequencies(x.shape[-1], base).to(x.device)
    # Angles in float64: m theta_i for large m loses digits in float32.
    angles = positions.to(device=x.device, dtype=torch.float64)[..., None] * theta
    return torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
# --8<-- [end:apply_rotary]


# --8<-- [start:rotary_module]
class RotaryEmbedding(nn.Module):
    """Rotary position embedding for attention heads; ``forward(q, k)`` returns them rotated.

    Query and key at position ``m`` (``0 .. seq_len - 1``) get pair ``i`` rotated by
    ``m theta_i``, so their dot product depends on the offset ``m - n`` only. Pass it to
    `book_code.attention.MultiHeadAttention` as ``rotary=RotaryEmbedding(head_dim)``.
    The cosines and sines of all ``max_len`` positions are cached as buffers, computed in
    float64 and stored in ``dtype``.

    Args:
        head_dim: width of a query/key head; must be even.
        max_len: longest sequence supported.
        base: the ``10000`` of ``theta_i = base^(-2i/head_dim)``.
        device: where to build the cache.
        dtype: dtype of the cache (default: ``torch.get_default_dtype()``).
    """

    def __init__(
        self,
        head_dim: int,
        max_len: int = 2048,
        base: float = 10000.0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        if not isinstance(max_len, int) or max_len < 1:
            raise ValueError(f"max_len must be a positive integer; got {max_len!r}")
        if not isinstance(head_dim, int) or head_dim < 2 or head_dim % 2 != 0:
            raise ValueError(
                f"head_dim must be a positive even integer: RoPE rotates pairs of dimensions; "
                f"got head_dim={head_dim!r}"
            )
        self.head_dim, self.max_len, self.base = head_dim, max_len, base
        theta = frequencies(head_dim, base)
        angles = torch.outer(torch.arange(max_len, dtype=torch.float64), theta)
        dtype = dtype or torch.get_default_dtype()
        self.register_buffer("cos", torch.cos(angles).to(device, dtype), persistent=False)
        self.register_buffer("sin", torch.sin(angles).to(device, dtype), persistent=False)

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate ``q`` ``(..., query_len, head_dim)`` and ``k`` ``(..., key_len, head_dim)``,
        each at positions ``0, 1, 2, ...``."""
        for name, t in (("q", q), ("k", k)):
            self._check(t, name)
        return tuple(
            rotate_pairs(t, self.cos[: t.shape[-2]].to(t.dtype), self.sin[: t.shape[-2]].to(t.dtype))
            for t in (q, k)
        )

    def _check(self, t: torch.Tensor, name: str) -> None:
        check_tensor(t, name)
        check_floating(t, name)
        if t.dim() < 2 or t.shape[-1] != self.head_dim:
            raise ValueError(
                f"{name} must have shape (batch, heads, seq_len, head_dim) with head_dim="
                f"{self.head_dim}; got shape {shape_str(t.shape)}"
            )
        if t.shape[-2] > self.max_len:
            raise ValueError(
                f"{name} has sequence length {t.shape[-2]}, which exceeds max_len={self.max_len} "
                f"of this RotaryEmbedding; build it with max_len >= {t.shape[-2]}"
            )

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, max_len={self.max_len}, base={self.base}"
# --8<-- [end:rotary_module]


# --8<-- [start:rotate_half]
def rotate_half_permutation(head_dim: int) -> torch.Tensor:
    """Indices ``perm`` with ``x[..., perm]`` = the rotate-half layout of interleaved ``x``:
    even dimensions first, then odd ones, so pair ``(2i, 2i+1)`` lands at ``(i, i + d/2)``."""
    frequencies(head_dim)  # validates head_dim
    return torch.cat((torch.arange(0, head_dim, 2), torch.arange(1, head_dim, 2)))


def apply_rotary_half(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """RoPE with the "rotate-half" pairing of GPT-NeoX and LLaMA code: dimension ``i`` turns
    together with ``i + d/2``. The same map as `apply_rotary` up to a fixed reordering:
    ``apply_rotary_half(x[..., perm], p) == apply_rotary(x, p)[..., perm]`` with
    ``perm = rotate_half_permutation(head_dim)``."""
    cos, sin = rotary_cos_sin(x, positions, base)
    first, second = x.chunk(2, dim=-1)  # dimensions 0 .. d/2-1 and d/2 .. d-1
    return torch.cat((first * cos - second * sin, first * sin + second * cos), dim=-1)
# --8<-- [end:rotate_half]
