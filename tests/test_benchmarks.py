"""Smoke tests of the benchmark scripts' building blocks on tiny inputs (no benchmark is run).

The scripts live in ``benchmarks/`` (not a package; they import each other by module name), so
the folder goes on ``sys.path`` for this module.
"""

import importlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield SimpleNamespace(
            **{
                name: importlib.import_module(name)
                for name in (
                    "common",
                    "continuous_day",
                    "flops",
                    "holdout_day",
                    "holdout_sets",
                    "noise_false_picks",
                    "compare_seisbench_runs",
                    "seisbench_phasenet",
                    "train_bundled",
                    "training_mix",
                )
            }
        )
    finally:
        sys.path.remove(str(BENCHMARKS))


# ----------------------------------------------------------------------------- common


def test_run_timed_measures_the_child_alone(bench, tmp_path):
    code = "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096])"
    m = bench.common.run_timed([sys.executable, "-c", code], log_path=tmp_path / "log")
    assert m.returncode == 0
    assert 200 <= m.max_rss_mib < 400  # the 200 MiB buffer, not this (test) process's memory
    assert m.wall_s > 0 and m.cpu_s >= 0


def test_run_timed_reports_failures(bench, tmp_path):
    cmd = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    with pytest.raises(bench.common.CommandFailed, match="exit 3"):
        bench.common.run_timed(cmd, log_path=tmp_path / "log")
    assert bench.common.run_timed(cmd, check=False).returncode == 3


def test_median_and_table(bench):
    M = bench.common.Measurement
    m = bench.common.median_measurement([M(1, 1, 0, 10), M(3, 2, 1, 30), M(2, 4, 0, 20)])
    assert (m.wall_s, m.user_s, m.sys_s, m.max_rss_mib, m.cpu_s) == (2, 2, 0, 20, 2)
    table = bench.common.markdown_table(["a", "b"], [("x", 1.23456), ("y", 1234.5)])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x | 1.23 |", "| y | 1,234 |"]
    info = bench.common.machine_info()
    assert info["cores"] >= 1 and "python" in bench.common.machine_line(info)


# ----------------------------------------------------------------------------- continuous_day


@pytest.mark.parametrize("encoding, dtype", [("STEIM2", np.int32), ("FLOAT32", np.float32)])
def test_station_file_has_three_components_at_100_hz(bench, tmp_path, encoding, dtype):
    import obspy

    path = tmp_path / "x.mseed"
    picks = bench.continuous_day.write_station_file(
        path, "2024-01-01", 700.0, seed=1, encoding=encoding
    )
    stream = obspy.read(str(path))
    assert sorted(tr.stats.channel for tr in stream) == ["HHE", "HHN", "HHZ"]
    for tr in stream:
        assert tr.stats.sampling_rate == 100.0
        assert tr.stats.npts == 70000
        assert tr.data.dtype == dtype
        assert tr.stats.mseed.encoding == encoding
        assert tr.id.startswith("SY.BENCH..")
    assert picks and {phase for phase, _ in picks} <= {"P", "S"}
    if encoding == "STEIM2":  # noise std ~ COUNTS_PER_UNIT counts
        noise_std = np.median([np.std(tr.data[:500]) for tr in stream])
        assert 0.2 * 1000 < noise_std < 5 * 1000


def test_dataset_days_are_consecutive_and_reused(bench, tmp_path):
    import obspy

    manifest = bench.continuous_day.make_dataset(tmp_path, days=2, hours=0.02, encoding="STEIM2")
    assert len(manifest["day_files"]) == 2 and manifest["long_file"]
    first, second = (obspy.read(p) for p in manifest["day_files"])
    assert second[0].stats.starttime == first[0].stats.endtime + 0.01
    long = obspy.read(manifest["long_file"])
    assert len(long) == 3 and all(tr.stats.npts == 2 * 7200 for tr in long)
    assert manifest["station_days_per_file"] == pytest.approx(0.02 / 24)
    stamp = Path(manifest["day_files"][0]).stat().st_mtime_ns
    assert bench.continuous_day.make_dataset(tmp_path, 2, 0.02, "STEIM2") == manifest
    assert Path(manifest["day_files"][0]).stat().st_mtime_ns == stamp  # not remade
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest


