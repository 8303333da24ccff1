"""VUS-ROC / VUS-PR and range-AUC-ROC / range-AUC-PR, as in the authors' ``vus`` package.

Paparrizos, Boniol, Palpanas, Tsay, Elmore, Franklin, "Volume Under the Surface: A New Accuracy
Evaluation Measure for Time-Series Anomaly Detection", PVLDB 15(11), 2022. Reference implementation:
the ``vus`` package on PyPI, version 0.0.6 (github.com/TheDatumOrg/VUS), whose public entry point is
``vus.metrics.get_metrics(score, labels, metric, version='opt', slidingWindow=None, thre=250)``:

* ``metric='vus'`` -> ``metricor().RangeAUC_volume_opt(labels, score, windowSize=slidingWindow,
  thre=250)`` gives ``VUS_ROC`` and ``VUS_PR`` (:func:`vus_roc`, :func:`vus_pr`);
* ``metric='range_auc'`` -> ``metricor().RangeAUC(labels, score, window=slidingWindow)`` gives
  ``R_AUC_ROC`` and ``R_AUC_PR`` (:func:`range_auc_roc`, :func:`range_auc_pr`).

The definitions below are those of that code, not a paraphrase of the paper, and the values agree
with it to rounding (tests/fixtures/vus_range_reference.json, made by
tests/fixtures/make_vus_range_reference.py). With ``n`` points, labelled anomaly ranges
``[s_k, e_k]`` (inclusive) and ``P`` labelled points:

Buffer-widened labels, for a buffer length ``w`` (the reference's ``sequencing`` /
``extend_postive_range``): each range gets ``h = w // 2`` extra points on each side; the point at
distance ``d = 1..h`` outside the range gets ``sqrt(1 - d / w)``; contributions of neighbouring ranges
add up and the result is capped at 1 (labelled points stay 1). ``w = 0`` and ``w = 1`` add nothing.

Thresholds: the scores sorted in decreasing order, taken at the ``n_thresholds`` (default 250, the
reference's ``thre``) positions ``np.linspace(0, n - 1, n_thresholds).astype(int)``; a point is
flagged when ``score >= threshold``. Per threshold, with ``N_pred`` flagged points:

* ``TP = sum(ext * flagged)`` (``ext`` the widened labels), ``FP = N_pred - TP``,
  ``precision = TP / N_pred``;
* ``existence`` = fraction of widened anomaly ranges holding at least one flagged point;
* ``P_new = (P + N_labels) / 2``, ``recall = min(TP / P_new, 1)``, ``TPR = recall * existence``,
  ``FPR = FP / (n - P_new)``.

The ROC curve runs through (0, 0), the thresholds' (FPR, TPR) and (1, 1), integrated by trapezoids.

*Range-AUC at buffer w* (``RangeAUC``): ``N_labels = sum(ext)``; the widened ranges are the maximal
runs of non-zero ``ext`` (ranges whose buffers touch merge); the PR area is
``sum_t (TPR_t - TPR_{t-1}) * (prec_t + prec_{t-1}) / 2`` with ``TPR_0 = 0``, ``prec_0 = 1``; the
threshold count is fixed at 250 in the reference (``n_thresholds`` here, default 250).

*VUS with maximal buffer W* (``RangeAUC_volume_opt``, ``get_metrics``' default ``version='opt'``): the
mean over ``w = 0, 1, ..., W`` of the per-buffer ROC area and PR area, where per buffer
``N_labels = P + sum(ext * flagged outside the labelled ranges)`` (labelled points count fully,
buffer points only where flagged), two widened ranges merge only when they overlap
(``e_k + h >= s_{k+1} - h``, the reference's ``new_sequence``), and the PR area is the step sum
``sum_t (TPR_t - TPR_{t-1}) * prec_t`` with ``TPR_0 = 0``.

Default buffer: ``get_metrics`` has ``slidingWindow=None`` and fails without one; the package README
says to set it to the labelled anomaly length ("for instance, the median labeled anomaly length"), or
to the series' period estimated by autocorrelation (``find_length``, which needs the raw series, not
the scores). Here ``max_buffer=None`` (and ``buffer=None``) is ``int(median(lengths of the labelled
ranges))``: the README's first rule, with the true range lengths (the README's helper
``get_list_anomaly`` counts a range not at the start as one point longer and skips a range that reaches
the last point; we do not copy that). Pass an int to fix it, e.g. the model's window length.

Degenerate labels (no anomaly, or every point an anomaly) make these measures undefined: NaN.
Scores must be finite. Cost of VUS: a few sorts, then per buffer length O(thresholds x 53 + ranges) plus the
points whose widened label changes kind at that length; memory O(points + thresholds x 53). The buffer
points' ``sqrt(1 - d / w)`` (d <= w / 2) are summed through the first 53 power moments of their distances
per threshold step (``_SQRT_SERIES``: the terms left out are below 1e-18 per point), so the values are the
point-by-point sum's to rounding (about 1e-15), not to the last bit; a window of 100,000 points (W =
100,000) takes seconds, not the minutes of a pass over every point within W of an anomaly for each buffer
length.
"""

