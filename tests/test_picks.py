import json

import numpy as np
import pytest

from picker.picks.formats import CSV_COLUMNS, picks_to_csv, read_picks, write_picks
from picker.picks.peaks import extract_picks, find_peaks
from picker.picks.pick import Pick


def gaussian(n, centre, sigma, height):
    t = np.arange(n)
    return height * np.exp(-0.5 * ((t - centre) / sigma) ** 2)


def test_find_peaks_returns_the_highest_sample_of_each_run():
    prob = gaussian(1000, 200, 10, 0.9) + gaussian(1000, 700, 5, 0.6)
    idx, val = find_peaks(prob, 0.5)
    assert idx.tolist() == [200, 700]
    np.testing.assert_allclose(val, [0.9, 0.6], rtol=1e-6)


def test_threshold_is_inclusive_and_below_threshold_peaks_are_dropped():
    prob = np.zeros(100, np.float32)
    prob[10], prob[50] = 0.5, 0.49
    assert find_peaks(prob, 0.5)[0].tolist() == [10]
    assert find_peaks(np.zeros(10), 0.0)[0].tolist() == []


def test_min_distance_keeps_the_higher_peak():
    prob = gaussian(1000, 300, 3, 0.7) + gaussian(1000, 330, 3, 0.8) + gaussian(1000, 600, 3, 0.7)
    assert find_peaks(prob, 0.5, min_distance_samples=0)[0].tolist() == [300, 330, 600]
    assert find_peaks(prob, 0.5, min_distance_samples=50)[0].tolist() == [330, 600]


def test_plateau_and_nan():
    prob = np.zeros(50, np.float32)
    prob[20:25] = 0.8
    prob[30] = np.nan
    assert find_peaks(prob, 0.5)[0].tolist() == [20]
    with pytest.raises(ValueError, match="threshold must be between 0 and 1, got 1.5"):
        find_peaks(prob, 1.5)


def test_extract_picks_per_phase_thresholds():
    prob = np.zeros((500, 3), np.float32)
    prob[:, 1] = gaussian(500, 100, 5, 0.6)
    prob[:, 2] = gaussian(500, 300, 5, 0.4)
    prob[:, 0] = 1 - prob[:, 1] - prob[:, 2]
    assert extract_picks(prob) == [("P", 100, pytest.approx(0.6))]
    assert extract_picks(prob, s_threshold=0.3) == [
        ("P", 100, pytest.approx(0.6)),
        ("S", 300, pytest.approx(0.4)),
    ]
    with pytest.raises(ValueError, match=r"shape \(n_samples, 3\)"):
        extract_picks(prob[:, :2])


PICKS = [
    Pick("day.mseed", "XX.HOLD..HH", "P", "2024-01-01T00:00:01.250000Z", 125, 0.9312),
    Pick("day.mseed", "XX.HOLD..HH", "S", "2024-01-01T00:00:03.000000Z", 300, 0.71),
    Pick("w.npz", "XX.B..EH", "P", "", 7, 0.5),
]


@pytest.mark.parametrize("fmt, suffix", [("csv", ".csv"), ("json", ".json"), ("quakeml", ".xml")])
def test_every_format_round_trips(tmp_path, fmt, suffix):
    picks = PICKS if fmt != "quakeml" else PICKS[:2]  # QuakeML needs a time
    path = write_picks(picks, tmp_path / f"picks{suffix}")
    assert read_picks(path) == picks
    assert not list(tmp_path.glob("*.part"))


def test_csv_columns_are_exactly_the_documented_ones(tmp_path):
    text = picks_to_csv(PICKS)
    assert (
        text.splitlines()[0]
        == ",".join(CSV_COLUMNS)
        == "source,station_id,phase,time,index,probability"
    )
    assert text.splitlines()[1] == "day.mseed,XX.HOLD..HH,P,2024-01-01T00:00:01.250000Z,125,0.9312"


def test_quakeml_reads_back_with_obspy(tmp_path):
    from obspy import UTCDateTime, read_events

    path = write_picks(PICKS[:2], tmp_path / "picks.xml", "quakeml")
    catalog = read_events(str(path))
    picks = catalog[0].picks
    assert [p.phase_hint for p in picks] == ["P", "S"]
    assert picks[0].time == UTCDateTime("2024-01-01T00:00:01.25")
    assert picks[0].evaluation_mode == "automatic"
    assert picks[0].waveform_id.station_code == "HOLD" and picks[0].waveform_id.network_code == "XX"
    assert float(picks[0].extra["probability"]["value"]) == pytest.approx(0.9312)


def test_an_analysts_quakeml_is_read_as_p_and_s_picks(tmp_path):
    """A SeisComP-style catalog: Pg/Sn/IPU0/ES count as P or S, amplitude and Lg picks do not."""
    from obspy import UTCDateTime
    from obspy.core.event import Catalog, Event, Pick, WaveformStreamID

    t0 = UTCDateTime("2024-01-01T00:00:00")
    hints = ["Pg", "Sn", "IPU0", "ES", "IAML", "Lg", None, "P"]
    event = Event(
        picks=[
            Pick(
                time=t0 + i,
                phase_hint=hint,
                waveform_id=WaveformStreamID("XX", f"S{i}", "", "HHZ"),
            )
            for i, hint in enumerate(hints)
        ]
    )
    path = tmp_path / "analyst.xml"
    Catalog([event]).write(str(path), format="QUAKEML")
    picks = read_picks(path)
    assert [(p.station_id, p.phase, p.time) for p in picks] == [
        ("XX.S0..HH", "P", "2024-01-01T00:00:00.000000Z"),
        ("XX.S1..HH", "S", "2024-01-01T00:00:01.000000Z"),
        ("XX.S2..HH", "P", "2024-01-01T00:00:02.000000Z"),
        ("XX.S3..HH", "S", "2024-01-01T00:00:03.000000Z"),
        ("XX.S7..HH", "P", "2024-01-01T00:00:07.000000Z"),
    ]


def test_json_has_the_csv_fields(tmp_path):
    path = write_picks(PICKS, tmp_path / "p.json")
    rows = json.loads(path.read_text())
    assert set(rows[0]) == set(CSV_COLUMNS)


def test_bad_picks_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("station_id,phase\nXX.A..HH,Q\n")
    with pytest.raises(ValueError, match=r"bad\.csv: not a readable csv picks file"):
        read_picks(bad)


def test_fast_suppression_equals_brute_force():
    from picker.picks.peaks import _suppress_close

    def brute_force(peaks, values, distance):
        kept, taken = np.zeros(len(peaks), bool), []
        for i in np.lexsort((peaks, -values)):
            if all(abs(int(peaks[i]) - t) >= distance for t in taken):
                kept[i] = True
                taken.append(int(peaks[i]))
        return np.flatnonzero(kept)

    rng = np.random.default_rng(0)
    for _ in range(40):
        n = int(rng.integers(1, 300))
        peaks = np.sort(rng.choice(4000, n, replace=False))
        values = rng.integers(0, 4, n).astype(float)  # many ties
        distance = int(rng.integers(1, 80))
        np.testing.assert_array_equal(
            _suppress_close(peaks, values, distance), brute_force(peaks, values, distance)
        )
