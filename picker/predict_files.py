"""``picker predict`` over many files: component files, shard units, the probabilities writer.

Component files (:func:`group_components`): archives often keep one file per channel (SDS
day files ``NET.STA.LOC.HHZ.D.2024.001``, SAC files ``STA.HHZ.SAC``). Files that each hold one
component of the same station over the same time span (overlapping by more than half of the
shorter one) are read together as one :class:`FileGroup`, so the model sees all three
components at once and each pick is made once.

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
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from picker.config import ConfigError
from picker.continuous import station_ids
from picker.io.base import split_station_id
from picker.predict import MODEL_SAMPLING_RATE_HZ, WINDOW_FORMATS, StationResult

__all__ = [
    "FileGroup",
    "ProbabilityWriter",
    "group_components",
    "list_units",
    "probabilities_to_stream",
    "select_shard",
]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- component files


@dataclass(frozen=True)
class FileGroup:
    """Files holding the components of one station over one time span, read as one input.

    ``name`` (the picks' ``source``) joins the file names with ``+``.
    """

    paths: tuple[Path, ...]

    @property
    def name(self) -> str:
        return "+".join(path.name for path in self.paths)

    @property
    def stem(self) -> str:
        return "+".join(path.stem for path in self.paths)

    def __str__(self) -> str:
        return "+".join(str(path) for path in self.paths)

    def resolve(self) -> FileGroup:
        return FileGroup(tuple(path.resolve() for path in self.paths))

    def read(self):
        """The members' traces as one ``obspy.Stream`` (an InputError names a bad member)."""
        from obspy import Stream

        from picker.io.stream import read_obspy

        stream = Stream()
        for path in self.paths:
            stream += read_obspy(path)
        return stream


def input_format(path) -> tuple[Path | FileGroup, str]:
    """``(path as a Path or FileGroup, its format)``: ``"obspy"`` for a group, else
    :func:`picker.io.guess_format`'s answer. Raises an InputError that names the file."""
    from picker.io import InputError, guess_format
    from picker.io.base import named_error

    if isinstance(path, FileGroup):
        return path, "obspy"
    path = Path(path)
    try:
        return path, guess_format(path)
    except InputError as err:
        raise named_error(path, err) from None


#: Two single-component files of one station are read together when their time spans overlap
#: by more than this fraction of the shorter span (consecutive day files overlap by seconds).
GROUP_OVERLAP = 0.5


def _single_component(path: Path) -> tuple[str, str, float, float] | None:
    """``(station id, component, start, end)`` of a file holding one station's one component."""
    import obspy

    from picker.continuous import station_key
    from picker.io import guess_format

    try:
        if guess_format(path) in WINDOW_FORMATS:
            return None
        traces = obspy.read(str(path), headonly=True)
    except Exception:  # not readable here: its reader reports it
        return None
    keys = {station_key(tr) for tr in traces}
    components = {tr.stats.channel.strip()[-1:].upper() for tr in traces}
    if len(keys) != 1 or len(components) != 1:
        return None
    start = min(float(tr.stats.starttime) for tr in traces)
    end = max(float(tr.stats.endtime) for tr in traces)
    return keys.pop(), components.pop(), start, end


def group_components(paths: list[Path]) -> list[Path | FileGroup]:
    """``paths`` with the single-component files of one station and time span grouped.

    Each group takes the place of its first member; other files stay as they are. With fewer
    than two files nothing is read.
    """
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        return list(paths)
    info = {path: found for path in paths if (found := _single_component(path)) is not None}
    parent = {path: path for path in info}

    def root(path: Path) -> Path:
        while parent[path] != path:
            path = parent[path]
        return path

    members = sorted(info, key=lambda p: (info[p][0], info[p][2]))
    for i, a in enumerate(members):
        key_a, comp_a, start_a, end_a = info[a]
        for b in members[i + 1 :]:
            key_b, comp_b, start_b, end_b = info[b]
            if key_b != key_a or start_b > end_a:
                break  # sorted by station and start: no later file overlaps a
            overlap = min(end_a, end_b) - max(start_a, start_b)
            shorter = min(end_a - start_a, end_b - start_b)
            if comp_a != comp_b and overlap > GROUP_OVERLAP * shorter:
                parent[root(b)] = root(a)
    groups: dict[Path, list[Path]] = {}
    for path in info:
        groups.setdefault(root(path), []).append(path)
    out: list[Path | FileGroup] = []
    placed: set[Path] = set()
    for path in paths:
        group = groups.get(root(path)) if path in info else None
        if group is None or len(group) == 1:
            out.append(path)
        elif root(path) not in placed:
            placed.add(root(path))
            out.append(FileGroup(tuple(sorted(group))))
    return out


# ----------------------------------------------------------------------------- sharding


def list_units(paths: Iterable[str | os.PathLike | FileGroup]) -> list[tuple]:
    """The units of work over ``paths``, in order, for ``--shard``.

    A stream file (or :class:`FileGroup`) gives one ``(file, station_id)`` unit per station
    (read from its headers); a window file, or a file whose headers cannot be read, is one
    ``(file, None)`` unit.
    """
    import obspy

    from picker.io import guess_format

    units: list[tuple] = []
    for path in paths:
        path = path if isinstance(path, FileGroup) else Path(path)
        ids: list[str] = []
        try:
            if isinstance(path, FileGroup):
                ids = station_ids(
                    sum((obspy.read(str(p), headonly=True) for p in path.paths), obspy.Stream())
                )
            elif guess_format(path) not in WINDOW_FORMATS:
                ids = station_ids(obspy.read(str(path), headonly=True))
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


# ----------------------------------------------------------------------------- probabilities


def probabilities_to_stream(result: StationResult):
    """P and S probability traces of a stream result: channels ``<band>P``, ``<band>S``.

    ``<band>`` is the station's band + instrument code (``XX`` when unknown). float32 at
    :data:`MODEL_SAMPLING_RATE_HZ`, starting at the station's start time.
    """
    from obspy import Stream, Trace, UTCDateTime

    network, station, location, band = split_station_id(result.station_id)
    band = band or "XX"
    traces = []
    for column, phase in ((1, "P"), (2, "S")):
        trace = Trace(data=np.ascontiguousarray(result.probabilities[:, column], np.float32))
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent
        )
        self._tmp = Path(tmp)
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
