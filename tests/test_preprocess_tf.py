"""The TensorFlow model-input preprocessing of the training pipeline equals the NumPy one."""

from __future__ import annotations

import numpy as np
import pytest

from picker.preprocess.model_input import model_input
from picker.preprocess.model_input_tf import model_input_tf, supported


@pytest.mark.parametrize("shape", [(4, 3001, 3), (2, 1, 3), (3, 100, 3), (2, 7000, 3)])
@pytest.mark.parametrize("highpass_hz", [0.0, 1.0, 5.0])
def test_same_numbers_as_numpy(rng, shape, highpass_hz):
    x = (rng.normal(0, 100, shape) + 7).astype(np.float32)
    x[0, :, 1] = 0  # a dead channel stays exactly 0
    x[-1, shape[1] // 2 :, 0] = 3.0  # a constant stretch
    expected = model_input(x, 100.0, 30.0, highpass_hz)
    got = model_input_tf(x, 100.0, 30.0, highpass_hz).numpy()
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert not got[0, :, 1].any()


def test_too_low_cutoff_is_refused():
    assert supported(100.0, 1.0) and supported(100.0, 0.0) and not supported(100.0, 0.01)
    with pytest.raises(ValueError, match="too slow to decay"):
        model_input_tf(np.zeros((1, 500, 3), np.float32), 100.0, 30.0, 0.01)


def test_training_pipeline_falls_back_to_numpy_for_a_low_cutoff(tiny_config):
    from picker.training.dataset import make_training_dataset
    from picker.training.synthetic import synthetic_records

    records = [r.with_data(r.data * 1e4) for r in synthetic_records(8, n_samples=1200, seed=2)]
    for hz in (0.01, 1.0):
        cfg = tiny_config(data={"normalization": "sliding"}, predict={"highpass_hz": hz})
        x, _ = next(iter(make_training_dataset([], cfg, records=records)))
        assert np.isfinite(x.numpy()).all() and x.shape[0] == 4
        assert 0.2 < x.numpy().std() < 5.0  # normalised to unit running std, not raw (~1e4)
