"""Messy real files and bad inputs never cost the other results (issue "Robustness").

Every command reading data (``predict``, ``evaluate``, ``convert``, ``plot``) gets each kind of
broken file next to good ones, in-process through :func:`picker.cli.main`: exit status 1, one
error line naming the broken file, a summary at the end, and the good inputs still processed
and written. Data-content cases (NaN / Inf / zero / constant / clipped samples, gaps, mixed
rates, odd channel codes, tiny and long records) and bad configs / models follow. The model is
the exact oracle of ``tests/oracle.py``; the per-module tests (``test_io_*``, ``test_predict``,
``test_cli*``, ``test_config``, ``test_keras_utils``) hold the unit-level cases.
"""

from __future__ import annotations

import json
import logging

import keras
import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime
from oracle import make_oracle, spikes

from picker.cli import main
from picker.io import Record, read_records, write_records
from picker.io.base import channel_problem, pickable_station_ids
from picker.models.saving import save_model
from picker.picks.formats import read_picks
from picker.picks.pick import format_time
from picker.prediction import predict as pr

T0 = UTCDateTime(2024, 3, 1, 0, 0, 0)
RATE = 100.0
GOOD_P, GOOD_S = 1000, 3000  # samples of the spikes in good.mseed
WIN_P, WIN_S = 700, 1500  # samples of the spikes in the good NPZ window


def traces(data, *, rate=RATE, start=T0, station="GOOD", codes="ENZ", band="HH", location=""):
    """One trace per column of ``data`` (E, N, Z order), channel ``band`` + its code."""
    header = {"network": "XX", "station": station, "location": location}
    header.update(sampling_rate=rate, starttime=start)
    return [
        Trace(np.ascontiguousarray(data[:, i], np.float32), {**header, "channel": band + code})
        for i, code in enumerate(codes)
        if code
    ]


def write_mseed(path, trace_list) -> str:
    Stream(trace_list).write(str(path), format="MSEED", encoding="FLOAT32")
    return str(path)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The oracle model, good inputs (one miniSEED, one NPZ window) and valid files to break."""
    root = tmp_path_factory.mktemp("robust")
    model = save_model(make_oracle(), root / "oracle.keras")
    good = root / "good"
    good.mkdir()
    write_mseed(good / "good.mseed", traces(spikes(6000, [GOOD_P], [GOOD_S])))
    window = Record(
        spikes(3000, [WIN_P], [WIN_S]), RATE, "XX.WIN..HH", T0, WIN_P, WIN_S, name="win"
    )
    write_records([window], good, "npz")
    # valid files of every format, to be cut short by the broken-file builders
    valid = root / "valid"
    records = [
        Record(spikes(3000, [WIN_P]), RATE, f"XX.V{i}..HH", T0, WIN_P, name=f"v{i}")
        for i in range(3)
    ]
    files = {
        "npz": write_records(records[:1], valid / "npz", "npz")[0],
        "tfrecord": write_records(records, valid / "tfr", "tfrecord")[0],
        "hdf5": write_records(records, valid / "stead.hdf5", "stead")[0],
        "mseed": write_mseed(valid / "v.mseed", traces(np.ones((20_000, 3)))),
    }
    return {"root": root, "model": str(model), "good": good, "valid": files}


def _truncated(env, fmt, name):
    def build(folder):
        data = open(env["valid"][fmt], "rb").read()
        path = folder / name
        path.write_bytes(data[: len(data) // 2 + 7])
        return path

    return build


def _written(name, content: bytes):
    def build(folder):
        path = folder / name
        path.write_bytes(content)
        return path

    return build


BAD_CASES = {
    "missing": lambda env: lambda folder: folder / "missing.mseed",
    "empty_mseed": lambda env: _written("empty.mseed", b""),
    "empty_npz": lambda env: _written("empty.npz", b""),
    "empty_tfrecord": lambda env: _written("empty.tfrecord", b""),
    "empty_hdf5": lambda env: _written("empty.hdf5", b""),
    "truncated_npz": lambda env: _truncated(env, "npz", "cut.npz"),
    "truncated_tfrecord": lambda env: _truncated(env, "tfrecord", "cut.tfrecord"),
    "truncated_hdf5": lambda env: _truncated(env, "hdf5", "cut.hdf5"),
    "text_as_mseed": lambda env: _written("notes.mseed", b"station notes, not miniSEED\n" * 20),
}


def _corrupt_mseed(env, folder):
    """A miniSEED file whose second record header is overwritten with garbage."""
    data = bytearray(open(env["valid"]["mseed"], "rb").read())
    data[4096 : 4096 + 64] = b"\xff" * 64
    path = folder / "corrupt.mseed"
    path.write_bytes(bytes(data))
    return path


def run_command(command, env, inputs, out, *extra):
    """Run ``command`` on ``inputs``; return the exit status."""
    model = ["--model", env["model"]]
    if command == "predict":
        args = ["predict", *inputs, "-o", str(out / "picks.csv"), *model]
    elif command == "evaluate":
        args = ["evaluate", *inputs, "-o", str(out / "report"), *model]
    elif command == "convert":
        args = ["convert", *inputs, "-o", str(out / "converted"), "--to", "npz"]
    else:
        args = ["plot", *inputs, "-o", str(out / "figures"), *model]
    return main([*args, *extra])


def good_inputs(command, env) -> list[str]:
    window = str(env["good"] / "win.npz")
    if command == "evaluate":  # continuous data would need reference picks
        return [window]
    return [str(env["good"] / "good.mseed"), window]


def check_good_output(command, out) -> None:
    """The good inputs' results are all there."""
    if command == "predict":
        got = {(p.station_id, p.phase, p.index) for p in read_picks(out / "picks.csv")}
        assert got >= {
            ("XX.GOOD..HH", "P", GOOD_P),
            ("XX.GOOD..HH", "S", GOOD_S),
            ("XX.WIN..HH", "P", WIN_P),
            ("XX.WIN..HH", "S", WIN_S),
        }
    elif command == "evaluate":
        report = json.loads((out / "report" / "metrics.json").read_text())
        assert report["counts"]["n_windows"] >= 1  # records before a truncation count too
        assert report["sources"]["model"]["P"]["tp"] >= 1
    elif command == "convert":
        names = sorted(p.name for p in (out / "converted").iterdir())
        assert {"win.npz", "good_XX.GOOD..HH.npz"} <= set(names), names
    else:
        names = {p.name for p in (out / "figures").glob("*.png")}
        assert (
            len(names) >= 2 and any("GOOD" in n for n in names) and any("win" in n for n in names)
        )


