"""The ONNX export and its ONNX Runtime path compute what the Keras model computes."""

from __future__ import annotations

import numpy as np
import pytest

from picker.cli import main
from picker.config import ModelConfig
from picker.models import onnx_model
from picker.models.onnx_export import export_onnx, weights_sha256
from picker.models.onnx_model import BUNDLED_ONNX, OnnxModel, OnnxModelError
from picker.models.saving import (
    BUNDLED_MODEL,
    InputSettings,
    input_settings,
    load_model,
    set_input_settings,
)
from picker.models.unet import build_model
from picker.prediction import predict as pr
from picker.training.synthetic import synthetic_continuous


def randomised(model, rng):
    """``model`` with random weights and non-trivial batch-norm statistics."""
    weights = []
    for w in model.weights:
        value = rng.normal(0.0, 0.3, w.shape).astype(np.float32)
        if "moving_variance" in w.path:
            value = np.abs(value) + 0.5
        weights.append(value)
    model.set_weights(weights)
    return model


@pytest.mark.parametrize(
    "filters, kernel, stride, layout",
    [
        ((4, 8, 8), 5, 4, "channels_last"),
        ((4, 8, 16), 7, 2, "channels_first"),
        ((3, 6), 3, 4, "channels_last"),
    ],
)
def test_export_matches_keras(tmp_path, rng, filters, kernel, stride, layout):
    cfg = ModelConfig(filters=list(filters), kernel_size=kernel, stride=stride, data_format=layout)
    model = randomised(build_model(cfg), rng)
    path = export_onnx(model, tmp_path / "m.onnx")
    onnx_model = OnnxModel(path)
    assert onnx_model.total_stride == stride ** (len(filters) - 1)
    assert onnx_model.source_sha256 == weights_sha256(model)
    for n_samples in (1, 37, 256, 1001):
        x = rng.normal(0, 1, (2, n_samples, 3)).astype(np.float32)
        keras_in = np.transpose(x, (0, 2, 1)) if layout == "channels_first" else x
        expected = np.asarray(model(keras_in, training=False))
        if layout == "channels_first":
            expected = np.transpose(expected, (0, 2, 1))
        got = onnx_model.predict(x)
        assert got.shape == (2, n_samples, 3)
        np.testing.assert_allclose(got, expected, atol=2e-5)


def test_bundled_export_is_in_step_with_the_keras_model():
    assert BUNDLED_ONNX.is_file(), "run benchmarks/train_bundled.py --install to export it"
    assert OnnxModel(BUNDLED_ONNX).source_sha256 == weights_sha256(load_model(BUNDLED_MODEL))


def test_bundled_model_runs_on_onnx_and_gives_the_keras_picks():
    assert pr.bundled_runs_on_onnx()
    assert isinstance(pr.resolve_model(None), OnnxModel)
    stream, truth = synthetic_continuous(120.0, 100.0, [20.0, 70.0], np.random.default_rng(3))
    keras_picks = pr.predict_stream(stream, load_model(BUNDLED_MODEL))
    onnx_picks = pr.predict_stream(stream)
    assert [(p.phase, p.index) for p in onnx_picks] == [(p.phase, p.index) for p in keras_picks]
    assert len(onnx_picks) >= 2 and len(truth) == 4
    for a, b in zip(onnx_picks, keras_picks, strict=True):
        assert a.probability == pytest.approx(b.probability, abs=1e-4)


def test_bad_onnx_files_are_named(tmp_path):
    with pytest.raises(OnnxModelError, match="missing.onnx: model file not found"):
        OnnxModel(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(OnnxModelError, match="garbage.onnx: not a readable ONNX model"):
        OnnxModel(garbage)
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["waveform"], ["probabilities"])
    value = helper.make_tensor_value_info("waveform", TensorProto.FLOAT, [1, 4, 3])
    out = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 4, 3])
    foreign = helper.make_model(helper.make_graph([node], "g", [value], [out]))
    foreign.ir_version = 8
    (tmp_path / "foreign.onnx").write_bytes(foreign.SerializeToString())
    with pytest.raises(OnnxModelError, match="foreign.onnx: not a picker model export"):
        OnnxModel(tmp_path / "foreign.onnx")
    with pytest.raises(ValueError, match="only picker U-Nets"):
        import keras

        inputs = keras.Input((None, 3))
        export_onnx(keras.Model(inputs, keras.layers.Softmax()(inputs)), tmp_path / "x.onnx")


