"""Range-based precision, recall and F1 (Tatbul, Lee, Zdonik, Alam, Gottschlich, "Precision and Recall
for Time Series", NeurIPS 2018).

Reference implementations: the authors' C++ TSAD-Evaluator (github.com/IntelLabs/TSAD-Evaluator) and
its Python port, the ``prts`` package on PyPI (version 1.0.0.3: ``prts.ts_precision``,
``prts.ts_recall``, ``prts.ts_fscore``); the values here agree with ``prts`` to rounding
(tests/fixtures/vus_range_reference.json, made by tests/fixtures/make_vus_range_reference.py).

Anomaly ranges are the maximal runs of 1 in ``labels`` (real ranges R_i) and in ``predictions``
(predicted ranges P_j). For a range X scored against the ranges Y of the other side:

* ``omega(X, X ∩ Y)``: the positional weights ``delta(t, |X|)``, t = 1..|X| along X, summed over the
  points of X that lie in Y, divided by their sum over all of X;
* ``overlap(X) = gamma(#Y overlapping X) * sum_Y omega(X, X ∩ Y)``, with ``gamma`` = 1 for
  cardinality ``"one"`` and ``1 / count`` (when count > 1) for ``"reciprocal"``;
* ``existence(X)`` = 1 if some Y overlaps X, else 0.

``recall = mean_i [alpha * existence(R_i) + (1 - alpha) * overlap(R_i)]`` (predicted ranges as Y),
``precision = mean_j overlap(P_j)`` (real ranges as Y, no existence term: the paper's precision and
the C++ evaluator's ``alpha_p = 0``; ``alpha`` is the evaluator's ``alpha_r``, so ``alpha`` changes
recall only, as ``prts.ts_fscore(p_alpha=0, r_alpha=alpha)``), ``f1 = 2 P R / (P + R)`` (0 when both
are 0). Positional bias ``delta`` (one choice for both sides, like ``ts_precision`` and ``ts_recall``
called with the same ``bias``): ``"flat"`` 1, ``"front"`` ``|X| - t + 1``, ``"back"`` t, ``"middle"``
t for ``t <= |X| / 2`` else ``|X| - t + 1``.

Defaults, those of prts and of the C++ evaluator: ``alpha=0``, ``cardinality="one"``, ``bias="flat"``.

Empty cases (``prts`` asserts there that both inputs hold a 1; the C++ evaluator returns 0): no
predicted range -> precision 0, recall 0, F1 0; no real range -> recall 0 (and precision 0, since no
prediction overlaps anything). Nothing is NaN here: these are threshold metrics whose callers decide
what degenerate labels mean.

Vectorised: the overlapping (X, Y) pairs are found by binary search on the sorted ranges, and each
omega comes from a closed form of the cumulative positional weight; no loop over points or ranges.
"""

from __future__ import annotations

import numpy as np

from ._inputs import binary_pair

CARDINALITIES = ("one", "reciprocal")
BIASES = ("flat", "front", "middle", "back")


def label_ranges(x) -> tuple[np.ndarray, np.ndarray]:
    """Start and inclusive end (int64) of each run of 1 in a 1-D 0/1 array."""
    d = np.diff(np.concatenate(([0], np.asarray(x).astype(np.int8), [0])))
    return np.flatnonzero(d == 1).astype(np.int64), (np.flatnonzero(d == -1) - 1).astype(np.int64)


def _cum_weight(k: np.ndarray, length: np.ndarray, bias: str) -> np.ndarray:
    """``sum_{t=1..k} delta(t, length)`` for 0 <= k <= length (exact integers, as float)."""
    k = k.astype(np.float64)
    n = length.astype(np.float64)
    if bias == "flat":
        return k
    if bias == "back":
        return k * (k + 1) / 2
    if bias == "front":
        return k * (n + 1) - k * (k + 1) / 2
    # middle: t up to m = floor(n / 2), then n - t + 1
    m = np.floor(n / 2)
    head = np.minimum(k, m)
    tail = np.maximum(k - m, 0)
    return head * (head + 1) / 2 + tail * (n + 1) - ((m + tail) * (m + tail + 1) - m * (m + 1)) / 2


def _score_side(xs, xe, ys, ye, alpha: float, cardinality: str, bias: str) -> float:
    """``mean_X [alpha * existence(X) + (1 - alpha) * overlap(X)]`` of ranges X against ranges Y."""
    if len(xs) == 0:
        return 0.0
    return float(_rewards(xs, xe, ys, ye, alpha, cardinality, bias).mean())


def _rewards(xs, xe, ys, ye, alpha: float, cardinality: str, bias: str) -> np.ndarray:
    """``alpha * existence(X) + (1 - alpha) * overlap(X)`` of each range X against ranges Y."""
    # Y ranges overlapping X are those with end >= X.start and start <= X.end: a contiguous block.
    lo = np.searchsorted(ye, xs, side="left")
    hi = np.searchsorted(ys, xe, side="right")
    count = np.maximum(hi - lo, 0)
    total = int(count.sum())
    ix = np.repeat(np.arange(len(xs)), count)
    iy = lo[ix] + (np.arange(total) - np.repeat(np.cumsum(count) - count, count))
    length = xe[ix] - xs[ix] + 1
    a = np.maximum(xs[ix], ys[iy]) - xs[ix]  # overlap as positions a+1..b along X
    b = np.minimum(xe[ix], ye[iy]) - xs[ix] + 1
    omega = (_cum_weight(b, length, bias) - _cum_weight(a, length, bias)) / _cum_weight(length, length, bias)
    omega_sum = np.bincount(ix, weights=omega, minlength=len(xs))
    gamma = np.ones(len(xs))
    if cardinality == "reciprocal":
        many = count > 1
        gamma[many] = 1.0 / count[many]
    return alpha * (count > 0) + (1 - alpha) * gamma * omega_sum


def range_precision_recall_f1(labels, predictions, alpha: float = 0.0, cardinality: str = "one",
                              bias: str = "flat") -> dict:
    """``{"precision", "recall", "f1"}``, range-based (Tatbul et al. 2018); see the module docstring.

    ``alpha`` in [0, 1] weighs the existence reward of recall (precision has none); ``cardinality`` is
    ``"one"`` or ``"reciprocal"``; ``bias`` is ``"flat"``, ``"front"``, ``"middle"`` or ``"back"``.
    Defaults ``alpha=0``, ``"one"``, ``"flat"``, as ``prts``. Equals ``prts.ts_precision(labels,
    predictions, 0, cardinality, bias)``, ``prts.ts_recall(labels, predictions, alpha, cardinality,
    bias)`` and ``prts.ts_fscore(labels, predictions, 1, 0, alpha, cardinality, bias, bias)``.
    """
    y, p = binary_pair("labels", labels, "predictions", predictions)
    _check_options(alpha, cardinality, bias)
    rs, re_ = label_ranges(y)
    ps, pe = label_ranges(p)
    precision = _score_side(ps, pe, rs, re_, 0.0, cardinality, bias)
    recall = _score_side(rs, re_, ps, pe, float(alpha), cardinality, bias)
    return _combine(precision, recall)


def _combine(precision: float, recall: float) -> dict:
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1}


def _check_options(alpha: float, cardinality: str, bias: str) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if cardinality not in CARDINALITIES:
        raise ValueError(f"cardinality must be one of {CARDINALITIES}, got {cardinality!r}")
    if bias not in BIASES:
        raise ValueError(f"bias must be one of {BIASES}, got {bias!r}")
