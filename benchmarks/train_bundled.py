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

from picker.config import WINDOW_MERGE_MODES, config_from_dict, default_pad_to_stride
from picker.io.base import Record, json_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_comparison_arguments, comparison_models  # noqa: E402
from holdout_sets import (  # noqa: E402
    HOLDOUT_SETS,
    LOWER_RATES_HZ,
    WINDOW,
    add_fold_argument,
    average_of,
    holdout_records,
    in_station_fraction,
    is_holdout,
    load_new_sets,
    load_real,
    pre_event_noise,
    score_holdout,
    training_station_records,
)
from int8_calibration import calibration_windows  # noqa: E402
from training_mix import make_synthetic, stretched_copies  # noqa: E402


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


def _region_weights(text: str) -> dict[str, int]:
    """``"martinique=4,deepdenoiser=2"`` -> {"martinique": 4, "deepdenoiser": 2} (argparse type);
    N 0 leaves the region out of training (a leave-one-region-out run)."""
    try:
        weights = {k.strip(): int(v) for k, v in (part.split("=") for part in text.split(","))}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected REGION=N,..., got {text!r}") from None
    if any(w < 0 for w in weights.values()) or not set(weights) <= set(HOLDOUT_SETS):
        raise argparse.ArgumentTypeError(f"regions of {sorted(HOLDOUT_SETS)} and N >= 0: {text!r}")
    return weights


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
        "--init-phasenet",
        type=Path,
        help="start from the published PhaseNet checkpoint in this folder (implies "
        "--architecture phasenet; transfer.phasenet_start)",
    )
    parser.add_argument(
        "--keep-init",
        type=float,
        default=0.0,
        help="with --init-phasenet: the starting network as a teacher of this share of the "
        "target, so fine-tuning does not forget what it learned (0 = off)",
    )
    parser.add_argument(
        "--new-sets",
        action="store_true",
        help="also train on the deepdenoiser training stations, S labelled by the original "
        "PhaseNet (needs --init-phasenet); ta109c always stays held out",
    )
    parser.add_argument(
        "--region-weight",
        type=_region_weights,
        default={},
        help="times a region's training records are listed, e.g. martinique=4 (default 1; 0: "
        "left out, a leave-one-region-out run)",
    )
    parser.add_argument("--architecture", default="unet", choices=("unet", "phasenet"))
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
        "--normalization",
        default="sliding",
        choices=("sliding", "std"),
        help="model input: a running-std normalisation ('sliding'), or windows of "
        "--normalization-window-s each normalised alone without a high-pass ('std', the "
        "published PhaseNet's own contract; set --highpass-hz 0)",
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
        "--fine-tuned-from",
        type=Path,
        help="with --install: the model the installed one was fine-tuned from (its authors, "
        "paper and licence notice travel with the installed model; --interpolate mixes it in)",
    )
    parser.add_argument(
        "--interpolate",
        type=float,
        default=1.0,
        help="with --install and --fine-tuned-from: install ALPHA * fine-tuned + (1 - ALPHA) "
        "* start weights (transfer.interpolate_weights, WiSE-FT); 1 = the fine-tuned model",
    )
    parser.add_argument(
        "--calibration-data",
        type=Path,
        help="with --install: calibrate the int8 export on windows of the training stations' "
        "records under this data root (default: synthetic events)",
    )
    parser.add_argument(
        "--window-overlap",
        type=float,
        help="with --install: the overlap of the windows picker predict runs a 'std' model on "
        "by default (kept with the model; without it: the trained config's)",
    )
    parser.add_argument(
        "--window-merge",
        choices=WINDOW_MERGE_MODES,
        help="with --install: how picker predict merges those windows' outputs by default "
        "(kept with the model; without it: the trained config's)",
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
        import dataclasses

        from picker.models.networks import export_model_onnx
        from picker.models.onnx_export import quantize_int8
        from picker.models.onnx_model import BUNDLED_INT8, BUNDLED_ONNX, INT8_RECHECK_PROBABILITY
        from picker.models.provenance import provenance, set_provenance
        from picker.models.saving import (
            BUNDLED_MODEL,
            input_settings,
            load_model,
            save_imported_model,
            shift_operating_point,
        )

        model = load_model(args.install)
        if args.fine_tuned_from:
            from transfer import interpolate_weights

            start = load_model(args.fine_tuned_from)
            interpolate_weights(start, model, args.interpolate)
            origin = provenance(start)  # where the starting weights came from, and their licence
            if origin is not None:
                fine_tuned = (
                    f"{origin.model} fine-tuned by picker (picker/models/bundled/MODEL_CARD.md)"
                )
                set_provenance(model, dataclasses.replace(origin, model=fine_tuned))
        if args.operating_point:
            shift_operating_point(model, *args.operating_point)
        windowing = {"window_overlap": args.window_overlap, "window_merge": args.window_merge}
        windowing = {name: value for name, value in windowing.items() if value is not None}
        if windowing:
            from picker.models.settings import set_input_settings

            set_input_settings(model, dataclasses.replace(input_settings(model), **windowing))
        save_imported_model(model, BUNDLED_MODEL)  # with the provenance, when there is one
        from transfer import write_installed_config

        config = write_installed_config(args.install.parent / "config.yaml", model, BUNDLED_MODEL)
        export_model_onnx(model, BUNDLED_ONNX)
        calibration = []
        if args.calibration_data:  # windows of the training stations, never the hold-out
            calibration = training_station_records(load_real(args.calibration_data), args.fold)
        windows = calibration_windows(settings=input_settings(model), records=calibration)
        quantize_int8(
            BUNDLED_ONNX, BUNDLED_INT8, windows, recheck_probability=INT8_RECHECK_PROBABILITY
        )
        for path in (BUNDLED_MODEL, BUNDLED_ONNX, BUNDLED_INT8, *([config] if config else [])):
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
        for _ in range(args.region_weight.get(region, 1))
    ]
    hold_nc = holdout_records(real, "ncedc", args.fold)
    hold_mq = holdout_records(real, "martinique")
    new_sets = load_new_sets(args.data_root)
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
        report = score_holdout(model, real + new_sets, args.fold)
        # the published pickers (--pretrained) and --compare models: same records, same scorer
        others = {
            label: {"model": path} | score_holdout(resolve_model(path), real + new_sets, args.fold)
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
    teachers = list(args.teachers)
    if args.init_phasenet:
        from transfer import phasenet_start, teacher_s_labels

        from picker.models.settings import InputSettings

        args.architecture = "phasenet"
        settings = InputSettings(
            100.0, args.normalization, args.highpass_hz, args.normalization_window_s
        )
        args.output.mkdir(parents=True, exist_ok=True)
        # the start is built before the run's config, with the rule that config applies
        padded = default_pad_to_stride(args.architecture, args.normalization)
        start = str(
            phasenet_start(args.init_phasenet, settings, args.output / "init.keras", padded)
        )
        args.init = args.init or start  # --init: continue from that model, PhaseNet teaching
        teachers += [start] if args.keep_init else []
        if args.new_sets:
            from picker.models.phasenet import import_phasenet_checkpoint

            p_only = [
                r
                for r, region, st in new_sets
                if region == "deepdenoiser"
                and (args.final or not is_holdout(region, st, args.fold))
            ]
            labelled = teacher_s_labels(p_only, import_phasenet_checkpoint(args.init_phasenet))
            logging.info("--new-sets: %d of %d P-only records got an S", len(labelled), len(p_only))
            train_real += labelled * args.region_weight.get("deepdenoiser", 1)
    elif args.new_sets or args.keep_init:
        parser.error("--new-sets and --keep-init need --init-phasenet")
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
                "normalization": args.normalization,
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
                "architecture": args.architecture,
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
                "teachers": teachers,
                "distill_weight": args.keep_init or args.distill_weight,
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
        report |= score_holdout(model, real + new_sets, args.fold)
        _print_report(report)
    (args.output / "holdout_report.json").write_text(json_text(report, indent=1))
    return 0


def _print_report(report: dict) -> None:
    """One table per hold-out split and kind of input; with ``report["comparisons"]``
    (``--pretrained``, ``--compare``) a row per model and phase, the scored model first."""
    from picker.evaluation.metrics import format_sources_table

    models = {"picker": report, **report.get("comparisons", {})}
    # a kind a model lacks has no row: reports before session 5 lack the vertical-only windows,
    # and EQTransformer is scored on whole records only (holdout_sets.takes_windows)
    for split in (f"{region}_holdout" for region in HOLDOUT_SETS):
        lower = [f"windows_3001_at_{rate}hz" for rate in LOWER_RATES_HZ]
        for kind in ("windows_3001", "windows_3001_vertical_only", *lower, "whole_records"):
            rows = {
                label: scores[split][kind]["phases"]
                for label, scores in models.items()
                if kind in scores.get(split, {})
            }
            if rows:
                print(f"\n{split} / {kind}")
                print(format_sources_table(rows))


if __name__ == "__main__":
    from picker.models.settings import ModelFileError

    try:
        sys.exit(main())
    except ModelFileError as exc:  # --install / --score-only of a bad model file: one line
        sys.exit(f"ERROR: {exc}")
