"""SeisBench and STEAD HDF5: hand-built files read correctly, writers round-trip exactly."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
from obspy import UTCDateTime

from picker.io import InputError, Record, read_records, write_records
from picker.io.hdf5 import parse_location, read_hdf5
from picker.io.hdf5_writers import write_seisbench, write_stead

RNG = np.random.default_rng(7)


def _zne(n_samples: int) -> np.ndarray:
    """Random ``(3, n_samples)`` float32 trace, rows Z, N, E."""
    return (RNG.standard_normal((3, n_samples)) * 100).astype(np.float32)


def _as_enz(zne: np.ndarray) -> np.ndarray:
    return zne[::-1].T


def _assert_same(a: Record, b: Record) -> None:
    np.testing.assert_array_equal(a.data, b.data)
    assert (a.sampling_rate_hz, a.station_id, a.channels, a.name) == (
        b.sampling_rate_hz,
        b.station_id,
        b.channels,
        b.name,
    )
    assert (a.p_arrival_sample, a.s_arrival_sample) == (b.p_arrival_sample, b.s_arrival_sample)
    assert (a.start_time is None and b.start_time is None) or a.start_time.ns == b.start_time.ns


def _records() -> list[Record]:
    """Mixed lengths: two of 400 samples (a bucket), one of 250 (its own dataset), ..."""
    return [
        Record(data=_as_enz(_zne(400)), sampling_rate_hz=100.0, station_id="XX.AAA.00.HH",
               start_time=UTCDateTime(ns=1_600_000_000_123_456_789), p_arrival_sample=100,
               s_arrival_sample=180, channels=("HHE", "HHN", "HHZ"), name="ev1"),
        Record(data=_as_enz(_zne(400)), sampling_rate_hz=100.0, station_id="XX.BBB..EH",
               p_arrival_sample=50, channels=("", "", "EHZ"), name="ev2"),
        Record(data=_as_enz(_zne(250)), sampling_rate_hz=1000 / 3, station_id="file_stem",
               channels=("HH2", "HH1", "HHZ"), name="odd/name$1"),
        Record(data=_as_enz(_zne(400)), sampling_rate_hz=20.0, station_id="XX.CCC..HN",
               s_arrival_sample=399, name="ev1"),
    ]  # fmt: skip


# ------------------------------------------------------------------------------ SeisBench


def _seisbench(folder, dimension_order="CW", as_attributes=False, metadata=None, traces=None):
    """A SeisBench dataset as SeisBench's WaveformDataWriter lays it out."""
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "waveforms.hdf5", "w") as handle:
        data = handle.create_group("data")
        for key, array in traces.items():
            data.create_dataset(key, data=array)
        fmt = handle.create_group("data_format")
        for key, value in {"dimension_order": dimension_order, "component_order": "ZNE"}.items():
            if as_attributes:
                fmt.attrs[key] = value
            else:
                fmt.create_dataset(key, data=value)
    pd.DataFrame(metadata).to_csv(folder / "metadata.csv", index=False)
    return folder


def _bucketed(folder, dimension_order="CW", as_attributes=False):
    first, second, single = _zne(500), _zne(300), _zne(200)
    bucket = np.zeros((2, 3, 500), np.float32)  # padded to the longest trace
    bucket[0], bucket[1, :, :300] = first, second
    stored_single = single
    if dimension_order == "WC":
        bucket, stored_single = bucket.transpose(0, 2, 1), single.T
        names = ["bucket0$0,:500,:3", "bucket0$1,:300,:3", "single_trace"]
    else:
        names = ["bucket0$0,:3,:500", "bucket0$1,:3,:300", "single_trace"]
    metadata = {
        "trace_name": names,
        "trace_sampling_rate_hz": [100.0, 100.0, 50.0],
        "trace_p_arrival_sample": [120.0, np.nan, 10.4],
        "trace_s_arrival_sample": [200.0, np.nan, np.nan],
        "station_network_code": ["XX", "YY", "XX"],
        "station_code": ["ABC", "DEF", "0123"],
        "station_location_code": ["", "00", ""],
        "trace_channel": ["HH", "EH", "HN"],
        "trace_start_time": ["2020-01-01T00:00:00.000000Z", "", "2020-01-01T00:00:01.25Z"],
        "split": ["train", "dev", "test"],
    }
    _seisbench(folder, dimension_order, as_attributes, metadata,
               {"bucket0": bucket, "single_trace": stored_single})  # fmt: skip
    return [first, second, single]


