"""Shared helpers of the benchmark scripts: timing whole processes, the machine, tables.

Standard library only (the benchmarks' parent process stays light; TensorFlow is loaded only in
the processes being measured).

Each measured command runs in a fresh process (:func:`run_timed`), reaped with ``os.wait4``,
which returns the resource usage of exactly that process (and of any children it waited for):
user and system CPU time and the peak resident set size (``ru_maxrss``, KiB on Linux, bytes on
macOS). Wall time is ``time.perf_counter`` from spawn to exit.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path


class CommandFailed(RuntimeError):
    """A measured command exited non-zero (message holds the command and its stderr tail)."""


@dataclass
class Measurement:
    """One run of one command.

    Attributes:
        wall_s: elapsed seconds from spawn to exit.
        user_s, sys_s: CPU seconds of the child (all its threads) in user and kernel mode.
        max_rss_mib: the child's peak resident set size, MiB.
        returncode: the child's exit status.
    """

    wall_s: float
    user_s: float
    sys_s: float
    max_rss_mib: float
    returncode: int = 0

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


#: Runs the measured command from a small, clean process. A child reaped by ``wait4`` reports as
#: peak RSS the larger of its own peak and the peak of the process it was spawned from (Linux
#: keeps the pre-``exec`` high-water mark), so spawning straight from a benchmark that holds
#: gigabytes of generated data would inflate every number. This launcher (``python -I -S``,
#: about 8 MiB) spawns the command, reaps it and writes its usage as JSON to ``argv[1]``.
LAUNCHER = r"""
import json, os, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(out, "w") as f:
    json.dump({"wall_s": wall, "user_s": usage.ru_utime, "sys_s": usage.ru_stime,
               "maxrss": usage.ru_maxrss, "returncode": os.waitstatus_to_exitcode(status)}, f)
"""


def run_timed(
    cmd: Sequence[str],
    *,
    log_path: str | os.PathLike | None = None,
    env: dict | None = None,
    cwd: str | os.PathLike | None = None,
    check: bool = True,
) -> Measurement:
    """Run ``cmd`` as a new process; return its wall time, CPU time and peak RSS.

    The command is spawned by :data:`LAUNCHER`, which reaps it with ``os.wait4`` (resources of
    exactly that process and the children it waited for; peak RSS has a floor of the launcher's
    ~8 MiB).

    Args:
        cmd: the command (no shell); ``cmd[0]`` is looked up on ``PATH``.
        log_path: file that receives the child's stdout and stderr (discarded when None).
        env: the child's environment (the current one when None).
        check: raise :class:`CommandFailed` when the exit status is not 0.
    """
    with tempfile.TemporaryDirectory(prefix="bench-usage-") as tmp:
        usage_path = Path(tmp) / "usage.json"
        launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(usage_path), *map(str, cmd)]
        with open(log_path or os.devnull, "wb") as log:
            subprocess.run(
                launcher,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                check=True,
            )
        usage = json.loads(usage_path.read_text())
    rss_unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    result = Measurement(
        wall_s=usage["wall_s"],
        user_s=usage["user_s"],
        sys_s=usage["sys_s"],
        max_rss_mib=usage["maxrss"] * rss_unit / 2**20,
        returncode=usage["returncode"],
    )
    if check and result.returncode != 0:
        tail = ""
        if log_path is not None:
            lines = Path(log_path).read_text(errors="replace").strip().splitlines()
            tail = "\n".join(lines[-15:])
        raise CommandFailed(f"exit {result.returncode}: {' '.join(map(str, cmd))}\n{tail}")
    return result


def median_measurement(runs: Sequence[Measurement]) -> Measurement:
    """Field-by-field median of several runs of one command."""
    if not runs:
        raise ValueError("no runs to summarise")
    return Measurement(
        wall_s=statistics.median(r.wall_s for r in runs),
        user_s=statistics.median(r.user_s for r in runs),
        sys_s=statistics.median(r.sys_s for r in runs),
        max_rss_mib=statistics.median(r.max_rss_mib for r in runs),
        returncode=max(r.returncode for r in runs),
    )


def measurement_dict(m: Measurement) -> dict:
    """A JSON-ready dict of ``m`` including ``cpu_s``."""
    return {**asdict(m), "cpu_s": m.cpu_s}


# ----------------------------------------------------------------------------- machine


def _lscpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cpuinfo_field(name: str) -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_flags() -> set[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty set elsewhere)."""
    return set(_cpuinfo_field("flags").split())


