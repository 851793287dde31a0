"""picker vs SeisBench PhaseNet on the same files, alternating runs (driver of compare_seisbench.sh).

    python benchmarks/compare_seisbench_runs.py --seisbench-python VENV/bin/python
        [--days 7] [--hours 24] [--repeat 3] [--workdir DIR] [--model PATH.onnx|PATH.keras]
        [--threshold T] [--paths FILE ...] [--json OUT.json]

Use ``benchmarks/compare_seisbench.sh``, which makes the SeisBench environment first and then
runs this with the project's Python. Cases: one file (one station-day) and the archive (all
``--days`` files in one call), made by ``continuous_day.py`` in ``--workdir`` (shared with it:
the files are reused) or given with ``--paths``.

Each case runs ``seisbench, picker, seisbench, picker, ...`` ``--repeat`` times, each run a
whole new process (``benchmarks/seisbench_phasenet.py`` in the SeisBench environment,
``python -m picker.cli predict`` in this one), timed like ``continuous_day.py``: wall time,
user+system CPU time and peak RSS of that process. The files are read once beforehand so both
start with them in the page cache. Reports the medians and, per case, picker / SeisBench.

Both models run untrained unless given weights (``--model`` for picker; SeisBench weights
cannot be downloaded here): the compute is that of the real models. Thresholds are each tool's
default (picker 0.5, SeisBench 0.3) unless ``--threshold`` sets both.

``--pretrained DIR`` adds a third tool to every round, ``picker PhaseNet``: ``picker predict
--model`` with the published PhaseNet imported by ``picker import-model ... --onnx`` (into
``WORKDIR/imported``, once), the same network as SeisBench's, so the ratio compares the two
runtimes on the same work; ``--compare MODEL ...`` adds further picker runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import (
    add_comparison_arguments,
    comparison_models,
    machine_info,
    machine_line,
    markdown_table,
    measurement_dict,
    median_measurement,
    run_timed,
    warn_if_busy,
    write_json,
)
from continuous_day import count_picks, make_dataset, resolve_model

HERE = Path(__file__).resolve().parent
TOOLS = ("seisbench", "picker")


def commands(
    tool: str, paths: list[str], out: Path, *, seisbench_python: str, model: str, threshold=None
) -> list[str]:
    """The command line of one run of ``tool`` on ``paths`` writing picks to ``out``.

    ``tool``: ``"seisbench"``, or ``"picker"`` / ``"picker <label>"`` (``picker predict`` with
    ``--model model``: the main model or a comparison model).
    """
    if tool == "seisbench":
        cmd = [seisbench_python, str(HERE / "seisbench_phasenet.py"), *paths, "-o", str(out)]
    elif tool == "picker" or tool.startswith("picker "):
        cmd = [sys.executable, "-m", "picker.cli", "predict", *paths, "-o", str(out)]
        cmd += ["--model", model]
    else:
        raise ValueError(f"tool must be one of {TOOLS} or 'picker LABEL', got {tool!r}")
    if threshold is not None:
        cmd += ["--threshold", str(threshold)]
    return cmd


def warm_cache(paths: list[str]) -> None:
    """Read every file once, so that no run pays for the first read from disk."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seisbench-python", required=True, help="python of the SeisBench venv")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--encoding", default="STEIM2", choices=("STEIM2", "FLOAT32"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", help="shared with continuous_day.py (default: temporary)")
    parser.add_argument(
        "--model", help="picker .onnx or .keras model (default as in continuous_day.py)"
    )
    parser.add_argument("--threshold", type=float, help="P and S threshold for both tools")
    parser.add_argument("--paths", nargs="+", help="existing one-day files instead of synthetic")
    parser.add_argument("--json", help="also write every run to this JSON file")
    add_comparison_arguments(parser)
    args = parser.parse_args(argv)
    if args.days < 1 or args.repeat < 1 or not args.hours > 0:
        parser.error("--days and --repeat must be >= 1 and --hours > 0")

    info = machine_info(("tensorflow", "numpy", "obspy"))
    info["seisbench_python"] = args.seisbench_python
    with tempfile.TemporaryDirectory(prefix="picker-bench-") as tmp:
        workdir = Path(args.workdir or tmp).resolve()
        if args.paths:
            files, per_file = [str(Path(p).resolve()) for p in args.paths], 1.0
        else:
            manifest = make_dataset(workdir, args.days, args.hours, args.encoding)
            files, per_file = manifest["day_files"], manifest["station_days_per_file"]
        model = resolve_model(args.model, workdir)
        if args.pretrained and args.models_dir is None:  # imported once per --workdir
            args.models_dir = str(workdir / "imported")
        # tool -> picker model: the main one, then the imported PhaseNet and --compare models
        models = {"picker": model} | {
            f"picker {label}": path for label, path in comparison_models(args, ("PhaseNet",))
        }
        tools = ("seisbench", *models)
        cases = [("day", files[:1])] + ([("archive", files)] if len(files) > 1 else [])
        warm_cache(files)
        warn_if_busy(info)
        out, logs = workdir / "compare" / "picks", workdir / "compare" / "logs"
        out.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        results = []
        for case, paths in cases:
            runs = {tool: [] for tool in tools}
            for round_ in range(args.repeat):
                for tool in tools:
                    picks = out / f"{case}.{tool.replace(' ', '_')}.csv"
                    cmd = commands(
                        tool,
                        paths,
                        picks,
                        seisbench_python=args.seisbench_python,
                        model=models.get(tool, ""),
                        threshold=args.threshold,
                    )
                    log = logs / f"{case}.{tool.replace(' ', '_')}.{round_}.log"
                    m = run_timed(cmd, log_path=log)
                    runs[tool].append(m)
                    print(
                        f"[{round_ + 1}/{args.repeat}] {case} {tool}: {m.wall_s:.2f} s wall, "
                        f"{m.cpu_s:.2f} s CPU, {m.max_rss_mib:.0f} MiB",
                        file=sys.stderr,
                    )
            for tool in tools:
                m = median_measurement(runs[tool])
                picks = out / f"{case}.{tool.replace(' ', '_')}.csv"
                results.append(
                    {
                        "case": case,
                        "tool": tool,
                        "station_days": per_file * len(paths),
                        "median": measurement_dict(m),
                        "runs": [measurement_dict(r) for r in runs[tool]],
                        "picks": count_picks(picks),
                        "command": " ".join(
                            commands(
                                tool,
                                paths,
                                picks,
                                seisbench_python=args.seisbench_python,
                                model=models.get(tool, ""),
                                threshold=args.threshold,
                            )
                        ),
                    }
                )
        print()
        print(report(info, results, args.repeat, models))
        if args.json:
            write_json(args.json, {"machine": info, "models": models, "results": results})
    return 0


