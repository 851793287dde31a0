"""Windows per second from the tf.data pipeline vs. windows per second a training step consumes.

    python benchmarks/pipeline.py [--records 256] [--batches 60] [--window 3001]

Writes synthetic records (6000 samples, 100 Hz) as TFRecord and as NPZ into a temporary folder,
then times batches drawn from ``make_training_dataset`` with every augmentation on (stacking,
scaling, polarity, channel drop, noise, gaps), and times ``train_on_batch`` of the default model
on fixed batches. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def time_pipeline(ds, n_batches: int, batch_size: int) -> float:
    iterator = iter(ds)
    for _ in range(5):  # warm up (thread pools, caches, autotune)
        next(iterator)
    start = time.perf_counter()
    for _ in range(n_batches):
        next(iterator)
    return n_batches * batch_size / (time.perf_counter() - start)


def time_training(cfg, n_steps: int) -> float:
    import keras

    from picker.models.unet import build_model
    from picker.training.losses import make_loss

    model = build_model(cfg.model)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=make_loss("categorical", (1, 1, 1)))
    rng = np.random.default_rng(0)
    n, b = cfg.data.window_samples, cfg.data.batch_size
    x = rng.standard_normal((b, n, 3)).astype(np.float32)
    y = np.full((b, n, 3), 1 / 3, np.float32)
    for _ in range(3):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(n_steps):
        model.train_on_batch(x, y)
    return n_steps * b / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=256)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--window", type=int, default=3001)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    from picker.config import config_from_dict
    from picker.io import write_records
    from picker.training.dataset import make_training_dataset
    from picker.training.synthetic import synthetic_records

    cfg = config_from_dict(
        {
            "data": {"window_samples": args.window, "batch_size": args.batch_size},
            "augment": {
                k: 0.5
                for k in (
                    "stack_event",
                    "scale_amplitude",
                    "flip_polarity",
                    "drop_channels",
                    "gaussian_noise",
                    "gap",
                )
            },
            "model": {"data_format": "channels_last"},
        }
    )
    records = synthetic_records(args.records, n_samples=6000, seed=1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_records(records, Path(tmp) / "npz", "npz")
        write_records(records, Path(tmp) / "tfr" / "train", "tfrecord")
        for name, path in (("TFRecord", Path(tmp) / "tfr"), ("NPZ", Path(tmp) / "npz")):
            ds = make_training_dataset([str(path)], cfg)
            rows.append(
                (
                    f"pipeline, {name}, all augmentations",
                    time_pipeline(ds, args.batches, args.batch_size),
                )
            )
    rows.append((f"training step (default model, batch {args.batch_size})", time_training(cfg, 20)))
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print(f"window: {args.window} samples x 3, batch {args.batch_size}\n")
    print("| what | windows / s |\n|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} |")
    consumed = rows[-1][1]
    for name, rate in rows[:-1]:
        print(f"\n{name}: {rate / consumed:.1f}x what a training step consumes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
