"""Training a text classifier: the loop, metrics, checkpoints and data parallelism (chapter 6).

`fit` trains a model and returns its history; `evaluate` and the functions of
`book_code.training.metrics` measure it; `save_checkpoint` and `load_checkpoint` keep it;
`book_code.training.distributed` runs the same loop on several processes, and
`book_code.training.debug` holds the tools for when training goes wrong.
"""

from book_code.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    atomic_write,
    load_checkpoint,
    load_classifier,
    save_checkpoint,
    write_json,
)
from book_code.training.metrics import (
    accuracy,
    accuracy_by_group,
    calibration_bins,
    classification_metrics,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
)
from book_code.training.trainer import (
    TrainConfig,
    TrainResult,
    evaluate,
    fit,
    parameter_groups,
    predict,
    seed_everything,
    select_device,
    train_epoch,
    train_step,
    warmup_cosine_schedule,
)

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "TrainConfig",
    "TrainResult",
    "accuracy",
    "accuracy_by_group",
    "atomic_write",
    "calibration_bins",
    "classification_metrics",
    "confusion_matrix",
    "evaluate",
    "expected_calibration_error",
    "fit",
    "load_checkpoint",
    "load_classifier",
    "macro_f1",
    "parameter_groups",
    "predict",
    "save_checkpoint",
    "seed_everything",
    "select_device",
    "train_epoch",
    "train_step",
    "warmup_cosine_schedule",
    "write_json",
]
