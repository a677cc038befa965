"""Small data and models shared by the training tests."""

from __future__ import annotations

import torch

from book_code.data.batching import Batch, Example, collate
from book_code.encoder import TransformerClassifier

VOCAB_SIZE = 24
CLS_ID, PAD_ID = 2, 0
MARKER = 5  # the label is 1 exactly when this token occurs


def marker_examples(num_examples: int, seq_len: int = 8, seed: int = 0) -> list[Example]:
    """A trivially learnable task: is token 5 in the sequence? Each sequence starts with
    [CLS]; every other one is half as long (so batches need padding)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, VOCAB_SIZE, (num_examples, seq_len), generator=generator)
    ids[:, 0] = CLS_ID
    examples = []
    for i, row in enumerate(ids.tolist()):
        row = row if i % 2 == 0 else row[: seq_len // 2]
        examples.append(Example(row, int(MARKER in row)))
    return examples


def marker_batches(num_examples: int, batch_size: int, seq_len: int = 8, seed: int = 0) -> list[Batch]:
    """`marker_examples` collated into batches, in order."""
    examples = marker_examples(num_examples, seq_len, seed)
    return [collate(examples[i : i + batch_size]) for i in range(0, num_examples, batch_size)]


def tiny_classifier(seed: int = 0, dropout: float = 0.0, **overrides) -> TransformerClassifier:
    """A one-layer classifier with 16 features, initialised from ``seed``."""
    torch.manual_seed(seed)
    options = dict(embed_dim=16, num_heads=2, num_layers=1, ff_dim=32, max_len=16, dropout=dropout)
    options.update(overrides)
    return TransformerClassifier(VOCAB_SIZE, 2, pad_id=PAD_ID, **options)
