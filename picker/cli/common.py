"""What the ``picker`` subcommands share: exit codes, the input options, failure handling.

Exit status: 0 all inputs done, 1 some inputs failed (each named in a one-line error and in the
summary at the end) or an output cannot be written (:mod:`picker.io.outputs`), 2 bad usage,
config or model file. Heavy libraries are imported inside the functions,
so ``picker --help`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import re
import sys
from collections.abc import Iterator, Sequence

log = logging.getLogger("picker")

EXIT_OK, EXIT_FAILED_INPUTS, EXIT_USAGE = 0, 1, 2


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` with each option's default, unless its help text already gives it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and "default" not in text
            and default not in (None, False, argparse.SUPPRESS)
        ):
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and suggest the option or command meant.

    ``commands``: the subcommand parsers by name (set on the top-level parser), so that an
    unknown option is matched against the options of the command it was given to.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.commands: dict[str, Parser] = {}

    def parse_args(self, args=None, namespace=None):
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self.commands.get(getattr(parsed, "command", None) or "", self)
            command.unknown_arguments(extras)
        return parsed

    def unknown_arguments(self, extras: Sequence[str]) -> None:
        """Exit (status 2) naming the first unknown option, and the option closest to it."""
        unknown = next((text for text in extras if text.startswith("-")), None)
        if unknown is None:
            self.error(f"unexpected argument(s): {' '.join(extras)}")
        name = unknown.split("=", 1)[0]
        self.fail(f"unknown option {name}{self.suggestion(name, self.visible_options())}")

    def visible_options(self) -> list[str]:
        return [
            option
            for action in self._actions
            if action.help is not argparse.SUPPRESS
            for option in action.option_strings
        ]

    def suggestion(self, word: str, candidates: Sequence[str]) -> str:
        close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
        return f"; did you mean {close[0]}?" if close else f"; see {self.prog} --help"

    def error(self, message: str):
        """Print ``message`` on one line (no usage block) and exit with status 2."""
        choice = re.match(
            r"argument (\S+): invalid choice: '([^']*)' \(choose from (.*)\)$", message
        )
        if choice:
            name, word, listed = choice.groups()
            options = re.findall(r"'([^']*)'", listed)
            message = f"{name} {word!r} is not one of {', '.join(options)}"
            message += self.suggestion(word, options)
        elif "--help" not in message:
            message += f" (see {self.prog} --help)"
        self.fail(message)

    def fail(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def reuse_freed_memory() -> None:
    """Let the C heap keep freed blocks for reuse instead of handing them back (glibc only).

    The preprocessing allocates and frees float64 temporaries of a few MB per chunk. By default
    glibc maps such blocks fresh each time and the kernel zero-fills every page again: 1.7 of
    the 4.5 ms per 10-minute chunk were page faults here. With blocks under 32 MiB kept in the
    heap the same memory is reused. Elsewhere (no ``mallopt``) nothing changes. Called by
    ``picker predict`` (the setting is process-wide).
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 256 << 20)


def add_input_options(p: argparse.ArgumentParser) -> None:
    """The NPZ reader options, ``--strict`` and ``-q``: the tail of every command reading data."""
    p.add_argument(
        "--npz-layout",
        default="auto",
        choices=("auto", "channels_last", "channels_first"),
        help="array layout of NPZ files that cannot say it themselves",
    )
    p.add_argument(
        "--component-order",
        default=None,
        help="component order in NPZ files, e.g. ZNE, or Z12H for ocean-bottom records with a "
        "hydrophone (dropped) (default: auto)",
    )
    p.add_argument("--strict", action="store_true", help="stop at the first bad input")
    add_quiet_option(p)


def add_quiet_option(p: argparse.ArgumentParser) -> None:
    """``-q/--quiet``: warnings and errors only."""
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only warnings and errors: no progress bar, no summary lines",
    )


