"""``picker train``: train a picker model from a YAML config."""

from __future__ import annotations

import argparse
import sys

from picker.cli import common


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a picker model from a YAML config",
        description=(
            "Train a picker model as a YAML config says (configs/default.yaml lists every "
            "setting). The output folder receives model.keras (the best epoch), model.onnx, "
            "config.yaml, training_log.csv and validation_report.json. An interrupted run "
            "started again with the same command resumes at its last epoch; a folder holding "
            "a finished run is refused unless --overwrite is given. On a terminal, Keras "
            "draws a progress bar per epoch; otherwise one line per epoch."
        ),
    )
    p.add_argument("--config", required=True, help="YAML config (see configs/)")
    p.add_argument("-o", "--output", help="output folder (default: train.output_dir)")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--steps-per-epoch", type=int, help="override train.steps_per_epoch")
    p.add_argument(
        "--overwrite",
        "--force",
        action="store_true",
        help="train again into an output folder holding a finished run (its model.keras, "
        "model.onnx, config.yaml, training_log.csv and validation_report.json are removed)",
    )
    common.add_quiet_option(p)
    p.set_defaults(handler=_cmd_train)


def fit_verbosity(quiet: bool) -> int:
    """Keras' ``fit`` verbosity: 0 with ``-q``, a progress bar (1) when stdout (where Keras
    writes) is a terminal, else one line per epoch (2)."""
    if quiet:
        return 0
    return 1 if sys.stdout.isatty() else 2


def _cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from picker.config import ConfigError, load_config
    from picker.io.outputs import OutputError
    from picker.training.train import RUN_FILES, finished_run, train

    overrides: dict = {"train": {}}
    if args.epochs is not None:
        overrides["train"]["epochs"] = args.epochs
    if args.steps_per_epoch is not None:
        overrides["train"]["steps_per_epoch"] = args.steps_per_epoch
    cfg = load_config(args.config, overrides)
    if not cfg.data.train:
        raise ConfigError(f"{args.config}: data.train is empty: name the training files or folders")
    out = Path(args.output or cfg.train.output_dir)
    if finished_run(out):
        if not args.overwrite:
            raise OutputError(
                f"{out}: holds the model.keras of a finished run; pass --overwrite to train "
                "again into it, or choose another -o"
            )
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        common.log.info("--overwrite: removed the files of the earlier run in %s", out)
    result = train(cfg, out, verbose=fit_verbosity(args.quiet))
    if result.diverged:  # train logged why and what was kept
        return common.EXIT_FAILED_INPUTS
    if not result.chief:
        common.log.info(
            "trained %d epoch(s) as a non-chief worker; the chief wrote the model",
            result.epochs_run,
        )
        return common.EXIT_OK
    common.log.info(
        "trained %d epoch(s); model written to %s", result.epochs_run, result.model_path
    )
    return common.EXIT_OK
