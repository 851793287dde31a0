"""``picker train``: fit the U-Net on labelled windows with Keras callbacks.

The output folder receives:

* ``model.keras``: the best model by validation loss (training loss without validation data);
* ``config.yaml``: the resolved config;
* ``training_log.csv``: per-epoch losses and learning rate (appended across resumed runs);
* ``validation_report.json``: the final validation loss and pick metrics when validation data exist;
* ``backup/``: Keras ``BackupAndRestore`` state, so an interrupted run resumes at its last epoch;
* ``tensorboard/``: TensorBoard logs (``train.tensorboard``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from picker.config import Config
from picker.io.base import Record

log = logging.getLogger(__name__)


def setup_devices(memory_growth: bool = True) -> list:
    """Switch on GPU memory growth (before any tensor exists) and log the devices found.

    Call it once, first thing in ``train`` / ``predict``. On a CPU-only machine it logs that and
    returns an empty list.

    Returns:
        The physical GPU devices.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        log.info("no GPU found; running on the CPU (%d cores)", os.cpu_count() or 1)
        return []
    for gpu in gpus:
        if memory_growth:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError as exc:  # devices already initialised
                log.warning("could not set memory growth on %s: %s", gpu.name, exc)
    log.info(
        "found %d GPU(s): %s (memory growth %s)",
        len(gpus),
        ", ".join(g.name for g in gpus),
        memory_growth,
    )
    return gpus


def make_strategy(name: str, gpus: list):
    """The ``tf.distribute`` strategy for ``train.distribute``.

    ``auto``: multi-worker when ``TF_CONFIG`` names a cluster, mirrored across 2+ local GPUs,
    else the default (single device) strategy. ``none``: always the default strategy.
    """
    import tensorflow as tf

    if name == "multi_worker" or (name == "auto" and _tf_config_has_cluster()):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _tf_config_has_cluster() -> bool:
    try:
        return bool(json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster"))
    except ValueError:
        return False


@dataclass
class TrainResult:
    output_dir: Path
    model_path: Path
    history: dict
    epochs_run: int


def train(
    cfg: Config,
    output_dir: str | os.PathLike | None = None,
    train_records: Sequence[Record] = (),
    validation_records: Sequence[Record] = (),
) -> TrainResult:
    """Train a picker model as ``cfg`` says and write the output folder (see module docstring).

    Args:
        cfg: the full config; ``cfg.data.train`` (or ``train_records``) must give training data.
        output_dir: overrides ``cfg.train.output_dir``.
        train_records, validation_records: in-memory records added to the configured sources
            (e.g. synthetic events); each record is drawn equally often.
    """
    if not cfg.data.train and not train_records:
        from picker.config import ConfigError

        raise ConfigError("data.train is empty: name the training files, folders or globs")
    gpus = setup_devices()
    import keras

    from picker.config import save_config
    from picker.dataset import make_datasets
    from picker.keras_utils import save_model
    from picker.losses import make_loss
    from picker.model import build_model, class_axis, resolve_data_format

    out = Path(output_dir or cfg.train.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    keras.utils.set_random_seed(cfg.train.seed)
    if cfg.train.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16" if gpus else "mixed_bfloat16")

    data_format = resolve_data_format(cfg.model)
    strategy = make_strategy(cfg.train.distribute, gpus)
    train_ds, val_ds = make_datasets(
        cfg, data_format, strategy.num_replicas_in_sync, train_records, validation_records
    )
    with strategy.scope():
        model = build_model(cfg.model)
        loss = make_loss(
            cfg.train.loss, cfg.train.class_weights, class_axis(model), cfg.train.focal_gamma
        )
        model.compile(optimizer=keras.optimizers.Adam(cfg.train.learning_rate), loss=loss)

    monitor = "val_loss" if val_ds is not None else "loss"
    best_path = out / "model.keras"
    callbacks = [
        keras.callbacks.BackupAndRestore(str(out / "backup")),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.ModelCheckpoint(str(best_path), monitor=monitor, save_best_only=True),
        keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, factor=0.5, patience=cfg.train.reduce_lr_patience
        ),
        keras.callbacks.CSVLogger(str(out / "training_log.csv"), append=True),
    ]
    if cfg.train.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=cfg.train.early_stopping_patience
            )
        )
    if cfg.train.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(out / "tensorboard"), write_graph=False))

    history = model.fit(
        train_ds,
        epochs=cfg.train.epochs,
        steps_per_epoch=cfg.train.steps_per_epoch,
        validation_data=val_ds,
        validation_steps=cfg.train.validation_steps or None,
        callbacks=callbacks,
        shuffle=False,
        verbose=2,
    )
    if not best_path.exists():  # every epoch was NaN, or no epoch improved on a resumed run
        save_model(model, best_path)
    report = {"history": {k: [float(v) for v in vals] for k, vals in history.history.items()}}
    _write_json(out / "validation_report.json", report)
    return TrainResult(out, best_path, report["history"], len(history.epoch))


def _write_json(path: Path, payload: dict) -> None:
    from picker.io.base import atomic_output

    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
