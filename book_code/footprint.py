"""The environmental footprint of training and inference: FLOPs, wall time, energy and CO2e.

Three steps, each with its assumptions in plain sight:

1. **Compute.** A forward pass costs about ``2 N`` floating-point operations per token for a model
   with ``N`` parameters (one multiply-add per weight); the backward pass costs about twice the
   forward, so training costs about ``6 N`` per token (Kaplan et al., 2020, *Scaling Laws for
   Neural Language Models*, Section 2.1). Attention adds a term that grows with the sequence
   length. For the book's own classifier, `classifier_flops` uses the exact count of chapter 5.
2. **Time.** `WallTimer` measures the wall-clock seconds a piece of work takes.
3. **Energy and emissions.** ``energy_kwh = devices * device_power_watts * utilisation * hours *
   pue / 1000`` and ``co2e_kg = energy_kwh * grid_intensity_g_per_kwh / 1000``. Every factor is a
   named argument of `estimate_footprint`, because each one is an assumption the reader should
   see and may dispute.

Published figures for GPT-3 (Patterson et al., 2021; Brown et al., 2020) are kept as constants
with their sources, and `gpt3_co2e_from_published_energy` reproduces the published emissions.
"""

from __future__ import annotations

# --8<-- [start:imports]
import math
import numbers
import time
from dataclasses import asdict, dataclass

from book_code.encoder import ClassifierConfig, flops_per_forward

# --8<-- [end:imports]