def cpu_mhz() -> float | None:
    """The nominal clock from ``/proc/cpuinfo`` (``cpu MHz``), None when unknown."""
    text = _cpuinfo_field("cpu MHz")
    try:
        return float(text)
    except ValueError:
        return None


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except (OSError, ValueError):
        pass
    return None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def machine_info(packages: Sequence[str] = ("tensorflow", "keras", "numpy", "obspy")) -> dict:
    """CPU model, cores, memory, clock, Python and package versions (no heavy imports)."""
    ram = memory_gib()
    mhz = cpu_mhz()
    return {
        "cpu": _lscpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(ram, 1) if ram else None,
        "cpu_mhz": mhz,
        "avx512f": "avx512f" in cpu_flags(),
        "python": platform.python_version(),
        **{package: _version(package) for package in packages},
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def machine_line(info: dict) -> str:
    """One Markdown line describing the machine."""
    versions = ", ".join(
        f"{k} {v}" for k, v in info.items() if k in ("python", "tensorflow", "keras", "numpy")
    )
    return (
        f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB; {versions}; "
        f"load average at start {info['load_average_1min']}"
    )


def warn_if_busy(info: dict, stream=sys.stderr) -> None:
    """Warn when the 1-minute load average says another job is using the CPU."""
    load = info.get("load_average_1min")
    if load is not None and load > 0.5:
        print(
            f"WARNING: load average {load} before the benchmark: other processes use the CPU; "
            "numbers will be pessimistic",
            file=stream,
        )


# ----------------------------------------------------------------------------- output


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats are written with 3 significant decimals."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: str | os.PathLike, payload: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    from picker.io.base import json_text

    Path(path).write_text(json_text(payload, indent=2, default=str) + "\n")  # no NaN


# ----------------------------------------------------------------------------- published models

#: The published pickers a ``--pretrained DIR`` folder holds: (label in the tables, ``picker
#: import-model`` kind, source inside DIR).
PUBLISHED_MODELS = (
    ("PhaseNet", "phasenet", "phasenet"),
    ("EQT", "eqtransformer", "eqtransformer/EqT_original.h5"),
)


def import_published(
    pretrained: str | os.PathLike,
    folder: str | os.PathLike,
    labels: Sequence[str] = ("PhaseNet", "EQT"),
    stream=None,
) -> dict[str, Path]:
    """The published models of ``pretrained`` imported as ONNX files in ``folder``, once.

    Each model of :data:`PUBLISHED_MODELS` named in ``labels`` is imported with
    ``python -m picker.cli import-model KIND SOURCE -o folder/KIND.keras --onnx folder/KIND.onnx``
    (a separate process: this module stays free of TensorFlow) unless ``folder/KIND.onnx``
    already exists, so scripts sharing a folder import once. A missing ``pretrained`` folder or
    source is reported on ``stream`` (default stderr) and skipped (so are failed imports, with their last line).

    Returns:
        ``{label: Path of the .onnx file}`` for the models available, in ``labels`` order.
    """
    pretrained, folder = Path(pretrained), Path(folder)
    stream = stream or sys.stderr
    out: dict[str, Path] = {}
    if not pretrained.is_dir():
        print(f"--pretrained {pretrained}: not found, published models skipped", file=stream)
        return out
    folder.mkdir(parents=True, exist_ok=True)
    for label, kind, source in PUBLISHED_MODELS:
        if label not in labels:
            continue
        onnx = folder / f"{kind}.onnx"
        if not onnx.is_file():
            if not (pretrained / source).exists():
                print(f"{pretrained / source}: not found, {label} skipped", file=stream)
                continue
            keras = folder / f"{kind}.keras"
            cmd = [sys.executable, "-m", "picker.cli", "import-model", kind]
            cmd += [
                str(pretrained / source),
                "-o",
                str(keras),
                "--onnx",
                str(onnx),
                "-q",
                "--force",
            ]
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            if done.returncode != 0 or not onnx.is_file():
                tail = (done.stderr.strip().splitlines() or ["no message"])[-1]
                print(f"picker import-model {kind} failed, {label} skipped: {tail}", file=stream)
                continue
        out[label] = onnx
    return out


def add_comparison_arguments(parser) -> None:
    """``--pretrained DIR``, ``--compare MODEL ...`` and ``--models-dir DIR``: models scored side
    by side with the main one, on the same data with the same scorer (:func:`comparison_models`).
    """
    parser.add_argument(
        "--pretrained",
        metavar="DIR",
        help="also run the published PhaseNet (DIR/phasenet/) and EQTransformer "
        "(DIR/eqtransformer/EqT_original.h5), imported with picker import-model (ONNX), side "
        "by side; skipped when DIR is absent",
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        default=[],
        metavar="MODEL",
        help="also run these .onnx / .keras models side by side (labelled by file name)",
    )
    parser.add_argument(
        "--models-dir",
        metavar="DIR",
        help="where --pretrained models are imported, and reused from when already there "
        "(default: a temporary folder)",
    )


def comparison_models(args, labels: Sequence[str] = ("PhaseNet", "EQT")) -> list[tuple[str, str]]:
    """``(label, model path)`` of the models :func:`add_comparison_arguments` asked for:
    ``--pretrained`` ones (those in ``labels``) first, then ``--compare`` ones."""
    out: list[tuple[str, str]] = []
    if args.pretrained:
        folder = args.models_dir
        if folder is None:
            import atexit
            import shutil

            folder = tempfile.mkdtemp(prefix="picker-imported-")
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
        out += [(k, str(v)) for k, v in import_published(args.pretrained, folder, labels).items()]
    for path in args.compare:
        if not Path(path).is_file():
            raise SystemExit(f"--compare {path}: not found")
        out.append((Path(path).stem, str(path)))
    return out
