"""Affiliation, PA%K and event-based (composite) F1 against their authors' reference implementations.

The reference values in fixtures/affiliation_pak_event_reference.json were computed by the authors' code
(its "how" field and fixtures/make_affiliation_pak_event_reference.py say exactly how); the inputs are
stored there too, as 0/1 strings.
"""

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from vae_lstm.metrics.affiliation import affiliation_precision_recall_f1
from vae_lstm.metrics.event import event_f1
from vae_lstm.metrics.pak import pak_auc, pak_f1

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "affiliation_pak_event_reference.json"
REF = json.loads(FIXTURE.read_text())
CASES = {c["name"]: c for c in REF["cases"]}
TOL = 1e-9


def _vec(bits: str) -> np.ndarray:
    return np.frombuffer(bits.encode(), dtype=np.uint8) - ord("0")


def _close(ours: float, ref) -> bool:
    if ref is None:  # NaN in the reference
        return math.isnan(ours)
    return abs(ours - ref) <= TOL


def test_fixture_records_how_it_was_made():
    assert (
        "pr_from_events" in REF["how"] and "tadpak" in REF["how"] and "get_composite_fscore_raw" in REF["how"]
    )
    assert len(CASES) >= 10


# ---------------------------------------------------------------- against the reference values


@pytest.mark.parametrize("name", sorted(CASES))
def test_affiliation_matches_reference(name):
    c = CASES[name]
    got = affiliation_precision_recall_f1(_vec(c["labels"]), _vec(c["predictions"]))
    ref = c["affiliation"]
    assert _close(got["precision"], ref["precision"]), (got, ref)
    assert _close(got["recall"], ref["recall"]), (got, ref)
    p, r = ref["precision"], ref["recall"]  # the reference has no F1: ours is 2PR/(P+R), 0 when R = 0
    assert _close(got["f1"], 0.0 if r == 0 else 2 * p * r / (p + r))


@pytest.mark.parametrize("name", sorted(CASES))
def test_pak_matches_tadpak(name):
    c = CASES[name]
    y, p = _vec(c["labels"]), _vec(c["predictions"])
    ref = c["pak"]
    for i, k in enumerate(ref["ks"]):
        got = pak_f1(y, p, k)
        for key in ("precision", "recall", "f1"):
            assert _close(got[key], ref[key][i]), (k, key, got, ref[key][i])
    assert _close(pak_auc(y, p), ref["auc_trapezoid_k_over_100"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_event_matches_reference(name):
    c = CASES[name]
    y = _vec(c["labels"])
    got = event_f1(y, _vec(c["predictions"]))
    ref = c["event"]["padded"]
    for key in ("precision", "recall", "f1"):
        assert _close(got[key], ref[key]), (key, got, ref)
    # The published get_events drops the last point of a segment that runs to the series end; only such
    # cases may differ from it (our deliberate deviation).
    if c["event"]["as_published"] != ref:
        assert y[-1] == 1


# ---------------------------------------------------------------- hand-computed cases


def test_pak_half_of_four_is_not_more_than_half():
    y = np.array([0, 1, 1, 1, 1, 0, 0, 0])
    two = np.array([0, 1, 0, 1, 0, 0, 0, 0])
    # tadpak's test is strict (2 > 0.5 * 4 is false): the segment keeps its 2 pointwise hits.
    assert pak_f1(y, two, 50) == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3})
    three = np.array([0, 1, 1, 0, 1, 0, 0, 0])
    assert pak_f1(y, three, 50) == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0})
    one = np.array([0, 0, 1, 0, 0, 0, 0, 0])
    assert pak_f1(y, one, 50)["recall"] == pytest.approx(0.25)
    assert pak_f1(y, one, 0)["recall"] == 1.0  # K = 0: any point, i.e. point adjustment
    assert pak_f1(y, three, 100)["recall"] == pytest.approx(0.75)  # K = 100: pointwise
    assert pak_f1(y, two, 49.9)["recall"] == 1.0


