"""ObsPy stream <-> record conversion, miniSEED reading and writing."""

from __future__ import annotations

import numpy as np
import obspy
import pytest
from obspy import Stream, Trace, UTCDateTime

from picker.io import InputError, Record, read_records
from picker.io.stream import (
    read_stream_records,
    record_to_stream,
    stream_to_records,
    write_stream_record,
)

T0 = UTCDateTime(2020, 1, 2, 3, 4, 5)


def _trace(channel, value, *, n=100, rate=100.0, start=T0, station="STA", network="XX"):
    header = {
        "network": network,
        "station": station,
        "location": "",
        "channel": channel,
        "sampling_rate": rate,
        "starttime": start,
    }
    return Trace(data=np.full(n, value, dtype=np.float64), header=header)


@pytest.mark.parametrize(
    ("channels", "columns"),
    [
        (("HHZ", "HHN", "HHE"), (2, 1, 0)),
        (("HHZ", "HH1", "HH2"), (2, 1, 0)),
        (("HHZ", "HH2", "HH3"), (2, 1, 0)),
        (("hhz", "hhn", "hhe"), (2, 1, 0)),
        (("BHE", "BHZ", "BHN"), (0, 2, 1)),
    ],
)
def test_component_codes_land_in_enz_columns(channels, columns):
    values = (1.0, 2.0, 3.0)
    stream = Stream([_trace(ch, v) for ch, v in zip(channels, values, strict=True)])
    (record,) = stream_to_records(stream, name="file")
    assert record.data.shape == (100, 3) and record.data.dtype == np.float32
    for value, column, channel in zip(values, columns, channels, strict=True):
        assert np.all(record.data[:, column] == value)
        assert record.channels[column] == channel
    assert record.station_id == f"XX.STA..{channels[0][:2]}"
    assert record.name == f"file:{record.station_id}"
    assert record.start_time == T0 and record.sampling_rate_hz == 100.0
    assert (record.p_arrival_sample, record.s_arrival_sample) == (-1, -1)


def test_hinet_u_n_e_reads_u_as_up():
    stream = Stream([_trace(c, v, station="N.ABC") for c, v in zip("UNE", (1, 2, 3), strict=True)])
    (record,) = stream_to_records(stream)
    np.testing.assert_array_equal(record.data[0], [3.0, 2.0, 1.0])  # E, N, Z
    assert record.channels == ("E", "N", "U")


def test_galperin_uvw_is_refused_not_read_as_up():
    stream = Stream([_trace(f"HH{c}", 1.0) for c in "UVW"])
    with pytest.raises(InputError, match=r"U/V/W axes of a Galperin sensor; rotate them"):
        stream_to_records(stream)


def test_single_component_two_stations_and_gap_merge():
    stream = Stream(
        [
            _trace("EHZ", 5.0, station="ONE"),
            _trace("HHZ", 1.0, station="TWO", n=50),
            _trace("HHN", 2.0, station="TWO", n=50),
            _trace("HHE", 3.0, station="TWO", n=50),
            _trace("HHE", 4.0, station="TWO", n=50, start=T0 + 0.7),  # 20-sample gap on E
        ]
    )
    one, two = stream_to_records(stream)
    assert one.station_id == "XX.ONE..EH" and one.name == "XX.ONE..EH"
    assert np.all(one.data[:, 2] == 5.0) and not one.data[:, :2].any()
    assert one.channels == ("", "", "EHZ")
    assert two.station_id == "XX.TWO..HH"
    assert two.data.shape == (120, 3)
    np.testing.assert_array_equal(two.data[:, 0], [3.0] * 50 + [0.0] * 20 + [4.0] * 50)
    # Z and N end at sample 50: the union time base zero-fills them afterwards
    assert np.all(two.data[:50, 1:] == [2.0, 1.0]) and not two.data[50:, 1:].any()


def test_components_with_different_starts_align_on_union():
    z = _trace("HHZ", 0.0, n=200, start=T0)
    n = _trace("HHN", 0.0, n=200, start=T0 + 0.5)
    e = _trace("HHE", 0.0, n=100, start=T0 + 1.0)
    for tr, offset in ((z, 0), (n, 50), (e, 100)):  # value = centiseconds after T0
        tr.data = np.arange(tr.stats.npts, dtype=np.float64) + offset
    (record,) = stream_to_records(Stream([z, n, e]))
    assert record.start_time == T0
    assert record.data.shape == (250, 3)  # T0 .. T0 + 2.49 s (N ends last)
    at = 120  # T0 + 1.2 s
    np.testing.assert_allclose(record.data[at], [120.0, 120.0, 120.0])
    assert not record.data[:100, 0].any() and not record.data[:50, 1].any()
    assert not record.data[200:, 2].any() and not record.data[200:, 0].any()
    assert record.data[249, 1] == 249.0


def test_mixed_sampling_rates_raise():
    stream = Stream([_trace("HHZ", 1.0), _trace("HHN", 1.0, rate=50.0)])
    with pytest.raises(InputError, match=r"XX\.STA\.\.HH.*50.*100"):
        stream_to_records(stream)


def test_miniseed_round_trip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.normal(scale=1e3, size=(1234, 3)).astype(np.float32)
    data[0, 0] = np.float32(1e-40)
    record = Record(
        data=data,
        sampling_rate_hz=100.0,
        station_id="XX.HOLD.00.HH",
        start_time=UTCDateTime(2021, 5, 6, 7, 8, 9, 123456),
        p_arrival_sample=100,
        channels=("HHE", "HHN", "HHZ"),
        name="ev1",
    )
    path = write_stream_record(record, tmp_path / "out" / "ev1.mseed")
    assert [p.name for p in path.parent.iterdir()] == ["ev1.mseed"]
    (back,) = list(read_records(path))
    np.testing.assert_array_equal(back.data.view(np.uint32), data.view(np.uint32))
    assert back.station_id == "XX.HOLD.00.HH" and back.channels == record.channels
    assert back.start_time == record.start_time and back.sampling_rate_hz == 100.0
    assert back.name == "ev1:XX.HOLD.00.HH"
    assert back.p_arrival_sample == -1  # miniSEED carries no picks

    z_only = Record(np.column_stack([np.zeros(10), np.zeros(10), np.ones(10)]), 20.0, "XX.Z..BH")
    stream = record_to_stream(z_only)
    assert [tr.id for tr in stream] == ["XX.Z..BHZ"]
    assert stream[0].stats.starttime == UTCDateTime(0)


def test_unreadable_and_example_files(tmp_path):
    text = tmp_path / "x.mseed"
    text.write_text("hello, I am a text file\nnot miniSEED\n")
    with pytest.raises(InputError, match=r"x\.mseed: not a waveform file ObsPy can read") as info:
        list(read_stream_records(text))
    assert "\n" not in str(info.value)

    example = tmp_path / "rjob.mseed"
    obspy.read().write(str(example), format="MSEED")
    (record,) = list(read_stream_records(example))
    assert record.station_id == "BW.RJOB..EH"
    assert record.channels == ("EHE", "EHN", "EHZ")
    assert record.data.shape == (3000, 3)
    assert all(record.data[:, c].any() for c in range(3))
