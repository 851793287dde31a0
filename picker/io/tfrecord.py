"""TFRecord files of ``tf.train.Example`` windows: the classic seismic-window schema, extended.

Schema of one example (one :class:`~picker.io.base.Record`):

========================  =========  ========================================================
feature                   type       meaning
========================  =========  ========================================================
``window_size``           int64      samples per trace, ``T``
``n_traces``              int64      traces, ``C`` (3 = E, N, Z; 1 = Z only)
``data``                  bytes      little-endian float32, ``C × T`` (channels first)
``label``                 bytes      little-endian float32, ``3 × T`` rows noise, P, S
                                     (Gaussian, sigma = 10 samples; all noise when no picks)
``start_time``            int64      epoch seconds of sample 0, floored (0 when unknown)
``end_time``              int64      epoch seconds of the last sample, floored (0 when unknown)
``p_arrival_sample``      int64      P arrival sample, -1 when none          (extension)
``s_arrival_sample``      int64      S arrival sample, -1 when none          (extension)
``sampling_rate_hz``      float      samples per second (float32)            (extension)
``station_id``            bytes      ``NET.STA.LOC.CH``                      (extension)
``channels``              bytes      three channel codes, comma-joined, E,N,Z (extension)
``name``                  bytes      record name                             (extension)
``start_time_ns``         int64      exact epoch nanoseconds of sample 0     (extension)
``has_start_time``        int64      1 when the start time is known, else 0  (extension)
========================  =========  ========================================================

The first six are the classic fields (ConvNetQuake-style); ``window_size``, ``n_traces`` and
``data`` are required, everything else is optional. Files holding only the classic fields read
with these fallbacks: sampling rate :data:`DEFAULT_SAMPLING_RATE_HZ` (100 Hz), picks recovered
from the label rows (argmax of the P / S row when its maximum is >= 0.5, else -1), start time
from ``start_time`` seconds (0 = unknown), station id and channels empty, name
``<file stem>_<index>``. A ``label`` that is not ``3 × T`` float32 is ignored.

``sampling_rate_hz`` is a float32 feature; the reader returns the shortest decimal that rounds to
it, so decimal rates (100, 40, 19.99) round-trip exactly, rates like 100/3 to float32 precision.

This is the only ``picker.io`` module that imports TensorFlow.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

import numpy as np
import tensorflow as tf
from obspy import UTCDateTime

from picker.io.base import NO_PICK, InputError, Record, atomic_output, new_part_file

__all__ = [
    "DEFAULT_RECORDS_PER_SHARD",
    "DEFAULT_SAMPLING_RATE_HZ",
    "LABEL_SIGMA_SAMPLES",
    "count_tfrecord",
    "example_to_record",
    "expand_tfrecord_paths",
    "parse_example_tf",
    "read_tfrecord",
    "record_to_example",
    "serialize_record",
    "write_tfrecord",
]

#: Sampling rate assumed for files without a ``sampling_rate_hz`` feature.
DEFAULT_SAMPLING_RATE_HZ = 100.0
#: Width of the Gaussian labels written into the ``label`` feature.
LABEL_SIGMA_SAMPLES = 10.0
#: Records per shard when ``write_tfrecord`` is given no sharding option.
DEFAULT_RECORDS_PER_SHARD = 1000

_SUFFIXES = (".tfrecord", ".tfrecords", ".tfrec")
_MISSING_PICK = -2  # parse default that tells "feature absent" from "no pick" (-1)


# ----------------------------------------------------------------------------- labels


def _gaussian_labels(n_samples: int, p_sample: int, s_sample: int) -> np.ndarray:
    """Soft labels ``(3, n_samples)`` float32, rows noise, P, S (sigma = 10 samples).

    A pick of -1 gives a zero row; noise is ``1 - P - S`` clipped to [0, 1].
    """
    t = np.arange(n_samples, dtype=np.float64)
    rows = np.zeros((3, n_samples), dtype=np.float64)
    for row, sample in ((1, p_sample), (2, s_sample)):
        if sample >= 0:
            rows[row] = np.exp(-0.5 * ((t - sample) / LABEL_SIGMA_SAMPLES) ** 2)
    rows[0] = np.clip(1.0 - rows[1] - rows[2], 0.0, 1.0)
    return rows.astype(np.float32)


def _pick_from_label_row(row: np.ndarray) -> int:
    """Argmax of a label row ``(T,)`` when its maximum is >= 0.5, else -1."""
    if row.size == 0 or not np.nanmax(row) >= 0.5:
        return NO_PICK
    return int(np.nanargmax(row))


# ----------------------------------------------------------------------------- encode


def _int64(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _float(value: float) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))


def _bytes(value: bytes | str) -> tf.train.Feature:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def record_to_example(record: Record) -> tf.train.Example:
    """Encode a record as a ``tf.train.Example`` with the full schema (see module docstring).

    ``data`` is stored transposed to channels-first ``(3, n_samples)`` little-endian float32.
    """
    n_samples = record.n_samples
    data = np.ascontiguousarray(record.data.T, dtype="<f4")
    labels = _gaussian_labels(n_samples, record.p_arrival_sample, record.s_arrival_sample)
    start = record.start_time
    start_ns = int(start.ns) if start is not None else 0
    end = record.end_time
    features = {
        "window_size": _int64(n_samples),
        "n_traces": _int64(3),
        "data": _bytes(data.tobytes()),
        "label": _bytes(labels.astype("<f4").tobytes()),
        "start_time": _int64(start_ns // 10**9 if start is not None else 0),
        "end_time": _int64(int(end.ns) // 10**9 if end is not None else 0),
        "p_arrival_sample": _int64(record.p_arrival_sample),
        "s_arrival_sample": _int64(record.s_arrival_sample),
        "sampling_rate_hz": _float(record.sampling_rate_hz),
        "station_id": _bytes(record.station_id),
        "channels": _bytes(",".join(record.channels)),
        "name": _bytes(record.name),
        "start_time_ns": _int64(start_ns),
        "has_start_time": _int64(start is not None),
    }
    return tf.train.Example(features=tf.train.Features(feature=features))


def serialize_record(record: Record) -> bytes:
    """The bytes of :func:`record_to_example`, the same in every process: the features are a
    protobuf map, whose default serialisation order changes from one process to the next."""
    return record_to_example(record).SerializeToString(deterministic=True)


# ----------------------------------------------------------------------------- decode (python)


def _feature_value(features, key: str, kind: str):
    """First value of feature ``key`` of list kind ``kind`` (``int64_list`` ...), or None."""
    if key not in features:
        return None
    feature = features[key]
    if feature.WhichOneof("kind") != kind:
        return None
    values = getattr(feature, kind).value
    return values[0] if len(values) else None


def _rate_from_float32(value: float) -> float:
    """The shortest decimal that round-trips through float32 (``19.99`` stays ``19.99``)."""
    return float(str(np.float32(value)))


def example_to_record(
    serialized: bytes, *, where: str = "", index: int = 0, stem: str = ""
) -> Record:
    """Decode one serialized ``tf.train.Example`` into a :class:`Record`.

    Args:
        serialized: the example's bytes.
        where: prefix of error messages (the file name).
        index: the example's position in its file, used in messages and the default name.
        stem: file stem for the default name ``<stem>_<index>`` of classic-only examples.

    Raises:
        InputError: an unparsable example, a missing required feature, ``n_traces`` not 1 or 3,
            or a ``data`` length that does not match ``n_traces × window_size``.
    """
    prefix = f"{where}: example {index}"
    try:
        example = tf.train.Example.FromString(serialized)
    except Exception as err:  # protobuf DecodeError
        raise InputError(f"{prefix}: not a tf.train.Example ({type(err).__name__})") from None
    features = example.features.feature
    window_size = _feature_value(features, "window_size", "int64_list")
    n_traces = _feature_value(features, "n_traces", "int64_list")
    raw = _feature_value(features, "data", "bytes_list")
    for key, value in (("window_size", window_size), ("n_traces", n_traces), ("data", raw)):
        if value is None:
            raise InputError(f"{prefix}: missing required feature {key!r}")
    if n_traces not in (1, 3):
        raise InputError(f"{prefix}: n_traces must be 1 (Z) or 3 (E, N, Z), got {n_traces}")
    if window_size <= 0 or len(raw) != 4 * n_traces * window_size:
        raise InputError(
            f"{prefix}: data holds {len(raw)} bytes, expected 4 × n_traces ({n_traces})"
            f" × window_size ({window_size})"
        )
    traces = np.frombuffer(raw, dtype="<f4").reshape(n_traces, window_size)
    data = np.zeros((window_size, 3), dtype=np.float32)
    if n_traces == 3:
        data[:] = traces.T
    else:
        data[:, 2] = traces[0]

    p_sample = _feature_value(features, "p_arrival_sample", "int64_list")
    s_sample = _feature_value(features, "s_arrival_sample", "int64_list")
    if p_sample is None or s_sample is None:
        label = _feature_value(features, "label", "bytes_list")
        if label is not None and len(label) == 4 * 3 * window_size:
            rows = np.frombuffer(label, dtype="<f4").reshape(3, window_size)
            p_sample = _pick_from_label_row(rows[1]) if p_sample is None else p_sample
            s_sample = _pick_from_label_row(rows[2]) if s_sample is None else s_sample
    rate = _feature_value(features, "sampling_rate_hz", "float_list")
    rate = DEFAULT_SAMPLING_RATE_HZ if rate is None else _rate_from_float32(rate)

    start_ns = _feature_value(features, "start_time_ns", "int64_list")
    start_s = _feature_value(features, "start_time", "int64_list")
    known = _feature_value(features, "has_start_time", "int64_list")
    if known is None:
        known = bool(start_ns or start_s)
    start_time = None
    if known:
        start_time = UTCDateTime(ns=start_ns) if start_ns is not None else UTCDateTime(start_s or 0)

    channels_text = _feature_value(features, "channels", "bytes_list")
    channels = ("", "", "")
    if channels_text is not None:
        parts = channels_text.decode("utf-8").split(",")
        if len(parts) == 3:
            channels = tuple(parts)
    station_id = _feature_value(features, "station_id", "bytes_list")
    name = _feature_value(features, "name", "bytes_list")
    try:
        return Record(
            data=data,
            sampling_rate_hz=rate,
            station_id=station_id.decode("utf-8") if station_id is not None else "",
            start_time=start_time,
            p_arrival_sample=NO_PICK if p_sample is None else p_sample,
            s_arrival_sample=NO_PICK if s_sample is None else s_sample,
            channels=channels,
            name=name.decode("utf-8") if name is not None else f"{stem}_{index:06d}",
        )
    except InputError as err:
        raise InputError(f"{prefix}: {err}") from None


# ----------------------------------------------------------------------------- files


def _compression_of(path: Path, compression: str | None) -> str:
    """``""``, ``"GZIP"`` or ``"ZLIB"``; None detects GZIP from the file's magic bytes."""
    if compression is not None:
        value = compression.upper()
        if value not in ("", "GZIP", "ZLIB", "NONE"):
            raise InputError(f"compression must be None, '', 'GZIP' or 'ZLIB', got {compression!r}")
        return "" if value == "NONE" else value
    try:
        with open(path, "rb") as fh:
            return "GZIP" if fh.read(2) == b"\x1f\x8b" else ""
    except OSError:
        return ""


