"""Checkpoints that survive crashes, load safely and fail loudly (chapter 6).

A checkpoint holds everything needed to use a trained classifier again: the weights, the
model configuration and the vocabulary, plus whatever small metadata the caller adds
(metrics, the epoch). Three properties matter:

* **Atomic writes.** The file is written to a temporary file in the same directory and then
  renamed over the target with ``os.replace``, which is atomic on POSIX and Windows: a crash
  mid-write leaves the previous checkpoint intact, never a half-written one.
* **Safe loading.** ``torch.load(..., weights_only=True)`` refuses to unpickle arbitrary
  objects, so loading a checkpoint from elsewhere cannot run code. The file therefore holds
  only tensors, dicts, lists, strings and numbers: the vocabulary as a list of tokens, the
  configuration as a dict.
* **Clear errors.** A truncated, corrupted or foreign file raises `CheckpointError` naming
  the file and what is wrong. A SHA-256 digest of the contents, stored in the file, catches
  flipped bytes that the container format itself would not notice; a format name and
  version catch files written by other code or by an incompatible version. Every part of
  the loaded contents is checked, so a damaged file either raises or loads exactly what
  was saved (damage to unused bytes, such as the archive's alignment padding, is harmless).
"""

from __future__ import annotations

# --8<-- [start:imports]
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from book_code.data.vocab import SPECIAL_TOKENS, Vocabulary
from book_code.encoder import ClassifierConfig, TransformerClassifier

# --8<-- [end:imports]

# --8<-- [start:format]
FORMAT_NAME = "book_code.classifier_checkpoint"
FORMAT_VERSION = 1  # raise when the layout of the file changes; load_checkpoint checks it


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupted or of an unknown format."""
# --8<-- [end:format]


# --8<-- [start:atomic_write]
def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file, then rename it to ``path`` atomically.

    The temporary file lives in the same directory as ``path``, because a rename is only
    atomic within one file system. Readers of ``path`` see the old file or the complete new
    one, never a partial write; on any error the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the name points at them
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes the file private; open() would not
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)  # the only way to read the umask is to set it
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    text = json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"
    return atomic_write(path, lambda file: file.write(text.encode("utf-8")))
# --8<-- [end:atomic_write]


# --8<-- [start:digest]
def content_digest(state: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> str:
    """SHA-256 of the tensors (names, dtypes, shapes and bytes) and the JSON of the metadata."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update(json.dumps(metadata, sort_keys=True).encode())
    return digest.hexdigest()
# --8<-- [end:digest]


# --8<-- [start:save_checkpoint]
def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    config: Mapping[str, Any],
    vocab: list[str],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write the model's weights, its configuration and the vocabulary to ``path``.

    Args:
        path: the checkpoint file; its directory is created if needed.
        model: the model (a `DistributedDataParallel` wrapper is unwrapped).
        config: a JSON-serialisable dict that rebuilds the model, e.g.
            ``ClassifierConfig.to_dict()``.
        vocab: the tokens, in index order.
        extra: further JSON-serialisable data to keep, e.g. ``{"epoch": 3, "dev_accuracy": 0.9}``.
    """
    model = getattr(model, "module", model)  # DDP keeps the real model in .module
    state = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
    metadata = {"config": dict(config), "vocab": list(vocab), "extra": dict(extra or {})}
    json.dumps(metadata, allow_nan=False)  # fail here, before writing, if it is not plain data
    payload = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "sha256": content_digest(state, metadata),
        "model_state": state,
        **metadata,
    }
    return atomic_write(path, lambda file: torch.save(payload, file))
# --8<-- [end:save_checkpoint]


# --8<-- [start:load_checkpoint]
@dataclass
class Checkpoint:
    """The contents of a checkpoint file."""

    model_state: dict[str, torch.Tensor]
    config: dict[str, Any]
    vocab: list[str]
    extra: dict[str, Any] = field(default_factory=dict)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read and verify a checkpoint written by `save_checkpoint`.

    Raises:
        CheckpointError: the file is missing, truncated, corrupted, not a checkpoint of this
            format, or of another format version. The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive whose directory comes last
        raise CheckpointError(
            f"{path}: truncated or not a PyTorch checkpoint: the zip directory that ends every "
            f"checkpoint is missing ({path.stat().st_size} bytes)"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a damaged archive entry, or a pickle that is not plain data
        first_line = (str(error).splitlines() or [""])[0]
        raise CheckpointError(
            f"{path}: corrupted, or holds objects other than tensors and plain data: "
            f"torch.load(weights_only=True) failed ({type(error).__name__}: {first_line})"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: not a book_code classifier checkpoint (no format {FORMAT_NAME!r})")
    if payload.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written in checkpoint format version {payload.get('version')!r}; "
            f"this code reads version {FORMAT_VERSION}"
        )
    missing = {"sha256", "model_state", "config", "vocab", "extra"} - set(payload)
    if missing:
        raise CheckpointError(f"{path}: corrupted checkpoint, missing fields {sorted(missing)}")
    metadata = {key: payload[key] for key in ("config", "vocab", "extra")}
    if content_digest(payload["model_state"], metadata) != payload["sha256"]:
        raise CheckpointError(
            f"{path}: content checksum mismatch: the weights or metadata were corrupted after saving"
        )
    return Checkpoint(payload["model_state"], payload["config"], payload["vocab"], payload["extra"])
# --8<-- [end:load_checkpoint]


# --8<-- [start:load_classifier]
def load_classifier(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[TransformerClassifier, Vocabulary, Checkpoint]:
    """Rebuild the `TransformerClassifier` and the `Vocabulary` saved in a checkpoint.

    The model is returned in evaluation mode on ``device``.
    """
    checkpoint = load_checkpoint(path, map_location=device)
    tokens = checkpoint.vocab
    if tokens[: len(SPECIAL_TOKENS)] != list(SPECIAL_TOKENS):
        raise CheckpointError(f"{path}: the vocabulary does not start with the reserved {SPECIAL_TOKENS}")
    vocab = Vocabulary(tokens[len(SPECIAL_TOKENS) :])
    model = TransformerClassifier.from_config(ClassifierConfig.from_dict(checkpoint.config))
    model.load_state_dict(checkpoint.model_state)
    return model.to(device).eval(), vocab, checkpoint
# --8<-- [end:load_classifier]
