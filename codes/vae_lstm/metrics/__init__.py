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

from ..evaluation import best_f1, point_adjust, precision_recall_f1, scores_and_labels
from . import sweep
from ._inputs import binary
from .affiliation import affiliation_precision_recall_f1
from .event import event_f1
from .pak import pak_auc
from .range_based import range_precision_recall_f1
from .vus import vus_metrics, vus_pr, vus_roc


def _prf(d: dict) -> dict:
    return {k: float(d[k]) for k in ("precision", "recall", "f1") if k in d}


THRESHOLD_FREE = {
    "auc_pr": lambda s, y: float(average_precision_score(y, s)),
    "auc_roc": lambda s, y: float(roc_auc_score(y, s)),
    "vus_pr": lambda s, y: float(vus_pr(s, y)),
    "vus_roc": lambda s, y: float(vus_roc(s, y)),
}
AT_THRESHOLD = {
    "pointwise": lambda y, p: _prf(precision_recall_f1(y, p)),
    "point_adjusted": lambda y, p: _prf(precision_recall_f1(y, point_adjust(y, p))),
    "pak_auc": lambda y, p: {"f1": float(pak_auc(y, p))},
    "affiliation": lambda y, p: _prf(affiliation_precision_recall_f1(y, p)),
    "range_based": lambda y, p: _prf(range_precision_recall_f1(y, p)),
    "event": lambda y, p: _prf(event_f1(y, p)),
}
N_CANDIDATES = 100  # oracle thresholds for the metrics without an exact search: score quantiles


def degenerate(labels, flaggable=None) -> bool:
    """Labels of one class (or none): no metric is defined. Given ``flaggable`` (bool per point: the detector scored
    it), also where every point it scored is labelled anomalous: flagging them all is then a perfect F1 for any
    scores. Scored points all normal are not degenerate: the detector missed every anomaly (F1 0)."""
    y = binary("labels", labels)
    if len(y) == 0 or y.all() or not y.any():
        return True
    scored = y if flaggable is None else y[binary("flaggable", flaggable)]
    return bool(scored.size) and bool(scored.all())


def threshold_free(scores, labels, flaggable=None) -> dict:
    s, y = scores_and_labels(scores, labels, "labels")
    if degenerate(y, flaggable):
        return {name: float("nan") for name in THRESHOLD_FREE}
    vus = vus_metrics(s, y)  # both volumes from one loop over the buffer lengths (one step per length)
    both = {"vus_pr": vus["VUS_PR"], "vus_roc": vus["VUS_ROC"]}
    return {name: float(both[name]) if name in both else fn(s, y) for name, fn in THRESHOLD_FREE.items()}


def at_predictions(labels, predictions, flaggable=None) -> dict:
    """Every threshold metric for given 0/1 point predictions (all NaN where ``degenerate``)."""
    y, p = binary("labels", labels), binary("predictions", predictions)
    if len(y) != len(p):
        raise ValueError(f"labels and predictions differ in length: {len(y)} != {len(p)}")
    if degenerate(y, flaggable):
        return {name: {"f1": float("nan")} for name in AT_THRESHOLD} | {"flagged_fraction": float(p.mean())}
    return {name: fn(y, p) for name, fn in AT_THRESHOLD.items()} | {"flagged_fraction": float(p.mean())}


def at_threshold(scores, labels, threshold: float) -> dict:
    """Every threshold metric with points flagged where score >= threshold; all NaN (undefined) for a NaN
    threshold, as ``evaluation.evaluate``."""
    s, y = scores_and_labels(scores, labels, "labels")
    if np.isnan(threshold):
        return {name: {"f1": float("nan")} for name in AT_THRESHOLD} | {"flagged_fraction": float("nan")}
    return at_predictions(y, s >= threshold)


def oracle(scores, labels, flaggable=None, thresholds=()) -> dict:
    """Each threshold metric at its own best threshold, chosen with the test labels: an upper bound.

    Exact over every distinct score for pointwise and point-adjusted F1 (``evaluation.best_f1``); over
    ``N_CANDIDATES`` score quantiles and the given ``thresholds`` (those the label-free rules chose, so that
    the oracle bounds each of them) for the others. ``flaggable`` (bool per point; default all): the
    points a threshold may flag. The label-free rules never flag a point the detector left unscored, so
    neither does the oracle, and the two are compared on the same points.
    """
    s, y = scores_and_labels(scores, labels, "labels")
    ok = np.ones(len(s), bool) if flaggable is None else binary("flaggable", flaggable)
    if len(ok) != len(s):
        raise ValueError(f"scores and flaggable differ in length: {len(s)} != {len(ok)}")
    if degenerate(y, ok):
        return {name: {"f1": float("nan"), "threshold": float("nan")} for name in AT_THRESHOLD}
    out = {"pointwise": best_f1(s, y, adjusted=False, flaggable=ok),
           "point_adjusted": best_f1(s, y, adjusted=True, flaggable=ok)}
    candidates = np.unique(np.concatenate([np.quantile(s[ok], np.linspace(0.0, 1.0, N_CANDIDATES + 1)),
                                           np.asarray(thresholds, float)])) if ok.any() else np.array([])
    # what AT_THRESHOLD[name](y, (s >= t) & ok) gives at each candidate t, for all of them at once
    swept = sweep.at_thresholds(s, y, ok, candidates)
    for name in AT_THRESHOLD:
        if name in out:
            continue
        best = {"f1": 0.0, "threshold": float("nan")}  # nothing flaggable: nothing found
        for t, m in zip(candidates[::-1], swept[name][::-1], strict=True):  # ties go to the largest threshold
            if m["f1"] > best["f1"] or not np.isfinite(best["threshold"]):
                best = {**m, "threshold": float(t)}
        out[name] = best
    return out
