"""Classification metrics: accuracy, macro F1, confusion matrix and calibration (chapter 6).

Every function takes plain tensors (predicted class indices or probabilities, and true
labels) and returns Python numbers or tensors, so the same code serves the training loop,
the chapter's notebook and the tests. Conventions follow scikit-learn where it has the same
metric: the confusion matrix has true classes in rows and predicted classes in columns, and
macro F1 averages over the classes that occur in the labels or the predictions.
"""

from __future__ import annotations

# --8<-- [start:imports]
import torch

# --8<-- [end:imports]


# --8<-- [start:check_labels]
def _check_labels(predictions: torch.Tensor, labels: torch.Tensor) -> None:
    for name, tensor in (("predictions", predictions), ("labels", labels)):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(tensor).__name__}")
        if tensor.is_floating_point() or tensor.dim() != 1:
            raise ValueError(
                f"{name} must be a 1-D integer tensor of class indices; got {tensor.dtype} "
                f"of shape {tuple(tensor.shape)}"
            )
    if predictions.shape != labels.shape:
        raise ValueError(
            f"predictions and labels must have the same length; got {len(predictions)} and {len(labels)}"
        )
    if len(labels) == 0:
        raise ValueError("metrics need at least one example; got empty tensors")
# --8<-- [end:check_labels]


# --8<-- [start:accuracy]
def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """The fraction of examples whose predicted class equals the label.

    >>> accuracy(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 0, 0]))
    0.75
    """
    _check_labels(predictions, labels)
    return (predictions == labels).double().mean().item()
# --8<-- [end:accuracy]


# --8<-- [start:confusion_matrix]
def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts ``C[i, j]`` of examples of true class ``i`` predicted as class ``j``.

    >>> confusion_matrix(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 0, 0]), 2)
    tensor([[2, 1],
            [0, 1]])
    """
    _check_labels(predictions, labels)
    if min(predictions.min().item(), labels.min().item()) < 0 or max(
        predictions.max().item(), labels.max().item()
    ) >= num_classes:
        raise ValueError(f"class indices must lie in [0, num_classes={num_classes})")
    # Each (true, predicted) pair gets one cell index; counting the indices fills the matrix.
    cells = labels.long() * num_classes + predictions.long()
    return torch.bincount(cells.cpu(), minlength=num_classes**2).reshape(num_classes, num_classes)
# --8<-- [end:confusion_matrix]


# --8<-- [start:macro_f1]
def f1_per_class(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """F1 of each class, ``2 TP / (2 TP + FP + FN)``; 0 where the class never occurs.

    This form equals the harmonic mean of precision and recall whenever both exist, and
    needs no special case when a class is never predicted (precision 0/0).
    """
    matrix = confusion_matrix(predictions, labels, num_classes).double()
    true_positives = matrix.diagonal()
    false_positives = matrix.sum(dim=0) - true_positives  # predicted j, but true class differs
    false_negatives = matrix.sum(dim=1) - true_positives  # true class i, predicted as another
    denominator = 2 * true_positives + false_positives + false_negatives
    return torch.where(denominator > 0, 2 * true_positives / denominator.clamp(min=1), 0.0)


def macro_f1(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """The unweighted mean of the per-class F1 over the classes that occur in the labels or
    the predictions, as ``sklearn.metrics.f1_score(..., average="macro")`` computes it.

    Unlike accuracy, a rare class counts as much as a frequent one: a classifier that always
    predicts the majority class gets a low macro F1 however skewed the data are.

    >>> macro_f1(torch.tensor([0, 0, 0, 0]), torch.tensor([0, 0, 0, 1]), 2)  # F1s 6/7 and 0
    0.42857142857142855
    """
    scores = f1_per_class(predictions, labels, num_classes)
    present = torch.zeros(num_classes, dtype=torch.bool)
    present[labels.cpu()] = True
    present[predictions.cpu()] = True
    return scores[present].mean().item()
# --8<-- [end:macro_f1]


# --8<-- [start:calibration]
def calibration_bins(
    probabilities: torch.Tensor, labels: torch.Tensor, num_bins: int = 10
) -> dict[str, torch.Tensor]:
    """Group predictions by confidence into ``num_bins`` equal-width bins of ``[0, 1]``.

    The confidence of a prediction is its largest class probability; the prediction is the
    class with that probability. Bin ``b`` holds confidences in ``(b/M, (b+1)/M]`` (the first
    bin also holds 0), the binning of Guo et al. (2017). Returns, per bin, the number of
    examples ``count``, the mean ``confidence`` and the ``accuracy`` (both 0 in an empty bin):
    the data of a reliability diagram.
    """
    if not isinstance(probabilities, torch.Tensor) or not probabilities.is_floating_point():
        raise TypeError("probabilities must be a floating-point torch.Tensor (batch, num_classes)")
    if probabilities.dim() != 2 or len(probabilities) != len(labels):
        raise ValueError(
            "probabilities must have shape (batch, num_classes) with one row per label; got "
            f"{tuple(probabilities.shape)} and {len(labels)} labels"
        )
    if not torch.allclose(probabilities.sum(dim=1), torch.ones(()).to(probabilities), atol=1e-3):
        raise ValueError("each row of probabilities must sum to 1 (apply softmax to logits first)")
    if num_bins < 1:
        raise ValueError(f"num_bins must be a positive integer; got {num_bins}")
    confidence, predictions = probabilities.double().max(dim=1)
    correct = (predictions == labels.to(predictions.device)).double()
    # ceil(conf * M) - 1 maps (b/M, (b+1)/M] to b; clamp puts confidence 0 into the first bin.
    bins = (torch.ceil(confidence * num_bins).long() - 1).clamp(0, num_bins - 1)
    count = torch.bincount(bins, minlength=num_bins).double()
    conf_sum = torch.bincount(bins, weights=confidence, minlength=num_bins)
    correct_sum = torch.bincount(bins, weights=correct, minlength=num_bins)
    safe = count.clamp(min=1)
    return {"count": count, "confidence": conf_sum / safe, "accuracy": correct_sum / safe}


def expected_calibration_error(
    probabilities: torch.Tensor, labels: torch.Tensor, num_bins: int = 10
) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width bins.

    ``ECE = sum_b (n_b / n) |accuracy_b - confidence_b|`` over the bins of
    `calibration_bins` (Naeini et al., 2015; Guo et al., 2017). 0 means that among the
    predictions made with confidence about p, a fraction p is right.

    >>> probs = torch.tensor([[0.95, 0.05], [0.75, 0.25], [0.3, 0.7], [0.45, 0.55]])
    >>> round(expected_calibration_error(probs, torch.tensor([0, 1, 1, 1]), num_bins=5), 4)
    0.2375
    """
    bins = calibration_bins(probabilities, labels, num_bins)
    weights = bins["count"] / bins["count"].sum()
    return (weights * (bins["accuracy"] - bins["confidence"]).abs()).sum().item()
