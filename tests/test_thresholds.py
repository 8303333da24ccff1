"""Label-free threshold rules: hand-computed cases, the stored reference values, and the no-labels rule.

The reference values (tests/fixtures/thresholds_reference.json) come from libspot 3.1.0, the authors'
original SPOT spot.py and telemanom's errors.py; tests/fixtures/make_thresholds_reference.py made them.
"""

import hashlib
import importlib.util
import inspect
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtri

from vae_lstm import evaluation
from vae_lstm import thresholds as th
from vae_lstm.errors import ConfigError

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "thresholds_reference.json").read_text())


def sample(recipe: dict) -> np.ndarray:
    """The input a reference recipe describes (same code as make_thresholds_reference.py; sha256-checked)."""
    u = np.random.default_rng(recipe["seed"]).random(recipe["n"])
    x = {"exponential": lambda: -np.log1p(-u), "gaussian": lambda: ndtri(u),
         "lomax3": lambda: (1 - u) ** (-1 / 3) - 1, "halfnormal": lambda: ndtri(0.5 + 0.5 * u)}[recipe["dist"]]()
    x = recipe.get("scale", 1.0) * x + recipe.get("offset", 0.0)
    for start, length, height in recipe.get("bumps", []):
        x[start:start + length] += height
    assert hashlib.sha256(np.ascontiguousarray(x, dtype="<f8").tobytes()).hexdigest() == recipe["sha256"], \
        "the rebuilt input differs from the one the reference values were made from"
    return x


def exponential(n: int, seed: int) -> np.ndarray:
    return -np.log1p(-np.random.default_rng(seed).random(n))


def runs(mask: np.ndarray) -> list[list[int]]:
    return th._runs(np.asarray(mask, dtype=bool)).tolist()


# ------------------------------------------------------------------------------------ val_quantile


@pytest.mark.parametrize(("q", "expected"), [(0.0, 1.0), (0.5, 3.0), (0.9, 4.6), (1.0, 5.0)])
def test_val_quantile_hand_computed(q, expected):
    assert th.val_quantile([5.0, 1.0, 4.0, 2.0, 3.0], q) == pytest.approx(expected, abs=1e-12)


def test_val_quantile_is_todays_rule():
    v = exponential(1000, 0)
    assert th.val_quantile(v, 0.99) == evaluation.choose_threshold("val_quantile", val_scores=v, quantile=0.99)


@pytest.mark.parametrize("bad", [[], [1.0, np.nan], [[1.0, 2.0]]])
def test_val_quantile_rejects_bad_scores(bad):
    with pytest.raises(ValueError):
        th.val_quantile(bad, 0.5)


@pytest.mark.parametrize("bad", [[1.0, np.nan], [1.0, np.inf], [[1.0, 2.0]]])
def test_choose_thresholds_val_quantile_rejects_bad_scores_too(bad):
    """It returned NaN for a NaN validation score (and for an infinite one), and evaluate then called every metric
    undefined, where the registry's rule says the scores must be finite."""
    with pytest.raises(ValueError, match="val_scores must be"):
        evaluation.choose_threshold("val_quantile", val_scores=bad, quantile=0.5)


def test_val_quantile_rejects_bad_quantile():
    with pytest.raises(ValueError, match="quantile"):
        th.val_quantile([1.0, 2.0], 1.5)


@pytest.mark.parametrize(("rule", "params", "says"), [
    ("val_quantile", {"quantile": "0.95"}, "quantile must be a number, got '0.95'"),
    ("val_quantile", {"quantile": None}, "quantile must be a number, got None"),
    ("val_quantile", {"quantile": True}, "quantile must be a number, got True"),
    ("contamination", {"share": "0.1"}, "share must be a number, got '0.1'"),
    ("pot", {"q": "0.001"}, "q must be a number, got '0.001'"),
    ("pot", {"level": [0.98]}, r"level must be a number, got \[0.98\]"),
    ("dynamic", {"p": "0.13"}, "p must be a number, got '0.13'"),
    ("dynamic", {"z_min": "2.5"}, "z_min must be a number, got '2.5'"),
    ("dynamic", {"z_max": None}, "z_max must be a number, got None"),
    ("dynamic", {"z_step": "0.5"}, "z_step must be a number, got '0.5'"),
    ("dynamic", {"z_max": math.inf}, "need finite z_min < z_max and z_step > 0"),
    ("dynamic", {"z_step": 1e-9}, r"9500000000 values of z from 2.5 to 12 by 1e-09, more than 10000"),
])
def test_a_rule_parameter_that_is_no_number_is_refused_in_one_line(rule, params, says):
    """From Python, quantile="0.95" (a number read from a text file, say) was a TypeError "'<=' not supported between
    instances of 'float' and 'str'"; z_max inf was NumPy's "Maximum allowed size exceeded", and a z_step of 1e-9 asked
    np.arange for 9.5e9 values (76 GB)."""
    scores = exponential(300, 0)
    with pytest.raises(ValueError) as refused:
        th.compute_threshold(rule, val_scores=scores, test_scores=scores, params=params)
    assert re.search(says, str(refused.value)) and "\n" not in str(refused.value)
    if rule == "val_quantile" and params["quantile"] is not None:  # a 0-d array and a NumPy float stay numbers
        assert th.val_quantile(scores, np.array(0.5)) == th.val_quantile(scores, np.float32(0.5)) == np.median(scores)


