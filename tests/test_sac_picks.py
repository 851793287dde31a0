"""Analyst picks in SAC headers: event files labelled the way many observatories keep them.

``picker.io.stream.sac_header_picks`` reads the time markers ``a`` and ``t0``-``t9`` (labels in
``ka``, ``kt0``...); ``convert``, ``evaluate`` and training read one SAC file per component as
one labelled record. The model is the exact oracle of ``tests/oracle.py`` (P at Z spikes, S at
E spikes).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime
from obspy.core.util import AttribDict
from oracle import make_oracle, spikes

from picker.cli import main
from picker.io import read_records
from picker.io.stream import sac_header_picks
from picker.models.saving import save_model
from picker.training.dataset import load_records

T0 = UTCDateTime(2024, 3, 1, 12)
RATE = 100.0
P_AT, S_AT = 1500, 3500  # samples of the oracle's spikes


def trace(sac: dict | None = None, start=T0, n: int = 6000, channel: str = "HHZ") -> Trace:
    tr = Trace(np.zeros(n, np.float32), {"station": "ABC", "network": "XX", "channel": channel,
                                         "sampling_rate": RATE, "starttime": start})  # fmt: skip
    if sac is not None:
        tr.stats.sac = AttribDict(sac)
    return tr


def sac_event(folder, markers: dict[str, dict], n: int = 6000):
    """One SAC file per component of station XX.ABC with the oracle's spikes; ``markers``
    maps a component (E, N, Z) to its extra SAC header values. Returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    data = spikes(n, [P_AT], [S_AT])
    paths = []
    for column, code in enumerate("ENZ"):
        tr = trace({"b": 0.0, **markers.get(code, {})}, channel=f"HH{code}", n=n)
        tr.data = data[:, column].copy()
        path = folder / f"XX.ABC..HH{code}.SAC"
        Stream([tr]).write(str(path), format="SAC")
        paths.append(path)
    return paths


def test_labelled_and_unlabelled_markers():
    picks = sac_header_picks(
        [trace({"b": 0.0, "a": 15.0, "ka": "IPU0", "t1": 40.0, "kt1": "ES", "t2": 3.0, "kt2": "F"})]
    )
    assert picks == {"P": T0 + 15.0, "S": T0 + 40.0}  # "F" (end of signal) is no pick
    # unlabelled: a is P and t0 is S; t1 without a label names no phase
    picks = sac_header_picks([trace({"b": 0.0, "a": 12.5, "t0": 20.25, "t1": 1.0})])
    assert picks == {"P": T0 + 12.5, "S": T0 + 20.25}
    assert sac_header_picks([trace({"b": 0.0, "t3": 9.0, "kt3": "Pg"})]) == {"P": T0 + 9.0}
    assert sac_header_picks([trace({"b": 0.0, "a": -12345.0})]) == {}
    assert sac_header_picks([trace()]) == {}  # not a SAC trace


def test_marker_times_count_from_the_reference_time_and_the_earliest_wins():
    # b = 10: the first sample is 10 s after the reference time, so a = 25 is 15 s into the data
    shifted = trace({"b": 10.0, "a": 25.0, "ka": "P"})
    later = trace({"b": 0.0, "a": 16.0, "ka": "P", "t0": 30.0, "kt0": "S"}, channel="HHE")
    assert sac_header_picks([shifted, later]) == {"P": T0 + 15.0, "S": T0 + 30.0}


def test_a_station_s_sac_files_read_as_one_labelled_record(tmp_path, tiny_config):
    # P marked on the vertical, S on the east component, as analysts often do
    sac_event(tmp_path / "ev", {"Z": {"a": P_AT / RATE, "ka": "P"}, "E": {"t0": S_AT / RATE}})
    records, tfrecords = load_records([str(tmp_path / "ev")], tiny_config())
    assert tfrecords == [] and len(records) == 1
    record = records[0]
    assert (record.p_arrival_sample, record.s_arrival_sample) == (P_AT, S_AT)
    assert record.channels == ("HHE", "HHN", "HHZ")  # the three files in one record
    # a marker outside the data is no pick
    single = sac_event(tmp_path / "out", {"Z": {"a": 200.0}})[2]
    assert next(read_records(single)).p_arrival_sample == -1


def test_convert_keeps_the_header_picks(tmp_path):
    sac_event(tmp_path / "ev", {"Z": {"a": P_AT / RATE}, "N": {"t0": S_AT / RATE}})
    assert main(["convert", str(tmp_path / "ev"), "--to", "npz", "-o", str(tmp_path / "npz")]) == 0
    (written,) = (tmp_path / "npz").glob("*.npz")
    record = next(read_records(written))
    assert (record.p_arrival_sample, record.s_arrival_sample) == (P_AT, S_AT)
    assert record.channels == ("HHE", "HHN", "HHZ")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(save_model(make_oracle(), tmp_path_factory.mktemp("oracle") / "oracle.keras"))


