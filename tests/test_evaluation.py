"""Hand-computed and brute-force checks of the evaluation metrics."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from vae_lstm import evaluation as ev
from vae_lstm.errors import ConfigError

# ---------------------------------------------------------------- sequence_labels


def brute_labels(anomaly_idx, n, span):
    return np.array([any(i <= a <= i + span - 1 for a in anomaly_idx) for i in range(n)], dtype=bool)


def starts(mask):
    return np.flatnonzero(mask).tolist()


def test_sequence_labels_explicit_example():
    assert starts(ev.sequence_labels([5], 10, 3)) == [3, 4, 5]


def test_sequence_labels_anomaly_at_zero():
    assert starts(ev.sequence_labels([0], 6, 3)) == [0]


def test_sequence_labels_anomaly_at_last_time_index():
    # 8 time points, span 3 -> 6 sequences (starts 0..5); the last point 7 is covered by start 5 only
    assert starts(ev.sequence_labels([7], 6, 3)) == [5]


def test_sequence_labels_close_anomalies_overlap():
    # ranges [2, 4] and [3, 5] overlap
    assert starts(ev.sequence_labels([4, 5], 10, 3)) == [2, 3, 4, 5]


def test_sequence_labels_anomaly_beyond_last_sequence():
    # starts 0..4 with span 3 cover times 0..6; anomaly 7 is in no sequence, anomaly 6 only in start 4
    assert not ev.sequence_labels([7], 5, 3).any()
    assert starts(ev.sequence_labels([6], 5, 3)) == [4]
    assert not ev.sequence_labels([100], 5, 3).any()


def test_sequence_labels_empty_and_span_one():
    assert ev.sequence_labels([], 4, 3).tolist() == [False] * 4
    assert ev.sequence_labels(np.array([], dtype=int), 0, 3).shape == (0,)
    assert starts(ev.sequence_labels([1, 3], 5, 1)) == [1, 3]


def test_sequence_labels_bad_input():
    with pytest.raises(ValueError):
        ev.sequence_labels([1], 5, 0)
    with pytest.raises(ValueError):
        ev.sequence_labels([-1], 5, 3)
    with pytest.raises(ValueError):
        ev.sequence_labels([1.5], 5, 3)


def test_sequence_labels_take_whole_floats_and_refuse_other_sizes_in_one_line():
    """span 24.0 (l_win * l_seq computed in floats) was NumPy's TypeError "expected a sequence of integers or a single
    integer, got '33.0'"; span "3" was "'<' not supported between instances of 'str' and 'int'". A whole float is the
    integer, as for windowing's sizes."""
    assert starts(ev.sequence_labels([5], 10.0, 3.0)) == [3, 4, 5]
    assert ev.sequence_labels([], 4.0, 3.0).tolist() == [False] * 4
    # NumPy's sizes too, as before: a 0-d array (np.array(3), a sum over an array) and NumPy integers and floats
    assert starts(ev.sequence_labels([5], np.array(10), np.array(3))) == [3, 4, 5]
    assert starts(ev.sequence_labels([5], np.int64(10), np.float32(3.0))) == [3, 4, 5]
    for n, span, says in [(10, 2.5, "span must be an integer >= 1, got 2.5"), (10, "3", "span must be an integer >= 1, got '3'"),
                          (10, True, "span must be an integer >= 1, got True"),
                          (7.5, 3, "n_sequences must be an integer >= 0, got 7.5"),
                          (-1, 3, "n_sequences must be an integer >= 0, got -1"),
                          # NumPy 2's repr of its scalars: "got np.float64(2.5)", "got np.int64(-1)"
                          (10, np.float64(2.5), "span must be an integer >= 1, got 2.5"),
                          (np.int64(-1), 3, "n_sequences must be an integer >= 0, got -1")]:
        with pytest.raises(ValueError) as refused:
            ev.sequence_labels([5], n, span)
        assert str(refused.value) == says


