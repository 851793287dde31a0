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
    if settings.normalization == "std" and not settings.highpass_hz:
        print(
            f"input: {settings.sampling_rate_hz:g} Hz, windows of "
            f"{settings.normalization_window_s:g} s each demeaned and divided by its std, no "
            "high-pass (run on overlapping windows: predict.window_overlap, window_merge)"
        )
    else:
        print(
            f"input: {settings.sampling_rate_hz:g} Hz, causal high-pass "
            f"{settings.highpass_hz:g} Hz, {settings.normalization} normalisation over "
            f"{settings.normalization_window_s:g} s"
        )
    _print_provenance(model)
    written, message = plot_model(model, args.diagram)
    common.log.log(
        logging.INFO if written == Path(args.diagram) else logging.WARNING, "%s", message
    )
    return common.EXIT_OK


def _print_provenance(model) -> None:
    """Where imported weights came from: model, source file, paper (authors), licence notice."""
    from picker.models.provenance import provenance

    record = provenance(model)
    if record is None:
        return
    print(f"weights: {record.model}, imported from {record.source} (sha256 {record.source_sha256})")
    print(f"paper: {record.citation}")
    print("licence notice of the weights (it must travel with them and with models derived):")
    print(record.licence or "(no LICENSE file was found beside the weights)")
