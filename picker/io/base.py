"""The record every reader returns and every writer takes, plus small shared helpers.

A *record* is one three-component seismic window or stream segment:

* ``data``: ``float32`` array of shape ``(n_samples, 3)``, components in **E, N, Z** order
  (column 0 east / horizontal 2, column 1 north / horizontal 1, column 2 vertical). A missing
  component is a column of zeros.
* metadata: sampling rate in Hz, station id ``NET.STA.LOC.CH`` (``CH`` = band + instrument code,
  e.g. ``HH``), start time (``obspy.UTCDateTime`` or ``None``), P and S arrival samples (``-1``
  when unknown), the channel codes of the three columns and a name (file stem or trace name).

This module imports neither TensorFlow nor h5py.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from obspy import UTCDateTime

COMPONENTS = ("E", "N", "Z")
NO_PICK = -1


class InputError(ValueError):
    """A bad input file or value; the message names the file and the problem on one line."""


@dataclass(eq=False)
class Record:
    """One three-component waveform window with its metadata.

    Attributes:
        data: ``(n_samples, 3)`` float32, columns E, N, Z (zeros where a component is missing).
        sampling_rate_hz: samples per second, > 0.
        station_id: ``NET.STA.LOC.CH`` (e.g. ``XX.HOLD..HH``), or the file stem when unknown.
        start_time: time of sample 0, or ``None`` when unknown.
        p_arrival_sample: P arrival as a sample index into ``data``, ``-1`` when not picked.
        s_arrival_sample: S arrival as a sample index into ``data``, ``-1`` when not picked.
        channels: channel codes of the three columns (E, N, Z order), ``""`` for a missing one.
        name: a name unique within a collection (file stem, trace name).
    """

    data: np.ndarray
    sampling_rate_hz: float
    station_id: str = ""
    start_time: UTCDateTime | None = None
    p_arrival_sample: int = NO_PICK
    s_arrival_sample: int = NO_PICK
    channels: tuple[str, str, str] = ("", "", "")
    name: str = ""
    extra: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 2 or data.shape[1] != 3:
            raise InputError(
                f"record {self.name!r}: data must have shape (n_samples, 3), got {data.shape}"
            )
        self.data = np.ascontiguousarray(data, dtype=np.float32)
        rate = float(self.sampling_rate_hz)
        if not np.isfinite(rate) or rate <= 0:
            raise InputError(
                f"record {self.name!r}: sampling_rate_hz must be > 0, got {self.sampling_rate_hz}"
            )
        self.sampling_rate_hz = rate
        self.p_arrival_sample = int(self.p_arrival_sample)
        self.s_arrival_sample = int(self.s_arrival_sample)
        self.channels = tuple(str(c) for c in self.channels)  # type: ignore[assignment]
        if len(self.channels) != 3:
            raise InputError(
                f"record {self.name!r}: channels must name 3 components, got {self.channels}"
            )
        if self.start_time is not None and not isinstance(self.start_time, UTCDateTime):
            self.start_time = UTCDateTime(self.start_time)

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sampling_rate_hz

    @property
    def end_time(self) -> UTCDateTime | None:
        """Time of the last sample, or ``None`` when the start time is unknown."""
        if self.start_time is None:
            return None
        return self.start_time + (self.n_samples - 1) / self.sampling_rate_hz

    def with_data(self, data: np.ndarray, **changes) -> Record:
        """A copy with new ``data`` (and any other field changes)."""
        return replace(self, data=data, **changes)


_TIME_RE = re.compile(r"^(?P<base>.*\d[T ]\d{1,2}:\d{2}:\d{2})\.(?P<frac>\d+)(?P<zone>Z?)$")


def format_time_iso(time: UTCDateTime | None, decimals: int = 9) -> str:
    """ISO-8601 UTC string with ``decimals`` (1-9) decimals of a second, rounded half to even
    as ObsPy's ``strftime`` rounds to microseconds (``2015-10-21T05:55:00.123456789Z`` with 9,
    the record files' precision; ``...00.123457Z`` with 6, the picks'); ``""`` for None."""
    if time is None:
        return ""
    unit = 10 ** (9 - decimals)
    steps, rest = divmod(int(time.ns), unit)
    steps += 2 * rest > unit or (2 * rest == unit and steps % 2 == 1)
    seconds, fraction = divmod(steps, 10**decimals)
    whole = UTCDateTime(ns=seconds * 1_000_000_000)
    return f"{whole.strftime('%Y-%m-%dT%H:%M:%S')}.{fraction:0{decimals}d}Z"


def parse_time_iso(text: str) -> UTCDateTime | None:
    """Parse an ISO-like time string exactly to the nanosecond; ``""``/``nan`` give None.

    Raises:
        ValueError: when the text is not a time.
    """
    text = text.strip()
    if not text or text.lower() in ("nan", "nat", "none"):
        return None
    match = _TIME_RE.match(text)
    if match:
        base = UTCDateTime(match["base"] + match["zone"])
        fraction_ns = int(match["frac"][:9].ljust(9, "0"))
        return UTCDateTime(ns=int(base.ns) + fraction_ns)
    return UTCDateTime(text)


def trace_station_id(trace) -> str:
    """The station id ``NET.STA.LOC.BAND`` of an ObsPy trace (its channel code minus the
    component)."""
    stats = trace.stats
    return make_station_id(stats.network, stats.station, stats.location, stats.channel[:-1])


def pickable_station_ids(traces) -> list[str]:
    """The sorted station ids (``NET.STA.LOC.CH``) of the traces picker picks on.

    Traces :func:`channel_problem` rejects (hydrophones, mass positions, ...) are left out, so
    a shard is never given a station with nothing to pick on.
    """
    return sorted({trace_station_id(tr) for tr in split_pickable(traces)[0]})


def split_station_id(station_id: str) -> tuple[str, str, str, str]:
    """``"NET.STA.LOC.CH"`` -> ``(net, sta, loc, ch)``; shorter ids fill from the left with ``""``.

    A bare name without dots (a file stem) comes back as the station code.
    """
    parts = station_id.split(".")
    if len(parts) >= 4:
        return parts[0], parts[1], parts[2], ".".join(parts[3:])
    if len(parts) == 1:
        return "", parts[0], "", ""
    parts = [""] * (4 - len(parts)) + parts
    return parts[0], parts[1], parts[2], parts[3]


def make_station_id(
    network: str = "", station: str = "", location: str = "", channel: str = ""
) -> str:
    """Station id ``NET.STA.LOC.CH`` where ``CH`` is the band + instrument code.

    ``channel`` may be a full channel code (``HHZ`` -> ``HH``) or already the two-letter code.
    The location placeholder ``--`` becomes ``""``.
    """
    location = "" if location.strip() in ("--", "-") else location.strip()
    code = channel.strip()[:2] if channel else ""
    return f"{network.strip()}.{station.strip()}.{location}.{code}"


def enz_columns(component_codes: Sequence[str]) -> list[int]:
    """Map component codes (last letter of a channel code) to E/N/Z columns 0/1/2.

    Handles ``Z/N/E``, ``Z/1/2`` (1 -> N, 2 -> E), ``Z/2/3`` (2 -> N, 3 -> E), ``1/2/3`` without
    ``Z`` (1 -> Z, 2 -> N, 3 -> E, as in NCEDC ``DP1/DP2/DP3``), ``U/N/E`` (U = up -> Z, as in
    Hi-net files) and lower case. Codes are judged as a set, so ``2`` means E next to ``1`` but
    N next to ``3``. ``U/V/W`` (the axes of a Galperin sensor, not up/north/east) are refused.

    Args:
        component_codes: one code per input trace, e.g. ``["Z", "1", "2"]`` or ``["e", "n"]``.

    Returns:
        The output column for each input code, in the same order.

    Raises:
        InputError: for an unknown code or two traces that map to the same column.
    """
    codes = [c.strip().upper()[-1:] if c.strip() else "" for c in component_codes]
    present = set(codes)
    if present & {"V", "W"}:
        raise InputError(
            f"components {list(component_codes)} are the U/V/W axes of a Galperin sensor; "
            "rotate them to Z/N/E first"
        )
    table = {"E": 0, "N": 1, "Z": 2}
    if "Z" not in present:
        table["U"] = 2  # up (Hi-net's U/N/E)
    if "3" in present and "1" in present and "Z" not in present:
        table.update({"1": 2, "2": 1, "3": 0})  # NCEDC DP1/DP2/DP3: 1 = Z, 2 = N, 3 = E
    elif "3" in present:
        table.update({"2": 1, "3": 0})
    else:
        table.update({"1": 1, "2": 0})
    columns = []
    for original, code in zip(component_codes, codes, strict=True):
        if code not in table:
            raise InputError(
                f"unknown component code {original!r} (expected Z/N/E, Z/1/2, Z/2/3 or U/N/E)"
            )
        columns.append(table[code])
    if len(set(columns)) != len(columns):
        raise InputError(f"components {list(component_codes)} map to the same E/N/Z column twice")
    return columns


#: Component codes of seismometer and accelerometer channels (the codes :func:`enz_columns`
#: takes; V and W so that a Galperin sensor's U/V/W is refused whole, not read as U = up).
SEISMIC_COMPONENTS = frozenset("ENZ123UVW")
#: Channels sampled slower than this are not picked on. Mass positions (``VM*``, 0.1-1 Hz) and
#: long-period channels (``LH*``) gave hundreds of false picks once resampled to 100 Hz, and on
#: ObsPy's RJOB event decimated to 10 Hz the picker finds nothing (20 Hz: P 0.14 s late).
MIN_SAMPLING_RATE_HZ = 10.0
#: Data sampled faster than this are refused: resampling 1 GHz "data" to the model's 100 Hz is
#: no seismogram (and crashed the resampler); 10 kHz is above any seismometer or geophone.
MAX_SAMPLING_RATE_HZ = 10_000.0


def sampling_rate_problem(rate_hz) -> str | None:
    """Why picker does not pick on data sampled at ``rate_hz`` (None when it does): not a
    finite number > 0, below :data:`MIN_SAMPLING_RATE_HZ` or above
    :data:`MAX_SAMPLING_RATE_HZ`. The one rule for stream channels (:func:`channel_problem`) and
    every window reader (:func:`picker.io.read_records`)."""
    try:
        rate = float(rate_hz)
    except (TypeError, ValueError):
        return f"sampling rate {rate_hz!r} is not a number"
    if not np.isfinite(rate) or rate <= 0:
        return f"sampling rate {rate_hz!r} Hz is not a positive number"
    if rate < MIN_SAMPLING_RATE_HZ:
        return f"sampled at {rate:g} Hz, below {MIN_SAMPLING_RATE_HZ:g} Hz"
    if rate > MAX_SAMPLING_RATE_HZ:
        return f"sampled at {rate:g} Hz, above {MAX_SAMPLING_RATE_HZ:g} Hz"
    return None


def channel_problem(trace) -> str | None:
    """Why picker does not pick on an ObsPy ``trace`` (None when it does).

    Skipped are channels whose component code (last letter) is not a seismometer component
    (hydrophones ``BDH``, infrasound ``BDF``, state-of-health, ...), channels with no code or a
    WIN channel number (``a101``: its last digit is no component), and channels whose rate
    :func:`sampling_rate_problem` refuses (below :data:`MIN_SAMPLING_RATE_HZ`: mass positions,
    ``LH*``).
    """
    channel = trace.stats.channel.strip()
    rate = float(trace.stats.sampling_rate)
    if not channel:
        return "no channel code: name the component (e.g. HHZ) before picking"
    if trace.stats.get("_format") == "WIN":  # "a100": a hexadecimal channel number
        return "a WIN channel number, not a component: give it a SEED code (e.g. HHZ) first"
    if channel[-1:].upper() not in SEISMIC_COMPONENTS:
        return f"component code {channel[-1:]!r} is not Z/N/E/1/2/3/U"
    return sampling_rate_problem(rate)


#: NIED K-NET / KiK-net ASCII channel names as ObsPy's ``KNET`` reader gives them: ``EW``,
#: ``NS``, ``UD``, with KiK-net's sensor digit (``1`` borehole, ``2`` surface).
_NIED_CHANNEL = re.compile(r"^(EW|NS|UD)([12]?)$")
_NIED_COMPONENT = {"EW": "E", "NS": "N", "UD": "Z"}


def seed_channel_codes(traces: Sequence) -> None:
    """Give Japanese strong-motion channels SEED channel codes, in place.

    K-NET's ``EW``/``NS``/``UD`` become ``HNE``/``HNN``/``HNZ`` (an accelerometer, band code
    from the sampling rate: ``H`` at 80 Hz and above, else ``B``). KiK-net's two sensors stay
    apart: the digit goes to the location code (``EW1`` borehole -> location ``01``, ``UD2``
    surface -> ``02``). Without this, ``UD`` would be read as a component ``D`` and ``EW`` as a
    Galperin ``W``. Other channels are left as they are.
    """
    for trace in traces:
        stats = trace.stats
        match = _NIED_CHANNEL.match(stats.channel.strip())
        if match is None:
            continue
        band = "H" if float(stats.sampling_rate) >= 80.0 else "B"
        stats.channel = f"{band}N{_NIED_COMPONENT[match[1]]}"
        if match[2] and not stats.location.strip():
            stats.location = f"0{match[2]}"


def split_pickable(traces: Sequence) -> tuple[list, dict[str, list[str]]]:
    """``(traces picker picks on, {reason: ids of the skipped traces})``; see :func:`channel_problem`."""
    kept, skipped = [], {}
    for trace in traces:
        reason = channel_problem(trace)
        if reason is None:
            kept.append(trace)
        elif trace.id not in (ids := skipped.setdefault(reason, [])):
            ids.append(trace.id)
    return kept, skipped


def describe_skipped(skipped: dict[str, list[str]]) -> str:
    """One line from :func:`split_pickable`'s skipped traces: ``"A, B (reason); C (reason)"``."""
    return "; ".join(f"{', '.join(ids)} ({reason})" for reason, ids in skipped.items())