def test_speed_benchmarks_run_the_bundled_model_not_the_stand_in(bench, tmp_path):
    from picker.models.onnx_model import BUNDLED_ONNX

    cd = bench.continuous_day
    assert cd.bundled_model_path() == BUNDLED_ONNX and BUNDLED_ONNX.is_file()
    assert cd.resolve_model(None, tmp_path) == str(BUNDLED_ONNX)
    assert not (tmp_path / "untrained_standin.onnx").exists()


def test_plan_and_report(bench, tmp_path):
    cd = bench.continuous_day
    manifest = {
        "params": {},
        "day_files": ["a.mseed", "b.mseed"],
        "long_file": "ab.mseed",
        "tiny_file": "t.mseed",
        "station_days_per_file": 1.0,
    }
    items = cd.plan(manifest, "m.keras", tmp_path, python="py", skip=["help"])
    names = [item["name"] for item in items]
    assert names == ["import", "tiny", "day", "archive", "long"]
    archive = items[names.index("archive")]
    assert archive["cmd"][:4] == ["py", "-m", "picker.cli", "predict"]
    assert archive["cmd"][4:6] == ["a.mseed", "b.mseed"] and archive["station_days"] == 2
    M = bench.common.Measurement
    fake = {"import": [M(0.2, 0.2, 0, 40)], "tiny": [M(4, 4, 0, 800)], "day": [M(14, 20, 1, 1800)]}
    fake |= {"archive": [M(24, 38, 2, 1900)], "long": [M(24, 38, 2, 3000)]}
    rows = cd.summarise(items, fake)
    day = rows[names.index("day")]
    assert day["station_days_per_wall_hour"] == pytest.approx(3600 / 14)
    ratios = dict((name, measured) for name, _, measured in cd.scaling(rows))
    assert ratios["archive / day: wall time"].startswith("1.71 (2.00 without start-up)")
    assert ratios["long / day: peak RSS"] == "1.67"
    assert "station-days / wall h" in cd.report({**bench.common.machine_info()}, rows, 1, {}, "m")


def test_standin_model_rarely_picks(bench):
    model = bench.continuous_day.standin_model()
    bias = model.get_layer("logits").get_weights()[1]
    assert bias.tolist() == [bench.continuous_day.STANDIN_NOISE_BIAS, 0.0, 0.0]
    x = np.random.default_rng(0).standard_normal((1, 2048, 3)).astype(np.float32)
    assert float(np.asarray(model(x))[0, :, 1:].max()) < 0.5


# ----------------------------------------------------------------------------- flops


def test_flops_of_one_conv1d_layer_match_a_hand_count(bench):
    import keras

    model = keras.Sequential(
        [keras.Input((None, 3)), keras.layers.Conv1D(4, 5, padding="same", use_bias=False)]
    )
    counted = bench.flops.count_flops(model, 64)
    assert counted["total"] == 2 * 64 * 4 * 5 * 3  # 2 FLOPs per multiply-add
    assert counted["per_sample"] == 2 * 4 * 5 * 3 and not counted["unknown"]


def test_flops_of_transpose_batchnorm_relu_and_bias(bench):
    import keras

    inputs = keras.Input((None, 3))
    x = keras.layers.Conv1D(6, 3, strides=2, padding="same", use_bias=True)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv1DTranspose(4, 3, strides=2, padding="same", use_bias=False)(x)
    model = keras.Model(inputs, x)
    layers = {kind: flops for _, kind, _, flops in bench.flops.count_flops(model, 32)["layers"]}
    assert layers["Conv1D"] == 2 * 16 * 6 * 3 * 3 + 16 * 6  # 16 outputs after stride 2, + bias
    assert layers["BatchNormalization"] == 2 * 16 * 6
    assert layers["Activation"] == 16 * 6
    assert layers["Conv1DTranspose"] == 2 * 16 * 6 * 3 * 4  # each of 16 inputs -> 3 taps


