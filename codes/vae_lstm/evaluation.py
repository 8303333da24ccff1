"""Labels, point adjustment, F1 metrics and threshold rules for per-sequence anomaly scores.

Conventions: indices are 0-based; a sample is predicted anomalous when ``score >= threshold``.
A sequence starting at time ``i`` covers ``[i, i + span - 1]`` and is anomalous iff it holds a
labelled anomaly index.
"""

import numpy as np
from sklearn.metrics import average_precision_score

from .errors import ConfigError, unknown_name
from .thresholds import LABEL_FREE_RULES
from .windowing import units_from_points, whole_number

THRESHOLD_RULES = (*LABEL_FREE_RULES, "oracle_best_f1")  # the oracle reads the test labels: an upper bound only
DEPLOYABLE_RULES = ("val_quantile", "pot", "dynamic", "contamination")  # point-level rules reported for every detector


def binary(name: str, x) -> np.ndarray:
    """A 1-D boolean copy of 0/1 (or boolean) values; ValueError otherwise (a NaN or a 2 is no anomaly label)."""
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.dtype != bool:
        try:
            ok = np.all((a == 0) | (a == 1))
        except TypeError:  # a missing value that refuses to compare (pandas' NA)
            ok = False
        if not ok:
            raise ValueError(f"{name} must hold only 0 and 1")
        return a == 1
    return a.copy()


def same_index(a_name: str, a, b_name: str, b) -> None:
    """ValueError when ``a`` and ``b`` are both pandas objects whose indexes differ: arrays pair their values by
    position, so a Series of labels in another order (or on another index) would be paired with the wrong scores."""
    ia, ib = getattr(a, "index", None), getattr(b, "index", None)
    if hasattr(ia, "equals") and hasattr(ib, "equals") and not ia.equals(ib):
        raise ValueError(f"{a_name} and {b_name} are pandas objects of different indexes: their values pair by "
                         f"position, so align them first ({b_name}.reindex({a_name}.index)) or pass .to_numpy() of each")


def binary_pair(a_name: str, a, b_name: str, b) -> tuple[np.ndarray, np.ndarray]:
    """``binary`` of both, checked to be of equal length and, as pandas objects, of one index (``same_index``)."""
    x, y = binary(a_name, a), binary(b_name, b)
    if len(x) != len(y):
        raise ValueError(f"{a_name} and {b_name} differ in length: {len(x)} != {len(y)}")
    same_index(a_name, a, b_name, b)
    return x, y


def scores_and_labels(scores, y_true, name: str = "y_true") -> tuple[np.ndarray, np.ndarray]:
    """Validated (float scores, bool labels) of equal length; scores must be finite; ``name``: the labels' in errors."""
    s = np.asarray(scores, dtype=float)
    y = binary(name, y_true)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {s.shape}")
    if len(s) != len(y):
        raise ValueError(f"scores and {name} differ in length: {len(s)} != {len(y)}")
    same_index("scores", scores, name, y_true)
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    return s, y


def threshold_number(threshold) -> float:
    """``threshold`` as a float: one real number (NaN allowed: no threshold); ValueError otherwise."""
    t = np.asarray(threshold) if not isinstance(threshold, str) else None
    if t is None or t.ndim != 0 or t.dtype.kind not in "iuf":
        raise ValueError(f"threshold must be one number, got {threshold!r}")
    return float(t)


def sequence_labels(anomaly_idx, n_sequences: int, span: int) -> np.ndarray:
    """Label of each sequence start 0..n_sequences-1: True iff ``i <= a <= i + span - 1`` for some anomaly a.
    ``n_sequences`` and ``span`` are whole numbers (24.0 is 24; ``windowing.whole_number``)."""
    span = whole_number(span, "span")
    n_sequences = whole_number(n_sequences, "n_sequences", minimum=0)
    a = np.asarray(anomaly_idx).ravel()
    if a.size == 0:
        return np.zeros(n_sequences, dtype=bool)
    if a.dtype.kind not in "iu":
        raise ValueError(f"anomaly_idx must be integers, got dtype {a.dtype}")
    if a.min() < 0:
        raise ValueError("anomaly_idx must be >= 0")
    a = a[a < n_sequences + span - 1]
    mask = np.zeros(n_sequences + span - 1, dtype=float)
    mask[a.astype(np.int64)] = 1.0
    return units_from_points(mask, span) > 0


