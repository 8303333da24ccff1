"""VUS / range-AUC (vae_lstm.metrics.vus) and range-based P/R (vae_lstm.metrics.range_based).

Checked against values computed by the authors' reference code (vus 0.0.6, prts 1.0.0.3) on fixed
inputs: tests/fixtures/vus_range_reference.json, whose "how" field says how; it was made by
tests/fixtures/make_vus_range_reference.py, which the tests do not run. Plus hand-computed cases.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from vae_lstm.metrics import range_based as rb
from vae_lstm.metrics import vus

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "vus_range_reference.json"
REF = json.loads(FIXTURE.read_text())
TOL = 1e-9  # the implementations agree to ~1e-15; the JSON keeps full float64 precision


def _labels(n: int, ranges) -> np.ndarray:
    y = np.zeros(n, dtype=int)
    for a, b in ranges:
        y[a:b] = 1
    return y


def _runs():
    for case in REF["vus_cases"]:
        for run in case["runs"]:
            yield pytest.param(case, run, id=f"{case['name']}-W{run['max_buffer']}-T{run['n_thresholds']}")


def test_fixture_says_how():
    assert "vus 0.0.6" in REF["how"] and "prts 1.0.0.3" in REF["how"]
    assert REF["versions"]["vus"] == "0.0.6" and REF["versions"]["prts"] == "1.0.0.3"


@pytest.mark.parametrize(("case", "run"), list(_runs()))
def test_vus_and_range_auc_match_reference(case, run):
    s = np.asarray(case["scores"], dtype=float)
    y = _labels(case["n"], case["label_ranges"])
    got = vus.vus_metrics(s, y, max_buffer=run["max_buffer"], n_thresholds=run["n_thresholds"])
    assert got["VUS_ROC"] == pytest.approx(run["VUS_ROC"], abs=TOL)
    assert got["VUS_PR"] == pytest.approx(run["VUS_PR"], abs=TOL)
    assert vus.vus_roc(s, y, run["max_buffer"], run["n_thresholds"]) == got["VUS_ROC"]
    assert vus.vus_pr(s, y, run["max_buffer"], run["n_thresholds"]) == got["VUS_PR"]
    if run["R_AUC_ROC"] is not None:
        r = vus.range_auc(s, y, buffer=run["max_buffer"])
        assert r["R_AUC_ROC"] == pytest.approx(run["R_AUC_ROC"], abs=TOL)
        assert r["R_AUC_PR"] == pytest.approx(run["R_AUC_PR"], abs=TOL)
        assert vus.range_auc_roc(s, y, run["max_buffer"]) == r["R_AUC_ROC"]
        assert vus.range_auc_pr(s, y, run["max_buffer"]) == r["R_AUC_PR"]


@pytest.mark.parametrize("case", REF["range_cases"], ids=lambda c: c["name"])
def test_range_based_matches_reference(case):
    y = _labels(case["n"], case["label_ranges"])
    p = _labels(case["n"], case["prediction_ranges"])
    assert len(case["results"]) == 24
    for ref in case["results"]:
        got = rb.range_precision_recall_f1(y, p, ref["alpha"], ref["cardinality"], ref["bias"])
        for key in ("precision", "recall", "f1"):
            assert got[key] == pytest.approx(ref[key], abs=1e-12), (ref, got)


def test_perfect_and_inverted_detectors():
    n = 700
    y = _labels(n, [(100, 140), (500, 520)])
    assert vus.vus_roc(y.astype(float), y, 10) == pytest.approx(1.0)
    assert vus.vus_pr(y.astype(float), y, 10) == pytest.approx(1.0)
    assert vus.vus_roc(1.0 - y, y, 10) < 0.2


@pytest.mark.parametrize("fill", [0, 1])
def test_degenerate_labels_give_nan(fill):
    s = np.random.default_rng(0).normal(size=300)
    y = np.full(300, fill)
    assert np.isnan(vus.vus_roc(s, y)) and np.isnan(vus.vus_pr(s, y))
    assert np.isnan(vus.vus_roc(s, y, max_buffer=10)) and np.isnan(vus.vus_pr(s, y, max_buffer=10))
    assert np.isnan(vus.range_auc_roc(s, y, 10)) and np.isnan(vus.range_auc_pr(s, y, 10))


def test_default_buffer_is_median_labelled_length():
    n = 1000
    y = _labels(n, [(0, 10), (100, 130), (500, 540), (990, 1000)])  # lengths 10, 30, 40, 10 -> 20
    assert vus.default_buffer(y) == 20
    s = np.random.default_rng(1).normal(size=n) + y
    assert vus.vus_pr(s, y) == vus.vus_pr(s, y, max_buffer=20)
    assert vus.vus_roc(s, y) == vus.vus_roc(s, y, max_buffer=20)
    assert vus.range_auc(s, y) == vus.range_auc(s, y, buffer=20)


def test_bool_labels_and_bad_inputs():
    n = 200
    y = _labels(n, [(50, 60)])
    s = np.random.default_rng(2).normal(size=n) + y
    assert vus.vus_pr(s, y.astype(bool), 6) == vus.vus_pr(s, y, 6)
    with pytest.raises(ValueError, match=r"^scores and labels differ in length: 199 != 200$"):
        vus.vus_pr(s[:-1], y, 6)
    with pytest.raises(ValueError, match=r"^scores must be finite$"):
        vus.vus_pr(np.where(y == 1, np.nan, s), y, 6)
    with pytest.raises(ValueError, match=r"^labels must hold only 0 and 1$"):  # as every metric says it
        vus.range_auc(s, y * 2)
    with pytest.raises(ValueError, match=r"^labels must hold only 0 and 1$"):
        rb.range_precision_recall_f1(y * 2, y)
    with pytest.raises(ValueError, match=r"^predictions must be 1-D, got shape \(1, 200\)$"):
        rb.range_precision_recall_f1(y, y[None, :])
    with pytest.raises(ValueError, match=r"^max_buffer must be an integer >= 0, got -1$"):
        vus.vus_pr(s, y, -1)
    with pytest.raises(ValueError):
        rb.range_precision_recall_f1(y, y, cardinality="udf_gamma")
    with pytest.raises(ValueError):
        rb.range_precision_recall_f1(y, y, bias="udf_delta")
    with pytest.raises(ValueError):
        rb.range_precision_recall_f1(y, y, alpha=1.5)



@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 2.5, True, "3"])
def test_buffer_and_n_thresholds_that_are_no_counts_are_named_in_a_value_error(bad):
    """max_buffer=inf was an OverflowError, NaN a ValueError that named no argument, n_thresholds=2.5 a TypeError
    from inside numpy, and n_thresholds=True ran with one threshold."""
    n = 50
    y = _labels(n, [(20, 25)])
    s = np.random.default_rng(3).normal(size=n) + y
    with pytest.raises(ValueError, match=r"^max_buffer must be an integer >= 0, got "):
        vus.vus_pr(s, y, max_buffer=bad)
    with pytest.raises(ValueError, match=r"^buffer must be an integer >= 0, got "):
        vus.range_auc(s, y, buffer=bad)
    with pytest.raises(ValueError, match=r"^n_thresholds must be an integer >= 1, got "):
        vus.vus_pr(s, y, max_buffer=4, n_thresholds=bad)
    assert vus.vus_pr(s, y, max_buffer=np.int64(4), n_thresholds=np.int64(250)) == vus.vus_pr(s, y, 4)
    assert vus.vus_pr(s, y, max_buffer=4.0) == vus.vus_pr(s, y, 4)  # a whole float is a count

# Hand-computed range-based cases: one label range [10, 20), one prediction range [15, 25).
N = 40
Y1 = _labels(N, [(10, 20)])
P1 = _labels(N, [(15, 25)])


@pytest.mark.parametrize(
    ("bias", "recall", "precision"),
    [
        ("flat", 5 / 10, 5 / 10),
        # recall weighs the label range's positions 6..10 (of 10); precision the prediction's 1..5
        ("front", (5 + 4 + 3 + 2 + 1) / 55, (10 + 9 + 8 + 7 + 6) / 55),
        ("back", (6 + 7 + 8 + 9 + 10) / 55, (1 + 2 + 3 + 4 + 5) / 55),
        ("middle", (5 + 4 + 3 + 2 + 1) / 30, (1 + 2 + 3 + 4 + 5) / 30),  # weights 1,2,3,4,5,5,4,3,2,1
    ],
)
def test_range_based_one_overlap_by_hand(bias, recall, precision):
    got = rb.range_precision_recall_f1(Y1, P1, bias=bias)
    assert got["recall"] == pytest.approx(recall)
    assert got["precision"] == pytest.approx(precision)
    assert got["f1"] == pytest.approx(2 * recall * precision / (recall + precision))


def test_range_based_defaults_are_alpha0_one_flat():
    assert rb.range_precision_recall_f1(Y1, P1) == rb.range_precision_recall_f1(Y1, P1, 0.0, "one", "flat")
    assert rb.range_precision_recall_f1(Y1, P1) == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})


def test_range_based_cardinality_by_hand():
    y = _labels(50, [(10, 30)])  # one label range of 20 points
    p = _labels(50, [(12, 15), (20, 25)])  # two predictions inside it: 3 + 5 points
    one = rb.range_precision_recall_f1(y, p, cardinality="one")
    rec = rb.range_precision_recall_f1(y, p, cardinality="reciprocal")
    assert one["recall"] == pytest.approx(8 / 20) and rec["recall"] == pytest.approx(8 / 20 / 2)
    assert one["precision"] == 1.0 and rec["precision"] == 1.0
    wide = _labels(50, [(5, 45)])  # one prediction over two label ranges
    y2 = _labels(50, [(10, 20), (30, 35)])
    assert rb.range_precision_recall_f1(y2, wide, cardinality="one")["precision"] == pytest.approx(15 / 40)
    assert rb.range_precision_recall_f1(y2, wide, cardinality="reciprocal")["precision"] == pytest.approx(
        15 / 40 / 2)


def test_range_based_alpha_weighs_recall_existence_only():
    y = _labels(100, [(10, 20), (50, 70)])
    p = _labels(100, [(18, 19), (80, 90)])  # 1 of 10 points of the first range, misses the second
    for alpha, recall in [(0.0, 0.1 / 2), (0.5, (0.5 + 0.5 * 0.1) / 2), (1.0, 1 / 2)]:
        got = rb.range_precision_recall_f1(y, p, alpha=alpha)
        assert got["recall"] == pytest.approx(recall)
        assert got["precision"] == pytest.approx((1.0 + 0.0) / 2)  # no existence term in precision


def test_range_based_empty_sides():
    y = _labels(60, [(10, 20)])
    empty = np.zeros(60, dtype=int)
    assert rb.range_precision_recall_f1(y, empty) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert rb.range_precision_recall_f1(y, empty, alpha=1.0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert rb.range_precision_recall_f1(empty, y) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert rb.range_precision_recall_f1(np.zeros(60, bool), np.zeros(60, bool))["f1"] == 0.0


def test_range_based_edges_and_bool_input():
    y = _labels(30, [(0, 5), (25, 30)])  # ranges at the very start and end
    p = _labels(30, [(0, 2), (28, 30)])
    got = rb.range_precision_recall_f1(y.astype(bool), p.astype(bool))
    assert got == pytest.approx({"precision": 1.0, "recall": (2 / 5 + 2 / 5) / 2, "f1": 2 * 0.4 / 1.4})


def test_timing_20000_points():
    """Smoke: prints the time on 20,000 points (not asserted: the machine may be busy)."""
    rng = np.random.default_rng(3)
    n = 20_000
    y = np.zeros(n, dtype=int)
    for a in rng.choice(n - 200, 10, replace=False):
        y[a:a + 100] = 1
    s = rng.normal(size=n) + y
    t0 = time.perf_counter()
    v = vus.vus_metrics(s, y, max_buffer=100)
    t1 = time.perf_counter()
    r = vus.range_auc(s, y, buffer=100)
    t2 = time.perf_counter()
    p = rb.range_precision_recall_f1(y, s > 1.5)
    t3 = time.perf_counter()
    print(f"\n20,000 points: VUS (max_buffer 100, 250 thresholds) {t1 - t0:.3f} s, "
          f"range-AUC {t2 - t1:.3f} s, range P/R ({int(np.sum(np.diff((s > 1.5).astype(int)) == 1))} "
          f"predicted ranges) {t3 - t2:.4f} s")
    assert 0 <= v["VUS_PR"] <= 1 and 0 <= r["R_AUC_ROC"] <= 1 and 0 <= p["f1"] <= 1


def test_threshold_free_runs_the_vus_buffer_loop_once(monkeypatch):
    """VUS-PR and VUS-ROC come from one loop over every buffer length up to the median labelled window, the
    costliest metric on long anomaly windows (one step per buffer length): detect.py ran it once for each, twice
    the time, for every detector and piece group. Both values are those of vus_metrics."""
    from vae_lstm import metrics

    calls = []
    curves = vus._Curves
    monkeypatch.setattr(vus, "_Curves", lambda *args: calls.append(1) or curves(*args))
    y = _labels(300, [(50, 80), (200, 240)])
    s = np.random.default_rng(0).random(300) + y
    out = metrics.threshold_free(s, y)
    assert len(calls) == 1
    both = vus.vus_metrics(s, y)
    assert (out["vus_pr"], out["vus_roc"]) == (both["VUS_PR"], both["VUS_ROC"])
    assert list(out) == ["auc_pr", "auc_roc", "vus_pr", "vus_roc"]


class _CurvesAsCommitted:
    """The VUS / range-AUC curves as committed when figures/ were scored (6ed260e), verbatim but for names: the
    faster code must give the very same floats."""

    def __init__(self, s, y, max_h, n_thresholds):
        n = self.n = len(s)
        self.starts, self.ends = vus._runs(y)
        self.P = float(y.sum())
        asc = np.sort(s)
        self.thr = asc[::-1][np.linspace(0, n - 1, n_thresholds).astype(int)]
        self.n_pred = (n - np.searchsorted(asc, self.thr, side="left")).astype(float)
        edge = np.zeros(n + 1, dtype=np.int64)
        np.add.at(edge, np.maximum(self.starts - max_h, 0), 1)
        np.add.at(edge, np.minimum(self.ends + max_h, n - 1) + 1, -1)
        self.sup = np.flatnonzero(np.cumsum(edge[:n]) > 0)
        sup_s = s[self.sup]
        self.sup_s_inf = np.append(sup_s, -np.inf)
        self.orig = y[self.sup].astype(float)
        far, k = np.iinfo(np.int64).max // 4, len(self.starts)
        i = np.searchsorted(self.ends, self.sup, side="left") - 1
        j = np.searchsorted(self.starts, self.sup, side="right")
        self.dr = np.where(i >= 0, self.sup - self.ends[np.maximum(i, 0)], far)
        self.dr2 = np.where(i >= 1, self.sup - self.ends[np.maximum(i - 1, 0)], far)
        self.dl = np.where(j < k, self.starts[np.minimum(j, k - 1)] - self.sup, far)
        self.dl2 = np.where(j + 1 < k, self.starts[np.minimum(j + 1, k - 1)] - self.sup, far)
        self.order = np.argsort(-sup_s, kind="stable")
        self.k = len(sup_s) - np.searchsorted(np.sort(sup_s), self.thr, side="left")
        self.tp_orig = self.P - np.searchsorted(np.sort(s[y]), self.thr, side="left")

    def ext(self, w):
        h = w // 2
        if h == 0:
            return self.orig.copy()
        r1, l1 = self.dr <= h, self.dl <= h
        several = (self.dr2 <= h) | (self.dl2 <= h) | (r1 & l1)
        d = np.where(r1, self.dr, np.where(l1, self.dl, w))
        return np.where((self.orig == 1) | several, 1.0, np.sqrt(1 - d / w))

    def tp(self, ext):
        return np.concatenate(([0.0], np.cumsum(ext[self.order])))[self.k]

    def existence(self, h, merge_gap):
        first = np.flatnonzero(np.concatenate(([True], (self.starts[1:] - self.ends[:-1]) > merge_gap)))
        last = np.append(first[1:] - 1, len(self.starts) - 1)
        ls = np.searchsorted(self.sup, np.maximum(self.starts[first] - h, 0))
        le = np.searchsorted(self.sup, np.minimum(self.ends[last] + h, self.n - 1)) + 1
        gmax = np.maximum.reduceat(self.sup_s_inf, np.column_stack([ls, le]).ravel())[::2]
        return (len(gmax) - np.searchsorted(np.sort(gmax), self.thr, side="left")) / len(gmax)

    def roc_pr(self, tp, n_labels, existence, pr_trapezoid):
        p_new = (self.P + n_labels) / 2
        tpr = np.minimum(tp / p_new, 1) * existence
        fpr = (self.n_pred - tp) / (self.n - p_new)
        prec = tp / self.n_pred
        tpr_c, fpr_c = np.concatenate(([0.0], tpr, [1.0])), np.concatenate(([0.0], fpr, [1.0]))
        roc = np.dot(fpr_c[1:] - fpr_c[:-1], (tpr_c[1:] + tpr_c[:-1]) / 2)
        width = tpr_c[1:-1] - tpr_c[:-2]
        if pr_trapezoid:
            prec_c = np.concatenate(([1.0], prec))
            return float(roc), float(np.dot(width, (prec_c[1:] + prec_c[:-1]) / 2))
        return float(roc), float(np.dot(width, prec))


def _as_committed(s, y, w_max, n_thresholds):
    """(VUS_ROC, VUS_PR, R_AUC_ROC, R_AUC_PR) by the committed code."""
    y = y.astype(bool)
    if len(y) == 0 or y.all() or not y.any():
        return (float("nan"),) * 4
    c = _CurvesAsCommitted(s, y, w_max // 2, n_thresholds)
    rocs, prs = np.empty(w_max + 1), np.empty(w_max + 1)
    for w in range(w_max + 1):
        tp = c.tp(c.ext(w))
        rocs[w], prs[w] = c.roc_pr(tp, c.P + tp - c.tp_orig, c.existence(w // 2, 2 * (w // 2)), False)
    ext = c.ext(w_max)
    r = c.roc_pr(c.tp(ext), float(ext.sum()), c.existence(w_max // 2, 2 * (w_max // 2) + 1), True)
    return float(np.mean(rocs)), float(np.mean(prs)), *r


def _random_case(rng, n):
    """Labels with ranges of random lengths and gaps (buffers that overlap, ranges at either end or none),
    scores with ties or without."""
    y = np.zeros(n, dtype=int)
    pos = int(rng.integers(0, 3)) if rng.random() < 0.5 else 0  # a range at the very start, half the time
    while pos < n:
        length = int(rng.choice([1, 2, rng.integers(1, 40)]))
        y[pos:pos + length] = 1
        pos += length + int(rng.choice([1, 2, 3, rng.integers(1, 120)]))
    if rng.random() < 0.3:
        y[-int(rng.integers(1, 5)):] = 1  # a range at the very end
    if rng.random() < 0.1:
        y[:] = rng.random() < 0.5  # no anomaly, or only anomalies
    s = rng.normal(size=n) + y * rng.random()
    if rng.random() < 0.4:
        s = np.round(s, 1)  # many ties
    return s, y


@pytest.mark.parametrize("seed", range(12))
def test_vus_and_range_auc_are_those_of_the_committed_code(seed):
    """Every VUS value stays the committed code's to 1e-12 (it sums the buffer points' sqrt(1 - d/w) through power
    moments, one step per buffer length instead of a pass over every point within the widest buffer: a rounding
    apart, about 1e-16), and every range-AUC value the very same float, at buffers below, at and far above the
    anomalies' lengths."""
    rng = np.random.default_rng(seed)
    s, y = _random_case(rng, int(rng.choice([5, 60, 700, 3000])))
    for w_max in (0, 1, 2, 3, 4, 7, 40, 301, len(y) + 5):
        for n_thresholds in (1, 7, 250):
            want = _as_committed(s, y, w_max, n_thresholds)
            v = vus.vus_metrics(s, y, max_buffer=w_max, n_thresholds=n_thresholds)
            r = vus.range_auc(s, y, buffer=w_max, n_thresholds=n_thresholds)
            msg = f"max_buffer {w_max}, {n_thresholds} thresholds"
            np.testing.assert_allclose([v["VUS_ROC"], v["VUS_PR"]], want[:2], rtol=0, atol=1e-12, err_msg=msg)
            np.testing.assert_array_equal([r["R_AUC_ROC"], r["R_AUC_PR"]], want[2:], err_msg=msg)