def test_cli_predicts_with_an_onnx_model(tmp_path, rng):
    cfg = ModelConfig(filters=[4, 8], kernel_size=5, stride=4, data_format="channels_last")
    model = randomised(build_model(cfg), rng)
    export_onnx(model, tmp_path / "tiny.onnx")
    model.save(tmp_path / "tiny.keras")
    stream, _ = synthetic_continuous(60.0, 100.0, [20.0], rng)
    stream.write(str(tmp_path / "day.mseed"), format="MSEED")
    outputs = {}
    for suffix in ("onnx", "keras"):
        out = tmp_path / f"picks_{suffix}.csv"
        args = ["predict", str(tmp_path / "day.mseed"), "-o", str(out), "--quiet"]
        assert main([*args, "--model", str(tmp_path / f"tiny.{suffix}"), "--threshold", "0.3"]) == 0
        outputs[suffix] = out.read_text()
    assert outputs["onnx"] == outputs["keras"]
    assert outputs["onnx"].startswith("source,station_id,phase,time,index,probability")


def test_bundled_int8_export_is_in_step_and_picks_like_float32(tmp_path):
    from picker.models.onnx_model import BUNDLED_INT8, INT8_RECHECK_PROBABILITY

    int8 = OnnxModel(BUNDLED_INT8)
    assert int8.source_sha256 == weights_sha256(load_model(BUNDLED_MODEL))
    assert int8.recheck_model.path == BUNDLED_ONNX
    assert int8.recheck_probability == INT8_RECHECK_PROBABILITY
    stream, truth = synthetic_continuous(120.0, 100.0, [20.0, 70.0], np.random.default_rng(3))
    float_picks = pr.predict_stream(stream)
    start = stream[0].stats.starttime
    # the first event's P and S, within 0.1 s (the second event, a weak P and an S 13.8 s
    # later, is the model card's "S of a distant event read as P": its S comes out as a P)
    for phase, time in truth[:2]:
        sample = round((time - start) * 100.0)
        assert any(p.phase == phase and abs(p.index - sample) <= 10 for p in float_picks), phase
    assert len(float_picks) >= 3
    # the windows with the events are rechecked in float32: the same picks, to the sample
    assert pr.predict_stream(stream, int8) == float_picks


def test_quantize_a_tiny_model(tmp_path, rng):
    from picker.models.onnx_export import quantize_int8

    cfg = ModelConfig(filters=[4, 8], kernel_size=5, stride=4, data_format="channels_last")
    model = set_input_settings(randomised(build_model(cfg), rng), InputSettings(highpass_hz=3.0))
    source = export_onnx(model, tmp_path / "tiny.onnx")
    windows = rng.normal(0, 1, (4, 512, 3)).astype(np.float32)
    quantized = OnnxModel(quantize_int8(source, tmp_path / "tiny.int8.onnx", windows))
    assert quantized.total_stride == 4 and quantized.source_sha256 == weights_sha256(model)
    assert input_settings(quantized) == InputSettings(highpass_hz=3.0)
    x = rng.normal(0, 1, (1, 512, 3)).astype(np.float32)
    np.testing.assert_allclose(quantized.predict(x), OnnxModel(source).predict(x), atol=0.1)


def test_quantize_keeps_the_named_activations_at_16_bits(tmp_path, rng):
    import onnx
    from onnx import numpy_helper

    from picker.models.onnx_export import quantize_int8

    cfg = ModelConfig(filters=[4, 8], kernel_size=5, stride=4, data_format="channels_last")
    model = randomised(build_model(cfg), rng)
    source = export_onnx(model, tmp_path / "tiny.onnx")
    first_conv_input = next(n for n in onnx.load(source).graph.node if n.op_type == "Conv").input[0]
    windows = rng.normal(0, 1, (4, 512, 3)).astype(np.float32)

    def zero_point_types(path) -> dict:
        graph = onnx.load(path).graph
        constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        return {
            n.input[0]: constants[n.input[2]].dtype
            for n in graph.node
            if n.op_type == "QuantizeLinear" and n.input[2] in constants
        }

    for name in ([first_conv_input], first_conv_input):  # a list of names, or one name
        one = quantize_int8(source, tmp_path / "one.onnx", windows, wide_tensors=name)
        types = zero_point_types(one)
        assert types.pop(first_conv_input) == np.uint16
        assert types and set(types.values()) == {np.dtype(np.uint8)}
    wide = quantize_int8(source, tmp_path / "wide.onnx", windows, wide_tensors="all")
    assert set(zero_point_types(wide).values()) == {np.dtype(np.uint16)}
    narrow = quantize_int8(source, tmp_path / "narrow.onnx", windows)
    # 16-bit activations follow the float model far more closely than 8-bit ones
    x = rng.normal(0, 1, (2, 512, 3)).astype(np.float32)
    reference = OnnxModel(source).predict(x)
    error_16 = np.abs(OnnxModel(wide).predict(x) - reference).max()
    error_8 = np.abs(OnnxModel(narrow).predict(x) - reference).max()
    assert error_16 < error_8 / 10
    with pytest.raises(ValueError, match="no_such_tensor"):
        quantize_int8(source, tmp_path / "bad.onnx", windows, wide_tensors=["no_such_tensor"])


