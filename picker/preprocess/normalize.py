"""Per-window normalisation of training windows: ``std`` or ``peak`` (NumPy, no TensorFlow).

``x`` is one window ``(n_samples, 3)`` or a batch ``(..., n_samples, 3)``, columns **E, N, Z**.
The sliding normalisation that continuous prediction and ``data.normalization: sliding`` use
is :func:`picker.preprocess.model_input.model_input`.
"""

from __future__ import annotations

import numbers

import numpy as np

NORMALIZE_MODES = ("std", "peak")


def normalize(x, mode: str = "std", eps: float = 0.0) -> np.ndarray:
    """Demean each channel and divide it by its std (``"std"``) or its peak ``|x|`` (``"peak"``).

    Works on one window ``(n_samples, 3)`` or a batch ``(..., n_samples, 3)`` (reductions over
    axis -2). Scale-free: each channel is first divided by its peak, so tiny amplitudes (1e-30)
    normalise without underflow. A channel whose demeaned peak is ``<= eps`` (a zero or constant
    channel when ``eps == 0``) comes out exactly zero. Never NaN/Inf for finite input.

    Args:
        x: ``(..., n_samples, 3)``, columns E, N, Z.
        mode: one of :data:`NORMALIZE_MODES`.
        eps: amplitude (data units) at or below which a channel counts as empty, >= 0.

    Returns:
        float32 array of the shape of ``x``.
    """
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[-1] != 3:
        raise ValueError(
            f"x must have shape (n_samples, 3) or (batch, n_samples, 3) with columns E, N, Z, "
            f"got {x.shape}"
        )
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"mode must be one of {NORMALIZE_MODES}, got {mode!r}")
    if not (isinstance(eps, numbers.Real) and eps >= 0):  # numpy scalars are Real; NaN fails
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    # channels-first copy: reductions along a contiguous last axis are far faster than axis -2
    xt = np.swapaxes(x, -1, -2).astype(np.float32, order="C", copy=True)
    # a float64 mean is exact for a constant channel, so it demeans to exact zeros; the second
    # (float32) pass removes the rounding of the first mean under a large DC offset
    xt -= xt.mean(axis=-1, keepdims=True, dtype=np.float64).astype(np.float32)
    xt -= xt.mean(axis=-1, keepdims=True)
    peak = np.abs(xt).max(axis=-1, keepdims=True)
    live = peak > eps
    xt /= np.where(live, peak, np.float32(1.0))  # now in [-1, 1]: no underflow below
    if mode == "std":
        rms = np.sqrt(np.einsum("...i,...i->...", xt, xt)[..., None] / np.float32(xt.shape[-1]))
        xt *= np.where(live, np.float32(1.0) / np.where(live, rms, np.float32(1.0)), 0)
    elif eps > 0:
        xt *= live
    out = np.empty(x.shape, dtype=np.float32)
    for c in range(3):  # three strided copies: faster than one transposing copy
        out[..., c] = xt[..., c, :]
    return out
