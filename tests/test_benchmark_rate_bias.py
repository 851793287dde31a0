"""The building blocks of ``benchmarks/rate_bias.py`` on a synthetic wavelet (no model run)."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def rate_bias():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("rate_bias")
    finally:
        sys.path.remove(str(BENCHMARKS))


def wavelet_data(rate_hz: float, t0_s: float = 12.34, n_s: float = 30.0) -> np.ndarray:
    t = np.arange(int(n_s * rate_hz)) / rate_hz
    wave = np.exp(-(((t - t0_s) / 0.08) ** 2)) * np.cos(2 * np.pi * 6.0 * (t - t0_s))
    return np.stack([wave, 0.5 * wave, -wave], axis=1)


def envelope_peak_s(x: np.ndarray, rate_hz: float) -> float:
    from scipy.signal import hilbert

    return float(np.argmax(np.abs(hilbert(x[:, 0]))) / rate_hz)


@pytest.mark.parametrize("rate", [50, 40])
def test_zero_phase_simulations_keep_the_time_and_causal_ones_delay_it(rate_bias, rate):
    data = wavelet_data(100.0)
    shifts = {}
    for name, (make, _) in rate_bias.SIMULATIONS.items():
        lower = make(data, rate)
        assert lower.shape == (30 * rate, 3)
        shifts[name] = envelope_peak_s(lower, rate) - 12.34
    assert abs(shifts["linear-phase FIR"]) <= 0.5 / rate
    assert abs(shifts["ObsPy resample"]) <= 0.5 / rate
    assert rate_bias.filter_delay_s("linear-phase FIR", rate) == 0.0
    for causal in ("ObsPy decimate", "minimum-phase FIR"):
        delay = rate_bias.filter_delay_s(causal, rate)
        assert 0.02 < delay < 0.1
        assert abs(shifts[causal] - delay) <= 1.0 / rate  # the wavelet moves by the delay


def test_nearest_pick_and_table(rate_bias):
    assert rate_bias.nearest([1.0, 2.05, 9.0], 2.0) == 2.05
    assert rate_bias.nearest([1.0], 2.0) is None  # further than MATCH_S
    assert rate_bias.nearest([], 2.0) is None and rate_bias.nearest([2.0], None) is None
    results = {("linear-phase FIR", 50, "3C"): {"P": [0.0, 0.01, 0.02], "S": [], "missed": 1}}
    lines = rate_bias.table(results).splitlines()
    assert lines[2] == (
        "| linear-phase FIR | 50 Hz | 3C | 0.000 | 3 | +0.010 | +0.002 .. +0.018 | 0 | - | - |"
    )


def test_missing_data_root_skips(rate_bias, tmp_path, capsys):
    assert rate_bias.main(["--data-root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("skip: no ncedc/ or martinique/ under")
