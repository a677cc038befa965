"""The Transformer encoder: layers, a stack of them and a text classifier (chapter 5).

`EncoderLayer` is one block of self-attention and a position-wise feed-forward network,
each wrapped in a residual connection and a layer normalisation, either after the residual
addition (post-LN, as in Vaswani et al., 2017) or before the sublayer (pre-LN, as analysed by
Xiong et al., 2020). It computes exactly what ``torch.nn.TransformerEncoderLayer`` computes
and copies its weights with `EncoderLayer.from_torch`. `Encoder` stacks layers;
`TransformerClassifier` adds token and position embeddings, pooling and a classification
head. `count_parameters` and `flops_per_forward` give the exact analytic counts.

Masks follow the book's convention throughout: ``True`` marks a real token (may be
attended to). PyTorch's ``src_key_padding_mask`` uses the opposite convention.
"""

# --8<-- [start:imports]
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from book_code._checks import check_floating, check_rank, check_tensor, shape_str
from book_code.attention import MultiHeadAttention
from book_code.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
)

# --8<-- [end:imports]


# --8<-- [start:layer_norm]
def layer_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Layer normalisation over the last dimension (Ba et al., 2016).

    Each token's features are shifted to mean 0 and scaled to variance 1, then scaled by
    ``weight`` (the gain, gamma) and shifted by ``bias`` (beta). Equals
    ``torch.nn.functional.layer_norm(x, x.shape[-1:], weight, bias, eps)``.

    >>> layer_norm(torch.tensor([[1.0, 2.0, 3.0, 6.0]])).round(decimals=4)
    tensor([[-1.0690, -0.5345,  0.0000,  1.6036]])
    """
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, correction=0, keepdim=True)  # the biased variance, divided by E
    x_hat = (x - mean) / torch.sqrt(var + eps)  # eps keeps a constant token finite
    if weight is not None:
        x_hat = x_hat * weight
    if bias is not None:
        x_hat = x_hat + bias
    return x_hat
# --8<-- [end:layer_norm]


# --8<-- [start:dropout]
def inverted_dropout(
    x: torch.Tensor, p: float, training: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Zero each element with probability ``p`` and scale the survivors by ``1 / (1 - p)``.

    The scaling keeps the expected value of every element unchanged, so at evaluation time
    (``training=False``) the function is the identity: nothing needs rescaling after
    training (Srivastava et al., 2014, scale the weights at test time instead).

    >>> x = torch.ones(8)
    >>> inverted_dropout(x, 0.5, generator=torch.Generator().manual_seed(0))
    tensor([0., 2., 0., 0., 0., 2., 0., 2.])
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability p must lie in [0, 1); got {p}")
    if not training or p == 0.0:
        return x
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep / (1.0 - p)
# --8<-- [end:dropout]


# --8<-- [start:feed_forward]
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU}


class FeedForward(nn.Module):
    """The position-wise feed-forward network ``W_2 act(x W_1 + b_1) + b_2``.

    It acts on every token separately; dropout sits after the activation, where
    ``torch.nn.TransformerEncoderLayer`` puts it.

    Args:
        embed_dim: model width E (input and output size).
        ff_dim: hidden width F, usually 4 E.
        dropout: dropout probability after the activation.
        activation: ``"relu"`` (Vaswani et al., 2017) or ``"gelu"`` (BERT).
        bias: whether the two linear maps have biases.
    """

    def __init__(
        self, embed_dim: int, ff_dim: int, dropout: float = 0.1, activation: str = "relu",
        bias: bool = True,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")
        if ff_dim < 1:
            raise ValueError(f"ff_dim must be a positive integer; got {ff_dim}")
        self.linear1 = nn.Linear(embed_dim, ff_dim, bias=bias)
        self.activation = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(ff_dim, embed_dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))
# --8<-- [end:feed_forward]


# --8<-- [start:layer_init]
class EncoderLayer(nn.Module):
    """One Transformer encoder layer: self-attention and feed-forward, each with a residual.

    Post-LN (``norm_first=False``, the original Transformer) normalises after each residual
    addition, ``x = LN(x + Sublayer(x))``; pre-LN (``norm_first=True``) normalises the
    sublayer's input and leaves the residual path untouched, ``x = x + Sublayer(LN(x))``.
    Dropout sits where ``torch.nn.TransformerEncoderLayer`` puts it: on the attention
    weights, after the attention output, after the feed-forward activation and after the
    feed-forward output.

    Args:
        embed_dim: model width E.
        num_heads: attention heads; must divide ``embed_dim``.
        ff_dim: hidden width F of the feed-forward network.
        dropout: dropout probability everywhere in the layer.
        activation: ``"relu"`` or ``"gelu"``.
        norm_first: pre-LN if ``True``, post-LN if ``False``.
        layer_norm_eps: the ``eps`` of both layer norms.
        bias: biases in the linear maps and the layer norms (as PyTorch's ``bias``).
        rotary: optional rotary position embedding passed to the attention (chapter 4).

    >>> layer = EncoderLayer(embed_dim=16, num_heads=4, ff_dim=64)
    >>> layer(torch.randn(2, 5, 16)).shape
    torch.Size([2, 5, 16])
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        ff_dim: int,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        bias: bool = True,
        rotary: nn.Module | None = None,
    ):
        super().__init__()
        self.embed_dim = embed_dim
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(embed_dim, num_heads, dropout, bias=bias, rotary=rotary)
        self.feed_forward = FeedForward(embed_dim, ff_dim, dropout, activation, bias)
        self.norm1 = nn.LayerNorm(embed_dim, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(embed_dim, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)  # on the attention block's output
        self.dropout2 = nn.Dropout(dropout)  # on the feed-forward block's output
# --8<-- [end:layer_init]

    # --8<-- [start:layer_forward]
    def forward(
        self,
        x: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """Apply the layer to ``x`` of shape ``(batch, seq_len, embed_dim)``.

        Args:
            x: the input sequence.
            key_padding_mask: bool ``(batch, seq_len)``, ``True`` at real tokens.
            attn_mask: bool, ``True`` = may attend; shapes as for `MultiHeadAttention`.
            is_causal: let token ``i`` attend to tokens ``0 .. i`` only.
        """
        return self._forward(x, key_padding_mask, attn_mask, is_causal, need_weights=False)[0]

    def forward_with_weights(
        self,
        x: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Like `forward`, and also return the attention weights
        ``(batch, num_heads, seq_len, seq_len)`` (slower: the weights are materialised)."""
        return self._forward(x, key_padding_mask, attn_mask, is_causal, need_weights=True)

    def _forward(self, x, key_padding_mask, attn_mask, is_causal, need_weights):
        _check_sequence(x, self.embed_dim)
        masks = (key_padding_mask, attn_mask, is_causal, need_weights)
        if self.norm_first:  # pre-LN: x + Sublayer(LN(x)); the residual path is never normalised
            attended, weights = self.attention_block(self.norm1(x), *masks)
            x = x + attended
            x = x + self.feed_forward_block(self.norm2(x))
        else:  # post-LN: LN(x + Sublayer(x)); every residual sum passes through a norm
            attended, weights = self.attention_block(x, *masks)
            x = self.norm1(x + attended)
            x = self.norm2(x + self.feed_forward_block(x))
        return x, weights

    def attention_block(self, x, key_padding_mask, attn_mask, is_causal, need_weights):
        """Self-attention followed by dropout: the first sublayer, before its residual."""
        out, weights = self.self_attn(
            x, key_padding_mask=key_padding_mask, attn_mask=attn_mask, is_causal=is_causal,
            need_weights=need_weights,
        )
        return self.dropout1(out), weights

    def feed_forward_block(self, x: torch.Tensor) -> torch.Tensor:
        """The feed-forward network followed by dropout: the second sublayer."""
        return self.dropout2(self.feed_forward(x))
    # --8<-- [end:layer_forward]

    # --8<-- [start:layer_from_torch]
    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> "EncoderLayer":
        """Build an equivalent layer from a ``torch.nn.TransformerEncoderLayer``.

        The copy has the same weights, dtype and device. PyTorch's
        ``src_key_padding_mask`` marks padding with ``True``: pass ``~mask`` to this layer.
        """
        if not isinstance(layer, nn.TransformerEncoderLayer):
            raise TypeError(f"expected torch.nn.TransformerEncoderLayer; got {type(layer).__name__}")
        if not layer.self_attn.batch_first:
            raise ValueError(
                "only layers built with batch_first=True have an equivalent here: the book's "
                "tensors are (batch, seq_len, embed_dim)"
            )
        activation = {1: "relu", 2: "gelu"}.get(layer.activation_relu_or_gelu)
        if activation is None or getattr(layer.activation, "approximate", "none") != "none":
            raise ValueError(f"only relu and exact gelu activations are supported; got {layer.activation}")
        if layer.norm1.eps != layer.norm2.eps:
            raise ValueError(f"norm1 and norm2 must share eps; got {layer.norm1.eps} and {layer.norm2.eps}")
        weight = layer.linear1.weight
        new = cls(
            layer.self_attn.embed_dim, layer.self_attn.num_heads, layer.linear1.out_features,
            dropout=layer.dropout.p, activation=activation, norm_first=layer.norm_first,
            layer_norm_eps=layer.norm1.eps, bias=layer.linear1.bias is not None,
        ).to(dtype=weight.dtype, device=weight.device)
        new.self_attn = MultiHeadAttention.from_torch(layer.self_attn)
        # Same module types on both sides, so the state dicts carry over one to one.
        new.feed_forward.linear1.load_state_dict(layer.linear1.state_dict())
        new.feed_forward.linear2.load_state_dict(layer.linear2.state_dict())
        new.norm1.load_state_dict(layer.norm1.state_dict())
        new.norm2.load_state_dict(layer.norm2.state_dict())
        return new
    # --8<-- [end:layer_from_torch]


# --8<-- [start:check_sequence]
def _check_sequence(x: object, embed_dim: int) -> None:
    check_tensor(x, "x")
    check_floating(x, "x")
    check_rank(x, "x", (3,), "(batch, seq_len, embed_dim)")
    if x.shape[-1] != embed_dim:
        raise ValueError(f"x must have embed_dim={embed_dim} features; got shape {shape_str(x.shape)}")
# --8<-- [end:check_sequence]


# --8<-- [start:encoder]
class Encoder(nn.Module):
    """A stack of `EncoderLayer`s, with an optional final layer norm.

    A pre-LN stack needs the final norm: its residual stream is never normalised
    otherwise. A post-LN stack ends in a norm already and usually has none.

    Args:
        make_layer: called once per layer, returning a new `EncoderLayer` each time, for
            example ``lambda: EncoderLayer(128, 4, 512, norm_first=True)``. Every layer is
            initialised independently.
        num_layers: number of layers L.
        final_norm: add a layer norm after the last layer.

    >>> encoder = Encoder(lambda: EncoderLayer(16, 4, 64, norm_first=True), 3, final_norm=True)
    >>> encoder(torch.randn(2, 5, 16)).shape
    torch.Size([2, 5, 16])
    """

    def __init__(self, make_layer: Callable[[], EncoderLayer], num_layers: int, final_norm: bool = False):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be a positive integer; got {num_layers}")
        layers = [make_layer() for _ in range(num_layers)]
        if not all(isinstance(layer, EncoderLayer) for layer in layers):
            raise TypeError("make_layer must return EncoderLayer instances")
        if len({id(layer) for layer in layers}) != num_layers:
            raise ValueError("make_layer must build a new layer on every call, not return one layer again")
        self.layers = nn.ModuleList(layers)
        first = layers[0]
        self.norm = (
            nn.LayerNorm(first.embed_dim, eps=first.norm1.eps, bias=first.norm1.bias is not None)
            if final_norm else None
        )

    def forward(
        self,
        x: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """Apply every layer in turn (same arguments as `EncoderLayer.forward`)."""
        for layer in self.layers:
            x = layer(x, key_padding_mask, attn_mask, is_causal)
        return x if self.norm is None else self.norm(x)

    def forward_with_weights(
        self,
        x: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Like `forward`, and also return each layer's attention weights."""
        weights = []
        for layer in self.layers:
            x, w = layer.forward_with_weights(x, key_padding_mask, attn_mask, is_causal)
            weights.append(w)
        return (x if self.norm is None else self.norm(x)), weights
# --8<-- [end:encoder]

    # --8<-- [start:encoder_from_torch]
    @classmethod
    def from_torch(cls, encoder: nn.TransformerEncoder) -> "Encoder":
        """Build an equivalent stack from a ``torch.nn.TransformerEncoder``."""
        if not isinstance(encoder, nn.TransformerEncoder):
            raise TypeError(f"expected torch.nn.TransformerEncoder; got {type(encoder).__name__}")
        norm = encoder.norm
        if norm is not None and not isinstance(norm, nn.LayerNorm):
            raise ValueError(f"the final norm must be None or nn.LayerNorm; got {type(norm).__name__}")
        layers = iter([EncoderLayer.from_torch(layer) for layer in encoder.layers])
        new = cls(layers.__next__, len(encoder.layers), final_norm=norm is not None)
        if norm is not None:
            new.norm = nn.LayerNorm(
                norm.normalized_shape, eps=norm.eps, elementwise_affine=norm.elementwise_affine,
                bias=norm.bias is not None, device=norm.weight.device, dtype=norm.weight.dtype,
            )
            new.norm.load_state_dict(norm.state_dict())
        return new
    # --8<-- [end:encoder_from_torch]


# --8<-- [start:config]
POSITIONAL = ("learned", "sinusoidal", "rope", "none")
POOLING = ("cls", "mean")


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything needed to rebuild a `TransformerClassifier` (for checkpoints).

    ``ff_dim=None`` means ``4 * embed_dim`` and is stored resolved.
    """

    vocab_size: int
    num_classes: int
    embed_dim: int = 128
    num_heads: int = 4
    num_layers: int = 2
    ff_dim: int | None = None
    max_len: int = 512
    positional: str = "learned"
    pooling: str = "cls"
    dropout: float = 0.1
    norm_first: bool = True
    activation: str = "gelu"
    pad_id: int = 0

    def __post_init__(self) -> None:
        if self.ff_dim is None:
            object.__setattr__(self, "ff_dim", 4 * self.embed_dim)
        sizes = ("vocab_size", "num_classes", "embed_dim", "num_heads", "num_layers", "ff_dim", "max_len")
        for name in sizes:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if self.embed_dim % self.num_heads != 0:
            raise ValueError(
                f"embed_dim must be a multiple of num_heads; got {self.embed_dim} and {self.num_heads}"
            )
        for name, allowed in (("positional", POSITIONAL), ("pooling", POOLING), ("activation", ACTIVATIONS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {sorted(allowed)}; got {getattr(self, name)!r}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id must lie in [0, vocab_size={self.vocab_size}); got {self.pad_id}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1); got {self.dropout}")
        if self.positional == "rope" and (self.embed_dim // self.num_heads) % 2:
            raise ValueError(
                "positional='rope' rotates pairs of features: embed_dim // num_heads must be even; "
                f"got {self.embed_dim} // {self.num_heads}"
            )

    def to_dict(self) -> dict:
        """A plain dictionary (JSON-serialisable) of the configuration."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ClassifierConfig":
        """The inverse of `to_dict`; unknown keys are an error, not silently dropped."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown ClassifierConfig fields: {sorted(unknown)}")
        return cls(**data)


def _make_positional(config: ClassifierConfig) -> tuple[nn.Module, nn.Module | None]:
    """The module added to the embeddings, and the rotary module for the attention."""
    if config.positional == "learned":
        return LearnedPositionalEmbedding(config.max_len, config.embed_dim), None
    if config.positional == "sinusoidal":
        return SinusoidalPositionalEncoding(config.embed_dim, config.max_len), None
    if config.positional == "rope":  # position enters the attention scores, not the embeddings
        return nn.Identity(), RotaryEmbedding(config.embed_dim // config.num_heads, config.max_len)
    return nn.Identity(), None
# --8<-- [end:config]


# --8<-- [start:classifier_init]
class TransformerClassifier(nn.Module):
    """A sequence classifier: embeddings, positions, an `Encoder`, pooling and a linear head.

    With ``pooling="cls"`` the representation of position 0 is classified: the caller puts a
    ``[CLS]`` token there. With ``pooling="mean"`` the classifier averages the real tokens.
    A pre-LN encoder (``norm_first=True``) gets a final layer norm. The arguments are the
    fields of `ClassifierConfig`; the instance keeps them as ``self.config``.

    >>> model = TransformerClassifier(vocab_size=50, num_classes=3, embed_dim=16, num_heads=2)
    >>> model(torch.tensor([[1, 7, 9, 0], [1, 4, 0, 0]])).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embed_dim: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        ff_dim: int | None = None,
        max_len: int = 512,
        positional: str = "learned",
        pooling: str = "cls",
        dropout: float = 0.1,
        norm_first: bool = True,
        activation: str = "gelu",
        pad_id: int = 0,
    ):
        super().__init__()
        config = ClassifierConfig(
            vocab_size, num_classes, embed_dim, num_heads, num_layers, ff_dim, max_len,
            positional, pooling, dropout, norm_first, activation, pad_id,
        )
        self.config = config
        self.token_embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.position, rotary = _make_positional(config)
        self.embed_dropout = nn.Dropout(dropout)

        def make_layer() -> EncoderLayer:  # every layer shares the one (parameter-free) rotary
            return EncoderLayer(
                embed_dim, num_heads, config.ff_dim, dropout, activation, norm_first, rotary=rotary
            )

        self.encoder = Encoder(make_layer, num_layers, final_norm=norm_first)
        self.head = nn.Linear(embed_dim, num_classes)

    @classmethod
    def from_config(cls, config: ClassifierConfig) -> "TransformerClassifier":
        """A new, freshly initialised classifier with the given configuration."""
        return cls(**config.to_dict())


# --8<-- [end:classifier_init]

    # --8<-- [start:classifier_forward]
    def forward(self, token_ids: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits ``(batch, num_classes)``.

        Args:
            token_ids: integer ``(batch, seq_len)`` token indices, ``seq_len <= max_len``.
            padding_mask: bool ``(batch, seq_len)``, ``True`` at real tokens; defaults to
                ``token_ids != pad_id``.
        """
        padding_mask = self._check_inputs(token_ids, padding_mask)
        hidden = self.encoder(self.embed(token_ids), key_padding_mask=_mask_if_needed(padding_mask))
        return self.head(self.pool(hidden, padding_mask))

    def forward_with_weights(
        self, token_ids: torch.Tensor, padding_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Like `forward`, and also return each layer's attention weights."""
        padding_mask = self._check_inputs(token_ids, padding_mask)
        x = self.embed(token_ids)
        hidden, weights = self.encoder.forward_with_weights(x, key_padding_mask=_mask_if_needed(padding_mask))
        return self.head(self.pool(hidden, padding_mask)), weights

    def embed(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings plus positional encodings (if any), with dropout."""
        return self.embed_dropout(self.position(self.token_embedding(token_ids)))

    def pool(self, hidden: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """One vector per sequence: position 0 (``"cls"``) or the mean of the real tokens."""
        if self.config.pooling == "cls":
            return hidden[:, 0]
        real = padding_mask.unsqueeze(-1).to(hidden.dtype)  # 1 at real tokens, 0 at padding
        return (hidden * real).sum(dim=1) / real.sum(dim=1)
    # --8<-- [end:classifier_forward]

    # --8<-- [start:classifier_checks]
    def _check_inputs(self, token_ids: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        config = self.config
        check_tensor(token_ids, "token_ids")
        if token_ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"token_ids must hold integer token indices (torch.long); got {token_ids.dtype}")
        check_rank(token_ids, "token_ids", (2,), "(batch, seq_len)")
        seq_len = token_ids.shape[1]
        if not 1 <= seq_len <= config.max_len:
            raise ValueError(f"seq_len must lie in [1, max_len={config.max_len}]; got {seq_len}")
        low, high = token_ids.min().item(), token_ids.max().item()
        if low < 0 or high >= config.vocab_size:
            raise ValueError(
                f"token ids must lie in [0, vocab_size={config.vocab_size}); got values from {low} to {high}"
            )
        if padding_mask is None:
            padding_mask = token_ids != config.pad_id
        check_tensor(padding_mask, "padding_mask")
        if padding_mask.dtype != torch.bool or padding_mask.shape != token_ids.shape:
            raise ValueError(
                f"padding_mask must be a bool tensor of the shape of token_ids {shape_str(token_ids.shape)}, "
                f"True at real tokens; got {padding_mask.dtype} {shape_str(padding_mask.shape)}"
            )
        if not padding_mask.any(dim=1).all():
            raise ValueError("every sequence needs at least one real token (padding_mask all False in a row)")
        if config.pooling == "cls" and not padding_mask[:, 0].all():
            raise ValueError("pooling='cls' classifies position 0, so it must be a real token ([CLS])")
        return padding_mask
    # --8<-- [end:classifier_checks]


# --8<-- [start:mask_if_needed]
def _mask_if_needed(padding_mask: torch.Tensor) -> torch.Tensor | None:
    """``None`` for a batch without padding: attention then needs no mask, and the fused
    kernel runs faster without one."""
    return None if bool(padding_mask.all()) else padding_mask
# --8<-- [end:mask_if_needed]


# --8<-- [start:parameter_counts]
def layer_parameters(embed_dim: int, ff_dim: int, bias: bool = True) -> dict[str, int]:
    """Parameters of one `EncoderLayer`, by part; ``num_heads`` does not matter.

    Attention ``4 E^2 + 4 E`` (W_Q, W_K, W_V, W_O and biases), feed-forward
    ``2 E F + F + E``, two layer norms ``2 (E + E)`` (gains and shifts).
    """
    b = 1 if bias else 0
    counts = {
        "attention": 4 * embed_dim**2 + b * 4 * embed_dim,
        "feed_forward": 2 * embed_dim * ff_dim + b * (ff_dim + embed_dim),
        "norms": 2 * (embed_dim + b * embed_dim),
    }
    counts["total"] = sum(counts.values())
    return counts


def encoder_parameters(
    embed_dim: int, ff_dim: int, num_layers: int, final_norm: bool = False, bias: bool = True
) -> int:
    """Parameters of an `Encoder`: ``num_layers`` layers and the optional final norm."""
    norm = (embed_dim + (embed_dim if bias else 0)) if final_norm else 0
    return num_layers * layer_parameters(embed_dim, ff_dim, bias)["total"] + norm


def count_parameters(config: ClassifierConfig) -> dict[str, int]:
    """Parameters of a `TransformerClassifier`, by part, and their ``"total"``.

    Sinusoidal and rotary encodings are fixed buffers, not parameters.
    """
    E = config.embed_dim
    counts = {
        "token_embedding": config.vocab_size * E,
        "position_embedding": config.max_len * E if config.positional == "learned" else 0,
        "encoder": encoder_parameters(E, config.ff_dim, config.num_layers, final_norm=config.norm_first),
        "head": E * config.num_classes + config.num_classes,
    }
    counts["total"] = sum(counts.values())
    return counts


def bert_parameters(
    vocab_size: int = 30522,
    max_len: int = 512,
    token_types: int = 2,
    embed_dim: int = 768,
    num_layers: int = 12,
    ff_dim: int = 3072,
) -> dict[str, int]:
    """Parameters of a BERT encoder (Devlin et al., 2019) as it is published: token,
    position and token-type embeddings with their layer norm, a post-LN encoder without a
    final norm, and the pooler (a dense ``E x E`` layer with tanh on ``[CLS]``). The
    pretraining heads are not counted. Defaults are BERT-base."""
    counts = {
        "embeddings": (vocab_size + max_len + token_types) * embed_dim + 2 * embed_dim,
        "encoder": encoder_parameters(embed_dim, ff_dim, num_layers),
        "pooler": embed_dim**2 + embed_dim,
    }
    counts["total"] = sum(counts.values())
    return counts
# --8<-- [end:parameter_counts]


# --8<-- [start:flop_counts]
def layer_flops(embed_dim: int, ff_dim: int, seq_len: int, batch: int = 1) -> dict[str, int]:
    """Matrix-multiply FLOPs of one `EncoderLayer` forward pass, by part.

    A multiply-add counts as 2 FLOPs, as ``torch.utils.flop_counter`` counts. With
    ``n = seq_len``: projections ``2 n E (3E) + 2 n E E``; scores ``Q K^T`` and the
    weighted sum of values ``2 n^2 d_h`` each per head, ``2 n^2 E`` each over all heads;
    feed-forward ``2 n E F`` twice. Softmax, layer norms, biases, activations and
    residual additions are elementwise and not counted.
    """
    B, n, E = batch, seq_len, embed_dim
    counts = {
        "projections": B * (2 * n * E * 3 * E + 2 * n * E * E),
        "scores": B * 2 * n * n * E,
        "weighted_values": B * 2 * n * n * E,
        "feed_forward": B * 2 * 2 * n * E * ff_dim,
    }
    counts["total"] = sum(counts.values())
    return counts


def flops_per_forward(config: ClassifierConfig, batch: int, seq_len: int) -> dict[str, int]:
    """Matrix-multiply FLOPs of one `TransformerClassifier` forward pass on
    ``(batch, seq_len)`` token ids. Embedding lookups and pooling are not matrix products."""
    layer = layer_flops(config.embed_dim, config.ff_dim, seq_len, batch)
    counts = {
        "encoder": config.num_layers * layer["total"],
        "attention_core": config.num_layers * (layer["scores"] + layer["weighted_values"]),
        "head": batch * 2 * config.embed_dim * config.num_classes,
    }
    counts["total"] = counts["encoder"] + counts["head"]
    return counts
# --8<-- [end:flop_counts]


# --8<-- [start:warmup]
def warmup_then_decay(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate multiplier: linear warm-up from ``1/warmup_steps`` to 1 over
    ``warmup_steps`` steps, then linear decay to 0 at ``total_steps`` (BERT's schedule).
    With ``warmup_steps=0`` the rate starts at its peak and only decays.

    >>> torch.tensor([warmup_then_decay(step, 2, 6) for step in range(6)])
    tensor([0.5000, 1.0000, 1.0000, 0.7500, 0.5000, 0.2500])
    """
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"need 0 <= warmup_steps < total_steps; got {warmup_steps} and {total_steps}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return (total_steps - step) / (total_steps - warmup_steps)
# --8<-- [end:warmup]


# Chapter 5 experiments: the notebook calls these, the tests check them.

def xavier_init_(model: nn.Module) -> nn.Module:
    """Re-initialise every linear weight with Xavier-uniform (Glorot & Bengio, 2010) and
    zero its bias, the initialisation assumed by Xiong et al. (2020). Returns ``model``."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def init_gradient_norms(
    norm_first: bool,
    init: str = "pytorch",
    num_layers: int = 6,
    embed_dim: int = 64,
    num_heads: int = 4,
    seq_len: int = 16,
    batch: int = 16,
    vocab_size: int = 100,
    num_classes: int = 10,
    seeds: Sequence[int] = tuple(range(10)),
) -> list[float]:
    """Norm of the loss gradient with respect to each layer's second feed-forward matrix
    ``W_2`` at initialisation, averaged over ``seeds`` (the quantity of Xiong et al.,
    2020, Figure 3), layer 1 first.

    Each seed builds a fresh mean-pooling `TransformerClassifier` without dropout,
    initialised as PyTorch does (``init="pytorch"``) or with `xavier_init_`
    (``init="xavier"``), and backpropagates the cross-entropy of random token ids against
    random labels.
    """
    if init not in ("pytorch", "xavier"):
        raise ValueError(f"init must be 'pytorch' or 'xavier'; got {init!r}")
    norms = torch.zeros(num_layers, dtype=torch.float64)
    for seed in seeds:
        torch.manual_seed(seed)
        model = TransformerClassifier(
            vocab_size, num_classes, embed_dim, num_heads, num_layers, max_len=seq_len,
            pooling="mean", dropout=0.0, norm_first=norm_first, activation="relu",
        )
        if init == "xavier":
            xavier_init_(model)
        data = torch.Generator().manual_seed(seed)
        token_ids = torch.randint(1, vocab_size, (batch, seq_len), generator=data)
        labels = torch.randint(0, num_classes, (batch,), generator=data)
        F.cross_entropy(model(token_ids), labels).backward()
        for i, layer in enumerate(model.encoder.layers):
            norms[i] += layer.feed_forward.linear2.weight.grad.norm().item()
    return (norms / len(seeds)).tolist()


def majority_task(
    batch: int, seq_len: int = 12, vocab_size: int = 16, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A synthetic classification task: are there more 2s than 3s in the sequence?

    Token 1 is ``[CLS]`` at position 0; positions ``1 ..`` hold uniform tokens from
    ``2 .. vocab_size - 1``; token 0 (padding) never occurs. Returns ``(token_ids, labels)``
    with label 1 when token 2 outnumbers token 3.
    """
    if vocab_size < 4 or seq_len < 2:
        raise ValueError(f"need vocab_size >= 4 and seq_len >= 2; got {vocab_size} and {seq_len}")
    token_ids = torch.randint(2, vocab_size, (batch, seq_len), generator=generator)
    token_ids[:, 0] = 1
    labels = ((token_ids == 2).sum(dim=1) > (token_ids == 3).sum(dim=1)).long()
    return token_ids, labels


@dataclass(frozen=True)
class WarmupRun:
    """The training losses of one run of `warmup_experiment`, one per step."""

    norm_first: bool
    warmup_steps: int
    seed: int
    losses: list[float]


def train_majority(
    norm_first: bool,
    warmup_steps: int,
    learning_rate: float = 8e-3,
    steps: int = 200,
    seed: int = 0,
    num_layers: int = 6,
    embed_dim: int = 32,
    batch: int = 32,
) -> list[float]:
    """Train a `TransformerClassifier` (``[CLS]`` pooling, no dropout) with Adam on fresh
    batches of `majority_task` under `warmup_then_decay`; return the loss of every step."""
    torch.manual_seed(seed)
    data = torch.Generator().manual_seed(10_000 + seed)
    model = TransformerClassifier(
        16, 2, embed_dim, num_heads=4, num_layers=num_layers, max_len=12, dropout=0.0,
        norm_first=norm_first,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, foreach=True)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_then_decay(step, warmup_steps, steps)
    )
    losses = []
    for _ in range(steps):
        token_ids, labels = majority_task(batch, generator=data)
        loss = F.cross_entropy(model(token_ids), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


def warmup_experiment(
    learning_rate: float = 8e-3,
    warmup_steps: int = 50,
    steps: int = 200,
    seeds: Sequence[int] = (0, 1, 2),
) -> list[WarmupRun]:
    """`train_majority` for post-LN and pre-LN, with and without warm-up, for each seed."""
    return [
        WarmupRun(norm_first, warmup, seed, train_majority(norm_first, warmup, learning_rate, steps, seed))
        for norm_first in (False, True)
        for warmup in (0, warmup_steps)
        for seed in seeds
    ]
