"""Bias amplification: does a model associate a group with a label more strongly than its data?

Zhao et al. (2017), *Men Also Like Shopping: Reducing Gender Bias Amplification using Corpus-level
Constraints* (EMNLP 2017, Section 3), define the **bias score** of an output label ``y`` towards a
group ``g`` as the share of ``y``'s instances that belong to ``g``:

    b(y, g) = c(y, g) / sum_{g'} c(y, g'),

where ``c(y, g)`` counts instances with label ``y`` and group ``g``. With ``b*`` measured on the
training labels and ``b~`` on the model's predictions, the **mean bias amplification** is

    A = (1 / |Y|) * sum_g sum_{y : b*(y, g) > 1/|G|} ( b~(y, g) - b*(y, g) ),

the average, over labels, of how much the group that a label over-represents in the training data
(share above the even share ``1/|G|``) gains in the predictions. ``A > 0``: the model exaggerates
the data's associations. Wang & Russakovsky (2021, *Directional Bias Amplification*, ICML) refine
the measure (direction, and a correction for base rates); this module implements Zhao et al.'s.
"""

from __future__ import annotations

# --8<-- [start:imports]
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

# --8<-- [end:imports]


# --8<-- [start:checks]
def _kept(labels: Sequence, groups: Sequence) -> list[tuple]:
    if isinstance(labels, str | bytes) or isinstance(groups, str | bytes):
        raise TypeError("labels and groups must be sequences, not strings")
    labels, groups = list(labels), list(groups)
    if len(labels) != len(groups):
        raise ValueError(
            f"labels and groups must have the same length; got {len(labels)} and {len(groups)}"
        )
    kept = [(y, g) for y, g in zip(labels, groups, strict=True) if g is not None]
    if not kept:
        raise ValueError("no instance has a group: groups is empty or all None")
    return kept
# --8<-- [end:checks]


# --8<-- [start:bias_scores]
def bias_scores(
    labels: Sequence[Hashable], groups: Sequence[Hashable | None]
) -> dict[Hashable, dict[Hashable, float]]:
    """Zhao et al.'s bias score ``b(y, g)``: for each label, the share of its instances in each group.

    Instances whose group is ``None`` (no identity term, say) are left out.

    Example:
        >>> bias_scores(["pos", "pos", "pos", "neg"], ["f", "f", "m", "m"])
        {'neg': {'f': 0.0, 'm': 1.0}, 'pos': {'f': 0.6666666666666666, 'm': 0.3333333333333333}}
    """
    kept = _kept(labels, groups)
    all_groups = sorted({g for _, g in kept}, key=str)
    counts = Counter(kept)
    totals = Counter(y for y, _ in kept)
    return {
        y: {g: counts[y, g] / totals[y] for g in all_groups}
        for y in sorted(totals, key=str)
    }
# --8<-- [end:bias_scores]


# --8<-- [start:result]
@dataclass(frozen=True)
class LabelBias:
    """One term of the sum: a label, a group it over-represents in training, and both scores."""

    label: Hashable
    group: Hashable
    train_bias: float
    predicted_bias: float

    @property
    def amplification(self) -> float:
        return self.predicted_bias - self.train_bias


@dataclass(frozen=True)
class AmplificationResult:
    """Mean bias amplification (`value`) and the terms it averages."""

    value: float
    terms: tuple[LabelBias, ...]
    num_labels: int
    groups: tuple[Hashable, ...]

    def table(self) -> str:
        """The terms as a Markdown table."""
        lines = ["| label | over-represented group | b train | b predicted | change |",
                 "|---|---|---:|---:|---:|"]
        lines += [f"| {t.label} | {t.group} | {t.train_bias:.3f} | {t.predicted_bias:.3f} | "
                  f"{t.amplification:+.3f} |" for t in self.terms]
        lines.append(f"| mean over {self.num_labels} labels | | | | {self.value:+.3f} |")
        return "\n".join(lines)
# --8<-- [end:result]


# --8<-- [start:bias_amplification]
def bias_amplification(
    train_labels: Sequence[Hashable],
    train_groups: Sequence[Hashable | None],
    predicted_labels: Sequence[Hashable],
    predicted_groups: Sequence[Hashable | None],
) -> AmplificationResult:
    """Zhao et al.'s (2017) mean bias amplification of predictions relative to training data.

    Args:
        train_labels: Gold labels of the training instances.
        train_groups: Group of each training instance (e.g. `gender_of` its text); ``None``
            leaves the instance out.
        predicted_labels: The model's labels on the evaluation instances.
        predicted_groups: Group of each evaluation instance; ``None`` leaves it out.

    Returns:
        An `AmplificationResult`; ``value`` is positive when predictions exaggerate the training
        data's label-group associations.

    Example:
        >>> result = bias_amplification(["pos"] * 10, ["f"] * 6 + ["m"] * 4,
        ...                            ["pos"] * 10, ["f"] * 8 + ["m"] * 2)
        >>> round(result.value, 6)  # b(pos, f) rose from 0.6 to 0.8
        0.2
    """
    b_train = bias_scores(train_labels, train_groups)
    b_pred = bias_scores(predicted_labels, predicted_groups)
    groups = tuple(sorted({g for row in (*b_train.values(), *b_pred.values()) for g in row}, key=str))
    missing = [y for y in b_train if y not in b_pred]
    if missing:
        raise ValueError(
            f"no evaluation instance is predicted as {missing}: their bias score is undefined "
            "(0/0); bias amplification needs predictions of every training label"
        )
    terms = []
    for y, shares in b_train.items():
        for g in groups:
            share = shares.get(g, 0.0)
            if share > 1.0 / len(groups):  # g is over-represented among y's training instances
                terms.append(LabelBias(y, g, share, b_pred[y].get(g, 0.0)))
    value = sum(t.amplification for t in terms) / len(b_train)
    return AmplificationResult(value, tuple(terms), len(b_train), groups)
# --8<-- [end:bias_amplification]
