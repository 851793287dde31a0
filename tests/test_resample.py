import numpy as np

from picker.preprocess.resample import resample_window


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
