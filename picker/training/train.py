"""``picker train``: fit the U-Net on labelled windows with Keras callbacks.

The output folder receives:

* ``model.keras``: the best model by validation pick F1 (by training loss without validation data);
* ``model.onnx``: the same model exported for ONNX Runtime (``picker predict --model``, no
  TensorFlow needed; :mod:`picker.models.onnx_export`);
* ``config.yaml``: the resolved config;
* ``training_log.csv``: per-epoch losses and learning rate (appended across resumed runs);
* ``validation_report.json``: the final validation loss and pick metrics when validation data exist;
* ``backup/``: Keras ``BackupAndRestore`` state, so an interrupted run resumes at its last epoch;
* ``tensorboard/``: TensorBoard logs (``train.tensorboard``).

Multi-worker training (``TF_CONFIG`` names a cluster; :class:`tf.distribute.MultiWorkerMirroredStrategy`):
every worker runs the same program. Each trains on its own share of the data
(:func:`picker.training.dataset.make_training_dataset`, ``worker``); only the chief writes the files
above. The other workers write their checkpoints and logs into a temporary folder removed at the
end, and keep their ``BackupAndRestore`` state in ``backup-worker<i>/`` beside the chief's
``backup/`` (removed by Keras when training ends), so a restarted cluster resumes everywhere.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from picker.config import Config, ConfigError
from picker.io.base import Record
from picker.models.devices import setup_devices

log = logging.getLogger(__name__)


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


def worker_position(strategy) -> tuple[int, int, bool]:
    """``(worker index, number of workers, is chief)`` of this process under ``strategy``.

    Workers are numbered chief first, then ``worker`` tasks by id (as tf.distribute does). The
    chief is the ``chief`` task, or ``worker`` 0 when the cluster has no ``chief``. Single-process
    strategies give ``(0, 1, True)``.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not spec or resolver.task_type not in ("chief", "worker"):
        return 0, 1, True
    n_chiefs, n_workers = len(spec.get("chief", [])), len(spec.get("worker", []))
    task_id = int(resolver.task_id or 0)
    if resolver.task_type == "chief":
        return task_id, n_chiefs + n_workers, True
    return n_chiefs + task_id, n_chiefs + n_workers, n_chiefs == 0 and task_id == 0


#: What a run writes into its output folder besides ``backup/`` and ``tensorboard/``.
RUN_FILES = (
    "model.keras",
    "model.onnx",
    "config.yaml",
    "training_log.csv",
    "validation_report.json",
)


def finished_run(output_dir: str | os.PathLike) -> bool:
    """True when ``output_dir`` holds the ``model.keras`` of a run that finished (no
    ``backup/`` of an interrupted run, which the same command resumes)."""
    out = Path(output_dir)
    return (out / "model.keras").exists() and not (out / "backup").exists()


@dataclass
class TrainResult:
    output_dir: Path
    model_path: Path
    history: dict
    epochs_run: int
    chief: bool = True  # False: a non-chief worker of a multi-worker run (it wrote no files)
    diverged: bool = False  # True: stopped on a NaN / Inf loss (model.keras: last good one)


def train(
    cfg: Config,
    output_dir: str | os.PathLike | None = None,
    train_records: Sequence[Record] = (),
    validation_records: Sequence[Record] = (),
    verbose: int = 2,
) -> TrainResult:
    """Train a picker model as ``cfg`` says and write the output folder (see module docstring).

    Args:
        cfg: the full config; ``cfg.data.train`` (or ``train_records``) must give training data.
        output_dir: overrides ``cfg.train.output_dir``.
        train_records, validation_records: in-memory records added to the configured sources
            (e.g. synthetic events); each record is drawn equally often.
        verbose: Keras' ``fit`` output: 0 none, 1 a progress bar per epoch (steps, time left),
            2 one line per epoch.
    """
    if not cfg.data.train and not train_records:
        from picker.config import ConfigError

        raise ConfigError("data.train is empty: name the training files, folders or globs")
    gpus = setup_devices()
    # MultiWorkerMirroredStrategy must exist before any other TensorFlow op runs
    strategy = make_strategy(cfg.train.distribute, gpus)
    worker_index, n_workers, chief = worker_position(strategy)
    from picker.config import save_config

    out = Path(output_dir or cfg.train.output_dir)
    if chief:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        write_dir = out
    else:  # checkpoints and logs of a non-chief worker: thrown away at the end
        write_dir = Path(tempfile.mkdtemp(prefix=f"picker-worker{worker_index}-"))
    if n_workers > 1:
        log.info("worker %d of %d (%s)", worker_index, n_workers, "chief" if chief else "not chief")
    try:
        return _fit(
            cfg,
            strategy=strategy,
            gpus=gpus,
            out=out,
            write_dir=write_dir,
            worker=(worker_index, n_workers),
            chief=chief,
            train_records=train_records,
            validation_records=validation_records,
            verbose=verbose,
        )
    finally:
        if not chief:
            shutil.rmtree(write_dir, ignore_errors=True)


