from fractions import Fraction

import numpy as np
import pytest

from picker.preprocess.resample import (
    RATE_TOLERANCE,
    resample_record,
    resample_window,
    resampling_factor,
)


def test_resample_window_moves_picks_and_keeps_timing():
    rate_in, rate_out = 50.0, 100.0
    t = np.arange(500) / rate_in
    data = np.stack([np.sin(2 * np.pi * 2 * t)] * 3, axis=1).astype(np.float32)
    out, p, s = resample_window(data, rate_in, rate_out, 100, -1)
    assert out.shape == (1000, 3) and out.dtype == np.float32
    assert (p, s) == (200, -1)
    t_out = np.arange(1000) / rate_out
    np.testing.assert_allclose(out[100:900, 0], np.sin(2 * np.pi * 2 * t_out[100:900]), atol=0.02)
    same, p2, _ = resample_window(data, 100.0, 100.0, 7, 9)
    assert same is data and p2 == 7


def test_resampling_factor_is_the_ratio_of_the_rates():
    assert resampling_factor(50.0, 100.0) == 2
    assert resampling_factor(40.0, 100.0) == Fraction(5, 2)
    assert resampling_factor(62.5, 100.0) == Fraction(8, 5)
    assert resampling_factor(250.0, 100.0) == Fraction(2, 5)
    assert resampling_factor(100.0, 100.0) == 1
    assert resampling_factor(99.99, 100.0) == Fraction(10000, 9999)  # was 1: 0.36 s an hour
    assert resampling_factor(49.999, 100.0) == Fraction(100000, 49999)
    # a SAC file's float32 delta of 0.01 s: the rate is 100 Hz to float32 round-off
    assert resampling_factor(1 / float(np.float32(0.01)), 100.0) == 1
    assert resampling_factor(1 / float(np.float32(0.02)), 100.0) == 2
    for rate in (99.98765432, 47.123, 33.3):
        factor = resampling_factor(rate, 100.0)
        assert abs(float(factor) * rate / 100.0 - 1.0) <= RATE_TOLERANCE


def pulse(t_s: np.ndarray, t0_s: float) -> np.ndarray:
    """A 6 Hz Gaussian wavelet centred on ``t0_s`` (no energy above 15 Hz)."""
    return np.exp(-(((t_s - t0_s) / 0.08) ** 2)) * np.cos(2 * np.pi * 6.0 * (t_s - t0_s))


@pytest.mark.parametrize("rate_in", [50.0, 40.0])
def test_upsampled_wavelet_keeps_its_time(rate_in):
    """Zero phase: a wavelet at 3.37 s sampled at 50 or 40 Hz is at 3.37 s at 100 Hz, at the
    same samples as the wavelet sampled at 100 Hz (a causal anti-imaging filter would delay
    it by its group delay)."""
    n_in = int(10 * rate_in)
    wave = pulse(np.arange(n_in) / rate_in, 3.37)
    data = np.stack([wave, -wave, 2 * wave], axis=1).astype(np.float32)
    out, p, _ = resample_window(data, rate_in, 100.0, round(3.37 * rate_in))
    expected = pulse(np.arange(1000) / 100.0, 3.37)
    assert out.shape == (1000, 3)
    np.testing.assert_allclose(out[:, 0], expected, atol=2e-3)
    np.testing.assert_allclose(out[:, 2], 2 * expected, atol=4e-3)
    assert np.argmax(out[:, 0]) == 337
    assert p == round(round(3.37 * rate_in) * 100.0 / rate_in)


@pytest.mark.parametrize("rate_in", [99.99, 49.99])
def test_off_nominal_rate_keeps_picks_on_the_data(rate_in):
    """A rate that is no small fraction of 100 Hz: the data are resampled by the same factor
    as the picks, so a pick stays on its spike an hour into the record."""
    n_in = int(3600 * rate_in)
    p_in = n_in - 1000
    data = np.zeros((n_in, 3), np.float32)
    data[p_in - 400 : p_in + 400, 2] = pulse(np.arange(-400, 400) / rate_in, 0.0)
    record_out, p_out, _ = resample_window(data, rate_in, 100.0, p_in)
    assert abs(len(record_out) - n_in * 100.0 / rate_in) <= 1
    assert np.argmax(record_out[:, 2]) == p_out
    assert abs(p_out / 100.0 - p_in / rate_in) <= 0.5 / 100.0  # same time, within half a sample


def test_resample_record_sets_the_rate_and_picks():
    from picker.io.base import Record

    data = np.zeros((4000, 3), np.float32)
    data[1234, 2] = 1.0
    record = Record(data=data, sampling_rate_hz=40.0, p_arrival_sample=1234, s_arrival_sample=-1)
    out = resample_record(record, 100.0)
    assert out.sampling_rate_hz == 100.0 and out.n_samples == 10_000
    assert (out.p_arrival_sample, out.s_arrival_sample) == (3085, -1)
    assert np.argmax(out.data[:, 2]) == 3085
    assert resample_record(record, 40.0) is record
