"""Baselines that every text classifier must beat: the majority class and bag-of-words.

A number means little without a baseline. `MajorityClassBaseline` predicts the most frequent
training label; it shows what accuracy costs nothing. `fit_bow_baseline` fits a logistic
regression on word counts (scikit-learn's ``CountVectorizer`` with the book's `tokenize`):
it ignores word order completely, and on many sentiment datasets it is hard to beat.
`accuracy_by_group` splits an accuracy by phenomenon, which is where order-blind models fail.

The bag-of-words baseline needs scikit-learn (``pip install scikit-learn``).
"""

from __future__ import annotations

# --8<-- [start:imports]
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from book_code.data.tokenizer import tokenize

# --8<-- [end:imports]

__all__ = ["BowBaseline", "MajorityClassBaseline", "accuracy_by_group", "fit_bow_baseline"]


# --8<-- [start:majority]
class MajorityClassBaseline:
    """Predicts the most frequent training label for every input (ties: the smallest label).

    >>> baseline = MajorityClassBaseline().fit(["a", "b", "c"], [1, 0, 1])
    >>> baseline.predict(["anything", "at all"])
    array([1, 1])
    """

    def fit(self, texts: Sequence[str], labels: Sequence[int]) -> "MajorityClassBaseline":  # noqa: UP037
        """Remember the label frequencies of the training set; ``texts`` are ignored."""
        if len(labels) == 0:
            raise ValueError("cannot fit a baseline on an empty training set")
        if len(texts) != len(labels):
            raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
        counts = Counter(int(label) for label in labels)
        self.classes_ = np.array(sorted(counts))
        self.prior_ = np.array([counts[c] / len(labels) for c in self.classes_])
        self.label_ = int(self.classes_[np.argmax(self.prior_)])  # argmax takes the first tie
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The majority label, once per text."""
        return np.full(len(texts), self.label_, dtype=np.int64)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """The training label frequencies, once per text: shape ``(len(texts), n_classes)``."""
        return np.tile(self.prior_, (len(texts), 1))
# --8<-- [end:majority]


# --8<-- [start:bow_baseline]
class BowBaseline:
    """A fitted bag-of-words logistic regression (made by `fit_bow_baseline`).

    Attributes:
        pipeline: The scikit-learn pipeline ``CountVectorizer -> LogisticRegression``.
    """

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Predicted labels, shape ``(len(texts),)``."""
        return self.pipeline.predict(list(texts))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape ``(len(texts), n_classes)``, columns in label order."""
        return self.pipeline.predict_proba(list(texts))

    def accuracy(self, texts: Sequence[str], labels: Sequence[int]) -> float:
        """Fraction of ``texts`` whose predicted label equals ``labels``."""
        return float(np.mean(self.predict(texts) == np.asarray(labels)))
# --8<-- [end:bow_baseline]

    def top_features(self, k: int = 10) -> dict[str, list[tuple[str, float]]]:
        """The ``k`` words with the most positive and the most negative weight (binary tasks).

        Returns:
            ``{"positive": [(word, weight), ...], "negative": [...]}``, strongest first.
        """
        classifier = self.pipeline.named_steps["logisticregression"]
        if classifier.coef_.shape[0] != 1:
            raise ValueError("top_features is defined for two classes only")
        words = self.pipeline.named_steps["countvectorizer"].get_feature_names_out()
        weights = classifier.coef_[0]
        order = np.argsort(weights, kind="stable")
        return {
            "positive": [(str(words[i]), float(weights[i])) for i in order[::-1][:k]],
            "negative": [(str(words[i]), float(weights[i])) for i in order[:k]],
        }


# --8<-- [start:fit_bow_baseline]
def fit_bow_baseline(
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    C: float = 1.0,
    ngram_range: tuple[int, int] = (1, 1),
    min_df: int = 1,
    max_iter: int = 2000,
) -> BowBaseline:
    """Fit logistic regression on word counts: the bag-of-words baseline.

    Args:
        train_texts: Training sentences (tokenised with `tokenize`).
        train_labels: Their integer labels.
        C: Inverse strength of the L2 penalty (scikit-learn's convention).
        ngram_range: ``(1, 1)`` counts single words; ``(1, 2)`` adds word pairs, which
            already see some word order (``not good``).
        min_df: Ignore words that occur in fewer training sentences.
        max_iter: Iterations of the solver.

    Returns:
        The fitted baseline, with ``predict`` and ``predict_proba``.

    Raises:
        ImportError: If scikit-learn is not installed.

    >>> bow = fit_bow_baseline(["a good film", "a bad film", "good", "bad"], [1, 0, 1, 0])
    >>> bow.predict(["good good", "so bad"])
    array([1, 0])
    """
    try:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from threadpoolctl import threadpool_limits
    except ImportError as err:  # an optional dependency: only the baseline needs it
        raise ImportError("the bag-of-words baseline needs scikit-learn: pip install scikit-learn") from err
    if len(train_texts) != len(train_labels):
        raise ValueError(f"got {len(train_texts)} texts but {len(train_labels)} labels")
    vectorizer = CountVectorizer(
        tokenizer=tokenize, lowercase=False, token_pattern=None, ngram_range=ngram_range, min_df=min_df
    )
    pipeline = make_pipeline(vectorizer, LogisticRegression(C=C, max_iter=max_iter))
    # One BLAS thread: this problem is small, and on a busy machine idle threads that spin while
    # waiting for work made the fit dozens of times slower on SST-2.
    with threadpool_limits(limits=1):
        pipeline.fit(list(train_texts), np.asarray(train_labels))
    return BowBaseline(pipeline)
# --8<-- [end:fit_bow_baseline]


# --8<-- [start:accuracy_by_group]
def accuracy_by_group(
    preds: Sequence[int] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    groups: Sequence[str | Iterable[str]],
) -> dict[str, float]:
    """Accuracy within each group, such as each phenomenon of the synthetic task.

    Args:
        preds: Predicted labels.
        labels: True labels.
        groups: One group name per example, or a collection of tags (the example then counts
            in each of its tags' groups).

    Returns:
        ``{group: accuracy}``, groups in alphabetical order.

    >>> accuracy_by_group([1, 0, 1, 1], [1, 1, 1, 0], ["plain", "negation", "plain", "negation"])
    {'negation': 0.0, 'plain': 1.0}
    """
    preds, labels = np.asarray(preds).tolist(), np.asarray(labels).tolist()
    if not len(preds) == len(labels) == len(groups):
        raise ValueError(f"lengths differ: {len(preds)} preds, {len(labels)} labels, {len(groups)} groups")
    correct: dict[str, list[bool]] = defaultdict(list)
    for pred, label, group in zip(preds, labels, groups, strict=True):
        for tag in [group] if isinstance(group, str) else group:
            correct[tag].append(pred == label)
    return {tag: float(np.mean(correct[tag])) for tag in sorted(correct)}
# --8<-- [end:accuracy_by_group]
