"""Affiliation precision / recall / F1 (Huet, Navarro, Rossi, "Local Evaluation of Time Series Anomaly
Detection Algorithms", KDD 2022).

Conventions, as in the authors' reference ``affiliation-metrics-py`` (``convert_vector_to_events`` then
``pr_from_events(events_pred, events_gt, Trange)``):

* a 0/1 vector becomes events on a continuous time axis: a 1 at index ``i`` is the interval ``[i, i+1)``,
  so a run of ones over indices ``s..e-1`` is the event ``[s, e)``;
* ``Trange = (0, len(labels))``;
* the axis is cut into one affiliation zone per labelled event: zone ``j`` runs from the midpoint between
  the end of event ``j-1`` and the start of event ``j`` to the midpoint between the end of event ``j`` and
  the start of event ``j+1`` (the first zone starts at 0, the last ends at ``len(labels)``);
* in zone ``j`` the predictions ``X`` (restricted to the zone) are scored against the labelled event
  ``J``. Precision of the zone: the mean over ``x`` in ``X`` of ``P(d(U, J) >= d(x, J))``, ``U`` uniform on
  the zone; it is undefined (left out of the average) when the zone holds no prediction. Recall of the
  zone: the mean over ``y`` in ``J`` of ``P(d(y, U) >= d(y, X))``; it is 0 when the zone holds no
  prediction;
* precision = mean of the defined zone precisions (NaN when nothing is predicted, as in the reference);
  recall = mean of the zone recalls over all labelled events.

Not in the reference, our choices: F1 = 2PR/(P+R), and 0.0 when the recall is 0 (which covers "nothing
predicted", where the precision is NaN: the limit of 2PR/(P+R) as R -> 0 is 0 for any P). With no
labelled event at all (the reference raises) every value is NaN.

The integrals are the paper's closed forms, evaluated for all pieces at once with NumPy: O(n) in the
series length, against O(#events x #predicted runs) Python loops in the reference.
"""

from __future__ import annotations

import numpy as np

from ._inputs import binary_pair

__all__ = ["affiliation_precision_recall_f1"]




def _runs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the runs of True in ``x``."""
    d = np.diff(np.concatenate(([0], x.view(np.int8), [0])))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _g(d: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Integral of min(t, m) dt for t from 0 to d."""
    dm = np.minimum(d, m)
    return 0.5 * dm * dm + m * (np.maximum(d, m) - m)


def _precision_outside(d1, d2, jlen, m, elen):
    """Integral of P(d(U, J) >= d) over a piece outside J whose distances to J run from d1 to d2.

    With U uniform on the zone E, P(d(U, J) < d) = (|J| + d + min(d, m)) / |E| for d > 0, where m is the
    distance from J to the nearer end of E (the paper's closed form; as ``_integral_interval`` in the
    reference).
    """
    w = d2 - d1
    return w - (jlen * w + _g(d2, m) - _g(d1, m) + 0.5 * (d2 * d2 - d1 * d1)) / elen


def affiliation_precision_recall_f1(labels, predictions) -> dict:
    """Affiliation precision, recall and F1 of binary ``predictions`` against 0/1 ``labels``.

    Returns ``{"precision", "recall", "f1"}`` as floats. See the module docstring for the conventions:
    precision is NaN when nothing is predicted (f1 is then 0.0); all three are NaN without a labelled
    event.
    """
    y, p = binary_pair("labels", labels, "predictions", predictions)
    nan = float("nan")
    zones = _zones(y)
    if zones is None:
        return {"precision": nan, "recall": nan, "f1": nan}
    ps, pe = _runs(p)
    if len(ps) == 0:
        return {"precision": nan, "recall": 0.0, "f1": 0.0}
    z, s, e = _pieces(zones, ps, pe)
    return _combine(_precision(zones, z, s, e), _recall(zones, z, s, e))


def _combine(precision: float, recall: float) -> dict:
    f1 = 0.0 if recall == 0.0 else 2 * precision * recall / (precision + recall)
    return {"precision": precision, "recall": recall, "f1": float(f1)}