def _tf_error_reason(err: tf.errors.OpError) -> str:
    """A TF error's message on one line, without the ``{{function_node ...}}`` / ``[Op:...]`` noise."""
    text = re.sub(r"\{\{.*?\}\}", "", str(err.message or ""))
    text = re.sub(r"\s*\[Op:.*$", "", text, flags=re.S)
    text = " ".join(text.split())
    return text or type(err).__name__


def _raw_records(path: Path, compression: str | None) -> Iterator[bytes]:
    """Serialized records of one file in order; TF read errors become one-line InputErrors."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    dataset = tf.data.TFRecordDataset(
        str(path), compression_type=_compression_of(path, compression)
    )
    iterator = iter(dataset.as_numpy_iterator())
    while True:
        try:
            raw = next(iterator)
        except StopIteration:
            return
        except tf.errors.OpError as err:
            reason = _tf_error_reason(err)
            raise InputError(f"{path}: corrupt or truncated TFRecord file ({reason})") from None
        yield raw


def read_tfrecord(
    path: str | os.PathLike, *, compression: str | None = None, **_
) -> Iterator[Record]:
    """Yield the records of one TFRecord file, in file order.

    Args:
        path: the ``.tfrecord`` file.
        compression: ``None`` (detect GZIP from the file header), ``""``, ``"GZIP"`` or ``"ZLIB"``.

    Yields:
        Records with ``data`` ``(window_size, 3)`` float32, columns E, N, Z (``n_traces = 1``
        fills column Z and leaves E, N zero). See the module docstring for classic-only fallbacks.

    Raises:
        InputError: a corrupt or truncated file or a bad example, named in the message (raised
            while iterating, after the good records before it have been yielded).
    """
    path = Path(path)
    for index, raw in enumerate(_raw_records(path, compression)):
        yield example_to_record(raw, where=str(path), index=index, stem=path.stem)


def expand_tfrecord_paths(
    pattern_or_paths: str | os.PathLike | Iterable[str | os.PathLike],
) -> list[Path]:
    """Expand a path, glob pattern, folder or a list of them into TFRecord files.

    Patterns expand sorted; a folder contributes its files whose names contain ``.tfrec``
    (sorted). A path or pattern that names nothing raises :class:`InputError`.
    """
    if isinstance(pattern_or_paths, (str, os.PathLike)):
        pattern_or_paths = [pattern_or_paths]
    found: list[Path] = []
    for item in pattern_or_paths:
        text = str(item)
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text) if Path(m).is_file())
            if not matches:
                raise InputError(f"{text}: no file matches this pattern")
            found.extend(matches)
        elif Path(text).is_dir():
            found.extend(
                sorted(
                    p
                    for p in Path(text).iterdir()
                    if p.is_file() and ".tfrec" in p.name.lower() and not p.name.startswith(".")
                )
            )
        elif Path(text).is_file():
            found.append(Path(text))
        else:
            raise InputError(f"{text}: no such file or folder")
    return list(dict.fromkeys(found))


def count_tfrecord(
    paths: str | os.PathLike | Iterable[str | os.PathLike], *, compression: str | None = None
) -> int:
    """Number of records in one or more TFRecord files (paths, patterns or folders).

    Counts raw records with ``tf.data``; examples are not parsed.

    Raises:
        InputError: a missing, corrupt or truncated file, named in the message.
    """
    total = 0
    for path in expand_tfrecord_paths(paths):
        dataset = tf.data.TFRecordDataset(
            str(path), compression_type=_compression_of(path, compression)
        )
        try:
            total += int(dataset.reduce(np.int64(0), lambda count, _: count + 1))
        except tf.errors.OpError as err:
            reason = _tf_error_reason(err)
            raise InputError(f"{path}: corrupt or truncated TFRecord file ({reason})") from None
    return total


def _output_base(output: str | os.PathLike) -> tuple[Path, str]:
    """``out/train.tfrecord`` or ``out/train`` -> (``out/train``, ``.tfrecord``)."""
    output = Path(output)
    name = output.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return output.with_name(name[: -len(suffix)]), name[-len(suffix) :]
    return output.with_name(name), ".tfrecord"


def _shard_sizes(n_records: int, n_shards: int) -> list[int]:
    """Contiguous shard sizes, the first ``n_records % n_shards`` one larger."""
    base, extra = divmod(n_records, n_shards)
    return [base + (1 if i < extra else 0) for i in range(n_shards)]


def write_tfrecord(
    records: Iterable[Record],
    output: str | os.PathLike,
    *,
    records_per_shard: int | None = None,
    n_shards: int | None = None,
    compression: str | None = None,
) -> list[Path]:
    """Write records as ``tf.train.Example`` s (see module docstring); return the files written.

    Without sharding options, up to :data:`DEFAULT_RECORDS_PER_SHARD` records go to one file
    ``<base>.tfrecord``; more are sharded. With ``records_per_shard`` or ``n_shards`` the output is
    always sharded: ``<base>-00000-of-00008.tfrecord``, ... Shards hold contiguous runs of
    records, so reading the files in sorted order gives the input order.

    Args:
        records: the records; lengths may differ. Streamed, except with ``n_shards`` when
            ``records`` has no ``len()`` (then they are held in memory to split them evenly).
        output: path prefix, ``out/train`` or ``out/train.tfrecord`` (the suffix is kept).
        records_per_shard: records per file (the last one may hold fewer).
        n_shards: number of files, sizes as equal as possible; not with ``records_per_shard``.
        compression: ``None``/``""`` (none), ``"GZIP"`` (files get a ``.gz`` suffix) or ``"ZLIB"``.

    Raises:
        InputError: no records, both sharding options, a count < 1, more shards than records.
    """
    if records_per_shard is not None and n_shards is not None:
        raise InputError("give records_per_shard or n_shards, not both")
    for label, value in (("records_per_shard", records_per_shard), ("n_shards", n_shards)):
        if value is not None and int(value) < 1:
            raise InputError(f"{label} must be >= 1, got {value}")
    codec = _compression_of(Path(output), compression or "")
    options = tf.io.TFRecordOptions(compression_type=codec)
    base, suffix = _output_base(output)
    suffix += ".gz" if codec == "GZIP" else ""

    if n_shards is not None:
        if not isinstance(records, Sequence):
            records = list(records)
        if len(records) < n_shards:
            raise InputError(
                f"{output}: n_shards={n_shards} but only {len(records)} records to write"
            )
        sizes = _shard_sizes(len(records), int(n_shards))
        iterator = iter(records)
        chunks = (islice(iterator, size) for size in sizes)
        return _write_shards(chunks, base, suffix, options, n_total=len(sizes))

    iterator = iter(records)
    limit = int(records_per_shard or DEFAULT_RECORDS_PER_SHARD)
    head = list(islice(iterator, limit + 1))
    if not head:
        raise InputError(f"{output}: no records to write")
    if records_per_shard is None and len(head) <= limit:
        path = base.with_name(base.name + suffix)
        with atomic_output(path) as tmp, tf.io.TFRecordWriter(str(tmp), options) as writer:
            for record in head:
                writer.write(serialize_record(record))
        _remove_stale_outputs(base, suffix, keep=[path])
        return [path]

    return _write_shards(_chunks(head, iterator, limit), base, suffix, options, n_total=None)


def _chunks(head: list[Record], iterator: Iterator[Record], size: int) -> Iterator[list[Record]]:
    """``head`` then the rest of ``iterator``, in lists of ``size`` records."""
    pending = head
    while pending:
        yield pending[:size]
        pending = pending[size:]
        if len(pending) < size:
            pending += list(islice(iterator, size - len(pending)))


def _remove_stale_outputs(base: Path, suffix: str, keep: list[Path]) -> None:
    """Delete earlier outputs of the same prefix (another shard count, or unsharded) so that
    reading the folder back never mixes two runs' records."""
    pattern = f"{base.name}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]{suffix}"
    stale = set(base.parent.glob(pattern)) | {base.with_name(base.name + suffix)}
    for path in stale - set(keep):
        if path.is_file():
            path.unlink()


