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
    TraceView,
    figure_name,
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


def test_review_figure_panels_picks_and_utc_axis():
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
        picks=[("P", 10.0), ("S", 15.0)],
        reference_picks=[("P", 10.2)],
        title="day.mseed",
    )
    fig = review_figure(view)
    axes = fig.axes
    assert len(axes) == 4
    assert [ax.get_ylabel() for ax in axes] == ["HHE", "HHN", "HHZ", "probability"]
    assert "XX.STA..HH" in axes[0].get_title() and "2024-03-01T00:00:00" in axes[0].get_title()
    assert axes[-1].get_xlabel() == "time (UTC)"
    day = T0.matplotlib_date
    red, blue = to_hex(PHASE_COLOURS["P"]), to_hex(PHASE_COLOURS["S"])
    expected = [(day + 10 / 86400, "solid", red), (day + 15 / 86400, "solid", blue)]
    expected = sorted(expected + [(day + 10.2 / 86400, "dashed", red)])
    for ax in axes:
        got = vlines(ax)
        assert [(s, c) for _, s, c in got] == [(s, c) for _, s, c in expected]
        np.testing.assert_allclose(
            [x for x, _, _ in got], [x for x, _, _ in expected], rtol=0, atol=1e-9
        )
    legend = [t.get_text() for t in axes[-1].get_legend().get_texts()]
    assert "P predicted" in legend and "P reference" in legend
    assert pyplot_figures() == []


def test_without_start_time_or_probabilities():
    view = TraceView(spikes(500, [100]), RATE, reference_picks=[("P", 1.0)])
    fig = review_figure(view)
    assert len(fig.axes) == 3
    assert fig.axes[-1].get_xlabel() == "time (s) from the first sample"
    assert [x for x, _, _ in vlines(fig.axes[0])] == [1.0]
    with pytest.raises(ValueError, match="shape"):
        TraceView(np.zeros((10, 2)), RATE)


def test_long_traces_are_drawn_as_envelopes():
    data = np.zeros((200_000, 3), np.float32)
    data[123_457, 2] = 5.0  # one spike survives the min/max envelope
    fig = review_figure(TraceView(data, RATE))
    line = fig.axes[2].get_lines()[0]
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
    assert [(a - T0, b - T0) for a, b in spans] == [(0, 30), (30, 60), (60, 90), (90, 120)]
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
    assert len(list(tiles.glob("*.png"))) == 8  # 2 stations × 4 spans of 30 s
    whole = tmp_path / "whole"
    assert main(["plot", *args[:1], "-o", str(whole), *args[3:]]) == 0
    assert sorted(p.name for p in whole.iterdir()) == ["day__XX.AAA..HH.png", "day__XX.BBB..HH.png"]


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


def test_memory_stays_flat_over_1000_figures(tmp_path):
    """No figure outlives its file: peak memory stays flat over 1,000 figures (~2 min)."""
    growth_mb = _draw_many(tmp_path, 1000)
    assert live_figures() == 0 and pyplot_figures() == []
    assert growth_mb < 30, f"peak RSS grew {growth_mb:.1f} MB over 1000 figures"