def error_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


COMMANDS = ["predict", "evaluate", "convert", "plot"]


@pytest.mark.parametrize("case", sorted(BAD_CASES))
@pytest.mark.parametrize("command", COMMANDS)
def test_a_broken_file_is_named_and_the_rest_is_done(env, tmp_path, caplog, command, case):
    bad = BAD_CASES[case](env)(tmp_path)
    inputs = [str(bad), *good_inputs(command, env)]
    with caplog.at_level(logging.INFO, logger="picker"):
        status = run_command(command, env, inputs, tmp_path)
    assert status == 1
    errors = error_lines(caplog)
    assert len([m for m in errors if bad.name in m]) >= 2, errors  # the error line + summary
    named = next(m for m in errors if bad.name in m)
    assert "\n" not in named and "Traceback" not in named
    assert "1 input(s) failed" in errors[-2], errors  # summary at the end
    check_good_output(command, tmp_path)


@pytest.mark.parametrize("command", COMMANDS)
def test_strict_stops_at_the_first_broken_file(env, tmp_path, caplog, command):
    first = _written("a_first.npz", b"PK\x03\x04 not really")(tmp_path)
    second = _written("z_second.mseed", b"")(tmp_path)
    inputs = [str(first), *good_inputs(command, env), str(second)]
    with caplog.at_level(logging.ERROR, logger="picker"):
        status = run_command(command, env, inputs, tmp_path, "--strict")
    assert status == 1
    errors = "\n".join(error_lines(caplog))
    assert "a_first.npz" in errors and "z_second.mseed" not in errors and "--strict" in errors


@pytest.mark.parametrize("damage", ["corrupt_record", "truncated"])
@pytest.mark.parametrize("command", ["predict", "convert", "plot"])
def test_partly_damaged_miniseed_keeps_what_is_readable(env, tmp_path, caplog, command, damage):
    if damage == "corrupt_record":
        bad = _corrupt_mseed(env, tmp_path)
    else:
        bad = _truncated(env, "mseed", "cut.mseed")(tmp_path)
    inputs = [str(bad), *good_inputs(command, env)]
    with caplog.at_level(logging.INFO, logger="picker"):
        status = run_command(command, env, inputs, tmp_path)
    assert status == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([m for m in warned if bad.name in m]) == 1, warned
    check_good_output(command, tmp_path)


