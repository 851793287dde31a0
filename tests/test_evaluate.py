import numpy as np
import pytest

from picker.evaluation.metrics import format_table
from picker.picks.matching import PickMetrics, evaluate_probabilities, match_picks


def test_match_within_tolerance_inclusive():
    counts = match_picks([10.0], [10.1], tolerance_s=0.1)
    assert (counts.tp, counts.fp, counts.fn) == (1, 0, 0)
    assert counts.residuals_s == [pytest.approx(0.1)]
    counts = match_picks([10.0], [10.1001], tolerance_s=0.1)
    assert (counts.tp, counts.fp, counts.fn) == (0, 1, 1)


def test_double_picks_count_one_true_and_one_false():
    counts = match_picks([5.0], [4.98, 5.03], tolerance_s=0.1)
    assert (counts.tp, counts.fp, counts.fn) == (1, 1, 0)
    assert counts.residuals_s == [pytest.approx(-0.02)]


def test_nearest_pairs_first_one_to_one():
    # two references, two predictions: the closest pair matches first, the other still matches
    counts = match_picks([1.0, 1.15], [1.09, 1.2], tolerance_s=0.1)
    assert (counts.tp, counts.fp, counts.fn) == (2, 0, 0)
    assert sorted(counts.residuals_s) == pytest.approx([0.05, 0.09])


def test_no_predictions_and_no_references():
    assert (lambda c: (c.tp, c.fp, c.fn))(match_picks([1, 2], [], 0.1)) == (0, 0, 2)
    assert (lambda c: (c.tp, c.fp, c.fn))(match_picks([], [1, 2, 3], 0.1)) == (0, 3, 0)
    with pytest.raises(ValueError, match="tolerance_s must be >= 0"):
        match_picks([], [], -1)


def test_summary_numbers_on_a_known_case():
    m = PickMetrics(0.1)
    m.add_window({"P": [1.0], "S": [2.0]}, {"P": [1.02], "S": [2.5]})
    m.add_window({"P": [1.0], "S": []}, {"P": [0.96, 3.0], "S": []})
    m.add_window({"P": [], "S": []}, {"P": [10.0], "S": [11.0, 12.0]}, duration_s=1800.0)
    p, s = m.summary()["P"], m.summary()["S"]
    assert (p["tp"], p["fp"], p["fn"]) == (2, 2, 0)
    assert p["precision"] == pytest.approx(0.5) and p["recall"] == 1.0
    assert p["f1"] == pytest.approx(2 / 3)
    assert p["residual_mean_ms"] == pytest.approx(-10.0)
    assert p["residual_std_ms"] == pytest.approx(30.0)
    assert p["residual_mae_ms"] == pytest.approx(30.0)
    assert p["false_picks_per_hour"] == pytest.approx(2.0)
    assert (s["tp"], s["fp"], s["fn"]) == (0, 3, 1)
    assert s["f1"] == 0.0 and s["false_picks_per_hour"] == pytest.approx(4.0)
    assert "P" in format_table(m.summary())


def test_evaluate_probabilities_end_to_end():
    n = 1000
    prob = np.zeros((n, 3), np.float32)
    prob[:, 0] = 1
    prob[300, :] = [0.1, 0.9, 0.0]
    prob[520, :] = [0.2, 0.0, 0.8]
    m = evaluate_probabilities([prob, prob], [(305, 520), (400, -1)], 100.0, tolerance_s=0.1)
    p, s = m.summary()["P"], m.summary()["S"]
    assert (p["tp"], p["fp"], p["fn"]) == (1, 1, 1)
    assert p["residual_mean_ms"] == pytest.approx(-50.0)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 0)


def test_sources_table_keeps_a_long_source_name_apart_from_the_phase():
    from picker.evaluation.metrics import format_sources_table

    metrics = PickMetrics(0.1)
    metrics.add_window({"P": [1.0], "S": []}, {"P": [1.02], "S": []})
    summary = metrics.summary()
    short = format_sources_table({"model": summary}).splitlines()
    assert short[0].startswith("source  phase") and short[1].startswith("model   P")
    lines = format_sources_table({"model": summary, "PhaseNet": summary}).splitlines()
    assert [line.split()[:2] for line in lines[1:]] == [
        ["model", "P"],
        ["model", "S"],
        ["PhaseNet", "P"],
        ["PhaseNet", "S"],
    ]
    assert len({line.index(" P ") if " P " in line else None for line in lines[1:]} - {None}) == 1
