import json
from types import SimpleNamespace

import numpy as np
import pytest

from picker.io import write_records
from picker.models import devices
from picker.training import train as train_module
from picker.training.synthetic import synthetic_records


@pytest.fixture(scope="module")
def npz_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    write_records(synthetic_records(16, n_samples=1024, seed=9), root / "npz", "npz")
    return root / "npz"


def test_a_few_steps_lower_the_loss_and_write_the_output_folder(tmp_path, npz_folder, tiny_config):
    from picker.models.onnx_model import OnnxModel
    from picker.models.saving import InputSettings, input_settings, load_model

    cfg = tiny_config(
        data={"train": [str(npz_folder)], "validation": [str(npz_folder)], "batch_size": 8},
        augment={"stack_event": 0.0, "gaussian_noise": 0.0, "gap": 0.0},
        train={"epochs": 4, "steps_per_epoch": 8, "learning_rate": 0.01},
        predict={"highpass_hz": 2.0, "normalization_window_s": 20.0},
    )
    result = train_module.train(cfg, tmp_path / "run")
    losses = result.history["loss"]
    assert losses[-1] < losses[0]
    for name in ("model.keras", "config.yaml", "training_log.csv", "validation_report.json"):
        assert (tmp_path / "run" / name).exists(), name
    report = json.loads((tmp_path / "run" / "validation_report.json").read_text())
    assert {"P", "S"} <= set(report["best_model_validation_picks"])
    assert "val_pick_f1" in (tmp_path / "run" / "training_log.csv").read_text()
    model = load_model(result.model_path)
    x = np.zeros((1, 512, 3), np.float32)
    assert model.predict(x, verbose=0).shape == (1, 512, 3)
    trained_on = InputSettings(100.0, "sliding", 2.0, 20.0)  # kept for picker predict
    assert input_settings(model) == trained_on
    assert input_settings(OnnxModel(tmp_path / "run" / "model.onnx")) == trained_on


def test_memory_growth_is_set_on_every_gpu(monkeypatch):
    import tensorflow as tf

    fake_gpus = [
        SimpleNamespace(name=f"/physical_device:GPU:{i}", device_type="GPU") for i in range(2)
    ]
    calls = []
    monkeypatch.setattr(
        tf.config, "list_physical_devices", lambda kind=None: fake_gpus if kind == "GPU" else []
    )
    monkeypatch.setattr(
        tf.config.experimental,
        "set_memory_growth",
        lambda dev, flag: calls.append((dev.name, flag)),
    )
    assert devices.setup_devices() == fake_gpus
    assert calls == [("/physical_device:GPU:0", True), ("/physical_device:GPU:1", True)]


def test_cpu_only_machine_goes_on(monkeypatch, caplog):
    import tensorflow as tf

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    with caplog.at_level("INFO", logger="picker"):
        assert devices.setup_devices() == []
    assert "no GPU found" in caplog.text


def test_weight_averaging_keeps_the_averaged_weights(
    tmp_path, npz_folder, tiny_config, monkeypatch
):
    import keras

    from picker.models.saving import load_model

    seen = []
    checkpoint_epoch_end = keras.callbacks.ModelCheckpoint.on_epoch_end

    def record(self, epoch, logs=None):
        # SwapEMAWeights has just put the averaged weights in the model and the raw ones in
        # the optimizer's average slots
        optimizer = self.model.optimizer
        kernel = self.model.get_layer("stem_conv").kernel
        index = [v.path for v in optimizer._trainable_variables].index(kernel.path)
        slot = optimizer._model_variables_moving_average[index]
        seen.append((keras.ops.convert_to_numpy(kernel), keras.ops.convert_to_numpy(slot)))
        return checkpoint_epoch_end(self, epoch, logs)

    monkeypatch.setattr(keras.callbacks.ModelCheckpoint, "on_epoch_end", record)
    cfg = tiny_config(
        data={"train": [str(npz_folder)], "validation": [str(npz_folder)], "batch_size": 8},
        train={"epochs": 2, "steps_per_epoch": 6, "learning_rate": 0.01, "ema_momentum": 0.9},
    )
    result = train_module.train(cfg, tmp_path / "run")
    averaged, raw = seen[0]  # after the first epoch (Keras copies the average over the raw
    # weights at the end of the last one)
    assert not np.allclose(averaged, raw)  # 6 steps at momentum 0.9: the average lags
    saved = load_model(result.model_path).get_layer("stem_conv").get_weights()[0]
    assert any(np.array_equal(saved, kernel) for kernel, _ in seen)
    assert not any(np.array_equal(saved, raw) for _, raw in seen[:1])


