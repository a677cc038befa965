"""Run every benchmark, check the targets and collect one JSON-serialisable result."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from benchmarks import environment
from benchmarks.attention import MHASettings, SDPASettings, mha_case, sdpa_case
from benchmarks.encoder import LayerSettings, TrainingSettings, encoder_layer_case, training_case
from benchmarks.machine import Yardstick, matmul_result, matmul_samples
from benchmarks.stats import geometric_mean, loglog_slope
from benchmarks.timing import TimingPolicy
from book_code.machine import load_average

SCHEMA_VERSION = 1
SECTIONS = ("matmul", "mha", "sdpa", "encoder_layer", "training")

TARGETS = {
    "mha_fast_path": (
        "MultiHeadAttention forward+backward time, need_weights=False, book / torch",
        "<=",
        1.10,
    ),
    "encoder_layer": ("EncoderLayer forward+backward time, book / torch", "<=", 1.10),
    "training_throughput": ("classifier training tokens per second, book / torch", ">=", 0.90),
}


@dataclass(frozen=True)
class Settings:
    """Sizes and timing policies of a whole run."""

    matmul_size: int = 1024
    mha: MHASettings = field(default_factory=MHASettings)
    sdpa: SDPASettings = field(default_factory=SDPASettings)
    encoder_layer: LayerSettings = field(default_factory=LayerSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    matmul_policy: TimingPolicy = field(
        default_factory=lambda: TimingPolicy(
            warmup=1, min_repeats=7, max_repeats=15, min_time=0.2, budget=3.0
        )
    )
    policy: TimingPolicy = field(
        default_factory=lambda: TimingPolicy(
            warmup=1, min_repeats=5, max_repeats=15, min_time=0.1, budget=8.0
        )
    )
    training_policy: TimingPolicy = field(
        default_factory=lambda: TimingPolicy(
            warmup=2, min_repeats=15, max_repeats=25, min_time=0.2, budget=20.0
        )
    )


FULL = Settings()

QUICK = Settings(
    matmul_size=32,
    mha=MHASettings(lengths=(8, 16), batch=2, embed_dim=16, num_heads=2),
    sdpa=SDPASettings(lengths=(16, 32), batch=1, heads=2, head_dim=8),
    encoder_layer=LayerSettings(lengths=(8, 16), batch=2, embed_dim=16, num_heads=2, ff_dim=32),
    training=TrainingSettings(
        vocab_size=50,
        embed_dim=16,
        num_heads=2,
        num_layers=1,
        ff_dim=32,
        max_len=16,
        batch=4,
        seq_len=16,
        batches=2,
    ),
    matmul_policy=TimingPolicy(warmup=1, min_repeats=2, max_repeats=2, min_time=0.0, budget=0.0),
    policy=TimingPolicy(warmup=1, min_repeats=2, max_repeats=2, min_time=0.0, budget=0.0),
    training_policy=TimingPolicy(warmup=1, min_repeats=2, max_repeats=2, min_time=0.0, budget=0.0),
)


def run(
    settings: Settings = FULL,
    *,
    seed: int = 0,
    threads: int | None = None,
    sections: Iterable[str] = SECTIONS,
    quick: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Run the benchmarks in ``sections`` and return the results as a dictionary.

    Args:
        settings: sizes and timing policies (`FULL` or `QUICK`).
        seed: seeds every weight and input.
        threads: PyTorch's intra-op threads for the whole run; ``None`` keeps the current
            setting (PyTorch's default is one per physical core).
        sections: a subset of `SECTIONS`; the others are recorded as skipped.
        quick: recorded in the result, so that a smoke-test file is never mistaken for
            a measurement.
        log: called with one line of progress per case (for example ``print``).

    PyTorch's thread setting is restored afterwards.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run(settings, seed, sections, quick, log)
    finally:
        torch.set_num_threads(previous)


def _run(settings: Settings, seed: int, sections: Iterable[str], quick: bool, log) -> dict:
    sections = list(sections)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    log = log or (lambda line: None)
    torch.manual_seed(seed)
    started = time.perf_counter()
    result: dict = {
        "schema_version": SCHEMA_VERSION,
        "command": environment.command_line(),
        "quick": quick,
        "date": environment.timestamp(),
        "seed": seed,
        "hardware": environment.hardware(),
        "versions": environment.versions(),
        "load_average": {"start": load_average()},
        "settings": _jsonable(asdict(settings)),
        "elapsed_seconds": {},
    }
    matmul: list[float] = []
    yardstick = Yardstick(settings.matmul_size, seed)

    def timed(name: str, fn: Callable[[], object]) -> object:
        start = time.perf_counter()
        value = fn()
        result["elapsed_seconds"][name] = round(time.perf_counter() - start, 2)
        return value

    if "matmul" in sections:  # measured first and last: the machine's load can change
        matmul += timed("matmul_start", lambda: matmul_samples(yardstick, settings.matmul_policy))
    if "mha" in sections:
        result["mha"] = timed("mha", lambda: _mha(settings, seed, yardstick, log))
    if "sdpa" in sections:
        result["sdpa"] = timed("sdpa", lambda: _sdpa(settings, seed, yardstick, log))
    if "encoder_layer" in sections:
        result["encoder_layer"] = timed("encoder_layer", lambda: _layer(settings, seed, yardstick, log))
    if "training" in sections:
        result["training"] = timed("training", lambda: _training(settings, seed, yardstick, log))
    if "matmul" in sections:
        matmul += timed("matmul_end", lambda: matmul_samples(yardstick, settings.matmul_policy))
        result["matmul"] = matmul_result(yardstick, matmul)
        log(f"matmul {settings.matmul_size}: {result['matmul']['gflops']['median']:.1f} GFLOP/s")
    for name in SECTIONS:
        if name not in sections:
            result[name] = {"status": "skipped"}
    result["targets"] = evaluate_targets(result)
    result["load_average"]["end"] = load_average()
    result["elapsed_seconds"]["total"] = round(time.perf_counter() - started, 2)
    return result


def _mha(settings: Settings, seed: int, yardstick: Yardstick, log) -> dict:
    cases = []
    for need_weights in (False, True):
        for n in settings.mha.lengths:
            # With weights, profile a length where the n x n tensors no longer fit in cache.
            profile = n == _profiled_length(settings.mha.lengths, 512 if need_weights else 256)
            case = mha_case(settings.mha, n, need_weights, settings.policy, seed, profile, yardstick)
            cases.append(case)
            log(f"mha n={n} need_weights={need_weights}: book/torch {case['book_over_torch']['ratio']:.3f}")
    return {"status": "ok", "cases": cases}


def _sdpa(settings: Settings, seed: int, yardstick: Yardstick, log) -> dict:
    cases = []
    for n in settings.sdpa.lengths:
        case = sdpa_case(settings.sdpa, n, settings.policy, seed, yardstick)
        cases.append(case)
        ratio = case["forward_backward"]["explicit_over_fused"]["ratio"]
        log(f"sdpa n={n}: explicit/fused {ratio:.2f} (forward+backward)")
    lengths = [case["seq_len"] for case in cases]
    slopes = {}
    if len(lengths) >= 2:
        for mode in ("forward", "forward_backward"):
            for name in ("explicit", "fused"):
                times = [case[mode]["seconds"][name]["median"] for case in cases]
                slopes[f"{mode}_{name}_time"] = loglog_slope(lengths, times)
                peaks = [max(case[mode]["peak_bytes"][name], 1) for case in cases]
                slopes[f"{mode}_{name}_peak_bytes"] = loglog_slope(lengths, peaks)
    return {"status": "ok", "cases": cases, "loglog_slopes": slopes}


def _layer(settings: Settings, seed: int, yardstick: Yardstick, log) -> dict:
    cases = []
    for n in settings.encoder_layer.lengths:
        profile = n == _profiled_length(settings.encoder_layer.lengths)
        case = encoder_layer_case(settings.encoder_layer, n, settings.policy, seed, profile, yardstick)
        cases.append(case)
        log(f"encoder layer n={n}: book/torch {case['book_over_torch']['ratio']:.3f}")
    return {"status": "ok", "cases": cases}


def _training(settings: Settings, seed: int, yardstick: Yardstick, log) -> dict:
    case = training_case(settings.training, settings.training_policy, seed, True, yardstick)
    log(f"training: throughput book/torch {case['throughput_book_over_torch']['ratio']:.3f}")
    return {"status": "ok", **case}


def _profiled_length(lengths: tuple[int, ...], preferred: int = 256) -> int:
    """The sequence length whose operators are profiled: ``preferred`` if measured, else the
    middle one."""
    return preferred if preferred in lengths else sorted(lengths)[len(lengths) // 2]


def evaluate_targets(result: dict) -> dict:
    """Whether each target holds, from the worst case over the measured sizes."""
    values: dict[str, list[float]] = {}
    if result.get("mha", {}).get("status") == "ok":
        values["mha_fast_path"] = [
            c["book_over_torch"]["ratio"] for c in result["mha"]["cases"] if not c["need_weights"]
        ]
    if result.get("encoder_layer", {}).get("status") == "ok":
        values["encoder_layer"] = [c["book_over_torch"]["ratio"] for c in result["encoder_layer"]["cases"]]
    if result.get("training", {}).get("status") == "ok":
        values["training_throughput"] = [result["training"]["throughput_book_over_torch"]["ratio"]]
    targets = {}
    for name, (description, comparison, threshold) in TARGETS.items():
        if name not in values:
            targets[name] = {"description": description, "status": "not measured"}
            continue
        ratios = values[name]
        worst = max(ratios) if comparison == "<=" else min(ratios)
        met = worst <= threshold if comparison == "<=" else worst >= threshold
        targets[name] = {
            "description": description,
            "comparison": comparison,
            "threshold": threshold,
            "worst": worst,
            "geometric_mean": geometric_mean(ratios),
            "met": bool(met),
        }
    return targets


def write(result: dict, path: Path) -> None:
    """Write ``result`` as indented JSON (stable key order, so diffs stay readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


def summary_lines(result: dict) -> list[str]:
    """A short human-readable summary of the targets."""
    lines = []
    for name, target in result["targets"].items():
        if "met" not in target:
            lines.append(f"{name}: {target['status']}")
            continue
        verdict = "met" if target["met"] else "MISSED"
        lines.append(
            f"{name}: worst {target['worst']:.3f} (target {target['comparison']} {target['threshold']}), "
            f"geometric mean {target['geometric_mean']:.3f}: {verdict}"
        )
    return lines


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
