"""Hostile input files: nothing in a file is ever executed, read past its end or forever.

A "waveform" file that is really a Python pickle must never reach an unpickler (ObsPy's format
detection tries its PICKLE format, which unpickles, on any file naming ``obspy.core.stream``);
devices and FIFOs are refused instead of read forever.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime
from oracle import make_oracle

from picker.cli import main
from picker.io import InputError, Record, read_records, write_records
from picker.io.obspy_files import read_headers, read_obspy
from picker.models.saving import save_model
from picker.picks.formats import read_picks

T0 = UTCDateTime(2024, 3, 1)

#: Names a pickled "waveform" hides under: every suffix picker hands to ObsPy (anything that is
#: not NPZ / TFRecord / HDF5), no suffix, compressed, and the window formats.
DISGUISES = (
    "day001",
    "day001.mseed",
    "day001.msd",
    "day001.miniseed",
    "day001.sac",
    "day001.SAC",
    "day001.gse2",
    "day001.seed",
    "day001.dat",
    "day001.HHZ",
    "day001.mseed.gz",
    "day001.mseed.bz2",
    "day001.npz",
    "day001.h5",
)


def pickle_payload(marker) -> bytes:
    """A protocol-0 pickle that creates the folder ``marker`` and returns ObsPy's example
    stream, so that ObsPy's PICKLE check takes it for a pickled Stream."""
    return (
        b"cobspy.core.stream\nread\n(tR"  # obspy.core.stream.read() -> the example Stream
        b"cos\nmakedirs\n(S'" + str(marker).encode() + b"'\ntR0."  # os.makedirs(marker); pop
    )


def disguised(folder, name: str, marker) -> str:
    payload = pickle_payload(marker)
    if name.endswith(".gz"):
        payload = gzip.compress(payload)
    elif name.endswith(".bz2"):
        payload = bz2.compress(payload)
    path = folder / name
    path.write_bytes(payload)
    return str(path)


def assert_one_line_naming(message: str, path) -> None:
    assert "\n" not in message
    assert str(path) in message


@pytest.mark.parametrize("name", DISGUISES)
def test_pickle_disguised_as_waveform_is_never_unpickled(tmp_path, name):
    marker = tmp_path / "EXECUTED"
    path = disguised(tmp_path, name, marker)
    with pytest.raises(InputError) as err:
        list(read_records(path))
    assert not marker.exists()
    assert_one_line_naming(str(err.value), path)
    if "." not in name or name.rsplit(".", 1)[1] not in ("npz", "h5"):
        assert "pickle" in str(err.value)
        with pytest.raises(InputError):
            read_headers(path)  # the header read of unit listing and component grouping
        assert not marker.exists()


def test_pickle_in_memory_and_explicit_pickle_format_are_refused(tmp_path):
    marker = tmp_path / "EXECUTED"
    data = pickle_payload(marker)
    with pytest.raises(InputError, match=r"^mem\.mseed: a Python pickle"):
        read_obspy(io.BytesIO(data), name="mem.mseed")
    with pytest.raises(InputError, match="never read"):
        read_obspy(disguised(tmp_path, "x.pkl", marker), format="PICKLE")
    assert not marker.exists()


def test_format_detection_still_finds_real_formats(tmp_path):
    from picker.io.obspy_files import waveform_format

    trace = Trace(np.arange(200, dtype=np.int32), header={"sampling_rate": 100.0})
    trace.stats.update({"network": "XX", "station": "AAA", "channel": "HHZ", "starttime": T0})
    for fmt in ("MSEED", "SAC", "GSE2"):
        path = tmp_path / f"a[1]-{fmt}"  # glob characters: read as the file, not a pattern
        Stream([trace]).write(str(path), format=fmt)
        assert waveform_format(str(path)) == fmt
        (read,) = read_obspy(path)
        np.testing.assert_allclose(read.data, trace.data)
    packed = tmp_path / "day.mseed.gz"
    packed.write_bytes(gzip.compress((tmp_path / "a[1]-MSEED").read_bytes()))
    (read,) = read_obspy(packed)
    assert read.stats._format == "MSEED" and read.stats.starttime == T0
    with pytest.raises(InputError, match="unknown format"):
        read_obspy(io.BytesIO(b"plain text, no format"), name="notes")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(save_model(make_oracle(), tmp_path_factory.mktemp("model") / "oracle.keras"))