def report(info: dict, results: list[dict], repeat: int, models: dict[str, str]) -> str:
    """Markdown: the machine, the medians per case and tool, and each picker run / SeisBench.

    ``models``: picker tool name (``"picker"``, ``"picker PhaseNet"``) -> its model path.
    """
    rows, ratios = [], []
    by_key = {(r["case"], r["tool"]): r for r in results}
    for r in results:
        m = r["median"]
        rows.append(
            (
                r["case"],
                r["tool"],
                f"{r['station_days']:.3g}",
                m["wall_s"],
                m["cpu_s"],
                m["max_rss_mib"],
                r["station_days"] * 3600 / m["wall_s"],
                "-" if r["picks"] is None else r["picks"],
            )
        )
    for case in dict.fromkeys(r["case"] for r in results):
        s = by_key[(case, "seisbench")]["median"]
        for tool in models:
            p = by_key[(case, tool)]["median"]
            ratios.append(
                (
                    case,
                    tool,
                    p["wall_s"] / s["wall_s"],
                    p["cpu_s"] / s["cpu_s"],
                    p["max_rss_mib"] / s["max_rss_mib"],
                )
            )
    return "\n".join(
        [
            machine_line(info),
            "; ".join(f"{tool}: {path}" for tool, path in models.items())
            + f"; SeisBench PhaseNet (untrained); median of {repeat} alternating run(s)",
            "",
            markdown_table(
                [
                    "case",
                    "tool",
                    "station-days",
                    "wall s",
                    "CPU s",
                    "peak RSS MiB",
                    "station-days / wall h",
                    "picks",
                ],
                rows,
            ),
            "",
            markdown_table(
                ["case", "tool", "tool / SeisBench wall", "CPU", "peak RSS"],
                [(c, t, f"{w:.2f}", f"{cpu:.2f}", f"{rss:.2f}") for c, t, w, cpu, rss in ratios],
            ),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
