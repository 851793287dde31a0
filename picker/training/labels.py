"""Training labels for P and S picks: soft ``(n_samples, 3)`` curves or integer classes.

Pure NumPy (no TensorFlow). Every function works on one window of ``n_samples`` samples; a
*pick* is a position in samples from the window start (sample 0).

Conventions
-----------
* Picks may be floats (sub-sample positions) and are **not rounded**: a curve is evaluated at the
  integer sample positions ``t = 0 .. n_samples - 1`` relative to the exact pick ``t0``. An
  integer pick therefore puts the peak (value 1) exactly on its sample.
* A pick argument is a scalar, ``None`` or a sequence/array of picks. ``-1`` (the readers'
  ``NO_PICK``), ``None``, NaN and +/-inf mean "no pick" and are ignored; every other value counts,
  even outside the window: a pick a few samples before sample 0 still leaves the tail of its
  curve inside the window, and a pick far outside leaves nothing. (So a real pick exactly at
  sample -1 cannot be expressed; it would be ignored.)
* Several picks of one phase (two events in one window after stacking) combine by the maximum.

Shapes (``w`` = ``width_samples``, ``d = t - t0``)
--------------------------------------------------
Functions of both phases take ``width_samples`` as one number (both phases) or a ``(P, S)`` pair.

* ``"gaussian"``: ``exp(-d**2 / (2 w**2))`` (``w`` is sigma in samples), truncated to 0 for
  ``|d| > GAUSSIAN_TRUNCATE * w`` (at 5 sigma the value is below 4e-6).
* ``"triangle"``: ``max(0, 1 - |d| / w)`` (1 at the pick, 0 at ``t0 +/- w``).
* ``"box"``: 1 for ``|d| <= w``, else 0.

Soft labels: columns noise, P, S (:data:`CLASS_NAMES`). Overlap rule: where the P and S curves
sum to more than 1 (S very close to P) both are divided by their sum, so ``P + S == 1`` and
noise is 0 there; elsewhere ``noise = 1 - P - S``. Every row lies in [0, 1] and sums to 1.

Sparse labels: class 1 (P) where ``P >= 0.5`` and ``P >= S``; class 2 (S) where ``S >= 0.5``
and ``S > P``; class 0 (noise) elsewhere. Ties between P and S go to P. The raw curves are
compared (no overlap rescaling).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from picker.config import check_label_width, phase_widths

LABEL_SHAPES = ("gaussian", "triangle", "box")
CLASS_NAMES = ("noise", "P", "S")
NO_PICK = -1
GAUSSIAN_TRUNCATE = 5.0
"""The Gaussian curve is set to 0 beyond this many sigmas from the pick."""

PickArg = float | int | Sequence[float] | np.ndarray | None


def _check_n_samples(n_samples) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if n_samples <= 0:
        raise ValueError(f"n_samples must be > 0, got {n_samples}")
    return int(n_samples)


def _check_shape(shape) -> str:
    if shape not in LABEL_SHAPES:
        raise ValueError(f"shape must be one of {LABEL_SHAPES}, got {shape!r}")
    return shape


def valid_picks(pick_samples: PickArg) -> list[float]:
    """The usable picks of a pick argument, as a list of floats (samples).

    ``None``, ``-1`` (``NO_PICK``), NaN and +/-inf are dropped; everything else is kept.

    Args:
        pick_samples: a scalar, ``None`` or a sequence/array of pick positions in samples.
    """
    if pick_samples is None:
        return []
    if isinstance(pick_samples, (int, float, np.integer, np.floating)):
        v = float(pick_samples)
        return [v] if (v != NO_PICK and math.isfinite(v)) else []
    try:
        arr = np.asarray(pick_samples, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"picks must be numbers (samples), got {pick_samples!r}") from None
    return [v for v in arr.tolist() if v != NO_PICK and math.isfinite(v)]


@functools.lru_cache(maxsize=512)
def _template(shape: str, w: float, frac: float) -> tuple[int, np.ndarray]:
    """Curve of a pick at ``i0 + frac`` (``0 <= frac < 1``) on samples ``i0 + k``.

    Returns ``(k_min, values)``: ``values[j]`` is the curve at ``k = k_min + j``, over the whole
    support. Cached (read-only) because picks usually share their fractional part (integers).
    """
    radius = GAUSSIAN_TRUNCATE * w if shape == "gaussian" else w
    k_min = math.ceil(frac - radius)
    d = np.arange(k_min, math.floor(frac + radius) + 1, dtype=np.float64) - frac
    if shape == "gaussian":
        values = np.exp(-0.5 * (d / w) ** 2)
    elif shape == "triangle":
        values = 1.0 - np.abs(d) / w
    else:
        values = np.ones(d.shape)
    values = values.astype(np.float32)
    values.flags.writeable = False
    return k_min, values


def _draw(out: np.ndarray, picks: list[float], shape: str, w: float) -> None:
    """``out = max(out, curve(pick))`` for each pick, on the part of its support in ``out``."""
    n = out.shape[0]
    radius = GAUSSIAN_TRUNCATE * w if shape == "gaussian" else w
    for t0 in picks:  # a loop over the (few) picks, each step vectorised over its samples
        if t0 + radius < 0 or t0 - radius > n - 1:
            continue  # far outside: nothing in the window
        i0 = math.floor(t0)
        k_min, values = _template(shape, w, t0 - i0)
        lo = i0 + k_min
        hi = lo + values.shape[0]
        a, b = max(lo, 0), min(hi, n)
        if a < b:
            seg = out[a:b]
            np.maximum(seg, values[a - lo : b - lo], out=seg)


def pick_curve(
    n_samples: int,
    pick_samples: PickArg,
    shape: str = "gaussian",
    width_samples: float = 10.0,
) -> np.ndarray:
    """Label curve of one phase: the maximum of one curve per pick.

    Args:
        n_samples: window length in samples (> 0).
        pick_samples: pick position(s) in samples from the window start; floats are used as is
            (no rounding); ``-1``/NaN/``None`` are ignored; picks outside the window contribute
            the part of their curve that falls inside.
        shape: one of :data:`LABEL_SHAPES`.
        width_samples: sigma (``"gaussian"``) or half-width (``"triangle"``, ``"box"``) in
            samples, > 0.

    Returns:
        ``(n_samples,)`` float32 in [0, 1]; all zeros when there is no pick.

    Raises:
        ValueError: unknown ``shape``, ``width_samples <= 0`` or ``n_samples <= 0``.
    """
    n = _check_n_samples(n_samples)
    shape = _check_shape(shape)
    w = check_label_width(width_samples)
    out = np.zeros(n, dtype=np.float32)
    _draw(out, valid_picks(pick_samples), shape, w)
    return out


def _phase_curves(n_samples, p_samples, s_samples, shape, width_samples):
    n = _check_n_samples(n_samples)
    shape = _check_shape(shape)
    w_p, w_s = phase_widths(width_samples)
    p = np.zeros(n, dtype=np.float32)
    s = np.zeros(n, dtype=np.float32)
    _draw(p, valid_picks(p_samples), shape, w_p)
    _draw(s, valid_picks(s_samples), shape, w_s)
    return p, s


def soft_labels(
    n_samples: int,
    p_samples: PickArg,
    s_samples: PickArg,
    shape: str = "gaussian",
    width_samples: float | Sequence[float] = 10.0,
) -> np.ndarray:
    """Soft (probability) labels with columns noise, P, S.

    Where ``P + S > 1`` both are divided by ``P + S`` (so noise is 0 there); elsewhere
    ``noise = 1 - P - S``. Rows lie in [0, 1] and sum to 1 (to float32 rounding).

    Args:
        n_samples: window length in samples (> 0).
        p_samples: P pick(s) in samples (see :func:`pick_curve`).
        s_samples: S pick(s) in samples.
        shape: one of :data:`LABEL_SHAPES`.
        width_samples: sigma or half-width in samples, > 0: one for both phases or a
            ``(P, S)`` pair.

    Returns:
        ``(n_samples, 3)`` float32, columns noise, P, S.
    """
    p, s = _phase_curves(n_samples, p_samples, s_samples, shape, width_samples)
    total = p + s
    over = total > 1.0
    if over.any():
        p[over] /= total[over]
        s[over] /= total[over]
        np.add(p, s, out=total)
    # total <= 1 now, so 1 - total <= 1; the maximum only removes rounding below 0
    noise = np.subtract(np.float32(1.0), total, out=total)
    out = np.empty((p.shape[0], 3), dtype=np.float32)
    out[:, 0] = np.maximum(noise, np.float32(0.0), out=noise)
    out[:, 1] = p
    out[:, 2] = s
    return out


def sparse_labels(
    n_samples: int,
    p_samples: PickArg,
    s_samples: PickArg,
    shape: str = "box",
    width_samples: float | Sequence[float] = 10.0,
) -> np.ndarray:
    """Integer class labels: 0 noise, 1 P, 2 S.

    A sample is P when its P curve is ``>= 0.5`` and ``>=`` the S curve, S when its S curve is
    ``>= 0.5`` and ``>`` the P curve, noise otherwise (ties between P and S go to P).

    Args: as :func:`soft_labels` (default shape ``"box"``: class P on ``[p - w, p + w]``).

    Returns:
        ``(n_samples,)`` int32 with values in {0, 1, 2}.
    """
    p, s = _phase_curves(n_samples, p_samples, s_samples, shape, width_samples)
    out = np.zeros(p.shape[0], dtype=np.int32)
    out[(p >= 0.5) & (p >= s)] = 1
    out[(s >= 0.5) & (s > p)] = 2
    return out


def make_labels(
    n_samples: int,
    p_samples: PickArg,
    s_samples: PickArg,
    *,
    shape: str = "gaussian",
    width_samples: float | Sequence[float] = 10.0,
    sparse: bool = False,
) -> np.ndarray:
    """:func:`sparse_labels` (``(n_samples,)`` int32) if ``sparse`` else :func:`soft_labels`
    (``(n_samples, 3)`` float32, columns noise, P, S)."""
    if sparse:
        return sparse_labels(n_samples, p_samples, s_samples, shape, width_samples)
    return soft_labels(n_samples, p_samples, s_samples, shape, width_samples)
