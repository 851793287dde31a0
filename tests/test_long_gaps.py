"""A long gap costs no memory outside prediction either: ``picker convert`` and ``picker plot
--no-predict`` split a station at gaps longer than SPLIT_GAP_S, as prediction does."""

from __future__ import annotations

import tracemalloc

import numpy as np
from obspy import Stream, Trace, UTCDateTime
from oracle import spikes

from picker.cli import main
from picker.io import read_records
from picker.io.stream import SPLIT_GAP_S, stream_to_records

T0 = UTCDateTime(2024, 3, 1)
RATE = 100.0
GAP_S = 6 * 3600.0  # 6 hours of nothing: 2.16 million samples per component if zero-filled
SEGMENT = 3000  # 30 s


def two_segments(with_sac_picks: bool = False) -> Stream:
    """Station XX.GAP..HH: 30 s, a 6 h gap, 30 s; a P spike at sample 1000 of each segment."""
    traces = []
    for k, start in enumerate((T0, T0 + SEGMENT / RATE + GAP_S)):
        data = spikes(SEGMENT, [1000], [2000], value=1.0 + k)
        for column, component in enumerate("ENZ"):
            header = {"network": "XX", "station": "GAP", "channel": f"HH{component}",
                      "sampling_rate": RATE, "starttime": start}  # fmt: skip
            trace = Trace(data[:, column].copy(), header=header)
            if with_sac_picks and k == 1:
                trace.stats.sac = {"b": 0.0, "a": 10.0, "ka": "P"}  # P 10 s into segment 2
            traces.append(trace)
    return Stream(traces)


def peak_bytes(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_records_are_split_at_long_gaps_and_keep_their_picks():
    assert GAP_S > SPLIT_GAP_S
    first, second = stream_to_records(two_segments(with_sac_picks=True), name="day")
    assert first.name == "day:XX.GAP..HH" and first.start_time == T0
    assert second.name == "day:XX.GAP..HH.20240301T060030"
    assert second.start_time == T0 + 30 + GAP_S
    assert first.n_samples == second.n_samples == SEGMENT
    np.testing.assert_array_equal(second.data, spikes(SEGMENT, [1000], [2000], value=2.0))
    assert (first.p_arrival_sample, second.p_arrival_sample) == (-1, 1000)
    # a gap shorter than SPLIT_GAP_S is still zero-filled within one record
    stream = two_segments()
    for trace in stream[3:]:
        trace.stats.starttime = T0 + 30 + 60
    (whole,) = stream_to_records(stream)
    assert whole.n_samples == 2 * SEGMENT + 6000 and not whole.data[3000:9000].any()


def test_convert_memory_follows_the_data_not_the_gap(tmp_path):
    day = tmp_path / "day.mseed"
    two_segments().write(str(day), format="MSEED", encoding="FLOAT32")
    out = tmp_path / "npz"
    peak = peak_bytes(lambda: main(["convert", str(day), "-o", str(out), "--to", "npz", "-q"]))
    assert peak < 10e6, f"convert of 60 s of data peaked at {peak / 1e6:.0f} MB"
    files = sorted(out.glob("*.npz"))
    assert len(files) == 2
    records = [r for path in files for r in read_records(path)]
    assert sorted(r.n_samples for r in records) == [SEGMENT, SEGMENT]


def test_plot_without_a_model_draws_each_segment(tmp_path):
    day = tmp_path / "day.mseed"
    two_segments().write(str(day), format="MSEED", encoding="FLOAT32")
    out = tmp_path / "figures"
    peak = peak_bytes(lambda: main(["plot", str(day), "-o", str(out), "--no-predict", "-q"]))
    assert peak < 20e6, f"plot of 60 s of data peaked at {peak / 1e6:.0f} MB"
    assert sorted(p.name for p in out.iterdir()) == [
        "day__XX.GAP..HH.20240301T060030.png",
        "day__XX.GAP..HH.png",
    ]