def test_cosine_schedule_decays_the_rate_over_the_whole_run(
    tmp_path, npz_folder, tiny_config, monkeypatch
):
    import keras

    rates, used_callbacks = [], []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            rates.append(float(self.model.optimizer.learning_rate))

    cfg = tiny_config(
        data={"train": [str(npz_folder)], "validation": [str(npz_folder)], "batch_size": 8},
        train={"epochs": 3, "steps_per_epoch": 4, "learning_rate": 0.01, "lr_schedule": "cosine"},
    )
    original_fit = keras.Model.fit

    def fit(self, *args, callbacks=(), **kwargs):
        used_callbacks.extend(callbacks)
        return original_fit(self, *args, callbacks=[*callbacks, Record()], **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit)
    train_module.train(cfg, tmp_path / "run")
    # 12 steps from 0.01 to 1 % of it: after steps 4, 8 and 12 of the cosine
    expected = [0.0001 + 0.0099 * 0.5 * (1 + np.cos(np.pi * k / 12)) for k in (4, 8, 12)]
    np.testing.assert_allclose(rates, expected, rtol=1e-4)
    assert not any(isinstance(c, keras.callbacks.ReduceLROnPlateau) for c in used_callbacks)


def test_unknown_learning_rate_schedule_is_a_config_error(tiny_config):
    from picker.config import ConfigError

    with pytest.raises(ConfigError, match="lr_schedule"):
        tiny_config(train={"lr_schedule": "linear"})


def test_ema_momentum_must_be_below_one(tiny_config):
    from picker.config import ConfigError

    with pytest.raises(ConfigError, match="ema_momentum"):
        tiny_config(train={"ema_momentum": 1.0})


def test_fine_tuning_starts_from_the_initial_weights(tmp_path, npz_folder, tiny_config):
    from picker.models.saving import load_model

    data = {"train": [str(npz_folder)], "batch_size": 8}
    first = train_module.train(
        tiny_config(data=data, train={"epochs": 1, "steps_per_epoch": 2}), tmp_path / "first"
    )
    start = load_model(first.model_path).get_layer("stem_conv").get_weights()[0]
    # one step at a tiny learning rate: the fine-tuned weights stay next to the initial ones
    tuned = train_module.train(
        tiny_config(
            data=data,
            train={
                "epochs": 1,
                "steps_per_epoch": 1,
                "learning_rate": 1e-7,
                "seed": 5,
                "initial_weights": str(first.model_path),
            },
        ),
        tmp_path / "tuned",
    )
    after = load_model(tuned.model_path).get_layer("stem_conv").get_weights()[0]
    np.testing.assert_allclose(after, start, atol=1e-5)
    fresh = train_module.train(
        tiny_config(data=data, train={"epochs": 1, "steps_per_epoch": 1, "seed": 5}),
        tmp_path / "fresh",
    )
    assert not np.allclose(
        load_model(fresh.model_path).get_layer("stem_conv").get_weights()[0], start, atol=1e-3
    )


def test_initial_weights_of_another_architecture_are_refused(tmp_path, npz_folder, tiny_config):
    from picker.config import ConfigError

    data = {"train": [str(npz_folder)], "batch_size": 8}
    first = train_module.train(
        tiny_config(data=data, train={"epochs": 1, "steps_per_epoch": 1}), tmp_path / "first"
    )
    other = tiny_config(
        data=data,
        model={"filters": [4, 8]},
        train={"epochs": 1, "steps_per_epoch": 1, "initial_weights": str(first.model_path)},
    )
    with pytest.raises(ConfigError, match="different architecture"):
        train_module.train(other, tmp_path / "other")
    missing = tiny_config(
        data=data, train={"epochs": 1, "initial_weights": str(tmp_path / "nope.keras")}
    )
    with pytest.raises(ConfigError, match="nope.keras does not exist"):
        train_module.train(missing, tmp_path / "missing")
