"""One file per component (SDS day files, SAC): a station's files are read as one input.

``picker.io.groups.group_components`` groups the single-component files of one station
whose time spans overlap by more than half; ``predict``, ``plot`` and ``evaluate`` read each
group as one stream. The model is the exact oracle of ``tests/oracle.py`` (P at Z spikes, S at
E spikes).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime
from oracle import make_oracle, spikes

from picker.cli import main
from picker.io.groups import FileGroup, group_components
from picker.models.saving import save_model
from picker.picks.formats import read_picks, write_picks
from picker.picks.pick import Pick, format_time
from picker.prediction.files import list_units

T0 = UTCDateTime(2024, 3, 1)
RATE = 100.0
P_AT, S_AT = 1500, 3500  # samples of the spikes in each span


def component_files(folder: Path, station: str, start, fmt: str = "SAC", n: int = 6000):
    """One file per component (E, N, Z) of ``station``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    data = spikes(n, [P_AT], [S_AT])
    paths = []
    for column, code in enumerate("ENZ"):
        header = {"network": "XX", "station": station, "channel": f"HH{code}"}
        trace = Trace(data[:, column].copy(), {**header, "sampling_rate": RATE, "starttime": start})
        suffix = "SAC" if fmt == "SAC" else "mseed"
        path = folder / f"XX.{station}..HH{code}.{int(start.timestamp)}.{suffix}"
        kwargs = {} if fmt == "SAC" else {"encoding": "FLOAT32"}
        Stream([trace]).write(str(path), format=fmt, **kwargs)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(save_model(make_oracle(), tmp_path_factory.mktemp("oracle") / "oracle.keras"))


def test_one_station_s_sac_files_are_one_input_with_one_set_of_picks(model, tmp_path):
    paths = component_files(tmp_path / "sac", "ABC", T0)
    assert (
        main(["predict", str(tmp_path / "sac"), "-o", str(tmp_path / "p.csv"), "--model", model])
        == 0
    )
    picks = read_picks(tmp_path / "p.csv")
    source = "+".join(sorted(p.name for p in paths))
    assert [(p.source, p.station_id, p.phase, p.index) for p in picks] == [
        (source, "XX.ABC..HH", "P", P_AT),
        (source, "XX.ABC..HH", "S", S_AT),
    ]
    assert picks[0].time == format_time(T0 + P_AT / RATE)


def test_day_files_group_per_day_and_station_not_across_days(tmp_path):
    day1 = component_files(tmp_path, "ABC", T0, fmt="MSEED")
    # the next span starts 1 s before the first ends: the overlap of consecutive day files
    day2 = component_files(tmp_path, "ABC", T0 + 59.0, fmt="MSEED")
    other = component_files(tmp_path / "other", "XYZ", T0, fmt="MSEED")
    three = tmp_path / "three.mseed"
    Stream(
        [Trace(np.zeros(6000, np.float32), {"station": "ABC", "channel": f"BH{c}", "starttime": T0,
                                            "sampling_rate": RATE}) for c in "ENZ"]
    ).write(str(three), format="MSEED")  # fmt: skip
    window = tmp_path / "window.npz"
    np.savez(window, data=np.zeros((3001, 3), np.float32))
    groups = group_components(sorted([*day1, *day2, *other, three, window]))
    assert FileGroup(tuple(sorted(day1))) in groups and FileGroup(tuple(sorted(day2))) in groups
    assert FileGroup(tuple(sorted(other))) in groups
    assert three in groups and window in groups and len(groups) == 5
    # a single file is never read
    assert group_components([day1[0]]) == [day1[0]]
    assert list_units([FileGroup(tuple(day1))]) == [(FileGroup(tuple(day1)), "XX.ABC..HH")]


def test_shards_of_grouped_files_add_up_to_one_run(model, tmp_path):
    for k, station in enumerate(("AAA", "BBB", "CCC")):
        component_files(tmp_path / "sds", station, T0 + 3600 * k, fmt="MSEED")
    whole, parts = tmp_path / "whole.csv", []
    assert main(["predict", str(tmp_path / "sds"), "-o", str(whole), "--model", model]) == 0
    for i in range(2):
        part = tmp_path / f"part{i}.csv"
        args = ["predict", str(tmp_path / "sds"), "-o", str(part), "--model", model]
        assert main([*args, "--shard", f"{i}/2"]) == 0
        parts.extend(read_picks(part))
    expected = sorted((p.source, p.station_id, p.phase, p.index) for p in read_picks(whole))
    assert len(expected) == 6 and {p[0].count("+") for p in expected} == {2}
    assert sorted((p.source, p.station_id, p.phase, p.index) for p in parts) == expected


def test_shard_units_come_from_the_grouping_s_header_read(tmp_path, monkeypatch):
    import obspy

    files = component_files(tmp_path, "AAA", T0, fmt="MSEED")
    three = tmp_path / "three.mseed"
    Stream([Trace(np.ones(100, np.float32), {"station": "BBB", "channel": f"HH{c}",
                                             "sampling_rate": RATE}) for c in "ENZ"]).write(
        str(three), format="MSEED")  # fmt: skip
    reads = []
    real_read = obspy.read
    monkeypatch.setattr(obspy, "read", lambda *a, **k: reads.append(a[0]) or real_read(*a, **k))
    station_ids: dict = {}
    paths = group_components([*files, three], station_ids)
    units = list_units(paths, station_ids)
    assert units == [(FileGroup(tuple(files)), "XX.AAA..HH"), (three, ".BBB..HH")]
    assert sorted(reads) == sorted(str(f) for f in [*files, three])  # each header read once
    reads.clear()
    assert list_units(paths) == units  # without the grouping's ids: read again, same units
    assert len(reads) == 4


def test_resume_takes_a_finished_group_from_the_journal(model, tmp_path, caplog):
    component_files(tmp_path / "sac", "ABC", T0)
    out = tmp_path / "p.csv"
    # a missing input fails the run, so its journal stays for --resume
    args = ["predict", str(tmp_path / "sac"), str(tmp_path / "missing.mseed"), "-o", str(out)]
    args += ["--model", model, "--resume"]
    assert main(args) == 1
    first = read_picks(out)
    assert len(first) == 2 and (tmp_path / "p.csv.progress.jsonl").exists()
    with caplog.at_level(logging.INFO, logger="picker"):
        assert main(args) == 1
    assert read_picks(out) == first
    assert any("1 file(s) taken from the journal" in r.getMessage() for r in caplog.records)


def test_plot_and_evaluate_read_the_group_as_one_station(model, tmp_path, capsys):
    component_files(tmp_path / "sac", "ABC", T0)
    assert (
        main(["plot", str(tmp_path / "sac"), "-o", str(tmp_path / "figs"), "--model", model]) == 0
    )
    (figure,) = (tmp_path / "figs").glob("*.png")
    assert "ABC" in figure.name
    reference = [
        Pick("ref", "XX.ABC..HH", phase, format_time(T0 + index / RATE), index, 1.0)
        for phase, index in (("P", P_AT), ("S", S_AT))
    ]
    write_picks(reference, tmp_path / "ref.csv")
    args = ["evaluate", str(tmp_path / "sac"), "--reference", str(tmp_path / "ref.csv")]
    assert main([*args, "--model", model, "-o", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    for phase in ("P", "S"):
        assert report["sources"]["model"][phase]["tp"] == 1
        assert report["sources"]["model"][phase]["fp"] == 0
