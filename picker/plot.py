"""Review figures: the three components with picks marked, P and S probabilities beneath.

matplotlib is imported inside the functions. Figures are plain ``matplotlib.figure.Figure``
objects drawn by the Agg canvas: no display is needed, pyplot's global state and backend are
never touched, and nothing stays open after a figure is saved.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_picks"]

#: Above this many samples a trace is drawn as a min/max envelope of this many blocks.
MAX_PLOT_POINTS = 20_000

_PHASE_COLOURS = {"P": "tab:blue", "S": "tab:red"}


def _envelope(values: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """(times s, values) to draw; long traces become a min/max envelope (peaks survive)."""
    n = len(values)
    if n <= MAX_PLOT_POINTS:
        return np.arange(n) / rate_hz, values
    block = -(-n // (MAX_PLOT_POINTS // 2))
    n_blocks = n // block
    blocks = values[: n_blocks * block].reshape(n_blocks, block)
    times = (np.arange(n_blocks) * block + block / 2) / rate_hz
    lo, hi = blocks.min(axis=1), blocks.max(axis=1)
    return np.repeat(times, 2), np.column_stack([lo, hi]).ravel()


def plot_picks(
    data: np.ndarray,
    sampling_rate_hz: float,
    probabilities: np.ndarray,
    picks: Sequence,
    path: str | os.PathLike,
    title: str = "",
    *,
    probabilities_rate_hz: float | None = None,
) -> Path:
    """Write a review figure (PNG or any matplotlib format, from the suffix); return ``path``.

    Args:
        data: ``(n_samples, 3)`` waveforms, columns E, N, Z, at ``sampling_rate_hz``.
        sampling_rate_hz: the data's rate.
        probabilities: ``(n_prob_samples, 3)`` noise/P/S probabilities starting at the same time.
        picks: objects with ``phase`` (``"P"``/``"S"``) and ``index`` (sample of ``data``).
        path: output file; its folder is created.
        title: figure title (e.g. the station id and source).
        probabilities_rate_hz: the probabilities' rate; None: they span the data's duration.

    The time axis is seconds from the first sample.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = np.asarray(data, dtype=np.float32)
    probabilities = np.asarray(probabilities, dtype=np.float32)
    rate = float(sampling_rate_hz)
    if probabilities_rate_hz is None:
        duration_s = max(len(data), 1) / rate
        probabilities_rate_hz = max(len(probabilities), 1) / duration_s
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    fig = Figure(figsize=(12, 7))
    FigureCanvasAgg(fig)
    axes = fig.subplots(4, 1, sharex=True)
    try:
        for column, (ax, name) in enumerate(zip(axes[:3], "ENZ", strict=True)):
            times, values = _envelope(data[:, column], rate)
            ax.plot(times, values, color="k", linewidth=0.5)
            ax.set_ylabel(name)
        for column, phase in ((1, "P"), (2, "S")):
            times, values = _envelope(probabilities[:, column], probabilities_rate_hz)
            axes[3].plot(times, values, color=_PHASE_COLOURS[phase], linewidth=0.8, label=phase)
        axes[3].set_ylim(-0.05, 1.05)
        axes[3].set_ylabel("probability")
        axes[3].legend(loc="upper right", fontsize="small")
        for pick in picks:
            colour = _PHASE_COLOURS.get(pick.phase, "tab:green")
            for ax in axes:
                ax.axvline(pick.index / rate, color=colour, linewidth=0.8, alpha=0.8)
        axes[3].set_xlabel("time (s) from the first sample")
        if title:
            axes[0].set_title(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        fig.clear()
    return path
