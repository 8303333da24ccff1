"""The oracle's threshold metrics at every candidate threshold at once.

``at_thresholds(scores, labels, flaggable, candidates)`` gives, for each candidate ``t``, what
``AT_THRESHOLD[name](labels, (scores >= t) & flaggable)`` gives for PA%K AUC, affiliation, range-based and
event F1, without a pass over the whole series per threshold and per metric: the inputs are checked once,
each point's rank among the candidates says at which thresholds it is flagged, and each metric is computed
from what it depends on:

* PA%K and event F1: the flagged points in each labelled segment and the flagged points outside them (the
  same counts, and the same code, as ``pak_auc`` and ``event_f1``): bit for bit those values;
* range-based recall: the flagged runs inside the labelled ranges (each predicted range meets a real range
  in one such run), through the same code: bit for bit; range-based precision: the number of predicted
  ranges (counted for all thresholds at once) and the predicted ranges that touch a labelled one (their
  extent found from how far flagged points continue on either side); equal up to float rounding (the mean
  of the rewards sums them in another order);
* affiliation recall: the pieces that overlap a labelled event and, in its zone, the nearest flagged
  points before and after it (every other piece adds exactly 0.0), through the same code: bit for bit;
  affiliation precision: each point's exact share of its zone's precision integral, summed per zone for all
  thresholds at once: equal up to float rounding (the sums are exact; the pieces' closed forms round).

``tests/test_metrics_oracle.py`` checks all of it against the per-threshold functions.
"""

from __future__ import annotations

import numpy as np

from ..evaluation import segments
from . import affiliation, event, pak, range_based

KS = np.asarray(list(range(0, 101)), dtype=float)  # pak_auc's default


