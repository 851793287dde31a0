"""Do imported published pickers run in picker as the originals do? (issue 27's done-when)

``picker import-model`` turns PhaseNet's checkpoint and EQTransformer's HDF5 file (``--pretrained
DIR``: ``phasenet/`` and ``eqtransformer/EqT_original.h5``) into ``.keras`` models; then, on
records of the stations held out of the bundled model's training (``--data-root``,
:mod:`holdout_sets`), ``picker predict --model`` (in-process, on NPZ files written to a
temporary folder) is compared with **the original's behaviour**: the same imported weights
applied as the original code applies them, each window demeaned and divided by its std as a
whole, then the same peak extraction (probability 0.5, 0.5 s apart) and the same scorer
(0.1 s tolerance):

- PhaseNet on the hold-out windows of :func:`holdout_sets.holdout_windows` (3001 samples, P at
  a random place) plus the pure-noise windows: P and S F1 of both and their difference (done
  when within 0.01);
- EQTransformer on one 6000-sample window per record (P at a random place): the share of the
  original's picks that ``picker predict`` reproduces within 2 samples (done when >= 95 %);
- why a region scores low (``phasenet_arrival_diagnosis``, :func:`arrival_diagnosis`): PhaseNet's
  P probability at the analyst's P and the 2-20 Hz SNR, three-component and vertical-only;
- for information, whole records (60 to 120 s), where picker runs overlapping windows: F1 with
  ``window_merge`` center (default) and mean, beside the original applied to the whole record
  at once (PhaseNet runs any length; not defined for EQTransformer's fixed 6000 samples).

Usage::

    PYTHONPATH=$PWD python benchmarks/imported_parity.py --pretrained ../shared/pretrained \\
        --data-root ../shared/data [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from holdout_sets import (  # noqa: E402
    holdout_records,
    holdout_windows,
    load_real,
    noise_windows,
)

TOLERANCE_S = 0.1
RATE_HZ = 100.0
EQT_WINDOW = 6000
PHASENET_WINDOW = 3000


def _reference(p: int, s: int) -> dict[str, list[float]]:
    return {"P": [p / RATE_HZ] if p >= 0 else [], "S": [s / RATE_HZ] if s >= 0 else []}


def original_picks(model, window: np.ndarray) -> list[tuple[str, int]]:
    """The original's picks on one ``(n, 3)`` E/N/Z window: normalised as a whole, one call."""
    from picker.picks.peaks import extract_picks
    from picker.preprocess.normalize import normalize

    outputs = model.predict(normalize(window[None], "std"), verbose=0)
    if isinstance(outputs, list):  # EQTransformer: detector, picker_P, picker_S
        p, s = outputs[1][0, :, 0], outputs[2][0, :, 0]
        probabilities = np.stack([np.clip(1 - p - s, 0, 1), p, s], axis=-1)
    else:
        probabilities = outputs[0]
    found = extract_picks(probabilities, min_distance_samples=round(0.5 * RATE_HZ))
    return [(phase, index) for phase, index, _ in found]


def cli_picks(model_path: Path, windows: list[np.ndarray], folder: Path, **options):
    """``picker predict --model`` on the windows written as NPZ files: picks per window."""
    from picker.cli import main
    from picker.io.base import Record
    from picker.io.npz import write_npz

    folder.mkdir(parents=True, exist_ok=True)
    for i, window in enumerate(windows):
        write_npz(
            Record(np.asarray(window, np.float32), RATE_HZ, "XX.W..HH"), folder / f"w{i:05d}.npz"
        )
    out = folder.with_suffix(".csv")
    extra = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    status = main(
        ["predict", str(folder), "-o", str(out), "--model", str(model_path), "-q", *extra]
    )
    if status != 0:
        raise RuntimeError(f"picker predict exited {status}")
    picks: list[list[tuple[str, int]]] = [[] for _ in windows]
    with open(out, newline="") as handle:
        for row in csv.DictReader(handle):
            picks[int(Path(row["source"]).stem[1:])].append((row["phase"], int(row["index"])))
    return picks