@pytest.mark.parametrize(("dimension_order", "as_attributes"), [("CW", False), ("WC", True)])
def test_read_seisbench_bucketed_and_single(tmp_path, dimension_order, as_attributes):
    traces = _bucketed(tmp_path / "ds", dimension_order, as_attributes)
    records = list(read_hdf5(tmp_path / "ds"))
    assert len(records) == 3
    for record, zne in zip(records, traces, strict=True):
        np.testing.assert_array_equal(record.data, _as_enz(zne))
    first, second, single = records
    assert first.station_id == "XX.ABC..HH" and first.channels == ("HHE", "HHN", "HHZ")
    assert (first.p_arrival_sample, first.s_arrival_sample) == (120, 200)
    assert first.start_time == UTCDateTime(2020, 1, 1)
    assert first.name == first.extra["trace_name"] and first.name.startswith("bucket0$0,")
    assert second.station_id == "YY.DEF.00.EH" and second.start_time is None
    assert (second.p_arrival_sample, second.s_arrival_sample) == (-1, -1)
    assert single.sampling_rate_hz == 50.0 and single.p_arrival_sample == 10
    assert single.station_id == "XX.0123..HN" and single.name == "single_trace"
    assert [r.extra["split"] for r in records] == ["train", "dev", "test"]


def test_seisbench_path_forms_agree(tmp_path):
    _bucketed(tmp_path / "ds")
    folder = list(read_hdf5(tmp_path / "ds"))
    for path in (tmp_path / "ds" / "metadata.csv", tmp_path / "ds" / "waveforms.hdf5"):
        for a, b in zip(folder, read_records(path), strict=True):
            _assert_same(a, b)


def test_seisbench_fallbacks(tmp_path):
    """No pick or rate columns: -1 picks, rate from data_format; P1/Pg used when p is absent."""
    zne = _zne(100)
    folder = _seisbench(tmp_path / "ds", metadata={"trace_name": ["t0"]}, traces={"t0": zne})
    with h5py.File(folder / "waveforms.hdf5", "a") as handle:
        handle["data_format"].create_dataset("sampling_rate", data=40.0)
    (record,) = read_hdf5(folder)
    assert record.sampling_rate_hz == 40.0 and record.p_arrival_sample == -1
    assert record.station_id == "t0" and record.channels == ("", "", "")
    metadata = {"trace_name": ["t0"], "trace_dt_s": [0.5], "trace_Pg_arrival_sample": [30],
                "trace_P1_arrival_sample": [20], "trace_Sg_arrival_sample": [-4]}  # fmt: skip
    pd.DataFrame(metadata).to_csv(folder / "metadata.csv", index=False)
    (record,) = read_hdf5(folder)
    assert record.sampling_rate_hz == 2.0
    assert (record.p_arrival_sample, record.s_arrival_sample) == (20, -1)


def test_seisbench_component_order_column_and_chunks(tmp_path):
    folder = tmp_path / "chunked"
    zen = _zne(60)[[0, 2, 1]]  # rows Z, E, N
    _seisbench(folder, metadata={"trace_name": ["a"], "trace_component_order": ["ZEN"],
               "trace_sampling_rate_hz": [100]}, traces={"a": zen})  # fmt: skip
    (folder / "waveforms.hdf5").rename(folder / "waveformsA.hdf5")
    (folder / "metadata.csv").rename(folder / "metadataA.csv")
    (record,) = read_hdf5(folder)
    np.testing.assert_array_equal(record.data, zen[[1, 2, 0]].T)


def test_seisbench_ocean_bottom_records_drop_the_hydrophone(tmp_path):
    folder = tmp_path / "obs"
    z12h = np.vstack([_zne(60), np.full((1, 60), 7.0)])  # rows Z, 1, 2, hydrophone
    _seisbench(folder, metadata={"trace_name": ["a"], "trace_component_order": ["Z12H"],
               "trace_sampling_rate_hz": [100], "trace_channel": ["BH"]}, traces={"a": z12h})  # fmt: skip
    (record,) = read_hdf5(folder)
    np.testing.assert_array_equal(record.data, z12h[[2, 1, 0]].T)  # E = 2, N = 1, Z
    assert record.channels == ("BH2", "BH1", "BHZ")
    four = tmp_path / "four"
    _seisbench(four, metadata={"trace_name": ["a"], "trace_component_order": ["ZNE12"],
               "trace_sampling_rate_hz": [100]}, traces={"a": np.vstack([z12h, z12h[:1]])})  # fmt: skip
    assert "trace has 5 components ('ZNE12')" in _error(four / "waveforms.hdf5")


def test_parse_location():
    assert parse_location("12,:3,:3001") == (12, slice(None, 3), slice(None, 3001))
    assert parse_location("5, 1:7 ,:") == (5, slice(1, 7), slice(None))
    assert parse_location("") == ()
    assert parse_location("0,::2") == (0, slice(None, None, 2))


def test_seisbench_round_trip(tmp_path):
    records = _records()
    paths = write_seisbench(records, tmp_path / "out", bucket_size=2)
    assert [p.name for p in paths] == ["metadata.csv", "waveforms.hdf5"]
    back = list(read_hdf5(tmp_path / "out"))
    assert len(back) == len(records)
    for a, b in zip(records, back, strict=True):
        _assert_same(a, b)
    with h5py.File(tmp_path / "out" / "waveforms.hdf5", "r") as handle:
        assert handle["data_format/dimension_order"][()] == b"CW"
        assert handle["data_format/component_order"][()] == b"ZNE"
        assert handle["data/bucket0"].shape == (2, 3, 400)
        assert handle["data/bucket0"].dtype == np.float32
    table = pd.read_csv(tmp_path / "out" / "metadata.csv")
    assert table["trace_name"].tolist()[:2] == ["bucket0$0,:3,:400", "bucket0$1,:3,:400"]
    assert "split" not in table.columns
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "metadata.csv",
        "waveforms.hdf5",
    ]