def test_flops_of_the_picker_model_are_linear_and_complete(bench):
    from picker.config import ModelConfig
    from picker.models.unet import build_model

    model = build_model(ModelConfig(filters=[4, 8, 8], kernel_size=5, stride=4))
    stride = bench.flops.model_stride(model)
    assert stride == 16
    small, large = (bench.flops.count_flops(model, n) for n in (16 * 8, 16 * 32))
    assert not small["unknown"]
    assert small["per_sample"] == pytest.approx(large["per_sample"])
    # stem: 3 -> 4 channels, kernel 5, full rate, no bias
    stem = next(row for row in small["layers"] if row[0] == "stem_conv")
    assert stem[3] == 2 * 128 * 4 * 5 * 3


def test_theoretical_peak_states_its_assumption(bench):
    peak = bench.flops.theoretical_peak(cores=2)
    assert peak["per_cycle"] in (8, 32, 64) and peak["assumption"]
    if peak["mhz"]:
        assert peak["flops"] == pytest.approx(2 * peak["mhz"] * 1e6 * peak["per_cycle"])


# ----------------------------------------------------------------------------- compare_seisbench


def test_compare_commands_and_report(bench, tmp_path):
    runs = bench.compare_seisbench_runs
    sb = runs.commands("seisbench", ["a"], tmp_path / "o.csv", seisbench_python="sp", model="m")
    assert sb[:2] == ["sp", str(BENCHMARKS / "seisbench_phasenet.py")] and "a" in sb
    pk = runs.commands(
        "picker", ["a"], tmp_path / "o.csv", seisbench_python="sp", model="m", threshold=0.4
    )
    assert pk[1:4] == ["-m", "picker.cli", "predict"] and pk[-2:] == ["--threshold", "0.4"]
    median = {"wall_s": 10.0, "cpu_s": 18.0, "max_rss_mib": 1000.0}
    results = [
        {"case": "day", "tool": "seisbench", "station_days": 1.0, "median": median, "picks": 3},
        {
            "case": "day",
            "tool": "picker",
            "station_days": 1.0,
            "median": {"wall_s": 5.0, "cpu_s": 9.0, "max_rss_mib": 1500.0},
            "picks": 4,
        },
    ]
    text = runs.report({**bench.common.machine_info()}, results, 3, {"picker": "m"})
    assert "| day | picker | 0.50 | 0.50 | 1.50 |" in text
    # a comparison model (--pretrained: the imported PhaseNet) is a third tool of every round,
    # with its own ratio against the same SeisBench runs
    pn = runs.commands(
        "picker PhaseNet", ["a"], tmp_path / "o.csv", seisbench_python="sp", model="pn.onnx"
    )
    assert pn[1:4] == ["-m", "picker.cli", "predict"] and pn[-2:] == ["--model", "pn.onnx"]
    with pytest.raises(ValueError, match="tool must be"):
        runs.commands("pickers", ["a"], tmp_path / "o.csv", seisbench_python="sp", model="m")
    results.append(
        {
            "case": "day",
            "tool": "picker PhaseNet",
            "station_days": 1.0,
            "median": {"wall_s": 2.5, "cpu_s": 4.5, "max_rss_mib": 500.0},
            "picks": 5,
        }
    )
    text = runs.report(
        {**bench.common.machine_info()}, results, 3, {"picker": "m", "picker PhaseNet": "pn"}
    )
    assert "| day | picker | 0.50 | 0.50 | 1.50 |" in text
    assert "| day | picker PhaseNet | 0.25 | 0.25 | 0.50 |" in text
    assert "picker PhaseNet: pn" in text


