"""Synthetic earthquake windows and continuous streams with exactly known P and S arrivals.

Each phase is band-limited noise shaped by a Brune (ω²) source spectrum with corner frequency
``fc`` and whole-path attenuation ``exp(-π f t*)``, cut to start exactly at its arrival sample
(zero before it, a short cosine onset ramp) and decaying exponentially in a coda. P is strongest
on the vertical, S on the horizontals with a random polarisation azimuth; S−P times, S/P
amplitude ratios, corner frequencies and coda lengths are drawn from ranges typical of local
earthquakes. Background noise is coloured Gaussian noise, or real pre-event noise given by the
caller.

All arrays are ``(n_samples, 3)`` float32 in E, N, Z order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from picker.io.base import Record, make_station_id


@dataclass
class EventParams:
    """Parameters of one synthetic event as seen at one station (times in samples)."""

    p_sample: int
    s_sample: int
    amplitude: float = 1.0
    s_to_p_ratio: float = 3.0
    corner_freq_hz: float = 5.0
    t_star_s: float = 0.01
    p_coda_s: float = 1.0
    s_coda_s: float = 2.0
    p_horizontal_fraction: float = 0.3
    s_vertical_fraction: float = 0.3
    s_azimuth_rad: float = 0.0
    p_azimuth_rad: float = 0.0


def random_event(
    rng: np.random.Generator, p_sample: int, sampling_rate_hz: float = 100.0
) -> EventParams:
    """Draw realistic parameters for an event with P at ``p_sample``.

    S−P between 0.4 and 15 s (log-uniform), S/P amplitude ratio 1–6, corner 1–15 Hz,
    t* 0.005–0.04 s, coda decay times growing with S−P.
    """
    sp_s = float(np.exp(rng.uniform(np.log(0.4), np.log(15.0))))
    coda_scale = 0.5 + 0.4 * sp_s
    return EventParams(
        p_sample=int(p_sample),
        s_sample=int(p_sample + round(sp_s * sampling_rate_hz)),
        amplitude=1.0,
        s_to_p_ratio=float(np.exp(rng.uniform(np.log(1.0), np.log(6.0)))),
        corner_freq_hz=float(np.exp(rng.uniform(np.log(1.0), np.log(15.0)))),
        t_star_s=float(rng.uniform(0.005, 0.04)),
        p_coda_s=float(coda_scale * rng.uniform(0.3, 1.0)),
        s_coda_s=float(coda_scale * rng.uniform(0.8, 2.0)),
        p_horizontal_fraction=float(rng.uniform(0.1, 0.6)),
        s_vertical_fraction=float(rng.uniform(0.1, 0.6)),
        s_azimuth_rad=float(rng.uniform(0, 2 * np.pi)),
        p_azimuth_rad=float(rng.uniform(0, 2 * np.pi)),
    )


def phase_wavelet(
    n_samples: int,
    onset_sample: int,
    sampling_rate_hz: float,
    corner_freq_hz: float,
    t_star_s: float,
    coda_s: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """One phase's ground velocity ``(n_samples,)``: zero before ``onset_sample``, peak amplitude 1.

    Built as white noise filtered by a Brune velocity spectrum ``f / (1 + (f/fc)²)`` with
    attenuation ``exp(-π f t*)``, multiplied by an envelope that rises over about a quarter
    period of ``fc`` and decays with time constant ``coda_s``.
    """
    if onset_sample >= n_samples:
        return np.zeros(n_samples, np.float32)
    freqs = np.fft.rfftfreq(n_samples, d=1.0 / sampling_rate_hz)
    spectrum = freqs / (1.0 + (freqs / corner_freq_hz) ** 2) * np.exp(-np.pi * freqs * t_star_s)
    noise = np.fft.rfft(rng.standard_normal(n_samples))
    shaped = np.fft.irfft(noise * spectrum, n=n_samples)
    t = (np.arange(n_samples) - onset_sample) / sampling_rate_hz
    rise_s = max(0.25 / corner_freq_hz, 2.0 / sampling_rate_hz)
    envelope = np.where(t < 0, 0.0, np.exp(-np.maximum(t, 0) / max(coda_s, 1e-3)))
    ramp = np.clip(t / rise_s, 0.0, 1.0)
    envelope *= np.sin(0.5 * np.pi * ramp) ** 2
    wave = shaped * envelope
    # start exactly at the onset: the first sample after it is a clear departure from zero
    peak = np.max(np.abs(wave))
    return (wave / peak).astype(np.float32) if peak > 0 else wave.astype(np.float32)


def event_waveform(
    n_samples: int, event: EventParams, sampling_rate_hz: float, rng: np.random.Generator
) -> np.ndarray:
    """The three-component ``(n_samples, 3)`` E/N/Z signal of one event (no noise)."""
    out = np.zeros((n_samples, 3), np.float32)
    p = phase_wavelet(
        n_samples,
        event.p_sample,
        sampling_rate_hz,
        event.corner_freq_hz,
        event.t_star_s,
        event.p_coda_s,
        rng,
    )
    s = phase_wavelet(
        n_samples,
        event.s_sample,
        sampling_rate_hz,
        event.corner_freq_hz * 0.7,
        event.t_star_s * 1.5,
        event.s_coda_s,
        rng,
    )
    s2 = phase_wavelet(
        n_samples,
        event.s_sample,
        sampling_rate_hz,
        event.corner_freq_hz * 0.7,
        event.t_star_s * 1.5,
        event.s_coda_s,
        rng,
    )
    h = event.p_horizontal_fraction
    out[:, 2] += p
    out[:, 0] += h * np.sin(event.p_azimuth_rad) * p
    out[:, 1] += h * np.cos(event.p_azimuth_rad) * p
    ratio = event.s_to_p_ratio
    out[:, 0] += ratio * (np.cos(event.s_azimuth_rad) * s + 0.3 * np.sin(event.s_azimuth_rad) * s2)
    out[:, 1] += ratio * (-np.sin(event.s_azimuth_rad) * s + 0.3 * np.cos(event.s_azimuth_rad) * s2)
    out[:, 2] += ratio * event.s_vertical_fraction * s2
    return out * np.float32(event.amplitude)


def coloured_noise(n_samples: int, sampling_rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Background noise ``(n_samples, 3)`` with unit std: a microseism band (0.1–0.5 Hz) plus 1/f."""
    freqs = np.fft.rfftfreq(n_samples, d=1.0 / sampling_rate_hz)
    f = np.maximum(freqs, freqs[1] if len(freqs) > 1 else 1.0)
    microseism = np.exp(-0.5 * ((np.log(f) - np.log(0.2)) / 0.5) ** 2) * 5.0
    return noise_with_spectrum(microseism + 1.0 / np.sqrt(f), n_samples, rng)


