"""Records from and to ObsPy streams: any format ObsPy reads (miniSEED, SAC, GSE2, ...).

Reading groups a stream's traces by station (``NET.STA.LOC`` + band/instrument code, i.e. the
channel code without its last letter) and makes one :class:`~picker.io.base.Record` per group:

* traces of one component are merged, gaps and overlaps filled with zeros
  (:func:`merge_component`);
* component codes map to columns E, N, Z with :func:`~picker.io.base.enz_columns`
  (``Z/N/E``, ``Z/1/2``, ``Z/2/3``, ``U/N/E``, lower case); missing components are zero columns;
* components are aligned on the **union** of their time spans: the record starts at the earliest
  component start and ends at the latest component end; a component is zero where it has no
  data (like a gap). Sub-sample offsets between components are rounded to the nearest sample;
* all traces of a group must share one sampling rate, else :class:`InputError`.

Picks come from SAC headers (:func:`sac_header_picks`): the time markers ``a`` and ``t0``-``t9``
whose labels (``ka``, ``kt0``...) name a P or S phase, or, unlabelled, ``a`` as P and ``t0`` as S
(the common convention); the earliest P and S over a station's traces become the record's
``p_arrival_sample`` and ``s_arrival_sample``. Other formats carry no picks (-1).

Writing makes one trace per present column. miniSEED carries no picks: ``p_arrival_sample`` and
``s_arrival_sample`` are not written, and come back as -1. SAC (:func:`write_sac_record`, one
file per column) carries them in its headers. miniSEED start times have microsecond
resolution and station codes at most 5 characters.

This module does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from obspy import Stream, Trace, UTCDateTime

from picker.io.base import (
    COMPONENTS,
    NO_PICK,
    InputError,
    Record,
    atomic_output,
    describe_skipped,
    enz_columns,
    make_station_id,
    path_in_folder,
    phase_of_label,
    safe_file_name,
    split_pickable,
    split_station_id,
)
from picker.io.obspy_files import read_obspy

__all__ = [
    "header_picks_by_station",
    "merge_component",
    "read_stream_records",
    "SPLIT_GAP_S",
    "record_to_stream",
    "sac_header_picks",
    "segment_name",
    "split_at_gaps",
    "stream_to_records",
    "traces_unit",
    "write_sac_record",
    "write_stream_record",
]


log = logging.getLogger(__name__)

#: A station's data are cut at gaps longer than this many seconds (no component has data):
#: each segment is predicted on its own, or becomes a record of its own, so a gap costs no
#: memory (two 30 s segments a year apart are not a year of zeros). Shorter gaps are
#: zero-filled (and masked for prediction). Also the default ``chunk_s`` of prediction.
SPLIT_GAP_S = 600.0


def _band_code(channel: str) -> str:
    """Band + instrument code: the channel code without its component letter (``HHZ`` -> ``HH``)."""
    return channel.strip()[:-1]


def merge_component(traces: list[Trace]) -> Trace:
    """Merge the traces of one component into one trace; gaps and overlaps become zeros.

    Uses ``Stream.merge(method=1, fill_value=0)``: overlapping samples take the later trace's
    values, gaps are filled with 0. All traces must share a sampling rate.

    Returns:
        One trace whose ``data`` is a plain (unmasked) numpy array.
    """
    if len(traces) == 1:
        merged = traces[0]
    else:
        stream = Stream([tr.copy() for tr in traces])
        stream.merge(method=1, fill_value=0)
        merged = stream[0]
    merged.data = np.ma.filled(merged.data, 0)
    return merged


def split_at_gaps(
    by_component: dict[str, list[Trace]], rate: float, gap_s: float | None
) -> list[tuple[dict[str, list[Trace]], int]]:
    """``[(traces by component code, first sample)]``: one station's traces cut at every gap
    longer than ``gap_s`` in all components at once (the whole station when None or no such
    gap), segments in time order. ``first sample`` counts from the station's first sample at
    ``rate`` Hz. The one rule for prediction (:func:`picker.prediction.stations.iter_stations`)
    and for records (:func:`stream_to_records`): memory follows the data, not the span."""
    traces = [tr for group in by_component.values() for tr in group]
    if gap_s is None or len(traces) == 1:
        return [(by_component, 0)]
    order = sorted(range(len(traces)), key=lambda i: traces[i].stats.starttime)
    segment_of, starts, end = {}, [], None
    for i in order:
        stats = traces[i].stats
        if end is None or stats.starttime - end > gap_s:
            starts.append(stats.starttime)
            end = stats.endtime
        segment_of[i], end = len(starts) - 1, max(end, stats.endtime)
    if len(starts) == 1:
        return [(by_component, 0)]
    segments = [({}, int(round((t - starts[0]) * rate))) for t in starts]
    i = 0
    for code, group in by_component.items():  # stream order kept within each segment
        for tr in group:
            segments[segment_of[i]][0].setdefault(code, []).append(tr)
            i += 1
    return segments


def segment_name(name: str, start_time: UTCDateTime) -> str:
    """The name of a later segment of a station split at a long gap (:func:`split_at_gaps`):
    ``<name>.<segment start YYYYmmddTHHMMSS>``."""
    return f"{name}.{start_time.strftime('%Y%m%dT%H%M%S')}"


def _group_by_station(traces: list[Trace]) -> dict[tuple[str, str, str, str], list[Trace]]:
    """Traces keyed by (network, station, location, band code), keys sorted."""
    groups: dict[tuple[str, str, str, str], list[Trace]] = {}
    for tr in traces:
        stats = tr.stats
        key = (stats.network, stats.station, stats.location, _band_code(stats.channel))
        groups.setdefault(key, []).append(tr)
    return dict(sorted(groups.items()))


#: SAC time markers that may hold a pick, and the phase an unlabelled one is taken for.
SAC_MARKERS = {"a": "P", "t0": "S", **{f"t{i}": None for i in range(1, 10)}}


def sac_header_picks(traces) -> dict[str, UTCDateTime]:
    """The earliest P and S time marked in the SAC headers of ``traces``: ``{"P": time,
    "S": time}``, either missing when not marked.

    A marker's time is ``starttime - b + value`` (SAC times count from the reference time, and
    ObsPy's start time is the reference time plus ``b``). A labelled marker counts when its label
    names P or S (:func:`~picker.io.base.phase_of_label`); an unlabelled ``a`` is P and ``t0`` S.
    A value that is no time (NaN, infinite, beyond :data:`MAX_SAC_MARKER_S`) is left out.
    """
    return {phase: time for phase, (time, _, _) in _sac_marker_picks(traces, []).items()}


#: A SAC time marker further than this from the reference time (~32 years) is no pick time.
MAX_SAC_MARKER_S = 1e9


def _sac_marker_picks(traces, unusable: list[str]) -> dict[str, tuple[UTCDateTime, str, float]]:
    """``{phase: (time, marker, value)}`` of the earliest P and S markers of ``traces``; the
    markers whose value is no time are described in ``unusable`` (``"t0 = nan"``)."""
    found: dict[str, tuple[UTCDateTime, str, float]] = {}
    for tr in traces:
        header = tr.stats.get("sac") or {}
        reference = tr.stats.starttime - float(header.get("b", 0.0))
        for marker, default_phase in SAC_MARKERS.items():
            value = header.get(marker)
            if value is None or float(value) == -12345.0:  # SAC's "undefined"
                continue
            label = str(header.get(f"k{marker}", "")).strip()
            phase = default_phase if label in ("", "-12345") else phase_of_label(label)
            if phase is None:
                continue
            value = float(value)
            if not abs(value) <= MAX_SAC_MARKER_S:  # NaN too
                unusable.append(f"{marker} = {value:g}")
                continue
            time = reference + value
            if phase not in found or time < found[phase][0]:
                found[phase] = (time, marker, value)
    return dict(sorted(found.items()))  # P before S


def header_picks_by_station(traces) -> dict[str, dict[str, UTCDateTime]]:
    """``{station id: {phase: time}}`` of the picks in the SAC headers of ``traces`` (any
    stations; :func:`sac_header_picks` per station), stations without picks left out."""
    from picker.io.base import trace_station_id

    by_station: dict[str, list] = {}
    for tr in traces:
        by_station.setdefault(trace_station_id(tr), []).append(tr)
    return {sid: picks for sid, group in by_station.items() if (picks := sac_header_picks(group))}


#: SAC ``idep`` (type of the dependent variable) values and the units they stand for.
SAC_IDEP_UNITS = {6: "nm", 7: "nm/s", 8: "nm/s²", 50: "V"}
#: miniSEED encodings of raw digitiser output (integers): their samples are counts.
INTEGER_MSEED_ENCODINGS = frozenset({"INT16", "INT24", "INT32", "STEIM1", "STEIM2", "GEOSCOPE24"})


def traces_unit(traces) -> str:
    """The amplitude unit of ``traces`` as their headers give it, ``""`` when unknown or when
    the traces disagree.

    SAC: the ``idep`` header (``nm``, ``nm/s``, ``nm/s²``, ``V``; unset or ``IUNKN`` is unknown).
    miniSEED: ``counts`` for integer encodings (Steim, INT*), the digitiser's raw output; float
    miniSEED is unknown (often processed data in any unit).
    """
    units = set()
    for tr in traces:
        stats = tr.stats
        unit = ""
        if "sac" in stats:
            unit = SAC_IDEP_UNITS.get(stats.sac.get("idep"), "")
        elif "mseed" in stats:
            encoding = str(stats.mseed.get("encoding", "")).upper()
            unit = "counts" if encoding in INTEGER_MSEED_ENCODINGS else ""
        units.add(unit)
    return units.pop() if len(units) == 1 else ""


def _group_to_records(traces: list[Trace], station_id: str, name: str, source: str) -> list[Record]:
    """The records ``(n_samples, 3)`` E, N, Z of the traces of one station and band code: one,
    or one per segment when the data have gaps longer than :data:`SPLIT_GAP_S`
    (:func:`split_at_gaps`).

    SAC header picks that are no time or fall outside the data are dropped with a warning
    naming ``source`` (the file) and the header."""
    rates = sorted({float(tr.stats.sampling_rate) for tr in traces})
    if len(rates) > 1:
        listed = ", ".join(f"{rate:g}" for rate in rates)
        raise InputError(f"{station_id}: traces have different sampling rates ({listed} Hz)")
    rate = rates[0]

    by_component: dict[str, list[Trace]] = {}
    for tr in traces:
        by_component.setdefault(tr.stats.channel.strip()[-1:], []).append(tr)
    try:
        column_of = dict(zip(by_component, enz_columns(list(by_component)), strict=True))
    except InputError as err:
        raise InputError(f"{station_id}: {err}") from None
    dropped: list[str] = []
    marked = _sac_marker_picks(traces, dropped)
    records, placed = [], set()
    for part, first_sample in split_at_gaps(by_component, rate, SPLIT_GAP_S):
        record_name = f"{name}:{station_id}" if name else station_id
        record = _segment_record(part, column_of, rate, station_id, record_name)
        if first_sample:  # a later segment: named after its start, as prediction does
            record.name = segment_name(record.name, record.start_time)
        picks = {}
        for phase, (time, _, _) in marked.items():
            sample = int(round((time - record.start_time) * rate))
            if 0 <= sample < record.n_samples:
                picks[phase] = sample
                placed.add(phase)
        record.p_arrival_sample = picks.get("P", NO_PICK)
        record.s_arrival_sample = picks.get("S", NO_PICK)
        records.append(record)
    for phase, (_, marker, value) in marked.items():
        if phase not in placed:
            dropped.append(f"{marker} = {value:g} s ({phase} outside the data)")
    if dropped:
        log.warning(
            "%s: %s: SAC header pick(s) dropped: %s", source, station_id, "; ".join(dropped)
        )
    return records


def _segment_record(
    by_component: dict[str, list[Trace]],
    column_of: dict[str, int],
    rate: float,
    station_id: str,
    name: str,
) -> Record:
    """One record of traces by component code (merged, gaps zero), aligned on the earliest."""
    merged = {code: merge_component(group) for code, group in by_component.items()}
    start = min(tr.stats.starttime for tr in merged.values())
    offsets = {code: int(round((tr.stats.starttime - start) * rate)) for code, tr in merged.items()}
    n_samples = max(offsets[code] + len(tr.data) for code, tr in merged.items())
    data = np.zeros((n_samples, 3), dtype=np.float32)
    channels = ["", "", ""]
    for code, tr in merged.items():
        column, offset = column_of[code], offsets[code]
        data[offset : offset + len(tr.data), column] = np.asarray(tr.data, dtype=np.float32)
        channels[column] = tr.stats.channel.strip()
    return Record(
        data=data,
        sampling_rate_hz=rate,
        station_id=station_id,
        start_time=start,
        channels=tuple(channels),
        name=name,
        extra={"unit": unit} if (unit := traces_unit(_all_traces(by_component))) else {},
    )


def _all_traces(by_component: dict[str, list[Trace]]) -> list[Trace]:
    return [tr for group in by_component.values() for tr in group]


def stream_to_records(stream: Stream, *, name: str = "", source: str = "") -> list[Record]:
    """One record per station and band code in ``stream`` (see module docstring for the rules).

    Args:
        stream: ObsPy stream of any number of stations and components.
        name: prefix of the record names, ``f"{name}:{station_id}"`` (just the station id if "").
        source: the file named in warnings (default: ``name``).

    Returns:
        Records sorted by station id; ``data`` ``(n_samples, 3)`` float32 E, N, Z; ``start_time``
        the earliest component start; ``channels`` the full channel codes in E, N, Z positions
        (``""`` where missing); picks from SAC headers (:func:`sac_header_picks`), else -1.
        A station whose data have a gap longer than :data:`SPLIT_GAP_S` (no component has
        data) gives one record per segment, in time order, the later ones named
        ``<name>.<segment start YYYYmmddTHHMMSS>``: memory follows the data, not the span.

    Channels picker does not pick on (hydrophones, mass positions, below 10 Hz:
    :func:`~picker.io.base.channel_problem`) are skipped with a warning.

    Raises:
        InputError: mixed sampling rates or duplicate component codes in one group, or no
            channel to pick on at all.
    """
    pickable, skipped = split_pickable(stream)
    if skipped and not pickable:
        raise InputError(f"no channel to pick on: {describe_skipped(skipped)}")
    if skipped:
        log.warning("%sskipped %s", f"{name}: " if name else "", describe_skipped(skipped))
    records = []
    for (network, station, location, band), traces in _group_by_station(pickable).items():
        station_id = make_station_id(network, station, location, band)
        records.extend(_group_to_records(traces, station_id, name, source or name))
    return records


def read_stream_records(
    path: str | os.PathLike, *, format: str | None = None, **_
) -> Iterator[Record]:
    """Yield the records of one waveform file ObsPy can read (one per station and band code).

    Args:
        path: the file (miniSEED, SAC, GSE2, ...).
        format: ObsPy format name; ``None`` lets ObsPy detect it from the content.

    Raises:
        InputError: unreadable file, no traces, or a bad station group; the message names the file.
    """
    path = Path(path)
    stream = read_obspy(path, format=format)
    try:
        records = stream_to_records(stream, name=path.stem, source=str(path))
    except InputError as err:
        raise InputError(f"{path}: {err}") from None
    yield from records


def record_to_stream(record: Record) -> Stream:
    """One trace per column of ``record`` (E, N, Z order) with station metadata.

    A column is skipped when its channel code is ``""`` and it is all zeros. Network, station,
    location come from ``station_id``; a column's channel is its code in ``channels``, or the
    station id's band code + ``E``/``N``/``Z`` when empty. Start time 1970-01-01 when unknown.
    Picks are not carried (miniSEED has no place for them).
    """
    network, station, location, band = split_station_id(record.station_id)
    start = record.start_time if record.start_time is not None else UTCDateTime(0)
    traces = []
    for column, component in enumerate(COMPONENTS):
        code = record.channels[column]
        values = record.data[:, column]
        if not code and not np.any(values):
            continue
        tr = Trace(data=np.ascontiguousarray(values, dtype=np.float32))
        tr.stats.network = network
        tr.stats.station = station
        tr.stats.location = location
        tr.stats.channel = code or f"{band}{component}"
        tr.stats.sampling_rate = record.sampling_rate_hz
        tr.stats.starttime = start
        traces.append(tr)
    return Stream(traces)


def write_stream_record(record: Record, path: str | os.PathLike, *, format: str = "MSEED") -> Path:
    """Write one record to a waveform file with ObsPy, atomically; return ``path``.

    miniSEED is written with ``encoding="FLOAT32"``, so samples round-trip bit-exactly. Picks are
    not written. ``format`` must be a format that holds several traces in one file (not SAC).

    Raises:
        InputError: a record with no non-empty column, or a single-trace format for several traces.
    """
    path = Path(path)
    stream = record_to_stream(record)
    if len(stream) == 0:
        raise InputError(f"{path}: record {record.name!r} has no data to write (all columns empty)")
    fmt = format.upper()
    if fmt in ("SAC", "SACXY") and len(stream) > 1:
        raise InputError(f"{path}: {fmt} holds one trace per file; record has {len(stream)}")
    options = {"encoding": "FLOAT32"} if fmt == "MSEED" else {}
    with atomic_output(path) as tmp:
        stream.write(str(tmp), format=fmt, **options)
    return path


def write_sac_record(record: Record, folder: str | os.PathLike, stem: str) -> list[Path]:
    """Write one record as SAC, one file ``<stem>.<channel>.SAC`` per present column, atomically
    (all of them or none); the name is made safe (:func:`~picker.io.base.safe_file_name`), so a
    hostile channel code or stem cannot write outside ``folder``.

    Every file carries the record's picks in its header, as :func:`sac_header_picks` reads
    them: P in ``a`` (``ka = "P"``) and S in ``t0`` (``kt0 = "S"``), seconds after the first
    sample (``b = 0``). Samples are float32, as SAC stores them. Returns the paths written.

    Raises:
        InputError: a record with no non-empty column.
    """
    from obspy.core.util import AttribDict

    folder = Path(folder)
    stream = record_to_stream(record)
    if len(stream) == 0:
        raise InputError(f"{folder / stem}: record {record.name!r} has no data to write")
    header = {"b": 0.0}
    for marker, label, sample in (
        ("a", "P", record.p_arrival_sample),
        ("t0", "S", record.s_arrival_sample),
    ):
        if sample >= 0:
            header.update({marker: sample / record.sampling_rate_hz, f"k{marker}": label})
    written = []
    with contextlib.ExitStack() as renames:  # every component, or none: no partial record
        for tr in stream:
            tr.stats.sac = AttribDict(header)
            name = safe_file_name(f"{stem}.{tr.stats.channel}", "record") + ".SAC"
            path = path_in_folder(folder, name)  # a channel code "/../../Z" stays in folder
            tr.write(str(renames.enter_context(atomic_output(path))), format="SAC")
            written.append(path)
    return written
