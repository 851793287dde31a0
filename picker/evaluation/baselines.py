"""Classical pickers from ObsPy, scored beside the model by ``picker evaluate --baselines``.

* ``stalta`` — recursive STA/LTA (:func:`obspy.signal.trigger.recursive_sta_lta`) on the
  vertical component, band-passed 1–20 Hz (causal 2-pole Butterworth, so no energy leaks ahead
  of an onset; the upper corner is capped at 0.45 × the sampling rate); STA 0.5 s, LTA 5 s;
  :func:`~obspy.signal.trigger.trigger_onset` with on 4.0 / off 1.5. Every trigger onset is a
  P pick (STA/LTA does not tell phases apart, so an S that re-triggers is a false P). ObsPy sets
  the characteristic function to 0 over the first LTA window, so nothing triggers there. It
  runs on windows and on whole continuous traces; zero-filled gaps are not masked.
* ``ar_aic`` — :func:`obspy.signal.trigger.ar_pick` (Akazawa's AR-AIC, with the parameters of
  ObsPy's documentation example: f1 = 1 Hz, f2 = 20 Hz, lta_p = 1 s, sta_p = 0.1 s, lta_s = 4 s,
  sta_s = 1 s, m_p = 2, m_s = 8, l_p = 0.1 s, l_s = 0.2 s, S picking on). It returns exactly one
  P and one S per call, so it only makes sense on event windows: it is run on windows only,
  never on continuous data. A returned time outside the window (ObsPy gives 0 when it finds
  no S) is no pick. What its C code prints to stderr ("Error in log calculation for f_err!"
  on flat stretches, thousands of lines on real data) is silenced.

Both return the ``(phase, sample, score)`` triples of :func:`picker.picks.peaks.extract_picks`,
``sample`` at the data's own rate; ``score`` is the peak STA/LTA ratio of the trigger for
``stalta`` and 1.0 for ``ar_aic`` (which has no score).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BASELINES",
    "WINDOW_ONLY_BASELINES",
    "ArAicParams",
    "StaLtaParams",
    "ar_aic_picks",
    "stalta_picks",
]


@dataclass(frozen=True)
class StaLtaParams:
    """Recursive STA/LTA settings (times in seconds, ratios dimensionless)."""

    sta_s: float = 0.5
    lta_s: float = 5.0
    trigger_on: float = 4.0
    trigger_off: float = 1.5
    freqmin_hz: float = 1.0
    freqmax_hz: float = 20.0
    corners: int = 2


@dataclass(frozen=True)
class ArAicParams:
    """``obspy.signal.trigger.ar_pick`` settings (ObsPy's documentation example)."""

    f1_hz: float = 1.0
    f2_hz: float = 20.0
    lta_p_s: float = 1.0
    sta_p_s: float = 0.1
    lta_s_s: float = 4.0
    sta_s_s: float = 1.0
    m_p: int = 2
    m_s: int = 8
    l_p_s: float = 0.1
    l_s_s: float = 0.2


def _clean(values: np.ndarray) -> np.ndarray:
    """float64 copy, non-finite samples set to 0, demeaned."""
    out = np.nan_to_num(np.asarray(values, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return out - out.mean() if out.size else out


def _check(data: np.ndarray, sampling_rate_hz: float) -> np.ndarray:
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != 3:
        raise ValueError(
            f"data must have shape (n_samples, 3) with columns E, N, Z, got {data.shape}"
        )
    if not (np.isfinite(sampling_rate_hz) and sampling_rate_hz > 0):
        raise ValueError(f"sampling_rate_hz must be > 0, got {sampling_rate_hz}")
    return data


def stalta_picks(
    data: np.ndarray, sampling_rate_hz: float, params: StaLtaParams = StaLtaParams()
) -> list[tuple[str, int, float]]:
    """P picks at the recursive STA/LTA trigger onsets of the vertical component.

    Args:
        data: ``(n_samples, 3)`` float, columns E, N, Z, at ``sampling_rate_hz`` (NaN → 0).
        sampling_rate_hz: the data's rate.
        params: see :class:`StaLtaParams`.

    Returns:
        ``[("P", onset_sample, peak_ratio), ...]`` sorted by sample; ``[]`` when the data are
        shorter than the LTA window or flat.
    """
    from obspy.signal.filter import bandpass
    from obspy.signal.trigger import recursive_sta_lta, trigger_onset

    data = _check(data, sampling_rate_hz)
    n_sta = max(1, round(params.sta_s * sampling_rate_hz))
    n_lta = max(n_sta + 1, round(params.lta_s * sampling_rate_hz))
    z = _clean(data[:, 2])
    if len(z) <= n_lta or not np.any(z):
        return []
    freqmax = min(params.freqmax_hz, 0.45 * sampling_rate_hz)
    z = bandpass(z, params.freqmin_hz, freqmax, sampling_rate_hz, params.corners, zerophase=False)
    ratio = np.nan_to_num(recursive_sta_lta(z, n_sta, n_lta), nan=0.0, posinf=0.0)
    picks = []
    for on, off in trigger_onset(ratio, params.trigger_on, params.trigger_off):
        picks.append(("P", int(on), float(ratio[on : max(off, on) + 1].max())))
    return picks


def ar_aic_picks(
    data: np.ndarray, sampling_rate_hz: float, params: ArAicParams = ArAicParams()
) -> list[tuple[str, int, float]]:
    """One P and one S pick per window by ObsPy's AR-AIC picker.

    Args:
        data: ``(n_samples, 3)`` float, columns E, N, Z, at ``sampling_rate_hz`` (NaN → 0).
        sampling_rate_hz: the data's rate.
        params: see :class:`ArAicParams`.

    Returns:
        Up to ``[("P", sample, 1.0), ("S", sample, 1.0)]``, sorted by sample. No P on a flat
        vertical; no S when both horizontals are flat. Picks outside ``(0, n_samples)`` are
        dropped.
    """
    from obspy.signal.trigger import ar_pick

    from picker.io.quiet import native_output_silenced

    data = _check(data, sampling_rate_hz)
    n = len(data)
    # the picker needs a few LTA windows of data
    if n < 2 * round(params.lta_s_s * sampling_rate_hz):
        return []
    e, north, z = (_clean(data[:, k]) for k in range(3))
    if not np.any(z):
        return []
    with_s = bool(np.any(e) or np.any(north))
    if not with_s:  # ObsPy rescales every component by its maximum: no all-zero input
        e = north = z
    with native_output_silenced(2):  # its C code prints errors of its AIC's log straight to fd 2
        p_s, s_s = ar_pick(
            z.astype(np.float32),
            north.astype(np.float32),
            e.astype(np.float32),
            float(sampling_rate_hz),
            params.f1_hz,
            min(params.f2_hz, 0.45 * sampling_rate_hz),
            params.lta_p_s,
            params.sta_p_s,
            params.lta_s_s,
            params.sta_s_s,
            params.m_p,
            params.m_s,
            params.l_p_s,
            params.l_s_s,
            s_pick=with_s,
        )
    picks = []
    for phase, time_s in (("P", p_s), ("S", s_s if with_s else 0.0)):
        sample = round(float(time_s) * sampling_rate_hz)
        if np.isfinite(time_s) and 0 < sample < n:
            picks.append((phase, int(sample), 1.0))
    return sorted(picks, key=lambda item: (item[1], item[0]))


#: Baseline name → picker ``(data (n, 3) E/N/Z, sampling_rate_hz) -> [(phase, sample, score)]``.
BASELINES: dict[str, Callable[[np.ndarray, float], list[tuple[str, int, float]]]] = {
    "stalta": stalta_picks,
    "ar_aic": ar_aic_picks,
}
#: Baselines run on windows only (never on continuous data).
WINDOW_ONLY_BASELINES = frozenset({"ar_aic"})
