"""Pick P and S arrivals on new waveforms: arrays, ObsPy streams and files.

Pipeline for one station or window (:func:`predict_array`):

1. gaps (``valid_mask`` False, or non-finite samples) are zero-filled;
2. the data are resampled to the model rate :data:`MODEL_SAMPLING_RATE_HZ` (polyphase,
   anti-alias filtered) when their rate differs;
3. the model runs (:func:`picker.prediction.inference.run_model`) over chunks of ``chunk_s`` with
   ``context_s`` extra on both sides (cut at the data's ends, never padded); only each chunk's
   core is kept. Chunk and context lengths are
   rounded up to multiples of the model's total stride, so every chunk sits on the model's
   down-sampling grid. Each chunk is preprocessed on its own with
   :func:`~picker.preprocess.model_input.model_input` (causal ``highpass_hz`` high-pass, then running std
   over ``normalization_window_s``), exactly as training windows are: both come from the
   model's :class:`~picker.models.saving.InputSettings` unless given.
   With ``context_s >= normalization_window_s / 2 +`` the model's receptive half-width, results
   do not depend on where chunks start; memory is bounded by a few batches of ``batch_size``
   chunks (default: 1 chunk per call for ONNX models, which run one call per core at once; 4
   for Keras models). A model trained on windows normalised one by one (the imported
   PhaseNet and EQTransformer, ``InputSettings.normalization == "std"``) runs instead on
   overlapping windows of its length, each normalised alone, merged as
   :mod:`picker.prediction.windows` says (``window_overlap``, ``window_merge``);
4. P and S probabilities are set to 0 (noise 1) wherever no pick is allowed: inside gaps and
   within ``gap_margin_s`` (default :data:`GAP_MARGIN_S` = 0.5 s) of a gap edge;
5. :func:`picker.picks.peaks.extract_picks` finds the peaks on the full-length probabilities.

Returned probabilities are ``(n_model_samples, 3)`` float32 noise/P/S **at the model rate**
(100 Hz), sample 0 at the input's start time. Pick ``index`` is a sample of the **input** at
its own rate: ``round(model_index / f)``, ``f`` the resampling factor (``100 / input_rate``
to 1e-7: :func:`~picker.preprocess.resample.resampling_factor`); ``time`` is ``start_time +
index / input_rate`` (ISO-8601, ``""`` without a start time).

Streams (:func:`predict_stream`) are split into stations by :mod:`picker.prediction.stations` (merge
with gap masks, per-segment demeaning, union time base; mixed sampling rates in one station are
an :class:`~picker.io.base.InputError`). Files (:func:`predict_file`): NPZ / TFRecord / HDF5
windows go record by record, anything else through ``obspy.read``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from picker.config import ConfigError, PredictConfig
from picker.io import WINDOW_FORMATS
from picker.io.base import InputError, named_error
from picker.io.stream import SPLIT_GAP_S, segment_name
from picker.picks.peaks import extract_picks
from picker.picks.pick import Pick, format_time
from picker.prediction.inference import run_model
from picker.prediction.stations import iter_stations, pickable_mask
from picker.preprocess.model_input import MODEL_SAMPLING_RATE_HZ

__all__ = [
    "GAP_MARGIN_S",
    "MODEL_SAMPLING_RATE_HZ",
    "StationResult",
    "iter_file",
    "iter_stream",
    "iter_window_records",
    "predict_array",
    "predict_file",
    "predict_stream",
    "record_station_id",
    "resolve_model",
]

log = logging.getLogger(__name__)

#: No pick within this many seconds of a gap edge (the step at a gap edge is not an arrival).
GAP_MARGIN_S = 0.5

_OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(PredictConfig))


@dataclass(eq=False)
class StationResult:
    """Picks and probabilities of one station (stream input) or one record (window input).

    Attributes:
        source: input file name (``""`` for in-memory input).
        station_id: ``NET.STA.LOC.CH``.
        name: unique name within the source (station id for streams, record name for windows).
        picks: the picks, sorted by index then phase.
        probabilities: ``(n_model_samples, 3)`` float32 noise/P/S at
            :data:`MODEL_SAMPLING_RATE_HZ`, sample 0 at ``start_time``.
        data: ``(n_samples, 3)`` float32 E, N, Z input at ``sampling_rate_hz`` (gaps zero).
        sampling_rate_hz: the input's rate.
        start_time: ``obspy.UTCDateTime`` of sample 0, or None.
        is_stream: True for continuous (ObsPy) input.
        detection: ``(n_model_samples,)`` float32 earthquake-detection probability beside
            ``probabilities``, for a model that has one (EQTransformer), else None.
        channels: channel codes of the E, N, Z columns (``""`` where unknown or missing).
        unit: the data's amplitude unit (``counts``, ``nm/s``, an NPZ ``unit``), ``""``
            when unknown.
    """

    source: str
    station_id: str
    name: str
    picks: list[Pick]
    probabilities: np.ndarray
    data: np.ndarray
    sampling_rate_hz: float
    start_time: object = None
    is_stream: bool = False
    detection: np.ndarray | None = None
    channels: tuple[str, str, str] = ("", "", "")
    unit: str = ""


# ----------------------------------------------------------------------------- options and model


#: Options that make the model's input (and, for a windowed model, its window step): unless
#: given, taken from the model's :class:`~picker.models.saving.InputSettings`, so it is run on
#: what it was trained on.
_INPUT_OPTIONS = ("highpass_hz", "normalization_window_s", "window_overlap", "window_merge")


def _config(options: dict, model=None) -> tuple[PredictConfig, float]:
    """(validated PredictConfig, gap margin in s) from keyword options.

    ``highpass_hz`` and ``normalization_window_s`` left out or None come from ``model``'s
    input settings (the defaults when ``model`` is None, for checking options only).

    Raises:
        ConfigError: a bad option value, or a model trained on input picker predict cannot make
            (another rate or normalisation).
    """
    from picker.models.saving import InputSettings, input_settings

    options = {k: v for k, v in options.items() if not (k in _INPUT_OPTIONS and v is None)}
    gap_margin_s = float(options.pop("gap_margin_s", GAP_MARGIN_S))
    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        raise TypeError(f"unknown prediction option(s) {unknown}; known: {sorted(_OPTION_NAMES)}")
    settings = input_settings(model) if model is not None else InputSettings()
    settings.check_predictable(getattr(model, "name", ""), MODEL_SAMPLING_RATE_HZ)
    for name in _INPUT_OPTIONS:
        options.setdefault(name, getattr(settings, name))
    cfg = PredictConfig(**options)
    cfg.validate()
    if not gap_margin_s >= 0:
        raise ConfigError(f"predict.gap_margin_s must be >= 0, got {gap_margin_s}")
    return cfg, gap_margin_s


def check_options(**options) -> None:
    """Raise :class:`~picker.config.ConfigError` (or TypeError) for bad prediction options."""
    _config(options)


def bundled_runs_on_onnx() -> bool:
    """True when the bundled model runs on ONNX Runtime (its export and ``onnxruntime`` exist)."""
    import importlib.util

    from picker.models.onnx_model import BUNDLED_ONNX

    return BUNDLED_ONNX.is_file() and importlib.util.find_spec("onnxruntime") is not None


@functools.lru_cache(maxsize=1)
def _bundled_model():
    """The bundled model: its ONNX export when ONNX Runtime is installed, else the Keras file."""
    if bundled_runs_on_onnx():
        from picker.models.onnx_model import BUNDLED_ONNX, OnnxModel

        return OnnxModel(BUNDLED_ONNX)
    from picker.models.saving import load_model

    return load_model(None)


def resolve_model(model=None):
    """A runnable model from ``model``.

    None → the bundled model (its ONNX export, run by ONNX Runtime without TensorFlow, when
    ``onnxruntime`` is installed); a ``.onnx`` path → :class:`~picker.models.onnx_model.OnnxModel`;
    another path → the Keras model loaded from it; a model object → as is.
    """
    if model is None:
        return _bundled_model()
    if isinstance(model, str | os.PathLike):
        from picker.models.onnx_model import OnnxModel, is_onnx_path

        if is_onnx_path(model):
            return OnnxModel(model)
        from picker.models.saving import load_model

        return load_model(model)
    return model


# ----------------------------------------------------------------------------- arrays


def predict_array(
    data: np.ndarray,
    sampling_rate_hz: float,
    model=None,
    *,
    start_time=None,
    station_id: str = "",
    source: str = "",
    p_threshold: float = 0.5,
    s_threshold: float = 0.5,
    min_pick_distance_s: float = 0.5,
    chunk_s: float = 600.0,
    context_s: float = 30.0,
    normalization_window_s: float | None = None,
    highpass_hz: float | None = None,
    batch_size: int | None = None,
    valid_mask: np.ndarray | None = None,
    gap_margin_s: float = GAP_MARGIN_S,
    return_probabilities: bool = False,
    window_overlap: float | None = None,
    window_merge: str | None = None,
):
    """Pick P and S on one three-component array.

    Args:
        data: ``(n_samples, 3)`` float, columns E, N, Z, at ``sampling_rate_hz``.
        sampling_rate_hz: the data's rate (any; resampled to 100 Hz for the model).
        model: a Keras picker model, a ``.keras`` path, or None for the bundled model.
        start_time: ``obspy.UTCDateTime`` (or anything it accepts) of sample 0, or None.
        station_id, source: copied into every pick.
        p_threshold, s_threshold: minimum peak probability, 0–1.
        min_pick_distance_s: same-phase peaks closer than this keep only the higher one.
        chunk_s, context_s, batch_size: see the module docstring.
        normalization_window_s, highpass_hz: the model input's normalisation window and
            high-pass corner; None (default): as the model was trained
            (:class:`~picker.models.saving.InputSettings`).
        valid_mask: ``(n_samples,)`` bool, False inside gaps (zero-filled; no picks there or
            within ``gap_margin_s`` of a gap edge). None: all valid. Non-finite samples are
            always treated as gaps.
        return_probabilities: also return the probabilities.
        window_overlap, window_merge: for models trained on windows normalised one by one
            (the bundled model, imported PhaseNet, EQTransformer): see
            :mod:`picker.prediction.windows`; None: the model's own (its
            :class:`~picker.models.saving.InputSettings`; 0.5 and ``"center"`` unless it says
            otherwise).

    Returns:
        Picks sorted by index then phase (``index`` at the input rate); with
        ``return_probabilities`` also ``(n_model_samples, 3)`` float32 noise/P/S at 100 Hz.
    """
    from obspy import UTCDateTime

    model = resolve_model(model)
    cfg, margin_s = _config(
        dict(
            p_threshold=p_threshold,
            s_threshold=s_threshold,
            min_pick_distance_s=min_pick_distance_s,
            chunk_s=chunk_s,
            context_s=context_s,
            normalization_window_s=normalization_window_s,
            highpass_hz=highpass_hz,
            batch_size=batch_size,
            gap_margin_s=gap_margin_s,
            window_overlap=window_overlap,
            window_merge=window_merge,
        ),
        model,
    )
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != 3:
        raise ValueError(
            f"data must have shape (n_samples, 3) with columns E, N, Z, got {data.shape}"
        )
    rate = float(sampling_rate_hz)
    if not (np.isfinite(rate) and rate > 0):
        raise ValueError(f"sampling_rate_hz must be > 0, got {sampling_rate_hz}")
    valid = np.ones(len(data), bool) if valid_mask is None else np.asarray(valid_mask, bool)
    if valid.shape != (len(data),):
        raise ValueError(f"valid_mask must have shape ({len(data)},), got {valid.shape}")
    valid = valid & np.isfinite(data).all(axis=1)
    x = np.where(valid[:, None], data, 0).astype(np.float32)
    pickable = pickable_mask(valid, round(margin_s * rate))
    start = UTCDateTime(start_time) if start_time is not None else None
    picks, probabilities, _ = _predict(
        x,
        rate,
        pickable,
        model=model,
        cfg=cfg,
        start_time=start,
        station_id=station_id,
        source=source,
    )
    return (picks, probabilities) if return_probabilities else picks


def _predict(x, rate, pickable, *, model, cfg, start_time, station_id, source):
    """Picks, model-rate probabilities ``(n_model, 3)`` and detection ``(n_model,)`` (None for
    models without one) for zero-filled ``(n, 3)`` data and its pickable mask."""
    from picker.preprocess.resample import resample_window, resampling_factor

    n_in = len(x)
    if n_in == 0:
        return [], np.zeros((0, 3), np.float32), None
    x_model, _, _ = resample_window(x, rate, MODEL_SAMPLING_RATE_HZ)
    outputs = run_model(model, np.asarray(x_model, np.float32), cfg)
    probabilities, detection = outputs, None
    if outputs.shape[1] > 3:  # EQTransformer: noise, P, S, detection
        probabilities, detection = np.ascontiguousarray(outputs[:, :3]), outputs[:, 3].copy()
    del outputs
    ratio = float(1 / resampling_factor(rate, MODEL_SAMPLING_RATE_HZ))  # as resampled

    def index_in(model_index: np.ndarray) -> np.ndarray:
        return np.clip(np.round(model_index * ratio), 0, n_in - 1).astype(np.int64)

    step = 1 << 20  # blocks of model samples: no day-long float64 index arrays
    for start in range(0, len(probabilities), step):
        stop = min(start + step, len(probabilities))
        if ratio == 1.0:
            blocked = ~pickable[start:stop]
        else:
            blocked = ~pickable[index_in(np.arange(start, stop))]
        block = probabilities[start:stop]
        block[blocked, 1:] = 0.0
        block[blocked, 0] = 1.0
        if detection is not None:
            detection[start:stop][blocked] = 0.0
    found = extract_picks(
        probabilities,
        p_threshold=cfg.p_threshold,
        s_threshold=cfg.s_threshold,
        min_distance_samples=round(cfg.min_pick_distance_s * MODEL_SAMPLING_RATE_HZ),
    )
    picks = []
    for phase, i_model, value in found:
        index = int(index_in(np.array(i_model)))
        time = format_time(start_time + index / rate) if start_time is not None else ""
        picks.append(Pick(source, station_id, phase, time, index, round(float(value), 6)))
    return picks, probabilities, detection


# ----------------------------------------------------------------------------- streams and files


def iter_stream(
    stream,
    model=None,
    *,
    source: str = "",
    stations: Collection[str] | None = None,
    consume: bool = False,
    **options,
) -> Iterator[StationResult]:
    """Yield one :class:`StationResult` per station of an ObsPy ``stream``.

    A station with a gap longer than :data:`SPLIT_GAP_S` gives one result per segment (the
    later ones named ``<station id>.<start YYYYmmddTHHMMSS>``); pick indices still count
    from the station's first sample, pick times are absolute.

    Args:
        stream: ``obspy.Stream``; traces grouped by ``NET.STA.LOC`` + band/instrument code.
        model: as in :func:`predict_array`.
        source: copied into every pick (the file name when called from a file).
        stations: station ids to process (all when None).
        consume: remove each station's traces from ``stream`` once its array is built, so the
            raw samples are freed early (for a stream read only for this).
        **options: the keyword options of :func:`predict_array` (thresholds, chunking, ...).

    Raises:
        InputError: a station with mixed sampling rates or bad component codes.
    """
    model = resolve_model(model)
    cfg, margin_s = _config(options, model)
    stations = iter_stations(
        stream, stations, consume=consume, source=source, split_gap_s=SPLIT_GAP_S
    )
    for station in stations:
        rate = station.sampling_rate_hz
        pickable = pickable_mask(station.valid[station.present], round(margin_s * rate))
        picks, probabilities, detection = _predict(
            station.data,
            rate,
            pickable,
            model=model,
            cfg=cfg,
            start_time=station.start_time,
            station_id=station.station_id,
            source=source,
        )
        name = station.station_id
        if station.first_sample:  # a later segment of a station split at a long gap
            name = segment_name(name, station.start_time)
            picks = [dataclasses.replace(p, index=p.index + station.first_sample) for p in picks]
        box = [
            StationResult(
                source=source,
                station_id=station.station_id,
                name=name,
                picks=picks,
                probabilities=probabilities,
                data=station.data,
                sampling_rate_hz=rate,
                start_time=station.start_time,
                is_stream=True,
                detection=detection,
                channels=station.channels,
                unit=station.unit,
            )
        ]
        del station, pickable, picks, probabilities, detection
        yield box.pop()  # no reference kept here while the caller works on it


def predict_stream(stream, model=None, *, return_probabilities: bool = False, **options):
    """Picks of every station of an ObsPy ``stream`` (see :func:`iter_stream` for the options).

    Returns:
        Picks sorted by station, then index; with ``return_probabilities`` also
        ``{result name: (n_model_samples, 3) float32 noise/P/S at 100 Hz}`` (the name is the
        station id, plus the segment's start for a station split at a long gap).
    """
    results = list(iter_stream(stream, model, **options))
    picks = [p for result in results for p in result.picks]
    if return_probabilities:
        return picks, {result.name: result.probabilities for result in results}
    return picks


def iter_file(
    path: str | os.PathLike,
    model=None,
    *,
    stations: Collection[str] | None = None,
    npz_options: dict | None = None,
    **options,
) -> Iterator[StationResult]:
    """Yield the results of one file: per record (NPZ / TFRecord / HDF5) or per station (ObsPy).

    Args:
        path: a waveform file or SeisBench folder, or a
            :class:`~picker.io.groups.FileGroup` of single-component files.
        stations: for stream files, the station ids to process (all when None); ignored for
            window files.
        npz_options: reader options for NPZ files (``layout``, ``component_order``).
        **options: the keyword options of :func:`predict_array`.

    Raises:
        InputError: the file cannot be read (message names it, one line). For window files the
            records before a bad one have already been yielded.
    """
    from picker.io.groups import input_format, read_input_stream

    model = resolve_model(model)
    cfg, margin_s = _config(options, model)
    path, fmt = input_format(path)  # an unknown format: an InputError naming the file
    source = path.name
    if fmt not in WINDOW_FORMATS:  # a file, or a FileGroup of one file per component
        from picker.prediction import long_files

        plan = long_files.plan_days(path, cfg.context_s)
        try:
            if plan is None:  # an unreadable file: an InputError naming it
                stream = read_input_stream(path)
                yield from iter_stream(
                    stream, model, source=source, stations=stations, consume=True, **options
                )
            else:  # a long miniSEED file: one UTC day at a time, bounded memory
                yield from long_files.iter_long_file(
                    path,
                    *plan,
                    lambda day: iter_stream(day, model, source=source, consume=True, **options),
                    context_s=cfg.context_s,
                    stations=stations,
                )
        except InputError as err:
            raise named_error(path, err) from None
        return
    for record in iter_window_records(path, fmt, npz_options):
        rate = record.sampling_rate_hz
        valid = np.isfinite(record.data).all(axis=1)
        station_id = record_station_id(record, path)
        picks, probabilities, detection = _predict(
            np.where(valid[:, None], record.data, 0).astype(np.float32),
            rate,
            pickable_mask(valid, round(margin_s * rate)),
            model=model,
            cfg=cfg,
            start_time=record.start_time,
            station_id=station_id,
            source=source,
        )
        yield StationResult(
            source=source,
            station_id=station_id,
            name=record.name or station_id,
            picks=picks,
            probabilities=probabilities,
            data=record.data,
            sampling_rate_hz=rate,
            start_time=record.start_time,
            detection=detection,
            channels=record.channels,
            unit=record.extra.get("unit", ""),
        )


def iter_window_records(path: Path, fmt: str, npz_options: dict | None = None) -> Iterator:
    """The records of a window file (NPZ / TFRecord / HDF5), or of SAC event files (a
    :class:`~picker.io.groups.FileGroup` too, :func:`~picker.io.groups.read_input_records`);
    any reader failure becomes an :class:`InputError` naming the file (records before it are
    still yielded)."""
    from picker.io.groups import read_input_records

    records = read_input_records(path, fmt, **((npz_options or {}) if fmt == "npz" else {}))
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except Exception as err:  # any reader failure names the file and stops it
            raise named_error(path, err) from None
        yield record


def record_station_id(record, path) -> str:
    """The station id picks of a window record carry: its own, else its name, else the stem of
    the file ``path`` it came from."""
    return record.station_id or record.name or path.stem


def predict_file(path: str | os.PathLike, model=None, **options) -> list[Pick]:
    """Picks of every record or station in one file (see :func:`iter_file`); source = file name."""
    return [p for result in iter_file(path, model, **options) for p in result.picks]
