"""Solutions to the coding exercises of Chapter 9 (responsible transformers).

Each solution is printed, collapsed, under its exercise; ``tests/exercises/test_ch09.py``
checks that it really solves the exercise.
"""

from __future__ import annotations

# --8<-- [start:imports]
import itertools
import random
from collections.abc import Sequence

import numpy as np

from book_code.bias.amplification import bias_amplification
from book_code.experiments.responsible import (
    PERSON_CONFIG,
    classifier_score_fn,
    person_splits,
    train_classifier,
    training_shares,
)
from book_code.train import RunConfig

# --8<-- [end:imports]


# --8<-- [start:argmax_amplification]
def expected_amplification(ambiguous_share: float, skew: float, uses_gender: bool = True) -> float:
    """Zhao et al.'s amplification of an ideal classifier on data drawn like its training data.

    Labels are balanced; a share ``skew`` > 1/2 of positive examples mention a woman and the same
    share of negative ones a man; on a share ``ambiguous_share`` of the examples the text says
    nothing about the label, elsewhere it decides it. The classifier is right wherever the text
    decides. On ambiguous examples it predicts the likelier label given the gender (positive for
    a woman) if ``uses_gender``, otherwise a label that does not depend on the gender.
    """
    if not 0.0 <= ambiguous_share <= 1.0 or not 0.5 < skew <= 1.0:
        raise ValueError("need 0 <= ambiguous_share <= 1 and 1/2 < skew <= 1")
    q, s = ambiguous_share, skew
    # b~(positive, female) = (1 - q) s + q (gender-aware) or (1 - q) s + q / 2 (gender-blind).
    predicted = (1 - q) * s + (q if uses_gender else q / 2)
    return predicted - s  # the same for b~(negative, male), so also the mean over both labels


def simulate_amplification(ambiguous_share: float, skew: float, uses_gender: bool = True,
                           n: int = 40_000, seed: int = 0) -> float:
    """The same quantity measured: draw such a data set and apply `bias_amplification`."""
    rng = random.Random(seed)
    labels = [i % 2 for i in range(n)]
    genders = ["female" if (rng.random() < skew) == (y == 1) else "male" for y in labels]
    predictions = []
    for y, g in zip(labels, genders, strict=True):
        if rng.random() >= ambiguous_share:
            predictions.append(y)  # the text decides, and the classifier reads it
        elif uses_gender:
            predictions.append(1 if g == "female" else 0)
        else:
            predictions.append(rng.randrange(2))  # a coin that ignores the gender
    return bias_amplification(labels, genders, predictions, genders).value
# --8<-- [end:argmax_amplification]


# --8<-- [start:colour_vision]
# Viénot, Brettel & Mollon (1999): a dichromat's view of a colour, one matrix on linear RGB.
DICHROMACY = {
    "deuteranopia": np.array([[0.29031, 0.70969, 0.0], [0.29031, 0.70969, 0.0], [-0.02197, 0.02197, 1.0]]),
    "protanopia": np.array([[0.11238, 0.88762, 0.0], [0.11238, 0.88762, 0.0], [0.00401, -0.00401, 1.0]]),
}
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])


def linear_rgb(hex_colour: str) -> np.ndarray:
    """An ``"#RRGGBB"`` colour as linear RGB in [0, 1] (the sRGB curve undone)."""
    c = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def cielab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB coordinates (D65 white) of a linear-RGB colour."""
    xyz = SRGB_TO_XYZ @ np.clip(rgb, 0.0, 1.0) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def seen_as(hex_colour: str, deficiency: str | None = None) -> np.ndarray:
    """CIELAB coordinates of a colour as seen with ``deficiency`` (None: normal vision)."""
    rgb = linear_rgb(hex_colour)
    return cielab(DICHROMACY[deficiency] @ rgb if deficiency else rgb)


def hardest_pair(palette: Sequence[str], deficiency: str | None = None) -> tuple[float, str, str]:
    """The two colours of ``palette`` that are closest (CIELAB distance) for a viewer with
    ``deficiency``: ``(distance, colour_a, colour_b)``."""
    return min((float(np.linalg.norm(seen_as(a, deficiency) - seen_as(b, deficiency))), a, b)
               for a, b in itertools.combinations(palette, 2))
# --8<-- [end:colour_vision]


# --8<-- [start:skew_sweep]
def gap_by_skew(skews: Sequence[float], seeds: Sequence[int] = (0,),
                sizes: tuple[int, int, int] = (3200, 800, 800),
                config: RunConfig = PERSON_CONFIG) -> dict[float, dict[str, float]]:
    """Train the chapter-6 model on the person task at each skew; return, per skew, the training
    share b*(positive, female) and the mean counterfactual gap (female minus male) on the
    neutral test sentences and on those with sentiment words, averaged over ``seeds``."""
    out = {}
    for skew in skews:
        splits = person_splits(skew, *sizes)
        neutral = np.array([p == "neutral" for p in splits.test_phenomena])
        gaps = []
        for seed in seeds:
            trained = train_classifier(splits.train_texts, splits.train_labels, splits.dev_texts,
                                       splits.dev_labels, config, seed)
            score = classifier_score_fn(trained["model"], trained["vocab"])
            gaps.append(score(splits.test_female) - score(splits.test_male))
        gap = np.mean(gaps, axis=0)
        out[skew] = {"train_share": training_shares(splits.train_labels, splits.train_genders)[0],
                     "neutral_gap": float(gap[neutral].mean()),
                     "sentiment_gap": float(gap[~neutral].mean())}
    return out
# --8<-- [end:skew_sweep]