def _zones(y: np.ndarray) -> dict | None:
    """The labelled events [gs, ge) and their affiliation zones [es, ee) (Trange = (0, n)), as floats; None
    without a labelled event."""
    gs, ge = _runs(y)
    k = len(gs)
    if k == 0:
        return None
    n = len(y)
    gs, ge = gs.astype(float), ge.astype(float)
    zb = np.empty(k + 1)
    zb[0], zb[k] = 0.0, float(n)
    zb[1:k] = (ge[:-1] + gs[1:]) / 2
    es, ee = zb[:-1], zb[1:]
    return {"k": k, "n": n, "gs": gs, "ge": ge, "zb": zb, "es": es, "ee": ee, "elen": ee - es, "jlen": ge - gs,
            "m": np.minimum(gs - es, ee - ge)}


def _pieces(zones: dict, ps: np.ndarray, pe: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted runs [ps, pe) (at least one) cut at the zone boundaries: pieces (zone z, start s, end e), in
    time order."""
    zb, es, ee = zones["zb"], zones["es"], zones["ee"]
    z0 = np.searchsorted(zb, ps, side="right") - 1
    z1 = np.searchsorted(zb, pe, side="left") - 1
    count = z1 - z0 + 1
    first = np.repeat(np.cumsum(count) - count, count)
    z = np.repeat(z0, count) + (np.arange(count.sum()) - first)
    s = np.maximum(np.repeat(ps, count).astype(float), es[z])
    e = np.minimum(np.repeat(pe, count).astype(float), ee[z])
    return z, s, e


def _precision(zones: dict, z: np.ndarray, s: np.ndarray, e: np.ndarray) -> float:
    """Mean over the zones holding a piece of the zone's precision."""
    k, gs, ge, jlen, m, elen = (zones[key] for key in ("k", "gs", "ge", "jlen", "m", "elen"))
    # Integral over each piece, split into the parts before, inside and after J.
    J0, J1 = gs[z], ge[z]
    inside = np.maximum(np.minimum(e, J1) - np.maximum(s, J0), 0.0)
    before = _precision_outside(np.maximum(J0 - e, 0.0), np.maximum(J0 - s, 0.0), jlen[z], m[z], elen[z])
    after = _precision_outside(np.maximum(s - J1, 0.0), np.maximum(e - J1, 0.0), jlen[z], m[z], elen[z])
    num = np.bincount(z, weights=inside + before + after, minlength=k)
    den = np.bincount(z, weights=e - s, minlength=k)
    has = den > 0
    return float(np.mean(num[has] / den[has]))


def _recall(zones: dict, z: np.ndarray, s: np.ndarray, e: np.ndarray) -> float:
    """Mean over the labelled events of the zone's recall (0 for a zone without a piece).

    Only the pieces that overlap an event J and, in J's zone, the last piece before J and the first after it
    change the result: every other piece adds exactly 0.0 to the zone's sums (``metrics.sweep`` relies on it).
    """
    k, gs, ge, es, ee, elen, jlen = (zones[key] for key in ("k", "gs", "ge", "es", "ee", "elen", "jlen"))
    J0, J1 = gs[z], ge[z]
    # Recall: each point y of J is scored by its nearest prediction in the zone. J inside a piece scores 1;
    # the gaps between pieces (and before the first / after the last piece of a zone) are split at their
    # midpoint into a part whose nearest prediction is on the left (at L) and one where it is on the right
    # (at R). With U uniform on E and d = d(y, X):
    #   left-nearest:  P(d(y, U) >= d) = 1 - (d + min(d, ee - y)) / |E|, d = y - L
    #   right-nearest: P(d(y, U) >= d) = 1 - (d + min(d, y - es)) / |E|, d = R - y
    covered = np.bincount(z, weights=np.maximum(np.minimum(e, J1) - np.maximum(s, J0), 0.0), minlength=k)
    same_next = np.zeros(len(z), dtype=bool)
    same_next[:-1] = z[1:] == z[:-1]
    is_first = np.ones(len(z), dtype=bool)
    is_first[1:] = ~same_next[:-1]
    # Gaps after each piece: from e to the next piece of the zone (R = its start) or to the zone's end.
    ga0, ga1 = e, np.where(same_next, np.roll(s, -1), ee[z])
    a_L, a_R = e, np.where(same_next, np.roll(s, -1), np.nan)
    # Gaps before the first piece of each zone: from the zone start to that piece (no left neighbour).
    f = np.flatnonzero(is_first)
    gb0, gb1 = es[z[f]], s[f]
    gz = np.concatenate((z, z[f]))
    g0, g1 = np.concatenate((ga0, gb0)), np.concatenate((ga1, gb1))
    L = np.concatenate((a_L, np.full(len(f), np.nan)))
    R = np.concatenate((a_R, s[f]))
    u, v = np.maximum(g0, gs[gz]), np.minimum(g1, ge[gz])
    # Split point between the two parts; a gap with one neighbour is wholly on that neighbour's side.
    mid = np.where(np.isnan(L), g0, np.where(np.isnan(R), g1, (L + R) / 2))
    E0, E1, El = es[gz], ee[gz], elen[gz]
    # Left-nearest part [u, min(v, mid)]: integrand 1 - 2(y - L)/|E| up to c = (L + ee)/2, then 1 - (ee - L)/|E|.
    lu, lv = u, np.minimum(v, mid)
    Lf = np.where(np.isnan(L), 0.0, L)
    c = (Lf + E1) / 2
    a1, a2 = lu, np.minimum(lv, c)
    wa = np.maximum(a2 - a1, 0.0)
    a2 = a1 + wa
    left = wa - ((a2 - Lf) ** 2 - (a1 - Lf) ** 2) / El
    b1 = np.maximum(lu, c)
    wb = np.maximum(lv - b1, 0.0)
    left = left + wb * (1 - (E1 - Lf) / El)
    left = np.where(lv > lu, left, 0.0)
    # Right-nearest part [max(u, mid), v]: integrand 1 - (R - es)/|E| up to c' = (R + es)/2, then 1 - 2(R - y)/|E|.
    ru, rv = np.maximum(u, mid), v
    Rf = np.where(np.isnan(R), 0.0, R)
    c = (Rf + E0) / 2
    b2 = np.minimum(rv, c)
    wb = np.maximum(b2 - ru, 0.0)
    right = wb * (1 - (Rf - E0) / El)
    a1 = np.maximum(ru, c)
    wa = np.maximum(rv - a1, 0.0)
    a2 = a1 + wa
    right = right + wa - ((Rf - a1) ** 2 - (Rf - a2) ** 2) / El
    right = np.where(rv > ru, right, 0.0)
    gap = np.bincount(gz, weights=left + right, minlength=k)
    zone_has = np.bincount(z, minlength=k) > 0
    rec = np.where(zone_has, (covered + gap) / jlen, 0.0)
    return float(np.mean(rec))


def _unit_precision(zones: dict, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The points ``idx`` as unit intervals [i, i + 1), cut where a zone boundary falls inside one: pieces
    (owner: position in ``idx``, zone z, width, and the piece's precision integral times the zone's length).

    A zone's precision numerator is the sum of these over its flagged points, divided by its length. Every
    value here is a multiple of 1/8 and the sums of them stay below 8 n**2, so in float64 they are exact, in
    any order, for series up to about 3 * 10**7 points.
    """
    zb, es, ee, gs, ge, jlen, m, elen = (zones[key] for key in ("zb", "es", "ee", "gs", "ge", "jlen", "m", "elen"))
    s0 = idx.astype(float)
    z0 = np.searchsorted(zb, s0, side="right") - 1
    z1 = np.searchsorted(zb, s0 + 1, side="left") - 1  # z0 or z0 + 1: zone boundaries lie >= 2 apart
    two = np.flatnonzero(z1 > z0)
    owner = np.concatenate((np.arange(len(idx)), two))
    z = np.concatenate((z0, z1[two]))
    s = np.maximum(s0[owner], es[z])
    e = np.minimum(s0[owner] + 1, ee[z])
    J0, J1, jl, mz, el = gs[z], ge[z], jlen[z], m[z], elen[z]

    def outside(d1, d2):  # _precision_outside times elen
        w = d2 - d1
        return w * el - (jl * w + _g(d2, mz) - _g(d1, mz) + 0.5 * (d2 * d2 - d1 * d1))

    inside = np.maximum(np.minimum(e, J1) - np.maximum(s, J0), 0.0)
    scaled = (inside * el + outside(np.maximum(J0 - e, 0.0), np.maximum(J0 - s, 0.0))
              + outside(np.maximum(s - J1, 0.0), np.maximum(e - J1, 0.0)))
    return owner, z, e - s, scaled
