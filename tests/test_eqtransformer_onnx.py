"""The ONNX export of EQTransformer (picker.models.eqtransformer_onnx) against the Keras model.

A tiny EQTransformer (odd lengths, a decoder crop, a windowed transformer), written as a Keras 2
file and imported, covers the whole graph; one-layer models cover the tricky layers one at a
time; the published weights (``PICKER_PRETRAINED``, skipped when absent) the real network.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from keras2_eqt_file import keras2_config, write_keras2_h5

pytest.importorskip("onnxruntime")

SHARED = Path(
    os.environ.get(
        "PICKER_PRETRAINED", Path(__file__).resolve().parents[1].parent / "shared" / "pretrained"
    )
)
EQT_DIR = SHARED / "eqtransformer"

TINY = dict(
    n_samples=22,  # 22 -> 11 -> 6 in the encoder, 6 -> 12 -> crop (0, 1) -> 11 -> 22 back
    encoder=((4, 5), (8, 3)),
    res_kernels=(3, 2),
    n_bilstm=2,
    lstm_units=4,
    transformer_widths=(None, 4),
    attention_units=6,
    feed_forward_units=8,
    phase_attention_width=3,
    decoder=((8, 3), (4, 5)),
    decoder_crops=((0, 1), (0, 0)),
    output_kernel=3,
)


def run_onnx(proto_or_path, x: np.ndarray) -> dict[str, np.ndarray]:
    """{output name: array} of the ONNX model (a ModelProto or a file) on input ``x``."""
    import onnxruntime as ort

    source = proto_or_path
    if not isinstance(source, (str, Path)):
        source = source.SerializeToString()
    else:
        source = str(source)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"waveform": x}), strict=True))


def random_weights(model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = [
        np.abs(rng.normal(0, 0.5, w.shape)) + 0.5
        if w.name == "moving_variance"
        else rng.normal(0, 0.5, w.shape)
        for w in model.weights
    ]
    model.set_weights([v.astype(np.float32) for v in values])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from picker.models.eqtransformer import (
        EqtSettings,
        build_eqtransformer,
        import_eqtransformer_h5,
    )

    settings = EqtSettings(**TINY)
    source = build_eqtransformer(settings)
    random_weights(source, 11)
    config, names = keras2_config(settings)
    path = write_keras2_h5(tmp_path_factory.mktemp("eqt") / "tiny_eqt.h5", source, config, names)
    return import_eqtransformer_h5(path)


def test_tiny_eqt_export_equals_keras(tiny_model, tmp_path):
    from picker.models.eqtransformer import EQT_INPUT, OUTPUT_NAMES
    from picker.models.eqtransformer_onnx import export_eqtransformer_onnx
    from picker.models.onnx_export import weights_sha256

    path = export_eqtransformer_onnx(tiny_model, tmp_path / "eqt.onnx")
    x = np.random.default_rng(12).normal(size=(3, 22, 3)).astype(np.float32)
    expected = [np.asarray(o) for o in tiny_model(x)]
    for batch in (x, x[:1]):  # the batch dimension is dynamic
        got = run_onnx(path, batch)
        assert list(got) == list(OUTPUT_NAMES)
        for name, want in zip(OUTPUT_NAMES, expected, strict=True):
            assert got[name].shape == (len(batch), 22, 1)
            assert np.abs(got[name] - want[: len(batch)]).max() < 1e-4
    import onnx

    from picker.models.saving import InputSettings

    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert props["picker_window_samples"] == props["picker_total_stride"] == "22"
    assert props["picker_outputs"] == "detector,picker_P,picker_S"
    assert props["picker_source_sha256"] == weights_sha256(tiny_model)
    settings = InputSettings.from_json(props["picker_input_settings"], "x")
    # the published contract, with the window of this 22-sample model (0.22 s at 100 Hz)
    assert settings == dataclasses.replace(EQT_INPUT, normalization_window_s=0.22)


def test_batch_norm_after_a_convolution_is_folded(tiny_model):
    from picker.models.eqtransformer_onnx import to_onnx

    nodes = {node.name for node in to_onnx(tiny_model).graph.node}
    assert "bilstm0_conv_conv" in nodes and "res0_bn1_mul" in nodes  # bn before a ReLU: Mul/Add
    assert not any(name.startswith("bilstm0_bn") for name in nodes)


def one_layer_model(layer, n: int, d: int, seed: int):
    import keras

    inputs = keras.Input((n, d), name="waveform")
    model = keras.Model(inputs, layer(inputs), name="one_layer")
    random_weights(model, seed)
    return model


def assert_onnx_equals_keras(model, x, atol=1e-5):
    from picker.models.eqtransformer_onnx import to_onnx

    (got,) = run_onnx(to_onnx(model), x).values()
    np.testing.assert_allclose(got, np.asarray(model(x)), atol=atol, rtol=0)


def _lstm(units, **kwargs):
    import keras

    return keras.layers.LSTM(units, return_sequences=True, **kwargs)


@pytest.mark.parametrize(
    "make",
    [
        lambda k: _lstm(5),
        lambda k: k.layers.Bidirectional(_lstm(3)),
        lambda k: k.layers.Bidirectional(_lstm(4, activation="relu", use_bias=False)),
    ],
    ids=["lstm", "bilstm", "bilstm-relu-nobias"],
)
def test_lstm_layers_equal_keras(make):
    """Gate order (Keras i, f, c, o; ONNX i, o, f, c), the bias, the backward direction."""
    import keras

    model = one_layer_model(make(keras), 9, 4, seed=13)
    x = np.random.default_rng(14).normal(size=(2, 9, 4)).astype(np.float32)
    assert_onnx_equals_keras(model, x)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(attention_width=None),
        dict(attention_width=3),
        dict(attention_width=4),
        dict(attention_width=3, attention_activation="sigmoid"),
        dict(attention_type="multiplicative", history_only=True),
        dict(attention_type="multiplicative", attention_width=2, history_only=True),
    ],
)
def test_attention_equals_keras(kwargs):
    """The local window (centred or history-only) masks after the exp, max over the row."""
    from picker.models.eqtransformer import SeqSelfAttention

    model = one_layer_model(SeqSelfAttention(6, **kwargs), 10, 4, seed=15)
    x = np.random.default_rng(16).normal(size=(2, 10, 4)).astype(np.float32)
    assert_onnx_equals_keras(model, x)


def test_layer_norm_keeps_its_tiny_epsilon():
    """With epsilon 1e-14 a near-constant position is scaled up ~1e4, as in Keras (a default
    epsilon such as 1e-5 would give values about 300 times smaller there)."""
    from picker.models.eqtransformer import FeedForward, LayerNormalization

    x = np.random.default_rng(17).normal(size=(2, 7, 5)).astype(np.float32)
    x[0, 3] = 2.0 + np.array([1, -1, 1, -1, 0], np.float32) * 3e-4
    model = one_layer_model(LayerNormalization(epsilon=1e-14), 7, 5, seed=18)
    assert np.abs(np.asarray(model(x))[0, 3]).max() > 0.3
    assert_onnx_equals_keras(model, x, atol=1e-4)
    assert_onnx_equals_keras(one_layer_model(FeedForward(8), 7, 5, seed=19), x)


@pytest.mark.parametrize(
    "size, kernel, crop", [(2, 11, None), (3, 4, None), (2, 2, None), (2, 7, (1, 1))]
)
def test_upsampling_then_convolution_equals_keras(size, kernel, crop):
    """Up-sampling into a ``same`` convolution is one polyphase convolution (not with a crop
    between them: the crop moves the zero padding)."""
    import keras

    from picker.models.eqtransformer_onnx import to_onnx

    inputs = keras.Input((7, 3), name="waveform")
    y = keras.layers.UpSampling1D(size, name="up")(inputs)
    if crop:
        y = keras.layers.Cropping1D(crop, name="crop")(y)
    y = keras.layers.Conv1D(4, kernel, padding="same", activation="relu", name="conv")(y)
    model = keras.Model(inputs, y, name="up_conv")
    random_weights(model, seed=20)
    x = np.random.default_rng(21).normal(size=(2, 7, 3)).astype(np.float32)
    assert_onnx_equals_keras(model, x)
    nodes = {node.name for node in to_onnx(model).graph.node}
    assert ("conv_interleave" in nodes) == (crop is None)


def test_unsupported_layers_and_lengths_are_clear_errors():
    import keras

    from picker.models.eqtransformer_onnx import to_onnx

    with pytest.raises(ValueError, match=r"layer 'dense_out' \(Dense\) has no ONNX export"):
        to_onnx(one_layer_model(keras.layers.Dense(2, name="dense_out"), 8, 3, seed=0))
    inputs = keras.Input((None, 3), name="waveform")
    dynamic = keras.Model(inputs, keras.layers.Conv1D(2, 3, padding="same")(inputs))
    with pytest.raises(ValueError, match="one input of a fixed number of samples"):
        to_onnx(dynamic)


# --- the published weights (../shared) ---


def test_published_eqt_export_equals_keras(tmp_path):
    if not (EQT_DIR / "reference.npz").is_file():
        pytest.skip(f"{EQT_DIR} not available")
    from picker.models.eqtransformer import OUTPUT_NAMES, import_eqtransformer_h5
    from picker.models.eqtransformer_onnx import export_eqtransformer_onnx

    model = import_eqtransformer_h5(EQT_DIR / "EqT_original.h5")
    with np.load(EQT_DIR / "reference.npz") as reference:
        x = reference["input_6000"][:2].astype(np.float32)
    path = export_eqtransformer_onnx(model, tmp_path / "eqt.onnx")
    got = run_onnx(path, x)
    for name, want in zip(OUTPUT_NAMES, model.predict(x, verbose=0), strict=True):
        assert got[name].shape == (2, 6000, 1)
        assert np.abs(got[name] - want).max() < 1e-4
