"""Multi-worker training for real: two ``picker train`` processes on loopback form one cluster.

Each worker gets ``TF_CONFIG`` naming both (``127.0.0.1`` with two free ports), so
``train.distribute: auto`` picks ``MultiWorkerMirroredStrategy``. The chief (worker 0) must write
the model and its logs; the other worker must leave no model in its output folder.
The two-process test takes about 13 s on an idle 2-core machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from picker.io import write_records
from picker.training.synthetic import synthetic_records

TIMEOUT_S = 300


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (bound to port 0, then released)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def write_config(tmp_path: Path) -> Path:
    """A tiny model's config over synthetic NPZ training and validation windows."""
    write_records(synthetic_records(12, n_samples=1024, seed=1), tmp_path / "train", "npz")
    write_records(synthetic_records(6, n_samples=1024, seed=2), tmp_path / "val", "npz")
    config = {
        "data": {
            "train": [str(tmp_path / "train")],
            "validation": [str(tmp_path / "val")],
            "window_samples": 256,
            "batch_size": 4,
            "shuffle_buffer": 8,
        },
        "model": {"filters": [4, 8], "kernel_size": 5, "stride": 4},
        "train": {
            "epochs": 2,
            "steps_per_epoch": 3,
            "tensorboard": False,
            "early_stopping_patience": 0,
            "distribute": "auto",
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def epoch_logs(text: str) -> list[str]:
    """The ``loss: ... - val_loss: ...`` part of each Keras epoch line (without timings)."""
    return [line[line.index("loss:") :] for line in text.splitlines() if "val_loss:" in line]


def test_two_workers_on_loopback_train_one_model(tmp_path):
    config = write_config(tmp_path)
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    procs, outputs = [], []
    start = time.monotonic()
    for index in range(2):
        out = tmp_path / f"out{index}"
        outputs.append(out)
        env = dict(os.environ)
        env.update(
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            TF_CPP_MIN_LOG_LEVEL="2",
            CUDA_VISIBLE_DEVICES="",
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "picker.cli", "train", "--config", str(config)]
                + ["-o", str(out)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    logs = []
    try:
        for proc in procs:
            remaining = max(1.0, TIMEOUT_S - (time.monotonic() - start))
            logs.append(proc.communicate(timeout=remaining)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for index, (proc, text) in enumerate(zip(procs, logs, strict=True)):
        assert proc.returncode == 0, f"worker {index} exited {proc.returncode}:\n{text[-3000:]}"
    assert "worker 0 of 2 (chief)" in logs[0] and "worker 1 of 2 (not chief)" in logs[1]
    # losses are averaged over both workers: each prints the same epoch lines
    epochs = [epoch_logs(text) for text in logs]
    assert len(epochs[0]) == 2 and epochs[0] == epochs[1]

    chief, other = outputs
    for name in ("model.keras", "config.yaml", "training_log.csv", "validation_report.json"):
        assert (chief / name).exists(), name
    assert not (chief / "backup").exists()  # BackupAndRestore cleans up after a finished run
    assert not (other / "model.keras").exists()
    assert not other.exists() or not any(other.rglob("*"))  # nothing at all left behind
    history = json.loads((chief / "validation_report.json").read_text())["history"]
    assert len(history["loss"]) == 2 and np.isfinite(history["val_loss"]).all()

    from picker.models.saving import load_model

    model = load_model(chief / "model.keras")
    x = np.random.default_rng(0).normal(size=(1, 256, 3)).astype(np.float32)
    y = np.asarray(model.predict(x, verbose=0))
    assert y.shape == (1, 256, 3)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, atol=1e-4)


def test_worker_position_from_tf_config():
    from picker.training.train import worker_position

    class Resolver:
        def __init__(self, spec, task_type, task_id):
            import tensorflow as tf

            self._spec = tf.train.ClusterSpec(spec)
            self.task_type, self.task_id = task_type, task_id

        def cluster_spec(self):
            return self._spec

    class Strategy:
        def __init__(self, resolver):
            self.cluster_resolver = resolver

    two = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    assert worker_position(Strategy(Resolver(two, "worker", 0))) == (0, 2, True)
    assert worker_position(Strategy(Resolver(two, "worker", 1))) == (1, 2, False)
    with_chief = {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]}
    assert worker_position(Strategy(Resolver(with_chief, "chief", 0))) == (0, 2, True)
    assert worker_position(Strategy(Resolver(with_chief, "worker", 0))) == (1, 2, False)
    assert worker_position(object()) == (0, 1, True)


def test_training_data_is_split_between_workers(tiny_config, tmp_path, monkeypatch):
    """Worker shares of the in-memory records are disjoint and cover them; auto-sharding off."""
    import tensorflow as tf

    from picker.training import dataset

    seen = []
    original = dataset._RecordBatches.__init__

    def spy(self, maker, records, **kwargs):
        seen.append([r.name for r in records])
        original(self, maker, records, **kwargs)

    monkeypatch.setattr(dataset._RecordBatches, "__init__", spy)
    records = synthetic_records(5, n_samples=600, seed=3)
    cfg = tiny_config()
    policy = tf.data.experimental.AutoShardPolicy
    for index in range(2):
        ds = dataset.make_training_dataset(
            [], cfg, batch_size=2, records=records, worker=(index, 2)
        )
        assert ds.options().experimental_distribute.auto_shard_policy == policy.OFF
    assert set(seen[0]).isdisjoint(seen[1])
    assert sorted(seen[0] + seen[1]) == sorted(r.name for r in records)
    single = dataset.make_training_dataset([], cfg, batch_size=2, records=records)
    assert single.options().experimental_distribute.auto_shard_policy == policy.DATA
    x, _ = next(iter(single))
    assert x.shape[0] == 2 and x.shape[2] == 3
    # fewer records than workers: every worker uses all of them (with its own random windows)
    assert dataset._worker_share([1], (1, 2)) == [1]
    with pytest.raises(ValueError, match="worker"):
        dataset._worker_share([1, 2], (2, 2))


def test_tfrecord_file_smaller_than_the_cluster_is_split_by_record(tiny_config, tmp_path):
    from picker.training.dataset import make_training_dataset

    write_records(synthetic_records(4, n_samples=600, seed=4), tmp_path / "part", "tfrecord")
    cfg = tiny_config(data={"train": [str(tmp_path)]})
    x, y = next(iter(make_training_dataset(cfg.data.train, cfg, batch_size=2, worker=(1, 2))))
    assert x.shape[0] == 2 and x.shape[2] == 3 and y.shape == x.shape