def _write_shards(
    chunks: Iterable[Iterable[Record]],
    base: Path,
    suffix: str,
    options: tf.io.TFRecordOptions,
    *,
    n_total: int | None,
) -> list[Path]:
    """Write each chunk to a hidden temporary file; rename all onto their shard names at the end.

    The shard count is known only after the last chunk when streaming, so the names are given
    last. On any error the temporary files are removed and no shard name appears.
    """
    base.parent.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []
    try:
        for chunk in chunks:
            fd, tmp = new_part_file(base)
            os.close(fd)
            temps.append(tmp)
            with tf.io.TFRecordWriter(str(tmp), options) as writer:
                for record in chunk:
                    writer.write(serialize_record(record))
        total = n_total if n_total is not None else len(temps)
        paths = [
            base.with_name(f"{base.name}-{i:05d}-of-{total:05d}{suffix}") for i in range(total)
        ]
        for tmp, path in zip(temps, paths, strict=True):
            os.replace(tmp, path)
        _remove_stale_outputs(base, suffix, keep=paths)
        return paths
    finally:
        for tmp in temps:
            if tmp.exists():
                tmp.unlink()


# ----------------------------------------------------------------------------- tf.data parse


def _pick_from_label_row_tf(row: tf.Tensor) -> tf.Tensor:
    """Graph version of :func:`_pick_from_label_row`: int64 scalar, -1 when max < 0.5."""
    return tf.where(
        tf.reduce_max(row) >= 0.5, tf.argmax(row, output_type=tf.int64), tf.constant(-1, tf.int64)
    )


