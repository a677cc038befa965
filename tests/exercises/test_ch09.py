"""The solutions of chapter 9's exercises solve them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from book_code.exercises import ch09
from book_code.figures import PALETTE

TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
         "#bcbd22", "#17becf")


# Exercise 1: why an argmax classifier amplifies.
@pytest.mark.parametrize("share", [0.0, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("skew", [0.6, 0.8, 0.95])
@pytest.mark.parametrize("uses_gender", [True, False])
def test_amplification_formula_matches_a_simulation(share, skew, uses_gender):
    formula = ch09.expected_amplification(share, skew, uses_gender)
    measured = ch09.simulate_amplification(share, skew, uses_gender, n=40_000)
    assert measured == pytest.approx(formula, abs=0.01)


def test_amplification_formula_special_cases():
    assert ch09.expected_amplification(0.2, 0.8) == pytest.approx(0.2 * (1 - 0.8))  # q (1 - s)
    assert ch09.expected_amplification(1.0, 0.8, uses_gender=False) == pytest.approx(-0.3)  # 1/2 - s
    assert ch09.expected_amplification(0.0, 0.8) == 0.0  # nothing ambiguous: nothing amplified
    with pytest.raises(ValueError):
        ch09.expected_amplification(0.2, 0.5)


# Exercise 2: colour vision.
def test_colour_conversion_by_hand():
    assert np.allclose(ch09.seen_as("#FFFFFF"), [100.0, 0.0, 0.0], atol=0.05)
    assert np.allclose(ch09.seen_as("#000000"), [0.0, 0.0, 0.0], atol=1e-9)
    # The red-green axis a* separates pure red and green by more than 150 units for normal vision
    # and by a few units for a deuteranope, who tells them apart by lightness (L*) alone.
    assert ch09.seen_as("#FF0000")[1] - ch09.seen_as("#00FF00")[1] > 150
    red, green = ch09.seen_as("#FF0000", "deuteranopia"), ch09.seen_as("#00FF00", "deuteranopia")
    assert abs(red[1] - green[1]) < 10 and green[0] - red[0] > 20


def test_matplotlib_default_colours_merge_for_dichromats_and_okabe_ito_does_not():
    distance, a, b = ch09.hardest_pair(TAB10, "deuteranopia")
    assert {a, b} == {"#ff7f0e", "#bcbd22"} and distance < 6  # orange and olive
    normal, _, _ = ch09.hardest_pair(TAB10)
    assert normal > 25
    for deficiency in ("deuteranopia", "protanopia"):
        assert ch09.hardest_pair(PALETTE, deficiency)[0] > 3 * ch09.hardest_pair(TAB10, deficiency)[0]


# Exercise 3: the gap grows with the skew.
def test_gap_grows_with_the_skew_on_neutral_sentences():
    tiny = replace(ch09.PERSON_CONFIG, embed_dim=32, num_heads=2, num_layers=1, ff_dim=64, epochs=6)
    result = ch09.gap_by_skew((0.5, 0.95), seeds=(0,), sizes=(320, 80, 80), config=tiny)
    assert result[0.5]["train_share"] == 0.5 and result[0.95]["train_share"] == 0.95
    assert abs(result[0.5]["neutral_gap"]) < 0.15
    assert result[0.95]["neutral_gap"] > result[0.5]["neutral_gap"] + 0.3
