"""Point-level metrics on the time axis, by name: a registry, as for detectors and thresholds.

Threshold-free metrics take (scores, labels); threshold metrics take (labels, predictions) and
return a dict with at least "f1". Each metric written here is checked against its authors'
reference implementation (tests/fixtures/*_reference.json say how the reference values were made).
Labels that are all normal or all anomalous make every metric undefined: NaN, never 1.0. Labels (and
predictions) are 0/1 or boolean: any other value, NaN included, is a ValueError, not an anomaly.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from ..evaluation import (
    best_f1,
    binary,
    binary_pair,
    point_adjust,
    precision_recall_f1,
    same_index,
    scores_and_labels,
    threshold_number,
)
from . import sweep
from .affiliation import affiliation_precision_recall_f1
from .event import event_f1
from .pak import pak_auc
from .range_based import range_precision_recall_f1
from .vus import vus_metrics, vus_pr, vus_roc


def _prf(d: dict) -> dict:
    return {k: float(d[k]) for k in ("precision", "recall", "f1") if k in d}


PRF = ("precision", "recall", "f1")
# the metrics on inputs already checked, of labels of both classes (threshold_free, at_predictions, oracle)
_THRESHOLD_FREE = {
    "auc_pr": lambda s, y: float(average_precision_score(y, s)),
    "auc_roc": lambda s, y: float(roc_auc_score(y, s)),
    "vus_pr": lambda s, y: float(vus_pr(s, y)),
    "vus_roc": lambda s, y: float(vus_roc(s, y)),
}
_AT_THRESHOLD = {
    "pointwise": lambda y, p: _prf(precision_recall_f1(y, p)),
    "point_adjusted": lambda y, p: _prf(precision_recall_f1(y, point_adjust(y, p))),
    "pak_auc": lambda y, p: {"f1": float(pak_auc(y, p))},
    "affiliation": lambda y, p: _prf(affiliation_precision_recall_f1(y, p)),
    "range_based": lambda y, p: _prf(range_precision_recall_f1(y, p)),
    "event": lambda y, p: _prf(event_f1(y, p)),
}


def _on_scores(fn):
    """A threshold-free metric ``fn(scores, labels)`` on checked inputs; NaN for labels of one class."""
    def metric(scores, labels):
        s, y = scores_and_labels(scores, labels, "labels")
        return float("nan") if degenerate(y) else fn(s, y)
    return metric


def _on_predictions(fn, keys=PRF):
    """A threshold metric ``fn(labels, predictions)`` on checked inputs; NaN ``keys`` for labels of one class."""
    def metric(labels, predictions):
        y, p = binary_pair("labels", labels, "predictions", predictions)
        return {k: float("nan") for k in keys} if degenerate(y) else fn(y, p)
    return metric


# Called by name, each checks its inputs and gives NaN for labels of one class, as the functions below do.
THRESHOLD_FREE = {name: _on_scores(fn) for name, fn in _THRESHOLD_FREE.items()}
AT_THRESHOLD = {name: _on_predictions(fn, ("f1",) if name == "pak_auc" else PRF) for name, fn in _AT_THRESHOLD.items()}
N_CANDIDATES = 100  # oracle thresholds for the metrics without an exact search: score quantiles
SWEEP_TOLERANCE = 1e-9  # metrics.sweep's F1 is the metric's within this


def degenerate(labels, flaggable=None) -> bool:
    """Labels of one class (or none): no metric is defined. Given ``flaggable`` (bool per point: the detector scored
    it), also where every point it scored is labelled anomalous: flagging them all is then a perfect F1 for any
    scores. Scored points all normal are not degenerate: the detector missed every anomaly (F1 0)."""
    y, ok = binary("labels", labels), None
    if flaggable is not None:
        y, ok = binary_pair("labels", labels, "flaggable", flaggable)
    if len(y) == 0 or y.all() or not y.any():
        return True
    scored = y if ok is None else y[ok]
    return bool(scored.size) and bool(scored.all())


def threshold_free(scores, labels, flaggable=None) -> dict:
    s, y = scores_and_labels(scores, labels, "labels")
    same_index("labels", labels, "flaggable", flaggable)
    if degenerate(y, flaggable):
        return {name: float("nan") for name in THRESHOLD_FREE}
    vus = vus_metrics(s, y)  # both volumes from one loop over the buffer lengths (one step per length)
    both = {"vus_pr": vus["VUS_PR"], "vus_roc": vus["VUS_ROC"]}
    return {name: float(both[name]) if name in both else fn(s, y) for name, fn in _THRESHOLD_FREE.items()}


def at_predictions(labels, predictions, flaggable=None) -> dict:
    """Every threshold metric for given 0/1 point predictions (all NaN where ``degenerate``)."""
    y, p = binary_pair("labels", labels, "predictions", predictions)
    same_index("labels", labels, "flaggable", flaggable)
    flagged = {"flagged_fraction": float(p.mean()) if p.size else float("nan")}  # of no points: undefined, no warning
    if degenerate(y, flaggable):
        return {name: {"f1": float("nan")} for name in AT_THRESHOLD} | flagged
    return {name: fn(y, p) for name, fn in _AT_THRESHOLD.items()} | flagged


def at_threshold(scores, labels, threshold: float) -> dict:
    """Every threshold metric with points flagged where score >= threshold; all NaN (undefined) for a NaN
    threshold, as ``evaluation.evaluate``."""
    s, y = scores_and_labels(scores, labels, "labels")
    threshold = threshold_number(threshold)
    if np.isnan(threshold):
        return {name: {"f1": float("nan")} for name in AT_THRESHOLD} | {"flagged_fraction": float("nan")}
    return at_predictions(y, s >= threshold)


def oracle(scores, labels, flaggable=None, thresholds=()) -> dict:
    """Each threshold metric at its own best threshold, chosen with the test labels: an upper bound.

    Exact over every distinct score for pointwise and point-adjusted F1 (``evaluation.best_f1``); over
    ``N_CANDIDATES`` score quantiles and the given ``thresholds`` (one number or a 1-D list of them: those
    the label-free rules chose, so that the oracle bounds each of them) for the others. ``flaggable`` (bool per point; default all): the
    points a threshold may flag. The label-free rules never flag a point the detector left unscored, so
    neither does the oracle, and the two are compared on the same points.
    """
    s, y = scores_and_labels(scores, labels, "labels")
    ok = np.ones(len(s), bool) if flaggable is None else binary("flaggable", flaggable)
    if len(ok) != len(s):
        raise ValueError(f"scores and flaggable differ in length: {len(s)} != {len(ok)}")
    same_index("scores", scores, "flaggable", flaggable)
    try:
        extra = np.atleast_1d(np.asarray(thresholds, float))
    except (TypeError, ValueError):
        extra = None
    if extra is None or extra.ndim != 1:
        raise ValueError(f"thresholds must be numbers in a 1-D list (or one number), got {thresholds!r}")
    if degenerate(y, ok):
        return {name: {"f1": float("nan"), "threshold": float("nan")} for name in AT_THRESHOLD}
    out = {"pointwise": best_f1(s, y, adjusted=False, flaggable=ok),
           "point_adjusted": best_f1(s, y, adjusted=True, flaggable=ok)}
    candidates = np.unique(np.concatenate([np.quantile(s[ok], np.linspace(0.0, 1.0, N_CANDIDATES + 1)),
                                           extra])) if ok.any() else np.array([])
    # what AT_THRESHOLD[name](y, (s >= t) & ok) gives at each candidate t, for all of them at once; its
    # precisions round otherwise than the metrics' own (by about 1e-16), so the candidates within SWEEP_TOLERANCE
    # of the best F1 are scored again by the metric itself: the oracle picks (ties included) and reports what
    # the metric gives at its threshold, and no rule at one of its candidates scores above it
    swept = sweep.at_thresholds(s, y, ok, candidates)
    n_flagged = np.count_nonzero(ok) - np.searchsorted(np.sort(s[ok]), candidates, side="left")  # one set per count
    for name, fn in _AT_THRESHOLD.items():  # y and ok checked, y of both classes (not degenerate)
        if name in out:
            continue
        top = max((m["f1"] for m in swept[name]), default=0.0)
        exact = {}  # by the number of points flagged: the candidates' flagged sets are nested

        def at(j, fn=fn, exact=exact):
            if n_flagged[j] not in exact:
                exact[n_flagged[j]] = fn(y, (s >= candidates[j]) & ok)
            return exact[n_flagged[j]]

        best, best_j = {"f1": 0.0}, None  # nothing flaggable: nothing found (threshold NaN)
        for j in range(len(candidates) - 1, -1, -1):  # ties go to the largest threshold
            m = swept[name][j]
            if m["f1"] > 0.0 and m["f1"] >= top - SWEEP_TOLERANCE:  # an F1 of 0 is exactly 0 in both
                m = at(j)
            if m["f1"] > best["f1"] or best_j is None or not np.isfinite(candidates[best_j]):
                best, best_j = m, j
        out[name] = {"f1": 0.0, "threshold": float("nan")} if best_j is None else \
            {**at(best_j), "threshold": float(candidates[best_j])}
    return out
