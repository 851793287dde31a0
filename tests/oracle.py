"""The exact "oracle" picker model of ``test_predict.py``, shared by the evaluate / plot tests.

``Conv1D(3, 21, padding="same")`` with hand-set weights and a softmax: the noise logit is a
constant 20, the P logit ``p_gain`` × the normalised Z sample, the S logit ``s_gain`` × the
normalised E sample. A lone spike normalises to about sqrt(window) ≈ 55, so with gain 1 the P
(S) probability is ~1 exactly at a Z (E) spike and ~0 elsewhere; with ``s_gain=0.4`` an S peak
reaches only ~0.87.
"""

from __future__ import annotations

import keras
import numpy as np


def make_oracle(p_gain: float = 1.0, s_gain: float = 1.0):
    """The oracle model (channels last, any input length)."""
    inputs = keras.Input((None, 3))
    conv = keras.layers.Conv1D(3, 21, padding="same", name="oracle")
    outputs = keras.layers.Softmax(axis=-1)(conv(inputs))
    weights = np.zeros((21, 3, 3), np.float32)
    weights[10, 2, 1], weights[10, 0, 2] = p_gain, s_gain
    conv.set_weights([weights, np.array([20.0, 0.0, 0.0], np.float32)])
    return keras.Model(inputs, outputs)


def spikes(n_samples: int, p_samples=(), s_samples=(), value: float = 1.0) -> np.ndarray:
    """``(n_samples, 3)`` E, N, Z zeros with ``value`` on Z at P samples and on E at S samples."""
    data = np.zeros((n_samples, 3), np.float32)
    data[list(p_samples), 2] = value
    data[list(s_samples), 0] = value
    return data
