"""A synthetic sentiment task that counting words cannot solve.

Real sentiment data mixes easy sentences with hard ones, and a model's accuracy hides which is
which. This task is generated, so we know for every sentence which construction decides its
label, and we can build it so that a bag-of-words model provably fails where word order matters.

**Generative process.** Every sentence talks about aspects of a film (``the plot``, ``the
acting`` ...) with adjectives from two word lists, `POSITIVE` and `NEGATIVE`, and is labelled
1 (positive) or 0 (negative). It belongs to one of four *phenomena*:

* ``plain``: ``the plot is clever.`` or ``the plot is clever and gripping.``; the label is the
  adjectives' polarity.
* ``intensifier``: ``the plot is extremely clever.``; an intensifier (`INTENSIFIERS`) does
  not change the polarity.
* ``negation``: one adjective is negated and another, of the opposite polarity, is not:
  ``the plot is not dull, it is gripping.``, ``the film is never boring and always charming.``
  The label is the polarity of the adjective that is *not* negated (equivalently, the
  opposite of the negated one).
* ``contrast``: two clauses of opposite polarity joined by a connective that says which one
  counts: ``the plot is dull, but the acting is clever.`` (the clause after *but*),
  ``although the plot is dull, the acting is clever.`` and ``the acting is clever, although
  the plot is dull.`` (the main clause, not the one after *although*), and the like.

Each sentence may start with a neutral opener (``frankly,``, ``to be fair,`` ...), end with a
neutral phrase (``from start to finish``), say ``is`` or ``was``, and carry an intensifier,
all drawn independently of the label; so lengths vary (from 5 to about 25 tokens) and these words
carry no information.

**Why counting fails.** Negation and contrast sentences are generated in *pairs*: the second
sentence swaps the two adjectives of the first, which flips the label but not the multiset of
words (``the plot is dull, but the acting is clever.`` / ``the plot is clever, but the acting
is dull.``). Both sentences of a pair go to the same split. Any classifier that sees only word
counts gives both the same prediction, so it gets exactly one of each pair right: exactly 50%
accuracy on those subsets, however it was trained. ``plain`` and ``intensifier`` sentences are
easy for it. A model of word order can solve all four.

**Balance and splits.** Each split is built separately from the same random stream: its size
is divided among the phenomena by ``proportions``, plain and intensifier sentences come in
one positive and one negative, pairs in one of each, so labels are balanced in every split
and every phenomenon (exactly, for even sizes). No sentence occurs twice in the whole task.
Everything is deterministic given ``seed``.
"""

from __future__ import annotations

# --8<-- [start:imports]
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

# --8<-- [end:imports]

__all__ = [
    "CONTRAST_TEMPLATES",
    "INTENSIFIERS",
    "NEGATION_TEMPLATES",
    "NEGATIVE",
    "PHENOMENA",
    "POSITIVE",
    "SyntheticExample",
    "SyntheticSplits",
    "columns",
    "make_examples",
    "make_synthetic_sentiment",
]

# --8<-- [start:word_lists]
POSITIVE = ("good", "great", "wonderful", "brilliant", "charming", "delightful",
            "moving", "funny", "clever", "beautiful", "gripping", "touching")
NEGATIVE = ("bad", "boring", "dull", "awful", "terrible", "tedious",
            "clumsy", "bland", "messy", "painful", "lifeless", "forgettable")
INTENSIFIERS = ("very", "extremely", "really", "truly", "incredibly", "quite")
SUBJECTS = ("the movie", "the film", "the plot", "the acting", "the script", "the ending",
            "the dialogue", "the soundtrack", "the cast", "the story", "this sequel", "the direction")
OPENERS = ("frankly, ", "honestly, ", "to be fair, ", "in the end, ", "all things considered, ",
           "as far as i can tell, ", "i think ", "overall, ")
CLOSERS = (" from start to finish", " for most of its running time", " in my opinion",
           " this time", " at least for me")

