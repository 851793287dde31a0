"""Prediction on arrays, streams and files with an exact "oracle" model (no training).

The oracle is a plain Keras model: ``Conv1D(3, 21, padding="same")`` with hand-set weights and a
softmax. Its noise logit is a constant 20; its P logit is the normalised Z sample (plus a tiny
smoothing over the kernel), its S logit the normalised E sample. On a zero background a spike
of any size normalises to about sqrt(window) = 55, so P (S) is ~1 exactly at a Z (E) spike and
~0 elsewhere: picks must land on the spike samples.
"""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime

from picker.config import ConfigError, ModelConfig
from picker.io import InputError, Record, write_records
from picker.models.unet import build_model
from picker.picks.pick import format_time
from picker.prediction import inference
from picker.prediction import predict as pr
from picker.prediction.inference import plan_chunks
from picker.prediction.stations import dilate, pickable_mask, stream_to_stations
from picker.preprocess.model_input import sliding_normalize
from picker.training.synthetic import synthetic_continuous

T0 = UTCDateTime(2024, 3, 1, 0, 0, 0)


def make_oracle(channels_first: bool = False, p_gain: float = 1.0, s_gain: float = 1.0):
    """The oracle model described in the module docstring."""
    inputs = keras.Input((3, None) if channels_first else (None, 3))
    x = keras.layers.Permute((2, 1))(inputs) if channels_first else inputs
    conv = keras.layers.Conv1D(3, 21, padding="same", name="oracle")
    x = keras.layers.Softmax(axis=-1)(conv(x))
    outputs = keras.layers.Permute((2, 1))(x) if channels_first else x
    weights = np.zeros((21, 3, 3), np.float32)
    weights[:, 2, 1] = weights[:, 0, 2] = 0.01  # receptive field: chunk context matters
    weights[10, 2, 1], weights[10, 0, 2] = p_gain, s_gain
    conv.set_weights([weights, np.array([20.0, 0.0, 0.0], np.float32)])
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def oracle():
    return make_oracle()


def spikes(n_samples: int, p_samples=(), s_samples=(), value: float = 1.0) -> np.ndarray:
    """``(n_samples, 3)`` E, N, Z zeros with ``value`` on Z at P samples and on E at S samples."""
    data = np.zeros((n_samples, 3), np.float32)
    data[list(p_samples), 2] = value
    data[list(s_samples), 0] = value
    return data


def found(picks) -> list[tuple[str, int]]:
    return sorted((p.phase, p.index) for p in picks)


def trace(channel, data, *, start=T0, rate=100.0, station="STA"):
    header = {"network": "XX", "station": station, "location": "", "channel": channel}
    header.update(sampling_rate=rate, starttime=start)
    return Trace(data=np.asarray(data, np.float32), header=header)


# ----------------------------------------------------------------------------- arrays


