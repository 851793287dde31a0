"""Training windows and their picks: the shared vocabulary of crops and augmentations.

A window ``x`` is ``(n_samples, 3)`` float32, columns **E, N, Z**; its picks are
:data:`Picks`, ``(P samples, S samples)`` from the window start.
"""

from __future__ import annotations

import numpy as np

from picker.training.labels import valid_picks

__all__ = ["Picks", "as_picks", "check_int", "check_window", "sample_outside", "shift_picks"]

Picks = tuple[list[float], list[float]]
"""``(P samples, S samples)``: pick positions in samples from the window start."""


def as_picks(picks) -> Picks:
    """Canonical :data:`Picks` from a pair ``(p, s)`` of scalars, sequences or ``None``.

    ``-1``, NaN and ``None`` are dropped; ``None`` for the whole pair means no picks.
    """
    if picks is None:
        return [], []
    try:
        p, s = picks
    except (TypeError, ValueError):
        raise ValueError(f"picks must be a pair (P samples, S samples), got {picks!r}") from None
    return valid_picks(p), valid_picks(s)


def shift_picks(picks, shift: float, n_samples: int) -> Picks:
    """Add ``shift`` samples to every pick and keep those with ``0 <= pick < n_samples``."""
    p, s = as_picks(picks)
    p = [v + shift for v in p if 0 <= v + shift < n_samples]
    s = [v + shift for v in s if 0 <= v + shift < n_samples]
    return p, s


def check_window(x, name: str = "x") -> np.ndarray:
    """``x`` as a float32 ``(n_samples, 3)`` array (no copy when it already is one)."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 3 or x.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (n_samples, 3) with columns E, N, Z, got {x.shape}"
        )
    return x if x.dtype == np.float32 else x.astype(np.float32)


def check_int(value, name: str, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (no upper bound when ``high`` is None)."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {bounds}, got {value!r}")
    return int(value)


def sample_outside(lo: int, hi: int, forbidden, rng: np.random.Generator) -> int | None:
    """A uniform integer in ``[lo, hi]`` outside every half-open ``[a, b)`` of ``forbidden``;
    ``None`` when there is none."""
    segments = []
    start = lo
    for a, b in sorted(forbidden):
        if b <= start or a > hi:
            continue
        if a > start:
            segments.append((start, a))
        start = max(start, b)
    if start <= hi:
        segments.append((start, hi + 1))
    total = sum(b - a for a, b in segments)
    if total <= 0:
        return None
    r = int(rng.integers(total))
    for a, b in segments:
        if r < b - a:
            return a + r
        r -= b - a
    raise AssertionError("unreachable")
