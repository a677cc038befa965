"""The training loop for a text classifier (chapter 6).

Readable in one sitting, top to bottom: choose a device, split the parameters into the
groups that get weight decay and those that do not, build AdamW and a warm-up + cosine
learning-rate schedule, take clipped gradient steps (optionally in mixed precision),
evaluate on the dev set after every epoch, keep the best checkpoint and stop early when
the dev metric stops improving. `fit` returns the history as data (one dict per epoch);
nothing is printed except the optional tqdm progress bar.

Batches are the book's `Batch` objects (``book_code.data``): anything with ``token_ids``,
``padding_mask`` (``True`` at real tokens), ``labels`` and ``.to(device)`` works.
"""

from __future__ import annotations

# --8<-- [start:imports]
import math
import random
import time
import warnings
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from tqdm import tqdm

from book_code.training.checkpoint import save_checkpoint
from book_code.training.distributed import is_main_process, sum_across_processes
from book_code.training.metrics import classification_metrics

# --8<-- [end:imports]


# --8<-- [start:device]
def select_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple's MPS, then the CPU; other names are checked.

    >>> select_device("cpu")
    device(type='cpu')
    """
    mps_available = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_available else torch.device("cpu")
    device = torch.device(name)  # raises on names PyTorch does not know
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested, but PyTorch sees no CUDA GPU; use 'auto' or 'cpu'")
    if device.type == "mps" and not mps_available:
        raise RuntimeError(f"device {name!r} requested, but MPS is not available; use 'auto' or 'cpu'")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'mps'; got {name!r}")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- seeds the legacy global generator that libraries use
    torch.manual_seed(seed)
# --8<-- [end:device]


# --8<-- [start:parameter_groups]
NO_DECAY_MODULES = (nn.Embedding, nn.LayerNorm, nn.RMSNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW parameter groups: matrices that decay, and everything else at decay 0.

    Weight decay pulls weights towards zero. That regularises the weight matrices of linear
    maps, but biases and the gains and shifts of normalisation layers set offsets and
    scales, where zero is no better a value than any other; and an embedding row is only
    updated (and decayed) when its token appears, so decay would shrink rare tokens most.
    Each group lists its ``param_names``, so it can be inspected.
    """
    decay, no_decay = {"params": [], "param_names": []}, {"params": [], "param_names": []}
    seen = set()  # a shared (tied) parameter belongs to one group only
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            group = no_decay if isinstance(module, NO_DECAY_MODULES) or param.ndim < 2 else decay
            group["params"].append(param)
            group["param_names"].append(f"{module_name}.{name}" if module_name else name)
    return [{**decay, "weight_decay": weight_decay}, {**no_decay, "weight_decay": 0.0}]
# --8<-- [end:parameter_groups]


# --8<-- [start:schedule]
def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0) -> float:
    """The learning-rate multiplier at optimizer step ``step`` (counted from 0).

    Linear warm-up: ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps, so
    the first step already moves and step ``warmup_steps - 1`` reaches the full rate. Then a
    half cosine from 1 at ``step = warmup_steps`` down to ``min_lr_ratio`` at
    ``step = total_steps``, where it stays.

    Examples:
        >>> [round(warmup_cosine_factor(s, 4, 12), 4) for s in (0, 3, 4, 8, 12, 20)]
        [0.25, 1.0, 1.0, 0.5, 0.0, 0.0]
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine_schedule(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0
) -> LambdaLR:
    """A `LambdaLR` that multiplies every group's learning rate by `warmup_cosine_factor`.

    Call ``scheduler.step()`` after every ``optimizer.step()``. Warm-up keeps the first
    updates small while Adam's second-moment estimates are still noisy, which post-LN
    Transformers in particular need (Xiong et al., 2020); the cosine decay ends training
    with small steps that settle into a minimum.
    """
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(
            f"need 0 <= warmup_steps < total_steps; got {warmup_steps} and {total_steps}"
        )
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(f"min_lr_ratio must lie in [0, 1]; got {min_lr_ratio}")
    def factor(step: int) -> float:
        return warmup_cosine_factor(step, warmup_steps, total_steps, min_lr_ratio)

    return LambdaLR(optimizer, factor)
# --8<-- [end:schedule]


# --8<-- [start:precision]
AUTOCAST_DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype for `torch.autocast`, or ``None`` for plain float32.

    Mixed precision runs matrix multiplies in 16 bits on CUDA GPUs, whose tensor cores make
    them several times faster (Micikevicius et al., 2018). On other devices the request is
    ignored with a warning, so a configuration written for a GPU still runs on a laptop.
    """
    if precision not in AUTOCAST_DTYPES:
        raise ValueError(f"precision must be one of {sorted(AUTOCAST_DTYPES)}; got {precision!r}")
    if precision != "fp32" and device.type != "cuda":
        warnings.warn(
            f"precision={precision!r} mixed precision is used on CUDA only; training on {device.type} "
            "in float32",
            stacklevel=2,
        )
        return None
    return AUTOCAST_DTYPES[precision]