def test_published_models_are_imported_once_and_skipped_when_absent(bench, tmp_path, capsys):
    common = bench.common
    assert common.import_published(tmp_path / "nowhere", tmp_path / "models") == {}
    assert "nowhere: not found, published models skipped" in capsys.readouterr().err
    pretrained = tmp_path / "pretrained"
    (pretrained / "phasenet").mkdir(parents=True)  # EQTransformer's file is missing
    models = tmp_path / "models"
    models.mkdir()
    (models / "phasenet.onnx").write_bytes(b"imported before")  # reused, not imported again
    assert common.import_published(pretrained, models) == {"PhaseNet": models / "phasenet.onnx"}
    assert "EqT_original.h5: not found, EQT skipped" in capsys.readouterr().err
    assert (models / "phasenet.onnx").read_bytes() == b"imported before"
    # the command-line options: --pretrained models first, then --compare files by name
    parser = __import__("argparse").ArgumentParser()
    common.add_comparison_arguments(parser)
    other = tmp_path / "other.keras"
    other.write_bytes(b"")
    args = parser.parse_args(
        ["--pretrained", str(pretrained), "--models-dir", str(models), "--compare", str(other)]
    )
    assert common.comparison_models(args) == [
        ("PhaseNet", str(models / "phasenet.onnx")),
        ("other", str(other)),
    ]
    assert common.comparison_models(parser.parse_args([])) == []
    with pytest.raises(SystemExit, match="missing.onnx: not found"):
        common.comparison_models(parser.parse_args(["--compare", str(tmp_path / "missing.onnx")]))


# ----------------------------------------------------------------------------- train_bundled


def test_stretched_copies_scale_data_and_picks_together(bench):
    from picker.training.synthetic import synthetic_window

    record = synthetic_window(4000, 100.0, p_sample=1000, rng=np.random.default_rng(3))
    copies = bench.training_mix.stretched_copies([record], 6, seed=0)
    assert len(copies) == 6
    for copy in copies:
        factor = copy.n_samples / record.n_samples
        assert 0.69 <= factor <= 1.41
        assert copy.sampling_rate_hz == 100.0
        assert abs(copy.p_arrival_sample - factor * record.p_arrival_sample) <= 1
        assert abs(copy.s_arrival_sample - factor * record.s_arrival_sample) <= 1
    assert len({c.n_samples for c in copies}) > 1  # the factors differ


def test_holdout_windows_keep_p_inside_and_their_references_on_the_data(bench):
    from picker.io.base import Record

    data = np.zeros((9001, 3), np.float32)
    data[3000, 2], data[3400, 2] = 1.0, 2.0  # P and S marked on the vertical
    record = Record(data, 100.0, "XX.A..", p_arrival_sample=3000, s_arrival_sample=3400)
    short = Record(data[:2000], 100.0, "XX.B..", p_arrival_sample=1000)
    windows, refs = bench.holdout_sets.holdout_windows([record, short], seed=1)
    assert len(windows) == 3  # the record shorter than a window gives none
    for window, (p, s) in zip(windows, refs, strict=True):
        assert window.shape == (bench.holdout_sets.WINDOW, 3)
        assert 100 <= p <= bench.holdout_sets.WINDOW - 100 and window[p, 2] == 1.0
        assert s == -1 or window[s, 2] == 2.0
    assert any(s >= 0 for _, s in refs)
    noise = bench.holdout_sets.noise_windows([record])
    assert len(noise) == 0  # 2950 samples before P: shorter than one window


def test_station_fractions_are_nested_and_near_their_size(bench):
    """A learning curve's smaller training sets are subsets of its larger ones."""
    stations = [f"NC.S{i:03d}" for i in range(2000)]
    chosen = {
        f: {s for s in stations if bench.holdout_sets.in_station_fraction(s, f)}
        for f in (0.0, 0.25, 0.5, 1.0)
    }
    assert chosen[0.0] == set() and chosen[1.0] == set(stations)
    assert chosen[0.25] < chosen[0.5]
    assert abs(len(chosen[0.5]) - 1000) < 100 and abs(len(chosen[0.25]) - 500) < 100


