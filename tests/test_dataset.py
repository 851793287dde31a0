import numpy as np
import pytest

from picker.io import write_records
from picker.training.dataset import (
    WindowMaker,
    make_training_dataset,
    make_validation_arrays,
)
from picker.training.synthetic import synthetic_records


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The same 12 synthetic 1200-sample records written as NPZ and as TFRecord."""
    root = tmp_path_factory.mktemp("sources")
    records = synthetic_records(12, n_samples=1200, seed=5)
    write_records(records, root / "npz", "npz")
    write_records(records, root / "tfr" / "train", "tfrecord")
    return root, records


def test_window_maker_labels_follow_the_crop(tiny_config):
    cfg = tiny_config(
        augment={
            k: 0.0
            for k in (
                "stack_event",
                "scale_amplitude",
                "flip_polarity",
                "drop_channels",
                "gaussian_noise",
                "gap",
            )
        },
        labels={"width_samples": [4, 12]},  # sigma of P and of S
    )
    cfg.data.normalization = "std"
    record = synthetic_records(1, n_samples=1200, seed=2)[0]
    maker = WindowMaker(cfg, training=False, sparse=False)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        crop, picks = maker.window(
            record.data, record.p_arrival_sample, record.s_arrival_sample, 100.0, rng
        )
        offset = record.p_arrival_sample - int(picks[0][0])
        np.testing.assert_array_equal(crop, record.data[offset : offset + 512])
    x, y = maker(
        record.data,
        record.p_arrival_sample,
        record.s_arrival_sample,
        np.float32(100),
        record.data,
        -1,
        -1,
        np.float32(100),
        3,
    )
    assert x.shape == (512, 3) and y.shape == (512, 3)
    np.testing.assert_allclose(x.std(axis=0), 1.0, rtol=1e-4)
    p_peak = int(np.argmax(y[:, 1]))
    assert y[p_peak, 1] == pytest.approx(1.0)
    within_sigma = np.exp(-0.5) - 1e-6
    assert np.count_nonzero(y[:, 1] >= within_sigma) == 2 * 4 + 1
    s_peak = int(np.argmax(y[:, 2]))
    assert 12 <= s_peak < 500 and np.count_nonzero(y[:, 2] >= within_sigma) == 2 * 12 + 1


@pytest.mark.parametrize("fmt", ["npz", "tfr"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_training_batches_have_the_right_layout(sources, tiny_config, fmt, data_format):
    root, _ = sources
    cfg = tiny_config(augment={"stack_event": 1.0, "gap": 1.0, "drop_channels": 1.0})
    ds = make_training_dataset([str(root / fmt)], cfg, data_format)
    x, y = next(iter(ds))
    n = x.shape[1] if data_format == "channels_last" else x.shape[2]
    assert 497 <= n <= 512  # random batch length (see the next-but-last test)
    expected = (4, n, 3) if data_format == "channels_last" else (4, 3, n)
    assert tuple(x.shape) == expected and tuple(y.shape) == expected
    axis = -1 if data_format == "channels_last" else 1
    np.testing.assert_allclose(np.sum(y.numpy(), axis=axis), 1.0, atol=1e-5)
    assert np.isfinite(x.numpy()).all()


def test_sparse_labels_and_noise_windows(sources, tiny_config):
    root, _ = sources
    cfg = tiny_config(
        train={"loss": "sparse"}, data={"noise_window_fraction": 1.0}, labels={"shape": "box"}
    )
    x, y = next(iter(make_training_dataset([str(root / "npz")], cfg)))
    assert y.shape[0] == 4 and 497 <= y.shape[1] <= 512 and y.dtype.name == "int32"
    # crops of long enough pre-P noise hold no pick at all (a stacked event may add one)
    assert set(np.unique(y.numpy())) <= {0, 1, 2}


def test_picks_land_anywhere_in_the_window(sources, tiny_config):
    root, _ = sources
    cfg = tiny_config(
        augment={"stack_event": 0.0}, data={"noise_window_fraction": 0.0, "batch_size": 32}
    )
    x, y = next(iter(make_training_dataset([str(root / "npz")], cfg)))
    p_positions = np.argmax(y.numpy()[:, :, 1], axis=1)
    assert p_positions.min() < 497 / 3 and p_positions.max() > 2 * 497 / 3


def test_validation_windows_are_fixed(sources, tiny_config):
    root, records = sources
    cfg = tiny_config()
    x1, y1, windows = make_validation_arrays([str(root / "npz")], cfg)
    x2, y2, _ = make_validation_arrays([str(root / "tfr")], cfg)
    assert x1.shape == (12, 512, 3)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    for i, window in enumerate(windows):
        assert window.n_samples == 512
        if window.p_arrival_sample >= 0:
            assert y1[i, window.p_arrival_sample, 1] == pytest.approx(1.0)


def test_several_validation_crops_per_record(sources, tiny_config):
    root, _ = sources
    x1, _, _ = make_validation_arrays([str(root / "npz")], tiny_config())
    x3, y3, windows = make_validation_arrays(
        [str(root / "npz")], tiny_config(data={"validation_crops": 3})
    )
    assert x3.shape == (36, 512, 3) and y3.shape[0] == len(windows) == 36
    np.testing.assert_array_equal(x3[::3], x1)  # the first crop is the single-crop one
    assert not np.array_equal(x3[0], x3[1]) and not np.array_equal(x3[1], x3[2])
    again, _, _ = make_validation_arrays(
        [str(root / "npz")], tiny_config(data={"validation_crops": 3})
    )
    np.testing.assert_array_equal(again, x3)  # fixed: the same crops every call


def test_no_readable_source(tmp_path, tiny_config):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="no training data"):
        make_training_dataset([str(tmp_path)], tiny_config())


def test_nan_and_inf_samples_never_reach_the_loss(tiny_config):
    record = synthetic_records(1, n_samples=1200, seed=4)[0]
    data = record.data.copy()
    data[100:200, 0] = np.nan
    data[300, 2] = np.inf
    maker = WindowMaker(tiny_config(), training=True, sparse=False)
    for seed in range(10):
        x, y = maker(data, record.p_arrival_sample, -1, 100.0, data, -1, -1, 100.0, seed)
        assert np.isfinite(x).all() and np.isfinite(y).all()


def test_sliding_normalisation_in_training_is_what_prediction_does(tiny_config):
    from picker.preprocess.model_input import model_input, sliding_normalize

    cfg = tiny_config(
        data={"normalization": "sliding"},
        predict={"normalization_window_s": 1.0, "highpass_hz": 2.0},
    )
    maker = WindowMaker(cfg, training=False, sparse=False)
    crop = synthetic_records(1, n_samples=512, seed=8)[0].data
    np.testing.assert_array_equal(maker.normalize(crop), model_input(crop, 100.0, 1.0, 2.0))
    np.testing.assert_array_equal(model_input(crop, 100.0, 1.0, 0.0), sliding_normalize(crop, 100))
    assert not np.allclose(maker.normalize(crop).std(axis=0), 1.0, rtol=1e-3)


def test_model_input_high_pass_is_causal_and_removes_microseism():
    from picker.preprocess.model_input import model_input

    rate = 100.0
    t = np.arange(6000) / rate
    x = np.zeros((6000, 3), np.float32)
    x[3000:, 2] = np.sin(2 * np.pi * 10 * t[3000:])  # onset at sample 3000
    out = model_input(x, rate, 30.0, 1.0)
    assert np.abs(out[:3000]).max() < 0.05 and np.abs(out[3000:3100, 2]).max() > 0.5
    micro = 100 * np.sin(2 * np.pi * 0.2 * t)[:, None] + np.sin(2 * np.pi * 10 * t)[:, None]
    filtered = model_input(np.repeat(micro, 3, axis=1), rate, 30.0, 1.0)[1000:, 2]
    spectrum = np.abs(np.fft.rfft(filtered))
    freqs = np.fft.rfftfreq(len(filtered), 1 / rate)
    assert spectrum[np.argmin(abs(freqs - 10))] > 5 * spectrum[np.argmin(abs(freqs - 0.2))]


def test_training_batches_vary_in_length_over_one_total_stride(sources, tiny_config):
    root, _ = sources
    cfg = tiny_config()  # window 512, total stride 4 ** 2 = 16
    lengths = {int(x.shape[1]) for x, _ in make_training_dataset([str(root / "npz")], cfg).take(40)}
    assert lengths <= set(range(497, 513)) and len(lengths) > 5


@pytest.mark.parametrize(
    "rate, problem", [(5.0, "sampled at 5 Hz, below 10 Hz"), (1e6, "above 10000 Hz")]
)
def test_tfrecord_training_data_follow_the_sampling_rate_rule(
    tmp_path, tiny_config, caplog, rate, problem
):
    """TFRecord files are streamed by tf.data, not read with read_records: the one rule
    (sampling_rate_problem) must still keep a file with a bad rate out of training."""
    import logging

    from picker.training.dataset import load_records

    good = synthetic_records(4, n_samples=1200, seed=5)
    bad = synthetic_records(3, n_samples=1200, seed=6)
    bad[2] = bad[2].with_data(bad[2].data, sampling_rate_hz=rate)
    (good_file,) = write_records(good, tmp_path / "tfr" / "good", "tfrecord")
    (bad_file,) = write_records(bad, tmp_path / "tfr" / "bad", "tfrecord")
    cfg = tiny_config()
    with caplog.at_level(logging.ERROR, logger="picker"):
        records, tfrecord_files = load_records([str(tmp_path / "tfr")], cfg)
    assert records == [] and tfrecord_files == [str(good_file)]
    assert any(
        str(bad_file) in r.getMessage()
        and "record 2 " in r.getMessage()
        and problem in r.getMessage()
        for r in caplog.records
    )
    x, _, _ = make_validation_arrays([str(tmp_path / "tfr")], cfg)
    assert x.shape == (4, 512, 3)
    with pytest.raises(ValueError, match="no training data"):
        make_training_dataset([str(bad_file)], cfg)
