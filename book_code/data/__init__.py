"""Text data for training classifiers (chapters 6 and 7).

Tokenizer and vocabulary, padded batches, a synthetic task built so that counting words cannot
solve it, baselines, and loaders for SST-2 and the sentence polarity data.
"""

from book_code.data.baselines import (
    BowBaseline,
    MajorityClassBaseline,
    accuracy_by_group,
    fit_bow_baseline,
)
from book_code.data.batching import (
    Batch,
    BucketBatchSampler,
    Example,
    TextClassificationDataset,
    collate,
    make_dataloader,
)
from book_code.data.datasets import (
    ChecksumError,
    DataNotFoundError,
    LabeledTexts,
    load_rt_polarity,
    load_sst2,
)
from book_code.data.synthetic import (
    PHENOMENA,
    SyntheticExample,
    SyntheticSplits,
    columns,
    make_synthetic_sentiment,
)
from book_code.data.tokenizer import tokenize
from book_code.data.vocab import SPECIAL_TOKENS, Vocabulary

__all__ = [
    "PHENOMENA",
    "SPECIAL_TOKENS",
    "Batch",
    "BowBaseline",
    "BucketBatchSampler",
    "ChecksumError",
    "DataNotFoundError",
    "Example",
    "LabeledTexts",
    "MajorityClassBaseline",
    "SyntheticExample",
    "SyntheticSplits",
    "TextClassificationDataset",
    "Vocabulary",
    "accuracy_by_group",
    "collate",
    "columns",
    "fit_bow_baseline",
    "load_rt_polarity",
    "load_sst2",
    "make_dataloader",
    "make_synthetic_sentiment",
    "tokenize",
]
