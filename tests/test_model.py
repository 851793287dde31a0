import keras
import numpy as np
import pytest

from picker.config import ModelConfig
from picker.models.unet import build_model, class_axis
from picker.preprocess.model_input import total_stride
from picker.preprocess.normalize import normalize
from picker.training.synthetic import synthetic_window

TINY = {"filters": [4, 8, 8], "kernel_size": 5, "stride": 4}


@pytest.fixture(scope="module")
def event():
    record = synthetic_window(3007, p_sample=1500, rng=np.random.default_rng(3), snr_db=30)
    return normalize(record.data)


def test_output_is_a_softmax_of_the_input_length(event):
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(**TINY, data_format="channels_last"))
    for n_samples in (1, 17, 3001):
        y = model.predict(event[None, :n_samples], verbose=0)
        assert y.shape == (1, n_samples, 3)
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, atol=1e-5)


def test_channels_first_and_last_agree_for_the_same_weights(event):
    keras.utils.set_random_seed(0)
    last = build_model(ModelConfig(**TINY, data_format="channels_last"))
    first = build_model(ModelConfig(**TINY, data_format="channels_first"))
    first.set_weights(last.get_weights())
    x = np.stack([event[:3001], event[5:3006]])
    y_last = last.predict(x, verbose=0)
    y_first = first.predict(x.transpose(0, 2, 1), verbose=0)
    assert y_first.shape == (2, 3, 3001)
    np.testing.assert_allclose(y_first.transpose(0, 2, 1), y_last, atol=1e-6)
    assert class_axis(first) == 1 and class_axis(last) == -1


def test_default_layout_follows_keras_setting():
    previous = keras.config.image_data_format()
    try:
        keras.config.set_image_data_format("channels_first")
        assert build_model(ModelConfig(**TINY)).input_shape == (None, 3, None)
    finally:
        keras.config.set_image_data_format(previous)
    assert build_model(ModelConfig(**TINY, data_format="channels_last")).input_shape == (
        None,
        None,
        3,
    )


@pytest.mark.parametrize("cfg", [TINY, {}], ids=["tiny", "default"])
def test_pick_does_not_move_with_window_length(event, cfg):
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(**cfg, data_format="channels_last"))
    peaks = set()
    for n_samples in (3000, 3001, 3007):
        y = model.predict(event[None, :n_samples], verbose=0)[0]
        peaks.add((int(y[:2900, 1].argmax()), int(y[:2900, 2].argmax())))
    assert len(peaks) == 1


def test_padding_to_the_stride_is_exact(event):
    keras.utils.set_random_seed(0)
    cfg = ModelConfig(**TINY, data_format="channels_last")
    model = build_model(cfg)
    assert total_stride(cfg) == 16
    x = event[:3000]
    padded = np.concatenate([x, np.zeros((3008 - 3000, 3), np.float32)])
    np.testing.assert_array_equal(
        model.predict(x[None], verbose=0)[0], model.predict(padded[None], verbose=0)[0, :3000]
    )


def test_bad_model_config_is_rejected():
    from picker.config import ConfigError

    with pytest.raises(ConfigError, match="stride must be > 0"):
        build_model(ModelConfig(filters=[4], stride=0))
