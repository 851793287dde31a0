"""``picker plot``: review figures for window files and continuous streams.

* Window files (NPZ, TFRecord, HDF5): one figure per record, named ``<file stem>__<record>``,
  with the record's own P / S arrivals as reference picks.
* Continuous files (any ObsPy format): one figure per station and time span, named
  ``<file stem>__<station id>[__<span start YYYYmmddTHHMMSS>]``. Spans (:func:`time_spans`):
  the whole file by default; ``start`` and ``duration_s`` together give one span; ``start``
  alone runs to the end of the data; ``duration_s`` alone tiles the file from its first sample.
  The model sees :data:`CONTEXT_S` extra on both sides of the spans (as much as the file has),
  so picks near a span's edges are the ones a longer run would make.

Picks in the SAC headers of continuous files (:func:`picker.io.stream.sac_header_picks`) are
reference picks too. Reference picks from a picks file are drawn where their station
(``NET.STA.LOC``, or the station code for a pick without a network:
:func:`picker.picks.matching.same_station`) and time fall in a figure; picks
without a time but with an ``index`` are placed by index when their ``source`` is the file's
name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from picker.io.base import InputError, path_in_folder
from picker.picks.matching import same_station
from picker.picks.pick import Pick
from picker.review.figures import TraceView, figure_name, plot_view

__all__ = ["CONTEXT_S", "plot_file", "reference_seconds", "time_spans"]

log = logging.getLogger(__name__)

#: Extra data (s) the model sees on each side of the plotted spans.
CONTEXT_S = 60.0


def reference_seconds(
    picks: Sequence[Pick],
    station_id: str,
    start_time,
    sampling_rate_hz: float,
    duration_s: float,
    source: str = "",
) -> list[tuple[str, float]]:
    """``(phase, seconds from start_time)`` of the picks of one station inside a span.

    Args:
        picks: reference picks (any stations).
        station_id: the figure's station (:func:`picker.picks.matching.same_station`).
        start_time: ``UTCDateTime`` of sample 0, or None (then only index picks can be placed).
        sampling_rate_hz: the data's rate (for picks placed by index).
        duration_s: the span's length; picks outside ``[0, duration_s]`` are dropped.
        source: the input file name (picks without a time must carry it to be placed).
    """
    out = []
    for pick in picks:
        if not same_station(pick.station_id, station_id):
            continue
        if pick.time and start_time is not None:
            seconds = float(pick.utc() - start_time)
        elif not pick.time and pick.index >= 0 and pick.source == source:
            seconds = pick.index / sampling_rate_hz
        else:
            continue
        if 0.0 <= seconds <= duration_s:
            out.append((pick.phase, seconds))
    return out


def time_spans(
    data_start, data_end, start=None, duration_s: float | None = None
) -> list[tuple[object, object]]:
    """The ``(start, end)`` UTC spans to draw (rules in the module docstring)."""
    if duration_s is not None and not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    if start is not None:
        end = start + duration_s if duration_s is not None else data_end
        return [(start, end)] if end > start else []
    if duration_s is None:
        return [(data_start, data_end)]
    n_spans = max(1, int(np.ceil((data_end - data_start) / duration_s - 1e-9)))
    return [
        (data_start + k * duration_s, data_start + (k + 1) * duration_s) for k in range(n_spans)
    ]


def plot_file(
    path: str | os.PathLike,
    folder: str | os.PathLike,
    model=None,
    *,
    predict: bool = True,
    reference: Sequence[Pick] = (),
    start=None,
    duration_s: float | None = None,
    fmt: str = "png",
    npz_options: dict | None = None,
    dpi: float = 100,
    **options,
) -> list[Path]:
    """Write the review figures of one input file into ``folder``; return their paths.

    Args:
        path: a waveform file (window or continuous), or a
            :class:`~picker.io.groups.FileGroup` of single-component files.
        folder: output folder (created).
        model: a Keras model / path / None (bundled); unused with ``predict=False``.
        predict: run the model (picks and probabilities); False: data and reference picks only.
        reference: reference picks drawn dashed (any stations and times).
        start: ``UTCDateTime`` of the span start (continuous files only), or None.
        duration_s: span length in seconds, or None.
        fmt: ``"png"`` or ``"pdf"`` (any matplotlib format).
        npz_options: reader options for NPZ files.
        **options: keyword options of :func:`picker.prediction.predict.predict_array`.

    Raises:
        InputError: the file cannot be read (message names it).
    """
    from picker.io import WINDOW_FORMATS
    from picker.io.groups import input_format

    path, fmt_in = input_format(path)
    if predict:
        from picker.prediction.predict import resolve_model

        model = resolve_model(model)
    if fmt_in in WINDOW_FORMATS:
        views = _window_views(
            path, fmt_in, model if predict else None, reference, npz_options, options
        )
    else:
        views = _stream_views(
            path, model if predict else None, reference, start, duration_s, options
        )
    written = []
    for name_parts, view in views:
        written.append(
            plot_view(
                view,
                path_in_folder(folder, figure_name(*name_parts, suffix=fmt)),
                fmt=fmt,
                dpi=dpi,
            )
        )
    return written


def _window_views(path: Path, fmt: str, model, reference, npz_options, options):
    """Yield ``(name parts, TraceView)`` per record of a window file."""
    from picker.prediction.predict import iter_window_records, predict_array, record_station_id
    from picker.preprocess.model_input import MODEL_SAMPLING_RATE_HZ

    for record in iter_window_records(path, fmt, npz_options):
        rate = record.sampling_rate_hz
        station_id = record_station_id(record, path)
        own = [
            (phase, sample / rate)
            for phase, sample in (("P", record.p_arrival_sample), ("S", record.s_arrival_sample))
            if sample >= 0
        ]
        view = TraceView(
            data=np.nan_to_num(record.data),
            sampling_rate_hz=rate,
            start_time=record.start_time,
            station_id=station_id,
            channels=_channel_labels(record.channels, station_id),
            reference_picks=own
            + reference_seconds(
                reference, station_id, record.start_time, rate, record.duration_s, path.name
            ),
            title=path.name,
        )
        if model is not None:
            picks, probabilities = predict_array(
                record.data,
                rate,
                model,
                start_time=record.start_time,
                station_id=station_id,
                source=path.name,
                return_probabilities=True,
                **options,
            )
            view.picks = [(p.phase, p.index / rate) for p in picks]
            view.probabilities = probabilities
            view.probabilities_rate_hz = MODEL_SAMPLING_RATE_HZ
        yield (path.stem, record.name or station_id), view


def _channel_labels(channels, station_id: str) -> tuple[str, str, str]:
    """Panel labels: the channel codes, else ``<band code><E|N|Z>``."""
    band = station_id.split(".")[3] if station_id.count(".") >= 3 else ""
    return tuple(c or f"{band}{comp}" for c, comp in zip(channels, "ENZ", strict=True))


def _segment_name(station) -> str:
    """A station's figure name: its id, plus the start of a later segment of a station split
    at a long gap (as :func:`picker.prediction.predict.iter_stream` names its results)."""
    from picker.io.stream import segment_name

    if not station.first_sample:
        return station.station_id
    return segment_name(station.station_id, station.start_time)


def _stream_views(path, model, reference, start, duration_s, options):
    """Yield ``(name parts, TraceView)`` per station and span of a continuous file (a Path) or
    :class:`~picker.io.groups.FileGroup`."""
    from picker.io.groups import read_input_stream
    from picker.io.stream import SPLIT_GAP_S, header_picks_by_station
    from picker.prediction.predict import iter_stream
    from picker.prediction.stations import iter_stations
    from picker.preprocess.model_input import MODEL_SAMPLING_RATE_HZ

    stream = read_input_stream(path)
    marked = header_picks_by_station(
        stream
    )  # before slicing: SAC marker times count from the file start
    data_start = min(tr.stats.starttime for tr in stream)
    data_end = max(tr.stats.endtime for tr in stream)
    spans = time_spans(data_start, data_end, start, duration_s)
    if not spans or spans[0][0] > data_end or spans[-1][1] < data_start:
        log.warning("%s: no data in the requested time span", path)
        return
    tagged = start is not None or duration_s is not None
    stream = stream.slice(spans[0][0] - CONTEXT_S, spans[-1][1] + CONTEXT_S)
    try:
        if model is not None:
            stations = (
                (r.station_id, r.name, r.data, r.sampling_rate_hz, r.start_time, None, r)
                for r in iter_stream(stream, model, source=path.name, **options)
            )
        else:  # split at long gaps as prediction does: memory follows the data, not the span
            stations = (
                (
                    s.station_id,
                    _segment_name(s),
                    s.data,
                    s.sampling_rate_hz,
                    s.start_time,
                    s.channels,
                    None,
                )
                for s in iter_stations(stream, source=path.name, split_gap_s=SPLIT_GAP_S)
            )
        for station_id, name, data, rate, station_start, channels, result in stations:
            full = TraceView(
                data=data,
                sampling_rate_hz=rate,
                start_time=station_start,
                station_id=station_id,
                channels=_channel_labels(channels or ("", "", ""), station_id),
                reference_picks=[
                    (phase, time - station_start)
                    for phase, time in marked.get(station_id, {}).items()
                    if 0 <= time - station_start <= len(data) / rate
                ]
                + reference_seconds(
                    reference, station_id, station_start, rate, len(data) / rate, path.name
                ),
                title=path.name,
            )
            if result is not None:
                full.picks = [(p.phase, p.index / rate) for p in result.picks]
                full.probabilities = result.probabilities
                full.probabilities_rate_hz = MODEL_SAMPLING_RATE_HZ
            for span_start, span_end in spans:
                view = full.crop(span_start - station_start, span_end - station_start)
                if len(view.data) == 0:
                    continue
                tag = span_start.strftime("%Y%m%dT%H%M%S") if tagged else ""
                yield (path.stem, name, tag), view
    except InputError as err:
        raise InputError(str(err) if str(path) in str(err) else f"{path}: {err}") from None
