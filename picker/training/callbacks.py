"""Keras callbacks of picker's own: pick metrics on the validation windows every epoch.

Validation loss is a poor guide for choosing a picker's checkpoint (it rewards hedged, low
probabilities); what users get is picks at a threshold. :class:`PickMetricsCallback` runs the
model on the fixed validation windows after each epoch, extracts picks as ``picker predict``
does, and adds ``val_p_f1``, ``val_s_f1`` and their mean ``val_pick_f1`` to the epoch's logs,
so ``ModelCheckpoint(monitor="val_pick_f1", mode="max")`` keeps the model with the best picks
and ``CSVLogger`` records them.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from picker.picks.matching import evaluate_probabilities


class PickMetricsCallback(keras.callbacks.Callback):
    """Adds ``val_p_f1``, ``val_s_f1`` and ``val_pick_f1`` to the logs at the end of each epoch.

    Args:
        x: ``(n_windows, window_samples, 3)`` model input (already normalised), or
            ``(n_windows, 3, window_samples)`` for a channels-first model.
        references: ``(p_sample, s_sample)`` per window, ``-1`` = no pick.
        sampling_rate_hz: rate of the windows.
        tolerance_s, threshold: pick matching tolerance and probability threshold.
        channels_first: whether ``x`` and the model output are channels-first.
    """

    def __init__(
        self,
        x: np.ndarray,
        references: Sequence[tuple[int, int]],
        sampling_rate_hz: float,
        *,
        tolerance_s: float = 0.1,
        threshold: float = 0.5,
        channels_first: bool = False,
        batch_size: int = 32,
    ):
        super().__init__()
        self.x = x
        self.references = list(references)
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.tolerance_s = tolerance_s
        self.threshold = threshold
        self.channels_first = channels_first
        self.batch_size = batch_size
        self.last: dict = {}

    def compute(self) -> dict:
        """The pick metrics summary (per phase) of the current model on the windows."""
        probs = self.model.predict(self.x, batch_size=self.batch_size, verbose=0)
        if self.channels_first:
            probs = probs.transpose(0, 2, 1)
        metrics = evaluate_probabilities(
            list(probs),
            self.references,
            self.sampling_rate_hz,
            tolerance_s=self.tolerance_s,
            p_threshold=self.threshold,
            s_threshold=self.threshold,
        )
        return metrics.summary()

    def on_epoch_end(self, epoch, logs=None):
        summary = self.compute()
        self.last = summary
        if logs is not None:
            logs["val_p_f1"] = summary["P"]["f1"]
            logs["val_s_f1"] = summary["S"]["f1"]
            logs["val_pick_f1"] = 0.5 * (summary["P"]["f1"] + summary["S"]["f1"])
