"""What the commands write: never over an input, never after wasted work, never a traceback.

Issue 25 (output and CLI side): an output that is one of the inputs or a picks file named like a
waveform is refused unless ``--force``; a folder, an unwritable place or a second run on the
same output is refused before any work; malformed picks files are named with their row; killed
runs' ``.part`` files are cleaned by the next run; ``convert`` streams its records.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime
from oracle import make_oracle, spikes

from picker import predict as predict_module
from picker.cli import main
from picker.keras_utils import save_model
from picker.picks import Pick, write_picks

T0 = UTCDateTime(2024, 3, 1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two miniSEED files (one station each, a P and an S spike) and the oracle model."""
    root = tmp_path_factory.mktemp("outputs")
    model = save_model(make_oracle(), root / "oracle.keras")
    folder = root / "gl"
    folder.mkdir()
    for f in range(2):
        values = spikes(3000, [1000 + 100 * f], [2000])
        header = {"network": "XX", "station": f"S0{f}", "sampling_rate": 100.0, "starttime": T0}
        traces = [
            Trace(values[:, i].copy(), {**header, "channel": f"HH{c}"}) for i, c in enumerate("ENZ")
        ]
        Stream(traces).write(str(folder / f"S0{f}.mseed"), format="MSEED", encoding="FLOAT32")
    return {"model": str(model), "folder": folder, "files": sorted(folder.glob("*.mseed"))}


@pytest.fixture
def computed(monkeypatch):
    """Counts the files predict computes (the work a bad output would waste)."""
    calls = []
    original = predict_module.iter_file

    def counting(path, *args, **kwargs):
        calls.append(path)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(predict_module, "iter_file", counting)
    return calls


def errors_of(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("ERROR")]


def one_error(capsys, *fragments) -> str:
    (line,) = errors_of(capsys)
    for fragment in fragments:
        assert str(fragment) in line, line
    return line


def predict(data, out, *extra, inputs=None) -> int:
    inputs = [str(p) for p in (inputs or data["files"])]
    return main(["predict", *inputs, "--model", data["model"], "-o", str(out), "-q", *extra])


def no_parts(folder) -> bool:
    return not list(folder.rglob("*.part"))


# ----------------------------------------------------------------------------- 4: inputs


def test_predict_refuses_to_write_picks_over_an_input(data, capsys, computed):
    target = data["files"][0]
    before = target.read_bytes()
    assert predict(data, target) == 1
    one_error(capsys, target, "one of the inputs")
    assert target.read_bytes() == before and computed == []


def test_predict_refuses_a_waveform_suffix_for_picks_unless_forced(data, tmp_path, capsys):
    out = tmp_path / "S09.mseed"
    assert predict(data, out) == 1
    one_error(capsys, out, "waveform")
    assert not out.exists()
    assert predict(data, out, "--force") == 0
    assert out.read_text().startswith("source,station_id,phase")


def test_probabilities_and_merge_refuse_to_overwrite_an_input(data, tmp_path, capsys, computed):
    target = data["files"][1]
    before = target.read_bytes()
    assert predict(data, tmp_path / "p.csv", "--probabilities", str(target)) == 1
    one_error(capsys, target, "one of the inputs")
    assert target.read_bytes() == before and computed == []

    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_picks([Pick("x", "XX.A..HH", "P", "2024-03-01T00:00:01.000000Z", 100, 0.9)], a)
    write_picks([Pick("x", "XX.B..HH", "P", "2024-03-01T00:00:02.000000Z", 200, 0.8)], b)
    before = a.read_bytes()
    assert main(["merge", str(a), str(b), "-o", str(a), "-q"]) == 1
    one_error(capsys, a, "one of the inputs")
    assert a.read_bytes() == before
    assert main(["merge", str(a), str(b), "-o", str(a), "-q", "--force"]) == 0
    assert len(a.read_text().splitlines()) == 3


def test_convert_and_evaluate_refuse_an_input_as_output_folder(data, capsys):
    folder = data["folder"]
    names = sorted(p.name for p in folder.iterdir())
    assert main(["convert", str(folder), "-o", str(folder), "--to", "mseed", "-q"]) == 1
    one_error(capsys, folder, "one of the inputs")
    assert sorted(p.name for p in folder.iterdir()) == names


# ----------------------------------------------------------------------------- 7: lock


def test_a_second_run_on_the_same_output_is_refused_and_keeps_the_journal(
    data, tmp_path, capsys, computed
):
    out = tmp_path / "picks.csv"
    journal = tmp_path / "picks.csv.progress.jsonl"
    journal.write_text('{"first run": "still busy"}\n')
    with open(tmp_path / "picks.csv.lock", "w") as held:  # the first run's lock
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert predict(data, out) == 1
        assert predict(data, out, "--resume") == 1
    errors = errors_of(capsys)
    assert len(errors) == 2 and all(f"another picker run is writing {out}" in e for e in errors)
    assert journal.read_text() == '{"first run": "still busy"}\n'
    assert not out.exists() and computed == []
    # the lock dies with its holder: the next run goes ahead and cleans up after itself
    assert predict(data, out) == 0
    assert out.exists() and not journal.exists() and not (tmp_path / "picks.csv.lock").exists()


# ----------------------------------------------------------------------------- 10, 11: paths


def test_an_output_folder_is_refused_before_the_work(data, tmp_path, capsys, computed):
    folder = tmp_path / "out"
    folder.mkdir()
    assert predict(data, folder) == 1
    one_error(capsys, folder, "folder")
    assert predict(data, tmp_path / "p.csv", "--probabilities", str(folder)) == 1
    one_error(capsys, folder, "folder")
    assert computed == [] and no_parts(tmp_path) and list(folder.iterdir()) == []
    a = tmp_path / "a.csv"
    write_picks([Pick("x", "XX.A..HH", "P", "2024-03-01T00:00:01.000000Z", 100, 0.9)], a)
    assert main(["merge", str(a), "-o", str(folder), "-q"]) == 1
    one_error(capsys, folder, "folder")
    assert no_parts(tmp_path)


def test_an_output_below_a_file_is_refused_before_the_work(data, tmp_path, capsys, computed):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    out = blocker / "sub" / "picks.csv"
    assert predict(data, out) == 1
    one_error(capsys, out, "not a folder")
    assert computed == []
    for command in (
        ["convert", str(data["folder"]), "--to", "npz", "-o", str(blocker / "c")],
        ["convert", str(data["folder"]), "--to", "npz", "-o", str(blocker)],
        ["evaluate", str(data["folder"]), "--model", data["model"], "-o", str(blocker)],
    ):
        assert main([*command, "-q"]) == 1, command
        one_error(capsys, blocker)


def test_an_unwritable_output_folder_is_refused_before_the_work(
    data, tmp_path, capsys, computed, monkeypatch
):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(  # tests run as root, where mode bits do not stop a write
        os, "access", lambda p, mode, **kw: False if str(p) == str(locked) else real_access(p, mode)
    )
    out = locked / "picks.csv"
    assert predict(data, out) == 1
    one_error(capsys, out, "not writable")
    assert computed == [] and not list(locked.iterdir())
    assert main(["convert", str(data["folder"]), "--to", "npz", "-o", str(locked), "-q"]) == 1
    one_error(capsys, locked, "not writable")
    assert main(["evaluate", str(data["folder"]), "--model", data["model"], "-o", str(locked)]) == 1
    one_error(capsys, locked, "not writable")
    assert not list(locked.iterdir())