def test_station_folds_partition_the_ncedc_stations(bench):
    """Every NCEDC station is held out in exactly one fold (fold 0: the bundled model's
    hold-out); the Martinique hold-out is the same in every fold."""
    hs = bench.holdout_sets
    stations = [f"NC.S{i:03d}" for i in range(500)]
    folds = [{s for s in stations if hs.is_holdout("ncedc", s, k)} for k in range(hs.N_FOLDS)]
    assert sum(len(f) for f in folds) == len(stations)
    assert set().union(*folds) == set(stations)
    assert folds[0] == {s for s in stations if hs.is_holdout("ncedc", s)}
    assert all(60 < len(f) < 140 for f in folds)
    for k in range(hs.N_FOLDS):
        assert hs.is_holdout("martinique", "WI.SAM", k) and not hs.is_holdout(
            "martinique", "MQ.X", k
        )
    with pytest.raises(ValueError, match="fold must be in 0..4"):
        hs.is_holdout("ncedc", "NC.S000", 5)


def test_training_station_records_are_the_complement_of_the_hold_out(bench):
    hs = bench.holdout_sets
    real = [
        (f"{region}:{station}", region, station)  # stand-ins for the records
        for region, stations in (
            ("ncedc", [f"NC.S{i:03d}" for i in range(40)]),
            ("martinique", ["WI.SAM", "MQ.X", "G.FDF"]),
            ("ta109c", ["TA.109C"]),
        )
        for station in stations
    ]
    for fold in (0, 3):
        train = hs.training_station_records(real, fold)
        held = [
            r
            for region in ("ncedc", "martinique", "ta109c")
            for r in hs.holdout_records(real, region, fold)
        ]
        assert sorted(train + held) == sorted(r for r, _, _ in real)
        assert not set(train) & set(held)
        assert "martinique:MQ.X" in train and "ta109c:TA.109C" not in train


def test_random_coloured_noise_is_unit_std_and_varied(bench):
    rng = np.random.default_rng(0)
    draws = [bench.training_mix.random_coloured_noise(4096, rng) for _ in range(8)]
    for noise in draws:
        assert noise.shape == (4096, 3) and noise.dtype == np.float32
        np.testing.assert_allclose(noise.std(axis=0), 1.0, rtol=1e-4)
    # spectra differ between draws: the share of power above 10 Hz is not one constant
    high = [
        (np.abs(np.fft.rfft(n[:, 2])) ** 2)[np.fft.rfftfreq(4096, 0.01) > 10].sum()
        / (np.abs(np.fft.rfft(n[:, 2])) ** 2).sum()
        for n in draws
    ]
    assert max(high) - min(high) > 0.2


def test_operating_point_option_is_checked(bench):
    import argparse

    assert bench.train_bundled._threshold_pair("0.6,0.55") == (0.6, 0.55)
    for bad in ("0.6", "0.6,x", "0.6,1.0"):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.train_bundled._threshold_pair(bad)


def test_region_weights_list_a_region_n_times_and_zero_leaves_it_out(bench):
    import argparse

    weights = bench.train_bundled._region_weights("martinique=0,deepdenoiser=2")
    assert weights == {"martinique": 0, "deepdenoiser": 2}
    for bad in ("martinique", "martinique=-1", "japan=2", "ncedc=x"):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.train_bundled._region_weights(bad)


def test_ensemble_scores_the_average_of_its_members(bench, tmp_path):
    import keras

    from picker.config import ModelConfig
    from picker.models.saving import save_model
    from picker.models.unet import build_model

    paths = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        model = build_model(ModelConfig(filters=[4, 8], kernel_size=3, data_format="channels_last"))
        paths.append(save_model(model, tmp_path / f"m{seed}.keras"))
    x = np.random.default_rng(0).normal(size=(2, 301, 3)).astype(np.float32)
    members = [keras.saving.load_model(p, safe_mode=True)(x) for p in paths]
    members = [np.asarray(m) for m in members]
    assert not np.allclose(members[0], members[1])  # two different networks
    ensemble = bench.holdout_sets.average_of(paths)
    np.testing.assert_allclose(np.asarray(ensemble(x)), (members[0] + members[1]) / 2, atol=1e-6)


