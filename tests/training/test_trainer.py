"""The training loop: parameter groups, schedule, clipping, fit, early stopping, reproducibility."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from book_code.training import checkpoint as checkpoint_module
from book_code.training.trainer import (
    TrainConfig,
    autocast_dtype,
    evaluate,
    fit,
    parameter_groups,
    select_device,
    train_step,
    warmup_cosine_factor,
    warmup_cosine_schedule,
)
from tests.training.helpers import marker_batches, tiny_classifier

TIMING_KEYS = {"time_s", "tokens_per_s"}  # wall-clock measurements: the only keys allowed to differ


def test_select_device():
    assert select_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else None
    if expected is None and not (torch.backends.mps.is_available()):
        assert select_device("auto") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            select_device("cuda")
    with pytest.raises((RuntimeError, ValueError)):
        select_device("tpu")


def test_parameter_groups_split_matrices_from_the_rest():
    model = tiny_classifier(num_layers=2)
    decay, no_decay = parameter_groups(model, weight_decay=0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    expected_decay = {
        f"encoder.layers.{i}.{name}.weight"
        for i in range(2)
        for name in ("self_attn.in_proj", "self_attn.out_proj", "feed_forward.linear1",
                     "feed_forward.linear2")
    } | {"head.weight"}
    assert set(decay["param_names"]) == expected_decay
    no_decay_names = set(no_decay["param_names"])
    assert {"token_embedding.weight", "position.embedding.weight", "encoder.norm.weight"} <= no_decay_names
    assert all(name.endswith("bias") or "norm" in name or "embedding" in name for name in no_decay_names)
    # Every trainable parameter lands in exactly one group, and the names match the tensors.
    named = dict(model.named_parameters())
    assert sorted(decay["param_names"] + no_decay["param_names"]) == sorted(named)
    for group in (decay, no_decay):
        assert all(named[n] is p for n, p in zip(group["param_names"], group["params"], strict=True))
    torch.optim.AdamW([decay, no_decay], lr=1e-3)  # AdamW accepts the groups as they are


def test_parameter_groups_tied_and_frozen_parameters():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10), nn.Linear(4, 4))
    model[1].weight = model[0].weight  # tied input and output embeddings
    model[2].weight.requires_grad_(False)
    decay, no_decay = parameter_groups(model, 0.1)
    assert decay["param_names"] == []
    assert no_decay["param_names"] == ["0.weight", "1.bias", "2.bias"]


@pytest.mark.parametrize(("warmup", "total", "min_ratio"), [(4, 12, 0.0), (10, 110, 0.1), (0, 8, 0.0)])
def test_schedule_at_key_steps(warmup, total, min_ratio):
    base = 0.5
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base)
    scheduler = warmup_cosine_schedule(optimizer, warmup, total, min_ratio)
    lrs = []
    for _ in range(total + 3):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    if warmup:
        assert lrs[0] == pytest.approx(base / warmup)  # the first step already moves
        assert lrs[warmup - 1] == pytest.approx(base)  # warm-up ends at the full rate
        assert all(a < b for a, b in itertools.pairwise(lrs[:warmup]))
    assert lrs[warmup] == pytest.approx(base)
    middle = warmup + (total - warmup) // 2
    assert lrs[middle] == pytest.approx(base * (min_ratio + (1 - min_ratio) / 2))
    assert lrs[total] == pytest.approx(base * min_ratio, abs=1e-12)
    assert lrs[-1] == pytest.approx(base * min_ratio, abs=1e-12)  # stays at the floor
    assert all(a >= b - 1e-15 for a, b in itertools.pairwise(lrs[warmup:]))


def test_schedule_formula_between_key_steps():
    assert warmup_cosine_factor(7, 4, 12) == pytest.approx(0.5 * (1 + math.cos(math.pi * 3 / 8)))


def test_schedule_rejects_bad_arguments():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_cosine_schedule(optimizer, 10, 10)
    with pytest.raises(ValueError, match="min_lr_ratio"):
        warmup_cosine_schedule(optimizer, 1, 10, min_lr_ratio=1.5)


def test_train_step_reports_the_norm_before_clipping():
    model = tiny_classifier()
    batch = marker_batches(16, 16)[0]
    loss_fn = nn.CrossEntropyLoss()
    reference = tiny_classifier()
    loss_fn(reference(batch.token_ids, batch.padding_mask), batch.labels).backward()
    true_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in reference.parameters()])).item()

    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    scheduler = warmup_cosine_schedule(optimizer, 0, 10)
    limit = true_norm / 10
    stats = train_step(model, batch, optimizer, scheduler, loss_fn, max_grad_norm=limit)
    assert stats["grad_norm"] == pytest.approx(true_norm, rel=1e-5)
    clipped = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])).item()
    assert clipped == pytest.approx(limit, rel=1e-4)


def test_mixed_precision_on_cpu_warns_and_uses_float32():
    with pytest.warns(UserWarning, match="CUDA only"):
        assert autocast_dtype("fp16", torch.device("cpu")) is None
    assert autocast_dtype("fp32", torch.device("cpu")) is None
    with pytest.raises(ValueError, match="precision"):
        autocast_dtype("int8", torch.device("cpu"))


def run_fit(tmp_path=None, seed=0, dropout=0.0, **overrides):
    options = dict(epochs=3, lr=3e-3, warmup_ratio=0.1, patience=None, progress=False)
    options.update(overrides)
    model = tiny_classifier(seed=seed, dropout=dropout)  # seeds torch, so dropout is repeatable too
    train, dev = marker_batches(96, 16, seed=1), marker_batches(48, 16, seed=2)
    path = tmp_path / "best.pt" if tmp_path is not None else None
    result = fit(model, train, dev, TrainConfig(**options), checkpoint_path=path,
                 model_config=model.config.to_dict(), vocab=["w"] * 24)
    return model, result


def test_fit_history_checkpoint_and_best_weights(tmp_path):
    model, result = run_fit(tmp_path)
    history = result.history
    assert [h["epoch"] for h in history] == [1, 2, 3]
    expected = {"train_loss", "dev_loss", "dev_accuracy", "dev_macro_f1", "dev_ece", "lr", "grad_norm_mean",
                "grad_norm_max", "clipped_fraction", "time_s", "tokens_per_s", "steps", "best"}
    assert expected <= set(history[0])
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["lr"] < history[0]["lr"]  # the cosine decays
    assert all(h["tokens_per_s"] > 0 and h["grad_norm_max"] >= h["grad_norm_mean"] for h in history)
    # The best epoch's weights are in the checkpoint and back in the model.
    assert result.best_metric == max(h["dev_accuracy"] for h in history)
    saved = checkpoint_module.load_checkpoint(result.checkpoint)
    assert saved.extra["epoch"] == result.best_epoch
    assert all(torch.equal(saved.model_state[k], v) for k, v in model.state_dict().items())
    dev = marker_batches(48, 16, seed=2)
    assert evaluate(model, dev, torch.device("cpu"))["accuracy"] == result.best_metric


def test_same_seed_gives_identical_history():
    _, first = run_fit(seed=3, epochs=2, dropout=0.1)
    _, second = run_fit(seed=3, epochs=2, dropout=0.1)
    strip = [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in first.history]
    assert strip == [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in second.history]
    _, other = run_fit(seed=4, epochs=2, dropout=0.1)
    assert other.history[0]["train_loss"] != first.history[0]["train_loss"]


def test_early_stopping_when_the_dev_metric_stalls():
    # With a learning rate of 0 nothing changes, so epoch 1 stays best and patience 2 ends
    # training after epoch 3.
    _, result = run_fit(epochs=10, lr=0.0, patience=2)
    assert len(result.history) == 3 and result.stopped_early and result.best_epoch == 1
    assert [h["best"] for h in result.history] == [True, False, False]


def test_label_smoothing_raises_the_floor_of_the_loss():
    # Cross-entropy against smoothed targets cannot go below their entropy.
    smoothing = 0.2
    _, result = run_fit(epochs=10, lr=1e-2, label_smoothing=smoothing)
    floor = -(1 - smoothing / 2) * math.log(1 - smoothing / 2) - (smoothing / 2) * math.log(smoothing / 2)
    assert all(h["train_loss"] >= floor for h in result.history)
    _, plain = run_fit(epochs=10, lr=1e-2)
    assert plain.history[-1]["train_loss"] < floor  # without smoothing the loss goes lower


def test_progress_bar_shows_loss_and_learning_rate(capsys):
    run_fit(epochs=1, progress=True)
    err = capsys.readouterr().err
    assert "loss=" in err and "lr=" in err
    run_fit(epochs=1, progress=False)
    assert capsys.readouterr().err == ""


def test_fp16_request_on_cpu_trains_exactly_like_fp32():
    with pytest.warns(UserWarning, match="CUDA only"):
        _, half = run_fit(epochs=1, precision="fp16")
    _, full = run_fit(epochs=1)
    assert half.history[0]["train_loss"] == full.history[0]["train_loss"]