# --8<-- [end:precision]


# --8<-- [start:train_step]
def train_step(
    model: nn.Module,
    batch: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    loss_fn: nn.Module,
    max_grad_norm: float | None = 1.0,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, float]:
    """One optimizer step on one batch; returns the loss, the pre-clip gradient norm and the
    learning rate used.

    With float16, the `GradScaler` multiplies the loss before the backward pass so that small
    gradients do not underflow to zero, and divides the gradients back (``unscale_``) before
    they are clipped: the clipping threshold refers to the true gradients.
    """
    model.train()
    device_type = batch.token_ids.device.type
    autocast = torch.autocast(device_type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
    with autocast:
        logits = model(batch.token_ids, batch.padding_mask)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # the loss in >= 32 bits
    loss = loss_fn(logits, batch.labels)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the training loss is {loss.item()}; try a lower learning rate")
    optimizer.zero_grad(set_to_none=True)
    scaler = scaler or torch.amp.GradScaler(device_type, enabled=False)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    # clip_grad_norm_ returns the norm BEFORE clipping: the number worth watching.
    limit = max_grad_norm if max_grad_norm is not None else math.inf
    grad_norm = nn.utils.clip_grad_norm_(model.parameters(), limit)
    lr = optimizer.param_groups[0]["lr"]
    scaler.step(optimizer)  # skips the step if float16 gradients overflowed
    scaler.update()
    scheduler.step()
    return {"loss": loss.item(), "grad_norm": grad_norm.item(), "lr": lr}
# --8<-- [end:train_step]


# --8<-- [start:train_epoch]
def train_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    loss_fn: nn.Module,
    device: torch.device,
    max_grad_norm: float | None = 1.0,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    progress: bool = True,
    description: str = "train",
) -> dict[str, float]:
    """Train on every batch of ``loader`` once; return the epoch's statistics.

    Statistics: mean training loss, mean and maximum pre-clip gradient norm, the fraction of
    steps that were clipped, the last learning rate, seconds and real (non-padding) tokens
    per second. In a process group the loss and the tokens are summed over processes.
    """
    losses, norms, tokens, lr = [], [], 0, float("nan")
    start = time.perf_counter()
    bar = tqdm(loader, desc=description, disable=not (progress and is_main_process()), leave=False)
    for batch in bar:
        batch = batch.to(device)
        step = train_step(model, batch, optimizer, scheduler, loss_fn, max_grad_norm, amp_dtype, scaler)
        losses.append(step["loss"])
        norms.append(step["grad_norm"])
        tokens += int(batch.padding_mask.sum())
        lr = step["lr"]
        bar.set_postfix(loss=f"{step['loss']:.4f}", lr=f"{lr:.2e}")
    seconds = time.perf_counter() - start
    if not losses:
        raise ValueError("the training loader produced no batches")
    loss_sum, count, tokens = sum_across_processes([sum(losses), len(losses), tokens], device)
    limit = max_grad_norm if max_grad_norm is not None else math.inf
    finite = [n for n in norms if math.isfinite(n)]  # a float16 overflow is a skipped step
    return {
        "train_loss": loss_sum / count,
        "grad_norm_mean": float(np.mean(finite)) if finite else None,
        "grad_norm_max": float(np.max(finite)) if finite else None,
        "clipped_fraction": float(np.mean([n > limit for n in finite])) if finite else None,
        "overflow_steps": len(norms) - len(finite),
        "lr": lr,
        "steps": len(losses),
        "time_s": seconds,
        "tokens_per_s": tokens / seconds,
    }
# --8<-- [end:train_epoch]


