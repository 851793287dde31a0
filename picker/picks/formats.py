"""Picks files: the CSV / JSON / QuakeML writers and readers (any ObsPy event format read).

The picks CSV has the columns ``source,station_id,phase,time,index,probability`` (see
``DESIGN.md``): ``source`` the input file's name, ``station_id`` ``NET.STA.LOC.CH``, ``phase``
``P``/``S``, ``time`` ISO-8601 UTC (empty when the input has no start time), ``index`` the sample
in the input record at its own sampling rate, ``probability`` the peak value.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

from picker.io.base import (
    InputError,
    atomic_output,
    make_station_id,
    one_line,
    phase_of_label,
)
from picker.picks.pick import PHASES, Pick, format_time

CSV_COLUMNS = ("source", "station_id", "phase", "time", "index", "probability")
PICK_FORMATS = ("csv", "json", "quakeml")
QUAKEML_NAMESPACE = "https://github.com/picker/picker"


# ----------------------------------------------------------------------------- writers


def write_picks(picks: Sequence[Pick], path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write picks as CSV, JSON or QuakeML (format from ``fmt`` or the suffix), atomically."""
    path = Path(path)
    fmt = fmt or _format_from_suffix(path)
    if fmt not in PICK_FORMATS:
        raise ValueError(f"pick format must be one of {', '.join(PICK_FORMATS)}, got {fmt!r}")
    with atomic_output(path) as tmp:
        if fmt == "csv":
            tmp.write_text(picks_to_csv(picks), encoding="utf-8")
        elif fmt == "json":
            tmp.write_text(
                json.dumps([asdict(p) for p in picks], indent=1) + "\n", encoding="utf-8"
            )
        else:
            picks_to_catalog(picks).write(str(tmp), format="QUAKEML")
    return path


