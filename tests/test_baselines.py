"""Classical baselines: STA/LTA and AR-AIC on synthetic windows, and as rows of ``evaluate``."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from oracle import make_oracle

from picker.cli import main
from picker.evaluation.baselines import (
    BASELINES,
    WINDOW_ONLY_BASELINES,
    StaLtaParams,
    ar_aic_picks,
    stalta_picks,
)
from picker.io import write_records
from picker.models.saving import save_model
from picker.training.synthetic import synthetic_window

RATE = 100.0
P_SAMPLE = 1000


def clear_window(seed: int, snr_db: float = 30.0):
    return synthetic_window(
        3001, RATE, p_sample=P_SAMPLE, rng=np.random.default_rng(seed), snr_db=snr_db
    )


@pytest.mark.parametrize("seed", range(5))
def test_stalta_finds_a_clear_p_onset_within_0_2_s(seed):
    record = clear_window(seed)
    picks = stalta_picks(record.data, RATE)
    p_samples = [sample for phase, sample, _ in picks if phase == "P"]
    assert p_samples, "no trigger"
    first = p_samples[0]
    assert 0 <= first - P_SAMPLE <= 0.2 * RATE  # a causal filter: never early
    assert all(score >= StaLtaParams().trigger_on for _, _, score in picks)


def test_stalta_on_noise_and_flat_or_short_data():
    noise = np.random.default_rng(3).standard_normal((3001, 3)).astype(np.float32)
    assert stalta_picks(noise, RATE) == []
    assert stalta_picks(np.zeros((3001, 3)), RATE) == []
    assert stalta_picks(noise[:400], RATE) == []  # shorter than the LTA window
    with_nan = noise.copy()
    with_nan[100:200] = np.nan
    assert stalta_picks(with_nan, RATE) == []
    with pytest.raises(ValueError, match="shape"):
        stalta_picks(noise[:, :2], RATE)
    with pytest.raises(ValueError, match="sampling_rate_hz"):
        stalta_picks(noise, 0.0)


def test_ar_aic_picks_one_p_and_one_s_on_a_clear_event():
    record = clear_window(0)
    picks = ar_aic_picks(record.data, RATE)
    phases = [phase for phase, _, _ in picks]
    assert phases.count("P") == 1 and phases.count("S") <= 1
    p_sample = next(sample for phase, sample, _ in picks if phase == "P")
    assert abs(p_sample - P_SAMPLE) <= 0.5 * RATE
    assert ar_aic_picks(np.zeros((3001, 3)), RATE) == []
    assert ar_aic_picks(record.data[:300], RATE) == []
    z_only = record.data.copy()
    z_only[:, :2] = 0  # no horizontals: P only, and no division by zero inside ObsPy
    with np.errstate(all="raise"):
        assert [phase for phase, _, _ in ar_aic_picks(z_only, RATE)] == ["P"]
    assert set(BASELINES) == {"stalta", "ar_aic"} and WINDOW_ONLY_BASELINES == {"ar_aic"}


def test_evaluate_with_baselines_adds_rows_with_finite_metrics(tmp_path, capsys):
    windows = [clear_window(seed) for seed in range(3)]
    for k, record in enumerate(windows):
        record.name = f"event{k}"
    write_records(windows, tmp_path / "windows", "npz")
    model = save_model(make_oracle(), tmp_path / "oracle.keras")
    out = tmp_path / "report"
    args = [str(tmp_path / "windows"), "--model", str(model), "--baselines", "-o", str(out)]
    assert main(["evaluate", *args, "--tolerance-s", "0.2", "-q"]) == 0
    assert "stalta  P" in capsys.readouterr().out

    report = json.loads((out / "metrics.json").read_text())
    assert list(report["sources"]) == ["model", "stalta", "ar_aic"]
    stalta = report["sources"]["stalta"]["P"]
    assert stalta["recall"] == 1.0 and stalta["tp"] == 3  # every clear onset within 0.2 s
    assert 0 <= stalta["residual_mean_ms"] <= 200
    assert report["sources"]["stalta"]["S"]["tp"] == 0  # STA/LTA names no S
    ar_p = report["sources"]["ar_aic"]["P"]
    assert ar_p["tp"] + ar_p["fn"] == 3 and ar_p["tp"] + ar_p["fp"] <= 3
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["source"], r["phase"]) for r in rows] == [
        (source, phase) for source in ("model", "stalta", "ar_aic") for phase in ("P", "S")
    ]
    for row in rows:
        for key in ("precision", "recall", "f1"):
            assert math.isfinite(float(row[key])) and 0 <= float(row[key]) <= 1
    assert all(r["threshold"] == "" for r in rows if r["source"] != "model")
