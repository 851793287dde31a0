"""``picker merge``: shard outputs of ``picker predict --shard I/N`` back into one picks file.

The archive is picked by the exact "oracle" model of ``test_cli_predict.py`` (picks land on
known spike samples), so the shards, their merge and one full run can be compared row by row.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from obspy import Stream, UTCDateTime
from test_cli_predict import make_oracle, station_traces

from picker.cli import main
from picker.io import Record, write_records
from picker.models.saving import save_model
from picker.picks.formats import read_picks, write_picks
from picker.picks.merge import merge_files, merge_picks
from picker.picks.pick import Pick, format_time

T0 = UTCDateTime(2024, 3, 1)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """3 miniSEED files × 2 stations and one NPZ window; the oracle model."""
    root = tmp_path_factory.mktemp("merge")
    data = root / "data"
    data.mkdir()
    for f in range(3):
        traces = []
        for k, station in enumerate(("AAA", "BBB")):
            traces += station_traces(station, T0 + f * 600, [1000 + 300 * f + 50 * k, 9000], [5000])
        Stream(traces).write(str(data / f"day{f}.mseed"), format="MSEED", encoding="FLOAT32")
    window = np.zeros((3000, 3), np.float32)
    window[1200, 2] = 1.0
    write_records([Record(window, 100.0, "XX.WIN..HH", T0, name="win")], data, "npz")
    model = save_model(make_oracle(), root / "oracle.keras")
    return {"root": root, "data": data, "model": str(model)}


def predict(archive, out, *args) -> int:
    base = ["predict", str(archive["data"]), "--model", archive["model"], "-q", "-o", str(out)]
    return main(base + list(args))


def rounded(picks) -> list[tuple]:
    return [
        (p.source, p.station_id, p.phase, p.time, p.index, round(p.probability, 4)) for p in picks
    ]


def test_merged_shards_equal_one_full_run(archive, tmp_path):
    full = tmp_path / "full.csv"
    assert predict(archive, full) == 0
    shards = [tmp_path / name for name in ("s0.csv", "s1.json", "s2.xml")]  # any picks format
    for i, shard in enumerate(shards):
        assert predict(archive, shard, "--shard", f"{i}/3") == 0
    assert all(read_picks(s) for s in shards)
    merged = tmp_path / "merged.csv"
    assert main(["merge", *map(str, shards), "-o", str(merged), "-q"]) == 0
    assert merged.read_text() == full.read_text()
    # other output formats, and the library call
    assert (
        main(["merge", *map(str, shards), "-o", str(tmp_path / "m.txt"), "--format", "json"]) == 0
    )
    assert rounded(read_picks(tmp_path / "m.txt", "json")) == rounded(read_picks(full))
    result = merge_files(shards, tmp_path / "m.xml")
    assert (result.n_picks, result.n_duplicates, result.n_files) == (len(read_picks(full)), 0, 3)


def test_overlapping_files_give_one_pick_per_arrival(tmp_path):
    """Two hour files overlapping by 60 s, one per shard: the arrival in the overlap is kept once."""
    data = tmp_path / "data"
    data.mkdir()
    # file A: samples [0, 12000) from T0; file B starts 60 s before A ends, at T0 + 60 s
    Stream(station_traces("AAA", T0, [3000, 11000], [])).write(
        str(data / "a.mseed"), format="MSEED", encoding="FLOAT32"
    )
    Stream(station_traces("AAA", T0 + 60, [5000, 9000], [])).write(
        str(data / "b.mseed"), format="MSEED", encoding="FLOAT32"
    )
    model = str(save_model(make_oracle(), tmp_path / "oracle.keras"))
    shards = [tmp_path / f"s{i}.csv" for i in range(2)]
    for i, shard in enumerate(shards):
        args = ["predict", str(data), "--model", model, "-q", "-o", str(shard), "--shard", f"{i}/2"]
        assert main(args) == 0
    # A's sample 11000 (T0 + 110 s) is B's sample 5000: one arrival, picked by both shards
    assert [p.time for p in read_picks(shards[0])][1] == [p.time for p in read_picks(shards[1])][0]
    merged = tmp_path / "merged.csv"
    assert main(["merge", *map(str, shards), "-o", str(merged), "-q"]) == 0
    picks = read_picks(merged)
    expected = [("a.mseed", 3000), ("a.mseed", 11000), ("b.mseed", 9000)]
    assert [(p.source, p.index) for p in picks] == expected
    assert [p.time for p in picks] == [format_time(T0 + s) for s in (30, 110, 150)]


def pick(station="XX.AAA..HH", phase="P", seconds=0.0, probability=0.9, source="a", index=0):
    time = format_time(T0 + seconds) if seconds is not None else ""
    return Pick(source, station, phase, time, index, probability)


def test_duplicates_keep_the_more_probable_pick():
    a = [pick(seconds=10.0, probability=0.7), pick(seconds=20.0), pick(phase="S", seconds=10.0)]
    b = [
        pick(seconds=10.04, probability=0.8, source="b"),  # duplicate of a[0], more probable
        pick(seconds=20.2, source="b"),  # 0.2 s away: another pick
        pick(station="XX.BBB..HH", seconds=10.0, source="b"),  # other station
    ]
    merged, dropped = merge_picks([a, b], tolerance_s=0.05)
    assert dropped == 1
    assert sorted((p.station_id[3:6], p.phase, p.source, p.time[17:23]) for p in merged) == [
        ("AAA", "P", "a", "20.000"),
        ("AAA", "P", "b", "10.040"),
        ("AAA", "P", "b", "20.200"),
        ("AAA", "S", "a", "10.000"),
        ("BBB", "P", "b", "10.000"),
    ]
    assert len(merge_picks([a, b], tolerance_s=0.5)[0]) == 4  # 20.0 and 20.2 now one pick
    assert len(merge_picks([a, b], tolerance_s=0.0)[0]) == 6
    # a chain: each within tolerance of the next but the best one only of its neighbours
    chain = [pick(seconds=s, probability=q) for s, q in ((0.0, 0.6), (0.04, 0.9), (0.08, 0.5))]
    assert [p.probability for p in merge_picks([chain], 0.05)[0]] == [0.9]
    # equal probabilities: the earlier pick, then the first source, wins
    tie = [
        pick(seconds=1.02, source="x"),
        pick(seconds=1.0, source="z"),
        pick(seconds=1.0, source="y"),
    ]
    assert [p.source for p in merge_picks([tie], 0.05)[0]] == ["y"]
    # picks without time: only the same source and sample are duplicates
    untimed = [
        pick(seconds=None, index=5),
        pick(seconds=None, index=5),
        pick(seconds=None, index=6),
    ]
    assert len(merge_picks([untimed], 0.05)[0]) == 2
    with pytest.raises(ValueError, match="tolerance_s"):
        merge_picks([a], -1)


def test_bad_shard_is_named_and_nothing_is_written(archive, tmp_path, caplog):
    good = tmp_path / "good.csv"
    write_picks([pick(seconds=1.0)], good)
    bad = tmp_path / "bad.csv"
    bad.write_text("this,is\nnot,picks\n")
    bad_time = tmp_path / "bad_time.csv"
    write_picks([Pick("a", "XX.AAA..HH", "P", "yesterday", 0, 0.9)], bad_time)
    missing = tmp_path / "missing.json"
    out = tmp_path / "merged.csv"
    with caplog.at_level(logging.ERROR, logger="picker"):
        code = main(["merge", str(good), str(bad), str(bad_time), str(missing), "-o", str(out)])
    assert code == 1
    assert not out.exists()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    for path in (bad, bad_time, missing):
        assert any(str(path) in e for e in errors), path
    assert not any(str(good) in e for e in errors)
    assert main(["merge", str(good), "-o", str(out), "--tolerance-s", "-1"]) == 2
    assert main(["merge", str(good), "-o", str(out)]) == 0 and read_picks(out) == read_picks(good)
