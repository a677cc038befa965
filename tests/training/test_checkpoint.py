"""Checkpoints: round trip, safe loading, atomic writes and clear errors on damaged files."""

from __future__ import annotations

import json
import os

import pytest
import torch

from book_code.encoder import ClassifierConfig, TransformerClassifier
from book_code.training import checkpoint as checkpoint_module
from book_code.training.checkpoint import (
    CheckpointError,
    atomic_write,
    load_checkpoint,
    save_checkpoint,
    write_json,
)
from tests.training.helpers import VOCAB_SIZE, tiny_classifier

VOCAB = ["[PAD]", "[CLS]", "[UNK]"] + [f"w{i}" for i in range(VOCAB_SIZE - 3)]


@pytest.fixture
def saved(tmp_path):
    model = tiny_classifier()
    extra = {"epoch": 3, "acc": 0.5}
    path = save_checkpoint(tmp_path / "best.pt", model, model.config.to_dict(), VOCAB, extra)
    return model, path


def test_round_trip_rebuilds_the_same_model(saved):
    model, path = saved
    loaded = load_checkpoint(path)
    assert loaded.vocab == VOCAB and loaded.extra == {"epoch": 3, "acc": 0.5}
    rebuilt = TransformerClassifier.from_config(ClassifierConfig.from_dict(loaded.config))
    rebuilt.load_state_dict(loaded.model_state)
    ids = torch.tensor([[1, 5, 7, 0], [1, 4, 9, 12]])
    model.eval(), rebuilt.eval()
    assert torch.equal(model(ids), rebuilt(ids))


def test_file_is_a_plain_weights_only_checkpoint(saved):
    _, path = saved
    payload = torch.load(path, weights_only=True)  # no custom classes: safe loading works as is
    assert payload["format"] == checkpoint_module.FORMAT_NAME
    assert payload["version"] == checkpoint_module.FORMAT_VERSION
    assert isinstance(payload["vocab"], list) and isinstance(payload["config"], dict)


def test_unwraps_a_wrapper_with_module(tmp_path):
    class Wrapper(torch.nn.Module):  # stands in for DistributedDataParallel
        def __init__(self, module):
            super().__init__()
            self.module = module

    model = tiny_classifier()
    path = save_checkpoint(tmp_path / "w.pt", Wrapper(model), {}, [])
    assert set(load_checkpoint(path).model_state) == set(model.state_dict())


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(saved, monkeypatch):
    model, path = saved
    before = path.read_bytes()

    def crash(obj, file):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, {}, VOCAB)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]


def test_temporary_file_is_in_the_target_directory(tmp_path, monkeypatch):
    # os.replace is atomic only within one file system, hence within one directory.
    sources = []
    real_replace = os.replace

    def spy(src, dst):
        sources.append(src)
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint_module.os, "replace", spy)
    target = tmp_path / "sub" / "metrics.json"
    write_json(target, {"accuracy": 0.5})
    assert os.path.dirname(sources[0]) == str(target.parent)
    assert json.loads(target.read_text()) == {"accuracy": 0.5}
    atomic_write(target, lambda file: file.write(b"{}"))
    assert target.read_text() == "{}"


def test_non_plain_metadata_is_refused_before_writing(tmp_path):
    model = tiny_classifier()
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "x.pt", model, {"created": object()}, VOCAB)
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("keep", [0, 10, 0.5, -1])
def test_truncated_file_gives_a_clear_error(saved, keep):
    _, path = saved
    data = path.read_bytes()
    length = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    path.write_bytes(data[:length])
    with pytest.raises(CheckpointError, match="truncated") as error:
        load_checkpoint(path)
    assert str(path) in str(error.value)


def test_flipped_bytes_in_the_weights_are_detected(saved):
    model, path = saved
    data = bytearray(path.read_bytes())
    weight = model.encoder.layers[0].feed_forward.linear1.weight.detach()
    start = bytes(data).find(weight.numpy().tobytes())  # stored uncompressed, so findable
    assert start > 0
    data[start + 101] ^= 0x40
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match="checksum") as error:
        load_checkpoint(path)
    assert str(path) in str(error.value)


def test_every_flipped_byte_is_detected_or_harmless(saved):
    """Flip one byte at 150 places across the file. Each damaged file either raises
    CheckpointError or loads exactly the saved contents (the byte was unused padding)."""
    _, path = saved
    original = load_checkpoint(path)
    data = path.read_bytes()
    detected = 0
    for position in range(0, len(data), max(1, len(data) // 150)):
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        path.write_bytes(damaged)
        try:
            loaded = load_checkpoint(path)
        except CheckpointError:
            detected += 1
            continue
        assert loaded.vocab == original.vocab and loaded.config == original.config
        assert loaded.extra == original.extra
        assert all(torch.equal(loaded.model_state[k], v) for k, v in original.model_state.items())
    assert detected > 100  # nearly every byte of the file matters


def test_foreign_and_other_version_files_are_refused(tmp_path, monkeypatch):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.ones(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a book_code"):
        load_checkpoint(foreign)
    monkeypatch.setattr(checkpoint_module, "FORMAT_VERSION", 99)
    future = save_checkpoint(tmp_path / "future.pt", tiny_classifier(), {}, VOCAB)
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(future)


def test_unsafe_pickles_are_refused(tmp_path):
    path = tmp_path / "unsafe.pt"
    torch.save({"format": checkpoint_module.FORMAT_NAME, "model": torch.nn.Linear(2, 2)}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_written_files_have_ordinary_permissions(tmp_path):
    # mkstemp creates private (0600) files; the result should look like any file open() makes.
    mask = os.umask(0o022)
    try:
        path = write_json(tmp_path / "m.json", [1, 2])
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
