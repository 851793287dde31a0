"""The :class:`Pick` record: one P or S arrival, as ``picker predict`` writes it.

The picks CSV has the columns ``source,station_id,phase,time,index,probability`` (see
``DESIGN.md`` and :mod:`picker.picks.formats`).
"""

from __future__ import annotations

from dataclasses import dataclass

from picker.io.base import format_time_iso

__all__ = ["PHASES", "Pick", "format_time", "pick_sort_key"]

PHASES = ("P", "S")


@dataclass(frozen=True)
class Pick:
    """One phase arrival.

    Attributes:
        source: name of the input file (or array) the pick was made on.
        station_id: ``NET.STA.LOC.CH`` (``CH`` = band + instrument code).
        phase: ``"P"`` or ``"S"``.
        time: ISO-8601 UTC time of the pick, ``""`` when the input has no start time.
        index: sample index in the input record, at the input's own sampling rate.
        probability: the model's peak probability, 0–1.
    """

    source: str
    station_id: str
    phase: str
    time: str
    index: int
    probability: float

    def utc(self):
        """The pick time as ``obspy.UTCDateTime`` (``None`` when unknown)."""
        from obspy import UTCDateTime

        return UTCDateTime(self.time) if self.time else None


def format_time(time) -> str:
    """A pick's time: ISO-8601 UTC with microseconds and a ``Z`` (``""`` for ``None``)."""
    return format_time_iso(time, decimals=6)


def pick_sort_key(pick: Pick) -> tuple:
    """Output order of ``picker predict``: station, time, source, index, phase."""
    return (pick.station_id, pick.time, pick.source, pick.index, pick.phase)