# ----------------------------------------------------------------------------- sample values


def picks_of(path) -> dict[str, set]:
    found: dict[str, set] = {}
    for p in read_picks(path):
        found.setdefault(p.station_id.split(".")[1], set()).add((p.phase, p.index))
    return found


def test_nan_inf_zero_constant_and_clipped_traces(env, tmp_path):
    n = 6000
    rng = np.random.default_rng(3)
    stations = {}
    nan = spikes(n, [1000, 3030, 4500])
    nan[2000:3000, 2] = np.nan  # NaN is a gap: no pick at its edge (3030 is 0.3 s away)
    stations["NAN"] = nan
    inf = spikes(n, [1000])
    inf[4000:4100, :] = np.inf
    stations["INF"] = inf
    stations["ZERO"] = np.zeros((n, 3), np.float32)
    stations["CONST"] = np.full((n, 3), 1234.5, np.float32)
    clipped = rng.normal(0, 1, (n, 3)).astype(np.float32) + spikes(n, [2500], [], 1e9)
    stations["CLIP"] = np.clip(clipped, -(2**23), 2**23 - 1)  # the spike saturates
    path = write_mseed(
        tmp_path / "values.mseed",
        [tr for name, data in stations.items() for tr in traces(data, station=name)],
    )
    out = tmp_path / "picks.csv"
    assert main(["predict", path, "--model", env["model"], "-o", str(out), "-q"]) == 0
    found = picks_of(out)
    assert found.pop("NAN") == {("P", 1000), ("P", 4500)}
    assert found.pop("INF") == {("P", 1000)}
    assert found.pop("CLIP") == {("P", 2500)}
    assert found == {}  # no pick on the all-zero and the constant station
    figures = tmp_path / "figures"
    assert main(["plot", path, "--model", env["model"], "-o", str(figures), "-q"]) == 0
    assert len(list(figures.glob("*.png"))) == len(stations)


def test_nan_samples_in_windows_are_gaps_for_every_command(env, tmp_path):
    data = spikes(3000, [WIN_P, 2000], [WIN_S])
    data[1800:1990, :] = np.nan  # 2000 lies 0.1 s after the NaN stretch
    window = Record(data, RATE, "XX.NAN..HH", T0, WIN_P, WIN_S, name="nan")
    (path,) = write_records([window], tmp_path / "in", "npz")
    out = tmp_path / "out"
    assert run_command("predict", env, [str(path)], out.parent, "-q") == 0
    assert picks_of(tmp_path / "picks.csv") == {"NAN": {("P", WIN_P), ("S", WIN_S)}}
    assert run_command("evaluate", env, [str(path)], tmp_path, "-q") == 0
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert report["sources"]["model"]["P"]["tp"] == 1 and report["sources"]["model"]["P"]["fp"] == 0
    assert run_command("plot", env, [str(path)], tmp_path, "-q") == 0
    assert run_command("convert", env, [str(path)], tmp_path, "-q") == 0
    (back,) = read_records(tmp_path / "converted" / "nan.npz")
    assert np.isnan(back.data[1800:1990]).all()


# ----------------------------------------------------------------------------- streams


@pytest.mark.parametrize("command", ["predict", "convert", "plot"])
def test_mixed_rates_in_one_station_are_named_and_other_files_go_on(env, tmp_path, caplog, command):
    data = spikes(3000, [1000])
    mixed = traces(data, station="MIX")
    mixed[0].stats.sampling_rate = 50.0
    bad = write_mseed(tmp_path / "mixed.mseed", mixed)
    with caplog.at_level(logging.INFO, logger="picker"):
        assert run_command(command, env, [bad, *good_inputs(command, env)], tmp_path) == 1
    named = [m for m in error_lines(caplog) if "mixed.mseed" in m]
    assert "XX.MIX..HH" in named[0] and "different sampling rates (50, 100 Hz)" in named[0]
    check_good_output(command, tmp_path)


