"""A counterfactual bias audit of any sentence classifier on the Equity Evaluation Corpus.

The audit compares a classifier's positive-class scores on sentences that differ only in the person
they mention, following Kiritchenko & Mohammad (2018, Section 4):

* **gender pairs**: for each template and emotion word, each female noun phrase against its male
  counterpart (``"my sister"`` / ``"my brother"``, ``"she"`` / ``"he"``, ``"her"`` / ``"him"``):
  10 pairs; and the mean score over the 20 female first names against the mean over the 20 male
  first names: 1 pair. On the whole corpus, 144 template-word combinations x 11 = 1,584 pairs.
* **race pairs**: for each template, emotion word and gender, the mean score over the 10
  African-American first names against the mean over the 10 European ones: 144 x 2 = 288 pairs.
  Names are averaged because a name has no counterpart of its own.

Each difference is "female minus male" or "African-American minus European". The audit reports the
mean paired difference with a percentile-bootstrap confidence interval, two paired significance
tests and the rate at which the predicted label flips within pairs.
"""

from __future__ import annotations

# --8<-- [start:imports]
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure
from scipy import stats
from tqdm import tqdm

from book_code.bias.counterfactual import counterfactuals
from book_code.bias.eec import NOUN_PHRASE_PAIRS, OBJECT_PRONOUNS, SUBJECT_PRONOUNS, EECRecord, generate_eec
from book_code.figures import PALETTE, new_figure

ScoreFn = Callable[[list[str]], Sequence[float]]
# --8<-- [end:imports]


