"""Threshold sweeps and the text tables of ``picker evaluate``.

The pick matching itself (precision, recall, F1 and residuals per phase, the station rules) is
:mod:`picker.picks.matching`. Threshold sweeps (:class:`ThresholdSweep`) re-extract picks from
the same probabilities at each threshold with :func:`picker.picks.peaks.extract_picks`, exactly
as ``picker predict`` would at that threshold: the model runs once per window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from picker.picks.matching import PickMetrics

#: Thresholds of ``picker evaluate --sweep``: 0.05, 0.10, ..., 0.95.
SWEEP_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))


# ----------------------------------------------------------------------------- threshold sweep


def model_index_to_seconds(
    model_indices: np.ndarray,
    sampling_rate_hz: float,
    n_samples: int,
    model_rate_hz: float = 100.0,
) -> np.ndarray:
    """Seconds from sample 0 of picks found on model-rate probabilities, as ``picker predict``.

    A model sample ``i`` becomes the input sample ``round(i * rate / model_rate)`` (clipped to
    ``[0, n_samples - 1]``), then seconds at the input rate, so the times equal the ``index /
    rate`` of the picks :func:`picker.prediction.predict.predict_array` returns.
    """
    index = np.round(np.asarray(model_indices, np.int64) * (sampling_rate_hz / model_rate_hz))
    return np.clip(index, 0, max(n_samples - 1, 0)) / sampling_rate_hz


class ThresholdSweep:
    """Pick metrics at many thresholds from probabilities computed once per window.

    At each threshold the picks are exactly those ``picker predict`` would make at it. Raising
    the threshold removes every peak below it, so recall does not grow — with one exception of
    the peak extraction itself: a stretch above a low threshold holding two peaks more than
    ``min_pick_distance_s`` apart (a dip between them) gives one pick, but two once the dip falls
    below the threshold.

    Args:
        tolerance_s: matching tolerance in seconds.
        thresholds: P and S thresholds to try, each in [0, 1].
        min_pick_distance_s: as ``predict_array``'s (same-phase peaks closer keep the higher).
        model_rate_hz: rate of the probabilities (the model's, 100 Hz).
    """

    def __init__(
        self,
        tolerance_s: float,
        thresholds: Sequence[float] = SWEEP_THRESHOLDS,
        *,
        min_pick_distance_s: float = 0.5,
        model_rate_hz: float = 100.0,
    ):
        self.thresholds = [float(t) for t in thresholds]
        self.metrics = {t: PickMetrics(tolerance_s) for t in self.thresholds}
        self.min_distance_samples = round(min_pick_distance_s * model_rate_hz)
        self.model_rate_hz = model_rate_hz

    def add(
        self,
        probabilities: np.ndarray,
        reference: dict[str, Sequence[float]],
        *,
        sampling_rate_hz: float,
        n_samples: int,
        duration_s: float | None = None,
    ) -> None:
        """Add one window or station span.

        Args:
            probabilities: ``(n_model_samples, 3)`` noise/P/S at ``model_rate_hz``, sample 0 at
                the input's sample 0.
            reference: ``{"P": [s], "S": [s]}`` seconds from the input's sample 0.
            sampling_rate_hz, n_samples: the input's rate and length (pick times are mapped to
                input samples as in ``picker predict``).
            duration_s: as in :meth:`PickMetrics.add_window` (noise windows).
        """
        from picker.picks.peaks import extract_picks

        for threshold, metrics in self.metrics.items():
            found = extract_picks(
                probabilities,
                p_threshold=threshold,
                s_threshold=threshold,
                min_distance_samples=self.min_distance_samples,
            )
            predicted: dict[str, list[float]] = {"P": [], "S": []}
            if found:
                seconds = model_index_to_seconds(
                    np.array([i for _, i, _ in found]),
                    sampling_rate_hz,
                    n_samples,
                    self.model_rate_hz,
                )
                for (phase, _, _), t in zip(found, seconds, strict=True):
                    predicted[phase].append(float(t))
            metrics.add_window(reference, predicted, duration_s)

    def rows(self) -> list[dict]:
        """One dict per threshold and phase: threshold, phase, precision, recall, f1, tp, fp, fn."""
        out = []
        for threshold, metrics in self.metrics.items():
            for phase, m in metrics.summary().items():
                out.append(
                    {"threshold": threshold, "phase": phase}
                    | {k: m[k] for k in ("precision", "recall", "f1", "tp", "fp", "fn")}
                )
        return out

    def best(self) -> dict[str, dict[str, float]]:
        """Per phase the recommended threshold: the F1-optimal one, ties broken sensibly.

        Several thresholds often share the best F1 (a plateau: no peak lies between them). The
        recommendation is then the middle of the widest such run of neighbouring thresholds
        (the one nearer 0.5 of two middles, and of two equally wide runs the one whose middle
        is nearer 0.5), where small changes of the data move the picks least; the plateau's
        ends are kept as ``plateau_low`` and ``plateau_high``.
        """
        by_phase: dict[str, list[dict]] = {}
        for row in self.rows():
            by_phase.setdefault(row["phase"], []).append(row)
        best: dict[str, dict[str, float]] = {}
        for phase, rows in by_phase.items():
            rows.sort(key=lambda row: row["threshold"])
            top = max(row["f1"] for row in rows)
            runs: list[list[dict]] = []
            previous_on_top = False
            for row in rows:
                on_top = row["f1"] >= top - 1e-12
                if on_top and previous_on_top:
                    runs[-1].append(row)
                elif on_top:
                    runs.append([row])
                previous_on_top = on_top
            run = max(runs, key=lambda run: (len(run), -abs(_middle(run)["threshold"] - 0.5)))
            chosen = _middle(run)
            best[phase] = {k: v for k, v in chosen.items() if k != "phase"} | {
                "plateau_low": run[0]["threshold"],
                "plateau_high": run[-1]["threshold"],
            }
        return best


def _middle(run: list[dict]) -> dict:
    """The middle row of a run sorted by threshold; of two middles, the one nearer 0.5."""
    low, high = run[(len(run) - 1) // 2], run[len(run) // 2]
    return min((low, high), key=lambda row: abs(row["threshold"] - 0.5))


DASH = "–"  # an undefined value in the tables: precision without picks, recall without references


def _cell(value: float | None, width: int, digits: int) -> str:
    """``value`` right-aligned in ``width`` with ``digits`` decimals; None or NaN as a dash."""
    if value is None or value != value:
        return f"{DASH:>{width}}"
    return f"{value:>{width}.{digits}f}"


def _scores(m: dict) -> tuple[float | None, float | None, float | None]:
    """(precision, recall, F1) of a summary or sweep row; None where undefined: precision
    without any pick made, recall without any reference pick, F1 (2 TP / (2 TP + FP + FN))
    without either."""
    precision = m["precision"] if m["tp"] + m["fp"] else None
    recall = m["recall"] if m["tp"] + m["fn"] else None
    f1 = m["f1"] if m["tp"] + m["fp"] + m["fn"] else None
    return precision, recall, f1


def format_table(summary: dict[str, dict[str, float]]) -> str:
    """A plain-text table of :meth:`PickMetrics.summary`; undefined values are dashes."""
    head = f"{'phase':<6}{'prec':>7}{'recall':>8}{'F1':>7}{'TP':>6}{'FP':>6}{'FN':>6}{'mean ms':>9}{'std ms':>8}{'MAE ms':>8}{'FP/h':>7}"
    lines = [head]
    for phase, m in summary.items():
        precision, recall, f1 = _scores(m)
        lines.append(
            f"{phase:<6}{_cell(precision, 7, 3)}{_cell(recall, 8, 3)}{_cell(f1, 7, 3)}"
            f"{m['tp']:>6}{m['fp']:>6}{m['fn']:>6}{_cell(m['residual_mean_ms'], 9, 1)}"
            f"{_cell(m['residual_std_ms'], 8, 1)}{_cell(m['residual_mae_ms'], 8, 1)}"
            f"{_cell(m['false_picks_per_hour'], 7, 1)}"
        )
    return "\n".join(lines)


def format_sources_table(summaries: dict[str, dict[str, dict[str, float]]]) -> str:
    """:func:`format_table` for several sources (model, baselines): a ``source`` column first."""
    lines: list[str] = []
    width = max([8, *(len(source) + 1 for source in summaries)])  # a space after the longest
    for source, summary in summaries.items():
        table = format_table(summary).splitlines()
        if not lines:
            lines.append(f"{'source':<{width}}{table[0]}")
        lines.extend(f"{source:<{width}}{row}" for row in table[1:])
    return "\n".join(lines)


def format_sweep_table(rows: Sequence[dict], best: dict[str, dict[str, float]]) -> str:
    """A plain-text table of :meth:`ThresholdSweep.rows` plus the F1-optimal threshold per phase."""
    by_threshold: dict[float, dict[str, dict]] = {}
    for row in rows:
        by_threshold.setdefault(row["threshold"], {})[row["phase"]] = row
    phases = sorted({row["phase"] for row in rows})
    head = f"{'thresh':<8}" + "".join(
        f"{ph + ' prec':>9}{ph + ' rec':>8}{ph + ' F1':>7}" for ph in phases
    )
    lines = [head]
    for threshold, per_phase in by_threshold.items():
        cells = ""
        for ph in phases:
            precision, recall, f1 = _scores(per_phase[ph])
            cells += f"{_cell(precision, 9, 3)}{_cell(recall, 8, 3)}{_cell(f1, 7, 3)}"
        lines.append(f"{threshold:<8.2f}{cells}")
    for phase, b in best.items():
        line = f"best {phase}: threshold {b['threshold']:.2f} (F1 {b['f1']:.3f}"
        low, high = b.get("plateau_low", b["threshold"]), b.get("plateau_high", b["threshold"])
        if low != high:
            line += f", the same from {low:.2f} to {high:.2f}"
        lines.append(line + ")")
    return "\n".join(lines)


__all__ = [
    "DASH",
    "SWEEP_THRESHOLDS",
    "ThresholdSweep",
    "format_sources_table",
    "format_sweep_table",
    "format_table",
    "model_index_to_seconds",
]