def noise_with_spectrum(
    amplitude: np.ndarray, n_samples: int, rng: np.random.Generator
) -> np.ndarray:
    """3-component Gaussian noise ``(n_samples, 3)`` float32 with unit std per component.

    Args:
        amplitude: amplitude spectrum on the grid ``np.fft.rfftfreq(n_samples, ...)``; the
            zero-frequency term is ignored (zero mean).
    """
    spectrum = np.array(amplitude, dtype=np.float64)
    spectrum[0] = 0.0
    white = np.fft.rfft(rng.standard_normal((3, n_samples)), axis=1)
    noise = np.fft.irfft(white * spectrum, n=n_samples, axis=1).T
    std = noise.std(axis=0, keepdims=True)
    return (noise / np.where(std > 0, std, 1.0)).astype(np.float32)


def synthetic_window(
    n_samples: int = 3001,
    sampling_rate_hz: float = 100.0,
    p_sample: int | None = None,
    rng: np.random.Generator | None = None,
    snr_db: float | None = None,
    noise: np.ndarray | None = None,
    event: EventParams | None = None,
    station_id: str = "SY.SYN..HH",
    name: str = "synthetic",
) -> Record:
    """A labelled window: one event in noise, P and S arrival samples exact.

    Args:
        n_samples: window length.
        p_sample: P arrival; random in the first half when None.
        snr_db: P peak amplitude over the noise std, in dB (random 5–40 dB when None); S is
            ``s_to_p_ratio`` times stronger.
        noise: ``(n_samples, 3)`` background noise (e.g. real pre-event noise); coloured noise when None.
        event: explicit parameters; drawn with :func:`random_event` when None.

    Returns:
        A :class:`Record`; the S pick is ``-1`` when S falls outside the window.
    """
    rng = rng or np.random.default_rng()
    if p_sample is None:
        p_sample = int(rng.integers(n_samples // 10, n_samples // 2))
    event = event or random_event(rng, p_sample, sampling_rate_hz)
    signal = event_waveform(n_samples, event, sampling_rate_hz, rng)
    if noise is None:
        noise = coloured_noise(n_samples, sampling_rate_hz, rng)
    else:
        noise = np.asarray(noise, np.float32)[:n_samples]
        std = noise.std()
        noise = noise / std if std > 0 else noise
    snr_db = float(rng.uniform(5, 40)) if snr_db is None else snr_db
    data = signal * np.float32(10 ** (snr_db / 20) / event.amplitude) + noise
    s_sample = event.s_sample if event.s_sample < n_samples else -1
    return Record(
        data=data,
        sampling_rate_hz=sampling_rate_hz,
        station_id=station_id,
        p_arrival_sample=event.p_sample,
        s_arrival_sample=s_sample,
        channels=tuple(f"{station_id.split('.')[-1] or 'HH'}{c}" for c in "ENZ"),
        name=name,
    )


def synthetic_continuous(
    duration_s: float,
    sampling_rate_hz: float = 100.0,
    event_times_s: list[float] | None = None,
    rng: np.random.Generator | None = None,
    snr_db: float = 20.0,
    start_time=None,
    network: str = "SY",
    station: str = "SYN",
    channel_prefix: str = "HH",
):
    """A continuous 3-component ``obspy.Stream`` with events at known times.

    Args:
        duration_s: length of the stream.
        event_times_s: P arrival times in seconds from the start (random ones when None: one
            every ~10 minutes).
        snr_db: P peak amplitude over the noise std of every event, in dB.

    Returns:
        ``(stream, picks)`` where picks is a list of ``(phase, UTCDateTime)`` sorted by time.
    """
    from obspy import Stream, Trace, UTCDateTime

    rng = rng or np.random.default_rng()
    start_time = UTCDateTime(start_time if start_time is not None else "2024-01-01T00:00:00")
    n_samples = int(round(duration_s * sampling_rate_hz))
    if event_times_s is None:
        n_events = max(1, int(duration_s // 600))
        event_times_s = sorted(rng.uniform(5, max(duration_s - 60, 6), n_events).tolist())
    data = coloured_noise(n_samples, sampling_rate_hz, rng)
    picks = []
    segment = int(120 * sampling_rate_hz)
    for t_s in event_times_s:
        p_sample = int(round(t_s * sampling_rate_hz))
        offset = max(0, p_sample - segment // 4)
        length = min(segment, n_samples - offset)
        if length <= 0:
            continue
        event = random_event(rng, p_sample - offset, sampling_rate_hz)
        event.s_sample = min(event.s_sample, event.p_sample + int(30 * sampling_rate_hz))
        signal = event_waveform(length, event, sampling_rate_hz, rng)
        data[offset : offset + length] += signal * np.float32(10 ** (snr_db / 20))
        picks.append(("P", start_time + p_sample / sampling_rate_hz))
        if event.s_sample < length:
            picks.append(("S", start_time + (offset + event.s_sample) / sampling_rate_hz))
    traces = []
    for column, component in enumerate("ENZ"):
        header = {
            "network": network,
            "station": station,
            "location": "",
            "channel": f"{channel_prefix}{component}",
            "sampling_rate": sampling_rate_hz,
            "starttime": start_time,
        }
        traces.append(Trace(data=data[:, column].copy(), header=header))
    return Stream(traces), sorted(picks, key=lambda item: item[1])


def synthetic_records(
    n_records: int, n_samples: int = 3001, sampling_rate_hz: float = 100.0, seed: int = 0
) -> list[Record]:
    """``n_records`` independent labelled windows (station ids ``SY.S000..HH``, ...)."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n_records):
        station_id = make_station_id("SY", f"S{i % 1000:03d}", "", "HH")
        records.append(
            synthetic_window(
                n_samples,
                sampling_rate_hz,
                rng=rng,
                station_id=station_id,
                name=f"synthetic_{i:05d}",
            )
        )
    return records
