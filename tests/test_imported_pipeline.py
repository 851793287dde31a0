"""Imported published models (PhaseNet, EQTransformer) through picker's whole pipeline.

Per-window prediction (picker.prediction.windows, inference.run_windows), ``picker
import-model``, predict / evaluate / plot / ONNX / shards / ``--probabilities`` with an
imported model, on tiny synthetic checkpoints (as in test_import_phasenet.py and
test_import_eqtransformer.py). The published weights, when ``PICKER_PRETRAINED`` (or
../shared/pretrained) has them, are checked against the original code's reference outputs.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from keras2_eqt_file import keras2_config, write_keras2_h5
from obspy import Stream, Trace, UTCDateTime
from test_import_eqtransformer import TINY
from test_import_phasenet import synthetic_variables, write_checkpoint

from picker.cli import main
from picker.prediction.windows import (
    WindowMerge,
    cut_windows,
    merge_windows,
    window_starts,
)
from picker.preprocess.normalize import normalize

SHARED = Path(
    os.environ.get(
        "PICKER_PRETRAINED", Path(__file__).resolve().parents[1].parent / "shared" / "pretrained"
    )
)
T0 = UTCDateTime(2024, 5, 1)


# ----------------------------------------------------------------------------- windows (NumPy)


def test_window_starts_exact():
    assert window_starts(10, 4).tolist() == [0, 2, 4, 6]
    assert window_starts(11, 4).tolist() == [0, 2, 4, 6, 7]  # the last one aligned to the end
    assert window_starts(10, 4, overlap=0.0).tolist() == [0, 4, 6]
    assert window_starts(9, 4, overlap=0.75).tolist() == [0, 1, 2, 3, 4, 5]
    assert window_starts(3001, 3000).tolist() == [0, 1]
    assert window_starts(4, 4).tolist() == [0]
    assert window_starts(3, 4).tolist() == [0]  # shorter than a window: one window
    assert window_starts(0, 4).tolist() == []
    with pytest.raises(ValueError, match="overlap"):
        window_starts(10, 4, overlap=1.0)


def test_cut_windows_normalises_each_window_alone_and_pads_the_end():
    x = np.zeros((6, 3))
    x[:, 0] = [1, 3, 1, 3, 10, 30]  # E
    x[:, 1] = 7.0  # N: constant, so zero after demeaning
    batch = cut_windows(x, [0, 2, 4], 4)
    assert batch.shape == (3, 4, 3) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0, :, 0], [-1, 1, -1, 1], atol=1e-6)  # std 1 around 2
    window = np.array([1, 3, 10, 30.0])
    np.testing.assert_allclose(batch[1, :, 0], (window - window.mean()) / window.std(), atol=1e-6)
    padded = np.array([10, 30, 0, 0.0])  # the last window runs past the end: zeros there
    np.testing.assert_allclose(batch[2, :, 0], (padded - padded.mean()) / padded.std(), atol=1e-6)
    assert not batch[:2, :, 1].any() and not batch[:, :, 2].any()  # constant / zero: exactly 0
    np.testing.assert_allclose(batch[2, :, 1], [1, 1, -1, -1], atol=1e-6)  # 7, 7 then padding
    np.testing.assert_array_equal(
        batch,
        normalize(np.stack([np.pad(x, ((0, 2), (0, 0)))[s : s + 4] for s in (0, 2, 4)]), "std"),
    )


def _window_ids(n_windows: int, window: int) -> np.ndarray:
    """Outputs ``(k, W, 2)``: column 0 = the window's number, column 1 = the sample's place."""
    out = np.zeros((n_windows, window, 2), np.float32)
    out[:, :, 0] = np.arange(n_windows)[:, None]
    out[:, :, 1] = np.arange(window)[None]
    return out


def test_center_merge_takes_each_sample_from_the_window_it_is_most_central_in():
    starts = window_starts(11, 4)  # [0, 2, 4, 6, 7]
    merged = merge_windows(_window_ids(5, 4), starts, 11, "center")
    # centres 1.5, 3.5, 5.5, 7.5, 8.5; ties go to the earlier window
    assert merged[:, 0].tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert merged[:, 1].tolist() == [0, 1, 2, 1, 2, 1, 2, 1, 2, 2, 3]  # place in its window


def test_mean_merge_averages_every_covering_window():
    starts = window_starts(11, 4)
    merged = merge_windows(_window_ids(5, 4), starts, 11, "mean")
    expected = [0, 0, 0.5, 0.5, 1.5, 1.5, 2.5, 3, 3.5, 3.5, 4]  # sample 7: (2 + 3 + 4) / 3
    np.testing.assert_allclose(merged[:, 0], expected, atol=1e-6)


def test_merge_batch_by_batch_equals_all_at_once_and_short_data():
    starts = window_starts(23, 6)
    outputs = np.random.default_rng(0).random((len(starts), 6, 4)).astype(np.float32)
    for mode in ("center", "mean"):
        merge = WindowMerge(23, 4, starts, 6, mode)
        merge.add(0, outputs[:3])
        merge.add(3, outputs[3:])
        np.testing.assert_array_equal(merge.result(), merge_windows(outputs, starts, 23, mode))
    # data shorter than the (padded) window: its first samples only
    short = merge_windows(outputs[:1], [0], 4, "center")
    np.testing.assert_array_equal(short, outputs[0, :4])


# ----------------------------------------------------------------------------- tiny models


@pytest.fixture(scope="module")
def phasenet(tmp_path_factory):
    """A tiny PhaseNet checkpoint imported with ``picker import-model`` (+ its ONNX export)."""
    root = tmp_path_factory.mktemp("imported")
    checkpoint = root / "checkpoint"
    write_checkpoint(checkpoint, synthetic_variables())
    (checkpoint / "LICENSE").write_text("MIT License\n\nCopyright (c) 2019 Test Author\n")
    keras_path, onnx_path = root / "phasenet.keras", root / "phasenet.onnx"
    args = ["import-model", "phasenet", str(checkpoint), "-o", str(keras_path)]
    assert main([*args, "--onnx", str(onnx_path), "-q"]) == 0
    return keras_path, onnx_path


@pytest.fixture(scope="module")
def eqt(tmp_path_factory):
    """A tiny EQTransformer (64-sample windows) written as a Keras 2 file, then imported."""
    from picker.models.eqtransformer import EqtSettings, build_eqtransformer

    settings = EqtSettings(**TINY)
    source = build_eqtransformer(settings)
    rng = np.random.default_rng(5)
    source.set_weights(
        [
            (np.abs(v) + 0.5 if w.name == "moving_variance" else v).astype(np.float32)
            for w, v in ((w, rng.normal(0, 0.5, w.shape)) for w in source.weights)
        ]
    )
    root = tmp_path_factory.mktemp("eqt")
    h5 = write_keras2_h5(root / "tiny_eqt.h5", source, *keras2_config(settings))
    out = root / "eqt.keras"
    assert main(["import-model", "eqtransformer", str(h5), "-o", str(out), "-q"]) == 0
    return out


def _stream(n_samples: int, stations=("AAA",), seed: int = 0, channels="ENZ") -> Stream:
    rng = np.random.default_rng(seed)
    traces = []
    for station in stations:
        for c in channels:
            header = {"network": "XX", "station": station, "channel": f"HH{c}"}
            header.update(sampling_rate=100.0, starttime=T0)
            traces.append(Trace(rng.normal(size=n_samples).astype(np.float32), header=header))
    return Stream(traces)


def _rows(path) -> list[tuple]:
    with open(path, newline="") as handle:
        return [
            (r["station_id"], r["phase"], r["index"], r["probability"])
            for r in csv.DictReader(handle)
        ]


def test_imported_file_keeps_contract_and_provenance(phasenet, capsys):
    from picker.models.phasenet import PHASENET_INPUT
    from picker.models.saving import load_model

    model = load_model(phasenet[0])
    assert model.picker_input_settings == PHASENET_INPUT
    assert model.picker_provenance.model == "PhaseNet"
    assert "Test Author" in model.picker_provenance.licence
    assert main(["info", str(phasenet[0]), "--diagram", str(phasenet[0].with_suffix(".png"))]) == 0
    out = capsys.readouterr().out
    assert "windows of 30 s each demeaned and divided by its std" in out
    assert "Zhu, W., & Beroza, G. C. (2019)" in out and "Copyright (c) 2019 Test Author" in out


def test_predict_array_is_the_model_on_each_normalised_window(phasenet):
    """Per-window mode by hand: 50 % overlap, each window normalised alone, central parts."""
    from picker.models.saving import load_model
    from picker.prediction.predict import predict_array

    model = load_model(phasenet[0])
    x = np.random.default_rng(1).normal(size=(7001, 3)) * [1, 5, 100]
    _, got = predict_array(x, 100.0, model, return_probabilities=True)
    starts = [0, 1500, 3000, 4001]
    y = np.asarray(model(normalize(np.stack([x[s : s + 3000] for s in starts]), "std")))
    # window k keeps up to (start_k + start_k+1 + 2999) // 2 + 1: samples 2250, 3750, 5001
    expected = np.concatenate([y[0, :2250], y[1, 750:2250], y[2, 750:2001], y[3, 1000:]])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    _, mean = predict_array(x, 100.0, model, return_probabilities=True, window_merge="mean")
    np.testing.assert_allclose(mean[1600], (y[0, 1600] + y[1, 100]) / 2, atol=1e-6)


@pytest.mark.parametrize("n_samples", [2999, 1001, 37, 3003])
def test_lengths_off_the_stride_give_the_originals_picks(phasenet, n_samples):
    """A length that is not a multiple of the stride 4: data shorter than 30 s are one window
    of their own length, normalised as a whole, as the original runs a short record."""
    from picker.models.saving import load_model
    from picker.picks.peaks import extract_picks
    from picker.prediction.predict import predict_array

    model = load_model(phasenet[0])
    x = np.random.default_rng(n_samples).normal(size=(n_samples, 3)).astype(np.float32)
    picks, got = predict_array(
        x, 100.0, model, p_threshold=0.3, s_threshold=0.3, return_probabilities=True
    )
    if n_samples <= 3000:
        original = np.asarray(model(normalize(x[None], "std")))[0]
        np.testing.assert_allclose(got, original, atol=1e-6)
        expected = extract_picks(
            original, p_threshold=0.3, s_threshold=0.3, min_distance_samples=50
        )
        assert [(p.phase, p.index) for p in picks] == [(ph, i) for ph, i, _ in expected]
    assert got.shape == (n_samples, 3) and picks


def test_cli_predict_stream_and_npz_channels_first_or_last_same_picks(phasenet, tmp_path):
    data = np.random.default_rng(2).normal(size=(4000, 3)).astype(np.float32)
    np.savez(tmp_path / "last.npz", data=data)
    # channels-first arrays without metadata are read as rows Z, N, E (SeisBench's order)
    np.savez(tmp_path / "first.npz", data=np.ascontiguousarray(data[:, ::-1].T))
    picks = {}
    for name in ("last", "first"):
        out = tmp_path / f"{name}.csv"
        args = [str(tmp_path / f"{name}.npz"), "-o", str(out), "--model", str(phasenet[0])]
        assert main(["predict", *args, "--threshold", "0.3", "-q"]) == 0
        picks[name] = [row[1:] for row in _rows(out)]
    assert picks["last"] and picks["last"] == picks["first"]


def test_onnx_export_runs_without_tensorflow_and_gives_the_same_picks(phasenet, tmp_path):
    from picker.models.onnx_model import OnnxModel

    onnx_model = OnnxModel(phasenet[1])
    assert onnx_model.picker_input_settings.normalization == "std"
    assert onnx_model.picker_provenance.model == "PhaseNet"  # the licence travels with it
    path = tmp_path / "day.mseed"
    _stream(9001, ("AAA", "BBB"), seed=3).write(str(path), format="MSEED", encoding="FLOAT32")
    rows = {}
    for kind, model in (("keras", phasenet[0]), ("onnx", phasenet[1])):
        out = tmp_path / f"{kind}.csv"
        args = [str(path), "-o", str(out), "--model", str(model), "--threshold", "0.3", "-q"]
        assert main(["predict", *args]) == 0
        rows[kind] = _rows(out)
    assert rows["keras"] and {r[0] for r in rows["keras"]} == {"XX.AAA..HH", "XX.BBB..HH"}
    assert [r[:3] for r in rows["keras"]] == [r[:3] for r in rows["onnx"]]
    np.testing.assert_allclose(
        [float(r[3]) for r in rows["keras"]], [float(r[3]) for r in rows["onnx"]], atol=1e-5
    )


def test_shards_together_are_the_whole_run(phasenet, tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"f{i}.mseed")
        _stream(3500, (f"S{i}",), seed=10 + i).write(
            str(paths[-1]), format="MSEED", encoding="FLOAT32"
        )
    model = ["--model", str(phasenet[0]), "--threshold", "0.3", "-q"]
    assert main(["predict", *map(str, paths), "-o", str(tmp_path / "all.csv"), *model]) == 0
    shards = []
    for k in range(2):
        out = tmp_path / f"shard{k}.csv"
        assert main(["predict", *map(str, paths), "-o", str(out), "--shard", f"{k}/2", *model]) == 0
        shards += _rows(out)
    assert sorted(shards) == sorted(_rows(tmp_path / "all.csv")) and shards


def test_gaps_zero_the_probabilities(phasenet):
    from picker.prediction.predict import predict_stream

    stream = _stream(6000, seed=4)
    stream = stream.copy().cutout(T0 + 20, T0 + 25)  # a 5 s gap in every component
    picks, probabilities = predict_stream(
        stream, str(phasenet[0]), p_threshold=0.3, s_threshold=0.3, return_probabilities=True
    )
    prob = probabilities["XX.AAA..HH"]
    assert not prob[1960:2540, 1:].any() and (prob[1960:2540, 0] == 1).all()  # 0.5 s margin
    assert prob[:1900, 1:].any() and picks


def test_eqtransformer_probabilities_keep_detection(eqt, tmp_path):
    """EQTransformer's three outputs: P and S picked, detection kept as channel HHD."""
    from obspy import read

    from picker.models.saving import load_model
    from picker.prediction.predict import iter_stream

    model = load_model(eqt)  # three (batch, 64, 1) outputs: recognised, not refused
    assert model.picker_input_settings.normalization_window_s == pytest.approx(0.64)
    assert model.picker_provenance.model == "EQTransformer"
    stream = _stream(1000, seed=5)
    (result,) = iter_stream(stream, model, p_threshold=0.3, s_threshold=0.3)
    x = np.stack([tr.data for tr in stream], axis=1)  # E, N, Z
    outputs = [np.asarray(o)[0, :, 0] for o in model(normalize(x[None, :64], "std"))]
    np.testing.assert_allclose(result.detection[:32], outputs[0][:32], atol=1e-6)
    np.testing.assert_allclose(result.probabilities[:32, 1], outputs[1][:32], atol=1e-6)
    np.testing.assert_allclose(result.probabilities[:32, 2], outputs[2][:32], atol=1e-6)
    noise = np.clip(1 - outputs[1][:32] - outputs[2][:32], 0, 1)
    np.testing.assert_allclose(result.probabilities[:32, 0], noise, atol=1e-6)
    assert result.detection.shape == (len(x),)

    path = tmp_path / "eqt.mseed"
    stream.write(str(path), format="MSEED", encoding="FLOAT32")
    out, prob = tmp_path / "eqt.csv", tmp_path / "prob.mseed"
    args = [str(path), "-o", str(out), "--model", str(eqt), "--probabilities", str(prob)]
    assert main(["predict", *args, "--threshold", "0.3", "-q"]) == 0
    traces = {tr.stats.channel: tr.data for tr in read(str(prob))}
    assert sorted(traces) == ["HHD", "HHP", "HHS"]
    np.testing.assert_allclose(traces["HHD"], result.detection, atol=1e-6)
    with open(out, newline="") as handle:  # the picks file keeps its columns
        header = next(csv.reader(handle))
    assert "detection" not in header and _rows(out)