# --------------------------------------------------------------------------------------------- POT


def test_gpd_tail_quantile_hand_computed():
    # q n / N_t = 1e-3 * 1000 / 10 = 0.1
    assert th.gpd_tail_quantile(1.0, 0.0, 2.0, 1e-3, 1000, 10) == pytest.approx(1 + 2 * math.log(10), rel=1e-14)
    assert th.gpd_tail_quantile(1.0, 0.5, 1.0, 1e-3, 1000, 10) == pytest.approx(1 + 2 * (10**0.5 - 1), rel=1e-14)
    assert th.gpd_tail_quantile(1.0, -0.5, 1.0, 1e-3, 1000, 10) == pytest.approx(1 - 2 * (0.1**0.5 - 1), rel=1e-14)
    # the gamma -> 0 limit is continuous
    assert th.gpd_tail_quantile(1.0, 1e-12, 2.0, 1e-3, 1000, 10) == pytest.approx(1 + 2 * math.log(10), rel=1e-10)


def test_gpd_log_likelihood_hand_computed():
    assert th.gpd_log_likelihood([1.0, 2.0], 0.0, 1.0) == pytest.approx(-3.0)
    assert th.gpd_log_likelihood([1.0, 2.0], 1.0, 1.0) == pytest.approx(-2 * math.log(6))
    assert th.gpd_log_likelihood([1.0, 2.0], -1.0, 1.0) == -math.inf  # 2 is beyond the support sigma/|gamma|
    assert th.gpd_log_likelihood([1.0], 0.1, 0.0) == -math.inf


@pytest.mark.parametrize("gamma", [-0.2, 0.0, 0.3])
def test_gpd_fit_recovers_known_parameters_and_is_the_mle(gamma):
    sigma = 2.0
    u = np.random.default_rng(8).random(2000)
    y = -sigma * np.log1p(-u) if gamma == 0 else sigma / gamma * ((1 - u) ** (-gamma) - 1)  # GPD inverse CDF
    g, s = th.gpd_fit(y)
    assert g == pytest.approx(gamma, abs=0.1)  # standard error ~ (1 + gamma) / sqrt(2000) = 0.03
    assert s == pytest.approx(sigma, rel=0.1)
    # scipy's own maximum-likelihood fit (a different optimiser) reaches no higher likelihood
    c, _, scale = stats.genpareto.fit(y, floc=0)
    assert th.gpd_log_likelihood(y, g, s) >= th.gpd_log_likelihood(y, c, scale) - 1e-9
    assert (g, s) == pytest.approx((c, scale), abs=1e-3, rel=1e-3)


def test_gpd_fit_keeps_the_exponential_fit_when_no_gpd_beats_it():
    # excesses 1, 1, 4: Grimshaw's w has no root (the likelihood only grows towards gamma = -1, where no GPD
    # maximum exists), so the candidate x = 0 wins: the exponential, whose maximum-likelihood scale is the
    # mean excess, 2 (not the median, 1), with log-likelihood -3 log 2 - 6 / 2 = -5.079
    y = np.array([1.0, 1.0, 4.0])
    assert th._grimshaw_roots(y) == []
    assert th.gpd_fit(y) == (0.0, 2.0)
    assert th.gpd_log_likelihood(y, 0.0, 2.0) == pytest.approx(-3 * math.log(2) - 3)
    assert th.gpd_log_likelihood(y, 0.0, 2.0) > th.gpd_log_likelihood(y, 0.0, 1.0)


def test_gpd_fit_rejects_non_positive_excesses():
    with pytest.raises(ValueError):
        th.gpd_fit([1.0, 0.0])


def test_pot_on_exponential_scores_has_an_exponential_tail():
    x = exponential(20_000, 7)
    fit = th.pot_fit(x, q=1e-3, level=0.98)
    assert fit.initial_threshold == float(np.quantile(x, 0.98))
    assert fit.initial_threshold == pytest.approx(math.log(50), abs=0.15)  # Exp(1) 0.98 quantile
    assert (fit.n, fit.n_excess) == (20_000, int(np.sum(x > fit.initial_threshold)))
    assert abs(fit.gamma) < 0.1  # excesses of an exponential are exponential: gamma = 0
    assert fit.sigma == pytest.approx(1.0, rel=0.15)
    assert fit.threshold == pytest.approx(-math.log(1e-3), abs=0.5)  # the true 1 - q quantile, 6.91
    assert fit.threshold == th.gpd_tail_quantile(fit.initial_threshold, fit.gamma, fit.sigma, 1e-3, 20_000,
                                                 fit.n_excess)
    assert th.pot(x, q=1e-3, level=0.98) == fit.threshold


def test_pot_is_invariant_to_the_order_of_the_scores():
    x = exponential(5000, 3)
    assert th.pot(x) == pytest.approx(th.pot(np.sort(x)[::-1]), rel=1e-12)  # up to the order of sums