def array_picks(model, windows, **options) -> list[list[tuple[str, int]]]:
    """``predict_array`` (the path ``picker predict`` takes) with extra options."""
    from picker.prediction.predict import predict_array

    return [
        [(p.phase, p.index) for p in predict_array(w, RATE_HZ, model, **options)] for w in windows
    ]


def f1_scores(picks, refs, windows) -> dict[str, float]:
    from picker.picks.matching import PickMetrics

    metrics = PickMetrics(TOLERANCE_S)
    for found, (p, s), window in zip(picks, refs, windows, strict=True):
        times = {"P": [], "S": []}
        for phase, index in found:
            times[phase].append(index / RATE_HZ)
        metrics.add_window(_reference(p, s), times, duration_s=len(window) / RATE_HZ)
    return {phase: round(v["f1"], 4) for phase, v in metrics.summary().items()}


def agreement(original, ours, tolerance_samples: int = 2) -> dict:
    """Share of the original's picks with a pick of the same phase by ours within tolerance."""
    matched = total = 0
    for a, b in zip(original, ours, strict=True):
        for phase, index in a:
            total += 1
            matched += any(ph == phase and abs(i - index) <= tolerance_samples for ph, i in b)
    extra = sum(len(b) for b in ours) - matched
    return {
        "original_picks": total,
        "reproduced": matched,
        "share": round(matched / max(total, 1), 4),
        "extra_picks": extra,
    }


def eqt_windows(records, seed: int = 11):
    """One 6000-sample window per record with P at a random place (S kept when inside)."""
    return holdout_windows(records, seed, n_samples=EQT_WINDOW, per_record=1)


