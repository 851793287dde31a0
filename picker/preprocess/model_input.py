"""The model-input contract: the model's sampling rate, its total stride, and the NumPy
preprocessing (causal high-pass, then sliding normalisation) that training and prediction share.

:mod:`picker.preprocess.model_input_tf` computes the same numbers as TensorFlow ops for the
training pipeline; :mod:`picker.preprocess.resample` brings data to the model's rate.
"""

from __future__ import annotations

import math

import numpy as np

from picker.config import ModelConfig
from picker.preprocess.highpass import highpass

__all__ = ["MODEL_SAMPLING_RATE_HZ", "model_input", "sliding_normalize", "total_stride"]

#: Sampling rate the model works at; a model trained at another rate is refused
#: (:meth:`picker.models.saving.InputSettings.check_predictable`).
MODEL_SAMPLING_RATE_HZ = 100.0


def total_stride(model) -> int:
    """The model's total stride: its input is zero-padded at the end to a multiple of it.

    Args:
        model: a :class:`~picker.config.ModelConfig` (``stride ** (len(filters) - 1)``), an
            :class:`~picker.models.onnx_model.OnnxModel` (its ``total_stride``) or a Keras
            model (least common multiple of its ``PadToMultiple`` layers' multiples; 1 when it
            has none).
    """
    if isinstance(model, ModelConfig):
        return int(model.stride) ** (len(model.filters) - 1)
    if isinstance(getattr(model, "total_stride", None), int):
        return model.total_stride  # OnnxModel
    stride = 1
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        multiple = getattr(layer, "multiple", None)
        if isinstance(multiple, int) and multiple > 0:
            stride = math.lcm(stride, multiple)
        stack.extend(getattr(layer, "layers", []))
    return stride