@pytest.mark.parametrize(("q", "level", "message"), [(0.05, 0.98, r"q must be in \(0, 1 - level\) = \(0, 0.02\)"),
                                                     (0.0, 0.98, "q must be in"), (1e-3, 1.0, "level must be in"),
                                                     (1e-3, 0.0, "level must be in")])
def test_pot_rejects_bad_parameters(q, level, message):
    """Refused by the parameter check itself, not by whatever the fit trips over later."""
    with pytest.raises(ValueError, match=message):
        th.pot(exponential(1000, 0), q=q, level=level)


@pytest.mark.parametrize(("n", "n_excess"), [(50, 1), (100, 2), (450, 9), (500, 10), (20_000, 400)])
def test_a_pot_tail_fitted_on_fewer_than_ten_excesses_is_noted_and_its_threshold_kept(n, n_excess):
    """POT fits its GPD tail on the scores above the level quantile: 1 of 50 validation scores at level 0.98. The
    threshold stays as fitted; below FEW_EXCESSES (10) excesses a note says on how many."""
    x = np.linspace(0.0, 1.0, n)
    assert th.pot_fit(x).n_excess == n_excess
    note = th.pot_note(x, level=0.98)
    if n_excess >= 10:
        assert note is None
    else:
        assert note == (f"its GPD tail is fitted on {n_excess} excess{'es' if n_excess > 1 else ''} over the 0.98 "
                        f"quantile of the {n} validation scores, fewer than 10: a rough threshold")
    assert th.FEW_EXCESSES == 10


def test_pot_needs_excesses_over_the_initial_threshold():
    with pytest.raises(ValueError, match="exceeds"):
        th.pot(np.r_[np.arange(970.0), np.full(30, 1e3)], level=0.98)  # the 0.98 quantile is the top value


@pytest.mark.parametrize(("spikes", "n_excess"), [((5.0,), 1), ((5.0, 7.0), 2)])
def test_pot_refuses_a_tail_quantile_at_or_below_its_initial_threshold(spikes, n_excess):
    """2000 scores tied at 0 but for 1 or 2 spikes: t = 0, and q n = 2 >= N_t, so z_q = t - sigma log(q n / N_t) is
    -3.47 (sigma 5) or 0.0: at or below t, the formula (libspot's too) flags every score tied at 0, 100% of the points
    for a rule that promises a share q. Refused like no excess at all, with the counts and what to change."""
    x = np.zeros(2000)
    x[[100, 900][:len(spikes)]] = spikes
    want = (f"only {n_excess} of the 2000 validation scores exceed their 0.98 quantile 0, no more than q n = 2: z_q "
            "would fall at or below 0")
    for backend in ("numpy", "libspot") if importlib.util.find_spec("libspot") else ("numpy",):
        with pytest.raises(ValueError, match=re.escape(want) if backend == "numpy" else "no more than q n = 2: z_q"):
            th.pot(x, q=1e-3, level=0.98, backend=backend)
    assert th.pot(x, q=1e-4, level=0.98) > 0  # q n = 0.2 < N_t: a threshold above the ties
    assert np.mean(x >= th.pot(x, q=1e-4, level=0.98)) <= n_excess / 2000


POT_CASES = [pytest.param(c, id=c["input"]["name"]) for c in REFERENCE["pot"]]


@pytest.mark.parametrize("case", POT_CASES)
def test_gpd_fit_matches_libspot_on_its_excesses(case):
    """Same excesses as libspot (its own initial threshold): the same GPD when libspot's Grimshaw search found
    the root; when it fell back to the method of moments, our fit has the higher likelihood."""
    x, ref, p = sample(case["input"]), case["libspot"], case["params"]
    y = x[x > ref["t"]] - ref["t"]
    assert (y.size, x.size) == (ref["n_excess"], ref["n"])
    g, s = th.gpd_fit(y)
    z = th.gpd_tail_quantile(ref["t"], g, s, p["q"], x.size, y.size)
    if ref["estimator"] == "grimshaw":
        assert (g, s, z) == pytest.approx((ref["gamma"], ref["sigma"], ref["z"]), rel=1e-7)
    else:
        assert th.gpd_log_likelihood(y, g, s) > th.gpd_log_likelihood(y, ref["gamma"], ref["sigma"])
        assert z == pytest.approx(ref["z"], rel=0.03)


@pytest.mark.parametrize("case", POT_CASES)
def test_gpd_fit_matches_spot_py_on_its_excesses(case):
    """Same excesses as the original spot.py (threshold sort(x)[int(level n)]). Its log-likelihood of
    gamma = 0 has its sign flipped (n (1 + log mean y)); when that positive value wins, it returns the
    exponential fit, which is no MLE: we check the bug is what happened and that our fit is no worse."""
    x, ref, p = sample(case["input"]), case["spot_py"], case["params"]
    assert ref["t"] == np.sort(x)[int(p["level"] * x.size)]
    y = x[x > ref["t"]] - ref["t"]
    assert y.size == ref["n_excess"]
    g, s = th.gpd_fit(y)
    if ref["gamma"] == 0:
        assert ref["loglik_as_computed"] == pytest.approx(y.size * (1 + math.log(y.mean())), rel=1e-12)
        assert ref["loglik_as_computed"] > 0
        assert th.gpd_log_likelihood(y, g, s) >= th.gpd_log_likelihood(y, 0.0, y.mean())
    else:
        assert th.gpd_log_likelihood(y, g, s) >= th.gpd_log_likelihood(y, ref["gamma"], ref["sigma"]) - 1e-9
        z = th.gpd_tail_quantile(ref["t"], g, s, p["q"], x.size, y.size)
        assert z == pytest.approx(ref["z"], rel=1e-3)


