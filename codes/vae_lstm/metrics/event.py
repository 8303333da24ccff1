"""Event-based F1: the composite F-score of Garg et al., "An Evaluation of Anomaly Detection and Diagnosis
in Multivariate Time Series", IEEE TNNLS 2021.

Precision is pointwise (predicted points that are labelled, over predicted points); recall is event-wise
(the fraction of labelled segments, i.e. maximal runs of ones, with at least one predicted point); F1 is
their harmonic mean.

Conventions, as in the authors' ``get_composite_fscore_raw`` (``astha-chem/mvts-ano-eval``,
``src/evaluation/fc_score.py``): precision is ``sklearn.metrics.precision_score``, so 0.0 when nothing is
predicted; F1 is 0.0 when precision and recall are both 0.

Deviation, on purpose: the authors' ``get_events`` drops the last point of a segment that runs to the end
of the series (it closes that segment at ``len - 2`` instead of ``len - 1``), so there a prediction on
the final point alone does not detect the segment, and a one-point segment at the very end can never be
detected. We count every point of every segment. Elsewhere the results are the reference's.
Not in the reference, our choice: with no labelled segment all three values are NaN (the reference
divides 0 by 0).
"""

from __future__ import annotations

import numpy as np

from ._inputs import pair_and_segments

__all__ = ["event_f1"]




def event_f1(labels, predictions) -> dict:
    """Composite (event-based) precision, recall and F1 of binary ``predictions`` against 0/1 ``labels``."""
    y, p, starts, ends = pair_and_segments(labels, predictions)
    if len(starts) == 0:
        nan = float("nan")
        return {"precision": nan, "recall": nan, "f1": nan}
    c = np.concatenate(([0], np.cumsum(p, dtype=np.int64)))
    return _from_counts(c[ends] - c[starts], np.count_nonzero(y & p), int(c[-1]))


def _from_counts(hits: np.ndarray, tp: int, n_pred: int) -> dict:
    """The scores from the predicted points in each labelled segment, the predicted labelled points and all
    predicted points."""
    recall = float(np.mean(hits > 0))
    precision = float(tp / n_pred) if n_pred else 0.0
    f1 = 0.0 if precision == 0.0 and recall == 0.0 else 2 * recall * precision / (recall + precision)
    return {"precision": precision, "recall": recall, "f1": float(f1)}
