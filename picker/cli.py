"""The ``picker`` command. Every subcommand runs in-process through :func:`main`.

Exit status: 0 all inputs done, 1 some inputs failed (each named in a one-line error and in the
summary at the end), 2 bad usage or config. Heavy libraries are imported inside the
subcommands, so ``picker --help`` answers at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

log = logging.getLogger("picker")

EXIT_OK, EXIT_FAILED_INPUTS, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``picker`` with ``argv`` (``sys.argv[1:]`` when None) and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "quiet", False))
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    from picker.config import ConfigError
    from picker.io.base import InputError
    from picker.keras_utils import ModelFileError

    try:
        return int(args.handler(args) or EXIT_OK)
    except (ConfigError, InputError, ModelFileError) as exc:
        log.error("%s", exc)
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED_INPUTS
    except StrictStop:
        log.error("stopped at the first bad input (--strict)")
        return EXIT_FAILED_INPUTS
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="picker", description="Seismic P and S phase picker.")
    from picker import __version__

    parser.add_argument("--version", action="version", version=f"picker {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "convert", help="convert waveform windows between NPZ, TFRecord, HDF5 and miniSEED"
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--to", required=True, choices=("npz", "tfrecord", "hdf5", "stead", "mseed"))
    p.add_argument(
        "--records-per-shard", type=int, default=1000, help="TFRecord shard size (default 1000)"
    )
    _add_reader_options(p)
    p.add_argument("--strict", action="store_true", help="stop at the first bad input")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_convert)

    p = sub.add_parser("train", help="train a picker model from a YAML config")
    p.add_argument("--config", required=True, help="YAML config (see configs/)")
    p.add_argument("-o", "--output", help="output folder (default: train.output_dir)")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--steps-per-epoch", type=int, help="override train.steps_per_epoch")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("info", help="print a model's summary and parameter count, write a diagram")
    p.add_argument("model", nargs="?", help=".keras model (default: the bundled model)")
    p.add_argument(
        "--diagram", default="model_diagram.png", help="diagram file (default model_diagram.png)"
    )
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_info)
    return parser


def _add_reader_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--npz-layout",
        default="auto",
        choices=("auto", "channels_last", "channels_first"),
        help="array layout of NPZ files that cannot say it themselves",
    )
    p.add_argument(
        "--component-order",
        default=None,
        help="component order in NPZ files, e.g. ZNE (default: auto)",
    )


def _reader_options(args: argparse.Namespace, fmt: str) -> dict:
    if fmt != "npz":
        return {}
    return {"layout": args.npz_layout, "component_order": args.component_order}


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


class StrictStop(Exception):
    """Raised by :class:`FailureLog` in ``--strict`` mode at the first bad input."""


class FailureLog:
    """Collects bad inputs: logs each on one line, summarises them at the end."""

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.failures: list[str] = []

    def add(self, message: str) -> None:
        log.error("%s", message)
        self.failures.append(message)
        if self.strict:
            raise StrictStop(message)

    def summary(self, done: int, what: str) -> int:
        if self.failures:
            log.error("%d input(s) failed, %d %s done:", len(self.failures), done, what)
            for message in self.failures:
                log.error("  %s", message)
            return EXIT_FAILED_INPUTS
        log.info("%d %s done", done, what)
        return EXIT_OK


def _cmd_convert(args: argparse.Namespace) -> int:
    from picker.io import expand_inputs, guess_format, read_records, write_records
    from picker.io.base import InputError

    failures = FailureLog(args.strict)
    records = []
    for path in expand_inputs(args.inputs):
        try:
            fmt = guess_format(path)
            records.extend(read_records(path, fmt, **_reader_options(args, fmt)))
        except InputError as exc:
            failures.add(str(exc))
    options = {"records_per_shard": args.records_per_shard} if args.to == "tfrecord" else {}
    output = args.output
    if args.to == "tfrecord":
        output = f"{args.output}/records"
    elif args.to == "stead":
        output = f"{args.output}/waveforms_stead.hdf5"
    written = write_records(records, output, args.to, **options) if records else []
    log.info("wrote %d record(s) into %d file(s) under %s", len(records), len(written), args.output)
    return failures.summary(len(records), "record(s)")


def _cmd_train(args: argparse.Namespace) -> int:
    from picker.config import load_config
    from picker.train import train

    overrides: dict = {"train": {}}
    if args.epochs is not None:
        overrides["train"]["epochs"] = args.epochs
    if args.steps_per_epoch is not None:
        overrides["train"]["steps_per_epoch"] = args.steps_per_epoch
    cfg = load_config(args.config, overrides)
    result = train(cfg, args.output)
    log.info("trained %d epoch(s); model written to %s", result.epochs_run, result.model_path)
    return EXIT_OK


def _cmd_info(args: argparse.Namespace) -> int:
    from picker.keras_utils import count_parameters, load_model, plot_model, summary_text

    model = load_model(args.model)
    print(summary_text(model))
    counts = count_parameters(model)
    print(f"parameters: {counts['total']:,} ({counts['trainable']:,} trainable)")
    _, message = plot_model(model, args.diagram)
    log.info("%s", message)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