# --8<-- [end:calibration]


# --8<-- [start:accuracy_by_group]
def accuracy_by_group(predictions: torch.Tensor, labels: torch.Tensor, groups: list[str]) -> dict[str, dict]:
    """Accuracy and size of every group of examples (e.g. every phenomenon of a task).

    >>> accuracy_by_group(torch.tensor([1, 0, 1]), torch.tensor([1, 1, 1]), ["a", "b", "a"])
    {'a': {'accuracy': 1.0, 'n': 2}, 'b': {'accuracy': 0.0, 'n': 1}}
    """
    _check_labels(predictions, labels)
    if len(groups) != len(labels):
        raise ValueError(f"need one group per example; got {len(groups)} groups for {len(labels)} labels")
    result = {}
    for group in sorted(set(groups)):
        members = torch.tensor([g == group for g in groups])
        result[group] = {"accuracy": accuracy(predictions[members], labels[members]), "n": int(members.sum())}
    return result
# --8<-- [end:accuracy_by_group]


# --8<-- [start:classification_metrics]
def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, num_bins: int = 10) -> dict:
    """Accuracy, macro F1, ECE and the confusion matrix (as nested lists) from logits."""
    num_classes = logits.shape[-1]
    probabilities = torch.softmax(logits.double(), dim=-1)
    predictions = probabilities.argmax(dim=-1)
    return {
        "accuracy": accuracy(predictions, labels),
        "macro_f1": macro_f1(predictions, labels, num_classes),
        "ece": expected_calibration_error(probabilities, labels, num_bins),
        "confusion_matrix": confusion_matrix(predictions, labels, num_classes).tolist(),
    }
# --8<-- [end:classification_metrics]
