"""Augmentation of three-component training windows: small NumPy callables (no TensorFlow).

Arrays
------
``x`` is one window, shape ``(n_samples, 3)``, columns **E, N, Z** (as in
:class:`picker.io.base.Record`), any real dtype; results are new ``float32`` arrays (the input is
never modified). Amplitudes are in the data's own units (counts, m/s, ...): every function is
scale-free. Random draws come from the caller's :class:`numpy.random.Generator`, so a fixed seed
gives a fixed result.

Picks
-----
:data:`Picks` is ``(P samples, S samples)``: a tuple of two lists of floats, positions in samples
from the window start (several of each phase when two events share a window). Functions accept
any pair of scalars / sequences / ``None`` (``-1`` and NaN mean "no pick", as in
:mod:`picker.training.labels`) and return the canonical form. Functions that move the time axis return
the shifted picks and keep only those inside the output window (``0 <= pick < n_samples``).
The picks feed :func:`picker.training.labels.make_labels` directly: ``make_labels(n, *picks, ...)``.

Pipeline
--------
:func:`picker.training.crop.random_crop` cuts the training window, :func:`augment_window` applies the random
augmentations with the probabilities of a plain mapping (keys and defaults in
:data:`DEFAULT_AUGMENT`) in the order stack -> scale -> polarity -> channel drop -> vertical only
-> real noise -> noise -> low-pass -> gap -> glitch, and :func:`picker.preprocess.normalize.normalize` comes
last.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np

from picker.training.windows import (
    Picks,
    as_picks,
    check_int,
    check_window,
    sample_outside,
    shift_picks,
)

DEFAULT_AUGMENT: Mapping[str, object] = MappingProxyType(
    {
        "p_stack": 0.0,  # probability of stacking a second event (needs ``other``)
        "stack_ratio_range": (0.1, 1.0),  # std(added event) / std(x), uniform
        "stack_min_separation_samples": 100,  # added P vs. every pick of x
        "p_scale": 0.0,  # probability of an amplitude scaling
        "scale_range": (0.5, 2.0),  # factor, log-uniform
        "scale_per_channel": False,  # one factor per channel instead of one for all
        "p_flip": 0.0,  # probability of a polarity flip
        "p_drop": 0.0,  # probability of zeroing channels
        "p_vertical_only": 0.0,  # probability of zeroing E and N (a vertical-only station)
        "drop_max_channels": 2,  # 1 or 2
        "p_real_noise": 0.0,  # probability of adding the pick-free part of ``other`` (real noise)
        "real_noise_snr_db_range": (0.0, 30.0),  # as noise_snr_db_range, for the real noise
        "p_noise": 0.0,  # probability of adding Gaussian noise
        "noise_snr_db_range": (0.0, 30.0),  # 20 log10(std(x) / std(noise)) per channel, uniform
        "p_lowpass": 0.0,  # probability of a low-pass (data recorded at a lower rate)
        "lowpass_corner_range": (0.16, 0.8),  # corner / Nyquist, log-uniform (8-40 Hz at 100 Hz)
        "p_gap": 0.0,  # probability of zeroing a span
        "gap_max_fraction": 0.2,  # longest gap as a fraction of the window
        "p_glitch": 0.0,  # probability of a step, spike, boxcar or noise burst (labelled noise)
    }
)
"""Keys accepted by :func:`augment_window` and their defaults (every augmentation off)."""

_PROBABILITY_KEYS = tuple(key for key in DEFAULT_AUGMENT if key.startswith("p_"))
_TWO_PI = np.float32(2.0 * np.pi)
_REAL = (int, float, np.integer, np.floating)

# --------------------------------------------------------------------------- helpers


def _check_range(value, name: str, *, positive: bool = False) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi) or (positive and lo <= 0):
        need = "0 < low <= high" if positive else "low <= high"
        raise ValueError(f"{name} must satisfy {need}, got {value!r}")
    return lo, hi


def _check_fraction(value, name: str) -> float:
    if not (isinstance(value, _REAL) and 0 < value <= 1):
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


def _channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (two-pass) of a float32 ``(n_samples, 3)`` array, as ``(3,)``.

    Works on a channels-first copy with BLAS products: NumPy's reductions and broadcasts along
    a length-3 last axis are ~5x slower.
    """
    n = x.shape[0]
    xt = np.ascontiguousarray(x.T)
    ones = np.ones(n, dtype=np.float32)
    mean = (xt @ ones) / np.float32(n)
    xt -= mean[:, None]
    xt *= xt
    return mean, np.sqrt((xt @ ones) / np.float32(n))


