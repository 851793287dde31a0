"""The progress journal of ``picker predict``: finished inputs and their picks, for ``--resume``.

``<OUT>.progress.jsonl`` beside the picks file holds one JSON line per finished input: its path,
size and modification time, the stations processed (``null``: all), a fingerprint of the
settings (model, thresholds, chunking, reader options) and its picks. Each line is written with
one ``write`` on a file opened for appending and flushed to disk, so a killed run leaves at most
one incomplete last line, which is ignored. With ``--resume`` an input whose path, size, mtime,
stations and settings match a line is not computed again: its picks come from the journal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path

from picker.io.base import input_files
from picker.picks.pick import Pick

__all__ = ["Journal", "journal_path", "settings_fingerprint"]

log = logging.getLogger(__name__)


def journal_path(output: str | os.PathLike) -> Path:
    """``<output>.progress.jsonl``."""
    output = Path(output)
    return output.with_name(output.name + ".progress.jsonl")


def settings_fingerprint(settings: dict) -> str:
    """A short hash of everything that changes the picks of an input (JSON-able values)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _identity(path, stations) -> dict:
    """Path, size and mtime of an input: a file, or a ``FileGroup`` (members joined by ``+``,
    sizes summed, latest mtime)."""
    members = input_files(path)
    stats = [member.stat() for member in members]
    return {
        "input": "+".join(str(member.resolve()) for member in members),
        "size": sum(stat.st_size for stat in stats),
        "mtime_ns": max(stat.st_mtime_ns for stat in stats),
        "stations": sorted(stations) if stations is not None else None,
    }


class Journal:
    """Reads the finished inputs of an earlier run (``resume``) and records new ones.

    Without ``resume`` an existing journal is replaced (a fresh run starts a fresh journal).
    """

    def __init__(self, output: str | os.PathLike, settings: str, resume: bool):
        self.path = journal_path(output)
        self.settings = settings
        self.done: dict[str, list[Pick]] = {}
        if resume:
            self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (0 if resume else os.O_TRUNC)
        self._fd = os.open(self.path, flags, 0o644)
        if resume and self._fd is not None and os.fstat(self._fd).st_size:
            self._end_partial_line()

    def _load(self) -> None:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("%s: journal not readable, starting afresh (%s)", self.path, exc)
            return
        for line in lines:
            try:
                entry = json.loads(line)
                if entry["settings"] != self.settings:
                    continue
                picks = [Pick(**fields) for fields in entry["picks"]]
                key = json.dumps({k: entry[k] for k in ("input", "size", "mtime_ns", "stations")})
            except (ValueError, KeyError, TypeError):
                continue  # an incomplete last line of a killed run, or a foreign line
            self.done[key] = picks

    def _end_partial_line(self) -> None:
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                os.write(self._fd, b"\n")

    @staticmethod
    def _key(path, stations) -> str:
        return json.dumps(_identity(path, stations))

    def finished(self, path: str | os.PathLike, stations=None) -> list[Pick] | None:
        """The journaled picks of ``path`` (same size, mtime, stations, settings), else None."""
        try:
            return self.done.get(self._key(path, stations))
        except OSError:
            return None

    def record(self, path: str | os.PathLike, stations, picks: list[Pick]) -> None:
        """Append one finished input with its picks (one write, flushed to disk)."""
        entry = _identity(path, stations)
        entry["settings"] = self.settings
        entry["picks"] = [dataclasses.asdict(p) for p in picks]
        os.write(self._fd, (json.dumps(entry) + "\n").encode("utf-8"))
        os.fsync(self._fd)

    def close(self, remove: bool = False) -> None:
        """Close the journal; ``remove`` deletes it (the run finished with every input done)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if remove:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