@pytest.mark.parametrize("seed", range(5))
def test_sequence_labels_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        n = int(rng.integers(0, 40))
        span = int(rng.integers(1, 10))
        idx = rng.integers(0, n + span + 5, size=int(rng.integers(0, 6)))
        got = ev.sequence_labels(idx, n, span)
        assert got.dtype == bool
        np.testing.assert_array_equal(got, brute_labels(idx.tolist(), n, span))


# ---------------------------------------------------------------- segments / point_adjust


def test_segments():
    assert ev.segments([1, 1, 0, 0, 1, 0, 1]).tolist() == [[0, 2], [4, 5], [6, 7]]
    assert ev.segments([0, 0, 0]).shape == (0, 2)
    assert ev.segments([]).shape == (0, 2)
    assert ev.segments([True]).tolist() == [[0, 1]]


Y = [1, 1, 0, 0, 1, 1, 1, 0, 1]  # segments [0, 2), [4, 7), [8, 9)


def test_point_adjust_segment_at_first_index():
    assert ev.point_adjust(Y, [0, 1, 0, 0, 0, 0, 0, 0, 0]).astype(int).tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0]


def test_point_adjust_segment_at_last_index():
    assert ev.point_adjust(Y, [0, 0, 0, 0, 0, 0, 0, 0, 1]).astype(int).tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 1]
    y = [0, 0, 1, 1]
    assert ev.point_adjust(y, [0, 0, 0, 1]).astype(int).tolist() == [0, 0, 1, 1]


def test_point_adjust_one_detection_inside_a_segment():
    assert ev.point_adjust(Y, [0, 0, 0, 0, 0, 1, 0, 0, 0]).astype(int).tolist() == [0, 0, 0, 0, 1, 1, 1, 0, 0]


def test_point_adjust_two_segments_detected():
    got = ev.point_adjust(Y, [1, 0, 0, 0, 0, 0, 1, 0, 0])
    assert got.astype(int).tolist() == [1, 1, 0, 0, 1, 1, 1, 0, 0]


def test_point_adjust_no_detections_changes_nothing():
    assert not ev.point_adjust(Y, [0] * 9).any()


def test_point_adjust_detection_outside_segments_stays():
    got = ev.point_adjust(Y, [0, 0, 1, 0, 0, 0, 0, 1, 0])
    assert got.astype(int).tolist() == [0, 0, 1, 0, 0, 0, 0, 1, 0]


def test_point_adjust_all_normal():
    pred = [0, 1, 0, 1]
    assert ev.point_adjust([0, 0, 0, 0], pred).astype(int).tolist() == pred


def test_point_adjust_length_mismatch():
    with pytest.raises(ValueError):
        ev.point_adjust([0, 1], [0, 1, 0])


# ---------------------------------------------------------------- precision_recall_f1


def test_precision_recall_f1_hand_case():
    r = ev.precision_recall_f1([1, 1, 1, 0, 0, 0], [1, 1, 0, 1, 0, 0])
    assert (r["tp"], r["fp"], r["fn"]) == (2, 1, 1)
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)


def test_precision_recall_f1_unequal():
    r = ev.precision_recall_f1([1, 1, 0, 0], [1, 1, 1, 1])
    assert (r["precision"], r["recall"]) == (0.5, 1.0)
    assert r["f1"] == pytest.approx(2 / 3)


def test_precision_recall_f1_zero_division(recwarn):
    nothing = ev.precision_recall_f1([1, 0, 1], [0, 0, 0])
    assert nothing == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 0, "fn": 2}
    no_pos = ev.precision_recall_f1([0, 0, 0], [1, 0, 0])
    assert no_pos == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 1, "fn": 0}
    empty = ev.precision_recall_f1([], [])
    assert empty["f1"] == 0.0
    assert len(recwarn) == 0


# ---------------------------------------------------------------- best_f1


