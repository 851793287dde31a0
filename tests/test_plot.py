"""Review figures: content, files (PNG / PDF, atomic), ``picker plot`` in-process, flat memory."""

from __future__ import annotations

import gc
import logging
import resource
import sys

import numpy as np
import pytest
from obspy import Stream, Trace, UTCDateTime
from oracle import make_oracle, spikes

from picker.cli import main
from picker.evaluation.metrics import ThresholdSweep
from picker.io import Record, write_records
from picker.models.saving import save_model
from picker.picks.formats import picks_to_csv
from picker.picks.matching import PickMetrics
from picker.picks.pick import Pick, format_time
from picker.review.figures import (
    PHASE_COLOURS,
    REFERENCE_COLOURS,
    TraceView,
    figure_name,
    high_passed,
    plot_picks,
    plot_precision_recall,
    plot_residuals,
    plot_view,
    review_figure,
)
from picker.review.files import reference_seconds, time_spans

T0 = UTCDateTime(2024, 3, 1, 0, 0, 0)
RATE = 100.0
PNG = b"\x89PNG\r\n\x1a\n"


def pyplot_figures() -> list:
    import matplotlib.pyplot as plt

    return plt.get_fignums()


def live_figures() -> int:
    from matplotlib.figure import Figure

    gc.collect()
    return sum(isinstance(obj, Figure) for obj in gc.get_objects())