def picks_to_csv(picks: Iterable[Pick]) -> str:
    """The picks CSV text (header + one row per pick, probability to 4 decimals)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in picks:
        writer.writerow([p.source, p.station_id, p.phase, p.time, p.index, f"{p.probability:.4f}"])
    return buffer.getvalue()


def picks_to_catalog(picks: Iterable[Pick]):
    """An ``obspy`` Catalog with one Event holding every pick (picks are not associated).

    Each Pick has a waveform id (network, station, location and the band + instrument code
    followed by ``?``, since a pick is made on all three components), the phase hint, the time,
    ``evaluation_mode="automatic"``, and the probability, source file and sample index as
    namespaced ``extra`` attributes (also repeated in a comment for tools that drop extras).
    """
    from obspy.core.event import Catalog, Comment, Event, WaveformStreamID
    from obspy.core.event import Pick as QPick

    from picker.io.base import split_station_id

    event = Event()
    for p in picks:
        net, sta, loc, code = split_station_id(p.station_id)
        qpick = QPick(
            time=p.utc(),
            waveform_id=WaveformStreamID(
                network_code=net, station_code=sta, location_code=loc, channel_code=f"{code}?"
            ),
            phase_hint=p.phase,
            evaluation_mode="automatic",
        )
        qpick.extra = {
            "probability": {"value": f"{p.probability:.4f}", "namespace": QUAKEML_NAMESPACE},
            "index": {"value": str(p.index), "namespace": QUAKEML_NAMESPACE},
            "source": {"value": p.source, "namespace": QUAKEML_NAMESPACE},
        }
        qpick.comments.append(
            Comment(text=f"source={p.source} index={p.index} probability={p.probability:.4f}")
        )
        event.picks.append(qpick)
    return Catalog(events=[event])


# ----------------------------------------------------------------------------- readers


def read_picks(path: str | os.PathLike, fmt: str | None = None) -> list[Pick]:
    """Read a picks file written by :func:`write_picks` (CSV, JSON or QuakeML).

    A QuakeML catalog from elsewhere (SeisComP, an analyst's export) works too: its phase hints
    are read as P or S (``Pg``, ``Pn``, ``IPU0`` -> P; ``Sg``, ``ES`` -> S,
    :func:`~picker.io.base.phase_of_label`), and picks of other phases (``AML``, ``Lg``, none
    given) are left out.

    Any other event file ObsPy reads (``fmt="events"``: a SEISAN Nordic S-file, ...) is
    read the same way; a file whose suffix is not ``.csv``/``.json``/``.xml``/``.qml``/
    ``.quakeml`` is taken for one unless its first line is a CSV header naming ``station_id``.
    Nordic picks name no network: they match on the station code (see
    :mod:`picker.evaluation.runner`).

    A CSV needs at least the columns ``station_id``, ``phase`` and ``time`` or ``index``.
    """
    path = Path(path)
    fmt = fmt or _format_to_read(path)
    try:
        if fmt == "csv":
            return _read_csv(path)
        if fmt == "json":
            return [
                _pick_from_mapping(row, path)
                for row in json.loads(path.read_text(encoding="utf-8"))
            ]
        if fmt in ("quakeml", "events"):
            return _read_events(path, "QUAKEML" if fmt == "quakeml" else None)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{path}: not a readable {fmt} picks file ({one_line(exc, 200)})"
        ) from None
    raise InputError(f"{path}: unknown picks format {fmt!r}")


def _read_csv(path: Path) -> list[Pick]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"station_id", "phase"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"missing column(s) {sorted(missing)}")
        return [_pick_from_mapping(row, path) for row in reader]


def _pick_from_mapping(row: dict, path: Path) -> Pick:
    phase = str(row["phase"]).strip().upper()
    if phase not in PHASES:
        raise ValueError(f"phase must be P or S, got {row['phase']!r}")
    index = row.get("index", "")
    return Pick(
        source=str(row.get("source", "") or ""),
        station_id=str(row["station_id"]),
        phase=phase,
        time=str(row.get("time", "") or ""),
        index=int(index) if str(index).strip() not in ("", "None") else -1,
        probability=float(row.get("probability", 1.0) or 1.0),
    )


def _read_events(path: Path, obspy_format: str | None) -> list[Pick]:
    """The P and S picks of an ObsPy event file (``obspy_format`` None: ObsPy guesses)."""
    from obspy import read_events

    picks = []
    for event in read_events(str(path), format=obspy_format):
        for q in event.picks:
            phase = phase_of_label(q.phase_hint or "")
            if phase is None:  # amplitude picks (AML), Lg, unnamed: not a P or S onset
                continue
            extra = getattr(q, "extra", {}) or {}
            wid = q.waveform_id
            station_id = make_station_id(
                wid.network_code or "",
                wid.station_code or "",
                wid.location_code or "",
                (wid.channel_code or "").rstrip("?"),  # "HH?" (ours) or "HHZ" -> "HH"
            )
            picks.append(
                Pick(
                    source=str(extra.get("source", {}).get("value", "")),
                    station_id=station_id,
                    phase=phase,
                    time=format_time(q.time),
                    index=int(extra.get("index", {}).get("value", -1)),
                    probability=float(extra.get("probability", {}).get("value", 1.0)),
                )
            )
    return picks


def _format_to_read(path: Path) -> str:
    """The picks format of ``path`` by its suffix (:data:`SUFFIX_FORMATS`), else ``"csv"`` when
    the first line names ``station_id`` and ``"events"`` (any ObsPy event format) when not."""
    if path.suffix.lower() in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[path.suffix.lower()]
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            first_line = handle.readline()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the picks file ({one_line(exc, 200)})") from None
    return "csv" if "station_id" in first_line else "events"


#: Picks formats by file suffix; writing an unknown suffix gives CSV.
SUFFIX_FORMATS = {
    ".csv": "csv",
    ".json": "json",
    ".xml": "quakeml",
    ".qml": "quakeml",
    ".quakeml": "quakeml",
}


def _format_from_suffix(path: Path) -> str:
    return SUFFIX_FORMATS.get(path.suffix.lower(), "csv")
