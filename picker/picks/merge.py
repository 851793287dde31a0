"""``picker merge``: join the picks files of sharded runs into one, without duplicates.

The shards of ``picker predict --shard I/N`` (or of any split of an archive into jobs) are read
with :func:`picker.picks.formats.read_picks` (CSV, JSON or QuakeML, from each file's suffix), merged,
sorted like ``picker predict``'s own output (:func:`picker.picks.pick.pick_sort_key`) and written
atomically with :func:`picker.picks.formats.write_picks`.

Duplicates: two picks of the same ``station_id`` and ``phase`` whose times differ by at most
``tolerance_s`` are one arrival seen twice (e.g. by two jobs whose files overlap at a day
border); the more probable one is kept (ties: the earlier time, then source, then index). Picks
without a time are duplicates only when their source and index are equal too.
"""

from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from picker.picks.pick import Pick

__all__ = ["TOLERANCE_S", "MergeResult", "merge_files", "merge_picks", "read_shard"]

log = logging.getLogger(__name__)

#: Default time tolerance for duplicates, in seconds.
TOLERANCE_S = 0.05


def _seconds(time: str) -> float:
    """POSIX seconds of an ISO-8601 UTC pick time (``...Z`` or with an offset)."""
    try:
        parsed = datetime.fromisoformat(time.strip())
    except ValueError:
        raise ValueError(f"pick time is not ISO-8601: {time!r}") from None
    if parsed.tzinfo is None:  # picks are UTC even when the file does not say so
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _preference(pick: Pick, seconds: float) -> tuple:
    """Sort key: the pick kept among duplicates comes first."""
    return (-pick.probability, seconds, pick.source, pick.index)


def merge_picks(
    pick_lists: Iterable[Sequence[Pick]], tolerance_s: float = TOLERANCE_S
) -> tuple[list[Pick], int]:
    """Merge pick lists; drop duplicates (see module docstring).

    Args:
        pick_lists: the picks of each shard.
        tolerance_s: same station and phase within this many seconds → one pick (>= 0).

    Returns:
        (picks sorted by :func:`picker.picks.pick.pick_sort_key`, number of duplicates dropped).

    Raises:
        ValueError: negative ``tolerance_s``, or a pick time that is not ISO-8601.
    """
    from picker.picks.pick import pick_sort_key

    if not tolerance_s >= 0:
        raise ValueError(f"tolerance_s must be >= 0, got {tolerance_s}")
    groups: dict[tuple, list[tuple[tuple, float, Pick]]] = {}
    n_in = 0
    for picks in pick_lists:
        for pick in picks:
            n_in += 1
            if pick.time:
                seconds = _seconds(pick.time)
                key: tuple = (pick.station_id, pick.phase)
            else:  # no time: only the very same sample of the same input is a duplicate
                seconds = 0.0
                key = (pick.station_id, pick.phase, pick.source, pick.index)
            groups.setdefault(key, []).append((_preference(pick, seconds), seconds, pick))
    kept: list[Pick] = []
    for candidates in groups.values():
        candidates.sort(key=lambda item: item[0])
        taken: list[float] = []  # sorted times of the picks kept in this group
        for _, seconds, pick in candidates:
            i = bisect.bisect_left(taken, seconds)
            near = (i < len(taken) and taken[i] - seconds <= tolerance_s) or (
                i > 0 and seconds - taken[i - 1] <= tolerance_s
            )
            if not near:
                taken.insert(i, seconds)
                kept.append(pick)
    kept.sort(key=pick_sort_key)
    return kept, n_in - len(kept)


def read_shard(path: str | os.PathLike) -> list[Pick]:
    """The picks of one shard's file, checked for merging.

    Every pick must state its probability (one without would win every duplicate) and have a
    time or an index (:func:`picker.picks.formats.read_picks` with ``need_probability``).

    Raises:
        InputError: unreadable file, a malformed row, or a time that is not ISO-8601 (the
            message names the file and, for a bad row, the row).
    """
    from picker.io.base import InputError
    from picker.picks.formats import read_picks

    picks = read_picks(path, need_probability=True)
    for pick in picks:
        if pick.time:
            try:
                _seconds(pick.time)
            except ValueError as exc:
                raise InputError(f"{path}: {exc}") from None
    return picks


@dataclass
class MergeResult:
    """What :func:`merge_files` did: output path, picks written, duplicates dropped."""

    output: Path
    n_picks: int
    n_duplicates: int
    n_files: int


def merge_files(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    fmt: str | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> MergeResult:
    """Read every picks file in ``inputs``, merge them and write ``output`` atomically.

    Every input is read before anything is written; a bad one raises
    :class:`~picker.io.base.InputError` naming it and ``output`` is left untouched.

    Args:
        inputs: picks files (format from each suffix: ``.csv``, ``.json``, ``.xml``/``.qml``).
        output: the merged picks file.
        fmt: ``csv``, ``json`` or ``quakeml`` (default: from ``output``'s suffix).
        tolerance_s: see :func:`merge_picks`.
    """
    from picker.picks.formats import write_picks

    pick_lists = [read_shard(path) for path in inputs]
    merged, n_duplicates = merge_picks(pick_lists, tolerance_s)
    written = write_picks(merged, output, fmt)
    return MergeResult(written, len(merged), n_duplicates, len(pick_lists))
