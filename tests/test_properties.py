"""Property test of :func:`picker.prediction.predict.predict_stream` on random rates, gaps and amplitudes.

Streams of spike "events" (the oracle of ``tests/oracle.py`` picks a spike exactly) at a random
rate and amplitude, cut by 0–3 random gaps. Whatever the layout: nothing escapes, no pick lies in
a gap, near its edges or outside the data, and the picks away from the gaps are those of the
same stream without gaps, within one sample at the model rate.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from obspy import Stream, Trace, UTCDateTime
from oracle import make_oracle

from picker.prediction import predict as pr

T0 = UTCDateTime(2024, 3, 1)
MODEL = make_oracle(p_gain=3.0, s_gain=3.0)  # gain 3: a 20 Hz spike is a 5-sample pulse at 100 Hz
AWAY_S = 2.0  # "away from gaps": this far from every gap edge and from the data's ends
TOLERANCE_S = 1 / pr.MODEL_SAMPLING_RATE_HZ  # one sample at the model rate ...


def tolerance_s(rate: float) -> float:
    """... seen through pick indices at the input rate: a model-rate peak one sample later can
    round to the next input sample (at 20 Hz one input sample is five model samples)."""
    return TOLERANCE_S + 1 / rate + 1e-6


@st.composite
def layouts(draw):
    rate = draw(st.sampled_from([20.0, 40.0, 50.0, 100.0, 200.0, 250.0]))
    duration = draw(st.floats(30.0, 600.0))
    amplitude = 10 ** draw(st.floats(-9.0, 6.0))
    gaps = []
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.floats(0.0, duration - 1.0))
        length = draw(st.floats(0.05, min(30.0, duration / 4)))
        gaps.append((start, min(start + length, duration)))
    # events every 10-25 s from 1 s on: a P spike on Z, sometimes an S spike on E 1.5 s later
    events, t = [], 1.0 + draw(st.floats(0.0, 3.0))
    while t < duration - 3.0:
        events.append((t, draw(st.booleans())))
        t += draw(st.floats(10.0, 25.0))
    return rate, duration, amplitude, gaps, events


def make_stream(rate, duration, amplitude, gaps, events, with_gaps: bool) -> Stream:
    n = int(duration * rate)
    data = np.zeros((3, n), np.float32)
    for t, has_s in events:
        data[2, int(round(t * rate))] = amplitude
        if has_s:
            data[0, int(round((t + 1.5) * rate))] = amplitude
    keep = np.ones(n, bool)
    if with_gaps:
        for g0, g1 in gaps:
            keep[int(g0 * rate) : int(np.ceil(g1 * rate))] = False
    # one trace per contiguous kept stretch and component
    edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(np.int8), [0]])))
    traces = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        for row, code in zip(data, "ENZ", strict=True):
            header = {"network": "XX", "station": "PRO", "channel": f"HH{code}"}
            header.update(sampling_rate=rate, starttime=T0 + a / rate)
            traces.append(Trace(row[a:b].copy(), header))
    return Stream(traces)


def seconds(pick) -> float:
    return UTCDateTime(pick.time) - T0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_gappy_streams_pick_like_clean_ones(layout):
    rate, duration, amplitude, gaps, events = layout
    gappy = make_stream(*layout, with_gaps=True)
    if len(gappy) == 0:  # the gaps swallowed everything
        return
    clean_picks = pr.predict_stream(make_stream(*layout, with_gaps=False), MODEL)
    picks = pr.predict_stream(gappy, MODEL)  # nothing may escape

    start = min(tr.stats.starttime for tr in gappy) - T0
    end = max(tr.stats.endtime for tr in gappy) - T0
    # the gaps as make_stream cuts them (whole samples); those at the ends shorten the data
    holes = [(int(g0 * rate) / rate, np.ceil(g1 * rate) / rate) for g0, g1 in gaps]
    holes = [(g0, g1) for g0, g1 in holes if g1 > start and g0 < end]
    margin = pr.GAP_MARGIN_S
    for pick in picks:
        t = seconds(pick)
        assert start - 1e-9 <= t <= end + 1e-9, (pick, start, end)
        for g0, g1 in holes:  # no pick in a gap nor less than the margin from its edges
            assert not (g0 - margin - 1e-6 < t < g1 + margin - 1e-6), (pick, g0, g1)

    tolerance = tolerance_s(rate)

    def away(t: float, distance_s: float = AWAY_S) -> bool:
        inside = start + distance_s <= t <= end - distance_s
        return inside and all(t < g0 - distance_s or t > g1 + distance_s for g0, g1 in gaps)

    def near(t: float, others: list[float]) -> bool:
        return any(abs(t - other) <= tolerance for other in others)

    for phase in ("P", "S"):
        mine = [seconds(p) for p in picks if p.phase == phase]
        theirs = [seconds(p) for p in clean_picks if p.phase == phase]
        # each pick away from the gaps has its clean twin, and each clean pick away from them
        # (a tolerance further, as the twins may straddle the "away" line) has its gappy twin
        for t in mine:
            assert not away(t) or near(t, theirs), (phase, t, theirs)
        for t in theirs:
            assert not away(t, AWAY_S + tolerance) or near(t, mine), (phase, t, mine)
    # and the clean picks are the spikes (within one model sample)
    expected = sorted(round(t * rate) / rate for t, _ in events)  # the spike samples
    clean_p = sorted(seconds(p) for p in clean_picks if p.phase == "P")
    assert len(clean_p) == len(expected)
    assert np.allclose(clean_p, expected, atol=tolerance_s(rate)), (clean_p, expected)
