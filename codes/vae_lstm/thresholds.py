"""Threshold rules that use no test labels: a registry of functions that each return one float.

A point is flagged when ``score >= threshold`` (the convention of ``evaluation.py``). A rule sees the
validation scores (scores of held-out normal data) and/or the unlabelled test scores, plus its own
parameters; no rule takes test labels (``tests/test_thresholds.py`` checks every signature).

Rules (``THRESHOLD_RULES``; call them by name with ``compute_threshold``):

``val_quantile``
    ``np.quantile(val_scores, quantile)``: the rule ``evaluation.choose_threshold`` has today.
``pot``
    Peaks-over-threshold on the validation scores (Siffer et al., KDD 2017): ``t`` = the ``level``
    quantile, a Generalised Pareto Distribution fitted by maximum likelihood (Grimshaw's trick) to the
    excesses over ``t``, and the threshold ``z_q`` that a normal score exceeds with probability ``q``.
``dynamic``
    Non-parametric dynamic thresholding on the test scores (Hundman et al., KDD 2018, telemanom), run
    over the whole test sequence as one window. Its threshold applies to the EWMA-smoothed test scores,
    as in telemanom: compare it with ``scores_for_rule("dynamic", test_scores, params)``, not with the
    raw scores (``span=None`` turns the smoothing off, and then the two are the same).
``contamination``
    The score of the ``ceil(share * n)``-th highest of the ``n`` unlabelled test scores: a set share of
    the test points is flagged, rounded up to a whole point (at least one), more where scores tie. The
    share is an assumed anomaly rate, the ``contamination`` of PyOD and scikit-learn's outlier detectors;
    those set it on training scores, this rule on the test scores it flags. Its value comes from what is
    known of the data, never from test labels. Their threshold is a linearly interpolated percentile, with
    ``score > threshold``: ``ceil(share * (n - 1))`` of ``n`` distinct scores, one fewer than this rule where an
    integer lies between ``share * (n - 1)`` and ``share * n`` (1 of 11 at 0.1: 9%, where this rule flags 2),
    and none where the top scores tie. This rule never flags less than the share.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, unknown_name
from .windowing import whole_number

# ------------------------------------------------------------------------------------------ helpers


def _scores(values, name: str) -> np.ndarray:
    """1-D finite float copy of ``values``; ValueError otherwise."""
    x = np.array(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite")
    return x


def _number(value, name: str):
    """A rule parameter that is one real number (a NumPy scalar or 0-d array too), as given (a 0-d array as its
    NumPy scalar); else a ValueError naming it. A text ("0.95"), None or a bool was a TypeError from the range check
    ("'<=' not supported between ..."). Not widened to a float64: NumPy computes with a float32 share or quantile in
    float32, where float32(0.1) * 300 is 30; widened, it is 30.0000004, and contamination flagged 31 points."""
    a = None if isinstance(value, str | bytes | bool | np.bool_) else np.asarray(value)
    if a is None or a.ndim != 0 or a.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a number, got {value!r}")
    return value if isinstance(value, numbers.Real) else a[()]


MAX_Z_VALUES = 10_000  # dynamic's z grid: np.arange(z_min, z_max, z_step) of more was memory, then hours


def _runs(mask: np.ndarray) -> np.ndarray:
    """``[first, last]`` (inclusive) of each run of True in ``mask``, shape (k, 2)."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    runs = edges.reshape(-1, 2)
    runs[:, 1] -= 1
    return runs


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """True within ``radius`` points of a True of ``mask`` (the buffer around each exceedance)."""
    if radius <= 0:
        return mask.copy()
    n = len(mask)
    c = np.concatenate(([0], np.cumsum(mask, dtype=np.int64)))
    i = np.arange(n)
    return c[np.minimum(i + radius + 1, n)] - c[np.maximum(i - radius, 0)] > 0


# ------------------------------------------------------------------------------------ val_quantile


