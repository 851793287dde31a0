"""tf.data pipelines: source → parse → crop → augment → label → batch → normalise → prefetch.

Sources are NPZ files, HDF5 (SeisBench / STEAD) and TFRecord files, freely mixed. NPZ and HDF5
records are read once into memory (resampled to ``data.sampling_rate_hz``); TFRecord files are
streamed, parsed in parallel and cached when ``data.cache`` is on.

Each training element pairs a record with a second, independently shuffled record (the
"other"), so event stacking works the same for every source. The per-window work (crop,
augmentations, labels) is the NumPy code in :mod:`picker.training.augment` and :mod:`picker.training.labels`,
run for a whole batch per ``tf.numpy_function`` call, one batch at a time (:data:`NUMPY_CALLS`);
tf.data's per-element overhead was most of the cost. Normalisation (the model input preprocessing of
:func:`picker.preprocess.model_input.model_input`) is vectorised over the batch: the same numbers as window
by window.

Batches are ``x``: ``(batch, window_samples, 3)`` float32 E/N/Z (``(batch, 3, window_samples)``
for channels-first) and ``y``: soft labels of the same layout over (noise, P, S), or integer
classes ``(batch, window_samples)`` when ``train.loss`` is ``"sparse"``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from picker.config import Config, ConfigError
from picker.io import expand_inputs, guess_format
from picker.io.base import NO_PICK, Record
from picker.models.saving import InputSettings
from picker.preprocess.model_input import total_stride
from picker.preprocess.normalize import normalize as normalize_window
from picker.preprocess.resample import resample_record, resample_window
from picker.training import augment, labels
from picker.training.crop import random_crop

log = logging.getLogger(__name__)

#: Batches of windows made at once by the NumPy window code. It is mostly Python, so threads
#: take turns on the GIL: one thread made 3,200 windows/s here, two or AUTOTUNE 2,300.
NUMPY_CALLS = 1


def load_records(paths: Sequence[str], cfg: Config) -> tuple[list[Record], list[str]]:
    """Read NPZ / HDF5 / ObsPy sources into memory at the training rate; return (records,
    TFRecord files).

    SAC event files bring their header picks; one file per component of a station is one
    record (:mod:`picker.io.groups`). Bad files are logged and skipped (they never become
    training windows): a TFRecord file holding a record whose sampling rate
    :func:`~picker.io.base.sampling_rate_problem` refuses is skipped whole
    (:func:`tfrecord_rate_problem`), as :func:`picker.io.read_records` refuses it elsewhere.
    """
    from picker.io.groups import group_components, input_format, read_input_records

    records: list[Record] = []
    tfrecord_files: list[str] = []
    for path in group_components(expand_inputs(paths)):  # one SAC file per component: one record
        path, fmt = input_format(path)
        if fmt == "tfrecord":
            if (problem := tfrecord_rate_problem(str(path))) is not None:
                log.error("skipping %s", problem)
            else:
                tfrecord_files.append(str(path))
            continue
        options = {}
        if fmt == "npz":
            options = {
                "layout": cfg.data.npz_layout,
                "component_order": cfg.data.npz_component_order or None,
            }
        try:
            for record in read_input_records(path, fmt, **options):
                records.append(resample_record(record, cfg.data.sampling_rate_hz))
        except ValueError as exc:
            log.error("skipping %s", exc)
    return records, tfrecord_files


def tfrecord_rate_problem(path: str) -> str | None:
    """Why a TFRecord file cannot be trained on (None when it can): the first record whose
    sampling rate :func:`~picker.io.base.sampling_rate_problem` refuses (a rate of 0 or NaN, a
    mass-position channel at 1 Hz, 1 MHz "data"), named by its position, or a corrupt file.

    Training streams TFRecord files through ``tf.data`` without :func:`picker.io.read_records`,
    so the rule is applied here, up front: only the ``sampling_rate_hz`` feature is parsed, in
    batches, and each distinct rate is checked once.
    """
    import tensorflow as tf

    from picker.io.base import sampling_rate_problem
    from picker.io.tfrecord import DEFAULT_SAMPLING_RATE_HZ

    spec = {
        "sampling_rate_hz": tf.io.FixedLenFeature(
            [], tf.float32, default_value=DEFAULT_SAMPLING_RATE_HZ
        )
    }
    batches = tf.data.TFRecordDataset(path).batch(4096)
    batches = batches.map(lambda serialized: tf.io.parse_example(serialized, spec))
    offset = 0
    try:
        for batch in batches.as_numpy_iterator():
            rates = batch["sampling_rate_hz"]
            bad = [
                (int(first), problem)
                for rate, first in zip(*np.unique(rates, return_index=True), strict=True)
                if (problem := sampling_rate_problem(float(rate))) is not None
            ]
            if bad:
                first, problem = min(bad)
                return f"{path}: record {offset + first} {problem}"
            offset += len(rates)
    except tf.errors.OpError as err:
        reason = err.message.splitlines()[0] if err.message else type(err).__name__
        return f"{path}: not a readable TFRecord file ({reason})"
    return None


class WindowMaker:
    """Turns one (record, other record) pair into one training window ``(x, y)`` with NumPy.

    ``x``: ``(window_samples, 3)`` float32 E/N/Z, normalised. ``y``: ``(window_samples, 3)``
    float32 soft labels (noise, P, S) or ``(window_samples,)`` int32 classes when ``sparse``.
    """

    def __init__(self, cfg: Config, training: bool, sparse: bool, defer_normalization=False):
        """``defer_normalization``: return raw crops; :meth:`normalize_batch` runs per batch."""
        self.cfg = cfg
        self.training = training
        self.sparse = sparse
        self.defer_normalization = defer_normalization
        self.n_samples = cfg.data.window_samples
        #: the model input the windows are made into (kept with the trained model)
        self.input_settings = InputSettings.from_config(cfg)
        self.probabilities = {
            "p_stack": cfg.augment.stack_event,
            "p_scale": cfg.augment.scale_amplitude,
            "p_flip": cfg.augment.flip_polarity,
            "p_drop": cfg.augment.drop_channels,
            "p_vertical_only": cfg.augment.vertical_only,
            "p_real_noise": cfg.augment.real_noise,
            "p_noise": cfg.augment.gaussian_noise,
            "p_lowpass": cfg.augment.lowpass,
            "p_gap": cfg.augment.gap,
            "p_glitch": cfg.augment.glitch,
        }

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Normalise a ``(window_samples, 3)`` crop as ``data.normalization`` says (float32)."""
        settings = self.input_settings
        if settings.normalization == "sliding":
            from picker.preprocess.model_input import model_input

            return model_input(
                x, settings.sampling_rate_hz, settings.normalization_window_s, settings.highpass_hz
            )
        return normalize_window(x, settings.normalization).astype(np.float32)

    def normalize_batch(self, x: np.ndarray) -> np.ndarray:
        """:meth:`normalize` of every window of a ``(batch, window_samples, 3)`` batch."""
        if self.input_settings.normalization == "sliding":
            return self.normalize(x)  # model_input is vectorised over the batch
        return np.stack([self.normalize(window) for window in x]).astype(np.float32)

    def window(self, data, p, s, rate, rng: np.random.Generator) -> tuple[np.ndarray, tuple]:
        """Crop one window (noise-only with probability ``noise_window_fraction``).

        NaN and infinite samples (dead channels, bad files) become zeros, never NaN losses.
        """
        if not np.isfinite(data).all():
            data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
        data, p, s = resample_window(
            data, float(rate), self.cfg.data.sampling_rate_hz, int(p), int(s)
        )
        picks = ([p] if p >= 0 else [], [s] if s >= 0 else [])
        noise_only = self.training and rng.random() < self.cfg.data.noise_window_fraction
        if noise_only:
            try:
                crop, picks, _ = random_crop(data, picks, rng, self.n_samples, noise_only=True)
                return crop, picks
            except ValueError:
                pass  # no pick-free stretch long enough: fall back to an ordinary crop
        crop, picks, _ = random_crop(data, picks, rng, self.n_samples)
        return crop, picks

    def __call__(self, data, p, s, rate, other_data, other_p, other_s, other_rate, seed):
        rng = np.random.default_rng(int(seed))
        x, picks = self.window(data, p, s, rate, rng)
        if self.training:
            other, other_picks = self.window(other_data, other_p, other_s, other_rate, rng)
            x, picks = augment.augment_window(
                x, picks, rng, self.probabilities, other=other, other_picks=other_picks
            )
        x = x if self.defer_normalization else self.normalize(x)
        y = labels.make_labels(
            self.n_samples,
            picks[0],
            picks[1],
            shape=self.cfg.labels.shape,
            width_samples=self.cfg.labels.width_samples,
            sparse=self.sparse,
        )
        return x.astype(np.float32), y