def test_evaluate_scores_sac_files_against_their_header_picks(model, tmp_path):
    # the reference S is 0.3 s late: outside the 0.1 s tolerance, a miss and a false pick
    sac_event(tmp_path / "ev", {"Z": {"a": P_AT / RATE}, "E": {"t0": S_AT / RATE + 0.3}})
    report_dir = tmp_path / "report"
    assert main(["evaluate", str(tmp_path / "ev"), "--model", model, "-o", str(report_dir)]) == 0
    metrics = json.loads((report_dir / "metrics.json").read_text())["sources"]["model"]
    assert (metrics["P"]["tp"], metrics["P"]["fp"], metrics["P"]["fn"]) == (1, 0, 0)
    assert (metrics["S"]["tp"], metrics["S"]["fp"], metrics["S"]["fn"]) == (0, 1, 1)


def test_evaluate_without_header_picks_still_asks_for_reference_picks(model, tmp_path, caplog):
    sac_event(tmp_path / "plain", {})
    assert main(["evaluate", str(tmp_path / "plain"), "--model", model]) == 1
    assert any("continuous data needs reference picks" in m for m in caplog.messages)


def test_plot_draws_the_header_picks_as_reference_picks(tmp_path, monkeypatch):
    from picker.io.groups import FileGroup
    from picker.review import files as plot_files

    paths = sac_event(tmp_path / "ev", {"Z": {"a": 15.0}, "E": {"t0": 35.5}})
    views = []
    monkeypatch.setattr(plot_files, "plot_view", lambda view, path, **_: views.append(view) or path)
    plot_files.plot_file(FileGroup(tuple(paths)), tmp_path / "figs", predict=False)
    assert [view.reference_picks for view in views] == [[("P", 15.0), ("S", 35.5)]]
    # a span that starts later: the marker times still count from the file's own start
    views.clear()
    plot_files.plot_file(paths[2], tmp_path / "figs", predict=False, start=T0 + 10, duration_s=20)
    assert views[0].reference_picks == [("P", 5.0)]


def test_convert_to_sac_and_back_keeps_data_and_picks(tmp_path):
    from picker.cli.convert import OUTPUT_FORMATS
    from picker.io import FORMATS, Record, write_records

    assert OUTPUT_FORMATS == FORMATS  # the CLI's list is written out to keep --help fast
    rng = np.random.default_rng(3)
    three = Record(rng.standard_normal((4000, 3)).astype(np.float32), 100.0, "XX.ABC..HH",
                   start_time=T0, p_arrival_sample=1234, s_arrival_sample=2345,
                   channels=("HHE", "HHN", "HHZ"), name="three")  # fmt: skip
    vertical = Record(np.zeros((3000, 3), np.float32), 50.0, "XX.VRT..EH", start_time=T0 + 600,
                      p_arrival_sample=700, name="vertical")  # fmt: skip
    vertical.data[:, 2] = rng.standard_normal(3000)
    write_records([three, vertical], tmp_path / "npz", "npz")
    assert main(["convert", str(tmp_path / "npz"), "--to", "sac", "-o", str(tmp_path / "sac")]) == 0
    names = sorted(p.name for p in (tmp_path / "sac").iterdir())
    assert names == ["three.HHE.SAC", "three.HHN.SAC", "three.HHZ.SAC", "vertical.EHZ.SAC"]
    assert (
        main(["convert", str(tmp_path / "sac"), "--to", "npz", "-o", str(tmp_path / "back")]) == 0
    )
    back = {r.station_id: r for f in (tmp_path / "back").glob("*.npz") for r in read_records(f)}
    for original in (three, vertical):
        record = back[original.station_id]
        np.testing.assert_array_equal(record.data, original.data)
        assert record.sampling_rate_hz == original.sampling_rate_hz
        assert record.start_time == original.start_time
        assert (record.p_arrival_sample, record.s_arrival_sample) == (
            original.p_arrival_sample,
            original.s_arrival_sample,
        )


def test_a_failed_sac_write_leaves_no_part_of_the_record(tmp_path, monkeypatch):
    from picker.io import Record
    from picker.io.stream import write_sac_record

    record = Record(np.ones((500, 3), np.float32), 100.0, "XX.ABC..HH", start_time=T0,
                    p_arrival_sample=100, channels=("HHE", "HHN", "HHZ"), name="r")  # fmt: skip
    calls = []
    real_write = Trace.write

    def failing_write(self, filename, **kwargs):
        calls.append(filename)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_write(self, filename, **kwargs)

    monkeypatch.setattr(Trace, "write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        write_sac_record(record, tmp_path, "r")
    assert list(tmp_path.iterdir()) == []  # neither the first component nor temporary files