from __future__ import annotations

import numpy as np

from ..evaluation import scores_and_labels
from ..windowing import whole_number

N_THRESHOLDS = 250  # the reference's ``thre`` / RangeAUC's fixed count


def _sqrt_series(n_terms: int) -> np.ndarray:
    """Taylor coefficients of sqrt(1 - x) at 0: a_0 = 1, a_j = a_{j-1} (j - 3/2) / j (a_j < 0 for j >= 1)."""
    a = np.ones(n_terms)
    for j in range(1, n_terms):
        a[j] = a[j - 1] * (j - 1.5) / j
    return a


# For 0 <= x <= 1/2 the terms left out add up to less than |a_53| 2**-53 / (1 - 1/2) < 1e-18.
_SQRT_SERIES = _sqrt_series(53)


def _runs(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and inclusive end of each run of True in a 1-D bool array."""
    d = np.diff(np.concatenate(([0], y.astype(np.int8), [0])))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1


def default_buffer(labels) -> int:
    """``int(median(length of each labelled anomaly range))``; 0 when there is none."""
    starts, ends = _runs(np.asarray(labels).astype(bool))
    return int(np.median(ends - starts + 1)) if len(starts) else 0


def _buffer(value, labels: np.ndarray, name: str) -> int:
    return default_buffer(labels) if value is None else whole_number(value, name, 0)


class _Curves:
    """What every buffer length shares: ranges, thresholds, and the points any buffer can reach."""

    def __init__(self, s: np.ndarray, y: np.ndarray, max_h: int, n_thresholds: int):
        n_thresholds = whole_number(n_thresholds, "n_thresholds")
        n = self.n = len(s)
        self.s = s
        self.starts, self.ends = _runs(y)
        self.P = float(y.sum())
        asc = np.sort(s)
        idx = np.linspace(0, n - 1, n_thresholds).astype(int)
        self.thr = asc[::-1][idx]  # the reference's score_sorted[i], score_sorted decreasing
        self.n_pred = (n - np.searchsorted(asc, self.thr, side="left")).astype(float)
        # Support: every point within max_h of a labelled range (the widest buffer's reach).
        edge = np.zeros(n + 1, dtype=np.int64)
        np.add.at(edge, np.maximum(self.starts - max_h, 0), 1)
        np.add.at(edge, np.minimum(self.ends + max_h, n - 1) + 1, -1)
        self.sup = np.flatnonzero(np.cumsum(edge[:n]) > 0)
        sup_s = s[self.sup]
        self.sup_s_inf = np.append(sup_s, -np.inf)  # sentinel for reduceat's last index
        # Distances from each support point to the nearest and second-nearest range end before it and
        # range start after it (a sentinel where there is none): all a buffer of any length needs.
        far = np.iinfo(np.int64).max // 4
        k_ranges = len(self.starts)
        i = np.searchsorted(self.ends, self.sup, side="left") - 1  # last end < p
        j = np.searchsorted(self.starts, self.sup, side="right")  # first start > p
        dr = np.where(i >= 0, self.sup - self.ends[np.maximum(i, 0)], far)
        dr2 = np.where(i >= 1, self.sup - self.ends[np.maximum(i - 1, 0)], far)
        dl = np.where(j < k_ranges, self.starts[np.minimum(j, k_ranges - 1)] - self.sup, far)
        dl2 = np.where(j + 1 < k_ranges, self.starts[np.minimum(j + 1, k_ranges - 1)] - self.sup, far)
        self.order = np.argsort(-sup_s, kind="stable")  # support points, highest score first
        # Per support point, in that order: the half-width h from which the widened labels make it non-zero
        # (0 inside a range), from which they cap it at 1 (in a range, or in two ranges' buffers), and its
        # distance to the nearest range (the one whose buffer alone reaches it in between).
        labelled = y[self.sup]
        several = np.minimum(np.minimum(dr2, dl2), np.maximum(dr, dl))
        self.reach = np.where(labelled, 0, np.minimum(dr, dl))[self.order]
        self.capped = np.where(labelled, 0, several)[self.order]
        self.near = self.reach.astype(float)  # exact: distances are far below 2**53
        sup_asc = np.sort(sup_s)
        self.k = len(sup_s) - np.searchsorted(sup_asc, self.thr, side="left")  # flagged support points
        anom_asc = np.sort(s[y])
        self.tp_orig = self.P - np.searchsorted(anom_asc, self.thr, side="left")  # flagged labelled points

    def widened(self, w: int) -> np.ndarray:
        """Buffer-widened labels (the reference's ``sequencing``) on the support, in score order
        (``self.order``).

        The reference adds ``sqrt(1 - d / w)`` (d = 1..h, h = w // 2) for every range whose buffer
        holds a point, then caps at 1. Each such term is >= sqrt(1/2), so a point in two or more
        buffers is capped at exactly 1, and a point in one buffer gets that one term, d its distance to
        the nearest range (same floating-point values). Masks multiply rather than index: the same
        values, and much faster on masks that scattered.
        """
        h = w // 2
        if h == 0:
            return (self.reach == 0).astype(float)
        val = 1 - self.near / w
        np.maximum(val, 0, out=val)  # beyond w: 0 (the reference's sqrt(1 - w / w)), not NaN
        np.sqrt(val, out=val)
        np.multiply(val, self.reach <= h, out=val)  # beyond h: no buffer here
        return np.maximum(val, self.capped <= h, out=val)  # capped at exactly 1 (val <= 1)

    def time_ordered(self, ranked: np.ndarray) -> np.ndarray:
        """Values of the support points in score order, put back in time order."""
        out = np.empty(len(ranked))
        out[self.order] = ranked
        return out

    def tp(self, ranked: np.ndarray) -> np.ndarray:
        """``sum(ext * (score >= thr))`` per threshold, from the widened labels in score order."""
        c = np.concatenate(([0.0], np.cumsum(ranked)))
        return c[self.k]

    def existence(self, h: int, merge_gap: int) -> np.ndarray:
        """Fraction of widened ranges holding a flagged point, per threshold.

        Neighbouring widened ranges merge when ``s_{k+1} - e_k <= merge_gap``.
        """
        new = np.concatenate(([True], (self.starts[1:] - self.ends[:-1]) > merge_gap))
        first = np.flatnonzero(new)
        last = np.append(first[1:] - 1, len(self.starts) - 1)
        g_start = np.maximum(self.starts[first] - h, 0)
        g_end = np.minimum(self.ends[last] + h, self.n - 1)
        ls = np.searchsorted(self.sup, g_start)
        le = np.searchsorted(self.sup, g_end) + 1
        gmax = np.maximum.reduceat(self.sup_s_inf, np.column_stack([ls, le]).ravel())[::2]
        hit = len(gmax) - np.searchsorted(np.sort(gmax), self.thr, side="left")
        return hit / len(gmax)

    def sweep(self, big_w: int):
        """``(w, tp, existence)`` for each buffer length ``w = 0..big_w`` (existence with VUS' merge rule, gap
        <= 2h), without a pass over the support per length: ``widened``, ``tp`` and ``existence`` give the
        same values term by term.

        Per threshold step (the points flagged by threshold t and not by t - 1), it keeps the count of
        points whose widened label is 1 (labelled or capped: ``capped <= h``) and the power moments
        ``sum (d / D)**j`` of the distances d of those whose label is ``sqrt(1 - d / w)`` (``reach <= h <
        capped``); points enter and leave those sets once each, when h reaches their reach or their
        cap. ``sum sqrt(1 - d / w) = sum_j a_j (D / w)**j moment_j`` (the Taylor series, d / w <= 1/2). D
        is the smallest power of 2 >= h, so D / w < 1 and rescaling the moments as D doubles is exact.
        """
        n_t = len(self.thr)
        n_bins = n_t + 1  # step b: ranks k[b-1] <= r < k[b]; step n_t is below every threshold
        step = np.searchsorted(self.k, np.arange(len(self.order)), side="right")
        keep = step < n_t
        step, reach, capped = step[keep], self.reach[keep], self.capped[keep]
        by_cap = np.argsort(capped, kind="stable")
        cap_sorted = capped[by_cap]
        graded = np.flatnonzero(reach < capped)  # points that take a sqrt value for some h
        graded = graded[np.argsort(reach[graded], kind="stable")]
        reach_sorted = reach[graded]
        n_terms = len(_SQRT_SERIES)
        jj = np.arange(n_terms)
        ones = np.zeros(n_bins)
        moments = np.zeros((n_terms, n_bins))
        scale = 1  # D
        exist = _Existence(self, big_w // 2)
        for h in range(big_w // 2 + 1):
            lo, hi = np.searchsorted(cap_sorted, [h, h + 1])
            capped_now = by_cap[lo:hi]  # widened label 1 from this h on
            if len(capped_now):
                ones += np.bincount(step[capped_now], minlength=n_bins)
            while scale < h:
                scale *= 2
                moments *= 0.5 ** jj[:, None]  # exact: a power of 2
            lo, hi = np.searchsorted(reach_sorted, [h, h + 1])
            if hi > lo:  # graded from this h on, all at distance h
                counts = np.bincount(step[graded[lo:hi]], minlength=n_bins)
                moments += np.outer((h / scale) ** jj, counts)
            leave = capped_now[reach[capped_now] < h]  # graded before h, now capped at 1
            if len(leave):  # per distance, the count of points in each step; then its powers times those counts
                dist, which = np.unique(reach[leave], return_inverse=True)
                counts = np.bincount(which.reshape(-1) * n_bins + step[leave], minlength=len(dist) * n_bins)
                moments -= ((dist / scale)[None, :] ** jj[:, None]) @ counts.reshape(len(dist), n_bins)
            existence = exist.at(h, self.thr)
            ws = [w for w in (2 * h, 2 * h + 1) if w <= big_w]
            if h == 0:
                per_step = np.tile(ones, (len(ws), 1))
            else:
                per_step = ones + (_SQRT_SERIES * (scale / np.array(ws)[:, None]) ** jj) @ moments
            tps = np.cumsum(per_step[:, :n_t], axis=1)
            for w, tp in zip(ws, tps, strict=True):
                yield w, tp, existence

    def step_areas(self, tp: np.ndarray, existence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``roc_pr`` for VUS (``N_labels = P + tp - tp_orig``, the step PR sum) of each row of ``tp`` (one buffer
        length per row) at once: the ROC and PR areas per row."""
        p_new = (self.P + (self.P + tp - self.tp_orig)) / 2  # N_labels: labelled points, and buffer points flagged
        tpr = np.minimum(tp / p_new, 1) * existence
        fpr = (self.n_pred - tp) / (self.n - p_new)
        edge = np.zeros((len(tp), 1))
        tpr_c = np.hstack((edge, tpr, edge + 1))
        fpr_c = np.hstack((edge, fpr, edge + 1))
        roc = np.einsum("ij,ij->i", fpr_c[:, 1:] - fpr_c[:, :-1], (tpr_c[:, 1:] + tpr_c[:, :-1]) / 2)
        pr = np.einsum("ij,ij->i", tpr_c[:, 1:-1] - tpr_c[:, :-2], tp / self.n_pred)
        return roc, pr

    def roc_pr(self, tp: np.ndarray, n_labels, existence: np.ndarray, pr_trapezoid: bool):
        p_new = (self.P + n_labels) / 2
        tpr = np.minimum(tp / p_new, 1) * existence
        fpr = (self.n_pred - tp) / (self.n - p_new)
        prec = tp / self.n_pred
        tpr_c = np.concatenate(([0.0], tpr, [1.0]))
        fpr_c = np.concatenate(([0.0], fpr, [1.0]))
        roc = np.dot(fpr_c[1:] - fpr_c[:-1], (tpr_c[1:] + tpr_c[:-1]) / 2)
        width = tpr_c[1:-1] - tpr_c[:-2]
        if pr_trapezoid:
            prec_c = np.concatenate(([1.0], prec))
            pr = np.dot(width, (prec_c[1:] + prec_c[:-1]) / 2)
        else:
            pr = np.dot(width, prec)
        return float(roc), float(pr)


class _Existence:
    """The best score of each widened range (VUS' merge rule: ranges whose gap is <= 2h merge) for h = 0, 1, ...,
    in O(ranges) per h: a merged group spans its ranges and the buffers between them, so its best score is the
    best of its ranges' own spans, each the range's best and the running best of each of its buffers outwards
    (cut where the neighbouring range begins: beyond, that range's span covers it once they merge)."""

    def __init__(self, c: _Curves, max_h: int):
        s_all = c.s
        starts, ends, n = c.starts, c.ends, c.n
        self.gap = starts[1:] - ends[:-1]
        # the best score in each range: reduceat over the ranges' [start, end] (+ the gaps in between, dropped)
        idx = np.column_stack([starts, ends + 1]).ravel()
        self.inner = np.maximum.reduceat(np.append(s_all, -np.inf), idx)[::2]
        left_len = np.minimum(max_h, starts - np.concatenate(([0], ends[:-1] + 1)))
        right_len = np.minimum(max_h, np.concatenate((starts[1:] - 1, [n - 1])) - ends)
        self.left_at, self.left = self._running_best(s_all, starts - 1, -1, left_len)
        self.right_at, self.right = self._running_best(s_all, ends + 1, 1, right_len)
        self.left_len, self.right_len = left_len, right_len

    @staticmethod
    def _running_best(s_all, first, direction, length):
        """Flat running maxima of s from ``first`` outwards in ``direction``, ``length[i]`` points for range i,
        each preceded by -inf (no buffer); returns the offset of each range's -inf and the flat array."""
        total = int(length.sum())
        seg = np.repeat(np.arange(len(length)), length)
        pos = np.arange(total) - np.repeat(np.cumsum(length) - length, length)
        vals = s_all[first[seg] + direction * pos]
        # a segmented running max, exact: dense ranks of the values, shifted per range above every earlier one
        uniq, rank = np.unique(vals, return_inverse=True)
        keyed = seg * (len(uniq) + 1) + rank.reshape(-1)
        best = np.maximum.accumulate(keyed) - seg * (len(uniq) + 1)
        out_at = np.cumsum(length + 1) - (length + 1)
        flat = np.full(total + len(length), -np.inf)
        flat[np.delete(np.arange(total + len(length)), out_at)] = uniq[best]
        return out_at, flat

    def at(self, h: int, thr: np.ndarray) -> np.ndarray:
        best = np.maximum(self.inner, np.maximum(self.left[self.left_at + np.minimum(h, self.left_len)],
                                                 self.right[self.right_at + np.minimum(h, self.right_len)]))
        first = np.flatnonzero(np.concatenate(([True], self.gap > 2 * h)))
        gmax = np.maximum.reduceat(best, first)
        return (len(gmax) - np.searchsorted(np.sort(gmax), thr, side="left")) / len(gmax)


def _degenerate(y: np.ndarray) -> bool:
    return len(y) == 0 or bool(y.all()) or not y.any()


def vus_metrics(scores, labels, max_buffer: int | None = None, n_thresholds: int = N_THRESHOLDS) -> dict:
    """``{"VUS_ROC", "VUS_PR"}``: the volume under the range-ROC / range-PR surface.

    Mean over buffer lengths ``w = 0..max_buffer`` of the range-ROC and range-PR areas, as
    ``vus.metrics.get_metrics(scores, labels, metric='vus', version='opt', slidingWindow=max_buffer,
    thre=n_thresholds)`` of vus 0.0.6 (see the module docstring). ``max_buffer=None``: the median
    labelled anomaly length. NaN for degenerate labels.
    """
    s, y = scores_and_labels(scores, labels, "labels")
    if _degenerate(y):
        return {"VUS_ROC": float("nan"), "VUS_PR": float("nan")}
    big_w = _buffer(max_buffer, y, "max_buffer")
    c = _Curves(s, y, big_w // 2, n_thresholds)
    rocs, prs = np.empty(big_w + 1), np.empty(big_w + 1)
    block = min(big_w + 1, 512)  # buffer lengths whose areas are computed together
    tps, exists = np.empty((block, len(c.thr))), np.empty((block, len(c.thr)))
    for w, tp, existence in c.sweep(big_w):  # a loop over buffer lengths, not points
        tps[w % block], exists[w % block] = tp, existence
        if w % block == block - 1 or w == big_w:
            rows = slice(w - w % block, w + 1)
            rocs[rows], prs[rows] = c.step_areas(tps[:w % block + 1], exists[:w % block + 1])
    return {"VUS_ROC": float(np.mean(rocs)), "VUS_PR": float(np.mean(prs))}


def vus_roc(scores, labels, max_buffer: int | None = None, n_thresholds: int = N_THRESHOLDS) -> float:
    """VUS-ROC (``get_metrics(..., metric='vus')['VUS_ROC']`` of vus 0.0.6); see :func:`vus_metrics`."""
    return vus_metrics(scores, labels, max_buffer, n_thresholds)["VUS_ROC"]


def vus_pr(scores, labels, max_buffer: int | None = None, n_thresholds: int = N_THRESHOLDS) -> float:
    """VUS-PR (``get_metrics(..., metric='vus')['VUS_PR']`` of vus 0.0.6); see :func:`vus_metrics`."""
    return vus_metrics(scores, labels, max_buffer, n_thresholds)["VUS_PR"]


def range_auc(scores, labels, buffer: int | None = None, n_thresholds: int = N_THRESHOLDS) -> dict:
    """``{"R_AUC_ROC", "R_AUC_PR"}`` at one buffer length.

    As ``vus.metrics.get_metrics(scores, labels, metric='range_auc', slidingWindow=buffer)`` of vus
    0.0.6 (``metricor().RangeAUC``, 250 thresholds there). ``buffer=None``: the median labelled anomaly
    length. NaN for degenerate labels.
    """
    s, y = scores_and_labels(scores, labels, "labels")
    if _degenerate(y):
        return {"R_AUC_ROC": float("nan"), "R_AUC_PR": float("nan")}
    w = _buffer(buffer, y, "buffer")
    c = _Curves(s, y, w // 2, n_thresholds)
    ext = c.widened(w)
    # Widened ranges are runs of non-zero ext: buffers that touch (gap 2h + 1) merge too.
    existence = c.existence(w // 2, 2 * (w // 2) + 1)
    n_labels = float(c.time_ordered(ext).sum())  # summed in time order: the same float as sum(ext) in the series
    roc, pr = c.roc_pr(c.tp(ext), n_labels, existence, pr_trapezoid=True)
    return {"R_AUC_ROC": roc, "R_AUC_PR": pr}


def range_auc_roc(scores, labels, buffer: int | None = None, n_thresholds: int = N_THRESHOLDS) -> float:
    """Range-AUC-ROC at one buffer length; see :func:`range_auc`."""
    return range_auc(scores, labels, buffer, n_thresholds)["R_AUC_ROC"]


def range_auc_pr(scores, labels, buffer: int | None = None, n_thresholds: int = N_THRESHOLDS) -> float:
    """Range-AUC-PR at one buffer length; see :func:`range_auc`."""
    return range_auc(scores, labels, buffer, n_thresholds)["R_AUC_PR"]