def _learning_rate(train_cfg):
    """Adam's learning rate: the number itself ("plateau"), or a cosine decay over every step
    of the run to 1 % of it ("cosine"; it continues where a resumed run stopped, since it
    follows the optimizer's step count)."""
    if train_cfg.lr_schedule == "cosine":
        import keras

        return keras.optimizers.schedules.CosineDecay(
            train_cfg.learning_rate, train_cfg.epochs * train_cfg.steps_per_epoch, alpha=0.01
        )
    return train_cfg.learning_rate


def _load_initial_weights(model, source: str) -> None:
    """Start from the weights of the model at ``source`` (a ``.keras`` path, or ``"bundled"``).

    Raises:
        ConfigError: the file is missing, not a picker model, or its layers do not match
            ``model``'s shapes.
    """
    from picker.models.saving import load_configured_model

    weights = load_configured_model(source, "train.initial_weights").get_weights()
    expected = [tuple(w.shape) for w in model.get_weights()]
    if [tuple(w.shape) for w in weights] != expected:
        raise ConfigError(
            f"train.initial_weights: {source} has a different architecture than the config's "
            "model (filters, kernel_size, stride and depth must match)"
        )
    model.set_weights(weights)
    log.info("starting from the weights of %s", source)


def _fit(
    cfg,
    *,
    strategy,
    gpus,
    out,
    write_dir,
    worker,
    chief,
    train_records,
    validation_records,
    verbose,
):
    """Build, compile and fit the model; checkpoints and logs go to ``write_dir``."""
    import keras

    from picker.models.networks import build_network, network_data_format
    from picker.models.saving import (
        InputSettings,
        input_settings,
        save_model,
        set_input_settings,
        write_input_settings,
    )
    from picker.models.unet import class_axis
    from picker.training.dataset import make_datasets
    from picker.training.losses import make_loss

    keras.utils.set_random_seed(cfg.train.seed)
    if cfg.train.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16" if gpus else "mixed_bfloat16")

    data_format = network_data_format(cfg.model)
    train_ds, val_ds = make_datasets(
        cfg,
        data_format,
        n_replicas=strategy.num_replicas_in_sync,
        train_records=train_records,
        validation_records=validation_records,
        worker=worker,
    )
    if cfg.train.teachers:
        from picker.training.distill import load_teachers, with_teacher_targets

        teachers = load_teachers(cfg.train.teachers, InputSettings.from_config(cfg))
        train_ds = with_teacher_targets(
            train_ds, teachers, cfg.train.distill_weight, data_format == "channels_first"
        )
    with strategy.scope():
        model = set_input_settings(build_network(cfg.model), InputSettings.from_config(cfg))
        if cfg.train.initial_weights:
            _load_initial_weights(model, cfg.train.initial_weights)
        loss = make_loss(
            cfg.train.loss, cfg.train.class_weights, class_axis(model), cfg.train.focal_gamma
        )
        ema = cfg.train.ema_momentum
        optimizer = keras.optimizers.Adam(
            _learning_rate(cfg.train), use_ema=ema > 0, ema_momentum=ema or 0.99
        )
        model.compile(optimizer=optimizer, loss=loss)

    monitor = "val_loss" if val_ds is not None else "loss"
    best_path = write_dir / "model.keras"
    backup = out / ("backup" if chief else f"backup-worker{worker[0]}")
    pick_metrics = (
        _pick_metrics_callback(cfg, validation_records, data_format) if val_ds is not None else None
    )
    # the best model is the one with the best validation picks (F1 of P and S), not the lowest loss
    best_monitor, best_mode = ("val_pick_f1", "max") if pick_metrics else (monitor, "min")
    # "cosine" sets the rate in the optimizer itself (:func:`_learning_rate`)
    plateau = (
        [
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, factor=0.5, patience=cfg.train.reduce_lr_patience
            )
        ]
        if cfg.train.lr_schedule == "plateau"
        else []
    )
    callbacks = [
        keras.callbacks.BackupAndRestore(str(backup)),
        keras.callbacks.TerminateOnNaN(),
        # with an EMA: validation, pick metrics and the checkpoint see the averaged weights
        # (swapped in after BackupAndRestore has saved the raw ones)
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if ema > 0 else []),
        *([pick_metrics] if pick_metrics else []),
        keras.callbacks.ModelCheckpoint(
            str(best_path), monitor=best_monitor, mode=best_mode, save_best_only=True
        ),
        *plateau,  # before the CSV log, which then records the rate it sets
        keras.callbacks.CSVLogger(str(write_dir / "training_log.csv"), append=True),
    ]
    if cfg.train.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=cfg.train.early_stopping_patience
            )
        )
    if cfg.train.tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(str(write_dir / "tensorboard"), write_graph=False)
        )

    fixes = _keras_multi_worker_fixes(model, strategy) if worker[1] > 1 else nullcontext()
    with fixes:
        history = model.fit(
            train_ds,
            epochs=cfg.train.epochs,
            steps_per_epoch=cfg.train.steps_per_epoch,
            validation_data=val_ds,
            validation_steps=cfg.train.validation_steps or None,
            callbacks=callbacks,
            shuffle=False,
            verbose=verbose,
        )
    losses = history.history.get("loss") or [0.0]
    diverged = not math.isfinite(float(losses[-1]))  # TerminateOnNaN stopped the run
    if diverged:
        kept = f"{best_path} holds the last good model" if best_path.exists() else "no model kept"
        log.error(
            "training stopped in epoch %d: the loss became NaN or Inf (lower "
            "train.learning_rate, check the data for NaN/Inf samples); %s",
            history.epoch[-1] + 1 if history.epoch else 1,
            kept,
        )
    elif not best_path.exists():  # no epoch improved on a resumed run
        save_model(model, best_path)
    if best_path.exists():  # the checkpoint was saved by Keras: add how its input is made
        write_input_settings(best_path, input_settings(model))
    report = {"history": {k: [float(v) for v in vals] for k, vals in history.history.items()}}
    if pick_metrics is not None and best_path.exists():  # pick metrics of the kept model
        from picker.models.saving import load_model

        pick_metrics.set_model(load_model(best_path))
        report["best_model_validation_picks"] = {
            "tolerance_s": 0.1,
            "threshold": 0.5,
        } | pick_metrics.compute()
    _write_json(write_dir / "validation_report.json", report)
    if best_path.exists():
        from picker.models.networks import export_model_onnx
        from picker.models.saving import load_model

        export_model_onnx(load_model(best_path), write_dir / "model.onnx")
    return TrainResult(
        out, out / "model.keras", report["history"], len(history.epoch), chief, diverged
    )


