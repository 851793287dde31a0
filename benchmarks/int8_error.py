"""Where does the int8 model's error come from? Quantised variants of a float ONNX model
against the float model itself, on the held-out whole records.

    python benchmarks/int8_error.py --data-root ../shared/data
        [--model picker/models/bundled/picker_default.onnx] [--variant NAME ...] [--json OUT]

Each variant is the float model quantised by :func:`picker.models.onnx_export.quantize_int8`
(weights int8 per channel, activation ranges from the same 48 training-station windows as the
shipped int8, ``train_bundled.py --install --calibration-data``):

- ``int8``: every activation at 8 bits, as shipped;
- ``a16``: every activation at 16 bits (weights still int8);
- ``a16:TENSOR+TENSOR...``: the named activation tensors (ONNX names, e.g. ``input_relu``,
  ``skip_1``) at 16 bits, the rest at 8;
- ``noisy:R``: no quantisation; Gaussian noise of R times each channel's std added to the
  *input* (how much does a small perturbation of the data move the float model?).

For every held-out whole record of NCEDC and ta109c (``holdout_sets.py``), both models run
through ``predict_array`` (the path ``picker predict`` uses). The table gives the median and
90th percentile over records of the largest probability difference anywhere in the record,
and ``flips``: labelled P and S arrivals that one model picks within 0.1 s and the other does
not (each flip moves F1 by about 1/n of a set of n picks). 16-bit activations make ONNX Runtime
run their consumers in float: the ``a16`` variants are diagnostics, not faster models.

These variants are the int8 *network* alone. The shipped ``picker predict --int8`` also reruns
in float32 every window where the int8 network's P or S probability reaches 0.1
(``OnnxModel.recheck_model``); its hold-out F1 is compared with float32's by ``train_bundled.py
--score-only picker/models/bundled/picker_default.int8.onnx --compare ...onnx``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _picks_and_probabilities(model, records, noise_ratio: float = 0.0):
    from picker.prediction.predict import predict_array

    rng = np.random.default_rng(0)
    out = []
    for record in records:
        data = record.data
        if noise_ratio:
            data = data + noise_ratio * data.std(axis=0) * rng.standard_normal(data.shape)
        out.append(predict_array(data, 100.0, model, return_probabilities=True))
    return out


def _found(picks, phase: str, label: int) -> bool:
    """Whether a ``phase`` pick is within the hold-out's tolerance of ``label`` (100 Hz)."""
    from holdout_sets import TOLERANCE_S

    return any(p.phase == phase and abs(p.index - label) <= round(TOLERANCE_S * 100) for p in picks)


def compare(records, reference, other) -> dict:
    """Probability differences and pick flips of ``other`` against ``reference`` (both lists of
    ``(picks, probabilities (n_samples, 3))`` per record)."""
    largest, flips, n_labels = [], 0, 0
    for record, (ref_picks, ref_prob), (picks, prob) in zip(records, reference, other, strict=True):
        largest.append(float(np.abs(prob - ref_prob).max()))
        for phase, label in (("P", record.p_arrival_sample), ("S", record.s_arrival_sample)):
            if label is None or label < 0:
                continue
            n_labels += 1
            flips += _found(ref_picks, phase, label) != _found(picks, phase, label)
    return {
        "max_dprob_median": float(np.median(largest)),
        "max_dprob_p90": float(np.percentile(largest, 90)),
        "flips": flips,
        "labels": n_labels,
    }


def main(argv=None) -> int:
    from holdout_sets import holdout_records, load_new_sets, load_real, training_station_records
    from int8_calibration import calibration_windows

    from picker.models.onnx_export import quantize_int8
    from picker.models.onnx_model import BUNDLED_ONNX
    from picker.prediction.predict import resolve_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", type=Path, default=BUNDLED_ONNX, help="a float ONNX model")
    parser.add_argument("--variant", nargs="+", default=["int8", "a16", "noisy:0.01"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not args.data_root.is_dir():
        print(f"data root {args.data_root} not found: nothing to do", file=sys.stderr)
        return 0
    real = load_real(args.data_root)
    records = holdout_records(load_new_sets(args.data_root), "ta109c", 0)
    records += holdout_records(real, "ncedc", 0)
    float_model = resolve_model(args.model)
    windows = calibration_windows(
        settings=float_model.picker_input_settings, records=training_station_records(real)
    )
    reference = _picks_and_probabilities(float_model, records)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variant:
            kind, _, detail = variant.partition(":")
            if kind == "noisy":
                runs = _picks_and_probabilities(float_model, records, float(detail))
            elif kind in ("int8", "a16"):
                wide = () if kind == "int8" else (detail.split("+") if detail else "all")
                path = Path(tmp) / "variant.onnx"
                try:
                    quantize_int8(args.model, path, windows, wide_tensors=wide)
                except ValueError as exc:  # ONNX Runtime: a tensor name not in the model
                    parser.error(f"{variant}: {exc}")
                runs = _picks_and_probabilities(resolve_model(path), records)
            else:
                parser.error(f"unknown variant {variant!r} (int8, a16[:T+T], noisy:R)")
            rows[variant] = compare(records, reference, runs)
            row = rows[variant]
            print(
                f"{variant:40s} max |dprob| median {row['max_dprob_median']:.3f} "
                f"p90 {row['max_dprob_p90']:.3f}  flips {row['flips']} of {row['labels']}",
                flush=True,
            )
    if args.json:
        from picker.io.base import atomic_output

        with atomic_output(args.json) as out:
            out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    from picker.models.settings import ModelFileError

    try:
        sys.exit(main())
    except ModelFileError as exc:  # a missing or bad --model: one line
        sys.exit(f"ERROR: {exc}")
