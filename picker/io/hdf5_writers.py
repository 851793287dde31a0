"""HDF5 writers: SeisBench datasets and STEAD / EQTransformer files (h5py; no TensorFlow).

The layouts are those :mod:`picker.io.hdf5` reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from picker.io.base import (
    InputError,
    Record,
    atomic_output,
    format_time_iso,
    split_station_id,
)

__all__ = ["write_seisbench", "write_stead"]


def _unique_key(name: str, used: set[str], index: int) -> str:
    """An HDF5 dataset name from a record name: no ``/`` or ``$``, unique among ``used``."""
    key = name.replace("/", "_").replace("$", "_").strip() or f"trace_{index:06d}"
    if key in (".", ".."):
        key = f"trace_{index:06d}"
    candidate, suffix = key, 1
    while candidate in used:
        candidate, suffix = f"{key}_{suffix}", suffix + 1
    used.add(candidate)
    return candidate


def write_seisbench(
    records: Iterable[Record], folder: str | os.PathLike, *, bucket_size: int = 1024
) -> list[Path]:
    """Write a SeisBench dataset: ``folder/metadata.csv`` and ``folder/waveforms.hdf5``.

    Traces are stored float32 ``(3, n_samples)`` (``dimension_order`` ``"CW"``,
    ``component_order`` ``"ZNE"``). Records of equal length are packed into buckets of up to
    ``bucket_size`` rows (``data/bucketK``, shape ``(n, 3, n_samples)``, trace name
    ``bucketK$row,:3,:n_samples``); a trace without an equal-length partner among the (at most
    ``bucket_size``) traces held in memory is written as its own dataset named after the
    record. Besides the standard columns the metadata keeps ``trace_name_original``
    (the record name), ``trace_station_id``, ``trace_channels`` (E,N,Z codes), ``trace_npts``
    and ``trace_start_time`` with 9 decimals, so :func:`read_hdf5` returns identical records.
    Both files are written atomically; the folder is created when missing.

    Returns:
        ``[metadata.csv, waveforms.hdf5]``.
    """
    if bucket_size < 1:
        raise InputError(f"bucket_size must be >= 1, got {bucket_size}")
    folder = Path(folder)
    metadata_path, waveforms_path = folder / "metadata.csv", folder / "waveforms.hdf5"
    rows: list[dict] = []
    with atomic_output(metadata_path) as tmp_metadata, atomic_output(waveforms_path) as tmp_waves:
        with h5py.File(tmp_waves, "w") as handle:
            data_group = handle.create_group("data")
            data_format = handle.create_group("data_format")
            data_format.create_dataset("dimension_order", data="CW")
            data_format.create_dataset("component_order", data="ZNE")
            pending: dict[int, list[tuple[dict, np.ndarray]]] = {}
            used: set[str] = set()
            n_buckets = 0

            def flush(bucket: list[tuple[dict, np.ndarray]]) -> None:
                nonlocal n_buckets
                if len(bucket) == 1:
                    row, trace = bucket[0]
                    key = _unique_key(row["trace_name_original"], used, len(used))
                    data_group.create_dataset(key, data=trace)
                    row["trace_name"] = key
                    return
                key = _unique_key(f"bucket{n_buckets}", used, len(used))
                n_buckets += 1
                data_group.create_dataset(key, data=np.stack([trace for _, trace in bucket]))
                for row_index, (row, trace) in enumerate(bucket):
                    row["trace_name"] = f"{key}${row_index},:3,:{trace.shape[1]}"

            for index, record in enumerate(records):
                row = _metadata_row(record, index)
                rows.append(row)
                trace = np.ascontiguousarray(record.data[:, ::-1].T, dtype=np.float32)
                bucket = pending.setdefault(record.n_samples, [])
                bucket.append((row, trace))
                if len(bucket) >= bucket_size:
                    flush(pending.pop(record.n_samples))
                if sum(len(b) for b in pending.values()) >= bucket_size:  # bound the memory
                    for bucket in pending.values():
                        flush(bucket)
                    pending.clear()
            for bucket in pending.values():
                flush(bucket)
        table = pd.DataFrame(rows, columns=_METADATA_COLUMNS)
        if not any(row["split"] for row in rows):
            table = table.drop(columns="split")
        table.to_csv(tmp_metadata, index=False)
    return [metadata_path, waveforms_path]


_METADATA_COLUMNS = [
    "trace_name", "trace_name_original", "trace_sampling_rate_hz", "trace_npts",
    "trace_p_arrival_sample", "trace_s_arrival_sample", "trace_start_time",
    "station_network_code", "station_code", "station_location_code", "trace_channel",
    "trace_component_order", "trace_station_id", "trace_channels", "split",
]  # fmt: skip


def _metadata_row(record: Record, index: int) -> dict:
    network, station, location, channel = split_station_id(record.station_id)
    return {
        "trace_name": "",
        "trace_name_original": record.name or f"trace_{index:06d}",
        "trace_sampling_rate_hz": repr(float(record.sampling_rate_hz)),
        "trace_npts": record.n_samples,
        "trace_p_arrival_sample": record.p_arrival_sample if record.p_arrival_sample >= 0 else "",
        "trace_s_arrival_sample": record.s_arrival_sample if record.s_arrival_sample >= 0 else "",
        "trace_start_time": format_time_iso(record.start_time),
        "station_network_code": network,
        "station_code": station,
        "station_location_code": location,
        "trace_channel": channel,
        "trace_component_order": "ZNE",
        "trace_station_id": record.station_id,
        "trace_channels": ",".join(record.channels),
        "split": str(record.extra.get("split", "")),
    }


def write_stead(records: Iterable[Record], path: str | os.PathLike) -> list[Path]:
    """Write one STEAD-layout HDF5 file atomically.

    Each record becomes ``data/<name>`` (``/`` and ``$`` replaced, made unique), float32
    ``(n_samples, 3)`` E, N, Z, with attributes ``trace_name``, ``p_arrival_sample`` and
    ``s_arrival_sample`` (float64, NaN when not picked), ``trace_category`` (``earthquake_local``
    when picked, else ``noise``), ``trace_start_time`` (ISO, 9 decimals, ``""`` when unknown),
    ``network_code``, ``receiver_code``, ``receiver_type`` (band + instrument), and ours:
    ``location_code``, ``station_id``, ``channels`` (E,N,Z codes joined by ``,``),
    ``sampling_rate_hz``. :func:`read_hdf5` returns identical records.

    Returns:
        ``[path]``.
    """
    path = Path(path)
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as handle:
            group = handle.create_group("data")
            used: set[str] = set()
            for index, record in enumerate(records):
                name = record.name or f"trace_{index:06d}"
                key = _unique_key(name, used, index)
                dataset = group.create_dataset(key, data=record.data.astype(np.float32))
                network, station, location, channel = split_station_id(record.station_id)
                picked = record.p_arrival_sample >= 0 or record.s_arrival_sample >= 0
                attrs = {
                    "trace_name": name,
                    "p_arrival_sample": _float_pick(record.p_arrival_sample),
                    "s_arrival_sample": _float_pick(record.s_arrival_sample),
                    "trace_category": "earthquake_local" if picked else "noise",
                    "trace_start_time": format_time_iso(record.start_time),
                    "network_code": network,
                    "receiver_code": station,
                    "receiver_type": channel,
                    "location_code": location,
                    "station_id": record.station_id,
                    "channels": ",".join(record.channels),
                    "sampling_rate_hz": np.float64(record.sampling_rate_hz),
                }
                dataset.attrs.update(attrs)
    return [path]


def _float_pick(sample: int) -> np.float64:
    return np.float64(sample) if sample >= 0 else np.float64(np.nan)
