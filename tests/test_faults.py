"""Faults during long runs: ``predict --resume`` after an interruption, training killed and
restarted, a NaN loss."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime
from oracle import make_oracle, spikes

from picker.cli import main
from picker.models.saving import save_model
from picker.prediction import predict as pr
from picker.prediction.journal import journal_path

T0 = UTCDateTime(2024, 3, 1)
N_FILES = 4


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """Four miniSEED files, each with one station and a P and an S spike, and the oracle."""
    root = tmp_path_factory.mktemp("resume")
    model = save_model(make_oracle(), root / "oracle.keras")
    data = root / "data"
    data.mkdir()
    for f in range(N_FILES):
        values = spikes(6000, [1000 + 100 * f], [3000 + 100 * f])
        header = {"network": "XX", "station": f"S{f}", "sampling_rate": 100.0, "starttime": T0}
        traces = [
            Trace(values[:, i].copy(), {**header, "channel": f"HH{c}"}) for i, c in enumerate("ENZ")
        ]
        Stream(traces).write(str(data / f"f{f}.mseed"), format="MSEED", encoding="FLOAT32")
    return {"model": str(model), "data": data}


def predict(day, out, *extra, bad=None) -> int:
    inputs = [str(bad)] if bad else []
    args = ["predict", *inputs, str(day["data"]), "--model", day["model"], "-o", str(out), "-q"]
    return main([*args, *extra])


def computed(monkeypatch):
    """The files predict really computes (not taken from the journal)."""
    calls = []
    real = pr.iter_file

    def counting(path, *args, **kwargs):
        calls.append(Path(path).name)
        yield from real(path, *args, **kwargs)

    monkeypatch.setattr(pr, "iter_file", counting)
    return calls


def interrupt_after(monkeypatch, n_files: int) -> None:
    """Make predict stop with Ctrl-C when it starts file number ``n_files + 1``."""
    real, seen = pr.iter_file, []

    def stopping(path, *args, **kwargs):
        seen.append(path)
        if len(seen) > n_files:
            raise KeyboardInterrupt
        yield from real(path, *args, **kwargs)

    monkeypatch.setattr(pr, "iter_file", stopping)


def test_resume_skips_finished_inputs_and_gives_the_same_output(day, tmp_path, monkeypatch):
    fresh = tmp_path / "fresh.csv"
    assert predict(day, fresh) == 0
    assert not journal_path(fresh).exists()  # a finished run leaves no journal

    out = tmp_path / "picks.csv"
    with monkeypatch.context() as patch:
        interrupt_after(patch, 2)
        assert predict(day, out) == 130
    assert not out.exists()
    lines = journal_path(out).read_text().splitlines()
    assert [Path(json.loads(line)["input"]).name for line in lines] == ["f0.mseed", "f1.mseed"]

    with monkeypatch.context() as patch:
        calls = computed(patch)
        assert predict(day, out, "--resume") == 0
    assert calls == ["f2.mseed", "f3.mseed"]
    assert out.read_bytes() == fresh.read_bytes()
    assert not journal_path(out).exists()


def test_resume_recomputes_changed_files_and_other_settings(day, tmp_path, monkeypatch):
    out = tmp_path / "picks.csv"
    with monkeypatch.context() as patch:
        interrupt_after(patch, 3)
        assert predict(day, out) == 130
    changed = day["data"] / "f1.mseed"
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched
    with monkeypatch.context() as patch:
        calls = computed(patch)
        assert predict(day, out, "--resume", "--threshold", "0.4") == 0
    assert calls == [f"f{f}.mseed" for f in range(N_FILES)]  # other settings: all again

    with monkeypatch.context() as patch:
        interrupt_after(patch, 3)
        assert predict(day, out) == 130
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
    with monkeypatch.context() as patch:
        calls = computed(patch)
        assert predict(day, out, "--resume") == 0
    assert calls == ["f1.mseed", "f3.mseed"]


def test_a_torn_last_journal_line_is_ignored(day, tmp_path, monkeypatch):
    out = tmp_path / "picks.csv"
    with monkeypatch.context() as patch:
        interrupt_after(patch, 2)
        assert predict(day, out) == 130
    journal = journal_path(out)
    lines = journal.read_text().splitlines()
    journal.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # killed mid-write
    with monkeypatch.context() as patch:
        calls = computed(patch)
        assert predict(day, out, "--resume") == 0
    assert calls == ["f1.mseed", "f2.mseed", "f3.mseed"]
    fresh = tmp_path / "fresh.csv"
    assert predict(day, fresh) == 0
    assert out.read_bytes() == fresh.read_bytes()


def test_without_resume_everything_is_computed_and_failures_keep_the_journal(
    day, tmp_path, monkeypatch
):
    out = tmp_path / "picks.csv"
    with monkeypatch.context() as patch:
        interrupt_after(patch, 2)
        assert predict(day, out) == 130
    bad = tmp_path / "bad.mseed"
    bad.write_bytes(b"not miniSEED")
    with monkeypatch.context() as patch:
        calls = computed(patch)
        assert predict(day, out, bad=bad) == 1  # no --resume: a fresh journal
    assert sorted(calls) == ["bad.mseed", *(f"f{f}.mseed" for f in range(N_FILES))]
    assert len(journal_path(out).read_text().splitlines()) == N_FILES  # kept: bad.mseed failed
    bad.unlink()
    with monkeypatch.context() as patch:
        calls = computed(patch)
        assert predict(day, out, "--resume") == 0
    assert calls == []
    assert main(["predict", str(day["data"]), "-o", str(out), "--resume", "--dask", "-q"]) == 2


# ----------------------------------------------------------------------------- training

TRAIN_CONFIG = """\
data:
  train: [{train}]
  window_samples: 512
  batch_size: 8
  shuffle_buffer: 16