def test_eqtransformer_onnx_gives_the_keras_picks_and_detection(eqt, tmp_path):
    """EQTransformer exported to ONNX runs without TensorFlow: same picks, same detection."""
    from picker.models.eqtransformer_onnx import export_eqtransformer_onnx
    from picker.models.onnx_model import OnnxModel
    from picker.models.saving import load_model
    from picker.prediction.predict import iter_stream

    keras_model = load_model(eqt)
    onnx_model = OnnxModel(export_eqtransformer_onnx(keras_model, tmp_path / "eqt.onnx"))
    assert onnx_model.window_samples == 64 and len(onnx_model.output_names) == 3
    stream = _stream(1000, seed=7)
    options = {"p_threshold": 0.3, "s_threshold": 0.3}
    (want,) = iter_stream(stream, keras_model, **options)
    (got,) = iter_stream(stream, onnx_model, **options)
    np.testing.assert_allclose(got.probabilities, want.probabilities, atol=1e-5)
    np.testing.assert_allclose(got.detection, want.detection, atol=1e-5)
    assert [(p.phase, p.index) for p in got.picks] == [(p.phase, p.index) for p in want.picks]
    assert want.picks


def test_evaluate_and_plot_run_with_an_imported_model(phasenet, tmp_path):
    from picker.io import Record, write_records

    data = np.random.default_rng(6).normal(size=(3000, 3)).astype(np.float32)
    records = [Record(data, 100.0, "XX.W1..HH", T0, 1000, 1500, name="w1")]
    write_records(records, tmp_path / "windows", "npz")
    model = ["--model", str(phasenet[0])]
    report = tmp_path / "report"
    assert main(["evaluate", str(tmp_path / "windows"), *model, "-o", str(report), "-q"]) == 0
    assert any(report.iterdir())
    figures = tmp_path / "figures"
    assert main(["plot", str(tmp_path / "windows"), "-o", str(figures), *model, "-q"]) == 0
    assert [p.suffix for p in figures.iterdir()] == [".png"]


