"""Keeping TensorFlow's start-up chatter off the terminal of ``picker`` commands.

Importing TensorFlow prints lines nobody running ``picker`` needs ("oneDNN custom operations
are on", "Could not find cuda drivers", "failed call to cuInit", absl's "All log messages
before absl::InitializeLog()"): part of them from C++ before any setting is read, straight to
file descriptor 2. :func:`quiet_tensorflow`, called by :func:`picker.cli.main` before any
command runs (never at import), sets ``TF_CPP_MIN_LOG_LEVEL=3`` and arranges that the first
``import tensorflow`` runs with descriptor 2 silenced, then lowers absl's and TensorFlow's
Python loggers to errors. TensorFlow is still imported only by the commands that need it.
Set ``TF_CPP_MIN_LOG_LEVEL`` yourself (e.g. to 0) to see all of it again.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import sys

__all__ = ["quiet_tensorflow"]

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
