"""Attention: scaled dot-product attention, masks and multi-head attention (chapters 1-3)."""

from book_code.attention.functional import masked_softmax, scaled_dot_product_attention
from book_code.attention.masks import (
    causal_mask,
    combine_masks,
    key_padding_to_attention_mask,
    padding_mask,
)
from book_code.attention.multihead import MultiHeadAttention, merge_heads, split_heads

__all__ = [
    "MultiHeadAttention",
    "causal_mask",
    "combine_masks",
    "key_padding_to_attention_mask",
    "masked_softmax",
    "merge_heads",
    "padding_mask",
    "scaled_dot_product_attention",
    "split_heads",
]
