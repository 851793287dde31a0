"""Train the bundled model on ../shared/data and measure it on stations it never saw.

    python benchmarks/train_bundled.py --data-root ../shared/data --output runs/bundled

Split (``holdout_sets.py``): NCEDC stations whose name hashes to 0 mod 5 (about a fifth) and
the Martinique stations WI.SAM, MQ.BAM, G.FDF and MQ.CPM are held out; everything else trains. The training mix is the
real training records, synthetic events (picker.training.synthetic) embedded in real pre-event noise of
the training records, and pick-free noise records. ``--final`` trains on every station instead
(for the shipped model, after the recipe has been measured on the hold-out).

The hold-out report (``holdout_report.json``, printed as a table) scores 0.1 s tolerance at
probability 0.5: each held-out record cut into 3 windows of 3001 samples with P at a random
place (also decimated to 50 and 40 Hz, as lower-rate stations record), the whole records, and
30 s pure-noise windows (pre-event noise and Martinique noise windows) for false picks per
hour. Runs resume from their last epoch (BackupAndRestore).

``--score-only MODEL --pretrained ../shared/pretrained`` also scores the published PhaseNet
and EQTransformer (imported by ``picker import-model``, run on ONNX Runtime as ``picker predict
--model`` runs them) on the same windows and records with the same scorer, a row per model in
each table (EQTransformer on the whole records only: its input is 6000 samples); ``--compare
MODEL ...`` adds other model files.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from picker.config import config_from_dict
from picker.io.base import Record, json_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_comparison_arguments, comparison_models  # noqa: E402
from holdout_sets import (  # noqa: E402
    LOWER_RATES_HZ,
    WINDOW,
    add_fold_argument,
    average_of,
    holdout_records,
    in_station_fraction,
    is_holdout,
    load_real,
    pre_event_noise,
    score,
)


def cut_unlabelled_events(
    records: list[Record],
    model,
    threshold: float = 0.7,
    away_s: float = 1.5,
    margin_s: float = 3.0,
    min_samples: int = 3500,
) -> list[Record]:
    """The records cut free of the events ``model`` finds but nobody labelled.

    A confident pick (probability >= ``threshold``) more than ``away_s`` from a record's own P
    and S is another event (the Geysers records hold many). Left in, every crop that shows it
    teaches the network that an event is noise, and the synthetic events embedded in the
    record's pre-event noise inherit it. Each record keeps the span around its labels up to
    ``margin_s`` before the nearest such pick on either side (a pick-free record: its longest
    pick-free span); a record left shorter than ``min_samples`` is dropped. All at 100 Hz.
    """
    from picker.prediction.predict import predict_array

    margin, away = round(margin_s * 100), round(away_s * 100)
    out = []
    for record in records:
        labels = [x for x in (record.p_arrival_sample, record.s_arrival_sample) if x >= 0]
        picks = predict_array(
            record.data, 100.0, model, p_threshold=threshold, s_threshold=threshold
        )
        extra = sorted(p.index for p in picks if all(abs(p.index - x) > away for x in labels))
        if not extra:
            out.append(record)
            continue
        if labels:
            lo = max([x + margin for x in extra if x < min(labels)], default=0)
            hi = min([x - margin for x in extra if x > max(labels)], default=record.n_samples)
        else:  # the longest span between the picks
            edges = [-margin, *extra, record.n_samples + margin]
            lo, hi = max(
                ((a + margin, b - margin) for a, b in zip(edges, edges[1:], strict=False)),
                key=lambda span: span[1] - span[0],
            )
        if hi - lo < min_samples:
            continue
        shift = {
            key: value - lo if value >= 0 else value
            for key, value in (
                ("p_arrival_sample", record.p_arrival_sample),
                ("s_arrival_sample", record.s_arrival_sample),
            )
        }
        if record.start_time is not None:
            shift["start_time"] = record.start_time + lo / 100.0
        out.append(record.with_data(record.data[lo:hi].copy(), **shift))
    return out


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


def calibration_windows(
    n_windows: int = 48, n_samples: int = 6144, seed: int = 0, settings=None
) -> np.ndarray:
    """Model inputs for int8 calibration (``--install``): synthetic events in coloured noise,
    preprocessed.

    Returns:
        ``(n_windows, n_samples, 3)`` float32 after
        :func:`picker.preprocess.model_input.model_input` with the model's
        :class:`~picker.models.saving.InputSettings` ``settings`` (None: the defaults, causal
        1 Hz high-pass and 30 s sliding normalisation), at 100 Hz.
    """
    from picker.models.saving import InputSettings
    from picker.preprocess.model_input import MODEL_SAMPLING_RATE_HZ as rate
    from picker.preprocess.model_input import model_input
    from picker.training.synthetic import synthetic_continuous

    settings = settings or InputSettings()
    rng = np.random.default_rng(seed)
    windows = []
    while len(windows) < n_windows:
        duration_s = n_samples / rate
        snr_db = float(rng.uniform(0.0, 30.0))
        event_s = [float(rng.uniform(5.0, duration_s - 20.0))]
        stream, _ = synthetic_continuous(duration_s, rate, event_s, rng, snr_db=snr_db)
        data = np.stack(
            [tr.data for tr in sorted(stream, key=lambda tr: "ENZ".index(tr.stats.channel[-1]))],
            axis=1,
        )
        windows.append(
            model_input(
                data[:n_samples], rate, settings.normalization_window_s, settings.highpass_hz
            )
        )
    return np.stack(windows).astype(np.float32)


def _threshold_pair(text: str) -> tuple[float, float]:
    """``"0.6,0.55"`` -> (0.6, 0.55), both strictly between 0 and 1 (an argparse type)."""
    try:
        p_threshold, s_threshold = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected P,S thresholds like 0.6,0.55, got {text!r}"
        ) from None
    if not (0 < p_threshold < 1 and 0 < s_threshold < 1):
        raise argparse.ArgumentTypeError(f"thresholds must be between 0 and 1, got {text!r}")
    return p_threshold, s_threshold


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", default="../shared/data", type=Path)
    parser.add_argument("--output", default="runs/bundled", type=Path)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--steps-per-epoch", type=int, default=400)
    parser.add_argument(
        "--synthetic", type=int, default=3000, help="number of synthetic event records"
    )
    parser.add_argument(
        "--real-weight", type=int, default=8, help="times each real record is listed"
    )
    parser.add_argument(
        "--stretch", type=int, default=0, help="time-stretched copies of each real record"
    )
    parser.add_argument(
        "--coloured-noise",
        type=float,
        default=0.0,
        help="fraction of synthetic events in random coloured noise instead of real noise",
    )
    parser.add_argument(
        "--ema-momentum", type=float, default=0.0, help="weight averaging (0 = off, e.g. 0.999)"
    )
    parser.add_argument(
        "--init", default="", help="fine-tune: start from this .keras model (train.initial_weights)"
    )
    parser.add_argument(
        "--teachers", nargs="+", default=[], help="distil: trained .keras models (train.teachers)"
    )
    parser.add_argument(
        "--distill-weight", type=float, default=0.5, help="teachers' share of the target"
    )
    parser.add_argument("--learning-rate", type=float, default=0.002)
    parser.add_argument(
        "--lr-schedule", default="plateau", choices=("plateau", "cosine"), help="train.lr_schedule"
    )
    parser.add_argument(
        "--validation-crops", type=int, default=1, help="fixed crops per validation record"
    )
    parser.add_argument("--label-width", type=float, default=10.0, help="Gaussian sigma, samples")
    parser.add_argument(
        "--s-label-width", type=float, default=0.0, help="S label sigma (0: --label-width)"
    )
    parser.add_argument("--filters", default="8,16,32,64,128")
    parser.add_argument("--kernel-size", type=int, default=7)
    parser.add_argument(
        "--dropout", type=float, default=0.0, help="spatial drop-out after each encoder level"
    )
    parser.add_argument("--class-weights", default="1,1,1", help="noise,P,S loss weights")
    parser.add_argument("--loss", default="categorical", choices=("categorical", "focal"))
    parser.add_argument(
        "--train-window",
        type=int,
        default=WINDOW,
        help="training window in samples (the hold-out windows stay 3001)",
    )
    parser.add_argument("--focal-gamma", type=float, default=2.0)
    parser.add_argument(
        "--vertical-only",
        type=float,
        default=0.0,
        help="probability of zeroing E and N of a training window (vertical-only station)",
    )
    parser.add_argument(
        "--real-noise",
        type=float,
        default=0.0,
        help="probability of adding another training record's pre-event noise to a window",
    )
    parser.add_argument(
        "--lowpass",
        type=float,
        default=0.0,
        help="probability of low-passing a training window at 8-40 Hz (lower-rate stations)",
    )
    parser.add_argument("--glitch", type=float, default=0.0, help="probability of a glitch")
    parser.add_argument(
        "--highpass-hz",
        type=float,
        default=1.0,
        help="corner of the causal high-pass of the model input (predict.highpass_hz; 0 = off)",
    )
    parser.add_argument(
        "--normalization-window-s",
        type=float,
        default=30.0,
        help="window of the model input's running-std normalisation (kept with the model)",
    )
    parser.add_argument(
        "--clean-with",
        default="",
        help="cut the training records free of the unlabelled events this model (.keras, .onnx "
        "or 'bundled') picks at probability 0.7 or more (cut_unlabelled_events)",
    )
    parser.add_argument(
        "--station-fraction",
        type=float,
        default=1.0,
        help="train on this fraction of the NCEDC training stations only (a learning curve; "
        "Martinique has 4 training stations, too few to subsample)",
    )
    parser.add_argument(
        "--final", action="store_true", help="train on every station (shipped model)"
    )
    parser.add_argument(
        "--blind",
        action="store_true",
        help="train as --final does (no validation set, last-epoch choice by training loss) "
        "but without the hold-out stations, and score them: measures the --final recipe",
    )
    parser.add_argument(
        "--score-only",
        type=Path,
        nargs="+",
        help="score this model on the hold-out and exit; several .keras models: score the "
        "average of their probabilities (an ensemble)",
    )
    parser.add_argument(
        "--install",
        type=Path,
        help="re-save this model (no optimizer state) as the bundled model and exit",
    )
    parser.add_argument(
        "--operating-point",
        type=_threshold_pair,
        default=None,
        help="with --install: P,S thresholds that become probability 0.5 in the installed "
        "model (picker.models.saving.shift_operating_point), e.g. 0.6,0.6",
    )
    parser.add_argument("--json", type=Path, help="with --score-only: also write the report here")
    add_comparison_arguments(parser)
    add_fold_argument(parser)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.install:
        from picker.models.onnx_export import export_onnx, quantize_int8
        from picker.models.onnx_model import BUNDLED_INT8, BUNDLED_ONNX
        from picker.models.saving import (
            BUNDLED_MODEL,
            input_settings,
            load_model,
            save_model,
            shift_operating_point,
        )

        model = load_model(args.install)
        if args.operating_point:
            shift_operating_point(model, *args.operating_point)
        save_model(model, BUNDLED_MODEL)
        export_onnx(model, BUNDLED_ONNX)
        quantize_int8(
            BUNDLED_ONNX, BUNDLED_INT8, calibration_windows(settings=input_settings(model))
        )
        for path in (BUNDLED_MODEL, BUNDLED_ONNX, BUNDLED_INT8):
            print(f"installed {args.install} as {path} ({path.stat().st_size / 1e6:.1f} MB)")
        return 0
    if not args.data_root.is_dir():
        print(f"data root {args.data_root} not found: nothing to do", file=sys.stderr)
        return 0

    real = load_real(args.data_root)
    train_real = [
        r
        for r, region, st in real
        if (args.final or not is_holdout(region, st, args.fold))
        and (region != "ncedc" or in_station_fraction(st, args.station_fraction))
    ]
    hold_nc = holdout_records(real, "ncedc", args.fold)
    hold_mq = holdout_records(real, "martinique")
    logging.info(
        "records: %d train, %d NCEDC hold-out (%d stations), %d Martinique hold-out",
        len(train_real),
        len(hold_nc),
        len({r.station_id for r in hold_nc}),
        len(hold_mq),
    )
    if args.score_only:
        from picker.prediction.predict import resolve_model

        if len(args.score_only) == 1:  # .keras on TensorFlow, .onnx on ONNX Runtime
            model = resolve_model(args.score_only[0])
        else:
            model = average_of(args.score_only)
        report = {
            "ncedc_holdout": score(model, hold_nc),
            "martinique_holdout": score(model, hold_mq),
        }
        # the published pickers (--pretrained) and --compare models: same records, same scorer
        others = {
            label: {
                "model": path,
                "ncedc_holdout": score(resolve_model(path), hold_nc),
                "martinique_holdout": score(resolve_model(path), hold_mq),
            }
            for label, path in comparison_models(args)
        }
        if others:
            report["comparisons"] = others
        _print_report(report)
        if args.json:
            args.json.write_text(json_text(report, indent=1))
        return 0

    if args.clean_with:
        from picker.prediction.predict import resolve_model

        before = sum(r.n_samples for r in train_real), len(train_real)
        cleaner = resolve_model(None if args.clean_with == "bundled" else args.clean_with)
        train_real = cut_unlabelled_events(train_real, cleaner)
        logging.info(
            "--clean-with: %d of %d records kept, %.1f %% of their samples",
            len(train_real),
            before[1],
            100.0 * sum(r.n_samples for r in train_real) / before[0],
        )
    pool = [n for n in (pre_event_noise(r) for r in train_real) if n is not None]
    synthetic = make_synthetic(args.synthetic, pool, args.seed, args.coloured_noise)
    noise_records = [
        r.with_data(r.data, p_arrival_sample=-1, s_arrival_sample=-1)
        for r in train_real
        if r.p_arrival_sample < 0 and r.s_arrival_sample < 0
    ]
    events = [r for r in train_real if r.p_arrival_sample >= 0 or r.s_arrival_sample >= 0]
    stretched = stretched_copies(events, args.stretch, args.seed)
    stretched_weight = max(1, args.real_weight // (2 * max(1, args.stretch)))
    train_records = (
        train_real * args.real_weight
        + stretched * stretched_weight  # the copies together: half the originals' weight
        + synthetic
        + noise_records * args.real_weight
    )
    validation = [] if args.final or args.blind else hold_nc + hold_mq
    filters = [int(f) for f in args.filters.split(",")]
    cfg = config_from_dict(
        {
            "data": {
                "window_samples": args.train_window,
                "batch_size": 32,
                "noise_window_fraction": 0.15,
                "validation_crops": args.validation_crops,
                "seed": args.seed,
            },
            "labels": {
                "shape": "gaussian",
                "width_samples": [args.label_width, args.s_label_width or args.label_width],
            },
            "augment": {
                "stack_event": 0.3,
                "scale_amplitude": 0.5,
                "flip_polarity": 0.5,
                "drop_channels": 0.3,
                "vertical_only": args.vertical_only,
                "real_noise": args.real_noise,
                "gaussian_noise": 0.3,
                "lowpass": args.lowpass,
                "gap": 0.05,
                "glitch": args.glitch,
            },
            "model": {
                "filters": filters,
                "kernel_size": args.kernel_size,
                "dropout": args.dropout,
                "stride": 4,
                "data_format": "channels_last",
            },
            "train": {
                "output_dir": str(args.output),
                "epochs": args.epochs,
                "steps_per_epoch": args.steps_per_epoch,
                "learning_rate": args.learning_rate,
                "lr_schedule": args.lr_schedule,
                "initial_weights": args.init,
                "teachers": args.teachers,
                "distill_weight": args.distill_weight,
                "ema_momentum": args.ema_momentum,
                "class_weights": [float(w) for w in args.class_weights.split(",")],
                "loss": args.loss,
                "focal_gamma": args.focal_gamma,
                "early_stopping_patience": 0,
                "reduce_lr_patience": 3,
                "tensorboard": False,
                "seed": args.seed,
            },
            "predict": {
                "highpass_hz": args.highpass_hz,
                "normalization_window_s": args.normalization_window_s,
            },
        },
        "<train_bundled>",
    )
    from picker.models.saving import load_model
    from picker.training.train import train

    started = time.time()
    result = train(cfg, args.output, train_records=train_records, validation_records=validation)
    wall_s = time.time() - started
    model = load_model(result.model_path)
    report = {
        "wall_time_s": wall_s,
        "epochs": result.epochs_run,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    if not args.final:
        report |= {
            "ncedc_holdout": score(model, hold_nc),
            "martinique_holdout": score(model, hold_mq),
        }
        _print_report(report)
    (args.output / "holdout_report.json").write_text(json_text(report, indent=1))
    return 0


def _print_report(report: dict) -> None:
    """One table per hold-out split and kind of input; with ``report["comparisons"]``
    (``--pretrained``, ``--compare``) a row per model and phase, the scored model first."""
    from picker.evaluation.metrics import format_sources_table

    models = {"picker": report, **report.get("comparisons", {})}
    for split in ("ncedc_holdout", "martinique_holdout"):
        lower = [f"windows_3001_at_{rate}hz" for rate in LOWER_RATES_HZ]
        for kind in ("windows_3001", "windows_3001_vertical_only", *lower, "whole_records"):
            rows = {
                label: scores[split][kind]["phases"]
                for label, scores in models.items()
                if kind in scores[split]  # reports before session 5 lack the vertical-only one;
            }  # EQTransformer has whole records only (holdout_sets.takes_windows)
            if rows:
                print(f"\n{split} / {kind}")
                print(format_sources_table(rows))


if __name__ == "__main__":
    sys.exit(main())
