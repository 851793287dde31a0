"""Throughput of ``picker predict`` on continuous miniSEED: one station-day, an archive, a long file.

    python benchmarks/continuous_day.py [--days 7] [--hours 24] [--repeat 3] [--workdir DIR]
        [--model PATH.onnx|PATH.keras] [--paths FILE ...] [--json OUT.json] [--generate-only]

Data: ``--days`` files of ``--hours`` (default 24) of 3-component (HHE, HHN, HHZ) 100 Hz data of
one synthetic station (``SY.BENCH``), consecutive in time, made with
:func:`picker.training.synthetic.synthetic_continuous`: coloured background noise (microseism + 1/f) and
an event about every 10 minutes (Brune-spectrum P and S, S-P 0.4-15 s, P at 20 dB over the
noise). Samples are stored as int32 counts (1000 counts = the noise std) in STEIM2-compressed
miniSEED, 4096-byte records, as a real archive would be (``--encoding FLOAT32`` stores float32
instead). A "long file" holds the same days merged into one file, and a 1-minute file measures
the fixed start-up cost. Files are made once per ``--workdir`` and reused (a manifest records the
parameters); ``--paths`` measures existing files instead (then there is no long file).

Each measurement runs ``python -m picker.cli ...`` as a whole new process and reaps it with
``os.wait4``: wall time, user+system CPU time and peak RSS of exactly that process.
``--repeat N`` runs all measurements N times in rounds (a, b, c, a, b, c, ...) and reports the
medians. Measured:

* ``picker --help`` and ``python -c "import picker.prediction.predict"`` (start-up without TensorFlow);
* ``picker predict`` on the 1-minute file (start-up: imports, model load, first chunk);
* ``picker predict`` on one station-day;
* ``picker predict`` on all days in one call (the archive);
* ``picker predict`` on the long file (time should grow linearly, peak memory should not grow).

``--model`` picks the model; without it the bundled model is used when installed (its ONNX
export, which ``picker predict`` runs by default), else an untrained stand-in of the default
size (:func:`standin_model`: same layers and compute, its noise logit biased so that it rarely
picks, as a trained model on quiet data) is exported to the work folder. Picks are counted as a sanity check only. Prints Markdown tables; ``--json`` also
writes every run.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import (
    Measurement,
    machine_info,
    machine_line,
    markdown_table,
    measurement_dict,
    median_measurement,
    run_timed,
    warn_if_busy,
    write_json,
)

SAMPLING_RATE_HZ = 100.0
#: Counts per unit of the synthetic data (the background noise has unit std).
COUNTS_PER_UNIT = 1000.0
NETWORK, STATION = "SY", "BENCH"
START = "2024-01-01T00:00:00"


# ----------------------------------------------------------------------------- data


def write_station_file(
    path: str | Path,
    start,
    duration_s: float,
    *,
    seed: int = 0,
    encoding: str = "STEIM2",
    network: str = NETWORK,
    station: str = STATION,
) -> list[tuple[str, str]]:
    """Write ``duration_s`` of synthetic 3-component 100 Hz data of one station as miniSEED.

    Args:
        path: output file.
        start: start time (anything ``obspy.UTCDateTime`` takes).
        encoding: ``STEIM2`` (int32 counts, ``COUNTS_PER_UNIT`` per noise std) or ``FLOAT32``.

    Returns:
        The true picks ``[(phase, ISO time), ...]`` sorted by time.
    """
    from obspy import UTCDateTime

    from picker.training.synthetic import synthetic_continuous

    encoding = encoding.upper()
    if encoding not in ("STEIM2", "FLOAT32"):
        raise ValueError(f"encoding must be STEIM2 or FLOAT32, got {encoding!r}")
    rng = np.random.default_rng(seed)
    stream, picks = synthetic_continuous(
        duration_s,
        SAMPLING_RATE_HZ,
        rng=rng,
        start_time=UTCDateTime(start),
        network=network,
        station=station,
    )
    for trace in stream:
        if encoding == "STEIM2":
            trace.data = np.round(trace.data.astype(np.float64) * COUNTS_PER_UNIT).astype(np.int32)
        else:
            trace.data = trace.data.astype(np.float32)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stream.write(str(path), format="MSEED", encoding=encoding, reclen=4096)
    return [(phase, str(time)) for phase, time in picks]


def merge_files(paths: list[Path], output: Path, encoding: str = "STEIM2") -> None:
    """Write the traces of ``paths`` (consecutive files of one station) merged into one file."""
    import obspy

    stream = obspy.Stream()
    for path in paths:
        stream += obspy.read(str(path))
    stream.merge(method=0)
    if any(np.ma.isMaskedArray(tr.data) for tr in stream):
        raise ValueError(f"{paths}: the files are not contiguous")
    stream.write(str(output), format="MSEED", encoding=encoding.upper(), reclen=4096)


def make_dataset(workdir: Path, days: int, hours: float, encoding: str, seed: int = 0) -> dict:
    """Make (or reuse) the benchmark files in ``workdir``; return the manifest.

    Manifest keys: ``day_files`` (one per day, consecutive), ``long_file`` (all days in one
    file, None for a single day), ``tiny_file`` (1 minute), ``station_days_per_file`` and the
    parameters. Files are remade when the parameters differ from those in the manifest.
    """
    from obspy import UTCDateTime

    workdir.mkdir(parents=True, exist_ok=True)
    params = {"days": days, "hours": hours, "encoding": encoding.upper(), "seed": seed}
    manifest_path = workdir / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        files = manifest["day_files"] + [manifest["tiny_file"]]
        files += [manifest["long_file"]] if manifest["long_file"] else []
        if manifest.get("params") == params and all(Path(f).exists() for f in files):
            return manifest
    data = workdir / "data"
    shutil.rmtree(data, ignore_errors=True)
    duration_s = hours * 3600.0
    if duration_s < 60:
        raise ValueError(f"hours must be at least 1 minute (1/60), got {hours}")
    start = UTCDateTime(START)
    day_files, truth = [], []
    for day in range(days):
        t0 = start + day * duration_s
        path = data / "days" / f"{NETWORK}.{STATION}.{t0.strftime('%Y.%j.%H%M%S')}.mseed"
        picks = write_station_file(path, t0, duration_s, seed=seed + day, encoding=encoding)
        truth += [(path.name, phase, time) for phase, time in picks]
        day_files.append(str(path))
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)", file=sys.stderr)
    long_file = None
    if days > 1:
        long_path = data / "long" / f"{NETWORK}.{STATION}.{days}x{hours:g}h.mseed"
        long_path.parent.mkdir(parents=True, exist_ok=True)
        merge_files([Path(p) for p in day_files], long_path, encoding)
        long_file = str(long_path)
        print(f"wrote {long_path} ({long_path.stat().st_size / 2**20:.1f} MiB)", file=sys.stderr)
    tiny = data / "tiny" / f"{NETWORK}.TINY.mseed"
    write_station_file(tiny, start, 60.0, seed=seed + 1000, encoding=encoding, station="TINY")
    with open(data / "truth_picks.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["source", "phase", "time"])
        writer.writerows(truth)
    manifest = {
        "params": params,
        "day_files": day_files,
        "long_file": long_file,
        "tiny_file": str(tiny),
        "station_days_per_file": hours / 24.0,
        "truth_picks": str(data / "truth_picks.csv"),
    }
    from picker.io.base import json_text  # strict JSON: NaN -> null

    manifest_path.write_text(json_text(manifest, indent=2) + "\n")
    return manifest


# ----------------------------------------------------------------------------- model


def bundled_model_path() -> Path:
    """Where the bundled model's ONNX export lives: what ``picker predict`` runs by default
    (computed without importing TensorFlow)."""
    import picker

    return Path(picker.__file__).resolve().parent / "models" / "bundled" / "picker_default.onnx"


#: Logit bias of the noise class in the untrained stand-in model (see :func:`standin_model`).
STANDIN_NOISE_BIAS = 8.0


def standin_model():
    """An untrained default-size model (``build_model(ModelConfig())``) that rarely picks.

    Same layers, so the same compute as the trained model; its ``logits`` bias favours noise by
    :data:`STANDIN_NOISE_BIAS`, because random weights put P or S above 0.5 thousands of times a
    day, and pick extraction would then cost far more than with a real model.
    """
    from picker.models.unet import build_model

    model = build_model()
    layer = model.get_layer("logits")
    kernel, bias = layer.get_weights()
    bias[:] = 0.0
    bias[0] = STANDIN_NOISE_BIAS
    layer.set_weights([kernel, bias])
    return model


def resolve_model(model: str | None, workdir: Path, python: str = sys.executable) -> str:
    """``model``, else the bundled model, else :func:`standin_model` saved in ``workdir``."""
    if model:
        return str(model)
    bundled = bundled_model_path()
    if bundled.exists():
        return str(bundled)
    path = workdir / "untrained_standin.onnx"  # run like the bundled model: ONNX Runtime
    if not path.exists():
        code = (
            f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
            "from continuous_day import standin_model; "
            "from picker.models.onnx_export import export_onnx; "
            f"export_onnx(standin_model(), {str(path)!r})"
        )
        run_timed([python, "-c", code], log_path=workdir / "build_model.log")
        print(f"no bundled model: using the untrained stand-in model {path}", file=sys.stderr)
    return str(path)


# ----------------------------------------------------------------------------- measurements


def plan(
    manifest: dict, model: str, out: Path, python: str = sys.executable, skip=()
) -> list[dict]:
    """The measurements: name, what, command, station-days and the picks file (if any)."""
    picker = [python, "-m", "picker.cli"]
    per_file = manifest["station_days_per_file"]
    days = manifest["day_files"]

    def predict(name, what, paths, station_days):
        picks = out / f"{name}.csv"
        cmd = [*picker, "predict", *paths, "-o", str(picks), "--model", model]
        return {
            "name": name,
            "what": what,
            "cmd": cmd,
            "station_days": station_days,
            "picks": picks,
        }

    span = f"{per_file * 24:g} h" if per_file != 1 else "1 station-day"
    items = [
        {"name": "help", "what": "`picker --help`", "cmd": [*picker, "--help"]},
        {
            "name": "import",
            "what": '`python -c "import picker.prediction.predict"`',
            "cmd": [python, "-c", "import picker.prediction.predict"],
        },
        predict("tiny", "predict, 1-minute file (start-up)", [manifest["tiny_file"]], 0.0),
        predict("day", f"predict, 1 file, {span}", days[:1], per_file),
    ]
    if len(days) > 1:
        items.append(
            predict(
                "archive",
                f"predict, {len(days)} files x {span}, one call",
                days,
                per_file * len(days),
            )
        )
    if manifest.get("long_file"):
        items.append(
            predict(
                "long",
                f"predict, 1 file of {len(days)} x {span}",
                [manifest["long_file"]],
                per_file * len(days),
            )
        )
    for item in items:
        item.setdefault("station_days", 0.0)
        item.setdefault("picks", None)
    return [item for item in items if item["name"] not in set(skip)]


def count_picks(path: Path | None) -> int | None:
    if path is None or not Path(path).exists():
        return None
    with open(path, newline="") as f:
        return max(sum(1 for _ in f) - 1, 0)


def run_plan(items: list[dict], repeat: int, logs: Path) -> dict[str, list[Measurement]]:
    """Run every item ``repeat`` times, in rounds; return the runs per name."""
    logs.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[Measurement]] = {item["name"]: [] for item in items}
    for round_ in range(repeat):
        for item in items:
            m = run_timed(item["cmd"], log_path=logs / f"{item['name']}.{round_}.log")
            runs[item["name"]].append(m)
            print(
                f"[{round_ + 1}/{repeat}] {item['name']}: {m.wall_s:.2f} s wall, "
                f"{m.cpu_s:.2f} s CPU, {m.max_rss_mib:.0f} MiB",
                file=sys.stderr,
            )
    return runs


def summarise(items: list[dict], runs: dict[str, list[Measurement]]) -> list[dict]:
    """One row per item with the median run and the throughput."""
    rows = []
    for item in items:
        m = median_measurement(runs[item["name"]])
        days = item["station_days"]
        rows.append(
            {
                "name": item["name"],
                "what": item["what"],
                "station_days": days,
                "median": measurement_dict(m),
                "runs": [measurement_dict(r) for r in runs[item["name"]]],
                "station_days_per_wall_hour": days * 3600 / m.wall_s if days else None,
                "station_days_per_cpu_hour": days * 3600 / m.cpu_s if days and m.cpu_s else None,
                "picks": count_picks(item["picks"]),
                "command": " ".join(item["cmd"]),
            }
        )
    return rows


def scaling(rows: list[dict]) -> list[tuple[str, str, str]]:
    """Ratios against the one-file run: expected (linear time, flat memory) vs measured."""
    by_name = {row["name"]: row for row in rows}
    day = by_name.get("day")
    tiny = by_name.get("tiny")
    out = []
    if day is None:
        return out
    start_s = tiny["median"]["wall_s"] if tiny else 0.0
    for name in ("archive", "long"):
        row = by_name.get(name)
        if row is None:
            continue
        n = row["station_days"] / day["station_days"]
        wall = row["median"]["wall_s"] / day["median"]["wall_s"]
        measured = f"{wall:.2f}"
        day_net = day["median"]["wall_s"] - start_s
        if tiny and day_net > 0.2 * day["median"]["wall_s"]:  # else the day is mostly start-up
            net = (row["median"]["wall_s"] - start_s) / day_net
            measured += f" ({net:.2f} without start-up)"
        rss = row["median"]["max_rss_mib"] / day["median"]["max_rss_mib"]
        out.append((f"{name} / day: wall time", f"{n:g}", measured))
        out.append((f"{name} / day: peak RSS", "1", f"{rss:.2f}"))
    return out


def report(info: dict, rows: list[dict], repeat: int, manifest: dict, model: str) -> str:
    lines = [
        machine_line(info),
        f"data: {manifest.get('params')}; model: {model}; median of {repeat} run(s)",
        "",
        markdown_table(
            [
                "measurement",
                "station-days",
                "wall s",
                "CPU s",
                "CPU / wall",
                "peak RSS MiB",
                "station-days / wall h",
                "station-days / CPU h",
                "picks",
            ],
            [
                (
                    row["what"],
                    f"{row['station_days']:.3g}",
                    row["median"]["wall_s"],
                    row["median"]["cpu_s"],
                    row["median"]["cpu_s"] / row["median"]["wall_s"],
                    row["median"]["max_rss_mib"],
                    _maybe(row["station_days_per_wall_hour"]),
                    _maybe(row["station_days_per_cpu_hour"]),
                    "-" if row["picks"] is None else row["picks"],
                )
                for row in rows
            ],
        ),
    ]
    ratios = scaling(rows)
    if ratios:
        lines += ["", markdown_table(["ratio", "expected", "measured"], ratios)]
    return "\n".join(lines)


def _maybe(value):
    return "-" if value is None else float(value)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=7, help="files (station-days) in the archive")
    parser.add_argument("--hours", type=float, default=24.0, help="hours per file (default 24)")
    parser.add_argument("--encoding", default="STEIM2", choices=("STEIM2", "FLOAT32"))
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--workdir", help="folder for data, picks and logs (default: temporary)")
    parser.add_argument(
        "--model", help=".onnx or .keras model (default: bundled, else untrained default)"
    )
    parser.add_argument(
        "--paths", nargs="+", help="existing one-day files to measure instead of synthetic ones"
    )
    parser.add_argument(
        "--skip", action="append", default=[], help="skip a measurement (help, import, ...)"
    )
    parser.add_argument("--json", help="also write the results (every run) to this JSON file")
    parser.add_argument(
        "--generate-only", action="store_true", help="make the files, print the manifest, stop"
    )
    args = parser.parse_args(argv)
    if args.days < 1 or args.repeat < 1 or not args.hours > 0:
        parser.error("--days and --repeat must be >= 1 and --hours > 0")

    info = machine_info()
    with tempfile.TemporaryDirectory(prefix="picker-bench-") as tmp:
        workdir = Path(args.workdir or tmp).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        if args.paths:
            tiny = workdir / "data" / "tiny" / f"{NETWORK}.TINY.mseed"
            if not tiny.exists():
                write_station_file(tiny, START, 60.0, seed=1000, encoding=args.encoding)
            manifest = {
                "params": {"paths": args.paths},
                "day_files": [str(Path(p).resolve()) for p in args.paths],
                "long_file": None,
                "tiny_file": str(tiny),
                "station_days_per_file": 1.0,
            }
        else:
            manifest = make_dataset(workdir, args.days, args.hours, args.encoding)
        if args.generate_only:
            print(json.dumps(manifest, indent=2))
            return 0
        model = resolve_model(args.model, workdir)
        warn_if_busy(info)
        items = plan(manifest, model, workdir / "picks", skip=args.skip)
        runs = run_plan(items, args.repeat, workdir / "logs")
        rows = summarise(items, runs)
        print()
        print(report(info, rows, args.repeat, manifest, model))
        if args.json:
            write_json(
                args.json,
                {"machine": info, "manifest": manifest, "model": model, "results": rows},
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
