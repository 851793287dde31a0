"""Long miniSEED files (a week, a month in one file) predicted day by day in bounded memory.

The same holds for a :class:`~picker.io.groups.FileGroup` (one long file per channel): its
members are planned as one file and each day is read from every member.

A file larger than :data:`LONG_FILE_BYTES` whose headers (read without decoding any samples)
span more than :data:`LONG_FILE_SPAN_S` is cut into UTC days. Each day is decoded on its own
with ObsPy's record selection (``starttime`` / ``endtime``: libmseed unpacks only the records
that overlap), with ``context_s`` of extra data on both sides, predicted like any stream, and
cropped back to the day. So peak memory is that of one day whatever the file's length, and the
picks are those of the whole file processed at once: the day edges fall inside the model's
chunks with full context, the same guarantee as for chunk edges (±1 sample).

Each station-day is one :class:`~picker.prediction.predict.StationResult` (name ``STATION_ID.YYYYMMDDT000000``)
whose probabilities and data cover the day only. Pick ``index`` still counts samples from the
station's first sample in the whole file, as when the file is read at once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Iterator
from pathlib import Path

from obspy import Stream

from picker.io.base import input_files
from picker.io.obspy_files import read_obspy

#: Files smaller than this are read at once (a 100 Hz 3-component station-day of STEIM2 data is
#: typically 20-50 MB).
LONG_FILE_BYTES = 64 * 1024 * 1024
#: Files whose data span more than this are cut into days.
LONG_FILE_SPAN_S = 1.5 * 86400.0
#: Length of one piece.
DAY_S = 86400.0


def plan_days(path, context_s: float):
    """``(days, first_sample_times)`` for a long miniSEED file, or None to read it at once.

    ``path`` may also be a :class:`~picker.io.groups.FileGroup` (one file per channel),
    whose members are planned and read as one file.

    Returns:
        ``days``: ``(day_start, day_end)`` UTCDateTime pairs (UTC midnights, clipped to the data)
        that hold data; ``first_sample_times``: the first sample time of each station id in the
        whole file. None when the file is small, not miniSEED, or spans at most
        :data:`LONG_FILE_SPAN_S`.
    """
    from picker.io.base import trace_station_id

    members = input_files(path)
    if sum(member.stat().st_size for member in members) < LONG_FILE_BYTES:
        return None
    headers = read_obspy(members[0], headonly=True)
    for member in members[1:]:
        headers += read_obspy(member, headonly=True)
    if any(getattr(tr.stats, "_format", "") != "MSEED" for tr in headers):
        return None
    start = min(tr.stats.starttime for tr in headers)
    end = max(tr.stats.endtime for tr in headers)
    if end - start <= LONG_FILE_SPAN_S:
        return None
    first: dict[str, object] = {}
    for tr in headers:
        key = trace_station_id(tr)
        first[key] = min(first.get(key, tr.stats.starttime), tr.stats.starttime)
    midnight = start.__class__(start.year, start.month, start.day)
    days = []
    for k in range(math.ceil((end - midnight) / DAY_S) + 1):
        day_start, day_end = midnight + k * DAY_S, midnight + (k + 1) * DAY_S
        if any(
            tr.stats.starttime < day_end + context_s and tr.stats.endtime >= day_start - context_s
            for tr in headers
        ):
            days.append((max(day_start, start), min(day_end, end + 1.0)))
    return days, first


def iter_long_file(
    path: Path,
    days,
    first_sample_times: dict,
    predict_stream_results,
    *,
    context_s: float,
    stations: Collection[str] | None = None,
) -> Iterator:
    """Yield per station-day results of ``path`` (see the module docstring).

    Args:
        path: the file, or a :class:`~picker.io.groups.FileGroup`.
        days, first_sample_times: from :func:`plan_days`.
        predict_stream_results: ``f(stream) -> iterator of StationResult`` for one decoded day.
        context_s: data read beyond each day's edges (at least the prediction's chunk context).
        stations: station ids to process (all when None).
    """
    members = input_files(path)
    # a file of one channel may end before the others: its span, to skip the days it lacks
    tables = []
    for member in members:
        table = record_table(member)
        span = None if len(members) == 1 else _span(member, table)
        tables.append((member, table, span))
    for day_start, day_end in days:
        start, end = day_start - context_s, day_end + context_s
        stream = Stream()
        for member, table, span in tables:
            if span is not None and (span[1] < start.timestamp or span[0] > end.timestamp):
                continue
            if table is None:  # ObsPy's own selection: it maps the whole file while it reads
                stream += read_obspy(member, format="MSEED", starttime=start, endtime=end)
            else:  # only the bytes of the records that overlap the day are read
                stream += read_obspy(
                    _day_bytes(member, table, float(start.timestamp), float(end.timestamp)),
                    format="MSEED",
                    starttime=start,
                    endtime=end,
                    name=member,
                )
        if stations is not None:
            from picker.io.base import trace_station_id

            stream.traces = [tr for tr in stream if trace_station_id(tr) in stations]
        day_results = predict_stream_results(stream)
        del stream  # the day's traces are consumed station by station
        for result in day_results:
            box = [_crop(result, day_start, day_end, first_sample_times[result.station_id])]
            del result
            if box[0] is not None:
                yield box.pop()  # no reference kept here while the caller works on it


def _span(path: Path, table) -> tuple[float, float]:
    """First and last sample times (POSIX s) of a miniSEED file: from its record table when
    there is one (no second pass over the file), else from its headers."""
    if table is not None:
        return float(table[1].min()), float(table[2].max())
    headers = read_obspy(path, headonly=True)
    first = min(tr.stats.starttime for tr in headers)
    return float(first.timestamp), float(max(tr.stats.endtime for tr in headers).timestamp)


def record_table(path: Path):
    """``(offsets, starts, ends, record_length)`` of the records of a fixed-record-length miniSEED file.

    Times are POSIX seconds (float64) of the first and last sample, from the fixed header only
    (BTIME, sample count, rate factor and multiplier; blockette 100 rates and time corrections
    are ignored, which moves a record's span by far less than the context read around each day).
    None when the file is not uniform (record length not constant, or a header that does not
    parse), in which case ObsPy's own time selection is used.
    """
    import numpy as np
    from obspy.io.mseed.util import get_record_information

    try:
        first = get_record_information(str(path))
    except Exception:  # ObsPy raises several types for a bad header
        return None
    length, order = int(first["record_length"]), first["byteorder"]
    size = path.stat().st_size
    if length < 64 or size % length:
        return None
    header = np.dtype(
        [
            ("sequence", "V6"), ("quality", "S1"), ("skip", "V13"),
            ("year", order + "u2"), ("doy", order + "u2"), ("hour", "u1"), ("minute", "u1"),
            ("second", "u1"), ("unused", "u1"), ("fract", order + "u2"), ("npts", order + "u2"),
            ("factor", order + "i2"), ("multiplier", order + "i2"), ("rest", f"V{length - 36}"),
        ]
    )  # fmt: skip
    fields = ("quality", "year", "doy", "hour", "minute", "second", "fract", "npts")
    fields += ("factor", "multiplier")
    parts: dict[str, list] = {name: [] for name in fields}
    with open(path, "rb") as f:  # 16 MB at a time; only the header fields are kept
        while len(block := np.fromfile(f, dtype=header, count=max(1, (16 << 20) // length))):
            for name in fields:
                parts[name].append(block[name].copy())
    h = {name: np.concatenate(values) for name, values in parts.items()}
    if not np.isin(h["quality"], [b"D", b"R", b"Q", b"M"]).all():
        return None
    if not ((h["year"] >= 1900) & (h["year"] < 2200) & (h["doy"] >= 1) & (h["doy"] <= 366)).all():
        return None
    days = (h["year"].astype("int64") - 1970).astype("M8[Y]").astype("M8[D]").astype("int64")
    starts = (days + h["doy"] - 1) * 86400.0 + h["hour"] * 3600.0 + h["minute"] * 60.0
    starts += h["second"] + h["fract"] * 1e-4
    factor, multiplier = h["factor"].astype(float), h["multiplier"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(factor > 0, factor, -1.0 / factor)
        rate *= np.where(multiplier > 0, multiplier, -1.0 / multiplier)
        rate = np.where((factor == 0) | (multiplier == 0), 0.0, rate)
    duration = np.where(
        (rate > 0) & (h["npts"] > 0), (h["npts"] - 1) / np.where(rate > 0, rate, 1.0), 0.0
    )
    offsets = np.arange(len(starts), dtype=np.int64) * length
    return offsets, starts, starts + duration, length


def _day_bytes(path: Path, table, start_s: float, end_s: float):
    """The records of ``path`` overlapping ``[start_s, end_s]`` as one in-memory file."""
    import io

    import numpy as np

    offsets, starts, ends, length = table
    chosen = offsets[(ends >= start_s) & (starts <= end_s)]
    out = io.BytesIO()
    with open(path, "rb") as f:
        # contiguous runs of chosen records are read in one go
        breaks = np.flatnonzero(np.diff(chosen) != length) + 1
        for run in np.split(chosen, breaks):
            if len(run):
                f.seek(int(run[0]))
                out.write(f.read(int(run[-1] - run[0]) + length))
    out.seek(0)
    return out


def _crop(result, day_start, day_end, first_sample_time):
    """``result`` restricted to ``[day_start, day_end)``; pick indices from the file's start."""
    from picker.preprocess.model_input import MODEL_SAMPLING_RATE_HZ

    rate = result.sampling_rate_hz
    lo = max(0, math.ceil(round((day_start - result.start_time) * rate, 6)))
    hi = min(len(result.data), math.ceil(round((day_end - result.start_time) * rate, 6)))
    if hi <= lo:
        return None
    shift = int(round((result.start_time - first_sample_time) * rate))
    picks = [
        dataclasses.replace(pick, index=pick.index + shift)
        for pick in result.picks
        if lo <= pick.index < hi
    ]
    model_rate = MODEL_SAMPLING_RATE_HZ
    lo_m, hi_m = round(lo * model_rate / rate), round(hi * model_rate / rate)
    return dataclasses.replace(
        result,
        name=f"{result.station_id}.{day_start.strftime('%Y%m%dT%H%M%S')}",
        picks=picks,
        probabilities=result.probabilities[lo_m:hi_m],  # views: the day's arrays are only
        data=result.data[lo:hi],  # ``context_s`` longer than the slices
        start_time=result.start_time + lo / rate,
    )
