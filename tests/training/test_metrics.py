"""Metrics against hand-worked examples and, where it has the same metric, scikit-learn."""

from __future__ import annotations

import math

import pytest
import torch

from book_code.training.metrics import (
    accuracy,
    calibration_bins,
    classification_metrics,
    confusion_matrix,
    expected_calibration_error,
    f1_per_class,
    macro_f1,
)

LABELS = torch.tensor([0, 0, 1, 1, 2, 2])
PREDICTIONS = torch.tensor([0, 1, 1, 1, 2, 0])


def test_accuracy_by_hand():
    assert accuracy(PREDICTIONS, LABELS) == pytest.approx(4 / 6)
    assert accuracy(LABELS, LABELS) == 1.0


def test_confusion_matrix_by_hand():
    # Rows are true classes, columns predictions: one 0 predicted as 1, one 2 predicted as 0.
    expected = torch.tensor([[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    assert torch.equal(confusion_matrix(PREDICTIONS, LABELS, 3), expected)
    assert confusion_matrix(PREDICTIONS, LABELS, 3).sum() == len(LABELS)


def test_macro_f1_by_hand():
    # class 0: TP 1, FP 1, FN 1 -> 2/4; class 1: TP 2, FP 1, FN 0 -> 4/5; class 2: TP 1, FP 0, FN 1 -> 2/3
    per_class = f1_per_class(PREDICTIONS, LABELS, 3)
    assert torch.allclose(per_class, torch.tensor([0.5, 0.8, 2 / 3], dtype=torch.float64))
    assert macro_f1(PREDICTIONS, LABELS, 3) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_macro_f1_ignores_classes_that_never_occur():
    # Class 3 is neither a label nor a prediction: it must not pull the mean down.
    assert macro_f1(PREDICTIONS, LABELS, 4) == pytest.approx(macro_f1(PREDICTIONS, LABELS, 3))


def test_macro_f1_punishes_majority_guessing():
    labels = torch.tensor([0] * 9 + [1])
    always_zero = torch.zeros(10, dtype=torch.long)
    assert accuracy(always_zero, labels) == pytest.approx(0.9)
    assert macro_f1(always_zero, labels, 2) == pytest.approx((18 / 19 + 0) / 2)


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_scikit_learn(seed):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (200,), generator=generator)
    predictions = torch.where(torch.rand(200, generator=generator) < 0.6, labels,
                              torch.randint(0, 4, (200,), generator=generator))
    if seed == 0:
        predictions[predictions == 3] = 2  # a class that is never predicted
    assert accuracy(predictions, labels) == pytest.approx(sklearn_metrics.accuracy_score(labels, predictions))
    assert confusion_matrix(predictions, labels, 4).tolist() == sklearn_metrics.confusion_matrix(
        labels, predictions, labels=range(4)
    ).tolist()
    expected = sklearn_metrics.f1_score(labels, predictions, average="macro", zero_division=0)
    assert macro_f1(predictions, labels, 4) == pytest.approx(expected)


def test_ece_by_hand():
    # Confidences 0.95 (right), 0.75 (wrong), 0.7 (right), 0.55 (right); five bins of width 0.2.
    probs = torch.tensor([[0.95, 0.05], [0.75, 0.25], [0.3, 0.7], [0.45, 0.55]])
    labels = torch.tensor([0, 1, 1, 1])
    bins = calibration_bins(probs, labels, num_bins=5)
    assert bins["count"].tolist() == [0, 0, 1, 2, 1]
    assert bins["accuracy"].tolist() == pytest.approx([0, 0, 1.0, 0.5, 1.0])
    assert bins["confidence"].tolist() == pytest.approx([0, 0, 0.55, 0.725, 0.95])
    # ECE = (1 * |1 - 0.55| + 2 * |0.5 - 0.725| + 1 * |1 - 0.95|) / 4
    assert expected_calibration_error(probs, labels, 5) == pytest.approx((0.45 + 0.45 + 0.05) / 4)


def test_ece_bin_edges_belong_to_the_lower_bin():
    # Confidence exactly 0.5 is in (0, 0.5], the first of two bins; 1.0 is in the last bin.
    probs = torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float64)
    bins = calibration_bins(probs, torch.tensor([0, 0]), num_bins=2)
    assert bins["count"].tolist() == [1, 1]


def test_ece_extremes():
    labels = torch.tensor([0, 1, 0, 1])
    # Confidently wrong every time: ECE equals the mean confidence.
    wrong = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert expected_calibration_error(wrong, labels) == pytest.approx((0.9 + 0.8 + 0.7 + 0.6) / 4)
    # A bin whose accuracy equals its confidence contributes nothing: half right at 0.5.
    coin = torch.full((4, 2), 0.5)
    assert expected_calibration_error(coin, torch.tensor([0, 1, 1, 0]), 10) == pytest.approx(0.0)


def test_classification_metrics_from_logits():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 0.5]])
    labels = torch.tensor([0, 1, 1, 1])
    result = classification_metrics(logits, labels)
    assert result["accuracy"] == 0.75
    assert result["confusion_matrix"] == [[1, 0], [1, 2]]
    probs = torch.softmax(logits.double(), dim=-1)
    assert result["ece"] == pytest.approx(expected_calibration_error(probs, labels))
    assert 0.0 <= result["macro_f1"] <= 1.0 and math.isfinite(result["ece"])


def test_clear_errors():
    with pytest.raises(ValueError, match="same length"):
        accuracy(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match="integer"):
        accuracy(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix(torch.tensor([0, 2]), torch.tensor([0, 1]), 2)
    with pytest.raises(ValueError, match="sum to 1"):
        expected_calibration_error(torch.tensor([[2.0, 1.0]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="at least one"):
        accuracy(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long))
