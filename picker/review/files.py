"""Review figures of whole input files (``picker plot``), and of ``predict --plot``'s results.

* Window files (NPZ, TFRecord, HDF5): one figure per record, named ``<file stem>__<record>``,
  with the record's own P / S arrivals as reference picks.
* Continuous files (any ObsPy format): one figure per station and time span, named
  ``<file stem>__<station id>[__<span start YYYYmmddTHHMMSS>]``. Spans (:func:`time_spans`):
  the whole file by default; ``start`` and ``duration_s`` together give one span; ``start``
  alone runs to the end of the data; ``duration_s`` alone tiles the file from its first sample,
  the tiles overlapping by :data:`TILE_OVERLAP` of their length, so a pick on a tile's edge is
  whole in the next one. The model sees :data:`CONTEXT_S` extra on both sides of the spans (as
  much as the file has), so picks near a span's edges are the ones a longer run would make.
* Spans of window records follow the same rules on the record's own times. A record without
  a start time (an NPZ file without ``start_time``) has no UTC to place ``start`` on: ``start``
  is then a one-line :class:`~picker.io.base.InputError` naming the file and record, while
  ``duration_s`` alone tiles it in seconds from its first sample (tags ``<seconds>s``).

Every figure is built by :func:`result_view` (``predict --plot`` calls it through
:func:`plot_result`), so both paths label panels alike: the channel codes (``HHZ``), else the
band code and component (``HH`` + ``Z``), and the amplitude unit from the file when it has one.
The traces drawn are the raw data, the model's high-pass of them (``"filtered"``, the
default: :func:`picker.review.figures.high_passed` at the model's ``highpass_hz``, applied to
the whole station before it is cut into spans) or both.

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

__all__ = [
    "CONTEXT_S",
    "TILE_OVERLAP",
    "file_views",
    "model_highpass_hz",
    "plot_file",
    "plot_result",
    "reference_seconds",
    "result_view",
    "time_spans",
]

log = logging.getLogger(__name__)

#: Extra data (s) the model sees on each side of the plotted spans.
CONTEXT_S = 60.0
#: Tiles of ``duration_s`` overlap by this fraction of their length.
TILE_OVERLAP = 0.1


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
    """The ``(start, end)`` spans to draw (rules in the module docstring): UTC times, or
    seconds when ``data_start`` and ``data_end`` are numbers. Tiles (``duration_s`` alone)
    start every ``(1 - TILE_OVERLAP) * duration_s`` until one reaches ``data_end``."""
    if duration_s is not None and not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    if start is not None:
        end = start + duration_s if duration_s is not None else data_end
        return [(start, end)] if end > start else []
    if duration_s is None:
        return [(data_start, data_end)]
    step_s = duration_s * (1.0 - TILE_OVERLAP)
    n_spans = max(1, int(np.ceil((data_end - data_start - duration_s) / step_s - 1e-9)) + 1)
    return [(data_start + k * step_s, data_start + k * step_s + duration_s) for k in range(n_spans)]


#: The high-pass of the "filtered" trace of a model whose input has none (the bundled model and
#: the imported published ones read unfiltered windows): the traces are still drawn filtered.
REVIEW_HIGHPASS_HZ = 1.0


def model_highpass_hz(model=None, options: dict | None = None) -> float:
    """The high-pass corner (Hz) of the "filtered" trace: ``options["highpass_hz"]`` when set,
    else that of the model's input (its :class:`~picker.models.saving.InputSettings`; defaults
    for None), else, for a model without one, :data:`REVIEW_HIGHPASS_HZ`."""
    from picker.models.saving import input_settings

    given = (options or {}).get("highpass_hz")
    if given is not None:
        return float(given)
    return float(input_settings(model).highpass_hz) or REVIEW_HIGHPASS_HZ


def _channel_labels(channels, station_id: str) -> tuple[str, str, str]:
    """Panel labels: the channel codes, else ``<band code><E|N|Z>``."""
    band = station_id.split(".")[3] if station_id.count(".") >= 3 else ""
    return tuple(c or f"{band}{comp}" for c, comp in zip(channels, "ENZ", strict=True))


def _seconds(pick: Pick, start_time, rate_hz: float) -> float:
    """A pick's seconds from ``start_time``: by its time when both are known, else its index."""
    if pick.time and start_time is not None:
        return float(pick.utc() - start_time)
    return pick.index / rate_hz


