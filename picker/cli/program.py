"""The ``picker`` command: the parser and :func:`main`, which runs every subcommand in-process.

Each subcommand lives in its own module of :mod:`picker.cli` (``add_parser`` and its handler);
what they share (exit codes, input options, :class:`~picker.cli.common.FailureLog`) is in
:mod:`picker.cli.common`. Heavy libraries are imported inside the handlers, so ``picker --help``
answers at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

# NumPy's OpenBLAS threads keep spinning after each small matrix product of the preprocessing
# (picker.preprocess.highpass) and then fight the model's own threads for the cores: one BLAS
# thread made `picker predict` on a station-day 1.6x faster here. Set before NumPy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from picker.cli import (  # noqa: E402
    convert,
    evaluate,
    import_model,
    info,
    merge,
    plot,
    predict,
    train,
)
from picker.cli.common import (  # noqa: E402
    EXIT_FAILED_INPUTS,
    EXIT_OK,
    EXIT_USAGE,
    Parser,
    StrictStop,
    log,
)
from picker.models.devices import quiet_tensorflow  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``picker`` with ``argv`` (``sys.argv[1:]`` when None) and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "quiet", False))
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    quiet_tensorflow()  # before any command imports TensorFlow
    from picker.config import ConfigError
    from picker.io.base import InputError
    from picker.models.saving import ModelFileError

    try:
        return int(args.handler(args) or EXIT_OK)
    except (ConfigError, InputError, ModelFileError) as exc:
        log.error("%s", exc)
        usage = isinstance(exc, (ConfigError, ModelFileError))
        return EXIT_USAGE if usage else EXIT_FAILED_INPUTS
    except StrictStop:
        log.error("stopped at the first bad input (--strict)")
        return EXIT_FAILED_INPUTS
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="picker",
        description="Seismic P and S phase picker: pick P and S arrivals on waveform files, "
        "score and review the picks, train your own model. `picker COMMAND --help` describes "
        "each command. Exit status: 0 done, 1 some inputs failed (each named), 2 bad usage, "
        "config or model file.",
    )
    from picker import __version__

    parser.add_argument("--version", action="version", version=f"picker {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in (convert, train, import_model, info, predict, evaluate, plot, merge):
        command.add_parser(sub)
    parser.commands = sub.choices
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (callers and tests may swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _setup_logging(quiet: bool) -> None:
    """Send ``picker.*`` log messages to stderr; the caller's (root) logging is left alone."""
    logger = logging.getLogger("picker")
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
        logger.addHandler(_StderrHandler())