@pytest.mark.parametrize("case", POT_CASES)
def test_pot_is_close_to_libspot_end_to_end(case):
    """Whole rule: exact level quantile here, libspot's streaming P^2 estimate there."""
    x = sample(case["input"])
    assert th.pot(x, **case["params"]) == pytest.approx(case["libspot"]["z"], rel=0.03)


@pytest.mark.parametrize("case", POT_CASES)
def test_pot_libspot_backend_reproduces_libspot(case):
    pytest.importorskip("libspot")
    x = sample(case["input"])
    assert th.pot(x, **case["params"], backend="libspot") == pytest.approx(case["libspot"]["z"], rel=1e-12)


# ------------------------------------------------------------------------------------------ dynamic


def test_ewma_hand_computed():
    # span 3: alpha 0.5, adjust=True: y1 = (0 + 0.5 * 1) / (1 + 0.5)
    assert th.ewma([1.0, 0.0], 3) == pytest.approx([1.0, 1 / 3])
    assert th.ewma([1.0, 0.0], None).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="span must be an integer >= 1, got 0"):
        th.ewma([1.0], 0)
    # a whole float is the integer (as windowing's sizes), a bool or a fraction is refused
    assert th.ewma([1.0, 0.0], 3.0) == pytest.approx([1.0, 1 / 3])
    for bad in (True, 2.5):
        with pytest.raises(ValueError, match="span must be an integer >= 1"):
            th.ewma([1.0, 0.0], bad)
    assert th.dynamic_details([1.0, 2.0, 9.0, 2.0, 1.0] * 4, span=None, error_buffer=1.0).threshold == \
        th.dynamic_details([1.0, 2.0, 9.0, 2.0, 1.0] * 4, span=None, error_buffer=1).threshold
    with pytest.raises(ValueError, match="error_buffer must be an integer >= 0, got True"):
        th.dynamic_details([1.0, 2.0], span=None, error_buffer=True)


@pytest.mark.parametrize("scale", [2.0**700, 1e200, 1e300, 1e-200, 2.0**-1000])
def test_dynamic_of_huge_or_tiny_scores_is_the_same_threshold_scaled(scale):
    """The single spike below (threshold 1.09 + 9.5 std), times 1e200: the variance's squares overflowed, a threshold
    of inf that flagged nothing (with "RuntimeWarning: overflow encountered in square"); times 1e-200 they fell to 0,
    no spread, and z_max flagged nothing. The smoothing (here 1e300: 1e307 made pandas' sums inf) scales alike."""
    import warnings

    e = np.ones(1000)
    e[500:510] = 10.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = th.dynamic_details(e * scale, span=None)
        smoothed = th.dynamic_details(np.r_[e, e] * scale * 10, span=105)
    assert d.z == 9.5 and d.threshold == pytest.approx((1.09 + 9.5 * math.sqrt(1.99 - 1.09**2)) * scale, rel=1e-12)
    assert runs(d.flags) == [[400, 609]] and d.non_anom_max == scale and d.smoothed.tolist() == (e * scale).tolist()
    reference = th.dynamic_details(np.r_[e, e], span=105)
    assert smoothed.threshold == pytest.approx(reference.threshold * scale * 10, rel=1e-12)
    assert runs(smoothed.flags) == runs(reference.flags) and smoothed.z == reference.z
    beyond = np.full(10, 1e308)
    beyond[-1] = 1.79e308  # mean + 12 std (the fallback, no z keeps a threshold on 10 points) is past the largest float
    with pytest.raises(ValueError, match="beyond the largest float: divide the scores by a constant first"):
        th.dynamic(beyond, span=None)


def test_dynamic_hand_computed_single_spike():
    # 1000 ones, 10 points at 10; no smoothing. mean 1.09, std sqrt(1.99 - 1.09^2)
    e = np.ones(1000)
    e[500:510] = 10.0
    mean, sd = 1.09, math.sqrt(1.99 - 1.09**2)
    d = th.dynamic_details(e, span=None)
    # every z in 2.5 .. 9.5 flags the same spike (+-99 points: 208 points, one sequence): equal scores, the
    # last (largest) z wins; from z = 10 on, 1.09 + z sd > 10 and nothing is flagged
    assert d.z == 9.5
    assert d.epsilon == pytest.approx(mean + 9.5 * sd, rel=1e-12)
    assert runs(d.flags) == [[400, 609]]  # the spike +- error_buffer 100
    assert d.non_anom_max == 1.0
    assert d.pruned.shape == (0, 2)  # (10 - 1) / 10 >= p
    assert d.threshold == d.epsilon
    assert th.dynamic(e, span=None) == d.threshold