def _tiny_int8_pair(tmp_path, rng, recheck_probability=None, settings=None):
    """A random tiny model's float export and its int8 export (written beside it)."""
    from picker.models.onnx_export import quantize_int8

    cfg = ModelConfig(filters=[4, 8], kernel_size=5, stride=4, data_format="channels_last")
    model = randomised(build_model(cfg), rng)
    if settings is not None:
        set_input_settings(model, settings)
    source = export_onnx(model, tmp_path / "tiny.onnx")
    windows = rng.normal(0, 1, (4, 512, 3)).astype(np.float32)
    name = "plain.int8.onnx" if recheck_probability is None else "tiny.int8.onnx"
    return source, quantize_int8(
        source, tmp_path / name, windows, recheck_probability=recheck_probability
    )


def test_int8_reruns_in_float_exactly_the_windows_that_may_hold_an_arrival(tmp_path):
    source, plain = _tiny_int8_pair(tmp_path, np.random.default_rng(11))
    x = np.random.default_rng(12).normal(0, 1, (8, 512, 3)).astype(np.float32)
    x *= np.linspace(0.2, 3.0, 8, dtype=np.float32)[:, None, None]  # windows of other loudness
    quantized = OnnxModel(plain).predict(x)
    exact = OnnxModel(source).predict(x)
    peak = quantized[:, :, 1:3].max(axis=(1, 2))  # each window's highest P or S probability
    levels = np.unique(peak)  # int8 probabilities come in steps: a threshold between two
    assert len(levels) >= 2
    threshold = float(levels[len(levels) // 2 - 1] + levels[len(levels) // 2]) / 2
    _, checked = _tiny_int8_pair(tmp_path, np.random.default_rng(11), threshold)
    model = OnnxModel(checked)
    assert model.recheck_model.path == source and model.recheck_probability == threshold
    again = peak >= threshold
    assert 0 < again.sum() < len(x)
    for out in (model.predict(x), model.predict_single_threaded(x)):
        np.testing.assert_array_equal(out[again], exact[again])
        np.testing.assert_array_equal(out[~again], quantized[~again])
    assert not np.array_equal(quantized[again], exact[again])  # the recheck changed something


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_int8_windows_overlapping_a_rechecked_one_are_rechecked_too(tmp_path, batch_size):
    """Sliding windows averaged ("mean"): a window that shares samples with a rechecked one
    is run in float32 as well, so those samples get the float32 model's merged output."""
    from picker.config import PredictConfig
    from picker.prediction.inference import run_windows
    from picker.prediction.windows import cut_windows, merge_windows, window_starts

    settings = InputSettings(100.0, "std", 0.0, 5.12, window_overlap=1 / 3, window_merge="mean")
    source, plain = _tiny_int8_pair(tmp_path, np.random.default_rng(21), settings=settings)
    rng = np.random.default_rng(22)
    x = rng.normal(0, 1, (512 * 14, 3)).astype(np.float32)
    x *= np.repeat(rng.uniform(0.1, 3.0, 28), 256)[:, None]  # loudness changing along the data
    starts = window_starts(len(x), 512, 1 / 3)
    windows = cut_windows(x, starts, 512)
    quantized, exact = OnnxModel(plain).predict(windows), OnnxModel(source).predict(windows)
    peak = quantized[:, :, 1:3].max(axis=(1, 2))
    levels = np.unique(peak)
    threshold = float(levels[len(levels) // 2 - 1] + levels[len(levels) // 2]) / 2
    _, checked = _tiny_int8_pair(tmp_path, np.random.default_rng(21), threshold, settings=settings)
    flagged = peak >= threshold
    shares = np.abs(starts[:, None] - starts[None, :]) < 512  # windows with common samples
    again = (shares & flagged[None, :]).any(axis=1)
    assert flagged.any() and (again & ~flagged).any() and not again.all()
    expected = merge_windows(
        np.where(again[:, None, None], exact, quantized), starts, len(x), "mean"
    )
    cfg = PredictConfig(
        normalization_window_s=5.12,
        highpass_hz=0.0,
        window_overlap=1 / 3,
        window_merge="mean",
        batch_size=batch_size,
    )
    merged = run_windows(OnnxModel(checked), x, cfg)
    np.testing.assert_allclose(merged, expected, atol=1e-6)
    float_merged = run_windows(OnnxModel(source), x, cfg)
    covered = np.zeros(len(x), bool)  # samples of a flagged window: float32's output there
    for start in starts[flagged]:
        covered[start : start + 512] = True
    np.testing.assert_allclose(merged[covered], float_merged[covered], atol=1e-6)
    assert np.abs(merged[~covered] - float_merged[~covered]).max() > 1e-4


def test_int8_recheck_metadata_is_checked_and_names_the_file(tmp_path):
    import onnx

    source, checked = _tiny_int8_pair(tmp_path, np.random.default_rng(13), 0.1)

    def with_metadata(**props):
        model = onnx.load(checked)
        for entry in model.metadata_props:
            if entry.key in props:
                entry.value = props[entry.key]
        path = tmp_path / "edited.onnx"
        onnx.save(model, path)
        return path

    for props, message in [
        ({"picker_recheck_model": "../tiny.onnx"}, "bad picker_recheck_model"),
        ({"picker_recheck_model": "missing.onnx"}, "model file not found"),
        ({"picker_recheck_model": "edited.onnx"}, "bad picker_recheck_model"),
        ({"picker_recheck_probability": "high"}, "must be in"),
        ({"picker_recheck_probability": "1.5"}, "must be in"),
    ]:
        with pytest.raises(OnnxModelError, match=message) as caught:
            OnnxModel(with_metadata(**props))
        assert str(caught.value).startswith(str(tmp_path / "edited.onnx"))
    from picker.models.onnx_export import quantize_int8

    other = tmp_path / "other"
    other.mkdir()
    windows = np.zeros((2, 512, 3), np.float32)
    with pytest.raises(ValueError, match="beside"):  # the float model must travel with it
        quantize_int8(source, other / "x.int8.onnx", windows, recheck_probability=0.1)
    with pytest.raises(ValueError, match="must be in"):
        quantize_int8(source, tmp_path / "x.int8.onnx", windows, recheck_probability=0.0)


def test_cli_int8_flag(tmp_path):
    stream, _ = synthetic_continuous(60.0, 100.0, [20.0], np.random.default_rng(5))
    stream.write(str(tmp_path / "day.mseed"), format="MSEED")
    out = tmp_path / "picks.csv"
    assert main(["predict", str(tmp_path / "day.mseed"), "-o", str(out), "--int8", "--quiet"]) == 0
    assert out.read_text().count("\n") >= 2  # header + picks
    bad = ["predict", str(tmp_path / "day.mseed"), "-o", str(out), "--int8", "--model", "x.onnx"]
    assert main(bad) == 2


def test_cli_names_a_bad_onnx_model_in_one_line(tmp_path, caplog):
    stream, _ = synthetic_continuous(30.0, 100.0, [10.0], np.random.default_rng(6))
    stream.write(str(tmp_path / "day.mseed"), format="MSEED")
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    out = tmp_path / "picks.csv"
    for model in ("bad.onnx", "missing.onnx"):
        caplog.clear()
        args = ["predict", str(tmp_path / "day.mseed"), "-o", str(out), "--quiet"]
        # a bad --model is a usage error (exit 2)
        assert main([*args, "--model", str(tmp_path / model)]) == 2
        (message,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert message.startswith(str(tmp_path / model)) and "\n" not in message
    assert not out.exists()


def test_parallel_onnx_batches_give_the_serial_probabilities(monkeypatch):
    """Several batches run on one single-threaded session per core (picker.prediction.inference.run_model): the same
    probabilities as the helper-thread path, to float32 round-off, and the same picks."""
    stream, _ = synthetic_continuous(600.0, 100.0, [100.0, 350.0], np.random.default_rng(5))
    x = np.stack([tr.data for tr in stream], axis=1).astype(np.float32)
    model = OnnxModel(BUNDLED_ONNX)
    calls = []
    single = model.predict_single_threaded
    monkeypatch.setattr(model, "predict_single_threaded", lambda b: calls.append(1) or single(b))
    options = dict(chunk_s=60.0, batch_size=2, return_probabilities=True)
    picks, parallel = pr.predict_array(x, 100.0, model, **options)
    assert len(calls) >= 5 and len(picks) >= 2  # 10 chunks of about 60 s, two per batch
    monkeypatch.setattr(onnx_model, "usable_cores", lambda: 1)  # one core: helper-thread path
    n_calls = len(calls)
    serial_picks, serial = pr.predict_array(x, 100.0, model, **options)
    assert len(calls) == n_calls
    np.testing.assert_allclose(parallel, serial, atol=1e-6)  # 1 vs 2 ORT threads: round-off
    assert [(p.phase, p.index) for p in serial_picks] == [(p.phase, p.index) for p in picks]
