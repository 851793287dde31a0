"""``picker info``: a model's summary and parameter count, and a diagram of it."""

from __future__ import annotations

import argparse

from picker.cli import common


def add_parser(sub) -> None:
    p = sub.add_parser(
        "info",
        help="print a model's summary and parameter count, write a diagram",
        description=(
            "Print a model's layers (a .keras model) or operators (an .onnx export), its "
            "parameter count and the input it expects (sampling rate, high-pass, "
            "normalisation). With --diagram, also draw it as a picture (with graphviz when "
            "pydot and graphviz are installed, else with matplotlib)."
        ),
    )
    p.add_argument("model", nargs="?", help=".keras or .onnx model (default: the bundled model)")
    p.add_argument(
        "--diagram",
        metavar="FILE.png",
        help="write a diagram of the model to this file (.png, .pdf or .svg)",
    )
    common.add_quiet_option(p)
    p.set_defaults(handler=_cmd_info)


def _print_input(settings) -> None:
    if settings.normalization == "std" and not settings.highpass_hz:
        print(
            f"input: {settings.sampling_rate_hz:g} Hz, windows of "
            f"{settings.normalization_window_s:g} s each demeaned and divided by its std, no "
            f"high-pass, run on windows overlapping by {100 * settings.window_overlap:.0f} %, "
            f"outputs merged by {settings.window_merge!r} (predict.window_overlap, window_merge)"
        )
        return
    print(
        f"input: {settings.sampling_rate_hz:g} Hz, causal high-pass {settings.highpass_hz:g} Hz, "
        f"{settings.normalization} normalisation over {settings.normalization_window_s:g} s"
    )


def _cmd_info(args: argparse.Namespace) -> int:
    from picker.io.outputs import check_output
    from picker.models.onnx_model import is_onnx_path

    if args.diagram:
        check_output(args.diagram, option="--diagram")
    if args.model is not None and is_onnx_path(args.model):
        return _onnx_info(args)
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
    _print_input(input_settings(model))
    _print_provenance(model)
    if args.diagram:
        _, message = plot_model(model, args.diagram)
        common.log.info("%s", message)
    return common.EXIT_OK


def _onnx_info(args: argparse.Namespace) -> int:
    """``picker info MODEL.onnx``: the export's operators, parameters and input settings."""
    from collections import Counter

    from picker.models.diagram import draw_diagram, onnx_graph
    from picker.models.onnx_model import OnnxModel

    model = OnnxModel(args.model)  # a missing or foreign file: a one-line ModelFileError
    name, rows, n_params = onnx_graph(args.model)
    print(f'ONNX model "{name}" ({args.model}): {len(rows)} operators')
    kinds = Counter(kind for _, kind, _, _ in rows)
    print("operators: " + ", ".join(f"{kind} {n}" for kind, n in kinds.most_common()))
    print(f"parameters: {n_params:,}")
    _print_input(model.picker_input_settings)
    _print_provenance(model)
    if args.diagram:
        title = f"{name}: {len(rows)} ONNX operators, {n_params:,} parameters"
        written = draw_diagram(rows, title, args.diagram)
        common.log.info("wrote model diagram %s", written)
    return common.EXIT_OK


def _print_provenance(model) -> None:
    """Where imported weights came from: model, source file, paper (authors), licence notice."""
    from picker.models.provenance import provenance

    record = provenance(model)
    if record is None:
        return
    print(f"weights: {record.model}, from {record.source} (sha256 {record.source_sha256})")
    print(f"paper: {record.citation}")
    print("licence notice of the weights (it must travel with them and with models derived):")
    print(record.licence or "(no LICENSE file was found beside the weights)")