def test_pak_false_positives_are_never_adjusted():
    y = np.array([1, 1, 0, 0, 0, 0])
    p = np.array([1, 0, 1, 1, 0, 0])
    assert pak_f1(y, p, 0) == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3})


def test_pak_float_threshold_as_tadpak():
    # tadpak compares with k / 100 * length in float: 0.29 * 100 = 28.999999999999996, so 29 of 100
    # predicted points pass K = 29; 0.07 * 100 = 7.000000000000001, so 7 of 100 do not pass K = 7.
    y = np.ones(100, dtype=int)
    p = np.zeros(100, dtype=int)
    p[:29] = 1
    assert pak_f1(y, p, 29)["recall"] == 1.0
    p[7:] = 0
    assert pak_f1(y, p, 7)["recall"] == pytest.approx(0.07)


def test_pak_auc_by_hand():
    # One segment of 4 with 2 predicted, nothing else: F1 = 1 for K < 50, 2/3 for K >= 50.
    y = np.array([0, 1, 1, 1, 1, 0])
    p = np.array([0, 1, 1, 0, 0, 0])
    # Trapezoid over K/100, K = 0..100: 0.01 * (49 * 1 + (1 + 2/3) / 2 + 50 * 2/3) = 4.99 / 6.
    assert pak_auc(y, p) == pytest.approx(4.99 / 6, abs=1e-12)
    assert pak_auc(y, y) == pytest.approx(1.0)
    assert pak_auc(y, np.zeros(6)) == 0.0
    assert pak_auc(y, p, ks=[0, 100]) == pytest.approx((1 + 2 / 3) / 2)


