"""From encoded sentences to padded batches: dataset, collate function and samplers.

Sentences have different lengths but a tensor is rectangular. `collate` pads every sequence of
a batch with ``[PAD]`` up to the longest one *in that batch* (dynamic padding) and returns a
`Batch` whose ``padding_mask`` is ``True`` at the real tokens, the book's mask convention.
Padding costs compute: a batch of one long and 63 short sentences is mostly padding.
`BucketBatchSampler` therefore puts sentences of similar length into the same batch, while
keeping enough randomness for stochastic gradient descent.

Three ways to iterate, all with ``collate_fn=collate``:

* plain: ``DataLoader(dataset, batch_size=64, shuffle=True, collate_fn=collate)``;
* bucketed: ``DataLoader(dataset, batch_sampler=BucketBatchSampler(dataset.lengths, 64),
  collate_fn=collate)``;
* distributed (one process per device): ``sampler=DistributedSampler(dataset)`` in the plain
  form, or ``BucketBatchSampler(..., num_replicas=world_size, rank=rank)``. Call
  ``set_epoch(epoch)`` on either sampler at the start of every epoch.

`make_dataloader` builds any of them.
"""

from __future__ import annotations

# --8<-- [start:imports]
import math
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from book_code.attention.masks import padding_mask
from book_code.data.vocab import Vocabulary

# --8<-- [end:imports]

__all__ = [
    "Batch",
    "BucketBatchSampler",
    "Example",
    "TextClassificationDataset",
    "collate",
    "make_dataloader",
]


# --8<-- [start:batch]
@dataclass
class Batch:
    """A padded batch: the format shared by the data pipeline and the trainer.

    Attributes:
        token_ids: ``(batch, seq_len)`` int64 ids, ``[PAD]`` after each sequence's end.
        padding_mask: ``(batch, seq_len)`` bool, ``True`` at real tokens.
        labels: ``(batch,)`` int64 class labels.
        meta: Optional per-example dictionaries (for example ``{"phenomenon": "negation"}``).
    """

    token_ids: torch.Tensor
    padding_mask: torch.Tensor
    labels: torch.Tensor
    meta: list[dict] | None = None

    def __len__(self) -> int:
        return self.token_ids.shape[0]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":  # noqa: UP037
        """The same batch with its tensors on ``device`` (``meta`` stays on the host)."""
        return Batch(
            self.token_ids.to(device, non_blocking=non_blocking),
            self.padding_mask.to(device, non_blocking=non_blocking),
            self.labels.to(device, non_blocking=non_blocking),
            self.meta,
        )
# --8<-- [end:batch]

    def pin_memory(self) -> Batch:
        """Page-locked copies of the tensors; ``DataLoader(pin_memory=True)`` calls this."""
        return Batch(self.token_ids.pin_memory(), self.padding_mask.pin_memory(),
                     self.labels.pin_memory(), self.meta)


# --8<-- [start:example]
@dataclass(frozen=True)
class Example:
    """One encoded example: its ids, its label and optional metadata."""

    token_ids: list[int]
    label: int
    meta: dict | None = None
# --8<-- [end:example]


# --8<-- [start:dataset]
class TextClassificationDataset(Dataset):
    """Texts encoded once, up front, with their labels.

    Args:
        texts: The sentences.
        labels: One integer class label per sentence.
        vocab: Maps tokens to ids (build it from the training texts only).
        add_cls: Put ``[CLS]`` first, for a classifier that pools position 0.
        max_len: Truncate each sequence to at most this many ids (``[CLS]`` included).
        meta: Optional dictionary per sentence, handed through to `Batch.meta`.

    Raises:
        ValueError: If the lengths disagree, a label is not an integer, or a sentence encodes
            to no token at all.

    >>> dataset = TextClassificationDataset(["a good movie", "bad"], [1, 0], Vocabulary(["good"]))
    >>> dataset[0]
    Example(token_ids=[2, 1, 4, 1], label=1, meta=None)
    >>> dataset.lengths
    [4, 2]
    """

    def __init__(
        self,
        texts: Sequence[str],
        labels: Sequence[int],
        vocab: Vocabulary,
        add_cls: bool = True,
        max_len: int | None = None,
        meta: Sequence[dict] | None = None,
    ) -> None:
        if len(texts) != len(labels):
            raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
        if meta is not None and len(meta) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(meta)} meta entries")
        self.vocab = vocab
        self.examples: list[Example] = []
        for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
            try:
                label = operator.index(label)  # int, NumPy or tensor integer; not a float
            except TypeError:
                raise ValueError(f"labels must be integers; label {i} is {label!r}") from None
            ids = vocab.encode(text, add_cls=add_cls, max_len=max_len)
            if not ids:
                raise ValueError(f"text {i} ({text!r}) has no tokens; drop it or use add_cls=True")
            self.examples.append(Example(ids, label, None if meta is None else meta[i]))
        self.lengths: list[int] = [len(e.token_ids) for e in self.examples]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]
# --8<-- [end:dataset]


# --8<-- [start:collate]
def collate(examples: Sequence[Example], pad_id: int = 0) -> Batch:
    """Pad a list of examples to the longest one and stack them into a `Batch`.

    Args:
        examples: Encoded examples, such as `TextClassificationDataset` items.
        pad_id: The ``[PAD]`` id written after each sequence's end.

    Returns:
        The batch; its ``padding_mask`` is ``True`` at real tokens.

    >>> batch = collate([Example([2, 7, 9], 1), Example([2, 5], 0)])
    >>> batch.token_ids
    tensor([[2, 7, 9],
            [2, 5, 0]])
    >>> batch.padding_mask
    tensor([[ True,  True,  True],
            [ True,  True, False]])
    """
    if len(examples) == 0:
        raise ValueError("cannot collate an empty list of examples")
    lengths = torch.tensor([len(e.token_ids) for e in examples])
    token_ids = torch.full((len(examples), int(lengths.max())), pad_id, dtype=torch.long)
    for row, example in enumerate(examples):
        token_ids[row, : len(example.token_ids)] = torch.tensor(example.token_ids)
    labels = torch.tensor([e.label for e in examples], dtype=torch.long)
    meta = None if all(e.meta is None for e in examples) else [e.meta or {} for e in examples]
    return Batch(token_ids, padding_mask(lengths), labels, meta)