def test_a_bad_station_costs_the_other_stations_of_its_file_nothing(env, tmp_path, caplog):
    mixed = traces(spikes(3000, [1000]), station="MIX")
    mixed[0].stats.sampling_rate = 50.0
    network = write_mseed(
        tmp_path / "network.mseed", mixed + traces(spikes(6000, [GOOD_P], [GOOD_S]))
    )
    with caplog.at_level(logging.INFO, logger="picker"):
        assert run_command("predict", env, [network], tmp_path) == 1
    (error,) = [m for m in error_lines(caplog) if "network.mseed" in m][:1]
    assert "XX.MIX..HH: traces have different sampling rates (50, 100 Hz)" in error
    assert "the other 1 station(s) were picked" in error
    got = {(p.station_id, p.phase, p.index) for p in read_picks(tmp_path / "picks.csv")}
    assert got == {("XX.GOOD..HH", "P", GOOD_P), ("XX.GOOD..HH", "S", GOOD_S)}


@pytest.mark.parametrize("rate", [20.0, 40.0, 250.0])
def test_picks_at_the_right_times_at_other_rates(rate):
    # a spike at 20 Hz is a 5-sample pulse at 100 Hz, so the oracle needs more gain there
    gain = 2.0 if rate < 40 else 1.0
    model = make_oracle(p_gain=gain, s_gain=gain)
    n = int(300 * rate)
    p_samples = [int(10 * rate) + 1, int(100 * rate) + 3, int(250 * rate) + 2]
    s_samples = [int(40 * rate) + 1]
    stream = Stream(traces(spikes(n, p_samples, s_samples), rate=rate))
    picks = pr.predict_stream(stream, model, chunk_s=120.0)
    assert sorted(p.phase for p in picks) == ["P", "P", "P", "S"]
    expected = {"P": p_samples, "S": s_samples}
    for pick in picks:
        # within one sample at the model rate (100 Hz) of the spike
        nearest = min(expected[pick.phase], key=lambda i: abs(i - pick.index))
        assert abs(pick.index - nearest) / rate <= 1 / pr.MODEL_SAMPLING_RATE_HZ + 1e-9
        assert pick.time == format_time(T0 + pick.index / rate)


@pytest.mark.parametrize(
    "codes, expected",
    [
        (("", "", "Z"), {("P", 1500)}),
        (("E", "", "Z"), {("P", 1500), ("S", 3500)}),
        (("", "N", "Z"), {("P", 1500)}),
        (("2", "1", "z"), {("P", 1500), ("S", 3500)}),
        (("E", "", ""), {("S", 3500)}),
    ],
)
@pytest.mark.parametrize("location", ["", "00"])
def test_one_or_two_components_and_location_codes(codes, expected, location):
    stream = Stream(traces(spikes(6000, [1500], [3500]), codes=codes, location=location))
    picks = pr.predict_stream(stream, make_oracle())
    assert {(p.phase, p.index) for p in picks} == expected
    assert {p.station_id for p in picks} == {f"XX.GOOD.{location}.HH"}


def non_seismic_channels(station="GOOD") -> list[Trace]:
    """A hydrophone at 100 Hz and three mass positions at 0.1 Hz, as in an OBS day file."""
    rng = np.random.default_rng(3)
    hydrophone = traces(rng.normal(size=(6000, 1)), station=station, codes="H", band="BD")
    mass = traces(rng.normal(size=(10, 3)), rate=0.1, station=station, band="VM")
    return hydrophone + mass


def test_hydrophone_and_mass_position_channels_are_skipped_with_a_warning(caplog):
    seismic = traces(spikes(6000, [1500], [3500]))
    stream = Stream(seismic + non_seismic_channels())
    with caplog.at_level(logging.WARNING, logger="picker"):
        picks = pr.predict_stream(stream, make_oracle())
    # the same picks as from the seismometer alone, and nothing from the other channels
    alone = pr.predict_stream(Stream(traces(spikes(6000, [1500], [3500]))), make_oracle())
    assert [(p.station_id, p.phase, p.index) for p in picks] == [
        (p.station_id, p.phase, p.index) for p in alone
    ]
    assert {(p.phase, p.index) for p in picks} == {("P", 1500), ("S", 3500)}
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "XX.GOOD..BDH (component code 'H' is not Z/N/E/1/2/3/U)" in warning
    assert "XX.GOOD..VME, XX.GOOD..VMN, XX.GOOD..VMZ (sampled at 0.1 Hz, below 10 Hz)" in warning
    assert pickable_station_ids(stream) == ["XX.GOOD..HH"]  # shards never get a station to skip


