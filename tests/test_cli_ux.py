"""A command line that behaves: progress bars, quiet third-party libraries, typo suggestions,
flag names in errors, one name per option, help texts, model diagrams, train's output folder,
sweep ties, undefined scores and evaluate without reference picks."""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime

from picker.cli import main
from picker.cli.program import build_parser
from picker.io import write_records
from picker.training.synthetic import synthetic_records

ROOT = Path(__file__).resolve().parents[1]
BAR = re.compile(r"\d+/\d+ \[\d\d:\d\d<\d\d:\d\d, +[\d.?]+ ?(s/file|file/s)")


def noise_mseed(path: Path, station: str, seconds: float = 60.0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    n = int(seconds * 100)
    header = {"network": "XX", "station": station, "sampling_rate": 100.0}
    traces = [
        Trace(rng.normal(0, 1, n).astype(np.float32), header={**header, "channel": f"HH{c}"})
        for c in "ENZ"
    ]
    for trace in traces:
        trace.stats.starttime = UTCDateTime(2024, 3, 1)
    Stream(traces).write(str(path), format="MSEED", encoding="FLOAT32")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ux")
    mseed = [noise_mseed(root / f"day{i}.mseed", f"S{i}", seed=i) for i in range(3)]
    write_records(synthetic_records(3, n_samples=3001, seed=5), root / "npz", "npz")
    return {"root": root, "mseed": mseed, "npz": root / "npz"}


def env_without_tf_settings() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return env | {"PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}


def run_on_a_terminal(args: list[str], timeout: float = 240.0) -> tuple[int, str]:
    """Run ``python -m picker.cli ARGS`` with stderr on a pseudo-terminal (120 columns);
    return the exit status and what it drew there."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    command = [sys.executable, "-m", "picker.cli", *args]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=slave, env=env_without_tf_settings()
    )
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return process.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def run_piped(args: list[str], timeout: float = 240.0) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "picker.cli", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env_without_tf_settings()
    )


# ----------------------------------------------------------------------------- progress bars


def command_args(command: str, data, out: Path) -> list[str]:
    mseed = [str(p) for p in data["mseed"]]
    if command == "predict":
        return ["predict", *mseed, "-o", str(out / "picks.csv")]
    if command == "evaluate":
        return ["evaluate", *(str(p) for p in sorted(data["npz"].glob("*.npz")))]
    if command == "convert":
        return ["convert", *mseed, "-o", str(out / "converted"), "--to", "npz"]
    return ["plot", *mseed, "-o", str(out / "figures"), "--no-predict"]


@pytest.mark.parametrize("command", ["predict", "evaluate", "convert", "plot"])
def test_progress_bar_with_rate_and_time_left_on_a_terminal(data, tmp_path, command):
    status, drawn = run_on_a_terminal(command_args(command, data, tmp_path))
    assert status == 0, drawn[-2000:]
    assert BAR.search(drawn), drawn[-2000:]  # e.g. "3/3 [00:01<00:00,  2.10file/s]"
    assert "3/3" in drawn
    assert not re.search(r"\[\d+/\d+\]", drawn)  # the old hand-written counter is gone


def test_no_progress_bar_with_quiet_or_when_stderr_is_a_pipe(data, tmp_path):
    args = command_args("predict", data, tmp_path)
    status, drawn = run_on_a_terminal([*args, "-q"])
    assert status == 0
    assert drawn == ""  # -q: not a line (the picks go to the file)
    piped = run_piped(args)
    assert piped.returncode == 0, piped.stderr
    assert not BAR.search(piped.stderr) and "\r" not in piped.stderr
    assert piped.stderr.splitlines()[-1] == "INFO: 3 file(s) done"


def test_train_draws_keras_progress_bar_only_on_a_terminal(monkeypatch):
    from picker.cli.train import fit_verbosity

    class Terminal:
        def __init__(self, tty: bool):
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.setattr(sys, "stdout", Terminal(True))
    assert fit_verbosity(quiet=False) == 1  # Keras' bar: steps, rate, time left
    assert fit_verbosity(quiet=True) == 0
    monkeypatch.setattr(sys, "stdout", Terminal(False))
    assert fit_verbosity(quiet=False) == 2  # a log file: one line per epoch


# ----------------------------------------------------------------------------- quiet libraries


def test_info_prints_no_tensorflow_or_cuda_chatter(tmp_path):
    diagram = tmp_path / "model.png"
    result = run_piped(["info", "--diagram", str(diagram), "-q"])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no oneDNN, cuInit, absl lines; -q: no info line either
    assert "Total params" in result.stdout
    loud = run_piped(["info", "--diagram", str(diagram)])
    assert loud.returncode == 0
    assert loud.stderr.startswith("INFO: wrote model diagram") and loud.stderr.count("\n") == 1


def test_ar_pick_output_from_c_is_silenced(monkeypatch, capfd):
    """ObsPy's ar_pick prints "Error in log calculation for f_err!" from C, past Python."""
    import obspy.signal.trigger

    from picker.evaluation.baselines import ar_aic_picks

    def noisy_ar_pick(*args, **kwargs):
        os.write(2, b"\nError in log calculation for f_err!\n")
        return 10.0, 15.0

    monkeypatch.setattr(obspy.signal.trigger, "ar_pick", noisy_ar_pick)
    data = np.random.default_rng(0).normal(0, 1, (3000, 3))
    assert ar_aic_picks(data, 100.0) == [("P", 1000, 1.0), ("S", 1500, 1.0)]
    os.write(2, b"still here\n")  # stderr works again afterwards
    assert capfd.readouterr().err == "still here\n"


NCEDC_WINDOW = Path("/work/shared/data/ncedc/phasenet_test/NC.BSG..EL.0091058.npz")


def test_ar_pick_is_silent_on_a_real_window_that_made_it_print(capfd):
    if not NCEDC_WINDOW.exists():
        pytest.skip(f"{NCEDC_WINDOW} not available")
    from picker.evaluation.baselines import ar_aic_picks
    from picker.io import read_records

    (record,) = read_records(NCEDC_WINDOW)
    ar_aic_picks(record.data, record.sampling_rate_hz)
    assert "f_err" not in capfd.readouterr().err


def test_damaged_miniseed_gives_one_warning_and_no_raw_obspy_warning(data, tmp_path):
    raw = bytearray(data["mseed"][0].read_bytes())
    raw[4096 : 4096 + 64] = b"\xff" * 64  # the second record's header overwritten
    bad = tmp_path / "damaged.mseed"
    bad.write_bytes(bytes(raw))
    result = run_piped(["predict", str(bad), "-o", str(tmp_path / "p.csv")])
    assert result.returncode == 0, result.stderr
    assert "InternalMSEEDWarning" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if not line.startswith("INFO: ")]
    assert len(warnings) == 1 and warnings[0].startswith(f"WARNING: {bad}: read with")


# ----------------------------------------------------------------------------- usage errors


def usage_error(args: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no usage block
    return err.strip()


def test_unknown_option_suggests_the_close_one(capsys, tmp_path):
    err = usage_error(
        ["predict", "x.mseed", "-o", str(tmp_path / "p.csv"), "--treshold", "0.4"], capsys
    )
    assert err == "picker predict: error: unknown option --treshold; did you mean --threshold?"
    err = usage_error(["merge", "a.csv", "-o", "b.csv", "--tolerence-s=0.1"], capsys)
    assert err.endswith("unknown option --tolerence-s; did you mean --tolerance-s?")
    err = usage_error(["info", "--nonsense"], capsys)
    assert err == "picker info: error: unknown option --nonsense; see picker info --help"


def test_unknown_command_or_choice_suggests_the_close_one(capsys):
    err = usage_error(["predcit", "x.mseed"], capsys)
    assert err.endswith("'predcit' is not one of convert, train, import-model, info, predict, "
                        "evaluate, plot, merge; did you mean predict?")  # fmt: skip
    err = usage_error(["convert", "x", "-o", "y", "--to", "mseeed"], capsys)
    assert err.endswith("did you mean mseed?")


@pytest.mark.parametrize(
    "args, message",
    [
        (["predict", "--threshold", "1.5"], "--threshold must be between 0 and 1, got 1.5"),
        (["predict", "--p-threshold", "-0.1"], "--p-threshold must be between 0 and 1, got -0.1"),
        (["predict", "--s-threshold", "2"], "--s-threshold must be between 0 and 1, got 2"),
        (["predict", "--chunk-s", "0"], "--chunk-s must be > 0, got 0"),
        (["predict", "--batch-size", "0"], "--batch-size must be > 0, got 0"),
        (["evaluate", "--threshold", "1.5"], "--threshold must be between 0 and 1, got 1.5"),
        (["evaluate", "--tolerance-s", "-1"], "--tolerance-s must be >= 0, got -1"),
        (["evaluate", "--tolerance", "-1"], "--tolerance-s must be >= 0, got -1"),
        (["plot", "--duration-s", "0"], "--duration-s must be > 0, got 0"),
    ],
)
def test_range_errors_name_the_flag(data, tmp_path, caplog, args, message):
    command, *options = args
    out = ["-o", str(tmp_path / ("picks.csv" if command == "predict" else "out"))]
    with caplog.at_level(logging.ERROR, logger="picker"):
        assert main([command, str(data["mseed"][0]), *out, *options]) == 2
    assert [r.getMessage() for r in caplog.records] == [message]
    assert "p_threshold" not in caplog.text


# ----------------------------------------------------------------------------- option names


@pytest.mark.parametrize(
    "args, dest, value",
    [
        (["evaluate", "x", "--tolerance-s", "0.2"], "tolerance_s", 0.2),
        (["evaluate", "x", "--tolerance", "0.2"], "tolerance_s", 0.2),
        (["merge", "x", "-o", "y", "--tolerance-s", "0.2"], "tolerance_s", 0.2),
        (["plot", "x", "-o", "y", "--duration-s", "30"], "duration_s", 30.0),
        (["plot", "x", "-o", "y", "--duration", "30"], "duration_s", 30.0),
        (["plot", "x", "-o", "y", "--reference", "r.csv"], "reference", "r.csv"),
        (["plot", "x", "-o", "y", "--picks", "r.csv"], "reference", "r.csv"),
        (["convert", "x", "-o", "y", "--to", "npz", "--reference", "r.csv"], "reference", "r.csv"),
        (["convert", "x", "-o", "y", "--to", "npz", "--picks", "r.csv"], "reference", "r.csv"),
        (["evaluate", "x", "--reference", "r.csv"], "reference", "r.csv"),
    ],
)
def test_one_name_per_concept_old_spellings_still_accepted(args, dest, value):
    assert getattr(build_parser().parse_args(args), dest) == value


def test_defaults_of_renamed_options():
    assert build_parser().parse_args(["evaluate", "x"]).tolerance_s == 0.1
    plot = build_parser().parse_args(["plot", "x", "-o", "y"])
    assert plot.duration_s is None and plot.reference is None
    assert build_parser().parse_args(["convert", "x", "-o", "y", "--to", "npz"]).reference is None


def help_text(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # one line: argparse wraps the text


@pytest.mark.parametrize(
    "command, description",
    [
        ("convert", "Convert waveform records between formats"),
        ("train", "Train a picker model as a YAML config says"),
        ("info", "Print a model's layers"),
        ("predict", "Pick P and S arrivals on waveform files"),
        ("evaluate", "Score the model on labelled"),
        ("plot", "One figure per window"),
        ("merge", "Merge picks files"),
    ],
)
def test_help_describes_the_command_and_quiet(command, description, capsys):
    text = help_text(command, capsys)
    assert description in text.split("options:")[0]
    assert "-q, --quiet print only warnings and errors: no progress bar" in text


def test_help_shows_defaults_and_the_new_names_only(capsys):
    evaluate = help_text("evaluate", capsys)
    assert "--tolerance-s S" in evaluate and "(default: 0.1)" in evaluate
    assert "--tolerance " not in evaluate.replace("--tolerance-s", "")
    assert "--threshold PROB P and S probability threshold (default: 0.5)" in evaluate
    convert = help_text("convert", capsys)
    assert "--reference PICKS" in convert and "--picks" not in convert
    assert "window length in seconds (default: 60.0)" in convert
    assert "(default: 1000)" in convert  # --records-per-shard
    plot = help_text("plot", capsys)
    assert "--duration-s S" in plot and "--duration " not in plot
    assert "--reference PICKS" in plot and "--picks" not in plot
    predict = help_text("predict", capsys)
    assert "1 for ONNX models" in predict and "(default 4)" not in predict
    assert "run again in float32" in predict and "about 1.1-1.2x faster" in predict
    assert "1.6x" not in predict  # the int8 network alone, before the float32 recheck
    assert "(default: 600)" in predict  # --chunk-s
    assert "(default: 0.05)" in help_text("merge", capsys)


def test_version_from_the_command_line():
    from picker import __version__

    result = run_piped(["--version"])
    assert (result.returncode, result.stdout.strip()) == (0, f"picker {__version__}")


# ----------------------------------------------------------------------------- info


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from picker.config import ModelConfig
    from picker.models.saving import save_model
    from picker.models.unet import build_model

    model = build_model(ModelConfig(filters=[4, 8], kernel_size=3, stride=2))
    return save_model(model, tmp_path_factory.mktemp("model") / "tiny.keras")


def test_diagram_is_a_picture_without_graphviz(tiny_model, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "pydot", None)  # import pydot fails
    monkeypatch.setitem(sys.modules, "pydotplus", None)
    diagram = tmp_path / "figs" / "model.png"
    with caplog.at_level(logging.INFO, logger="picker"):
        assert main(["info", str(tiny_model), "--diagram", str(diagram)]) == 0
    assert diagram.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not diagram.with_suffix(".txt").exists()
    assert any("drawn with matplotlib" in r.getMessage() for r in caplog.records)


def test_layer_graph_follows_the_skip_connections(tiny_model):
    from picker.models.diagram import layer_graph
    from picker.models.saving import load_model

    rows = {name: (kind, feeds) for name, kind, _, feeds in layer_graph(load_model(tiny_model))}
    concatenations = [feeds for kind, feeds in rows.values() if kind == "Concatenate"]
    assert concatenations and all(len(feeds) == 2 for feeds in concatenations)
    assert rows["waveform"][1] == []


def test_bare_info_writes_no_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["info", "-q"]) == 0
    assert "parameters:" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # no model_diagram.txt / .png left behind


def test_info_on_an_onnx_model(tmp_path, capsys):
    from picker.models.onnx_model import BUNDLED_ONNX

    diagram = tmp_path / "onnx.png"
    assert main(["info", str(BUNDLED_ONNX), "--diagram", str(diagram), "-q"]) == 0
    out = capsys.readouterr().out
    assert "not a .keras" not in out
    assert re.search(r"ONNX model .*: \d+ operators", out)
    assert re.search(r"parameters: [\d,]+", out)
    assert (  # the bundled model: PhaseNet's own input, windows every 20 s
        "input: 100 Hz, windows of 30 s each demeaned and divided by its std, no high-pass, "
        "run on windows overlapping by 33 %" in out
    )
    assert diagram.read_bytes()[:4] == b"\x89PNG"


# ----------------------------------------------------------------------------- train


@pytest.fixture
def fake_train(monkeypatch):
    """``picker.training.train.train`` replaced: records its call, writes a model.keras."""
    from picker.training import train as training

    calls = []

    def fake(cfg, output_dir, verbose=2, **_):
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "model.keras").write_text("new")
        calls.append({"out": out, "verbose": verbose})
        return training.TrainResult(out, out / "model.keras", {}, 1)

    monkeypatch.setattr(training, "train", fake)
    return calls


def train_args(tmp_path: Path, out: Path, *extra: str) -> list[str]:
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  train: [{tmp_path}]\n", encoding="utf-8")
    return ["train", "--config", str(config), "-o", str(out), *extra]


def test_train_refuses_a_finished_run_unless_overwrite(tmp_path, fake_train, caplog):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("model.keras", "training_log.csv", "validation_report.json", "notes.txt"):
        (out / name).write_text("old")
    with caplog.at_level(logging.ERROR, logger="picker"):
        assert main(train_args(tmp_path, out)) == 1
    assert "finished run" in caplog.text and "--overwrite" in caplog.text
    assert (out / "model.keras").read_text() == "old" and not fake_train
    assert main(train_args(tmp_path, out, "--overwrite", "-q")) == 0
    assert [call["verbose"] for call in fake_train] == [0]
    assert (out / "model.keras").read_text() == "new"
    assert not (out / "training_log.csv").exists()  # the old run's log is not appended to
    assert (out / "notes.txt").read_text() == "old"  # only the run's own files are removed
    assert main(train_args(tmp_path, tmp_path / "other", "--force", "-q")) == 0


def test_train_resumes_an_interrupted_run_without_overwrite(tmp_path, fake_train):
    out = tmp_path / "run"
    (out / "backup").mkdir(parents=True)  # BackupAndRestore state: an interrupted run
    (out / "model.keras").write_text("epoch 2")
    assert main(train_args(tmp_path, out, "-q")) == 0
    assert len(fake_train) == 1


# ----------------------------------------------------------------------------- evaluate


def test_sweep_breaks_f1_ties_in_the_middle_of_the_plateau():
    from picker.evaluation.metrics import ThresholdSweep, format_sweep_table

    prob = np.zeros((3000, 3), np.float32)
    prob[:, 0] = 1.0
    prob[1000, 1] = 0.9  # a true P: every threshold up to 0.9 finds it, no false pick
    prob[1500, 2] = 0.62  # a true S: found up to 0.6
    sweep = ThresholdSweep(0.1)
    sweep.add(prob, {"P": [10.0], "S": [15.0]}, sampling_rate_hz=100.0, n_samples=3000)
    best = sweep.best()
    # P: F1 1 from 0.05 to 0.90 (18 thresholds): middles 0.45 and 0.50, 0.50 nearer 0.5
    assert (best["P"]["threshold"], best["P"]["f1"]) == (0.5, 1.0)
    assert (best["P"]["plateau_low"], best["P"]["plateau_high"]) == (0.05, 0.9)
    # S: F1 1 from 0.05 to 0.60 (12 thresholds): middles 0.30 and 0.35
    assert best["S"]["threshold"] == 0.35
    table = format_sweep_table(sweep.rows(), best)
    assert "best P: threshold 0.50 (F1 1.000, the same from 0.05 to 0.90)" in table


def test_sweep_prefers_the_wider_plateau():
    from picker.evaluation.metrics import ThresholdSweep

    sweep = ThresholdSweep(0.1, thresholds=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    f1 = {0.1: 1.0, 0.2: 0.5, 0.3: 1.0, 0.4: 1.0, 0.5: 1.0, 0.6: 0.5, 0.7: 0.5}
    sweep.rows = lambda: [
        {"threshold": t, "phase": "P", "precision": v, "recall": v, "f1": v, "tp": 1, "fp": 0,
         "fn": 0} for t, v in f1.items()
    ]  # fmt: skip
    assert sweep.best()["P"]["threshold"] == 0.4


def test_undefined_scores_print_as_a_dash():
    from picker.evaluation.metrics import format_table
    from picker.picks.matching import PickMetrics

    metrics = PickMetrics(0.1)
    metrics.add_window({"P": [1.0], "S": [2.0]}, {"P": [1.0], "S": []})
    metrics.add_window({"P": [], "S": []}, {"P": [], "S": []}, 30.0)
    table = format_table(metrics.summary()).splitlines()
    p_row, s_row = (row.split() for row in table[1:])
    assert p_row[:7] == ["P", "1.000", "1.000", "1.000", "1", "0", "0"]
    assert s_row[:7] == ["S", "–", "0.000", "0.000", "0", "0", "1"]  # no S pick: no precision
    assert s_row[7:10] == ["–", "–", "–"]  # no residuals
    assert "0.000   0.000   0.000" not in "\n".join(table) and "nan" not in "\n".join(table)


def test_evaluate_without_reference_errors_before_printing(data, capsys):
    assert main(["evaluate", str(data["mseed"][0])]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no table of zeros
    assert "needs reference picks (--reference" in captured.err
    assert "nothing scored" in captured.err