def _runs_of(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) of the runs of consecutive integers in sorted, distinct ``positions``."""
    if len(positions) == 0:
        return positions, positions
    brk = np.flatnonzero(np.diff(positions) > 1)
    return positions[np.concatenate(([0], brk + 1))], positions[np.concatenate((brk, [len(positions) - 1]))] + 1


class _Scans:
    """Blocks of positions, block k being ``first[k] + step * t`` for ``t < length[k]``, each read in that
    order: ``first_over(thr)`` says, per block, at which ``t`` a value above ``thr`` first comes (``length[k]``
    where none does), for any ``thr``, by one binary search per block on a running maximum."""

    def __init__(self, values: np.ndarray, first: np.ndarray, length: np.ndarray, step: int):
        self.length = np.asarray(length, dtype=np.int64)
        k, total = len(self.length), int(self.length.sum())
        self.block_start = np.cumsum(self.length) - self.length
        if total == 0:
            self.key = None
            return
        t = np.arange(total) - np.repeat(self.block_start, self.length)
        v = values[np.repeat(np.asarray(first, dtype=np.int64), self.length) + step * t].astype(np.int64)
        self.lo, self.hi = int(v.min()), int(v.max())
        self.width = self.hi - self.lo + 2  # keys of block k lie in [k * width, (k + 1) * width - 2]
        self.base = np.arange(k, dtype=np.int64) * self.width
        self.key = np.maximum.accumulate(v - self.lo + np.repeat(self.base, self.length))

    def first_over(self, thr: int) -> np.ndarray:
        if self.key is None:
            return self.length.copy()
        q = self.base + (min(max(thr, self.lo - 1), self.hi) - self.lo)
        return np.minimum(np.searchsorted(self.key, q, side="right") - self.block_start, self.length)


def at_thresholds(s: np.ndarray, y: np.ndarray, ok: np.ndarray, candidates: np.ndarray) -> dict[str, list[dict]]:
    """Per metric ("pak_auc", "affiliation", "range_based", "event"), the dict that ``metrics.AT_THRESHOLD``
    gives at each of the ascending ``candidates``; ``s`` float, ``y`` and ``ok`` bool, all checked and of equal
    length, ``y`` with a labelled point and a normal one (labels of one class are undefined, NaN in AT_THRESHOLD)."""
    n, m = len(y), len(candidates)
    b = np.where(ok, np.searchsorted(candidates, s, side="right"), 0)  # flagged at candidates[j] iff b > j
    seg = segments(y)
    starts, ends = seg[:, 0], seg[:, 1]
    lengths = ends - starts
    k = len(starts)
    lab = np.flatnonzero(y)
    b_lab = b[lab]
    off = np.concatenate(([0], np.cumsum(lengths)))  # the segments in the labelled points' own indices
    b_out = np.sort(b[~y])

    # range-based: predicted ranges at each threshold (a run starts at i for prev <= j < cur), and how far the
    # flagged points continue before and after each labelled range (-b > -(j + 1): not flagged at j)
    prev = np.concatenate(([0], b[:-1]))
    rise = b > prev
    n_ranges = np.cumsum(np.bincount(prev[rise], minlength=m + 1) - np.bincount(b[rise], minlength=m + 1))
    gap_lo = np.concatenate(([0], ends[:-1]))
    gap_hi = np.concatenate((starts[1:], [n]))
    ext_before = _Scans(-b, starts - 1, starts - gap_lo, -1)
    ext_after = _Scans(-b, ends, gap_hi - ends, 1)
    rs, re_ = starts.astype(np.int64), (ends - 1).astype(np.int64)

    # affiliation: zones; each flaggable point's share of its zone's precision integral, sorted by zone and then
    # by the threshold from which it is flagged; the nearest flagged points before and after each event in its zone
    zones = affiliation._zones(y)
    zb = zones["zb"]
    idx = np.flatnonzero(b > 0)
    owner, uz, width, scaled = affiliation._unit_precision(zones, idx)
    ukey = uz * (m + 1) + (m - b[idx][owner])  # in zone z, flagged at j iff ukey < z (m + 1) + m - j
    order = np.argsort(ukey, kind="stable")
    ukey = ukey[order]
    c_num = np.concatenate(([0.0], np.cumsum(scaled[order])))
    c_den = np.concatenate(([0.0], np.cumsum(width[order])))
    zone_base = np.arange(k, dtype=np.int64) * (m + 1)
    zone_first = np.searchsorted(ukey, zone_base, side="left")
    left_lo = np.floor(zb[:-1]).astype(np.int64)  # points whose unit interval reaches into the zone
    right_hi = np.ceil(zb[1:]).astype(np.int64)
    near_before = _Scans(b, starts - 1, starts - left_lo, -1)
    near_after = _Scans(b, ends, right_hi - ends, 1)

    out = {name: [] for name in ("pak_auc", "affiliation", "range_based", "event")}
    for j in range(m):
        flagged = b_lab > j
        c = np.concatenate(([0], np.cumsum(flagged, dtype=np.int64)))
        hits = c[off[1:]] - c[off[:-1]]
        tp = int(c[-1])
        fp = int(len(b_out) - np.searchsorted(b_out, j, side="right"))
        out["pak_auc"].append({"f1": pak._auc(lengths, hits, fp, KS)})
        out["event"].append(event._from_counts(hits, tp, tp + fp))

        cs, ce = _runs_of(lab[flagged])  # flagged runs inside the labelled ranges
        recall = range_based._score_side(rs, re_, cs, ce - 1, 0.0, "one", "flat")
        precision = 0.0
        if n_ranges[j]:
            kk = np.searchsorted(starts, cs, side="right") - 1
            a, e = cs.copy(), ce.copy()
            at = cs == starts[kk]
            a[at] -= ext_before.first_over(-(j + 1))[kk[at]]
            at = ce == ends[kk]
            e[at] += ext_after.first_over(-(j + 1))[kk[at]]
            new = np.ones(len(a), bool)
            new[1:] = e[:-1] < a[1:]  # a labelled range's run reaches the next one's across a flagged gap
            last = np.concatenate((np.flatnonzero(new)[1:] - 1, [len(a) - 1])) if len(a) else []
            rewards = range_based._rewards(a[new], e[last] - 1, rs, re_, 0.0, "one", "flat")
            precision = float(rewards.sum() / n_ranges[j])
        out["range_based"].append(_prf(range_based._combine(precision, recall)))

        if tp + fp == 0:
            out["affiliation"].append({"precision": float("nan"), "recall": 0.0, "f1": 0.0})
        else:
            zone_end = np.searchsorted(ukey, zone_base + (m - j), side="left")
            num = c_num[zone_end] - c_num[zone_first]
            den = c_den[zone_end] - c_den[zone_first]
            has = den > 0
            precision = float(np.mean(num[has] / zones["elen"][has] / den[has]))
            tb, ta = near_before.first_over(j), near_after.first_over(j)
            fb, fa = tb < near_before.length, ta < near_after.length
            near = np.concatenate((lab[flagged], (starts - 1 - tb)[fb], (ends + ta)[fa]))
            near.sort()  # a point across a zone boundary can be nearest to two events: once
            ps, pe = _runs_of(near[np.concatenate(([True], np.diff(near) > 0))])
            z, ps_, pe_ = affiliation._pieces(zones, ps, pe)
            out["affiliation"].append(_prf(affiliation._combine(precision, affiliation._recall(zones, z, ps_, pe_))))
    return out


def _prf(d: dict) -> dict:
    return {key: float(d[key]) for key in ("precision", "recall", "f1")}