def val_quantile(val_scores, quantile: float) -> float:
    """``np.quantile(val_scores, quantile)`` (linear interpolation), as ``choose_threshold`` does today."""
    quantile = _number(quantile, "quantile")
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    return float(np.quantile(_scores(val_scores, "val_scores"), quantile))


# ----------------------------------------------------------------------------------- contamination


def contamination(test_scores, share: float = 0.1) -> float:
    """The ``ceil(share * n)``-th highest test score, so that ``scores >= threshold`` flags that many
    points (more where scores tie at the threshold): never less than the share. PyOD's and scikit-learn's
    percentile rule flags ``ceil(share * (n - 1))`` of distinct scores (one fewer for some ``n``: 1 of 11 at
    0.1), and none of a tie at the top (module docstring)."""
    share = _number(share, "share")
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be in (0, 1), got {share}")
    s = _scores(test_scores, "test_scores")
    k = max(1, math.ceil(share * len(s) - 1e-9))  # the tolerance keeps 0.3 * 10 at 3, not 4
    return float(np.partition(s, len(s) - k)[len(s) - k])


# --------------------------------------------------------------------------------------------- POT


def train_max(train_scores) -> float:
    """Just above the largest score on the training block, so that ``score >= threshold`` flags only scores above
    every training score: nothing seen in training is flagged, not even a score tied with its maximum (the Keras
    example's ``loss > max(train loss)``). The next float of the scores' own precision: NumPy compares float32
    scores (Keras losses) with a Python float in float32, where the next float64 would round back to the maximum."""
    top = np.max(_scores(train_scores, "train_scores"))
    given = np.asarray(train_scores).dtype
    precision = given.type if given.kind == "f" and given.itemsize < 8 else np.float64
    return float(np.nextafter(precision(top), precision(np.inf)))


def gpd_log_likelihood(excesses, gamma: float, sigma: float) -> float:
    """Log-likelihood of excesses ``y > 0`` under a GPD(gamma, sigma) at location 0; -inf off its support."""
    y = np.asarray(excesses, dtype=float)
    if sigma <= 0:
        return -math.inf
    if gamma == 0:
        return float(-y.size * math.log(sigma) - y.sum() / sigma)
    s = gamma / sigma * y
    if np.any(s <= -1):
        return -math.inf
    return float(-y.size * math.log(sigma) - (1 + 1 / gamma) * np.log1p(s).sum())


