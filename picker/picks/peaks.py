"""Probabilities → picks: peak extraction, stateless NumPy.

In each stretch where a phase's probability stays at or above its threshold the highest sample
is a candidate; candidates of the same phase closer than ``min_distance_samples`` keep only the
more probable one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["extract_picks", "find_peaks"]


def find_peaks(
    probability: np.ndarray, threshold: float, min_distance_samples: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Peak samples of one probability trace.

    Args:
        probability: ``(n_samples,)`` values in [0, 1] (NaN counts as 0).
        threshold: minimum peak value (inclusive).
        min_distance_samples: peaks closer than this keep only the higher one (ties: earlier).

    Returns:
        ``(indices int64 (k,), values float32 (k,))`` sorted by index.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    prob = np.asarray(probability, dtype=np.float32)  # no copy: a column view is fine
    prob = prob if prob.ndim == 1 else prob.ravel()
    above = prob >= max(threshold, np.finfo(np.float32).tiny)  # False for NaN
    if not above.any():
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    change = np.flatnonzero(above[1:] != above[:-1]) + 1  # first sample after each switch
    starts = change[above[change]]
    stops = change[~above[change]]
    if above[0]:
        starts = np.concatenate([[0], starts])
    if above[-1]:
        stops = np.concatenate([stops, [len(above)]])
    # argmax within each above-threshold run, vectorised with reduceat on the run maxima (each
    # reduceat segment runs to the next start; the samples after the run count as 0, NaN too)
    run_max = np.maximum.reduceat(np.where(above, prob, 0.0), starts)[: len(starts)]
    peaks = np.empty(len(starts), np.int64)
    for i, (start, stop, top) in enumerate(zip(starts, stops, run_max, strict=True)):
        peaks[i] = start + int(np.argmax(prob[start:stop] >= top))
    values = prob[peaks]
    if min_distance_samples > 1 and len(peaks) > 1:
        keep = _suppress_close(peaks, values, int(min_distance_samples))
        peaks, values = peaks[keep], values[keep]
    return peaks, values


def _suppress_close(peaks: np.ndarray, values: np.ndarray, min_distance: int) -> np.ndarray:
    """Indices of peaks kept when neighbours closer than ``min_distance`` lose to higher ones.

    Greedy, highest first (ties: earlier sample): a peak is kept when no already kept peak lies
    within ``min_distance``. The kept positions stay sorted, so each check looks only at the
    two nearest kept neighbours: O(k log k) for k peaks.
    """
    import bisect

    order = np.lexsort((peaks, -values))
    kept = np.zeros(len(peaks), bool)
    taken: list[int] = []
    for i in order:
        position = int(peaks[i])
        j = bisect.bisect_left(taken, position)
        if j < len(taken) and taken[j] - position < min_distance:
            continue
        if j > 0 and position - taken[j - 1] < min_distance:
            continue
        kept[i] = True
        taken.insert(j, position)
    return np.flatnonzero(kept)


def extract_picks(
    probabilities: np.ndarray,
    *,
    p_threshold: float = 0.5,
    s_threshold: float = 0.5,
    min_distance_samples: int = 0,
) -> list[tuple[str, int, float]]:
    """``(phase, sample, probability)`` triples from ``(n_samples, 3)`` noise/P/S probabilities.

    Sorted by sample, then phase.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2 or probabilities.shape[1] != 3:
        raise ValueError(f"probabilities must have shape (n_samples, 3), got {probabilities.shape}")
    found = []
    for column, phase, threshold in ((1, "P", p_threshold), (2, "S", s_threshold)):
        indices, values = find_peaks(probabilities[:, column], threshold, min_distance_samples)
        found.extend((phase, int(i), float(v)) for i, v in zip(indices, values, strict=True))
    return sorted(found, key=lambda item: (item[1], item[0]))
