"""``picker convert``, ``train`` and ``info`` run in-process through :func:`picker.cli.main`."""

import csv
import logging

import numpy as np
import pytest
from obspy import UTCDateTime

from picker import __version__
from picker.cli import main
from picker.io import expand_inputs, read_records, write_records
from picker.io.base import Record
from picker.training.synthetic import synthetic_records

N_SAMPLES = 400


@pytest.fixture(scope="module")
def records():
    """Three labelled windows with distinct stations, channels and start times."""
    out = []
    for i, rec in enumerate(synthetic_records(3, n_samples=N_SAMPLES, seed=3)):
        start = UTCDateTime("2021-03-04T05:06:07.123456789Z") + 60 * i
        out.append(rec.with_data(rec.data, start_time=start))
    return out


@pytest.fixture
def npz_dir(tmp_path, records):
    folder = tmp_path / "npz_in"
    write_records(records, folder, "npz")
    return folder


def read_all(*inputs) -> dict[str, Record]:
    """Every record under ``inputs``, by name (names must be unique)."""
    found = {}
    for path in expand_inputs(inputs):
        for rec in read_records(path):
            assert rec.name not in found, f"duplicate record name {rec.name}"
            found[rec.name] = rec
    return found


def assert_same_records(got: dict[str, Record], expected: list[Record]) -> None:
    assert sorted(got) == sorted(r.name for r in expected)
    for rec in expected:
        back = got[rec.name]
        np.testing.assert_array_equal(back.data, rec.data)
        assert back.data.dtype == np.float32
        assert back.p_arrival_sample == rec.p_arrival_sample
        assert back.s_arrival_sample == rec.s_arrival_sample
        assert back.station_id == rec.station_id
        assert back.sampling_rate_hz == rec.sampling_rate_hz
        assert back.channels == rec.channels
        assert back.start_time.ns == rec.start_time.ns


def convert(*args) -> int:
    return main(["convert", *map(str, args)])


# --------------------------------------------------------------------------------------------
# usage


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: picker")
    for command in ("convert", "train", "info"):
        assert command in out


def test_no_command_prints_usage_and_returns_2(capsys):
    assert main([]) == 2
    assert "usage: picker" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"picker {__version__}"


def test_missing_required_option_is_a_usage_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(tmp_path)])  # no --output / --to
    assert exit_info.value.code == 2
    assert "required" in capsys.readouterr().err


def test_main_leaves_the_callers_logging_alone(caplog, tmp_path):
    """Running main in-process must not remove the root handlers (here pytest's caplog)."""
    root_handlers = list(logging.getLogger().handlers)
    with caplog.at_level(logging.INFO):
        assert convert(tmp_path / "missing.npz", "-o", tmp_path / "out", "--to", "npz") == 1
    assert logging.getLogger().handlers == root_handlers
    assert "missing.npz" in caplog.text


# --------------------------------------------------------------------------------------------
# convert


def test_chain_npz_tfrecord_seisbench_stead_npz_is_exact(tmp_path, npz_dir, records):
    tfr, seisbench, stead, npz = (tmp_path / name for name in ("tfr", "sb", "stead", "npz"))
    assert convert(npz_dir, "-o", tfr, "--to", "tfrecord", "-q") == 0
    assert [p.name for p in tfr.iterdir()] == ["records-00000-of-00001.tfrecord"]
    assert convert(tfr, "-o", seisbench, "--to", "hdf5", "-q") == 0
    assert sorted(p.name for p in seisbench.iterdir()) == ["metadata.csv", "waveforms.hdf5"]
    assert convert(seisbench, "-o", stead, "--to", "stead", "-q") == 0
    assert [p.name for p in stead.iterdir()] == ["waveforms_stead.hdf5"]
    assert convert(stead, "-o", npz, "--to", "npz", "-q") == 0
    assert sorted(p.name for p in npz.iterdir()) == sorted(f"{r.name}.npz" for r in records)
    for folder in (tfr, seisbench, stead, npz):
        assert_same_records(read_all(folder), records)


def test_mseed_output_is_one_file_per_record(tmp_path, npz_dir, records):
    out = tmp_path / "mseed"
    assert convert(npz_dir, "-o", out, "--to", "mseed", "-q") == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{r.name}.mseed" for r in records)
    for rec in records:
        (back,) = read_records(out / f"{rec.name}.mseed")
        np.testing.assert_array_equal(back.data, rec.data)
        assert back.station_id == rec.station_id
        assert back.start_time.ns == rec.start_time.ns


