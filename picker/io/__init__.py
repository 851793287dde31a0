"""Readers and writers of seismic records: NPZ, TFRecord, HDF5 (SeisBench, STEAD), ObsPy formats.

Every reader yields :class:`~picker.io.base.Record` objects (``(n_samples, 3)`` float32, E, N, Z)
and every writer takes them, so any format converts to any other. Format modules are imported
lazily: reading NPZ never imports TensorFlow.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from picker.io.base import (
    COMPONENTS,
    NO_PICK,
    InputError,
    Record,
    atomic_output,
    enz_columns,
    make_station_id,
    path_in_folder,
    require_regular_file,
    safe_file_name,
    sampling_rate_problem,
    split_station_id,
)

__all__ = [
    "COMPONENTS",
    "NO_PICK",
    "NOT_WAVEFORM_SUFFIXES",
    "WINDOW_FORMATS",
    "FORMATS",
    "InputError",
    "Record",
    "atomic_output",
    "enz_columns",
    "expand_inputs",
    "guess_format",
    "make_station_id",
    "read_records",
    "split_station_id",
    "write_records",
]

#: Formats of labelled windows (:func:`guess_format`'s answers other than ``"obspy"``).
WINDOW_FORMATS = ("npz", "tfrecord", "hdf5")

#: Output formats of :func:`write_records` (``picker convert --to``).
FORMATS = ("npz", "tfrecord", "hdf5", "stead", "mseed", "sac")

_TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfrec")
_HDF5_SUFFIXES = (".hdf5", ".h5", ".hdf")


def guess_format(path: str | os.PathLike) -> str:
    """Return ``"npz"``, ``"tfrecord"``, ``"hdf5"`` or ``"obspy"`` for a file or folder.

    A folder holding ``metadata.csv`` and ``waveforms.hdf5`` is a SeisBench dataset (``"hdf5"``).
    Anything else is handed to ObsPy (miniSEED, SAC, GSE2, ...).
    """
    path = Path(path)
    if path.is_dir():
        if (path / "waveforms.hdf5").exists():
            return "hdf5"
        raise InputError(f"{path}: is a folder, not a waveform file or SeisBench dataset")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix in _TFRECORD_SUFFIXES or ".tfrecord" in path.name.lower():
        return "tfrecord"
    if suffix in _HDF5_SUFFIXES or path.name == "metadata.csv":
        return "hdf5"
    return "obspy"


#: Files a folder holds beside its waveforms, left out when the folder is expanded: tables and
#: notes, station metadata and catalogues (StationXML, QuakeML), figures, models, partial files,
#: and the lock files and progress journals of `picker predict`.
NOT_WAVEFORM_SUFFIXES = frozenset(
    ".csv .md .txt .json .yaml .yml .xml .qml .png .jpg .jpeg .pdf .svg .html .log .py .ipynb "
    ".keras .onnx .part .tmp .lock .jsonl".split()
)


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files, folders (recursively) and glob patterns into a sorted list of files.

    A SeisBench folder (with ``waveforms.hdf5``) stays one entry. Inside a folder, hidden files
    and files with a :data:`NOT_WAVEFORM_SUFFIXES` suffix are left out; a file named
    explicitly is always kept. A pattern that matches nothing or a path that does not exist
    raises :class:`InputError` naming it.
    """
    found: list[Path] = []
    for item in inputs:
        text = str(item)
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            if not matches:
                raise InputError(f"{text}: no file matches this pattern")
            found.extend(m for m in matches if m.is_file())
            continue
        path = Path(text)
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_dir() and not (path / "waveforms.hdf5").exists():
            for sub in sorted(path.rglob("*")):
                if sub.is_file() and not sub.name.startswith(".") and sub.name != "metadata.csv":
                    if sub.name == "waveforms.hdf5":
                        found.append(sub.parent)
                    elif sub.suffix.lower() not in NOT_WAVEFORM_SUFFIXES:
                        found.append(sub)
            continue
        found.append(path)
    unique = list(dict.fromkeys(found))
    return unique


