"""Long miniSEED files are predicted one day at a time, with the picks of a whole-file run."""

from __future__ import annotations

import numpy as np
import obspy
import pytest
from obspy import Stream, Trace, UTCDateTime
from oracle import make_oracle, spikes

from picker.prediction import long_files
from picker.prediction import predict as pr

T0 = UTCDateTime(2024, 3, 1)
RATE = 100.0
PIECE_S = 600.0  # the tests' "day": 10 minutes
N_SAMPLES = int(50 * 60 * RATE)
EDGE = int(PIECE_S * RATE)
P_SAMPLES = [1000, EDGE - 70, EDGE + 3, 2 * EDGE + 1500, 4 * EDGE - 1, 4 * EDGE + 2000]
S_SAMPLES = [1400, EDGE + 300, 3 * EDGE, 4 * EDGE + 2600, N_SAMPLES - 500]


@pytest.fixture
def long_file(tmp_path):
    """50 minutes of spikes (some right at piece edges) in one float32 miniSEED file; the data
    start 0.5 s after midnight, so the last piece holds the final 0.5 s."""
    data = spikes(N_SAMPLES, P_SAMPLES, S_SAMPLES)
    traces = []
    for column, component in enumerate("ENZ"):
        header = {"network": "XX", "station": "LONG", "channel": f"HH{component}"}
        trace = Trace(data[:, column].copy(), header)
        trace.stats.sampling_rate = RATE
        trace.stats.starttime = T0 + 0.5  # not on a piece edge
        traces.append(trace)
    path = tmp_path / "long.mseed"
    Stream(traces).write(str(path), format="MSEED", encoding="FLOAT32", reclen=512)
    return path


def _pieces(monkeypatch, on: bool) -> None:
    monkeypatch.setattr(long_files, "LONG_FILE_BYTES", 0 if on else 1 << 60)
    monkeypatch.setattr(long_files, "LONG_FILE_SPAN_S", 1.5 * PIECE_S)
    monkeypatch.setattr(long_files, "DAY_S", PIECE_S)


def test_pieces_give_the_whole_file_picks_and_probabilities(long_file, monkeypatch):
    oracle = make_oracle()
    reads = []
    original_read = long_files.read_obspy

    def spy(path, **kwargs):
        reads.append(kwargs)
        return original_read(path, **kwargs)

    monkeypatch.setattr(long_files, "read_obspy", spy)
    _pieces(monkeypatch, on=True)
    pieces = list(pr.iter_file(long_file, oracle))
    _pieces(monkeypatch, on=False)
    (whole,) = list(pr.iter_file(long_file, oracle))

    assert [r.name for r in pieces] == [
        f"XX.LONG..HH.20240301T00{minute:02d}00" for minute in (0, 10, 20, 30, 40, 50)
    ]
    assert reads[0] == {"headonly": True}
    assert all("starttime" in kw and "endtime" in kw for kw in reads[1:]) and len(reads) == 7
    assert pieces[0].start_time == whole.start_time
    assert all(len(r.data) <= PIECE_S * RATE for r in pieces)

    def key(picks):
        return [(p.phase, p.index, p.time) for p in picks]

    assert key(p for r in pieces for p in r.picks) == key(whole.picks)
    expected = sorted(
        [("P", i) for i in P_SAMPLES] + [("S", i) for i in S_SAMPLES], key=lambda x: x[1]
    )
    assert [(p.phase, p.index) for p in whole.picks] == expected
    joined = np.concatenate([r.probabilities for r in pieces])
    assert joined.shape == whole.probabilities.shape
    np.testing.assert_allclose(joined, whole.probabilities, atol=1e-5)
    start = 0
    for r in pieces:  # the same samples, each piece demeaned on its own
        difference = r.data - whole.data[start : start + len(r.data)]
        np.testing.assert_allclose(difference, difference[:1].repeat(len(r.data), 0), atol=1e-6)
        start += len(r.data)
    assert start == len(whole.data)


@pytest.mark.parametrize("table", [True, False])
def test_one_file_per_channel_is_read_day_by_day_too(long_file, tmp_path, monkeypatch, table):
    from picker.io.groups import FileGroup

    oracle = make_oracle()
    whole = Stream()
    members = []
    for trace in obspy.read(str(long_file)):
        if trace.stats.channel == "HHN":  # the N file ends 20 minutes early
            trace.trim(trace.stats.starttime, trace.stats.starttime + 30 * 60)
        whole += trace
        path = tmp_path / f"XX.LONG..{trace.stats.channel}.mseed"
        Stream([trace]).write(str(path), format="MSEED", encoding="FLOAT32", reclen=512)
        members.append(path)
    if not table:
        monkeypatch.setattr(long_files, "record_table", lambda path: None)
    _pieces(monkeypatch, on=True)
    group = FileGroup(tuple(sorted(members)))
    pieces = list(pr.iter_file(group, oracle))
    (at_once,) = pr.iter_stream(whole, oracle)
    assert len(pieces) == 6 and all(len(r.data) <= PIECE_S * RATE for r in pieces)
    assert {r.source for r in pieces} == {group.name}
    assert [(p.phase, p.index) for r in pieces for p in r.picks] == [
        (p.phase, p.index) for p in at_once.picks
    ]


def test_short_or_small_files_are_read_at_once(long_file, monkeypatch):
    monkeypatch.setattr(long_files, "LONG_FILE_BYTES", 0)
    assert long_files.plan_days(long_file, 30.0) is None  # 50 min < 1.5 days
    monkeypatch.setattr(long_files, "LONG_FILE_BYTES", long_file.stat().st_size + 1)
    monkeypatch.setattr(long_files, "LONG_FILE_SPAN_S", 60.0)
    assert long_files.plan_days(long_file, 30.0) is None  # too small to bother


def test_record_table_matches_obspy_headers(long_file):
    from obspy.io.mseed.util import get_record_information

    offsets, starts, ends, length = long_files.record_table(long_file)
    assert length == 512 and len(offsets) == long_file.stat().st_size // 512
    with open(long_file, "rb") as f:
        for i in range(0, len(offsets), 97):
            info = get_record_information(f, int(offsets[i]))
            assert starts[i] == pytest.approx(info["starttime"].timestamp, abs=1e-4)
            assert ends[i] == pytest.approx(info["endtime"].timestamp, abs=1e-4)


def test_non_uniform_files_fall_back_to_obspy_selection(long_file, monkeypatch):
    oracle = make_oracle()
    _pieces(monkeypatch, on=True)
    with_table = list(pr.iter_file(long_file, oracle))
    monkeypatch.setattr(long_files, "record_table", lambda path: None)
    without = list(pr.iter_file(long_file, oracle))
    assert [(p.phase, p.index) for r in with_table for p in r.picks] == [
        (p.phase, p.index) for r in without for p in r.picks
    ]
    (long_file.parent / "odd.mseed").write_bytes(long_file.read_bytes()[:-100])
    assert long_files.record_table(long_file.parent / "odd.mseed") is None
