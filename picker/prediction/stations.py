"""Continuous data for prediction: stations from ObsPy streams, and gap masks.

Pure NumPy / ObsPy (no TensorFlow). :mod:`picker.prediction.predict` runs the model on what this builds.

Stream → station arrays (:func:`iter_stations`):

* traces are grouped by station: ``NET.STA.LOC`` + band/instrument code (the channel code
  without its component letter), station id ``NET.STA.LOC.CH`` (e.g. ``XX.HOLD..HH``);
* channels that are not seismometer components or are sampled below 10 Hz (hydrophones, mass
  positions: :func:`~picker.io.base.channel_problem`) are skipped with a warning;
* component codes map to columns E, N, Z with :func:`~picker.io.base.enz_columns` (``Z/N/E``,
  ``Z/1/2``, ``Z/2/3``, ``U/N/E``, lower case); a missing component is a column of zeros;
* components are aligned on the **union** of their spans, starting at the earliest trace start;
  every trace is placed at ``round((trace start - station start) * rate)``, so a sub-sample
  offset is rounded to the nearest sample;
* the traces of one component are merged with a validity mask: samples no trace covers (gaps,
  and the span before / after a component's data) are zero and invalid; where traces overlap
  the trace that starts first keeps its samples (ties: stream order), so duplicates drop out;
* each contiguous stretch of valid samples of a component is demeaned on its own;
* all traces of a station must share one sampling rate (within 1 ppm), else
  :class:`~picker.io.base.InputError` — resample them with ObsPy first. Mixed rates within one
  band code are almost always a metadata error, and silently resampling would hide it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from obspy import Stream, Trace, UTCDateTime

from picker.io.base import (
    InputError,
    describe_skipped,
    enz_columns,
    split_pickable,
    trace_station_id,
)
from picker.io.stream import split_at_gaps, traces_unit

logger = logging.getLogger(__name__)

__all__ = [
    "StationData",
    "dilate",
    "iter_stations",
    "pickable_mask",
    "stream_to_stations",
]

#: Relative tolerance for "the same sampling rate".
RATE_TOLERANCE = 1e-6


@dataclass(eq=False)
class StationData:
    """The three components of one station, aligned on one time base.

    Attributes:
        station_id: ``NET.STA.LOC.CH`` (``CH`` = band + instrument code).
        data: ``(n_samples, 3)`` float32, columns E, N, Z; zero where a component has no data.
        valid: ``(3, n_samples)`` bool, True where the component (E, N, Z) has data.
        present: ``(3,)`` bool, True for the components found in the stream.
        sampling_rate_hz: samples per second.
        start_time: time of sample 0.
        channels: channel codes of the E, N, Z columns (``""`` where missing).
        first_sample: index of sample 0 counted from the station's first sample in the
            stream (0 unless the station was split at a long gap, see :func:`iter_stations`).
        unit: the amplitude unit from the traces' headers (:func:`picker.io.stream.traces_unit`:
            ``counts``, ``nm/s`` ...), ``""`` when unknown.
    """

    station_id: str
    data: np.ndarray
    valid: np.ndarray
    present: np.ndarray
    sampling_rate_hz: float
    start_time: UTCDateTime
    channels: tuple[str, str, str]
    first_sample: int = 0
    unit: str = ""

    @property
    def band_code(self) -> str:
        """Band + instrument code, e.g. ``HH`` (``""`` when the channel codes have none)."""
        return self.station_id.rsplit(".", 1)[-1]


def iter_stations(
    stream: Stream,
    only: Collection[str] | None = None,
    *,
    consume: bool = False,
    source: str = "",
    split_gap_s: float | None = None,
) -> Iterator[StationData]:
    """Yield one :class:`StationData` per station in ``stream`` (rules in the module docstring).

    Channels that are not seismometer components or are sampled below 10 Hz (hydrophones, mass
    positions, ``LH*``; :func:`~picker.io.base.channel_problem`) are skipped with a warning.
    Every station is checked (rates, component codes) before the first one is built. A bad
    station is left out, the good ones are yielded, and then an :class:`InputError` names the
    bad ones, so one station's metadata error costs no other station its picks. Stations are
    built one at a time (bounded memory).

    Args:
        stream: traces of any number of stations; may have gaps and overlaps.
        only: station ids to build (all when None).
        consume: remove each station's traces from ``stream`` once it is built (frees the raw
            samples while the station is processed).
        source: the file name, for the warning about skipped channels.
        split_gap_s: when set, a station whose data have a gap longer than this (no component
            has data) is yielded as one :class:`StationData` per contiguous segment, in time
            order, each with its ``first_sample``: memory follows the data, not the span (two
            30 s segments a year apart are not a year of zeros).

    Yields:
        Stations sorted by station id (a split station's segments in time order).

    Raises:
        InputError: after the good stations, the stations with mixed sampling rates or bad
            component codes; up front, no channel to pick on at all.
    """
    traces, skipped = split_pickable(
        [tr for tr in stream if only is None or trace_station_id(tr) in only]
    )
    prefix = f"{source}: " if source else ""
    if skipped and not traces:
        raise InputError(f"no channel to pick on: {describe_skipped(skipped)}")
    if skipped:
        logger.warning("%sskipped %s", prefix, describe_skipped(skipped))
    groups: dict[str, list[Trace]] = {}
    for trace in traces:
        groups.setdefault(trace_station_id(trace), []).append(trace)
    trace = traces = None  # the loop variable would keep the last trace's samples alive
    checked, problems = [], []
    for key, members in sorted(groups.items()):
        try:
            checked.append((key, *_check_group(key, members)))
        except InputError as err:
            problems.append(str(err))
    members = groups = None  # no loop variable keeps the last station's traces alive
    for i in range(len(checked)):
        key, rate, by_component, columns = checked[i]
        checked[i] = None
        segments = split_at_gaps(by_component, rate, split_gap_s)
        if consume:
            stream.traces = [tr for tr in stream.traces if trace_station_id(tr) != key]
        column_of = dict(zip(by_component, columns, strict=True))
        del by_component
        while segments:
            part, first_sample = segments.pop(0)
            box = [_build_station(key, rate, part, [column_of[c] for c in part], first_sample)]
            del part
            yield box.pop()  # no reference kept here while the caller works on it
    if problems:
        picked = f"; the other {len(checked)} station(s) were picked" if checked else ""
        raise InputError("; ".join(problems) + picked)


def stream_to_stations(stream: Stream, only: Collection[str] | None = None) -> list[StationData]:
    """All stations of ``stream`` as a list (see :func:`iter_stations`)."""
    return list(iter_stations(stream, only))


def _check_group(
    station_id: str, traces: list[Trace]
) -> tuple[float, dict[str, list[Trace]], list[int]]:
    """(sampling rate, traces by component code, E/N/Z column per code) of one station."""
    rates = sorted({float(tr.stats.sampling_rate) for tr in traces})
    if rates[-1] - rates[0] > RATE_TOLERANCE * rates[-1]:
        listed = ", ".join(f"{rate:g}" for rate in rates)
        raise InputError(
            f"{station_id}: traces have different sampling rates ({listed} Hz); "
            "resample them to one rate first"
        )
    by_component: dict[str, list[Trace]] = {}
    for tr in traces:
        by_component.setdefault(tr.stats.channel.strip()[-1:], []).append(tr)
    try:
        columns = enz_columns(list(by_component))
    except InputError as err:
        raise InputError(f"{station_id}: {err}") from None
    return rates[-1], by_component, columns


def _build_station(
    station_id: str,
    rate: float,
    by_component: dict[str, list[Trace]],
    columns: list[int],
    first_sample: int = 0,
) -> StationData:
    traces = [tr for group in by_component.values() for tr in group]
    codes = list(by_component)
    start = min(tr.stats.starttime for tr in traces)

    def offset(tr: Trace) -> int:
        return int(round((tr.stats.starttime - start) * rate))

    n_samples = max(offset(tr) + tr.stats.npts for tr in traces)
    data = np.zeros((n_samples, 3), dtype=np.float32)
    valid = np.zeros((3, n_samples), dtype=bool)
    present = np.zeros(3, dtype=bool)
    channels = ["", "", ""]
    for code, column in zip(codes, columns, strict=True):
        members = [(offset(tr), tr) for tr in by_component[code]]
        if not (len(members) == 1 and _place_whole(*members[0], data[:, column], valid[column])):
            values, mask = _merge_component(members, n_samples)
            data[:, column] = _demean_segments(values, mask)
            valid[column] = mask
        present[column] = True
        channels[column] = by_component[code][0].stats.channel.strip()
    return StationData(
        station_id=station_id,
        data=data,
        valid=valid,
        present=present,
        sampling_rate_hz=rate,
        start_time=start,
        channels=tuple(channels),
        first_sample=first_sample,
        unit=traces_unit(traces),
    )


def _place_whole(offset: int, tr: Trace, column: np.ndarray, valid: np.ndarray) -> bool:
    """Fast path for a component that is one gap-free trace: write it demeaned at ``offset``.

    Returns False (and writes nothing) when the trace has masked or non-finite samples; the
    general merge handles those. Same result as merging then :func:`_demean_segments`, without
    the float64 copies of the whole component.
    """
    samples = tr.data
    if np.ma.isMaskedArray(samples) or (
        samples.dtype.kind in "fc" and not np.isfinite(samples).all()
    ):
        return False
    stop = offset + len(samples)
    if len(samples):
        mean = np.float64(samples.mean(dtype=np.float64))
        np.subtract(samples, mean, out=column[offset:stop], casting="unsafe")
    valid[offset:stop] = True
    return True


def _merge_component(
    placed: Sequence[tuple[int, Trace]], n_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Place traces at their offsets; earlier-starting traces win overlaps.

    Returns:
        ``(values float64 (n_samples,), valid bool (n_samples,))``; values are 0 where invalid.
    """
    values = np.zeros(n_samples, dtype=np.float64)
    valid = np.zeros(n_samples, dtype=bool)
    order = sorted(range(len(placed)), key=lambda i: (placed[i][0], i))
    for i in order:
        offset, tr = placed[i]
        samples = np.ma.filled(np.ma.asarray(tr.data, dtype=np.float64), np.nan)
        stop = offset + len(samples)
        free = ~valid[offset:stop] & np.isfinite(samples)  # masked / NaN samples are gaps
        target = values[offset:stop]
        target[free] = samples[free]
        valid[offset:stop] |= free
    return values, valid


def _demean_segments(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``values`` with each contiguous valid stretch demeaned; 0 where invalid. float32."""
    if not valid.any():
        return np.zeros(len(values), np.float32)
    run_id = np.cumsum(np.diff(valid.astype(np.int8), prepend=0) == 1)  # 1.. per valid run
    run_id = np.where(valid, run_id, 0)
    sums = np.bincount(run_id, weights=np.where(valid, values, 0.0))
    counts = np.bincount(run_id)
    means = sums / np.maximum(counts, 1)
    out = np.where(valid, values - means[run_id], 0.0)
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- masks


def dilate(mask: np.ndarray, radius_samples: int) -> np.ndarray:
    """Boolean ``(n,)`` mask grown by ``radius_samples`` on both sides (cumulative sums)."""
    mask = np.asarray(mask, dtype=bool)
    if radius_samples <= 0 or not mask.any():
        return mask.copy()
    n = len(mask)
    counts = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
    index = np.arange(n)
    lo = np.clip(index - radius_samples, 0, n)
    hi = np.clip(index + radius_samples + 1, 0, n)
    return counts[hi] - counts[lo] > 0


def pickable_mask(valid: np.ndarray, margin_samples: int) -> np.ndarray:
    """Where picks are allowed: some component has data, and no component's gap edge is near.

    While one component is out the others still pick (the model sees a zero column, as for a
    missing component); only the surroundings of each switch between data and gap are excluded.

    Args:
        valid: ``(n_samples,)`` or ``(n_components, n_samples)`` bool, True where a component has
            data (pass only the components that exist).
        margin_samples: no pick within this many samples of a place where a component switches
            between data and gap (the gap-edge step is not a phase arrival).

    Returns:
        ``(n_samples,)`` bool.
    """
    valid = np.atleast_2d(np.asarray(valid, dtype=bool))
    some = valid.any(axis=0)
    near_edge = np.zeros(valid.shape[1], dtype=bool)
    for row in valid:
        if row.all():
            continue
        near_edge |= dilate(~row, margin_samples) & dilate(row, margin_samples)
    return some & ~near_edge if margin_samples > 0 else some
