"""Tests for picker.training.augment: invariants of each augmentation on small synthetic windows."""

import math
import re

import numpy as np
import pytest

from picker.preprocess.normalize import normalize
from picker.training import augment as aug
from picker.training.augment import (
    DEFAULT_AUGMENT,
    add_gap,
    add_gaussian_noise,
    add_real_noise,
    augment_window,
    check_augment_config,
    drop_channels,
    flip_polarity,
    keep_vertical,
    scale_amplitude,
    stack_event,
)
from picker.training.crop import random_crop
from picker.training.labels import make_labels
from picker.training.windows import as_picks, sample_outside, shift_picks

N = 1000
ALL_ON = {key: 1.0 for key in ("p_stack", "p_scale", "p_flip", "p_drop", "p_noise", "p_gap")}


def window(seed=0, n=N, offset=(5.0, -3.0, 100.0)):
    """(n, 3) float32, E/N/Z with different scales and DC offsets."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)) * np.array([1.0, 2.0, 0.5]) + np.array(offset)
    return x.astype(np.float32)


def shifted(x, shift):
    """``x`` moved ``shift`` samples later, zero-filled."""
    out = np.zeros_like(x)
    n = len(x)
    if shift >= 0:
        out[shift:] = x[: n - shift]
    else:
        out[: n + shift] = x[-shift:]
    return out


def snr_db(signal, noise):
    return 20 * np.log10(signal.std(axis=0) / noise.std(axis=0))


# --------------------------------------------------------------------------- picks


def test_as_picks_and_shift_picks():
    assert as_picks((100, -1)) == ([100.0], [])
    assert as_picks(([1, 2.5], None)) == ([1.0, 2.5], [])
    assert as_picks(None) == ([], [])
    assert as_picks((np.array([3, -1]), float("nan"))) == ([3.0], [])
    with pytest.raises(ValueError, match="pair"):
        as_picks([1, 2, 3])
    assert shift_picks(([10.0, 95.0], [50.0]), -20, 60) == ([], [30.0])
    assert shift_picks(([10.0], [50.0]), 5, 60) == ([15.0], [55.0])


# --------------------------------------------------------------------------- no in-place change


CALLS = {
    "scale": lambda x, r: scale_amplitude(x, r, per_channel=True),
    "noise": lambda x, r: add_gaussian_noise(x, r),
    "real_noise": lambda x, r: add_real_noise(x, window(9), ([800], []), r),
    "drop": lambda x, r: drop_channels(x, r),
    "flip": lambda x, r: flip_polarity(x, r),
    "gap": lambda x, r: add_gap(x, r),
    "stack": lambda x, r: stack_event(x, ([300], [500]), window(9), ([100], [200]), r),
    "crop": lambda x, r: random_crop(x, ([300], [500]), r, 400),
    "normalize": lambda x, r: normalize(x),
    "peak": lambda x, r: normalize(x, "peak"),
    "window": lambda x, r: augment_window(
        x, ([300], [500]), r, ALL_ON, other=window(9), other_picks=([100], [200])
    ),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_input_not_modified_and_output_new_float32(name):
    x = window()
    before = x.copy()
    result = CALLS[name](x, np.random.default_rng(1))
    y = result[0] if isinstance(result, tuple) else result
    np.testing.assert_array_equal(x, before)
    assert y.dtype == np.float32
    assert not np.shares_memory(x, y)


@pytest.mark.parametrize("name", sorted(set(CALLS) - {"normalize", "peak"}))
@pytest.mark.parametrize("bad", [(N,), (N, 2), (N, 3, 1), (0, 3)])
def test_wrong_shape_names_the_shape(name, bad):
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        CALLS[name](np.zeros(bad, np.float32), np.random.default_rng(0))


# --------------------------------------------------------------------------- amplitude


def test_scale_single_factor_keeps_ratio_and_zero_crossings():
    x = window(offset=(0, 0, 0))
    factors = []
    for seed in range(50):
        y = scale_amplitude(x, np.random.default_rng(seed), 0.5, 2.0)
        ratio = y / x
        np.testing.assert_allclose(ratio, ratio[0, 0], rtol=1e-6)
        np.testing.assert_array_equal(np.sign(y), np.sign(x))
        factors.append(ratio[0, 0])
    assert 0.5 <= min(factors) < 0.8 and 1.4 < max(factors) <= 2.0


def test_scale_per_channel():
    x = window(offset=(0, 0, 0))
    y = scale_amplitude(x, np.random.default_rng(3), 0.1, 10.0, per_channel=True)
    ratio = y / x
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[0], x.shape), rtol=1e-6)
    assert len(set(ratio[0].tolist())) == 3
    assert np.all((ratio[0] >= 0.1) & (ratio[0] <= 10.0))


def test_scale_bad_range():
    with pytest.raises(ValueError, match="0 < low <= high"):
        scale_amplitude(window(), np.random.default_rng(0), 0.0, 2.0)
    with pytest.raises(ValueError, match=r"\(3.0, 2.0\)"):
        scale_amplitude(window(), np.random.default_rng(0), 3.0, 2.0)


def test_flip_is_exact_negation():
    x = window()
    np.testing.assert_array_equal(flip_polarity(x, np.random.default_rng(0)), -x)
    np.testing.assert_array_equal(flip_polarity(x), -x)


def test_drop_channels_zeroes_columns_never_all():
    x = window()
    counts = set()
    for seed in range(60):
        y = drop_channels(x, np.random.default_rng(seed), max_dropped=2)
        dropped = [c for c in range(3) if not y[:, c].any()]
        for c in range(3):
            if c not in dropped:
                np.testing.assert_array_equal(y[:, c], x[:, c])
        assert 1 <= len(dropped) <= 2
        counts.add(len(dropped))
    assert counts == {1, 2}
    for seed in range(20):
        y = drop_channels(x, np.random.default_rng(seed), max_dropped=1)
        assert sum(not y[:, c].any() for c in range(3)) == 1


def test_drop_channels_keeps_last_live_channel():
    x = window()
    x[:, :2] = 0.0  # Z only
    for seed in range(10):
        np.testing.assert_array_equal(drop_channels(x, np.random.default_rng(seed)), x)
    x = window()
    x[:, 0] = 0.0  # N and Z: exactly one of them goes
    for seed in range(10):
        y = drop_channels(x, np.random.default_rng(seed))
        assert sum(y[:, c].any() for c in range(3)) == 1


def test_keep_vertical_zeroes_e_and_n_unless_z_is_dead():
    x = window()
    y = keep_vertical(x)
    assert not y[:, :2].any()
    np.testing.assert_array_equal(y[:, 2], x[:, 2])
    x[:, 2] = 0.0  # horizontals only: nothing to keep, unchanged
    np.testing.assert_array_equal(keep_vertical(x), x)


def _sine_window(frequency_hz: float) -> np.ndarray:
    """``(N, 3)``: one sine at 100 Hz on all three components."""
    return np.repeat(np.sin(2 * np.pi * frequency_hz * np.arange(N) / 100.0)[:, None], 3, axis=1)


@pytest.mark.parametrize(
    "key, probability, x, fired",
    [
        # vertical only: E and N zeroed
        ("p_vertical_only", 0.4, window(), lambda y: not y[:, :2].any()),
        # low-pass: a 45 Hz sine is above every corner
        ("p_lowpass", 0.3, _sine_window(45.0), lambda y: np.abs(y).max() < 0.5),
    ],
)
def test_optional_augmentation_probability_and_unchanged_stream_when_off(
    key, probability, x, fired
):
    rng = np.random.default_rng(3)
    rate = np.mean(
        [fired(augment_window(x, (100, 300), rng, {key: probability})[0]) for _ in range(500)]
    )
    assert probability - 0.07 < rate < probability + 0.07
    # off (the default): the same draws as before the option existed (seven per call)
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    augment_window(x, (100, 300), a, {key: 0.0})
    b.random(7)
    assert a.random() == b.random()


def test_low_pass_keeps_the_band_below_the_corner_and_removes_the_band_above():
    t = np.arange(3000) / 100.0  # 100 Hz: Nyquist 50 Hz
    x = np.stack(
        [np.sin(2 * np.pi * 5 * t), np.sin(2 * np.pi * 30 * t), np.sin(2 * np.pi * 18.5 * t)],
        axis=1,
    )
    y = aug.low_pass(x + 7.0, corner=0.4)  # corner 20 Hz, gain 1 up to 16 Hz; offset removed
    middle = slice(500, 2500)  # away from the window edges
    np.testing.assert_allclose(y[middle, 0], x[middle, 0], atol=1e-3)  # 5 Hz kept
    assert np.abs(y[middle, 1]).max() < 1e-3  # 30 Hz removed
    assert 0.2 < np.abs(y[middle, 2]).max() < 0.8  # 18.5 Hz: on the taper
    assert y.dtype == np.float32 and y.shape == x.shape


def test_lowpass_corner_range_is_checked():
    with pytest.raises(ValueError, match="lowpass_corner_range"):
        augment_window(
            window(),
            (100, 300),
            np.random.default_rng(0),
            {"p_lowpass": 0.5, "lowpass_corner_range": (0.5, 1.5)},
        )


@pytest.mark.parametrize("bad", [0, 3, 1.5])
def test_drop_channels_bad_max(bad):
    with pytest.raises(ValueError, match=f"got {bad}"):
        drop_channels(window(), np.random.default_rng(0), bad)


def test_gap_zeroes_exactly_the_span():
    x = window()
    lengths = []
    for seed in range(40):
        y, (start, stop) = add_gap(x, np.random.default_rng(seed), max_gap_fraction=0.2)
        assert 0 <= start < stop <= N
        assert not y[start:stop].any()
        np.testing.assert_array_equal(y[:start], x[:start])
        np.testing.assert_array_equal(y[stop:], x[stop:])
        lengths.append(stop - start)
    assert 1 <= min(lengths) and max(lengths) <= 200 and max(lengths) > 100


def test_gap_bad_fraction():
    with pytest.raises(ValueError, match="max_gap_fraction must be in \\(0, 1\\], got 1.5"):
        add_gap(window(), np.random.default_rng(0), 1.5)


def test_noise_snr_within_range():
    x = window(n=4000)
    for seed in range(10):
        y = add_gaussian_noise(x, np.random.default_rng(seed), snr_db_range=(5.0, 25.0))
        assert not np.array_equal(y, x)
        snr = snr_db(x, y - x)
        assert np.all((snr > 4.5) & (snr < 25.5))
        assert np.ptp(snr) < 0.5  # one SNR for all channels
    y = add_gaussian_noise(x, np.random.default_rng(0), snr_db_range=(20.0, 20.0))
    np.testing.assert_allclose(snr_db(x, y - x), 20.0, atol=0.3)


def real_noise_source(n=N, first_pick=600):
    """A window of 'another record': noise of std 3 before ``first_pick``, a huge event after."""
    other = window(seed=5, n=n, offset=(0.0, 0.0, 0.0)) * 3.0 / np.array([1.0, 2.0, 0.5])
    other[first_pick:] *= 1e6
    return other.astype(np.float32)


def test_real_noise_comes_from_before_the_first_pick_at_the_drawn_snr():
    x = window(n=N, offset=(0.0, 0.0, 0.0))
    x[:, 1] = 0.0  # a dead channel stays dead
    other = real_noise_source()
    y = add_real_noise(x, other, ([600], [800]), np.random.default_rng(0), (6.0, 6.0))
    added = y - x
    assert not y[:, 1].any()
    np.testing.assert_allclose(snr_db(x[:, [0, 2]], added[:, [0, 2]]), 6.0, atol=0.01)
    # only the first 600 - 50 samples of other: repeated forwards, backwards, forwards
    source = other[:550, 0] - other[:550, 0].mean()
    gain = added[0, 0] / source[0]
    np.testing.assert_allclose(added[:550, 0], gain * source, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(added[550:1000, 0], gain * source[::-1][:450], rtol=1e-4, atol=1e-6)
    assert np.abs(added).max() < 1e3  # nothing of the event after the pick


def test_real_noise_needs_enough_noise_and_a_live_source_channel():
    x = window()
    short = add_real_noise(
        x, real_noise_source(first_pick=300), ([300], []), np.random.default_rng(0)
    )
    np.testing.assert_array_equal(short, x)  # 250 samples before the pick: too little
    flat = add_real_noise(x, np.zeros_like(x), ([], []), np.random.default_rng(0))
    np.testing.assert_array_equal(flat, x)
    vertical_source = real_noise_source()
    vertical_source[:, :2] = 0.0  # a vertical-only record lends its Z to every channel
    y = add_real_noise(x, vertical_source, ([], []), np.random.default_rng(0), (0.0, 0.0))
    np.testing.assert_allclose(snr_db(x, y - x), 0.0, atol=0.01)


def test_real_noise_in_augment_window_and_unchanged_stream_when_off():
    x, other = window(), real_noise_source()
    cfg = {"p_real_noise": 1.0, "real_noise_snr_db_range": (10.0, 10.0)}
    y, picks = augment_window(x, (100, 300), np.random.default_rng(0), cfg, other=other,
                              other_picks=([600], []))  # fmt: skip
    assert picks == ([100.0], [300.0])  # the noise brings no picks
    np.testing.assert_allclose(snr_db(x, y - x), 10.0, atol=0.01)
    alone, _ = augment_window(x, (100, 300), np.random.default_rng(0), cfg)
    np.testing.assert_array_equal(alone, x)  # no other record: nothing to add
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    augment_window(x, (100, 300), a, {"p_real_noise": 0.0}, other=other, other_picks=([600], []))
    b.random(7)
    assert a.random() == b.random()


def test_noise_is_gaussian_and_spares_zero_channels():
    x = window(n=30000, offset=(0, 0, 0))
    x[:, 1] = 0.0
    y = add_gaussian_noise(x, np.random.default_rng(0), (0.0, 0.0))
    noise = (y - x)[:, [0, 2]] / x[:, [0, 2]].std(axis=0)
    assert not y[:, 1].any()
    assert abs(noise.mean()) < 0.02
    np.testing.assert_allclose(noise.std(axis=0), 1.0, atol=0.02)
    kurtosis = np.mean(noise**4, axis=0) / np.mean(noise**2, axis=0) ** 2
    np.testing.assert_allclose(kurtosis, 3.0, atol=0.15)


# --------------------------------------------------------------------------- stacking


def test_stack_keeps_picks_and_adds_shifted_other():
    n = 2000
    x, other = window(1, n), window(2, n)
    picks, other_picks = ([300.0], [500.0]), ([200.0], [400.0])
    std_ratio = other.std() / x.std()
    seen = []
    for seed in range(30):
        y, new = stack_event(
            x, picks, other, other_picks, np.random.default_rng(seed), (0.1, 1.0), 100
        )
        added_p = [p for p in new[0] if p != 300.0]
        assert 300.0 in new[0] and 500.0 in new[1] and len(added_p) == 1
        assert new[0] == sorted(new[0]) and new[1] == sorted(new[1])
        shift = int(added_p[0] - 200.0)
        assert added_p[0] == 200.0 + shift
        assert 0 <= added_p[0] < n
        assert abs(added_p[0] - 300) >= 100 and abs(added_p[0] - 500) >= 100
        expected_s = [400.0 + shift] if 0 <= 400 + shift < n else []
        assert sorted(set(new[1]) - {500.0}) == expected_s
        moved = shifted(other, shift)
        added = y - x
        gain = float(np.vdot(added, moved) / np.vdot(moved, moved))
        np.testing.assert_allclose(added, gain * moved, atol=1e-4 * np.abs(x).max())
        assert 0.1 - 1e-4 <= gain * std_ratio <= 1.0 + 1e-4
        seen.append(added_p[0])
    assert min(seen) < 0.4 * n and max(seen) > 0.6 * n


def test_stack_without_room_or_signal_returns_copy():
    x, other = window(1, 300), window(2, 300)
    picks = ([100.0], [200.0])
    y, new = stack_event(x, picks, other, ([50.0], []), np.random.default_rng(0), (0.5, 0.5), 250)
    np.testing.assert_array_equal(y, x)
    assert new == picks
    y, new = stack_event(x, picks, np.zeros_like(x), ([50.0], []), np.random.default_rng(0))
    np.testing.assert_array_equal(y, x)
    assert new == picks


def test_stack_other_without_picks():
    x, other = window(1), window(2)
    y, new = stack_event(x, ([300], [500]), other, (-1, -1), np.random.default_rng(4))
    assert new == ([300.0], [500.0])
    assert not np.array_equal(y, x)


def test_stack_shape_mismatch():
    with pytest.raises(ValueError, match=r"\(500, 3\)"):
        stack_event(window(), (1, 2), window(n=500), (1, 2), np.random.default_rng(0))


# --------------------------------------------------------------------------- cropping


def test_crop_content_and_picks_shift_by_offset():
    x = window(n=6000)
    picks = ([3000.0], [3400.0])
    for seed in range(20):
        crop, new, offset = random_crop(x, picks, np.random.default_rng(seed), 3001)
        assert crop.shape == (3001, 3)
        np.testing.assert_array_equal(crop, x[offset : offset + 3001])
        assert new[0] == [3000.0 - offset]
        expected_s = [3400.0 - offset] if 3400 - offset < 3001 else []
        assert new[1] == expected_s


def test_crop_puts_p_anywhere():
    x = window(n=6000)
    positions = []
    for seed in range(200):
        _, new, _ = random_crop(x, ([3000], [3400]), np.random.default_rng(seed), 3001)
        positions.append(new[0][0])
    positions = np.array(positions)
    margin = 3001 // 20
    assert positions.min() >= margin and positions.max() <= 3000 - margin
    assert (positions < 1000).any() and (positions > 2000).any()


def test_crop_margin_and_uniform_mode():
    x = window(n=2000)
    for seed in range(30):
        _, new, _ = random_crop(
            x, ([1000], []), np.random.default_rng(seed), 500, margin_samples=50
        )
        assert 50 <= new[0][0] <= 449
    offsets = {
        random_crop(x, ([1000], []), np.random.default_rng(s), 500, pick_mode="uniform")[2]
        for s in range(50)
    }
    assert min(offsets) < 300 and max(offsets) > 1200  # P often outside the crop


def test_crop_noise_only():
    x = window(n=6000)
    picks = ([3000.0], [3400.0])
    offsets = []
    for seed in range(50):
        crop, new, offset = random_crop(
            x, picks, np.random.default_rng(seed), 1000, noise_only=True
        )
        assert new == ([], [])
        assert not (offset <= 3000 < offset + 1000) and not (offset <= 3400 < offset + 1000)
        np.testing.assert_array_equal(crop, x[offset : offset + 1000])
        offsets.append(offset)
    assert min(offsets) < 2000 and max(offsets) > 3400  # before P and after S
    with pytest.raises(ValueError, match="avoids the picks"):
        random_crop(
            window(n=3001), ([1000], [1500]), np.random.default_rng(0), 3001, noise_only=True
        )
    # the last pre-P window ends right before the P sample
    crop, new, offset = random_crop(
        x[:3001], ([3000], []), np.random.default_rng(0), 3000, noise_only=True
    )
    assert offset == 0 and new == ([], [])


def test_crop_shorter_input_is_zero_padded():
    x = window(n=300)
    for seed in range(20):
        crop, new, offset = random_crop(x, ([100], [150]), np.random.default_rng(seed), 500)
        assert -200 <= offset <= 0
        np.testing.assert_array_equal(crop[-offset : -offset + 300], x)
        assert not crop[:-offset].any() and not crop[-offset + 300 :].any()
        assert new == ([100.0 - offset], [150.0 - offset])


def test_crop_bad_args():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="'center'"):
        random_crop(window(), (1, 2), rng, 100, pick_mode="center")
    with pytest.raises(ValueError, match="n_samples_out must be an integer >= 1, got 0"):
        random_crop(window(), (1, 2), rng, 0)


# --------------------------------------------------------------------------- normalisation


def test_normalize_std_and_peak():
    x = window()
    y = normalize(x)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-5)
    p = normalize(x, "peak")
    np.testing.assert_allclose(np.abs(p).max(axis=0), 1.0, rtol=1e-7)
    np.testing.assert_allclose(p.mean(axis=0), 0.0, atol=1e-6)
    xc = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    np.testing.assert_allclose(p * np.abs(xc).max(axis=0), y * xc.std(axis=0), atol=1e-5)


def test_normalize_zero_constant_and_tiny():
    x = window()
    x[:, 0] = 0.0
    x[:, 1] = 0.1  # constant, not exactly representable
    for mode in ("std", "peak"):
        y = normalize(x, mode)
        assert np.all(y[:, :2] == 0.0)
        assert np.isfinite(y).all()
    assert not normalize(np.zeros((50, 3), np.float32)).any()
    tiny = (window() * 1e-30).astype(np.float32)
    y = normalize(tiny)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-4)
    assert np.isfinite(normalize(tiny, "peak")).all()


def test_normalize_eps_and_dc_offset():
    x = window()
    x[:, 2] = 1e5 + x[:, 2] * 1e-3  # large DC offset, small signal
    y = normalize(x, eps=1.0)
    assert not y[:, 2].any()
    np.testing.assert_allclose(y[:, :2].std(axis=0), 1.0, rtol=1e-5)
    assert np.isfinite(normalize(x)).all()


def test_normalize_batch_equals_per_window():
    batch = np.stack([window(s) for s in range(4)])
    batch[2] = 0.0
    for mode in ("std", "peak"):
        out = normalize(batch, mode)
        assert out.shape == batch.shape
        for i in range(4):
            np.testing.assert_array_equal(out[i], normalize(batch[i], mode))


def test_normalize_bad_args():
    with pytest.raises(ValueError, match=r"\(10, 2\)"):
        normalize(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="'max'"):
        normalize(window(), "max")
    with pytest.raises(ValueError, match="got -1"):
        normalize(window(), eps=-1)


# --------------------------------------------------------------------------- pipeline


def test_augment_window_all_off_returns_input_unchanged():
    x = window()
    for config in (None, {}, dict(DEFAULT_AUGMENT)):
        y, picks = augment_window(x, ([300], [-1]), np.random.default_rng(0), config)
        np.testing.assert_array_equal(y, x)
        assert y is not x
        assert picks == ([300.0], [])


def test_augment_window_unknown_and_bad_keys():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="p_shift"):
        augment_window(window(), (1, 2), rng, {"p_shift": 0.5})
    with pytest.raises(ValueError, match="p_noise must be a probability in \\[0, 1\\], got 1.5"):
        augment_window(window(), (1, 2), rng, {"p_noise": 1.5})
    with pytest.raises(ValueError, match="scale_range"):
        check_augment_config({"scale_range": (2.0, 1.0)})
    with pytest.raises(ValueError, match="drop_max_channels"):
        check_augment_config({"drop_max_channels": 3})
    assert check_augment_config(None) == dict(DEFAULT_AUGMENT)


def test_augment_window_deterministic():
    x, other = window(1), window(2)
    kwargs = {"other": other, "other_picks": ([100], [250])}
    a = augment_window(x, ([300], [500]), np.random.default_rng(7), ALL_ON, **kwargs)
    b = augment_window(x, ([300], [500]), np.random.default_rng(7), ALL_ON, **kwargs)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    c = augment_window(x, ([300], [500]), np.random.default_rng(8), ALL_ON, **kwargs)
    assert not np.array_equal(a[0], c[0])


def test_augment_window_applies_each_step():
    x, other = window(1), window(2)
    rng = np.random.default_rng(0)
    y, picks = augment_window(x, ([300], [500]), rng, {"p_flip": 1.0})
    np.testing.assert_array_equal(y, -x)
    y, picks = augment_window(x, ([300], [500]), rng, {"p_stack": 1.0})  # no other: skipped
    np.testing.assert_array_equal(y, x)
    y, picks = augment_window(
        x, ([300], [500]), rng, {"p_stack": 1.0}, other=other, other_picks=([100], [250])
    )
    assert len(picks[0]) == 2 and 300.0 in picks[0]
    y, _ = augment_window(x, ([300], [500]), rng, {"p_gap": 1.0, "gap_max_fraction": 0.5})
    assert (~y.any(axis=1)).sum() >= 1
    y, _ = augment_window(x, ([300], [500]), rng, {"p_drop": 1.0, "drop_max_channels": 1})
    assert sum(not y[:, c].any() for c in range(3)) == 1
    labels = make_labels(N, *picks, shape="gaussian", width_samples=10, sparse=False)
    assert labels[300, 1] == 1.0


def test_augment_window_fast_enough():
    """Loose guard (the pipeline needs thousands of windows per second)."""
    import time

    x, other = window(1, 3001), window(2, 3001)
    rng = np.random.default_rng(0)
    rounds = []  # the fastest of 5 rounds: other work on the machine slows single rounds down
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(20):
            y, picks = augment_window(
                x, ([1000], [1400]), rng, ALL_ON, other=other, other_picks=([500], [900])
            )
            make_labels(3001, *picks, shape="gaussian", width_samples=20, sparse=False)
        rounds.append((time.perf_counter() - start) / 20)
    per_call = min(rounds)
    assert per_call < 2e-3, f"{per_call * 1e6:.0f} us per call"


def test_sample_outside_uniform_over_gaps():
    rng = np.random.default_rng(0)
    draws = [sample_outside(0, 9, [(2, 5), (4, 8)], rng) for _ in range(300)]
    assert set(draws) == {0, 1, 8, 9}
    assert sample_outside(0, 9, [(-5, 20)], rng) is None
    assert math.isclose(np.mean(np.array(draws) < 2), 0.5, abs_tol=0.1)


def test_glitch_adds_a_step_spike_boxcar_burst_or_gated_burst_without_moving_picks():
    from picker.training.augment import add_glitch, augment_window

    x = np.random.default_rng(0).standard_normal((1000, 3)).astype(np.float32)
    kinds = set()
    for seed in range(30):
        y, kind = add_glitch(x, np.random.default_rng(seed))
        kinds.add(kind)
        diff = y - x
        changed = np.flatnonzero(np.abs(diff).max(axis=1) > 0)
        assert len(changed) >= 1 and np.all(np.diff(changed) == 1)  # one contiguous span
        if kind == "spike":
            assert len(changed) == 1
        if kind == "step":
            assert changed[-1] == 999
        if kind in ("burst", "gated"):  # noise over 20-300 samples
            assert len(changed) <= 300 and (len(changed) >= 20 or changed[-1] == 999)
            envelope = np.abs(diff[changed]).max(axis=1)
            assert np.ptp(np.sign(diff[changed]), 0).any()
            if kind == "burst":  # under a Hann envelope: largest in the middle
                assert envelope[0] < envelope.max() / 2
            else:  # switched on with a sharp edge: loud from its first sample on
                assert np.abs(diff[changed[:5]]).max() > 0.5 * np.abs(diff[changed]).std()
        else:
            assert np.abs(diff[changed]).max() >= 3 * x.std(axis=0).min() * 0.99
    assert kinds == {"step", "spike", "boxcar", "burst", "gated"}
    y, picks = augment_window(x, ([100.0], [300.0]), np.random.default_rng(1), {"p_glitch": 1.0})
    assert picks == ([100.0], [300.0]) and not np.array_equal(y, x)