@pytest.mark.parametrize("rate", [40.0, 50.0, 100.0, 200.0])
def test_picks_land_on_the_spikes_at_any_input_rate(oracle, rate):
    n = int(600 * rate)
    p_samples = [int(10 * rate), int(100 * rate) + 2, int(300 * rate) + 4]
    s_samples = [int(20 * rate), int(150 * rate) + 6]
    picks, probs = pr.predict_array(
        spikes(n, p_samples, s_samples),
        rate,
        oracle,
        start_time=T0,
        station_id="XX.STA..HH",
        source="mem",
        chunk_s=120,
        return_probabilities=True,
    )
    assert found(picks) == sorted([("P", i) for i in p_samples] + [("S", i) for i in s_samples])
    for pick in picks:
        assert pick.time == format_time(T0 + pick.index / rate)
        assert (pick.station_id, pick.source) == ("XX.STA..HH", "mem")
        assert pick.probability > 0.99
    # probabilities at the model rate, 100 Hz, softmax rows
    assert probs.shape == (int(600 * pr.MODEL_SAMPLING_RATE_HZ), 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("rate", [99.99, 49.99])
def test_picks_stay_on_the_spikes_at_an_off_nominal_rate(oracle, rate):
    """An hour at a rate that is no small fraction of 100 Hz: picks are mapped back with the
    factor the data were resampled by (with 100 / rate instead, the last pick of the hour came
    36 samples early at 99.99 Hz)."""
    n = int(3600 * rate)
    p_samples = [999, n // 2 + 1, n - 999]
    picks = pr.predict_array(spikes(n, p_samples), rate, oracle, start_time=T0)
    assert found(picks) == [("P", i) for i in p_samples]
    assert picks[-1].time == format_time(T0 + (n - 999) / rate)


def test_no_start_time_gives_empty_times(oracle):
    picks = pr.predict_array(spikes(3000, [1000]), 100.0, oracle)
    assert [(p.phase, p.index, p.time) for p in picks] == [("P", 1000, "")]


def test_zero_constant_and_nan_input_give_no_picks_and_finite_probabilities(oracle):
    data = np.zeros((6000, 3), np.float32)
    data[:, 1] = 7.5  # constant N
    data[100:200, 2] = np.nan  # NaN counts as a gap
    picks, probs = pr.predict_array(data, 100.0, oracle, return_probabilities=True)
    assert picks == [] and np.isfinite(probs).all()
    assert pr.predict_array(np.zeros((0, 3)), 100.0, oracle) == []


def test_thresholds_and_min_distance(oracle):
    data = spikes(6000, [1000, 1020, 3000], [2000])
    assert found(pr.predict_array(data, 100.0, oracle)) == [("P", 1000), ("P", 3000), ("S", 2000)]
    both = pr.predict_array(data, 100.0, oracle, min_pick_distance_s=0.1)
    assert ("P", 1020) in found(both)
    assert pr.predict_array(data, 100.0, make_oracle(p_gain=0.0), p_threshold=0.5)[0].phase == "S"
    with pytest.raises(ConfigError, match="p_threshold"):
        pr.predict_array(data, 100.0, oracle, p_threshold=1.5)
    with pytest.raises(TypeError, match="unknown prediction option"):
        pr.check_options(treshold=0.3)


def test_gaps_get_no_picks_inside_or_near_their_edges(oracle):
    rate = 100.0
    # gap [2000, 3000); spikes inside it, 0.3 s after its end (margin 0.5 s) and 2 s after
    data = spikes(8000, [1000, 2500, 3030, 3200, 5000], [2990, 4000])
    valid = np.ones(8000, bool)
    valid[2000:3000] = False
    data[~valid] = 12345.0  # junk in the gap is zero-filled
    picks, probs = pr.predict_array(data, rate, oracle, valid_mask=valid, return_probabilities=True)
    assert found(picks) == [("P", 1000), ("P", 3200), ("P", 5000), ("S", 4000)]
    assert np.all(probs[1950:3050, 1:] == 0)  # gap and margins at the model rate
    picks = pr.predict_array(data, rate, oracle, valid_mask=valid, gap_margin_s=0.0)
    assert ("P", 3030) in found(picks) and ("P", 2500) not in found(picks)


def test_gap_mask_maps_to_input_rate_after_resampling(oracle):
    rate = 40.0
    data = spikes(4000, [400, 1212, 2000])
    valid = np.ones(4000, bool)
    valid[1000:1200] = False  # 1212 is 0.3 s after the gap: within the margin
    assert found(pr.predict_array(data, rate, oracle, valid_mask=valid)) == [
        ("P", 400),
        ("P", 2000),
    ]


def test_results_do_not_depend_on_chunking(oracle):
    rate = 100.0
    p_samples = [500, 29_990, 30_000, 30_010 + 100, 59_999, 90_000, 119_000]
    data = spikes(120_000, p_samples, [45_000, 60_000])
    data += np.random.default_rng(0).normal(0, 1e-3, data.shape).astype(np.float32)
    runs = [
        pr.predict_array(data, rate, oracle, chunk_s=c, batch_size=b, return_probabilities=True)
        for c, b in ((3600, 4), (300, 1), (300, 3), (77, 2))
    ]
    for picks, probs in runs[1:]:
        assert found(picks) == found(runs[0][0])
        np.testing.assert_allclose(probs, runs[0][1], atol=1e-5)


def test_model_sees_bounded_chunks_and_traces_once(oracle, monkeypatch):
    seen = []
    original = inference._infer

    def spy(run, batch):
        seen.append(batch.shape)
        return original(run, batch)

    monkeypatch.setattr(inference, "_infer", spy)
    rate, chunk_s, context_s = 100.0, 100.0, 10.0
    data = spikes(int(2000 * rate), [int(1234.5 * rate)])
    picks = pr.predict_array(data, rate, oracle, chunk_s=chunk_s, context_s=context_s, batch_size=3)
    assert found(picks) == [("P", 123_450)]
    assert all(b <= 3 and n <= (chunk_s + 2 * context_s) * rate and c == 3 for b, n, c in seen)
    assert sum(b for b, _, _ in seen) == 20  # 2000 s in 100 s chunks
    assert inference._model_function(oracle).experimental_get_tracing_count() == 1


def test_channels_first_model_gives_the_same_result(oracle):
    first = make_oracle(channels_first=True)
    data = spikes(20_000, [3000, 12_000], [7000])
    a = pr.predict_array(data, 100.0, oracle, return_probabilities=True)
    b = pr.predict_array(data, 100.0, first, return_probabilities=True)
    assert found(a[0]) == found(b[0]) == [("P", 3000), ("P", 12_000), ("S", 7000)]
    np.testing.assert_allclose(a[1], b[1], atol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"\(n_samples, 3\)"):
        pr.predict_array(np.zeros((10, 2)), 100.0, make_oracle())
    with pytest.raises(ValueError, match="sampling_rate_hz"):
        pr.predict_array(np.zeros((10, 3)), 0.0, make_oracle())
    with pytest.raises(ValueError, match="valid_mask"):
        pr.predict_array(np.zeros((10, 3)), 100.0, make_oracle(), valid_mask=np.ones(3, bool))


def test_the_model_input_is_made_as_the_model_was_trained(rng):
    from picker.models.saving import InputSettings, set_input_settings

    stream, _ = synthetic_continuous(120.0, 100.0, [40.0], rng, snr_db=10.0)
    with_default, with_2hz = (make_oracle(), make_oracle())
    set_input_settings(with_2hz, InputSettings(highpass_hz=2.0, normalization_window_s=10.0))

    def probabilities(model, **options):
        (result,) = pr.iter_stream(stream.copy(), model, **options)
        return result.probabilities

    explicit = probabilities(with_default, highpass_hz=2.0, normalization_window_s=10.0)
    np.testing.assert_array_equal(probabilities(with_2hz), explicit)
    assert not np.allclose(probabilities(with_default), explicit, rtol=0.01, atol=0.0)
    np.testing.assert_array_equal(
        probabilities(with_2hz, highpass_hz=1.0),
        probabilities(with_default, normalization_window_s=10.0),
    )  # a given option wins


@pytest.mark.parametrize(
    "settings", [{"normalization": "std"}, {"sampling_rate_hz": 50.0}], ids=["std", "50hz"]
)
def test_a_model_trained_on_other_input_is_refused(settings):
    from picker.models.saving import InputSettings, set_input_settings

    model = set_input_settings(make_oracle(), InputSettings(**settings))
    with pytest.raises(ConfigError, match="was trained on .* picker predict runs models"):
        pr.predict_array(np.zeros((500, 3)), 100.0, model)


# ----------------------------------------------------------------------------- building blocks


def test_sliding_normalize_matches_a_brute_force_window():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, (400, 3))
    x[:, 1] = 5.0  # constant channel stays exactly zero
    out = sliding_normalize(x, 51)
    for i in (0, 10, 200, 399):
        window = x[max(i - 25, 0) : i + 26, 0]
        expected = (x[i, 0] - window.mean()) / window.std()
        assert out[i, 0] == pytest.approx(expected, rel=1e-4)
    assert np.all(out[:, 1] == 0) and out.dtype == np.float32
    for n, width in ((30, 51), (51, 51), (52, 51), (1, 5)):  # windows cut at both ends
        out = sliding_normalize(x[:n], width)
        for i in range(n):
            window = x[max(i - width // 2, 0) : min(i + width // 2 + 1, n), 0]
            expected = (x[i, 0] - window.mean()) / window.std() if len(window) > 1 else 0.0
            assert out[i, 0] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert np.all(sliding_normalize(np.zeros((50, 3)), 11) == 0)
    big = np.zeros((1000, 3))
    big[:300, 2] = rng.normal(0, 1e6, 300)  # locally quiet after a loud stretch: exact zeros
    assert np.all(sliding_normalize(big, 101)[500:, 2] == 0)


def test_plan_chunks_tiles_the_input_on_the_stride_grid():
    plan = plan_chunks(1000, 300, 50, align_samples=16)
    assert [(c, d) for _, _, c, d in plan] == [(0, 304), (304, 608), (608, 912), (912, 1000)]
    assert plan[0][:2] == (0, 368) and plan[1][:2] == (240, 672) and plan[-1][1] == 1000
    assert all(a % 16 == 0 for a, _, _, _ in plan)
    assert plan_chunks(10, 300, 50) == [(0, 10, 0, 10)]


def test_pickable_mask_excludes_gap_edges_per_component():
    assert list(dilate(np.array([0, 0, 0, 1, 0, 0, 0], bool), 2)) == [0, 1, 1, 1, 1, 1, 0]
    valid = np.ones((2, 30), bool)
    valid[0, 10:20] = False  # one component out: the other still picks, except near the edges
    mask = pickable_mask(valid, 3)
    assert list(np.flatnonzero(~mask)) == [7, 8, 9, 10, 11, 12, 17, 18, 19, 20, 21, 22]
    valid[1, 10:20] = False  # both out: nothing in the gap
    assert list(np.flatnonzero(~pickable_mask(valid, 3))) == list(range(7, 23))


# ----------------------------------------------------------------------------- streams


def test_stream_gaps_overlaps_and_duplicates(oracle):
    z = spikes(30_000, [1000, 16_000, 17_000, 25_000])[:, 2] + 50.0  # DC offset
    other = np.full(30_000, 50.0, np.float32)
    other[16_500] = 51.0  # overlapping later trace disagrees: the first trace wins
    e = spikes(30_000, [], [8000])[:, 0]
    stream = Stream(
        [
            trace("HHZ", z[:20_000]),
            trace("HHZ", other[15_000:], start=T0 + 150.0),  # overlaps [150 s, 200 s)
            trace("HHE", e[:5000]),
            trace("HHE", e[7000:], start=T0 + 70.0),  # gap [50 s, 70 s)
            trace("HHE", e[7000:], start=T0 + 70.0),  # duplicate
            trace("HHN", np.zeros(30_000)),
        ]
    )
    (station,) = stream_to_stations(stream)
    assert station.data.shape == (30_000, 3) and station.channels == ("HHE", "HHN", "HHZ")
    assert not station.valid[0, 5000:7000].any() and station.valid[2].all()
    np.testing.assert_allclose(station.data[20_000:, 2], 0.0, atol=1e-3)  # demeaned
    picks = pr.predict_stream(stream, oracle, source="file.mseed")
    # 16_000 and 17_000 come from the first trace, not 16_500; 25_000 is not in the second
    assert found(picks) == [("P", 1000), ("P", 16_000), ("P", 17_000), ("S", 8000)]
    assert {p.station_id for p in picks} == {"XX.STA..HH"} and picks[0].source == "file.mseed"
    assert picks[0].time == format_time(T0 + 10.0)


@pytest.mark.parametrize(
    "codes",
    [("HHE", "HHN", "HHZ"), ("HH2", "HH1", "HHZ"), ("HH3", "HH2", "HHZ"), ("hhe", "hhn", "hhz")],
)
def test_component_codes(oracle, codes):
    data = spikes(6000, [1500], [3500])
    stream = Stream([trace(code, data[:, i]) for i, code in enumerate(codes)])
    picks = pr.predict_stream(stream, oracle)
    assert found(picks) == [("P", 1500), ("S", 3500)]


def test_single_component_and_two_stations(oracle):
    stream = Stream(
        [
            trace("EHZ", spikes(6000, [2000])[:, 2], station="ONE"),
            trace("HHE", spikes(6000, [], [4000])[:, 0], station="TWO"),
        ]
    )
    picks, probs = pr.predict_stream(stream, oracle, return_probabilities=True)
    assert [(p.station_id, p.phase, p.index) for p in picks] == [
        ("XX.ONE..EH", "P", 2000),
        ("XX.TWO..HH", "S", 4000),
    ]
    assert set(probs) == {"XX.ONE..EH", "XX.TWO..HH"} and probs["XX.ONE..EH"].shape == (6000, 3)


def test_component_offsets_and_rates(oracle):
    data = spikes(6000, [2000])
    late = Stream([trace("HHE", data[:, 0]), trace("HHZ", data[:, 2], start=T0 + 0.0064)])
    assert found(pr.predict_stream(late, oracle)) == [("P", 2001)]  # 0.64 sample rounds to 1
    early = Stream([trace("HHE", data[:, 0]), trace("HHZ", data[:, 2], start=T0 + 0.004)])
    assert found(pr.predict_stream(early, oracle)) == [("P", 2000)]
    mixed = Stream([trace("HHE", data[:, 0], rate=50.0), trace("HHZ", data[:, 2])])
    with pytest.raises(InputError, match=r"XX\.STA\.\.HH: .*different sampling rates"):
        pr.predict_stream(mixed, oracle)


def test_hourly_files_one_stream_and_chunk_sizes_agree(oracle, tmp_path):
    rate, hours = 100.0, 2
    n = int(hours * 3600 * rate)
    rng = np.random.default_rng(5)
    p_samples = sorted(rng.choice(np.arange(100, n - 100, 20_000), 14, replace=False).tolist())
    p_samples += [360_000 - 3000, 360_000 + 3000, 100_000]  # near an hour and a chunk border
    s_samples = [p + 1500 for p in p_samples[:6]]
    data = spikes(n, p_samples, s_samples)
    stream = Stream([trace(f"HH{c}", data[:, i]) for i, c in enumerate("ENZ")])
    for hour in range(hours):
        part = stream.slice(T0 + hour * 3600, T0 + (hour + 1) * 3600 - 0.01)
        part.write(str(tmp_path / f"hour{hour}.mseed"), format="MSEED", encoding="FLOAT32")
    expected = sorted([("P", format_time(T0 + i / rate)) for i in p_samples])
    expected += [("S", format_time(T0 + i / rate)) for i in s_samples]
    one = pr.predict_stream(stream, oracle)
    chunked = pr.predict_stream(stream, oracle, chunk_s=1000.0, context_s=20.0)
    hourly = [p for h in range(hours) for p in pr.predict_file(tmp_path / f"hour{h}.mseed", oracle)]
    for picks in (one, chunked, hourly):
        assert sorted((p.phase, p.time) for p in picks) == sorted(expected)
    assert {p.source for p in hourly} == {"hour0.mseed", "hour1.mseed"}
    assert [p.index for p in hourly if p.time == format_time(T0 + 363_000 / rate)] == [3000]


# ----------------------------------------------------------------------------- files


def test_predict_file_on_windows_and_bad_files(oracle, tmp_path):
    records = [
        Record(spikes(3000, [1000], [2000]), 100.0, "XX.AAA..HH", T0, name="w0"),
        Record(spikes(1500, [700]), 50.0, "XX.BBB..HH", None, name="w1"),
    ]
    written = write_records(records, tmp_path / "npz", "npz")
    picks = [p for path in written for p in pr.predict_file(path, oracle)]
    assert [(p.source, p.station_id, p.phase, p.index, p.time) for p in picks] == [
        ("w0.npz", "XX.AAA..HH", "P", 1000, format_time(T0 + 10.0)),
        ("w0.npz", "XX.AAA..HH", "S", 2000, format_time(T0 + 20.0)),
        ("w1.npz", "XX.BBB..HH", "P", 700, ""),
    ]
    bad = tmp_path / "bad.mseed"
    bad.write_bytes(b"not a waveform at all")
    with pytest.raises(InputError, match=r"bad\.mseed: not a waveform file") as err:
        pr.predict_file(bad, oracle)
    assert "\n" not in str(err.value)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(InputError, match=r"broken\.npz"):
        pr.predict_file(broken, oracle)


# ----------------------------------------------------------------------------- real network


def test_unet_smoke_on_synthetic_continuous_and_chunk_invariance():
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(filters=[4, 8, 8], kernel_size=5, stride=4))
    stream, _ = synthetic_continuous(300.0, 100.0, rng=np.random.default_rng(2))
    options = dict(context_s=20.0, normalization_window_s=10.0, p_threshold=0.3, s_threshold=0.3)
    picks, probs = pr.predict_stream(
        stream, model, chunk_s=60.0, return_probabilities=True, **options
    )
    (station_probs,) = probs.values()
    assert station_probs.shape == (30_000, 3) and np.isfinite(station_probs).all()
    np.testing.assert_allclose(station_probs.sum(axis=1), 1.0, atol=1e-4)
    _, whole = pr.predict_stream(
        stream, model, chunk_s=1000.0, return_probabilities=True, **options
    )
    np.testing.assert_allclose(station_probs, whole["SY.SYN..HH"], atol=1e-4)
    assert all(p.station_id == "SY.SYN..HH" for p in picks)


def test_lazy_exports_and_light_import():
    import picker

    assert picker.predict_stream is pr.predict_stream and picker.predict_array is pr.predict_array
    code = "import sys, picker, picker.prediction.predict; assert 'tensorflow' not in sys.modules, 'tf'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_consumed_traces_are_freed_once_their_station_is_built():
    """iter_stations(consume=True) keeps no raw samples alive while the caller works."""
    import gc
    import weakref

    from picker.prediction.stations import iter_stations

    stream, _ = synthetic_continuous(60.0, 100.0, [20.0], np.random.default_rng(2))
    samples = [weakref.ref(tr.data) for tr in stream]
    stations = iter_stations(stream, consume=True)
    station = next(stations)
    del stream
    gc.collect()
    assert station.data.shape == (6000, 3)
    assert [ref() is None for ref in samples] == [True, True, True]
