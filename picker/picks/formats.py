"""Picks files: the CSV / JSON / QuakeML writers and readers (SEISAN Nordic read too).

The picks CSV has the columns ``source,station_id,phase,time,index,probability`` (see
``DESIGN.md``): ``source`` the input file's name, ``station_id`` ``NET.STA.LOC.CH``, ``phase``
``P``/``S``, ``time`` ISO-8601 UTC (empty when the input has no start time), ``index`` the sample
in the input record at its own sampling rate, ``probability`` the peak value. The JSON file is a
list of objects with the same fields (``time`` ``null`` when there is none). QuakeML groups the
picks into events (:mod:`picker.picks.events`) and needs absolute times. ``-`` as the path writes
to standard output.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

from picker.io.base import (
    InputError,
    atomic_output,
    json_text,
    make_station_id,
    one_line,
    parse_time_iso,
    phase_of_label,
)
from picker.picks.events import associate_picks, untimed_problem
from picker.picks.pick import PHASES, Pick, format_time

CSV_COLUMNS = ("source", "station_id", "phase", "time", "index", "probability")
PICK_FORMATS = ("csv", "json", "quakeml")
QUAKEML_NAMESPACE = "https://github.com/picker/picker"


# ----------------------------------------------------------------------------- writers


def write_picks(picks: Sequence[Pick], path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write picks as CSV, JSON or QuakeML (format from ``fmt`` or the suffix), atomically;
    ``path`` ``-`` writes them to standard output (CSV unless ``fmt`` says otherwise).

    Raises:
        OutputError: QuakeML asked for picks without an absolute time
            (:func:`~picker.picks.events.untimed_problem`); nothing is written.
    """
    from picker.io.outputs import OutputError, is_stdout

    fmt = fmt or _format_from_suffix(Path(path))
    if fmt not in PICK_FORMATS:
        raise ValueError(f"pick format must be one of {', '.join(PICK_FORMATS)}, got {fmt!r}")
    if fmt == "quakeml" and (problem := untimed_problem(picks)):
        raise OutputError(f"{path}: {problem}")
    if is_stdout(path):
        sys.stdout.write(picks_text(picks, fmt))
        sys.stdout.flush()
        return Path(path)
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.write_text(picks_text(picks, fmt), encoding="utf-8")
    return path


def picks_text(picks: Sequence[Pick], fmt: str) -> str:
    """The text of a picks file of format ``fmt`` (``csv``, ``json`` or ``quakeml``)."""
    if fmt == "csv":
        return picks_to_csv(picks)
    if fmt == "json":
        return picks_to_json(picks)
    buffer = io.BytesIO()
    picks_to_catalog(picks).write(buffer, format="QUAKEML")
    return buffer.getvalue().decode("utf-8")


def picks_to_json(picks: Iterable[Pick]) -> str:
    """The picks JSON text: a list of objects with the CSV's fields; ``time`` is ``null`` for
    a pick without one (strict JSON, :func:`~picker.io.base.json_text`)."""
    rows = [asdict(p) | {"time": p.time or None} for p in picks]
    return json_text(rows, indent=1) + "\n"