def _grimshaw_w(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Grimshaw's w(x) = u(x) v(x) - 1 with u = mean 1/(1+xy), v = 1 + mean log(1+xy); vectorised in x."""
    out = np.empty(len(x))
    step = max(1, 2_000_000 // max(len(y), 1))  # bound the (len(x), len(y)) temporary
    for k in range(0, len(x), step):
        lg = np.log1p(np.multiply.outer(x[k:k + step], y))
        out[k:k + step] = np.mean(np.exp(-lg), axis=1) * (1 + np.mean(lg, axis=1)) - 1
    return out


def _grimshaw_roots(y: np.ndarray) -> list[float]:
    """Non-zero roots of w on Grimshaw's intervals (-1/max y, 0) and (0, 2(mean y - min y)/min y^2].

    Every sign change of w on a dense grid (geometric towards 0 and towards -1/max y) is refined with
    Brent's method. Near 0, w ~ x^2 (var y - mean y^2)/2 does not change sign, so x = 0 (the exponential
    fit, always a solution) is not found here; the caller adds it.
    """
    from scipy.optimize import brentq

    ymin, ymax, ymean = float(y.min()), float(y.max()), float(y.mean())
    grids = []
    frac = np.concatenate((np.geomspace(1e-6, 0.5, 80), 1 - np.geomspace(0.5, 1e-10, 80)[1:]))
    grids.append(-frac[::-1] / ymax)  # ascending in (-1/ymax, 0)
    lo = 1e-6 / ymax
    hi = min(2 * (ymean - ymin) / max(ymin * ymin, 1e-300), 1e12 / ymax)  # x max y <= 1e12: gamma <~ 28
    if hi > lo:
        decades = math.log10(hi / lo)
        grids.append(np.geomspace(lo, hi, int(np.clip(15 * decades, 30, 600))))
    roots = []
    f_scalar = lambda v: float(_grimshaw_w(np.array([v]), y)[0])  # noqa: E731
    for grid in grids:
        f = _grimshaw_w(grid, y)
        roots += [float(v) for v in grid[f == 0]]
        for i in np.flatnonzero(np.sign(f[:-1]) * np.sign(f[1:]) < 0):
            a, b = float(grid[i]), float(grid[i + 1])
            roots.append(brentq(f_scalar, a, b, xtol=1e-15 * max(abs(a), abs(b)), rtol=4 * np.finfo(float).eps))
    return roots


def gpd_fit(excesses) -> tuple[float, float]:
    """Maximum-likelihood (gamma, sigma) of a GPD at location 0, by Grimshaw's trick (as SPOT does).

    Candidates: x = 0 (gamma = 0, sigma = mean excess) and every root x of w, each giving
    gamma = mean log(1 + x y) and sigma = gamma / x; the one with the largest likelihood wins.
    Grimshaw, "Computing maximum likelihood estimates for the generalized Pareto distribution",
    Technometrics 35(2), 1993.
    """
    y = np.asarray(excesses, dtype=float)
    if y.ndim != 1 or y.size == 0 or not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ValueError("excesses must be a non-empty 1-D array of finite values > 0")
    best = (0.0, float(y.mean()))
    best_ll = gpd_log_likelihood(y, *best)
    for x in _grimshaw_roots(y):
        gamma = float(np.mean(np.log1p(x * y)))
        if gamma == 0:
            continue
        ll = gpd_log_likelihood(y, gamma, gamma / x)
        if ll > best_ll:
            best, best_ll = (gamma, gamma / x), ll
    return best


def gpd_tail_quantile(t: float, gamma: float, sigma: float, q: float, n: int, n_excess: int) -> float:
    """z_q = t + (sigma/gamma) ((q n / N_t)^(-gamma) - 1); its limit t - sigma log(q n / N_t) at gamma = 0."""
    log_r = math.log(q * n / n_excess)
    if gamma == 0:
        return t - sigma * log_r
    return t + sigma * math.expm1(-gamma * log_r) / gamma


@dataclass(frozen=True)
class PotFit:
    """What ``pot_fit`` found: the threshold z_q and the fit behind it."""

    threshold: float          # z_q
    initial_threshold: float  # t, the ``level`` quantile of the validation scores
    n: int                    # number of validation scores
    n_excess: int             # N_t, validation scores > t
    gamma: float              # GPD shape (0: exponential tail; > 0: heavy; < 0: bounded)
    sigma: float              # GPD scale


def _check_pot_params(q: float, level: float) -> None:
    q, level = _number(q, "q"), _number(level, "level")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if not 0.0 < q < 1.0 - level:
        raise ValueError(f"q must be in (0, 1 - level) = (0, {1.0 - level:g}), got {q}")


def _check_tail_share(n_excess: int, n: int, t: float, q: float, level: float) -> None:
    """ValueError when no more than q n of the n scores exceed t (scores tied at t, say): z_q would then fall at or
    below t, outside the tail the GPD models, and ``score >= z_q`` flag every score at t or above, not a share q.
    SPOT's formula (libspot's too) gives that threshold; here it is refused like no excess at all."""
    if n_excess <= q * n:
        raise ValueError(f"only {n_excess} of the {n} validation scores exceed their {level} quantile {t:g}, no more "
                         f"than q n = {q * n:g}: z_q would fall at or below {t:g}, outside the tail POT fits, and flag "
                         f"every score at {t:g} or above rather than a share q = {q:g} (as where scores tie at the "
                         "quantile); POT needs more than q n scores above it: a smaller q, more validation data, or "
                         "another rule")


def pot_fit(val_scores, q: float = 1e-3, level: float = 0.98) -> PotFit:
    """Peaks-over-threshold fit on the validation scores (batch SPOT initialisation, Siffer et al. 2017).

    t = ``np.quantile(val_scores, level)``; excesses ``y = s - t`` of the scores ``s > t``; GPD fitted by
    ``gpd_fit``; threshold ``gpd_tail_quantile(t, gamma, sigma, q, n, N_t)``.
    """
    x = _scores(val_scores, "val_scores")
    _check_pot_params(q, level)
    t, y = _excesses(x, level)
    if y.size == 0:
        raise ValueError(f"no validation score exceeds its {level} quantile {t:g} (ties at the top): "
                         "POT needs excesses; lower level or use more validation data")
    _check_tail_share(y.size, x.size, t, q, level)
    gamma, sigma = gpd_fit(y)
    z = gpd_tail_quantile(t, gamma, sigma, q, x.size, y.size)
    return PotFit(float(z), t, int(x.size), int(y.size), float(gamma), float(sigma))


def _excesses(x: np.ndarray, level: float) -> tuple[float, np.ndarray]:
    """POT's initial threshold t, the ``level`` quantile of ``x``, and the excesses ``s - t`` of the scores above it."""
    t = float(np.quantile(x, level))
    return t, x[x > t] - t


# a GPD tail fitted on fewer excesses than this is a rough estimate: ``pot_note`` says so (the threshold stands)
FEW_EXCESSES = 10


def pot_note(val_scores, level: float = 0.98) -> str | None:
    """How many excesses ``pot_fit`` fits its tail on, when that is fewer than FEW_EXCESSES (but some); None
    otherwise."""
    x = _scores(val_scores, "val_scores")
    k = _excesses(x, level)[1].size
    if not 0 < k < FEW_EXCESSES:
        return None
    return (f"its GPD tail is fitted on {k} excess{'es' if k > 1 else ''} over the {level:g} quantile of the "
            f"{x.size} validation scores, fewer than {FEW_EXCESSES}: a rough threshold")


def pot(val_scores, q: float = 1e-3, level: float = 0.98, *, backend: str = "numpy") -> float:
    """POT threshold z_q of the validation scores: P(normal score > z_q) ~ q. See ``pot_fit``.

    ``backend="libspot"`` asks the authors' C library instead (``libspot.Spot(q, level=level).fit``,
    optional dependency). Its initial threshold is a streaming P^2 estimate of the ``level`` quantile,
    not the exact one, so its z_q differs a little and depends on the order of the scores.
    """
    if backend == "numpy":
        return pot_fit(val_scores, q, level).threshold
    if backend != "libspot":
        raise ValueError(f"backend must be 'numpy' or 'libspot', got {backend!r}")
    x = _scores(val_scores, "val_scores")
    _check_pot_params(q, level)
    import libspot

    spot = libspot.Spot(q, level=level, max_excess=x.size)  # keep every excess (the ring buffer never wraps)
    try:
        spot.fit(x.tolist())
    except (RuntimeError, SystemError) as e:
        raise ValueError(f"libspot could not fit the validation scores: {e}") from None
    _check_tail_share(int(spot.Nt), x.size, float(spot.excess_threshold), q, level)
    z = float(spot.anomaly_threshold)
    if not math.isfinite(z):
        raise ValueError("libspot returned a non-finite threshold")
    return z


# ------------------------------------------------------------------------------------------ dynamic


def _scale(x: np.ndarray) -> float:
    """A power of two that brings the largest ``|x|`` near 1 where it lies beyond 2**+-400, else 1: dividing by it is
    exact, and keeps the squares of ``dynamic``'s standard deviation (and ``ewma``'s weighted sums) finite and above
    the smallest float, where scores of 1e200 squared to inf (a threshold of inf: nothing flagged) and scores of
    1e-200 to 0 (no spread: z_max, nothing flagged)."""
    top = float(np.max(np.abs(x))) if x.size else 0.0
    if top == 0.0 or 2.0**-400 <= top <= 2.0**400:
        return 1.0
    return math.ldexp(1.0, math.frexp(top)[1] - 1)  # top / it in [1, 2)


def ewma(scores, span: int | None) -> np.ndarray:
    """telemanom's smoothing: ``pandas ewm(span=span).mean()`` (adjust=True); ``span=None`` returns a copy. Scores
    beyond 2**+-400 are smoothed divided by a power of two (``_scale``): the same values, without overflow."""
    x = _scores(scores, "scores")
    if span is None:
        return x
    span = whole_number(span, "span")
    import pandas as pd

    scale = _scale(x)
    return pd.Series(x / scale).ewm(span=span).mean().to_numpy() * scale


def _prune(peaks: np.ndarray, non_anom_max: float, p: float) -> np.ndarray:
    """telemanom's pruning: which sequences (by their peak score) survive.

    Peaks sorted in decreasing order, with the largest unflagged score appended; walking down, a peak
    whose relative drop to the next value is below ``p`` is marked, a drop of at least ``p`` clears the
    marks. The marked peaks (the tail below the last large drop) are removed: the survivors are the top-k.
    """
    values = np.append(np.sort(peaks)[::-1], non_anom_max)
    removed: list[float] = []
    for i in range(len(values) - 1):
        if (values[i] - values[i + 1]) / values[i] < p:
            removed.append(values[i])
        else:
            removed = []
    return ~np.isin(peaks, removed)


@dataclass(frozen=True)
class DynamicThreshold:
    """What ``dynamic_details`` found on one window (the whole test sequence)."""

    threshold: float            # the one float: epsilon, raised past every pruned sequence's peak
    epsilon: float              # mean + z * std of the smoothed scores
    z: float                    # the chosen number of standard deviations
    smoothed: np.ndarray        # the smoothed scores that epsilon and threshold refer to
    flags: np.ndarray           # telemanom's flags: exceedances +- error_buffer, in surviving sequences
    sequences: np.ndarray       # (k, 2) [first, last] of the surviving flagged sequences
    pruned: np.ndarray          # (m, 2) [first, last] of the sequences removed by pruning
    non_anom_max: float         # largest smoothed score outside the flagged points (-inf if none)


def dynamic_details(test_scores, *, span: int | None = 105, error_buffer: int = 100, p: float = 0.13,
                    z_min: float = 2.5, z_max: float = 12.0, z_step: float = 0.5) -> DynamicThreshold:
    """Hundman et al.'s non-parametric dynamic threshold over the whole test sequence as one window.

    As telemanom's ``Errors``/``ErrorWindow`` (find_epsilon, compare_to_epsilon, prune_anoms):

    1. e_s = EWMA of the scores, span 105 = int(batch_size 70 * window_size 30 * smoothing_perc 0.05).
    2. For z in ``np.arange(z_min, z_max, z_step)`` (2.5 .. 11.5): epsilon = mean + z std; e_a = the
       points with e_s >= epsilon, each widened by +-(error_buffer - 1) points; E_seq = its runs longer
       than one point; score = (d mean/mean + d std/std) / (|E_seq|^2 + |e_a|) where d is the drop when
       the points below epsilon are kept. The largest score wins (ties: the larger z), among the z with
       |E_seq| <= 5 and |e_a| < half the points; none: z = z_max.
    3. Flags: e_s >= epsilon, widened by +-error_buffer points, in runs (sequences); pruning
       (``_prune``) removes the lowest sequences: those whose peaks, walking down to the largest
       unflagged score, drop by less than ``p`` (relative) from one to the next all the way down.

    The one float ``threshold`` is epsilon when nothing is pruned, else just above the largest pruned
    peak (all surviving peaks are higher), so ``smoothed >= threshold`` flags no pruned sequence and the
    points of the surviving ones at or above it. It does not reproduce the +-error_buffer widening of
    the flags; ``flags`` holds telemanom's own flags for those who want them.

    Left out of telemanom, which thresholds LSTM prediction errors of telemetry channels: the sliding
    windows (2100 errors, moved by 70; telemanom itself uses one window when a channel has fewer test
    points), the inverted errors (dips: low anomaly scores are not anomalous), the guards that compare
    the errors with the spread of the raw telemetry values (not available here), and the handling of the
    first ``l_s`` errors (its LSTM input length). Constant scores flag nothing (telemanom divides by 0).
    """
    error_buffer = whole_number(error_buffer, "error_buffer", minimum=0)
    p, z_min, z_max, z_step = (_number(v, k) for k, v in (("p", p), ("z_min", z_min), ("z_max", z_max),
                                                           ("z_step", z_step)))
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be in [0, 1), got {p}")
    if not (math.isfinite(z_min) and math.isfinite(z_max) and z_step > 0 and z_min < z_max):
        raise ValueError(f"need finite z_min < z_max and z_step > 0, got {z_min}, {z_max}, {z_step}")
    if (n_z := math.ceil((z_max - z_min) / z_step)) > MAX_Z_VALUES:
        raise ValueError(f"{n_z} values of z from {z_min:g} to {z_max:g} by {z_step:g}, more than {MAX_Z_VALUES}: "
                         "a larger z_step")
    e = ewma(test_scores, span)
    scale = _scale(e)  # scores beyond 2**+-400, whose squares overflow or underflow, divided by a power of two
    found = _dynamic(e / scale, scale, error_buffer, p, z_min, z_max, z_step)
    if scale != 1.0:
        found = dataclasses.replace(found, threshold=found.threshold * scale, epsilon=found.epsilon * scale,
                                    non_anom_max=found.non_anom_max * scale, smoothed=e)
    if not math.isfinite(found.threshold):
        raise ValueError(f"the dynamic threshold of these scores (their smoothed largest {float(e.max()):g}) lies "
                         "beyond the largest float: divide the scores by a constant first")
    return found


def _dynamic(e: np.ndarray, scale: float, error_buffer: int, p: float, z_min: float, z_max: float,
             z_step: float) -> DynamicThreshold:
    """``dynamic_details`` on the smoothed scores ``e`` divided by ``scale`` (``_scale``), in those units."""
    n = len(e)
    mean, sd = np.mean(e), np.std(e)
    empty = np.zeros((0, 2), dtype=np.int64)
    if sd == 0:  # constant scores: nothing stands out (telemanom would divide by zero)
        t = float(np.nextafter(e.max(), np.inf))
        return DynamicThreshold(t, t, float(z_max), e, np.zeros(n, bool), empty, empty, -math.inf)
    if mean <= 0:
        raise ValueError(f"dynamic thresholding needs error-like scores (>= 0) with a positive mean; the "
                         f"smoothed scores have mean {mean * scale:g}")

    z_best, epsilon, max_score = float(z_max), mean + z_max * sd, -math.inf
    for z in np.arange(z_min, z_max, z_step):
        eps = mean + (sd * z)
        exceed = e >= eps
        if not exceed.any():
            continue
        widened = _dilate(exceed, error_buffer - 1)  # find_epsilon widens by arange(1, error_buffer)
        runs = _runs(widened)
        n_seq = int(np.sum(runs[:, 1] > runs[:, 0]))
        n_anom = int(widened.sum())
        pruned_e = e[e < eps]
        mean_dec = (mean - np.mean(pruned_e)) / mean
        sd_dec = (sd - np.std(pruned_e)) / sd
        score = (mean_dec + sd_dec) / (n_seq**2 + n_anom)
        if score >= max_score and n_seq <= 5 and n_anom < n * 0.5:
            max_score, z_best, epsilon = score, float(z), mean + z * sd
    epsilon = float(epsilon)

    exceed = e >= epsilon
    if not exceed.any():
        return DynamicThreshold(epsilon, epsilon, z_best, e, np.zeros(n, bool), empty, empty,
                                float(e.max()))
    flagged = _dilate(exceed, error_buffer)  # compare_to_epsilon widens by arange(1, error_buffer + 1)
    non_anom_max = float(e[~flagged].max()) if not flagged.all() else -math.inf
    runs = _runs(flagged)
    seqs = runs[runs[:, 1] > runs[:, 0]]
    if len(seqs) == 0:  # only with error_buffer 0: telemanom keeps the single points unpruned
        return DynamicThreshold(epsilon, epsilon, z_best, e, flagged, empty, empty, non_anom_max)
    peaks = np.array([e[a:b + 1].max() for a, b in seqs])
    keep = _prune(peaks, non_anom_max, p)
    flags = np.zeros(n, dtype=bool)
    for a, b in seqs[keep]:
        flags[a:b + 1] = True
    threshold = epsilon if keep.all() else max(epsilon, float(np.nextafter(peaks[~keep].max(), np.inf)))
    return DynamicThreshold(threshold, epsilon, z_best, e, flags, seqs[keep], seqs[~keep], non_anom_max)


def dynamic_note(n: int, error_buffer: int = 100, z_max: float = 12.0) -> str | None:
    """Why ``dynamic`` flags none of a piece of ``n`` points, whatever its scores; None where it may flag.

    Its search keeps no threshold there (one exceedance, widened by ``error_buffer`` - 1 points on either side,
    covers ``error_buffer`` points at the least: half of ``2 * error_buffer`` points or more), and its fallback,
    mean + ``z_max`` std, lies above every one of fewer than ``z_max**2 + 1`` values (Samuelson's inequality)."""
    if n > 2 * max(error_buffer, 1) or n - 1 >= z_max**2:
        return None
    return (f"its search keeps no threshold on a piece of at most {2 * max(error_buffer, 1)} points (each exceedance, "
            f"widened by {max(error_buffer - 1, 0)} points on either side, covers half of it or more), and its fallback, "
            f"mean + {z_max:g} std of the smoothed scores, lies above every score of fewer than {z_max**2 + 1:g} points")


def dynamic(test_scores, *, span: int | None = 105, error_buffer: int = 100, p: float = 0.13,
            z_min: float = 2.5, z_max: float = 12.0, z_step: float = 0.5) -> float:
    """Hundman et al.'s dynamic threshold of the (smoothed) test scores; see ``dynamic_details``.

    Compare it with ``ewma(test_scores, span)`` (``scores_for_rule``), not with the raw scores.
    """
    return dynamic_details(test_scores, span=span, error_buffer=error_buffer, p=p, z_min=z_min,
                           z_max=z_max, z_step=z_step).threshold


# ----------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ThresholdRule:
    """One label-free threshold rule: ``fn(*inputs, **params) -> float``."""

    fn: Callable[..., float]
    inputs: tuple[str, ...]  # which of "val_scores", "test_scores" it reads, in positional order
    description: str
    reference: str
    smoothed: bool = False   # True: the threshold refers to ewma(test scores, span), see scores_for_rule


THRESHOLD_RULES: dict[str, ThresholdRule] = {
    "val_quantile": ThresholdRule(
        val_quantile, ("val_scores",),
        "the `quantile` quantile of the validation scores (np.quantile, linear interpolation)",
        "empirical quantile; Hyndman & Fan, 'Sample quantiles in statistical packages', "
        "The American Statistician 50(4), 1996 (definition 7)"),
    "pot": ThresholdRule(
        pot, ("val_scores",),
        "peaks-over-threshold: GPD (Grimshaw MLE) fitted to the validation excesses over their `level` "
        "quantile; the score a normal point exceeds with probability `q`",
        "Siffer, Fouque, Termier, Largouet, 'Anomaly Detection in Streams with Extreme Value Theory', "
        "KDD 2017"),
    "dynamic": ThresholdRule(
        dynamic, ("test_scores",),
        "non-parametric dynamic threshold mean + z*std of the EWMA-smoothed test scores, z chosen to "
        "maximise the mean/std drop per flagged point and sequence, then pruned",
        "Hundman, Constantinou, Laporte, Colwell, Soderstrom, 'Detecting Spacecraft Anomalies Using LSTMs "
        "and Nonparametric Dynamic Thresholding', KDD 2018 (code: khundman/telemanom)",
        smoothed=True),
    "contamination": ThresholdRule(
        contamination, ("test_scores",),
        "the score of the ceil(share * n)-th highest of the n unlabelled test scores: an assumed share of "
        "the test points is flagged",
        "the contamination parameter of PyOD (Zhao, Nasrullah, Li, 'PyOD: A Python Toolbox for Scalable "
        "Outlier Detection', JMLR 20, 2019) and scikit-learn's outlier detectors, set here on the test scores"),
    "train_max": ThresholdRule(
        train_max, ("train_scores",),
        "just above the largest score on the whole training block: only scores above every training score are "
        "flagged",
        "the rule of the Keras LSTM autoencoder example ('Timeseries anomaly detection using an "
        "Autoencoder', keras-io) and of the KLSE LSTM autoencoder project built on it"),
}

# The config's threshold rules that read no test labels: the registry's, and a value the user gives.
LABEL_FREE_RULES = (*THRESHOLD_RULES, "fixed")
LABEL_FREE_CHOICES = f"{', '.join(LABEL_FREE_RULES[:-1])} or {LABEL_FREE_RULES[-1]}"  # for error lines

_INPUTS = ("val_scores", "test_scores", "train_scores")


def _param_names(rule: ThresholdRule) -> tuple[set[str], set[str]]:
    """(all parameter names, required ones) of a rule, its score inputs excluded."""
    names, required = set(), set()
    for name, prm in inspect.signature(rule.fn).parameters.items():
        if name in rule.inputs:
            continue
        names.add(name)
        if prm.default is inspect.Parameter.empty:
            required.add(name)
    return names, required


def _rule(rule: str) -> ThresholdRule:
    if rule not in THRESHOLD_RULES:
        raise ConfigError(unknown_name("threshold rule", rule, THRESHOLD_RULES))
    return THRESHOLD_RULES[rule]


def compute_threshold(rule: str, *, val_scores=None, test_scores=None, train_scores=None,
                      params: dict | None = None) -> float:
    """Threshold of a label-free rule of ``THRESHOLD_RULES``; ``params`` are the rule's keyword arguments.

    Unknown rule, unknown or missing parameters: ConfigError. A score input the rule needs but is None, or a rule
    that returns NaN or no number: ValueError. The rule gets only the inputs it declares.
    """
    spec = _rule(rule)
    params = dict(params or {})
    names, required = _param_names(spec)
    unknown = sorted(set(params) - names)
    if unknown:
        raise ConfigError(f"threshold rule {rule!r} has no parameter(s) {', '.join(unknown)}; "
                          f"its parameters: {', '.join(sorted(names))}")
    missing = sorted(required - set(params))
    if missing:
        raise ConfigError(f"threshold rule {rule!r} needs parameter(s) {', '.join(missing)}")
    given = {"val_scores": val_scores, "test_scores": test_scores, "train_scores": train_scores}
    for name in spec.inputs:
        if given[name] is None:
            raise ValueError(f"threshold rule {rule!r} needs {name}")
    value = spec.fn(*(given[name] for name in spec.inputs), **params)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":  # np.quantile's 0-d array
        value = value.item()
    if not isinstance(value, numbers.Real) or math.isnan(value):  # NaN would flag nothing, as if a threshold
        raise ValueError(f"threshold rule {rule!r} returned {value!r}, not a threshold: a rule returns one number "
                         "(inf flags nothing, -inf every point)")
    return float(value)


def scores_for_rule(rule: str, scores, params: dict | None = None) -> np.ndarray:
    """The scores a rule's threshold is compared with: ``scores`` itself, or for ``dynamic`` their EWMA."""
    spec = _rule(rule)
    if not spec.smoothed:
        return _scores(scores, "scores")
    span = (params or {}).get("span", inspect.signature(spec.fn).parameters["span"].default)
    return ewma(scores, span)
