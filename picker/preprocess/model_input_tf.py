"""The model-input preprocessing (:func:`picker.preprocess.model_input.model_input`) as TensorFlow ops.

The training pipeline runs it on whole batches inside tf.data, where it uses every core without
holding Python's GIL, while the NumPy window code (crops, augmentations, labels) makes the next
batch. It computes the same numbers as the NumPy version, in float64, with the same filter
operators (:func:`picker.preprocess.highpass.block_operators`): a causal Butterworth high-pass from rest
after subtracting the first sample, then demeaning and division by the running standard deviation
over a centred window cut at the ends (0 where a channel is locally constant).
"""

from __future__ import annotations

import tensorflow as tf

from picker.preprocess.highpass import BLOCK, block_operators


def supported(sampling_rate_hz: float, highpass_hz: float, order: int = 4) -> bool:
    """Whether :func:`model_input_tf` handles this high-pass (very low cutoffs are left to
    the NumPy version, whose state loop handles any decay)."""
    if highpass_hz <= 0:
        return True
    return block_operators(order, float(highpass_hz), float(sampling_rate_hz))[4] is not None


def model_input_tf(
    x, sampling_rate_hz: float, normalization_window_s: float, highpass_hz: float, order: int = 4
):
    """``(batch, n_samples, 3)`` float E/N/Z → float32 model input of the same shape."""
    n = tf.shape(x)[1]
    rows = tf.reshape(tf.transpose(tf.cast(x, tf.float64), [0, 2, 1]), [-1, n])
    if highpass_hz > 0:
        rows = _highpass_rows(
            rows - rows[:, :1], float(highpass_hz), float(sampling_rate_hz), order
        )
    window = max(1, int(round(normalization_window_s * sampling_rate_hz)))
    out = _normalize_rows(rows, window // 2)
    return tf.transpose(tf.reshape(out, [-1, 3, n]), [0, 2, 1])


def _highpass_rows(rows, cutoff_hz: float, sampling_rate_hz: float, order: int):
    """Causal high-pass of each row of ``rows`` (k, n) float64, from rest."""
    toeplitz, free, to_state, a_block, terms = block_operators(order, cutoff_hz, sampling_rate_hz)
    if terms is None:
        raise ValueError(
            f"high-pass at {cutoff_hz} Hz is too slow to decay for the TensorFlow path; "
            "use a higher cutoff"
        )
    k, n = tf.shape(rows)[0], tf.shape(rows)[1]
    n_blocks = (n + BLOCK - 1) // BLOCK
    blocks = tf.reshape(tf.pad(rows, [[0, 0], [0, n_blocks * BLOCK - n]]), [-1, BLOCK])
    y = tf.matmul(blocks, tf.constant(toeplitz.T))
    end_states = tf.reshape(tf.matmul(blocks, tf.constant(to_state)), [k, n_blocks, -1])
    starts = tf.zeros_like(end_states)
    for lag, power in enumerate(terms, start=1):
        shifted = tf.pad(end_states, [[0, 0], [lag, 0], [0, 0]])[:, :n_blocks]
        starts += tf.einsum("kbs,ts->kbt", shifted, tf.constant(power))
    y += tf.matmul(tf.reshape(starts, [-1, tf.shape(end_states)[2]]), tf.constant(free.T))
    return tf.reshape(y, [k, n_blocks * BLOCK])[:, :n]


def _normalize_rows(rows, half: int):
    """Running-std normalisation of ``rows`` (k, n) float64 over ``[i - half, i + half]``."""
    n = tf.shape(rows)[1]
    rows = rows - tf.reduce_mean(rows, axis=1, keepdims=True)
    rms = tf.sqrt(tf.reduce_mean(rows * rows, axis=1, keepdims=True))
    index = tf.range(n)
    count = tf.cast(tf.minimum(index + half + 1, n) - tf.maximum(index - half, 0), tf.float64)

    def window_sums(values):
        # cumulative sums C (n + 1) extended by ``half`` copies of C[0] = 0 before and of C[n]
        # after: the sum over [max(i - half, 0), min(i + half, n - 1)] is E[i + 2 half + 1] - E[i]
        cumulative = tf.cumsum(values, axis=1)
        total = cumulative[:, -1:]
        extended = tf.concat(
            [
                tf.zeros([tf.shape(values)[0], half + 1], tf.float64),
                cumulative,
                tf.repeat(total, half, axis=1),
            ],
            axis=1,
        )
        return extended[:, 2 * half + 1 :] - extended[:, :n]

    mean = window_sums(rows) / count
    std = tf.sqrt(tf.maximum(window_sums(rows * rows) / count - mean * mean, 0.0))
    live = std > 1e-6 * rms
    out = tf.where(live, (rows - mean) / tf.where(live, std, tf.ones_like(std)), 0.0)
    return tf.cast(out, tf.float32)
