"""PA%K (Kim et al., "Towards a Rigorous Evaluation of Time-Series Anomaly Detection", AAAI 2022).

Point adjustment restricted by a threshold ``K`` in percent: every point of a labelled segment counts
as predicted when *more than* ``K/100`` of the segment's points are predicted; otherwise the segment
keeps its pointwise predictions. Points outside labelled segments are never changed. Precision, recall
and F1 are then pointwise on the adjusted predictions.

Conventions, as in ``tadpak`` 0.3.3 (``tadpak.pak.pak``, by the paper's authors):

* the test is strict, exactly ``n_predicted > k / 100 * segment_length`` (evaluated in float, in that
  order, so the rare float rounding of ``k / 100 * length`` is the reference's too). So K = 0 means
  "at least one point" (the usual point adjustment) and K = 100 means no segment is ever adjusted
  (pointwise F1). With K = 50 a segment of 4 points needs 3 predicted points: 2 are not "more than
  half". (As we read the paper, it too asks that the ratio exceed K; where the two could differ,
  tadpak is what we match.)
* precision / recall / F1 as ``sklearn.metrics`` gives them on the adjusted predictions, as in
  ``tadpak.evaluate.evaluate``: precision is 0.0 when nothing is predicted and F1 is 0.0 when
  precision + recall is 0. Not in the reference, our choice: with no labelled point all three are NaN
  (sklearn would give 0.0).

``pak_auc`` is the paper's area under F1 as a function of K: F1 at each K in ``ks`` (default 0, 1, ...,
100), integrated with the trapezoid rule over K/100, so with the default ``ks`` it lies in [0, 1].
tadpak has no AUC function; the reference values for it are tadpak's F1 at each K, integrated the same
way.
"""

from __future__ import annotations

import numpy as np

from ._inputs import pair_and_segments

__all__ = ["pak_auc", "pak_f1"]




def _counts(labels, predictions):
    """Segment lengths, predicted points per segment, and the number of predicted points outside."""
    y, p, starts, ends = pair_and_segments(labels, predictions)
    c = np.concatenate(([0], np.cumsum(p, dtype=np.int64)))
    hits = c[ends] - c[starts]
    fp = int(c[-1] - hits.sum())
    return ends - starts, hits, fp


def _f1_curve(lengths, hits, fp, ks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ks = np.atleast_1d(np.asarray(ks, dtype=float))
    if ks.ndim != 1 or np.any(~np.isfinite(ks)) or np.any((ks < 0) | (ks > 100)):
        raise ValueError("k must lie in [0, 100]")
    if len(lengths) == 0:
        nan = np.full(len(ks), np.nan)
        return nan, nan, nan.copy()
    # Segments of equal length and hits are adjusted alike: each such pair once, weighted by its count (exact
    # integers), so the cost is K values x distinct pairs (few), not K values x segments.
    base = int(lengths.max()) + 1  # hits <= length < base
    pair, count = np.unique(lengths * base + hits, return_counts=True)
    length, hit = np.divmod(pair, base)
    adjusted = hit[None, :] > (ks[:, None] / 100) * length[None, :]
    tp = (np.where(adjusted, length[None, :], hit[None, :]) * count).sum(axis=1).astype(float)
    fn = lengths.sum() - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = tp / (tp + fn)
        f1 = np.where(tp > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return precision, recall, f1


def pak_f1(labels, predictions, k: float) -> dict:
    """PA%K precision, recall and F1 of binary ``predictions`` at threshold ``k`` in [0, 100] (percent)."""
    lengths, hits, fp = _counts(labels, predictions)
    precision, recall, f1 = _f1_curve(lengths, hits, fp, [k])
    return {"precision": float(precision[0]), "recall": float(recall[0]), "f1": float(f1[0])}


def pak_auc(labels, predictions, ks=range(0, 101)) -> float:
    """Area under PA%K F1 against K/100 (trapezoid rule over ``ks``); NaN without a labelled point."""
    ks = np.asarray(list(ks), dtype=float)
    if len(ks) < 2 or np.any(np.diff(ks) <= 0):
        raise ValueError("ks must hold at least two increasing values")
    return _auc(*_counts(labels, predictions), ks)


def _auc(lengths, hits, fp, ks: np.ndarray) -> float:
    _, _, f1 = _f1_curve(lengths, hits, fp, ks)
    return float(np.trapezoid(f1, ks / 100))
