"""picker's own networks of the PhaseNet layout (``model.architecture: phasenet``): built,
trained from imported weights, exported to ONNX; and the benchmark helpers that start the
bundled model from the published PhaseNet (``benchmarks/transfer.py``)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from test_import_phasenet import synthetic_variables, write_checkpoint

from picker.config import ConfigError, ModelConfig, config_from_dict
from picker.models.networks import build_network, export_model_onnx, is_phasenet
from picker.models.phasenet import build_phasenet

TINY = {"filters": [4, 8, 16], "kernel_size": 5, "stride": 4}


def test_config_checks_the_architecture():
    ModelConfig(architecture="phasenet", **TINY).validate()
    with pytest.raises(ConfigError, match="architecture must be one of 'unet', 'phasenet'"):
        ModelConfig(architecture="eqt").validate()
    with pytest.raises(ConfigError, match="channels-last only"):
        ModelConfig(architecture="phasenet", data_format="channels_first").validate()
    with pytest.raises(ConfigError, match="dropout must be 0"):
        ModelConfig(architecture="phasenet", dropout=0.1).validate()


def test_config_builds_its_network():
    unet = build_network(ModelConfig(**TINY, data_format="channels_last"))
    phasenet = build_network(ModelConfig(architecture="phasenet", **TINY))
    assert not is_phasenet(unet) and is_phasenet(phasenet)
    assert phasenet.get_layer("pad_to_stride").multiple == 16  # 4 ** (3 levels - 1)
    plain = build_network(ModelConfig(architecture="phasenet", pad_to_stride=False, **TINY))
    assert is_phasenet(plain) and "pad_to_stride" not in {layer.name for layer in plain.layers}
    with pytest.raises(ConfigError, match="pad_to_stride false needs model.architecture"):
        ModelConfig(pad_to_stride=False).validate()


@pytest.mark.parametrize(
    ("architecture", "normalization", "padded"),
    [("phasenet", "std", False), ("phasenet", "peak", False), ("phasenet", "sliding", True)]
    + [("unet", n, True) for n in ("std", "peak", "sliding")],
)
def test_pad_to_stride_left_out_follows_the_normalisation(architecture, normalization, padded):
    """A config that leaves model.pad_to_stride out gets the published PhaseNet unpadded when
    each input is one window normalised by itself; an explicit value always wins."""
    model = {"architecture": architecture}
    cfg = config_from_dict({"model": model, "data": {"normalization": normalization}})
    assert cfg.model.pad_to_stride is padded
    if architecture == "phasenet":
        explicit = config_from_dict(
            {"model": model | {"pad_to_stride": True}, "data": {"normalization": "std"}}
        )
        assert explicit.model.pad_to_stride is True
        network = build_network(dataclasses.replace(cfg.model, **TINY))
        assert ("pad_to_stride" in {layer.name for layer in network.layers}) is padded


def _outputs(model, x, lengths):
    return [model.predict(x[None, :n], verbose=0)[0] for n in lengths]


def test_padding_to_the_stride_keeps_the_grid_when_the_window_grows():
    """SAME padding of the published layout moves the down-sampling grid with the length modulo
    the stride, so the first samples' output changes when samples are added at the end; padded
    to the total stride, it does not (far from the end, beyond the receptive field)."""
    x = np.random.default_rng(3).normal(size=(1027, 3)).astype(np.float32)
    padded = build_phasenet(**TINY, pad_to_stride=True)
    plain = build_phasenet(**TINY)
    plain.set_weights(padded.get_weights())
    a, b = _outputs(padded, x, (1024, 1027))
    assert a.shape == (1024, 3) and b.shape == (1027, 3)
    np.testing.assert_allclose(a[:400], b[:400], atol=1e-6)
    a, b = _outputs(plain, x, (1024, 1027))
    assert np.abs(a[:400] - b[:400]).max() > 1e-4
    # on a multiple of the stride the padding changes nothing: the published network's output
    np.testing.assert_allclose(*_outputs(padded, x, (1024,)), *_outputs(plain, x, (1024,)))


def test_padded_phasenet_exports_to_onnx_that_pads_the_same(tmp_path):
    from picker.models.onnx_model import OnnxModel

    model = build_phasenet(**TINY, pad_to_stride=True)
    onnx = OnnxModel(export_model_onnx(model, tmp_path / "m.onnx"))
    assert onnx.total_stride == 16
    x = np.random.default_rng(4).normal(size=(2, 1001, 3)).astype(np.float32)
    np.testing.assert_allclose(onnx.predict(x), model.predict(x, verbose=0), atol=1e-5)


def test_training_the_phasenet_layout_starts_from_the_given_weights(tmp_path, tiny_config):
    from picker.models.saving import InputSettings, input_settings, load_model, save_model
    from picker.models.settings import set_input_settings
    from picker.training.synthetic import synthetic_records
    from picker.training.train import train

    start = build_phasenet(**TINY, pad_to_stride=True)
    save_model(set_input_settings(start, InputSettings()), tmp_path / "start.keras")
    cfg = tiny_config(
        model={"architecture": "phasenet", **TINY},
        train={"initial_weights": str(tmp_path / "start.keras"), "learning_rate": 1e-9},
    )
    result = train(cfg, tmp_path / "run", train_records=synthetic_records(8, 1024, seed=2))
    trained = load_model(result.model_path)
    assert is_phasenet(trained) and input_settings(trained) == InputSettings()
    x = np.random.default_rng(5).normal(size=(1, 700, 3)).astype(np.float32)
    # learning rate ~0: the weights are the starting ones (batch statistics aside: inference
    # uses the moving averages, which a step moves, so compare loosely)
    assert np.abs(trained.predict(x, verbose=0) - start.predict(x, verbose=0)).max() < 0.05
    assert (tmp_path / "run" / "model.onnx").is_file()


# ------------------------------------------------ benchmarks/transfer.py


@pytest.fixture(scope="module")
def transfer():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import transfer

        yield transfer
    finally:
        sys.path.pop(0)


def test_phasenet_start_is_the_published_network_under_the_given_contract(transfer, tmp_path):
    from picker.models.phasenet import import_phasenet_checkpoint
    from picker.models.provenance import provenance
    from picker.models.saving import InputSettings, input_settings, load_model

    folder = tmp_path / "ckpt"
    write_checkpoint(folder, synthetic_variables())
    settings = InputSettings(100.0, "sliding", 1.0, 30.0)
    start = load_model(transfer.phasenet_start(folder, settings, tmp_path / "init.keras"))
    padded = load_model(
        transfer.phasenet_start(folder, settings, tmp_path / "padded.keras", pad_to_stride=True)
    )
    published = import_phasenet_checkpoint(folder)
    assert is_phasenet(start) and input_settings(start) == settings
    assert provenance(start) == provenance(published)  # authors and licence travel on
    # 1001 samples: not a multiple of the total stride, so only the unpadded start is the
    # published network everywhere; the padded one differs near the end
    x = np.random.default_rng(6).normal(size=(1, 1001, 3)).astype(np.float32)
    expected = published.predict(x, verbose=0)
    np.testing.assert_allclose(start.predict(x, verbose=0), expected, atol=1e-6)
    assert "pad_to_stride" not in {layer.name for layer in start.layers}
    assert np.abs(padded.predict(x, verbose=0) - expected)[0, -50:].max() > 1e-4


def test_teacher_s_labels_keep_only_records_with_a_confident_s(transfer, monkeypatch):
    from types import SimpleNamespace as Pick

    from picker.io.base import Record
    from picker.prediction import predict

    def fake_predict(data, rate, model, p_threshold, s_threshold):
        assert (p_threshold, s_threshold) == (0.5, 0.5)
        return model(data)

    monkeypatch.setattr(predict, "predict_array", fake_predict)
    data = np.zeros((2000, 3), np.float32)
    record = Record(data=data, sampling_rate_hz=100.0, p_arrival_sample=500, name="r")
    picks = [
        Pick(phase="S", index=520, probability=0.9),  # before P + 0.3 s: not this event's S
        Pick(phase="S", index=900, probability=0.6),
        Pick(phase="S", index=1200, probability=0.8),
        Pick(phase="P", index=1500, probability=0.99),
    ]
    labelled = transfer.teacher_s_labels([record, record], lambda data: picks)
    assert [r.s_arrival_sample for r in labelled] == [1200, 1200]
    assert transfer.teacher_s_labels([record], lambda data: picks[:1] + picks[3:]) == []


def test_interpolated_weights_lie_between_the_start_and_the_fine_tuned_model(transfer):
    start = build_phasenet(**TINY, pad_to_stride=True)
    tuned = build_phasenet(**TINY, pad_to_stride=True)
    tuned.set_weights([w + 1.0 for w in start.get_weights()])
    before = [w.copy() for w in tuned.get_weights()]
    transfer.interpolate_weights(start, tuned, 0.25)
    for a, b, mixed in zip(start.get_weights(), before, tuned.get_weights(), strict=True):
        np.testing.assert_allclose(mixed, 0.25 * b + 0.75 * a, atol=1e-6)
    transfer.interpolate_weights(start, tuned, 1.0)  # alpha 1: the tuned model unchanged
    for a, b in zip(tuned.get_weights(), [0.25 + w for w in start.get_weights()], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="alpha must be in"):
        transfer.interpolate_weights(start, tuned, 1.5)
    with pytest.raises(ValueError, match="differ in layout"):
        transfer.interpolate_weights(build_phasenet(filters=[4, 8], kernel_size=5), tuned, 0.5)


def test_install_writes_the_runs_config_with_the_models_windowing(transfer, tmp_path):
    """--install writes the training run's config beside the installed model, with the window
    overlap and merge the model keeps; a run without a config writes nothing."""
    from picker.config import Config, load_config, save_config
    from picker.models.settings import InputSettings, set_input_settings

    cfg = Config()
    cfg.augment.glitch = 0.3
    save_config(cfg, tmp_path / "run" / "config.yaml")
    settings = InputSettings(100.0, "std", 0.0, 30.0, window_overlap=0.25, window_merge="mean")
    model = set_input_settings(build_phasenet(**TINY, pad_to_stride=True), settings)
    target = tmp_path / "bundled" / "picker_default.keras"
    written = transfer.write_installed_config(tmp_path / "run" / "config.yaml", model, target)
    assert written == tmp_path / "bundled" / "picker_default.yaml"
    installed = load_config(written)
    assert installed.augment.glitch == 0.3
    assert (installed.predict.window_overlap, installed.predict.window_merge) == (0.25, "mean")
    missing = tmp_path / "none" / "config.yaml"
    assert transfer.write_installed_config(missing, model, tmp_path / "x.keras") is None
    assert not (tmp_path / "x.yaml").exists()


def test_a_window_models_own_overlap_and_merge_are_the_defaults_of_predict(monkeypatch):
    """The bundled model keeps the window overlap and merge it is run at (InputSettings
    window_overlap, window_merge); explicit options still win, and files without the fields
    mean 0.5 and "center"."""
    import dataclasses
    import json

    from picker.models.settings import InputSettings, ModelFileError, set_input_settings
    from picker.prediction import inference
    from picker.prediction.predict import predict_array

    seen = []

    def fake_run_windows(model, x, cfg):
        seen.append((cfg.window_overlap, cfg.window_merge))
        return np.zeros((len(x), 3), np.float32)

    monkeypatch.setattr(inference, "run_windows", fake_run_windows)
    settings = InputSettings(100.0, "std", 0.0, 10.0, window_overlap=0.25, window_merge="mean")
    model = set_input_settings(build_phasenet(**TINY, pad_to_stride=True), settings)
    data = np.zeros((3000, 3), np.float32)
    assert predict_array(data, 100.0, model) == []
    predict_array(data, 100.0, model, window_overlap=0.5, window_merge="center")
    assert seen == [(0.25, "mean"), (0.5, "center")]
    text = settings.to_json()
    assert InputSettings.from_json(text, "m.keras") == settings
    old = dataclasses.asdict(settings)
    del old["window_overlap"], old["window_merge"]  # a model saved before the fields existed
    assert InputSettings.from_json(json.dumps(old), "m.keras") == dataclasses.replace(
        settings, window_overlap=0.5, window_merge="center"
    )
    for bad in ({"window_overlap": 1.0}, {"window_merge": "max"}):
        with pytest.raises(ModelFileError, match="m.keras: invalid input settings"):
            InputSettings.from_json(json.dumps({**old, **bad}), "m.keras")
