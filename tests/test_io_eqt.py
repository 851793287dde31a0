"""EQTransformer's own HDF5 layout (``earthquake/local/<trace>``, ``non_earthquake/noise/<trace>``):
read like STEAD, by predict, evaluate and convert; samples from other files refused."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from obspy import UTCDateTime
from oracle import make_oracle, spikes

from picker.cli import main
from picker.io import InputError, read_records
from picker.io.hdf5 import read_hdf5
from picker.models.saving import save_model
from picker.picks.formats import read_picks

REAL_DATA = Path(
    os.environ.get(
        "PICKER_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)
START = "2006-07-23 15:59:00.960000"


def eqt_attributes(name: str, p, s, start: str = START) -> dict:
    """The attributes EQTransformer's files give each trace (a subset; numbers as float32)."""
    return {
        "trace_name": name,
        "network_code": "TA",
        "receiver_code": "109C",
        "receiver_type": "BH",
        "p_arrival_sample": np.float32(p) if p is not None else "",
        "s_arrival_sample": np.float32(s) if s is not None else "",
        "p_status": "manual",
        "trace_start_time": start,
        "snr_db": np.array([56.8, 55.4, 47.4]),
        "trace_category": "earthquake_local" if p is not None else "noise",
    }


def write_eqt_file(path: Path) -> Path:
    """Two earthquakes (P at 700/600, S at 1894/1763; E, N, Z spikes) and one noise trace."""
    with h5py.File(path, "w") as handle:
        local = handle.create_group("earthquake/local")
        noise = handle.create_group("non_earthquake/noise")
        for name, p, s, start in (
            ("109C.TA_20060723155859_EV", 700, 1894, START),
            ("109C.TA_20161103155652_EV", 600, 1763, "2016-11-03 15:56:53.610000"),
        ):
            dataset = local.create_dataset(name, data=spikes(6000, [p], [s]), compression="gzip")
            dataset.attrs.update(eqt_attributes(name, p, s, start))
        dataset = noise.create_dataset("109C.TA_200607231630_NO", data=np.zeros((6000, 3), "f4"))
        dataset.attrs.update(eqt_attributes("109C.TA_200607231630_NO", None, None))
    return path


def test_eqt_layout_is_read_like_stead(tmp_path):
    first, second, noise = read_hdf5(write_eqt_file(tmp_path / "waveforms.hdf5"))
    assert [r.name for r in (first, second, noise)] == [
        "109C.TA_20060723155859_EV",
        "109C.TA_20161103155652_EV",
        "109C.TA_200607231630_NO",
    ]
    assert (first.p_arrival_sample, first.s_arrival_sample) == (700, 1894)
    assert (second.p_arrival_sample, second.s_arrival_sample) == (600, 1763)
    assert (noise.p_arrival_sample, noise.s_arrival_sample) == (-1, -1)
    assert first.station_id == "TA.109C..BH" and first.channels == ("BHE", "BHN", "BHZ")
    assert first.sampling_rate_hz == 100.0
    assert first.start_time == UTCDateTime(2006, 7, 23, 15, 59, 0, 960000)
    np.testing.assert_array_equal(first.data, spikes(6000, [700], [1894]))  # E, N, Z kept
    # a folder holding the file as waveforms.hdf5 (no metadata.csv) reads the same
    assert [r.name for r in read_records(tmp_path)] == [first.name, second.name, noise.name]


def test_predict_evaluate_and_convert_on_an_eqt_file(tmp_path, capsys):
    path = write_eqt_file(tmp_path / "waveforms.hdf5")
    model = str(save_model(make_oracle(), tmp_path / "oracle.keras"))
    out = tmp_path / "picks.csv"
    assert main(["predict", str(path), "--model", model, "-o", str(out), "-q"]) == 0
    picks = sorted((p.time[:4], p.phase, p.index) for p in read_picks(out))
    assert picks == [("2006", "P", 700), ("2006", "S", 1894), ("2016", "P", 600),
                     ("2016", "S", 1763)]  # fmt: skip
    capsys.readouterr()
    assert main(["evaluate", str(path), "--model", model, "-q"]) == 0
    table = capsys.readouterr().out
    assert "model   P       1.000   1.000  1.000     2     0     0" in table
    assert main(["convert", str(path), "-o", str(tmp_path / "npz"), "--to", "npz", "-q"]) == 0
    files = sorted((tmp_path / "npz").glob("*.npz"))
    converted = [record for file in files for record in read_records(file)]
    assert sorted((r.name, r.p_arrival_sample, r.s_arrival_sample) for r in converted) == [
        ("109C.TA_20060723155859_EV", 700, 1894),
        ("109C.TA_200607231630_NO", -1, -1),
        ("109C.TA_20161103155652_EV", 600, 1763),
    ]


def test_eqt_trace_with_samples_in_another_file_is_refused(tmp_path):
    secret = np.arange(900, dtype=np.float32).reshape(300, 3)
    raw = tmp_path / "secret.raw"
    secret.tofile(raw)
    path = tmp_path / "eqt.hdf5"
    with h5py.File(path, "w") as handle:
        local = handle.create_group("earthquake/local")
        local.create_dataset("ev1", (300, 3), "<f4", external=[(str(raw), 0, secret.nbytes)])
    with pytest.raises(InputError, match="other files") as err:
        list(read_hdf5(path))
    assert str(path) in str(err.value) and "'ev1'" in str(err.value)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as handle:
        handle.create_group("local")
    linked = tmp_path / "linked.hdf5"
    with h5py.File(linked, "w") as handle:
        handle["earthquake"] = h5py.ExternalLink(str(other), "/")
    with pytest.raises(InputError, match="links to another file"):
        list(read_hdf5(linked))


def test_a_file_of_neither_layout_names_them(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as handle:
        handle.create_group("waveforms")
    with pytest.raises(InputError, match="nor EQTransformer layout") as err:
        list(read_hdf5(path))
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_the_published_eqtransformer_sample_file():
    """EQTransformer's sample file (50 earthquakes at TA.109C), when ../shared has it."""
    path = REAL_DATA / "ta109c" / "waveforms.hdf5"
    if not path.exists():
        pytest.skip(f"{path} not present")
    records = list(read_hdf5(path))
    assert len(records) == 50 and {r.station_id for r in records} == {"TA.109C..BH"}
    assert all(r.data.shape == (6000, 3) and r.p_arrival_sample > 0 for r in records)
    assert all(r.start_time is not None for r in records)
