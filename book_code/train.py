"""Train the chapter 6 text classifier from the command line.

    python -m book_code.train --task synthetic --output runs/synthetic
    python -m book_code.train --config my_config.json --epochs 3 --output runs/short
    torchrun --nproc_per_node=2 -m book_code.train --output runs/ddp

Every field of `RunConfig` is a command-line flag (``n_train`` is ``--n-train``) and a key of
the optional JSON ``--config`` file; flags given on the command line override the file. The
run writes, atomically, to ``--output DIR``:

* ``checkpoint.pt``: the best weights (by the dev metric), the model configuration and the
  vocabulary; read it back with `book_code.training.load_classifier`;
* ``metrics.json``: the configuration, the per-epoch history, and dev and test metrics
  (overall and per phenomenon of the synthetic task).

Under ``torchrun`` the same command trains with `DistributedDataParallel`; ``--batch-size``
is then the batch of each process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from book_code.data.batching import TextClassificationDataset, collate, make_dataloader
from book_code.data.synthetic import make_synthetic_sentiment
from book_code.data.vocab import Vocabulary
from book_code.encoder import ClassifierConfig, TransformerClassifier, count_parameters
from book_code.training.checkpoint import write_json
from book_code.training.distributed import (
    cleanup_distributed,
    distributed_loader,
    setup_distributed,
    wrap_model,
)
from book_code.training.metrics import accuracy_by_group, classification_metrics
from book_code.training.trainer import TrainConfig, fit, predict, seed_everything, select_device

TASKS = ("synthetic",)
MODEL_FIELDS = ("embed_dim", "num_heads", "num_layers", "ff_dim", "max_len", "positional", "pooling",
                "dropout", "norm_first", "activation")
TRAIN_FIELDS = tuple(f.name for f in fields(TrainConfig))


@dataclass
class RunConfig:
    """Everything a training run needs: task, model, optimisation and bookkeeping."""

    # the task
    task: str = "synthetic"
    n_train: int = 4000
    n_dev: int = 1000
    n_test: int = 1000
    data_seed: int = 0
    min_freq: int = 1
    # the model (ClassifierConfig; vocab_size, num_classes and pad_id come from the data)
    embed_dim: int = 64
    num_heads: int = 4
    num_layers: int = 2
    ff_dim: int = 128
    max_len: int = 64
    positional: str = "rope"
    pooling: str = "cls"
    dropout: float = 0.1
    norm_first: bool = True
    activation: str = "gelu"
    # optimisation (TrainConfig)
    epochs: int = 8
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    min_lr_ratio: float = 0.0
    max_grad_norm: float | None = 1.0
    label_smoothing: float = 0.0
    patience: int | None = 3
    metric: str = "accuracy"
    precision: str = "fp32"
    batch_size: int = 32
    bucket: bool = True
    # bookkeeping
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}; got {self.task!r}")
        # Check the model and training values now, before any data is generated.
        ClassifierConfig(vocab_size=8, num_classes=2, **{name: getattr(self, name) for name in MODEL_FIELDS})
        TrainConfig(**{name: getattr(self, name) for name in TRAIN_FIELDS})
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {self.batch_size}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown configuration keys: {sorted(unknown)}")
        return cls(**data)


HELP = {
    "task": "which task to train on",
    "n_train": "training sentences of the synthetic task",
    "n_dev": "dev sentences (model selection, early stopping)",
    "n_test": "test sentences (reported once, at the end)",
    "data_seed": "seed of the synthetic task's generator",
    "min_freq": "keep tokens seen at least this often in training",
    "ff_dim": "feed-forward width",
    "max_len": "longest sequence the position embedding covers ([CLS] included)",
    "max_grad_norm": "clip the gradient norm to this (a negative value: no clipping)",
    "patience": "stop after this many epochs without a better dev metric (0: never stop early)",
    "metric": "dev metric for model selection: accuracy, macro_f1, loss or ece",
    "precision": "fp32, or fp16/bf16 mixed precision (CUDA only)",
    "batch_size": "examples per batch (per process under torchrun)",
    "bucket": "batch sentences of similar length together",
    "device": "auto, cpu, cuda or mps",
    "threads": "CPU threads for PyTorch (default: PyTorch's choice)",
    "progress": "show a progress bar",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m book_code.train",
        description="Train a Transformer text classifier (chapter 6) and write its checkpoint and metrics.",
    )
    parser.add_argument("--config", type=Path, help="JSON file of configuration keys (flags override it)")
    parser.add_argument(
        "--output", type=Path, required=True, help="directory for checkpoint.pt and metrics.json"
    )
    defaults, hints = RunConfig(), typing.get_type_hints(RunConfig)
    for f in fields(RunConfig):
        default = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        text = f"{HELP.get(f.name, f.name.replace('_', ' '))} (default: {default})"
        kind = hints[f.name]  # int | None -> int
        kind = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            choices = TASKS if f.name == "task" else None
            parser.add_argument(flag, type=kind, default=None, choices=choices, help=text)
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The JSON file's values, then the flags given on the command line."""
    values: dict[str, Any] = {}
    if args.config is not None:
        values.update(json.loads(args.config.read_text()))
    given = {f.name: getattr(args, f.name) for f in fields(RunConfig)}
    values.update({name: value for name, value in given.items() if value is not None})
    if values.get("max_grad_norm") is not None and values["max_grad_norm"] < 0:
        values["max_grad_norm"] = None
    if values.get("patience") == 0:
        values["patience"] = None
    return RunConfig.from_dict(values)