def sliding_normalize(x: np.ndarray, window_samples: int) -> np.ndarray:
    """Demean and divide each channel by its running std over a centred window.

    The window at sample ``i`` is ``[i - window_samples // 2, i + window_samples // 2]``, cut at
    the array's ends. Sums are float64 cumulative sums over the demeaned channel. A channel that
    is locally zero or constant (std at or below ``1e-6`` of the channel's overall RMS, i.e.
    numerical noise) comes out exactly 0; never NaN or Inf for finite input.

    Args:
        x: ``(n_samples, 3)`` float, columns E, N, Z.
        window_samples: window length in samples, >= 1.

    Returns:
        ``(n_samples, 3)`` float32.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"x must have shape (n_samples, 3), got {x.shape}")
    rows = np.array(x.T, dtype=np.float64, order="C")
    return np.ascontiguousarray(_normalize_rows(rows, window_samples).T)


def _normalize_rows(rows: np.ndarray, window_samples: int) -> np.ndarray:
    """:func:`sliding_normalize` of ``(channels, n_samples)`` float64 rows, in place.

    Channel-major layout keeps every cumulative sum contiguous. Returns float32, same layout.
    Written for speed on chunks of about 66,000 samples: few passes, no masked (``where=``)
    operations, buffers reused.
    """
    n = rows.shape[1]
    half = max(int(window_samples) // 2, 0)
    rows -= rows.mean(axis=1, keepdims=True)
    squares = rows * rows
    sums = _cumulative(rows)
    sums_of_squares = _cumulative(squares)
    rms = np.sqrt(sums_of_squares[:, n:] / max(n, 1))  # (channels, 1), of the demeaned rows
    mean = _window_means(sums, half, out=squares)
    std = _window_means(sums_of_squares, half, out=sums[:, 1:])
    std -= np.multiply(mean, mean, out=sums_of_squares[:, 1:])  # variance
    np.maximum(std, 0.0, out=std)
    np.sqrt(std, out=std)
    floor = 1e-6 * rms  # at or below: locally constant, round-off only
    live = std > floor
    np.maximum(std, np.maximum(floor, _TINY), out=std)  # no 0 / 0; those samples are zeroed
    rows -= mean
    rows /= std
    rows *= live
    return rows.astype(np.float32)


_TINY = np.finfo(np.float64).tiny


def _cumulative(rows: np.ndarray) -> np.ndarray:
    """``(k, n + 1)`` float64 cumulative sums of each row, starting with 0."""
    sums = np.empty((rows.shape[0], rows.shape[1] + 1))
    sums[:, 0] = 0.0
    np.cumsum(rows, axis=1, out=sums[:, 1:])
    return sums


def _window_means(sums: np.ndarray, half: int, out: np.ndarray) -> np.ndarray:
    """Means over ``[i - half, i + half]`` (cut at the ends) from :func:`_cumulative` sums.

    ``sums`` is ``(k, n + 1)``; ``out`` a ``(k, n)`` float64 buffer that must not overlap it.
    """
    n = sums.shape[1] - 1
    if n > 2 * half:  # full windows in the middle, windows cut at one end at either side
        np.subtract(sums[:, 2 * half + 1 :], sums[:, : n - 2 * half], out=out[:, half : n - half])
        out[:, half : n - half] *= 1.0 / (2 * half + 1)
        out[:, :half] = sums[:, half + 1 : 2 * half + 1]
        out[:, :half] *= 1.0 / np.arange(half + 1, 2 * half + 1)
        np.subtract(sums[:, n:], sums[:, n - 2 * half : n - half], out=out[:, n - half :])
        out[:, n - half :] *= 1.0 / np.arange(2 * half, half, -1)
        return out
    index = np.arange(n)  # short rows: every window is cut
    low, high = np.maximum(index - half, 0), np.minimum(index + half + 1, n)
    np.subtract(sums[:, high], sums[:, low], out=out)
    out *= 1.0 / (high - low)
    return out


#: :func:`model_input` works on groups of about this many samples (rows x samples): twice as
#: fast as whole training batches at once, whose float64 temporaries overflow the CPU caches.
GROUP_SAMPLES = 1 << 16


def model_input(
    x: np.ndarray, sampling_rate_hz: float, normalization_window_s: float, highpass_hz: float
) -> np.ndarray:
    """The model's input preprocessing, shared by training and prediction.

    A causal 4th-order Butterworth high-pass at ``highpass_hz`` (0 = off; causal, so no energy
    leaks ahead of an onset; it removes microseism and instrument drift; applied from rest
    after subtracting the first sample, :func:`picker.preprocess.highpass.highpass`), then
    :func:`sliding_normalize` over ``normalization_window_s``. Each window of a batch is
    processed on its own (a batch is just faster than a loop).

    Args:
        x: ``(n_samples, 3)`` or ``(batch, n_samples, 3)`` float, columns E, N, Z, at
            ``sampling_rate_hz``.

    Returns:
        float32 of ``x``'s shape.
    """
    x = np.asarray(x)
    if x.ndim not in (2, 3) or x.shape[-1] != 3:
        raise ValueError(
            f"x must have shape (n_samples, 3) or (batch, n_samples, 3), got {x.shape}"
        )
    n = x.shape[-2]
    if n == 0 or x.size == 0:
        return np.zeros(x.shape, np.float32)
    rows = np.array(np.swapaxes(x, -1, -2), dtype=np.float64, order="C").reshape(-1, n)
    window = max(1, int(round(normalization_window_s * sampling_rate_hz)))
    out = np.empty(rows.shape, np.float32)
    group = max(3, GROUP_SAMPLES // n)  # rows at a time: the working set stays in cache
    for start in range(0, len(rows), group):
        part = rows[start : start + group]
        if highpass_hz > 0 and n > 1:
            part -= part[:, :1]
            part = highpass(part, float(highpass_hz), float(sampling_rate_hz), order=4, axis=1)
        out[start : start + group] = _normalize_rows(part, window)
    return np.ascontiguousarray(np.swapaxes(out.reshape(*x.shape[:-2], 3, n), -1, -2))
