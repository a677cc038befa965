"""Tools for when training goes wrong (chapter 6).

Four measurements that find most training bugs quickly:

* `overfit_one_batch`: a model, loss and optimizer that work can memorise one small batch.
  If the loss does not approach zero, the bug is in the code, not in the hyperparameters.
* `gradient_norms` and `update_to_weight_ratios`: the size of each parameter's gradient,
  and how far one optimizer step moves each parameter relative to its size. Updates of
  about ``1e-3`` of the weights per step are a common rule of thumb; much larger ratios mean
  the learning rate is too high for that layer, ratios near zero mean it barely learns.
* `attention_entropy_per_head`: how spread out each head's attention is. Heads that stay at
  the uniform entropy ``log(n)`` throughout training have learned nothing to attend to.
* `lr_range_test`: the learning-rate range test of Smith (2017). Raise the learning rate
  exponentially over a few hundred steps and watch the loss: it falls, bottoms out and then
  explodes; a good learning rate lies well below the explosion.
"""

from __future__ import annotations

# --8<-- [start:imports]
import copy
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from book_code.attention.heads import attention_entropy
from book_code.training.trainer import parameter_groups

# --8<-- [end:imports]


# --8<-- [start:overfit_one_batch]
def overfit_one_batch(
    model: nn.Module, batch, steps: int = 100, lr: float = 1e-3, device: torch.device | None = None
) -> list[float]:
    """Train ``model`` on one batch for ``steps`` steps; return the loss after each step.

    Uses AdamW without weight decay; the model is changed in place (pass a copy to keep the
    original). With dropout switched off, a working setup drives the loss close to 0.
    """
    device = device or next(model.parameters()).device
    batch = batch.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(batch.token_ids, batch.padding_mask), batch.labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
# --8<-- [end:overfit_one_batch]


# --8<-- [start:gradient_norms]
def gradient_norms(model: nn.Module) -> dict[str, float]:
    """The L2 norm of each parameter's gradient (after ``loss.backward()``), by name."""
    return {
        name: param.grad.norm().item() for name, param in model.named_parameters() if param.grad is not None
    }


def parameter_snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter, to compare with after an optimizer step."""
    return {name: param.detach().clone() for name, param in model.named_parameters()}


def update_to_weight_ratios(
    before: Mapping[str, torch.Tensor] | nn.Module, after: Mapping[str, torch.Tensor] | nn.Module
) -> dict[str, float]:
    """``||W_after - W_before|| / ||W_before||`` for every parameter, by name.

    ``before`` and ``after`` are models or `parameter_snapshot` dicts taken before and after
    one optimizer step. A parameter that is all zeros before the step (a bias at
    initialisation) gets ``inf`` if it moved and 0 if it did not.
    """
    def params(source):
        return parameter_snapshot(source) if isinstance(source, nn.Module) else source

    before, after = params(before), params(after)
    if before.keys() != after.keys():
        raise ValueError("before and after must hold the same parameter names")
    ratios = {}
    for name, old in before.items():
        change, size = (after[name] - old).norm().item(), old.norm().item()
        ratios[name] = change / size if size > 0 else (math.inf if change > 0 else 0.0)
    return ratios
# --8<-- [end:gradient_norms]


# --8<-- [start:attention_entropy_per_head]
@torch.no_grad()
def attention_entropy_per_head(
    model: nn.Module, token_ids: torch.Tensor, padding_mask: torch.Tensor, normalize: bool = False
) -> torch.Tensor:
    """Mean attention entropy (nats) of every head: shape ``(num_layers, num_heads)``.

    Averaged over the real query tokens of the batch (padding queries are left out). With
    ``normalize=True`` each row's entropy is divided by ``log`` of its number of real keys,
    so 1 means uniform attention and 0 attention to a single token; sequences with one real
    token are then left out. ``model`` must have ``forward_with_weights`` (as
    `TransformerClassifier` has), returning one ``(batch, heads, n, n)`` tensor per layer.
    """
    model.eval()
    _, weights = model.forward_with_weights(token_ids, padding_mask)
    entropy = torch.stack([attention_entropy(w.double()) for w in weights])  # (layers, batch, heads, n)
    queries = padding_mask[None, :, None, :].expand_as(entropy)
    if normalize:
        keys = padding_mask.sum(dim=1).double()  # real keys per sequence
        entropy = entropy / keys.log().clamp(min=1e-12)[None, :, None, None]
        queries = queries & (keys > 1)[None, :, None, None]
    weight = queries.double()
    return (entropy * weight).sum(dim=(1, 3)) / weight.sum(dim=(1, 3))
# --8<-- [end:attention_entropy_per_head]


# --8<-- [start:lr_range_test]
@dataclass
class LRRangeResult:
    """The learning rates tried, the smoothed losses, and the suggested learning rate."""

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float]
    lr_at_min_loss: float
    suggested_lr: float


def lr_range_test(
    model: nn.Module,
    loader: Iterable,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    num_steps: int = 100,
    weight_decay: float = 0.01,
    smoothing: float = 0.9,
    divergence_factor: float = 4.0,
    device: torch.device | None = None,
) -> LRRangeResult:
    """Smith's learning-rate range test, with AdamW.

    Step ``k`` of ``num_steps`` uses the learning rate
    ``min_lr * (max_lr / min_lr) ** (k / (num_steps - 1))``, an even spacing on a log scale
    (the loader is cycled if it is shorter). The loss is smoothed by an exponential moving
    average (with bias correction), and the test stops early once the smoothed loss exceeds
    ``divergence_factor`` times its minimum. The suggestion is a tenth of the learning rate
    at the minimum smoothed loss: at the minimum itself the loss is about to diverge.
    The model's weights are restored afterwards.
    """
    if not 0 < min_lr < max_lr or num_steps < 2:
        raise ValueError("need 0 < min_lr < max_lr and num_steps >= 2")
    device = device or next(model.parameters()).device
    saved = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.AdamW(parameter_groups(model, weight_decay), lr=min_lr)
    growth = (max_lr / min_lr) ** (1.0 / (num_steps - 1))
    lrs, losses, raw, average = [], [], [], 0.0
    model.train()
    batches = itertools.cycle(loader)
    try:
        for step in range(num_steps):
            lr = min_lr * growth**step
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = next(batches).to(device)
            loss = F.cross_entropy(model(batch.token_ids, batch.padding_mask), batch.labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            average = smoothing * average + (1 - smoothing) * loss.item()
            smoothed = average / (1 - smoothing ** (step + 1))
            lrs.append(lr)
            raw.append(loss.item())
            losses.append(smoothed)
            if not math.isfinite(smoothed) or smoothed > divergence_factor * min(losses):
                break
    finally:
        model.load_state_dict(saved)
    finite = [(loss, lr) for loss, lr in zip(losses, lrs, strict=True) if math.isfinite(loss)]
    best_lr = min(finite)[1]
    return LRRangeResult(lrs, losses, raw, best_lr, best_lr / 10)
# --8<-- [end:lr_range_test]
