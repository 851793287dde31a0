"""``picker evaluate`` over files: the model (and classical baselines) scored on labelled data.

Two kinds of input, which may be mixed in one run:

* **Labelled windows** (NPZ, TFRecord, HDF5): every record is predicted with
  :func:`picker.prediction.predict.predict_array` — the product path, the same preprocessing as
  ``picker predict`` — and compared with the record's own P / S arrival samples. A record
  with neither is a noise window: its picks count towards the false picks per hour.
* **Continuous data** (any ObsPy format) with reference picks (a picks CSV): every station is
  predicted as by ``picker predict``, and the picks are matched to the reference picks of the
  same station (``NET.STA.LOC``) and phase on absolute times with
  :func:`picker.picks.matching.evaluate_picks`. Only reference picks inside the time span of the
  data processed for their station count (each at most once); false picks per hour are all
  false picks per station-hour of continuous data processed.

When both kinds are mixed, the false picks per hour pool them: (false picks on noise windows +
all false picks on continuous data) / (noise-window hours + continuous station-hours).

With a sweep the model's probabilities (returned by the same call) are re-picked at every
threshold of :data:`~picker.evaluation.metrics.SWEEP_THRESHOLDS` (:class:`~picker.evaluation.metrics.ThresholdSweep`):
the model runs once per window or station. Baselines (:mod:`picker.evaluation.baselines`) run on the same
data: STA/LTA on windows and whole continuous traces, AR-AIC on windows only.

:func:`write_report` writes ``metrics.json``, ``metrics.csv``, ``residuals.png`` and, with a
sweep, ``sweep.csv`` and ``precision_recall.png``, each atomically.
"""

from __future__ import annotations

import bisect
import csv
import io
import logging
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from picker.evaluation.metrics import SWEEP_THRESHOLDS, ThresholdSweep
from picker.io.base import InputError, atomic_output, json_ready, json_text, split_station_id
from picker.picks.matching import PickMetrics, evaluate_picks, station_key
from picker.picks.pick import Pick, format_time
from picker.preprocess.model_input import MODEL_SAMPLING_RATE_HZ

__all__ = ["EvaluationReport", "Evaluator", "metrics_csv", "sweep_csv", "write_report"]

log = logging.getLogger(__name__)

MODEL_SOURCE = "model"
CSV_FIELDS = (
    "source",
    "phase",
    "precision",
    "recall",
    "f1",
    "tp",
    "fp",
    "fn",
    "residual_mean_ms",
    "residual_std_ms",
    "residual_mae_ms",
    "false_picks_per_hour",
    "tolerance_s",
    "threshold",
)