# --8<-- [start:evaluate]
@torch.no_grad()
def predict(
    model: nn.Module, loader: Iterable, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """Logits ``(n, num_classes)`` (at least float32, on the CPU), labels and the ``meta`` of
    every example (empty dicts where the batches have none)."""
    model.eval()
    logits, labels, meta = [], [], []
    for batch in loader:
        batch = batch.to(device)
        output = model(batch.token_ids, batch.padding_mask)
        logits.append(output.to(torch.promote_types(output.dtype, torch.float32)).cpu())
        labels.append(batch.labels.cpu())
        meta.extend(getattr(batch, "meta", None) or [{}] * len(batch.labels))
    return torch.cat(logits), torch.cat(labels), meta


def evaluate(model: nn.Module, loader: Iterable, device: torch.device) -> dict[str, Any]:
    """Cross-entropy loss, accuracy, macro F1, ECE and the confusion matrix on ``loader``."""
    logits, labels, _ = predict(model, loader, device)
    loss = nn.functional.cross_entropy(logits, labels).item()  # no label smoothing: the true NLL
    return {"loss": loss, **classification_metrics(logits, labels)}
# --8<-- [end:evaluate]


# --8<-- [start:config]
HIGHER_IS_BETTER = {"accuracy": True, "macro_f1": True, "loss": False, "ece": False}


@dataclass
class TrainConfig:
    """The hyperparameters of `fit`.

    ``warmup_ratio`` is the fraction of all steps spent warming up; ``patience`` is the
    number of epochs without a better dev ``metric`` after which training stops (``None``:
    never stop early); ``precision`` is ``"fp32"``, ``"fp16"`` or ``"bf16"``.
    """

    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    min_lr_ratio: float = 0.0
    max_grad_norm: float | None = 1.0
    label_smoothing: float = 0.0
    patience: int | None = 3
    metric: str = "accuracy"
    precision: str = "fp32"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.metric not in HIGHER_IS_BETTER:
            raise ValueError(f"metric must be one of {sorted(HIGHER_IS_BETTER)}; got {self.metric!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer; got {self.epochs}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must lie in [0, 1); got {self.warmup_ratio}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1); got {self.label_smoothing}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be a positive integer or None; got {self.patience}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """What `fit` returns: the per-epoch ``history``, the best epoch and its dev metric."""

    history: list[dict[str, Any]]
    best_epoch: int
    best_metric: float
    stopped_early: bool
    checkpoint: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
# --8<-- [end:config]


# --8<-- [start:fit]
def fit(
    model: nn.Module,
    train_loader: Iterable,
    dev_loader: Iterable,
    config: TrainConfig,
    device: torch.device | None = None,
    checkpoint_path: str | Path | None = None,
    model_config: Mapping[str, Any] | None = None,
    vocab: list[str] | None = None,
) -> TrainResult:
    """Train ``model``, evaluate on ``dev_loader`` every epoch, keep the best weights.

    After training the model holds the weights of the best epoch. If ``checkpoint_path``
    is given, the best weights are also saved there, with ``model_config`` and ``vocab``,
    every time the dev metric improves (by rank 0 only, in a process group).
    """
    device = device or next(model.parameters()).device
    amp_dtype = autocast_dtype(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    optimizer = torch.optim.AdamW(parameter_groups(model, config.weight_decay), lr=config.lr)
    total_steps = config.epochs * len(train_loader)
    warmup_steps = round(config.warmup_ratio * total_steps)
    scheduler = warmup_cosine_schedule(optimizer, warmup_steps, total_steps, config.min_lr_ratio)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    sign = 1.0 if HIGHER_IS_BETTER[config.metric] else -1.0
    unwrapped = getattr(model, "module", model)  # the model inside a DDP wrapper

    history, best_state, best_epoch, best_score, bad_epochs = [], None, 0, -math.inf, 0
    for epoch in range(1, config.epochs + 1):
        for sampler in (getattr(train_loader, "sampler", None), getattr(train_loader, "batch_sampler", None)):
            if hasattr(sampler, "set_epoch"):  # DistributedSampler, BucketBatchSampler
                sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        train = train_epoch(
            model, train_loader, optimizer, scheduler, loss_fn, device, config.max_grad_norm,
            amp_dtype, scaler, config.progress, description=f"epoch {epoch}/{config.epochs}",
        )
        dev = evaluate(unwrapped, dev_loader, device)  # every rank sees all of dev: same decisions
        improved = sign * dev[config.metric] > best_score
        dev_scalars = {f"dev_{name}": value for name, value in dev.items() if name != "confusion_matrix"}
        history.append({"epoch": epoch, **train, **dev_scalars, "best": improved})
        if improved:
            best_score, best_epoch, bad_epochs = sign * dev[config.metric], epoch, 0
            best_state = {k: v.detach().clone() for k, v in unwrapped.state_dict().items()}
            if checkpoint_path is not None and is_main_process():
                extra = {"epoch": epoch, "dev": dev, "train_config": config.to_dict()}
                save_checkpoint(checkpoint_path, unwrapped, model_config or {}, vocab or [], extra)
        else:
            bad_epochs += 1
        if config.patience is not None and bad_epochs >= config.patience:
            break
    if best_state is not None:  # None only if the dev metric was never a number
        unwrapped.load_state_dict(best_state)
    stopped_early = len(history) < config.epochs
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    return TrainResult(history, best_epoch, sign * best_score, stopped_early, path, config.to_dict())
# --8<-- [end:fit]