def synthetic_datasets(config: RunConfig) -> tuple[Vocabulary, dict[str, TextClassificationDataset]]:
    """The synthetic task's splits, encoded with a vocabulary built from the training split."""
    task = make_synthetic_sentiment(config.n_train, config.n_dev, config.n_test, seed=config.data_seed)
    vocab = Vocabulary.build([example.text for example in task.train], min_freq=config.min_freq)
    datasets = {
        split: TextClassificationDataset(
            [e.text for e in task[split]], [e.label for e in task[split]], vocab, add_cls=True,
            max_len=config.max_len, meta=[{"phenomenon": e.phenomenon} for e in task[split]],
        )
        for split in ("train", "dev", "test")
    }
    return vocab, datasets


def evaluate_split(model: torch.nn.Module, loader, device: torch.device) -> dict[str, Any]:
    """Loss and classification metrics, plus accuracy per phenomenon."""
    logits, labels, meta = predict(model, loader, device)
    result = {"loss": torch.nn.functional.cross_entropy(logits, labels).item()}
    result.update(classification_metrics(logits, labels))
    groups = [m.get("phenomenon", "all") for m in meta]
    result["by_phenomenon"] = accuracy_by_group(logits.argmax(dim=-1), labels, groups)
    return result


def run(config: RunConfig, output: Path | None = None) -> dict[str, Any]:
    """Train as ``config`` says; write the checkpoint and metrics to ``output`` (if given).

    Returns the metrics dictionary that ``metrics.json`` holds.
    """
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    context = setup_distributed(None if config.device == "auto" else config.device)
    device = context.device if context.world_size > 1 else select_device(config.device)
    try:
        seed_everything(config.seed)
        vocab, datasets = synthetic_datasets(config)
        if config.bucket:
            train_loader = make_dataloader(
                datasets["train"], config.batch_size, shuffle=True, seed=config.seed, bucket=True,
                num_replicas=context.world_size, rank=context.rank,
            )
        else:  # the same global order for any number of processes (see distributed_loader)
            train_loader = distributed_loader(datasets["train"], config.batch_size, context, collate,
                                              seed=config.seed)
        dev_loader, test_loader = (make_dataloader(datasets[s], 256, shuffle=False) for s in ("dev", "test"))
        model = TransformerClassifier(
            vocab_size=len(vocab), num_classes=2, pad_id=vocab.pad_id,
            **{name: getattr(config, name) for name in MODEL_FIELDS},
        )
        model = wrap_model(model, context) if context.world_size > 1 else model.to(device)
        unwrapped = getattr(model, "module", model)
        train_config = TrainConfig(**{name: getattr(config, name) for name in TRAIN_FIELDS})
        train_config.progress = config.progress and context.is_main
        checkpoint = output / "checkpoint.pt" if output is not None else None
        start = time.perf_counter()
        result = fit(model, train_loader, dev_loader, train_config, device, checkpoint,
                     unwrapped.config.to_dict(), vocab.itos)
        train_seconds = time.perf_counter() - start
        metrics = {
            "config": asdict(config),
            "model_config": unwrapped.config.to_dict(),
            "parameters": count_parameters(unwrapped.config)["total"],
            "device": str(device),
            "world_size": context.world_size,
            "vocab_size": len(vocab),
            "train_seconds": train_seconds,
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "history": result.history,
            "dev": evaluate_split(unwrapped, dev_loader, device),
            "test": evaluate_split(unwrapped, test_loader, device),
        }
        if output is not None and context.is_main:
            write_json(output / "metrics.json", metrics)
        return metrics
    finally:
        cleanup_distributed()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except (ValueError, TypeError, json.JSONDecodeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    metrics = run(config, args.output)
    test = metrics["test"]
    if os.environ.get("RANK", "0") == "0":  # one summary line, from the main process
        print(
            f"best epoch {metrics['best_epoch']}: dev accuracy {metrics['dev']['accuracy']:.4f}, "
            f"test accuracy {test['accuracy']:.4f}; wrote {args.output}/checkpoint.pt and metrics.json",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