# {kept} decides the label; {negated} has the opposite polarity.
NEGATION_TEMPLATES = (
    "{subject} {be} not {negated}, it {be} {kept}",
    "{subject} {be}n't {negated}, it {be} {kept}",
    "{subject} {be} {kept}, not {negated}",
    "{subject} {be} {kept} and not {negated}",
    "{subject} {be} never {negated} and always {kept}",
    "{subject} {be} not at all {negated}; in fact it {be} {kept}",
)
# {decisive} decides the label; {conceded} has the opposite polarity.
CONTRAST_TEMPLATES = (
    "{subject} {be} {conceded}, but {other} {be} {decisive}",
    "although {subject} {be} {conceded}, {other} {be} {decisive}",
    "{other} {be} {decisive}, although {subject} {be} {conceded}",
    "{subject} {be} {conceded}; however, {other} {be} {decisive}",
    "{other} {be} {decisive} even though {subject} {be} {conceded}",
)
# --8<-- [end:word_lists]

# --8<-- [start:example]
PHENOMENA = ("plain", "intensifier", "negation", "contrast")


class SyntheticExample(NamedTuple):
    """One sentence: its text, its label (1 positive, 0 negative) and its phenomenon."""

    text: str
    label: int
    phenomenon: str


@dataclass(frozen=True)
class SyntheticSplits:
    """The three splits of the task, each a list of `SyntheticExample`."""

    train: list[SyntheticExample]
    dev: list[SyntheticExample]
    test: list[SyntheticExample]

    def __getitem__(self, split: str) -> list[SyntheticExample]:
        if split not in ("train", "dev", "test"):
            raise KeyError(f"split must be 'train', 'dev' or 'test'; got {split!r}")
        return getattr(self, split)
# --8<-- [end:example]


# --8<-- [start:generator]
def _frame(rng: random.Random) -> tuple[str, str]:
    """Optional neutral words around a sentence: an opener and a closer."""
    opener = rng.choice(OPENERS) if rng.random() < 0.4 else ""
    closer = rng.choice(CLOSERS) if rng.random() < 0.3 else ""
    return opener, closer


def _sentence(frame: tuple[str, str], body: str) -> str:
    text = f"{frame[0]}{body}{frame[1]}."
    return text[0].upper() + text[1:]


def make_examples(rng: random.Random, phenomenon: str, label: int) -> list[SyntheticExample]:
    """One example of ``phenomenon`` with ``label``; for negation and contrast, also its twin.

    The twin of a negation or contrast sentence swaps its two adjectives: same words,
    opposite label.

    >>> for example in make_examples(random.Random(1), "contrast", label=1):
    ...     print(example.label, example.text)
    1 The film is bland; however, the script is great.
    0 The film is great; however, the script is bland.
    """
    if phenomenon not in PHENOMENA:
        raise ValueError(f"phenomenon must be one of {PHENOMENA}; got {phenomenon!r}")
    words = {1: POSITIVE, 0: NEGATIVE}
    be, frame = rng.choice(("is", "was")), _frame(rng)
    subject, other = rng.sample(SUBJECTS, 2)
    decides, opposite = rng.choice(words[label]), rng.choice(words[1 - label])
    if phenomenon == "plain":
        if rng.random() < 0.3:  # two adjectives of the same polarity
            decides += " and " + rng.choice([w for w in words[label] if w != decides])
        return [SyntheticExample(_sentence(frame, f"{subject} {be} {decides}"), label, phenomenon)]
    if phenomenon == "intensifier":
        body = f"{subject} {be} {rng.choice(INTENSIFIERS)} {decides}"
        return [SyntheticExample(_sentence(frame, body), label, phenomenon)]
    if phenomenon == "negation":
        template, slots = rng.choice(NEGATION_TEMPLATES), ("kept", "negated")
    else:
        template, slots = rng.choice(CONTRAST_TEMPLATES), ("decisive", "conceded")
    # An intensifier belongs to the deciding slot, so both twins have it there.
    intensifier = rng.choice(INTENSIFIERS) + " " if rng.random() < 0.3 else ""
    twins = []
    for first, second, twin_label in ((decides, opposite, label), (opposite, decides, 1 - label)):
        fill = {slots[0]: intensifier + first, slots[1]: second}
        body = template.format(subject=subject, other=other, be=be, **fill)
        twins.append(SyntheticExample(_sentence(frame, body), twin_label, phenomenon))
    return twins