def result_view(
    result,
    *,
    reference: Sequence[tuple] = (),
    title: str | None = None,
    highpass_hz: float | None = None,
) -> TraceView:
    """The :class:`TraceView` of one station or record.

    Args:
        result: a :class:`~picker.prediction.predict.StationResult` (picks and probabilities
            drawn) or a :class:`~picker.prediction.stations.StationData` (data only).
        reference: reference picks as ``(phase, seconds from the data's first sample)``.
        title: title text; None: the result's source file.
        highpass_hz: when set, the view also holds the data high-passed at this corner (the
            model's input filter, :meth:`TraceView.with_filtered`).
    """
    from picker.preprocess.model_input import MODEL_SAMPLING_RATE_HZ

    rate = result.sampling_rate_hz
    picks = getattr(result, "picks", None)
    probabilities = getattr(result, "probabilities", None)
    view = TraceView(
        data=np.nan_to_num(result.data),
        sampling_rate_hz=rate,
        start_time=result.start_time,
        station_id=result.station_id,
        channels=_channel_labels(result.channels or ("", "", ""), result.station_id),
        probabilities=probabilities,
        probabilities_rate_hz=None if probabilities is None else MODEL_SAMPLING_RATE_HZ,
        picks=[(p.phase, _seconds(p, result.start_time, rate), p.probability) for p in picks or ()],
        reference_picks=list(reference),
        title=getattr(result, "source", "") if title is None else title,
        unit=getattr(result, "unit", ""),
    )
    return view if highpass_hz is None else view.with_filtered(highpass_hz)


