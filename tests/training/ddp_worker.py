"""Train the tiny classifier with the book's loop; run by test_distributed.py.

``torchrun --nproc_per_node=2 -m tests.training.ddp_worker OUT 8`` trains two processes with 8
examples each per step; ``train_replica(OUT, 16)`` trains one process with 16. Each process
saves its final weights as ``OUT/rank<r>.pt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from book_code.data.batching import collate
from book_code.training.distributed import (
    cleanup_distributed,
    distributed_loader,
    setup_distributed,
    wrap_model,
)
from book_code.training.trainer import TrainConfig, fit
from tests.training.helpers import marker_batches, marker_examples, tiny_classifier

NUM_EXAMPLES = 64  # a multiple of the global batch: the sampler adds no repeated examples
EPOCHS = 3


def train_replica(out_dir: Path, batch_size: int) -> None:
    torch.set_num_threads(1)
    context = setup_distributed()
    try:
        model = wrap_model(tiny_classifier(seed=0, dropout=0.0), context)
        loader = distributed_loader(marker_examples(NUM_EXAMPLES), batch_size, context, collate, seed=0)
        dev = marker_batches(32, 16, seed=1)
        # Select by dev loss, which is continuous: no ties that rounding could break differently.
        config = TrainConfig(epochs=EPOCHS, lr=3e-3, patience=None, metric="loss", progress=False)
        fit(model, loader, dev, config, context.device)
        state = getattr(model, "module", model).state_dict()
        torch.save(state, Path(out_dir) / f"rank{context.rank}.pt")
    finally:
        cleanup_distributed()


if __name__ == "__main__":
    train_replica(Path(sys.argv[1]), int(sys.argv[2]))