class _RecordBatches:
    """A whole batch of windows from in-memory records looked up by index, in one NumPy call.

    One ``tf.numpy_function`` call per batch instead of per window: tf.data's per-element
    overhead was most of the pipeline's cost.
    """

    def __init__(self, maker: WindowMaker, records: list[Record], normalize: bool):
        self.maker = maker
        self.records = records
        self.normalize = normalize

    def __call__(self, indices, other_indices, seeds):
        windows = []
        for index, other_index, seed in zip(indices, other_indices, seeds, strict=True):
            r, o = self.records[int(index)], self.records[int(other_index)]
            windows.append(self.maker(
                r.data, r.p_arrival_sample, r.s_arrival_sample, r.sampling_rate_hz,
                o.data, o.p_arrival_sample, o.s_arrival_sample, o.sampling_rate_hz, seed,
            ))  # fmt: skip
        return _stack(self.maker, windows, self.normalize)


class _PaddedBatches:
    """A whole batch of windows from a zero-padded batch of parsed TFRecord records.

    Window ``i``'s "other" record (for event stacking) is record ``i + 1`` of the same batch
    (cyclically): another record drawn at random, without parsing a second stream.
    """

    def __init__(self, maker: WindowMaker, normalize: bool):
        self.maker = maker
        self.normalize = normalize

    def __call__(self, data, lengths, p, s, rate, seeds):
        n = len(seeds)
        windows = [
            self.maker(
                data[i, : lengths[i]],
                p[i],
                s[i],
                rate[i],
                data[j, : lengths[j]],
                p[j],
                s[j],
                rate[j],
                seeds[i],
            )  # fmt: skip
            for i, j in ((i, (i + 1) % n) for i in range(n))
        ]
        return _stack(self.maker, windows, self.normalize)


