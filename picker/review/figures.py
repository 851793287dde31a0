"""Review figures: the three components with picks marked, P and S probabilities beneath.

One figure shows one :class:`TraceView`: a station's (or window's) three components stacked
and labelled with their channel codes, the station id and start time in the title, the
predicted picks as solid lines and reference picks as dashed lines (P red, S blue) across all
panels, and the P and S probabilities in a panel of their own underneath. The time axis is UTC
(matplotlib dates) when the start time is known, else seconds from the first sample. Traces
longer than :data:`MAX_PLOT_POINTS` samples are drawn as min/max envelopes, so peaks survive.

matplotlib is imported inside the functions. Figures are plain ``matplotlib.figure.Figure``
objects drawn by the Agg canvas: no display is needed, pyplot's global state and backend are
never touched, and a figure is garbage as soon as it is saved, so batch runs over thousands
of inputs keep flat memory. Files are written atomically (PNG, PDF or any format
matplotlib writes, from the suffix).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from picker.io.base import atomic_output

__all__ = [
    "MAX_PLOT_POINTS",
    "PHASE_COLOURS",
    "TraceView",
    "figure_name",
    "plot_picks",
    "plot_precision_recall",
    "plot_residuals",
    "plot_view",
    "review_figure",
    "save_figure",
]

#: Above this many samples a trace is drawn as a min/max envelope of this many blocks.
MAX_PLOT_POINTS = 20_000
#: Line colours of the phases (predicted: solid, reference: dashed).
PHASE_COLOURS = {"P": "tab:red", "S": "tab:blue"}
_OTHER_COLOUR = "tab:green"


@dataclass
class TraceView:
    """What one review figure shows.

    Attributes:
        data: ``(n_samples, 3)`` float waveforms, columns E, N, Z, at ``sampling_rate_hz``.
        sampling_rate_hz: the data's rate.
        start_time: ``obspy.UTCDateTime`` of sample 0, or None (axis in seconds then).
        station_id: shown in the title.
        channels: labels of the three panels (channel codes, E/N/Z order).
        probabilities: ``(n_prob_samples, 3)`` noise/P/S from sample 0, or None (no panel).
        probabilities_rate_hz: their rate; None: they span the data's duration.
        picks: predicted picks as ``(phase, seconds from sample 0)``.
        reference_picks: known picks as ``(phase, seconds from sample 0)``.
        title: extra title text (e.g. the source file).
    """

    data: np.ndarray
    sampling_rate_hz: float
    start_time: object = None
    station_id: str = ""
    channels: tuple[str, str, str] = ("E", "N", "Z")
    probabilities: np.ndarray | None = None
    probabilities_rate_hz: float | None = None
    picks: list[tuple[str, float]] = field(default_factory=list)
    reference_picks: list[tuple[str, float]] = field(default_factory=list)
    title: str = ""

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        if self.data.ndim != 2 or self.data.shape[1] != 3:
            raise ValueError(f"data must have shape (n_samples, 3), got {self.data.shape}")
        rate = float(self.sampling_rate_hz)
        if not (np.isfinite(rate) and rate > 0):
            raise ValueError(f"sampling_rate_hz must be > 0, got {self.sampling_rate_hz}")
        self.sampling_rate_hz = rate
        if self.probabilities is not None:
            self.probabilities = np.asarray(self.probabilities, dtype=np.float32)
            if self.probabilities_rate_hz is None:
                duration_s = max(len(self.data), 1) / rate
                self.probabilities_rate_hz = max(len(self.probabilities), 1) / duration_s
        if self.start_time is not None:
            from obspy import UTCDateTime

            self.start_time = UTCDateTime(self.start_time)

    @property
    def duration_s(self) -> float:
        return len(self.data) / self.sampling_rate_hz

    def crop(self, start_s: float, end_s: float) -> TraceView:
        """The part from ``start_s`` to ``end_s`` (seconds from sample 0, cut to the data).

        The new sample 0 is the first data sample at or after ``start_s``; picks outside the
        span are dropped, the others shifted; the start time moves along.
        """
        rate = self.sampling_rate_hz
        i0 = int(np.clip(np.ceil(start_s * rate - 1e-6), 0, len(self.data)))
        i1 = int(np.clip(np.floor(end_s * rate + 1e-6), i0, len(self.data)))
        t0, t1 = i0 / rate, i1 / rate
        probabilities = self.probabilities
        if probabilities is not None:
            prob_rate = float(self.probabilities_rate_hz or rate)
            j0, j1 = round(t0 * prob_rate), round(t1 * prob_rate)
            probabilities = probabilities[j0:j1]

        def inside(picks):
            return [(ph, t - t0) for ph, t in picks if t0 <= t < t1 or (t == t1 == t0)]

        return dataclasses.replace(
            self,
            data=self.data[i0:i1],
            start_time=None if self.start_time is None else self.start_time + t0,
            probabilities=probabilities,
            picks=inside(self.picks),
            reference_picks=inside(self.reference_picks),
        )


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


def review_figure(view: TraceView, *, figsize: tuple[float, float] = (12.0, 7.0)):
    """A ``matplotlib.figure.Figure`` (Agg canvas, not registered with pyplot) of ``view``.

    Panels: E, N, Z (labelled with ``view.channels``), then the P and S probabilities when
    ``view.probabilities`` is set. Write it with :func:`save_figure`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    has_prob = view.probabilities is not None
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    ratios = [1, 1, 1, 0.8] if has_prob else [1, 1, 1]
    axes = fig.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    rate = view.sampling_rate_hz
    if view.start_time is not None:
        origin_days = view.start_time.matplotlib_date

        def to_x(seconds):
            return origin_days + np.asarray(seconds, np.float64) / 86400.0
    else:

        def to_x(seconds):
            return np.asarray(seconds, np.float64)

    for column, ax in enumerate(axes[:3]):
        times, values = _envelope(view.data[:, column], rate)
        ax.plot(to_x(times), values, color="k", linewidth=0.5)
        ax.set_ylabel(view.channels[column] or "ENZ"[column])
    if has_prob:
        ax = axes[3]
        for column, phase in ((1, "P"), (2, "S")):
            times, values = _envelope(view.probabilities[:, column], view.probabilities_rate_hz)
            ax.plot(to_x(times), values, color=PHASE_COLOURS[phase], linewidth=0.8)
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel("probability")
    for picks, style in ((view.picks, "-"), (view.reference_picks, "--")):
        for phase in dict.fromkeys(ph for ph, _ in picks):
            x = to_x([t for ph, t in picks if ph == phase])
            colour = PHASE_COLOURS.get(phase, _OTHER_COLOUR)
            for ax in axes:  # one collection per phase and style: fast with many picks
                ax.vlines(
                    x, 0, 1, transform=ax.get_xaxis_transform(), colors=colour, ls=style, lw=0.9
                )
    handles = [
        Line2D([], [], color=PHASE_COLOURS[phase], ls=style, label=f"{phase} {kind}")
        for kind, style, picks in (
            ("predicted", "-", view.picks),
            ("reference", "--", view.reference_picks),
        )
        for phase in ("P", "S")
        if any(ph == phase for ph, _ in picks) or (kind == "predicted" and has_prob)
    ]
    if handles:
        axes[-1].legend(handles=handles, loc="upper right", fontsize="small", ncol=2)
    _label_time_axis(axes[-1], view)
    title = "  ".join(t for t in (view.station_id, view.title) if t)
    if view.start_time is not None:
        title = f"{title}  {view.start_time.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z".strip()
    if title:
        axes[0].set_title(title, fontsize="medium")
    fig.subplots_adjust(left=0.08, right=0.98, top=0.94, bottom=0.08, hspace=0.08)
    return fig