@contextmanager
def _keras_multi_worker_fixes(model, strategy):
    """Work around two Keras 3 bugs with ``MultiWorkerMirroredStrategy`` while fitting ``model``.

    See keras-team/keras#20585 and tensorflow/tensorflow#72388. With the TensorFlow back end:

    1. Before training, Keras reduces one whole ``(x, y)`` batch with ``strategy.reduce`` to learn
       the input shapes, which fails for this strategy ("Attempt to convert a value
       (PerReplica...)"). Only shapes matter: the model is handed the first local replica's batch.
    2. Keras averages the per-replica logs (scalar loss and metrics) across workers with
       ``strategy.reduce("MEAN", v, axis=0)``, which fails on scalars ("Invalid reduction
       dimension 0"). Scalars are averaged with ``axis=None`` (an all-reduce mean over every
       replica), so all workers see the same logs and callbacks decide alike.

    Both fixes are undone on exit (the second patches a Keras module function while inside).
    """
    import tensorflow as tf
    from keras import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    build, reduce_per_replica = model._maybe_symbolic_build, tf_trainer.reduce_per_replica

    def first_replica(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None and data_batch is None:
            for _, _, batches in iterator:
                return build(data_batch=tree.map_structure(first_replica, next(batches)))
        return build(iterator=iterator, data_batch=data_batch)

    def reduce_logs(values, strategy_, reduction="auto"):
        if reduction not in ("auto", "mean"):
            return reduce_per_replica(values, strategy_, reduction)

        def mean(value):
            rank = getattr(getattr(value, "shape", None), "rank", 0)
            return strategy_.reduce("MEAN", value, axis=0 if rank else None)

        return tree.map_structure(mean, values)

    model._maybe_symbolic_build = maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_logs
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = reduce_per_replica
        del model._maybe_symbolic_build


def _pick_metrics_callback(cfg: Config, validation_records: Sequence[Record], data_format: str):
    """:class:`~picker.training.callbacks.PickMetricsCallback` on the fixed validation windows."""
    from picker.training.callbacks import PickMetricsCallback
    from picker.training.dataset import make_validation_arrays

    x, _, windows = make_validation_arrays(cfg.data.validation, cfg, validation_records)
    channels_first = data_format == "channels_first"
    return PickMetricsCallback(
        x.transpose(0, 2, 1) if channels_first else x,
        [(w.p_arrival_sample, w.s_arrival_sample) for w in windows],
        cfg.data.sampling_rate_hz,
        channels_first=channels_first,
    )


def _write_json(path: Path, payload: dict) -> None:
    from picker.io.base import atomic_output, json_text

    with atomic_output(path) as tmp:  # strict JSON: an undefined metric is null, never NaN
        tmp.write_text(json_text(payload, indent=2) + "\n", encoding="utf-8")
