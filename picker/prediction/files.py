"""Many input files: the one loop over them (journal, resume, failures), shard units and the
probabilities writer.

Files that hold one component each are grouped first (:func:`picker.io.groups.group_components`):
a :class:`~picker.io.groups.FileGroup` is one input here.

:func:`run_files` is the loop of ``picker predict``, ``evaluate`` and ``plot``: each input in
order, a bad input reported and the next one taken, finished inputs recorded in the
:class:`~picker.prediction.journal.Journal` of ``--resume``.

Sharding (``--shard I/N``): the sorted input files are cut into units — one ``(file, station)``
pair per station of a continuous (ObsPy) file, read from its headers; one unit per window file
(NPZ / TFRecord / HDF5) and per file whose headers cannot be read — and unit ``k`` goes to
shard ``k % N``. Every unit lands in exactly one shard, so the N outputs together hold exactly
the picks of one unsharded run (the same rows; sort them to compare).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from picker.config import ConfigError
from picker.io import WINDOW_FORMATS
from picker.io.base import (
    InputError,
    input_files,
    new_part_file,
    pickable_station_ids,
    split_station_id,
)
from picker.io.groups import FileGroup
from picker.picks.pick import Pick
from picker.prediction.predict import StationResult
from picker.preprocess.model_input import MODEL_SAMPLING_RATE_HZ

__all__ = [
    "FilesRun",
    "ProbabilityWriter",
    "list_units",
    "probabilities_to_stream",
    "run_files",
    "select_shard",
]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- sharding


def list_units(
    paths: Iterable[str | os.PathLike | FileGroup],
    station_ids: dict[Path, list[str]] | None = None,
) -> list[tuple]:
    """The units of work over ``paths``, in order, for ``--shard``.

    A stream file (or :class:`~picker.io.groups.FileGroup`) gives one ``(file, station_id)``
    unit per station (read from its headers, or taken from ``station_ids``, filled by
    :func:`~picker.io.groups.group_components` from the same headers); a window file, or a file
    whose headers cannot be read, is one ``(file, None)`` unit.
    """
    from picker.io import guess_format
    from picker.io.obspy_files import read_headers

    known = station_ids or {}

    def ids_of(file: Path) -> list[str]:
        if file in known:
            return known[file]
        if guess_format(file) in WINDOW_FORMATS:
            return []
        return pickable_station_ids(read_headers(file))

    units: list[tuple] = []
    for path in paths:
        path = path if isinstance(path, FileGroup) else Path(path)
        try:
            ids = sorted({sid for file in input_files(path) for sid in ids_of(file)})
        except Exception:  # the unit's owner reports the error when it reads the file
            ids = []
        if ids:
            units.extend((path, sid) for sid in ids)
        else:
            units.append((path, None))
    return units


def select_shard(
    units: list[tuple[Path, str | None]], index: int, count: int
) -> dict[Path, set[str] | None]:
    """The units of shard ``index`` (0-based) of ``count``: unit ``k`` goes to ``k % count``.

    Returns:
        ``{file: station ids to process, or None for the whole file}`` in input order.
    """
    if not 0 <= index < count:
        raise ConfigError(f"shard must be I/N with 0 <= I < N, got {index}/{count}")
    chosen: dict[Path, set[str] | None] = {}
    for k, (path, station) in enumerate(units):
        if k % count != index:
            continue
        if station is None:
            chosen[path] = None
        else:
            chosen.setdefault(path, set()).add(station)  # type: ignore[union-attr]
    return chosen


# ----------------------------------------------------------------------------- the file loop


@dataclass
class FilesRun:
    """What :func:`run_files` did.

    Attributes:
        picks: the picks of every input, those taken from the journal and those of inputs that
            failed half-way included, in input order.
        n_files: inputs finished (taken from the journal included).
        n_resumed: inputs taken from the journal.
    """

    picks: list[Pick] = field(default_factory=list)
    n_files: int = 0
    n_resumed: int = 0


def run_files(
    selection: Mapping[Path | FileGroup, Collection[str] | None],
    process: Callable[[Path | FileGroup, Collection[str] | None, list[Pick]], object],
    *,
    on_failure: Callable[[Path | FileGroup, Exception], None],
    journal=None,
    progress=None,
    failures: tuple[type[Exception], ...] = (InputError,),
) -> FilesRun:
    """Run ``process(file, stations, picks)`` on every input of ``selection``, in order.

    Args:
        selection: ``{file: station ids to process, or None for all}`` (:func:`select_shard`,
            or ``dict.fromkeys(files)``).
        process: does one input; appends its picks (if any) to ``picks`` as it finds them.
        on_failure: called with the input and the exception when ``process`` raises one of
            ``failures`` (a bad input); the loop goes on with the next input (unless
            ``on_failure`` raises). The picks the input gave before are kept.
        journal: a :class:`~picker.prediction.journal.Journal` (``--resume``): an input it
            holds is not processed again, its picks come from it; every input finished here is
            recorded in it.
        progress: a progress bar (tqdm's ``update()`` and ``set_postfix_str(text)``), told
            each input's name and moved on once per input; or None.
        failures: the exception types that make one bad input.
    """
    run = FilesRun()
    for path, stations in selection.items():
        if progress is not None:
            progress.set_postfix_str(path.name, refresh=False)
        journaled = journal.finished(path, stations) if journal is not None else None
        if journaled is not None:
            run.picks.extend(journaled)
            run.n_files += 1
            run.n_resumed += 1
        else:
            file_picks: list[Pick] = []
            try:
                process(path, stations, file_picks)
                run.n_files += 1
                if journal is not None:
                    journal.record(path, stations, file_picks)
            except failures as exc:
                on_failure(path, exc)
            finally:  # the picks of an input that failed half-way are kept
                run.picks.extend(file_picks)
        if progress is not None:
            progress.update()
    if run.n_resumed:
        log.info("%d file(s) taken from the journal of an earlier run (--resume)", run.n_resumed)
    return run


# ----------------------------------------------------------------------------- probabilities


def probabilities_to_stream(result: StationResult):
    """P and S probability traces of a stream result: channels ``<band>P``, ``<band>S``, and
    ``<band>D`` (earthquake detection) for a model that has it (EQTransformer).

    ``<band>`` is the station's band + instrument code (``XX`` when unknown). float32 at
    :data:`MODEL_SAMPLING_RATE_HZ`, starting at the station's start time.
    """
    from obspy import Stream, Trace, UTCDateTime

    network, station, location, band = split_station_id(result.station_id)
    band = band or "XX"
    series = [("P", result.probabilities[:, 1]), ("S", result.probabilities[:, 2])]
    if result.detection is not None:
        series.append(("D", result.detection))
    traces = []
    for phase, values in series:
        trace = Trace(data=np.ascontiguousarray(values, np.float32))
        trace.stats.network = network
        trace.stats.station = station
        trace.stats.location = location
        trace.stats.channel = f"{band}{phase}"
        trace.stats.sampling_rate = MODEL_SAMPLING_RATE_HZ
        trace.stats.starttime = result.start_time or UTCDateTime(0)
        traces.append(trace)
    return Stream(traces)


class ProbabilityWriter:
    """Appends probability traces to one miniSEED file (FLOAT32), atomically.

    Records are appended to a temporary file beside ``path`` as stations finish (bounded
    memory); on a clean exit with at least one station the file is renamed onto ``path``,
    otherwise it is removed and ``path`` is left untouched.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.count = 0

    def __enter__(self) -> ProbabilityWriter:
        fd, self._tmp = new_part_file(self.path)
        self._handle = os.fdopen(fd, "wb")
        return self

    def write(self, result: StationResult) -> None:
        buffer = io.BytesIO()
        probabilities_to_stream(result).write(buffer, format="MSEED", encoding="FLOAT32")
        self._handle.write(buffer.getvalue())
        self.count += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        self._handle.close()
        if exc_type is None and self.count:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)
            if exc_type is None:
                log.warning("no stream input: probabilities file %s not written", self.path)
