"""Labelled training windows cut from continuous data at an analyst's picks.

An observatory's labelled data are usually a catalogue of picks (QuakeML, a SEISAN Nordic
file, a picks CSV) beside a waveform archive, not ready-made windows. ``picker convert
WAVEFORMS --picks CATALOGUE`` turns them into training records: for each reference P pick on a
station it cuts one window, starting ``before_p_s`` before the P, with the station's first S
pick after that P as the S label.

A window is only as good as its labels, so windows that would teach the network a wrong lesson
are left out and counted (:data:`SKIP_REASONS`): one that runs past the data, one that holds a
second P (another event, labelled as noise), one that holds an S pick before its P (the end of
an earlier event), and one whose data are mostly zeros (a gap). Picks of one phase less than
:data:`DUPLICATE_S` apart on a station are one arrival picked twice. Stations match as in
``picker evaluate`` (:func:`picker.picks.matching.same_station`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from picker.io.base import Record, split_station_id
from picker.picks.matching import same_station
from picker.picks.pick import Pick

__all__ = ["SKIP_REASONS", "by_station_code", "labelled_windows"]

SKIP_REASONS = {
    "outside": "runs past the data's start or end",
    "second_p": "holds a second P pick (another event)",
    "early_s": "holds an S pick before its P (an earlier event)",
    "gap": "is mostly zeros (a gap)",
}

#: Picks of one phase on one station closer than this are one arrival picked twice (two
#: agencies' copies of an event, ``P`` and ``Pg``); the earliest is kept.
DUPLICATE_S = 0.5

#: A window is a gap when more than this fraction of its samples are zero on every component.
MAX_ZERO_FRACTION = 0.2


def by_station_code(picks: Sequence[Pick]) -> dict[str, list[Pick]]:
    """``{station code: its picks}``: a station's candidates, found without scanning a whole
    catalogue per record (:func:`labelled_windows` still checks the network and location)."""
    index: dict[str, list[Pick]] = {}
    for pick in picks:
        index.setdefault(split_station_id(pick.station_id)[1], []).append(pick)
    return index


def labelled_windows(
    record: Record,
    picks: Sequence[Pick],
    *,
    window_s: float = 60.0,
    before_p_s: float = 10.0,
    skipped: Counter | None = None,
) -> list[Record]:
    """The labelled windows of one station's continuous ``record`` at the reference ``picks``.

    Args:
        record: one station's data, ``(n_samples, 3)`` E, N, Z, with ``start_time`` set (a
            record of :func:`picker.io.stream.stream_to_records`).
        picks: reference picks (any stations; those of ``record``'s station are used; picks
            without a time are ignored).
        window_s: window length in seconds.
        before_p_s: seconds of data before the P pick, ``0 <= before_p_s < window_s``.
        skipped: counts of the windows left out, by :data:`SKIP_REASONS` key (updated).

    Returns:
        Records of ``round(window_s * rate)`` samples at the input rate, ``p_arrival_sample`` =
        ``round(before_p_s * rate)``, ``s_arrival_sample`` the first S after P or -1, named
        ``STATION_ID_yyyymmddThhmmss.ss`` after the P time, in time order.
    """
    if not 0.0 <= before_p_s < window_s:
        raise ValueError(f"need 0 <= before_p_s < window_s, got {before_p_s} and {window_s}")
    if record.start_time is None:
        raise ValueError(f"record {record.name!r} has no start time")
    skipped = Counter() if skipped is None else skipped
    rate = record.sampling_rate_hz
    n_window, n_before = round(window_s * rate), round(before_p_s * rate)
    samples = {"P": [], "S": []}
    for pick in picks:
        time = pick.utc()
        if (
            pick.phase in samples
            and time is not None
            and same_station(pick.station_id, record.station_id)
        ):
            index = round(float(time - record.start_time) * rate)
            if 0 <= index < record.n_samples:
                samples[pick.phase].append(index)
    p_all, s_all = (_one_per_arrival(samples[ph], round(DUPLICATE_S * rate)) for ph in "PS")
    windows = []
    for p in p_all:
        start, stop = int(p) - n_before, int(p) - n_before + n_window
        s_after = s_all[(s_all > p) & (s_all < stop)]
        if start < 0 or stop > record.n_samples:
            reason = "outside"
        elif np.count_nonzero((p_all >= start) & (p_all < stop)) > 1:
            reason = "second_p"
        elif np.any((s_all >= start) & (s_all < p)):
            reason = "early_s"
        elif np.mean(np.all(record.data[start:stop] == 0.0, axis=1)) > MAX_ZERO_FRACTION:
            reason = "gap"
        else:
            reason = None
        if reason is not None:
            skipped[reason] += 1
            continue
        p_time = record.start_time + int(p) / rate
        windows.append(
            record.with_data(
                record.data[start:stop].copy(),
                start_time=record.start_time + start / rate,
                p_arrival_sample=n_before,
                s_arrival_sample=int(s_after[0]) - start if len(s_after) else -1,
                name=f"{record.station_id}_{p_time.strftime('%Y%m%dT%H%M%S.%f')[:-4]}",
            )
        )
    return windows


def _one_per_arrival(samples: list[int], min_gap: int) -> np.ndarray:
    """The sorted sample indices with each run of picks closer than ``min_gap`` to the one
    before reduced to its first."""
    ordered = np.sort(np.asarray(samples, dtype=np.int64))
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate(([True], np.diff(ordered) >= min_gap))]
