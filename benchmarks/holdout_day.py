"""Score the picker on a day of continuous data built from held-out stations.

    python benchmarks/holdout_day.py --data-root ../shared/data [--model PATH] [--days N]
        [--write DIR] [--whole-records] [--three-component] [--spectral-filler] [--fold K]
        [--pretrained ../shared/pretrained] [--compare MODEL ...]

For each region (NCEDC, Martinique) the held-out event records of ``holdout_sets.py``'s
station split are joined end to end into one day-long 3-component 100 Hz stream: each event is
cut from its record (5 s before P to 10 s after S, or 20 s after P without S), scaled to unit
pre-event noise per component, placed in its own slot of 86400 / n seconds, and the rest of the
slot is filled with that record's own real pre-event noise (repeated, with random reversals)
when it is free of transients, else with quiet pre-event noise of another held-out record with
the same live components, with 2 s cross-fades at every junction (also between slots).
Three-component events come first and vertical-only ones after them, so the horizontals switch
off once in the day, not at every other event. The cut keeps out the other, unlabelled events
that some records hold before P or after the coda (their picks would count as false);
``--whole-records`` embeds each record whole instead (the cut of sessions 2 to 4, which also
kept the events in file order and butted the slots). The whole day then goes through
``predict_array`` (the path ``picker predict`` uses) and the picks are scored against the
analyst picks at 0.1 s tolerance and probability 0.5. False picks per hour count every pick
that matches no reference pick.

``--three-component`` builds the days from the three-component events alone, as one
three-component station's day would be (vertical-only records, with E and N all zeros, left
out).

Each region gets ``--days`` such days (3 by default), built with seeds 0, 1, ... (each its own
noise, placement and reversals), and the scores pool them: with the seed alone, one NCEDC day
of 39 events gave the bundled model P F1 0.838 to 0.892 and S F1 0.603 to 0.658.

``--max-sta-lta X`` fills the day only with pre-event noise whose 2-20 Hz STA/LTA stays below X
(3 is strict): the default test keeps out transients but not events too small to stand out of
the noise, and a filler repeated through a slot repeats them, so a network that picks them is
charged with the same "false" pick dozens of times.

``--spectral-filler`` fills each slot with Gaussian noise of the chosen pre-event noise's
spectrum and std (random phases) instead of repeating that noise: whatever small event or
transient the quiet test lets through then adds a little to the spectrum instead of being
planted in the day dozens of times (on the other station folds, repeated fillers were what most
false picks came from).

``--fold K`` builds the NCEDC days from the stations of fold K of ``holdout_sets.py``'s station
cross-validation instead of fold 0 (score a network trained with ``train_bundled.py --fold K``;
the Martinique hold-out is the same in every fold).

``--write DIR`` also saves each day as miniSEED with its reference picks CSV, for
``picker predict`` / ``picker evaluate``.

``--pretrained DIR`` also runs the published PhaseNet and EQTransformer (imported with
``picker import-model``, on ONNX Runtime: overlapping windows of their length, each normalised
on its own, as ``picker predict --model`` runs them) on the very same days, scored the same
way, a row each (``comparisons`` in ``--json``); ``--compare MODEL ...`` adds other model files.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_comparison_arguments, comparison_models  # noqa: E402
from holdout_sets import add_fold_argument, holdout_records, load_real, pre_event_noise  # noqa: E402

DAY_S = 86400.0
RATE_HZ = 100.0
FADE = 200  # samples of cross-fade at each junction
BEFORE_P_S = 5.0  # event cut: seconds kept before P ...
AFTER_S_S = 10.0  # ... and after S (20 s after P when there is no S)


def unit_noise_scale(record) -> np.ndarray:
    """Per-component std of the pre-event noise (1 where a component is empty)."""
    noise = pre_event_noise(record, margin=50)
    noise = record.data[: max(200, record.p_arrival_sample - 50)] if noise is None else noise
    std = noise.std(axis=0)
    return np.where(std > 0, std, 1.0)


def is_quiet(noise: np.ndarray, limit: float = 6.0, max_sta_lta: float | None = None) -> bool:
    """No transient in a noise segment: after the model's 1 Hz high-pass and normalisation,
    every live component stays within ``limit`` (a small event in the pre-event noise, repeated
    to fill a slot, would otherwise plant the same real arrival dozens of times).

    ``max_sta_lta``: also require the STA/LTA (0.5 s / 10 s, :func:`sta_lta_max`) of the 2-20 Hz
    envelope to stay below it, which keeps out events too small for ``limit``.
    """
    from picker.preprocess.model_input import model_input

    x = model_input(noise, RATE_HZ, 30.0, 1.0)[200:]  # skip the filter's start
    live = np.abs(x).max(axis=0) > 0
    if not live.any() or not np.all(np.abs(x[:, live]).max(axis=0) < limit):
        return False
    return max_sta_lta is None or sta_lta_max(noise) < max_sta_lta


def sta_lta_max(noise: np.ndarray, sta_s: float = 0.5, lta_s: float = 10.0) -> float:
    """Largest classic STA/LTA ratio of the 2-20 Hz envelope of a ``(n, 3)`` 100 Hz segment
    (the live components' root sum of squares), after the first LTA window; 0 when shorter."""
    from obspy.signal.trigger import classic_sta_lta
    from scipy.signal import butter, sosfiltfilt

    lta = int(lta_s * RATE_HZ)
    if len(noise) <= 2 * lta:
        return 0.0
    sos = butter(4, [2.0, 20.0], "bandpass", fs=RATE_HZ, output="sos")
    envelope = np.sqrt((sosfiltfilt(sos, noise - noise.mean(axis=0), axis=0) ** 2).sum(axis=1))
    return float(classic_sta_lta(envelope, int(sta_s * RATE_HZ), lta)[lta:].max())


def seamless_noise(noise: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``n_samples`` of noise from copies of ``noise`` (random reversals), every seam
    cross-faded over FADE samples: butted copies would leave a jump the picker sees as an
    arrival."""
    ramp = np.sin(0.5 * np.pi * np.linspace(0.0, 1.0, FADE))[:, None] ** 2
    out = noise - noise.mean(axis=0)
    while len(out) < n_samples:
        piece = noise[::-1] if rng.random() < 0.5 else noise
        piece = piece - piece.mean(axis=0)
        seam = out[-FADE:] * (1 - ramp) + piece[:FADE] * ramp
        out = np.concatenate([out[:-FADE], seam, piece[FADE:]])
    return out[:n_samples].astype(np.float32)


def spectral_noise(noise: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_samples, 3)`` Gaussian noise with the amplitude spectrum and std of each component
    of ``noise`` (an ``(n, 3)`` piece; empty components stay zero), at random phases.

    Unlike :func:`seamless_noise` nothing of ``noise`` repeats: a small event or transient
    hidden in it adds a little to the spectrum instead of being planted in the day dozens of
    times. The spectrum is the Hann-tapered piece's, smoothed over 0.5 Hz.
    """
    taper = np.hanning(len(noise))[:, None]
    amplitude = np.abs(np.fft.rfft((noise - noise.mean(axis=0)) * taper, axis=0))
    bins = max(1, round(0.5 * len(noise) / RATE_HZ))  # 0.5 Hz of the piece's frequency bins
    kernel = np.ones(bins) / bins
    amplitude = np.stack(
        [np.convolve(a, kernel, mode="same") for a in amplitude.T], axis=1
    )  # (n // 2 + 1, 3)
    source_hz = np.fft.rfftfreq(len(noise), 1.0 / RATE_HZ)
    target_hz = np.fft.rfftfreq(n_samples, 1.0 / RATE_HZ)
    white = np.fft.rfft(rng.standard_normal((n_samples, 3)), axis=0)
    shaped = np.stack(
        [white[:, c] * np.interp(target_hz, source_hz, amplitude[:, c]) for c in range(3)], axis=1
    )
    out = np.fft.irfft(shaped, n=n_samples, axis=0)
    std = out.std(axis=0)
    out *= np.divide(noise.std(axis=0), std, out=np.zeros_like(std), where=std > 0)
    return out.astype(np.float32)


def live_components(x: np.ndarray) -> tuple[bool, ...]:
    """Which of E, N, Z hold data (a vertical-only record has zeros in E and N)."""
    return tuple(bool(v) for v in np.abs(x).max(axis=0) > 0)


def event_span(record, whole: bool) -> tuple[int, int]:
    """Samples ``[start, end)`` of ``record`` embedded in the day (see the module docstring)."""
    if whole:
        return 0, record.n_samples
    p, s = record.p_arrival_sample, record.s_arrival_sample
    start = max(0, p - int(BEFORE_P_S * RATE_HZ))
    end = (s if s > p else p + int(AFTER_S_S * RATE_HZ)) + int(AFTER_S_S * RATE_HZ)
    return start, min(record.n_samples, end)


def build_day(
    records,
    seed: int = 0,
    whole: bool = False,
    max_sta_lta: float | None = None,
    spectral: bool = False,
) -> tuple[np.ndarray, dict[str, list[float]]]:
    """``(n_samples, 3)`` float32 day and reference pick times in seconds from its start.

    ``whole``: embed each record whole, not just its event (see the module docstring).
    ``max_sta_lta``: the stricter test of the filler noise (:func:`is_quiet`).
    ``spectral``: fill the slots with :func:`spectral_noise` of the chosen noise instead of
    repeating it (:func:`seamless_noise`).
    """
    rng = np.random.default_rng(seed)
    # each record's own pre-event noise at unit scale, when it passes the quiet test (else None)
    quiet = {}
    for r in records:
        noise = pre_event_noise(r, margin=50)
        noise = None if noise is None else noise / unit_noise_scale(r)
        quiet[id(r)] = (
            noise if noise is not None and is_quiet(noise, max_sta_lta=max_sta_lta) else None
        )
    quiet_pool = [n for n in quiet.values() if n is not None]
    if not quiet_pool:
        raise ValueError(
            "no held-out record's pre-event noise passes the quiet test"
            + (f" (--max-sta-lta {max_sta_lta}): raise the limit" if max_sta_lta else "")
        )
    n_total = int(DAY_S * RATE_HZ)
    slot = n_total // len(records)
    # three-component events first, then vertical-only ones: a real station does not switch its
    # horizontals on and off between events (one switch is left, where the two groups meet)
    records = sorted(records, key=lambda r: not all(live_components(r.data)))
    day = np.zeros((n_total, 3), np.float32)
    refs: dict[str, list[float]] = {"P": [], "S": []}
    ramp = np.linspace(0.0, 1.0, FADE, dtype=np.float32)[:, None]
    make_filler = spectral_noise if spectral else seamless_noise
    tail = None
    for k, record in enumerate(records):
        data = (record.data - record.data.mean(axis=0)) / unit_noise_scale(record)
        noise = quiet[id(record)]
        if noise is None:  # never repeat a transient (or a small event) to fill the slot
            same = [n for n in quiet_pool if live_components(n) == live_components(record.data)]
            noise = (same or quiet_pool)[int(rng.integers(len(same or quiet_pool)))]
        filler = make_filler(noise, slot + FADE, rng)  # its last FADE fade into the next slot
        first, last = event_span(record, whole)
        length = min(last - first, slot - 2 * FADE)
        offset = int(rng.integers(FADE, slot - length - FADE + 1))
        segment = filler.copy()
        window = data[first : first + length]
        # cross-fade the event record into the filler at both ends
        segment[offset : offset + FADE] = (
            segment[offset : offset + FADE] * (1 - ramp) + window[:FADE] * ramp
        )
        segment[offset + FADE : offset + length - FADE] = window[FADE : length - FADE]
        end = offset + length
        segment[end - FADE : end] = (
            window[length - FADE :] * (1 - ramp) + segment[end - FADE : end] * ramp
        )
        start = k * slot
        if tail is not None:  # cross-fade the previous slot's noise into this one: no seam
            segment[:FADE] = tail * (1 - ramp) + segment[:FADE] * ramp
        day[start : start + slot] = segment[:slot]
        tail = segment[slot:]
        for phase, sample in (("P", record.p_arrival_sample), ("S", record.s_arrival_sample)):
            if 0 <= sample - first < length:
                refs[phase].append((start + offset + sample - first) / RATE_HZ)
    return day, refs


def score_days(model, days: list[tuple[np.ndarray, dict[str, list[float]]]]) -> dict:
    """Pooled metrics over ``(day, refs)`` pairs; false picks per hour over all their hours."""
    from picker.picks.matching import PickMetrics
    from picker.prediction.predict import predict_array

    metrics = PickMetrics(0.1)
    elapsed = 0.0
    for day, refs in days:
        started = time.perf_counter()
        picks = predict_array(day, RATE_HZ, model, p_threshold=0.5, s_threshold=0.5)
        elapsed += time.perf_counter() - started
        predicted: dict[str, list[float]] = {"P": [], "S": []}
        for pick in picks:
            predicted[pick.phase].append(pick.index / RATE_HZ)
        metrics.add_window(refs, predicted)
    summary = metrics.summary()
    for phase in summary:
        summary[phase]["false_picks_per_hour"] = summary[phase]["fp"] / (24.0 * len(days))
    n_events = sum(len(refs["P"]) for _, refs in days)
    return {"phases": summary, "n_events": n_events, "n_days": len(days), "predict_s": elapsed}


def write_day(day, refs, folder: Path, name: str) -> None:
    from obspy import Stream, Trace, UTCDateTime

    from picker.picks.formats import write_picks
    from picker.picks.pick import Pick, format_time

    start = UTCDateTime("2020-01-01T00:00:00")
    traces = [
        Trace(
            day[:, i].copy(),
            {
                "network": "HO",
                "station": name[:5].upper(),
                "channel": f"HH{c}",
                "sampling_rate": RATE_HZ,
                "starttime": start,
            },
        )
        for i, c in enumerate("ENZ")
    ]
    folder.mkdir(parents=True, exist_ok=True)
    Stream(traces).write(str(folder / f"{name}.mseed"), format="MSEED", encoding="FLOAT32")
    sid = f"HO.{name[:5].upper()}..HH"
    picks = [
        Pick(f"{name}.mseed", sid, phase, format_time(start + t), int(round(t * RATE_HZ)), 1.0)
        for phase in ("P", "S")
        for t in refs[phase]
    ]
    write_picks(sorted(picks, key=lambda p: p.index), folder / f"{name}_picks.csv")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", default="../shared/data", type=Path)
    parser.add_argument(
        "--model", default=None, help=".onnx or .keras model (default: the bundled one)"
    )
    parser.add_argument(
        "--write", type=Path, help="also save the days as miniSEED + picks CSV here"
    )
    parser.add_argument("--json", type=Path, help="write the scores as JSON here")
    parser.add_argument(
        "--whole-records",
        action="store_true",
        help="embed each record whole (with any unlabelled events it holds), the cut of sessions 2-4",
    )
    parser.add_argument(
        "--three-component",
        action="store_true",
        help="only the events with all three components live (one 3-component station's day)",
    )
    parser.add_argument(
        "--max-sta-lta",
        type=float,
        default=None,
        help="fill the day only with pre-event noise whose 2-20 Hz STA/LTA (0.5 s / 10 s) stays "
        "below this, e.g. 3: keeps out small unlabelled events (default: off, as in sessions 5-10)",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=3,
        help="days built per region, each with its own noise and event placement (seed 0, 1, ...); "
        "the scores pool them",
    )
    parser.add_argument(
        "--spectral-filler",
        action="store_true",
        help="fill the slots with Gaussian noise of the chosen pre-event noise's spectrum instead "
        "of repeating that noise (nothing hidden in it is planted again and again)",
    )
    add_comparison_arguments(parser)
    add_fold_argument(parser)
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error(f"--days must be at least 1, got {args.days}")
    if args.max_sta_lta is not None and args.max_sta_lta <= 1:
        parser.error(f"--max-sta-lta must be above 1 (an STA/LTA ratio), got {args.max_sta_lta}")
    if not args.data_root.is_dir():
        print(f"data root {args.data_root} not found: nothing to do", file=sys.stderr)
        return 0
    from picker.evaluation.metrics import format_sources_table
    from picker.prediction.predict import resolve_model

    try:
        model = resolve_model(args.model)  # bundled: its ONNX export, as picker predict runs it
    except ValueError as error:  # a missing or unreadable model file: one line, no traceback
        parser.error(str(error))
    others = {label: resolve_model(path) for label, path in comparison_models(args)}
    real = load_real(args.data_root)
    report = {}
    for region in ("ncedc", "martinique"):
        events = [r for r in holdout_records(real, region, args.fold) if r.p_arrival_sample >= 0]
        if args.three_component:
            events = [r for r in events if all(live_components(r.data))]
        try:
            days = [
                build_day(events, seed, args.whole_records, args.max_sta_lta, args.spectral_filler)
                for seed in range(args.days)
            ]
        except ValueError as error:
            parser.error(f"{region}: {error}")
        if args.write:
            for seed, (day, refs) in enumerate(days):
                write_day(day, refs, args.write, f"holdout_{region}" + (f"_{seed}" if seed else ""))
        report[region] = score_days(model, days)
        for label, other in others.items():  # the same days, the same scorer
            report.setdefault("comparisons", {}).setdefault(label, {})[region] = score_days(
                other, days
            )
        scored = {"picker": report[region]} | {
            label: report["comparisons"][label][region] for label in others
        }
        print(
            f"\n{region} hold-out days: {args.days} x {len(events)} events, predicted in "
            + ", ".join(f"{r['predict_s']:.1f} s ({label})" for label, r in scored.items())
        )
        print(format_sources_table({label: r["phases"] for label, r in scored.items()}))
    if args.json:
        from picker.io.base import json_text  # strict JSON: NaN -> null

        args.json.write_text(json_text(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
