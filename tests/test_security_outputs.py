"""What the commands write: never over an input, never after wasted work, never a traceback.

Issue 25 (output and CLI side): an output that is one of the inputs or a picks file named like a
waveform is refused unless ``--force``; a folder, an unwritable place or a second run on the
same output is refused before any work; malformed picks files are named with their row; killed
runs' ``.part`` files are cleaned by the next run; ``convert`` streams its records.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys

import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime
from oracle import make_oracle, spikes

from picker.cli import main
from picker.models.saving import save_model
from picker.picks.formats import write_picks
from picker.picks.pick import Pick
from picker.prediction import predict as predict_module

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
    same = tmp_path / "same.csv"
    assert predict(data, same, "--probabilities", str(same)) == 1
    one_error(capsys, same, "the same file")
    assert computed == []

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


def test_a_run_that_fails_before_writing_leaves_no_empty_output_folder(data, tmp_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model", encoding="utf-8")
    out = tmp_path / "new" / "deeper" / "picks.csv"
    inputs = [str(p) for p in data["files"]]
    assert main(["predict", *inputs, "--model", str(bad), "-o", str(out), "-q"]) == 2
    one_error(capsys, bad)
    assert not (tmp_path / "new").exists()  # the folders made for the lock went with it
    # a folder that was there before stays, and so does a folder the run wrote into
    (tmp_path / "kept").mkdir()
    assert (
        main(["predict", *inputs, "--model", str(bad), "-o", str(tmp_path / "kept" / "p.csv")]) == 2
    )
    assert (tmp_path / "kept").is_dir()
    assert predict(data, out) == 0
    assert out.is_file() and not out.with_name("picks.csv.lock").exists()


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


def test_an_output_in_new_folders_is_still_written(data, tmp_path):
    out = tmp_path / "new" / "sub" / "picks.csv"
    assert predict(data, out) == 0
    assert out.exists() and sorted(p.name for p in out.parent.iterdir()) == ["picks.csv"]


# ----------------------------------------------------------------------------- 5, 12: picks files


def picks_csv(path, *rows, header="source,station_id,phase,time,index,probability"):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


GOOD_ROW = "x,XX.A..HH,P,2024-03-01T00:00:01.000000Z,100,0.9"


@pytest.mark.parametrize(
    "row,problem",
    [
        ("x,XX.A..HH,P,2024-03-01T00:00:01Z,100,", "has no probability"),
        ("x,XX.A..HH,P,2024-03-01T00:00:01Z,100,1.5", "probability must be in [0, 1]"),
        ("x,XX.A..HH,P,2024-03-01T00:00:01Z,100,nan", "probability must be in [0, 1]"),
        ("x,XX.A..HH,P,,-4,0.5", "index must be >= 0"),
        ("x,XX.A..HH,P,notatime,100,0.5", "not an ISO-8601 time"),
    ],
)
def test_merge_names_the_file_and_line_of_a_malformed_pick(tmp_path, capsys, row, problem):
    good = picks_csv(tmp_path / "a.csv", GOOD_ROW)
    bad = picks_csv(tmp_path / "b.csv", GOOD_ROW, row)
    out = tmp_path / "m.csv"
    assert main(["merge", str(good), str(bad), "-o", str(out), "-q"]) == 1
    errors = errors_of(capsys)
    assert any(f"{bad}: " in e and "line 3" in e and problem in e for e in errors), errors
    assert not out.exists()


def test_merge_refuses_picks_without_a_probability_column(tmp_path, capsys):
    good = picks_csv(tmp_path / "a.csv", GOOD_ROW)
    bad = picks_csv(
        tmp_path / "b.csv",
        "x,XX.A..HH,P,2024-03-01T00:00:01.01Z,100",
        header=("source,station_id,phase,time,index"),
    )
    assert main(["merge", str(good), str(bad), "-o", str(tmp_path / "m.csv"), "-q"]) == 1
    errors = errors_of(capsys)
    assert any(f"{bad}: " in e and "line 2" in e and "no probability" in e for e in errors)


@pytest.fixture
def read_events_formats(monkeypatch):
    """The formats picker asks ObsPy's read_events for (None would be its format detection)."""
    import obspy

    formats = []
    original = obspy.read_events

    def spy(*args, **kwargs):
        formats.append(kwargs.get("format"))
        return original(*args, **kwargs)

    monkeypatch.setattr(obspy, "read_events", spy)
    return formats


def test_merge_and_reference_refuse_waveforms_and_empty_files(
    data, tmp_path, capsys, read_events_formats
):
    good = picks_csv(tmp_path / "a.csv", GOOD_ROW)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    bare = tmp_path / "picks"  # no suffix: judged by its content
    bare.write_bytes(data["files"][0].read_bytes())
    for bad in (data["files"][0], empty, bare, tmp_path / "fake.xml"):
        if bad.name == "fake.xml":
            bad.write_bytes(data["files"][0].read_bytes())
        assert main(["merge", str(good), str(bad), "-o", str(tmp_path / "m.csv"), "-q"]) == 1
        errors = errors_of(capsys)
        assert any(str(bad) in e and "picks file" in e for e in errors), errors
        args = ["evaluate", str(data["files"][0]), "--model", data["model"]]
        assert main([*args, "--reference", str(bad), "-q"]) == 1
        one_error(capsys, bad, "picks file")
    assert None not in read_events_formats and not (tmp_path / "m.csv").exists()