# --8<-- [start:checks]
def _check_number(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")


def _check_positive(value: object, name: str) -> None:
    _check_number(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive; got {value!r}")


def _check_count(value: object, name: str, integer: bool = False, positive: bool = False) -> None:
    if integer and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    _check_number(value, name)
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'non-negative'}; got {value!r}")
# --8<-- [end:checks]


# --8<-- [start:flop_estimates]
def inference_flops(
    n_params: float,
    tokens: float,
    *,
    num_layers: int | None = None,
    seq_len: int | None = None,
    embed_dim: int | None = None,
) -> float:
    """FLOPs of a forward pass over ``tokens`` tokens: ``2 * n_params * tokens``, plus the
    attention term ``4 * num_layers * seq_len * embed_dim * tokens`` when those are given.

    ``n_params`` should count the weights used once per token (embeddings are lookups, not
    products). Each token's query meets ``seq_len`` keys: ``Q K^T`` and the weighted sum of
    values cost ``2 * seq_len * embed_dim`` FLOPs each per layer, exactly as
    `book_code.encoder.layer_flops` counts them (the full ``seq_len``, as a dense kernel computes
    it even under a causal mask).

    Example:
        >>> inference_flops(1_000, 10)
        20000.0
        >>> inference_flops(1_000, 10, num_layers=2, seq_len=5, embed_dim=8)
        23200.0
    """
    _check_count(n_params, "n_params")
    _check_count(tokens, "tokens")
    flops = 2.0 * n_params * tokens
    given = [x is not None for x in (num_layers, seq_len, embed_dim)]
    if any(given) and not all(given):
        raise ValueError("give all of num_layers, seq_len and embed_dim for the attention term, or none")
    if all(given):
        for value, name in ((num_layers, "num_layers"), (seq_len, "seq_len"), (embed_dim, "embed_dim")):
            _check_count(value, name, integer=True)
        flops += 4.0 * num_layers * seq_len * embed_dim * tokens
    return flops


def training_flops(
    n_params: float,
    tokens: float,
    *,
    num_layers: int | None = None,
    seq_len: int | None = None,
    embed_dim: int | None = None,
) -> float:
    """FLOPs of training on ``tokens`` tokens: three times `inference_flops` (forward, plus a
    backward pass that computes gradients for both activations and weights, about twice the
    forward), so ``6 * n_params * tokens`` without the attention term (Kaplan et al., 2020).

    Example:
        >>> training_flops(175e9, 300e9)  # GPT-3: 175B parameters, 300B tokens
        3.15e+23
    """
    return 3.0 * inference_flops(n_params, tokens, num_layers=num_layers, seq_len=seq_len,
                                 embed_dim=embed_dim)


def classifier_flops(config: ClassifierConfig, num_sequences: int, seq_len: int,
                     training: bool = False) -> int:
    """Exact matrix-multiply FLOPs of the book's `TransformerClassifier` on ``num_sequences``
    sequences of ``seq_len`` tokens (chapter 5's `flops_per_forward`), times 3 when training."""
    _check_count(num_sequences, "num_sequences", integer=True)
    _check_count(seq_len, "seq_len", integer=True)
    forward = flops_per_forward(config, batch=num_sequences, seq_len=seq_len)["total"]
    return 3 * forward if training else forward
# --8<-- [end:flop_estimates]


# --8<-- [start:wall_timer]
class WallTimer:
    """A context manager that measures wall-clock time.

    Example:
        >>> with WallTimer() as timer:
        ...     _ = sum(range(1000))
        >>> timer.seconds >= 0.0, timer.hours == timer.seconds / 3600
        (True, True)
    """

    def __init__(self) -> None:
        self._start: float | None = None
        self._stop: float | None = None

    # Quoted: the listing must also run when copied without `from __future__ import annotations`.
    def __enter__(self) -> "WallTimer":  # noqa: UP037
        self._start, self._stop = time.perf_counter(), None
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Seconds from entering to leaving the ``with`` block (so far, while inside it)."""
        if self._start is None:
            raise RuntimeError("the timer has not been started: use it as `with WallTimer() as t:`")
        end = time.perf_counter() if self._stop is None else self._stop
        return end - self._start

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0
# --8<-- [end:wall_timer]


# --8<-- [start:energy_estimate]
@dataclass(frozen=True)
class FootprintEstimate:
    """An energy and emissions estimate together with every assumption that produced it."""

    hours: float
    device_power_watts: float
    utilisation: float
    pue: float
    grid_intensity_g_per_kwh: float
    num_devices: int
    energy_kwh: float
    co2e_kg: float

    def as_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """Assumptions and results as a two-column Markdown table."""
        rows = [("wall time (hours)", f"{self.hours:.4g}"),
                ("devices", f"{self.num_devices}"),
                ("power per device (W)", f"{self.device_power_watts:g}"),
                ("utilisation", f"{self.utilisation:g}"),
                ("PUE", f"{self.pue:g}"),
                ("grid intensity (g CO2e/kWh)", f"{self.grid_intensity_g_per_kwh:g}"),
                ("energy (kWh)", f"{self.energy_kwh:.4g}"),
                ("emissions (kg CO2e)", f"{self.co2e_kg:.4g}")]
        return "\n".join(["| quantity | value |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in rows])


def energy_kwh(
    *, hours: float, device_power_watts: float, utilisation: float, pue: float, num_devices: int = 1
) -> float:
    """Energy drawn from the grid: ``num_devices * device_power_watts * utilisation * hours * pue /
    1000``. ``utilisation`` scales the device's rated power to its average draw (use 1 with a
    measured average power); the power usage effectiveness ``pue >= 1`` adds the datacentre's
    cooling and power delivery."""
    _check_count(hours, "hours")
    _check_positive(device_power_watts, "device_power_watts")
    _check_number(utilisation, "utilisation")
    if not 0.0 <= utilisation <= 1.0:
        raise ValueError(
            f"utilisation is a fraction of the device's power and must lie in [0, 1]; got {utilisation}"
        )
    _check_number(pue, "pue")
    if pue < 1.0:
        raise ValueError(
            f"pue (power usage effectiveness) is total facility power / IT power, so >= 1; got {pue}"
        )
    _check_count(num_devices, "num_devices", integer=True, positive=True)
    return num_devices * device_power_watts * utilisation * hours * pue / 1000.0


def co2e_kg(*, energy_kwh: float, grid_intensity_g_per_kwh: float) -> float:
    """Emissions of ``energy_kwh`` at a grid intensity in grams CO2e per kWh, in kilograms."""
    _check_count(energy_kwh, "energy_kwh")
    _check_count(grid_intensity_g_per_kwh, "grid_intensity_g_per_kwh")
    return energy_kwh * grid_intensity_g_per_kwh / 1000.0


def estimate_footprint(
    *,
    hours: float,
    device_power_watts: float,
    utilisation: float,
    pue: float,
    grid_intensity_g_per_kwh: float,
    num_devices: int = 1,
) -> FootprintEstimate:
    """Energy and CO2e of running ``num_devices`` devices for ``hours``, with all assumptions named.

    Args:
        hours: Wall-clock hours (e.g. ``WallTimer().hours``).
        device_power_watts: Power of one device (its rated TDP, or a measured average).
        utilisation: Average fraction of ``device_power_watts`` drawn, in [0, 1].
        pue: Power usage effectiveness of the datacentre, >= 1 (1.0 for none counted).
        grid_intensity_g_per_kwh: Grams of CO2-equivalent per kWh of the local grid.
        num_devices: Devices working in parallel.

    Returns:
        A `FootprintEstimate` holding the assumptions, ``energy_kwh`` and ``co2e_kg``.

    Example:
        >>> e = estimate_footprint(hours=10, device_power_watts=300, utilisation=0.5, pue=1.2,
        ...                        grid_intensity_g_per_kwh=400)
        >>> round(e.energy_kwh, 6), round(e.co2e_kg, 6)  # 300 W * 0.5 * 10 h * 1.2 = 1.8 kWh
        (1.8, 0.72)
    """
    energy = energy_kwh(hours=hours, device_power_watts=device_power_watts, utilisation=utilisation,
                        pue=pue, num_devices=num_devices)
    emissions = co2e_kg(energy_kwh=energy, grid_intensity_g_per_kwh=grid_intensity_g_per_kwh)
    return FootprintEstimate(float(hours), float(device_power_watts), float(utilisation), float(pue),
                             float(grid_intensity_g_per_kwh), num_devices, energy, emissions)
# --8<-- [end:energy_estimate]


# --8<-- [start:published]
@dataclass(frozen=True)
class PublishedTraining:
    """Figures for one training run as a paper publishes them (units in the field names)."""

    model: str
    source: str
    parameters: float
    energy_mwh: float
    co2e_tonnes: float
    grid_intensity_kg_per_kwh: float
    pue: float
    processor: str
    num_processors: int
    days: float
    average_power_watts: float
    """Measured average system power per processor (memory, network, fans, host CPU included)."""
    flops: float


# Patterson et al. (2021), "Carbon Emissions and Large Neural Network Training", arXiv:2104.10350,
# Table 4 (GPT-3 column; the run itself was OpenAI's, in a Microsoft datacentre).
GPT3_PATTERSON_2021 = PublishedTraining(
    model="GPT-3 (175B)",
    source="Patterson et al. (2021), Table 4",
    parameters=175e9,
    energy_mwh=1287.0,
    co2e_tonnes=552.0,  # 552.1 in the table
    grid_intensity_kg_per_kwh=0.429,
    pue=1.10,
    processor="NVIDIA V100",
    num_processors=10_000,
    days=14.8,
    average_power_watts=330.0,
    flops=3.14e23,
)
# Brown et al. (2020), "Language Models are Few-Shot Learners", Section 2.2: every GPT-3 model was
# trained on 300 billion tokens; Table D.1 (appendix D) gives 3.14e23 FLOPs for the 175B model.
GPT3_TRAINING_TOKENS = 300e9
# --8<-- [end:published]


# --8<-- [start:reproduce_gpt3]
def gpt3_co2e_from_published_energy(published: PublishedTraining = GPT3_PATTERSON_2021) -> float:
    """Tonnes CO2e from the published energy and grid intensity: 1,287 MWh x 0.429 kg/kWh.

    Example:
        >>> round(gpt3_co2e_from_published_energy(), 1)
        552.1
    """
    kg = co2e_kg(energy_kwh=published.energy_mwh * 1000.0,
                 grid_intensity_g_per_kwh=published.grid_intensity_kg_per_kwh * 1000.0)
    return kg / 1000.0


def gpt3_footprint_from_published_hardware(
    published: PublishedTraining = GPT3_PATTERSON_2021,
) -> FootprintEstimate:
    """The same run estimated bottom-up: processors x measured average power x days x PUE, at the
    published grid intensity. ``utilisation=1`` because the published power is a measured average
    rather than a rated maximum."""
    return estimate_footprint(
        hours=published.days * 24.0,
        device_power_watts=published.average_power_watts,
        utilisation=1.0,
        pue=published.pue,
        grid_intensity_g_per_kwh=published.grid_intensity_kg_per_kwh * 1000.0,
        num_devices=published.num_processors,
    )
# --8<-- [end:reproduce_gpt3]
