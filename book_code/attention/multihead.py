"""Multi-head attention as a module, equivalent to ``torch.nn.MultiheadAttention``.

The layer keeps PyTorch's parameter layout (one ``(3 * embed_dim, embed_dim)`` input
projection, stacked as query, key, value, and one output projection) so that weights copy
across in both directions. Tensors are ``batch_first``: ``(batch, seq_len, embed_dim)``.
"""

from __future__ import annotations

# --8<-- [start:imports]
import torch
import torch.nn.functional as F
from torch import nn

from book_code._checks import check_floating, check_int, check_rank, check_tensor, shape_str
from book_code.attention.functional import scaled_dot_product_attention
from book_code.attention.masks import (
    causal_mask,
    check_mask,
    combine_masks,
    key_padding_to_attention_mask,
)

# --8<-- [end:imports]


# --8<-- [start:split_merge]
def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``(batch, seq_len, embed_dim)`` -> ``(batch, num_heads, seq_len, head_dim)``."""
    batch, seq_len, embed_dim = x.shape
    return x.view(batch, seq_len, num_heads, embed_dim // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(batch, num_heads, seq_len, head_dim)`` -> ``(batch, seq_len, embed_dim)``."""
    batch, num_heads, seq_len, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, seq_len, num_heads * head_dim)
# --8<-- [end:split_merge]