def test_a_bad_reference_row_names_the_file_and_line(data, tmp_path, capsys):
    args = ["evaluate", str(data["files"][0]), "--model", data["model"], "-q", "--reference"]
    bad_time = picks_csv(tmp_path / "ref.csv", GOOD_ROW, "x,XX.S00..HH,P,notatime,,")
    assert main([*args, str(bad_time)]) == 1
    one_error(capsys, bad_time, "line 3", "notatime")
    index_only = picks_csv(tmp_path / "index_only.csv", GOOD_ROW, "x,XX.S00..HH,S,,250,")
    assert main([*args, str(index_only)]) == 1
    one_error(capsys, index_only, "line 3", "no time")


# ----------------------------------------------------------------------------- 14: part files


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_rerun_removes_the_part_files_of_killed_runs_only(data, tmp_path):
    out = tmp_path / "npz"
    assert main(["convert", str(data["files"][0]), "--to", "npz", "-o", str(out), "-q"]) == 0
    (written,) = out.iterdir()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = out / f".{written.name}.{dead_pid()}.abcd1234.part"
        running = out / f".{written.name}.{live.pid}.efgh5678.part"
        other = out / f".{written.name}.zz.part"  # not a part file of ours: left alone
        for path in (stale, running, other):
            path.write_bytes(b"\0" * 1000)
        assert main(["convert", str(data["files"][0]), "--to", "npz", "-o", str(out), "-q"]) == 0
        assert not stale.exists() and running.exists() and other.exists()
    finally:
        live.kill()
        live.wait()


# ----------------------------------------------------------------------------- 15: consistency


def test_predict_plot_failures_exit_1_like_plot(data, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    figures = blocker / "figures"
    assert predict(data, tmp_path / "p.csv", "--plot", str(figures)) == 1
    one_error(capsys, figures, "not a folder")
    args = ["plot", str(data["files"][0]), "--model", data["model"], "-q", "-o", str(figures)]
    assert main(args) == 1
    one_error(capsys, figures, "not a folder")

    def failing(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("picker.review.figures.save_figure", failing)
    out = tmp_path / "q.csv"
    assert predict(data, out, "--plot", str(tmp_path / "figs")) == 1
    errors = errors_of(capsys)
    assert any("figure not written (disk full)" in e for e in errors), errors
    assert len(out.read_text().splitlines()) == 5  # the picks are written all the same


def test_a_bad_model_file_is_a_usage_error(data, tmp_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model")
    out = tmp_path / "p.csv"
    assert main(["predict", str(data["files"][0]), "--model", str(bad), "-o", str(out), "-q"]) == 2
    one_error(capsys, bad)


def sac_files(folder, sac: dict):
    """One SAC file per component of XX.SAC (60 s at 100 Hz); ``sac`` extra header values."""
    from obspy.core.util import AttribDict

    folder.mkdir()
    values = spikes(6000, [1500], [3500])
    for column, code in enumerate("ENZ"):
        header = {"network": "XX", "station": "SAC", "channel": f"HH{code}"}
        tr = Trace(values[:, column].copy(), {**header, "sampling_rate": 100.0, "starttime": T0})
        tr.stats.sac = AttribDict({"b": 0.0, **sac})
        tr.write(str(folder / f"XX.SAC..HH{code}.SAC"), format="SAC")
    return folder


def test_sac_header_picks_out_of_range_are_named_in_a_warning(tmp_path, capsys):
    folder = sac_files(tmp_path / "ev", {"a": 15.0, "t0": 1e20})
    out = tmp_path / "out"
    assert main(["convert", str(folder), "--to", "npz", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    (warning,) = [line for line in err.splitlines() if line.startswith("WARNING")]
    assert "XX.SAC..HHE.SAC" in warning and "t0 = 1e+20" in warning, warning
    (written,) = out.glob("*.npz")
    with np.load(written) as archive:
        assert (int(archive["p_idx"]), int(archive["s_idx"])) == (1500, -1)

    folder = sac_files(tmp_path / "nan", {"a": float("nan"), "t0": 35.0})
    assert main(["convert", str(folder), "--to", "npz", "-o", str(tmp_path / "o2")]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "a = nan" in err


def test_convert_streams_records_to_the_writer(data, tmp_path, monkeypatch):
    import picker.io
    import picker.io.groups

    reads = []
    original_read = picker.io.groups.read_input_records
    original_write = picker.io.write_records

    def reading(path, *args, **kwargs):
        reads.append(path)
        return original_read(path, *args, **kwargs)

    def writing(records, *args, **kwargs):
        assert not isinstance(records, list | tuple)

        def watched():
            for record in records:
                seen.append(len(reads))  # inputs read when the writer takes this record
                yield record

        seen: list[int] = []
        written = original_write(watched(), *args, **kwargs)
        assert seen == [1, 2]  # one input read at a time, not all before writing
        return written

    monkeypatch.setattr(picker.io.groups, "read_input_records", reading)
    monkeypatch.setattr(picker.io, "write_records", writing)
    out = tmp_path / "h5"
    assert main(["convert", str(data["folder"]), "--to", "hdf5", "-o", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["metadata.csv", "waveforms.hdf5"]