def _vus_plainly(s, y, w_max, n_thresholds):
    """(VUS_ROC, VUS_PR) written out point by point, as the reference's RangeAUC_volume_opt reads."""
    n, P = len(s), float(y.sum())
    d = np.diff(np.concatenate(([0], y, [0])))
    ranges = list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1, strict=True))  # inclusive ends
    thr = np.sort(s)[::-1][np.linspace(0, n - 1, n_thresholds).astype(int)]
    rocs, prs = [], []
    for w in range(w_max + 1):
        h = w // 2
        ext = y.astype(float)
        for a, b in ranges:
            for dist in range(1, h + 1):
                for i in (a - dist, b + dist):
                    if 0 <= i < n:
                        ext[i] += np.sqrt(1 - dist / w)
        ext = np.minimum(ext, 1.0)
        groups = [list(ranges[0])]
        for a, b in ranges[1:]:
            if a - groups[-1][1] <= 2 * h:
                groups[-1][1] = b
            else:
                groups.append([a, b])
        tpr, fpr, prec = [0.0], [0.0], []
        for t in thr:
            flagged = s >= t
            tp = ext[flagged].sum()
            p_new = (P + P + ext[flagged & (y == 0)].sum()) / 2
            exist = np.mean([flagged[max(a - h, 0):min(b + h, n - 1) + 1].any() for a, b in groups])
            tpr.append(min(tp / p_new, 1) * exist)
            fpr.append((flagged.sum() - tp) / (n - p_new))
            prec.append(tp / flagged.sum())
        tpr.append(1.0)
        fpr.append(1.0)
        rocs.append(sum((fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2 for i in range(1, len(fpr))))
        prs.append(sum((tpr[i] - tpr[i - 1]) * prec[i - 1] for i in range(1, len(tpr) - 1)))
    return float(np.mean(rocs)), float(np.mean(prs))


@pytest.mark.parametrize("seed", range(6))
def test_vus_is_the_plain_point_by_point_volume(seed):
    """Close ranges (buffers that overlap and cap at 1, groups that merge as the buffer grows), ranges at either
    end, ties: VUS as the plain loops over points, buffers and thresholds compute it."""
    rng = np.random.default_rng(100 + seed)
    s, y = _random_case(rng, int(rng.choice([4, 30, 70])))
    if y.all() or not y.any():
        y[:] = 0
        y[len(y) // 2] = 1
    for w_max, n_thresholds in ((0, 5), (1, 3), (5, 9), (int(rng.integers(2, 25)), int(rng.integers(1, 40)))):
        v = vus.vus_metrics(s, y, max_buffer=w_max, n_thresholds=n_thresholds)
        np.testing.assert_allclose([v["VUS_ROC"], v["VUS_PR"]], _vus_plainly(s, y, w_max, n_thresholds),
                                   rtol=0, atol=1e-12, err_msg=f"max_buffer {w_max}, {n_thresholds} thresholds")


def test_vus_true_positives_and_existence_by_hand():
    """Points 2 and 6 labelled, scores falling from point 0 to 8, one threshold per point. Buffer 4 (h = 2): point 4
    is in both buffers (capped at 1), points 1, 3, 5, 7 at distance 1 (sqrt(3/4)), 0 and 8 at 2 (sqrt(1/2)); buffer
    6 (h = 3): 3 and 5 are in both buffers too, 1 and 7 get sqrt(5/6), 0 and 8 sqrt(2/3). Buffer 2 (h = 1): the
    ranges [1, 3] and [5, 7] do not merge (gap 4 > 2h), so existence is 1/2 once point 1 is flagged, 1 from point 5;
    from h = 2 they merge into one range."""
    y = _labels(9, [(2, 3), (6, 7)])
    s = np.arange(9, 0, -1) / 10.0
    c = vus._Curves(s, y.astype(bool), 3, 9)
    got = {w: (tp, e) for w, tp, e in c.sweep(6)}
    r = np.sqrt
    ext = {0: [0, 0, 1, 0, 0, 0, 1, 0, 0],
           2: [0, r(1 / 2), 1, r(1 / 2), 0, r(1 / 2), 1, r(1 / 2), 0],
           4: [r(1 / 2), r(3 / 4), 1, r(3 / 4), 1, r(3 / 4), 1, r(3 / 4), r(1 / 2)],
           5: [r(3 / 5), r(4 / 5), 1, r(4 / 5), 1, r(4 / 5), 1, r(4 / 5), r(3 / 5)],
           6: [r(2 / 3), r(5 / 6), 1, 1, 1, 1, 1, r(5 / 6), r(2 / 3)]}
    for w, e in ext.items():
        np.testing.assert_allclose(got[w][0], np.cumsum(e), rtol=0, atol=1e-14, err_msg=f"buffer {w}")
    np.testing.assert_array_equal(got[2][1], [0, 0.5, 0.5, 0.5, 0.5, 1, 1, 1, 1])
    np.testing.assert_array_equal(got[0][1], [0, 0, 0.5, 0.5, 0.5, 0.5, 1, 1, 1])
    np.testing.assert_array_equal(got[4][1], [1] * 9)
