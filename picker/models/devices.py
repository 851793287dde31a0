"""TensorFlow's set-up, by explicit calls (never at import): GPU memory growth at the start of
``train`` and of ``predict`` with a Keras model (:func:`setup_devices`), and keeping
TensorFlow's start-up chatter quiet (:func:`quiet_tensorflow`).

Importing TensorFlow prints lines nobody running ``picker`` needs ("oneDNN custom operations
are on", "Could not find cuda drivers", "failed call to cuInit", absl's "All log messages
before absl::InitializeLog()"): part of them from C++ before any setting is read, straight to
file descriptor 2. :func:`quiet_tensorflow`, called by :func:`picker.cli.main` before any
command runs and by the notebooks' first cell, sets ``TF_CPP_MIN_LOG_LEVEL=3`` and arranges
that the first ``import tensorflow`` runs with descriptor 2 silenced, then lowers absl's and
TensorFlow's Python loggers to errors. Set ``TF_CPP_MIN_LOG_LEVEL`` yourself (e.g. to 0) to see
all of it again.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import sys

log = logging.getLogger(__name__)


def setup_devices(memory_growth: bool = True) -> list:
    """Switch on GPU memory growth (before any tensor exists) and log the devices found.

    Call it once, first thing in ``train`` / ``predict``. On a CPU-only machine it logs that and
    returns an empty list.

    Returns:
        The physical GPU devices.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        log.info("no GPU found; running on the CPU (%d cores)", os.cpu_count() or 1)
        return []
    for gpu in gpus:
        if memory_growth:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError as exc:  # devices already initialised
                log.warning("could not set memory growth on %s: %s", gpu.name, exc)
    log.info(
        "found %d GPU(s): %s (memory growth %s)",
        len(gpus),
        ", ".join(g.name for g in gpus),
        memory_growth,
    )
    return gpus


_started = False


def quiet_tensorflow() -> None:
    """Silence TensorFlow's start-up and C++ logging for this process (once; see the module).

    Does nothing when ``TF_CPP_MIN_LOG_LEVEL`` was set by the user.
    """
    global _started
    if _started:
        return
    _started = True
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" in sys.modules:
        quiet_python_loggers()
    else:
        sys.meta_path.insert(0, QuietTensorFlowImport())


def quiet_python_loggers() -> None:
    """absl's and TensorFlow's Python loggers: errors only."""
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)


class QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds no module itself: hands the first ``import tensorflow`` a loader that runs it
    with file descriptor 2 silenced, then leaves ``sys.meta_path``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = SilencedLoader(spec.loader)
        return spec


class SilencedLoader(importlib.abc.Loader):
    """Runs ``loader``'s module with file descriptor 2 silenced; the module keeps ``loader``."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        from picker.io.quiet import native_output_silenced

        module.__loader__ = module.__spec__.loader = self.loader  # the module names its own
        with native_output_silenced(2):
            self.loader.exec_module(module)
        quiet_python_loggers()