# --8<-- [start:init]
class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention (Vaswani et al., 2017).

    Args:
        embed_dim: model width; split evenly across the heads.
        num_heads: number of heads; must divide ``embed_dim``.
        dropout: dropout probability on the attention weights (training only).
        bias: whether the projections have biases.
        rotary: optional rotary position embedding (chapter 4): a module called as
            ``rotary(q, k)`` on the split heads ``(batch, num_heads, seq_len, head_dim)``
            that returns the rotated ``(q, k)``, such as
            [`RotaryEmbedding`][book_code.positional.RotaryEmbedding].

    >>> mha = MultiHeadAttention(embed_dim=16, num_heads=4)
    >>> x = torch.randn(2, 5, 16)
    >>> out, weights = mha(x, need_weights=True)
    >>> out.shape, weights.shape
    (torch.Size([2, 5, 16]), torch.Size([2, 4, 5, 5]))
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        rotary: nn.Module | None = None,
    ):
        super().__init__()
        check_int(embed_dim, "embed_dim")
        check_int(num_heads, "num_heads")
        if embed_dim < 1 or num_heads < 1 or embed_dim % num_heads != 0:
            raise ValueError(
                "embed_dim must be a positive multiple of num_heads; "
                f"got embed_dim={embed_dim}, num_heads={num_heads}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1); got {dropout}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        # One matrix holds W_Q, W_K and W_V stacked; each is (embed_dim, embed_dim) and
        # each head reads its own head_dim rows of it after the split.
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.rotary = rotary
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise as PyTorch does: Xavier-uniform input projection, zero biases."""
        nn.init.xavier_uniform_(self.in_proj.weight)
        if self.in_proj.bias is not None:
            nn.init.zeros_(self.in_proj.bias)
            nn.init.zeros_(self.out_proj.bias)
# --8<-- [end:init]

    # --8<-- [start:project]
    def project(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Apply W_Q, W_K, W_V; one fused matrix multiply for self-attention."""
        weight, bias = self.in_proj.weight, self.in_proj.bias
        if query is key and key is value:
            return self.in_proj(query).chunk(3, dim=-1)
        w_q, w_k, w_v = weight.chunk(3)
        b_q, b_k, b_v = bias.chunk(3) if bias is not None else (None, None, None)
        return F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)
    # --8<-- [end:project]

    # --8<-- [start:forward]
    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``query`` to ``key``/``value`` (both default to ``query``).

        Args:
            query: ``(batch, query_len, embed_dim)``.
            key: ``(batch, key_len, embed_dim)``; omit for self-attention.
            value: ``(batch, key_len, embed_dim)``; defaults to ``key``.
            key_padding_mask: bool ``(batch, key_len)``, ``True`` at real tokens.
            attn_mask: bool ``(query_len, key_len)``, ``(batch, query_len, key_len)`` or
                ``(batch, num_heads, query_len, key_len)``; ``True`` = may attend.
            is_causal: add a causal mask (query ``i`` sees keys ``0 .. i``).
            need_weights: also return the per-head weights
                ``(batch, num_heads, query_len, key_len)``; uses the explicit path.

        Returns:
            ``(output, weights)``; ``weights`` is ``None`` unless ``need_weights``.
        """
        key = query if key is None else key
        value = key if value is None else value
        self._check_inputs(query, key, value)
        mask = self._build_mask(query, key, key_padding_mask, attn_mask, is_causal)

        q, k, v = (split_heads(t, self.num_heads) for t in self.project(query, key, value))
        if self.rotary is not None:  # position enters through the scores only
            q, k = self.rotary(q, k)
        dropout_p = self.dropout if self.training else 0.0
        if need_weights:
            heads, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p)
        else:
            # Fused kernel: never materialises the (query_len, key_len) weights.
            heads = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
            if mask is not None:  # rows with no allowed key are zero on every backend
                heads = heads.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
            weights = None
        return self.out_proj(merge_heads(heads)), weights
    # --8<-- [end:forward]

    # --8<-- [start:build_mask]
    def _build_mask(self, query, key, key_padding_mask, attn_mask, is_causal):
        batch, query_len, key_len = query.shape[0], query.shape[1], key.shape[1]
        scores_batch = (batch, self.num_heads)
        if key_padding_mask is not None:
            check_tensor(key_padding_mask, "key_padding_mask")
            if key_padding_mask.shape != (batch, key_len) or key_padding_mask.dtype != torch.bool:
                raise ValueError(
                    "key_padding_mask must be a bool tensor of shape (batch, key_len) = "
                    f"{shape_str((batch, key_len))}, True at real tokens; got shape "
                    f"{shape_str(key_padding_mask.shape)} and dtype {key_padding_mask.dtype}"
                )
            key_padding_mask = key_padding_to_attention_mask(key_padding_mask)
        if attn_mask is not None:
            check_tensor(attn_mask, "attn_mask")
            if attn_mask.dim() == 3:  # (batch, query_len, key_len): same for every head
                check_mask(attn_mask, (batch,), query_len, key_len)  # report the shape as given
                attn_mask = attn_mask.unsqueeze(1)
            check_mask(attn_mask, scores_batch, query_len, key_len)
        causal = causal_mask(query_len, key_len, device=query.device) if is_causal else None
        return combine_masks(key_padding_mask, attn_mask, causal)
    # --8<-- [end:build_mask]

    # --8<-- [start:check_inputs]
    def _check_inputs(self, query, key, value) -> None:
        layout = "(batch, seq_len, embed_dim)"
        for name, tensor in (("query", query), ("key", key), ("value", value)):
            check_tensor(tensor, name)
            check_floating(tensor, name)
            check_rank(tensor, name, (3,), layout)
            if tensor.shape[-1] != self.embed_dim:
                raise ValueError(
                    f"{name} must have embed_dim={self.embed_dim} features in its last dimension; "
                    f"got shape {shape_str(tensor.shape)}"
                )
        if not (query.shape[0] == key.shape[0] == value.shape[0]):
            raise ValueError(
                "query, key and value must have the same batch size; got shapes "
                f"{shape_str(query.shape)}, {shape_str(key.shape)} and {shape_str(value.shape)}"
            )
        if key.shape[1] != value.shape[1]:
            raise ValueError(
                f"key and value must have the same length; got key {shape_str(key.shape)} "
                f"and value {shape_str(value.shape)}"
            )
        if not (query.dtype == key.dtype == value.dtype == self.in_proj.weight.dtype):
            raise TypeError(
                "query, key, value and the layer's parameters must share a dtype; got "
                f"{query.dtype}, {key.dtype}, {value.dtype} and {self.in_proj.weight.dtype} "
                "(convert the layer with .to(dtype))"
            )
    # --8<-- [end:check_inputs]

    # --8<-- [start:from_torch]
    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> "MultiHeadAttention":  # noqa: UP037
        """Build an equivalent layer from a ``torch.nn.MultiheadAttention``.

        The copy is exact: same dtype, device and weights. Remember that PyTorch's masks
        use ``True`` = *ignore*; invert them (``~mask``) when passing them to this layer.
        """
        if not isinstance(module, nn.MultiheadAttention):
            raise TypeError(f"expected torch.nn.MultiheadAttention; got {type(module).__name__}")
        if not module._qkv_same_embed_dim or module.bias_k is not None or module.add_zero_attn:
            raise ValueError(
                "only nn.MultiheadAttention with kdim == vdim == embed_dim, no bias_k/bias_v "
                f"and add_zero_attn=False has an equivalent here; got embed_dim={module.embed_dim}, "
                f"kdim={module.kdim}, vdim={module.vdim}, add_bias_kv={module.bias_k is not None} "
                f"and add_zero_attn={module.add_zero_attn}"
            )
        has_bias = module.in_proj_bias is not None
        layer = cls(module.embed_dim, module.num_heads, module.dropout, bias=has_bias)
        layer.to(dtype=module.in_proj_weight.dtype, device=module.in_proj_weight.device)
        with torch.no_grad():
            layer.in_proj.weight.copy_(module.in_proj_weight)
            layer.out_proj.weight.copy_(module.out_proj.weight)
            if has_bias:
                layer.in_proj.bias.copy_(module.in_proj_bias)
                layer.out_proj.bias.copy_(module.out_proj.bias)
        return layer
    # --8<-- [end:from_torch]

    # --8<-- [start:to_torch]
    def to_torch(self) -> nn.MultiheadAttention:
        """The reverse of `from_torch`: an equivalent ``nn.MultiheadAttention(batch_first=True)``."""
        has_bias = self.in_proj.bias is not None
        weight = self.in_proj.weight
        module = nn.MultiheadAttention(
            self.embed_dim, self.num_heads, dropout=self.dropout, bias=has_bias,
            batch_first=True, device=weight.device, dtype=weight.dtype,
        )
        with torch.no_grad():
            module.in_proj_weight.copy_(weight)
            module.out_proj.weight.copy_(self.out_proj.weight)
            if has_bias:
                module.in_proj_bias.copy_(self.in_proj.bias)
                module.out_proj.bias.copy_(self.out_proj.bias)
        return module

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"
    # --8<-- [end:to_torch]