# --8<-- [end:generator]


# --8<-- [start:make_synthetic_sentiment]
def _quotas(n: int, proportions: Mapping[str, float]) -> dict[str, int]:
    """Split ``n // 2`` units (one positive and one negative example each) among the phenomena
    by largest remainder, so the counts add up exactly."""
    units = n // 2
    total = sum(proportions.values())
    exact = {p: units * w / total for p, w in proportions.items()}
    counts = {p: int(v) for p, v in exact.items()}
    by_remainder = sorted(proportions, key=lambda p: (-(exact[p] - counts[p]), PHENOMENA.index(p)))
    for p in by_remainder[: units - sum(counts.values())]:
        counts[p] += 1
    return counts


def make_synthetic_sentiment(
    n_train: int = 4000,
    n_dev: int = 1000,
    n_test: int = 1000,
    seed: int = 0,
    proportions: Mapping[str, float] | None = None,
) -> SyntheticSplits:
    """Generate the synthetic sentiment task (the process is described in the module docstring).

    Args:
        n_train: Number of training sentences.
        n_dev: Number of development sentences.
        n_test: Number of test sentences.
        seed: Seed of the generator; the same seed gives the same task.
        proportions: Relative share of each phenomenon (keys from `PHENOMENA`); equal shares
            by default.

    Returns:
        The splits, each shuffled. Labels are balanced in every split and phenomenon.

    Raises:
        ValueError: On a negative size, an unknown phenomenon or a negative share.

    >>> task = make_synthetic_sentiment(n_train=8, n_dev=0, n_test=0, seed=0)
    >>> sorted(example.phenomenon for example in task.train)
    ['contrast', 'contrast', 'intensifier', 'intensifier', 'negation', 'negation', 'plain', 'plain']
    >>> sum(example.label for example in task.train)
    4
    """
    proportions = dict.fromkeys(PHENOMENA, 1.0) if proportions is None else dict(proportions)
    unknown = set(proportions) - set(PHENOMENA)
    if unknown or any(w < 0 for w in proportions.values()) or sum(proportions.values()) <= 0:
        raise ValueError(
            f"proportions must map phenomena from {PHENOMENA} to non-negative shares with a positive "
            f"sum; got {proportions}"
        )
    sizes = {"train": n_train, "dev": n_dev, "test": n_test}
    for name, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n_{name} must be a non-negative integer; got {n!r}")
    rng = random.Random(seed)
    seen: set[str] = set()  # no sentence twice, across all splits
    splits = {}
    for name, n in sizes.items():
        examples: list[SyntheticExample] = []
        plan = [(p, label) for p, count in _quotas(n, proportions).items() for _ in range(count)
                for label in ((1,) if p in ("negation", "contrast") else (1, 0))]
        if n % 2:
            plan.append(("plain", rng.randrange(2)))
        for phenomenon, label in plan:
            for _attempt in range(1000):
                new = make_examples(rng, phenomenon, label)
                if not any(example.text in seen for example in new):
                    break
            else:
                raise ValueError(f"could not find {n} distinct sentences; ask for a smaller task")
            seen.update(example.text for example in new)
            examples += new
        rng.shuffle(examples)
        splits[name] = examples
    return SyntheticSplits(**splits)
# --8<-- [end:make_synthetic_sentiment]


def columns(examples: Sequence[SyntheticExample]) -> tuple[list[str], list[int], list[str]]:
    """Texts, labels and phenomena of ``examples`` as three lists.

    >>> columns([SyntheticExample("Good.", 1, "plain"), SyntheticExample("Bad.", 0, "plain")])
    (['Good.', 'Bad.'], [1, 0], ['plain', 'plain'])
    """
    return [e.text for e in examples], [e.label for e in examples], [e.phenomenon for e in examples]