def plot_result(
    result,
    folder: str | os.PathLike,
    *,
    highpass_hz: float | None = None,
    trace: str = "filtered",
    fmt: str = "png",
    dpi: float = 100,
) -> Path:
    """``predict --plot``: the figure of one :class:`~picker.prediction.predict.StationResult`,
    written to ``folder`` as ``<source stem>__<result name>.<fmt>``.

    Args:
        highpass_hz: the model's high-pass corner (:func:`model_highpass_hz`); None: the
            default model input's.
        trace: ``"raw"``, ``"filtered"`` or ``"both"`` (:func:`picker.review.figures.review_figure`).
    """
    if trace != "raw" and highpass_hz is None:
        highpass_hz = model_highpass_hz()
    view = result_view(result, highpass_hz=None if trace == "raw" else highpass_hz)
    name = figure_name(Path(result.source).stem, result.name, suffix=fmt)
    return plot_view(view, path_in_folder(folder, name), fmt=fmt, dpi=dpi, trace=trace)


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
    trace: str = "filtered",
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
        start: ``UTCDateTime`` of the span start, or None.
        duration_s: span length in seconds, or None.
        fmt: ``"png"`` or ``"pdf"`` (any matplotlib format).
        npz_options: reader options for NPZ files.
        trace: ``"raw"``, ``"filtered"`` (the model's high-pass) or ``"both"``.
        **options: keyword options of :func:`picker.prediction.predict.predict_array`.

    Raises:
        InputError: the file cannot be read, or ``start`` is given for a record without a
            start time (message names the file).
    """
    written = []
    for name_parts, view in file_views(
        path,
        model,
        predict=predict,
        reference=reference,
        start=start,
        duration_s=duration_s,
        npz_options=npz_options,
        trace=trace,
        **options,
    ):
        name = figure_name(*name_parts, suffix=fmt)
        written.append(plot_view(view, path_in_folder(folder, name), fmt=fmt, dpi=dpi, trace=trace))
    return written


def file_views(
    path: str | os.PathLike,
    model=None,
    *,
    predict: bool = True,
    reference: Sequence[Pick] = (),
    start=None,
    duration_s: float | None = None,
    npz_options: dict | None = None,
    trace: str = "filtered",
    **options,
):
    """Yield ``(name parts, TraceView)`` per figure of one input file (arguments as in
    :func:`plot_file`); draw them with :func:`picker.review.figures.review_figure` (in a
    notebook: ``display(review_figure(view))``)."""
    from picker.io import WINDOW_FORMATS
    from picker.io.groups import input_format

    path, fmt_in = input_format(path)
    if predict:
        from picker.prediction.predict import resolve_model

        model = resolve_model(model)
    highpass_hz = None if trace == "raw" else model_highpass_hz(model if predict else None, options)
    spans = (start, duration_s)
    if fmt_in in WINDOW_FORMATS:
        yield from _window_views(
            path, fmt_in, model if predict else None, reference, npz_options, options, spans,
            highpass_hz,
        )  # fmt: skip
    else:
        yield from _stream_views(
            path, model if predict else None, reference, spans, options, highpass_hz
        )


def _window_views(path: Path, fmt: str, model, reference, npz_options, options, spans, hp_hz):
    """Yield ``(name parts, TraceView)`` per record (and span) of a window file."""
    from picker.prediction.predict import (
        StationResult,
        iter_window_records,
        predict_array,
        record_station_id,
    )

    start, duration_s = spans
    for record in iter_window_records(path, fmt, npz_options):
        rate = record.sampling_rate_hz
        station_id = record_station_id(record, path)
        name = record.name or station_id
        if start is not None and record.start_time is None:
            raise InputError(
                f"{path}: record {name} has no start time to place --start in; drop --start "
                "(--duration alone tiles it from its first sample)"
            )
        own = [
            (phase, sample / rate)
            for phase, sample in (("P", record.p_arrival_sample), ("S", record.s_arrival_sample))
            if sample >= 0
        ]
        result = StationResult(
            source=path.name,
            station_id=station_id,
            name=name,
            picks=[],
            probabilities=None,
            data=record.data,
            sampling_rate_hz=rate,
            start_time=record.start_time,
            channels=record.channels,
            unit=record.extra.get("unit", ""),
        )
        if model is not None:
            result.picks, result.probabilities = predict_array(
                record.data,
                rate,
                model,
                start_time=record.start_time,
                station_id=station_id,
                source=path.name,
                return_probabilities=True,
                **options,
            )
        full = result_view(
            result,
            reference=own
            + reference_seconds(
                reference, station_id, record.start_time, rate, record.duration_s, path.name
            ),
            highpass_hz=hp_hz,
        )
        yield from _spans_of(full, (path.stem, name), start, duration_s)


def _spans_of(full: TraceView, name_parts: tuple, start, duration_s):
    """``(name parts, view)`` of the spans of ``full`` (the whole of it when neither is given);
    spans without data are skipped."""
    if start is None and duration_s is None:
        yield name_parts, full
        return
    origin = full.start_time
    if origin is None:  # seconds from the first sample (start is None here)
        spans = time_spans(0.0, full.duration_s, None, duration_s)
    else:
        spans = [
            (a - origin, b - origin)
            for a, b in time_spans(origin, origin + full.duration_s, start, duration_s)
        ]
    for span_start_s, span_end_s in spans:
        view = full.crop(span_start_s, span_end_s)
        if len(view.data) == 0:
            continue
        if origin is None:
            tag = f"{span_start_s:g}s"
        else:
            tag = (origin + span_start_s).strftime("%Y%m%dT%H%M%S")
        yield (*name_parts, tag), view


def _segment_name(station) -> str:
    """A station's figure name: its id, plus the start of a later segment of a station split
    at a long gap (as :func:`picker.prediction.predict.iter_stream` names its results)."""
    from picker.io.stream import segment_name

    if not station.first_sample:
        return station.station_id
    return segment_name(station.station_id, station.start_time)


def _stream_views(path, model, reference, spans, options, hp_hz):
    """Yield ``(name parts, TraceView)`` per station and span of a continuous file (a Path) or
    :class:`~picker.io.groups.FileGroup`."""
    from picker.io.groups import read_input_stream
    from picker.io.stream import SPLIT_GAP_S, header_picks_by_station
    from picker.prediction.predict import iter_stream
    from picker.prediction.stations import iter_stations

    start, duration_s = spans
    stream = read_input_stream(path)
    # before slicing: SAC marker times count from the file start
    marked = header_picks_by_station(stream)
    data_start = min(tr.stats.starttime for tr in stream)
    data_end = max(tr.stats.endtime for tr in stream)
    wanted = time_spans(data_start, data_end, start, duration_s)
    if not wanted or wanted[0][0] > data_end or wanted[-1][1] < data_start:
        log.warning("%s: no data in the requested time span", path)
        return
    stream = stream.slice(wanted[0][0] - CONTEXT_S, wanted[-1][1] + CONTEXT_S)
    try:
        if model is not None:
            stations = iter_stream(stream, model, source=path.name, **options)
        else:  # split at long gaps as prediction does: memory follows the data, not the span
            stations = iter_stations(stream, source=path.name, split_gap_s=SPLIT_GAP_S)
        for station in stations:
            name = station.name if model is not None else _segment_name(station)
            station_start, rate = station.start_time, station.sampling_rate_hz
            duration = len(station.data) / rate
            full = result_view(
                station,
                reference=[
                    (phase, time - station_start)
                    for phase, time in marked.get(station.station_id, {}).items()
                    if 0 <= time - station_start <= duration
                ]
                + reference_seconds(
                    reference, station.station_id, station_start, rate, duration, path.name
                ),
                title=path.name,
                highpass_hz=hp_hz,
            )
            for span_start, span_end in wanted:
                view = full.crop(span_start - station_start, span_end - station_start)
                if len(view.data) == 0:
                    continue
                tagged = start is not None or duration_s is not None
                tag = span_start.strftime("%Y%m%dT%H%M%S") if tagged else ""
                yield (path.stem, name, tag), view
    except InputError as err:
        raise InputError(str(err) if str(path) in str(err) else f"{path}: {err}") from None