def _tf_preprocessing(cfg: Config) -> bool:
    """True when training batches get the sliding normalisation as TensorFlow ops."""
    from picker.preprocess.model_input_tf import supported

    settings = InputSettings.from_config(cfg)
    return settings.normalization == "sliding" and supported(
        settings.sampling_rate_hz, settings.highpass_hz
    )


def _stack(maker: WindowMaker, windows: list, normalize: bool) -> tuple[np.ndarray, np.ndarray]:
    """(x (batch, n, 3) float32, labels) from a list of ``(x, y)`` windows.

    ``x`` is normalised here when ``normalize`` (else the pipeline's TensorFlow ops do it).
    """
    x = np.stack([w[0] for w in windows])
    if normalize:
        x = maker.normalize_batch(x)
    return x.astype(np.float32), np.stack([w[1] for w in windows])


def _tfrecord_source(
    tfrecord_files: list[str], cfg: Config, seed: int, worker: tuple[int, int] = (0, 1)
):
    """An endless, shuffled dataset of ``(data (T, 3), p, s, rate)`` parsed from TFRecord files.

    With ``worker`` ``(i, n)``, ``n > 1``, only every ``n``-th serialized record from ``i`` is
    parsed (used when there are fewer files than workers).
    """
    import tensorflow as tf

    from picker.io.tfrecord import parse_example_tf

    ds = tf.data.TFRecordDataset(tfrecord_files, num_parallel_reads=tf.data.AUTOTUNE)
    if worker[1] > 1:
        ds = ds.shard(worker[1], worker[0])
    ds = ds.map(parse_example_tf, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(
        lambda e: (
            e["data"],
            tf.cast(e["p_arrival_sample"], tf.int64),
            tf.cast(e["s_arrival_sample"], tf.int64),
            tf.cast(e["sampling_rate_hz"], tf.float32),
        )
    )
    if cfg.data.cache:
        ds = ds.cache()
    return ds.shuffle(max(cfg.data.shuffle_buffer, 1), seed=seed).repeat()


def _count(path: str) -> int:
    from picker.io.tfrecord import count_tfrecord

    return count_tfrecord([path])


def _worker_share(items: list, worker: tuple[int, int]) -> list:
    """Worker ``i`` of ``n``'s share of ``items``: every ``n``-th from ``i`` (all if fewer than n)."""
    index, count = worker
    if not 0 <= index < count:
        raise ValueError(f"worker must be (index, count) with 0 <= index < count, got {worker}")
    return items[index::count] if len(items) >= count else list(items)


def make_training_dataset(
    paths: Sequence[str],
    cfg: Config,
    data_format: str = "channels_last",
    batch_size=None,
    records: Sequence[Record] = (),
    worker: tuple[int, int] = (0, 1),
):
    """An endless, augmented, batched training dataset of ``(x, y)`` (see module docstring).

    ``records`` adds in-memory records (e.g. synthetic events) to those read from ``paths``;
    each record is drawn equally often, so repeating a record in the list weights it up.
    In-memory records travel through tf.data as indices; TFRecord files are parsed in parallel
    and zero-padded into batches. Each batch of windows is made by one NumPy call. With both
    kinds of source, each batch comes from one of them, chosen in proportion to record counts.

    ``worker`` ``(i, n)``: multi-worker training. Worker ``i`` keeps every ``n``-th record and
    TFRecord file (every ``n``-th serialized record when there are fewer files than workers),
    draws its own random windows (seed offset by ``i``), and the dataset's tf.distribute
    auto-sharding is switched off, so no worker runs the window pipeline for the others.
    With ``n == 1`` the auto-shard policy is ``DATA`` (there are no files to shard by).
    """
    import tensorflow as tf

    loaded, tfrecord_files = load_records(paths, cfg)
    records = loaded + [resample_record(r, cfg.data.sampling_rate_hz) for r in records]
    if not records and not tfrecord_files:
        raise ValueError(
            "no training data: data.train names no readable NPZ, HDF5 or TFRecord source"
        )
    records = _worker_share(records, worker)
    record_shard = worker if 0 < len(tfrecord_files) < worker[1] else (0, 1)
    tfrecord_files = _worker_share(tfrecord_files, worker)
    seed = cfg.data.seed + 1_000_003 * worker[0]
    sparse = cfg.train.loss == "sparse"
    maker = WindowMaker(cfg, training=True, sparse=sparse, defer_normalization=True)
    tf_normalizes = _tf_preprocessing(cfg)  # else the batch NumPy call normalises
    n = cfg.data.window_samples
    y_dtype = tf.int32 if sparse else tf.float32

    batch = batch_size or cfg.data.batch_size

    def shaped(x, y):
        x.set_shape((batch, n, 3))
        y.set_shape((batch, n) if sparse else (batch, n, 3))
        return x, y

    parts, weights = [], []
    if records:
        by_index = _RecordBatches(maker, records, normalize=not tf_normalizes)
        count = len(records)

        def indices(offset):
            return tf.data.Dataset.range(count).shuffle(count, seed=seed + offset).repeat()

        ds = tf.data.Dataset.zip((indices(0), indices(1), tf.data.Dataset.random(seed=seed)))
        ds = ds.batch(batch, drop_remainder=True).map(
            lambda i, j, k: shaped(
                *tf.numpy_function(by_index, [i, j, k], (tf.float32, y_dtype), stateful=False)
            ),
            num_parallel_calls=NUMPY_CALLS,
        )
        parts.append(ds)
        weights.append(count)
    if tfrecord_files:

        def with_length(data, p, s, rate):
            return data, tf.shape(data)[0], p, s, rate

        source = _tfrecord_source(tfrecord_files, cfg, seed, record_shard).map(with_length)
        ds = tf.data.Dataset.zip((source, tf.data.Dataset.random(seed=seed + 2)))
        ds = ds.padded_batch(batch, drop_remainder=True).map(
            lambda a, k: shaped(
                *tf.numpy_function(
                    _PaddedBatches(maker, normalize=not tf_normalizes),
                    [*a, k],
                    (tf.float32, y_dtype),
                    stateful=False,
                )
            ),
            num_parallel_calls=NUMPY_CALLS,
        )
        parts.append(ds)
        weights.append(sum(_count(f) for f in tfrecord_files) / record_shard[1])
    if len(parts) == 1:
        ds = parts[0]
    else:  # whole batches come from one source, chosen in proportion to the record counts
        total = float(sum(weights))
        ds = tf.data.Dataset.sample_from_datasets(
            parts, weights=[w / total for w in weights], seed=seed
        )
    if tf_normalizes:  # TensorFlow ops: parallel, outside the GIL
        from picker.preprocess.model_input_tf import model_input_tf

        s = maker.input_settings
        ds = ds.map(
            lambda x, y: (
                model_input_tf(x, s.sampling_rate_hz, s.normalization_window_s, s.highpass_hz),
                y,
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    ds = _random_batch_lengths(ds, cfg, seed)
    policy = tf.data.experimental.AutoShardPolicy
    return _with_shard_policy(
        _finish(ds, data_format, sparse), policy.OFF if worker[1] > 1 else policy.DATA
    )


def make_validation_arrays(
    paths: Sequence[str], cfg: Config, records: Sequence[Record] = ()
) -> tuple[np.ndarray, np.ndarray, list[Record]]:
    """Fixed validation windows: ``data.validation_crops`` crops per record (the same crops
    every call; the first is the one a single crop would be), no augmentation.

    Returns:
        ``x`` ``(n, window_samples, 3)``, ``y`` (soft ``(n, window_samples, 3)`` or sparse
        ``(n, window_samples)``) and the records with picks moved into the window's frame.
    """
    loaded, tfrecord_files = load_records(paths, cfg)
    records = loaded + [resample_record(r, cfg.data.sampling_rate_hz) for r in records]
    if tfrecord_files:
        from picker.io.tfrecord import read_tfrecord

        for path in tfrecord_files:
            records.extend(
                resample_record(r, cfg.data.sampling_rate_hz) for r in read_tfrecord(path)
            )
    maker = WindowMaker(cfg, training=False, sparse=cfg.train.loss == "sparse")
    xs, ys, windows = [], [], []
    for i, r in enumerate(records):
        for c in range(cfg.data.validation_crops):
            seed = cfg.data.seed * 100_003 + i if c == 0 else (cfg.data.seed, i, c)
            crop, picks = maker.window(
                r.data,
                r.p_arrival_sample,
                r.s_arrival_sample,
                r.sampling_rate_hz,
                np.random.default_rng(seed),
            )
            x = maker.normalize(crop)
            y = labels.make_labels(
                maker.n_samples,
                picks[0],
                picks[1],
                shape=cfg.labels.shape,
                width_samples=cfg.labels.width_samples,
                sparse=maker.sparse,
            )
            xs.append(x)
            ys.append(y)
            windows.append(
                r.with_data(
                    crop, p_arrival_sample=_first(picks[0]), s_arrival_sample=_first(picks[1])
                )
            )
    if not xs:
        raise ValueError("no validation data: data.validation names no readable source")
    return np.stack(xs), np.stack(ys), windows


def _first(samples) -> int:
    """The first pick sample of a list, rounded, or ``NO_PICK``."""
    return int(round(samples[0])) if len(samples) else NO_PICK


def make_validation_dataset(
    paths: Sequence[str],
    cfg: Config,
    data_format: str = "channels_last",
    batch_size=None,
    records: Sequence[Record] = (),
):
    """The fixed validation windows of :func:`make_validation_arrays` as a batched dataset."""
    import tensorflow as tf

    x, y, _ = make_validation_arrays(paths, cfg, records)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size or cfg.data.batch_size)
    ds = _finish(ds, data_format, cfg.train.loss == "sparse")
    return _with_shard_policy(ds, tf.data.experimental.AutoShardPolicy.DATA)


def _with_shard_policy(ds, policy):
    """``ds`` with the tf.distribute auto-shard ``policy`` (only read by multi-worker runs)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy
    return ds.with_options(options)


def _random_batch_lengths(ds, cfg: Config, seed: int):
    """Cut each training batch to a random length in ``(window - total_stride, window]``.

    The model zero-pads its input up to a multiple of its total stride; with one fixed window
    length it would only ever see one pad length and could mistake the end of a record with
    another pad length for an arrival. Varied lengths teach it every pad length.
    """
    import tensorflow as tf

    stride = total_stride(cfg.model)
    longest = cfg.data.window_samples
    shortest = max(1, longest - stride + 1)
    if shortest == longest:
        return ds
    lengths = tf.data.Dataset.random(seed=seed + 7).map(
        lambda r: shortest + r % (longest - shortest + 1)
    )
    return tf.data.Dataset.zip((ds, lengths)).map(lambda xy, n: (xy[0][:, :n], xy[1][:, :n]))


def _finish(ds, data_format: str, sparse: bool):
    import tensorflow as tf

    if data_format == "channels_first":
        ds = ds.map(
            lambda x, y: (tf.transpose(x, (0, 2, 1)), y if sparse else tf.transpose(y, (0, 2, 1))),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def make_datasets(
    cfg: Config,
    data_format: str = "channels_last",
    n_replicas: int = 1,
    train_records: Sequence[Record] = (),
    validation_records: Sequence[Record] = (),
    worker: tuple[int, int] = (0, 1),
):
    """(training dataset, validation dataset or None) for ``picker train``.

    The global batch is ``data.batch_size × n_replicas`` so each replica sees ``data.batch_size``;
    ``n_replicas`` is the strategy's ``num_replicas_in_sync`` (all replicas of all workers:
    tf.distribute splits every batch into that many per-replica pieces).
    ``train_records`` / ``validation_records`` add in-memory records to the configured paths.
    ``worker`` ``(index, count)`` shards the training data between workers (see
    :func:`make_training_dataset`); the validation set is sharded by tf.distribute (``DATA``).
    """
    if not cfg.data.train and not train_records:
        raise ConfigError("data.train is empty: name the training files, folders or globs")
    batch = cfg.data.batch_size * max(1, n_replicas)
    train = make_training_dataset(cfg.data.train, cfg, data_format, batch, train_records, worker)
    val = None
    if cfg.data.validation or validation_records:
        val = make_validation_dataset(
            cfg.data.validation, cfg, data_format, batch, validation_records
        )
    return train, val


def describe_sources(paths: Sequence[str]) -> dict[str, int]:
    """Count files per format under ``paths`` (for logs and reports)."""
    counts: dict[str, int] = {}
    for path in expand_inputs(paths):
        fmt = guess_format(path)
        counts[fmt] = counts.get(fmt, 0) + 1
    return counts


__all__ = [
    "WindowMaker",
    "describe_sources",
    "load_records",
    "make_datasets",
    "make_training_dataset",
    "make_validation_arrays",
    "make_validation_dataset",
]