def read_records(path: str | os.PathLike, fmt: str | None = None, **options) -> Iterator[Record]:
    """Yield the records in one file (or SeisBench folder).

    Args:
        path: the file or folder.
        fmt: ``"npz"``, ``"tfrecord"``, ``"hdf5"`` or ``"obspy"``; guessed from the name when None.
        **options: reader options (e.g. ``layout``, ``component_order`` for NPZ); each reader
            gets only the options it takes, so one set of options serves mixed inputs.

    Raises:
        InputError: a missing, empty, corrupt or unreadable file, or a record whose sampling
            rate :func:`~picker.io.base.sampling_rate_problem` refuses, named in the message.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    require_regular_file(path)
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    fmt = fmt or guess_format(path)
    for record in _read_format(path, fmt, options):
        if (problem := sampling_rate_problem(record.sampling_rate_hz)) is not None:
            raise InputError(f"{path}: record {record.name!r} {problem}")
        yield record


def _read_format(path: Path, fmt: str, options: dict) -> Iterator[Record]:
    if fmt == "npz":
        from picker.io.npz import read_npz

        yield read_npz(path, **_accepted(read_npz, options))
    elif fmt == "tfrecord":
        from picker.io.tfrecord import read_tfrecord

        yield from read_tfrecord(path, **_accepted(read_tfrecord, options))
    elif fmt in ("hdf5", "stead", "seisbench"):
        from picker.io.hdf5 import read_hdf5

        yield from read_hdf5(path, **_accepted(read_hdf5, options))
    elif fmt in ("obspy", "mseed"):
        from picker.io.stream import read_stream_records

        yield from read_stream_records(path, **_accepted(read_stream_records, options))
    else:
        raise InputError(f"{path}: unknown format {fmt!r}")


def _accepted(reader, options: dict) -> dict:
    """The subset of ``options`` that ``reader`` takes as keyword arguments (None values dropped)."""
    import inspect

    params = inspect.signature(reader).parameters
    return {k: v for k, v in options.items() if k in params and v is not None}


def write_records(
    records: Iterable[Record], output: str | os.PathLike, fmt: str, **options
) -> list[Path]:
    """Write records to ``output`` in format ``fmt`` (one of :data:`FORMATS`); return paths written.

    ``npz`` and ``mseed`` write one file per record into the folder ``output``, ``sac`` one file
    per component with the picks in its header; ``tfrecord`` writes
    (sharded) files named after ``output``; ``hdf5`` writes a SeisBench folder and ``stead`` one
    STEAD-layout HDF5 file. Every file is written atomically.
    """
    output = Path(output)
    if fmt == "npz":
        from picker.io.npz import write_npz

        output.mkdir(parents=True, exist_ok=True)
        used: set[str] = set()
        return [
            write_npz(rec, path_in_folder(output, f"{_safe_name(rec, i, used)}.npz"))
            for i, rec in enumerate(records)
        ]
    if fmt == "tfrecord":
        from picker.io.tfrecord import write_tfrecord

        return write_tfrecord(records, output, **options)
    if fmt == "hdf5":
        from picker.io.hdf5_writers import write_seisbench

        return write_seisbench(records, output, **options)
    if fmt == "stead":
        from picker.io.hdf5_writers import write_stead

        return write_stead(records, output, **options)
    if fmt == "mseed":
        from picker.io.stream import write_stream_record

        output.mkdir(parents=True, exist_ok=True)
        used = set()
        return [
            write_stream_record(rec, path_in_folder(output, f"{_safe_name(rec, i, used)}.mseed"))
            for i, rec in enumerate(records)
        ]
    if fmt == "sac":
        from picker.io.stream import write_sac_record

        output.mkdir(parents=True, exist_ok=True)
        used = set()
        return [
            path
            for i, rec in enumerate(records)
            for path in write_sac_record(rec, output, _safe_name(rec, i, used))
        ]
    raise InputError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _safe_name(record: Record, index: int, used: set[str] | None = None) -> str:
    """A file name from the record's name that cannot leave the output folder.

    At most 200 bytes (UTF-8). With ``used`` (lower-cased names already taken, updated here) the
    name is made unique with a ``_1``, ``_2``, ... suffix, so records sharing a name (same file
    stem in two folders) do not overwrite each other, on case-insensitive file systems too.
    """
    fallback = f"record_{index:06d}"
    name = safe_file_name(Path(record.name or fallback).name, fallback)
    if used is None:
        return name
    candidate, suffix = name, 1
    while candidate.lower() in used:
        candidate, suffix = f"{name}_{suffix}", suffix + 1
    used.add(candidate.lower())
    return candidate