def vlines(ax) -> list[tuple[float, str, str]]:
    """(x, "solid"/"dashed", colour) of the pick lines of an axes (vertical line collections)."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_hex

    out = []
    for collection in ax.collections:
        if not isinstance(collection, LineCollection):
            continue
        dashes = collection.get_linestyle()[0][1]
        colour = to_hex(collection.get_color()[0])
        for segment in collection.get_segments():
            assert segment[0][0] == segment[1][0]  # vertical
            out.append((float(segment[0][0]), "dashed" if dashes else "solid", colour))
    return sorted(out)


# ----------------------------------------------------------------------------- figure content


def axis(fig, label: str):
    """The axes of ``fig`` named ``label`` (``"picks"``, ``"raw Z"``, ``"probability"`` ...)."""
    return next(ax for ax in fig.axes if ax.get_label() == label)


def strip_texts(fig) -> list[str]:
    return [t.get_text() for t in axis(fig, "picks").texts]


def test_review_figure_panels_picks_and_utc_axis():
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_hex

    prob = np.zeros((3000, 3), np.float32)
    prob[:, 0] = 1.0
    view = TraceView(
        data=spikes(3000, [1000], [1500]),
        sampling_rate_hz=RATE,
        start_time=T0,
        station_id="XX.STA..HH",
        channels=("HHE", "HHN", "HHZ"),
        probabilities=prob,
        picks=[("P", 10.0, 0.91), ("S", 15.0, 0.5)],
        reference_picks=[("P", 10.2)],
        title="day.mseed",
        unit="counts",
    )
    fig = review_figure(view)
    axes = fig.axes
    labels = ["picks", "raw E", "raw N", "raw Z", "probability"]
    assert [ax.get_label() for ax in axes] == labels
    assert [ax.get_ylabel() for ax in axes[1:]] == [
        "HHE\n(counts)",
        "HHN\n(counts)",
        "HHZ\n(counts)",
        "probability",
    ]
    title = axes[0].get_title(loc="left")
    assert "XX.STA..HH" in title and "2024-03-01T00:00:00" in title
    assert axes[-1].get_xlabel() == "time (UTC)"
    # pick times and probabilities written in the strip, the reference's time without one
    assert strip_texts(fig) == ["P 00:00:10.00 (0.91)", "P 00:00:10.20", "S 00:00:15.00 (0.50)"]
    day = T0.matplotlib_date
    red, blue = to_hex(PHASE_COLOURS["P"]), to_hex(PHASE_COLOURS["S"])
    dark_red = to_hex(REFERENCE_COLOURS["P"])
    expected = [(day + 10 / 86400, "solid", red), (day + 15 / 86400, "solid", blue)]
    expected = sorted(expected + [(day + 10.2 / 86400, "dashed", dark_red)])
    for ax in axes[1:]:
        got = vlines(ax)
        assert [(s, c) for _, s, c in got] == [(s, c) for _, s, c in expected]
        np.testing.assert_allclose(
            [x for x, _, _ in got], [x for x, _, _ in expected], rtol=0, atol=1e-9
        )
        # reference lines are drawn above the predicted ones, wider: neither hides the other
        lines = [c for c in ax.collections if isinstance(c, LineCollection)]
        dashed = [c for c in lines if c.get_linestyle()[0][1]]
        solid = [c for c in lines if not c.get_linestyle()[0][1]]
        assert min(c.get_zorder() for c in dashed) > max(c.get_zorder() for c in solid)
        assert min(c.get_linewidth()[0] for c in dashed) > max(c.get_linewidth()[0] for c in solid)
    legend = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert legend == ["P predicted", "P reference", "S predicted"]
    assert pyplot_figures() == []


def test_p_and_s_stay_apart_at_long_spans_and_labels_never_overlap():
    """Ten minutes with P and S a second apart: the strip's rows keep them apart; over a day of
    picks the labels that would overlap are dropped, every marker stays."""
    rate = 20.0
    n = int(600 * rate)
    view = TraceView(np.zeros((n, 3)), rate, T0, probabilities=np.zeros((n, 3)))
    view.picks = [("P", 120.0, 0.9), ("S", 121.0, 0.8)]
    fig = review_figure(view)
    strip = axis(fig, "picks")
    rows = {line.get_color(): set(line.get_ydata()) for line in strip.get_lines()}
    assert rows == {"tab:red": {1.0}, "tab:blue": {0.0}}  # P row above the S row
    assert strip_texts(fig) == ["P 00:02:00.00 (0.90)", "S 00:02:01.00 (0.80)"]

    day = TraceView(np.zeros((86400, 3)), 1.0, T0, probabilities=np.zeros((86400, 3)))
    times = [100.0 + 12000 * k for k in range(7)] + [80000.0 + k for k in range(50)]
    day.picks = [("P", t, 0.9) for t in times]  # 7 spread out, 50 in one burst
    fig = review_figure(day)
    strip = axis(fig, "picks")
    marker_x = strip.transData.transform(np.column_stack([strip.get_lines()[0].get_xdata()] * 2))[
        :, 0
    ]
    assert len(marker_x) == 57
    renderer = fig.canvas.get_renderer()
    kept = sorted(
        ((t.get_window_extent(renderer), t) for t in strip.texts), key=lambda bt: bt[0].x0
    )
    assert 5 <= len(kept) <= 7  # the spread-out ones, none in the burst
    boxes = [box for box, _ in kept]
    assert all(b.x0 > a.x1 for a, b in zip(boxes, boxes[1:], strict=False))  # no overlap
    assert all(box.x1 <= strip.get_window_extent(renderer).x1 for box in boxes)
    for box, text in kept:  # no label covers a marker other than its own
        own = strip.transData.transform((text.xy[0], 0))[0]
        under = marker_x[(marker_x > box.x0 - 6) & (marker_x < box.x1 + 6)]
        assert np.all(np.abs(under - own) < 0.5), text.get_text()


def test_raw_filtered_or_both():
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(3000, 3)) + np.linspace(0, 500, 3000)[:, None]).astype(np.float32)
    view = TraceView(data, RATE, T0, channels=("HHE", "HHN", "HHZ"), unit="nm/s")
    with pytest.raises(ValueError, match="no filtered"):
        review_figure(view, trace="filtered")
    with pytest.raises(ValueError, match="trace must be one of"):
        review_figure(view, trace="smooth")
    view = view.with_filtered(1.0)
    np.testing.assert_allclose(view.filtered, high_passed(data, RATE, 1.0))
    assert abs(view.filtered[1000:].mean()) < 1.0  # the drift is gone, the unit kept
    fig = review_figure(view)  # filtered by default when the view has them
    assert [ax.get_label() for ax in fig.axes] == [
        "picks",
        "filtered E",
        "filtered N",
        "filtered Z",
    ]
    assert "high-pass 1 Hz" in fig.axes[0].get_title(loc="left")
    np.testing.assert_allclose(fig.axes[3].get_lines()[0].get_ydata(), view.filtered[:, 2])
    fig = review_figure(view, trace="both")
    assert [ax.get_label() for ax in fig.axes][1:] == [
        f"{kind} {c}" for kind in ("raw", "filtered") for c in "ENZ"
    ]
    assert all(ax.get_ylabel().endswith("(nm/s)") for ax in fig.axes[1:])
    np.testing.assert_allclose(fig.axes[3].get_lines()[0].get_ydata(), data[:, 2])
    part = view.crop(10.0, 20.0)  # filtered before cropping: no transient at the tile start
    np.testing.assert_array_equal(part.filtered, view.filtered[1000:2000])


def test_without_start_time_or_probabilities():
    view = TraceView(spikes(500, [100]), RATE, reference_picks=[("P", 1.0)])
    fig = review_figure(view)
    assert fig.axes[-1].get_xlabel() == "time (s) from the first sample"
    assert len(fig.axes) == 4 and axis(fig, "picks").texts[0].get_text() == "P 1.00 s"
    assert [x for x, _, _ in vlines(fig.axes[1])] == [1.0]
    with pytest.raises(ValueError, match="shape"):
        TraceView(np.zeros((10, 2)), RATE)


def test_long_traces_are_drawn_as_envelopes():
    data = np.zeros((200_000, 3), np.float32)
    data[123_457, 2] = 5.0  # one spike survives the min/max envelope
    fig = review_figure(TraceView(data, RATE))
    line = axis(fig, "raw Z").get_lines()[0]
    assert len(line.get_ydata()) <= 20_000 and np.max(line.get_ydata()) == 5.0


def test_crop_spans_and_reference_placement():
    prob = np.zeros((6000, 3), np.float32)
    view = TraceView(
        spikes(6000), RATE, T0, "XX.A..HH", probabilities=prob, picks=[("P", 5.0), ("S", 45.0)]
    )
    part = view.crop(40.0, 50.0)
    assert len(part.data) == 1000 and len(part.probabilities) == 1000
    assert part.start_time == T0 + 40 and part.picks == [("S", pytest.approx(5.0))]
    assert len(view.crop(55.0, 99.0).data) == 500
    spans = time_spans(T0, T0 + 100, duration_s=30)
    # tiles overlap by 10 %: a pick on one tile's edge is 3 s inside the next
    assert [(a - T0, b - T0) for a, b in spans] == [(0, 30), (27, 57), (54, 84), (81, 111)]
    assert time_spans(0.0, 57.0, duration_s=30) == [(0.0, 30.0), (27.0, 57.0)]
    assert time_spans(0.0, 20.0, duration_s=30) == [(0.0, 30.0)]
    edge = TraceView(spikes(6000), RATE, T0, picks=[("P", 29.99)])
    assert [len(edge.crop(a - T0, b - T0).picks) for a, b in spans] == [1, 1, 0, 0]
    assert time_spans(T0, T0 + 100, T0 + 10, 5) == [(T0 + 10, T0 + 15)]
    assert time_spans(T0, T0 + 100, T0 + 10) == [(T0 + 10, T0 + 100)]
    assert time_spans(T0, T0 + 100) == [(T0, T0 + 100)]
    picks = [
        Pick("", "XX.A..EH", "P", format_time(T0 + 12.5), -1, 1.0),  # other band code: shown
        Pick("", "XX.B..HH", "P", format_time(T0 + 12.5), -1, 1.0),  # other station
        Pick("", "XX.A..HH", "S", format_time(T0 + 500), -1, 1.0),  # outside
        Pick("f.npz", "XX.A..HH", "S", "", 300, 1.0),  # by index, same source
        Pick("g.npz", "XX.A..HH", "S", "", 300, 1.0),  # by index, other source
    ]
    assert reference_seconds(picks, "XX.A..HH", T0, RATE, 60.0, "f.npz") == [
        ("P", pytest.approx(12.5)),
        ("S", 3.0),
    ]
    assert figure_name("day", "XX.A..HH", "x/../y", suffix="pdf") == "day__XX.A..HH__x_.._y.pdf"


def test_metric_figures_and_the_legacy_plot_picks(tmp_path):
    metrics = PickMetrics(0.1)
    metrics.add_window({"P": [1.0], "S": [2.0]}, {"P": [1.02], "S": [2.05]})
    path = plot_residuals({"model": metrics, "stalta": PickMetrics(0.1)}, 0.1, tmp_path / "r.pdf")
    assert path.read_bytes()[:4] == b"%PDF"
    sweep = ThresholdSweep(0.1)
    prob = np.zeros((3000, 3), np.float32)
    prob[1000, 1] = 0.7
    sweep.add(prob, {"P": [10.0], "S": []}, sampling_rate_hz=RATE, n_samples=3000)
    assert plot_precision_recall(sweep, tmp_path / "pr.png").read_bytes()[:8] == PNG

    class P:  # anything with phase and index
        phase, index = "P", 1000

    out = plot_picks(spikes(3000, [1000]), RATE, prob, [P()], tmp_path / "sub" / "x.png", "t")
    assert out.read_bytes()[:8] == PNG and not list((tmp_path / "sub").glob(".*part"))
    assert pyplot_figures() == []


# ----------------------------------------------------------------------------- picker plot


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("plot")
    model = str(save_model(make_oracle(), root / "oracle.keras"))
    windows = root / "windows"
    write_records(
        [
            Record(spikes(3000, [1000], [1500]), RATE, "XX.W1..HH", T0, 1000, 1500, name="w1"),
            Record(spikes(3000, [1200]), RATE, "XX.W2..HH", None, name="w2"),
        ],
        windows,
        "npz",
    )
    n = int(120 * RATE)
    traces = []
    for station in ("AAA", "BBB"):
        data = spikes(n, [2000], [3000])
        header = {"network": "XX", "station": station, "location": "", "sampling_rate": RATE}
        traces += [
            Trace(data[:, i].copy(), header={**header, "channel": f"HH{c}", "starttime": T0})
            for i, c in enumerate("ENZ")
        ]
    stream = root / "day.mseed"
    Stream(traces).write(str(stream), format="MSEED", encoding="FLOAT32")
    picks = root / "reference.csv"
    picks.write_text(picks_to_csv([Pick("", "XX.AAA..HH", "P", format_time(T0 + 20), -1, 1.0)]))
    bad = root / "bad.mseed"
    bad.write_bytes(b"not miniSEED")
    return {"model": model, "windows": windows, "stream": stream, "picks": picks, "bad": bad}


def test_plot_windows_png_and_pdf(inputs, tmp_path):
    for fmt, magic in (("png", PNG), ("pdf", b"%PDF")):
        out = tmp_path / fmt
        args = [str(inputs["windows"]), "-o", str(out), "--model", inputs["model"], "-q"]
        assert main(["plot", *args, "--format", fmt]) == 0
        names = sorted(p.name for p in out.iterdir())
        assert names == [f"w1__w1.{fmt}", f"w2__w2.{fmt}"]
        assert all((out / name).read_bytes()[: len(magic)] == magic for name in names)
    assert pyplot_figures() == []


def test_plot_continuous_spans_with_reference_picks(inputs, tmp_path):
    out = tmp_path / "span"
    args = [str(inputs["stream"]), "-o", str(out), "--model", inputs["model"], "-q"]
    span = ["--start", str(T0 + 15), "--duration-s", "10", "--reference", str(inputs["picks"])]
    assert main(["plot", *args, *span]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "day__XX.AAA..HH__20240301T000015.png",
        "day__XX.BBB..HH__20240301T000015.png",
    ]
    tiles = tmp_path / "tiles"
    assert main(["plot", *args[:1], "-o", str(tiles), *args[3:], "--duration-s", "30"]) == 0
    # 2 stations × 5 tiles of 30 s every 27 s (10 % overlap) over the 120 s of data
    names = sorted(p.name for p in tiles.glob("*.png"))
    starts = ["000000", "000027", "000054", "000121", "000148"]
    assert names == [f"day__XX.{s}..HH__20240301T{t}.png" for s in ("AAA", "BBB") for t in starts]
    whole = tmp_path / "whole"
    assert main(["plot", *args[:1], "-o", str(whole), *args[3:]]) == 0
    assert sorted(p.name for p in whole.iterdir()) == ["day__XX.AAA..HH.png", "day__XX.BBB..HH.png"]


def test_start_on_records_without_a_start_time(inputs, tmp_path, caplog):
    """--start crops window records on their own times; a record without a start time (w2)
    is a one-line error naming it, while --duration alone tiles it in seconds."""
    out = tmp_path / "windows"
    args = [str(inputs["windows"]), "-o", str(out), "--model", inputs["model"], "-q"]
    with caplog.at_level(logging.ERROR, logger="picker"):
        assert main(["plot", *args, "--start", str(T0 + 5), "--duration", "10"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["w1__w1__20240301T000005.png"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    problem = next(m for m in errors if "w2.npz" in m)
    assert "record w2 has no start time" in problem and "\n" not in problem
    tiles = tmp_path / "tiles"
    args[2] = str(tiles)
    assert main(["plot", *args, "--duration", "10"]) == 0
    names = sorted(p.name for p in tiles.iterdir() if p.name.startswith("w2"))
    assert names == [f"w2__w2__{t}s.png" for t in (0, 18, 27, 9)]


def test_predict_plot_and_plot_label_panels_alike(inputs, tmp_path, monkeypatch):
    """Both paths draw HHE / HHN / HHZ with the unit (integer miniSEED: counts) and the picks'
    times; before, predict --plot wrote E / N / Z."""
    import picker.review.figures as figures

    drawn = {}
    save = figures.save_figure

    def record(fig, path, **kwargs):
        drawn[path.parent.name] = (
            [ax.get_ylabel() for ax in fig.axes if ax.get_label().startswith("filtered")],
            strip_texts(fig),
        )
        return save(fig, path, **kwargs)

    monkeypatch.setattr(figures, "save_figure", record)
    n = int(60 * RATE)
    data = (spikes(n, [2000], [3000], 1000.0) + 5).astype(np.int32)
    header = {"network": "XX", "station": "INT", "sampling_rate": RATE, "starttime": T0}
    traces = [
        Trace(data[:, i].copy(), header={**header, "channel": f"HH{c}"})
        for i, c in enumerate("ENZ")
    ]
    stream = tmp_path / "int.mseed"
    Stream(traces).write(str(stream), format="MSEED", encoding="STEIM2")
    model = ["--model", inputs["model"], "-q"]
    assert main(["predict", str(stream), "-o", str(tmp_path / "p.csv"), "--plot", str(tmp_path / "pred"), *model]) == 0  # fmt: skip
    assert main(["plot", str(stream), "-o", str(tmp_path / "plot"), *model]) == 0
    labels = ["HHE\n(counts)", "HHN\n(counts)", "HHZ\n(counts)"]
    assert drawn["pred"][0] == drawn["plot"][0] == labels
    assert drawn["pred"][1] == drawn["plot"][1]
    assert drawn["pred"][1][0].startswith("P 00:00:20.00 (")


def test_no_predict_needs_no_model(inputs, tmp_path, monkeypatch):
    monkeypatch.setattr("picker.models.saving.BUNDLED_MODEL", tmp_path / "none.keras")
    out = tmp_path / "data_only"
    args = [str(inputs["stream"]), str(inputs["windows"]), "-o", str(out), "--no-predict", "-q"]
    assert main(["plot", *args]) == 0
    assert len(list(out.glob("*.png"))) == 4
    # model needed: a usage error (exit 2)
    assert main(["plot", str(inputs["windows"]), "-o", str(out), "-q"]) == 2


def test_bad_input_is_named_and_the_rest_is_drawn(inputs, tmp_path, caplog):
    out = tmp_path / "figs"
    args = [str(inputs["bad"]), str(inputs["windows"]), "-o", str(out), "--model", inputs["model"]]
    with caplog.at_level(logging.ERROR, logger="picker"):
        assert main(["plot", *args]) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("bad.mseed" in m for m in errors) and any("1 input(s) failed" in m for m in errors)
    assert len(list(out.glob("*.png"))) == 2
    assert main(["plot", *args, "--start", "yesterday-ish"]) == 2
    assert main(["plot", *args, "--duration-s", "0"]) == 2


# ----------------------------------------------------------------------------- memory


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _draw_many(tmp_path, n_figures: int) -> float:
    """Peak RSS growth (MB) over ``n_figures`` tiny review figures after a warm-up."""
    prob = np.zeros((60, 3), np.float32)
    view = TraceView(
        spikes(60, [20], [40]), RATE, T0, "XX.A..HH", probabilities=prob, picks=[("P", 0.2)]
    )
    for _ in range(5):
        plot_view(view, tmp_path / "warm.png", dpi=20, figsize=(2, 1.5))
    gc.collect()
    before = _peak_rss_mb()
    for k in range(n_figures):
        plot_view(view, tmp_path / f"f{k % 3}.png", dpi=20, figsize=(2, 1.5))
    return _peak_rss_mb() - before


def test_memory_stays_flat_over_200_figures(tmp_path):
    """No figure outlives its file: none is left alive and peak memory stays flat over 200
    figures (a kept figure with its artists costs about 1 MB; ~30 s)."""
    growth_mb = _draw_many(tmp_path, 200)
    assert live_figures() == 0 and pyplot_figures() == []
    assert growth_mb < 15, f"peak RSS grew {growth_mb:.1f} MB over 200 figures"


# ----------------------------------------------------------------------------- units


def test_units_from_the_file_headers(tmp_path):
    from obspy.io.sac import SACTrace

    from picker.io import read_records
    from picker.io.stream import traces_unit

    def trace(data, **stats):
        tr = Trace(np.asarray(data), header={"channel": "HHZ", "sampling_rate": RATE})
        tr.stats.update(stats)
        return tr

    for encoding, unit in (("STEIM2", "counts"), ("INT32", "counts"), ("FLOAT32", "")):
        path = tmp_path / f"{encoding}.mseed"
        trace(np.arange(100, dtype=np.int32 if unit else np.float32)).write(
            str(path), format="MSEED", encoding=encoding
        )
        assert traces_unit(obspy_read(path)) == unit, encoding
    for idep, unit in (("ivel", "nm/s"), ("idisp", "nm"), ("iunkn", "")):
        sac = SACTrace.from_obspy_trace(trace(np.zeros(10, np.float32)))
        sac.idep = idep
        sac.write(str(tmp_path / "x.sac"))
        assert traces_unit(obspy_read(tmp_path / "x.sac")) == unit, idep
    mixed = [trace(np.zeros(3), mseed={"encoding": "STEIM2"}), trace(np.zeros(3))]
    assert traces_unit(mixed) == ""  # the components disagree: unknown
    np.savez(tmp_path / "w.npz", data=np.zeros((10, 3)), unit="m/s$x")
    np.savez(tmp_path / "v.npz", data=np.zeros((10, 3)))
    assert next(read_records(tmp_path / "w.npz")).extra["unit"] == "m/sx"  # no mathtext
    assert "unit" not in next(read_records(tmp_path / "v.npz")).extra
    # kept by a conversion: miniSEED counts -> NPZ -> counts
    record = next(read_records(tmp_path / "STEIM2.mseed"))
    assert record.extra["unit"] == "counts"
    write_records([record], tmp_path / "npz", "npz")
    assert next(read_records(next((tmp_path / "npz").iterdir()))).extra["unit"] == "counts"


def obspy_read(path):
    import obspy

    return obspy.read(str(path))
