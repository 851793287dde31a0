"""Safe save / load of picker models, SavedModel export, parameter counts, diagrams."""

import json
import time
import zipfile

import keras
import numpy as np
import pytest

from picker.config import ModelConfig
from picker.models.saving import (
    INPUT_SETTINGS_ENTRY,
    InputSettings,
    ModelFileError,
    count_parameters,
    export_saved_model,
    input_settings,
    load_model,
    plot_model,
    save_model,
    set_input_settings,
    summary_text,
    write_input_settings,
)
from picker.models.unet import build_model


@keras.saving.register_keras_serializable(package="evil")
class EvilScale(keras.layers.Layer):
    """A custom class from outside picker: must never be loaded from a model file."""

    def call(self, x):
        return x * 2.0


@keras.saving.register_keras_serializable(package="picker")
class FakePickerLayer(keras.layers.Layer):
    """Registered under picker's package name, but defined outside picker."""

    def call(self, x):
        return x


def tiny_model(data_format="channels_last"):
    cfg = ModelConfig(filters=[4, 8], kernel_size=3, stride=2, data_format=data_format)
    return build_model(cfg)


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def waveforms(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def wrap(layer, input_shape=(None, 3)):
    """A small functional model around ``layer`` with a picker-like input and output."""
    inputs = keras.Input(shape=input_shape)
    outputs = keras.layers.Softmax()(layer(inputs))
    return keras.Model(inputs, outputs)


# --------------------------------------------------------------------------------------------
# save / load


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_save_load_gives_identical_predictions(tmp_path, data_format):
    model = tiny_model(data_format)
    shape = (2, 3, 100) if data_format == "channels_first" else (2, 100, 3)
    x = waveforms(shape)
    path = save_model(model, tmp_path / "sub" / "tiny.keras")
    assert path == tmp_path / "sub" / "tiny.keras"
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.keras"]  # no temporary files
    loaded = load_model(path)
    assert loaded.input_shape == model.input_shape
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_input_settings_survive_save_and_load(tmp_path):
    settings = InputSettings(100.0, "sliding", 2.5, 20.0)
    path = save_model(set_input_settings(tiny_model(), settings), tmp_path / "m.keras")
    assert input_settings(load_model(path)) == settings
    keras.saving.save_model(tiny_model(), tmp_path / "plain.keras")  # saved by Keras itself
    assert input_settings(load_model(tmp_path / "plain.keras")) == InputSettings()
    write_input_settings(tmp_path / "plain.keras", settings)
    write_input_settings(tmp_path / "plain.keras", InputSettings(highpass_hz=0.0))  # replaces
    with zipfile.ZipFile(tmp_path / "plain.keras") as archive:
        assert archive.namelist().count(INPUT_SETTINGS_ENTRY) == 1
    assert input_settings(load_model(tmp_path / "plain.keras")).highpass_hz == 0.0


@pytest.mark.parametrize(
    "text, problem",
    [
        ("not json", "unreadable input settings"),
        ('{"highpass_hz": 1.0}', "unreadable input settings"),
        (InputSettings(normalization_window_s=-1.0).to_json(), "invalid input settings"),
    ],
)
def test_bad_input_settings_are_named(tmp_path, model, text, problem):
    path = tmp_path / "m.keras"
    keras.saving.save_model(model, path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(INPUT_SETTINGS_ENTRY, text)
    with pytest.raises(ModelFileError, match=rf"^{tmp_path}/m\.keras: {problem}"):
        load_model(path)


def test_save_needs_a_keras_suffix(tmp_path, model):
    with pytest.raises(ValueError, match=r"\.keras"):
        save_model(model, tmp_path / "model.h5")


def test_failed_save_leaves_no_files(tmp_path, monkeypatch, model):
    def broken_save(path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(model, tmp_path / "model.keras")
    assert list(tmp_path.iterdir()) == []


def test_lambda_layer_is_refused(tmp_path):
    model = wrap(keras.layers.Lambda(lambda x: x * 2.0))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ModelFileError, match="Lambda") as error:
        load_model(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("layer_class", [EvilScale, FakePickerLayer])
def test_classes_from_outside_keras_and_picker_are_refused(tmp_path, layer_class):
    path = tmp_path / "custom.keras"
    wrap(layer_class()).save(path)
    with pytest.raises(ModelFileError, match=layer_class.__name__) as error:
        load_model(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "key, value",
    [("module", "keras_evil.layers"), ("registered_name", "evil>EvilScale")],
    ids=["module-keras_evil", "keras-module-evil-registered-name"],
)
def test_tampered_class_references_are_refused(tmp_path, model, key, value):
    path = save_model(model, tmp_path / "ok.keras")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    layer = config["config"]["layers"][-1]
    assert layer["module"] == "keras.layers"  # the final softmax
    layer[key] = value
    members["config.json"] = json.dumps(config).encode()
    tampered = tmp_path / "tampered.keras"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ModelFileError, match=value.split(".")[0]):
        load_model(tampered)


def test_text_file_named_keras_is_refused(tmp_path):
    path = tmp_path / "notes.keras"
    path.write_text("just some text\n", encoding="utf-8")
    with pytest.raises(ModelFileError, match="notes.keras"):
        load_model(path)


def test_zip_without_config_is_refused(tmp_path):
    path = tmp_path / "empty.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ModelFileError, match="config.json"):
        load_model(path)


def test_missing_file_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="not found") as error:
        load_model(tmp_path / "nowhere.keras")
    assert "nowhere.keras" in str(error.value)


@pytest.mark.parametrize(
    "input_shape, outputs",
    [((10,), 3), ((None, 5), 3), ((None, 3), 4), ((3, 5), 3)],
    ids=["flat", "five-components", "four-classes", "fixed-3x5"],
)
def test_other_keras_models_are_not_picker_models(tmp_path, input_shape, outputs):
    inputs = keras.Input(shape=input_shape)
    model = keras.Model(inputs, keras.layers.Dense(outputs)(inputs))
    path = tmp_path / "other.keras"
    model.save(path)
    with pytest.raises(ModelFileError, match="not a picker model") as error:
        load_model(path)
    assert str(path) in str(error.value)


# --------------------------------------------------------------------------------------------
# counts, summary, diagram, export


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_count_parameters_matches_keras(data_format):
    model = tiny_model(data_format)
    counts = count_parameters(model)
    assert counts["total"] == model.count_params()
    assert counts["trainable"] + counts["non_trainable"] == counts["total"]
    assert counts["non_trainable"] > 0  # batch-norm moving statistics
    expected_trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert counts["trainable"] == expected_trainable


def test_summary_text_names_layers_and_counts(model):
    text = summary_text(model)
    assert "Total params" in text
    assert "pad_to_stride" in text
    assert "probabilities" in text


def test_plot_model_without_pydot_draws_with_matplotlib(tmp_path, monkeypatch, model):
    def no_pydot(*args, **kwargs):
        raise ImportError("You must install pydot (`pip install pydot`) for `plot_model` to work.")

    monkeypatch.setattr(keras.utils, "plot_model", no_pydot)
    path, message = plot_model(model, tmp_path / "figs" / "net.png")
    assert path == tmp_path / "figs" / "net.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "drawn with matplotlib" in message and "pip install pydot" in message
    assert str(path) in message


def test_plot_model_degrades_on_any_diagram_error(tmp_path, monkeypatch, model):
    def broken(*args, **kwargs):
        raise ValueError("pydot could not parse the graph")

    monkeypatch.setattr(keras.utils, "plot_model", broken)
    path, message = plot_model(model, tmp_path / "net.pdf")
    assert path == tmp_path / "net.pdf" and path.read_bytes()[:5] == b"%PDF-"
    assert "pydot could not parse" in message


def test_plot_model_here(tmp_path, model):
    """pydot / graphviz may or may not be installed: a picture either way."""
    path, message = plot_model(model, tmp_path / "net.png")
    assert path == tmp_path / "net.png" and path.read_bytes()[:4] == b"\x89PNG"
    assert str(path) in message


def test_export_saved_model_loads_and_predicts(tmp_path, model):
    import tensorflow as tf

    start = time.perf_counter()
    directory = export_saved_model(model, tmp_path / "saved")
    assert (directory / "saved_model.pb").is_file()
    restored = tf.saved_model.load(str(directory))
    x = waveforms((1, 64, 3), seed=3)
    got = restored.serve(tf.constant(x)).numpy()
    assert got.shape == (1, 64, 3)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert time.perf_counter() - start < 20


def test_shift_operating_point_moves_the_half_probability_to_the_thresholds():
    from picker.models.saving import shift_operating_point

    model = build_model(ModelConfig(filters=[4, 8], kernel_size=5, stride=4))
    x = np.random.default_rng(0).normal(size=(2, 300, 3)).astype(np.float32)
    before = model.predict(x, verbose=0).astype(np.float64)
    shift_operating_point(model, 0.6, 0.7)
    after = model.predict(x, verbose=0).astype(np.float64)
    # softmax with the P and S logits lowered by log(t / (1 - t))
    expected = before * np.array([1.0, 0.4 / 0.6, 0.3 / 0.7])
    expected /= expected.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(after, expected, atol=1e-5)
    # P against noise alone: old probability 0.6 becomes exactly 0.5
    two_class = np.array([[0.4, 0.6, 0.0]]) * np.array([1.0, 0.4 / 0.6, 0.3 / 0.7])
    assert two_class[0, 1] / two_class.sum() == pytest.approx(0.5)


def test_shift_operating_point_rejects_thresholds_outside_0_1():
    from picker.models.saving import shift_operating_point

    model = build_model(ModelConfig(filters=[4, 8], kernel_size=5, stride=4))
    with pytest.raises(ValueError, match="s_threshold"):
        shift_operating_point(model, 0.5, 1.0)
