"""Per-window prediction for models trained on normalised fixed-length windows (NumPy only).

Imported published pickers (PhaseNet: 30 s, EQTransformer: 60 s) were trained on windows that
are each demeaned and divided by their own standard deviation, per channel
(:class:`~picker.models.saving.InputSettings` ``normalization="std"``, window length
``normalization_window_s``). On longer data they are run the way their own continuous modes
run them, by :func:`picker.prediction.inference.run_model`:

1. :func:`window_starts`: windows of ``W`` samples every ``step = round(W * (1 - overlap))``
   samples from sample 0 (default overlap :data:`DEFAULT_OVERLAP` = 50 %, as PhaseNet's and
   SeisBench's continuous modes); a last window is aligned to the end of the data, so every
   sample is covered and no window runs past the data. Data shorter than ``W`` are one window.
2. :func:`cut_windows`: the windows as a ``(k, W, 3)`` batch, each normalised on its own with
   :func:`picker.preprocess.normalize.normalize` ``"std"`` (a zero channel stays zero). Data
   shorter than ``W`` are zero-padded at the end to ``W`` before normalising (what
   EQTransformer's continuous mode does: it trims each 60 s window with zero fill) when the
   model takes a fixed length; a model that takes any length (PhaseNet) gets the short data as
   one window of their own length, as the original does with a record shorter than 30 s.
3. :class:`WindowMerge`: the windows' outputs back onto the data's samples, with ``mode``

   - ``"center"`` (default): each sample is taken from the window whose centre is nearest
     (ties: the earlier window). With 50 % overlap every sample away from the data's ends is at
     least ``W / 4`` (PhaseNet 7.5 s, EQTransformer 15 s) from the edges of the window it comes
     from, where both networks are weakest (an arrival at a window edge lacks the waveform
     after it), and a peak is never lowered by averaging it with such an edge value;
   - ``"mean"``: the average over every window that covers the sample (SeisBench's "avg").

Arrays are channels-last: ``(n_samples, 3)`` E, N, Z in, ``(n_samples, n_outputs)`` out.
"""

from __future__ import annotations

import numpy as np

from picker.config import WINDOW_MERGE_MODES
from picker.preprocess.normalize import normalize

__all__ = [
    "DEFAULT_OVERLAP",
    "MERGE_MODES",
    "WindowMerge",
    "cut_windows",
    "merge_windows",
    "window_starts",
]

#: Default overlap of consecutive windows, a fraction of the window length.
DEFAULT_OVERLAP = 0.5
#: How overlapping window outputs are merged (see the module docstring).
MERGE_MODES = WINDOW_MERGE_MODES


def window_starts(n_samples: int, window_samples: int, overlap: float = DEFAULT_OVERLAP):
    """First samples of the windows that cover ``n_samples`` samples.

    Windows start every ``max(1, round(window_samples * (1 - overlap)))`` samples from 0 while
    they fit; when they leave the data's end uncovered a last window starts at
    ``n_samples - window_samples``. ``[0]`` when ``n_samples <= window_samples``; ``[]`` when
    ``n_samples == 0``.

    Returns:
        ``(k,)`` int64, increasing.
    """
    n, w = int(n_samples), int(window_samples)
    if w < 1:
        raise ValueError(f"window_samples must be >= 1, got {window_samples}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if n <= 0:
        return np.zeros(0, np.int64)
    if n <= w:
        return np.zeros(1, np.int64)
    step = max(1, round(w * (1.0 - overlap)))
    starts = np.arange(0, n - w + 1, step, dtype=np.int64)
    if starts[-1] + w < n:
        starts = np.append(starts, n - w)
    return starts


def cut_windows(x: np.ndarray, starts, window_samples: int) -> np.ndarray:
    """The windows of ``x`` starting at ``starts``, each normalised on its own.

    Args:
        x: ``(n_samples, 3)`` float, E, N, Z.
        starts: window starts (from :func:`window_starts`).
        window_samples: ``W``; a window running past the data's end is zero-padded there
            before it is normalised.

    Returns:
        ``(len(starts), W, 3)`` float32, each window and channel demeaned and divided by its
        std (:func:`picker.preprocess.normalize.normalize` ``"std"``; a zero channel stays 0).
    """
    x = np.asarray(x)
    w = int(window_samples)
    batch = np.zeros((len(starts), w, 3), np.float32)
    for i, start in enumerate(starts):
        part = x[int(start) : int(start) + w]
        batch[i, : len(part)] = part
    return normalize(batch, "std")


class WindowMerge:
    """Merges window outputs onto ``n_samples`` samples, batch by batch (bounded memory).

    Args:
        n_samples: length of the data.
        n_columns: output columns per sample (3 noise/P/S; 4 with EQTransformer's detection).
        starts: all window starts (:func:`window_starts`), in order.
        window_samples: ``W``.
        mode: one of :data:`MERGE_MODES`.
    """

    def __init__(self, n_samples: int, n_columns: int, starts, window_samples: int, mode: str):
        if mode not in MERGE_MODES:
            raise ValueError(f"mode must be one of {MERGE_MODES}, got {mode!r}")
        self.n, self.w, self.mode = int(n_samples), int(window_samples), mode
        self.starts = np.asarray(starts, np.int64)
        self.out = np.zeros((self.n, int(n_columns)), np.float32)
        if mode == "mean":
            self.counts = np.zeros(self.n, np.int32)
        else:  # window k keeps [bounds[k], bounds[k + 1]): the samples nearest its centre
            # start + (W - 1) / 2 (ties to the earlier window)
            middle = (self.starts[:-1] + self.starts[1:] + self.w - 1) // 2 + 1
            self.bounds = np.concatenate([[0], np.minimum(middle, self.n), [self.n]])

    def add(self, first: int, outputs: np.ndarray) -> None:
        """Merge ``outputs`` ``(k, >= W or n_samples, n_columns)`` of windows ``first .. first + k``."""
        for k, y in enumerate(outputs, start=int(first)):
            start = int(self.starts[k])
            stop = min(start + self.w, self.n)
            if self.mode == "mean":
                self.out[start:stop] += y[: stop - start]
                self.counts[start:stop] += 1
            else:
                a, b = int(self.bounds[k]), int(self.bounds[k + 1])
                self.out[a:b] = y[a - start : b - start]

    def result(self) -> np.ndarray:
        """``(n_samples, n_columns)`` float32, once every window was added."""
        if self.mode == "mean":
            self.out /= np.maximum(self.counts, 1)[:, None]
        return self.out


def merge_windows(outputs: np.ndarray, starts, n_samples: int, mode: str = "center"):
    """:class:`WindowMerge` of all windows' ``outputs`` ``(k, W, n_columns)`` at once."""
    outputs = np.asarray(outputs, np.float32)
    merge = WindowMerge(n_samples, outputs.shape[2], starts, outputs.shape[1], mode)
    merge.add(0, outputs)
    return merge.result()
