"""Japanese strong-motion files (NIED K-NET / KiK-net ASCII): channel names get SEED codes.

ObsPy reads these files with channels ``EW``/``NS``/``UD`` (K-NET) or ``EW1``...``UD2``
(KiK-net: 1 borehole, 2 surface). :func:`picker.io.base.seed_channel_codes` renames them so
that they are picked on as one three-component station (per sensor). The model is the exact
oracle of ``tests/oracle.py`` (P at Z spikes, S at E spikes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import obspy
import pytest
from obspy import Stream, Trace
from oracle import make_oracle, spikes

from picker.cli import main
from picker.io.base import seed_channel_codes
from picker.models.saving import save_model
from picker.picks.formats import read_picks

N = 6000
# K-NET "Dir." of E, N, Z; KiK-net numbers its borehole (1-3) and surface (4-6) sensors
KNET_DIRECTIONS = ("E-W", "N-S", "U-D")
KIKNET_DIRECTIONS = {1: ("2", "1", "3"), 2: ("5", "4", "6")}


def write_knet(path: Path, station: str, direction: str, counts: np.ndarray) -> Path:
    """A K-NET ASCII file (100 Hz, integer counts, 8 values a line) of one component."""
    header = [
        ("Origin Time", "2024/03/01 00:00:00"),
        ("Lat.", "38.920"),
        ("Long.", "140.630"),
        ("Depth. (km)", "7"),
        ("Mag.", "4.1"),
        ("Station Code", station),
        ("Station Lat.", "39.6069"),
        ("Station Long.", "140.3213"),
        ("Station Height(m)", "34"),
        ("Record Time", "2024/03/01 00:00:30"),
        ("Sampling Freq(Hz)", "100Hz"),
        ("Duration Time(s)", str(len(counts) // 100)),
        ("Dir.", direction),
        ("Scale Factor", "2000(gal)/8388608"),
        ("Max. Acc. (gal)", "1.000"),
        ("Last Correction", "2024/03/01 00:00:00"),
        ("Memo.", ""),
    ]
    lines = [f"{key:<18}{value}" for key, value in header]
    for start in range(0, len(counts), 8):
        lines.append("".join(f"{int(v):9d}" for v in counts[start : start + 8]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(save_model(make_oracle(), tmp_path_factory.mktemp("oracle") / "oracle.keras"))


def test_knet_component_files_are_one_station_with_seed_codes(model, tmp_path):
    data = spikes(N, [1500], [3500], value=1000.0)
    for column, direction in enumerate(KNET_DIRECTIONS):
        write_knet(
            tmp_path / f"AKT0132403010000.{direction[0]}", "AKT013", direction, data[:, column]
        )
    assert [tr.stats.channel for tr in obspy.read(str(tmp_path / "*"))] == ["EW", "NS", "UD"]
    out = tmp_path / "picks.csv"
    assert main(["predict", str(tmp_path), "-o", str(out), "--model", model, "--quiet"]) == 0
    picks = read_picks(out)
    assert [(p.station_id, p.phase, p.index) for p in picks] == [
        ("BO.AKT013..HN", "P", 1500),
        ("BO.AKT013..HN", "S", 3500),
    ]


def test_kiknet_borehole_and_surface_sensors_are_picked_apart(model, tmp_path):
    borehole = spikes(N, [1200], [2600], value=1000.0)
    surface = spikes(N, [1210], [2650], value=1000.0)
    for sensor, data in ((1, borehole), (2, surface)):
        for column, direction in enumerate(KIKNET_DIRECTIONS[sensor]):
            write_knet(tmp_path / f"IWTH04.{sensor}{column}", "IWTH04", direction, data[:, column])
    out = tmp_path / "picks.json"
    assert main(["predict", str(tmp_path), "-o", str(out), "--model", model, "--quiet"]) == 0
    picks = sorted((p.station_id, p.phase, p.index) for p in read_picks(out))
    assert picks == [
        ("BO.IWTH04.01.HN", "P", 1200),
        ("BO.IWTH04.01.HN", "S", 2600),
        ("BO.IWTH04.02.HN", "P", 1210),
        ("BO.IWTH04.02.HN", "S", 2650),
    ]


def test_seed_channel_codes_renames_only_nied_channels():
    def trace(channel, rate=100.0, location=""):
        header = {"channel": channel, "sampling_rate": rate, "location": location}
        return Trace(np.zeros(10, np.float32), header)

    traces = Stream(
        [trace("EW"), trace("UD2"), trace("NS1", 50.0), trace("EW1", location="10"),
         trace("HHZ"), trace("U"), trace("BDH")]
    )  # fmt: skip
    seed_channel_codes(traces)
    assert [(tr.stats.location, tr.stats.channel) for tr in traces] == [
        ("", "HNE"),
        ("02", "HNZ"),
        ("01", "BNN"),
        ("10", "HNE"),
        ("", "HHZ"),
        ("", "U"),
        ("", "BDH"),
    ]