def arrival_diagnosis(model, records) -> dict:
    """Why a region scores low: per record with P (a 3000-sample window from 10 s before P,
    normalised as a whole), the model's largest P probability within 0.5 s of the analyst's P
    and the 2-20 Hz SNR of Z (200 samples after P against the 280 before P - 20); medians over
    three-component records, vertical-only ones (E and N zero), and vertical-only ones with Z
    copied into E and N (how much of their loss is the two zero channels)."""
    from scipy.signal import butter, sosfiltfilt

    from picker.preprocess.normalize import normalize

    band = butter(4, [2.0, 20.0], "bandpass", fs=RATE_HZ, output="sos")
    rows: dict[str, list[tuple[float, float]]] = {"3C": [], "Z": [], "Z_copied_to_E_N": []}
    for r in records:
        p = r.p_arrival_sample
        if p < 300:
            continue
        start = max(0, p - 1000)
        window = np.asarray(r.data[start : start + PHASENET_WINDOW], np.float32)
        z = sosfiltfilt(band, r.data[:, 2])
        noise = np.std(z[p - 300 : p - 20])
        snr_db = float(20 * np.log10(np.std(z[p : p + 200]) / noise)) if noise > 0 else np.nan
        vertical = not window[:, :2].any()
        variants = {"Z": window} if vertical else {"3C": window}
        if vertical:
            variants["Z_copied_to_E_N"] = np.repeat(window[:, 2:], 3, axis=1)
        for name, x in variants.items():
            y = model.predict(normalize(x[None], "std"), verbose=0)[0]
            near = y[max(0, p - start - 50) : p - start + 50, 1]
            rows[name].append((snr_db, float(near.max())))
    out = {}
    for name, values in rows.items():
        if values:
            snr, prob = np.array(values).T
            out[name] = {
                "records": len(values),
                "median_snr_db_2_20hz": round(float(np.nanmedian(snr)), 1),
                "median_p_probability_at_pick": round(float(np.median(prob)), 3),
                "p_probability_over_0.5": int((prob > 0.5).sum()),
            }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrained", required=True, type=Path)
    parser.add_argument("--data-root", required=True, type=Path)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from picker.cli import main as picker_main
    from picker.models.saving import load_model

    started = time.perf_counter()
    real = load_real(args.data_root)
    ncedc = holdout_records(real, "ncedc")
    records = ncedc + holdout_records(real, "martinique")
    events = [r for r in records if r.p_arrival_sample >= 0]
    results: dict = {"n_holdout_records": len(records)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = {"phasenet": tmp / "phasenet.keras", "eqtransformer": tmp / "eqt.keras"}
        sources = {
            "phasenet": args.pretrained / "phasenet",
            "eqtransformer": args.pretrained / "eqtransformer" / "EqT_original.h5",
        }
        for kind, path in paths.items():
            if picker_main(["import-model", kind, str(sources[kind]), "-o", str(path), "-q"]):
                raise RuntimeError(f"picker import-model {kind} failed")

        # PhaseNet: the hold-out windows cut to its 30 s and noise windows, F1 of both
        model = load_model(paths["phasenet"])
        windows, refs = holdout_windows(records)
        windows = [w[:PHASENET_WINDOW] for w in windows]
        refs = [(p, s if s < PHASENET_WINDOW else -1) for p, s in refs]
        noise = [w[:PHASENET_WINDOW] for w in noise_windows(records)]
        windows, refs = windows + noise, refs + [(-1, -1)] * len(noise)
        original = [original_picks(model, w) for w in windows]
        ours = cli_picks(paths["phasenet"], windows, tmp / "phasenet_windows")
        f1_original, f1_ours = f1_scores(original, refs, windows), f1_scores(ours, refs, windows)
        results["phasenet_windows_3000"] = {
            "n_windows": len(windows) - len(noise),
            "n_noise_windows": len(noise),
            "f1_original": f1_original,
            "f1_picker_predict": f1_ours,
            "f1_difference": {ph: round(f1_ours[ph] - f1_original[ph], 4) for ph in f1_ours},
            "agreement_2_samples": agreement(original, ours),
        }
        n_ncedc = len(holdout_windows(ncedc)[0])  # 3 per record or none, ncedc's come first
        regions = ["ncedc"] * n_ncedc + ["martinique"] * (len(windows) - len(noise) - n_ncedc)
        for region in ("ncedc", "martinique"):
            keep = [i for i, name in enumerate(regions) if name == region]
            pick = lambda items, keep=keep: [items[i] for i in keep]  # noqa: E731
            results["phasenet_windows_3000"][f"f1_{region}"] = {
                "n_windows": len(keep),
                "original": f1_scores(pick(original), pick(refs), pick(windows)),
                "picker_predict": f1_scores(pick(ours), pick(refs), pick(windows)),
            }
        results["phasenet_arrival_diagnosis"] = {
            region: arrival_diagnosis(model, holdout_records(real, region))
            for region in ("ncedc", "martinique")
        }
        whole = [r.data for r in events]
        whole_refs = [(r.p_arrival_sample, r.s_arrival_sample) for r in events]
        results["phasenet_whole_records"] = {
            "n_records": len(events),
            "f1_original_whole_record_at_once": f1_scores(
                [original_picks(model, w) for w in whole], whole_refs, whole
            ),
            **{
                f"f1_picker_merge_{mode}": f1_scores(
                    array_picks(model, whole, window_merge=mode), whole_refs, whole
                )
                for mode in ("center", "mean")
            },
        }

        # EQTransformer: 6000-sample windows, pick agreement within 2 samples
        model = load_model(paths["eqtransformer"])
        windows, refs = eqt_windows(events)
        original = [original_picks(model, w) for w in windows]
        ours = cli_picks(paths["eqtransformer"], windows, tmp / "eqt_windows")
        results["eqtransformer_windows_6000"] = {
            "n_windows": len(windows),
            "agreement_2_samples": agreement(original, ours),
            "f1_original": f1_scores(original, refs, windows),
            "f1_picker_predict": f1_scores(ours, refs, windows),
        }
        long = [r for r in events if r.n_samples > EQT_WINDOW]
        whole, whole_refs = (
            [r.data for r in long],
            [(r.p_arrival_sample, r.s_arrival_sample) for r in long],
        )
        results["eqtransformer_whole_records"] = {
            "n_records": len(long),
            **{
                f"f1_picker_merge_{mode}": f1_scores(
                    array_picks(model, whole, window_merge=mode), whole_refs, whole
                )
                for mode in ("center", "mean")
            },
        }
    results["runtime_s"] = round(time.perf_counter() - started, 1)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
