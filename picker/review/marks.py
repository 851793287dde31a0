"""How picks are marked on a review figure (:func:`picker.review.figures.review_figure`).

Two marks per pick, so no span length makes P and S (or a prediction and its reference) merge:

* a vertical line through every trace and probability panel: predicted picks solid in the
  phase colour, reference picks dashed in a darker shade of it, drawn above the predicted ones
  (a reference on top of a prediction at the same time shows as a two-tone line, neither hidden);
* a marker in the pick strip above the traces, one row per phase and kind (``P``, ``P ref``,
  ``S``, ``S ref``): filled triangles for predicted picks, hollow ones for reference picks, each
  with its time and probability written beside it (``P 00:20:07.71 (0.91)``). At long spans the
  rows keep P and S apart; labels that would overlap the one before them in their row are left
  out (the marker stays), so a day of picks is still readable.

Picks are ``(phase, seconds from sample 0)`` or ``(phase, seconds, probability)`` tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "PHASE_COLOURS",
    "REFERENCE_COLOURS",
    "draw_pick_lines",
    "draw_pick_strip",
    "legend_handles",
    "pick_label",
]

#: Line colours of predicted picks per phase (solid lines, filled markers).
PHASE_COLOURS = {"P": "tab:red", "S": "tab:blue"}
#: Colours of reference picks per phase (dashed lines, hollow markers), darker shades.
REFERENCE_COLOURS = {"P": "#7a0000", "S": "#001f66"}
_OTHER_COLOURS = ("tab:green", "#0b4d0b")
#: Line widths and drawing order: reference lines above predicted ones.
PREDICTED_STYLE = {"ls": "-", "lw": 0.9, "zorder": 3}
REFERENCE_STYLE = {"ls": (0, (4, 3)), "lw": 1.3, "zorder": 4}
#: Above this many picks in a strip row, labels are first thinned to about this many, evenly
#: over the row (:func:`declutter` then drops the ones that still overlap).
MAX_LABELS_PER_ROW = 40


def colour(phase: str, reference: bool) -> str:
    table = REFERENCE_COLOURS if reference else PHASE_COLOURS
    return table.get(phase, _OTHER_COLOURS[reference])


def pick_label(phase: str, seconds: float, probability=None, start_time=None, decimals=2) -> str:
    """``"P 00:20:07.71 (0.91)"``: phase, UTC time of day (or ``"12.34 s"`` without a start
    time) to ``decimals`` places, and the probability when known."""
    if start_time is not None:
        text = (start_time + float(seconds)).strftime("%H:%M:%S.%f")[: 9 + decimals]
    else:
        text = f"{seconds:.{decimals}f} s"
    if probability is not None and np.isfinite(probability):
        text += f" ({probability:.2f})"
    return f"{phase} {text}"


def _phases(picks: Sequence, reference: Sequence) -> list[str]:
    found = dict.fromkeys(p[0] for p in (*picks, *reference))
    return [*(ph for ph in ("P", "S") if ph in found), *(ph for ph in found if ph not in "PS")]


def draw_pick_lines(axes, picks: Sequence, reference: Sequence, to_x: Callable) -> None:
    """Vertical lines at the picks across each of ``axes`` (one collection per phase and kind:
    fast with thousands of picks)."""
    for marks, is_ref, style in (
        (picks, False, PREDICTED_STYLE),
        (reference, True, REFERENCE_STYLE),
    ):
        for phase in dict.fromkeys(p[0] for p in marks):
            x = to_x([p[1] for p in marks if p[0] == phase])
            for ax in axes:
                ax.vlines(
                    x,
                    0,
                    1,
                    transform=ax.get_xaxis_transform(),
                    colors=colour(phase, is_ref),
                    **style,
                )


def strip_rows(picks: Sequence, reference: Sequence, predicted: bool) -> list[tuple[str, bool]]:
    """The strip's rows, top first: ``(phase, is reference)`` for each phase and kind drawn
    (P and S predicted rows always when ``predicted``)."""
    phases = _phases(picks, reference)
    if predicted:
        phases = ["P", "S", *(ph for ph in phases if ph not in "PS")]
    rows = []
    for phase in phases:
        if predicted or any(p[0] == phase for p in picks):
            rows.append((phase, False))
        if any(p[0] == phase for p in reference):
            rows.append((phase, True))
    return rows


def draw_pick_strip(
    ax,
    picks: Sequence,
    reference: Sequence,
    to_x: Callable,
    *,
    predicted: bool,
    start_time=None,
    decimals: int = 2,
) -> list:
    """Markers and time labels of the picks in the strip axes ``ax``; returns per row the
    labels' ``Text`` objects and the markers' x (thin them out with :func:`declutter`)."""
    rows = strip_rows(picks, reference, predicted)
    n_rows = len(rows)
    labels = []
    for k, (phase, is_ref) in enumerate(rows):
        y = n_rows - 1 - k
        marks = sorted((p for p in (reference if is_ref else picks) if p[0] == phase), key=_t)
        x = to_x([p[1] for p in marks])
        shade = colour(phase, is_ref)
        ax.plot(
            x,
            np.full(len(marks), y),
            ls="none",
            marker="v",
            ms=7,
            color=shade,
            mfc="white" if is_ref else shade,
            mew=1.2,
            zorder=3,
        )
        row = []
        gap = (x.max() - x.min()) / MAX_LABELS_PER_ROW if len(x) > MAX_LABELS_PER_ROW else 0
        last = -np.inf
        for (_, seconds, *rest), xi in zip(marks, x, strict=True):
            if xi - last < gap:
                continue
            last = xi
            probability = None if is_ref or not rest else rest[0]
            text = pick_label(phase, seconds, probability, start_time, decimals)
            row.append(
                ax.annotate(
                    text,
                    (xi, y),
                    xytext=(6, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=8,
                    color=shade,
                    annotation_clip=True,
                )
            )
        labels.append((row, x))
    ax.set_yticks(range(n_rows), [f"{ph} ref" if r else ph for ph, r in reversed(rows)])
    ax.set_ylim(-0.7, max(n_rows, 1) - 0.3)
    ax.tick_params(axis="y", length=0, labelsize=8)
    if not picks and (predicted or not reference):
        y = n_rows - 1 if rows else 0.5  # the P row when the model ran, else the middle
        ax.text(
            0.5, y, "no picks", transform=ax.get_yaxis_transform(), ha="center", va="center",
            color="0.4", fontsize=8,
        )  # fmt: skip
    return labels


def _t(pick) -> float:
    return pick[1]


def declutter(fig, labels: list) -> int:
    """Drop every label that would cover another marker of its row or overlap the label kept
    before it, and move a label that would run past the right edge to its marker's left;
    returns how many were dropped. Call after the axes limits and layout are final.

    Args:
        labels: per strip row, ``(Text objects, marker x in data units)``
            (:func:`draw_pick_strip`).
    """
    renderer = fig.canvas.get_renderer()
    dropped = 0
    for texts, marker_x in labels:
        if not texts:
            continue
        ax = texts[0].axes
        right_edge = ax.get_window_extent(renderer).x1
        pixels = np.sort(ax.transData.transform(np.column_stack([marker_x, marker_x]))[:, 0])
        last_right = -np.inf
        for text in texts:
            box = text.get_window_extent(renderer)
            if box.x1 > right_edge:
                text.set_horizontalalignment("right")
                text.xyann = (-6, 0)
                box = text.get_window_extent(renderer)
            # markers are ~7 points wide: no other marker may sit under the label
            lo, hi = np.searchsorted(pixels, [box.x0 - 6, box.x1 + 6])
            own = ax.transData.transform((text.xy[0], 0))[0]
            covered = np.count_nonzero(np.abs(pixels[lo:hi] - own) > 0.5)
            if box.x0 < last_right + 4 or covered:
                text.remove()
                dropped += 1
                continue
            last_right = box.x1
    return dropped


def legend_handles(picks: Sequence, reference: Sequence, predicted: bool) -> list:
    """Legend entries for the phases and kinds drawn (line and marker styles as drawn)."""
    from matplotlib.lines import Line2D

    handles = []
    for phase, is_ref in strip_rows(picks, reference, predicted):
        shade = colour(phase, is_ref)
        style = REFERENCE_STYLE if is_ref else PREDICTED_STYLE
        handles.append(
            Line2D(
                [],
                [],
                color=shade,
                ls=style["ls"],
                lw=style["lw"],
                marker="v",
                mfc="white" if is_ref else shade,
                label=f"{phase} {'reference' if is_ref else 'predicted'}",
            )
        )
    return handles
