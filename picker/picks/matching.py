"""Predicted picks matched to reference picks: counts, precision, recall, F1 and residuals per
phase, as in the PhaseNet paper.

A reference pick is found (true positive) when a predicted pick of the same phase lies within
``tolerance_s`` of it; each predicted pick can find at most one reference pick (nearest first).
Every other predicted pick is a false positive; a reference pick with none is a false negative.
Residuals (predicted − reference) of the true positives are reported in milliseconds. On
pick-free (noise) windows every pick is false; their rate is reported per hour of noise.

Continuous data (:func:`evaluate_picks`) are matched per station and phase on absolute times.
Stations are compared by ``NET.STA.LOC`` (:func:`station_key`): the band / instrument code is
ignored, so reference picks made on ``HH`` match predictions made on ``EH`` or ``BH``. There the
false picks per hour are all false picks per hour of data processed.

Training scores its validation windows with :func:`evaluate_probabilities`; ``picker
evaluate`` (:mod:`picker.evaluation`) builds its reports on these counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from picker.io.base import split_station_id

__all__ = [
    "PhaseCounts",
    "PickMetrics",
    "evaluate_picks",
    "evaluate_probabilities",
    "match_picks",
    "picks_by_phase",
    "same_station",
    "station_key",
]


@dataclass
class PhaseCounts:
    """Running counts for one phase; :meth:`summary` turns them into metrics."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    residuals_s: list[float] = field(default_factory=list)
    noise_false_picks: int = 0
    noise_hours: float = 0.0

    def add(self, other: PhaseCounts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.residuals_s.extend(other.residuals_s)
        self.noise_false_picks += other.noise_false_picks
        self.noise_hours += other.noise_hours

    def summary(self) -> dict[str, float]:
        """precision, recall, f1, residual mean / std / MAE in ms, counts, false picks per hour."""
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        res_ms = np.asarray(self.residuals_s, float) * 1000.0
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "residual_mean_ms": float(res_ms.mean()) if res_ms.size else float("nan"),
            "residual_std_ms": float(res_ms.std()) if res_ms.size else float("nan"),
            "residual_mae_ms": float(np.abs(res_ms).mean()) if res_ms.size else float("nan"),
            "false_picks_per_hour": self.noise_false_picks / self.noise_hours
            if self.noise_hours
            else float("nan"),
        }


def match_picks(
    reference_s: Sequence[float], predicted_s: Sequence[float], tolerance_s: float
) -> PhaseCounts:
    """Match one phase's picks of one window or stream (times in seconds, any common origin).

    Pairs are made nearest-first, one-to-one, only within ``tolerance_s`` (inclusive).

    Returns:
        counts with ``tp``, ``fp``, ``fn`` and the residuals (predicted − reference) in seconds.
    """
    if tolerance_s < 0:
        raise ValueError(f"tolerance_s must be >= 0, got {tolerance_s}")
    ref = np.asarray(reference_s, float)
    pred = np.asarray(predicted_s, float)
    counts = PhaseCounts()
    if ref.size and pred.size:
        distance = np.abs(pred[None, :] - ref[:, None])
        pairs = np.argwhere(distance <= tolerance_s + 1e-9)
        order = np.argsort(distance[pairs[:, 0], pairs[:, 1]], kind="stable")
        used_ref, used_pred = set(), set()
        for r, p in pairs[order]:
            if r in used_ref or p in used_pred:
                continue
            used_ref.add(r)
            used_pred.add(p)
            counts.residuals_s.append(float(pred[p] - ref[r]))
        counts.tp = len(used_ref)
    counts.fp = int(pred.size) - counts.tp
    counts.fn = int(ref.size) - counts.tp
    return counts


@dataclass
class PickMetrics:
    """Metrics for P and S accumulated over many windows or streams."""

    tolerance_s: float
    phases: dict[str, PhaseCounts] = field(
        default_factory=lambda: {"P": PhaseCounts(), "S": PhaseCounts()}
    )

    def add_window(
        self,
        reference: dict[str, Sequence[float]],
        predicted: dict[str, Sequence[float]],
        duration_s: float | None = None,
    ) -> None:
        """Add one window: ``{"P": [times], "S": [times]}`` for reference and prediction.

        A window with no reference pick of either phase and a ``duration_s`` counts as noise:
        its picks add to the false picks per hour as well as to the false positives.
        """
        is_noise = duration_s is not None and not any(
            len(reference.get(ph, ())) for ph in ("P", "S")
        )
        for phase, counts in self.phases.items():
            window = match_picks(
                reference.get(phase, ()), predicted.get(phase, ()), self.tolerance_s
            )
            if is_noise:
                window.noise_false_picks = window.fp
                window.noise_hours = duration_s / 3600.0
            counts.add(window)

    def summary(self) -> dict[str, dict[str, float]]:
        return {phase: counts.summary() for phase, counts in self.phases.items()}

    def to_dict(self) -> dict:
        return {"tolerance_s": self.tolerance_s, "phases": self.summary()}


