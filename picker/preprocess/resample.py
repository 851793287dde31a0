"""Resampling to the model's rate: polyphase, anti-alias filtered, pick samples rescaled.

Training records are brought to ``data.sampling_rate_hz`` with it, and prediction brings any
input to :data:`picker.preprocess.model_input.MODEL_SAMPLING_RATE_HZ`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from picker.io.base import NO_PICK, Record

__all__ = ["resample_record", "resample_window"]


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

    Returns:
        (resampled float32 ``(n_out, 3)``, P sample, S sample); the input array itself when the
        rates are equal.
    """
    if abs(rate_in_hz - rate_out_hz) < 1e-9 * rate_out_hz:
        return data, int(p_sample), int(s_sample)
    from scipy.signal import resample_poly

    ratio = Fraction(rate_out_hz / rate_in_hz).limit_denominator(1000)
    # "edge": the data continue with their end values, so an offset makes no step at the ends
    # (a step there would look like an arrival at the first or last sample)
    out = resample_poly(
        data.astype(np.float64), ratio.numerator, ratio.denominator, axis=0, padtype="edge"
    ).astype(np.float32)
    factor = rate_out_hz / rate_in_hz

    def scale(sample: int) -> int:
        return int(round(sample * factor)) if sample >= 0 else NO_PICK

    return out, scale(p_sample), scale(s_sample)
