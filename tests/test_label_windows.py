"""``picker convert --picks``: labelled training windows cut from continuous data at a
catalogue's picks (:mod:`picker.training.label_windows`), with the windows that would teach a wrong
lesson left out and counted."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime

from picker.cli import main
from picker.io import Record, read_records, write_records
from picker.picks.formats import picks_to_csv
from picker.picks.pick import Pick, format_time
from picker.training.label_windows import labelled_windows

T0 = UTCDateTime(2024, 3, 1)
RATE = 100.0
DURATION_S = 900.0
GAP_S = (700.0, 760.0)
STATION = "XX.ABC..HH"
# (phase, seconds after T0) of the reference picks on STATION
PICKS = [
    ("P", 60.0), ("S", 65.0),  # A: a window with P and S
    ("P", 200.0), ("S", 204.0),  # B: C's P lies in its window -> left out (second P)
    ("P", 230.0),  # C: a window with P only (B's S is before the window)
    ("S", 505.0),  # an S whose P nobody picked ...
    ("P", 510.0), ("S", 516.0),  # E: ... lies before E's P in its window -> left out
    ("P", 720.0),  # F: inside the gap -> left out
    ("P", 895.0),  # G: the window runs past the end -> left out
]  # fmt: skip


def reference() -> list[Pick]:
    picks = [Pick("", STATION, ph, format_time(T0 + t), -1, 1.0) for ph, t in PICKS]
    return [*picks, Pick("", "XX.OTHER..HH", "P", format_time(T0 + 100.0), -1, 1.0)]


def continuous(tmp_path):
    """A 900 s three-component noise record of STATION with zeros in GAP_S, as miniSEED."""
    rng = np.random.default_rng(0)
    n = int(DURATION_S * RATE)
    data = rng.normal(size=(n, 3)).astype(np.float32)
    data[int(GAP_S[0] * RATE) : int(GAP_S[1] * RATE)] = 0.0
    header = {"network": "XX", "station": "ABC", "sampling_rate": RATE, "starttime": T0}
    traces = [
        Trace(data[:, i].copy(), {**header, "channel": f"HH{c}"}) for i, c in enumerate("ENZ")
    ]
    path = tmp_path / "day.mseed"
    Stream(traces).write(str(path), format="MSEED", encoding="FLOAT32")
    return path, data


def test_convert_cuts_one_window_per_good_p_pick(tmp_path, caplog):
    path, data = continuous(tmp_path)
    (tmp_path / "reference.csv").write_text(picks_to_csv(reference()))
    out = tmp_path / "windows"
    args = ["convert", str(path), "--reference", str(tmp_path / "reference.csv"), "--to", "npz"]
    with caplog.at_level(logging.INFO, logger="picker"):
        assert main([*args, "-o", str(out)]) == 0  # 60 s windows from 10 s before P
    records = sorted(
        (r for f in sorted(out.glob("*.npz")) for r in read_records(f)), key=lambda r: r.start_time
    )
    assert [(r.p_arrival_sample, r.s_arrival_sample, r.n_samples) for r in records] == [
        (1000, 1500, 6000),  # A: P at 60 s, S at 65 s, window from 50 s
        (1000, -1, 6000),  # C
    ]
    assert [r.start_time for r in records] == [T0 + 50.0, T0 + 220.0]
    assert records[0].station_id == STATION
    np.testing.assert_array_equal(records[0].data, data[5000:11000])
    messages = "\n".join(caplog.messages)
    for reason in (
        "runs past the data's start or end",
        "holds a second P pick (another event)",
        "holds an S pick before its P (an earlier event)",
        "is mostly zeros (a gap)",
    ):
        assert f"left out 1 window(s) that {reason}" in messages


def test_windows_match_network_less_picks_on_the_station_code():
    data = np.ones((6000, 3), np.float32)
    record = Record(data, RATE, STATION, T0)
    nordic = [
        Pick("", ".ABC..HZ", "P", format_time(T0 + 20.0), -1, 1.0),
        Pick("", ".ABC..HE", "S", format_time(T0 + 24.5), -1, 1.0),
        Pick("", ".ABC..HZ", "P", format_time(T0 + 20.2), -1, 1.0),  # the same P twice
        Pick("", ".ABD..HZ", "P", format_time(T0 + 30.0), -1, 1.0),  # another station
    ]
    skipped = Counter()
    windows = labelled_windows(record, nordic, window_s=20.0, before_p_s=2.0, skipped=skipped)
    assert [(w.p_arrival_sample, w.s_arrival_sample, w.name) for w in windows] == [
        (200, 650, "XX.ABC..HH_20240301T000020.00")
    ]
    assert not skipped
    with pytest.raises(ValueError, match="before_p_s < window_s"):
        labelled_windows(record, nordic, window_s=2.0, before_p_s=2.0)


def test_picks_on_window_files_and_a_bad_window_length_are_named(tmp_path, caplog):
    write_records([Record(np.ones((3000, 3), np.float32), RATE, STATION, T0)], tmp_path, "npz")
    (tmp_path / "reference.csv").write_text(picks_to_csv(reference()))
    base = ["convert", str(tmp_path / "*.npz"), "--reference", str(tmp_path / "reference.csv")]
    out = ["--to", "npz", "-o", str(tmp_path / "out")]
    assert main([*base, *out]) == 1
    assert any("--reference cuts continuous data, not npz windows" in m for m in caplog.messages)
    assert main([*base, *out, "--window-s", "5", "--before-p-s", "10"]) == 2
    assert any("need 0 <= --before-p-s < --window-s" in m for m in caplog.messages)