# --8<-- [end:collate]


# --8<-- [start:bucket_sampler]
class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar length: shuffle, sort within large chunks, cut, shuffle the batches.

    Each epoch the indices are shuffled and cut into chunks of ``batch_size * chunk_batches``;
    each chunk is sorted by length and cut into batches, so a batch holds sentences of similar
    length; finally the order of the batches is shuffled. ``set_epoch`` changes the shuffle.

    Args:
        lengths: The length of every example (``dataset.lengths``).
        batch_size: Examples per batch.
        shuffle: Shuffle (seeded by ``seed`` and the epoch); otherwise a fixed order.
        seed: Seed of the shuffle; every process of a distributed run must use the same.
        drop_last: Drop the one incomplete batch (and, when distributed, the batches that
            do not divide evenly among the processes) instead of keeping (repeating) them.
        chunk_batches: How many batches' worth of examples are sorted together.
        num_replicas: Number of processes sharing the data; each gets every
            ``num_replicas``-th batch, all get the same number of batches.
        rank: This process's index in ``range(num_replicas)``.

    >>> sampler = BucketBatchSampler([5, 1, 4, 2, 3, 1], batch_size=2, shuffle=False)
    >>> list(sampler)
    [[1, 5], [3, 4], [2, 0]]
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        chunk_batches: int = 50,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        for name, value in (("batch_size", batch_size), ("chunk_batches", chunk_batches),
                            ("num_replicas", num_replicas)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must lie in [0, num_replicas={num_replicas}); got {rank}")
        self.lengths = list(lengths)
        self.batch_size, self.chunk_batches = batch_size, chunk_batches
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the shuffle of ``epoch`` (call at the start of every epoch)."""
        self.epoch = epoch

    def _all_batches(self) -> list[list[int]]:
        """The batches of all processes, identical on each (same seed and epoch)."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        n = len(self.lengths)
        order = torch.randperm(n, generator=generator).tolist() if self.shuffle else list(range(n))
        chunk = self.batch_size * self.chunk_batches
        batches = []
        for start in range(0, n, chunk):
            # sorted() is stable: equal lengths keep their (shuffled) order.
            by_length = sorted(order[start : start + chunk], key=self.lengths.__getitem__)
            batches += [by_length[i : i + self.batch_size] for i in range(0, len(by_length), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all_batches()
        if self.num_replicas > 1:  # same number of batches on every process
            if self.drop_last:
                batches = batches[: len(batches) - len(batches) % self.num_replicas]
            elif batches:  # repeat batches from the start, as DistributedSampler does
                batches += [batches[i % len(batches)] for i in range((-len(batches)) % self.num_replicas)]
            batches = batches[self.rank :: self.num_replicas]
        return iter(batches)

    def __len__(self) -> int:
        n = len(self.lengths)
        total = n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        if self.num_replicas == 1:
            return total
        return total // self.num_replicas if self.drop_last else math.ceil(total / self.num_replicas)
# --8<-- [end:bucket_sampler]


def make_dataloader(
    dataset: TextClassificationDataset,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    bucket: bool | None = None,
    drop_last: bool = False,
    num_replicas: int = 1,
    rank: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A `DataLoader` of `Batch` objects over ``dataset``, bucketed or plain, optionally sharded.

    Args:
        dataset: The encoded examples.
        batch_size: Examples per batch (per process when distributed).
        shuffle: Shuffle each epoch (seeded); evaluation loaders pass ``False``.
        seed: Seed of the shuffle.
        bucket: Group similar lengths with `BucketBatchSampler`; otherwise batches are drawn
            in random (or dataset) order. By default, training loaders (``shuffle=True``) bucket
            and evaluation loaders (``shuffle=False``) keep the dataset's order, so that
            predictions line up with the examples.
        drop_last: Drop incomplete batches.
        num_replicas: Number of processes; above 1, each gets a disjoint share of the data.
        rank: This process's index.
        num_workers: Worker processes of the loader.
        pin_memory: Page-locked batches, for faster copies to a GPU.

    Returns:
        The loader. When bucketed, its ``batch_sampler`` has ``set_epoch``; when plain and
        distributed, its ``sampler`` has it: call it at the start of every epoch. A plain,
        single-process loader draws a new (seeded) order each epoch by itself.

    >>> loader = make_dataloader(TextClassificationDataset(["a", "b c"], [0, 1], Vocabulary(["a"])), 2)
    >>> next(iter(loader)).token_ids.shape
    torch.Size([2, 3])
    """
    bucket = shuffle if bucket is None else bucket
    # The vocabulary always puts [PAD] at id 0, collate's default.
    common = {"collate_fn": collate, "num_workers": num_workers, "pin_memory": pin_memory}
    if bucket:
        sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=shuffle, seed=seed,
                                     drop_last=drop_last, num_replicas=num_replicas, rank=rank)
        return DataLoader(dataset, batch_sampler=sampler, **common)
    if num_replicas > 1:
        distributed = DistributedSampler(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle,
                                         seed=seed, drop_last=drop_last)
        return DataLoader(dataset, batch_size=batch_size, sampler=distributed, drop_last=drop_last, **common)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      drop_last=drop_last, **common)
