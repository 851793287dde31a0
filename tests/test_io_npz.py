"""NPZ reading (PhaseNet, NCEDC test-set and Martinique variants) and exact round trips."""

from __future__ import annotations

import numpy as np
import pytest
from obspy import UTCDateTime

from picker.io import InputError, Record, read_records, write_records
from picker.io.base import format_time_iso, parse_time_iso
from picker.io.npz import read_npz, write_npz

RNG = np.random.default_rng(42)


def _waves(n_samples: int, n_components: int = 3, dtype=np.float32) -> np.ndarray:
    """Distinct random components, ``(n_samples, n_components)``."""
    return (RNG.standard_normal((n_samples, n_components)) * 1e3).astype(dtype)


def _save(path, **arrays):
    np.savez(path, **arrays)
    return path


def _assert_same(a: Record, b: Record) -> None:
    np.testing.assert_array_equal(a.data, b.data)
    assert a.data.dtype == b.data.dtype == np.float32
    assert a.sampling_rate_hz == b.sampling_rate_hz
    assert a.station_id == b.station_id
    assert a.p_arrival_sample == b.p_arrival_sample
    assert a.s_arrival_sample == b.s_arrival_sample
    assert a.channels == b.channels
    assert a.name == b.name
    if a.start_time is None:
        assert b.start_time is None
    else:
        assert a.start_time.ns == b.start_time.ns


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize(
    "record",
    [
        Record(
            data=_waves(700),
            sampling_rate_hz=40.0,
            station_id="XX.HOLD.00.HH",
            start_time=UTCDateTime(ns=1_445_406_900_123_456_789),
            p_arrival_sample=120,
            s_arrival_sample=333,
            channels=("HHE", "HHN", "HHZ"),
            name="hold_event",
        ),
        Record(
            data=np.concatenate([np.zeros((50, 2), np.float32), _waves(50, 1)], axis=1),
            sampling_rate_hz=1 / 3,
            station_id="some_file_stem",
            channels=("", "", "EHZ"),
            name="z_only",
        ),
        Record(
            data=_waves(10),
            sampling_rate_hz=100.0,
            station_id="XX.ODD..XX",
            channels=("XX1", "XX2", "XX3"),
            name="odd",
        ),
    ],
    ids=["full", "z-only-no-time", "odd-codes"],
)
def test_write_then_read_is_exact(tmp_path, record):
    back = read_npz(write_npz(record, tmp_path / f"{record.name}.npz"))
    _assert_same(record, back)


def test_write_uses_exact_name_and_plain_dtypes(tmp_path):
    record = Record(data=_waves(20), sampling_rate_hz=100.0, station_id="XX.A..HH")
    path = write_npz(record, tmp_path / "no_suffix")
    assert path == tmp_path / "no_suffix" and path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no_suffix"]
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[key].dtype != object for key in archive.files)
        assert archive["data"].shape == (20, 3) and archive["data"].dtype == np.float32
        assert archive["p_idx"].shape == () and archive["p_idx"] == -1
        assert str(archive["start_time"]) == ""
        assert str(archive["channels"]) == ",,"


def test_time_format_is_nanosecond_exact():
    time = UTCDateTime(ns=-1_234_567_891)
    assert format_time_iso(time) == "1969-12-31T23:59:58.765432109Z"
    assert parse_time_iso(format_time_iso(time)).ns == time.ns
    assert parse_time_iso("2015-10-21 05:55:00.00").ns == UTCDateTime(2015, 10, 21, 5, 55).ns
    assert parse_time_iso("") is None


def test_dispatcher_round_trip(tmp_path):
    record = Record(data=_waves(30), sampling_rate_hz=100.0, station_id="XX.B..HH", name="b")
    (path,) = write_records([record], tmp_path / "out", "npz")
    (back,) = list(read_records(path))
    _assert_same(record, back)


# ------------------------------------------------------------------------------ layouts


def test_phasenet_demo_layout(tmp_path):
    data = _waves(900, dtype=np.float64)
    path = _save(tmp_path / "NC_ABC_1.npz", data=data, itp=np.int64(300), its=np.int64(420),
                 channels=np.str_("HHE_HHN_HHZ"))  # fmt: skip
    record = read_npz(path)
    np.testing.assert_array_equal(record.data, data.astype(np.float32))
    assert (record.p_arrival_sample, record.s_arrival_sample) == (300, 420)
    assert record.sampling_rate_hz == 100.0
    assert record.channels == ("HHE", "HHN", "HHZ")
    assert record.station_id == "NC_ABC_1" and record.name == "NC_ABC_1"
    assert record.start_time is None