def _label_time_axis(ax, view: TraceView) -> None:
    if view.start_time is None:
        ax.set_xlabel("time (s) from the first sample")
        ax.set_xlim(0, max(view.duration_s, 1e-3))
        return
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    start = view.start_time.matplotlib_date
    ax.set_xlim(start, start + max(view.duration_s, 1e-3) / 86400.0)
    ax.set_xlabel("time (UTC)")


def save_figure(fig, path: str | os.PathLike, *, fmt: str | None = None, dpi: float = 100) -> Path:
    """Write ``fig`` to ``path`` atomically (format from ``fmt`` or the suffix: png, pdf, ...).

    Figures from :func:`review_figure` belong to no registry (not pyplot's): once the caller
    drops ``fig`` it is garbage, so nothing accumulates over a batch of figures.
    """
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "png").lower()
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        fig.savefig(handle, format=fmt, dpi=dpi)
    return path


def plot_view(
    view: TraceView,
    path: str | os.PathLike,
    *,
    fmt: str | None = None,
    dpi: float = 100,
    figsize: tuple[float, float] = (12.0, 7.0),
) -> Path:
    """Draw ``view`` with :func:`review_figure` and write it with :func:`save_figure`."""
    return save_figure(review_figure(view, figsize=figsize), path, fmt=fmt, dpi=dpi)


