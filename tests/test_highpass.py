"""The NumPy high-pass equals SciPy's Butterworth ``sosfilt`` from rest."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from picker.preprocess.highpass import BLOCK, butter_highpass_sections, highpass


@pytest.mark.parametrize(
    "order, cutoff_hz, rate_hz",
    [(4, 1.0, 100.0), (2, 0.5, 20.0), (6, 1.0, 40.0), (3, 1.0, 100.0), (1, 2.0, 200.0),
     (4, 0.05, 100.0), (4, 45.0, 100.0)],
)  # fmt: skip
def test_matches_scipy_design_and_filter(rng, order, cutoff_hz, rate_hz):
    sos = butter(order, cutoff_hz, "highpass", fs=rate_hz, output="sos")
    x = rng.normal(0, 1000, (20 * BLOCK + 17, 3)) + 5e4
    expected = sosfilt(sos, x, axis=0)
    ours = butter_highpass_sections(order, cutoff_hz, rate_hz)  # sections may come in any order
    assert ours.shape == sos.shape
    np.testing.assert_allclose(sosfilt(ours, x, axis=0), expected, atol=1e-9 * np.abs(x).max())
    got = highpass(x, cutoff_hz, rate_hz, order)
    assert got.dtype == np.float64 and got.shape == x.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9 * np.abs(expected).max())


@pytest.mark.parametrize("n_samples", [1, 2, BLOCK - 1, BLOCK, BLOCK + 1, 3001])
def test_any_length_and_axis(rng, n_samples):
    sos = butter(4, 1.0, "highpass", fs=100.0, output="sos")
    x = rng.normal(0, 1, (2, n_samples, 3))
    np.testing.assert_allclose(
        highpass(x, 1.0, 100.0, axis=1), sosfilt(sos, x, axis=1), rtol=0, atol=1e-10
    )
    np.testing.assert_allclose(
        highpass(x[0].T, 1.0, 100.0, axis=-1), sosfilt(sos, x[0].T, axis=-1), rtol=0, atol=1e-10
    )


def test_bad_cutoff_is_rejected():
    with pytest.raises(ValueError, match="Nyquist frequency 50.0 Hz"):
        highpass(np.zeros(10), 60.0, 100.0)
    with pytest.raises(ValueError, match="order 0 must be >= 1"):
        butter_highpass_sections(0, 1.0, 100.0)