def test_single_code_keeps_columns(tmp_path):
    data = np.zeros((100, 3), np.float64)
    data[:, 2] = _waves(100, 1)[:, 0]
    record = read_npz(_save(tmp_path / "z.npz", data=data, channels=np.str_("EHZ")))
    assert record.channels == ("", "", "EHZ")
    assert not record.data[:, :2].any() and record.data[:, 2].any()


def test_ncedc_test_layout_and_p_time(tmp_path):
    data = _waves(1200)
    path = _save(tmp_path / "BG.ACR..DP.1.npz", data=data, p_idx=np.int64(600),
                 s_idx=np.int64(667), dt=np.float64(0.02), network=np.str_("BG"),
                 station=np.str_("ACR"), location_code=np.str_("--"),
                 channels=np.str_("DPE,DPN,DPZ"), p_time=np.str_("2008-05-10T08:51:13.330"))  # fmt: skip
    record = read_npz(path)
    np.testing.assert_array_equal(record.data, data)
    assert record.sampling_rate_hz == 50.0
    assert record.station_id == "BG.ACR..DP"
    assert record.channels == ("DPE", "DPN", "DPZ")
    assert record.start_time.ns == UTCDateTime(2008, 5, 10, 8, 51, 1, 330000).ns  # 13.33 - 12 s


def test_martinique_layout_channels_first_zne(tmp_path):
    zne = _waves(300).T  # (3, 300): rows Z, N, E
    path = _save(tmp_path / "MQ_CPM_1.npz", data=zne, p_idx=np.array([99], np.int32),
                 s_idx=np.array([-1], np.int32), sr=np.array([20.0], np.float32),
                 net=np.str_("MQ"), sta=np.str_("CPM"))  # fmt: skip
    record = read_npz(path)
    np.testing.assert_array_equal(record.data, zne[::-1].T)  # E, N, Z columns
    assert (record.p_arrival_sample, record.s_arrival_sample) == (99, -1)
    assert record.sampling_rate_hz == 20.0
    assert record.station_id == "MQ.CPM.."
    assert record.channels == ("", "", "")


def test_component_order_and_layout_options(tmp_path):
    enz_first = _waves(50).T
    path = _save(tmp_path / "cf.npz", data=enz_first)
    np.testing.assert_array_equal(read_npz(path, component_order="ENZ").data, enz_first.T)
    np.testing.assert_array_equal(read_npz(path).data, enz_first[::-1].T)  # default ZNE
    square = _waves(3)
    sq = _save(tmp_path / "square.npz", data=square)
    np.testing.assert_array_equal(read_npz(sq).data, square)
    np.testing.assert_array_equal(read_npz(sq, layout="channels_first").data, square[::-1].T)
    with pytest.raises(InputError, match="layout"):
        read_npz(path, layout="sideways")


@pytest.mark.parametrize("shape", [(80,), (80, 1), (1, 80)])
def test_single_component_is_vertical(tmp_path, shape):
    data = _waves(80, 1)[:, 0].reshape(shape)
    record = read_npz(_save(tmp_path / "one.npz", data=data))
    np.testing.assert_array_equal(record.data[:, 2], data.ravel())
    assert not record.data[:, :2].any()


def test_single_component_named_north(tmp_path):
    data = _waves(40, 1)
    record = read_npz(_save(tmp_path / "n.npz", data=data, channels=np.str_("ELN")))
    np.testing.assert_array_equal(record.data[:, 1], data[:, 0])
    assert record.channels == ("", "ELN", "")


@pytest.mark.parametrize(
    ("codes", "columns"),
    [("HHZ,HH1,HH2", [2, 1, 0]), ("DP3,DP2,DP1", [0, 1, 2]), ("EHZ_EHN_EHE", [2, 1, 0])],
)
def test_channel_codes_place_components(tmp_path, codes, columns):
    data = _waves(60)
    record = read_npz(_save(tmp_path / "c.npz", data=data, channels=np.str_(codes)))
    for source, column in enumerate(columns):
        np.testing.assert_array_equal(record.data[:, column], data[:, source])
        assert record.channels[column] == codes.replace("_", ",").split(",")[source]


def test_two_components_need_names(tmp_path):
    data = _waves(40, 2)
    path = _save(tmp_path / "two.npz", data=data)
    with pytest.raises(InputError, match="two.npz.*component_order"):
        read_npz(path)
    record = read_npz(path, component_order="NE")
    np.testing.assert_array_equal(record.data[:, [1, 0]], data)
    assert not record.data[:, 2].any()