def test_training_records_are_cut_free_of_unlabelled_events(bench):
    from oracle import make_oracle, spikes

    from picker.io.base import Record

    labelled = Record(
        spikes(10_000, [1000, 4000, 8000], [1100, 4500]), 100.0, "XX.A..HH", None, 4000, 4500
    )
    noise = Record(spikes(10_000, [2000]), 100.0, "XX.B..HH", None, name="noise")
    short = Record(spikes(6000, [1500, 3000], []), 100.0, "XX.C..HH", None, 1500, name="short")
    clean = Record(spikes(6000, [3000], [3300]), 100.0, "XX.D..HH", None, 3000, 3300, name="clean")
    kept = bench.train_bundled.cut_unlabelled_events([labelled, noise, short, clean], make_oracle())
    # labelled: from 3 s after the unlabelled S at 1100 to 3 s before the P at 8000
    cut, quiet, same = kept
    np.testing.assert_array_equal(cut.data, labelled.data[1400:7700])
    assert (cut.p_arrival_sample, cut.s_arrival_sample) == (2600, 3100)
    # a pick-free record keeps its longest pick-free span; "short" (2700 samples) is dropped
    np.testing.assert_array_equal(quiet.data, noise.data[2300:])
    assert (quiet.p_arrival_sample, quiet.s_arrival_sample) == (-1, -1)
    assert same is clean


def test_a_longer_fixed_input_model_is_scored_on_whole_records_only(bench, monkeypatch):
    import keras
    from oracle import make_oracle, spikes

    from picker.io.base import Record

    hs = bench.holdout_sets
    assert hs.takes_windows(make_oracle())
    fixed = keras.Model(*(lambda x: (x, keras.layers.Conv1D(3, 1)(x)))(keras.Input((6000, 3))))
    assert not hs.takes_windows(fixed)  # EQTransformer's 6000 samples: no 3001-sample windows
    record = Record(spikes(6000, [3000], [4000]), 100.0, "XX.A..HH")
    record.p_arrival_sample, record.s_arrival_sample = 3000, 4000
    both = hs.score(make_oracle(), [record])
    assert {"windows_3001", "whole_records"} <= set(both)
    monkeypatch.setattr(hs, "takes_windows", lambda model: False)
    whole = hs.score(make_oracle(), [record])
    assert list(whole) == ["whole_records"]
    for phase in ("P", "S"):  # the same whole-record scores, one true pick each
        counts = [
            {k: run["whole_records"]["phases"][phase][k] for k in ("tp", "fp", "fn")}
            for run in (whole, both)
        ]
        assert counts == [{"tp": 1, "fp": 0, "fn": 0}] * 2


def test_score_report_prints_a_row_per_model_where_it_applies(bench, capsys):
    phases = {
        ph: {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "tp": 1, "fp": 0, "fn": 1}
        | {"residual_mean_ms": 0.0, "residual_std_ms": 0.0, "residual_mae_ms": 0.0}
        | {"false_picks_per_hour": 0.0}
        for ph in ("P", "S")
    }
    full = {k: {"phases": phases} for k in ("windows_3001", "whole_records")}
    whole = {"whole_records": {"phases": phases}}  # EQTransformer: no 3001-sample windows
    split = ("ncedc_holdout", "martinique_holdout")
    report = {s: full for s in split} | {
        "comparisons": {"PhaseNet": {s: full for s in split}, "EQT": {s: whole for s in split}}
    }
    bench.train_bundled._print_report(report)
    out = capsys.readouterr().out
    windows = out.split("ncedc_holdout / windows_3001\n")[1].split("\n\n")[0].splitlines()
    assert [row.split()[:2] for row in windows[1:]] == [
        ["picker", "P"],
        ["picker", "S"],
        ["PhaseNet", "P"],
        ["PhaseNet", "S"],
    ]
    records = out.split("ncedc_holdout / whole_records\n")[1].split("\n\n")[0].splitlines()
    assert [row.split()[0] for row in records[1:]] == ["picker"] * 2 + ["PhaseNet"] * 2 + [
        "EQT"
    ] * 2
    assert "vertical_only" not in out  # no model has that section


