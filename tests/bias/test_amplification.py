"""Bias amplification (Zhao et al., 2017) on examples worked by hand."""

from __future__ import annotations

import pytest

from book_code.bias.amplification import bias_amplification, bias_scores


def repeat(pairs: list[tuple[str, str, int]]) -> tuple[list[str], list[str]]:
    """(label, group, count) rows -> label and group lists."""
    labels = [y for y, _, n in pairs for _ in range(n)]
    groups = [g for _, g, n in pairs for _ in range(n)]
    return labels, groups


TRAIN = repeat([("pos", "f", 60), ("pos", "m", 40), ("neg", "f", 30), ("neg", "m", 70)])


def test_bias_scores_by_hand():
    b = bias_scores(*TRAIN)
    assert b == {"neg": {"f": 0.3, "m": 0.7}, "pos": {"f": 0.6, "m": 0.4}}


def test_amplification_two_groups_by_hand():
    # Training: pos leans f (0.6), neg leans m (0.7). Predictions: 0.7 and 0.8.
    predicted = repeat([("pos", "f", 70), ("pos", "m", 30), ("neg", "f", 20), ("neg", "m", 80)])
    result = bias_amplification(*TRAIN, *predicted)
    assert result.value == pytest.approx(((0.7 - 0.6) + (0.8 - 0.7)) / 2)
    assert [(t.label, t.group) for t in result.terms] == [("neg", "m"), ("pos", "f")]
    assert result.num_labels == 2 and result.groups == ("f", "m")


def test_amplification_three_groups_by_hand():
    # x: b*(x, a) = 0.5 > 1/3 is the only over-represented group; predicted 0.6 -> +0.1.
    # y: a and b both 0.4 > 1/3; predicted 0.3 and 0.5 -> -0.1 + 0.1 = 0. Mean over 2 labels: 0.05.
    train = repeat([("x", "a", 5), ("x", "b", 3), ("x", "c", 2), ("y", "a", 4), ("y", "b", 4), ("y", "c", 2)])
    pred = repeat([("x", "a", 6), ("x", "b", 2), ("x", "c", 2), ("y", "a", 3), ("y", "b", 5), ("y", "c", 2)])
    result = bias_amplification(*train, *pred)
    assert result.value == pytest.approx(0.05)
    assert len(result.terms) == 3


def test_no_amplification_when_predictions_match_training():
    result = bias_amplification(*TRAIN, *TRAIN)
    assert result.value == pytest.approx(0.0)


def test_a_balanced_label_adds_nothing_but_counts():
    train = repeat([("pos", "f", 5), ("pos", "m", 5), ("neg", "f", 2), ("neg", "m", 8)])
    pred = repeat([("pos", "f", 9), ("pos", "m", 1), ("neg", "f", 1), ("neg", "m", 9)])
    result = bias_amplification(*train, *pred)
    assert [t.label for t in result.terms] == ["neg"]
    assert result.value == pytest.approx((0.9 - 0.8) / 2)


def test_reduced_association_is_negative_and_none_groups_are_ignored():
    labels, groups = TRAIN
    pred = repeat([("pos", "f", 50), ("pos", "m", 50), ("neg", "f", 50), ("neg", "m", 50)])
    result = bias_amplification(labels + ["pos"] * 7, groups + [None] * 7, *pred)
    assert result.value == pytest.approx(((0.5 - 0.6) + (0.5 - 0.7)) / 2)


def test_table():
    result = bias_amplification(*TRAIN, *TRAIN)
    table = result.table()
    assert "| pos | f | 0.600 | 0.600 | +0.000 |" in table
    assert table.splitlines()[-1].startswith("| mean over 2 labels")


def test_bad_inputs():
    with pytest.raises(ValueError, match="same length"):
        bias_scores(["pos", "neg"], ["f"])
    with pytest.raises(ValueError, match="no instance has a group"):
        bias_scores(["pos"], [None])
    with pytest.raises(TypeError, match="not strings"):
        bias_scores("pn", "fm")
    with pytest.raises(ValueError, match="predicted as"):
        bias_amplification(*TRAIN, ["pos"] * 4, ["f", "m", "f", "m"])
