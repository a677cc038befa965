"""Debugging tools: overfitting one batch, gradient and update sizes, attention entropy, LR range test."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from book_code.training.debug import (
    attention_entropy_per_head,
    gradient_norms,
    lr_range_test,
    overfit_one_batch,
    parameter_snapshot,
    update_to_weight_ratios,
)
from tests.training.helpers import marker_batches, tiny_classifier


def test_overfit_one_batch_drives_the_loss_near_zero():
    model = tiny_classifier(seed=1)
    losses = overfit_one_batch(model, marker_batches(16, 16)[0], steps=150, lr=1e-2)
    assert len(losses) == 150
    assert losses[0] > 0.3 and losses[-1] < 0.01


def test_gradient_norms_and_update_ratios_match_a_plain_sgd_step():
    model = tiny_classifier()
    batch = marker_batches(16, 16)[0]
    before = parameter_snapshot(model)
    F.cross_entropy(model(batch.token_ids, batch.padding_mask), batch.labels).backward()
    norms = gradient_norms(model)
    assert set(norms) == {name for name, _ in model.named_parameters()}
    assert norms["head.weight"] == pytest.approx(model.head.weight.grad.norm().item())
    lr = 0.1
    torch.optim.SGD(model.parameters(), lr=lr).step()  # W <- W - lr * grad
    ratios = update_to_weight_ratios(before, model)
    for name, old in before.items():
        if old.norm() > 0:  # the step moved W by lr * ||grad||
            assert ratios[name] == pytest.approx(lr * norms[name] / old.norm().item(), rel=1e-4)
    # A parameter that starts at zero (here a bias) and moves has an infinite ratio.
    zero = {name for name, old in before.items() if old.norm() == 0 and norms[name] > 0}
    assert zero and all(math.isinf(ratios[name]) for name in zero)
    assert update_to_weight_ratios(before, before)["head.weight"] == 0.0


def test_attention_entropy_per_head_of_uniform_attention():
    # With W_Q = 0 and b_Q = 0 every score is 0, so each head spreads its weight uniformly
    # over the real keys: entropy log(number of real tokens), normalised entropy 1.
    model = tiny_classifier(num_layers=2)
    for layer in model.encoder.layers:
        with torch.no_grad():
            layer.self_attn.in_proj.weight[:16].zero_()
            layer.self_attn.in_proj.bias[:16].zero_()
    batch = marker_batches(4, 4)[0]  # lengths 8, 4, 8, 4
    entropy = attention_entropy_per_head(model, batch.token_ids, batch.padding_mask)
    assert entropy.shape == (2, 2)
    # Real queries: 8 + 4 + 8 + 4 = 24, of which 16 see 8 keys and 8 see 4 keys.
    expected = (16 * math.log(8) + 8 * math.log(4)) / 24
    assert torch.allclose(entropy, torch.full((2, 2), expected, dtype=torch.float64), atol=1e-6)
    normalized = attention_entropy_per_head(model, batch.token_ids, batch.padding_mask, normalize=True)
    assert torch.allclose(normalized, torch.ones(2, 2, dtype=torch.float64), atol=1e-6)


def test_attention_entropy_per_head_of_a_trained_model_is_below_uniform():
    model = tiny_classifier(seed=2)
    batch = marker_batches(32, 32)[0]
    overfit_one_batch(model, batch, steps=60, lr=1e-2)
    normalized = attention_entropy_per_head(model, batch.token_ids, batch.padding_mask, normalize=True)
    assert ((normalized > 0) & (normalized <= 1 + 1e-9)).all()
    assert normalized.min() < 0.95  # at least one head has learned to focus


def test_lr_range_test():
    model = tiny_classifier(seed=3)
    before = parameter_snapshot(model)
    result = lr_range_test(model, marker_batches(64, 16), min_lr=1e-5, max_lr=1e3, num_steps=60)
    # Learning rates rise geometrically from min_lr.
    assert result.lrs[0] == pytest.approx(1e-5)
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:], strict=False)]
    assert max(ratios) == pytest.approx(min(ratios)) and ratios[0] > 1
    assert len(result.lrs) == len(result.losses) == len(result.raw_losses)
    # The loss falls, then training diverges long before lr = 1000 and the test stops early.
    assert min(result.losses) < 0.5 * result.losses[0]
    assert len(result.lrs) < 60 and result.losses[-1] > 4 * min(result.losses)
    assert result.suggested_lr == pytest.approx(result.lr_at_min_loss / 10)
    assert 1e-5 <= result.suggested_lr < result.lrs[-1] / 10
    # The model is left as it was.
    assert all(torch.equal(before[name], p) for name, p in model.named_parameters())


def test_lr_range_test_rejects_bad_ranges():
    with pytest.raises(ValueError, match="min_lr"):
        lr_range_test(tiny_classifier(), marker_batches(16, 16), min_lr=1.0, max_lr=0.1)