@pytest.mark.parametrize("command", ["predict", "plot", "convert", "evaluate"])
def test_cli_never_unpickles_an_input(tmp_path, model, command, caplog):
    marker = tmp_path / "EXECUTED"
    data = tmp_path / "data"
    data.mkdir()
    paths = [disguised(data, name, marker) for name in DISGUISES]
    out = tmp_path / "out"
    args = {
        "predict": ["-o", str(tmp_path / "picks.csv"), "--model", model],
        "plot": ["-o", str(out), "--model", model],
        "convert": ["-o", str(out), "--to", "npz"],
        "evaluate": ["--model", model],
    }[command]
    assert main([command, str(data), *args]) == 1
    assert not marker.exists()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    for path in paths:
        assert any(path in message and "\n" not in message for message in errors), path


def test_pickled_reference_picks_are_not_unpickled(tmp_path):
    """ObsPy's event formats hold no pickle reader: a pickle given as reference picks fails."""
    marker = tmp_path / "EXECUTED"
    path = disguised(tmp_path, "catalogue", marker)
    with pytest.raises(InputError, match="catalogue"):
        read_picks(path)
    assert not marker.exists()


def run_with_timeout(function, timeout_s: float = 10.0):
    """``function()``'s result or exception; fails (instead of hanging) after ``timeout_s``."""
    box: dict = {}

    def target():
        try:
            box["result"] = function()
        except BaseException as err:  # noqa: BLE001 - handed to the test
            box["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"still reading after {timeout_s} s"
    if "error" in box:
        raise box["error"]
    return box.get("result")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("name", ["pipe.mseed", "pipe.npz"])
def test_fifo_and_device_are_refused(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    try:
        with pytest.raises(InputError, match="not a regular file") as err:
            run_with_timeout(lambda: list(read_records(fifo)))
        assert_one_line_naming(str(err.value), fifo)
        with pytest.raises(InputError, match="not a regular file"):
            run_with_timeout(lambda: read_obspy(fifo))
        if os.path.exists("/dev/zero"):
            with pytest.raises(InputError, match="/dev/zero: not a regular file"):
                run_with_timeout(lambda: list(read_records("/dev/zero")))
    finally:  # a reader stuck on the FIFO gets its end of file
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        os.close(fd)


# ----------------------------------------------------------------- names from data stay inside


def files_outside(root, out, inputs) -> list:
    """Files under ``root`` that are neither inside ``out`` nor among ``inputs``."""
    return sorted(
        str(p)
        for p in root.rglob("*")
        if p.is_file() and out not in p.parents and p not in inputs and p.suffix != ".keras"
    )


def hostile_record(channels=("", "", ""), station_id="XX.AAA..HH") -> Record:
    data = np.zeros((300, 3), np.float32)
    data[:] = [1.0, 2.0, 3.0]
    return Record(data, 100.0, station_id, T0, channels=channels, name="win")


HOSTILE_WINDOWS = {
    "npz_channels": hostile_record(channels=("../../../TRAV_E", "/../../TRAV_N", "HHZ")),
    "npz_station_id": hostile_record(station_id="XX.AAA../../../TRAV"),
}


@pytest.mark.parametrize("case", HOSTILE_WINDOWS)
@pytest.mark.parametrize("stored", ["npz", "stead", "hdf5"])
def test_convert_to_sac_never_writes_outside_the_output_folder(tmp_path, case, stored):
    inputs = tmp_path / "in"
    suffix = {"npz": "npz", "stead": "h5", "hdf5": "hdf5"}[stored]
    written = write_records([HOSTILE_WINDOWS[case]], inputs / f"w.{suffix}", stored)
    source = inputs / "w.hdf5" if stored == "hdf5" else written[0]  # SeisBench: the folder
    out = tmp_path / "deep" / "er" / "out"
    assert main(["convert", str(source), "-o", str(out), "--to", "sac", "-q"]) == 0
    assert files_outside(tmp_path, out, set(inputs.rglob("*"))) == []
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 3 and all(name.endswith(".SAC") and "/" not in name for name in names)


def test_sac_channel_code_cannot_leave_its_folder(tmp_path):
    trace = Trace(np.ones(300, np.float32), header={"sampling_rate": 100.0, "starttime": T0})
    trace.stats.update({"network": "XX", "station": "AAA", "channel": "/../../Z"})
    inputs = tmp_path / "in"
    inputs.mkdir()
    Stream([trace]).write(str(inputs / "ev.sac"), format="SAC")
    out = tmp_path / "a" / "b" / "out"
    assert main(["convert", str(inputs / "ev.sac"), "-o", str(out), "--to", "sac", "-q"]) == 0
    assert files_outside(tmp_path, out, {inputs / "ev.sac"}) == []
    (written,) = out.iterdir()
    assert written.name.endswith("_.._.._Z.SAC")


def test_one_sanitiser_and_one_inside_check():
    from picker.io.base import path_in_folder, safe_file_name
    from picker.review.figures import figure_name

    assert safe_file_name("../../etc/passwd", "x") == "_.._etc_passwd"
    assert safe_file_name("..", "fallback") == "fallback"
    assert safe_file_name("é" * 150, "x") == "é" * 100  # 200 UTF-8 bytes
    assert figure_name("/..", "/x", suffix="pdf") == "_..___x.pdf"
    assert path_in_folder("out", "a.SAC") == Path("out/a.SAC")
    for bad in ("../a.SAC", "/tmp/a", "a/../../b", "..", ""):
        with pytest.raises(InputError, match="not a plain file name"):
            path_in_folder("out", bad)


# ------------------------------------------------------------ HDF5 samples from another file


def secret_file(tmp_path, shape=(300, 3)) -> tuple:
    """A raw float32 file outside the HDF5 file (the "/etc/passwd" of the attack)."""
    secret = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    path = tmp_path / "secret.raw"
    secret.tofile(path)
    return path, secret


def stead_file(tmp_path, make_dataset) -> str:
    """A STEAD-layout file whose one trace ``data/ev1`` is made by ``make_dataset(group)``."""
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "stead.h5"
    with h5py.File(path, "w") as handle:
        dataset = make_dataset(handle.create_group("data"))
        if dataset is not None:
            dataset.attrs.update({"sampling_rate": 100.0, "receiver_code": "AAA"})
    return str(path)


def external_storage(tmp_path):
    secret, values = secret_file(tmp_path)
    size = values.nbytes
    return lambda g: g.create_dataset("ev1", (300, 3), "<f4", external=[(str(secret), 0, size)])


def virtual_dataset(tmp_path):
    import h5py

    secret, values = secret_file(tmp_path)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as handle:
        handle["x"] = values
    layout = h5py.VirtualLayout(shape=values.shape, dtype="<f4")
    layout[:] = h5py.VirtualSource(str(other), "x", shape=values.shape)
    return lambda g: g.create_virtual_dataset("ev1", layout)


def external_link(tmp_path):
    import h5py

    secret, values = secret_file(tmp_path)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as handle:
        handle["x"] = values

    def make(group):
        group["ev1"] = h5py.ExternalLink(str(other), "x")

    return make


@pytest.mark.parametrize("kind", [external_storage, virtual_dataset, external_link])
def test_hdf5_samples_stored_in_another_file_are_refused(tmp_path, kind):
    path = stead_file(tmp_path, kind(tmp_path))
    with pytest.raises(InputError, match="another file|other files") as err:
        list(read_records(path))
    assert_one_line_naming(str(err.value), path)
    assert "'ev1'" in str(err.value)
    out = tmp_path / "out"
    assert main(["convert", path, "-o", str(out), "--to", "npz", "-q"]) == 1
    assert not out.exists() or not any(out.iterdir())


def test_seisbench_block_with_external_storage_is_refused(tmp_path):
    import h5py

    folder = tmp_path / "sb"
    write_records([hostile_record()], folder, "hdf5")
    with h5py.File(folder / "waveforms.hdf5", "r+") as handle:
        (name,) = list(handle["data"])
        shape, dtype = handle["data"][name].shape, handle["data"][name].dtype
        secret = tmp_path / "secret.raw"
        np.ones(shape, dtype).tofile(secret)
        del handle["data"][name]
        handle["data"].create_dataset(
            name, shape, dtype, external=[(str(secret), 0, secret.stat().st_size)]
        )
    with pytest.raises(InputError, match="other files") as err:
        list(read_records(folder))
    assert_one_line_naming(str(err.value), folder / "waveforms.hdf5")


def test_hdf5_virtual_dataset_within_the_file_is_read(tmp_path):
    import h5py

    values = np.arange(900, dtype=np.float32).reshape(300, 3)

    def make(group):
        group["real"] = values
        layout = h5py.VirtualLayout(shape=values.shape, dtype="<f4")
        layout[:] = h5py.VirtualSource(".", "data/real", shape=values.shape)
        group.create_virtual_dataset("ev1", layout)
        group["real"].attrs.update({"sampling_rate": 100.0, "receiver_code": "AAA"})
        return group["ev1"]

    records = list(read_records(stead_file(tmp_path, make)))
    assert [r.name for r in records] == ["ev1", "real"]
    np.testing.assert_array_equal(records[0].data, records[1].data)


# ------------------------------------------------------------ one sampling-rate rule for all


def window_file(folder, name: str, rate_hz: float, p_sample: int = 150) -> Path:
    data = np.zeros((3000, 3), np.float32)
    data[p_sample, 2] = 1.0
    record = Record(data, rate_hz, "XX.AAA..HH", T0, name=name)
    (path,) = write_records([record], folder, "npz")
    return path


@pytest.mark.parametrize("rate_hz", [0.001, 1.0, 5.0, 9.99, 10_001.0, 1e9])
@pytest.mark.parametrize("fmt", ["npz", "stead"])
def test_window_rates_outside_the_stream_rule_are_refused(tmp_path, rate_hz, fmt):
    record = Record(np.ones((50, 3), np.float32), rate_hz, "XX.AAA..HH", name="w")
    (path,) = write_records([record], tmp_path / ("w.h5" if fmt == "stead" else "w"), fmt)
    with pytest.raises(InputError, match=r"sampled at .* Hz, (below 10|above 10000) Hz") as err:
        list(read_records(path))
    assert_one_line_naming(str(err.value), path)


@pytest.mark.parametrize("rate_hz", [10.0, 20.0, 40.0, 50.0, 100.0, 1000 / 3, 10_000.0])
def test_window_rates_inside_the_rule_are_read(tmp_path, rate_hz):
    (record,) = read_records(window_file(tmp_path, "w", rate_hz))
    assert record.sampling_rate_hz == rate_hz


def test_stream_channels_follow_the_same_rule():
    from picker.io.base import channel_problem, sampling_rate_problem

    for rate_hz in (5.0, 20_000.0, 20.0):
        trace = Trace(np.ones(10, np.float32), header={"sampling_rate": rate_hz})
        trace.stats.channel = "HHZ"
        assert channel_problem(trace) == sampling_rate_problem(rate_hz)
    assert sampling_rate_problem(20.0) is None
    assert sampling_rate_problem(float("nan")) == "sampling rate nan Hz is not a positive number"
    assert sampling_rate_problem(0) == "sampling rate 0 Hz is not a positive number"


def test_cli_bad_rate_file_then_good_file(tmp_path, model, caplog):
    data = tmp_path / "data"
    bad = window_file(data, "a_bad", 1e9)
    slow = window_file(data, "b_slow", 0.001)
    good = window_file(data, "c_good", 100.0, p_sample=1200)
    out = tmp_path / "picks.csv"
    assert main(["predict", str(data), "-o", str(out), "--model", model]) == 1
    picks = read_picks(out)
    assert {(p.source, p.phase, p.index) for p in picks} == {(good.name, "P", 1200)}
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    for path, rate in ((bad, "1e+09"), (slow, "0.001")):
        assert any(str(path) in m and f"sampled at {rate} Hz" in m for m in errors), errors


# ------------------------------------------------------------- gaps cost nothing in memory


def two_segments(path, gap_s: float) -> list:
    """Station XX.GAP..HH: two 30 s segments at 100 Hz, ``gap_s`` apart; a P spike (Z) at
    sample 1500 and an S spike (E) at 2000 in each. Returns the expected (phase, time)."""
    traces, expected = [], []
    for start in (T0, T0 + 30 + gap_s):
        data = np.zeros((3000, 3), np.float32)
        data[1500, 2] = data[2000, 0] = 1.0
        for column, code in enumerate("ENZ"):
            header = {"network": "XX", "station": "GAP", "channel": f"HH{code}"}
            header.update(sampling_rate=100.0, starttime=start)
            traces.append(Trace(data[:, column].copy(), header=header))
        expected += [("P", start + 15.0), ("S", start + 20.0)]
    Stream(traces).write(str(path), format="MSEED", encoding="FLOAT32")
    return expected


@pytest.mark.parametrize("gap_s", [2 * 86_400.0, 365 * 86_400.0])
def test_a_long_gap_costs_no_memory(tmp_path, model, gap_s):
    import tracemalloc

    from picker.prediction.predict import predict_file

    path = tmp_path / "gappy.mseed"
    expected = two_segments(path, gap_s)
    tracemalloc.start()
    try:
        picks = predict_file(path, model)
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak_bytes < 30e6  # the span in float32 E, N, Z: 207 MB for 2 days, 38 GB a year
    got = [(p.phase, UTCDateTime(p.time)) for p in picks]
    assert len(got) == 4
    for (phase, time), (want_phase, want_time) in zip(sorted(got), sorted(expected), strict=True):
        assert phase == want_phase and abs(time - want_time) < 0.011
    second = T0 + 30 + gap_s
    later = sorted(p.index for p in picks if UTCDateTime(p.time) > second)
    assert later == [round((second - T0) * 100) + 1500, round((second - T0) * 100) + 2000]


def test_short_gaps_are_still_filled_as_one_station(tmp_path, model):
    from picker.prediction.predict import iter_file

    path = tmp_path / "gappy.mseed"
    expected = two_segments(path, 60.0)
    (result,) = iter_file(path, model)
    assert result.name == "XX.GAP..HH" and len(result.data) == 3000 * 2 + 6000
    assert sorted((p.phase, UTCDateTime(p.time)) for p in result.picks) == sorted(expected)
