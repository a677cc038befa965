"""Solutions to the coding exercises of Chapter 5 (the Transformer encoder).

Each solution is printed, collapsed, under its exercise; ``tests/exercises/test_ch05.py``
checks that it really solves the exercise.
"""

from __future__ import annotations

# --8<-- [start:imports]
import torch

from book_code.encoder import Encoder, EncoderLayer, init_gradient_norms, layer_flops

# --8<-- [end:imports]


# --8<-- [start:crossover]
def attention_crossover(embed_dim: int, ff_dim: int) -> int:
    """The shortest sequence length ``n`` at which the two ``n^2`` matrix products of a
    layer (scores and weighted values, ``4 n^2 E``) cost at least as much as its linear
    maps (``8 n E^2 + 4 n E F``): dividing by ``4 n E`` gives ``n >= 2 E + F``."""
    if embed_dim < 1 or ff_dim < 1:
        raise ValueError(f"embed_dim and ff_dim must be positive; got {embed_dim} and {ff_dim}")
    return 2 * embed_dim + ff_dim


def attention_share(embed_dim: int, ff_dim: int, seq_len: int) -> float:
    """Fraction of a layer's matrix-multiply FLOPs spent on scores and weighted values."""
    counts = layer_flops(embed_dim, ff_dim, seq_len)
    return (counts["scores"] + counts["weighted_values"]) / counts["total"]
# --8<-- [end:crossover]


# --8<-- [start:residual_norms]
@torch.no_grad()
def residual_rms(encoder: Encoder, x: torch.Tensor) -> list[float]:
    """Root-mean-square size of the residual stream after each layer of ``encoder``
    (the final norm, if any, is not applied), averaged over the tokens of ``x``."""
    sizes = []
    for layer in encoder.layers:
        x = layer(x)
        sizes.append(x.pow(2).mean(dim=-1).sqrt().mean().item())
    return sizes


def residual_growth(
    norm_first: bool, num_layers: int = 12, embed_dim: int = 64, seed: int = 0
) -> list[float]:
    """`residual_rms` of a freshly initialised encoder (no dropout) on standard-normal input."""
    torch.manual_seed(seed)
    encoder = Encoder(
        lambda: EncoderLayer(embed_dim, 4, 4 * embed_dim, dropout=0.0, norm_first=norm_first),
        num_layers,
    )
    return residual_rms(encoder.eval(), torch.randn(8, 16, embed_dim))
# --8<-- [end:residual_norms]


# --8<-- [start:classic_dropout]
def classic_dropout(
    x: torch.Tensor, p: float, training: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Dropout as first published (Srivastava et al., 2014): zero each element with
    probability ``p`` during training without rescaling, and multiply by the keep
    probability ``1 - p`` at test time, so that both have the same expected value."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability p must lie in [0, 1); got {p}")
    if not training:
        return x * (1.0 - p)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep
# --8<-- [end:classic_dropout]


# --8<-- [start:depth_ratio]
def last_layer_gradient_ratio(
    depths: tuple[int, ...] = (1, 2, 4, 8), seeds: int = 5
) -> dict[int, float]:
    """Post-LN over pre-LN gradient norm of the last layer's ``W_2`` at (Xavier)
    initialisation, for each depth; Xiong et al. (2020) predict growth like ``sqrt(L)``."""
    ratios = {}
    for depth in depths:
        post = init_gradient_norms(False, "xavier", num_layers=depth, seeds=range(seeds))[-1]
        pre = init_gradient_norms(True, "xavier", num_layers=depth, seeds=range(seeds))[-1]
        ratios[depth] = post / pre
    return ratios
# --8<-- [end:depth_ratio]
