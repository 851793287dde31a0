"""What the ``picker`` subcommands share: exit codes, the input options, failure handling.

Exit status: 0 all inputs done, 1 some inputs failed (each named in a one-line error and in the
summary at the end) or an output cannot be written (:mod:`picker.io.outputs`), 2 bad usage,
config or model file. Heavy libraries are imported inside the functions,
so ``picker --help`` answers at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

log = logging.getLogger("picker")

EXIT_OK, EXIT_FAILED_INPUTS, EXIT_USAGE = 0, 1, 2


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
    p.add_argument("-q", "--quiet", action="store_true")


def add_force_option(p: argparse.ArgumentParser) -> None:
    """``--force``: write even over an input, or picks under a waveform file name."""
    p.add_argument(
        "--force",
        action="store_true",
        help="write the output even when it is one of the inputs or (picks) has a waveform "
        "suffix such as .mseed",
    )


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


class Progress:
    """A one-line progress display on stderr (only when it is a terminal)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.done = total, enabled, 0

    def show(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r\x1b[K[{self.done}/{self.total}] {text}"[:200])
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


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
