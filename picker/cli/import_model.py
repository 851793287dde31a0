"""``picker import-model``: a published picker's weights as a picker ``.keras`` model."""

from __future__ import annotations

import argparse

from picker.cli import common

#: :data:`picker.models.importing.IMPORT_KINDS`' keys, written out: importing picker.models
#: here would slow ``picker --help``.
KINDS = ("phasenet", "eqtransformer")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "import-model",
        help="import PhaseNet's or EQTransformer's published weights as a .keras model",
        description=(
            "Rebuild a published picker with its weights as a .keras model that picker "
            "predict, evaluate and plot run as the original does (overlapping windows of its "
            "length, each normalised on its own). SOURCE: PhaseNet's TF1 checkpoint folder (or "
            "prefix, e.g. model_95.ckpt), EQTransformer's Keras 2 .h5 file. The model keeps "
            "where its weights came from, the paper and the licence notice (picker info)."
        ),
    )
    p.add_argument("kind", choices=KINDS, help="the published architecture")
    p.add_argument("source", metavar="SOURCE", help="checkpoint folder / prefix, or .h5 file")
    p.add_argument("-o", "--output", required=True, help="the .keras model to write")
    p.add_argument(
        "--onnx",
        metavar="MODEL.onnx",
        help="also export to ONNX (runs without TensorFlow, same picks)",
    )
    common.add_force_option(p)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_import_model)


def _cmd_import_model(args: argparse.Namespace) -> int:
    from picker.io.outputs import OutputError, check_output

    inputs = [args.source]
    check_output(args.output, inputs=inputs, force=args.force)
    if args.onnx:
        check_output(args.onnx, inputs=inputs, force=args.force, option="--onnx")
        from pathlib import Path

        if Path(args.onnx).absolute() == Path(args.output).absolute():
            raise OutputError(f"{args.output}: -o and --onnx name the same file")
    from picker.models.importing import import_model

    keras_path, onnx_path = import_model(args.kind, args.source, args.output, args.onnx)
    common.log.info("wrote %s", keras_path)
    if onnx_path is not None:
        common.log.info("wrote %s", onnx_path)
    return common.EXIT_OK