def test_dynamic_chooses_z_by_telemanoms_score_hand_computed():
    """24 points: 22 ones, 5 at point 6, 4 at point 18; no smoothing; z tried: 1 and 3. mean 31/24 = 1.29167,
    std sqrt(63/24 - mean^2) = 0.97806. Score = (mean drop/mean + std drop/std) / (n_seq^2 + n_anom), the drops
    to the scores below epsilon; find_epsilon widens each exceedance by error_buffer - 1 points.

    error_buffer 2: z = 1 (epsilon 2.27) flags both spikes, widened to 2 runs of 3 points; the 22 ones left
    have mean 1, std 0: (7/31 + 1) / (2^2 + 6) = 0.12258. z = 3 (epsilon 4.2258) flags the 5 alone, 1 run of
    3; left: 22 ones and the 4, mean 26/23, std 0.61179 (ddof 0): (0.12482 + 0.37448) / (1^2 + 3) = 0.12483,
    higher: z = 3. (n_seq instead of n_seq^2, widening by error_buffer, or ddof 1 would pick z = 1.)
    error_buffer 1: no widening, so every run is one point and none counts as a sequence (n_seq 0): z = 1
    scores 1.22581 / 2, z = 3 0.49930 / 1: z = 1."""
    e = np.ones(24)
    e[6], e[18] = 5.0, 4.0
    d = th.dynamic_details(e, span=None, error_buffer=2, z_min=1.0, z_max=4.0, z_step=2.0)
    assert d.z == 3.0 and d.epsilon == pytest.approx(31 / 24 + 3 * math.sqrt(63 / 24 - (31 / 24) ** 2))
    assert runs(d.flags) == [[4, 8]] and d.non_anom_max == 4.0  # the 5 widened by error_buffer 2
    assert th.dynamic_details(e, span=None, error_buffer=1, z_min=1.0, z_max=4.0, z_step=2.0).z == 1.0
    # z_max itself is not tried (np.arange(z_min, z_max, z_step), as telemanom): z 1 alone, though z 3 scores higher
    assert th.dynamic_details(e, span=None, error_buffer=2, z_min=1.0, z_max=3.0, z_step=2.0).z == 1.0


def test_dynamic_divides_the_mean_drop_by_the_mean_and_the_std_drop_by_the_std():
    """The scores above raised by 9: 22 tens, 14 at point 6, 13 at point 18. The std is unchanged (0.97806), the
    mean 247/24 = 10.29167. z = 1 (epsilon 11.27) flags both spikes, 2 runs of 3 points, leaving 22 tens:
    (0.02834 + 1) / (2^2 + 6) = 0.10283. z = 3 (epsilon 13.23) flags the 14 alone; left: 22 tens and the 13, mean
    233/23, std 0.61179: (0.01567 + 0.37448) / (1^2 + 3) = 0.09754. So z = 1, where the unshifted scores chose 3.
    (The std drop divided by the mean, 0.01234 against 0.01281, would pick z = 3.) Peaks 14 and 13 over the largest
    unflagged 10: the drop 13 -> 10 is above p, so neither sequence is pruned."""
    e = np.full(24, 10.0)
    e[6], e[18] = 14.0, 13.0
    d = th.dynamic_details(e, span=None, error_buffer=2, z_min=1.0, z_max=4.0, z_step=2.0)
    assert d.z == 1.0 and d.epsilon == pytest.approx(247 / 24 + math.sqrt(63 / 24 - (31 / 24) ** 2))
    assert runs(d.flags) == [[4, 8], [16, 20]] and d.threshold == d.epsilon


def test_dynamic_accepts_five_sequences_and_takes_a_peak_at_the_last_point():
    """telemanom keeps a z that flags at most 5 sequences: 100 ones with spikes of 10 at 10, 30, .., 90 give 5
    sequences at z = 1, which is kept (not z_max = 2, the fallback). A spike of 5 on the very last of 20 ones:
    its flagged run [17, 19] ends on it, its peak is 5, against the largest unflagged score 1 a drop of 0.8,
    well above p, so it is not pruned."""
    e = np.ones(100)
    e[[10, 30, 50, 70, 90]] = 10.0
    d = th.dynamic_details(e, span=None, error_buffer=2, z_min=1.0, z_max=2.0, z_step=1.0)
    assert d.z == 1.0 and len(d.sequences) == 5
    e = np.ones(20)
    e[19] = 5.0
    d = th.dynamic_details(e, span=None, error_buffer=2, z_min=1.0, z_max=2.0, z_step=1.0)
    assert d.sequences.tolist() == [[17, 19]] and d.pruned.shape == (0, 2)


@pytest.mark.parametrize(("peaks", "non_anom_max", "keep"), [
    ([10.0, 4.4], 4.0, [True, False]),    # (4.4 - 4) / 4.4 < 0.13: the smaller sequence goes
    ([4.2], 4.0, [False]),                # all go
    ([10.0, 9.5], 1.0, [True, True]),     # 10 -> 9.5 is small, but 9.5 -> 1 is large: the mark is cleared
    ([5.0, 9.0, 5.0], 1.0, [True, True, True]),
    ([5.0, 5.0, 9.0], 4.9, [False, False, True]),
])
def test_prune_hand_computed(peaks, non_anom_max, keep):
    assert th._prune(np.array(peaks), non_anom_max, 0.13).tolist() == keep


