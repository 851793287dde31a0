"""Resampling to the model's rate: polyphase, anti-alias filtered, zero phase, picks rescaled.

Training records are brought to ``data.sampling_rate_hz`` with it, and prediction brings any
input to :data:`picker.preprocess.model_input.MODEL_SAMPLING_RATE_HZ`.

The data are resampled by a rational factor ``up / down`` (:func:`resampling_factor`) with
``scipy.signal.resample_poly``: a symmetric (linear-phase) Kaiser-window FIR whose delay is
removed, so output sample 0 is input sample 0 and an onset keeps its time (no delay, whatever
the two rates). Output sample ``j`` lies at input sample ``j * down / up``; the factor equals
the ratio of the rates to :data:`RATE_TOLERANCE`, so a pick index mapped back with the factor
(as :func:`resample_window` and prediction do) is exact even where the output's nominal rate is
not (an input at 99.99 Hz goes up by 10000 / 9999, not by 1).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from picker.io.base import NO_PICK, Record

__all__ = ["RATE_TOLERANCE", "resample_record", "resample_window", "resampling_factor"]

#: Relative error allowed between ``up / down`` and the ratio of the rates: the round-off of a
#: rate stored as float32 (a SAC ``delta``), about 1 sample in 10 million (0.09 s in a day).
RATE_TOLERANCE = 1e-7
#: Denominators tried in turn (the smallest that meets :data:`RATE_TOLERANCE` wins; the filter
#: has ``20 * max(up, down) + 1`` taps).
MAX_DENOMINATORS = (1000, 10_000, 100_000)


def resampling_factor(rate_in_hz: float, rate_out_hz: float) -> Fraction:
    """``up / down``, the output samples per input sample :func:`resample_window` uses.

    The fraction with the smallest denominator bound in :data:`MAX_DENOMINATORS` within
    :data:`RATE_TOLERANCE` of ``rate_out_hz / rate_in_hz`` (e.g. 2 for 50 -> 100 Hz, 5/2 for 40,
    10000/9999 for 99.99); exactly 1 when the rates agree to 1e-9.
    """
    if abs(rate_in_hz - rate_out_hz) < 1e-9 * rate_out_hz:
        return Fraction(1)
    ratio = rate_out_hz / rate_in_hz
    for bound in MAX_DENOMINATORS:
        factor = Fraction(ratio).limit_denominator(bound)
        if abs(float(factor) / ratio - 1.0) <= RATE_TOLERANCE:
            break
    return factor


def resample_record(record: Record, sampling_rate_hz: float) -> Record:
    """Resample ``record`` to ``sampling_rate_hz`` (polyphase, anti-alias filtered); picks rescaled.

    A record already at that rate is returned unchanged.
    """
    data, p, s = resample_window(
        record.data,
        record.sampling_rate_hz,
        sampling_rate_hz,
        record.p_arrival_sample,
        record.s_arrival_sample,
    )
    if data is record.data:
        return record
    return record.with_data(
        data, sampling_rate_hz=sampling_rate_hz, p_arrival_sample=p, s_arrival_sample=s
    )


def resample_window(
    data: np.ndarray,
    rate_in_hz: float,
    rate_out_hz: float,
    p_sample: int = NO_PICK,
    s_sample: int = NO_PICK,
) -> tuple[np.ndarray, int, int]:
    """Resample ``(n_samples, 3)`` data from ``rate_in_hz`` to ``rate_out_hz``; rescale picks.

    Zero phase: output sample ``j`` is input sample ``j / f`` (``f`` =
    :func:`resampling_factor`), and picks move to ``round(sample * f)``.

    Returns:
        (resampled float32 ``(ceil(n_samples * f), 3)``, P sample, S sample); the input array
        itself when the rates are equal.
    """
    if abs(rate_in_hz - rate_out_hz) < 1e-9 * rate_out_hz:
        return data, int(p_sample), int(s_sample)
    from scipy.signal import resample_poly

    factor = resampling_factor(rate_in_hz, rate_out_hz)
    # "edge": the data continue with their end values, so an offset makes no step at the ends
    # (a step there would look like an arrival at the first or last sample)
    out = resample_poly(
        data.astype(np.float64), factor.numerator, factor.denominator, axis=0, padtype="edge"
    ).astype(np.float32)

    def scale(sample: int) -> int:
        return int(round(sample * factor)) if sample >= 0 else NO_PICK

    return out, scale(p_sample), scale(s_sample)
