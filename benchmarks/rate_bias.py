"""Do picks move when the same records arrive at 50 or 40 Hz instead of 100 Hz?

    python benchmarks/rate_bias.py --data-root ../shared/data [--records 40] [--seed 0]
        [--model PATH] [--json OUT]

Real 100 Hz event records (NCEDC ``phasenet_demo`` / ``phasenet_test`` and the 100 Hz
Martinique windows; the 20 Hz Martinique stations are left out) are brought to 50 and 40 Hz in
the ways a user's lower-rate data come to be, then picked by ``predict_array`` (the path
``picker predict`` uses) at their own rate. For every record the P (S) pick at the lower rate
nearest to the 100 Hz pick (within :data:`MATCH_S`) is compared with it: the table gives the
median and the 10-90 % range of (pick time at 50/40 Hz − pick time at 100 Hz), three-component
and vertical-only (E and N zeroed, compared with the vertical-only 100 Hz pick). Pick times are
``index / rate``, so they sit on the input's grid (0.02 s at 50 Hz, 0.025 s at 40 Hz).

How the lower-rate versions are made (the ``simulation`` column):

- ``linear-phase FIR``: ``scipy.signal.resample_poly`` (a symmetric Kaiser-window FIR, its delay
  removed): a datalogger's linear-phase FIR decimation with the FIR delay corrected in the time
  stamps, as dataloggers do by default. Zero phase.
- ``ObsPy resample``: ``Trace.resample(rate)`` (FFT, Hann taper in frequency). Zero phase.
- ``ObsPy decimate``: ``Trace.decimate(2)`` at 50 Hz, ``Trace.resample(40, no_filter=False)``
  at 40 Hz: both first run ObsPy's ``lowpass_cheby_2`` (a 12th-order Chebyshev II IIR, stop
  band at the new Nyquist frequency) forward only, a **causal** filter that delays the signal.
- ``minimum-phase FIR``: a causal minimum-phase FIR low-pass (corner 0.8 × the new Nyquist
  frequency) then ``resample_poly``: a datalogger's minimum-phase option, delay uncorrected.

The ``filter delay`` column is the group delay of that anti-alias filter at 100 Hz averaged
over 2-10 Hz (where P onsets have their energy): 0 for the zero-phase ones. A pipeline that is
free of bias reproduces it in the pick differences; the picker cannot undo a delay that is in
the data (the file does not say which filter made it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: A lower-rate pick further than this from the 100 Hz pick counts as missing.
MATCH_S = 0.5
#: Lower rates compared with 100 Hz.
RATES_HZ = (50, 40)
#: Band over which the ``filter delay`` column averages the group delay.
DELAY_BAND_HZ = (2.0, 10.0)


def load_100hz_records(data_root: Path, n_records: int, seed: int) -> list[tuple[str, object]]:
    """(name, record) for ``n_records`` 100 Hz records with a P pick, drawn with ``seed``."""
    from picker.io import read_records

    paths = sorted((data_root / "ncedc").rglob("*.npz")) + sorted(
        (data_root / "martinique").rglob("*.npz")
    )
    records = []
    for path in paths:
        record = next(read_records(path))
        if record.sampling_rate_hz == 100.0 and record.p_arrival_sample >= 0:
            records.append((path.stem, record))
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(records), min(n_records, len(records)), replace=False))
    return [records[i] for i in chosen]


def cheby2_coefficients(rate_hz: int):
    """(b, a) of the anti-alias filter ObsPy runs before decimating 100 Hz to ``rate_hz``."""
    from obspy.signal.filter import lowpass_cheby_2

    return lowpass_cheby_2(None, rate_hz / 2.0, 100.0, maxorder=12, ba=True)


def minimum_phase_taps(rate_hz: int) -> np.ndarray:
    """A causal minimum-phase FIR low-pass at 100 Hz, corner 0.8 × ``rate_hz`` / 2."""
    from scipy.signal import firwin, minimum_phase

    linear = firwin(63, 0.8 * rate_hz / 2.0, fs=100.0)
    # minimum_phase gives about the square root of the magnitude: start from its square
    return minimum_phase(np.convolve(linear, linear), method="homomorphic")


def poly(data: np.ndarray, rate_hz: int) -> np.ndarray:
    """``(n, 3)`` 100 Hz data at ``rate_hz`` by ``resample_poly`` (zero phase)."""
    from math import gcd

    from scipy.signal import resample_poly

    common = gcd(rate_hz, 100)
    return resample_poly(data, rate_hz // common, 100 // common, axis=0)


def per_trace(data: np.ndarray, method: Callable) -> np.ndarray:
    """Apply ``method(obspy.Trace) -> Trace`` to each column of 100 Hz ``(n, 3)`` data."""
    from obspy import Trace

    columns = []
    for c in range(3):
        trace = Trace(np.ascontiguousarray(data[:, c], np.float64))
        trace.stats.sampling_rate = 100.0
        columns.append(method(trace).data)
    n = min(len(c) for c in columns)
    return np.stack([c[:n] for c in columns], axis=1)


def obspy_decimate(data: np.ndarray, rate_hz: int) -> np.ndarray:
    if 100 % rate_hz == 0:
        return per_trace(data, lambda tr: tr.decimate(100 // rate_hz))
    return per_trace(data, lambda tr: tr.resample(float(rate_hz), no_filter=False))


def minimum_phase_fir(data: np.ndarray, rate_hz: int) -> np.ndarray:
    from scipy.signal import lfilter

    return poly(lfilter(minimum_phase_taps(rate_hz), [1.0], data, axis=0), rate_hz)


#: name -> (function(100 Hz data, rate) -> data at rate, filter (b, a) at 100 Hz or None).
SIMULATIONS: dict[str, tuple[Callable, Callable | None]] = {
    "linear-phase FIR": (poly, None),
    "ObsPy resample": (lambda d, r: per_trace(d, lambda tr: tr.resample(float(r))), None),
    "ObsPy decimate": (obspy_decimate, cheby2_coefficients),
    "minimum-phase FIR": (minimum_phase_fir, lambda r: (minimum_phase_taps(r), [1.0])),
}


def filter_delay_s(simulation: str, rate_hz: int) -> float:
    """Mean group delay (s) over :data:`DELAY_BAND_HZ` of the simulation's anti-alias filter."""
    from scipy.signal import group_delay

    design = SIMULATIONS[simulation][1]
    if design is None:
        return 0.0
    freqs = np.linspace(*DELAY_BAND_HZ, 17)
    _, delay = group_delay(design(rate_hz), w=freqs, fs=100.0)
    return float(np.mean(delay) / 100.0)


