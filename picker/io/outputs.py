"""Checks on the files a command is about to write, and the lock of a run's output.

Every command that writes a file derived from its inputs (``predict -o`` and
``--probabilities``, ``merge -o``, ``convert -o``, ``evaluate -o``, ``plot -o`` and
``predict --plot``) calls :func:`check_output` before any work: a wrong output path costs a
one-line error at once, not a traceback after hours of prediction. Refused are an output that
is a folder where a file is written (or a file where a folder is), one whose folder cannot be
created or written, one that is one of the inputs, and a picks file named like a waveform file
(``-o gl/S00.mseed`` would replace the waveform with a CSV). ``--force`` lets the last two
through.

:func:`output_lock` holds an advisory lock on ``<OUT>.lock`` for a run (``fcntl.flock``; the
kernel releases it when the process dies, so a killed run never blocks the next one): a second
run writing the same output stops with a one-line error and never touches the first run's
progress journal.

A picks file named ``-`` (:data:`STDOUT`) is standard output: :func:`check_output` lets it
through and the commands take no lock and keep no journal for it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from picker.io.base import InputError, input_files

__all__ = [
    "STDOUT",
    "WAVEFORM_SUFFIXES",
    "OutputBusy",
    "OutputError",
    "check_output",
    "is_stdout",
    "output_lock",
]

#: The output name that means standard output (``-o -``).
STDOUT = "-"

#: Suffixes of waveform files: a picks file (``predict -o``, ``merge -o``) is not given one
#: unless forced.
WAVEFORM_SUFFIXES = frozenset(
    ".mseed .miniseed .msd .seed .sac .gse .gse2 .segy .sgy .su .npz .npy .h5 .hdf5 .hdf "
    ".tfrecord .tfrecords .tfrec".split()
)


class OutputError(InputError):
    """An output path that cannot or must not be written (the message names it, one line)."""


class OutputBusy(InputError):
    """Another picker run holds the lock of the same output."""


def is_stdout(path) -> bool:
    """True when ``path`` is ``-``: write to standard output, not to a file."""
    return str(path) == STDOUT


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest existing ancestor (the folder that ``mkdir -p`` starts from)."""
    path = Path(os.path.abspath(path))
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    path: str | os.PathLike,
    *,
    inputs: Iterable = (),
    folder: bool = False,
    picks: bool = False,
    force: bool = False,
    option: str = "-o",
) -> Path:
    """Refuse an output path before any work is done; return it as a ``Path``.

    Args:
        path: the file (or, with ``folder``, the folder) the command will write.
        inputs: the command's input files or folders (paths or
            :class:`~picker.io.groups.FileGroup` s): the output may not be one of them.
        folder: ``path`` is a folder that will hold the outputs.
        picks: ``path`` is a picks file (CSV / JSON / QuakeML): a waveform suffix is refused.
        force: let an output that is one of the inputs or has a waveform suffix through.
        option: the command-line option that named ``path`` (for the message).

    Raises:
        OutputError: the path cannot or must not be written (the message names it).
    """
    if is_stdout(path) and not folder:
        return Path(path)  # standard output: nothing to check
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise OutputError(f"{path}: {option} must be a folder, but this is a file")
    if not folder and path.is_dir():
        raise OutputError(f"{path}: {option} names a folder; give a file name")
    start = _nearest_existing(path if folder else path.parent)
    if not start.is_dir():
        raise OutputError(f"{path}: cannot write here: {start} is not a folder")
    if not os.access(start, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write here: folder {start} is not writable")
    if force:
        return path
    if path.exists():
        for item in inputs:
            if any(_same_file(path, member) for member in input_files(item)):
                raise OutputError(
                    f"{path}: {option} is one of the inputs; refusing to overwrite it (--force)"
                )
    if picks and path.suffix.lower() in WAVEFORM_SUFFIXES:
        raise OutputError(
            f"{path}: {option} names a waveform file ({path.suffix}), not a picks file; "
            "use .csv, .json or .xml (or --force)"
        )
    return path


def lock_path(output: str | os.PathLike) -> Path:
    """``<output>.lock``."""
    output = Path(output)
    return output.with_name(output.name + ".lock")


@contextlib.contextmanager
def output_lock(output: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive advisory lock on ``<output>.lock`` for the ``with`` block.

    The lock file is removed on exit, and so are the folders made for it that stayed empty
    (a run that fails before writing leaves no empty output folder). Where ``fcntl`` is missing
    (Windows) nothing is locked.

    Raises:
        OutputBusy: another process (or another run in this one) holds the lock.
        OutputError: the lock file cannot be created.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield lock_path(output)
        return
    path = lock_path(output)
    made = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    with contextlib.suppress(OSError):  # a failure is reported by os.open below
        path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputError(f"{output}: cannot create the lock file {path} ({exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputBusy(
                f"another picker run is writing {output} (lock {path}); wait for it to end"
            ) from None
        try:  # the holder before us may have removed the file after we opened it: lock anew
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # still holding the lock: a waiting run re-checks the inode
        os.close(fd)
        for folder in made:  # deepest first; a folder with outputs in it stays
            with contextlib.suppress(OSError):
                folder.rmdir()
