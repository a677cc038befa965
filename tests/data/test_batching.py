"""Dataset, dynamic padding, bucketing and the samplers a (distributed) trainer uses."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from book_code.attention.masks import padding_mask
from book_code.data.batching import (
    Batch,
    BucketBatchSampler,
    Example,
    TextClassificationDataset,
    collate,
    make_dataloader,
)
from book_code.data.synthetic import columns, make_synthetic_sentiment
from book_code.data.vocab import Vocabulary
from book_code.encoder import TransformerClassifier


@pytest.fixture(scope="module")
def task():
    """A small synthetic dataset with very different sentence lengths."""
    splits = make_synthetic_sentiment(n_train=400, n_dev=0, n_test=0, seed=3)
    texts, labels, phenomena = columns(splits.train)
    vocab = Vocabulary.build(texts)
    return TextClassificationDataset(texts, labels, vocab, meta=[{"phenomenon": p} for p in phenomena])


# --- dataset ---------------------------------------------------------------------------------


def test_dataset_encodes_with_cls_first(task):
    vocab = task.vocab
    assert len(task) == 400
    for example in task.examples[:20]:
        assert example.token_ids[0] == vocab.cls_id
        assert vocab.pad_id not in example.token_ids and vocab.unk_id not in example.token_ids
    assert task.lengths == [len(e.token_ids) for e in task.examples]
    assert task[0].meta["phenomenon"] in {"plain", "intensifier", "negation", "contrast"}


def test_dataset_options():
    vocab = Vocabulary(["a", "b"])
    labels = [np.int64(1), torch.tensor(0)]
    dataset = TextClassificationDataset(["a b a b", "b"], labels, vocab, add_cls=False, max_len=3)
    assert [e.token_ids for e in dataset] == [[4, 5, 4], [5]]
    assert [e.label for e in dataset] == [1, 0] and all(type(e.label) is int for e in dataset)


@pytest.mark.parametrize(
    ("texts", "labels", "kwargs", "message"),
    [
        (["a", "b"], [1], {}, "got 2 texts but 1 labels"),
        (["a"], [1], {"meta": [{}, {}]}, "got 1 texts but 2 meta entries"),
        (["a"], [0.5], {}, "labels must be integers; label 0 is 0.5"),
        (["a"], ["1"], {}, "labels must be integers"),
        (["a", "  "], [1, 0], {"add_cls": False}, "text 1 .* has no tokens"),
    ],
)
def test_dataset_errors(texts, labels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextClassificationDataset(texts, labels, Vocabulary(["a"]), **kwargs)


# --- collate ---------------------------------------------------------------------------------


def test_collate_pads_to_the_longest_in_the_batch():
    examples = [Example([2, 5, 6, 7], 1, {"i": 0}), Example([2], 0, {"i": 1}), Example([2, 9], 1, {"i": 2})]
    batch = collate(examples)
    assert batch.token_ids.dtype == torch.long and batch.labels.dtype == torch.long
    assert batch.padding_mask.dtype == torch.bool
    assert batch.token_ids.tolist() == [[2, 5, 6, 7], [2, 0, 0, 0], [2, 9, 0, 0]]
    assert torch.equal(batch.padding_mask, padding_mask(torch.tensor([4, 1, 2])))
    assert batch.labels.tolist() == [1, 0, 1]
    assert batch.meta == [{"i": 0}, {"i": 1}, {"i": 2}] and len(batch) == 3


def test_collate_pad_id_and_missing_meta():
    batch = collate([Example([5, 5], 1), Example([5], 0, {"tag": "x"})], pad_id=9)
    assert batch.token_ids.tolist() == [[5, 5], [5, 9]]
    assert batch.meta == [{}, {"tag": "x"}]
    assert collate([Example([5], 1)]).meta is None


def test_collate_rejects_an_empty_batch():
    with pytest.raises(ValueError, match="empty"):
        collate([])


def test_batch_to_keeps_everything():
    batch = collate([Example([2, 3], 1, {"k": 1})])
    moved = batch.to("cpu")
    assert isinstance(moved, Batch) and moved.meta == [{"k": 1}]
    for name in ("token_ids", "padding_mask", "labels"):
        assert torch.equal(getattr(moved, name), getattr(batch, name))


def test_batch_matches_the_classifier_and_padding_changes_nothing(task):
    """The batch format is what TransformerClassifier takes, and in eval mode an example's
    logits do not depend on how much padding its batch adds."""
    torch.manual_seed(0)
    model = TransformerClassifier(vocab_size=len(task.vocab), num_classes=2, embed_dim=16, num_heads=2,
                                  num_layers=1, ff_dim=32, max_len=64, pooling="cls").eval()
    short = min(range(len(task)), key=task.lengths.__getitem__)
    long = max(range(len(task)), key=task.lengths.__getitem__)
    batch = collate([task[short], task[long]])
    assert batch.token_ids.shape == (2, task.lengths[long]) and not batch.padding_mask[0].all()
    with torch.no_grad():
        together = model(batch.token_ids, batch.padding_mask)
        alone = collate([task[short]])
        alone_logits = model(alone.token_ids, alone.padding_mask)
    assert together.shape == (2, 2)
    torch.testing.assert_close(together[0], alone_logits[0], atol=1e-5, rtol=1e-5)


# --- BucketBatchSampler ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 7, 64, 101])
@pytest.mark.parametrize("batch_size", [1, 8, 32])
@pytest.mark.parametrize("drop_last", [False, True])
def test_bucket_sampler_covers_every_index_once(n, batch_size, drop_last):
    lengths = [(i * 37) % 23 + 1 for i in range(n)]
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=True, seed=1, drop_last=drop_last,
                                 chunk_batches=2)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat))
    if drop_last:
        assert all(len(b) == batch_size for b in batches) and len(flat) == n - n % batch_size
    else:
        assert sorted(flat) == list(range(n))
        assert sum(len(b) < batch_size for b in batches) <= 1


def _padding(lengths, batches):
    """Number of [PAD] positions the batches need."""
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_bucketing_cuts_padding(task):
    lengths, size = task.lengths, 16
    bucketed = list(BucketBatchSampler(lengths, size, seed=0, chunk_batches=10))
    order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0)).tolist()
    random_batches = [order[i : i + size] for i in range(0, len(order), size)]
    assert _padding(lengths, bucketed) < 0.25 * _padding(lengths, random_batches)
    # ... while the batches still come in a shuffled order, not sorted by length.
    longest = [max(lengths[i] for i in b) for b in bucketed]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)


def test_bucket_sampler_is_seeded_and_changes_with_the_epoch():
    lengths = list(range(1, 200))
    a, b = BucketBatchSampler(lengths, 8, seed=5), BucketBatchSampler(lengths, 8, seed=5)
    assert list(a) == list(b) and list(a) == list(a)
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(BucketBatchSampler(lengths, 8, seed=6)) != list(BucketBatchSampler(lengths, 8, seed=5))


def test_bucket_sampler_without_shuffle_is_sorted_chunks():
    sampler = BucketBatchSampler([5, 1, 4, 2, 3, 1], batch_size=2, shuffle=False)
    assert list(sampler) == [[1, 5], [3, 4], [2, 0]]
    sampler = BucketBatchSampler([3, 2, 1, 3, 2, 1], batch_size=2, shuffle=False, chunk_batches=1)
    assert list(sampler) == [[1, 0], [2, 3], [5, 4]]


@pytest.mark.parametrize("n_batches", [1, 2, 5, 9])
@pytest.mark.parametrize("replicas", [2, 3])
@pytest.mark.parametrize("drop_last", [False, True])
def test_bucket_sampler_shards_for_distributed_training(n_batches, replicas, drop_last):
    lengths = [i % 7 + 1 for i in range(4 * n_batches - 1)]  # the last batch is incomplete
    shards = [list(BucketBatchSampler(lengths, 4, seed=2, drop_last=drop_last, num_replicas=replicas,
                                      rank=rank)) for rank in range(replicas)]
    single = list(BucketBatchSampler(lengths, 4, seed=2, drop_last=drop_last))
    sizes = {len(shard) for shard in shards}
    assert len(sizes) == 1  # every process takes the same number of steps
    assert sizes == {len(BucketBatchSampler(lengths, 4, drop_last=drop_last, num_replicas=replicas))}
    seen = [tuple(b) for shard in shards for b in shard]
    if drop_last:
        assert len(seen) == len(set(seen))  # disjoint
        assert len(seen) == len(single) - len(single) % replicas
    else:
        assert set(seen) == {tuple(b) for b in single}  # all data, some batches repeated
        assert len(seen) == len(single) + (-len(single)) % replicas


def test_bucket_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        BucketBatchSampler([1, 2], 0)
    with pytest.raises(ValueError, match="rank must lie in"):
        BucketBatchSampler([1, 2], 1, num_replicas=2, rank=2)


# --- DataLoader integration ------------------------------------------------------------------


def _indices(loader, task):
    """Which examples the loader delivered, recovered through the meta dictionaries."""
    seen = []
    for batch in loader:
        assert isinstance(batch, Batch)
        assert (batch.token_ids[:, 0] == task.vocab.cls_id).all()
        assert torch.equal(batch.padding_mask, batch.token_ids != task.vocab.pad_id)
        seen += [m["index"] for m in batch.meta]
    return seen


@pytest.fixture(scope="module")
def indexed(task):
    texts = [task.vocab.decode(e.token_ids[1:]) for e in task.examples]
    return TextClassificationDataset(texts, [e.label for e in task.examples], task.vocab,
                                     meta=[{"index": i} for i in range(len(task))])


def test_dataloader_with_bucket_sampler(indexed):
    loader = DataLoader(indexed, batch_sampler=BucketBatchSampler(indexed.lengths, 32), collate_fn=collate)
    assert sorted(_indices(loader, indexed)) == list(range(len(indexed)))


def test_plain_dataloader(indexed):
    loader = DataLoader(indexed, batch_size=32, shuffle=True, collate_fn=collate)
    assert sorted(_indices(loader, indexed)) == list(range(len(indexed)))


def test_dataloader_with_distributed_sampler(indexed):
    seen = []
    for rank in range(3):
        sampler = DistributedSampler(indexed, num_replicas=3, rank=rank, shuffle=True, seed=0)
        sampler.set_epoch(0)
        loader = DataLoader(indexed, batch_size=16, sampler=sampler, collate_fn=collate)
        seen.append(_indices(loader, indexed))
    assert len({len(s) for s in seen}) == 1
    assert set(itertools.chain(*seen)) == set(range(len(indexed)))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"bucket": False}, {"shuffle": False}, {"num_replicas": 2, "rank": 1},
     {"bucket": False, "num_replicas": 2, "rank": 0}, {"num_workers": 1}],
)
def test_make_dataloader(indexed, kwargs):
    loader = make_dataloader(indexed, 50, seed=4, **kwargs)
    seen = _indices(loader, indexed)
    if kwargs.get("num_replicas", 1) == 1:
        assert sorted(seen) == list(range(len(indexed)))
    else:
        assert len(seen) == len(indexed) // 2 and len(set(seen)) == len(seen)
    if kwargs.get("shuffle", True) is False:  # evaluation: the dataset's order
        assert seen == list(range(len(indexed)))
    else:
        assert seen != list(range(len(indexed)))
    assert _indices(make_dataloader(indexed, 50, seed=4, **kwargs), indexed) == seen  # seeded


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_are_pinned_and_move_to_the_gpu(indexed):
    batch = next(iter(make_dataloader(indexed, 32, pin_memory=True)))
    assert batch.token_ids.is_pinned() and batch.padding_mask.is_pinned() and batch.labels.is_pinned()
    moved = batch.to("cuda", non_blocking=True)
    assert moved.token_ids.is_cuda and moved.padding_mask.is_cuda and moved.labels.is_cuda
    assert torch.equal(moved.token_ids.cpu(), batch.token_ids) and moved.meta == batch.meta