def segments(y_true) -> np.ndarray:
    """``[start, end)`` of each contiguous run of True, shape (k, 2)."""
    y = binary("y_true", y_true).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], y, [0]))))
    return edges.reshape(-1, 2)


def span_mask(n: int, seg: np.ndarray) -> np.ndarray:
    """Boolean mask of length ``n`` that is True inside the ``[start, end)`` rows of ``seg``."""
    diff = np.zeros(n + 1, dtype=np.int64)
    np.add.at(diff, seg[:, 0], 1)
    np.add.at(diff, seg[:, 1], -1)
    return np.cumsum(diff[:-1]) > 0


def point_adjust(y_true, y_pred) -> np.ndarray:
    """Donut-style adjustment: a segment of ``y_true`` with any predicted point counts as wholly predicted."""
    y, p = binary_pair("y_true", y_true, "y_pred", y_pred)
    seg = segments(y)
    c = np.concatenate(([0], np.cumsum(p, dtype=np.int64)))
    hit = seg[c[seg[:, 1]] > c[seg[:, 0]]]
    return p | span_mask(len(p), hit)


def _segment_max(s: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Max of ``s`` over each ``[start, end)`` row of ``seg`` (rows non-empty, disjoint, sorted)."""
    idx = seg.ravel()
    if idx[-1] == len(s):
        idx = idx[:-1]
    return np.maximum.reduceat(s, idx)[::2]


def _ratios(tp, fp, fn) -> tuple:
    """Precision, recall, F1 from counts; 0.0 where undefined."""
    tp, fp, fn = (np.asarray(x, dtype=float) for x in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        rec = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(tp > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return prec, rec, f1


def precision_recall_f1(y_true, y_pred) -> dict:
    """Precision, recall, F1 and counts; 0.0 where a ratio is undefined."""
    y, p = binary_pair("y_true", y_true, "y_pred", y_pred)
    tp = int(np.sum(y & p))
    fp = int(np.sum(~y & p))
    fn = int(np.sum(y & ~p))
    prec, rec, f1 = _ratios(tp, fp, fn)
    return {"precision": float(prec), "recall": float(rec), "f1": float(f1), "tp": tp, "fp": fp, "fn": fn}


def _count_at_least(values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For each threshold in ``t``, how many ``values`` are >= it."""
    return len(values) - np.searchsorted(np.sort(values), t, side="left")


def best_f1(scores, y_true, adjusted: bool, flaggable=None) -> dict:
    """Exact best F1 over every distinct score used as threshold (``score >= t``).

    Ties go to the largest threshold. With ``adjusted`` the F1 is point-adjusted (see
    ``point_adjust``). If ``y_true`` has no positives: f1 0 and threshold = max score.
    ``flaggable`` (bool per point; default all): points no threshold may flag, as the label-free rules
    never flag a point the detector did not score; their labels still count as anomalies to find.
    """
    s, y = scores_and_labels(scores, y_true)
    if len(s) == 0:
        raise ValueError("scores is empty")
    ok = np.ones(len(s), bool) if flaggable is None else binary("flaggable", flaggable)
    if len(ok) != len(s):
        raise ValueError(f"scores and flaggable differ in length: {len(s)} != {len(ok)}")
    same_index("scores", scores, "flaggable", flaggable)
    n_pos = int(y.sum())
    if n_pos == 0 or not ok.any():
        return {"threshold": float(s[ok].max()) if ok.any() else float("nan"), "precision": 0.0, "recall": 0.0,
                "f1": 0.0}
    t = np.unique(s[ok])  # ascending distinct candidates
    fp = _count_at_least(s[~y & ok], t)
    if adjusted:
        seg = segments(y)
        peak = _segment_max(np.where(ok, s, -np.inf), seg)  # a segment with no flaggable point is never found
        lens = seg[:, 1] - seg[:, 0]
        order = np.argsort(peak)
        tail = np.concatenate((np.cumsum(lens[order][::-1])[::-1], [0]))  # tail[j] = sum lens of peaks j..
        tp = tail[np.searchsorted(peak[order], t, side="left")]
    else:
        tp = _count_at_least(s[y & ok], t)
    prec, rec, f1 = _ratios(tp, fp, n_pos - tp)
    i = len(t) - 1 - int(np.argmax(f1[::-1]))  # last (largest t) index of the max
    return {"threshold": float(t[i]), "precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i])}


def average_precision(scores, y_true) -> float:
    """Average precision (sklearn); nan if ``y_true`` has no positives."""
    s, y = scores_and_labels(scores, y_true)
    if not y.any():
        return float("nan")
    return float(average_precision_score(y, s))


def choose_threshold(rule: str, *, val_scores=None, quantile=None, value=None, test_scores=None,
                     test_labels=None, adjusted: bool = True, params: dict | None = None,
                     train_scores=None) -> float:
    """Threshold by ``rule``: "fixed", "oracle_best_f1" (uses test labels; NaN for labels of one class), or a
    label-free rule of ``thresholds.THRESHOLD_RULES`` ("val_quantile" with ``quantile``, "pot", "dynamic" with
    ``params``)."""
    from . import thresholds

    if rule not in THRESHOLD_RULES:
        raise ConfigError(unknown_name("threshold rule", rule, THRESHOLD_RULES))
    if rule == "val_quantile":
        if val_scores is None or quantile is None:
            raise ValueError("rule 'val_quantile' needs val_scores and quantile")
        return thresholds.val_quantile(val_scores, quantile)  # 1-D, finite, not empty: ValueError otherwise
    if rule in thresholds.THRESHOLD_RULES:
        return thresholds.compute_threshold(rule, val_scores=val_scores, test_scores=test_scores,
                                            train_scores=train_scores, params=params)
    if rule == "fixed":
        if value is None:
            raise ValueError("rule 'fixed' needs value")
        return float(value)
    if test_scores is None or test_labels is None:
        raise ValueError("rule 'oracle_best_f1' needs test_scores and test_labels")
    from .metrics import degenerate

    if degenerate(test_labels):  # labels of one class: no best threshold (the metrics are undefined), so none is drawn
        return float("nan")
    return best_f1(test_scores, test_labels, adjusted)["threshold"]


def evaluate(scores, y_true, threshold) -> dict:
    """Pointwise and point-adjusted precision/recall/F1 at ``threshold`` (``score >= threshold``)."""
    s, y = scores_and_labels(scores, y_true)
    threshold = threshold_number(threshold)
    if np.isnan(threshold):  # no threshold (a rule the scores do not allow): undefined, not "flags nothing"
        nan = {"precision": float("nan"), "recall": float("nan"), "f1": float("nan")}
        return {"threshold": float("nan"), "pointwise": dict(nan), "point_adjusted": dict(nan), "n": len(s),
                "n_anomalous": int(y.sum())}
    pred = s >= threshold
    return {
        "threshold": float(threshold),
        "pointwise": precision_recall_f1(y, pred),
        "point_adjusted": precision_recall_f1(y, point_adjust(y, pred)),
        "n": len(s),
        "n_anomalous": int(y.sum()),
    }


def normals_above_anomalies(scores, y_true) -> list[int]:
    """Per labelled anomaly, how many normal sequences score at least its best score.

    0 means a threshold can flag that anomaly with no false positive; the largest count is what
    caps the point-adjusted precision at recall 1.0.
    """
    s, y = scores_and_labels(scores, y_true)
    seg = segments(y)
    if len(seg) == 0:
        return []
    normal = np.sort(s[~y])
    return [int(k) for k in len(normal) - np.searchsorted(normal, _segment_max(s, seg), side="left")]


def summarise(scores, y_true, threshold) -> dict:
    """``evaluate`` plus average precision and the oracle best F1s; plain floats and ints only.

    Labels that are all normal or all anomalous make every figure undefined: NaN, never a perfect 1.0.
    """
    out = evaluate(scores, y_true, threshold)
    y = binary("y_true", y_true)
    if len(y) == 0 or y.all() or not y.any():
        nan = {"precision": float("nan"), "recall": float("nan"), "f1": float("nan")}
        out.update(pointwise=dict(nan), point_adjusted=dict(nan), average_precision=float("nan"),
                   oracle_pointwise={**nan, "threshold": float("nan")},
                   oracle_point_adjusted={**nan, "threshold": float("nan")}, normals_above_each_anomaly=[],
                   undefined="the labels are all normal or all anomalous: every metric is undefined")
        return out
    out["average_precision"] = average_precision(scores, y_true)
    out["oracle_pointwise"] = best_f1(scores, y_true, adjusted=False)
    out["oracle_point_adjusted"] = best_f1(scores, y_true, adjusted=True)
    out["normals_above_each_anomaly"] = normals_above_anomalies(scores, y_true)
    return out