def test_event_by_hand():
    y = np.array([0, 1, 1, 0, 0, 1, 1, 1, 0, 0])
    p = np.array([0, 0, 1, 0, 1, 0, 0, 0, 0, 0])
    assert event_f1(y, p) == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    # A segment running to the end, hit at its last point only, is detected (the published code says no).
    assert event_f1(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1]))["recall"] == 1.0
    assert event_f1(y, np.zeros(10)) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_affiliation_by_hand():
    # J = [0, 1), zone E = [0, 4], prediction I = [3, 4).
    # Precision: mean over x in I of 1 - (|J| + d + min(d, m)) / |E|, d = x - 1, m = 0 -> 1 - 3.5 / 4 = 1/8.
    # Recall: mean over y in J of 1 - (d + min(d, y)) / |E|, d = 3 - y -> 1 - 3/4 = 1/4.
    got = affiliation_precision_recall_f1([1, 0, 0, 0], [0, 0, 0, 1])
    assert got == pytest.approx({"precision": 0.125, "recall": 0.25, "f1": 1 / 6})
    y = np.array([0, 1, 1, 0, 0, 0, 1, 0, 0, 0])
    assert affiliation_precision_recall_f1(y, y) == pytest.approx(
        {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    )


def test_degenerate_cases():
    y = np.array([0, 1, 1, 0, 0])
    nothing = affiliation_precision_recall_f1(y, np.zeros(5))
    assert math.isnan(nothing["precision"]) and nothing["recall"] == 0.0 and nothing["f1"] == 0.0
    for result in (
        affiliation_precision_recall_f1(np.zeros(5), y),
        pak_f1(np.zeros(5), y, 10),
        event_f1(np.zeros(5), y),
        affiliation_precision_recall_f1([], []),
    ):
        assert all(math.isnan(v) for v in result.values()), result
    assert math.isnan(pak_auc(np.zeros(5), y))


def test_input_checks():
    for fn in (affiliation_precision_recall_f1, event_f1, lambda a, b: pak_f1(a, b, 10)):
        with pytest.raises(ValueError):
            fn([0, 1, 1], [0, 1])
        with pytest.raises(ValueError):
            fn([0, 2, 1], [0, 1, 0])
        with pytest.raises(ValueError):
            fn([0, 1, 1], [0, 0.5, 0])
        with pytest.raises(ValueError):
            fn(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError):
        pak_f1([0, 1], [0, 1], 101)
    with pytest.raises(ValueError):
        pak_auc([0, 1], [0, 1], ks=[50])
    # bool, int and float 0/1 inputs agree
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([1, 1, 0, 0, 1])
    assert event_f1(y.astype(bool), p.astype(float)) == event_f1(list(y), list(p))


def test_timing_20000_points(capsys):
    rng = np.random.default_rng(0)
    y = np.zeros(20_000, dtype=int)
    for a in rng.integers(0, 19_800, 60):
        y[a : a + rng.integers(1, 200)] = 1
    p = (rng.random(20_000) < 0.1).astype(int)  # ~2,000 predicted runs: the costly case
    lines = []
    for name, fn in (
        ("affiliation_precision_recall_f1", lambda: affiliation_precision_recall_f1(y, p)),
        ("pak_f1(k=50)", lambda: pak_f1(y, p, 50)),
        ("pak_auc(k=0..100)", lambda: pak_auc(y, p)),
        ("event_f1", lambda: event_f1(y, p)),
    ):
        t0 = time.perf_counter()
        fn()
        lines.append(f"{name}: {1e3 * (time.perf_counter() - t0):.2f} ms on 20,000 points")
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def _pak_f1_curve_as_committed(y, p, ks):
    """PA%K F1 per K as committed when figures/ were scored (6ed260e): one row of every segment per K."""
    y, p = np.asarray(y, bool), np.asarray(p, bool)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], y.astype(np.int8), [0])))).reshape(-1, 2)
    c = np.concatenate(([0], np.cumsum(p, dtype=np.int64)))
    hits = c[edges[:, 1]] - c[edges[:, 0]]
    fp = int(c[-1] - hits.sum())
    lengths = edges[:, 1] - edges[:, 0]
    ks = np.asarray(ks, dtype=float)
    if len(lengths) == 0:
        nan = np.full(len(ks), np.nan)
        return nan, nan, nan.copy()
    adjusted = hits[None, :] > (ks[:, None] / 100) * lengths[None, :]
    tp = np.where(adjusted, lengths[None, :], hits[None, :]).sum(axis=1).astype(float)
    fn = lengths.sum() - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = tp / (tp + fn)
        f1 = np.where(tp > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return precision, recall, f1


@pytest.mark.parametrize("seed", range(8))
def test_pak_is_that_of_the_committed_code_bit_for_bit(seed):
    """PA%K adjusts each distinct (segment length, hits) pair once for all K, not each segment (the oracle's
    costliest threshold metric on many short anomalies: a matrix of K values x segments, 101 x 250,000 on a
    million points); every F1, precision, recall and area must stay the very float the committed code gave,
    K in hundredths where k / 100 * length rounds, segments at the ends, no segment, no prediction."""
    rng = np.random.default_rng(seed)
    n = int(rng.choice([1, 7, 300, 5000]))
    y = np.zeros(n, dtype=int)
    pos = int(rng.integers(0, 2))
    while pos < n:
        length = int(rng.choice([1, 2, 100, rng.integers(1, 300)]))
        y[pos:pos + length] = 1
        pos += length + int(rng.integers(1, 40))
    if seed == 0:
        y[:] = 0
    p = rng.random(n) < rng.choice([0.0, 0.05, 0.5, 0.95])
    for ks in (np.arange(101), np.linspace(0, 100, 1001), [0, 29, 100], [3.3, 57.0, 99.99]):
        want = _pak_f1_curve_as_committed(y, p, ks)
        got = [np.array([pak_f1(y, p, k)[m] for k in ks]) for m in ("precision", "recall", "f1")]
        np.testing.assert_array_equal(got, want, err_msg=f"ks {ks}")
        if len(ks) > 1:
            area = float(np.trapezoid(want[2], np.asarray(ks, float) / 100))
            np.testing.assert_array_equal(pak_auc(y, p, ks), area)
