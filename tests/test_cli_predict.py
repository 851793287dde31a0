"""``picker predict`` in-process: outputs, bad inputs, shards, probabilities, figures.

The model is the exact "oracle" of ``test_predict.py`` (saved as a ``.keras`` file), with a
weaker S gain so that S peaks reach only ~0.87 and the thresholds can be told apart.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import obspy
import pytest
from obspy import Stream, Trace, UTCDateTime

from picker.cli import main
from picker.io import Record, write_records
from picker.models.saving import save_model
from picker.picks.formats import read_picks
from picker.picks.pick import format_time
from picker.prediction import files as predict_files

T0 = UTCDateTime(2024, 3, 1, 0, 0, 0)
RATE = 100.0
N_SAMPLES = 12_000  # 2 minutes per file


def make_oracle(channels_first: bool = False, s_gain: float = 0.4):
    inputs = keras.Input((3, None) if channels_first else (None, 3))
    x = keras.layers.Permute((2, 1))(inputs) if channels_first else inputs
    conv = keras.layers.Conv1D(3, 21, padding="same", name="oracle")
    x = keras.layers.Softmax(axis=-1)(conv(x))
    outputs = keras.layers.Permute((2, 1))(x) if channels_first else x
    weights = np.zeros((21, 3, 3), np.float32)
    weights[10, 2, 1], weights[10, 0, 2] = 1.0, s_gain
    conv.set_weights([weights, np.array([20.0, 0.0, 0.0], np.float32)])
    return keras.Model(inputs, outputs)


def station_traces(station: str, start, p_samples, s_samples) -> list[Trace]:
    data = np.zeros((N_SAMPLES, 3), np.float32)
    data[p_samples, 2] = 1.0
    data[s_samples, 0] = 1.0
    header = {"network": "XX", "station": station, "location": "", "sampling_rate": RATE}
    return [
        Trace(data[:, i].copy(), header={**header, "channel": f"HH{c}", "starttime": start})
        for i, c in enumerate("ENZ")
    ]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """3 miniSEED files × 2 stations, one NPZ window, one bad file; the expected picks."""
    root = tmp_path_factory.mktemp("predict")
    model_path = save_model(make_oracle(), root / "oracle.keras")
    save_model(make_oracle(channels_first=True), root / "oracle_cf.keras")
    expected = set()
    data_dir = root / "data"
    data_dir.mkdir()
    for f in range(3):
        start = T0 + f * 600
        traces = []
        for k, station in enumerate(("AAA", "BBB")):
            p = [1000 + 500 * f + 100 * k, 9000]
            s = [5000 + 10 * f]
            traces += station_traces(station, start, p, s)
            expected |= {(f"day{f}.mseed", station, "P", i) for i in p}
            expected |= {(f"day{f}.mseed", station, "S", i) for i in s}
        Stream(traces).write(str(data_dir / f"day{f}.mseed"), format="MSEED", encoding="FLOAT32")
    window = np.zeros((3000, 3), np.float32)
    window[1200, 2] = 1.0
    write_records([Record(window, RATE, "XX.WIN..HH", T0, name="win")], data_dir, "npz")
    expected.add(("win.npz", "WIN", "P", 1200))
    bad = root / "bad.mseed"
    bad.write_bytes(b"this is not miniSEED")
    return {"root": root, "model": str(model_path), "data": data_dir, "bad": bad, "exp": expected}


def summary(picks) -> set:
    return {(p.source, p.station_id.split(".")[1], p.phase, p.index) for p in picks}


def run(files, *args) -> int:
    return main(["predict", str(files["data"]), "--model", files["model"], "-q", *args])


@pytest.mark.parametrize("suffix", [".csv", ".json", ".xml"])
def test_every_output_format_round_trips(files, tmp_path, suffix):
    out = tmp_path / f"picks{suffix}"
    assert run(files, "-o", str(out)) == 0
    picks = read_picks(out)
    assert summary(picks) == files["exp"]
    first = next(p for p in picks if p.source == "day1.mseed" and p.phase == "S")
    assert first.time == format_time(T0 + 600 + 5010 / RATE)
    assert first.station_id == "XX.AAA..HH" and 0.5 <= first.probability < 0.99
    if suffix == ".xml":
        catalog = obspy.read_events(str(out))
        qpicks = [q for event in catalog for q in event.picks]
        assert len(qpicks) == len(files["exp"]) and len(catalog) > 1  # events, not one
        assert {q.waveform_id.channel_code for q in qpicks} == {"HH?"}
    # output is sorted by station, then time (QuakeML: by event, see test_outputs_accepted.py)
    keys = [(p.station_id, p.time) for p in picks]
    assert keys == sorted(keys) or suffix == ".xml"


def test_format_flag_overrides_the_suffix(files, tmp_path):
    out = tmp_path / "picks.txt"
    assert run(files, "-o", str(out), "--format", "json") == 0
    assert summary(read_picks(out, "json")) == files["exp"]


def test_thresholds(files, tmp_path):
    out = tmp_path / "p.csv"
    assert run(files, "-o", str(out), "--s-threshold", "0.9") == 0
    assert {p.phase for p in read_picks(out)} == {"P"}
    assert run(files, "-o", str(out), "--threshold", "0.9") == 0
    assert {p.phase for p in read_picks(out)} == {"P"}
    assert run(files, "-o", str(out), "--p-threshold", "0.3", "--s-threshold", "0.3") == 0
    assert summary(read_picks(out)) == files["exp"]
    assert run(files, "-o", str(out), "--threshold", "0.5", "--p-threshold", "0.3") == 2
    assert run(files, "-o", str(out), "--threshold", "1.5") == 2


def test_bad_and_missing_inputs_are_named_and_the_rest_is_written(files, tmp_path, caplog):
    out = tmp_path / "picks.csv"
    missing = tmp_path / "missing.mseed"
    with caplog.at_level(logging.ERROR, logger="picker"):
        status = main(
            [
                "predict",
                str(files["bad"]),
                str(missing),
                str(files["data"]),
                "--model",
                files["model"],
                "-o",
                str(out),
            ]
        )
    assert status == 1
    assert summary(read_picks(out)) == files["exp"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("bad.mseed: not a waveform file" in m for m in errors)
    assert any("missing.mseed" in m for m in errors)
    assert any("2 input(s) failed" in m for m in errors)


def test_strict_stops_at_the_first_bad_input_and_writes_nothing(files, tmp_path):
    out = tmp_path / "picks.csv"
    probs = tmp_path / "probs.mseed"
    args = [str(files["bad"]), str(files["data"]), "--model", files["model"], "-q", "--strict"]
    assert main(["predict", *args, "-o", str(out), "--probabilities", str(probs)]) == 1
    assert not out.exists() and not probs.exists()
    assert not list(tmp_path.glob(".*part"))


def test_shards_partition_the_work(files, tmp_path):
    full = tmp_path / "full.csv"
    assert run(files, "-o", str(full)) == 0
    full_rows = full.read_text().splitlines()
    shard_rows = []
    for i in range(3):
        out = tmp_path / f"shard{i}.csv"
        assert run(files, "-o", str(out), "--shard", f"{i}/3") == 0
        rows = out.read_text().splitlines()
        assert rows[0] == full_rows[0] and len(rows) > 1
        shard_rows += rows[1:]
    assert len(shard_rows) == len(set(shard_rows))  # disjoint
    assert sorted(shard_rows) == sorted(full_rows[1:])  # together: one run
    assert run(files, "-o", str(out), "--shard", "3/3") == 2
    assert run(files, "-o", str(out), "--shard", "x") == 2


def test_shard_units(files):
    paths = sorted(files["data"].iterdir()) + [files["bad"]]
    units = predict_files.list_units(paths)
    assert [(p.name, s) for p, s in units] == [
        ("day0.mseed", "XX.AAA..HH"),
        ("day0.mseed", "XX.BBB..HH"),
        ("day1.mseed", "XX.AAA..HH"),
        ("day1.mseed", "XX.BBB..HH"),
        ("day2.mseed", "XX.AAA..HH"),
        ("day2.mseed", "XX.BBB..HH"),
        ("win.npz", None),
        ("bad.mseed", None),
    ]
    shard = predict_files.select_shard(units, 1, 3)
    assert {p.name: s for p, s in shard.items()} == {
        "day0.mseed": {"XX.BBB..HH"},
        "day2.mseed": {"XX.AAA..HH"},
        "bad.mseed": None,
    }


def test_probabilities_miniseed_and_figures(files, tmp_path):
    out, probs, plots = tmp_path / "p.csv", tmp_path / "probs.mseed", tmp_path / "plots"
    assert run(files, "-o", str(out), "--probabilities", str(probs), "--plot", str(plots)) == 0
    stream = obspy.read(str(probs))
    assert len(stream) == 12  # 3 files × 2 stations × (P, S); none for the NPZ window
    assert {tr.stats.channel for tr in stream} == {"HHP", "HHS"}
    assert all(tr.data.dtype == np.float32 and tr.stats.sampling_rate == 100.0 for tr in stream)
    p_trace = stream.select(station="BBB", channel="HHP").sort(["starttime"])[1]
    assert p_trace.stats.starttime == T0 + 600
    assert set(np.flatnonzero(p_trace.data > 0.5)) == {1600, 9000}
    figures = sorted(f.name for f in plots.iterdir())
    assert len(figures) == 7 and "day0__XX.AAA..HH.png" in figures and "win__win.png" in figures
    assert all((plots / f).stat().st_size > 1000 for f in figures)


def test_channels_first_model_and_batch_options(files, tmp_path):
    out_last, out_first = tmp_path / "last.csv", tmp_path / "first.csv"
    assert run(files, "-o", str(out_last), "--chunk-s", "30", "--batch-size", "2") == 0
    model_cf = str(files["root"] / "oracle_cf.keras")
    args = ["predict", str(files["data"]), "--model", model_cf, "-q", "-o", str(out_first)]
    assert main(args) == 0
    assert out_first.read_text() == out_last.read_text()
    assert summary(read_picks(out_first)) == files["exp"]


def test_missing_bundled_model_is_a_clear_error(files, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("picker.models.saving.BUNDLED_MODEL", tmp_path / "none.keras")
    with caplog.at_level(logging.ERROR, logger="picker"):
        status = main(["predict", str(files["data"]), "-o", str(tmp_path / "p.csv")])
    assert status == 2  # usage: pass --model
    assert any("bundled model" in r.getMessage() for r in caplog.records)
    assert not (tmp_path / "p.csv").exists()


def test_reuse_freed_memory_is_harmless_without_mallopt(monkeypatch):
    """The glibc heap setting of ``picker predict`` is skipped where ``mallopt`` is missing."""
    import ctypes

    from picker.cli import common as cli

    class NoMallopt:
        def __init__(self, name):
            pass

    monkeypatch.setattr(ctypes, "CDLL", NoMallopt)
    cli.reuse_freed_memory()  # no AttributeError
