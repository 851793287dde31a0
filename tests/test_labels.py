"""Tests for picker.training.labels: exact values on tiny synthetic windows."""

import math

import numpy as np
import pytest

from picker.training.labels import (
    CLASS_NAMES,
    GAUSSIAN_TRUNCATE,
    LABEL_SHAPES,
    make_labels,
    pick_curve,
    soft_labels,
    sparse_labels,
    valid_picks,
)


def test_constants():
    assert LABEL_SHAPES == ("gaussian", "triangle", "box")
    assert CLASS_NAMES == ("noise", "P", "S")


@pytest.mark.parametrize("shape", LABEL_SHAPES)
def test_pick_curve_shape_dtype_and_peak(shape):
    curve = pick_curve(200, 73, shape, 5)
    assert curve.shape == (200,)
    assert curve.dtype == np.float32
    assert curve[73] == 1.0
    assert curve.min() >= 0.0 and curve.max() <= 1.0
    if shape != "box":
        assert int(np.argmax(curve)) == 73


def test_gaussian_values():
    sigma = 4.0
    curve = pick_curve(100, 50, "gaussian", sigma)
    assert curve[54] == pytest.approx(math.exp(-0.5), rel=1e-6)
    assert curve[46] == pytest.approx(math.exp(-0.5), rel=1e-6)
    assert curve[58] == pytest.approx(math.exp(-2.0), rel=1e-6)
    # symmetric, truncated beyond GAUSSIAN_TRUNCATE sigmas
    np.testing.assert_array_equal(curve[50:71], curve[50:29:-1])
    cut = int(GAUSSIAN_TRUNCATE * sigma)
    assert curve[50 + cut] > 0 and curve[50 + cut + 1] == 0
    assert np.count_nonzero(curve) == 2 * cut + 1


def test_gaussian_sub_sample_pick_not_rounded():
    curve = pick_curve(100, 50.5, "gaussian", 2.0)
    assert curve[50] == curve[51]
    assert curve[50] == pytest.approx(math.exp(-0.5 * 0.25**2), rel=1e-6)


def test_triangle_width_exact():
    curve = pick_curve(40, 20, "triangle", 4)
    expected = np.zeros(40, dtype=np.float32)
    expected[16:25] = [0, 0.25, 0.5, 0.75, 1, 0.75, 0.5, 0.25, 0]
    np.testing.assert_allclose(curve, expected, atol=1e-7)
    assert np.count_nonzero(curve) == 7


def test_box_width_exact():
    curve = pick_curve(40, 20, "box", 3)
    assert np.flatnonzero(curve).tolist() == list(range(17, 24))
    assert set(np.unique(curve).tolist()) == {0.0, 1.0}


def test_box_sub_sample_pick():
    # |t - 10.5| <= 2  ->  t in 9..12
    assert np.flatnonzero(pick_curve(30, 10.5, "box", 2)).tolist() == [9, 10, 11, 12]


def test_several_picks_take_maximum():
    curve = pick_curve(100, [20, 26], "triangle", 5)
    single = pick_curve(100, 20, "triangle", 5)
    other = pick_curve(100, 26, "triangle", 5)
    np.testing.assert_array_equal(curve, np.maximum(single, other))
    assert curve[20] == 1.0 and curve[26] == 1.0
    assert curve[23] == pytest.approx(0.4)


@pytest.mark.parametrize("missing", [-1, -1.0, None, float("nan"), [-1, float("nan")], []])
def test_missing_picks_ignored(missing):
    assert not pick_curve(50, missing, "gaussian", 3).any()
    labels = soft_labels(50, missing, missing)
    np.testing.assert_array_equal(labels[:, 0], 1.0)
    np.testing.assert_array_equal(labels[:, 1:], 0.0)
    assert not sparse_labels(50, missing, missing).any()


def test_missing_mixed_with_real_pick():
    np.testing.assert_array_equal(
        pick_curve(50, [-1, 10, float("nan")], "box", 2), pick_curve(50, 10, "box", 2)
    )
    assert valid_picks([3, -1, float("nan"), float("inf"), 4.5]) == [3.0, 4.5]
    assert valid_picks(np.int64(7)) == [7.0]


def test_pick_before_window_leaves_tail():
    sigma = 3.0
    curve = pick_curve(50, -5, "gaussian", sigma)
    assert curve[0] == pytest.approx(math.exp(-0.5 * (5 / sigma) ** 2), rel=1e-6)
    assert np.all(np.diff(curve[:12]) < 0)
    tri = pick_curve(50, -2, "triangle", 4)
    np.testing.assert_allclose(tri[:3], [0.5, 0.25, 0.0])


def test_pick_after_window_leaves_tail():
    curve = pick_curve(50, 51, "triangle", 4)
    np.testing.assert_allclose(curve[-3:], [0.0, 0.25, 0.5])
    assert np.count_nonzero(curve) == 2


@pytest.mark.parametrize("pick", [-100, 150, 1e12, -1e12])
@pytest.mark.parametrize("shape", LABEL_SHAPES)
def test_pick_far_outside_leaves_nothing(shape, pick):
    assert not pick_curve(50, pick, shape, 3).any()


def test_pick_at_edges():
    curve = pick_curve(50, 0, "gaussian", 2)
    assert curve[0] == 1.0 and int(np.argmax(curve)) == 0
    curve = pick_curve(50, 49, "gaussian", 2)
    assert curve[49] == 1.0 and int(np.argmax(curve)) == 49


