import numpy as np
import pytest

from picker.config import ConfigError
from picker.io import write_records
from picker.training.synthetic import synthetic_records


def _teacher(tiny_config, tmp_path, name, data_format="channels_last", **predict):
    """A tiny untrained picker model saved as ``name``; returns (path, model)."""
    import keras

    from picker.models.saving import InputSettings, save_model, set_input_settings
    from picker.models.unet import build_model

    keras.utils.set_random_seed(len(name))
    cfg = tiny_config(model={"data_format": data_format}, predict=predict)
    model = set_input_settings(build_model(cfg.model), InputSettings.from_config(cfg))
    path = tmp_path / name
    save_model(model, path)
    return path, model


def _batches(x, y):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(2)


@pytest.mark.parametrize("student_layout", ["channels_last", "channels_first"])
def test_targets_blend_labels_with_the_teachers_mean(tiny_config, tmp_path, student_layout):
    from picker.models.saving import InputSettings
    from picker.training.distill import load_teachers, with_teacher_targets

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 512, 3)).astype(np.float32)  # E, N, Z
    y = np.zeros((4, 512, 3), np.float32)
    y[..., 0] = 1.0  # all noise
    y[:, 100, :] = [0.0, 1.0, 0.0]  # a P label at sample 100
    first, a = _teacher(tiny_config, tmp_path, "a.keras")
    second, b = _teacher(tiny_config, tmp_path, "b.keras", data_format="channels_first")
    teachers = load_teachers([str(first), str(second)], InputSettings.from_config(tiny_config()))
    expected_mean = 0.5 * (
        a.predict(x, verbose=0) + b.predict(x.transpose(0, 2, 1), verbose=0).transpose(0, 2, 1)
    )
    expected = 0.7 * y + 0.3 * expected_mean

    channels_first = student_layout == "channels_first"
    if channels_first:  # the dataset carries both arrays as (batch, 3, n_samples)
        x, y = x.transpose(0, 2, 1), y.transpose(0, 2, 1)
    ds = with_teacher_targets(_batches(x, y), teachers, 0.3, channels_first)
    out_x = np.concatenate([bx.numpy() for bx, _ in ds])
    out_y = np.concatenate([by.numpy() for _, by in ds])
    if channels_first:
        out_x, out_y = out_x.transpose(0, 2, 1), out_y.transpose(0, 2, 1)
        x = x.transpose(0, 2, 1)
    np.testing.assert_array_equal(out_x, x)  # the input passes unchanged
    np.testing.assert_allclose(out_y, expected, atol=1e-5)
    np.testing.assert_allclose(out_y.sum(axis=-1), 1.0, atol=1e-5)  # still a distribution


def test_a_missing_teacher_is_a_config_error(tmp_path):
    from picker.models.saving import InputSettings
    from picker.training.distill import load_teachers

    with pytest.raises(ConfigError, match="nowhere.keras does not exist"):
        load_teachers([str(tmp_path / "nowhere.keras")], InputSettings())


def test_a_teacher_that_is_not_a_model_is_a_config_error(tmp_path):
    from picker.models.saving import InputSettings
    from picker.training.distill import load_teachers

    junk = tmp_path / "junk.keras"
    junk.write_text("not a model")
    with pytest.raises(ConfigError, match=r"^train\.teachers: .*junk\.keras") as caught:
        load_teachers([str(junk)], InputSettings())
    assert "\n" not in str(caught.value)


def test_a_teacher_trained_on_other_input_is_refused(tiny_config, tmp_path):
    from picker.models.saving import InputSettings
    from picker.training.distill import load_teachers

    path, _ = _teacher(tiny_config, tmp_path, "hp2.keras", highpass_hz=2.0)
    with pytest.raises(ConfigError, match="hp2.keras was trained on other input"):
        load_teachers([str(path)], InputSettings())


def test_distillation_settings_are_checked(tiny_config):
    with pytest.raises(ConfigError, match="distill_weight"):
        tiny_config(train={"distill_weight": 0.0})
    with pytest.raises(ConfigError, match="soft targets"):
        tiny_config(train={"teachers": ["bundled"], "loss": "sparse"})


def test_training_with_a_teacher_fits_to_its_probabilities(tiny_config, tmp_path, monkeypatch):
    """A student with distill_weight 1 learns the teacher's output, not the labels."""
    import keras

    from picker.models.saving import load_model
    from picker.training import train as train_module

    write_records(synthetic_records(8, n_samples=1024, seed=3), tmp_path / "npz", "npz")
    path, _ = _teacher(tiny_config, tmp_path, "teacher.keras")
    targets = []
    original_fit = keras.Model.fit

    def fit(self, train_ds, *args, **kwargs):  # look at one batch of what the student is fit to
        targets.append(next(iter(train_ds))[1].numpy())
        return original_fit(self, train_ds, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit)
    cfg = tiny_config(
        data={"train": [str(tmp_path / "npz")], "batch_size": 4},
        augment={"gap": 0.0},
        train={"teachers": [str(path)], "distill_weight": 1.0, "epochs": 2, "steps_per_epoch": 3},
    )
    result = train_module.train(cfg, tmp_path / "run")
    assert np.isfinite(result.history["loss"]).all()
    teacher = load_model(path)
    # with weight 1 every target is an untrained teacher's output: smooth, never a one-hot label
    (batch,) = targets
    assert batch.max() < 0.99
    assert load_model(result.model_path).count_params() == teacher.count_params()