def pick_times(model, data: np.ndarray, rate_hz: float) -> dict[str, list[float]]:
    """P and S pick times (s from the first sample) of ``predict_array`` at probability 0.5."""
    from picker.prediction.predict import predict_array

    out: dict[str, list[float]] = {"P": [], "S": []}
    for pick in predict_array(data, rate_hz, model, p_threshold=0.5, s_threshold=0.5):
        out[pick.phase].append(pick.index / rate_hz)
    return out


def nearest(times: list[float], reference: float | None) -> float | None:
    if reference is None or not times:
        return None
    best = min(times, key=lambda t: abs(t - reference))
    return best if abs(best - reference) <= MATCH_S else None


def reference_pick(times: list[float], analyst_s: float | None) -> float | None:
    """The 100 Hz pick nearest the analyst pick (within :data:`MATCH_S`), None without one."""
    return nearest(times, analyst_s)


def measure(model, records) -> dict:
    """{(simulation, rate, components): {"P": [differences s], "S": [...], "n": records}}."""
    out: dict[tuple[str, int, str], dict] = {}
    for _, record in records:
        full = np.asarray(record.data, np.float64)
        p_ref = record.p_arrival_sample / 100.0
        s_ref = record.s_arrival_sample / 100.0 if record.s_arrival_sample >= 0 else None
        for components, data in (("3C", full), ("Z", full * [0.0, 0.0, 1.0])):
            if components == "3C" and not full[:, :2].any():
                continue  # a vertical-only record: counted once, under "Z"
            at_100 = pick_times(model, data, 100.0)
            refs = {
                "P": reference_pick(at_100["P"], p_ref),
                "S": reference_pick(at_100["S"], s_ref),
            }
            for simulation, (make, _) in SIMULATIONS.items():
                for rate in RATES_HZ:
                    lower = pick_times(model, make(data, rate), float(rate))
                    cell = out.setdefault(
                        (simulation, rate, components), {"P": [], "S": [], "missed": 0, "n": 0}
                    )
                    for phase, ref in refs.items():
                        if ref is None:
                            continue
                        cell["n"] += phase == "P"
                        found = nearest(lower[phase], ref)
                        if found is None:
                            cell["missed"] += 1
                        else:
                            cell[phase].append(round(found - ref, 6))
    return out


def summary(values: list[float]) -> str:
    if not values:
        return "- | -"
    lo, mid, hi = np.quantile(values, [0.1, 0.5, 0.9])
    return f"{mid:+.3f} | {lo:+.3f} .. {hi:+.3f}"


def table(results: dict) -> str:
    lines = [
        "| simulation | rate | components | filter delay s | P n | P median s | P 10-90 % s "
        "| S n | S median s | S 10-90 % s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (simulation, rate, components), cell in sorted(
        results.items(), key=lambda kv: (list(SIMULATIONS).index(kv[0][0]), -kv[0][1], kv[0][2])
    ):
        lines.append(
            f"| {simulation} | {rate} Hz | {components} | {filter_delay_s(simulation, rate):.3f} "
            f"| {len(cell['P'])} | {summary(cell['P'])} | {len(cell['S'])} | {summary(cell['S'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, required=True, help="e.g. ../shared/data")
    parser.add_argument("--records", type=int, default=40, help="records drawn (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the record draw")
    parser.add_argument("--model", default=None, help=".keras model (default: the bundled one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the differences")
    args = parser.parse_args(argv)
    if not any((args.data_root / region).is_dir() for region in ("ncedc", "martinique")):
        print(f"skip: no ncedc/ or martinique/ under {args.data_root}")
        return 0
    from picker.prediction.predict import resolve_model

    model = resolve_model(args.model)
    records = load_100hz_records(args.data_root, args.records, args.seed)
    results = measure(model, records)
    print(f"{len(records)} records at 100 Hz (seed {args.seed}); differences = lower rate − 100 Hz")
    print()
    print(table(results))
    if args.json is not None:
        serial = {" / ".join(map(str, key)): value for key, value in results.items()}
        args.json.write_text(json.dumps(serial, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
