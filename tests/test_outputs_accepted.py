"""Outputs other software must accept: QuakeML that validates against the QuakeML 1.2 schema
with one event per earthquake, strict JSON, the umask's file modes, and ``-o -`` (stdout)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat

import numpy as np
import obspy
import pytest
from obspy import Stream, Trace, UTCDateTime
from obspy.io.quakeml.core import _validate
from oracle import make_oracle, spikes

from picker.cli import main
from picker.io import Record, write_records
from picker.io.outputs import OutputError, check_output
from picker.models.saving import save_model
from picker.picks.events import EVENT_SPAN_S, associate_picks
from picker.picks.formats import read_picks, write_picks
from picker.picks.pick import Pick, format_time

T0 = UTCDateTime(2024, 3, 1)


def strict_json(text: str):
    """``json.loads`` that refuses NaN / Infinity (as JavaScript's JSON.parse and jq do)."""

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def pick(station: str, phase: str, time, index: int = 0, source: str = "x.h5") -> Pick:
    return Pick(source, f"XX.{station}..HH", phase, format_time(time), index, 0.9)


# ----------------------------------------------------------------------------- QuakeML


def test_quakeml_events_never_span_unrelated_earthquakes_and_the_file_validates(tmp_path):
    quake_2008, quake_2016 = UTCDateTime(2008, 5, 1, 12), UTCDateTime(2016, 2, 3, 4)
    picks = [
        # one earthquake at two stations
        pick("A", "P", quake_2008 + 5),
        pick("A", "S", quake_2008 + 9),
        pick("B", "P", quake_2008 + 7),
        pick("B", "S", quake_2008 + 12),
        # eight years later, station A again
        pick("A", "P", quake_2016 + 5),
        pick("A", "S", quake_2016 + 8),
        # two windows of station C 40 s apart: two earthquakes (a second P at one station)
        pick("C", "P", quake_2016 + 600),
        pick("C", "P", quake_2016 + 640),
        pick("C", "S", quake_2016 + 645),
    ]
    path = write_picks(picks, tmp_path / "picks.xml")
    assert _validate(str(path)), "not valid QuakeML 1.2"
    catalog = obspy.read_events(str(path), format="QUAKEML")
    events = [
        sorted((q.waveform_id.station_code, q.phase_hint, q.time) for q in event.picks)
        for event in catalog
    ]
    assert events == [
        [("A", "P", quake_2008 + 5), ("A", "S", quake_2008 + 9), ("B", "P", quake_2008 + 7),
         ("B", "S", quake_2008 + 12)],
        [("A", "P", quake_2016 + 5), ("A", "S", quake_2016 + 8)],
        [("C", "P", quake_2016 + 600)],
        [("C", "P", quake_2016 + 640), ("C", "S", quake_2016 + 645)],
    ]  # fmt: skip
    assert sorted(read_picks(path), key=lambda p: p.time) == sorted(picks, key=lambda p: p.time)


def test_association_rules():
    # a P after the station's S opens a new event, and so does a pick past the span
    picks = [pick("A", "P", T0), pick("A", "S", T0 + 10), pick("A", "P", T0 + 20)]
    assert [len(e) for e in associate_picks(picks)] == [2, 1]
    picks = [pick("A", "P", T0), pick("B", "P", T0 + EVENT_SPAN_S + 1)]
    assert [[p.station_id for p in e] for e in associate_picks(picks)] == [
        ["XX.A..HH"],
        ["XX.B..HH"],
    ]
    # a late S of the first earthquake still finds it while a second one is open
    picks = [pick("A", "P", T0), pick("A", "P", T0 + 30), pick("B", "S", T0 + 31)]
    assert [len(e) for e in associate_picks(picks)] == [1, 2]


def test_quakeml_of_picks_without_a_time_is_a_one_line_error(tmp_path):
    untimed = Pick("w.npz", "XX.B..EH", "P", "", 7, 0.5)
    out = tmp_path / "picks.xml"
    with pytest.raises(OutputError) as err:
        write_picks([untimed], out)
    message = str(err.value)
    assert "\n" not in message and str(out) in message and "w.npz" in message
    assert "QuakeML needs absolute pick times" in message and "CSV or JSON" in message
    assert not out.exists() and not list(tmp_path.iterdir())


def test_predict_quakeml_on_a_window_without_start_time_says_why(tmp_path, caplog):
    model = save_model(make_oracle(), tmp_path / "oracle.keras")
    write_records(
        [Record(spikes(3000, [1200]), 100.0, "XX.WIN..HH", None, name="w")], tmp_path, "npz"
    )
    out = tmp_path / "picks.xml"
    with caplog.at_level(logging.ERROR, logger="picker"):
        status = main(["predict", str(tmp_path / "w.npz"), "--model", str(model), "-o", str(out)])
    assert status == 1 and not out.exists()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("QuakeML needs absolute pick times" in m and "w.npz" in m for m in errors)


# ----------------------------------------------------------------------------- JSON


def test_picks_json_is_strict_and_a_missing_time_is_null(tmp_path):
    picks = [pick("A", "P", T0, 5), Pick("w.npz", "XX.B..EH", "P", "", 7, 0.5)]
    path = write_picks(picks, tmp_path / "picks.json")
    rows = strict_json(path.read_text())
    assert rows[0]["time"] == "2024-03-01T00:00:00.000000Z" and rows[1]["time"] is None
    assert rows[1] == {
        "source": "w.npz",
        "station_id": "XX.B..EH",
        "phase": "P",
        "time": None,
        "index": 7,
        "probability": 0.5,
    }
    assert read_picks(path) == picks


def test_evaluate_metrics_json_is_strict(tmp_path):
    """No picks and no labels: the residuals are undefined (null, not NaN)."""
    model = save_model(make_oracle(), tmp_path / "oracle.keras")
    write_records([Record(np.zeros((3000, 3), np.float32), 100.0, "XX.A..HH", T0, name="n")],
                  tmp_path / "data", "npz")  # fmt: skip
    report = tmp_path / "report"
    assert main(["evaluate", str(tmp_path / "data"), "--model", str(model), "-o", str(report),
                 "-q"]) == 0  # fmt: skip
    metrics = strict_json((report / "metrics.json").read_text())
    assert metrics["sources"]["model"]["P"]["residual_mean_ms"] is None


def test_training_validation_report_is_strict_json(tmp_path, tiny_config):
    """An untrained tiny model picks nothing on the validation windows: the pick metrics are
    undefined and must be written as null (json.dumps wrote NaN)."""
    from picker.training import train as train_module
    from picker.training.synthetic import synthetic_records

    write_records(synthetic_records(4, n_samples=1024, seed=3), tmp_path / "npz", "npz")
    cfg = tiny_config(
        data={"train": [str(tmp_path / "npz")], "validation": [str(tmp_path / "npz")]},
        augment={"stack_event": 0.0, "gaussian_noise": 0.0, "gap": 0.0},
        train={"epochs": 1, "steps_per_epoch": 1, "learning_rate": 1e-9},
    )
    train_module.train(cfg, tmp_path / "run")
    text = (tmp_path / "run" / "validation_report.json").read_text()
    report = strict_json(text)
    values = [m for phase in ("P", "S") for m in report["best_model_validation_picks"][phase]]
    assert values and "NaN" not in text


# ----------------------------------------------------------------------------- file modes


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def station_stream(start) -> Stream:
    data = spikes(12_000, [3000], [5000])
    header = {"network": "XX", "station": "AAA", "sampling_rate": 100.0, "starttime": start}
    return Stream(
        [
            Trace(data[:, i].copy(), header={**header, "channel": f"HH{c}"})
            for i, c in enumerate("ENZ")
        ]
    )


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_every_output_gets_the_umask_mode(tmp_path, mask, mode):
    model = save_model(make_oracle(), tmp_path / "oracle.keras")
    day = tmp_path / "day.mseed"
    station_stream(T0).write(str(day), format="MSEED", encoding="FLOAT32")
    out = tmp_path / "out"
    with umask(mask):
        assert main(["predict", str(day), "--model", str(model), "-q", "-o", str(out / "p.csv"),
                     "--probabilities", str(out / "prob.mseed")]) == 0  # fmt: skip
        for to in ("tfrecord", "npz", "hdf5", "mseed"):
            assert main(["convert", str(day), "-o", str(out / to), "--to", to, "-q"]) == 0
        assert main(["convert", str(day), "-o", str(out / "shards"), "--to", "tfrecord",
                     "--records-per-shard", "1", "-q"]) == 0  # fmt: skip
    written = sorted(p for p in out.rglob("*") if p.is_file())
    names = {p.name for p in written}
    assert {"p.csv", "prob.mseed", "metadata.csv"} <= names
    assert any(n.endswith(".tfrecord") for n in names)
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {
        p.name: oct(mode) for p in written
    }


# ----------------------------------------------------------------------------- -o -


def test_check_output_lets_stdout_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").mkdir()  # even a folder named "-" is not what "-o -" means
    assert str(check_output("-", picks=True)) == "-"


@pytest.mark.parametrize("fmt", ["csv", "json", "quakeml"])
def test_predict_and_merge_write_to_stdout(tmp_path, monkeypatch, capsys, fmt):
    model = save_model(make_oracle(), tmp_path / "oracle.keras")
    day = tmp_path / "day.mseed"
    station_stream(T0).write(str(day), format="MSEED", encoding="FLOAT32")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["predict", str(day), "--model", str(model), "-o", "-", "--format", fmt]) == 0
    out, err = capsys.readouterr()
    assert not (tmp_path / "-").exists() and not list(
        tmp_path.glob("-.*")
    )  # no file, lock, journal
    assert "wrote 2 pick(s)" in err and "standard output" in err  # messages on stderr only
    suffix = {"csv": ".csv", "json": ".json", "quakeml": ".xml"}[fmt]
    shard = tmp_path / f"shard{suffix}"
    shard.write_text(out, encoding="utf-8")
    picks = read_picks(shard)
    assert [(p.phase, p.index) for p in picks] == [("P", 3000), ("S", 5000)]
    if fmt == "quakeml":
        assert _validate(str(shard))
    elif fmt == "json":
        strict_json(out)

    assert main(["merge", str(shard), "-o", "-", "--format", fmt, "-q"]) == 0
    merged, _ = capsys.readouterr()
    assert not (tmp_path / "-").exists()
    if fmt != "quakeml":  # (QuakeML resource ids are new each time)
        assert merged == out
    again = tmp_path / f"merged{suffix}"
    again.write_text(merged, encoding="utf-8")
    assert read_picks(again) == picks


def test_stdout_refuses_resume_and_probabilities(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    model = save_model(make_oracle(), tmp_path / "oracle.keras")
    day = tmp_path / "day.mseed"
    station_stream(T0).write(str(day), format="MSEED", encoding="FLOAT32")
    base = ["predict", str(day), "--model", str(model), "-o", "-"]
    with caplog.at_level(logging.ERROR, logger="picker"):
        assert main([*base, "--resume"]) == 2
        assert main([*base, "--probabilities", "-"]) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("--resume needs a picks file" in m for m in messages)
    assert any("--probabilities writes miniSEED to a file" in m for m in messages)


def test_json_text_writes_undefined_numbers_as_null():
    from picker.io.base import json_text

    value = {"f1": float("nan"), "x": [np.float32(0.5), np.inf, -np.inf], "n": np.int64(3)}
    assert strict_json(json_text(value)) == {"f1": None, "x": [0.5, None, None], "n": 3}
