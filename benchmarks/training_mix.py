"""The synthetic part of the bundled model's training mix (``train_bundled.py``): synthetic
events in real or coloured noise, and time-stretched copies of real records. All at 100 Hz,
``(n_samples, 3)`` E, N, Z.
"""

from __future__ import annotations

import numpy as np

from picker.io.base import Record


def noise_pool_sample(
    pool: list[np.ndarray], n_samples: int, rng: np.random.Generator
) -> np.ndarray:
    """Real noise of ``n_samples`` joined from random pool segments, each scaled to unit std."""
    pieces, total = [], 0
    while total < n_samples:
        seg = pool[int(rng.integers(len(pool)))]
        seg = seg - seg.mean(axis=0)
        std = seg.std(axis=0)
        seg = seg / np.where(std > 0, std, 1.0)
        if rng.random() < 0.5:
            seg = seg[::-1]
        pieces.append(seg)
        total += len(seg)
    return np.concatenate(pieces)[:n_samples].astype(np.float32)


def random_coloured_noise(n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_samples, 3)`` unit-std noise at 100 Hz with a random spectrum: a power law
    ``f**-a`` (a in 0-1.5) plus, half of the time, a band peak between 1 and 30 Hz (the
    narrow-band noise of ocean-bottom and urban sites that the training stations lack)."""
    from picker.training.synthetic import noise_with_spectrum

    freqs = np.maximum(np.fft.rfftfreq(n_samples, d=0.01), 0.01)
    spectrum = freqs ** -rng.uniform(0.0, 1.5)
    if rng.random() < 0.5:
        centre_hz, width = np.exp(rng.uniform(np.log(1.0), np.log(30.0))), rng.uniform(0.1, 0.5)
        band = np.exp(-0.5 * ((np.log(freqs) - np.log(centre_hz)) / width) ** 2)
        spectrum = spectrum / spectrum[freqs >= centre_hz][0] * (1.0 + band * rng.uniform(1, 10))
    return noise_with_spectrum(spectrum, n_samples, rng)


def stretched_copies(records: list[Record], copies: int, seed: int) -> list[Record]:
    """``copies`` time-stretched versions of each record, factors log-uniform in 0.7-1.4.

    Stretching by f (resampling from 100 Hz to 100·f Hz and calling the result 100 Hz again)
    scales the S−P time and the frequency content together, as a farther (f > 1) or nearer
    (f < 1) event would; the picks are rescaled with the data.
    """
    from picker.preprocess.resample import resample_record

    rng = np.random.default_rng(seed + 1000)
    out = []
    for record in records:
        for _ in range(copies):
            factor = float(np.exp(rng.uniform(np.log(0.7), np.log(1.4))))
            copy = resample_record(record, 100.0 * round(factor, 2))
            out.append(copy.with_data(copy.data, sampling_rate_hz=100.0))
    return out


def make_synthetic(
    n: int, pool: list[np.ndarray], seed: int, coloured_fraction: float = 0.0
) -> list[Record]:
    """``n`` synthetic event records of 6000 samples (60 s), P at a random place, SNR 3-40 dB:
    in noise joined from the real ``pool`` (pre-event noise of the training records), or in
    random coloured noise for a ``coloured_fraction`` of them; 30 % vertical-only."""
    from picker.training.synthetic import synthetic_window

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if rng.random() < coloured_fraction:
            noise = random_coloured_noise(6000, rng)
        else:
            noise = noise_pool_sample(pool, 6000, rng)
        record = synthetic_window(
            6000,
            100.0,
            p_sample=int(rng.integers(300, 3500)),
            rng=rng,
            noise=noise,
            snr_db=float(rng.uniform(3, 40)),
            name=f"synthetic_{i:05d}",
        )
        if rng.random() < 0.3:  # single-component stations are common in the real data
            record.data[:, :2] = 0.0
        out.append(record)
    return out
