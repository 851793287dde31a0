"""Review figures: the three components with picks marked, P and S probabilities beneath.

One figure shows one :class:`TraceView`: a station's (or window's) three components stacked
and labelled with their channel codes (``HHE``, ``HHN``, ``HHZ`` when known) and amplitude unit
(``counts`` for raw miniSEED, ``nm/s`` from a SAC header, an NPZ file's ``unit``), the station
id and start time in the title, and the P and S probabilities in a panel of their own
underneath. Picks are marked twice (:mod:`picker.review.marks`): lines through the panels
(predicted solid, reference dashed and darker, drawn on top) and markers with their time and
probability in a strip above the traces, one row per phase and kind, so P and S stay apart at
any span. The time axis is UTC (matplotlib dates) when the start time is known, else seconds
from the first sample. Traces longer than :data:`MAX_PLOT_POINTS` samples are drawn as
min/max envelopes, so peaks survive.

The traces drawn (``trace``): ``"raw"`` (as read), ``"filtered"`` (the causal high-pass the
model's input gets, :func:`high_passed`: drift and microseism gone, amplitudes still in the
file's unit; the model then only rescales it) or ``"both"`` (six panels).

matplotlib is imported inside the functions. Figures are plain ``matplotlib.figure.Figure``
objects drawn by the Agg canvas: no display is needed, pyplot's global state and backend are
never touched, and a figure is garbage as soon as it is saved, so batch runs over thousands
of inputs keep flat memory. In a notebook, a figure returned by :func:`review_figure` shows
inline (``display(fig)`` or as a cell's last value). Files are written atomically (PNG, PDF or
any format matplotlib writes, from the suffix).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from picker.io.base import atomic_output
from picker.review.marks import (
    PHASE_COLOURS,
    REFERENCE_COLOURS,
    declutter,
    draw_pick_lines,
    draw_pick_strip,
    legend_handles,
)

__all__ = [
    "MAX_PLOT_POINTS",
    "PHASE_COLOURS",
    "REFERENCE_COLOURS",
    "TRACE_CHOICES",
    "TraceView",
    "figure_name",
    "high_passed",
    "plot_picks",
    "plot_precision_recall",
    "plot_residuals",
    "plot_view",
    "review_figure",
    "save_figure",
]

#: Above this many samples a trace is drawn as a min/max envelope of this many blocks.
MAX_PLOT_POINTS = 20_000
#: What ``trace`` may be: the data as read, the model's high-pass of them, or both.
TRACE_CHOICES = ("raw", "filtered", "both")


def high_passed(data: np.ndarray, sampling_rate_hz: float, highpass_hz: float) -> np.ndarray:
    """The causal Butterworth high-pass the model's input gets
    (:func:`picker.preprocess.model_input.model_input` before its normalisation).

    Args:
        data: ``(n_samples, 3)`` float, columns E, N, Z; NaN (gaps) counts as zero.
        sampling_rate_hz: the data's rate.
        highpass_hz: the corner; 0 = none (the data minus their first sample).

    Returns:
        float32 ``(n_samples, 3)`` in the data's unit.
    """
    from picker.preprocess.highpass import highpass

    x = np.nan_to_num(np.asarray(data, np.float64))
    if len(x) == 0:
        return x.astype(np.float32)
    x = x - x[:1]
    nyquist_hz = sampling_rate_hz / 2
    if highpass_hz > 0 and highpass_hz < nyquist_hz and len(x) > 1:
        x = highpass(x, float(highpass_hz), float(sampling_rate_hz), order=4, axis=0)
    return x.astype(np.float32)


@dataclass
class TraceView:
    """What one review figure shows.

    Attributes:
        data: ``(n_samples, 3)`` float waveforms as read, columns E, N, Z, at
            ``sampling_rate_hz``, in ``unit``.
        sampling_rate_hz: the data's rate.
        start_time: ``obspy.UTCDateTime`` of sample 0, or None (axis in seconds then).
        station_id: shown in the title.
        channels: labels of the three panels (channel codes, E/N/Z order).
        probabilities: ``(n_prob_samples, 3)`` noise/P/S from sample 0, or None (no panel).
        probabilities_rate_hz: their rate; None: they span the data's duration.
        picks: predicted picks as ``(phase, seconds from sample 0[, probability])``.
        reference_picks: known picks as ``(phase, seconds from sample 0)``.
        title: extra title text (e.g. the source file).
        unit: the amplitude unit of ``data`` (``"counts"``, ``"nm/s"``), ``""`` when unknown.
        filtered: ``data`` high-passed like the model's input (:func:`high_passed`, computed on
            the whole record before cropping, so tiles start without a filter transient), or
            None; :meth:`with_filtered` fills it.
        highpass_hz: the corner of ``filtered`` (its panel label).
    """

    data: np.ndarray
    sampling_rate_hz: float
    start_time: object = None
    station_id: str = ""
    channels: tuple[str, str, str] = ("E", "N", "Z")
    probabilities: np.ndarray | None = None
    probabilities_rate_hz: float | None = None
    picks: list[tuple] = field(default_factory=list)
    reference_picks: list[tuple] = field(default_factory=list)
    title: str = ""
    unit: str = ""
    filtered: np.ndarray | None = None
    highpass_hz: float | None = None

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
        if self.filtered is not None and np.shape(self.filtered) != self.data.shape:
            raise ValueError(f"filtered must have the data's shape {self.data.shape}")
        if self.start_time is not None:
            from obspy import UTCDateTime

            self.start_time = UTCDateTime(self.start_time)

    @property
    def duration_s(self) -> float:
        return len(self.data) / self.sampling_rate_hz

    def with_filtered(self, highpass_hz: float) -> TraceView:
        """This view with ``filtered`` set to the data high-passed at ``highpass_hz``."""
        filtered = high_passed(self.data, self.sampling_rate_hz, highpass_hz)
        return dataclasses.replace(self, filtered=filtered, highpass_hz=float(highpass_hz))

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
            return [
                (ph, t - t0, *rest) for ph, t, *rest in picks if t0 <= t < t1 or (t == t1 == t0)
            ]

        return dataclasses.replace(
            self,
            data=self.data[i0:i1],
            filtered=None if self.filtered is None else self.filtered[i0:i1],
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


def _panel_label(channel: str, unit: str) -> str:
    """A trace panel's y label: the channel code, the unit beneath it when known."""
    return f"{channel}\n({unit})" if unit else channel