def picks_by_phase(
    picks: Sequence[tuple[str, int, float]], sampling_rate_hz: float
) -> dict[str, list[float]]:
    """``{"P": [s], "S": [s]}`` times in seconds from ``(phase, sample, probability)`` triples."""
    out: dict[str, list[float]] = {"P": [], "S": []}
    for phase, sample, _ in picks:
        out[phase].append(sample / sampling_rate_hz)
    return out


def evaluate_probabilities(
    probabilities: Sequence[np.ndarray],
    reference_samples: Sequence[tuple[int, int]],
    sampling_rate_hz: float,
    *,
    tolerance_s: float = 0.1,
    p_threshold: float = 0.5,
    s_threshold: float = 0.5,
    min_distance_samples: int = 50,
) -> PickMetrics:
    """Metrics of model output on labelled windows.

    Args:
        probabilities: one ``(n_samples, 3)`` noise/P/S array per window.
        reference_samples: ``(p_sample, s_sample)`` per window, ``-1`` = no pick.
        sampling_rate_hz: rate of the windows.

    Windows with neither pick count as noise windows for the false picks per hour.
    """
    from picker.picks.peaks import extract_picks

    metrics = PickMetrics(tolerance_s)
    for prob, (p_ref, s_ref) in zip(probabilities, reference_samples, strict=True):
        picks = extract_picks(
            prob,
            p_threshold=p_threshold,
            s_threshold=s_threshold,
            min_distance_samples=min_distance_samples,
        )
        reference = {
            "P": [p_ref / sampling_rate_hz] if p_ref >= 0 else [],
            "S": [s_ref / sampling_rate_hz] if s_ref >= 0 else [],
        }
        metrics.add_window(
            reference,
            picks_by_phase(picks, sampling_rate_hz),
            duration_s=len(prob) / sampling_rate_hz,
        )
    return metrics


# ----------------------------------------------------------------------------- absolute times


def station_key(station_id: str) -> str:
    """The part of a station id picks are matched on: ``NET.STA.LOC``.

    ``"XX.STA..HH"`` → ``"XX.STA."``; the location placeholder ``--`` counts as empty. Ids with
    fewer than three dot-separated parts (file stems, ``"XX.STA"``) are compared as they are.
    """
    parts = station_id.strip().split(".")
    if len(parts) < 3:
        return station_id.strip()
    location = "" if parts[2].strip() in ("--", "-") else parts[2].strip()
    return f"{parts[0].strip()}.{parts[1].strip()}.{location}"


def same_station(reference_id: str, station_id: str) -> bool:
    """Whether a reference pick's station id names the data's station ``station_id``: the same
    :func:`station_key`, or, for a reference without a network code (a SEISAN Nordic file
    names the station alone), the same station code."""
    if station_key(reference_id) == station_key(station_id):
        return True
    network, code = split_station_id(reference_id)[:2]
    return not network and code == split_station_id(station_id)[1]


def _times_ns(picks: Iterable, what: str) -> dict[tuple[str, str], list[int]]:
    """``{(station_key, phase): [time in ns]}``; a pick without a time is a ValueError."""
    groups: dict[tuple[str, str], list[int]] = {}
    for pick in picks:
        time = pick.utc()
        if time is None:
            raise ValueError(f"{what} pick without a time: {pick.station_id} {pick.phase}")
        groups.setdefault((station_key(pick.station_id), pick.phase), []).append(int(time.ns))
    return groups


def evaluate_picks(
    reference: Sequence,
    predicted: Sequence,
    tolerance_s: float = 0.1,
    *,
    data_hours: float | None = None,
) -> PickMetrics:
    """Metrics of picks on continuous data, matched per station and phase on absolute times.

    Args:
        reference: :class:`~picker.picks.pick.Pick` objects (``time`` set) taken as the truth.
        predicted: picks to score (``time`` set).
        tolerance_s: largest |predicted − reference| of a true positive, in seconds.
        data_hours: hours of data the predictions were made on; when given, every false pick
            counts towards ``false_picks_per_hour`` (false picks per hour of data processed).

    Stations match on :func:`station_key` (``NET.STA.LOC``; the band code is ignored). Only pass
    reference picks inside the data processed: the others would all be false negatives.

    Raises:
        ValueError: a pick without a time.
    """
    ref = _times_ns(reference, "reference")
    pred = _times_ns(predicted, "predicted")
    metrics = PickMetrics(tolerance_s)
    for key in sorted(set(ref) | set(pred)):
        ref_ns, pred_ns = ref.get(key, []), pred.get(key, [])
        origin = min(ref_ns + pred_ns)
        counts = match_picks(
            [(t - origin) / 1e9 for t in ref_ns], [(t - origin) / 1e9 for t in pred_ns], tolerance_s
        )
        if key[1] in metrics.phases:
            metrics.phases[key[1]].add(counts)
    if data_hours is not None:
        for counts in metrics.phases.values():
            counts.noise_false_picks = counts.fp
            counts.noise_hours = float(data_hours)
    return metrics