def test_prune_keeps_a_drop_of_exactly_p():
    # telemanom removes a peak when its relative drop to the next is below p (strictly): peaks 4, 2 and the
    # largest unflagged score 1 drop by (4 - 2) / 4 = 0.5 and (2 - 1) / 2 = 0.5, exactly p, so both stay
    assert th._prune(np.array([4.0, 2.0]), 1.0, 0.5).tolist() == [True, True]
    assert th._prune(np.array([4.0, 2.0]), 1.0, 0.5000001).tolist() == [False, False]


def test_dynamic_constant_scores_flag_nothing():
    d = th.dynamic_details(np.full(500, 0.3))
    assert not d.flags.any() and not np.any(d.smoothed >= d.threshold)


def test_dynamic_rejects_scores_with_non_positive_mean():
    with pytest.raises(ValueError, match="positive mean"):
        th.dynamic(-exponential(1000, 0))


DYNAMIC_CASES = [pytest.param(c, id=c["input"]["name"]) for c in REFERENCE["dynamic"]]


@pytest.mark.parametrize("case", DYNAMIC_CASES)
def test_dynamic_matches_telemanom(case):
    x, ref = sample(case["input"]), case["telemanom"]
    d = th.dynamic_details(x, **case["params"])
    assert d.smoothed[::100] == pytest.approx(ref["smoothed_every_100th"], rel=1e-12)
    assert d.z == ref["z"]
    assert d.epsilon == pytest.approx(ref["epsilon"], rel=1e-12)
    assert d.non_anom_max == pytest.approx(ref["non_anom_max"], rel=1e-12)
    assert runs(d.flags) == ref["flagged_runs"]
    assert sorted(d.sequences.tolist() + d.pruned.tolist()) == ref["flagged_runs_before_pruning"]


@pytest.mark.parametrize("case", DYNAMIC_CASES)
def test_dynamic_threshold_flags_only_surviving_sequences(case):
    d = th.dynamic_details(sample(case["input"]), **case["params"])
    above = d.smoothed >= d.threshold
    assert not np.any(above & ~d.flags)  # nothing outside the surviving sequences
    for a, b in d.sequences:  # every surviving sequence keeps its peak
        assert above[a:b + 1].any()
    assert d.threshold >= d.epsilon


def test_reference_covers_pruning():
    kinds = {(len(c["telemanom"]["flagged_runs"]) > 0, c["telemanom"]["flagged_runs"] !=
              c["telemanom"]["flagged_runs_before_pruning"]) for c in REFERENCE["dynamic"]}
    assert {(True, False), (True, True), (False, True)} <= kinds  # none, some, all pruned


# ----------------------------------------------------------------------------------------- registry


def test_registry_rules_have_descriptions_and_references():
    assert set(th.THRESHOLD_RULES) == {"val_quantile", "pot", "dynamic", "contamination", "train_max"}
    for rule in th.THRESHOLD_RULES.values():
        assert rule.description and rule.reference
        assert set(rule.inputs) <= {"val_scores", "test_scores", "train_scores"}


@pytest.mark.parametrize("share, expected, n_flagged", [
    (0.3, 8.0, 3),    # ceil(0.3 * 10) = 3 points
    (0.25, 8.0, 3),   # ceil(2.5) = 3
    (0.05, 10.0, 1),  # at least one point
    (0.99, 1.0, 10),
])
def test_contamination_flags_the_highest_share_hand_computed(share, expected, n_flagged):
    t = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 7.0, 8.0, 6.0, 10.0])
    threshold = th.compute_threshold("contamination", test_scores=t, val_scores=np.array([100.0]),
                                     params={"share": share})
    assert threshold == expected and int((t >= threshold).sum()) == n_flagged


def test_contamination_share_times_n_is_not_rounded_up_by_float_error():
    # 0.07 * 100 is 7.000000000000001 in floats: ceil of that is 8, but the share means 7 of the 100 points,
    # so the 7th highest of 1..100, 94, is the threshold and 7 points are flagged
    t = np.arange(1.0, 101.0)
    assert 0.07 * 100 > 7
    assert th.contamination(t, 0.07) == 94.0 and int((t >= 94.0).sum()) == 7


def test_a_numpy_float32_parameter_is_the_rule_of_that_float32_as_before():
    """A float32 share or quantile (read from a NumPy array) is taken as NumPy takes it: float32(0.1) * 300 is 30 in
    float32 (30 of the 300 points, as the share 0.1), where widened to a float64 it was 30.0000004 and flagged 31; a
    float32 quantile is np.quantile's of it."""
    t = np.arange(300.0)
    assert th.contamination(t, np.float32(0.1)) == th.contamination(t, 0.1) == 270.0
    v = np.linspace(0.0, 5000.0, 101) ** 1.5
    assert th.val_quantile(v, np.float32(0.95)) == float(np.quantile(v, np.float32(0.95)))