def test_records_per_shard_names_the_shards(tmp_path, npz_dir, records):
    out = tmp_path / "tfr"
    assert convert(npz_dir, "-o", out, "--to", "tfrecord", "--records-per-shard", "2") == 0
    shards = sorted(p.name for p in out.iterdir())
    assert shards == ["records-00000-of-00002.tfrecord", "records-00001-of-00002.tfrecord"]
    assert [len(list(read_records(out / name))) for name in shards] == [2, 1]
    assert_same_records(read_all(out), records)


def test_bad_inputs_are_named_and_the_good_ones_still_converted(tmp_path, npz_dir, records, capsys):
    (npz_dir / "x.npz").write_bytes(b"\x00garbage, not a zip archive" * 10)
    (npz_dir / "empty.npz").write_bytes(b"")
    missing = tmp_path / "missing.npz"
    out = tmp_path / "out"
    assert convert(npz_dir, missing, "-o", out, "--to", "npz") == 1
    assert_same_records(read_all(out), records)
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("ERROR")]
    for name in ("x.npz", "empty.npz", "missing.npz"):
        assert any(name in line for line in error_lines), (name, err)
    assert "3 input(s) failed, 3 record(s) done" in err


def test_strict_stops_at_the_first_bad_input(tmp_path, npz_dir, capsys):
    first_bad = tmp_path / "a_bad.npz"
    first_bad.write_bytes(b"not an npz")
    second_bad = tmp_path / "z_bad.npz"
    second_bad.write_bytes(b"")
    code = convert(
        first_bad, npz_dir, second_bad, "-o", tmp_path / "out", "--to", "npz", "--strict"
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "a_bad.npz" in err
    assert "z_bad.npz" not in err
    assert "--strict" in err


def test_record_names_cannot_leave_the_output_folder(tmp_path, records):
    evil = [
        records[0].with_data(records[0].data, name="../../evil"),
        records[1].with_data(records[1].data, name="/abs/evil2"),
        records[2].with_data(records[2].data, name=".."),
    ]
    tfr = tmp_path / "in" / "evil.tfrecord"
    write_records(evil, tfr, "tfrecord")
    for fmt in ("npz", "mseed"):
        out = tmp_path / "deep" / "er" / fmt
        assert convert(tfr, "-o", out, "--to", fmt, "-q") == 0
        written = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p != tfr)
        assert len(written) == 3
        for path in written:
            assert path.parent == out
            assert not path.name.startswith(".")
        for path in written:
            path.unlink()


def test_write_records_keeps_evil_names_inside(tmp_path, records):
    rec = records[0].with_data(records[0].data, name="../../evil")
    out = tmp_path / "a" / "b"
    (path,) = write_records([rec], out, "npz")
    assert path.resolve().parent == out.resolve()
    assert not (tmp_path / "evil.npz").exists()


def test_long_and_clashing_names_are_shortened_and_made_unique(tmp_path, records):
    names = ["é" * 300, "Same", "same", "same_1", "../same"]
    recs = [records[0].with_data(records[0].data, name=name) for name in names]
    paths = write_records(recs, tmp_path / "out", "npz")
    assert len({p.name.lower() for p in paths}) == len(names)
    assert all(p.parent == tmp_path / "out" and p.exists() for p in paths)
    assert all(len(p.name.encode()) <= 255 for p in paths)


def test_quiet_hides_info_but_not_errors(tmp_path, npz_dir, capsys):
    assert convert(npz_dir, "-o", tmp_path / "a", "--to", "npz") == 0
    assert "3 record(s) done" in capsys.readouterr().err
    assert convert(npz_dir, "-o", tmp_path / "b", "--to", "npz", "-q") == 0
    assert capsys.readouterr().err == ""
    assert convert(tmp_path / "missing", "-o", tmp_path / "c", "--to", "npz", "-q") == 1
    assert "missing" in capsys.readouterr().err


def test_duplicate_record_names_do_not_overwrite_each_other(tmp_path, records):
    first, second = records[0], records[1]
    write_records([first.with_data(first.data, name="same")], tmp_path / "a", "npz")
    write_records([second.with_data(second.data, name="same")], tmp_path / "b", "npz")
    for fmt in ("npz", "mseed"):
        out = tmp_path / f"out_{fmt}"
        assert convert(tmp_path / "a", tmp_path / "b", "-o", out, "--to", fmt, "-q") == 0
        files = sorted(out.iterdir())
        assert len(files) == 2
        got = sorted(
            (np.asarray(next(read_records(p)).data) for p in files), key=lambda d: float(d[0, 0])
        )
        want = sorted((first.data, second.data), key=lambda d: float(d[0, 0]))
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def test_npz_layout_and_component_order_reach_the_reader(tmp_path):
    rng = np.random.default_rng(5)
    zne = rng.standard_normal((3, 200)).astype(np.float32)  # channels first, rows Z, N, E
    enz = zne[::-1].T  # what the record must hold
    src = tmp_path / "in"
    src.mkdir()
    # the file's own (wrong) component_order key is overridden by --component-order
    np.savez(src / "misleading.npz", data=zne, component_order=np.str_("ENZ"))
    # a 3 x 3 window: "auto" would take it as channels last
    np.savez(src / "square.npz", data=zne[:, :3])
    options = ["--npz-layout", "channels_first", "--component-order", "ZNE"]
    out = tmp_path / "out"
    assert convert(src, "-o", out, "--to", "npz", "-q", *options) == 0
    got = read_all(out)
    np.testing.assert_array_equal(got["misleading"].data, enz)
    np.testing.assert_array_equal(got["square"].data, enz[:3])

    plain = tmp_path / "plain"
    assert convert(src, "-o", plain, "--to", "npz", "-q") == 0
    assert not np.array_equal(read_all(plain)["misleading"].data, enz)