def _trace_kinds(view: TraceView, trace: str | None) -> list[str]:
    if trace is None:
        trace = "raw" if view.filtered is None else "filtered"
    if trace not in TRACE_CHOICES:
        raise ValueError(f"trace must be one of {TRACE_CHOICES}, got {trace!r}")
    kinds = ["raw", "filtered"] if trace == "both" else [trace]
    if "filtered" in kinds and view.filtered is None:
        raise ValueError("the view has no filtered traces: make it with TraceView.with_filtered")
    return kinds


def _filter_text(view: TraceView) -> str:
    hp = view.highpass_hz
    return f"high-pass {hp:g} Hz" if hp else "no high-pass"


def review_figure(
    view: TraceView, *, trace: str | None = None, figsize: tuple[float, float] | None = None
):
    """A ``matplotlib.figure.Figure`` (Agg canvas, not registered with pyplot) of ``view``.

    Panels, top to bottom (each axes' ``get_label()`` names it): ``"picks"`` (the pick strip,
    :mod:`picker.review.marks`), ``"raw E"``, ``"raw N"``, ``"raw Z"`` and/or ``"filtered E"``
    ... (``trace``: ``"raw"``, ``"filtered"`` or ``"both"``; None: filtered when ``view`` has
    them, else raw), then ``"probability"`` when ``view.probabilities`` is set. Trace panels
    are labelled with ``view.channels`` and ``view.unit``. Write it with :func:`save_figure`.

    Raises:
        ValueError: an unknown ``trace``, or filtered traces asked of a view without them.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    kinds = _trace_kinds(view, trace)
    has_prob = view.probabilities is not None
    n_traces = 3 * len(kinds)
    if figsize is None:
        figsize = (12.0, 2.2 + 1.55 * n_traces + 1.2 * has_prob)
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    ratios = [0.15 + 0.17 * max(_n_rows(view), 1)] + [1] * n_traces + [0.8] * has_prob
    axes = fig.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    strip, trace_axes = axes[0], axes[1 : 1 + n_traces]
    rate = view.sampling_rate_hz
    if view.start_time is not None:
        origin_days = view.start_time.matplotlib_date

        def to_x(seconds):
            return origin_days + np.asarray(seconds, np.float64) / 86400.0
    else:

        def to_x(seconds):
            return np.asarray(seconds, np.float64)

    strip.set_label("picks")
    for k, kind in enumerate(kinds):
        values_of = view.data if kind == "raw" else view.filtered
        for column in range(3):
            ax = trace_axes[3 * k + column]
            ax.set_label(f"{kind} {'ENZ'[column]}")
            times, values = _envelope(values_of[:, column], rate)
            ax.plot(to_x(times), values, color="k", linewidth=0.5)
            ax.set_ylabel(_panel_label(view.channels[column] or "ENZ"[column], view.unit))
            ax.yaxis.set_major_formatter(EngFormatter(sep=""))  # 50k, 2µ: short tick labels
            if column == 0 and len(kinds) > 1:
                tag = "raw" if kind == "raw" else _filter_text(view)
                ax.text(
                    0.003, 0.96, tag, transform=ax.transAxes, va="top", fontsize=8,
                    bbox={"fc": "white", "ec": "0.7", "alpha": 0.85, "pad": 2},
                )  # fmt: skip
    if has_prob:
        ax = axes[-1]
        ax.set_label("probability")
        for column, phase in ((1, "P"), (2, "S")):
            times, values = _envelope(view.probabilities[:, column], view.probabilities_rate_hz)
            ax.plot(to_x(times), values, color=PHASE_COLOURS[phase], linewidth=0.8)
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel("probability")
    draw_pick_lines(axes[1:], view.picks, view.reference_picks, to_x)
    labels = draw_pick_strip(
        strip,
        view.picks,
        view.reference_picks,
        to_x,
        predicted=has_prob,
        start_time=view.start_time,
        decimals=2 if rate <= 100 else 3,
    )
    handles = legend_handles(view.picks, view.reference_picks, has_prob)
    if handles:
        strip.legend(
            handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(handles),
            fontsize="small", frameon=False, borderaxespad=0.2, handlelength=3,
        )  # fmt: skip
    _label_time_axis(axes[-1], view)
    title = "  ".join(t for t in (view.station_id, view.title) if t)
    if view.start_time is not None:
        title = f"{title}  {view.start_time.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z".strip()
    if kinds == ["filtered"]:
        title = f"{title}  ·  {_filter_text(view)}".strip(" ·")
    if title:
        # above the legend's line: neither covers the other however long the title
        strip.set_title(title, fontsize="medium", loc="left", pad=18 if handles else 6)
    height_in = figsize[1]  # margins in inches for the title and time axis, within reason
    top, bottom = 1 - min(0.6 / height_in, 0.3), min(0.55 / height_in, 0.25)
    fig.subplots_adjust(left=0.08, right=0.98, top=top, bottom=bottom, hspace=0.1)
    declutter(fig, labels)
    return fig


def _n_rows(view: TraceView) -> int:
    from picker.review.marks import strip_rows

    return len(strip_rows(view.picks, view.reference_picks, view.probabilities is not None))


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
    figsize: tuple[float, float] | None = None,
    trace: str | None = None,
) -> Path:
    """Draw ``view`` with :func:`review_figure` and write it with :func:`save_figure`."""
    return save_figure(review_figure(view, trace=trace, figsize=figsize), path, fmt=fmt, dpi=dpi)


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
    unit: str = "",
    trace: str = "raw",
    highpass_hz: float = 1.0,
) -> Path:
    """Write a review figure (PNG or any matplotlib format, from the suffix); return ``path``.

    Args:
        data: ``(n_samples, 3)`` waveforms, columns E, N, Z, at ``sampling_rate_hz``.
        sampling_rate_hz: the data's rate.
        probabilities: ``(n_prob_samples, 3)`` noise/P/S probabilities starting at the same time.
        picks: objects with ``phase`` (``"P"``/``"S"``), ``index`` (sample of ``data``) and
            optionally ``probability`` (written beside the pick).
        path: output file; its folder is created.
        title: figure title (e.g. the station id and source).
        probabilities_rate_hz: the probabilities' rate; None: they span the data's duration.
        start_time: time of sample 0 (UTC axis), or None (seconds from the first sample).
        reference_picks: like ``picks``, drawn dashed.
        channels: panel labels.
        unit: the data's amplitude unit (``""``: unknown).
        trace: ``"raw"``, ``"filtered"`` (high-passed at ``highpass_hz``) or ``"both"``.
    """
    rate = float(sampling_rate_hz)
    view = TraceView(
        data=data,
        sampling_rate_hz=rate,
        start_time=start_time,
        channels=channels,
        probabilities=probabilities,
        probabilities_rate_hz=probabilities_rate_hz,
        picks=[(p.phase, p.index / rate, getattr(p, "probability", None)) for p in picks],
        reference_picks=[(p.phase, p.index / rate) for p in reference_picks],
        title=title,
        unit=unit,
    )
    if trace != "raw":
        view = view.with_filtered(highpass_hz)
    return plot_view(view, path, trace=trace)


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
