"""Solutions to the coding exercises of Chapter 6 (training a text classifier).

Each solution is printed, collapsed, under its exercise; ``tests/exercises/test_ch06.py``
checks that it really solves the exercise.
"""

from __future__ import annotations

# --8<-- [start:imports]
import random
import re
from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import nn

from book_code.data import (
    SyntheticExample,
    TextClassificationDataset,
    Vocabulary,
    accuracy_by_group,
    columns,
    fit_bow_baseline,
    make_dataloader,
    make_synthetic_sentiment,
)
from book_code.data.synthetic import NEGATIVE, POSITIVE, SUBJECTS
from book_code.encoder import TransformerClassifier
from book_code.train import RunConfig, synthetic_datasets
from book_code.training import (
    parameter_groups,
    predict,
    seed_everything,
    train_step,
    warmup_cosine_schedule,
)
from book_code.training.experiments import CHAPTER_CONFIG

# --8<-- [end:imports]


# --8<-- [start:bigram_baseline]
_ADJECTIVES = "|".join(POSITIVE + NEGATIVE)


def contrast_connective(text: str) -> str:
    """Which of the five contrast templates produced ``text``, named by its connective.

    ``although`` opens the sentence in one template (``although A is dull, B is clever``) and
    follows the deciding clause in another (``B is clever, although A is dull``); the second
    is recognised by the adjective and comma just before it.
    """
    text = text.lower()
    if ", but " in text:
        return "but"
    if "; however," in text:
        return "however"
    if " even though " in text:
        return "even though"
    if re.search(rf"\b(?:{_ADJECTIVES}), although ", text):
        return "decisive, although"
    if "although " in text:
        return "although, decisive"
    raise ValueError(f"not a contrast sentence of the synthetic task: {text!r}")


def bow_by_phenomenon(
    ngram_ranges: Sequence[tuple[int, int]] = ((1, 1), (1, 2)), config: RunConfig = CHAPTER_CONFIG
) -> dict[str, dict[str, float]]:
    """Test accuracy of bag-of-n-grams baselines on every phenomenon, and on every contrast
    template (keys ``"contrast: but"`` ...), keyed by ``"1-2"`` for ``ngram_range=(1, 2)``.
    The task's splits are those of ``config`` (by default, the chapter's)."""
    task = make_synthetic_sentiment(config.n_train, config.n_dev, config.n_test, seed=config.data_seed)
    train_texts, train_labels, _ = columns(task.train)
    texts, labels, phenomena = columns(task.test)
    groups = [
        [p, f"contrast: {contrast_connective(t)}"] if p == "contrast" else [p]
        for t, p in zip(texts, phenomena, strict=True)
    ]
    results = {}
    for low, high in ngram_ranges:
        model = fit_bow_baseline(train_texts, train_labels, ngram_range=(low, high))
        results[f"{low}-{high}"] = accuracy_by_group(model.predict(texts), labels, groups)
    return results
# --8<-- [end:bigram_baseline]


# --8<-- [start:warmup_comparison]
def first_steps(
    warmup_steps: int, config: RunConfig = CHAPTER_CONFIG, num_steps: int = 100, seed: int = 0
) -> dict[str, list[float]]:
    """Train the chapter's model for its first ``num_steps`` optimizer steps with a linear
    warm-up of ``warmup_steps`` (0: none), using the book's `train_step`.

    Both arms of a comparison must differ in the schedule only: the same seed gives the same
    initial weights, dropout masks and batch order whatever ``warmup_steps`` is. The
    schedule's cosine spans the full run of ``config.epochs`` epochs, as in `fit`.

    Returns:
        Per step: the training ``loss`` (before the step), the pre-clip ``grad_norm`` and the
        ``lr`` used.
    """
    seed_everything(seed)
    vocab, datasets = synthetic_datasets(config)
    loader = make_dataloader(datasets["train"], config.batch_size, shuffle=True, seed=seed)
    model = TransformerClassifier(
        len(vocab), 2, config.embed_dim, config.num_heads, config.num_layers, config.ff_dim, config.max_len,
        config.positional, config.pooling, config.dropout, config.norm_first, config.activation, vocab.pad_id,
    )
    optimizer = torch.optim.AdamW(parameter_groups(model, config.weight_decay), lr=config.lr)
    scheduler = warmup_cosine_schedule(optimizer, warmup_steps, config.epochs * len(loader))
    loss_fn = nn.CrossEntropyLoss()
    history: dict[str, list[float]] = {"loss": [], "grad_norm": [], "lr": []}
    batches = iter(loader)
    for _ in range(num_steps):
        try:
            batch = next(batches)
        except StopIteration:  # the next epoch
            batches = iter(loader)
            batch = next(batches)
        step = train_step(model, batch, optimizer, scheduler, loss_fn, config.max_grad_norm)
        for key in history:
            history[key].append(step[key])
    return history


def warmup_comparison(
    norm_first: bool, lr: float, warmup_steps: int = 50, num_steps: int = 100, seeds: Sequence[int] = (0,)
) -> dict[int, list[list[float]]]:
    """Loss curves of the first steps without (key 0) and with warm-up, for each seed."""
    config = replace(CHAPTER_CONFIG, norm_first=norm_first, lr=lr)
    return {
        w: [first_steps(w, config, num_steps, seed)["loss"] for seed in seeds] for w in (0, warmup_steps)
    }
# --8<-- [end:warmup_comparison]


# --8<-- [start:new_phenomenon]
def make_rather_than(rng: random.Random, label: int) -> list[SyntheticExample]:
    """A new phenomenon with twins: ``the plot is clever rather than dull.`` is positive, its
    twin ``the plot is dull rather than clever.`` negative; same words, opposite labels."""
    words = {1: POSITIVE, 0: NEGATIVE}
    subject, be = rng.choice(SUBJECTS), rng.choice(("is", "was"))
    decides, opposite = rng.choice(words[label]), rng.choice(words[1 - label])
    return [
        SyntheticExample(f"{subject} {be} {first} rather than {second}.".capitalize(), twin_label, "rather")
        for first, second, twin_label in ((decides, opposite, label), (opposite, decides, 1 - label))
    ]


def rather_than_examples(num_pairs: int, seed: int = 0) -> list[SyntheticExample]:
    """``num_pairs`` distinct twin pairs, alternating the label of the first twin."""
    rng, examples, seen = random.Random(seed), [], set()
    while len(examples) < 2 * num_pairs:
        pair = make_rather_than(rng, label=len(examples) // 2 % 2)
        if not any(twin.text in seen for twin in pair):  # a pair may come back as its twin
            seen.update(twin.text for twin in pair)
            examples += pair
    return examples


def accuracy_on(model: nn.Module, vocab: Vocabulary, examples: Sequence[SyntheticExample]) -> float:
    """Accuracy of a trained classifier on ``examples`` (unknown words become ``[UNK]``)."""
    texts, labels, phenomena = columns(examples)
    dataset = TextClassificationDataset(texts, labels, vocab, add_cls=True,
                                        meta=[{"phenomenon": p} for p in phenomena])
    logits, targets, _ = predict(model, make_dataloader(dataset, 256, shuffle=False), torch.device("cpu"))
    return (logits.argmax(dim=-1) == targets).double().mean().item()
# --8<-- [end:new_phenomenon]
