"""Tests of the benchmark package: it runs, its JSON has the promised structure, and its
statistics, FLOP counts and reference model are right. Ratios are never asserted here:
they depend on the machine, and a test that fails when the machine is busy tests nothing."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

import benchmarks
from benchmarks import compare, environment, flops, machine, profiling, reference, run, stats, timing
from benchmarks import encoder as bench_encoder
from benchmarks.__main__ import main
from book_code.attention import MultiHeadAttention
from book_code.encoder import EncoderLayer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "appendix" / "performance_results.json"
MODULES = (compare, environment, flops, machine, profiling, reference, run, stats, timing, bench_encoder)

finite = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)


# --- The command, end to end ------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, float, subprocess.CompletedProcess]:
    output = tmp_path_factory.mktemp("bench") / "results.json"
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.perf_counter() - start
    assert completed.returncode == 0, completed.stderr
    return json.loads(output.read_text(encoding="utf-8")), elapsed, completed


def check_structure(result: dict, settings: run.Settings) -> None:
    """Every field the appendix reads is present, typed and consistent with ``settings``."""
    assert result["schema_version"] == run.SCHEMA_VERSION
    assert result["settings"] == json.loads(json.dumps(asdict(settings)))
    for key in ("command", "date", "seed", "hardware", "versions", "load_average", "elapsed_seconds"):
        assert key in result, key
    hardware = result["hardware"]
    assert isinstance(hardware["cpu_model"], str) and hardware["cpu_model"]
    assert hardware["logical_cores"] >= 1 and hardware["torch_threads"] >= 1
    assert set(result["versions"]) >= {"python", "torch", "numpy"}

    matmul = result["matmul"]
    assert matmul["size"] == settings.matmul_size
    assert matmul["gflops"]["q1"] <= matmul["gflops"]["median"] <= matmul["gflops"]["q3"]

    mha = result["mha"]
    assert mha["status"] == "ok"
    expected = [(w, n) for w in (False, True) for n in settings.mha.lengths]
    assert [(c["need_weights"], c["seq_len"]) for c in mha["cases"]] == expected
    for case in mha["cases"]:
        check_pair(case, ("book", "torch"), "book_over_torch")
        assert case["max_abs_diff"] < 1e-4  # both compute the same function
    assert any("profile" in case for case in mha["cases"])

    sdpa = result["sdpa"]
    assert [c["seq_len"] for c in sdpa["cases"]] == list(settings.sdpa.lengths)
    for case in sdpa["cases"]:
        assert case["max_abs_diff"] < 1e-4
        s = settings.sdpa
        assert case["weights_bytes"] == 4 * s.batch * s.heads * case["seq_len"] ** 2
        for mode in ("forward", "forward_backward"):
            check_pair(case[mode], ("explicit", "fused"), "explicit_over_fused")
            peaks = case[mode]["peak_bytes"]
            assert set(peaks) == {"explicit", "fused"}
            # The explicit path holds the whole weight matrix at some point.
            assert peaks["explicit"] >= case["weights_bytes"]
    assert set(sdpa["loglog_slopes"]) == {
        f"{mode}_{name}_{what}"
        for mode in ("forward", "forward_backward")
        for name in ("explicit", "fused")
        for what in ("time", "peak_bytes")
    }

    layer = result["encoder_layer"]
    assert [c["seq_len"] for c in layer["cases"]] == list(settings.encoder_layer.lengths)
    for case in layer["cases"]:
        check_pair(case, ("book", "torch"), "book_over_torch")
        assert case["max_abs_diff"] < 1e-4

    training = result["training"]
    assert training["status"] == "ok"
    check_pair(training, ("book", "torch"), "book_over_torch")
    assert training["throughput_book_over_torch"]["ratio_of_medians"] == pytest.approx(
        1 / training["book_over_torch"]["ratio_of_medians"]
    )
    assert training["parameters"]["book"] == training["parameters"]["torch"]
    assert training["max_abs_diff"] < 1e-4
    assert 0 < training["real_tokens_per_step"] <= training["padded_tokens_per_step"]
    assert set(training["tokens_per_second"]) == {"book", "torch"}
    assert set(training["profile"]) == {"book", "torch"}

    assert set(result["targets"]) == set(run.TARGETS)
    for target in result["targets"].values():
        assert isinstance(target["met"], bool)
        assert target["comparison"] in ("<=", ">=")


def check_pair(case: dict, names: tuple[str, str], ratio_key: str) -> None:
    first, second = names
    assert set(case["seconds"]) == set(names)
    assert set(case["samples"]) == {first, "matmul", second}
    assert len(case["samples"][first]) == len(case["samples"][second]) == len(case["samples"]["matmul"]) >= 1
    assert case["matmul_gflops"] > 0
    for name in names:
        summary = case["seconds"][name]
        assert summary["q1"] <= summary["median"] <= summary["q3"]
        assert summary["n"] == len(case["samples"][name])
        assert case["gflops"][name] > 0
        low, high = case["fraction_of_matmul_iqr"][name]
        assert 0 < low <= case["fraction_of_matmul"][name] <= high
    summary = case[ratio_key]
    expected = case["seconds"][first]["median"] / case["seconds"][second]["median"]
    assert summary["ratio_of_medians"] == pytest.approx(expected)
    assert summary["q1"] <= summary["ratio"] <= summary["q3"]


def test_quick_command_finishes_in_time_and_writes_complete_json(quick_run):
    result, elapsed, completed = quick_run
    assert elapsed < 30, f"the smoke run took {elapsed:.1f} s"
    assert result["quick"] is True
    assert result["command"].endswith("--quick --output " + completed.args[-1])
    check_structure(result, run.QUICK)
    assert "mha_fast_path" in completed.stdout  # the summary is printed


def test_committed_results_are_a_full_run_of_the_current_settings():
    """The appendix reads this file; it must come from `python -m benchmarks` at full size.
    If the settings in benchmarks/run.py change, regenerate it."""
    result = json.loads(RESULTS.read_text(encoding="utf-8"))
    assert result["quick"] is False
    check_structure(result, run.FULL)
    assert result["elapsed_seconds"]["total"] < 15 * 60


def test_only_runs_the_chosen_sections_and_marks_the_others_skipped(tmp_path, capsys):
    output = tmp_path / "matmul.json"
    threads = torch.get_num_threads()
    assert main(["--quick", "--only", "matmul", "--threads", "3", "--output", str(output)]) == 0
    assert torch.get_num_threads() == threads  # restored after the run
    result = json.loads(output.read_text(encoding="utf-8"))
    assert result["matmul"]["gflops"]["median"] > 0
    assert result["hardware"]["torch_threads"] == 3  # recorded as used
    for name in ("mha", "sdpa", "encoder_layer", "training"):
        assert result[name] == {"status": "skipped"}
    assert [t["status"] for t in result["targets"].values()] == ["not measured"] * len(run.TARGETS)
    assert "not measured" in capsys.readouterr().out


def test_command_rejects_bad_arguments():
    with pytest.raises(SystemExit):
        main(["--threads", "0"])
    with pytest.raises(SystemExit):
        main(["--only", "nonsense"])
    with pytest.raises(ValueError, match="unknown sections"):
        run.run(run.QUICK, sections=["matmul", "gpu"])


def test_docstring_examples():
    for module in (*MODULES, benchmarks):
        failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert failures == 0, module.__name__


# --- Statistics ----------------------------------------------------------------------------


def test_quantiles_interpolate_linearly_like_numpy():
    assert stats.quantiles([1, 2, 3, 4], [0.0, 0.25, 0.5, 0.75, 1.0]) == [1.0, 1.75, 2.5, 3.25, 4.0]
    assert stats.quantiles([5.0], [0.25, 0.75]) == [5.0, 5.0]


def test_summarize_of_known_samples():
    summary = stats.summarize([3.0, 1.0, 2.0, 5.0, 4.0])
    assert summary == {"median": 3.0, "q1": 2.0, "q3": 4.0, "iqr": 2.0, "min": 1.0, "max": 5.0, "n": 5}


def test_median_ignores_one_outlier_where_a_mean_would_not():
    calm = stats.summarize([1.0, 1.1, 0.9, 1.0, 1.05])
    disturbed = stats.summarize([1.0, 1.1, 0.9, 1.0, 50.0])
    assert calm["median"] == disturbed["median"] == 1.0


def test_ratio_summary_of_a_constant_factor():
    slow, fast = [2.0, 4.0, 6.0, 8.0], [1.0, 2.0, 3.0, 4.0]
    summary = stats.ratio_summary(slow, fast)
    assert summary["ratio"] == pytest.approx(2.0)
    assert (
        summary["ratio"]
        == summary["q1"]
        == summary["q3"]
        == summary["ratio_of_medians"]
        == pytest.approx(2.0)
    )
    assert summary["n"] == 4


def test_paired_ratio_cancels_noise_shared_by_both_halves():
    # A busy machine slows repetitions 2 and 3 down for both candidates alike.
    load = np.array([1.0, 1.0, 3.0, 5.0, 1.0])
    a, b = 1.2 * load, 1.0 * load
    summary = stats.ratio_summary(a.tolist(), b.tolist())
    assert summary["ratio"] == summary["q1"] == summary["q3"] == pytest.approx(1.2)


def test_paired_ratio_survives_a_load_change_that_fools_the_ratio_of_medians():
    # The machine slows down by 2x during repetition 2, between a's sample and b's.
    a = [0.95, 0.95, 1.9, 1.9, 1.9]
    b = [1.0, 1.0, 1.0, 2.0, 2.0]
    summary = stats.ratio_summary(a, b)
    assert summary["ratio"] == pytest.approx(0.95)  # a is 5% faster, as in every calm repetition
    assert summary["ratio_of_medians"] == pytest.approx(1.9)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: stats.summarize([]), "at least one"),
        (lambda: stats.summarize([1.0, float("nan")]), "finite"),
        (lambda: stats.ratio_summary([1.0, 2.0], [1.0]), "equal length"),
        (lambda: stats.ratio_summary([1.0], [0.0]), "positive"),
        (lambda: stats.quantiles([1.0], [1.5]), r"\[0, 1\]"),
        (lambda: stats.loglog_slope([1.0], [1.0]), "at least two"),
        (lambda: stats.loglog_slope([2.0, 2.0], [1.0, 3.0]), "all be equal"),
        (lambda: stats.loglog_slope([1.0, -2.0], [1.0, 3.0]), "positive"),
        (lambda: stats.geometric_mean([1.0, 0.0]), "positive"),
    ],
)
def test_statistics_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@settings(max_examples=50, deadline=None)
@given(st.lists(finite, min_size=1, max_size=30))
def test_summary_is_ordered_and_permutation_invariant(samples):
    summary = stats.summarize(samples)
    assert summary["min"] <= summary["q1"] <= summary["median"] <= summary["q3"] <= summary["max"]
    assert summary["iqr"] == pytest.approx(summary["q3"] - summary["q1"]) and summary["iqr"] >= 0
    assert stats.summarize(sorted(samples, reverse=True)) == summary


@settings(max_examples=50, deadline=None)
@given(st.lists(finite, min_size=1, max_size=20), st.floats(min_value=0.01, max_value=100))
def test_ratio_of_scaled_samples_is_the_scale(samples, factor):
    scaled = [factor * x for x in samples]
    summary = stats.ratio_summary(scaled, samples)
    assert summary["ratio"] == pytest.approx(factor, rel=1e-9)
    assert summary["ratio_of_medians"] == pytest.approx(factor, rel=1e-9)


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=-3, max_value=3), st.floats(min_value=0.1, max_value=10))
def test_loglog_slope_recovers_a_power_law(exponent, constant):
    xs = [64, 128, 256, 512, 1024]
    assert stats.loglog_slope(xs, [constant * x**exponent for x in xs]) == pytest.approx(exponent, abs=1e-9)


def test_geometric_mean_is_symmetric_in_ratios():
    assert stats.geometric_mean([2.0, 0.5]) == pytest.approx(1.0)
    assert stats.geometric_mean([1.1, 1.1, 1.1]) == pytest.approx(1.1)


# --- Timing ----------------------------------------------------------------------------------


def test_plan_fills_the_budget_within_the_bounds():
    policy = timing.TimingPolicy(min_time=0.1, budget=10.0, min_repeats=3, max_repeats=100)
    number, repeats = timing.plan([0.01, 0.04], policy)
    assert number == 10  # a sample of the faster candidate lasts min_time
    assert repeats == 20  # 10 * (0.01 + 0.04) = 0.5 s per repetition; 10 s budget
    assert timing.plan([100.0], policy) == (1, 3)  # too slow for the budget: min_repeats
    fast = timing.TimingPolicy(min_time=0.1, budget=10.0, min_repeats=3, max_repeats=20)
    assert timing.plan([1e-6], fast)[1] == 20  # fast: capped at max_repeats
    # A reference that rides along does not make the others repeat: sized by the 0.04 s call.
    assert timing.plan([0.04, 0.001], policy, shortest=0.04) == (3, 81)
    with pytest.raises(ValueError):
        timing.plan([0.0, 1.0], policy)


def test_timing_policy_rejects_inconsistent_bounds():
    with pytest.raises(ValueError):
        timing.TimingPolicy(min_repeats=5, max_repeats=2)
    with pytest.raises(ValueError):
        timing.TimingPolicy(warmup=-1)


def test_time_interleaved_alternates_the_order_and_pairs_the_samples():
    calls: list[str] = []
    candidates = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    policy = timing.TimingPolicy(warmup=1, min_repeats=4, max_repeats=4, min_time=0.0, budget=0.0)
    samples = timing.time_interleaved(candidates, policy)
    assert [len(samples["a"]), len(samples["b"])] == [4, 4]
    assert all(t >= 0 for t in samples["a"] + samples["b"])
    # warm-up (a b, also the estimate of the time per call), then a b | b a | a b | b a
    assert "".join(calls) == "ab" + "abbaabba"
    calls.clear()
    timing.time_interleaved(candidates, timing.TimingPolicy(warmup=2, min_repeats=1, max_repeats=1))
    assert "".join(calls).startswith("abab")


def test_time_interleaved_sizes_samples_by_the_named_candidates_only():
    counts = {"slow": 0, "fast": 0}

    def slow():
        counts["slow"] += 1
        time.sleep(0.01)

    def fast():
        counts["fast"] += 1

    policy = timing.TimingPolicy(warmup=1, min_repeats=3, max_repeats=3, min_time=0.05, budget=0.0)
    timing.time_interleaved({"slow": slow, "fast": fast}, policy, sizing=["slow"])
    # About 5 calls of 10 ms make a 50 ms sample; sized by "fast", it would be thousands.
    assert counts["slow"] == counts["fast"]
    assert 1 + 3 * 2 <= counts["fast"] < 100
    with pytest.raises(ValueError, match="sizing"):
        timing.time_interleaved({"fast": fast}, policy, sizing=["other"])


def test_time_interleaved_measures_a_known_duration():
    policy = timing.TimingPolicy(warmup=0, min_repeats=3, max_repeats=3, min_time=0.0, budget=0.0)
    samples = timing.time_interleaved({"sleep": lambda: time.sleep(0.01)}, policy)
    assert all(0.009 <= t < 0.5 for t in samples["sleep"])


def test_compare_puts_the_yardstick_between_the_candidates_and_pairs_the_fractions(monkeypatch):
    seen = {}

    def fake_time_interleaved(candidates, policy, sizing):
        seen["order"], seen["sizing"] = list(candidates), sizing
        return {"a": [2.0, 4.0, 2.0], "matmul": [1.0, 2.0, 1.0], "b": [1.0, 2.0, 1.0]}

    monkeypatch.setattr(compare, "time_interleaved", fake_time_interleaved)
    yardstick = machine.Yardstick(2)  # 16 FLOPs per product
    result = compare.compare({"a": print, "b": print}, timing.TimingPolicy(), flops=32, yardstick=yardstick)
    assert seen["order"] == ["a", "matmul", "b"] and set(seen["sizing"]) == {"a", "b"}
    assert result["a_over_b"]["ratio"] == pytest.approx(2.0)
    assert result["gflops"]["a"] == pytest.approx(32 / 2.0 / 1e9)
    # Every repetition: a does 32 FLOPs in twice the time the yardstick takes for 16: rate 1.
    assert result["fraction_of_matmul"] == {"a": pytest.approx(1.0), "b": pytest.approx(2.0)}
    assert result["fraction_of_matmul_iqr"]["a"] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert result["matmul_gflops"] == pytest.approx(16 / 1.0 / 1e9)
    with pytest.raises(ValueError, match="exactly two"):
        compare.compare({"a": print}, timing.TimingPolicy(), flops=1)


def test_matmul_result_turns_time_quartiles_into_rate_quartiles():
    result = machine.matmul_result(machine.Yardstick(2), [1.0, 2.0, 3.0, 4.0, 5.0])
    assert result["gflops"]["median"] == pytest.approx(16 / 3.0 / 1e9)
    assert result["gflops"]["q1"] == pytest.approx(16 / 4.0 / 1e9)  # slow quartile of time
    assert result["gflops"]["q3"] == pytest.approx(16 / 2.0 / 1e9)
    with pytest.raises(ValueError):
        machine.Yardstick(0)


# --- FLOP counts ------------------------------------------------------------------------------


def test_flop_formulas_by_hand():
    # B=2, H=4, n=8, d_h=16: QK^T and PV are 2 * n^2 * d_h each per head.
    assert flops.attention_core_flops(2, 4, 8, 16) == 2 * 4 * 2 * (2 * 8 * 8 * 16)
    assert flops.projection_flops(2, 8, 64) == 4 * (2 * (2 * 8) * 64 * 64)
    assert flops.mha_flops(2, 8, 64, 4) == flops.attention_core_flops(2, 4, 8, 16) + flops.projection_flops(
        2, 8, 64
    )
    assert flops.matmul_flops(3, 4, 5) == 120
    with pytest.raises(ValueError):
        flops.mha_flops(1, 8, 10, 4)
    with pytest.raises(ValueError):
        flops.attention_core_flops(0, 1, 1, 1)


def test_flop_counts_agree_with_pytorchs_flop_counter():
    """PyTorch counts every matrix product it runs; on the explicit path (which it can see
    into) the forward is the formula and forward + backward is three times it."""
    torch.manual_seed(0)
    batch, seq_len, embed_dim, heads, ff_dim = 2, 6, 8, 2, 16
    layer = MultiHeadAttention(embed_dim, heads)
    x = torch.randn(batch, seq_len, embed_dim, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        layer(x, need_weights=True)
    assert counter.get_total_flops() == flops.mha_flops(batch, seq_len, embed_dim, heads)
    with FlopCounterMode(display=False) as counter:
        layer(x, need_weights=True)[0].sum().backward()
    assert counter.get_total_flops() == flops.BACKWARD_FACTOR * flops.mha_flops(
        batch, seq_len, embed_dim, heads
    )

    encoder_layer = EncoderLayer(embed_dim, heads, ff_dim, dropout=0.0)
    with FlopCounterMode(display=False) as counter:
        encoder_layer.forward_with_weights(x)[0].sum().backward()
    expected = flops.encoder_layer_flops(batch, seq_len, embed_dim, heads, ff_dim)
    assert counter.get_total_flops() == flops.BACKWARD_FACTOR * expected


# --- The reference classifier -----------------------------------------------------------------


def small_config(**overrides) -> dict:
    config = {
        "vocab_size": 30, "num_classes": 3, "embed_dim": 16, "num_heads": 2, "num_layers": 2,
        "ff_dim": 24, "max_len": 12, "dropout": 0.0, "norm_first": True, "activation": "gelu",
    }  # fmt: skip
    return config | overrides


@pytest.mark.parametrize("norm_first", [True, False])
def test_reference_classifier_computes_what_the_book_classifier_computes(norm_first):
    torch.manual_seed(0)
    config = small_config(norm_first=norm_first)
    torch_model = reference.TorchEncoderClassifier(**config)
    book_model = reference.book_model_like(torch_model, **config)
    torch_model.double()
    book_model.double()
    assert reference.parameter_count(book_model) == reference.parameter_count(torch_model)
    lengths = torch.tensor([12, 7, 3])
    mask = torch.arange(12) < lengths.unsqueeze(1)
    tokens = torch.randint(1, 30, (3, 12)) * mask
    for training in (True, False):  # train: PyTorch's general path; eval: its fast path
        torch_model.train(training)
        book_model.train(training)
        with torch.no_grad():
            expected = torch_model(tokens, mask)
            torch.testing.assert_close(book_model(tokens, mask), expected, rtol=1e-7, atol=1e-9)


def test_make_batches_pads_with_zero_and_keeps_lengths_in_range():
    s = run.QUICK.training
    for tokens, mask, labels in bench_encoder.make_batches(s, torch.Generator().manual_seed(0)):
        assert tokens.shape == mask.shape == (s.batch, s.seq_len)
        assert (tokens[~mask] == 0).all() and (tokens[mask] > 0).all()
        assert (mask.sum(dim=1) >= s.seq_len // 4).all()
        assert ((labels >= 0) & (labels < s.num_classes)).all()


# --- Environment and profiling ------------------------------------------------------------------


def test_environment_records_machine_and_versions():
    hardware = environment.hardware()
    assert hardware["cpu_model"] and hardware["torch_threads"] == torch.get_num_threads()
    assert environment.versions()["torch"] == torch.__version__
    assert environment.timestamp().endswith("+00:00")


def test_top_operators_finds_the_matrix_product():
    a = torch.randn(64, 64)
    rows = profiling.top_operators(lambda: a @ a, calls=2, limit=3)
    assert rows[0]["name"] == "aten::mm" and rows[0]["calls"] == 1.0
    assert all(r["self_ms"] >= 0 for r in rows) and len(rows) <= 3