@pytest.mark.parametrize("command", ["predict", "convert", "plot"])
def test_a_file_with_no_channel_to_pick_on_is_named(env, tmp_path, caplog, command):
    bad = write_mseed(tmp_path / "pressure.mseed", non_seismic_channels("OBS"))
    with caplog.at_level(logging.INFO, logger="picker"):
        assert run_command(command, env, [bad, *good_inputs(command, env)], tmp_path) == 1
    named = [m for m in error_lines(caplog) if "pressure.mseed" in m]
    assert "no channel to pick on: XX.OBS..BDH (component code 'H'" in named[0]
    check_good_output(command, tmp_path)


def test_metadata_and_figures_in_a_data_folder_are_left_out(env, tmp_path, caplog):
    folder = tmp_path / "day"
    folder.mkdir()
    (folder / "good.mseed").write_bytes((env["good"] / "good.mseed").read_bytes())
    (folder / "station.xml").write_text("<FDSNStationXML/>")
    (folder / "review.png").write_bytes(b"\x89PNG\r\n")
    (folder / "events.qml").write_text("<q:quakeml/>")
    assert run_command("predict", env, [str(folder)], tmp_path) == 0
    got = {(p.station_id, p.phase, p.index) for p in read_picks(tmp_path / "picks.csv")}
    assert got == {("XX.GOOD..HH", "P", GOOD_P), ("XX.GOOD..HH", "S", GOOD_S)}
    # named explicitly, a file that is not a waveform is still an error naming it
    with caplog.at_level(logging.INFO, logger="picker"):
        assert run_command("predict", env, [str(folder / "station.xml")], tmp_path) == 1
    assert any("station.xml" in m for m in error_lines(caplog))


def test_channel_problem_keeps_seismometers_and_accelerometers():
    def problem(channel, rate=100.0):
        return channel_problem(Trace(np.zeros(10), {"channel": channel, "sampling_rate": rate}))

    for channel in ("HHZ", "EHN", "HNE", "DP1", "DP2", "DP3", "BH1", "BH2", "hhz", "SHZ"):
        assert problem(channel) is None, channel
    assert problem("BHZ", 10.0) is None
    assert problem("LHZ", 1.0) == "sampled at 1 Hz, below 10 Hz"
    assert problem("BDH") == "component code 'H' is not Z/N/E/1/2/3/U"
    assert problem("") == "no channel code: name the component (e.g. HHZ) before picking"
    win = Trace(np.zeros(10), {"channel": "a101", "sampling_rate": 100.0})
    win.stats._format = "WIN"  # as obspy.read gives a WIN file's hexadecimal channel numbers
    assert channel_problem(win).startswith("a WIN channel number, not a component")


def test_components_with_different_starts_and_lengths():
    e = spikes(3000, [], [2000])[:, 0]  # E: [0 s, 30 s), S at 20 s
    z = spikes(6000, [4000])[:, 2]  # Z: [10 s, 70 s), P at 50 s
    stream = Stream(
        [
            *traces(e[:, None], codes="E"),
            *traces(z[:, None], codes="Z", start=T0 + 10.0),
        ]
    )
    picks = pr.predict_stream(stream, make_oracle())
    assert [(p.phase, p.index, p.time) for p in picks] == [
        ("S", 2000, format_time(T0 + 20.0)),
        ("P", 5000, format_time(T0 + 50.0)),
    ]


# ----------------------------------------------------------------------------- record lengths


@pytest.mark.parametrize("n_samples, rate", [(1, 100.0), (5, 100.0), (5, 250.0), (3, 20.0)])
def test_records_shorter_than_the_model_stride(tmp_path, n_samples, rate):
    """The bundled model (total stride 256 samples) on tiny records: no picks, no crash."""
    data = np.arange(n_samples * 3, dtype=np.float32).reshape(n_samples, 3)
    window = Record(data, rate, "XX.TINY..HH", T0, name="tiny")
    (npz,) = write_records([window], tmp_path / "in", "npz")
    mseed = write_mseed(tmp_path / "in" / "tiny.mseed", traces(data, rate=rate, station="TINY"))
    out = tmp_path / "picks.csv"
    assert main(["predict", str(npz), mseed, "-o", str(out), "-q"]) == 0
    assert read_picks(out) == []
    assert main(["plot", str(npz), mseed, "-o", str(tmp_path / "figs"), "-q"]) == 0