def test_contamination_flags_ceil_share_times_n_where_pyods_percentile_flags_ceil_share_times_n_minus_1():
    """PyOD's rule (scikit-learn's alike) flags ``score > np.percentile(scores, 100 * (1 - share))``: with linear
    interpolation that is ceil(share * (n - 1)) of n distinct scores, one fewer than this rule where an integer lies
    between share * (n - 1) and share * n, and none where the top scores tie. This rule's count is documented."""
    def pyod_flagged(t, share):
        return int((t > np.percentile(t, 100 * (1 - share))).sum())

    for n, ours, pyod in ((10, 1, 1), (11, 2, 1), (21, 3, 2), (100, 10, 10), (101, 11, 10), (124, 13, 13)):
        t = np.arange(1.0, n + 1)
        assert (int((t >= th.contamination(t, 0.1)).sum()), pyod_flagged(t, 0.1)) == (ours, pyod)
    tied = np.array([0.0] * 8 + [1.0, 1.0])  # the top two tie: this rule flags both, PyOD's none
    assert (int((tied >= th.contamination(tied, 0.1)).sum()), pyod_flagged(tied, 0.1)) == (2, 0)


def test_contamination_ties_flag_more_and_bad_shares_fail():
    t = np.array([1.0, 2.0, 2.0, 2.0, 3.0])
    assert th.contamination(t, 0.4) == 2.0  # the 2nd highest is 2.0, and all three 2.0s are flagged
    assert th.contamination(t, 0.2) == 3.0
    for share in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="share must be in"):
            th.contamination(t, share)
    with pytest.raises(ValueError, match="needs test_scores"):
        th.compute_threshold("contamination", val_scores=t)


def test_train_max_is_the_largest_training_score_and_needs_them():
    train = np.array([0.2, 3.5, 1.0, 3.4])
    assert th.compute_threshold("train_max", train_scores=train, val_scores=np.array([9.0])) == np.nextafter(3.5, 4)
    with pytest.raises(ValueError, match="needs train_scores"):
        th.compute_threshold("train_max", val_scores=train)


def test_train_max_flags_no_score_seen_in_training_even_where_scores_tie():
    """Integer-valued scores (abs_z on request counts) repeat the training maximum in the test: the rule, the Keras
    example's ``loss > max(train loss)``, flags none of them under ``score >= threshold``, only higher scores."""
    train, test = np.array([0.0, 1.0, 4.0, 2.0, 4.0]), np.array([4.0, 0.0, 5.0, 4.0, 1.0])
    threshold = th.compute_threshold("train_max", train_scores=train)
    assert threshold > 4.0 and threshold == np.nextafter(4.0, np.inf)
    assert np.flatnonzero(test >= threshold).tolist() == [2]
    assert not np.any(train >= threshold)


def test_train_max_of_float32_scores_flags_no_tie_in_float32():
    """Keras losses are float32, and NumPy compares a float32 array with a Python float in float32: the next float64
    above a float32 maximum rounded back to it there, so ``loss >= threshold`` flagged the training maximum."""
    train = np.array([1.1, 2.3, 3.7], dtype=np.float32)
    threshold = th.compute_threshold("train_max", train_scores=train)
    assert threshold == float(np.nextafter(np.float32(3.7), np.float32(np.inf)))
    assert not np.any(train >= threshold) and not np.any(train.astype(float) >= threshold)
    assert (np.array([3.7, 3.8], dtype=np.float32) >= threshold).tolist() == [False, True]


def test_compute_threshold_calls_each_rule():
    v, t = exponential(2000, 1), exponential(3000, 2)
    assert th.compute_threshold("val_quantile", val_scores=v, test_scores=t,
                                params={"quantile": 0.99}) == th.val_quantile(v, 0.99)
    assert th.compute_threshold("pot", val_scores=v, test_scores=t, params={"q": 1e-3}) == th.pot(v, 1e-3)
    assert th.compute_threshold("dynamic", val_scores=v, test_scores=t, params={"p": 0.2}) == th.dynamic(t, p=0.2)
    assert th.compute_threshold("dynamic", test_scores=t) == th.dynamic(t)


def test_compute_threshold_errors():
    v = exponential(2000, 1)
    with pytest.raises(ConfigError, match="unknown threshold rule"):
        th.compute_threshold("oracle_best_f1", val_scores=v, params={})
    with pytest.raises(ConfigError, match="no parameter"):
        th.compute_threshold("pot", val_scores=v, params={"quantile": 0.9})
    with pytest.raises(ConfigError, match="needs parameter"):
        th.compute_threshold("val_quantile", val_scores=v, params={})
    with pytest.raises(ValueError, match="needs test_scores"):
        th.compute_threshold("dynamic", val_scores=v, params={})


@pytest.mark.parametrize("returns, says", [
    (float("nan"), "threshold rule 'mine' returned nan, not a threshold"),
    (None, "threshold rule 'mine' returned None, not a threshold"),
    (np.array([1.0, 2.0]), "threshold rule 'mine' returned array([1., 2.]), not a threshold"),
])
def test_a_registered_rule_that_returns_no_number_is_refused(monkeypatch, returns, says):
    """A rule of one's own that returns NaN flagged nothing (every score >= NaN is False), so its F1 was 0 as if it
    had set a threshold above every score; one that returned None or an array was a TypeError from float()."""
    monkeypatch.setitem(th.THRESHOLD_RULES, "mine", th.ThresholdRule(lambda val_scores: returns, ("val_scores",),
                                                                      "a rule of one's own", "none"))
    with pytest.raises(ValueError) as refused:
        th.compute_threshold("mine", val_scores=[1.0, 2.0])
    assert str(refused.value) == f"{says}: a rule returns one number (inf flags nothing, -inf every point)"
    monkeypatch.setitem(th.THRESHOLD_RULES, "mine", th.ThresholdRule(lambda val_scores: np.inf, ("val_scores",),
                                                                      "flags nothing", "none"))
    assert th.compute_threshold("mine", val_scores=[1.0, 2.0]) == np.inf  # a threshold above every score
    monkeypatch.setitem(th.THRESHOLD_RULES, "mine", th.ThresholdRule(lambda val_scores: np.asarray(np.median(val_scores)),
                                                                      ("val_scores",), "a 0-d array", "none"))
    assert th.compute_threshold("mine", val_scores=np.array([1.0, 2.0])) == 1.5  # one number, as float() took it


