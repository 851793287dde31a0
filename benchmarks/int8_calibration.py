"""Calibration windows for the int8 export of the bundled model (``train_bundled.py
--install``): model inputs of the same preprocessing as ``picker predict`` feeds the model.
"""

from __future__ import annotations

import numpy as np


def calibration_windows(
    n_windows: int = 48, n_samples: int = 6144, seed: int = 0, settings=None, records=()
) -> np.ndarray:
    """Model inputs for int8 calibration (``--install``): synthetic events in coloured noise,
    or windows of the real ``records`` (100 Hz; ``--calibration-data``: the training stations'
    records) cut at random places, preprocessed.

    Returns:
        ``(n_windows, n_samples, 3)`` float32 after
        :func:`picker.preprocess.model_input.model_input` with the model's
        :class:`~picker.models.saving.InputSettings` ``settings`` (None: the defaults, causal
        1 Hz high-pass and 30 s sliding normalisation), at 100 Hz. A model of windows
        normalised one by one (``"std"``) gets windows of its ``normalization_window_s``
        instead of ``n_samples``, each normalised alone, as ``picker predict`` feeds it.
    """
    from picker.models.saving import InputSettings
    from picker.preprocess.model_input import MODEL_SAMPLING_RATE_HZ as rate
    from picker.preprocess.model_input import model_input

    settings = settings or InputSettings()
    per_window = settings.normalization == "std"
    if per_window:
        from picker.preprocess.normalize import normalize

        n_samples = round(settings.normalization_window_s * rate)
    rng = np.random.default_rng(seed)
    windows = []
    long_enough = [r.data for r in records if r.n_samples >= n_samples]
    while len(windows) < n_windows:
        if long_enough:
            data = long_enough[int(rng.integers(len(long_enough)))]
            start = int(rng.integers(0, len(data) - n_samples + 1))
            data = data[start : start + n_samples]
        else:
            data = _synthetic_calibration_data(n_samples, rng)
        windows.append(
            normalize(data[:n_samples], "std")
            if per_window
            else model_input(
                data[:n_samples], rate, settings.normalization_window_s, settings.highpass_hz
            )
        )
    return np.stack(windows).astype(np.float32)


def _synthetic_calibration_data(n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_samples, 3)`` E, N, Z at 100 Hz: one synthetic event in coloured noise."""
    from picker.training.synthetic import synthetic_continuous

    duration_s = n_samples / 100.0
    snr_db = float(rng.uniform(0.0, 30.0))
    event_s = [float(rng.uniform(5.0, duration_s - 20.0))]
    stream, _ = synthetic_continuous(duration_s, 100.0, event_s, rng, snr_db=snr_db)
    return np.stack(
        [tr.data for tr in sorted(stream, key=lambda tr: "ENZ".index(tr.stats.channel[-1]))],
        axis=1,
    )
