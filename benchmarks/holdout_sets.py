"""The station hold-out of the bundled model: which records train, which score, and the scoring.

Split: NCEDC stations whose name hashes to 0 mod 5 (about a fifth) and the Martinique stations
in :data:`MARTINIQUE_HOLDOUT` are held out; everything else trains (``train_bundled.py``). The
other four residues are the other folds of a station cross-validation (``--fold``).
:func:`score` measures a model on held-out records at 0.1 s tolerance and probability 0.5,
through ``predict_array`` (the path ``picker predict`` uses): each record cut into 3 windows of
:data:`WINDOW` samples with P at a random place (also decimated to the rates of
:data:`LOWER_RATES_HZ`), 30 s pure-noise windows, and the whole records. All records are at
100 Hz, ``(n_samples, 3)`` E, N, Z.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from picker.io import read_records
from picker.io.base import Record

MARTINIQUE_HOLDOUT = {"WI.SAM", "MQ.BAM", "G.FDF", "MQ.CPM"}


WINDOW = 3001
#: A pick this close to its label (s) is a hit, in every table of the hold-out.
TOLERANCE_S = 0.1


def load_real(data_root: Path) -> list[tuple[Record, str, str]]:
    """(record at 100 Hz, region, station) for every NCEDC and Martinique record under
    ``data_root`` (:func:`load_new_sets`: the other sets)."""
    from picker.preprocess.resample import resample_record

    out = []
    for region in ("ncedc", "martinique"):
        for path in sorted((data_root / region).rglob("*.npz")):
            record = resample_record(next(read_records(path)), 100.0)
            if "." not in record.station_id:  # phasenet_demo files: station only in the file name
                net, sta = path.stem.split("_")[:2]
                record.station_id = f"{net}.{sta}.."
            out.append((record, region, ".".join(record.station_id.split(".")[:2])))
    return out


def load_new_sets(data_root: Path) -> list[tuple[Record, str, str]]:
    """(record at 100 Hz, region, station) for the sets beyond NCEDC and Martinique: the 69
    P-only ``deepdenoiser`` records (S not labelled: ``s_arrival_sample`` -1) and the 50
    ``ta109c`` records (EQTransformer's HDF5 layout); a set whose folder is absent is skipped."""
    out = []
    for path in sorted((data_root / "deepdenoiser").glob("*.npz")):
        record = next(read_records(path))
        net, sta = path.stem.split("_")[:2]  # the PhaseNet layout has no station field
        record.station_id = f"{net}.{sta}.."
        out.append((record, "deepdenoiser", f"{net}.{sta}"))
    hdf5 = data_root / "ta109c" / "waveforms.hdf5"
    if hdf5.is_file():
        for record in read_records(hdf5):
            out.append((record, "ta109c", ".".join(record.station_id.split(".")[:2])))
    return out


#: The held-out sets :func:`score_holdout` scores, and whether their S is labelled.
HOLDOUT_SETS = {"ncedc": True, "martinique": True, "deepdenoiser": False, "ta109c": True}


def score_holdout(model, real: list[tuple[Record, str, str]], fold: int = 0) -> dict:
    """:func:`score` on the held-out records of every region in ``real`` (``<region>_holdout``
    keys; the P-only deepdenoiser records are scored on P alone)."""
    regions = {region for _, region, _ in real}
    return {
        f"{region}_holdout": score(model, holdout_records(real, region, fold), s_labelled=s)
        for region, s in HOLDOUT_SETS.items()
        if region in regions
    }


#: Number of NCEDC station folds; fold 0 is the hold-out of the bundled model.
N_FOLDS = 5


def is_holdout(region: str, station: str, fold: int = 0) -> bool:
    """Whether ``station`` is held out: in the Martinique hold-out set, or an NCEDC station whose
    name hashes to ``fold`` mod :data:`N_FOLDS` (the other folds: cross-validation of a recipe
    over every NCEDC station; the Martinique hold-out stays the same in every fold); every
    ``ta109c`` record (a region left out); a deepdenoiser station hashing to ``fold``,
    ``fold + 1`` or ``fold + 2`` (27 of its 69 records in fold 0)."""
    if not 0 <= fold < N_FOLDS:
        raise ValueError(f"fold must be in 0..{N_FOLDS - 1}, got {fold}")
    if region == "martinique":
        return station in MARTINIQUE_HOLDOUT
    if region == "ta109c":  # one station of a region trained on by none of the folds
        return True
    residue = int(hashlib.md5(station.encode()).hexdigest(), 16) % N_FOLDS
    if region == "deepdenoiser":  # 3 residues of 5: one station (GDXB) has half its records
        return (residue - fold) % N_FOLDS < 3
    return residue == fold


def holdout_records(
    real: list[tuple[Record, str, str]], region: str, fold: int = 0
) -> list[Record]:
    """The records of ``region`` (``"ncedc"`` or ``"martinique"``) from its held-out stations in
    ``fold``, in ``load_real`` order."""
    return [r for r, reg, st in real if reg == region and is_holdout(reg, st, fold)]


def training_station_records(real: list[tuple[Record, str, str]], fold: int = 0) -> list[Record]:
    """The records of every region in ``real`` from the stations that train in ``fold`` (never
    the hold-out), in ``load_real`` order: e.g. the int8 calibration windows' source."""
    return [r for r, reg, st in real if not is_holdout(reg, st, fold)]


def add_fold_argument(parser) -> None:
    """The ``--fold K`` option of the benchmark scripts (``is_holdout``'s ``fold``)."""
    parser.add_argument(
        "--fold",
        type=int,
        default=0,
        choices=range(N_FOLDS),
        help="hold out the NCEDC stations whose name hashes to this mod 5 instead of 0 (a "
        "station cross-validation of the recipe; 0 is the bundled model's hold-out)",
    )


def in_station_fraction(station: str, fraction: float) -> bool:
    """Whether ``station`` is in a fixed ``fraction`` of stations (a hash independent of the
    hold-out split), for learning curves: how the hold-out scores grow with training stations."""
    digest = hashlib.md5(f"learning-curve:{station}".encode()).hexdigest()
    return int(digest, 16) % 1000 < round(1000 * fraction)


def pre_event_noise(record: Record, margin: int = 100) -> np.ndarray | None:
    """The part before P (or the whole record when it has no pick), or None when too short."""
    picks = [p for p in (record.p_arrival_sample, record.s_arrival_sample) if p >= 0]
    end = min(picks) - margin if picks else record.n_samples
    return record.data[:end] if end >= 500 else None


def holdout_windows(
    records: list[Record], seed: int = 7, *, n_samples: int = WINDOW, per_record: int = 3
) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """``per_record`` windows of ``n_samples`` per record with P at a random place at least
    1 s from either end; references ``(P, S)`` samples in the window (S -1 when outside)."""
    rng = np.random.default_rng(seed)
    windows, refs = [], []
    for r in records:
        if r.p_arrival_sample < 0 or r.n_samples < n_samples:
            continue
        for _ in range(per_record):
            lo = max(0, r.p_arrival_sample - n_samples + 100)
            hi = min(r.n_samples - n_samples, r.p_arrival_sample - 100)
            if hi < lo:
                continue
            start = int(rng.integers(lo, hi + 1))
            s = r.s_arrival_sample - start
            windows.append(r.data[start : start + n_samples])
            refs.append((r.p_arrival_sample - start, s if 0 <= s < n_samples else -1))
    return windows, refs


def noise_windows(records: list[Record]) -> list[np.ndarray]:
    out = []
    for r in records:
        noise = pre_event_noise(r, margin=50)
        if noise is not None and len(noise) >= WINDOW:
            out.append(noise[:WINDOW])
    return out


#: Lower rates the hold-out windows are also scored at (decimated from 100 Hz): broadband
#: stations record at 40 or 50 Hz, and picker predict resamples them to 100 Hz for the model.
LOWER_RATES_HZ = (50, 40)


def decimated(window: np.ndarray, rate_hz: int) -> np.ndarray:
    """A 100 Hz ``(n, 3)`` window at ``rate_hz`` (polyphase FIR, as a datalogger decimates)."""
    from math import gcd

    from scipy.signal import resample_poly

    common = gcd(int(rate_hz), 100)
    return resample_poly(window, int(rate_hz) // common, 100 // common, axis=0)


def picks_of(model, data: np.ndarray, rate_hz: float = 100.0, **options) -> dict[str, list[float]]:
    """P and S pick times (s from the window start) by the product path, ``predict_array``."""
    from picker.prediction.predict import predict_array

    picks = predict_array(data, rate_hz, model, p_threshold=0.5, s_threshold=0.5, **options)
    out: dict[str, list[float]] = {"P": [], "S": []}
    for pick in picks:
        out[pick.phase].append(pick.index / rate_hz)
    return out


def takes_windows(model) -> bool:
    """Whether ``model`` is scored on the :data:`WINDOW`-sample windows: not a model of a longer
    fixed input (EQTransformer's 6000 samples), which would see them half zero padding."""
    from picker.prediction.inference import fixed_input_samples

    fixed = fixed_input_samples(model)
    return fixed is None or fixed <= WINDOW


def score(model, records: list[Record], seed: int = 7, s_labelled: bool = True, **options) -> dict:
    """Metrics at 0.1 s on 3001-sample windows, pure-noise windows and whole records.

    A model of a longer fixed input (:func:`takes_windows`: EQTransformer) gets the whole
    records only. ``s_labelled`` False (records whose S nobody picked): S picks are not scored.
    """
    from picker.picks.matching import PickMetrics

    def reference(p: int, s: int) -> dict[str, list[float]]:
        return {"P": [p / 100.0] if p >= 0 else [], "S": [s / 100.0] if s >= 0 else []}

    def picks_on(*args) -> dict[str, list[float]]:
        picks = picks_of(model, *args, **options)
        return picks if s_labelled else {"P": picks["P"], "S": []}

    if takes_windows(model):
        windows, refs = holdout_windows(records, seed)
        noise = noise_windows(records)
    else:
        windows, refs, noise = [], [], []
    metrics = PickMetrics(TOLERANCE_S)
    vertical = PickMetrics(TOLERANCE_S)  # the windows of vertical-only stations (E and N all zeros)
    for window, (p, s) in zip(windows + noise, refs + [(-1, -1)] * len(noise), strict=True):
        picks = picks_on(window)
        for m in (metrics, vertical) if not window[:, :2].any() else (metrics,):
            m.add_window(reference(p, s), picks, duration_s=len(window) / 100.0)
    lower = {rate: PickMetrics(TOLERANCE_S) for rate in LOWER_RATES_HZ}
    for window, (p, s) in zip(windows, refs, strict=True):
        for rate, m in lower.items():
            m.add_window(reference(p, s), picks_on(decimated(window, rate), rate))
    events = [r for r in records if r.p_arrival_sample >= 0]
    full = PickMetrics(TOLERANCE_S)
    for r in events:
        full.add_window(reference(r.p_arrival_sample, r.s_arrival_sample), picks_on(r.data))
    whole = {"whole_records": full.to_dict() | {"n_records": len(events)}}
    if not windows:
        return whole
    return {
        "windows_3001": metrics.to_dict()
        | {"n_windows": len(windows), "n_noise_windows": len(noise)},
        "windows_3001_vertical_only": vertical.to_dict(),
        **{f"windows_3001_at_{rate}hz": m.to_dict() for rate, m in lower.items()},
        **whole,
    }


def average_of(paths: list[Path]):
    """A Keras model whose probabilities are the average of those of the ``.keras`` models."""
    import keras

    from picker.models.saving import load_model

    members = []
    for i, path in enumerate(paths):
        member = load_model(path)
        member.name = f"member{i}"  # the layer names of one functional model must be unique
        members.append(member)
    waveform = keras.Input(shape=(None, 3), name="waveform")
    average = keras.layers.Average(name="probabilities")([m(waveform) for m in members])
    return keras.Model(waveform, average, name="ensemble")
