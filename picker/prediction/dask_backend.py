"""``picker predict --dask``: the shard units of an archive mapped over a Dask cluster.

The work is cut as for ``--shard`` (:func:`picker.prediction.files.list_units`): one unit per
``(stream file, station)`` and per window file. Each unit is one Dask task that reads its file,
keeps its station and returns the picks; each worker process loads the model once (a cache keyed
by the model path, :func:`_worker_model`). The caller sorts and writes the gathered picks exactly
like the single-process run, so both give the same file.

Without a scheduler address a local cluster is started: 2 worker processes with 1 thread each,
listening on 127.0.0.1 only, no dashboard. With an address (``tcp://host:8786``) the workers of
that cluster must see the input files and the model under the same paths (shared file system).

``dask[distributed]`` is optional: ``pip install picker[dask]``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from picker.config import ConfigError
from picker.io.groups import FileGroup
from picker.picks.pick import Pick

__all__ = [
    "LOCAL_WORKERS",
    "UnitResult",
    "check_address",
    "dask_client",
    "predict_units",
    "units_of",
]

log = logging.getLogger(__name__)

#: Worker processes of the local cluster started when no scheduler address is given.
LOCAL_WORKERS = 2
_ADDRESS = re.compile(r"^([a-z0-9+]+://)?[^\s/:]+:\d+$|^[a-z0-9+]+://\S+$", re.IGNORECASE)


def check_address(address: str) -> str:
    """``address`` if it looks like a scheduler address (``tcp://host:8786``, ``host:8786``).

    Raises:
        ConfigError: anything else, e.g. an input path taken by ``--dask`` by mistake.
    """
    if not _ADDRESS.match(address):
        raise ConfigError(
            f"--dask takes a scheduler address like tcp://host:8786, got {address!r} "
            "(write --dask=ADDRESS, or put a bare --dask after the inputs)"
        )
    return address


@contextlib.contextmanager
def dask_client(address: str | None = None, n_workers: int = LOCAL_WORKERS):
    """A ``dask.distributed.Client``: to ``address``, or to a new local cluster (closed after).

    The local cluster has ``n_workers`` processes with one thread each on 127.0.0.1.

    Raises:
        ConfigError: dask.distributed is not installed.
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "--dask needs dask.distributed, which is not installed: pip install picker[dask]"
        ) from None
    if address:
        with Client(check_address(address)) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def units_of(selection: dict[Path, Collection[str] | None]) -> list[tuple[Path, str | None]]:
    """Tasks for a ``{file: stations or None}`` selection (as ``--shard`` makes, or all files).

    Files given with station sets give one unit per station; files given with None are split
    into their own units by :func:`picker.prediction.files.list_units`.
    """
    from picker.prediction.files import list_units

    whole = [path for path, stations in selection.items() if stations is None]
    split = _group(list_units(whole))
    units: list[tuple[Path, str | None]] = []
    for path, stations in selection.items():
        if stations is None:
            units.extend(split[path])
        else:
            units.extend((path, station) for station in sorted(stations))
    return units


def _group(units: list[tuple[Path, str | None]]) -> dict[Path, list[tuple[Path, str | None]]]:
    grouped: dict[Path, list[tuple[Path, str | None]]] = {}
    for unit in units:
        grouped.setdefault(unit[0], []).append(unit)
    return grouped


@functools.lru_cache(maxsize=2)
def _worker_model(model_path: str | None):
    """The model of ``model_path`` (None: the bundled one), loaded once per worker process."""
    from picker.models.saving import load_model

    return load_model(model_path)


@dataclass
class UnitResult:
    """The outcome of one unit: its picks, how many stations/records it had, or its error."""

    path: Path
    station: str | None
    picks: list[Pick] = field(default_factory=list)
    n_results: int = 0
    error: str | None = None


def _resolved(path):
    """An absolute path (as text) or :class:`~picker.io.groups.FileGroup`, for a worker."""
    return path.resolve() if isinstance(path, FileGroup) else str(Path(path).resolve())


def _predict_unit(
    path: str, station: str | None, model_path: str | None, npz_options: dict, options: dict
) -> UnitResult:
    """Run on a worker: pick one unit. Input errors are returned, not raised."""
    from picker.io.base import InputError
    from picker.prediction.predict import iter_file

    result = UnitResult(path if isinstance(path, FileGroup) else Path(path), station)
    try:
        model = _worker_model(model_path)
        stations = {station} if station is not None else None
        for found in iter_file(path, model, stations=stations, npz_options=npz_options, **options):
            result.picks.extend(found.picks)
            result.n_results += 1
    except InputError as exc:
        result.error = str(exc)
    return result


def predict_units(
    client,
    units: list[tuple[Path, str | None]],
    model_path: str | os.PathLike | None = None,
    *,
    npz_options: dict | None = None,
    on_done: Callable[[UnitResult], None] | None = None,
    **options,
) -> Iterator[UnitResult]:
    """Yield a :class:`UnitResult` per unit as the cluster finishes them (any order).

    Args:
        client: a ``dask.distributed.Client`` (see :func:`dask_client`).
        units: ``(file, station id or None)`` pairs (see :func:`units_of`).
        model_path: a ``.keras`` file every worker can read, or None for the bundled model.
        npz_options: reader options for NPZ files (``layout``, ``component_order``).
        on_done: called with each result before it is yielded (e.g. progress).
        **options: the keyword options of :func:`picker.prediction.predict.predict_array`.

    Unfinished tasks are cancelled when the caller stops early (e.g. ``--strict``).
    """
    from dask.distributed import as_completed

    model = str(Path(model_path).resolve()) if model_path is not None else None
    paths = [_resolved(path) for path, _ in units]
    stations = [station for _, station in units]
    futures = client.map(
        _predict_unit,
        paths,
        stations,
        model_path=model,
        npz_options=dict(npz_options or {}),
        options=dict(options),
        pure=False,
    )
    unit_of = {future.key: unit for future, unit in zip(futures, units, strict=True)}
    try:
        for future in as_completed(futures):
            result = future.result()
            result.path, result.station = unit_of[future.key]  # the caller's own path
            if on_done is not None:
                on_done(result)
            yield result
    finally:
        client.cancel([f for f in futures if not f.done()])