def brute_best(scores, y, adjusted):
    """Loop over every distinct score as threshold; the largest threshold wins ties."""
    rows = []
    for t in sorted(set(scores.tolist())):
        pred = scores >= t
        r = ev.precision_recall_f1(y, ev.point_adjust(y, pred) if adjusted else pred)
        rows.append(dict(r, threshold=t))
    top = max(r["f1"] for r in rows)
    return [r for r in rows if r["f1"] >= top - 1e-12][-1]


def random_case(rng, n, ties):
    scores = rng.integers(0, 6, size=n).astype(float) if ties else rng.random(n)
    # runs of anomalies: flip a state with small probability
    y = np.zeros(n, dtype=bool)
    state = False
    for i in range(n):
        if rng.random() < 0.15:
            state = not state
        y[i] = state
    scores[y] += rng.random() * 2  # anomalies somewhat higher on average
    return scores, y


@pytest.mark.parametrize("adjusted", [False, True])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_best_f1_matches_brute_force(seed, ties, adjusted):
    rng = np.random.default_rng(seed)
    for n in (1, 2, 5, 30, 120):
        scores, y = random_case(rng, n, ties)
        if not y.any():
            y[rng.integers(0, n)] = True
        got = ev.best_f1(scores, y, adjusted)
        want = brute_best(scores, y, adjusted)
        assert got["f1"] == pytest.approx(want["f1"], abs=1e-12)
        assert got["threshold"] == want["threshold"]
        assert got["precision"] == pytest.approx(want["precision"], abs=1e-12)
        assert got["recall"] == pytest.approx(want["recall"], abs=1e-12)
        assert got["threshold"] in scores


