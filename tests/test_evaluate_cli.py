"""``picker evaluate``: exact metrics with the oracle model, sweeps, reports, bad inputs.

The oracle (``tests/oracle.py``) picks exactly on the spikes, so every count is known.
"""

from __future__ import annotations

import csv
import json
import logging
import math

import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime
from oracle import make_oracle, spikes

from picker.cli import main
from picker.evaluation.metrics import SWEEP_THRESHOLDS, ThresholdSweep, model_index_to_seconds
from picker.io import Record, write_records
from picker.models.saving import save_model
from picker.picks.formats import picks_to_csv
from picker.picks.matching import evaluate_picks, same_station, station_key
from picker.picks.pick import Pick, format_time

T0 = UTCDateTime(2024, 3, 1, 0, 0, 0)
RATE = 100.0
N = 3000  # 30 s windows
STREAM_S = 120.0


def pick(station_id: str, phase: str, time, source: str = "") -> Pick:
    return Pick(source, station_id, phase, format_time(time), -1, 1.0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Oracle model, 4 labelled NPZ windows, a 2-station miniSEED file and its reference CSV."""
    root = tmp_path_factory.mktemp("evaluate")
    model = str(save_model(make_oracle(), root / "oracle.keras"))
    windows = root / "windows"
    records = [
        # P and S found exactly
        Record(spikes(N, [1000], [1500]), RATE, "XX.W1..HH", T0, 1000, 1500, name="w1"),
        # P 50 ms late (true positive), S 3 s late (a false positive and a false negative)
        Record(spikes(N, [805], [2300]), RATE, "XX.W2..HH", T0, 800, 2000, name="w2"),
        # noise window with one P pick: a false pick in 30 s of noise = 120 per hour
        Record(spikes(N, [1200], []), RATE, "XX.W3..HH", T0, name="w3"),
        # a missed P
        Record(spikes(N, [], []), RATE, "XX.W4..HH", T0, 600, -1, name="w4"),
    ]
    write_records(records, windows, "npz")

    n = int(STREAM_S * RATE)
    traces = []
    for station, p_samples, s_samples in (("AAA", [2000, 9000], [3005]), ("BBB", [4000], [])):
        data = spikes(n, p_samples, s_samples)
        header = {"network": "XX", "station": station, "location": "", "sampling_rate": RATE}
        traces += [
            Trace(data[:, i].copy(), header={**header, "channel": f"HH{c}", "starttime": T0})
            for i, c in enumerate("ENZ")
        ]
    stream_file = root / "day.mseed"
    Stream(traces).write(str(stream_file), format="MSEED", encoding="FLOAT32")
    reference = [
        pick("XX.AAA..HH", "P", T0 + 20.0),  # hit exactly
        pick("XX.AAA..HH", "S", T0 + 30.0),  # hit, +50 ms
        pick("XX.AAA..HH", "P", T0 + 60.0),  # missed (the 90 s spike is a false P)
        pick("XX.BBB..EH", "P", T0 + 40.0),  # hit: the band code is ignored
        pick("XX.CCC..HH", "P", T0 + 40.0),  # station not in the data: ignored
        pick("XX.AAA..HH", "P", T0 + 500.0),  # outside the data: ignored
    ]
    reference_csv = root / "reference.csv"
    reference_csv.write_text(picks_to_csv(reference))
    bad = root / "bad.npz"
    bad.write_bytes(b"not an npz file")
    return {
        "root": root,
        "model": model,
        "windows": windows,
        "stream": stream_file,
        "reference": reference_csv,
        "bad": bad,
    }


def read_csv(path) -> dict[tuple[str, str], dict]:
    with open(path, newline="") as handle:
        return {(row["source"], row["phase"]): row for row in csv.DictReader(handle)}


# ----------------------------------------------------------------------------- windows


def test_windows_exact_counts_noise_rate_and_report_files(setup, tmp_path, capsys):
    out = tmp_path / "report"
    args = [str(setup["windows"]), "--model", setup["model"], "-o", str(out), "-q"]
    assert main(["evaluate", *args]) == 0
    printed = capsys.readouterr().out
    assert "model   P" in printed and "tolerance 0.1 s" in printed

    report = json.loads((out / "metrics.json").read_text())
    assert report["tolerance_s"] == 0.1 and report["threshold"] == 0.5
    assert report["counts"]["n_windows"] == 4 and report["counts"]["n_noise_windows"] == 1
    p, s = report["sources"]["model"]["P"], report["sources"]["model"]["S"]
    assert (p["tp"], p["fp"], p["fn"]) == (2, 1, 1)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 1)
    assert p["precision"] == pytest.approx(2 / 3) and p["recall"] == pytest.approx(2 / 3)
    assert p["residual_mean_ms"] == pytest.approx(25.0)
    assert p["residual_mae_ms"] == pytest.approx(25.0)
    assert s["residual_mean_ms"] == pytest.approx(0.0)
    assert p["false_picks_per_hour"] == pytest.approx(120.0)
    assert s["false_picks_per_hour"] == 0.0
    assert set(report["sources"]) == {"model"} and "sweep" not in report

    rows = read_csv(out / "metrics.csv")
    assert set(rows) == {("model", "P"), ("model", "S")}
    assert rows["model", "P"]["tp"] == "2" and float(rows["model", "P"]["f1"]) == pytest.approx(
        2 / 3
    )
    assert float(rows["model", "P"]["false_picks_per_hour"]) == pytest.approx(120.0)
    assert rows["model", "S"]["threshold"] == "0.5"
    assert (out / "residuals.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "precision_recall.png").exists()
    assert not list(out.glob(".*part"))


def test_sweep_curve_monotonic_recall_and_best_threshold(setup, tmp_path):
    out = tmp_path / "sweep"
    args = [str(setup["windows"]), "--model", setup["model"], "--sweep", "-o", str(out), "-q"]
    assert main(["evaluate", *args]) == 0
    report = json.loads((out / "metrics.json").read_text())
    sweep = report["sweep"]
    assert sweep["thresholds"] == pytest.approx([0.05 * k for k in range(1, 20)])
    for phase in ("P", "S"):
        rows = sorted(
            (r for r in sweep["rows"] if r["phase"] == phase), key=lambda r: r["threshold"]
        )
        assert len(rows) == 19
        recall = [r["recall"] for r in rows]
        assert all(a >= b for a, b in zip(recall, recall[1:], strict=False))
        best_f1 = max(r["f1"] for r in rows)
        best = sweep["best"][phase]
        on_top = [r["threshold"] for r in rows if r["f1"] == best_f1]
        assert best["threshold"] in on_top and best["f1"] == pytest.approx(best_f1)
        assert best["plateau_low"] <= best["threshold"] <= best["plateau_high"]
        plateau = [t for t in on_top if best["plateau_low"] <= t <= best["plateau_high"]]
        assert len(plateau) == round((best["plateau_high"] - best["plateau_low"]) / 0.05) + 1
        # the sweep at the run's own threshold is the product path's result
        at_half = next(r for r in rows if r["threshold"] == 0.5)
        model = report["sources"]["model"][phase]
        assert (at_half["tp"], at_half["fp"], at_half["fn"]) == (
            model["tp"],
            model["fp"],
            model["fn"],
        )
    with open(out / "sweep.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 38
    assert (out / "precision_recall.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_on_known_probabilities():
    """Peaks 0.9 (true P), 0.36 (false P) and 0.62 (true S): exact curve and optimum."""
    prob = np.zeros((3000, 3), np.float32)
    prob[:, 0] = 1.0
    prob[1000, 1] = 0.9  # P, true
    prob[2000, 1] = 0.36  # P, false
    prob[1500, 2] = 0.62  # S, true
    sweep = ThresholdSweep(0.1)
    sweep.add(prob, {"P": [10.0], "S": [15.02]}, sampling_rate_hz=100.0, n_samples=3000)
    rows = {(r["phase"], r["threshold"]): r for r in sweep.rows()}
    assert (rows["P", 0.35]["tp"], rows["P", 0.35]["fp"]) == (1, 1)
    assert (rows["P", 0.4]["tp"], rows["P", 0.4]["fp"]) == (1, 0)
    assert rows["P", 0.95]["recall"] == 0.0 and rows["P", 0.9]["recall"] == 1.0
    assert rows["S", 0.6]["recall"] == 1.0 and rows["S", 0.65]["recall"] == 0.0
    best = sweep.best()
    # F1 1 for P from 0.40 to 0.90, for S from 0.05 to 0.60: the middles of these plateaus
    assert best["P"]["threshold"] == 0.65 and best["P"]["f1"] == 1.0
    assert best["S"]["threshold"] == 0.35
    assert len(SWEEP_THRESHOLDS) == 19 and SWEEP_THRESHOLDS[-1] == 0.95


def test_model_index_maps_to_input_samples_like_predict():
    # 40 Hz input: model sample 250 (2.5 s) → input sample 100 → 2.5 s
    assert model_index_to_seconds(np.array([250, 0, 10**6]), 40.0, 1000).tolist() == [
        2.5,
        0.0,
        999 / 40.0,
    ]


# ----------------------------------------------------------------------------- continuous


def test_continuous_stream_against_reference_csv(setup, tmp_path):
    out = tmp_path / "continuous"
    args = [str(setup["stream"]), "--model", setup["model"], "--reference", str(setup["reference"])]
    assert main(["evaluate", *args, "-o", str(out), "--sweep", "-q"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    p, s = report["sources"]["model"]["P"], report["sources"]["model"]["S"]
    assert (p["tp"], p["fp"], p["fn"]) == (2, 1, 1)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 0)
    assert s["residual_mean_ms"] == pytest.approx(50.0, abs=1e-3)
    # one false P in 2 stations × 120 s of data
    assert p["false_picks_per_hour"] == pytest.approx(1 / (2 * STREAM_S / 3600))
    counts = report["counts"]
    assert counts["n_station_spans"] == 2 and counts["continuous_hours"] == pytest.approx(
        240 / 3600
    )
    assert counts["n_reference_picks_used"] == 4 and counts["n_reference_picks_outside"] == 2
    at_half = next(
        r for r in report["sweep"]["rows"] if r["threshold"] == 0.5 and r["phase"] == "P"
    )
    assert (at_half["tp"], at_half["fp"], at_half["fn"]) == (2, 1, 1)


def test_continuous_stream_against_an_analysts_nordic_file(setup, tmp_path):
    """A SEISAN S-file names stations without a network and channels by two letters; its
    amplitude pick (IAML) is no phase pick. It scores as the reference CSV does."""
    from obspy.core.event import Catalog, Event, Origin, WaveformStreamID
    from obspy.core.event import Pick as EventPick

    def analyst(station, phase, seconds, channel="HZ"):
        waveform = WaveformStreamID(station_code=station, channel_code=channel)
        return EventPick(time=T0 + seconds, phase_hint=phase, waveform_id=waveform)

    picks = [
        analyst("AAA", "P", 20.0),
        analyst("AAA", "S", 30.05, "HE"),
        analyst("AAA", "P", 60.0),  # missed
        analyst("BBB", "P", 40.0),
        analyst("AAA", "IAML", 31.0),
    ]
    origin = Origin(time=T0 + 15, latitude=14.7, longitude=-61.1, depth=5000.0)
    sfile = tmp_path / "01-0000-15L.S202403"
    Catalog([Event(origins=[origin], picks=picks)]).write(str(sfile), format="NORDIC")
    out = tmp_path / "nordic"
    args = [str(setup["stream"]), "--model", setup["model"], "--reference", str(sfile)]
    assert main(["evaluate", *args, "-o", str(out), "-q"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    p, s = report["sources"]["model"]["P"], report["sources"]["model"]["S"]
    assert (p["tp"], p["fp"], p["fn"]) == (2, 1, 1)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 0)
    assert report["counts"]["n_reference_picks_used"] == 4


def test_evaluate_picks_matches_on_net_sta_loc_and_phase():
    reference = [
        pick("XX.AAA..HH", "P", T0 + 10),
        pick("XX.AAA.00.HH", "P", T0 + 10),  # another location: its own station
        pick("XX.AAA..HH", "S", T0 + 20),
    ]
    predicted = [
        pick("XX.AAA..EH", "P", T0 + 10.04),
        pick("XX.AAA..HH", "S", T0 + 10.0),  # right time, wrong phase
        pick("XX.AAA..HH", "S", T0 + 19.95),
    ]
    metrics = evaluate_picks(reference, predicted, 0.1, data_hours=0.5)
    p, s = metrics.summary()["P"], metrics.summary()["S"]
    assert (p["tp"], p["fp"], p["fn"]) == (1, 0, 1)
    assert p["residual_mean_ms"] == pytest.approx(40.0, abs=1e-3)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 0)
    assert s["false_picks_per_hour"] == pytest.approx(2.0)
    assert math.isnan(
        evaluate_picks(reference, predicted, 0.1).summary()["S"]["false_picks_per_hour"]
    )
    assert station_key("XX.AAA.--.HH") == station_key("XX.AAA..BH") == "XX.AAA."
    assert station_key("stem") == "stem"
    assert same_station(".AAA..HZ", "XX.AAA.00.HH")  # a Nordic pick: no network, no location
    assert not same_station(".AAA..HZ", "XX.AAB..HH")
    assert not same_station("YY.AAA..HH", "XX.AAA..HH")
    with pytest.raises(ValueError, match="without a time"):
        evaluate_picks([Pick("", "XX.AAA..HH", "P", "", 5, 1.0)], [], 0.1)


# ----------------------------------------------------------------------------- bad inputs


def test_bad_and_unreferenced_inputs_are_named_and_the_rest_is_scored(setup, tmp_path, caplog):
    out = tmp_path / "report"
    args = [str(setup["bad"]), str(setup["stream"]), str(setup["windows"]), "--model"]
    with caplog.at_level(logging.ERROR, logger="picker"):
        status = main(["evaluate", *args, setup["model"], "-o", str(out)])
    assert status == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("bad.npz" in m for m in errors)
    assert any("day.mseed: continuous data needs reference picks" in m for m in errors)
    assert any("2 input(s) failed" in m for m in errors)
    report = json.loads((out / "metrics.json").read_text())
    assert report["counts"]["n_windows"] == 4  # the good windows were still scored
    assert report["sources"]["model"]["P"]["tp"] == 2


def test_strict_and_usage_errors(setup, tmp_path):
    out = tmp_path / "report"
    base = ["evaluate", "--model", setup["model"], "-q"]
    assert main([*base, str(setup["bad"]), str(setup["windows"]), "--strict", "-o", str(out)]) == 1
    assert not out.exists()
    assert main([*base, str(setup["windows"]), "--threshold", "1.5"]) == 2
    assert main([*base, str(setup["windows"]), "--tolerance-s", "-1"]) == 2
    missing = tmp_path / "missing.csv"
    assert main([*base, str(setup["stream"]), "--reference", str(missing)]) == 1