def test_noise_kinds_are_pick_free_windows_and_picks_are_counted_per_hour(bench):
    from oracle import make_oracle, spikes

    nfp = bench.noise_false_picks
    kinds = dict(nfp.synthetic_kinds(np.random.default_rng(0)))
    assert {"white", "coloured", "vertical_only", "spikes", "step", "bursts"} <= set(kinds)
    for name, make in kinds.items():
        x = make()
        assert x.shape == (nfp.WINDOW, 3) and np.isfinite(x).all(), name
    assert not kinds["vertical_only"]()[:, :2].any()
    assert np.abs(kinds["spikes"]()).max() > 15  # white noise alone stays below ~5
    # the oracle picks P at Z spikes and S at E spikes: 2 P and 1 S in 2 windows of 30.01 s
    windows = [spikes(nfp.WINDOW, [500]), spikes(nfp.WINDOW, [1000], [2000])]
    row = nfp.count_picks(make_oracle(), windows)
    hours = 2 * nfp.WINDOW / 100 / 3600
    assert row["windows"] == 2
    assert row["P_per_hour"] == round(2 / hours, 1) and row["S_per_hour"] == round(1 / hours, 1)


def test_stricter_quiet_test_keeps_out_a_small_event_the_default_lets_through(bench):
    from picker.training.synthetic import synthetic_window

    hd = bench.holdout_day
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((3000, 3)).astype(np.float32)
    assert hd.is_quiet(noise) and hd.is_quiet(noise, max_sta_lta=2.5)
    assert hd.sta_lta_max(noise) < 2.0
    # a small event at 12 dB: within 6 std after the high-pass, but clear in the 2-20 Hz STA/LTA
    event = synthetic_window(3000, 100.0, p_sample=1800, rng=rng, noise=noise, snr_db=12.0)
    assert hd.is_quiet(event.data)
    assert hd.sta_lta_max(event.data) > 3.0
    assert not hd.is_quiet(event.data, max_sta_lta=2.5)
    assert hd.sta_lta_max(noise[:1500]) == 0.0  # too short for a 10 s LTA after its own start
    # a limit no noise meets: a clear error, not an IndexError deep in the day's construction
    record = synthetic_window(6000, 100.0, p_sample=4000, rng=rng, snr_db=30.0)
    with pytest.raises(ValueError, match=r"quiet test \(--max-sta-lta 1.01\)"):
        hd.build_day([record], seed=0, max_sta_lta=1.01)


def test_holdout_day_cuts_each_event_and_places_its_picks(bench, monkeypatch):
    from picker.training.synthetic import synthetic_window

    hd = bench.holdout_day
    monkeypatch.setattr(hd, "DAY_S", 1800.0)  # a short "day": 6 slots of 300 s
    rng = np.random.default_rng(5)
    records = []
    for k in range(6):
        r = synthetic_window(12000, 100.0, p_sample=4000, rng=rng, snr_db=30.0)
        # an unlabelled "aftershock" 40 s after P: a 1000-sigma spike the cut must leave out
        r.data[8000, :] += 1000.0 * r.data[:3000].std(axis=0)
        if k % 2:
            r.data[:, :2] = 0.0  # vertical-only station
        records.append(r)
    day, refs = hd.build_day(records, seed=0)
    assert day.shape == (180_000, 3)
    assert len(refs["P"]) == 6 and len(refs["S"]) == sum(r.s_arrival_sample > 0 for r in records)
    for t in refs["P"]:  # each reference P is the onset of an event in the day
        i = round(t * 100)
        before, after = day[i - 150 : i - 10, 2].std(), day[i : i + 140, 2].std()
        assert after > 5 * before
    assert np.abs(day).max() < 200  # no spike: the cut ends 10 s after S
    whole, _ = hd.build_day(records, seed=0, whole=True)
    assert np.abs(whole).max() > 500
    # three-component events first: the horizontals are live in the first half only (after
    # the cross-fade from the slot before)
    horizontal = np.abs(day[:, 0]).reshape(6, -1)[:, hd.FADE :].max(axis=1) > 0
    assert horizontal.tolist() == [True, True, True, False, False, False]


