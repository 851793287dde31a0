"""``picker info``: a model's summary and parameter count, and a diagram of it."""

from __future__ import annotations

import argparse
import logging

from picker.cli import common


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="print a model's summary and parameter count, write a diagram")
    p.add_argument("model", nargs="?", help=".keras model (default: the bundled model)")
    p.add_argument(
        "--diagram", default="model_diagram.png", help="diagram file (default model_diagram.png)"
    )
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    from pathlib import Path

    from picker.models.saving import (
        count_parameters,
        input_settings,
        load_model,
        plot_model,
        summary_text,
    )

    model = load_model(args.model)
    print(summary_text(model))
    counts = count_parameters(model)
    print(f"parameters: {counts['total']:,} ({counts['trainable']:,} trainable)")
    settings = input_settings(model)
    print(
        f"input: {settings.sampling_rate_hz:g} Hz, causal high-pass {settings.highpass_hz:g} Hz, "
        f"{settings.normalization} normalisation over {settings.normalization_window_s:g} s"
    )
    written, message = plot_model(model, args.diagram)
    common.log.log(
        logging.INFO if written == Path(args.diagram) else logging.WARNING, "%s", message
    )
    return common.EXIT_OK
