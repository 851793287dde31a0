"""The example data script makes what data/README.md documents, and the files read back."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from picker.io import read_records
from picker.picks.formats import read_picks

ROOT = Path(__file__).resolve().parents[1]


def test_make_examples_writes_the_documented_files(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "data" / "make_examples.py"), "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    names = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert names == sorted(
        [f"npz/synthetic_{i:05d}.npz" for i in range(8)]
        + [f"validation/validation_{i:05d}.npz" for i in range(4)]
        + [
            "tfrecord/examples.tfrecord",
            "hdf5/metadata.csv",
            "hdf5/waveforms.hdf5",
            "rjob.mseed",
            "continuous.mseed",
            "continuous_picks.csv",
        ]
    )
    npz = sorted((read_records(p) for p in (tmp_path / "npz").glob("*.npz")), key=str)
    tfr = list(read_records(tmp_path / "tfrecord" / "examples.tfrecord"))
    h5 = list(read_records(tmp_path / "hdf5"))
    assert len(tfr) == len(h5) == 8
    for a, b in zip(tfr, h5, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
        assert (a.p_arrival_sample, a.s_arrival_sample) == (b.p_arrival_sample, b.s_arrival_sample)
    assert len(npz) == 8
    validation = [rec for p in (tmp_path / "validation").glob("*.npz") for rec in read_records(p)]
    assert sorted(r.station_id for r in validation) == [f"SY.V{i:03d}..HH" for i in range(4)]
    training = {rec.data.tobytes() for recs in npz for rec in recs}
    assert not training & {rec.data.tobytes() for rec in validation}  # no window seen twice


def test_tiny_config_validates_on_windows_it_does_not_train_on():
    from picker.config import load_config

    cfg = load_config(ROOT / "configs" / "tiny.yaml")
    assert cfg.data.validation and not set(cfg.data.train) & set(cfg.data.validation)
    train = {r.data.tobytes() for p in cfg.data.train for r in _records_under(ROOT / p)}
    validation = [r.data.tobytes() for p in cfg.data.validation for r in _records_under(ROOT / p)]
    assert validation and not train & set(validation)


def _records_under(path: Path) -> list:
    from picker.io import expand_inputs

    return [rec for file in expand_inputs([str(path)]) for rec in read_records(file)]


def test_committed_examples_are_readable():
    rjob = list(read_records(ROOT / "data" / "examples" / "rjob.mseed"))
    assert len(rjob) == 1 and rjob[0].station_id == "BW.RJOB..EH"
    assert rjob[0].sampling_rate_hz == 100.0 and np.all(np.abs(rjob[0].data).max(axis=0) > 0)
    picks = read_picks(ROOT / "data" / "examples" / "continuous_picks.csv")
    assert [p.phase for p in picks] == ["P", "S", "P", "S"]
    assert picks[0].index == 12000 and picks[2].index == 40000


def test_make_examples_is_deterministic_and_matches_the_committed_files(tmp_path):
    """Two runs (two processes) write the same bytes, and those are the committed examples: a
    TFRecord's features are a protobuf map, serialised in a per-process order unless asked."""
    for run in ("a", "b"):
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "data" / "make_examples.py"),
                "--output",
                str(tmp_path / run),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    files = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    assert len(files) == 18  # 14 examples and 4 validation windows of configs/tiny.yaml
    for name in files:
        data = (tmp_path / "a" / name).read_bytes()
        assert data == (tmp_path / "b" / name).read_bytes(), name
        assert data == (ROOT / "data" / "examples" / name).read_bytes(), name