def test_fold_option_selects_that_folds_stations_in_every_hold_out_script(bench, monkeypatch):
    from picker.training.synthetic import synthetic_window

    hs = bench.holdout_sets
    rng = np.random.default_rng(11)

    def record():  # 6450 samples of pre-event noise before the 50-sample margin: two windows
        return synthetic_window(8000, 100.0, p_sample=6500, rng=rng, snr_db=20.0)

    real = [(record(), "ncedc", f"NC.S{k:02d}") for k in range(30)]
    real += [(record(), "martinique", "MQ.BAM"), (record(), "martinique", "MQ.TRI")]
    for fold in range(hs.N_FOLDS):
        chosen = hs.holdout_records(real, "ncedc", fold)
        expected = [r for r, _, st in real[:30] if hs.is_holdout("ncedc", st, fold)]
        assert chosen and [id(r) for r in chosen] == [id(r) for r in expected]
        # the Martinique hold-out (MQ.BAM, not MQ.TRI) is the same in every fold
        assert [id(r) for r in hs.holdout_records(real, "martinique", fold)] == [id(real[30][0])]
    # the noise benchmark's real windows: fold K's NCEDC stations, then Martinique's hold-out
    nfp = bench.noise_false_picks
    monkeypatch.setattr(nfp, "load_real", lambda root: real)
    for fold in (0, 3):
        records = hs.holdout_records(real, "ncedc", fold) + [real[30][0]]
        windows = nfp.real_noise_windows(Path("unused"), fold)
        assert len(windows) == 2 * len(records)
        for k, r in enumerate(records):
            assert np.array_equal(windows[2 * k], r.data[: nfp.WINDOW])
            assert np.array_equal(windows[2 * k + 1], r.data[nfp.WINDOW : 2 * nfp.WINDOW])
    # every hold-out script takes --fold and rejects a fold that does not exist
    for script in (bench.holdout_day, nfp, bench.train_bundled):
        with pytest.raises(SystemExit):
            script.main(["--fold", str(hs.N_FOLDS)])


def test_spectral_filler_keeps_the_noise_spectrum_and_std_but_repeats_nothing(bench):
    from scipy.signal import butter, sosfilt

    hd = bench.holdout_day
    rng = np.random.default_rng(8)
    # 30 s of 2-5 Hz noise on N and Z (E empty), with one loud spike on Z at 10 s
    sos = butter(4, [2.0, 5.0], "bandpass", fs=100.0, output="sos")
    noise = np.zeros((3000, 3))
    noise[:, 1:] = sosfilt(sos, rng.standard_normal((3000, 2)), axis=0)
    noise[1000, 2] += 50 * noise[:, 2].std()
    out = hd.spectral_noise(noise, 60_000, rng)
    assert out.shape == (60_000, 3) and out.dtype == np.float32
    assert not out[:, 0].any()  # the empty component stays empty
    np.testing.assert_allclose(out[:, 1:].std(axis=0), noise[:, 1:].std(axis=0), rtol=1e-5)
    # the spike is not planted: Gaussian noise stays within about 5 std over 60,000 samples
    assert np.abs(out[:, 2]).max() < 6 * out[:, 2].std()
    # the band is kept: most of N's power between 1.5 and 6 Hz, little above 10 Hz
    power = np.abs(np.fft.rfft(out[:, 1])) ** 2
    hz = np.fft.rfftfreq(60_000, 0.01)
    assert power[(hz > 1.5) & (hz < 6)].sum() > 0.9 * power.sum()
    assert power[hz > 10].sum() < 0.01 * power.sum()


def test_spectral_filler_day_places_every_event(bench, monkeypatch):
    from picker.training.synthetic import synthetic_window

    hd = bench.holdout_day
    monkeypatch.setattr(hd, "DAY_S", 1200.0)  # 4 slots of 300 s
    rng = np.random.default_rng(6)
    records = [
        synthetic_window(12000, 100.0, p_sample=4000, rng=rng, snr_db=30.0) for _ in range(4)
    ]
    day, refs = hd.build_day(records, seed=1, spectral=True)
    assert day.shape == (120_000, 3) and len(refs["P"]) == 4
    for t in refs["P"]:  # each reference P is an onset in the day
        i = round(t * 100)
        assert day[i : i + 140, 2].std() > 5 * day[i - 150 : i - 10, 2].std()
