"""``metrics.oracle`` sweeps its candidate thresholds for all metrics at once (``metrics.sweep``): the same
bests as calling each one-threshold metric at each candidate, as it did before."""

import numpy as np
import pytest

from vae_lstm import metrics
from vae_lstm.metrics import sweep


def _by_loop(s, y, ok, candidates) -> dict:
    """Each metric at each candidate through the one-threshold functions: the oracle's former inner loop."""
    return {name: [fn(y, (s >= t) & ok) for t in candidates] for name, fn in metrics.AT_THRESHOLD.items()
            if name in ("pak_auc", "affiliation", "range_based", "event")}


def _oracle_by_loop(s, y, ok, thresholds=()) -> dict:
    candidates = np.unique(np.concatenate([np.quantile(s[ok], np.linspace(0.0, 1.0, metrics.N_CANDIDATES + 1)),
                                           np.asarray(thresholds, float)])) if ok.any() else []
    out = {}
    for name, fn in metrics.AT_THRESHOLD.items():
        if name in ("pointwise", "point_adjusted"):
            continue
        best = {"f1": 0.0, "threshold": float("nan")}
        for t in candidates[::-1]:
            m = fn(y, (s >= t) & ok)
            if m["f1"] > best["f1"] or not np.isfinite(best["threshold"]):
                best = {**m, "threshold": float(t)}
        out[name] = best
    return out


def _case(rng):
    """Short series with ties, windows at both ends, windows one point apart and one-point windows."""
    n = int(rng.integers(2, 40))
    y = rng.random(n) < rng.choice([0.1, 0.3, 0.6])
    if rng.random() < 0.3:
        y[0] = True
    if rng.random() < 0.3:
        y[-1] = True
    s = rng.integers(0, rng.choice([3, 6, 50]), n).astype(float)  # few levels: many ties
    ok = rng.random(n) < rng.choice([1.0, 0.8, 0.4])
    return s, y, ok


# precision sums (affiliation's per point, range-based's over fewer ranges) round differently
EXACT = {"pak_auc": ("f1",), "event": ("precision", "recall", "f1"), "range_based": ("recall",),
         "affiliation": ("recall",)}


def _same(a: float, b: float, tol: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or abs(a - b) <= tol


@pytest.mark.parametrize("seed", range(4))
def test_sweep_is_each_metric_at_each_threshold(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        s, y, ok = _case(rng)
        if not y.any() or y.all():  # labels of one class: undefined (NaN), never swept
            continue
        candidates = np.unique(np.concatenate((s, s + 0.5, [s.min() - 1, s.max() + 1])))
        got = sweep.at_thresholds(s, y, ok, candidates)
        want = _by_loop(s, y, ok, candidates)
        for name, rows in want.items():
            assert len(got[name]) == len(rows)
            for t, g, w in zip(candidates, got[name], rows, strict=True):
                assert set(g) == set(w), (name, g, w)
                for key in g:
                    tol = 0.0 if key in EXACT[name] else 1e-12
                    assert _same(g[key], w[key], tol), (name, key, t, g, w, s, y.astype(int), ok.astype(int))


@pytest.mark.parametrize("seed", range(4))
def test_oracle_is_the_loop_over_candidates(seed):
    rng = np.random.default_rng(100 + seed)
    checked = 0
    for _ in range(15):
        s, y, ok = _case(rng)
        if metrics.degenerate(y, ok):
            continue
        extra = rng.choice(s, 2) + 0.25
        got, want = metrics.oracle(s, y, ok, extra), _oracle_by_loop(s, y, ok, extra)
        for name, w in want.items():
            assert got[name] == w, (name, got[name], w)  # the metric's own values at the same threshold
        checked += 1
    assert checked >= 5


def test_sweep_on_a_long_series_matches_the_loop_at_some_thresholds():
    """Many labelled windows, long runs of flagged points across the gaps between them."""
    rng = np.random.default_rng(7)
    n = 3000
    y = np.zeros(n, bool)
    for start in rng.integers(0, n - 40, 60):
        y[start:start + rng.integers(1, 40)] = True
    y[:5] = y[-3:] = True
    s = np.round(rng.normal(size=n) + 1.5 * y + np.sin(np.arange(n) / 50), 1)
    ok = rng.random(n) > 0.05
    candidates = np.unique(np.quantile(s[ok], np.linspace(0, 1, 25)))
    got, want = sweep.at_thresholds(s, y, ok, candidates), _by_loop(s, y, ok, candidates)
    for name, rows in want.items():
        for g, w in zip(got[name], rows, strict=True):
            for key in g:
                assert _same(g[key], w[key], 0.0 if key in EXACT[name] else 1e-12), (name, key, g, w)


def test_oracle_picks_by_hand():
    """Two windows; at 0.8 (a rule's threshold, so a candidate) event F1 is best: both windows hit, one false
    point, precision 2/3 and F1 0.8 (0.85 misses a window: F1 0.5; 0.1 flags all: 2 * 0.3 / 1.3)."""
    y = np.array([0, 1, 1, 0, 0, 0, 1, 0, 0, 0], bool)
    s = np.array([0.1, 0.9, 0.1, 0.1, 0.85, 0.1, 0.8, 0.1, 0.1, 0.1])
    event = metrics.oracle(s, y, thresholds=[0.8])["event"]
    assert event["threshold"] == 0.8 and event["recall"] == 1.0 and event["precision"] == 2 / 3
    assert event["f1"] == pytest.approx(0.8)


def test_oracle_reports_each_metric_at_its_threshold_and_ties_go_to_the_largest():
    """One event J = [1, 2) in a zone [0, 30) (|E| 30, m 1): a flagged point at distance d >= 1 after J has
    precision (28 - d) / 30, so flagging 9, 10 and 20 (threshold 1) gives (40 + 9.5) / 90 = 0.55 and adding 13
    (threshold 0) (40 + 9.5 + 16.5) / 120 = 0.55; recall 1 - 9 / 30 = 0.7 at both (9 stays the nearest): a tie,
    which goes to the largest threshold, 1. The sweep's precision at 1 came out 0.5499999999999999: the oracle
    chose 0 and reported less than the metric gives at its threshold. Random float scores: each value is what
    the metric itself gives at the oracle's threshold, bit for bit (a rule at that threshold never beats it)."""
    s = np.zeros(30)
    s[[9, 10, 20]] = 1.0
    y = np.zeros(30, bool)
    y[1] = True
    ok = np.zeros(30, bool)
    ok[[9, 10, 13, 20]] = True
    aff = metrics.oracle(s, y, ok)["affiliation"]
    assert aff == {"precision": 0.55, "recall": 0.7, "f1": 2 * 0.55 * 0.7 / 1.25, "threshold": 1.0}
    rng = np.random.default_rng(0)
    for _ in range(8):
        n = int(rng.integers(20, 200))
        y = np.zeros(n, bool)
        for start in rng.integers(0, n, int(rng.integers(1, 6))):
            y[start:start + rng.integers(1, 15)] = True
        s, ok = rng.normal(size=n) + y * rng.random(), rng.random(n) > 0.1
        if metrics.degenerate(y, ok):
            continue
        got, want = metrics.oracle(s, y, ok), _oracle_by_loop(s, y, ok)
        for name, w in want.items():
            assert got[name] == w, (name, got[name], w)
            assert {k: v for k, v in w.items() if k != "threshold"} == metrics.AT_THRESHOLD[name](
                y, (s >= w["threshold"]) & ok)
