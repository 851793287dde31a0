"""``picker predict --dask``: a local cluster of two worker processes gives the single-process picks.

The archive is picked by the exact "oracle" model of ``test_cli_predict.py``. Skipped when
dask.distributed is not installed (``pip install picker[dask]``).
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
from obspy import Stream, UTCDateTime
from test_cli_predict import make_oracle, station_traces

from picker.cli import main
from picker.config import ConfigError
from picker.io import Record, write_records
from picker.models.saving import save_model
from picker.prediction import dask_backend

T0 = UTCDateTime(2024, 3, 1)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """2 miniSEED files × 2 stations, one NPZ window, one bad file; the oracle model."""
    root = tmp_path_factory.mktemp("dask")
    data = root / "data"
    data.mkdir()
    for f in range(2):
        traces = []
        for k, station in enumerate(("AAA", "BBB")):
            traces += station_traces(station, T0 + f * 600, [1000 + 300 * f + 50 * k], [5000])
        Stream(traces).write(str(data / f"day{f}.mseed"), format="MSEED", encoding="FLOAT32")
    window = np.zeros((3000, 3), np.float32)
    window[1200, 2] = 1.0
    write_records([Record(window, 100.0, "XX.WIN..HH", T0, name="win")], data, "npz")
    (data / "bad.mseed").write_bytes(b"not miniSEED")
    model = save_model(make_oracle(), root / "oracle.keras")
    return {"root": root, "data": data, "model": str(model)}


def test_local_cluster_gives_the_single_process_picks(archive, tmp_path, caplog):
    pytest.importorskip("distributed")
    base = ["predict", str(archive["data"]), "--model", archive["model"], "-q"]
    single, dask, shard = tmp_path / "single.csv", tmp_path / "dask.csv", tmp_path / "shard.csv"
    assert main([*base, "-o", str(single)]) == 1  # bad.mseed fails, the rest is written
    assert len(single.read_text().splitlines()) == 1 + 2 * 2 * 2 + 1
    units = dask_backend.units_of({p: None for p in sorted(archive["data"].iterdir())})
    assert len(units) == 6  # 2 files × 2 stations, the window file, the bad file

    with dask_backend.dask_client() as client:  # the local cluster a bare --dask starts
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2 and all(a.startswith("tcp://127.0.0.1:") for a in workers)
        address = f"--dask={client.scheduler.address}"
        with caplog.at_level(logging.ERROR, logger="picker"):
            assert main([*base, "-o", str(dask), address]) == 1
        assert any("bad.mseed" in r.getMessage() for r in caplog.records)
        assert dask.read_text() == single.read_text()
        # a shard on the cluster picks what the same shard picks in one process
        assert main([*base, "-o", str(shard), address, "--shard", "1/3"]) == 0
        assert main([*base, "-o", str(tmp_path / "one.csv"), "--shard", "1/3"]) == 0
        assert shard.read_text() == (tmp_path / "one.csv").read_text()
        results = list(dask_backend.predict_units(client, units, archive["model"]))
        loads = client.run(lambda: dask_backend._worker_model.cache_info().misses)
    assert sorted((r.path.name, r.station) for r in results) == sorted(
        (p.name, s) for p, s in units
    )
    assert [r.error is not None for r in results].count(True) == 1
    assert all(n <= 1 for n in loads.values()), loads  # each worker loaded the model once


def test_bad_address_and_missing_dask_are_clear_errors(archive, tmp_path, monkeypatch, caplog):
    with pytest.raises(ConfigError, match="scheduler address"):
        dask_backend.check_address("data/archive")
    assert dask_backend.check_address("tcp://127.0.0.1:8786")
    assert dask_backend.check_address("localhost:8786")
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # as if not installed
    out = tmp_path / "p.csv"
    args = ["predict", str(archive["data"]), "--model", archive["model"], "-o", str(out)]
    with caplog.at_level(logging.ERROR, logger="picker"):
        assert main([*args, "--dask"]) == 2
    assert any("pip install picker[dask]" in r.getMessage() for r in caplog.records)
    assert not out.exists()
    assert main([*args, "--dask", "--plot", str(tmp_path / "plots")]) == 2
