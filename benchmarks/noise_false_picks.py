"""False picks per hour on pick-free input: stationary noise and transients that are not events.

    python benchmarks/noise_false_picks.py [--model MODEL] [--data-root ../shared/data] [--fold K]
        [--pretrained ../shared/pretrained] [--compare MODEL ...]

Every window is 30 s of three-component 100 Hz input with no arrival in it, so each pick that
``predict_array`` returns at probability 0.5 is a false pick. The kinds:

- ``white``, ``brown`` (integrated white), ``coloured`` (a random power law plus, half of the
  time, a narrow band: :func:`train_bundled.random_coloured_noise`), ``sine`` (a 0.5-20 Hz
  tone in white noise), ``vertical_only`` (white noise on Z, E and N zero): stationary noise;
- ``spikes`` (three one-sample spikes of 20-200 std), ``step`` (one offset of 5-50 std on one
  channel), ``bursts`` (three stretches of 0.2-1 s where the noise is 3-20 times louder, with
  sharp edges): transients of the kind real stations record (glitches, traffic, wind);
- ``real`` (with ``--data-root``): the pre-event noise (or the whole noise record) of the
  held-out NCEDC and Martinique stations of ``holdout_sets.py``, cut into 30 s pieces
  (``--fold K``: the NCEDC stations of fold K of its station cross-validation).

The transients here are close to, but not drawn like, the training glitches (``augment.glitch``:
one transient of 3-30 std added to the window, a spike, a step, a boxcar, or a burst of noise
under a Hann envelope or switched on and off with sharp edges, 0.2-3 s, on random channels);
the bursts here multiply the noise on every channel, three times per window. The seed is
fixed: the same model gives the same counts.

``--pretrained DIR`` also runs the published PhaseNet and EQTransformer (imported with
``picker import-model``, on ONNX Runtime) on the very same windows, a column each
(EQTransformer zero-pads each 30 s window to its 60 s input, as its own code does with short
data); ``--compare MODEL ...`` adds other model files. With comparisons, ``--json`` writes
``{model: table}``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_comparison_arguments, comparison_models  # noqa: E402
from holdout_day import RATE_HZ  # noqa: E402
from holdout_sets import (  # noqa: E402
    WINDOW,
    add_fold_argument,
    holdout_records,
    load_real,
    pre_event_noise,
)
from training_mix import random_coloured_noise  # noqa: E402


def synthetic_kinds(rng: np.random.Generator) -> Iterator[tuple[str, Callable[[], np.ndarray]]]:
    """(name, function returning one ``(WINDOW, 3)`` E, N, Z window) for each synthetic kind."""
    n = WINDOW

    def white() -> np.ndarray:
        return rng.standard_normal((n, 3))

    def spikes() -> np.ndarray:
        x = white()
        x[rng.integers(0, n, 3), rng.integers(0, 3, 3)] += rng.uniform(20, 200, 3)
        return x

    def step() -> np.ndarray:
        x = white()
        x[int(rng.integers(200, n - 200)) :, int(rng.integers(0, 3))] += rng.uniform(5, 50)
        return x

    def bursts() -> np.ndarray:
        x = white()
        for _ in range(3):
            start, length = int(rng.integers(0, n - 100)), int(rng.integers(20, 100))
            x[start : start + length] *= rng.uniform(3, 20)
        return x

    def sine() -> np.ndarray:
        t = np.arange(n) / RATE_HZ
        tone = np.sin(2 * np.pi * rng.uniform(0.5, 20) * t)
        return tone[:, None] * rng.uniform(1, 20, 3) + white()

    def vertical_only() -> np.ndarray:
        x = white()
        x[:, :2] = 0.0
        return x

    yield "white", white
    yield "brown", lambda: np.cumsum(white(), axis=0)
    yield "coloured", lambda: random_coloured_noise(n, rng)
    yield "sine", sine
    yield "vertical_only", vertical_only
    yield "spikes", spikes
    yield "step", step
    yield "bursts", bursts


def real_noise_windows(data_root: Path, fold: int = 0) -> list[np.ndarray]:
    """30 s pieces of the pre-event noise (or whole noise records) of the held-out stations of
    ``fold`` (the training stations' noise was trained on), NCEDC first, then Martinique."""
    real = load_real(data_root)
    out = []
    for record in holdout_records(real, "ncedc", fold) + holdout_records(real, "martinique"):
        noise = pre_event_noise(record, margin=50)
        if noise is None:
            continue
        out.extend(noise[i : i + WINDOW] for i in range(0, len(noise) - WINDOW + 1, WINDOW))
    return out


def count_picks(model, windows: list[np.ndarray]) -> dict[str, float]:
    """P and S picks per hour over ``windows`` (probability 0.5, the product path)."""
    from picker.prediction.predict import predict_array

    counts = {"P": 0, "S": 0}
    for window in windows:
        for pick in predict_array(window.astype(np.float32), RATE_HZ, model):
            counts[pick.phase] += 1
    hours = len(windows) * WINDOW / RATE_HZ / 3600.0
    return {
        "windows": len(windows),
        "hours": round(hours, 3),
        "P_per_hour": round(counts["P"] / hours, 1) if hours else 0.0,
        "S_per_hour": round(counts["S"] / hours, 1) if hours else 0.0,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help=".keras or .onnx (default: bundled)")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--windows", type=int, default=60, help="windows per synthetic kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the table here")
    add_comparison_arguments(parser)
    add_fold_argument(parser)
    args = parser.parse_args(argv)
    if args.windows < 1:
        parser.error(f"--windows must be at least 1, got {args.windows}")
    from picker.prediction.predict import resolve_model

    try:
        model = resolve_model(args.model)
    except ValueError as error:  # a missing or unreadable model file: one line, no traceback
        parser.error(str(error))
    models = {"picker": model}
    models |= {label: resolve_model(path) for label, path in comparison_models(args)}
    rng = np.random.default_rng(args.seed)
    kinds = {name: [make() for _ in range(args.windows)] for name, make in synthetic_kinds(rng)}
    if args.data_root is not None:
        if args.data_root.is_dir():
            kinds["real"] = real_noise_windows(args.data_root, args.fold)
        else:
            print(f"data root {args.data_root} not found: real noise skipped", file=sys.stderr)
    # every model on the very same windows
    tables = {
        label: {name: count_picks(m, windows) for name, windows in kinds.items()}
        for label, m in models.items()
    }
    print(
        f"{'kind':15s} {'windows':>8s}" + "".join(f" {label + ' P / S':>15s}" for label in tables)
    )
    for name, windows in kinds.items():
        cells = "".join(
            f" {t[name]['P_per_hour']:8.1f} /{t[name]['S_per_hour']:5.1f}" for t in tables.values()
        )
        print(f"{name:15s} {len(windows):8d}{cells}")
    print("(each model column: false P / S picks per hour)")
    if args.json:
        from picker.io.base import json_text  # strict JSON: NaN -> null

        payload = tables["picker"] if len(tables) == 1 else tables
        args.json.write_text(json_text(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
