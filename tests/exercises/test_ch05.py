"""The Chapter 5 solutions solve their exercises: the crossover length is where attention's
n^2 terms overtake the linear maps, post-LN keeps the residual stream at unit size while
pre-LN lets it grow, classic and inverted dropout agree in expectation, and the post-LN to
pre-LN gradient ratio grows with depth."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from book_code.encoder import inverted_dropout, layer_flops
from book_code.exercises.ch05 import (
    attention_crossover,
    attention_share,
    classic_dropout,
    last_layer_gradient_ratio,
    residual_growth,
)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 256), st.integers(1, 1024))
def test_crossover_is_where_attention_catches_up(embed_dim, ff_dim):
    n = attention_crossover(embed_dim, ff_dim)

    def core_minus_linear(seq_len):
        counts = layer_flops(embed_dim, ff_dim, seq_len)
        return counts["scores"] + counts["weighted_values"] - counts["projections"] - counts["feed_forward"]

    assert core_minus_linear(n) == 0  # exactly equal at n = 2E + F
    assert core_minus_linear(n - 1) < 0 < core_minus_linear(n + 1)
    assert attention_share(embed_dim, ff_dim, n) == 0.5


def test_crossover_for_bert_base():
    assert attention_crossover(768, 3072) == 4608
    assert attention_share(768, 3072, 512) < 0.2  # at BERT's 512 positions the linear maps dominate
    with pytest.raises(ValueError):
        attention_crossover(0, 10)


def test_post_ln_keeps_unit_size_and_pre_ln_grows():
    post = residual_growth(norm_first=False, num_layers=6, embed_dim=32)
    pre = residual_growth(norm_first=True, num_layers=6, embed_dim=32)
    # A post-LN layer ends in LayerNorm (gain 1, shift 0 at initialisation): RMS 1 up to eps.
    assert all(abs(size - 1.0) < 1e-3 for size in post)
    # A pre-LN layer adds to an unnormalised stream, so its size grows layer after layer.
    assert all(b > a for a, b in itertools.pairwise(pre))
    assert pre[-1] > 1.1


def test_classic_and_inverted_dropout_agree_in_expectation():
    x = torch.full((200_000,), 2.0, dtype=torch.float64)
    p = 0.25
    train = classic_dropout(x, p, generator=torch.Generator().manual_seed(0))
    assert set(train.unique().tolist()) == {0.0, 2.0}  # no rescaling while training
    test = classic_dropout(x, p, training=False)
    assert torch.allclose(test, torch.full_like(x, 1.5))  # scaled by 1 - p at test time
    assert abs(train.mean().item() - test.mean().item()) < 0.02
    # Inverted dropout is the same up to a constant factor 1 / (1 - p) everywhere.
    inverted = inverted_dropout(x, p, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(inverted * (1 - p), train)
    assert torch.allclose(inverted_dropout(x, p, training=False) * (1 - p), test)
    with pytest.raises(ValueError):
        classic_dropout(x, 1.0)


def test_gradient_ratio_grows_with_depth():
    ratios = last_layer_gradient_ratio((1, 4, 16), seeds=2)
    assert abs(ratios[1] - 1.0) < 0.2  # one layer: the two orders differ little
    assert ratios[1] < ratios[4] < ratios[16]
