"""Inputs that are several files: one file per component of a station.

Archives often keep one file per channel (SDS day files ``NET.STA.LOC.HHZ.D.2024.001``, SAC
files ``STA.HHZ.SAC``). :func:`group_components` finds the files that each hold one component of
the same station over the same time span (overlapping by more than half of the shorter one);
such files are read together as one :class:`FileGroup`, so the model sees all three components
at once, each pick is made once, and a training record gets all its components.
:func:`read_input_records` reads a file or a group alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import obspy

from picker.io import WINDOW_FORMATS, guess_format, read_records
from picker.io.base import (
    InputError,
    Record,
    named_error,
    pickable_station_ids,
    trace_station_id,
)
from picker.io.obspy_files import read_headers

__all__ = [
    "GROUP_OVERLAP",
    "FileGroup",
    "group_components",
    "input_format",
    "read_input_records",
    "read_input_stream",
]


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
        from picker.io.obspy_files import read_obspy

        stream = obspy.Stream()
        for path in self.paths:
            stream += read_obspy(path)
        return stream


def input_format(path) -> tuple[Path | FileGroup, str]:
    """``(path as a Path or FileGroup, its format)``: ``"obspy"`` for a group, else
    :func:`picker.io.guess_format`'s answer. Raises an InputError that names the file."""
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


def _single_component(
    path: Path, station_ids: dict[Path, list[str]] | None = None
) -> tuple[str, str, float, float] | None:
    """``(station id, component, start, end)`` of a file holding one station's one component.

    ``station_ids``: filled with the file's :func:`~picker.io.base.pickable_station_ids` from
    the same header read (for :func:`picker.prediction.files.list_units`)."""
    try:
        if guess_format(path) in WINDOW_FORMATS:
            return None
        traces = read_headers(path)
    except Exception:  # not readable here: its reader reports it
        return None
    if station_ids is not None:
        station_ids[path] = pickable_station_ids(traces)
    keys = {trace_station_id(tr) for tr in traces}
    components = {tr.stats.channel.strip()[-1:].upper() for tr in traces}
    if len(keys) != 1 or len(components) != 1:
        return None
    start = min(float(tr.stats.starttime) for tr in traces)
    end = max(float(tr.stats.endtime) for tr in traces)
    return keys.pop(), components.pop(), start, end


def group_components(
    paths: list[Path], station_ids: dict[Path, list[str]] | None = None
) -> list[Path | FileGroup]:
    """``paths`` with the single-component files of one station and time span grouped.

    Each group takes the place of its first member; other files stay as they are. With fewer
    than two files nothing is read. ``station_ids`` (a dict), when given, is filled with the
    station ids of every stream file whose headers were read, so that ``--shard`` does not
    read them again (:func:`picker.prediction.files.list_units`).
    """
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        return list(paths)
    info = {
        path: found for path in paths if (found := _single_component(path, station_ids)) is not None
    }
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


def read_input_records(
    path: Path | FileGroup, fmt: str | None = None, **options
) -> Iterator[Record]:
    """The records of one input: :func:`picker.io.read_records` of a file, or one record per
    station of a :class:`FileGroup`'s traces read together (its members named by ``+``)."""
    if isinstance(path, FileGroup):
        from picker.io.stream import stream_to_records

        yield from stream_to_records(path.read(), name=path.name, source=str(path))
    else:
        yield from read_records(path, fmt, **options)


def read_input_stream(path: Path | FileGroup) -> obspy.Stream:
    """The traces of one stream input: a file (:func:`picker.io.obspy_files.read_obspy`) or a
    :class:`FileGroup`'s members read together. An InputError names the bad file."""
    from picker.io.obspy_files import read_obspy

    return path.read() if isinstance(path, FileGroup) else read_obspy(path)
