"""HDF5 records: SeisBench datasets, STEAD and EQTransformer files (h5py; no TensorFlow).

SeisBench: a folder with ``metadata.csv`` (one row per trace) and ``waveforms.hdf5`` (group
``data`` with the samples, group ``data_format`` with ``dimension_order`` and
``component_order``). A trace is ``data/<trace_name>``, or a row of a bucket when its name reads
``bucket3$12,:3,:3001`` (row 12 of ``data/bucket3``, then ``[:3, :3001]``). Chunked datasets
(``metadata<chunk>.csv`` + ``waveforms<chunk>.hdf5``) are read chunk by chunk.

STEAD: one HDF5 file with ``data/<trace_name>`` datasets of shape ``(n_samples, 3)`` (E, N, Z)
and the metadata as attributes (``p_arrival_sample``, ``s_arrival_sample``,
``trace_start_time``, ``network_code``, ``receiver_code``, ``receiver_type``, ...), 100 Hz
unless a ``sampling_rate_hz`` attribute says otherwise.

EQTransformer's own layout (the files its preprocessor writes and its sample data): the same
datasets and attributes as STEAD, under the groups ``earthquake/local/<trace_name>`` and
``non_earthquake/noise/<trace_name>`` instead of ``data`` (every group under ``earthquake`` and
``non_earthquake`` is read, earthquakes first; noise traces have no picks).

The writers of both are :mod:`picker.io.hdf5_writers`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from picker.io.base import (
    NO_PICK,
    SEISMIC_COMPONENTS,
    InputError,
    Record,
    enz_columns,
    make_station_id,
    one_line,
    parse_time_iso,
)

__all__ = ["parse_location", "read_hdf5"]

STEAD_SAMPLING_RATE_HZ = 100.0
#: Pick columns tried in order when ``trace_p_arrival_sample`` / ``trace_s_arrival_sample`` is
#: missing or empty: the earliest of the others is used.
P_COLUMNS = tuple(f"trace_{p}_arrival_sample" for p in ("p", "P", "P1", "Pg", "Pn", "Pb"))
S_COLUMNS = tuple(f"trace_{s}_arrival_sample" for s in ("s", "S", "S1", "Sg", "Sn", "Sb"))
#: The top groups of EQTransformer's layout; their sub-groups (``local``, ``noise``) hold traces.
EQT_GROUPS = ("earthquake", "non_earthquake")
_WAVEFORMS_RE = re.compile(r"^waveforms(?P<chunk>.*)\.hdf5$")
_METADATA_RE = re.compile(r"^metadata(?P<chunk>.*)\.csv$")


def read_hdf5(path: str | os.PathLike, *, component_order: str | None = None) -> Iterator[Record]:
    """Yield the records of a SeisBench dataset or a STEAD HDF5 file, in file order.

    Args:
        path: a SeisBench folder, its ``metadata.csv`` or ``waveforms.hdf5``, or a STEAD- or
            EQTransformer-layout HDF5 file (or a folder holding one as ``waveforms.hdf5``
            without a ``metadata.csv``). An HDF5 file is SeisBench when it has a
            ``data_format`` group or a ``metadata.csv`` beside it (``waveforms<chunk>.hdf5``
            -> ``metadata<chunk>.csv``).
        component_order: order of the components in the stored traces (e.g. ``"ZNE"``);
            overrides the file. Default: SeisBench ``trace_component_order``, else
            ``data_format/component_order``, else ``ZNE``; STEAD ``ENZ``.

    Yields:
        Records with ``data`` ``(n_samples, 3)`` float32 E, N, Z (zeros for missing
        components); picks rounded to the nearest sample, ``-1`` when empty/NaN or before the
        first sample; ``name`` the original trace name (``trace_name_original`` when present);
        ``extra["trace_name"]`` the locator in the file and ``extra["split"]`` the SeisBench
        split when the metadata has one.

    Raises:
        InputError: a missing, corrupt or non-HDF5 file, a missing dataset or column, naming the
            file (and trace).
    """
    path = Path(path)
    pairs = _seisbench_pairs(path)
    for metadata_path, waveforms_path in pairs:
        yield from _read_seisbench(metadata_path, waveforms_path, component_order)
    if not pairs:
        yield from _read_stead(path / "waveforms.hdf5" if path.is_dir() else path, component_order)


# --------------------------------------------------------------------------------------------
# layout detection


def _seisbench_pairs(path: Path) -> list[tuple[Path, Path]]:
    """``[(metadata.csv, waveforms.hdf5), ...]`` for a SeisBench path, ``[]`` for STEAD / EQT
    (a file, or a folder whose ``waveforms.hdf5`` has neither metadata nor ``data_format``)."""
    if path.is_dir():
        if (path / "waveforms.hdf5").is_file():
            if not (path / "metadata.csv").is_file():
                with _open_h5(path / "waveforms.hdf5") as handle:
                    if "data_format" not in handle:
                        return []  # a STEAD / EQTransformer file in a folder of its own
            return [(_existing(path / "metadata.csv"), path / "waveforms.hdf5")]
        pairs = []
        for waveforms in sorted(path.glob("waveforms*.hdf5")):
            chunk = _WAVEFORMS_RE.match(waveforms.name)["chunk"]
            metadata = path / f"metadata{chunk}.csv"
            if metadata.is_file():
                pairs.append((metadata, waveforms))
        if not pairs:
            raise InputError(f"{path}: folder holds no metadata.csv + waveforms.hdf5 pair")
        return pairs
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    match = _METADATA_RE.match(path.name)
    if match:
        return [(path, _existing(path.with_name(f"waveforms{match['chunk']}.hdf5")))]
    match = _WAVEFORMS_RE.match(path.name)
    metadata = path.with_name(f"metadata{match['chunk']}.csv") if match else None
    with _open_h5(path) as handle:
        seisbench_format = "data_format" in handle
    if metadata is not None and metadata.is_file():
        return [(metadata, path)]
    if seisbench_format:
        raise InputError(f"{path}: SeisBench waveforms without a metadata.csv beside them")
    return []


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise InputError(
            f"{path}: missing (a SeisBench dataset needs metadata.csv and waveforms.hdf5)"
        )
    return path


def _open_h5(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable HDF5 file ({one_line(exc)})") from None


# --------------------------------------------------------------------------------------------
# SeisBench


def _read_seisbench(
    metadata_path: Path, waveforms_path: Path, component_order: str | None
) -> Iterator[Record]:
    table = _read_metadata(metadata_path)
    with _open_h5(waveforms_path) as handle:
        data_format = _data_format(handle)
        _refuse_external_link(handle, "data", f"{waveforms_path}: ")
        group = handle.get("data")
        if not isinstance(group, h5py.Group):
            raise InputError(f"{waveforms_path}: no 'data' group")
        dimension_order = data_format.get("dimension_order", "CW").upper().replace("N", "")
        if sorted(dimension_order) != ["C", "W"]:
            raise InputError(f"{waveforms_path}: unsupported dimension_order {dimension_order!r}")
        columns = {name: table[name].tolist() for name in table.columns}
        default_rate = data_format.get("sampling_rate", "")
        for index in range(len(table)):
            row = {name: values[index] for name, values in columns.items()}
            trace_name = row["trace_name"]
            where = f"{waveforms_path}: trace {trace_name!r}"
            try:
                samples = _trace_samples(group, trace_name, dimension_order)
                record = _seisbench_record(row, samples, data_format, default_rate, component_order)
            except InputError as exc:
                raise InputError(f"{where}: {one_line(exc)}") from None
            except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
                raise InputError(f"{where}: cannot read ({one_line(exc)})") from None
            yield record


def _read_metadata(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: not a readable metadata CSV ({one_line(exc)})") from None
    if "trace_name" not in table.columns:
        raise InputError(f"{path}: no 'trace_name' column")
    return table


def _data_format(handle: h5py.File) -> dict[str, str]:
    """``data_format`` entries as text, read from datasets or attributes of the group."""
    group = handle.get("data_format")
    if not isinstance(group, h5py.Group):
        return {}
    values = {key: group.attrs[key] for key in group.attrs}
    for key, item in group.items():
        if isinstance(item, h5py.Dataset):
            values[key] = item[()]
    return {key: _text(value) for key, value in values.items()}


def parse_location(location: str) -> tuple:
    """``"12,:3,:3001"`` -> ``(12, slice(None, 3), slice(None, 3001))`` (numpy index syntax)."""
    index = []
    for part in location.replace(" ", "").split(","):
        if part == "":
            continue
        bounds = [int(b) if b else None for b in part.split(":")]
        if len(bounds) == 1:
            if bounds[0] is None:
                raise ValueError(f"empty index in location {location!r}")
            index.append(bounds[0])
        elif len(bounds) <= 3:
            index.append(slice(*bounds))
        else:
            raise ValueError(f"bad location {location!r}")
    return tuple(index)


def _refuse_external_link(group: h5py.Group, name: str, where: str = "") -> None:
    """InputError (``where`` + message) when ``group[name]`` links into another file."""
    link = group.get(name, getlink=True)
    if isinstance(link, h5py.ExternalLink):
        raise InputError(f"{where}{name!r} links to another file ({link.filename}); not read")


def _local_dataset(group: h5py.Group, name: str) -> h5py.Dataset | None:
    """``group[name]`` when it is a dataset whose samples are in this file, else None when
    missing or not a dataset.

    Raises:
        InputError: for an external link, external storage or a virtual dataset whose
            sources are in another file: a hostile file could make picker read (and copy into
            its outputs) any file on the machine, ``/etc/passwd`` say.
    """
    _refuse_external_link(group, name)
    dataset = group.get(name)
    if not isinstance(dataset, h5py.Dataset):
        return None
    if dataset.external:
        files = ", ".join(sorted({str(entry[0]) for entry in dataset.external}))
        raise InputError(f"dataset {name!r} stores its samples in other files ({files}); not read")
    if dataset.is_virtual and any(src.file_name != "." for src in dataset.virtual_sources()):
        raise InputError(f"dataset {name!r} is a virtual dataset over other files; not read")
    return dataset


def _trace_samples(group: h5py.Group, trace_name: str, dimension_order: str) -> np.ndarray:
    """The trace as ``(n_samples, n_components)`` in stored component order."""
    block_name, _, location = trace_name.partition("$")
    dataset = _local_dataset(group, block_name)
    if dataset is None:
        raise InputError(f"dataset data/{block_name} is missing")
    index = parse_location(location)
    if index and isinstance(index[0], int):
        array = np.asarray(dataset[index[0]])[index[1:]]
    else:
        array = np.asarray(dataset[()])[index]
    if array.dtype.kind not in "fiu":
        raise InputError(f"samples must be numbers, got dtype {array.dtype}")
    if array.ndim == 1:
        return array[:, None]
    if array.ndim != 2:
        raise InputError(
            f"trace has shape {array.shape}; expected 2 dimensions ({dimension_order})"
        )
    return array.T if dimension_order.index("C") < dimension_order.index("W") else array


def _seisbench_record(row, samples, data_format, default_rate, component_order) -> Record:
    order = component_order or row.get("trace_component_order", "") or ""
    order = (order or data_format.get("component_order", "") or "ZNE").strip()
    data, columns, order = _enz(samples, order)

    band = row.get("trace_channel", "").strip()[:2]
    channels = _channel_codes(row.get("trace_channels", ""), band, columns, order)

    rate = _float(row.get("trace_sampling_rate_hz", ""))
    if not np.isfinite(rate):
        dt = _float(row.get("trace_dt_s", ""))
        rate = 1.0 / dt if np.isfinite(dt) and dt > 0 else _float(default_rate)
    if not np.isfinite(rate):
        raise InputError("no sampling rate (trace_sampling_rate_hz, trace_dt_s or data_format)")

    name = row.get("trace_name_original", "") or row["trace_name"]
    station_id = row.get("trace_station_id", "") or _station_id(
        row.get("station_network_code", ""),
        row.get("station_code", ""),
        row.get("station_location_code", ""),
        band,
        fallback=name,
    )
    extra = {"trace_name": row["trace_name"]}
    if row.get("split", ""):
        extra["split"] = row["split"]
    return Record(
        data=data,
        sampling_rate_hz=rate,
        station_id=station_id,
        start_time=_time(row.get("trace_start_time", "")),
        p_arrival_sample=_first_pick(row, P_COLUMNS),
        s_arrival_sample=_first_pick(row, S_COLUMNS),
        channels=channels,
        name=name,
        extra=extra,
    )


def _first_pick(row: dict, names: tuple[str, ...]) -> int:
    primary = _pick(row.get(names[0], ""))
    if primary != NO_PICK:
        return primary
    others = [p for p in (_pick(row.get(name, "")) for name in names[1:]) if p != NO_PICK]
    return min(others) if others else NO_PICK


# --------------------------------------------------------------------------------------------
# STEAD


def _read_stead(path: Path, component_order: str | None) -> Iterator[Record]:
    """The records of a STEAD or EQTransformer file (:func:`_trace_groups`), in file order."""
    with _open_h5(path) as handle:
        for group in _trace_groups(handle, path):
            for key in group:
                try:
                    item = _local_dataset(group, key)
                    if item is None:
                        continue
                    record = _stead_record(key, item, component_order)
                except InputError as exc:
                    raise InputError(f"{path}: trace {key!r}: {one_line(exc)}") from None
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    raise InputError(
                        f"{path}: trace {key!r}: cannot read ({one_line(exc)})"
                    ) from None
                yield record


def _trace_groups(handle: h5py.File, path: Path) -> list[h5py.Group]:
    """The groups holding the trace datasets: STEAD's ``data``, else every sub-group of
    EQTransformer's :data:`EQT_GROUPS` (``earthquake/local``, ``non_earthquake/noise``).

    Raises:
        InputError: none of them, or one that links into another file.
    """
    _refuse_external_link(handle, "data", f"{path}: ")
    group = handle.get("data")
    if isinstance(group, h5py.Group):
        return [group]
    groups, tops = [], 0
    for top in EQT_GROUPS:
        _refuse_external_link(handle, top, f"{path}: ")
        parent = handle.get(top)
        if not isinstance(parent, h5py.Group):
            continue
        tops += 1
        for kind in parent:
            _refuse_external_link(parent, kind, f"{path}: {top}/")
            if isinstance(child := parent.get(kind), h5py.Group):
                groups.append(child)
    if not tops:
        raise InputError(
            f"{path}: neither SeisBench, STEAD (no 'data' group) nor EQTransformer layout "
            "(no 'earthquake' or 'non_earthquake' group)"
        )
    return groups


def _stead_record(key: str, dataset: h5py.Dataset, component_order: str | None) -> Record:
    attrs = {name: dataset.attrs[name] for name in dataset.attrs}
    array = np.asarray(dataset[()])
    if array.dtype.kind not in "fiu":
        raise InputError(f"samples must be numbers, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[:, None]
    elif array.ndim == 2 and array.shape[1] > 3 and array.shape[0] <= 3:
        array = array.T
    elif array.ndim != 2:
        raise InputError(f"trace has shape {array.shape}; expected (n_samples, 3)")
    order = (component_order or "ENZ").strip()
    if array.shape[1] == 1 and len(order) != 1:
        order = "Z"
    data, columns, order = _enz(array, order)

    band = _text(attrs.get("receiver_type", "")).strip()[:2]
    channels = _channel_codes(_text(attrs.get("channels", "")), band, columns, order)

    rate = _float(attrs.get("sampling_rate_hz", attrs.get("sampling_rate", "")))
    rate = rate if np.isfinite(rate) else STEAD_SAMPLING_RATE_HZ
    name = _text(attrs.get("trace_name", "")) or key
    station_id = _text(attrs.get("station_id", "")) or _station_id(
        _text(attrs.get("network_code", "")),
        _text(attrs.get("receiver_code", "")),
        _text(attrs.get("location_code", "")),
        band,
        fallback=name,
    )
    return Record(
        data=data,
        sampling_rate_hz=rate,
        station_id=station_id,
        start_time=_time(_text(attrs.get("trace_start_time", ""))),
        p_arrival_sample=_pick(attrs.get("p_arrival_sample", "")),
        s_arrival_sample=_pick(attrs.get("s_arrival_sample", "")),
        channels=channels,
        name=name,
        extra={"trace_name": key},
    )


# --------------------------------------------------------------------------------------------
# shared helpers


def _enz(samples: np.ndarray, order: str) -> tuple[np.ndarray, list[int], str]:
    """``(n_samples, k)`` in ``order`` -> ``(n_samples, 3)`` float32 E, N, Z, the columns and
    the order of the components kept.

    A trace of more than 3 components keeps its seismometer components (Z/N/E/1/2/3/U): the
    hydrophone ``H`` of ocean-bottom records stored as ``Z12H`` is dropped, for instance.
    """
    n_components = samples.shape[1]
    if len(order) < n_components:
        raise InputError(f"component order {order!r} names fewer than {n_components} components")
    keep = [i for i, code in enumerate(order[:n_components]) if code.upper() in SEISMIC_COMPONENTS]
    if n_components > 3 and keep:
        samples = samples[:, keep]
        order = "".join(order[i] for i in keep)
    if not 1 <= samples.shape[1] <= 3:
        raise InputError(
            f"trace has {n_components} components ({order[:n_components]!r}); "
            "expected 1 to 3 of Z/N/E/1/2/3/U"
        )
    columns = enz_columns(list(order[: samples.shape[1]]))
    data = np.zeros((samples.shape[0], 3), dtype=np.float32)
    data[:, columns] = samples
    return data, columns, order


def _channel_codes(stored: str, band: str, columns: list[int], order: str) -> tuple[str, ...]:
    """Our stored ``E,N,Z`` codes, else band code + component letter, else empty codes."""
    if stored:
        return tuple((stored.split(",") + ["", "", ""])[:3])
    channels = [""] * 3
    if band:
        for column, letter in zip(columns, order, strict=False):
            channels[column] = band + letter
    return tuple(channels)


def _station_id(network: str, station: str, location: str, band: str, fallback: str) -> str:
    network, station = network.strip(), station.strip()
    if network or station:
        return make_station_id(network, station, location, band)
    return fallback


def _text(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size == 1 else ",".join(_text(v) for v in value.ravel())
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float | np.floating) and np.isnan(value):
        return ""
    return str(value)


def _float(value) -> float:
    text = _text(value).strip()
    try:
        return float(text) if text else float("nan")
    except ValueError:
        raise InputError(f"expected a number, got {text!r}") from None


def _pick(value) -> int:
    """A pick sample from a number or text; ``-1`` for empty, NaN or negative values."""
    number = _float(value)
    if not np.isfinite(number) or number < 0:
        return NO_PICK
    return int(np.floor(number + 0.5))


def _time(text: str):
    try:
        return parse_time_iso(text)
    except (ValueError, TypeError) as exc:
        raise InputError(f"start time {text!r} is not a time ({one_line(exc)})") from None