def test_bad_sources_are_one_line_errors(tmp_path, capsys):
    junk = tmp_path / "junk.h5"
    junk.write_text("not a model")
    out = tmp_path / "m.keras"
    cases = [
        (["phasenet", str(tmp_path)], f"{tmp_path}: no TensorFlow checkpoint"),
        (["eqtransformer", str(junk)], f"{junk}: not a readable Keras HDF5 model"),
        (["phasenet", str(tmp_path / "missing")], f"{tmp_path / 'missing'}: not found"),
    ]
    onnx = ["--onnx", str(tmp_path / "m.txt")]
    cases.append((["eqtransformer", str(junk), *onnx], "the ONNX export must end in .onnx"))
    for args, expected in cases:
        assert main(["import-model", *args, "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and expected in err, err
    assert main(["import-model", "phasenet", str(tmp_path), "-o", str(tmp_path / "m.h5")]) == 2
    assert "must be saved as a .keras file" in capsys.readouterr().err
    assert not out.exists()


def test_std_models_with_a_highpass_are_refused():
    from picker.config import ConfigError
    from picker.models.saving import InputSettings

    InputSettings(100.0, "std", 0.0, 30.0).check_predictable("m", 100.0)
    with pytest.raises(ConfigError, match="'std' windows without a high-pass"):
        InputSettings(100.0, "std", 1.0, 30.0).check_predictable("m", 100.0)
    with pytest.raises(ConfigError, match="'peak'"):
        InputSettings(100.0, "peak", 0.0, 30.0).check_predictable("m", 100.0)


# ----------------------------------------------------------------------------- published weights


@pytest.fixture(scope="module")
def published_phasenet(tmp_path_factory):
    source = SHARED / "phasenet"
    if not (source / "reference.npz").is_file():
        pytest.skip(f"{source} not available")
    out = tmp_path_factory.mktemp("published") / "phasenet.keras"
    assert main(["import-model", "phasenet", str(source), "-o", str(out), "-q"]) == 0
    with np.load(source / "reference.npz") as ref:
        return out, {key: ref[key] for key in ref.files}


def test_published_phasenet_picks_match_the_reference_peaks(published_phasenet):
    from picker.picks.peaks import extract_picks
    from picker.prediction.predict import predict_array

    path, reference = published_phasenet
    n_picks = 0
    for raw, prob in zip(reference["raw_3000"], reference["prob_3000"], strict=True):
        picks = predict_array(raw, 100.0, str(path))
        expected = extract_picks(prob, min_distance_samples=50)
        assert len(picks) == len(expected)
        for pick, (phase, index, _) in zip(picks, expected, strict=True):
            assert pick.phase == phase and abs(pick.index - index) <= 1
        n_picks += len(picks)
    assert n_picks >= 12