def test_best_f1_adjusted_one_but_pointwise_lower():
    y = [0, 1, 1, 1, 1, 0, 0]  # one segment [1, 5)
    s = [0.1, 0.2, 0.9, 0.3, 0.2, 0.5, 0.0]
    # adjusted: t=0.9 detects the segment with no FP -> f1 1
    assert ev.best_f1(s, y, adjusted=True) == {"threshold": 0.9, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    # pointwise: t=0.9 tp1 fn3 -> 0.4; 0.5 tp1 fp1 -> 1/3; 0.3 tp2 fp1 -> 4/7;
    # 0.2 tp4 fp1 -> 8/9; 0.1 tp4 fp2 -> 0.8; 0.0 tp4 fp3 -> 8/11
    pw = ev.best_f1(s, y, adjusted=False)
    assert pw["threshold"] == 0.2
    assert pw["f1"] == pytest.approx(8 / 9)
    assert pw["precision"] == pytest.approx(0.8)
    assert pw["recall"] == 1.0


def test_best_f1_ties_take_largest_threshold():
    # t=0.8 and t=0.4 both give f1 2/3 (tp1 fp0 fn1 / tp2 fp2 fn0)
    s = [0.8, 0.6, 0.5, 0.4]
    y = [1, 0, 0, 1]
    r = ev.best_f1(s, y, adjusted=False)
    assert r["f1"] == pytest.approx(2 / 3)
    assert r["threshold"] == 0.8


def test_best_f1_no_positives():
    r = ev.best_f1([0.3, 0.7, 0.1], [0, 0, 0], adjusted=True)
    assert r == {"threshold": 0.7, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_best_f1_bad_input():
    with pytest.raises(ValueError):
        ev.best_f1([0.1, 0.2], [1], adjusted=False)
    with pytest.raises(ValueError):
        ev.best_f1([0.1, np.nan], [1, 0], adjusted=False)
    with pytest.raises(ValueError):
        ev.best_f1([], [], adjusted=False)


# ---------------------------------------------------------------- average_precision


def test_average_precision_hand_value():
    # descending: 0.8(+) P=1 R=.5; 0.4(-); 0.35(+) P=2/3 R=1 -> AP = .5*1 + .5*2/3
    assert ev.average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(5 / 6)


def test_average_precision_tied_scores_are_one_step():
    # sklearn's average_precision: points of equal score enter together, in one step, whatever their order:
    # 0.9(+) P=1 R=.5; 0.5 (-, +, -) P=2/4 R=1 -> AP = .5*1 + .5*.5 (ties broken in time order: .5 + .5*2/3)
    s, y = [0.5, 0.9, 0.5, 0.1, 0.5], [0, 1, 1, 0, 0]
    assert ev.average_precision(s, y) == pytest.approx(0.75)
    from vae_lstm import metrics

    assert metrics.threshold_free(s, y)["auc_pr"] == pytest.approx(0.75)
    assert metrics.threshold_free(s[::-1], y[::-1])["auc_pr"] == pytest.approx(0.75)


def test_average_precision_no_positives_is_nan():
    assert math.isnan(ev.average_precision([0.1, 0.2], [0, 0]))


# ---------------------------------------------------------------- choose_threshold


def test_choose_threshold_val_quantile():
    t = ev.choose_threshold("val_quantile", val_scores=[0, 1, 2, 3, 4], quantile=0.75)
    assert t == 3.0 and isinstance(t, float)


def test_choose_threshold_fixed():
    assert ev.choose_threshold("fixed", value=2) == 2.0


def test_choose_threshold_oracle():
    s = [0.1, 0.2, 0.9, 0.3, 0.2, 0.5, 0.0]
    y = [0, 1, 1, 1, 1, 0, 0]
    assert ev.choose_threshold("oracle_best_f1", test_scores=s, test_labels=y) == 0.9
    assert ev.choose_threshold("oracle_best_f1", test_scores=s, test_labels=y, adjusted=False) == 0.2


def test_choose_threshold_unknown_rule():
    with pytest.raises(ConfigError) as e:
        ev.choose_threshold("best", value=1.0)
    msg = str(e.value)
    assert "\n" not in msg
    for name in ev.THRESHOLD_RULES:
        assert name in msg


@pytest.mark.parametrize(
    "rule, kwargs, message",
    [
        ("val_quantile", {"quantile": 0.9}, "'val_quantile' needs val_scores and quantile"),
        ("val_quantile", {"val_scores": [1.0]}, "'val_quantile' needs val_scores and quantile"),
        ("fixed", {}, "'fixed' needs value"),
        ("oracle_best_f1", {"test_scores": [1.0]}, "'oracle_best_f1' needs test_scores and test_labels"),
    ],
)
def test_choose_threshold_missing_argument(rule, kwargs, message):
    """Refused by the rule's own check, which names what is missing."""
    with pytest.raises(ValueError, match=message):
        ev.choose_threshold(rule, **kwargs)


# ---------------------------------------------------------------- evaluate / summarise


def test_evaluate_hand_case():
    y = [0, 1, 1, 1, 1, 0, 0]
    s = [0.1, 0.2, 0.9, 0.3, 0.2, 0.5, 0.0]
    r = ev.evaluate(s, y, 0.5)
    assert r["threshold"] == 0.5 and r["n"] == 7 and r["n_anomalous"] == 4
    assert (r["pointwise"]["tp"], r["pointwise"]["fp"], r["pointwise"]["fn"]) == (1, 1, 3)
    assert (r["point_adjusted"]["tp"], r["point_adjusted"]["fp"], r["point_adjusted"]["fn"]) == (4, 1, 0)
    assert r["point_adjusted"]["f1"] == pytest.approx(8 / 9)


def test_evaluate_threshold_equal_to_score_is_anomalous():
    r = ev.evaluate([0.2, 0.5], [0, 1], 0.5)
    assert r["pointwise"]["tp"] == 1 and r["pointwise"]["fp"] == 0


def test_evaluate_length_mismatch():
    with pytest.raises(ValueError):
        ev.evaluate([0.1, 0.2, 0.3], [0, 1], 0.2)


def test_summarise_is_json_serialisable():
    rng = np.random.default_rng(0)
    s, y = random_case(rng, 50, ties=False)
    y[10:14] = True
    out = ev.summarise(s, y, float(np.quantile(s, 0.9)))
    back = json.loads(json.dumps(out))
    assert set(back) == {"threshold", "pointwise", "point_adjusted", "n", "n_anomalous", "average_precision",
                         "oracle_pointwise", "oracle_point_adjusted", "normals_above_each_anomaly"}
    assert back["oracle_point_adjusted"]["f1"] >= back["oracle_pointwise"]["f1"] - 1e-12
    assert back["oracle_pointwise"]["f1"] >= back["pointwise"]["f1"] - 1e-12
    assert type(out["n"]) is int and type(out["average_precision"]) is float


def test_summarise_hand_computed():
    """The case of test_best_f1_adjusted_one_but_pointwise_lower at threshold 0.5. Average precision: in
    decreasing order 0.9 (+), 0.5 (-), 0.3 (+), 0.2 (+ +): recall steps 1/4, 1/4, 1/2 at precisions 1, 2/3, 4/5,
    so 49/60. The segment's best score 0.9 is above every normal one."""
    out = ev.summarise([0.1, 0.2, 0.9, 0.3, 0.2, 0.5, 0.0], [0, 1, 1, 1, 1, 0, 0], 0.5)
    assert out["pointwise"]["f1"] == pytest.approx(1 / 3) and out["point_adjusted"]["f1"] == pytest.approx(8 / 9)
    assert out["average_precision"] == pytest.approx(49 / 60)
    assert out["oracle_pointwise"] == pytest.approx({"threshold": 0.2, "precision": 0.8, "recall": 1.0, "f1": 8 / 9})
    assert out["oracle_point_adjusted"] == {"threshold": 0.9, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert out["normals_above_each_anomaly"] == [0] and (out["n"], out["n_anomalous"]) == (7, 4)


def test_normals_above_anomalies_counts_normals_at_or_above_each_segment_best():
    scores = np.array([0.1, 0.9, 0.5, 0.2, 0.7, 0.3, 0.6, 0.4])
    labels = np.array([0, 0, 1, 1, 0, 0, 1, 0], dtype=bool)
    # segment [2, 4) peaks at 0.5: normals 0.9, 0.7 are above; segment [6, 7) peaks at 0.6: the same two
    assert ev.normals_above_anomalies(scores, labels) == [2, 2]
    assert ev.normals_above_anomalies(np.where(labels, 1.0, scores), labels) == [0, 0]
    assert ev.normals_above_anomalies(scores, np.zeros(8, dtype=bool)) == []


def test_normals_above_anomalies_ties_count_against_the_anomaly():
    scores = np.array([0.5, 0.5, 0.1])
    assert ev.normals_above_anomalies(scores, np.array([1, 0, 0])) == [1]


@pytest.mark.parametrize("labels", [np.zeros(6, bool), np.ones(6, bool)])
def test_degenerate_labels_are_undefined_not_perfect(labels):
    out = ev.summarise(np.arange(6.0), labels, 2.5)
    assert math.isnan(out["oracle_point_adjusted"]["f1"]) and math.isnan(out["average_precision"])
    assert math.isnan(out["pointwise"]["f1"]) and "undefined" in out


def test_best_f1_counts_only_flaggable_points_as_flagged():
    """Points no threshold may flag (``flaggable`` False) are never predicted, and their labels still count.
    Pointwise: unmasked, t = 1 flags points 0-3 (tp 3, fp 1: F1 6/7); with points 1 and 2 unflaggable the
    candidates are 0, 4 and 5, and t = 5 is best (tp 1, fp 0, fn 2: F1 0.5). Point-adjusted: a labelled
    segment with no flaggable point is never found."""
    scores, labels = [5.0, 1.0, 1.0, 4.0, 0.0], [1, 1, 1, 0, 0]
    flaggable = [True, False, False, True, True]
    assert ev.best_f1(scores, labels, adjusted=False)["f1"] == pytest.approx(6 / 7)
    masked = ev.best_f1(scores, labels, adjusted=False, flaggable=flaggable)
    assert masked["f1"] == pytest.approx(0.5) and masked["threshold"] == 5.0
    assert ev.best_f1([3.0, 9.0, 0.0], [0, 1, 0], adjusted=True)["f1"] == 1.0
    hidden = ev.best_f1([3.0, 9.0, 0.0], [0, 1, 0], adjusted=True, flaggable=[True, False, True])
    assert hidden["f1"] == 0.0 and hidden["threshold"] == 3.0
    with pytest.raises(ValueError, match="flaggable differ in length"):
        ev.best_f1(scores, labels, adjusted=False, flaggable=[True])


def test_best_f1_never_counts_an_unflaggable_normal_point_as_a_false_positive():
    """Point 0 is normal, scores highest (5) and may not be flagged. At t = 1 the flaggable points 1, 2 (both
    anomalies) are flagged and point 0 is not: tp 2, fp 0, F1 1.0. Counted as flagged, it would add a false
    positive at every candidate (t = 1: F1 2 * 2 / (4 + 1) = 0.8)."""
    scores, labels, flaggable = [5.0, 1.0, 2.0, 0.0], [0, 1, 1, 0], [False, True, True, True]
    assert ev.best_f1(scores, labels, adjusted=False, flaggable=flaggable) == pytest.approx(
        {"threshold": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0})
    # point-adjusted: t = 2 flags point 2, which finds the whole segment 1-2: F1 1.0 at the larger threshold
    assert ev.best_f1(scores, labels, adjusted=True, flaggable=flaggable) == pytest.approx(
        {"threshold": 2.0, "precision": 1.0, "recall": 1.0, "f1": 1.0})


# ---------------------------------------------------------------- labels other than 0/1


@pytest.mark.parametrize("bad", [[0, 2, 0, 1], [0, np.nan, 0, 1], [0, 0.5, 0, 1], [0, -1, 0, 1], [0, None, 0, 1],
                                 pd.array([False, pd.NA, False, True], dtype="boolean"), ["no", "yes", "no", "yes"]])
def test_labels_other_than_0_1_are_refused_not_taken_as_anomalies(bad):
    # a 2, a NaN or a 0.5 is not an anomaly label: it was counted as one (bool of any nonzero value, NaN included)
    scores = [0.1, 0.9, 0.2, 0.8]
    calls = [lambda: ev.precision_recall_f1(bad, [0, 1, 0, 1]), lambda: ev.point_adjust(bad, [0, 1, 0, 1]),
             lambda: ev.best_f1(scores, bad, adjusted=True), lambda: ev.evaluate(scores, bad, 0.5),
             lambda: ev.summarise(scores, bad, 0.5), lambda: ev.average_precision(scores, bad),
             lambda: ev.normals_above_anomalies(scores, bad), lambda: ev.segments(bad)]
    for call in calls:
        with pytest.raises(ValueError, match="y_true must hold only 0 and 1"):
            call()
    with pytest.raises(ValueError, match="y_pred must hold only 0 and 1"):
        ev.precision_recall_f1([0, 1, 0, 1], bad)


def test_labels_as_bool_int_and_float_agree():
    scores = [0.1, 0.9, 0.2, 0.8, 0.3]
    y = [0, 1, 0, 0, 1]
    expected = ev.summarise(scores, y, 0.5)
    for labels in (np.array(y, bool), np.array(y, float), np.array(y, np.int8)):
        assert ev.summarise(scores, labels, 0.5) == expected


@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [1, 1, 1, 1]])
def test_the_oracle_rule_has_no_threshold_on_labels_of_one_class(labels):
    """The paper's metric under threshold_rule oracle_best_f1: on sequence labels of one class its metrics are
    undefined, and the threshold that metrics.json holds and score_histograms.png draws was the largest (no anomaly)
    or the smallest score (all anomalous, a perfect F1) rather than none."""
    t = ev.choose_threshold("oracle_best_f1", test_scores=[0.2, 0.9, 0.4, 0.1], test_labels=labels)
    assert np.isnan(t)
    assert ev.choose_threshold("oracle_best_f1", test_scores=[0.2, 0.9, 0.4, 0.1], test_labels=[0, 1, 0, 0]) == 0.9