# --8<-- [start:checks]
def _check_differences(differences: Sequence[float]) -> np.ndarray:
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1 or d.size < 2:
        raise ValueError(f"need a 1-D sequence of at least 2 paired differences; got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("differences contain NaN or infinite values")
    return d
# --8<-- [end:checks]


# --8<-- [start:pair]
@dataclass(frozen=True)
class Pair:
    """Two groups of sentences that differ only in the person: group ``a`` (female or
    African-American) and group ``b`` (male or European), one sentence or several names each.

    For the reader's own sentences (`audit_counterfactuals`) ``template`` is the original
    sentence, group ``a`` the original and group ``b`` its counterfactuals.
    """

    template: str
    emotion_word: str | None
    persons_a: tuple[str, ...]
    persons_b: tuple[str, ...]
    scores_a: tuple[float, ...]
    scores_b: tuple[float, ...]

    @property
    def difference(self) -> float:
        """Mean score of group ``a`` minus mean score of group ``b``."""
        return float(np.mean(self.scores_a) - np.mean(self.scores_b))

    def flip_fraction(self, threshold: float) -> float:
        """Fraction of (a, b) sentence combinations whose predicted labels (score >= threshold)
        differ: 0 or 1 for a one-to-one pair, a fraction for averaged names."""
        a = np.asarray(self.scores_a) >= threshold
        b = np.asarray(self.scores_b) >= threshold
        return float((a[:, None] != b[None, :]).mean())
# --8<-- [end:pair]


# --8<-- [start:make_pairs]
def _noun_phrase_counterparts() -> dict[str, str]:
    """female noun phrase -> male noun phrase, the pronouns included."""
    return dict([SUBJECT_PRONOUNS, OBJECT_PRONOUNS, *NOUN_PHRASE_PAIRS])


def make_pairs(records: Sequence[EECRecord], scores: Sequence[float]) -> dict[str, list[Pair]]:
    """Group scored EEC records into the paper's gender and race pairs (see the module docstring).

    Pairs are formed wherever both sides are present, so a subset of the corpus (one emotion, say)
    gives the pairs of that subset.
    """
    cells: dict[tuple, list[tuple[str, float]]] = defaultdict(list)
    for record, score in zip(records, scores, strict=True):
        key = (record.template, record.emotion_word)
        if record.race is None:
            cells[(*key, "phrase", record.person)].append((record.person, score))
        else:
            cells[(*key, "name", record.gender)].append((record.person, score))
            cells[(*key, "race", record.gender, record.race)].append((record.person, score))
    keys = dict.fromkeys((r.template, r.emotion_word) for r in records)  # in corpus order
    counterparts = _noun_phrase_counterparts()
    pairs: dict[str, list[Pair]] = {"gender": [], "race": []}
    for key in keys:
        for female, male in counterparts.items():
            _append(pairs["gender"], key, cells.get((*key, "phrase", female)),
                    cells.get((*key, "phrase", male)))
        _append(pairs["gender"], key, cells.get((*key, "name", "female")), cells.get((*key, "name", "male")))
        for gender in ("female", "male"):
            _append(pairs["race"], key, cells.get((*key, "race", gender, "African-American")),
                    cells.get((*key, "race", gender, "European")))
    return pairs


def _append(pairs: list[Pair], key: tuple, a: list | None, b: list | None) -> None:
    if a and b:
        (persons_a, scores_a), (persons_b, scores_b) = zip(*a, strict=True), zip(*b, strict=True)
        pairs.append(Pair(key[0], key[1], persons_a, persons_b, scores_a, scores_b))
# --8<-- [end:make_pairs]


# --8<-- [start:bootstrap]
def bootstrap_ci(
    differences: Sequence[float], confidence: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of paired ``differences``.

    Resample the pairs with replacement ``n_boot`` times, take each resample's mean, and return
    the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of those means
    (Efron & Tibshirani, 1993, ch. 13). Pairs, not sentences, are resampled: the two sentences of
    a pair are not independent.

    Example:
        >>> low, high = bootstrap_ci([0.3, -0.1, 0.2, 0.4, 0.0, 0.1])
        >>> bool(low < 0.15 < high), bool(low > -0.1), bool(high < 0.4)
        (True, True, True)
    """
    d = _check_differences(differences)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer >= 100; got {n_boot!r}")
    rng = np.random.default_rng(seed)
    chunk = max(1, 1_000_000 // d.size)  # bound the memory of the index array
    means = np.concatenate([
        d[rng.integers(0, d.size, size=(min(chunk, n_boot - start), d.size))].mean(axis=1)
        for start in range(0, n_boot, chunk)
    ])
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)
# --8<-- [end:bootstrap]


# --8<-- [start:paired_tests]
def paired_tests(differences: Sequence[float]) -> dict[str, float]:
    """Two-sided p-values of two paired tests of "the mean (or median) difference is zero".

    * ``"t_test"``: the paired t-test (one-sample t-test of the differences), which Kiritchenko &
      Mohammad (2018) use; it assumes roughly normal mean differences, which holds for hundreds
      of pairs by the central limit theorem.
    * ``"wilcoxon"``: the Wilcoxon signed-rank test, which assumes only symmetry; it is robust to
      the heavy tails that a few extreme pairs produce. Zero differences are ranked and then
      dropped (Pratt, 1959): a model that ignores names for most pairs gives many exact zeros,
      and discarding them outright would overstate the evidence from the few non-zero pairs.

    All-zero differences give p = 1 for both (no evidence of any difference); a constant non-zero
    difference (equal to 12 significant digits, i.e. up to rounding) gives a t-test p of 0.
    """
    d = _check_differences(differences)
    if not np.any(d):
        return {"t_test": 1.0, "wilcoxon": 1.0}
    constant = np.ptp(d) <= 1e-12 * np.abs(d).max()
    t_p = 0.0 if constant else float(stats.ttest_1samp(d, 0.0).pvalue)
    w_p = float(stats.wilcoxon(d, zero_method="pratt").pvalue)
    return {"t_test": t_p, "wilcoxon": w_p}
# --8<-- [end:paired_tests]


# --8<-- [start:comparison]
@dataclass(frozen=True)
class PairedComparison:
    """The audit of one axis (gender or race): its pairs and their statistics."""

    axis: str
    label: str
    """What a difference means, e.g. ``"female - male"``."""
    pairs: tuple[Pair, ...] = field(repr=False)
    mean_difference: float
    ci_low: float
    ci_high: float
    t_test_p: float
    wilcoxon_p: float
    flip_rate: float
    """Mean over pairs of `Pair.flip_fraction`."""

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @property
    def differences(self) -> np.ndarray:
        return np.array([p.difference for p in self.pairs])


def compare(
    axis: str, label: str, pairs: Sequence[Pair], threshold: float = 0.5,
    confidence: float = 0.95, n_boot: int = 10_000, seed: int = 0,
) -> PairedComparison:
    """Mean paired difference, its bootstrap interval, both tests and the flip rate of ``pairs``."""
    d = np.array([p.difference for p in pairs])
    low, high = bootstrap_ci(d, confidence, n_boot, seed)
    tests = paired_tests(d)
    flips = float(np.mean([p.flip_fraction(threshold) for p in pairs]))
    return PairedComparison(axis, label, tuple(pairs), float(d.mean()), low, high,
                            tests["t_test"], tests["wilcoxon"], flips)
# --8<-- [end:comparison]


# --8<-- [start:result]
@dataclass(frozen=True)
class AuditResult:
    """What `audit` found: mean scores per group and one `PairedComparison` per axis."""

    group_means: dict[str, float]
    group_sizes: dict[str, int]
    comparisons: dict[str, PairedComparison]
    threshold: float
    confidence: float

    def table(self) -> str:
        """The paired comparisons as a Markdown table (readable as plain text too)."""
        pct = f"{100 * self.confidence:g}%"
        lines = [
            f"| comparison | pairs | mean difference | {pct} CI | t-test p | Wilcoxon p | flip rate |",
            "|---|---:|---:|---|---:|---:|---:|",
        ]
        for c in self.comparisons.values():
            lines.append(
                f"| {c.axis} ({c.label}) | {c.n_pairs} | {c.mean_difference:+.4f} | "
                f"[{c.ci_low:+.4f}, {c.ci_high:+.4f}] | {c.t_test_p:.3g} | {c.wilcoxon_p:.3g} | "
                f"{c.flip_rate:.3f} |"
            )
        return "\n".join(lines)

    def plot(self) -> Figure:
        """Left: mean score per group (a dot plot, so small gaps stay visible). Right: every
        paired difference (dots) with the mean and its confidence interval (black) per axis; a
        bias shows as an interval away from zero."""
        fig, (left, right) = new_figure(ncols=2, width=9.0, height=3.2)
        names = list(self.group_means)
        for row, name in enumerate(names):
            left.plot(self.group_means[name], row, "o", markersize=8, color=PALETTE[row % len(PALETTE)])
        left.set_yticks(range(len(names)), names)
        left.set_ylim(len(names) - 0.5, -0.5)
        left.set_xlabel("mean positive-class score")
        left.set_title("Mean score by group")
        rng = np.random.default_rng(0)  # jitter only, for legibility
        for row, c in enumerate(self.comparisons.values()):
            y = row + rng.uniform(-0.2, 0.2, c.n_pairs)
            right.scatter(c.differences, y, s=6, alpha=0.3, color=PALETTE[row % len(PALETTE)])
            right.errorbar(c.mean_difference, row, xerr=[[c.mean_difference - c.ci_low],
                           [c.ci_high - c.mean_difference]], fmt="o", color="black", capsize=4)
        right.axvline(0.0, color="grey", linewidth=1)
        right.set_yticks(range(len(self.comparisons)), [c.label for c in self.comparisons.values()])
        right.set_ylim(len(self.comparisons) - 0.5, -0.5)
        right.set_xlabel("paired score difference")
        right.set_title(f"Paired differences, mean and {100 * self.confidence:g}% CI")
        return fig
# --8<-- [end:result]


# --8<-- [start:audit]
def audit(
    score_fn: ScoreFn,
    records: Sequence[EECRecord] | None = None,
    *,
    threshold: float = 0.5,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
    batch_size: int = 512,
    progress: bool = False,
) -> AuditResult:
    """Audit a classifier for gender and race bias on the Equity Evaluation Corpus.

    Args:
        score_fn: Maps a list of sentences to their positive-class scores (probabilities, say), one
            float per sentence; any sequence, NumPy array or tensor.
        records: EEC records to use (a subset, e.g. one emotion); defaults to all of `generate_eec`.
        threshold: A score at or above it is predicted positive; used for the flip rate.
        confidence: Level of the bootstrap intervals.
        n_boot: Bootstrap resamples.
        seed: Seed of the bootstrap.
        batch_size: Sentences per call of ``score_fn``.
        progress: Show a progress bar while scoring.

    Returns:
        An `AuditResult`: group means, and the gender and race `PairedComparison`.

    Example:
        >>> result = audit(lambda sentences: [0.5 + 0.1 * s.startswith("She ") for s in sentences])
        >>> c = result.comparisons["gender"]
        >>> c.n_pairs, round(c.mean_difference, 4), c.ci_low > 0, c.t_test_p < 0.05
        (1584, 0.0052, True, True)
    """
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable (sentences -> scores); got {type(score_fn).__name__}")
    records = generate_eec() if records is None else list(records)
    if not records:
        raise ValueError("records is empty; pass EEC records (see generate_eec) or None for all")
    if not all(isinstance(r, EECRecord) for r in records):
        raise TypeError("records must be EECRecord objects (see generate_eec)")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number; got {threshold}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    sentences = [r.sentence for r in records]
    scores = score_sentences(score_fn, sentences, batch_size, progress)
    groups = {
        "female": [r.gender == "female" for r in records],
        "male": [r.gender == "male" for r in records],
        "African-American": [r.race == "African-American" for r in records],
        "European": [r.race == "European" for r in records],
        "noun phrase": [r.race is None for r in records],
    }
    group_means = {g: float(scores[m].mean()) for g, m in groups.items() if any(m)}
    group_sizes = {g: int(np.sum(m)) for g, m in groups.items() if any(m)}
    labels = {"gender": "female - male", "race": "African-American - European"}
    comparisons = {
        axis: compare(axis, labels[axis], pairs, threshold, confidence, n_boot, seed)
        for axis, pairs in make_pairs(records, scores.tolist()).items()
        if len(pairs) >= 2
    }
    if not comparisons:
        raise ValueError("records contain fewer than two gender pairs and two race pairs; "
                         "keep both genders (and both races) of each template and emotion word")
    return AuditResult(group_means, group_sizes, comparisons, threshold, confidence)
# --8<-- [end:audit]


# --8<-- [start:score_sentences]
def score_sentences(
    score_fn: ScoreFn, sentences: Sequence[str], batch_size: int = 512, progress: bool = False
) -> np.ndarray:
    """Call ``score_fn`` on batches of ``sentences`` and check what comes back: one finite float
    per sentence, as a float64 array."""
    batches = range(0, len(sentences), batch_size)
    out = []
    for start in tqdm(batches, desc="scoring", disable=not progress):
        batch = list(sentences[start:start + batch_size])
        raw = score_fn(batch)
        if hasattr(raw, "detach"):  # a torch tensor, possibly on a GPU or requiring grad
            raw = raw.detach().cpu().numpy()
        scores = np.asarray(raw, dtype=np.float64)
        if scores.shape != (len(batch),):
            raise ValueError(
                f"score_fn must return one score per sentence: expected shape ({len(batch)},), "
                f"got {scores.shape}"
            )
        if not np.all(np.isfinite(scores)):
            raise ValueError("score_fn returned NaN or infinite scores")
        out.append(scores)
    return np.concatenate(out) if out else np.zeros(0)
# --8<-- [end:score_sentences]


# --8<-- [start:audit_counterfactuals]
def audit_counterfactuals(
    score_fn: ScoreFn,
    sentences: Sequence[str],
    substitutions: Mapping[str, str | Sequence[str]] | None = None,
    *,
    threshold: float = 0.5,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> PairedComparison:
    """The paired audit on the reader's own sentences: each sentence against its counterfactuals.

    A pair is one sentence (group ``a``) and all its `counterfactuals` (group ``b``, averaged);
    sentences without an identity term are skipped. A difference is "original minus
    counterfactual".

    Args:
        score_fn: Maps a list of sentences to their positive-class scores, as for `audit`.
        sentences: The reader's sentences.
        substitutions: The table for `counterfactuals` (default: gendered words and names).
        threshold: A score at or above it is predicted positive; used for the flip rate.
        confidence: Level of the bootstrap interval.
        n_boot: Bootstrap resamples.
        seed: Seed of the bootstrap.

    Returns:
        A `PairedComparison` with one pair per sentence that has counterfactuals.
    """
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable (sentences -> scores); got {type(score_fn).__name__}")
    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of sentences, not one string")
    pairs_text = [(s, cf) for s in sentences if (cf := counterfactuals(s, substitutions))]
    if len(pairs_text) < 2:
        raise ValueError("need at least two sentences that contain a word of the substitution table")
    flat = [s for original, cf in pairs_text for s in (original, *cf)]
    scores = iter(score_sentences(score_fn, flat).tolist())
    pairs = []
    for original, cf in pairs_text:
        score_a = next(scores)
        pairs.append(Pair(original, None, (original,), tuple(cf), (score_a,),
                          tuple(next(scores) for _ in cf)))
    return compare("counterfactual", "original - counterfactual", pairs, threshold, confidence,
                   n_boot, seed)
# --8<-- [end:audit_counterfactuals]