def _std(x: np.ndarray) -> float:
    """Std of all values of a float32 array (two-pass, flat: cheaper than per channel)."""
    flat = x.reshape(-1)
    centred = flat - np.float32(flat.sum() / flat.size)
    return math.sqrt(float(np.vdot(centred, centred)) / flat.size)


def _standard_normal(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Standard normal float32 samples by Box-Muller (about 2x faster than
    ``rng.standard_normal(dtype=np.float32)``); float32 uniforms cap ``|z|`` at 5.8."""
    size = shape[0] * shape[1]
    half = (size + 1) // 2
    u = rng.random((2, half), dtype=np.float32)
    r = np.sqrt(np.float32(-2.0) * np.log1p(-u[0]))  # 1 - u in (0, 1]: log is finite
    angle = _TWO_PI * u[1]
    z = np.empty(2 * half, dtype=np.float32)
    np.multiply(r, np.cos(angle), out=z[:half])
    np.multiply(r, np.sin(angle), out=z[half:])
    return z[:size].reshape(shape)


# --------------------------------------------------------------------------- amplitude


def scale_amplitude(
    x, rng: np.random.Generator, low: float = 0.5, high: float = 2.0, per_channel: bool = False
) -> np.ndarray:
    """Multiply by a log-uniform factor in ``[low, high]`` (one per channel if ``per_channel``).

    Args:
        x: ``(n_samples, 3)``, columns E, N, Z.
        rng: random generator.
        low, high: factor range, ``0 < low <= high``.
        per_channel: draw one factor per column instead of one for the window.

    Returns:
        ``(n_samples, 3)`` float32.
    """
    x = check_window(x)
    lo, hi = _check_range((low, high), "(low, high)", positive=True)
    factor = np.exp(rng.uniform(math.log(lo), math.log(hi), size=3 if per_channel else 1))
    return x * factor.astype(np.float32)


def flip_polarity(x, rng: np.random.Generator | None = None) -> np.ndarray:
    """``-x`` as float32 ``(n_samples, 3)``; ``rng`` is unused (uniform signature)."""
    return np.negative(check_window(x))


def add_gaussian_noise(
    x, rng: np.random.Generator, snr_db_range: Sequence[float] = (0.0, 30.0)
) -> np.ndarray:
    """Add white Gaussian noise at a uniform random SNR.

    ``SNR_dB = 20 log10(std(channel) / std(noise))`` is drawn once and applied to each channel
    relative to that channel's own std, so a zero (missing) channel stays zero.

    Args:
        x: ``(n_samples, 3)``, columns E, N, Z.
        rng: random generator.
        snr_db_range: ``(low, high)`` in dB.

    Returns:
        ``(n_samples, 3)`` float32.
    """
    x = check_window(x)
    lo, hi = _check_range(snr_db_range, "snr_db_range")
    snr_db = rng.uniform(lo, hi)
    _, std = _channel_stats(x)
    sigma = std * np.float32(10.0 ** (-snr_db / 20.0))
    # scale column c by sigma[c] with a BLAS product (exact: the off-diagonal terms are 0)
    noise = np.matmul(_standard_normal(rng, x.shape), np.diag(sigma))
    noise += x
    return noise


def add_real_noise(
    x,
    other,
    other_picks,
    rng: np.random.Generator,
    snr_db_range: Sequence[float] = (0.0, 30.0),
    margin_samples: int = 50,
    min_samples: int = 300,
) -> np.ndarray:
    """Add real noise: the part of ``other`` before its first pick, at a random SNR.

    The noise is ``other[: first pick - margin_samples]`` (all of ``other`` without picks),
    demeaned and repeated forwards and backwards alternately to the window length, so the joins
    are continuous. ``SNR_dB = 20 log10(std(channel) / std(added))`` is drawn once, uniform in
    ``snr_db_range``, for each live channel of ``x``; a zero (missing) channel stays zero. Each
    live channel of ``x`` takes a live channel of the noise (the same one where it is live).
    Weak events in another station's noise: what the few labelled records rarely show.

    Args:
        x: ``(n_samples, 3)``, columns E, N, Z.
        other: ``(n_samples, 3)``, a window of another record.
        other_picks: :data:`Picks` of ``other``.
        rng: random generator.
        snr_db_range: ``(low, high)`` in dB.
        margin_samples: samples kept clear before ``other``'s first pick.
        min_samples: shortest usable noise; with less (or all-zero noise) ``x`` comes back.

    Returns:
        ``(n_samples, 3)`` float32.
    """
    x = check_window(x)
    other = check_window(other, "other")
    lo, hi = _check_range(snr_db_range, "snr_db_range")
    first = min(as_picks(other_picks)[0] + as_picks(other_picks)[1], default=len(other))
    noise = other[: max(0, math.floor(first) - margin_samples)]
    noise_live = np.flatnonzero(noise.std(axis=0) > 0) if len(noise) >= min_samples else []
    if len(noise_live) == 0:
        return x.copy()
    noise = noise - noise.mean(axis=0)
    repeats = -(-x.shape[0] // len(noise))
    noise = np.concatenate([noise if i % 2 == 0 else noise[::-1] for i in range(repeats)])
    snr = np.float32(10.0 ** (-rng.uniform(lo, hi) / 20.0))
    _, std_x = _channel_stats(x)
    y = x.copy()
    for c in np.flatnonzero(std_x > 0):
        source = c if c in noise_live else noise_live[c % len(noise_live)]
        column = noise[: x.shape[0], source]
        std_noise = np.float32(column.std())
        if std_noise > 0:  # the part used can be flat (a gap) even when the whole is not
            y[:, c] += column * (snr * std_x[c] / std_noise)
    return y


def drop_channels(x, rng: np.random.Generator, max_dropped: int = 2) -> np.ndarray:
    """Zero 1 to ``max_dropped`` random columns, never every non-zero column.

    Only columns that are not already all zero are candidates and at least one of them is kept,
    so a window with a single live column comes back unchanged (as a copy).

    Args:
        x: ``(n_samples, 3)``, columns E, N, Z.
        rng: random generator.
        max_dropped: 1 or 2.

    Returns:
        ``(n_samples, 3)`` float32.
    """
    x = check_window(x)
    max_dropped = check_int(max_dropped, "max_dropped", 1, 2)
    y = x.copy()
    live = np.flatnonzero(np.ones(x.shape[0], dtype=np.float32) @ np.abs(x))
    most = min(max_dropped, live.size - 1)
    if most >= 1:
        k = int(rng.integers(1, most + 1))
        for column in live[np.argsort(rng.random(live.size))[:k]]:  # <= 2 columns
            y[:, column] = 0.0
    return y


def keep_vertical(x) -> np.ndarray:
    """Zero E and N (columns 0 and 1) when Z is not all zero: a vertical-only station.

    Args:
        x: ``(n_samples, 3)``, columns E, N, Z.

    Returns:
        ``(n_samples, 3)`` float32; a copy of ``x`` when its Z column is all zero.
    """
    y = check_window(x).copy()
    if np.any(y[:, 2]):
        y[:, :2] = 0.0
    return y


def low_pass(x, corner: float) -> np.ndarray:
    """Zero-phase low-pass of ``x``: what data recorded at a lower rate look like once resampled.

    Gain 1 up to ``0.8 * corner``, a cosine taper to 0 at ``corner`` (a fraction of the Nyquist
    frequency, in (0, 1]), applied in the frequency domain with zero padding (no wrap-around of
    the filter's short ringing). Each column is demeaned first; picks do not move.

    Args:
        x: ``(n_samples, 3)``, columns E, N, Z.
        corner: corner frequency / Nyquist frequency.

    Returns:
        ``(n_samples, 3)`` float32.
    """
    x = check_window(x)
    n = x.shape[0]
    n_fft = n + 512
    relative = np.fft.rfftfreq(n_fft) * 2.0  # frequency / Nyquist
    ramp = np.clip((corner - relative) / (0.2 * corner), 0.0, 1.0)
    gain = 0.5 - 0.5 * np.cos(np.pi * ramp)
    spectrum = np.fft.rfft(x - x.mean(axis=0), n=n_fft, axis=0) * gain[:, None]
    return np.fft.irfft(spectrum, n=n_fft, axis=0)[:n].astype(np.float32)


def add_gap(
    x, rng: np.random.Generator, max_gap_fraction: float = 0.2
) -> tuple[np.ndarray, tuple[int, int]]:
    """Zero a random span of all channels (a data gap); picks do not move.

    The gap length is uniform in ``[1, max(1, floor(max_gap_fraction * n_samples))]`` samples and
    its start uniform over the positions where it fits.

    Args:
        x: ``(n_samples, 3)``, columns E, N, Z.
        rng: random generator.
        max_gap_fraction: in (0, 1].

    Returns:
        ``(y, (start, stop))``: ``y`` float32 ``(n_samples, 3)`` with ``y[start:stop] == 0``.
    """
    x = check_window(x)
    fraction = _check_fraction(max_gap_fraction, "max_gap_fraction")
    n = x.shape[0]
    length = int(rng.integers(1, max(1, int(fraction * n)) + 1))
    start = int(rng.integers(0, n - length + 1))
    y = x.copy()
    y[start : start + length] = 0.0
    return y, (start, start + length)


def add_glitch(x, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Add a transient that is not an arrival at a random sample of random channels; picks do
    not move.

    One of: a ``step`` (a constant offset from there on), a ``spike`` (one sample), a ``boxcar``
    (an offset over 5–200 samples), a ``burst`` (white noise under a Hann envelope of 20–300
    samples: traffic, wind or a footstep) or a ``gated`` burst (white noise switched on and off
    with sharp edges, 20–300 samples: a machine or a gust), 3–30 times the channel's std. Real
    records hold such transients; a picker must not call them arrivals.

    Returns:
        ``(y, kind)``: ``y`` float32 ``(n_samples, 3)``, ``kind`` the glitch type.
    """
    x = check_window(x)
    n = x.shape[0]
    # samples each kind spans: a fixed count, or a (low, high) range drawn from
    spans = {"step": n, "spike": 1, "boxcar": (5, 201), "burst": (20, 301), "gated": (20, 301)}
    kind = tuple(spans)[int(rng.integers(len(spans)))]
    start = int(rng.integers(0, n))
    span = spans[kind]
    length = span if isinstance(span, int) else int(rng.integers(*span))
    stop = min(n, start + length)
    channels = rng.random(3) < 0.5
    channels[int(rng.integers(3))] = True
    size = _channel_stats(x)[1] * rng.uniform(3.0, 30.0) * rng.choice([-1.0, 1.0], 3)
    shape = np.ones((stop - start, 1))
    if kind == "burst":
        envelope = np.hanning(length + 2)[1:-1] / np.sqrt(0.375)  # unit RMS over the burst
        shape = envelope[: stop - start, None] * rng.standard_normal((stop - start, 3))
    elif kind == "gated":
        shape = rng.standard_normal((stop - start, 3))
    y = x.copy()
    y[start:stop] += (shape * np.where(channels, size, 0.0)).astype(np.float32)
    return y, kind


# --------------------------------------------------------------------------- time axis


def stack_event(
    x,
    picks,
    other,
    other_picks,
    rng: np.random.Generator,
    ratio_range: Sequence[float] = (0.1, 1.0),
    min_separation_samples: int = 100,
) -> tuple[np.ndarray, Picks]:
    """Add a second event: ``other`` shifted by a random whole number of samples and scaled.

    The shift puts the first P of ``other`` (else its first S) at a uniform random sample of the
    window at least ``min_separation_samples`` away from every pick of ``x``; without picks in
    ``other`` the shift is uniform in ``(-n_samples, n_samples)``. The shifted window is
    zero-filled, not wrapped. It is scaled so that ``std(added) / std(x)`` (stds over the whole
    unshifted windows) is uniform in ``ratio_range``.

    When no shift satisfies the separation, or ``x`` or ``other`` is all constant, ``x`` comes
    back unchanged (a float32 copy) with its picks.

    Args:
        x: ``(n_samples, 3)``, columns E, N, Z.
        picks: :data:`Picks` of ``x``, kept as they are.
        other: ``(n_samples, 3)``, the event to add.
        other_picks: :data:`Picks` of ``other``.
        rng: random generator.
        ratio_range: ``(low, high)`` amplitude ratio, ``0 < low <= high``.
        min_separation_samples: >= 0.

    Returns:
        ``(y, picks)``: ``y`` float32 ``(n_samples, 3)``; picks of ``x`` plus the shifted picks
        of ``other`` that fall inside the window, each list sorted.
    """
    x = check_window(x)
    other = check_window(other, "other")
    if other.shape != x.shape:
        raise ValueError(f"other must have the shape of x {x.shape}, got {other.shape}")
    lo, hi = _check_range(ratio_range, "ratio_range", positive=True)
    sep = check_int(min_separation_samples, "min_separation_samples", 0)
    picks = as_picks(picks)
    other_picks = as_picks(other_picks)
    n = x.shape[0]
    std_x, std_o = _std(x), _std(other)
    if std_x == 0 or std_o == 0:
        return x.copy(), picks
    ref_list = other_picks[0] or other_picks[1]
    if ref_list:
        ref = min(ref_list)
        forbidden = [
            (math.floor(p - sep - ref) + 1, math.ceil(p + sep - ref)) for p in picks[0] + picks[1]
        ]
        shift = sample_outside(math.ceil(-ref), math.ceil(n - ref) - 1, forbidden, rng)
        if shift is None:
            return x.copy(), picks
    else:
        shift = int(rng.integers(1 - n, n))
    gain = np.float32(rng.uniform(lo, hi) * std_x / std_o)
    y = x.copy()
    a, b = max(shift, 0), min(n, n + shift)
    if a < b:
        y[a:b] += gain * other[a - shift : b - shift]
    moved = shift_picks(other_picks, shift, n)
    return y, (sorted(picks[0] + moved[0]), sorted(picks[1] + moved[1]))


# --------------------------------------------------------------------------- pipeline


def check_augment_config(config: Mapping[str, object] | None = None) -> dict[str, object]:
    """:data:`DEFAULT_AUGMENT` updated with ``config``, validated.

    Raises:
        ValueError: an unknown key (named), a probability outside [0, 1] or a bad range.
    """
    if config is None:
        return dict(DEFAULT_AUGMENT)
    unknown = set(config) - set(DEFAULT_AUGMENT)
    if unknown:
        raise ValueError(
            f"unknown augmentation key(s) {sorted(unknown)}; known keys: {sorted(DEFAULT_AUGMENT)}"
        )
    cfg = {**DEFAULT_AUGMENT, **config}
    for key in _PROBABILITY_KEYS:
        p = cfg[key]
        if not (isinstance(p, _REAL) and 0 <= p <= 1):
            raise ValueError(f"{key} must be a probability in [0, 1], got {p!r}")
    _check_range(cfg["stack_ratio_range"], "stack_ratio_range", positive=True)
    check_int(cfg["stack_min_separation_samples"], "stack_min_separation_samples", 0)
    _check_range(cfg["scale_range"], "scale_range", positive=True)
    if not isinstance(cfg["scale_per_channel"], (bool, np.bool_)):
        raise ValueError(f"scale_per_channel must be a bool, got {cfg['scale_per_channel']!r}")
    check_int(cfg["drop_max_channels"], "drop_max_channels", 1, 2)
    _check_range(cfg["noise_snr_db_range"], "noise_snr_db_range")
    _check_range(cfg["real_noise_snr_db_range"], "real_noise_snr_db_range")
    _check_fraction(cfg["gap_max_fraction"], "gap_max_fraction")
    low, high = _check_range(cfg["lowpass_corner_range"], "lowpass_corner_range", positive=True)
    if high > 1:
        raise ValueError(f"lowpass_corner_range must be within (0, 1], got {(low, high)}")
    return cfg


def augment_window(
    x,
    picks,
    rng: np.random.Generator,
    config: Mapping[str, object] | None = None,
    *,
    other=None,
    other_picks=None,
) -> tuple[np.ndarray, Picks]:
    """Apply each augmentation with its probability, in the order stack -> scale -> polarity ->
    channel drop -> vertical only -> real noise -> noise -> low-pass -> gap -> glitch.
    Normalisation is not included.

    Seven uniforms are drawn on every call (one per augmentation), so the random stream does not
    depend on which augmentations fire; an eighth only when ``p_vertical_only`` is not 0 (after
    the channel drop) and another only when ``p_real_noise`` is not 0 (after that), so
    configurations without them keep their stream; likewise the low-pass draws only when
    ``p_lowpass`` is not 0 (its corner: one more). Stacking and real noise need ``other``;
    without it ``p_stack`` and ``p_real_noise`` are ignored.

    Args:
        x: ``(n_samples, 3)``, columns E, N, Z.
        picks: :data:`Picks` of ``x``.
        rng: random generator.
        config: probabilities and parameters, keys of :data:`DEFAULT_AUGMENT` (missing keys take
            the default; all probabilities default to 0).
        other: ``(n_samples, 3)`` window of another record (to stack, or the source of real
            noise), or ``None``.
        other_picks: :data:`Picks` of ``other``.

    Returns:
        ``(y, picks)``: ``y`` a new float32 ``(n_samples, 3)`` array, picks canonical (moved
        only by stacking).

    Raises:
        ValueError: see :func:`check_augment_config`, or a badly shaped ``x``/``other``.
    """
    cfg = check_augment_config(config)
    x = check_window(x)
    picks = as_picks(picks)
    u = rng.random(7)
    y = x
    if other is not None and u[0] < cfg["p_stack"]:
        y, picks = stack_event(
            y,
            picks,
            other,
            other_picks,
            rng,
            cfg["stack_ratio_range"],
            cfg["stack_min_separation_samples"],
        )
    if u[1] < cfg["p_scale"]:
        low, high = cfg["scale_range"]
        y = scale_amplitude(y, rng, low, high, per_channel=cfg["scale_per_channel"])
    if u[2] < cfg["p_flip"]:
        y = flip_polarity(y)
    if u[3] < cfg["p_drop"]:
        y = drop_channels(y, rng, cfg["drop_max_channels"])
    if cfg["p_vertical_only"] and rng.random() < cfg["p_vertical_only"]:
        y = keep_vertical(y)
    if cfg["p_real_noise"] and rng.random() < cfg["p_real_noise"] and other is not None:
        y = add_real_noise(y, other, other_picks, rng, cfg["real_noise_snr_db_range"])
    if u[4] < cfg["p_noise"]:
        y = add_gaussian_noise(y, rng, cfg["noise_snr_db_range"])
    if cfg["p_lowpass"] and rng.random() < cfg["p_lowpass"]:
        low, high = cfg["lowpass_corner_range"]
        y = low_pass(y, float(np.exp(rng.uniform(np.log(low), np.log(high)))))
    if u[5] < cfg["p_gap"]:
        y, _ = add_gap(y, rng, cfg["gap_max_fraction"])
    if u[6] < cfg["p_glitch"]:
        y, _ = add_glitch(y, rng)
    if y is x:
        y = x.copy()
    return y, picks