def test_two_hour_record_through_the_command(env, tmp_path):
    n = int(2 * 3600 * RATE)
    p_samples = [500, 359_900, 360_100, 500_000, n - 500]  # around the one-hour chunk border
    s_samples = [100_000, 360_500]
    path = write_mseed(tmp_path / "long.mseed", traces(spikes(n, p_samples, s_samples)))
    out = tmp_path / "picks.csv"
    assert main(["predict", path, "--model", env["model"], "-o", str(out), "-q"]) == 0
    assert picks_of(out) == {"GOOD": {("P", i) for i in p_samples} | {("S", i) for i in s_samples}}


# ----------------------------------------------------------------------------- configs, models


@pytest.mark.parametrize(
    "text, key",
    [
        ("train:\n  epochs: many\n", "train.epochs"),
        ("train:\n  steps_per_epoch: -3\n", "train.steps_per_epoch"),
        ("data:\n  batch_size: 0\n", "data.batch_size"),
        ("data:\n  window_samples: 1.5\n", "data.window_samples"),
        ("model:\n  kernel_size: [3]\n", "model.kernel_size"),
        ("augment:\n  noise_level: -1\n", "augment"),
        ("model:\n  filtres: [4, 8]\n", "model.filtres"),
        ("predict:\n  p_threshold: 2\n", "predict.p_threshold"),
        ("- just\n- a list\n", "mapping"),
        ("data: {train: [x\n", "YAML"),
    ],
)
def test_bad_configs_exit_2_naming_file_and_key(tmp_path, capsys, text, key):
    config = tmp_path / "bad.yaml"
    config.write_text(text, encoding="utf-8")
    assert main(["train", "--config", str(config), "-o", str(tmp_path / "run"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(config) in err[0] and key in err[0], err
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def not_picker_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    text = root / "notes.keras"
    text.write_text("not a model", encoding="utf-8")
    inputs = keras.Input((16,))
    dense = save_model(keras.Model(inputs, keras.layers.Dense(2)(inputs)), root / "dense.keras")
    return {"text": text, "dense": dense}


@pytest.mark.parametrize("kind", ["text", "dense"])
@pytest.mark.parametrize("command", ["predict", "evaluate", "plot"])
def test_a_model_file_that_is_not_a_picker_model_is_named(
    env, tmp_path, capsys, not_picker_models, command, kind
):
    bad = not_picker_models[kind]
    model_env = {**env, "model": str(bad)}
    assert run_command(command, model_env, good_inputs(command, env), tmp_path) == 2  # usage
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and bad.name in errors[0], errors
    assert not (tmp_path / "picks.csv").exists()


# ----------------------------------------------------------------------------- untrusted inputs
# (NPZ pickles, Keras safe mode, YAML tags and convert path traversal: test_io_npz,
# test_keras_utils, test_config and test_cli)


def test_quakeml_picks_with_an_external_entity_never_read_the_file(env, tmp_path, capsys):
    from picker.picks.formats import write_picks
    from picker.picks.pick import Pick

    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET", encoding="utf-8")
    pick = Pick("a.mseed", "XX.GOOD..HH", "P", format_time(T0 + 10), GOOD_P, 0.9)
    write_picks([pick], tmp_path / "picks.xml", "quakeml")
    head, body = (tmp_path / "picks.xml").read_text(encoding="utf-8").split("\n", 1)
    doctype = f'<!DOCTYPE q [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    body = body.replace("<phaseHint>P</phaseHint>", "<phaseHint>&xxe;</phaseHint>")
    evil = tmp_path / "evil.xml"
    evil.write_text(f"{head}\n{doctype}\n{body}", encoding="utf-8")
    figures = tmp_path / "figures"
    args = ["plot", str(env["good"] / "good.mseed"), "-o", str(figures), "--no-predict"]
    assert main([*args, "--reference", str(evil)]) == 1
    err = capsys.readouterr().err
    assert "evil.xml" in err and "TOPSECRET" not in err
    assert not figures.exists()