@pytest.mark.parametrize("shape", LABEL_SHAPES)
def test_soft_labels_rows(shape):
    labels = soft_labels(300, 100, 180, shape, 10)
    assert labels.shape == (300, 3) and labels.dtype == np.float32
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    assert labels.min() >= 0.0 and labels.max() <= 1.0
    assert labels[100, 1] == 1.0 and labels[100, 0] == 0.0
    assert labels[180, 2] == 1.0 and labels[180, 0] == 0.0
    np.testing.assert_array_equal(labels[:, 1], pick_curve(300, 100, shape, 10))
    np.testing.assert_array_equal(labels[:, 2], pick_curve(300, 180, shape, 10))
    assert labels[0, 0] == 1.0 and labels[299, 0] == 1.0


def test_soft_labels_overlap_rescaled():
    # S 3 samples after P with triangles of half-width 4: at sample 11 P = 0.75, S = 0.5
    labels = soft_labels(30, 10, 13, "triangle", 4)
    p, s = pick_curve(30, 10, "triangle", 4), pick_curve(30, 13, "triangle", 4)
    total = p + s
    over = total > 1
    assert over.sum() == 4  # samples 10..13
    np.testing.assert_allclose(labels[over, 1], p[over] / total[over], rtol=1e-6)
    np.testing.assert_allclose(labels[over, 2], s[over] / total[over], rtol=1e-6)
    assert labels[11, 1] == pytest.approx(0.6) and labels[11, 2] == pytest.approx(0.4)
    assert labels[over, 0].max() <= 1e-6
    # where P + S <= 1 the curves are untouched
    np.testing.assert_array_equal(labels[~over, 1], p[~over])
    np.testing.assert_array_equal(labels[~over, 2], s[~over])
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    assert labels.min() >= 0.0 and labels.max() <= 1.0


def test_soft_labels_same_sample_split_evenly():
    labels = soft_labels(20, 10, 10, "gaussian", 2)
    np.testing.assert_allclose(labels[:, 1], labels[:, 2])
    assert labels[10].tolist() == [0.0, 0.5, 0.5]
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)


def test_sparse_labels_known_example():
    classes = sparse_labels(20, 5, 12, "box", 2)
    assert classes.dtype == np.int32 and classes.shape == (20,)
    expected = [0] * 3 + [1] * 5 + [0] * 2 + [2] * 5 + [0] * 5
    assert classes.tolist() == expected


def test_sparse_labels_overlap_rule():
    # boxes of half-width 2 at 5 and 7 overlap on 5..7 where both curves are 1: tie -> P
    assert sparse_labels(12, 5, 7, "box", 2).tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 0, 0]
    # triangles: curves >= 0.5 on 2..6 (P) and 6..10 (S); at 6 both are 0.5: tie -> P
    classes = sparse_labels(14, 4, 8, "triangle", 4)
    assert classes.tolist() == [0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0]
    # the 0.5 threshold: a gaussian is >= 0.5 within sigma * sqrt(2 ln 2) = 1.18 sigma
    classes = sparse_labels(40, 20, -1, "gaussian", 5)
    assert np.flatnonzero(classes).tolist() == list(range(15, 26))


def test_per_phase_widths():
    # box half-widths 1 (P) and 3 (S): P on 4..6, S on 9..15
    expected = [0] * 4 + [1] * 3 + [0] * 2 + [2] * 7 + [0] * 4
    assert sparse_labels(20, 5, 12, "box", (1, 3)).tolist() == expected
    soft = soft_labels(60, 10, 40, "gaussian", [2, 6])
    assert soft[12, 1] == pytest.approx(math.exp(-0.5))  # one P sigma from the pick
    assert soft[46, 2] == pytest.approx(math.exp(-0.5))  # one S sigma from the pick
    np.testing.assert_array_equal(
        soft_labels(60, 10, 40, "gaussian", [4, 4]), soft_labels(60, 10, 40, "gaussian", 4)
    )
    with pytest.raises(ValueError, match=r"a number or a \(P, S\) pair, got \[1, 2, 3\]"):
        soft_labels(10, 5, 6, "box", [1, 2, 3])
    with pytest.raises(ValueError, match="width_samples must be > 0, got 0"):
        sparse_labels(10, 5, 6, "box", (2, 0))


def test_make_labels_dispatch():
    soft = make_labels(100, 30, 60, shape="triangle", width_samples=5, sparse=False)
    np.testing.assert_array_equal(soft, soft_labels(100, 30, 60, "triangle", 5))
    sparse = make_labels(100, [30], [60], shape="box", width_samples=5, sparse=True)
    np.testing.assert_array_equal(sparse, sparse_labels(100, 30, 60, "box", 5))
    assert make_labels(10, -1, -1).shape == (10, 3)


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="width_samples must be > 0, got 0"):
        pick_curve(10, 5, "gaussian", 0)
    with pytest.raises(ValueError, match="got -2"):
        soft_labels(10, 5, 6, "box", -2)
    with pytest.raises(ValueError, match="got nan"):
        soft_labels(10, 5, 6, "box", float("nan"))
    with pytest.raises(ValueError, match="'cosine'"):
        make_labels(10, 5, 6, shape="cosine", width_samples=2, sparse=False)
    with pytest.raises(ValueError, match="'boxy'"):
        sparse_labels(10, 5, 6, "boxy", 2)
    with pytest.raises(ValueError, match="n_samples must be > 0, got 0"):
        pick_curve(0, 5)
    with pytest.raises(ValueError, match="2.5"):
        pick_curve(2.5, 1)
    with pytest.raises(ValueError, match="'x'"):
        pick_curve(10, "x")
