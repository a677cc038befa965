"""Boolean attention masks: the one convention the whole book uses.

**Convention.** A mask is a ``torch.bool`` tensor in which ``True`` means *this query may attend to
this key* and ``False`` means *it may not*. Its last two dimensions are ``(query_len, key_len)``; the
leading dimensions broadcast against the batch (and head) dimensions of the scores. This is the
convention of the boolean ``attn_mask`` of :func:`torch.nn.functional.scaled_dot_product_attention`.

!!! warning "PyTorch's ``nn.MultiheadAttention`` uses the opposite convention"
    Its ``key_padding_mask`` and boolean ``attn_mask`` mark with ``True`` the positions that are
    *not* allowed. Invert a mask with ``~mask`` when moving between the two.
"""

from __future__ import annotations

# --8<-- [start:imports]
import torch

from book_code._checks import check_int, check_tensor, shape_str

# --8<-- [end:imports]


# --8<-- [start:padding_mask]
def padding_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Key-padding mask of shape ``(batch, max_len)``: ``True`` at real tokens.

    Sequences are left-aligned: sequence ``b`` holds real tokens at positions
    ``0 .. lengths[b] - 1`` and padding after them.

    >>> padding_mask(torch.tensor([3, 1]), max_len=4)
    tensor([[ True,  True,  True, False],
            [ True, False, False, False]])
    """
    check_tensor(lengths, "lengths")
    if lengths.dim() != 1 or lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(
            "lengths must be a 1-D integer tensor of shape (batch,); "
            f"got shape {shape_str(lengths.shape)} and dtype {lengths.dtype}"
        )
    longest = int(lengths.max()) if lengths.numel() else 0
    max_len = longest if max_len is None else check_int(max_len, "max_len")
    if (lengths < 0).any() or longest > max_len:
        raise ValueError(
            f"lengths must lie in [0, max_len={max_len}]; got {lengths.tolist()}"
        )
    positions = torch.arange(max_len, device=lengths.device)
    return positions[None, :] < lengths[:, None]
# --8<-- [end:padding_mask]


# --8<-- [start:causal_mask]
def causal_mask(query_len: int, key_len: int | None = None, device=None) -> torch.Tensor:
    """Causal mask of shape ``(query_len, key_len)``: query ``i`` sees keys ``0 .. i``.

    When ``key_len > query_len`` the queries are taken to be the *last* ``query_len``
    positions of the key sequence (as when decoding with a cache), so the diagonal is
    shifted right by ``key_len - query_len``.

    >>> causal_mask(3).int()
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]], dtype=torch.int32)
    """
    check_int(query_len, "query_len")
    key_len = query_len if key_len is None else check_int(key_len, "key_len")
    if query_len < 1 or key_len < query_len:
        raise ValueError(
            f"causal_mask needs 1 <= query_len <= key_len; got query_len={query_len}, "
            f"key_len={key_len}"
        )
    ones = torch.ones(query_len, key_len, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=key_len - query_len)
# --8<-- [end:causal_mask]


# --8<-- [start:combine_masks]
def key_padding_to_attention_mask(key_padding: torch.Tensor) -> torch.Tensor:
    """Turn a ``(batch, key_len)`` padding mask into a ``(batch, 1, 1, key_len)`` mask.

    The two singleton dimensions broadcast over heads and queries.
    """
    check_tensor(key_padding, "key_padding_mask")
    if key_padding.dim() != 2 or key_padding.dtype != torch.bool:
        raise ValueError(
            "key_padding_mask must be a bool tensor of shape (batch, key_len); "
            f"got shape {shape_str(key_padding.shape)} and dtype {key_padding.dtype}"
        )
    return key_padding[:, None, None, :]


def combine_masks(*masks: torch.Tensor | None) -> torch.Tensor | None:
    """Logical AND of broadcastable masks; ``None`` entries are skipped.

    A position is allowed only if every mask allows it.

    >>> pad = key_padding_to_attention_mask(padding_mask(torch.tensor([2]), 3))
    >>> combine_masks(pad, causal_mask(3), None).int()
    tensor([[[[1, 0, 0],
              [1, 1, 0],
              [1, 1, 0]]]], dtype=torch.int32)
    """
    present = [m for m in masks if m is not None]
    if not present:
        return None
    combined = present[0]
    for mask in present[1:]:
        combined = combined & mask
    return combined
# --8<-- [end:combine_masks]


# --8<-- [start:check_mask]
def check_mask(
    mask: torch.Tensor, batch_shape: tuple[int, ...], query_len: int, key_len: int
) -> None:
    """Raise a clear error unless ``mask`` follows the convention for these scores.

    The scores have shape ``(*batch_shape, query_len, key_len)``. The mask must be
    ``torch.bool``, have at most that many dimensions, end in ``(query_len, key_len)`` or
    ``(1, key_len)``, and broadcast against the leading dimensions.
    """
    check_tensor(mask, "mask")
    expected = shape_str((*batch_shape, query_len, key_len))
    if mask.dtype != torch.bool:
        raise TypeError(
            f"mask must have dtype torch.bool (True = may attend); got {mask.dtype}. "
            "Convert an additive float mask with `mask == 0`, or a PyTorch-style "
            "'True = ignore' mask with `~mask`."
        )
    full = (*batch_shape, query_len, key_len)
    fits = mask.dim() >= 2 and mask.dim() <= len(full)
    if fits:
        tail = mask.shape[-2:]
        fits = tail[1] == key_len and tail[0] in (1, query_len)
        lead = mask.shape[:-2]
        for got, want in zip(reversed(lead), reversed(batch_shape), strict=False):
            fits = fits and got in (1, want)
    if not fits:
        raise ValueError(
            f"mask of shape {shape_str(mask.shape)} does not broadcast to the scores of shape "
            f"{expected}; expected (query_len, key_len) = ({query_len}, {key_len}), "
            f"(batch, query_len, key_len), (batch, heads, query_len, key_len) "
            "or (batch, 1, 1, key_len) for key padding"
        )
# --8<-- [end:check_mask]