def add_hidden_alias(p: argparse.ArgumentParser, old: str, dest: str, **kwargs) -> None:
    """Accept the old spelling ``old`` of an option (same ``dest``), left out of ``--help``."""
    p.add_argument(old, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


def add_picks_output_options(p: argparse.ArgumentParser, what: str) -> None:
    """``-o`` (a picks file, ``-`` for standard output) and ``--format`` (default: from -o)."""
    p.add_argument(
        "-o", "--output", required=True, help=f"{what} (.csv, .json, .xml; - for stdout)"
    )
    p.add_argument(
        "--format", choices=("csv", "json", "quakeml"), help="picks format (default: from -o)"
    )


def add_force_option(p: argparse.ArgumentParser) -> None:
    """``--force``: write even over an input, or picks under a waveform file name."""
    p.add_argument(
        "--force",
        action="store_true",
        help="write the output even when it is one of the inputs or (picks) has a waveform "
        "suffix such as .mseed",
    )


def check_range(flag: str, value, low: float, high: float | None = None, *, open_low=False):
    """Raise :class:`~picker.config.ConfigError` naming ``flag`` unless ``value`` is in range.

    The range is ``[low, high]`` (``(low, high]`` with ``open_low``; no upper end when ``high``
    is None). None (option not given) passes.
    """
    from picker.config import ConfigError

    if value is None:
        return
    too_low = value <= low if open_low else not value >= low
    if too_low or (high is not None and not value <= high):
        if high is not None:
            need = f"between {low:g} and {high:g}"
        else:
            need = f"> {low:g}" if open_low else f">= {low:g}"
        raise ConfigError(f"{flag} must be {need}, got {value:g}")


def reader_options(args: argparse.Namespace, fmt: str) -> dict:
    if fmt != "npz":
        return {}
    return {"layout": args.npz_layout, "component_order": args.component_order}


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


@contextlib.contextmanager
def progress_bar(total: int, quiet: bool, unit: str = "file") -> Iterator:
    """A tqdm progress bar on stderr (count, rate, elapsed and time left) over ``total`` units.

    Drawn only when stderr is a terminal and not ``quiet``; otherwise it is a bar that prints
    nothing. While it is drawn, ``picker`` log lines are printed above it.
    """
    from tqdm import tqdm

    shown = not quiet and sys.stderr.isatty()
    with tqdm(
        total=total, unit=unit, disable=not shown, file=sys.stderr, dynamic_ncols=True
    ) as bar:
        if not shown:
            yield bar
            return
        from tqdm.contrib.logging import logging_redirect_tqdm

        with logging_redirect_tqdm(loggers=[log]):
            yield bar


def expanded_inputs(inputs: Sequence[str], failures: FailureLog) -> list:
    """Expanded inputs in order; a missing input is a failure, not a stop."""
    from picker.io import expand_inputs
    from picker.io.base import InputError

    paths = []
    for item in inputs:  # one at a time: a missing input must not stop the others
        try:
            paths.extend(expand_inputs([item]))
        except InputError as exc:
            failures.add(str(exc))
    return paths


def input_paths(inputs: Sequence[str], failures: FailureLog) -> list:
    """Expanded inputs, sorted and unique; a missing input is a failure, not a stop."""
    return sorted(set(expanded_inputs(inputs, failures)))


def grouped_inputs(
    inputs: Sequence[str], failures: FailureLog, station_ids: dict | None = None
) -> list:
    """Expanded inputs, sorted and unique, one file per component of a station grouped into
    one :class:`~picker.io.groups.FileGroup` (SDS day files, SAC): a missing input is a
    failure, not a stop. ``station_ids``: filled as
    :func:`~picker.io.groups.group_components` says."""
    from picker.io.groups import group_components

    return group_components(input_paths(inputs, failures), station_ids)


def load_model_option(path: str | None):
    """The ``--model`` (or the bundled model, with a clear error when it is not installed).

    The bundled model and ``.onnx`` files run on ONNX Runtime and never import TensorFlow;
    ``.keras`` files set up TensorFlow's devices first (GPU memory growth).
    """
    from picker.models.saving import BUNDLED_MODEL, ModelFileError
    from picker.prediction.predict import bundled_runs_on_onnx, resolve_model

    if path is None and not BUNDLED_MODEL.exists():
        raise ModelFileError(
            f"{BUNDLED_MODEL}: the bundled model is not installed; pass --model PATH.keras"
        )
    from picker.models.onnx_model import is_onnx_path

    runs_on_onnx = bundled_runs_on_onnx() if path is None else is_onnx_path(path)
    if not runs_on_onnx:
        from picker.models.devices import setup_devices

        setup_devices()
    return resolve_model(path)
