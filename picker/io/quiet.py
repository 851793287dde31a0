"""Silencing what compiled libraries print straight to a file descriptor.

C code (ObsPy's ``ar_pick``, TensorFlow's start-up logging) writes to file descriptors 1 and 2
directly, past ``sys.stdout`` / ``sys.stderr``; only pointing the descriptor itself elsewhere
for the duration of a call keeps it off the user's terminal.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator

__all__ = ["native_output_silenced"]


def _flush_c_streams() -> None:
    """Flush the C library's stdio buffers (text a C call printed but has not written yet)."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library to ask (not POSIX)
        pass


@contextlib.contextmanager
def native_output_silenced(fd: int = 2) -> Iterator[None]:
    """Send what is written to file descriptor ``fd`` (1 stdout, 2 stderr) to the null device
    while the block runs, then restore it.

    Python's own ``sys.stdout`` / ``sys.stderr`` buffers are flushed before and after, so text
    written by Python code is not lost or reordered; only text written in the block goes.
    When ``fd`` cannot be duplicated (no such descriptor, e.g. under some embedders), the block
    runs unchanged.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)
        try:
            yield
        finally:
            _flush_c_streams()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(saved, fd)
    finally:
        os.close(saved)
