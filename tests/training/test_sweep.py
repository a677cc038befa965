"""The hyperparameter sweep of chapter 6, on tiny settings, and the committed results files.

The results files are checked in two ways. Their recorded configuration must equal the code's
current one (the base recipe, the axes and the seeds), so that changing a default without
rerunning the documented command fails here. And the probe run stored in the sweep file is
repeated: if the training code no longer computes what it computed when the file was written,
its losses differ. Losses are compared with a tolerance of 1e-3: different CPUs may round the
last bits of float32 differently, and three epochs of training do not amplify that to 1e-3.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from book_code.training.experiments import CHAPTER_CONFIG
from book_code.training.sweep import (
    AXES,
    BASE_CONFIG,
    COMMAND,
    PROBE_CONFIG,
    SEEDS,
    run_sweep,
    summarise,
    sweep_configs,
    train_one,
)

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "chapters" / "results"
SWEEP_FILE = RESULTS / "ch06_sweep.json"
MODEL_DIR = RESULTS / "ch06_model"
TINY = replace(PROBE_CONFIG, n_train=64, n_dev=16, embed_dim=16, ff_dim=32, epochs=1, batch_size=16)
TINY_AXES = {"lr": [(1e-3, {"lr": 1e-3}), (TINY.lr, {"lr": TINY.lr})],
             "width": [(16, {"embed_dim": 16, "ff_dim": 32}), (32, {"embed_dim": 32, "ff_dim": 64})]}
RUN_KEYS = {"seed", "dev_accuracy", "dev_loss", "dev_ece", "dev_by_phenomenon", "dev_accuracy_per_epoch",
            "train_loss_per_epoch", "best_epoch", "parameters", "train_seconds", "diverged"}


def as_json(value):
    return json.loads(json.dumps(value))


def test_base_is_the_chapter_recipe_with_a_short_budget():
    assert BASE_CONFIG.epochs < CHAPTER_CONFIG.epochs
    changed = {k for k, v in asdict(BASE_CONFIG).items() if asdict(CHAPTER_CONFIG)[k] != v}
    assert changed <= {"epochs", "threads", "progress"}
    # Every axis passes through the base recipe, so the base is its centre.
    for axis, points in AXES.items():
        assert any(all(getattr(BASE_CONFIG, k) == v for k, v in o.items()) for _, o in points), axis


def test_the_base_recipe_is_trained_once_per_seed():
    configs = sweep_configs(BASE_CONFIG, AXES, SEEDS)
    settings = sum(len(points) - 1 for points in AXES.values()) + 1  # the base lies on every axis
    assert len(configs) == settings * len(SEEDS)
    assert len({repr(c) for c in configs}) == len(configs)


def test_tiny_sweep_has_the_structure_of_the_results_file():
    sweep = run_sweep(TINY, TINY_AXES, seeds=(0, 1))
    assert sweep["runs"] == 6  # 2 + 2 settings, one shared (the base), times 2 seeds
    assert sweep["base_config"] == asdict(TINY)
    for axis, points in sweep["results"].items():
        assert [p["value"] for p in points] == [v for v, _ in TINY_AXES[axis]]
        for point in points:
            assert [r["seed"] for r in point["runs"]] == [0, 1]
            for run in point["runs"]:
                assert set(run) == RUN_KEYS
                assert len(run["dev_accuracy_per_epoch"]) == TINY.epochs
                assert 0.0 <= run["dev_accuracy"] <= 1.0
    # The base recipe's runs are shared between the axes, not trained twice.
    assert sweep["results"]["lr"][1]["runs"] == sweep["results"]["width"][0]["runs"]
    # A wider model has more parameters.
    params = [p["runs"][0]["parameters"] for p in sweep["results"]["width"]]
    assert params[1] > params[0]
    table = summarise(sweep)
    assert [row["is_base"] for row in table["lr"]] == [False, True]
    for row in table["width"]:
        assert row["min"] <= row["mean"] <= row["max"]


def test_summarise_counts_a_diverged_run_as_a_coin_flip():
    good = {"seed": 0, "dev_accuracy": 0.9, "dev_by_phenomenon": {"negation": 0.8, "contrast": 0.6},
            "train_seconds": 1.0, "diverged": False}
    bad = {"seed": 1, "dev_accuracy": None, "diverged": True}
    sweep = {"base_config": {"lr": 1.0}, "results": {"lr": [{"value": 1.0, "overrides": {"lr": 1.0},
                                                             "runs": [good, bad]}]}}
    (row,) = summarise(sweep)["lr"]
    assert row["mean"] == pytest.approx(0.7) and row["min"] == 0.5 and row["diverged"] == 1
    assert row["word_order_mean"] == pytest.approx((0.7 + 0.5) / 2)


@pytest.mark.skipif(not SWEEP_FILE.exists(), reason="sweep results not generated yet")
def test_sweep_file_is_current():
    sweep = json.loads(SWEEP_FILE.read_text())
    rerun = f"rerun: {COMMAND}"
    assert sweep["command"] == COMMAND
    assert sweep["base_config"] == asdict(BASE_CONFIG), rerun
    assert sweep["axes"] == as_json({a: [[v, o] for v, o in points] for a, points in AXES.items()}), rerun
    assert sweep["seeds"] == list(SEEDS), rerun
    assert sweep["probe"]["config"] == asdict(PROBE_CONFIG), rerun
    for axis, points in sweep["results"].items():
        assert [p["value"] for p in points] == [v for v, _ in AXES[axis]]
        for point in points:
            assert [r["seed"] for r in point["runs"]] == list(SEEDS)
            for run in point["runs"]:
                assert run["diverged"] or set(run) == RUN_KEYS
                assert run["diverged"] or len(run["dev_accuracy_per_epoch"]) == BASE_CONFIG.epochs


@pytest.mark.skipif(not SWEEP_FILE.exists(), reason="sweep results not generated yet")
def test_probe_run_reproduces_the_recorded_one():
    recorded = json.loads(SWEEP_FILE.read_text())["probe"]["result"]
    again = train_one(PROBE_CONFIG)
    rerun = f"the training code changed since the sweep was run; rerun: {COMMAND}"
    for old, new in zip(recorded["train_loss_per_epoch"], again["train_loss_per_epoch"], strict=True):
        assert math.isclose(old, new, abs_tol=1e-3), rerun
    assert math.isclose(recorded["dev_loss"], again["dev_loss"], abs_tol=1e-3), rerun
    assert abs(recorded["dev_accuracy"] - again["dev_accuracy"]) <= 0.02, rerun
    assert recorded["parameters"] == again["parameters"]


@pytest.mark.skipif(not (MODEL_DIR / "checkpoint.pt").exists(), reason="chapter model not trained yet")
def test_chapter_checkpoint_is_the_chapter_recipe():
    """The notebook's model comes from the chapter's configuration (see the chapter for the
    command), and is the run that ch06_results.json reports for seed 0."""
    from book_code.training import load_checkpoint

    metrics = json.loads((MODEL_DIR / "metrics.json").read_text())
    expected = {**asdict(CHAPTER_CONFIG), "threads": metrics["config"]["threads"]}
    assert metrics["config"] == expected, "rerun the command in docs/chapters/06-training.md"
    checkpoint = load_checkpoint(MODEL_DIR / "checkpoint.pt")
    assert checkpoint.config == metrics["model_config"]
    assert checkpoint.extra["epoch"] == metrics["best_epoch"]
    assert (MODEL_DIR / "checkpoint.pt").stat().st_size < 2_000_000
