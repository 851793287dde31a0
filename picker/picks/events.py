"""Picks grouped into events for QuakeML: a simple association of P and S picks in time.

QuakeML holds picks inside events, and an event must not span unrelated earthquakes (a run
over windows of 2008-2016 is not one event). :func:`associate_picks` groups picks that have an
absolute time:

1. picks are taken in time order (ties: station, phase);
2. a pick joins the most recent open event that began (at its first pick) at most
   :data:`EVENT_SPAN_S` seconds earlier and that does not yet hold a pick of the same phase
   of the same station (``station_id``), nor, for a P pick, an S pick of that station (a P
   after the station's S is the next earthquake);
3. otherwise the pick opens a new event.

So one station never gives an event two P or two S picks: the windows of one station (one
record each, usually one earthquake each) never share an event, and picks minutes or years
apart never do. Picks of one earthquake at several stations, within :data:`EVENT_SPAN_S` of
its first pick, form one event. The events are not located (no origin, no magnitude).

Picks without an absolute time (an input with no start time) cannot be written to QuakeML: its
pick times are absolute. :func:`untimed_problem` says why in one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from picker.io.base import parse_time_iso
from picker.picks.pick import Pick

__all__ = ["EVENT_SPAN_S", "associate_picks", "untimed_problem"]

#: Longest time from an event's first pick to its last, in seconds: enough for the P and S
#: moveout of a local or regional network (S - P is about 60 s at 500 km).
EVENT_SPAN_S = 120.0


@dataclass
class _Event:
    start_s: float
    picks: list[Pick] = field(default_factory=list)
    phases: set[tuple[str, str]] = field(default_factory=set)  # (station_id, phase)

    def accepts(self, pick: Pick) -> bool:
        if (pick.station_id, pick.phase) in self.phases:
            return False
        return not (pick.phase == "P" and (pick.station_id, "S") in self.phases)

    def add(self, pick: Pick) -> None:
        self.picks.append(pick)
        self.phases.add((pick.station_id, pick.phase))


def associate_picks(picks: Iterable[Pick], span_s: float = EVENT_SPAN_S) -> list[list[Pick]]:
    """Picks with a time grouped into events (see the module docstring), events in time order,
    each event's picks in time order.

    Args:
        picks: the picks; each must have a ``time`` (ISO-8601 UTC).
        span_s: the longest time in seconds from an event's first pick to its last.

    Raises:
        ValueError: a pick without a time (see :func:`untimed_problem`).
    """
    timed = []
    for pick in picks:
        time = parse_time_iso(pick.time) if pick.time else None
        if time is None:
            raise ValueError(untimed_problem([pick]))
        timed.append((time.timestamp, pick.station_id, pick.phase, pick))
    timed.sort(key=lambda item: item[:3])
    events: list[_Event] = []
    open_events: list[_Event] = []
    for seconds, _, _, pick in timed:
        open_events = [e for e in open_events if seconds - e.start_s <= span_s]
        event = next((e for e in reversed(open_events) if e.accepts(pick)), None)
        if event is None:
            event = _Event(seconds)
            events.append(event)
            open_events.append(event)
        event.add(pick)
    return [event.picks for event in events]


def untimed_problem(picks: Sequence[Pick]) -> str | None:
    """Why ``picks`` cannot go into QuakeML (None when they can): some have no absolute time."""
    untimed = [p for p in picks if not p.time]
    if not untimed:
        return None
    sources = sorted({p.source or p.station_id for p in untimed})
    named = ", ".join(sources[:3]) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")
    return (
        f"QuakeML needs absolute pick times, but {len(untimed)} pick(s) have none (input "
        f"without a start time: {named}); write CSV or JSON instead (-o picks.csv)"
    )