def test_ocean_bottom_records_drop_the_hydrophone(tmp_path):
    z12h = _waves(40, 4).T  # rows Z, 1, 2, hydrophone (channels first)
    path = _save(tmp_path / "obs.npz", data=z12h)
    with pytest.raises(InputError, match=r"obs\.npz: 'data' has 4 components; name them"):
        read_npz(path)
    record = read_npz(path, component_order="Z12H")
    np.testing.assert_array_equal(record.data, z12h[[2, 1, 0]].T)  # E = 2, N = 1, Z
    named = _save(
        tmp_path / "named.npz", data=z12h.T, channels=np.array(["HHZ", "HH1", "HH2", "HDH"])
    )
    record = read_npz(named)
    np.testing.assert_array_equal(record.data, z12h[[2, 1, 0]].T)
    assert record.channels == ("HH2", "HH1", "HHZ")
    with pytest.raises(InputError, match=r"5 components \(ZNE12\); expected 1 to 3"):
        read_npz(_save(tmp_path / "five.npz", data=_waves(40, 5)), component_order="ZNE12")


def test_sampling_rate_sources(tmp_path):
    data = _waves(20)
    assert read_npz(_save(tmp_path / "a.npz", data=data)).sampling_rate_hz == 100.0
    path = _save(tmp_path / "b.npz", data=data, sampling_rate=np.array([250.0]))
    assert read_npz(path).sampling_rate_hz == 250.0
    assert read_npz(path, sampling_rate_hz=10).sampling_rate_hz == 10.0
    with pytest.raises(InputError, match=r"c\.npz.*sampling_rate_hz must be > 0"):
        read_npz(_save(tmp_path / "c.npz", data=data, sr=np.float64(0.0)))


def test_picks_variants(tmp_path):
    data = _waves(100)
    multi = _save(tmp_path / "m.npz", data=data, p_idx=np.array([[-1, 40, 70]]), s_idx=np.nan)
    record = read_npz(multi)
    assert (record.p_arrival_sample, record.s_arrival_sample) == (40, -1)
    assert record.extra["p_arrival_samples"] == [40, 70]
    beyond = read_npz(_save(tmp_path / "late.npz", data=data, itp=np.int64(500)))
    assert beyond.p_arrival_sample == 500  # kept: may be cropped in later
    with pytest.raises(InputError, match=r"neg\.npz.*P pick must be >= 0 or -1"):
        read_npz(_save(tmp_path / "neg.npz", data=data, itp=np.int64(-5)))


def test_start_time_keys(tmp_path):
    data = _waves(10)
    iso = read_npz(_save(tmp_path / "t.npz", data=data, t0=np.str_("2020-01-02T03:04:05.5")))
    assert iso.start_time.ns == UTCDateTime(2020, 1, 2, 3, 4, 5, 500000).ns
    with pytest.raises(InputError, match=r"bad\.npz.*start_time 'yesterday'"):
        read_npz(_save(tmp_path / "bad.npz", data=data, start_time=np.str_("yesterday")))


# ------------------------------------------------------------------------------ bad files


def _single_line_error(path, **options) -> str:
    with pytest.raises(InputError) as info:
        read_npz(path, **options)
    message = str(info.value)
    assert path.name in message and "\n" not in message
    return message


def test_garbage_bytes(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a zip archive at all" * 10)
    assert "not an NPZ archive" in _single_line_error(path)


def test_truncated_file(tmp_path):
    path = _save(tmp_path / "cut.npz", data=_waves(2000), itp=np.int64(3))
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    _single_line_error(path)


def test_object_array_is_never_unpickled(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, data=np.array([[1.0, "x", None]], dtype=object))
    assert "never unpickled" in _single_line_error(path)


@pytest.mark.parametrize(
    ("arrays", "problem"),
    [
        ({"itp": np.int64(3)}, "no 'data' array"),
        ({"data": np.zeros((10, 5, 4))}, "shape"),
        ({"data": np.zeros((0, 3))}, "no samples"),
        ({"data": np.array([["a", "b", "c"]])}, "numbers"),
    ],
)
def test_bad_contents(tmp_path, arrays, problem):
    assert problem in _single_line_error(_save(tmp_path / "bad.npz", **arrays))


def test_plain_npy_file_is_rejected(tmp_path):
    path = tmp_path / "array.npz"
    with open(path, "wb") as handle:
        np.save(handle, _waves(10))
    assert "not an NPZ archive" in _single_line_error(path)


def test_np_load_always_without_pickle(tmp_path, monkeypatch):
    calls = []
    original = np.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("allow_pickle"))
        return original(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    read_npz(_save(tmp_path / "ok.npz", data=_waves(5)))
    assert calls == [False]