@dataclass
class EvaluationReport:
    """The result of a run: metrics per source (``"model"``, ``"stalta"``, ``"ar_aic"``).

    Attributes:
        tolerance_s: matching tolerance in seconds.
        threshold: the model's P and S threshold.
        sources: metrics per source; baselines only when they saw data.
        sweep: the model's threshold sweep, or None.
        counts: ``n_windows``, ``n_noise_windows``, ``n_station_spans``, ``window_hours``,
            ``continuous_hours``, ``n_reference_picks_used``, ``n_reference_picks_outside``.
    """

    tolerance_s: float
    threshold: float
    sources: dict[str, PickMetrics]
    sweep: ThresholdSweep | None = None
    counts: dict[str, float] = field(default_factory=dict)

    def summaries(self) -> dict[str, dict[str, dict[str, float]]]:
        return {name: metrics.summary() for name, metrics in self.sources.items()}

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN → None)."""
        out = {
            "tolerance_s": self.tolerance_s,
            "threshold": self.threshold,
            "counts": self.counts,
            "sources": self.summaries(),
        }
        if self.sweep is not None:
            out["sweep"] = {
                "thresholds": self.sweep.thresholds,
                "rows": self.sweep.rows(),
                "best": self.sweep.best(),
            }
        return json_ready(out)


def _merge(target: PickMetrics, other: PickMetrics) -> PickMetrics:
    for phase, counts in other.phases.items():
        target.phases.setdefault(phase, type(counts)()).add(counts)
    return target


class _References:
    """Reference picks indexed by station and time, handed out once each.

    Stations match as :func:`picker.picks.matching.same_station` says, through two indexes: a pick
    whose station id has no network code (a SEISAN Nordic file names the station alone) is
    filed under its station code and matches any network's station of that code. Picks are
    handed out under the data's station id.
    """

    def __init__(self, picks: list[Pick]):
        self.by_station: dict[str, list[tuple[int, int]]] = {}
        self.by_code: dict[str, list[tuple[int, int]]] = {}  # picks without a network code
        self.picks = picks
        for i, pick in enumerate(picks):
            time = pick.utc()
            if time is None:
                raise InputError(f"reference pick {i + 1} ({pick.station_id}) has no time")
            network, code = split_station_id(pick.station_id)[:2]
            if network:
                self.by_station.setdefault(station_key(pick.station_id), []).append(
                    (int(time.ns), i)
                )
            else:
                self.by_code.setdefault(code, []).append((int(time.ns), i))
        for entries in (*self.by_station.values(), *self.by_code.values()):
            entries.sort()
        self.used: set[int] = set()

    def take(self, station_id: str, start_ns: int, end_ns: int) -> list[Pick]:
        """Not yet used reference picks of the station within ``[start_ns, end_ns]``."""
        chosen = []
        code = split_station_id(station_id)[1]
        for entries in (
            self.by_station.get(station_key(station_id), []),
            self.by_code.get(code, []),
        ):
            lo = bisect.bisect_left(entries, (start_ns, -1))
            hi = bisect.bisect_right(entries, (end_ns, len(self.picks)))
            chosen += [i for _, i in entries[lo:hi] if i not in self.used]
        self.used.update(chosen)
        return [replace(self.picks[i], station_id=station_id) for i in sorted(chosen)]


class Evaluator:
    """Accumulates metrics file by file (see the module docstring).

    Args:
        model: a Keras model (or path, or None for the bundled model).
        tolerance_s: matching tolerance in seconds.
        threshold: the model's P and S threshold.
        sweep: also sweep the thresholds of :data:`SWEEP_THRESHOLDS`.
        baselines: also score the classical pickers of :mod:`picker.evaluation.baselines`.
        reference: reference picks for continuous inputs (None: continuous inputs are errors).
        npz_options: reader options for NPZ files (``layout``, ``component_order``).
        predict_options: further keyword options of ``predict_array`` (``batch_size``, ...).
    """

    def __init__(
        self,
        model=None,
        *,
        tolerance_s: float = 0.1,
        threshold: float = 0.5,
        sweep: bool = False,
        baselines: bool = False,
        reference: list[Pick] | None = None,
        npz_options: dict | None = None,
        predict_options: dict | None = None,
    ):
        from picker.prediction import predict

        if not tolerance_s >= 0:
            raise ValueError(f"tolerance_s must be >= 0, got {tolerance_s}")
        self.options = {"p_threshold": threshold, "s_threshold": threshold} | dict(
            predict_options or {}
        )
        predict.check_options(**self.options)
        self.model = predict.resolve_model(model)
        self.tolerance_s = float(tolerance_s)
        self.threshold = float(threshold)
        self.sweep = (
            ThresholdSweep(
                tolerance_s,
                SWEEP_THRESHOLDS,
                min_pick_distance_s=self.options.get("min_pick_distance_s", 0.5),
                model_rate_hz=MODEL_SAMPLING_RATE_HZ,
            )
            if sweep
            else None
        )
        self.baselines = baselines
        self.reference = _References(reference) if reference is not None else None
        self.npz_options = npz_options or {}
        self.window_metrics: dict[str, PickMetrics] = {}
        self.continuous_picks: dict[str, list[Pick]] = {}
        self.continuous_reference: list[Pick] = []
        self.counts = {
            "n_windows": 0,
            "n_noise_windows": 0,
            "n_station_spans": 0,
            "window_hours": 0.0,
            "continuous_hours": 0.0,
        }

    # ------------------------------------------------------------------------- files

    def add_file(self, path: str | os.PathLike) -> int:
        """Evaluate one file; return the number of windows or station spans it held.

        Raises:
            InputError: the file cannot be read, or is continuous data without reference
                picks (message names the file). Records before a bad one are already counted.
        """
        from picker.io import WINDOW_FORMATS
        from picker.io.groups import input_format

        path, fmt = input_format(path)  # a file, or a FileGroup of single-component files
        if fmt in WINDOW_FORMATS:
            return self._add_windows(path, fmt)
        if self.reference is None:
            if _has_header_picks(path):  # SAC event files with the analyst's picks
                return self._add_windows(path, fmt)
            raise InputError(
                f"{path}: continuous data needs reference picks (--reference PICKS.csv); "
                "labelled windows come as NPZ, TFRecord, HDF5 or SAC with picks in its headers"
            )
        return self._add_continuous(path)

    def _add_windows(self, path, fmt: str) -> int:
        from picker.prediction.predict import iter_window_records, predict_array, record_station_id

        n = 0
        for record in iter_window_records(path, fmt, self.npz_options):
            rate = record.sampling_rate_hz
            reference = {
                "P": [record.p_arrival_sample / rate] if record.p_arrival_sample >= 0 else [],
                "S": [record.s_arrival_sample / rate] if record.s_arrival_sample >= 0 else [],
            }
            picks, probabilities = predict_array(
                record.data,
                rate,
                self.model,
                start_time=record.start_time,
                station_id=record_station_id(record, path),
                source=path.name,
                return_probabilities=True,
                **self.options,
            )
            duration_s = record.duration_s
            self._add_window(MODEL_SOURCE, reference, [(p.phase, p.index) for p in picks], record)
            if self.sweep is not None:
                self.sweep.add(
                    probabilities,
                    reference,
                    sampling_rate_hz=rate,
                    n_samples=record.n_samples,
                    duration_s=duration_s,
                )
            if self.baselines:
                from picker.evaluation.baselines import BASELINES

                data = np.nan_to_num(record.data)
                for name, picker_fn in BASELINES.items():
                    found = picker_fn(data, rate)
                    self._add_window(name, reference, [(ph, i) for ph, i, _ in found], record)
            self.counts["n_windows"] += 1
            self.counts["n_noise_windows"] += not (reference["P"] or reference["S"])
            self.counts["window_hours"] += duration_s / 3600.0
            n += 1
        return n

    def _add_window(self, source: str, reference, picks: list[tuple[str, int]], record) -> None:
        rate = record.sampling_rate_hz
        predicted: dict[str, list[float]] = {"P": [], "S": []}
        for phase, index in picks:
            predicted[phase].append(index / rate)
        metrics = self.window_metrics.setdefault(source, PickMetrics(self.tolerance_s))
        metrics.add_window(reference, predicted, duration_s=record.duration_s)

    def _add_continuous(self, path: Path) -> int:
        from picker.prediction.predict import iter_file

        n = 0
        for result in iter_file(path, self.model, **self.options):
            rate = result.sampling_rate_hz
            n_samples = len(result.data)
            start_ns = int(result.start_time.ns)
            end_ns = start_ns + round((n_samples - 1) / rate * 1e9)
            reference = self.reference.take(result.station_id, start_ns, end_ns)
            self.continuous_reference.extend(reference)
            self.continuous_picks.setdefault(MODEL_SOURCE, []).extend(result.picks)
            if self.sweep is not None:
                relative: dict[str, list[float]] = {"P": [], "S": []}
                for pick in reference:
                    relative[pick.phase].append((int(pick.utc().ns) - start_ns) / 1e9)
                self.sweep.add(
                    result.probabilities, relative, sampling_rate_hz=rate, n_samples=n_samples
                )
            if self.baselines:
                from picker.evaluation.baselines import BASELINES, WINDOW_ONLY_BASELINES

                for name, picker_fn in BASELINES.items():
                    if name in WINDOW_ONLY_BASELINES:
                        continue
                    self.continuous_picks.setdefault(name, []).extend(
                        Pick(
                            result.source,
                            result.station_id,
                            phase,
                            format_time(result.start_time + index / rate),
                            index,
                            round(score, 4),
                        )
                        for phase, index, score in picker_fn(result.data, rate)
                    )
            self.counts["n_station_spans"] += 1
            self.counts["continuous_hours"] += n_samples / rate / 3600.0
            n += 1
        return n

    # ------------------------------------------------------------------------- result

    def report(self) -> EvaluationReport:
        """Metrics of everything added so far."""
        sources: dict[str, PickMetrics] = {}
        names = [MODEL_SOURCE] + [
            s for s in (*self.window_metrics, *self.continuous_picks) if s != MODEL_SOURCE
        ]
        for name in dict.fromkeys(names):
            metrics = PickMetrics(self.tolerance_s)
            if name in self.window_metrics:
                _merge(metrics, self.window_metrics[name])
            if self.counts["n_station_spans"] and name in self.continuous_picks:
                _merge(
                    metrics,
                    evaluate_picks(
                        self.continuous_reference,
                        self.continuous_picks[name],
                        self.tolerance_s,
                        data_hours=self.counts["continuous_hours"],
                    ),
                )
            sources[name] = metrics
        counts = dict(self.counts)
        if self.reference is not None:
            counts["n_reference_picks_used"] = len(self.reference.used)
            counts["n_reference_picks_outside"] = len(self.reference.picks) - len(
                self.reference.used
            )
        return EvaluationReport(self.tolerance_s, self.threshold, sources, self.sweep, counts)


# ----------------------------------------------------------------------------- report files


def metrics_csv(report: EvaluationReport) -> str:
    """``metrics.csv`` text: one row per source and phase (columns :data:`CSV_FIELDS`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for source, summary in report.summaries().items():
        for phase, m in summary.items():
            writer.writerow(
                {"source": source, "phase": phase, "tolerance_s": report.tolerance_s}
                | {"threshold": report.threshold if source == MODEL_SOURCE else ""}
                | {k: _csv_value(m[k]) for k in CSV_FIELDS if k in m}
            )
    return buffer.getvalue()


def _csv_value(value) -> str:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    return str(value)


def sweep_csv(sweep: ThresholdSweep) -> str:
    """``sweep.csv`` text: threshold, phase, precision, recall, f1, tp, fp, fn."""
    buffer = io.StringIO()
    fields = ("threshold", "phase", "precision", "recall", "f1", "tp", "fp", "fn")
    writer = csv.DictWriter(buffer, fields, lineterminator="\n")
    writer.writeheader()
    for row in sweep.rows():
        writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return buffer.getvalue()


def write_report(report: EvaluationReport, folder: str | os.PathLike) -> list[Path]:
    """Write the report files into ``folder`` (created), each atomically; return their paths."""
    from picker.review.figures import plot_precision_recall, plot_residuals

    folder = Path(folder)
    written = []
    texts = {
        "metrics.json": json_text(report.to_dict(), indent=1) + "\n",
        "metrics.csv": metrics_csv(report),
    }
    if report.sweep is not None:
        texts["sweep.csv"] = sweep_csv(report.sweep)
    for name, text in texts.items():
        with atomic_output(folder / name) as tmp:
            tmp.write_text(text, encoding="utf-8")
        written.append(folder / name)
    written.append(plot_residuals(report.sources, report.tolerance_s, folder / "residuals.png"))
    if report.sweep is not None:
        written.append(plot_precision_recall(report.sweep, folder / "precision_recall.png"))
    return written


def _has_header_picks(path) -> bool:
    """True when a stream file (or each-component group) marks a P or S pick in its SAC
    headers (:func:`picker.io.stream.header_picks_by_station`); read from the headers only."""
    from picker.io.base import input_files
    from picker.io.obspy_files import read_headers
    from picker.io.stream import header_picks_by_station

    try:
        traces = [tr for file in input_files(path) for tr in read_headers(file)]
    except Exception:  # unreadable: the continuous path reports it
        return False
    return bool(header_picks_by_station(traces))