augment:
  stack_event: 0.0
  gap: 0.0
model:
  filters: [4, 8, 8]
  kernel_size: 5
  stride: 4
train:
  epochs: {epochs}
  steps_per_epoch: {steps}
  learning_rate: 0.001
  tensorboard: false
  early_stopping_patience: 0
"""


@pytest.fixture(scope="module")
def npz_folder(tmp_path_factory):
    from picker.io import write_records
    from picker.training.synthetic import synthetic_records

    root = tmp_path_factory.mktemp("train")
    write_records(synthetic_records(16, n_samples=1024, seed=9), root / "npz", "npz")
    return root / "npz"


def logged_epochs(path: Path) -> list[int]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle) if row.get("epoch")]


def test_killed_training_resumes_and_runs_the_configured_epochs(tmp_path, npz_folder):
    epochs = 6
    config = tmp_path / "tiny.yaml"
    config.write_text(TRAIN_CONFIG.format(train=npz_folder, epochs=epochs, steps=60))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "picker.cli", "train", "--config", str(config), "-o", str(out)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    log = out / "training_log.csv"
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not logged_epochs(log) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "training finished before it could be killed"
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    done_before = logged_epochs(log)
    assert 1 <= len(done_before) < epochs
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert logged_epochs(log) == list(range(epochs))  # resumed, not started again
    assert (out / "model.keras").is_file()
    assert not (out / "backup").exists()  # BackupAndRestore cleans up after a finished run


def test_nan_loss_stops_training_and_keeps_the_last_good_model(
    tmp_path, npz_folder, monkeypatch, capsys
):
    import keras
    import tensorflow as tf

    from picker.training import dataset

    real = dataset.make_datasets

    def poisoned(*args, **kwargs):
        train_ds, val_ds = real(*args, **kwargs)

        def poison(i, batch):  # from the fifth batch on (epoch 3 of 2 steps) the input is NaN
            x, *rest = batch
            return (tf.where(i >= 4, x * np.float32("nan"), x), *rest)

        return train_ds.enumerate().map(poison), val_ds

    monkeypatch.setattr(dataset, "make_datasets", poisoned)
    config = tmp_path / "tiny.yaml"
    config.write_text(TRAIN_CONFIG.format(train=npz_folder, epochs=5, steps=2))
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "training stopped in epoch 3: the loss became NaN" in err
    assert f"{out / 'model.keras'} holds the last good model" in err
    model = keras.models.load_model(out / "model.keras")
    assert all(np.isfinite(w).all() for w in model.get_weights())
    epochs = logged_epochs(out / "training_log.csv")
    assert epochs == [0, 1, 2]