def phase_of_label(label: str) -> str | None:
    """``"P"`` or ``"S"`` for an analyst's phase label such as ``P``, ``Pg``, ``Pn``, ``IPU0``,
    ``ES``, ``Sn``; None for anything else (``F``, ``AML``, ``IAML``, ``Lg``). A leading I/E is
    the onset quality (impulsive / emergent)."""
    label = label.strip().upper()
    if len(label) > 1 and label[0] in "IE" and label[1] in "PS":
        label = label[1:]
    return label[0] if label[:1] in ("P", "S") else None


def json_ready(value):
    """``value`` with every non-finite float (NaN, inf; NumPy floats too) replaced by ``None``,
    dicts, lists and tuples walked through, NumPy scalars made Python numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def json_text(value, indent: int | None = None, **options) -> str:
    """Strict JSON text of ``value`` (:func:`json_ready`: NaN and inf become ``null``), so that
    every JSON file picker writes loads with a strict parser (``json.loads`` with
    ``parse_constant`` refusing ``NaN``, JavaScript's ``JSON.parse``, ``jq``)."""
    return json.dumps(json_ready(value), indent=indent, allow_nan=False, **options)


def one_line(err: BaseException | str, limit: int | None = None) -> str:
    """A message on one line: whitespace runs (newlines too) become one space; an empty
    exception gives its type name; with ``limit``, cut to that many characters ending "..."."""
    text = " ".join(str(err).split())
    if not text and isinstance(err, BaseException):
        text = type(err).__name__
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def named_error(path, err: BaseException) -> InputError:
    """An InputError for ``path`` whose one-line message names the file (``err`` any error)."""
    text = one_line(err, 160)
    if isinstance(err, InputError):
        return InputError(text if str(path) in text else f"{path}: {text}")
    return InputError(f"{path}: could not be read ({text})")


def safe_file_name(text: str, fallback: str, max_bytes: int = 200) -> str:
    """``text`` made into one file name that cannot leave its folder: every character but
    letters, digits and ``._-`` becomes ``_`` (no path separator), leading dots are dropped (no
    ``..``, no hidden file), at most ``max_bytes`` UTF-8 bytes; ``fallback`` when nothing is
    left. The one sanitiser of every output name derived from data (record names, channel
    codes, station ids, figure names)."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text).lstrip(".")
    return safe.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore") or fallback


def path_in_folder(folder: str | os.PathLike, name: str) -> Path:
    """``folder / name``, checked to be a file directly inside ``folder``.

    Raises:
        InputError: when ``name`` is not a single plain file name (a separator, ``..``, an
            absolute path): a name from hostile data must never write outside the folder.
    """
    if not name or name in (".", "..") or Path(name).name != name or os.sep in name:
        raise InputError(f"{name!r}: not a plain file name; nothing written outside {folder}")
    return Path(folder) / name


def require_regular_file(path: str | os.PathLike) -> None:
    """Raise an :class:`InputError` naming ``path`` unless it is a regular file or a folder:
    reading a device (``/dev/zero``), a FIFO or a socket would hang or never end. A missing
    path passes (its reader reports it)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise InputError(f"{path}: not a regular file (a device, FIFO or socket); not read")


def input_files(path) -> tuple[Path, ...]:
    """The files of one input: ``(path,)``, or the members of a
    :class:`~picker.io.groups.FileGroup` (one file per channel, read as one input)."""
    return getattr(path, "paths", None) or (Path(path),)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, owned by someone else
        return True
    return True


def remove_stale_parts(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of earlier, killed writes of ``path``; return them.

    :func:`new_part_file` names them ``.<name>.<pid>.<random>.part`` beside ``path``; one whose
    process is gone is stale (a kill -9 or a power cut skips the clean-up). The part files of a
    live process (a concurrent run) are left alone, and so are files of other names.
    """
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.[a-z0-9_]{{8}}\.part$")
    removed = []
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return removed
    for sibling in siblings:
        match = pattern.match(sibling.name)
        if match and int(match[1]) != os.getpid() and not _process_alive(int(match[1])):
            with contextlib.suppress(OSError):
                sibling.unlink()
                removed.append(sibling)
    return removed


def new_part_file(path: str | os.PathLike) -> tuple[int, Path]:
    """``(open fd, path)`` of a new empty temporary file ``.<name>.<pid>.<random>.part``
    beside ``path`` (folder created), with a normal file's mode under the umask; the stale
    part files of ``path`` are removed first (:func:`remove_stale_parts`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=path.parent
    )
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give a normal file's mode
    return fd, Path(tmp)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    An interrupted or failed write leaves no partial file under the final name; the part
    files that killed earlier writes of ``path`` left behind are removed
    (:func:`remove_stale_parts`).
    """
    path = Path(path)
    fd, tmp_path = new_part_file(path)
    os.close(fd)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
