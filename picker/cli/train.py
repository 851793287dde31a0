"""``picker train``: train a picker model from a YAML config."""

from __future__ import annotations

import argparse

from picker.cli import common


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a picker model from a YAML config")
    p.add_argument("--config", required=True, help="YAML config (see configs/)")
    p.add_argument("-o", "--output", help="output folder (default: train.output_dir)")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--steps-per-epoch", type=int, help="override train.steps_per_epoch")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from picker.config import ConfigError, load_config
    from picker.training.train import train

    overrides: dict = {"train": {}}
    if args.epochs is not None:
        overrides["train"]["epochs"] = args.epochs
    if args.steps_per_epoch is not None:
        overrides["train"]["steps_per_epoch"] = args.steps_per_epoch
    cfg = load_config(args.config, overrides)
    if not cfg.data.train:
        raise ConfigError(f"{args.config}: data.train is empty: name the training files or folders")
    result = train(cfg, args.output)
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
