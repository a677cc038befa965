"""Data-parallel training with ``torchrun`` and `DistributedDataParallel` (chapter 6).

Data parallelism runs one copy of the model per process. Each process reads a different
slice of every global batch (a `DistributedSampler` deals the examples out), computes
gradients on its slice, and DDP averages the gradients across processes during the
backward pass. Every process then takes the same optimizer step from the same weights, so
the copies stay identical, and one step equals a single-process step on the whole global
batch (up to the order of floating-point additions).

The training loop itself does not change: `setup_distributed` reads the environment that
``torchrun`` sets, `wrap_model` wraps the model, and `distributed_loader` gives each
process its share of the data. Launch, for example::

    torchrun --nproc_per_node=2 -m book_code.train --task synthetic --output runs/ddp

The backend is ``gloo`` on CPUs and ``nccl`` on CUDA GPUs. Without ``torchrun`` the same
code runs as one process (world size 1) and never touches ``torch.distributed``.
"""

from __future__ import annotations

# --8<-- [start:imports]
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

# --8<-- [end:imports]


# --8<-- [start:setup]
@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits: its ``rank`` among ``world_size`` processes and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None  # None when running as a single process

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes files and shows progress bars."""
        return self.rank == 0


def setup_distributed(device: str | torch.device | None = None) -> DistributedContext:
    """Join the process group described by ``torchrun``'s environment variables.

    ``torchrun`` starts one process per device and sets ``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``. Without them (a plain ``python``
    run) this returns a single-process context on ``device`` (default CPU).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistributedContext(0, 1, 0, torch.device(device or "cpu"), None)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    use_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
    if use_cuda:  # one GPU per process, chosen by the rank on this machine
        torch.cuda.set_device(local_rank)
        backend, process_device = "nccl", torch.device("cuda", local_rank)
    else:
        backend, process_device = "gloo", torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)  # reads MASTER_ADDR/PORT, RANK, WORLD_SIZE
    return DistributedContext(rank, world_size, local_rank, process_device, backend)


def cleanup_distributed() -> None:
    """Leave the process group (call once at the end of every process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
# --8<-- [end:setup]


# --8<-- [start:wrap]
def wrap_model(model: nn.Module, context: DistributedContext) -> nn.Module:
    """Move ``model`` to this process's device and, with several processes, wrap it in DDP.

    DDP broadcasts rank 0's weights to the other ranks on construction, so every copy starts
    identical even if the ranks initialised differently.
    """
    model = model.to(context.device)
    if context.world_size == 1:
        return model
    device_ids = [context.local_rank] if context.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def distributed_loader(
    dataset: Dataset,
    batch_size: int,
    context: DistributedContext,
    collate_fn: Callable | None = None,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A loader that gives this process ``batch_size`` examples of every global batch.

    The global batch is ``batch_size * world_size``. The sampler shuffles with
    ``seed + epoch`` (the training loop calls ``sampler.set_epoch``) and deals the permuted
    indices round-robin: rank ``r`` takes positions ``r, r + W, r + 2W, ...``. So the ``b``-th
    batches of all ranks together are exactly the positions ``b B W .. (b + 1) B W - 1`` of
    the permutation, the ``b``-th batch of one process using the same sampler with
    ``world_size=1`` and batch size ``B W``. Single- and multi-process runs see the same data.
    """
    sampler = DistributedSampler(
        dataset, num_replicas=context.world_size, rank=context.rank, shuffle=shuffle, seed=seed,
        drop_last=drop_last,
    )
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn)
# --8<-- [end:wrap]


# --8<-- [start:reduce]
def sum_across_processes(values: Sequence[float], device: torch.device | None = None) -> list[float]:
    """Add up ``values`` over all processes (identity in a single process).

    The training loop uses it to report the global mean loss and the global tokens/s.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return [float(v) for v in values]
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def is_main_process() -> bool:
    """True in a single process and on rank 0 of a process group."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
# --8<-- [end:reduce]