def plot_picks(
    data: np.ndarray,
    sampling_rate_hz: float,
    probabilities: np.ndarray,
    picks: Sequence,
    path: str | os.PathLike,
    title: str = "",
    *,
    probabilities_rate_hz: float | None = None,
    start_time=None,
    reference_picks: Sequence = (),
    channels: tuple[str, str, str] = ("E", "N", "Z"),
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
        start_time: time of sample 0 (UTC axis), or None (seconds from the first sample).
        reference_picks: like ``picks``, drawn dashed.
        channels: panel labels.
    """
    rate = float(sampling_rate_hz)
    view = TraceView(
        data=data,
        sampling_rate_hz=rate,
        start_time=start_time,
        channels=channels,
        probabilities=probabilities,
        probabilities_rate_hz=probabilities_rate_hz,
        picks=[(p.phase, p.index / rate) for p in picks],
        reference_picks=[(p.phase, p.index / rate) for p in reference_picks],
        title=title,
    )
    return plot_view(view, path)


def figure_name(*parts: str, suffix: str = "png") -> str:
    """A safe file name from ``parts`` joined by ``__`` (no path separators, ≤ 200 bytes)."""
    from picker.io.base import safe_file_name

    return f"{safe_file_name('__'.join(p for p in parts if p), 'figure')}.{suffix}"


# ----------------------------------------------------------------------------- metric figures


def plot_residuals(
    sources: dict, tolerance_s: float, path: str | os.PathLike, *, dpi: float = 100
) -> Path:
    """Histograms of the pick residuals (predicted − reference, ms), one panel per phase.

    Args:
        sources: ``{name: PickMetrics}``; the first is drawn filled, the others as outlines.
        tolerance_s: the matching tolerance (the histogram spans ± it).
        path: output file (PNG, PDF, ... from the suffix), written atomically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    phases = ("P", "S")
    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(phases), sharey=False)
    limit_ms = max(tolerance_s * 1000.0, 1.0)
    bins = np.linspace(-limit_ms, limit_ms, 41)
    for ax, phase in zip(axes, phases, strict=True):
        for k, (name, metrics) in enumerate(sources.items()):
            counts = metrics.phases.get(phase)
            residuals_ms = np.asarray(counts.residuals_s if counts else [], float) * 1000.0
            label = f"{name} (n={residuals_ms.size}"
            if residuals_ms.size:
                label += f", {residuals_ms.mean():.0f}±{residuals_ms.std():.0f} ms"
            style = {"histtype": "stepfilled", "alpha": 0.5} if k == 0 else {"histtype": "step"}
            ax.hist(
                np.clip(residuals_ms, -limit_ms, limit_ms), bins=bins, label=label + ")", **style
            )
        ax.axvline(0, color="k", lw=0.6)
        ax.set_title(f"{phase} residuals")
        ax.set_xlabel("predicted − reference (ms)")
        ax.legend(fontsize="small")
    axes[0].set_ylabel("picks")
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)


def plot_precision_recall(sweep, path: str | os.PathLike, *, dpi: float = 100) -> Path:
    """Precision against recall over the thresholds of a ``ThresholdSweep``, per phase.

    Points are labelled with a few thresholds; the F1-optimal one per phase is starred.
    Thresholds with no pick at all (precision undefined) are left out.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    rows = sweep.rows()
    best = sweep.best()
    for phase in ("P", "S"):
        # thresholds without any pick have no precision: left out of the curve
        mine = [r for r in rows if r["phase"] == phase and r["tp"] + r["fp"] > 0]
        colour = PHASE_COLOURS[phase]
        ax.plot(
            [r["recall"] for r in mine],
            [r["precision"] for r in mine],
            "o-",
            color=colour,
            ms=3,
            label=phase,
        )
        labelled: set[tuple[float, float]] = set()
        for r in mine:
            point = (round(r["recall"], 3), round(r["precision"], 3))
            if round(r["threshold"] * 100) % 20 == 10 and point not in labelled:
                labelled.add(point)  # 0.1, 0.3, 0.5, 0.7, 0.9; one label per point
                ax.annotate(
                    f"{r['threshold']:.1f}",
                    (r["recall"], r["precision"]),
                    fontsize="x-small",
                    color=colour,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        if phase in best:
            b = best[phase]
            ax.plot(
                [b["recall"]],
                [b["precision"]],
                "*",
                color=colour,
                ms=12,
                label=f"{phase} best F1 {b['f1']:.3f} at {b['threshold']:.2f}",
            )
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("precision–recall over the threshold")
    ax.legend(fontsize="small", loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)
