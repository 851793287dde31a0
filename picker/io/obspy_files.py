"""Reading files with ObsPy safely: the format is detected by picker, never by ``obspy.read``.

``obspy.read(format=None)`` tries every format ObsPy knows, PICKLE among them, and unpickling a
file runs whatever code it names: a "waveform" file could run code on the user's machine.
:func:`waveform_format` runs ObsPy's own format checks in ObsPy's order but skips the formats
in :data:`REFUSED_OBSPY_FORMATS`, refuses a pickle with a one-line error, and gzip / bzip2 files
are decompressed here (zip and tar archives are refused); :func:`read_obspy` then calls
``obspy.read`` with that explicit format. Devices and FIFOs are refused before any read
(:func:`~picker.io.base.require_regular_file`), so ``/dev/zero`` cannot hang a run.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import obspy
from obspy import Stream

from picker.io.base import InputError, one_line, require_regular_file, seed_channel_codes

log = logging.getLogger(__name__)

__all__ = ["REFUSED_OBSPY_FORMATS", "read_headers", "read_obspy", "waveform_format"]


#: ObsPy waveform formats picker never reads: ``PICKLE`` unpickles the file, and unpickling
#: runs whatever code the file names. Format detection skips them; asked for, they are refused.
REFUSED_OBSPY_FORMATS = frozenset({"PICKLE"})


def _looks_pickled(head: bytes) -> bool:
    """True for the first bytes of a Python pickle (protocol 2+ starts with ``0x80``) or of
    anything naming ``obspy.core.stream`` early (ObsPy's own test for its PICKLE format)."""
    return head[:1] == b"\x80" or b"obspy.core.stream" in head[:100]


def waveform_format(source, name: str | os.PathLike = "") -> str:
    """The ObsPy waveform format of ``source`` (a path or a seekable binary file), detected
    like ``obspy.read`` does (each format's ``isFormat`` in ObsPy's order) but **never**
    trying :data:`REFUSED_OBSPY_FORMATS`: ObsPy's PICKLE check unpickles the file.

    Raises:
        InputError: naming ``name`` (default ``source``), when no format matches; a file that
            looks like a pickle is named as one.
    """
    from obspy.core.util.base import ENTRY_POINTS
    from obspy.core.util.misc import buffered_load_entry_point

    name = name or source
    in_memory = hasattr(source, "read")
    for entry_point in ENTRY_POINTS["waveform"].values():
        if entry_point.name.upper() in REFUSED_OBSPY_FORMATS:
            continue
        try:
            is_format = buffered_load_entry_point(
                entry_point.dist.name, f"obspy.plugin.waveform.{entry_point.name}", "isFormat"
            )
        except Exception:  # a plug-in that does not load is not this file's format
            continue
        position = source.tell() if in_memory else None
        try:
            found = is_format(source)
        except Exception:
            found = False
        finally:
            if position is not None:
                source.seek(position)
        if found:
            return entry_point.name.upper()
    if in_memory:
        position = source.tell()
        head = source.read(100)
        source.seek(position)
    else:
        with open(source, "rb") as handle:
            head = handle.read(100)
    if _looks_pickled(head):
        raise InputError(
            f"{name}: a Python pickle, not a waveform file; picker never unpickles input files"
        )
    raise InputError(f"{name}: not a waveform file ObsPy can read (unknown format)")


_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bz2"}


@contextlib.contextmanager
def _uncompressed(source, label: Path) -> Iterator:
    """``source`` itself, or for a gzip / bzip2 file a temporary file of its decompressed
    bytes (ObsPy's own decompression is bypassed: it detects formats with PICKLE included).
    Zip and tar archives are refused: extract them first."""
    import zipfile

    if hasattr(source, "read"):
        yield source
        return
    with open(source, "rb") as handle:
        magic = handle.read(3)
    kind = next((k for prefix, k in _COMPRESSED.items() if magic.startswith(prefix)), None)
    if kind is None:
        if zipfile.is_zipfile(source):
            raise InputError(f"{label}: a zip archive; extract its files and read those")
        yield source
        return
    import bz2
    import gzip
    import shutil

    opener = gzip.open if kind == "gzip" else bz2.open
    with tempfile.NamedTemporaryFile(prefix="picker-", suffix=".uncompressed") as tmp:
        with opener(source, "rb") as packed:
            shutil.copyfileobj(packed, tmp)
        tmp.flush()
        yield tmp.name


def read_obspy(
    path,
    *,
    format: str | None = None,
    name: str | os.PathLike | None = None,
    log_warnings: bool = True,
    **read_options,
) -> Stream:
    """``obspy.read(path)``: an unreadable or empty file is an :class:`InputError` naming it.

    The format is ``format``, else detected by :func:`waveform_format` (never ObsPy's PICKLE:
    no input file is ever unpickled). gzip / bzip2 files are decompressed first; anything that
    is not a regular file (``/dev/zero``, a FIFO) is refused.
    A partly corrupt file (e.g. miniSEED with a damaged or truncated record) keeps what ObsPy
    could read; ObsPy's warnings about the skipped parts become one warning naming the file
    (none with ``log_warnings=False``, for a header read whose file is read again later).
    ``path`` may also be an open binary file (e.g. ``io.BytesIO``); ``name`` is then the file
    named in messages. ``read_options`` go to ``obspy.read`` (``headonly``, ``starttime``,
    ``endtime``). Japanese K-NET/KiK-net channel names get SEED codes
    (:func:`~picker.io.base.seed_channel_codes`).
    """
    in_memory = hasattr(path, "read")
    source = path if in_memory else str(path)
    path = Path(name if name is not None else ("<bytes>" if in_memory else path))
    if format is not None and format.upper() in REFUSED_OBSPY_FORMATS:
        raise InputError(f"{path}: format {format!r} is never read (it would unpickle the file)")
    if not in_memory:
        require_regular_file(Path(source))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _uncompressed(source, path) as plain:
                fmt = format or waveform_format(plain, path)
                if not in_memory:  # obspy.read globs its argument: escape [ ] * ?
                    plain = glob.escape(os.path.abspath(plain))
                stream = obspy.read(plain, format=fmt, check_compression=False, **read_options)
        except InputError:
            raise
        except Exception as err:  # ObsPy raises TypeError, ValueError, struct.error, ...
            raise InputError(
                f"{path}: not a waveform file ObsPy can read ({one_line(err, 120)})"
            ) from None
    if len(stream) == 0:
        raise InputError(f"{path}: holds no traces")
    seed_channel_codes(stream)
    if caught and log_warnings:
        log.warning(
            "%s: read with %d ObsPy warning(s), parts of the file may be missing (%s)",
            path,
            len(caught),
            one_line(caught[0].message, 120),
        )
    return stream


def read_headers(path: str | os.PathLike) -> list:
    """The traces of an ObsPy-readable file, headers only, with
    :func:`~picker.io.base.seed_channel_codes`
    applied; read by :func:`read_obspy` (never unpickled), whose
    :class:`InputError` propagates and whose warnings are not logged (callers report
    unreadable or damaged files when they read them)."""
    return list(read_obspy(path, headonly=True, log_warnings=False))
