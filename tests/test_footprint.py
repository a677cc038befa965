"""Footprint: FLOP formulas on hand-worked examples and against chapter 5's exact count, the
published GPT-3 figures reproduced, the wall timer, and clear errors for impossible assumptions."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from book_code.encoder import ClassifierConfig, flops_per_forward
from book_code.footprint import (
    GPT3_PATTERSON_2021,
    GPT3_TRAINING_TOKENS,
    FootprintEstimate,
    WallTimer,
    classifier_flops,
    co2e_kg,
    energy_kwh,
    estimate_footprint,
    gpt3_co2e_from_published_energy,
    gpt3_footprint_from_published_hardware,
    inference_flops,
    training_flops,
)

# --- FLOPs --------------------------------------------------------------------------------------


def test_flop_formulas_by_hand():
    assert inference_flops(1_000, 10) == 20_000  # 2 N D
    assert training_flops(1_000, 10) == 60_000  # 6 N D
    # attention: 4 * layers * seq_len * embed_dim per token = 4 * 2 * 5 * 8 = 320; x 10 tokens
    assert inference_flops(1_000, 10, num_layers=2, seq_len=5, embed_dim=8) == 20_000 + 3_200
    assert training_flops(1_000, 10, num_layers=2, seq_len=5, embed_dim=8) == 3 * 23_200
    assert inference_flops(0, 10) == 0 and training_flops(1e9, 0) == 0


def test_approximation_equals_chapter_5_exact_count_for_the_encoder():
    """Encoder matmuls per sequence = 2 * (weight matrices' parameters) * n + the attention term."""
    config = ClassifierConfig(vocab_size=1000, num_classes=2, embed_dim=64, num_heads=4, num_layers=3)
    E, F, L, n = config.embed_dim, config.ff_dim, config.num_layers, 32
    weights = L * (4 * E * E + 2 * E * F)  # W_Q, W_K, W_V, W_O and the two feed-forward matrices
    exact = flops_per_forward(config, batch=1, seq_len=n)["encoder"]
    assert inference_flops(weights, n, num_layers=L, seq_len=n, embed_dim=E) == exact


def test_classifier_flops_is_chapter_5_count():
    config = ClassifierConfig(vocab_size=500, num_classes=3, embed_dim=32, num_heads=2, num_layers=2)
    forward = flops_per_forward(config, batch=7, seq_len=16)["total"]
    assert classifier_flops(config, 7, 16) == forward
    assert classifier_flops(config, 7, 16, training=True) == 3 * forward


def test_gpt3_training_compute_matches_the_published_figure():
    # 6 * 175e9 * 300e9 = 3.15e23 against the published 3.14e23 (Brown et al., 2020, Table D.1).
    estimate = training_flops(GPT3_PATTERSON_2021.parameters, GPT3_TRAINING_TOKENS)
    assert estimate == pytest.approx(3.15e23)
    assert abs(estimate / GPT3_PATTERSON_2021.flops - 1) < 0.01


# --- energy and emissions -----------------------------------------------------------------------


def test_energy_and_co2e_by_hand():
    # 4 devices x 250 W x 0.8 x 3 h x 1.5 = 3600 Wh = 3.6 kWh; at 500 g/kWh: 1.8 kg.
    e = estimate_footprint(hours=3, device_power_watts=250, utilisation=0.8, pue=1.5,
                           grid_intensity_g_per_kwh=500, num_devices=4)
    assert e.energy_kwh == pytest.approx(3.6)
    assert e.co2e_kg == pytest.approx(1.8)
    assert isinstance(e, FootprintEstimate)
    assert e.as_dict()["pue"] == 1.5 and e.as_dict()["num_devices"] == 4  # assumptions kept
    assert energy_kwh(hours=1, device_power_watts=1000, utilisation=1, pue=1) == 1.0
    assert co2e_kg(energy_kwh=1000, grid_intensity_g_per_kwh=429) == pytest.approx(429)
    assert "| energy (kWh) | 3.6 |" in e.table() and "| PUE | 1.5 |" in e.table()


def test_estimate_is_linear_in_time_and_devices():
    kwargs = dict(device_power_watts=300, utilisation=0.5, pue=1.2, grid_intensity_g_per_kwh=300)
    one = estimate_footprint(hours=2, **kwargs)
    assert estimate_footprint(hours=4, **kwargs).energy_kwh == pytest.approx(2 * one.energy_kwh)
    assert estimate_footprint(hours=2, num_devices=3, **kwargs).co2e_kg == pytest.approx(3 * one.co2e_kg)
    assert estimate_footprint(hours=0, **kwargs).energy_kwh == 0


def test_gpt3_co2e_from_published_energy():
    # 1,287 MWh x 0.429 kg/kWh = 552.123 t (Patterson et al., 2021, Table 4: 552 t).
    assert gpt3_co2e_from_published_energy() == pytest.approx(552.123)
    assert round(gpt3_co2e_from_published_energy()) == GPT3_PATTERSON_2021.co2e_tonnes


def test_gpt3_bottom_up_estimate_is_within_half_a_percent_of_the_published_energy():
    # 10,000 x 330 W x 14.8 days x 24 h x 1.10 = 1,289.4 MWh
    e = gpt3_footprint_from_published_hardware()
    assert e.energy_kwh == pytest.approx(1_289_376)
    assert abs(e.energy_kwh / (GPT3_PATTERSON_2021.energy_mwh * 1000) - 1) < 0.005
    assert abs(e.co2e_kg / (GPT3_PATTERSON_2021.co2e_tonnes * 1000) - 1) < 0.005


# --- wall time ----------------------------------------------------------------------------------


def test_wall_timer_measures_and_freezes():
    with WallTimer() as timer:
        time.sleep(0.02)
        inside = timer.seconds
    first = timer.seconds
    time.sleep(0.01)
    assert 0.02 <= inside <= first < 5.0
    assert timer.seconds == first  # frozen after the block
    assert timer.hours == pytest.approx(first / 3600)
    with pytest.raises(RuntimeError, match="not been started"):
        _ = WallTimer().seconds


# --- bad inputs ---------------------------------------------------------------------------------

GOOD = dict(hours=1.0, device_power_watts=300.0, utilisation=0.5, pue=1.1, grid_intensity_g_per_kwh=400.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"device_power_watts": -300.0}, "device_power_watts must be positive"),
        ({"device_power_watts": 0.0}, "device_power_watts must be positive"),
        ({"utilisation": 1.2}, r"utilisation .* \[0, 1\]"),
        ({"utilisation": -0.1}, r"utilisation .* \[0, 1\]"),
        ({"pue": 0.9}, "pue .* >= 1"),
        ({"hours": -1.0}, "hours must be non-negative"),
        ({"hours": math.nan}, "hours must be a finite number"),
        ({"hours": math.inf}, "hours must be a finite number"),
        ({"grid_intensity_g_per_kwh": -5.0}, "grid_intensity_g_per_kwh must be non-negative"),
        ({"device_power_watts": "300"}, "device_power_watts must be a finite number"),
        ({"utilisation": True}, "utilisation must be a finite number"),
        ({"num_devices": 0}, "num_devices must be positive"),
        ({"num_devices": 2.5}, "num_devices must be an integer"),
    ],
)
def test_impossible_assumptions_are_clear_errors(change, message):
    with pytest.raises(ValueError, match=message):
        estimate_footprint(**{**GOOD, **change})


def test_numpy_numbers_are_accepted():
    e = estimate_footprint(**{**GOOD, "hours": np.float64(2.0), "num_devices": np.int64(2)})
    assert e.energy_kwh == pytest.approx(2 * 2 * 300 * 0.5 * 1.1 / 1000)


def test_bad_flop_inputs():
    with pytest.raises(ValueError, match="n_params must be non-negative"):
        inference_flops(-1, 10)
    with pytest.raises(ValueError, match="tokens must be a finite number"):
        training_flops(10, math.inf)
    with pytest.raises(ValueError, match="give all of"):
        inference_flops(10, 10, seq_len=5)
    with pytest.raises(ValueError, match="seq_len must be an integer"):
        inference_flops(10, 10, num_layers=1, seq_len=5.5, embed_dim=4)
    config = ClassifierConfig(vocab_size=10, num_classes=2, embed_dim=8, num_heads=2, num_layers=1)
    with pytest.raises(ValueError, match="num_sequences must be an integer"):
        classifier_flops(config, 1.0, 4)