# --------------------------------------------------------------------------------------------
# train


TINY_CONFIG = """\
data:
  train: [{train}]
  window_samples: 256
  batch_size: 4
  shuffle_buffer: 8
model:
  filters: [4, 8]
  kernel_size: 3
  stride: 2
train:
  epochs: {epochs}
  steps_per_epoch: {steps}
  tensorboard: false
  early_stopping_patience: 0
"""


def test_train_writes_model_config_and_log(tmp_path, npz_dir):
    from picker.config import load_config
    from picker.models.saving import load_model

    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG.format(train=npz_dir, epochs=5, steps=50), encoding="utf-8")
    out = tmp_path / "run"
    args = ["train", "--config", str(config), "-o", str(out), "--epochs", "1"]
    assert main([*args, "--steps-per-epoch", "2", "-q"]) == 0
    for name in ("model.keras", "config.yaml", "training_log.csv"):
        assert (out / name).is_file(), name
    saved = load_config(out / "config.yaml")
    assert saved.model.filters == [4, 8]
    assert (saved.train.epochs, saved.train.steps_per_epoch) == (1, 2)  # the CLI overrides
    with open(out / "training_log.csv", newline="") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["0"]
    model = load_model(out / "model.keras")
    assert model.predict(np.zeros((1, 256, 3), np.float32), verbose=0).shape == (1, 256, 3)


def test_train_rejects_an_unknown_key_naming_it_and_the_file(tmp_path, capsys):
    config = tmp_path / "typo.yaml"
    config.write_text("train:\n  epocs: 3\n", encoding="utf-8")
    assert main(["train", "--config", str(config), "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "train.epocs" in err
    assert str(config) in err
    assert not (tmp_path / "run").exists()


def test_train_with_a_missing_config_is_a_usage_error(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_train_without_training_data_is_a_usage_error(tmp_path, capsys):
    config = tmp_path / "nodata.yaml"
    config.write_text(TINY_CONFIG.format(train="", epochs=1, steps=1), encoding="utf-8")
    assert main(["train", "--config", str(config), "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "data.train" in err
    assert str(config) in err
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------------------------
# info


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    from picker.config import ModelConfig
    from picker.models.saving import InputSettings, save_model, set_input_settings
    from picker.models.unet import build_model

    model = build_model(ModelConfig(filters=[4, 8], kernel_size=3, stride=2))
    set_input_settings(model, InputSettings(highpass_hz=0.5, normalization_window_s=20.0))
    path = save_model(model, tmp_path_factory.mktemp("model") / "tiny.keras")
    return path, model.count_params()


@pytest.mark.parametrize("force_missing", [False, True])
def test_info_prints_summary_and_parameter_count(
    tmp_path, tiny_model_file, capsys, monkeypatch, force_missing
):
    import keras

    if force_missing:

        def no_pydot(*args, **kwargs):
            raise ImportError("You must install pydot (`pip install pydot`)")

        monkeypatch.setattr(keras.utils, "plot_model", no_pydot)
    path, n_params = tiny_model_file
    diagram = tmp_path / "figs" / "diagram.png"
    assert main(["info", str(path), "--diagram", str(diagram), "-q"]) == 0
    captured = capsys.readouterr()
    assert "Total params" in captured.out
    assert f"parameters: {n_params:,}" in captured.out
    assert "input: 100 Hz, causal high-pass 0.5 Hz, sliding normalisation over 20 s" in (
        captured.out
    )
    # a picture with or without pydot and graphviz (then drawn with matplotlib)
    assert diagram.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not diagram.with_suffix(".txt").exists()
    assert captured.err == ""  # -q


def test_info_on_a_bad_model_file_names_it(tmp_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model", encoding="utf-8")
    # a bad model file is a usage error (exit 2)
    assert main(["info", str(bad), "--diagram", str(tmp_path / "d.png")]) == 2
    assert "bad.keras" in capsys.readouterr().err
