"""Cutting a training window out of a longer record at a random offset.

``x`` is ``(n_samples, 3)``, columns **E, N, Z**; picks are :data:`picker.training.windows.Picks`
(P samples, S samples). The crop comes before :func:`picker.training.augment.augment_window`.
"""

from __future__ import annotations

import math

import numpy as np

from picker.training import windows
from picker.training.windows import Picks

PICK_MODES = ("any", "uniform")


def random_crop(
    x,
    picks,
    rng: np.random.Generator,
    n_samples_out: int,
    *,
    pick_mode: str = "any",
    noise_only: bool = False,
    margin_samples: int | None = None,
) -> tuple[np.ndarray, Picks, int]:
    """Cut a window of ``n_samples_out`` samples at a random offset.

    The crop at offset ``o`` is ``x[o : o + n_samples_out]`` with zeros for indices outside
    ``x``. When ``x`` is at least as long as the crop, ``0 <= o <= n_samples - n_samples_out``
    (no padding). When ``x`` is shorter, ``n_samples - n_samples_out <= o <= 0``: all of ``x``
    is kept and the zero pad is split between the start (``-o`` samples) and the end.

    Offset choice:

    * ``noise_only=True``: uniform over the offsets whose crop holds no pick (P or S);
      ``ValueError`` when there is none.
    * ``pick_mode="any"``: uniform over the offsets that put the first P (else the first S)
      anywhere in ``[margin, n_samples_out - 1 - margin]``, so a model cannot learn the pick
      position from training data that has P at a fixed sample. If no offset allows that, the
      pick is centred as well as possible. Without picks: as ``"uniform"``.
    * ``pick_mode="uniform"``: uniform over all offsets.

    Args:
        x: ``(n_samples, 3)``, columns E, N, Z.
        picks: :data:`Picks` of ``x``.
        rng: random generator.
        n_samples_out: crop length, >= 1.
        pick_mode: one of :data:`PICK_MODES`.
        noise_only: crop a window without picks.
        margin_samples: for ``"any"``; default ``n_samples_out // 20``.

    Returns:
        ``(crop, picks, offset)``: ``crop`` float32 ``(n_samples_out, 3)``; the picks shifted by
        ``-offset``, only those inside the crop; ``offset`` the crop start in ``x`` samples.
    """
    x = windows.check_window(x)
    n_out = windows.check_int(n_samples_out, "n_samples_out", 1)
    if pick_mode not in PICK_MODES:
        raise ValueError(f"pick_mode must be one of {PICK_MODES}, got {pick_mode!r}")
    margin = n_out // 20 if margin_samples is None else margin_samples
    margin = windows.check_int(margin, "margin_samples", 0, (n_out - 1) // 2)
    picks = windows.as_picks(picks)
    n = x.shape[0]
    lo, hi = (0, n - n_out) if n >= n_out else (n - n_out, 0)
    ref_list = picks[0] or picks[1]
    if noise_only:
        forbidden = [(math.floor(p) - n_out + 1, math.floor(p) + 1) for p in picks[0] + picks[1]]
        offset = windows.sample_outside(lo, hi, forbidden, rng)
        if offset is None:
            raise ValueError(
                f"no crop of {n_out} samples from a window of {n} samples avoids the picks "
                f"P={picks[0]} S={picks[1]}"
            )
    elif pick_mode == "any" and ref_list:
        ref = min(ref_list)
        a = max(lo, math.ceil(ref - (n_out - 1 - margin)))
        b = min(hi, math.floor(ref - margin))
        if a <= b:
            offset = int(rng.integers(a, b + 1))
        else:
            offset = min(max(round(ref) - n_out // 2, lo), hi)
    else:
        offset = int(rng.integers(lo, hi + 1))
    if n >= n_out:
        crop = x[offset : offset + n_out].copy()
    else:
        crop = np.zeros((n_out, 3), dtype=np.float32)
        crop[-offset : n - offset] = x
    return crop, windows.shift_picks(picks, -offset, n_out), offset
