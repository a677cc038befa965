"""The command line: ``python -m book_code.train`` on a tiny configuration, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from book_code.train import RunConfig, build_parser, config_from_args, main
from book_code.training.checkpoint import load_classifier

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "n_train": 160, "n_dev": 40, "n_test": 40, "embed_dim": 16, "num_heads": 2, "num_layers": 1,
    "ff_dim": 32, "epochs": 2, "batch_size": 32, "threads": 1, "progress": False,
}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "book_code.train", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--output", "--config", "--task", "--lr", "--patience", "--precision", "--no-progress"):
        assert flag in text


def test_trains_from_a_json_config_and_writes_checkpoint_and_metrics(tmp_path):
    """The real command in a fresh interpreter, as a reader runs it."""
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({**TINY, "epochs": 5}))
    output = tmp_path / "run"
    done = run_cli("--config", str(config), "--epochs", "2", "--output", str(output))  # the flag wins
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(os.listdir(output)) == ["checkpoint.pt", "metrics.json"]  # no temporary files left
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["config"]["epochs"] == 2 and metrics["config"]["embed_dim"] == 16
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert set(metrics["test"]["by_phenomenon"]) == {"plain", "intensifier", "negation", "contrast"}
    assert sum(g["n"] for g in metrics["test"]["by_phenomenon"].values()) == 40
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    # The checkpoint rebuilds the model, which reproduces the reported dev accuracy.
    model, vocab, checkpoint = load_classifier(output / "checkpoint.pt")
    assert checkpoint.extra["epoch"] == metrics["best_epoch"]
    assert checkpoint.extra["dev"]["accuracy"] == metrics["dev"]["accuracy"]
    assert len(vocab) == metrics["vocab_size"] == model.config.vocab_size
    ids = torch.tensor([vocab.encode("the plot is not dull, it is clever.", add_cls=True)])
    assert model(ids).shape == (1, 2)


def test_bad_configuration_is_a_clear_error(tmp_path, capsys):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"embed_dimension": 16}))
    assert main(["--config", str(config), "--output", str(tmp_path / "x")]) == 2
    assert "embed_dimension" in capsys.readouterr().err
    assert main(["--positional", "alibi", "--output", str(tmp_path / "x")]) == 2
    assert "positional" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_flags_override_the_file_and_special_values(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"lr": 0.1, "patience": 5}))
    args = build_parser().parse_args(
        ["--config", str(config), "--output", "x", "--patience", "0", "--max-grad-norm", "-1", "--no-bucket"]
    )
    parsed = config_from_args(args)
    assert parsed.lr == 0.1 and parsed.patience is None and parsed.max_grad_norm is None
    assert parsed.bucket is False and parsed.epochs == RunConfig().epochs
    with pytest.raises(ValueError, match="task"):
        RunConfig(task="imagenet")
