"""A text classifier built from PyTorch's own encoder, to race `TransformerClassifier`.

`TorchEncoderClassifier` has the same parts as the book's
[`TransformerClassifier`][book_code.encoder.TransformerClassifier] with learned positions
and mean pooling (token embedding, learned position table, embedding dropout, encoder,
mean over real tokens, linear head), but its encoder is ``torch.nn.TransformerEncoder``.
`copy_into_book_model` gives the book's model the same weights, so that the two compute
the same function and a timing difference can only come from how they compute it.
"""

from __future__ import annotations

import torch
from torch import nn

from book_code.encoder import Encoder, TransformerClassifier


class TorchEncoderClassifier(nn.Module):
    """Embeddings, ``nn.TransformerEncoder``, mean pooling and a linear head.

    Args:
        vocab_size: number of token ids.
        num_classes: number of output classes.
        embed_dim: model width E.
        num_heads: attention heads.
        num_layers: encoder layers.
        ff_dim: feed-forward width F.
        max_len: longest sequence (rows of the position table).
        dropout: dropout probability everywhere.
        norm_first: pre-LN (with a final layer norm) if ``True``, else post-LN.
        activation: ``"relu"`` or ``"gelu"``.
        pad_id: the padding token id.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embed_dim: int,
        num_heads: int,
        num_layers: int,
        ff_dim: int,
        max_len: int,
        dropout: float = 0.1,
        norm_first: bool = True,
        activation: str = "gelu",
        pad_id: int = 0,
    ):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.position_embedding = nn.Embedding(max_len, embed_dim)
        nn.init.normal_(self.position_embedding.weight, std=0.02)
        self.embed_dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            embed_dim, num_heads, ff_dim, dropout, activation, batch_first=True, norm_first=norm_first
        )
        # The nested-tensor fast path only exists in inference; training never takes it.
        self.encoder = nn.TransformerEncoder(
            layer,
            num_layers,
            norm=nn.LayerNorm(embed_dim) if norm_first else None,
            enable_nested_tensor=False,
        )
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, token_ids: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """Class logits; ``padding_mask`` is ``True`` at real tokens (the book's convention)."""
        seq_len = token_ids.shape[1]
        x = self.token_embedding(token_ids) + self.position_embedding.weight[:seq_len]
        # PyTorch's key-padding mask marks the padding with True: the opposite convention.
        hidden = self.encoder(self.embed_dropout(x), src_key_padding_mask=~padding_mask)
        real = padding_mask.unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * real).sum(dim=1) / real.sum(dim=1))


def book_model_like(reference: TorchEncoderClassifier, **config) -> TransformerClassifier:
    """A `TransformerClassifier` with ``config`` and every weight copied from ``reference``.

    ``config`` holds the constructor arguments of both models; positions are learned and
    pooling is the mean, as in the reference.
    """
    model = TransformerClassifier(**config, positional="learned", pooling="mean")
    copy_into_book_model(reference, model)
    return model


def copy_into_book_model(reference: TorchEncoderClassifier, model: TransformerClassifier) -> None:
    """Copy the reference's weights into ``model`` (same sizes required)."""
    with torch.no_grad():
        model.token_embedding.weight.copy_(reference.token_embedding.weight)
        model.position.embedding.weight.copy_(reference.position_embedding.weight)
        model.encoder = Encoder.from_torch(reference.encoder)
        model.head.load_state_dict(reference.head.state_dict())


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