def parse_example_tf(serialized: tf.Tensor, with_metadata: bool = False) -> dict[str, tf.Tensor]:
    """Parse one serialized example inside a ``tf.data`` pipeline (graph-compatible).

    Use as ``tf.data.TFRecordDataset(files).map(parse_example_tf, num_parallel_calls=AUTOTUNE)``.
    ``serialized`` must be a scalar string tensor (map before ``batch``).

    Returns:
        ``data``: float32 ``(window_size, 3)``, channels last, E, N, Z (``n_traces = 1`` puts the
        trace in Z and zeros in E, N); ``p_arrival_sample``, ``s_arrival_sample``: int64 scalars
        (-1 = none; from the label rows for classic-only files, as in :func:`read_tfrecord`);
        ``sampling_rate_hz``: float32 scalar (100 Hz when absent). With ``with_metadata``, also
        ``station_id`` and ``name`` (string scalars, ``""`` when absent).

    A ``data`` length that does not match ``n_traces × window_size`` or ``n_traces`` other than
    1 or 3 fails at run time with an ``InvalidArgumentError``.
    """
    spec = {
        "window_size": tf.io.FixedLenFeature([], tf.int64),
        "n_traces": tf.io.FixedLenFeature([], tf.int64),
        "data": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "p_arrival_sample": tf.io.FixedLenFeature([], tf.int64, default_value=_MISSING_PICK),
        "s_arrival_sample": tf.io.FixedLenFeature([], tf.int64, default_value=_MISSING_PICK),
        "sampling_rate_hz": tf.io.FixedLenFeature(
            [], tf.float32, default_value=DEFAULT_SAMPLING_RATE_HZ
        ),
    }
    if with_metadata:
        spec["station_id"] = tf.io.FixedLenFeature([], tf.string, default_value="")
        spec["name"] = tf.io.FixedLenFeature([], tf.string, default_value="")
    parsed = tf.io.parse_single_example(serialized, spec)
    window_size = parsed["window_size"]
    n_traces = parsed["n_traces"]

    traces = tf.io.decode_raw(parsed["data"], tf.float32, little_endian=True)
    traces = tf.reshape(traces, tf.stack([n_traces, window_size]))
    traces = tf.cond(
        tf.equal(n_traces, 1),
        lambda: tf.concat([tf.zeros_like(traces), tf.zeros_like(traces), traces], axis=0),
        lambda: traces,
    )
    traces = tf.ensure_shape(
        tf.reshape(traces, tf.stack([tf.constant(3, tf.int64), window_size])), [3, None]
    )
    data = tf.transpose(traces)

    label = tf.io.decode_raw(parsed["label"], tf.float32, little_endian=True)
    label_ok = tf.equal(tf.size(label, out_type=tf.int64), 3 * window_size)
    rows = tf.cond(
        label_ok,
        lambda: tf.reshape(label, tf.stack([tf.constant(3, tf.int64), window_size])),
        lambda: tf.zeros(tf.stack([tf.constant(3, tf.int64), window_size]), tf.float32),
    )
    picks = {}
    for key, row in (("p_arrival_sample", 1), ("s_arrival_sample", 2)):
        stored = parsed[key]
        picks[key] = tf.where(
            tf.equal(stored, _MISSING_PICK), _pick_from_label_row_tf(rows[row]), stored
        )
    result = {"data": data, **picks, "sampling_rate_hz": parsed["sampling_rate_hz"]}
    if with_metadata:
        result["station_id"] = parsed["station_id"]
        result["name"] = parsed["name"]
    return result