def test_scores_for_rule():
    t = exponential(500, 3)
    assert th.scores_for_rule("pot", t).tolist() == t.tolist()
    assert th.scores_for_rule("dynamic", t).tolist() == th.ewma(t, 105).tolist()
    assert th.scores_for_rule("dynamic", t, {"span": None}).tolist() == t.tolist()


def _public_callables():
    fns = [rule.fn for rule in th.THRESHOLD_RULES.values()]
    return fns + [th.compute_threshold, th.scores_for_rule, th.pot_fit, th.dynamic_details]


@pytest.mark.parametrize("fn", _public_callables(), ids=lambda f: f.__name__)
def test_no_rule_accepts_test_labels(fn):
    for name, prm in inspect.signature(fn).parameters.items():
        assert "label" not in name.lower() and name not in ("y_true", "y", "truth")
        assert prm.kind not in (prm.VAR_POSITIONAL, prm.VAR_KEYWORD)  # nothing can slip in unnamed


def test_labels_cannot_be_passed_as_parameters():
    v = exponential(2000, 1)
    for rule in th.THRESHOLD_RULES:
        with pytest.raises(ConfigError, match="no parameter"):
            th.compute_threshold(rule, val_scores=v, test_scores=v, train_scores=v,
                                 params={"quantile": 0.9, "test_labels": np.zeros(2000, bool)})


# ------------------------------------------------------------------------------------------ timings


def test_every_rule_on_20000_scores_lands_where_it_should(capsys):
    """Each rule on 20,000 unit exponential scores: the quantile, maximum and share by definition, POT near the
    exponential's own quantile, dynamic at its earlier value (its time is printed, not asserted)."""
    v, t = exponential(20_000, 10), exponential(20_000, 11)
    params = {"val_quantile": {"quantile": 0.99}, "pot": {}, "dynamic": {}, "contamination": {}, "train_max": {}}
    values, lines = {}, []
    for rule in th.THRESHOLD_RULES:
        th.compute_threshold(rule, val_scores=v[:1000], test_scores=t[:1000], train_scores=v[:1000],
                             params=params[rule])  # imports
        started = time.perf_counter()
        values[rule] = th.compute_threshold(rule, val_scores=v, test_scores=t, train_scores=v, params=params[rule])
        lines.append(f"  {rule:12s} {1000 * (time.perf_counter() - started):8.1f} ms  threshold {values[rule]:.4g}")
    with capsys.disabled():
        print("\nthreshold rules on 20,000 scores:\n" + "\n".join(lines))
    assert values["val_quantile"] == np.quantile(v, 0.99)
    assert values["train_max"] == np.nextafter(v.max(), np.inf)
    assert np.sum(t >= values["contamination"]) == 2000  # flagged: score >= threshold
    assert values["pot"] == pytest.approx(np.log(1000), rel=0.1)  # the exponential's 1 - 1e-3 quantile
    assert values["dynamic"] == pytest.approx(1.39674, rel=1e-5)  # a regression value (its reference: telemanom)


def test_dynamic_with_no_error_buffer_keeps_a_single_point_unpruned():
    """With ``error_buffer`` 0 a flagged point stays a single point, never a sequence, and telemanom keeps it
    unpruned: a spike of 1.1 over scores of 1.0 (a drop of 0.1 / 1.1 < p = 0.13 to the largest unflagged score,
    which pruning would remove) is flagged, and the threshold stays epsilon."""
    s = np.ones(81)
    s[40] = 1.1
    d = th.dynamic_details(s, span=None, error_buffer=0)
    assert len(d.sequences) == 0 and len(d.pruned) == 0 and d.threshold == d.epsilon
    assert np.flatnonzero(d.flags).tolist() == [40] and np.flatnonzero(s >= d.threshold).tolist() == [40]


@pytest.mark.parametrize("n, flagged", [(22, []), (24, [10])])
def test_dynamic_takes_no_z_that_flags_half_the_points(n, flagged):
    """telemanom takes a z only where its widened flags hold fewer than half the points: one spike widened by
    +-(error_buffer - 1) = 5 points flags 11, exactly half of 22 points (no z then: z_max, nothing flagged), but
    fewer than half of 24 (the spike is flagged)."""
    s = np.ones(n)
    s[10] = 5.0
    d = th.dynamic_details(s, span=None, error_buffer=6)
    assert (d.z == 12.0) == (not flagged)
    assert np.flatnonzero(s >= d.threshold).tolist() == flagged
