"""PhaseNet-compatible NPZ files: one record per file.

Reading accepts the common variants found in the wild:

* ``data``: ``(n_samples, n_components)`` (channels last, PhaseNet) or ``(n_components,
  n_samples)`` (channels first), or ``(n_samples,)`` for one component; 1 to 3 components, any
  integer or float dtype (converted to float32). Singleton axes of a 3-D array are squeezed.
* picks: ``p_idx`` / ``s_idx`` or ``itp`` / ``its`` (0-d or 1-element arrays; ``-1`` or a
  missing key means no pick; with several values the first non-negative one is used).
* sampling rate: ``sampling_rate_hz`` / ``sampling_rate`` / ``sr`` (Hz) or ``dt`` (s);
  100 Hz when the file does not say.
* identity: ``station_id``, or ``network``/``net``, ``station``/``sta``,
  ``location_code``/``location`` (``--`` means empty) and ``channels`` (``HHE_HHN_HHZ``,
  ``DPE,DPN,DPZ``, ``EHZ``).
* amplitude unit: ``unit`` / ``units`` (e.g. ``counts``, ``m/s``; up to 16 printable
  characters, ``$`` dropped), kept as ``record.extra["unit"]`` for the review figures.
* start time: ``start_time_ns`` (int64 ns since 1970), ``start_time``/``t0`` (ISO string), or
  ``p_time`` (ISO time of the P pick: start = p_time - p_idx / sampling_rate_hz).

Files are always opened with ``allow_pickle=False``: an NPZ holding Python objects is rejected,
never unpickled.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
from obspy import UTCDateTime

from picker.io.base import (
    NO_PICK,
    SEISMIC_COMPONENTS,
    InputError,
    Record,
    atomic_output,
    enz_columns,
    format_time_iso,
    make_station_id,
    one_line,
    parse_time_iso,
    split_station_id,
)

__all__ = ["read_npz", "write_npz"]

LAYOUTS = ("auto", "channels_last", "channels_first")
DEFAULT_SAMPLING_RATE_HZ = 100.0
#: Records may store up to this many components when ``component_order`` (or a channel code
#: each) names them; only the seismometer components are kept (an OBS hydrophone is dropped).
MAX_STORED_COMPONENTS = 6

_P_KEYS = ("p_idx", "itp", "p_arrival_sample")
_S_KEYS = ("s_idx", "its", "s_arrival_sample")
_RATE_KEYS = ("sampling_rate_hz", "sampling_rate", "sr")
_START_KEYS = ("start_time", "t0")
_NETWORK_KEYS = ("network", "net")
_STATION_KEYS = ("station", "sta")
_LOCATION_KEYS = ("location_code", "location")


def parse_channel_codes(value) -> list[str]:
    """Split ``HHE_HHN_HHZ``, ``DPE,DPN,DPZ``, ``EHZ`` or a string array into codes.

    Empty entries (``,,EHZ``) are kept as ``""`` placeholders; an empty value gives ``[]``.
    """
    if isinstance(value, np.ndarray) and value.ndim > 0 and value.size > 1:
        return [_as_text(v).strip() for v in value.ravel()]
    text = _as_text(value).strip()
    if not text:
        return []
    for separator in (",", "_", " "):
        if separator in text:
            return [part.strip() for part in text.split(separator)]
    return [text]


# --------------------------------------------------------------------------------------------
# reading


def read_npz(
    path: str | os.PathLike,
    *,
    layout: str = "auto",
    component_order: str | None = None,
    sampling_rate_hz: float | None = None,
) -> Record:
    """Read one PhaseNet-style NPZ file into a :class:`~picker.io.base.Record`.

    Args:
        path: the ``.npz`` file.
        layout: ``"channels_last"`` (``data`` is ``(n_samples, n_components)``),
            ``"channels_first"`` (``(n_components, n_samples)``) or ``"auto"``: the axis of
            length 3 is the channel axis (channels last when both are 3), else the shorter axis
            when it is at most 3.
        component_order: order of the components in the file, e.g. ``"ENZ"``, ``"ZNE"``,
            ``"Z12"``; overrides everything the file says. When None: the file's
            ``component_order`` key, else the ``channels`` codes when there is one per
            component, else ``ENZ`` for channels-last and ``ZNE`` for channels-first data
            (e.g. the Martinique set). One component is Z unless its channel code says
            otherwise; two components need channel codes or ``component_order``.
        sampling_rate_hz: overrides the file's rate; the default is the file's rate, else
            100 Hz.

    Returns:
        The record: ``data`` ``(n_samples, 3)`` float32 in E, N, Z order (zeros for missing
        components), picks as sample indices (``-1`` = none; a pick beyond the end of the data
        is kept as is), ``name`` the file stem, ``station_id`` from the file or the file stem.

    Raises:
        InputError: unreadable, truncated or non-NPZ file, pickled objects, missing or badly
            shaped ``data``, a negative pick other than ``-1``, a bad rate or time, naming
            ``path``.
    """
    path = Path(path)
    if layout not in LAYOUTS:
        raise InputError(f"{path}: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if path.is_file() and not _looks_like_npz_or_npy(path):
        raise InputError(f"{path}: not an NPZ archive (no zip or .npy header)")
    try:
        archive = np.load(path, allow_pickle=False)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable NPZ file ({one_line(exc)})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise InputError(f"{path}: holds a single .npy array, not an NPZ archive with a 'data' key")
    try:
        with archive:
            return _record_from_archive(path, archive, layout, component_order, sampling_rate_hz)
    except InputError as exc:
        message = str(exc)
        if not message.startswith(str(path)):
            message = f"{path}: {message}"
        raise InputError(one_line(message)) from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"{path}: corrupt or truncated NPZ file ({one_line(exc)})") from None


def _looks_like_npz_or_npy(path: Path) -> bool:
    """True when the file starts like a zip archive or a ``.npy`` array (numpy would otherwise
    treat any other bytes as a pickle and report "pickled data" for plain garbage)."""
    with path.open("rb") as handle:
        head = handle.read(6)
    return head.startswith(b"PK") or head.startswith(b"\x93NUMPY")


def _record_from_archive(path, archive, layout, component_order, sampling_rate_hz) -> Record:
    def get(*keys):
        for key in keys:
            if key in archive.files:
                try:
                    return archive[key]
                except ValueError as exc:
                    if "pickle" in str(exc).lower():
                        raise InputError(
                            f"key {key!r} holds Python objects, which are never unpickled"
                        ) from None
                    raise
        return None

    raw = get("data")
    if raw is None:
        raise InputError(f"no 'data' array (keys: {', '.join(archive.files) or 'none'})")
    if raw.dtype.kind not in "fiu":
        raise InputError(f"'data' must hold numbers, got dtype {raw.dtype}")
    samples, channels_first = _time_major(raw, layout)
    n_components = samples.shape[1]

    channel_value = get("channels")
    codes = parse_channel_codes(channel_value) if channel_value is not None else []
    order = component_order
    if order is None and get("component_order") is not None:
        order = _as_text(get("component_order")).strip() or None
    if n_components > 3:  # e.g. an ocean-bottom record Z, 1, 2 + hydrophone
        samples, codes, order = _seismic_only(samples, codes, order)
        n_components = samples.shape[1]
    columns, channels = _place_components(n_components, codes, order, channels_first)
    data = np.zeros((samples.shape[0], 3), dtype=np.float32)
    data[:, columns] = samples

    rate = _sampling_rate(get, sampling_rate_hz)
    extra: dict = {}
    p_sample = _pick(get(*_P_KEYS), "P", extra)
    s_sample = _pick(get(*_S_KEYS), "S", extra)
    start_time = _start_time(get, p_sample, rate)
    unit = "".join(c for c in _text_or_empty(get("unit", "units")) if c.isprintable() and c != "$")
    if unit:
        extra["unit"] = unit[:16].strip()

    station_id = _as_text(get("station_id")).strip() if get("station_id") is not None else ""
    if not station_id:
        network = _text_or_empty(get(*_NETWORK_KEYS))
        station = _text_or_empty(get(*_STATION_KEYS))
        location = _text_or_empty(get(*_LOCATION_KEYS))
        channel = next((c for c in channels if c), "")
        if network or station:
            station_id = make_station_id(network, station, location, channel)
        else:
            station_id = path.stem
    return Record(
        data=data,
        sampling_rate_hz=rate,
        station_id=station_id,
        start_time=start_time,
        p_arrival_sample=p_sample,
        s_arrival_sample=s_sample,
        channels=tuple(channels),
        name=path.stem,
        extra=extra,
    )


def _time_major(raw: np.ndarray, layout: str) -> tuple[np.ndarray, bool]:
    """``data`` as ``(n_samples, n_components)`` and whether the file was channels-first."""
    array = raw
    if array.ndim > 2:
        array = np.squeeze(array)
    if array.ndim == 1:
        array = array[:, None]
        channels_first = False
    elif array.ndim == 2:
        rows, cols = array.shape
        if layout == "channels_last":
            channels_first = False
        elif layout == "channels_first":
            channels_first = True
        elif cols == 3:
            channels_first = False
        elif rows == 3:
            channels_first = True
        elif min(rows, cols) <= MAX_STORED_COMPONENTS:
            channels_first = rows < cols
        else:
            raise InputError(
                f"'data' has shape {raw.shape}: no axis of at most {MAX_STORED_COMPONENTS} "
                "components; expected (n_samples, 3) or (3, n_samples)"
            )
        if channels_first:
            array = array.T
    else:
        raise InputError(f"'data' has shape {raw.shape}; expected (n_samples, 3) or (3, n_samples)")
    if not 1 <= array.shape[1] <= MAX_STORED_COMPONENTS:
        raise InputError(
            f"'data' has shape {raw.shape}: {array.shape[1]} components with layout {layout!r}; "
            f"expected 1 to 3 (or up to {MAX_STORED_COMPONENTS} named by component_order)"
        )
    if array.shape[0] == 0:
        raise InputError(f"'data' has shape {raw.shape}: no samples")
    return array, channels_first


def _seismic_only(
    samples: np.ndarray, codes: list[str], order: str | None
) -> tuple[np.ndarray, list[str], str | None]:
    """The seismometer components of a record stored with more than 3 (``component_order``
    or one channel code per component names them; a hydrophone ``H`` is dropped)."""
    n_components = samples.shape[1]
    if order is not None and len(order.strip()) == n_components:
        letters = list(order.strip())
    elif len(codes) == n_components and all(codes):
        letters = codes
    else:
        raise InputError(
            f"'data' has {n_components} components; name them with component_order "
            "(e.g. Z12H) or a channel code each"
        )
    keep = [i for i, code in enumerate(letters) if code.upper()[-1:] in SEISMIC_COMPONENTS]
    if not 1 <= len(keep) <= 3:
        raise InputError(
            f"'data' has {n_components} components ({''.join(c[-1:] for c in letters)}); "
            "expected 1 to 3 of Z/N/E/1/2/3/U"
        )
    kept_codes = [codes[i] for i in keep] if len(codes) == n_components else codes
    kept_order = "".join(letters[i][-1] for i in keep) if letters is not codes else None
    return samples[:, keep], kept_codes, kept_order


def _place_components(
    n_components: int, codes: list[str], order: str | None, channels_first: bool
) -> tuple[list[int], list[str]]:
    """Output column (E=0, N=1, Z=2) of each file component, and the 3 channel codes."""
    positional = len(codes) == n_components
    if order is not None and len(order.strip()) == n_components:
        columns = enz_columns(list(order.strip()))
    elif order is not None and n_components > 1:
        raise InputError(
            f"component_order {order!r} names {len(order.strip())} components, "
            f"the data has {n_components}"
        )
    elif positional and all(codes):
        try:
            columns = enz_columns(codes)
        except InputError as exc:
            raise InputError(f"channels {codes}: {exc}; pass component_order") from None
    elif n_components == 3:
        columns = enz_columns(list("ZNE" if channels_first else "ENZ"))
    elif n_components == 1:
        named = [c for c in codes if c]
        columns = enz_columns(named) if len(named) == 1 else [2]
        positional = True
        codes = named[:1] or [""]
    else:
        raise InputError(
            f"{n_components} components without one channel code each; pass component_order"
        )
    channels = [""] * 3
    if positional:
        for column, code in zip(columns, codes, strict=True):
            channels[column] = code
    else:
        named = [c for c in codes if c]
        if named:
            for column, code in zip(enz_columns(named), named, strict=True):
                channels[column] = code
    return columns, channels


def _sampling_rate(get, override: float | None) -> float:
    if override is not None:
        rate = float(override)
    else:
        value = get(*_RATE_KEYS)
        if value is not None:
            rate = _number(value, "sampling rate")
        elif get("dt") is not None:
            dt = _number(get("dt"), "dt")
            rate = 1.0 / dt if dt > 0 else float("nan")
        else:
            rate = DEFAULT_SAMPLING_RATE_HZ
    if not np.isfinite(rate) or rate <= 0:
        raise InputError(f"sampling_rate_hz must be > 0, got {rate}")
    return rate


def _pick(value, phase: str, extra: dict) -> int:
    """A pick from a 0-d / 1-element array (several values: the first >= 0 is used)."""
    if value is None:
        return NO_PICK
    values = np.asarray(value).ravel()
    if values.dtype.kind not in "fiu":
        raise InputError(f"{phase} pick must be a number, got dtype {values.dtype}")
    picks = []
    for number in values.astype(np.float64):
        if not np.isfinite(number) or number == NO_PICK:
            continue
        if number < 0:
            raise InputError(f"{phase} pick must be >= 0 or -1 (none), got {number:g}")
        picks.append(int(np.floor(number + 0.5)))
    if len(values) > 1:
        extra[f"{phase.lower()}_arrival_samples"] = picks
    return picks[0] if picks else NO_PICK


def _start_time(get, p_sample: int, rate: float) -> UTCDateTime | None:
    value = get("start_time_ns")
    if value is not None and np.asarray(value).dtype.kind in "iu" and np.asarray(value).size == 1:
        return UTCDateTime(ns=int(np.asarray(value).ravel()[0]))
    value = get(*_START_KEYS)
    if value is not None:
        if np.asarray(value).dtype.kind in "fiu":
            seconds = _number(value, "start time")
            return UTCDateTime(seconds) if np.isfinite(seconds) else None
        return _time(_as_text(value), "start_time")
    value = get("p_time")
    if value is not None and p_sample >= 0:
        p_time = _time(_as_text(value), "p_time")
        if p_time is not None:
            return UTCDateTime(ns=int(p_time.ns) - int(round(p_sample * 1e9 / rate)))
    return None


def _time(text: str, key: str) -> UTCDateTime | None:
    try:
        return parse_time_iso(text)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{key} {text!r} is not a time ({one_line(exc)})") from None


def _number(value, key: str) -> float:
    array = np.asarray(value)
    if array.size != 1:
        raise InputError(f"{key} must be a single number, got shape {array.shape}")
    item = array.ravel()[0]
    try:
        return float(item if array.dtype.kind in "fiu" else _as_text(item))
    except ValueError:
        raise InputError(f"{key} must be a number, got {item!r}") from None


def _as_text(value) -> str:
    """A 0-d / 1-element string array, bytes or scalar as ``str`` (several strings: joined by ',')."""
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return ""
        if value.size > 1:
            return ",".join(_as_text(v) for v in value.ravel())
        value = value.ravel()[0]
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _text_or_empty(value) -> str:
    text = "" if value is None else _as_text(value).strip()
    return "" if text.lower() == "nan" else text


# --------------------------------------------------------------------------------------------
# writing


def write_npz(record: Record, path: str | os.PathLike) -> Path:
    """Write ``record`` to ``path`` atomically (the exact name, even without ``.npz``).

    Keys (all plain dtypes, loadable without pickle): ``data`` ``(n_samples, 3)`` float32
    E, N, Z; ``p_idx``, ``s_idx`` int64 0-d (``-1`` = none); ``dt`` (s) and
    ``sampling_rate_hz`` float64; ``channels`` (the three codes joined by ``,``, empty entries
    kept); ``component_order`` ``"ENZ"``; ``station_id``, ``network``, ``station``,
    ``location_code``; ``start_time`` (ISO string with 9 decimals, ``""`` when unknown) and
    ``start_time_ns`` (int64, only when known); ``unit`` (only when ``record.extra`` has one).
    :func:`read_npz` gives back the same record,
    samples bit-identical and start time exact to the nanosecond.

    Returns:
        ``path``.
    """
    path = Path(path)
    network, station, location, _ = split_station_id(record.station_id)
    rate = float(record.sampling_rate_hz)
    arrays = {
        "data": np.ascontiguousarray(record.data, dtype=np.float32),
        "p_idx": np.int64(record.p_arrival_sample),
        "s_idx": np.int64(record.s_arrival_sample),
        "dt": np.float64(1.0 / rate),
        "sampling_rate_hz": np.float64(rate),
        "channels": np.str_(",".join(record.channels)),
        "component_order": np.str_("ENZ"),
        "station_id": np.str_(record.station_id),
        "network": np.str_(network),
        "station": np.str_(station),
        "location_code": np.str_(location),
        "start_time": np.str_(format_time_iso(record.start_time)),
    }
    if record.start_time is not None:
        arrays["start_time_ns"] = np.int64(record.start_time.ns)
    if record.extra.get("unit"):
        arrays["unit"] = np.str_(record.extra["unit"])
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    return path