def test_seisbench_writer_via_dispatcher_and_empty(tmp_path):
    records = _records()[:2]
    write_records(records, tmp_path / "sb", "hdf5")
    for a, b in zip(records, read_records(tmp_path / "sb"), strict=True):
        _assert_same(a, b)
    write_seisbench([], tmp_path / "empty")
    assert list(read_hdf5(tmp_path / "empty")) == []
    assert not [p for p in (tmp_path / "sb").iterdir() if p.name.endswith(".part")]


# ------------------------------------------------------------------------------ STEAD


def test_read_stead_hand_built(tmp_path):
    path = tmp_path / "merge.hdf5"
    event, noise = _as_enz(_zne(600)), _as_enz(_zne(600))
    with h5py.File(path, "w") as handle:
        data = handle.create_group("data")
        ds = data.create_dataset("ABC.NC_20151021055500_EV", data=event)
        ds.attrs.update({"p_arrival_sample": 100.0, "s_arrival_sample": 250.0,
                         "trace_start_time": "2015-10-21 05:55:00.00", "network_code": "NC",
                         "receiver_code": "ABC", "receiver_type": "HH",
                         "trace_name": "ABC.NC_20151021055500_EV",
                         "trace_category": "earthquake_local"})  # fmt: skip
        ds = data.create_dataset("ABC.NC_201510210600_NO", data=noise)
        ds.attrs.update({"p_arrival_sample": "", "s_arrival_sample": np.nan,
                         "network_code": "NC", "receiver_code": "ABC", "receiver_type": "HH",
                         "trace_category": "noise"})  # fmt: skip
    event_record, noise_record = read_hdf5(path)
    np.testing.assert_array_equal(event_record.data, event)
    np.testing.assert_array_equal(noise_record.data, noise)
    assert event_record.sampling_rate_hz == 100.0
    assert (event_record.p_arrival_sample, event_record.s_arrival_sample) == (100, 250)
    assert (noise_record.p_arrival_sample, noise_record.s_arrival_sample) == (-1, -1)
    assert event_record.start_time == UTCDateTime(2015, 10, 21, 5, 55)
    assert event_record.station_id == "NC.ABC..HH"
    assert event_record.channels == ("HHE", "HHN", "HHZ")
    assert noise_record.name == "ABC.NC_201510210600_NO" and noise_record.start_time is None


def test_stead_round_trip(tmp_path):
    records = _records()
    assert write_records(records, tmp_path / "s.hdf5", "stead") == [tmp_path / "s.hdf5"]
    back = {record.name: record for record in read_hdf5(tmp_path / "s.hdf5")}
    assert len(back) == 3  # two records share the name "ev1"
    by_key = {r.extra["trace_name"]: r for r in read_hdf5(tmp_path / "s.hdf5")}
    assert sorted(by_key) == ["ev1", "ev1_1", "ev2", "odd_name_1"]
    _assert_same(records[0], by_key["ev1"])
    _assert_same(records[3], by_key["ev1_1"])
    _assert_same(records[1], back["ev2"])
    _assert_same(records[2], back["odd/name$1"])
    with h5py.File(tmp_path / "s.hdf5", "r") as handle:
        assert handle["data/ev2"].shape == (400, 3) and handle["data/ev2"].dtype == np.float32
        assert np.isnan(handle["data/ev2"].attrs["s_arrival_sample"])


# ------------------------------------------------------------------------------ bad files


def _error(path) -> str:
    with pytest.raises(InputError) as info:
        list(read_hdf5(path))
    message = str(info.value)
    assert path.name in message and "\n" not in message
    return message


def test_garbage_and_truncated_files(tmp_path):
    garbage = tmp_path / "garbage.hdf5"
    garbage.write_bytes(b"not hdf5 " * 100)
    assert "not a readable HDF5" in _error(garbage)
    truncated = tmp_path / "cut.hdf5"
    write_stead(_records(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:3000])
    _error(truncated)


def test_missing_dataset_and_groups(tmp_path):
    folder = _seisbench(tmp_path / "ds", metadata={"trace_name": ["bucket9$0,:3,:10"],
                        "trace_sampling_rate_hz": [100]}, traces={"x": _zne(10)})  # fmt: skip
    message = _error(folder / "waveforms.hdf5")
    assert "bucket9$0,:3,:10" in message and "data/bucket9 is missing" in message
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as handle:
        handle.create_group("other")
    assert "no 'data' group" in _error(empty)
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    assert "no metadata.csv + waveforms.hdf5" in _error(lonely)


def test_bad_metadata(tmp_path):
    folder = _seisbench(tmp_path / "ds", metadata={"name": ["a"]}, traces={"a": _zne(10)})
    assert "no 'trace_name' column" in _error(folder / "metadata.csv")


def test_no_tensorflow_import():
    code = "import sys, picker.io.hdf5, picker.io.npz; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