def picks_to_csv(picks: Iterable[Pick]) -> str:
    """The picks CSV text (header + one row per pick, probability to 4 decimals)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in picks:
        writer.writerow([p.source, p.station_id, p.phase, p.time, p.index, f"{p.probability:.4f}"])
    return buffer.getvalue()


def picks_to_catalog(picks: Iterable[Pick]):
    """An ``obspy`` Catalog of the picks grouped into events
    (:func:`~picker.picks.events.associate_picks`; not located: no origin).

    Each Pick has a waveform id (network, station, location and the band + instrument code
    followed by ``?``, since a pick is made on all three components), the phase hint, the time,
    ``evaluation_mode="automatic"``, and the probability, source file and sample index as
    namespaced ``extra`` attributes (also repeated in a comment for tools that drop extras).

    Raises:
        ValueError: a pick without a time (QuakeML pick times are absolute).
    """
    from obspy.core.event import Catalog, Comment, Event, WaveformStreamID
    from obspy.core.event import Pick as QPick

    from picker.io.base import split_station_id

    events = []
    for group in associate_picks(picks):
        event = Event()
        event.comments.append(
            Comment(text=f"{len(group)} automatic pick(s) associated in time by picker")
        )
        for p in group:
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
        events.append(event)
    return Catalog(events=events)


# ----------------------------------------------------------------------------- readers


def read_picks(
    path: str | os.PathLike,
    fmt: str | None = None,
    *,
    need_time: bool = False,
    need_probability: bool = False,
) -> list[Pick]:
    """Read a picks file: CSV, JSON or QuakeML as :func:`write_picks` writes them, or an
    analyst's SEISAN Nordic S-file.

    The format comes from the suffix (:data:`SUFFIX_FORMATS`); without one of those suffixes
    a file is CSV when its first line names ``station_id`` and Nordic when it opens with an
    80-column type-1 line; anything else (a waveform, an empty file) is refused. ObsPy reads
    QuakeML and Nordic by explicit format only: its format detection, which tries every event
    format it knows, is never run on a picks file.

    A QuakeML catalog from elsewhere (SeisComP, an analyst's export) works too: its phase hints
    are read as P or S (``Pg``, ``Pn``, ``IPU0`` -> P; ``Sg``, ``ES`` -> S,
    :func:`~picker.io.base.phase_of_label`), and picks of other phases (``AML``, ``Lg``, none
    given) are left out. Nordic picks name no network: they match on the station code (see
    :mod:`picker.evaluation.runner`).

    Every pick is checked: ``station_id`` and ``phase`` (P or S) present, ``time`` ISO-8601 or
    empty, ``index`` a sample number >= 0 or empty (-1), not both time and index missing,
    ``probability`` a number in [0, 1]; a missing probability is 1 (an analyst's pick).

    Args:
        path: the picks file.
        fmt: ``csv``, ``json``, ``quakeml`` or ``nordic`` (default: as above).
        need_time: every pick must have a time (reference picks for continuous data).
        need_probability: every pick must state its probability (``picker merge``: a pick
            without one would win every duplicate).

    Raises:
        InputError: an unreadable or malformed file; the one-line message names the file and
            the line (CSV), item (JSON) or pick (QuakeML, Nordic).
    """
    path = Path(path)
    fmt = fmt or _format_to_read(path)
    if fmt not in _ROW_READERS:
        raise InputError(f"{path}: unknown picks format {fmt!r}")
    picks = []
    try:
        for where, row in _ROW_READERS[fmt](path):
            try:
                pick = _pick_from_mapping(row, need_time, need_probability)
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{where}: {one_line(exc, 160)}") from None
            picks.append(pick)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{path}: not a readable {fmt} picks file ({one_line(exc, 200)})"
        ) from None
    return picks


def _csv_rows(path: Path):
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"station_id", "phase"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"missing column(s) {sorted(missing)}")
        for row in reader:
            yield f"line {reader.line_num}", row


def _json_rows(path: Path):
    rows = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(rows, list):
        raise ValueError("not a JSON list of picks")
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise ValueError(f"item {number}: not a JSON object")
        yield f"item {number}", row


def _quakeml_rows(path: Path):
    with path.open("rb") as handle:
        head = handle.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<"):
        raise ValueError("not an XML file")
    return _event_rows(path, "QUAKEML")


def _nordic_rows(path: Path):
    return _event_rows(path, "NORDIC")


def _event_rows(path: Path, obspy_format: str):
    """``(where, fields)`` of the P and S picks of an ObsPy event file of ``obspy_format``
    (explicit: never ObsPy's format detection)."""
    from obspy import read_events

    try:
        catalog = read_events(str(path), format=obspy_format)
    except Exception as exc:  # lxml, struct, IndexError...: any failure is a bad file
        raise ValueError(one_line(exc, 160) or type(exc).__name__) from None
    number = 0
    for event in catalog:
        for q in event.picks:
            number += 1
            phase = phase_of_label(q.phase_hint or "")
            if phase is None:  # amplitude picks (AML), Lg, unnamed: not a P or S onset
                continue
            extra = getattr(q, "extra", {}) or {}
            wid = q.waveform_id
            fields = {
                "source": str(extra.get("source", {}).get("value", "")),
                "station_id": make_station_id(
                    wid.network_code or "",
                    wid.station_code or "",
                    wid.location_code or "",
                    (wid.channel_code or "").rstrip("?"),  # "HH?" (ours) or "HHZ" -> "HH"
                ),
                "phase": phase,
                "time": format_time(q.time),
                "index": extra.get("index", {}).get("value", ""),
            }
            if "probability" in extra:
                fields["probability"] = extra["probability"].get("value", "")
            yield f"pick {number}", fields


_ROW_READERS = {
    "csv": _csv_rows,
    "json": _json_rows,
    "quakeml": _quakeml_rows,
    "nordic": _nordic_rows,
}


def _is_blank(value) -> bool:
    return value is None or str(value).strip() in ("", "None")


def _pick_from_mapping(row: dict, need_time: bool, need_probability: bool) -> Pick:
    """One checked pick from a CSV row, JSON object or event pick's fields."""
    phase = str(row["phase"]).strip().upper()
    if phase not in PHASES:
        raise ValueError(f"phase must be P or S, got {row['phase']!r}")
    station_id = str(row["station_id"] if row["station_id"] is not None else "").strip()
    if not station_id:
        raise ValueError("no station_id")
    time = "" if _is_blank(row.get("time")) else str(row["time"]).strip()
    if time:
        try:
            if parse_time_iso(time) is None:  # "nan", "NaT": no time
                time = ""
        except (ValueError, TypeError, OverflowError):
            raise ValueError(f"time {time!r} is not an ISO-8601 time") from None
    index = -1
    if not _is_blank(row.get("index")):
        try:
            index = int(str(row["index"]).strip())
        except ValueError:
            raise ValueError(f"index must be a sample number, got {row['index']!r}") from None
        if index < -1:  # -1: no index, as written for a pick without one
            raise ValueError(f"index must be >= 0, got {index}")
    if need_time and not time:
        raise ValueError(f"{phase} pick of {station_id} has no time (reference picks need one)")
    if not time and index < 0:
        raise ValueError(f"{phase} pick of {station_id} has neither time nor index")
    if _is_blank(row.get("probability")):
        if need_probability:
            raise ValueError(f"{phase} pick of {station_id} has no probability")
        probability = 1.0
    else:
        try:
            probability = float(str(row["probability"]).strip())
        except ValueError:
            probability = float("nan")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {row['probability']!r}")
    return Pick(str(row.get("source") or ""), station_id, phase, time, index, probability)


def _format_to_read(path: Path) -> str:
    """The picks format of ``path``: by its suffix (:data:`SUFFIX_FORMATS`), else ``"csv"``
    when the first line names ``station_id`` and ``"nordic"`` when it is a SEISAN type-1 line.

    Raises:
        InputError: an unreadable or empty file, or one that is none of these.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the picks file ({one_line(exc, 200)})") from None
    if not head.strip():
        raise InputError(f"{path}: empty file, not a picks file")
    if path.suffix.lower() in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[path.suffix.lower()]
    first_line = head.decode("utf-8", errors="replace").splitlines()[0]
    if "station_id" in first_line:
        return "csv"
    if len(first_line.rstrip()) >= 80 and first_line[79] == "1" and "\ufffd" not in first_line:
        return "nordic"  # an S-file opens with an 80-column line of type 1 (column 80)
    raise InputError(
        f"{path}: not a picks file (CSV with a station_id column, JSON, QuakeML or a "
        "SEISAN Nordic S-file)"
    )


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
