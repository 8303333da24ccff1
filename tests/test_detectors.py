"""The comparison detectors lstm_ad, lstm_ae, lstm_vae and arma: known answers for their pure-NumPy
parts, and tiny end-to-end fits on a sine with an injected spike (files, save/load, resume, ranking)."""

import contextlib
import csv
import json
import math
import re
import warnings

import keras
import numpy as np
import pytest

from vae_lstm.config import from_dict
from vae_lstm.detectors import detector_class
from vae_lstm.detectors.arma import ARMADetector
from vae_lstm.detectors.lstm_ad import (
    LSTMADDetector,
    build_lstm_ad,
    error_vector_blocks,
    error_vectors,
    fit_gaussian,
    gaussian_nll,
    predict_all,
    validation_errors,
)
from vae_lstm.errors import UserError
from vae_lstm.windowing import train_val_split

PERIOD, SPIKE_AT, SPIKE = 24, 300, 6.0


# ---------------------------------------------------------------------------------------------
# lstm_ad: error vectors and the Gaussian, by hand


def test_error_vectors_known_answer_and_warm_up():
    # n = 6, l_win = 2, h = 2: P[w, j] predicts point w + 2 + j; P[w, j] = 10 w + j
    series = np.arange(6.0)
    predictions = (10.0 * np.arange(4)[:, None] + np.arange(2)[None, :])[:, :, None]
    e = error_vectors(series, predictions, l_win=2)
    assert e.shape == (6, 2)
    assert np.isnan(e[:3]).all()  # l_win + h - 1 = 3 points have fewer than 2 predictions
    # e_t = [x_t - P[t - 2, 0], x_t - P[t - 3, 1]]
    np.testing.assert_array_equal(e[3:], [[3 - 10, 3 - 1], [4 - 20, 4 - 11], [5 - 30, 5 - 21]])


def test_error_vectors_channel_layout():
    # two channels: entry j * c + k is channel k's error j + 1 steps ahead
    x = np.arange(5.0)
    series = np.stack([x, -x], axis=1)
    predictions = np.zeros((3, 2, 2))  # l_win = 2, h = 2
    predictions[:, :, 0] = 10.0 * np.arange(3)[:, None] + np.arange(2)[None, :]
    e = error_vectors(series, predictions, l_win=2)
    assert e.shape == (5, 4) and np.isnan(e[:3]).all()
    np.testing.assert_array_equal(e[3], [3 - 10, -3, 3 - 1, -3])
    np.testing.assert_array_equal(e[4], [4 - 20, -4, 4 - 11, -4])
    with pytest.raises(ValueError):
        error_vectors(series, predictions[:-1], l_win=2)


def test_fit_gaussian_and_nll_known_answer():
    errors = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0], [np.nan, 5.0]])
    mu, sigma = fit_gaussian(errors, ridge=0.0)  # the NaN row is left out
    np.testing.assert_allclose(mu, [0.0, 0.0])
    np.testing.assert_allclose(sigma, [[0.5, 0.0], [0.0, 2.0]])  # maximum likelihood: divide by 4
    # e = [1, 2]: Mahalanobis^2 = 1 / 0.5 + 4 / 2 = 4, log det = log 1 = 0
    nll = gaussian_nll(np.array([[1.0, 2.0], [np.nan, np.nan], [0.0, 0.0]]), mu, sigma)
    np.testing.assert_allclose(nll[[0, 2]], [math.log(2 * math.pi) + 2.0, math.log(2 * math.pi)])
    assert np.isnan(nll[1])


def test_gaussian_nll_uses_the_full_covariance():
    sigma = np.array([[2.0, 1.0], [1.0, 2.0]])  # inverse = [[2, -1], [-1, 2]] / 3, det = 3
    mu = np.array([1.0, -1.0])
    nll = gaussian_nll(np.array([[2.0, 0.0], [2.0, -2.0]]), mu, sigma)  # e - mu = [1, 1] and [1, -1]
    np.testing.assert_allclose(nll, [math.log(2 * math.pi) + 0.5 * math.log(3) + 0.5 * 2 / 3,
                                     math.log(2 * math.pi) + 0.5 * math.log(3) + 0.5 * 6 / 3])


def test_fit_gaussian_ridge_makes_a_singular_covariance_usable():
    errors = np.array([[1.0, 3.0], [2.0, 3.0], [3.0, 3.0]])  # second entry constant: singular
    mu, sigma = fit_gaussian(errors)
    assert np.all(np.linalg.eigvalsh(sigma) > 0)
    assert np.isfinite(gaussian_nll(errors, mu, sigma)).all()
    np.testing.assert_allclose(sigma[0, 0], 2 / 3, rtol=1e-5)  # the ridge is small


@pytest.mark.parametrize("sizes", [[9], [1] * 9, [2, 3, 4], [4, 1, 1, 3], [8, 1]])
def test_error_vector_blocks_match_the_whole_array(sizes):
    """Scoring takes the error vectors a chunk of predictions at a time, holding the h - 1 rows a later point
    needs: chunks shorter than h - 1 rows must carry rows from several chunks back."""
    rng = np.random.default_rng(0)
    l_win, h, c = 3, 4, 2
    series = rng.standard_normal((len(sum([[0] * k for k in sizes], [])) + l_win, c))
    predictions = rng.standard_normal((len(series) - l_win, h, c)).astype("float32")
    chunks = np.split(predictions, np.cumsum(sizes)[:-1])
    blocks = list(error_vector_blocks(series, chunks, l_win))
    assert [start for start, _, _ in blocks] == list(l_win + np.cumsum([0] + sizes[:-1]))
    np.testing.assert_array_equal(np.concatenate([e for _, e, _ in blocks]), error_vectors(series, predictions, l_win)[l_win:])
    np.testing.assert_array_equal(np.concatenate([p for _, _, p in blocks]), predictions[:, 0])


@pytest.mark.parametrize("score_batch_size", [1, 3, 4096])
def test_lstm_ad_scores_and_fits_in_chunks_as_over_the_whole_array(score_batch_size):
    """Scoring streams the predictions through the error vectors and the Gaussian; the scores, the one-step
    predictions and the fitted rows are those of the whole-array formulas, bit for bit (a block with one
    scored point included: LAPACK solves a lone right-hand side by another kernel)."""
    l_win, h = 8, 5
    config = from_dict({"detector": "lstm_ad", "l_win": l_win, "n_channel": 2, "prediction_horizon": h,
                        "score_batch_size": score_batch_size})
    keras.utils.set_random_seed(0)
    detector = LSTMADDetector(config)
    detector.model = build_lstm_ad(l_win, 2, h, 8)
    series = np.random.default_rng(1).standard_normal((60, 2)).astype("float32")
    predictions = predict_all(detector.model, series, l_win, 4096)
    errors = error_vectors(series, predictions, l_win)
    points = np.arange(l_win + h - 1, len(series))[::3]
    np.testing.assert_array_equal(validation_errors(detector.model, series, l_win, score_batch_size, points), errors[points])
    detector.mu, detector.sigma = fit_gaussian(errors[points])
    scores = detector.score(series)
    nll = gaussian_nll(errors, detector.mu, detector.sigma)
    np.testing.assert_array_equal(scores.points, nll - gaussian_nll(detector.mu[None], detector.mu, detector.sigma)[0])
    np.testing.assert_array_equal(scores.extras["prediction"][l_win:], predictions[:, 0])
    assert np.isnan(scores.extras["prediction"][:l_win]).all()


# ---------------------------------------------------------------------------------------------
# arma


def ar1(n, phi=0.8, seed=0):
    e = np.random.default_rng(seed).standard_normal(n)
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def arma_config(**changes):
    return from_dict({"detector": "arma", "arma_p": 1, "arma_q": 0, "arma_max_train_points": 0, **changes})


def test_arma_fits_ar1_and_scores_standardised_one_step_errors(tmp_path):
    x = ar1(4000)
    train, test = x[:2000, None], x[2000:, None].copy()
    test[1000, 0] += 8.0
    detector = ARMADetector(arma_config())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # statsmodels' warnings are silenced; anything else shows
        detector.fit(train, tmp_path)
    params = json.loads((tmp_path / "arma.json").read_text())["channels"][0]["params"]
    c, phi, sigma2 = params["const"], params["ar.L1"], params["sigma2"]
    assert abs(phi - 0.8) < 0.05 and abs(sigma2 - 1.0) < 0.1

    scores = detector.score(test)
    assert scores.points.shape == (len(test),) and scores.native_span == 1
    xs = test[:, 0].astype("float32").astype(float)
    hand = np.square(xs[1:] - c - phi * (xs[:-1] - c)) / sigma2
    np.testing.assert_allclose(scores.points[1:], hand, rtol=1e-6, atol=1e-9)
    assert int(np.argmax(scores.points)) == 1000

    fresh = ARMADetector(arma_config())
    fresh.load(tmp_path)
    np.testing.assert_array_equal(fresh.score(test).points, scores.points)


def test_arma_takes_the_largest_channel_and_fits_only_the_last_points(tmp_path):
    rng = np.random.default_rng(1)
    train = np.stack([ar1(3000, seed=2), rng.standard_normal(3000)], axis=1)
    test = np.stack([ar1(800, seed=3), rng.standard_normal(800)], axis=1)
    test[500, 1] += 8.0  # in the second channel only
    detector = ARMADetector(arma_config(n_channel=2, arma_max_train_points=1000))
    detector.fit(train, tmp_path)
    saved = json.loads((tmp_path / "arma.json").read_text())
    assert [ch["n_points"] for ch in saved["channels"]] == [1000, 1000]
    assert abs(saved["channels"][0]["params"]["ar.L1"] - 0.8) < 0.1
    assert abs(saved["channels"][1]["params"]["ar.L1"]) < 0.15
    scores = detector.score(test)
    np.testing.assert_array_equal(scores.points, scores.extras["channel_scores"].max(axis=1))
    assert int(np.argmax(scores.points)) == 500


def test_a_slow_arma_fit_is_noted_before_it_and_each_channel_after(tmp_path, capsys, monkeypatch):
    """ARMA(32, 32), an order the schema takes, fits for about an hour a channel on the default 5000 points, and it
    said nothing before or during it. A fit that may take longer than a minute is noted first, with the bound (at
    most 50 optimiser steps of p + q + 8 likelihood passes, one pass timed: 3.6 s here, so 50 * 72 * 3.6 s = 3.6 h
    a channel), and each channel's end is a line; the default order on a short block fits without a word."""
    from vae_lstm.detectors import arma

    def fitted(x, p, q, start_params=None):  # the optimiser's work, skipped
        return {"params": {}, "converged": True, "n_points": len(x)}

    monkeypatch.setattr(arma, "fit_channel", fitted)
    train = np.stack([ar1(300, seed=2), ar1(300, seed=3)], axis=1)
    ARMADetector(arma_config(n_channel=2, arma_p=2, arma_q=1)).fit(train, tmp_path / "quick")  # one pass: < 1 s
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(arma, "fit_seconds_bound", lambda x, p, q: (50 * (p + q + 8) * 3.6, None), raising=False)
    ARMADetector(arma_config(n_channel=2, arma_p=32, arma_q=32)).fit(train, tmp_path / "slow")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("note: arma: an ARMA(32, 32) fit on 300 points may take up to about 3.6 h per channel, 7.2 h "
                        "for its 2 channels (at most 50 optimiser steps of 72 Kalman-filter passes each); a lower "
                        "arma_p or arma_q, or arma_max_train_points, makes it faster")
    assert [line.rpartition(" in ")[0] for line in lines[1:]] == ["arma: channel 0 fitted (1 of 2)",
                                                                  "arma: channel 1 fitted (2 of 2)"]
    # fits of seconds each, over many channels: a wide file's hour went by without a word (each fit under a minute)
    monkeypatch.setattr(arma, "fit_seconds_bound", lambda x, p, q: (1.0, None), raising=False)
    wide = np.stack([ar1(300, seed=k) for k in range(80)], axis=1)
    ARMADetector(arma_config(n_channel=80)).fit(wide, tmp_path / "wide")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("note: arma: an ARMA(1, 0) fit on 300 points may take up to about 1 s per channel, 80 s "
                        "for its 80 channels (at most 50 optimiser steps of 9 Kalman-filter passes each); a lower "
                        "arma_p or arma_q, or arma_max_train_points, makes it faster")
    assert [line.rpartition(" in ")[0] for line in lines[1:]] == [f"arma: channel {k} fitted ({k + 1} of 80)"
                                                                  for k in range(80)]


@pytest.mark.parametrize("max_points", [1, 3])
def test_arma_max_train_points_below_what_the_fit_needs_is_one_line(tmp_path, max_points):
    """The fit's minimum (p + q + 2 points) holds for the points it fits, the last arma_max_train_points: 1 point
    failed inside statsmodels with a traceback, 3 fitted ARMA(2, 1) to 3 points (sigma2 5e-7, scores of 4e6)."""
    config = arma_config(arma_p=2, arma_q=1, arma_max_train_points=max_points)
    with pytest.raises(UserError, match=f"arma_max_train_points = {max_points} leaves fewer points than an "
                                        r"ARMA\(2, 1\) fit needs \(5\)"):
        ARMADetector(config).fit(ar1(1500)[:, None], tmp_path)
    assert not (tmp_path / "arma.json").exists()
    ARMADetector(config.replace(arma_max_train_points=5)).fit(ar1(1500)[:, None], tmp_path)  # enough: fitted


def test_arma_start_parameters_of_a_high_order_on_few_points_print_no_warning():
    """A high order on a short block made statsmodels print its raw EstimationWarning ("Too few observations to
    estimate starting parameters ...", with its file and line) through the fit's filter; it starts from zeros,
    and the fit's own convergence check speaks for it."""
    from vae_lstm.detectors.arma import arima_model, quiet_statsmodels

    model = arima_model(ar1(20), 9, 9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_statsmodels():
            model.start_params  # noqa: B018 (what fit() computes first)
    assert [str(w.message) for w in caught] == []


def test_arma_second_fit_reuses_the_saved_parameters(tmp_path):
    x = ar1(1500)[:, None]
    ARMADetector(arma_config()).fit(x, tmp_path)
    before = (tmp_path / "arma.json").stat().st_mtime_ns
    ARMADetector(arma_config()).fit(x.copy(), tmp_path)
    assert (tmp_path / "arma.json").stat().st_mtime_ns == before
    assert json.loads((tmp_path / "state.json").read_text())["arma"] == 1


def test_a_second_fit_from_python_with_other_keys_or_data_is_refused_not_the_old_model_kept(tmp_path):
    """fit resumes what its run folder holds, and from Python it compared nothing: a fit with another order or on
    other data kept the first fit's parameters under the new config without a word (train.py and the grids refuse
    such a folder). It is refused in one line now, and the first fit's files stay as they were."""
    x = ar1(1500)[:, None]
    ARMADetector(arma_config()).fit(x, tmp_path)
    saved = (tmp_path / "arma.json").read_text()
    assert json.loads((tmp_path / "config.json").read_text())["arma_p"] == 1  # what trained there
    with pytest.raises(UserError, match=r"was trained with arma_p=1 \(the config says 2\); fit into another run "
                                        "folder, or with the config and data it was trained with"):
        ARMADetector(arma_config(arma_p=2)).fit(x, tmp_path)
    with pytest.raises(UserError, match="was trained on other training data"):
        ARMADetector(arma_config()).fit(x[::-1].copy(), tmp_path)
    assert (tmp_path / "arma.json").read_text() == saved


def test_a_second_fit_from_python_on_other_data_names_the_data_given_to_fit(tmp_path):
    """The refusal said the run was trained on other data "than the config now gives": from Python no config gives
    the data, fit is given it."""
    x = ar1(300)[:, None]
    ARMADetector(arma_config()).fit(x, tmp_path)
    with pytest.raises(UserError, match=rf"^run folder {tmp_path} was trained on other training data \(300 x 1 values, "
                                        r"sha256 \w{12}\) than fit is given \(200 x 1 values, sha256 \w{12}\); fit into "
                                        "another run folder, or with the config and data it was trained with$"):
        ARMADetector(arma_config()).fit(x[:200], tmp_path)


def test_a_fit_from_python_on_a_float32_copy_is_the_training_data_that_detect_gives(tmp_path):
    """A fit given the float32 copy of the standardised block (what the detectors compute in) recorded its values
    rounded to 6 decimals, and 16 of these 300 round otherwise in float64: detect.py, which gives the float64 block,
    refused the run as 'trained on other training data'. Other data is still refused."""
    from vae_lstm.runs import check_training_data

    x = ar1(300)[:, None]
    ARMADetector(arma_config()).fit(x.astype("float32"), tmp_path)
    check_training_data(tmp_path, x)  # what detect.py checks: no "other training data"
    with pytest.raises(UserError, match="was trained on other training data"):
        check_training_data(tmp_path, x + 1e-3)


def test_a_fit_from_python_refused_before_training_does_not_record_its_keys_for_the_next_fit(tmp_path):
    """A fit refused before it trained anything (here on the line's own advice) had written its config.json, and the
    next fit, into that folder that holds no training, kept it: the run trained with arma_max_train_points 500 was
    then refused by detect.py as 'trained with arma_max_train_points=2'. The fit that trains records its keys."""
    from vae_lstm.runs import check_run_config

    x = ar1(1500)[:, None]
    with pytest.raises(UserError, match="set it to at least 3"):
        ARMADetector(arma_config(arma_max_train_points=2)).fit(x, tmp_path)
    ARMADetector(arma_config(arma_max_train_points=500)).fit(x, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["arma_max_train_points"] == 500
    check_run_config(arma_config(arma_max_train_points=500, n_channel=1), tmp_path)  # no "was trained with ..."


def test_arma_load_without_fit_is_a_user_error(tmp_path):
    with pytest.raises(UserError):
        ARMADetector(arma_config()).load(tmp_path / "nothing")


def test_arma_parameters_of_another_order_are_a_user_error(tmp_path):
    ARMADetector(arma_config()).fit(ar1(1500)[:, None], tmp_path)
    (tmp_path / "arma.json").write_text(json.dumps({"p": 1}))  # valid JSON, not what a fit writes
    with pytest.raises(UserError, match="holds an ARIMA of order None for 0 channel.*to fit it afresh there, set \"load_model\": 1, \"load_dir\""):
        ARMADetector(arma_config()).load(tmp_path)


def test_arma_parameters_fitted_at_another_order_are_a_user_error(tmp_path):
    """A real fit of AR(1), loaded by a config that asks for AR(2): refused, not scored with the wrong model."""
    ARMADetector(arma_config()).fit(ar1(1500)[:, None], tmp_path)
    with pytest.raises(UserError, match=r"order \[1, 0, 0\] for 1 channel.*asks for order \[2, 0, 0\] on 1"):
        ARMADetector(arma_config(arma_p=2)).load(tmp_path)


# ---------------------------------------------------------------------------------------------
# lstm_ae, lstm_vae, lstm_ad: tiny fits on a sine with a spike

TINY = {"l_win": 16, "n_channel": 1, "code_size": 4, "num_hidden_units_lstm": 16, "batch_size_lstm": 32,
        "learning_rate_lstm": 0.01, "val_fraction": 0.2, "seed": 0, "score_batch_size": 256,
        "prediction_horizon": 3, "beta": 0.1}
EPOCHS = {"lstm_ae": 6, "lstm_vae": 6, "lstm_ad": 4}
FILES = {"lstm_ae": ["lstm_ae.keras"], "lstm_vae": ["lstm_vae.keras"],
         "lstm_ad": ["lstm_ad.keras", "lstm_ad_gaussian.npz"]}


def sine_data(n_channel=1, n_train=1200, n_test=600, seed=0, spike_at=SPIKE_AT):
    """Standardised (with the training block's mean and std) train and test sines with a spike in test."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_train + n_test)
    phases = np.arange(n_channel) * 1.3
    x = np.sin(2 * np.pi * t[:, None] / PERIOD + phases) + 0.05 * rng.standard_normal((len(t), n_channel))
    train, test = x[:n_train], x[n_train:].copy()
    mean, std = train.mean(axis=0), train.std(axis=0)
    train, test = (train - mean) / std, (test - mean) / std
    test[spike_at, n_channel - 1] += SPIKE  # in the last channel
    return train.astype("float32"), test.astype("float32")


def tiny_config(name, **changes):
    return from_dict({**TINY, "detector": name, "num_epochs_lstm": EPOCHS[name], **changes})


@pytest.fixture(scope="module", params=["lstm_ae", "lstm_vae", "lstm_ad"])
def fitted(request, tmp_path_factory):
    name = request.param
    config = tiny_config(name)
    run = tmp_path_factory.mktemp(name)
    train, test = sine_data()
    keras.utils.set_random_seed(0)
    detector = detector_class(name)(config)
    detector.fit(train, run)
    return {"name": name, "config": config, "run": run, "detector": detector, "train": train, "test": test,
            "scores": detector.score(test)}


def log_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_fit_saves_the_trained_files(fitted):
    name, run = fitted["name"], fitted["run"]
    for file in FILES[name]:
        assert (run / file).is_file()
    assert fitted["detector"].trained_files == tuple(FILES[name])
    assert fitted["detector"].is_trained(run)
    assert json.loads((run / "state.json").read_text())[name] == EPOCHS[name]
    assert len(log_rows(run / f"{name}_log.csv")) == EPOCHS[name]
    assert (run / "figures" / f"{name}_loss.png").is_file()


@pytest.mark.slow
def test_scores_one_per_point_and_spike_on_top(fitted):
    name, config, scores, test = fitted["name"], fitted["config"], fitted["scores"], fitted["test"]
    assert scores.points.shape == (len(test),)
    if name == "lstm_ad":
        warm_up = config.l_win + config.prediction_horizon - 1
        assert np.isnan(scores.points[:warm_up]).all() and np.isfinite(scores.points[warm_up:]).all()
        assert scores.native_span == 1
        top = int(np.nanargmax(scores.points))
        assert SPIKE_AT <= top <= SPIKE_AT + config.l_win + config.prediction_horizon
        # the LSTM learnt the sine: one-step predictions away from the spike are close
        normal = np.r_[config.l_win:SPIKE_AT - 1, SPIKE_AT + config.l_win + 5:len(test)]
        assert np.mean(np.square(scores.extras["prediction"][normal] - test[normal])) < 0.1
    else:
        assert np.isfinite(scores.points).all()
        assert scores.native_span == config.l_win and len(scores.native) == len(test) - config.l_win + 1
        top = int(np.argmax(scores.native))  # window covering [top, top + l_win - 1]
        assert top <= SPIKE_AT <= top + config.l_win - 1
        assert int(np.argmax(scores.points)) in range(SPIKE_AT - config.l_win + 1, SPIKE_AT + 1)
        # the model learnt the sine: windows away from the spike are rebuilt well
        far = np.r_[0:SPIKE_AT - config.l_win - 1, SPIKE_AT + 2:len(scores.native)]
        assert np.median(scores.native[far]) < 0.1


@pytest.mark.slow
def test_load_gives_the_same_scores(fitted):
    fresh = detector_class(fitted["name"])(fitted["config"])
    fresh.load(fitted["run"])
    np.testing.assert_allclose(fresh.score(fitted["test"]).points, fitted["scores"].points, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_second_fit_trains_nothing_more(fitted, monkeypatch):
    from vae_lstm import training

    name, run = fitted["name"], fitted["run"]
    stamps = {file: (run / file).stat().st_mtime_ns for file in FILES[name]}
    rows = log_rows(run / f"{name}_log.csv")
    again = detector_class(name)(fitted["config"])
    # a finished stage copies no training window: not refused for windows larger than the memory available
    copies = []
    monkeypatch.setattr(training, "aligned_empty", lambda *a, f=training.aligned_empty: copies.append(a) or f(*a))
    monkeypatch.setattr(training, "available_memory", lambda: 1)
    again.fit(fitted["train"], run)
    assert not copies
    monkeypatch.undo()
    assert {file: (run / file).stat().st_mtime_ns for file in FILES[name]} == stamps
    assert log_rows(run / f"{name}_log.csv") == rows
    assert json.loads((run / "state.json").read_text())[name] == EPOCHS[name]
    np.testing.assert_allclose(again.score(fitted["test"]).points, fitted["scores"].points, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_train_lstm_off_loads_the_saved_model(fitted, tmp_path):
    name = fitted["name"]
    skip = detector_class(name)(fitted["config"].replace(TRAIN_LSTM=0))
    skip.fit(fitted["train"], fitted["run"])
    np.testing.assert_allclose(skip.score(fitted["test"]).points, fitted["scores"].points, rtol=1e-5, atol=1e-6)
    with pytest.raises(UserError):  # nothing to load in an empty folder
        detector_class(name)(fitted["config"].replace(TRAIN_LSTM=0)).fit(fitted["train"], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("fitted", ["lstm_ad"], indirect=True)
def test_lstm_ad_gaussian_is_fitted_on_the_validation_points(fitted):
    config, run, train = fitted["config"], fitted["run"], fitted["train"]
    l_win, h = config.l_win, config.prediction_horizon
    _, idx_val = train_val_split(len(train) - l_win - h + 1, config.val_fraction, config.seed)
    expected = idx_val[idx_val >= h - 1] + l_win  # the point right after each held-out input window
    with np.load(run / "lstm_ad_gaussian.npz") as saved:
        np.testing.assert_array_equal(saved["validation_points"], expected)
        mu, sigma = saved["mu"], saved["sigma"]
    errors = error_vectors(train, predict_all(fitted["detector"].model, train, l_win, 256), l_win)
    want_mu, want_sigma = fit_gaussian(errors[expected])
    np.testing.assert_allclose(mu, want_mu, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sigma, want_sigma, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lstm_ad", "lstm_vae"])
def test_two_channels(name, tmp_path):
    train, test = sine_data(n_channel=2, n_train=600, n_test=300, seed=1, spike_at=150)
    config = tiny_config(name, n_channel=2, num_epochs_lstm=1)
    keras.utils.set_random_seed(0)
    detector = detector_class(name)(config)
    detector.fit(train, tmp_path)
    scores = detector.score(test)
    assert scores.points.shape == (len(test),)
    if name == "lstm_ad":
        assert detector.mu.shape == (config.prediction_horizon * 2,)
        assert detector.sigma.shape == (config.prediction_horizon * 2,) * 2
        assert scores.extras["prediction"].shape == test.shape
        assert np.isfinite(scores.points[config.l_win + config.prediction_horizon - 1:]).all()
    else:
        assert np.isfinite(scores.points).all()
    fresh = detector_class(name)(config)
    fresh.load(tmp_path)
    np.testing.assert_allclose(fresh.score(test).points, scores.points, rtol=1e-5, atol=1e-6)


def test_lstm_ad_needs_training_pairs_and_a_test_piece_it_can_score():
    """LSTM-AD's samples are l_win points in and prediction_horizon out: a horizon that leaves no pair to train on,
    or no test point with all its predictions, is one line before training (it trained on nothing before)."""
    from vae_lstm.data_loader import load_series
    from vae_lstm.errors import UserError
    from vae_lstm.prepare import check_scorable
    from vae_lstm.runs import check_training_sizes

    config = from_dict({"dataset": "synthetic", "detector": "lstm_ad", "l_win": 24, "l_seq": 4,
                        "prediction_horizon": 577})
    with pytest.raises(UserError, match="leave 0 training pair.*make l_win or prediction_horizon smaller"):
        check_training_sizes(config, 600)
    with pytest.raises(UserError, match="leave 1 training pair"):
        check_training_sizes(config.replace(prediction_horizon=576), 600)
    check_training_sizes(config.replace(prediction_horizon=500), 600)  # 77 pairs
    series = load_series("synthetic")  # test piece of 2,000 points
    wide = config.replace(l_win=1000, l_seq=2, prediction_horizon=1001)
    with pytest.raises(UserError, match="long enough for lstm_ad to score a point"):
        check_scorable(wide, series)
    check_scorable(wide.replace(prediction_horizon=1000), series)
    check_scorable(wide.replace(detector="vae_lstm"), series)  # the horizon is LSTM-AD's alone


@pytest.mark.parametrize("detector", ["vae_lstm", "lstm_ad"])
@pytest.mark.parametrize("val_fraction, fix", [(0.0001, "raise val_fraction, which leaves too few to validate on"),
                                               (0.9999, "lower val_fraction, which leaves too few to train on")])
def test_a_val_fraction_that_leaves_too_few_to_split_says_so(detector, val_fraction, fix):
    """val_fraction 0.0001 on 1,905 sequences leaves 1 to validate on; the line said to make l_win or l_seq
    smaller, which does not help, rather than to change val_fraction."""
    from vae_lstm.errors import UserError
    from vae_lstm.runs import check_training_sizes

    config = from_dict({"dataset": "synthetic", "detector": detector, "l_win": 24, "l_seq": 4,
                        "val_fraction": val_fraction})
    with pytest.raises(UserError) as info:
        check_training_sizes(config, 2000)
    assert str(info.value).endswith(f"{fix} (the default, 0.1, splits them)"), str(info.value)
    check_training_sizes(config.replace(val_fraction=0.1), 2000)


def test_a_training_block_too_short_for_the_smallest_windows_asks_for_more_points():
    from vae_lstm.errors import UserError
    from vae_lstm.runs import check_training_sizes

    config = from_dict({"dataset": "synthetic", "l_win": 8, "l_seq": 2})
    with pytest.raises(UserError, match="already the smallest .*give the training block more points"):
        check_training_sizes(config, 25)
    with pytest.raises(UserError, match="needed: make l_win smaller$"):  # l_seq 2 cannot be smaller
        check_training_sizes(config.replace(l_win=24), 50)
    with pytest.raises(UserError, match="needed: make l_seq smaller$"):  # l_win 8 cannot
        check_training_sizes(config.replace(l_seq=6), 50)
    with pytest.raises(UserError, match="needed: make l_win or l_seq smaller$"):
        check_training_sizes(config.replace(l_win=12, l_seq=4), 50)
    check_training_sizes(config, 26)


@pytest.mark.parametrize("name, n_points, left", [("lstm_ae", 16, "0 sequences"), ("vae_lstm", 48, "1 sequence"),
                                                   ("lstm_vae", 50, "3 sequences")])
def test_fit_on_too_few_points_to_train_and_validate_is_one_line(name, n_points, left, tmp_path):
    """fit from Python on a series too short for one training sample (lstm_ae on exactly l_win points, vae_lstm on
    one sequence) failed with numpy's "Number of columns must be a positive integer, not 0"; the commands refuse
    it in runs.check_training_sizes. A detector that trains a Keras model on a training/validation split now
    refuses it in fit too, in that line, which names the series given to fit rather than the config's dataset
    (not the data here). ARMA, which splits nothing, fits such a series as before."""
    config = from_dict({"detector": name, "l_win": 16, "l_seq": 3, "code_size": 2, "num_hidden_units": 16,
                        "num_hidden_units_lstm": 8, "num_epochs_vae": 1, "num_epochs_lstm": 1})
    n_seq = max(n_points - 47, 0)
    n_train = len(train_val_split(n_seq, 0.1, 0)[0])
    with pytest.raises(UserError) as refused:
        detector_class(name)(config).fit(np.sin(np.arange(n_points) / 3.0)[:, None], tmp_path / "run")
    assert str(refused.value) == (
        f"config: sequences of l_win * l_seq = 48 points leave {left} in the {n_points}-point training series given "
        f"to fit: {n_train} to train on and {n_seq - n_train} to validate on (val_fraction 0.1); at least 2 of each "
        "are needed: make l_win or l_seq smaller")
    assert not (tmp_path / "run").exists()  # refused before anything is written
    ARMADetector(arma_config(l_win=16, l_seq=3)).fit(ar1(n_points)[:, None], tmp_path / "arma")


@pytest.mark.parametrize("name, n_segments, samples, n_train", [("vae_lstm", 1, 1, 0), ("vae_lstm", 2, 2, 1),
                                                                ("vae", 1, 3, 2), ("lstm_ae", 1, 3, 2),
                                                                ("lstm_vae", 2, 6, 5)])
def test_fit_on_too_few_segments_to_train_and_validate_is_one_line(name, n_segments, samples, n_train, tmp_path):
    """Segments (a 3-D array) of one l_win * l_seq = 48-point sequence each, windows at stride 16: fit from Python
    trained vae_lstm's LSTM on no sequence (Keras: "Your input ran out of data"), then failed drawing its loss curves
    (matplotlib's "Number of columns must be a positive integer, not 0"); train.py refuses such a split of the
    segments in one line (beats.check_sizes), and fit now does too, before anything is written."""
    config = from_dict({"detector": name, "l_win": 16, "l_seq": 3, "code_size": 2, "num_hidden_units": 16,
                        "num_hidden_units_lstm": 16, "num_epochs_vae": 1, "num_epochs_lstm": 1, "window_stride": 16})
    segments = np.sin(np.arange(n_segments * 48) / 3.0).reshape(n_segments, 48, 1)
    with pytest.raises(UserError) as refused:
        detector_class(name)(config).fit(segments, tmp_path / "run")
    assert str(refused.value) == (
        f"{n_segments} training segment{'s' if n_segments > 1 else ''} given to fit give {samples} training "
        f"sample{'s' if samples > 1 else ''}: {n_train} to train on and {samples - n_train} to validate on "
        "(val_fraction 0.1); at least 2 of each are needed")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_vae_lstm_fits_a_one_dimensional_series(tmp_path):
    """A (n,) training series is one channel, as score takes it: fit trained both stages, then failed drawing the
    LSTM's figure (an IndexError on the 1-D series)."""
    train, test = sine_data(n_train=300, n_test=120, spike_at=60)
    config = from_dict({"detector": "vae_lstm", "l_win": 8, "l_seq": 3, "code_size": 2, "num_hidden_units": 16,
                        "num_hidden_units_lstm": 8, "num_epochs_vae": 1, "num_epochs_lstm": 1, "seed": 0})
    keras.utils.set_random_seed(0)
    detector = detector_class("vae_lstm")(config)
    detector.fit(train[:, 0].astype("float64"), tmp_path)
    assert (tmp_path / "figures" / "lstm_long_sequence.png").is_file()
    scores = detector.score(test[:, 0])
    assert scores.points.shape == (len(test),) and np.isfinite(scores.points).all()


@pytest.mark.slow
def test_a_neural_fit_makes_its_run_folder_as_arma_does(tmp_path):
    """fit(train, run_dir) into a folder not made yet: arma made it, the neural detectors failed writing
    state.json.tmp (FileNotFoundError)."""
    train, _ = sine_data(n_train=300, n_test=60, spike_at=30)
    run = tmp_path / "new" / "run"
    keras.utils.set_random_seed(0)
    detector = detector_class("lstm_ae")(tiny_config("lstm_ae", num_epochs_lstm=1))
    detector.fit(train, run)
    assert (run / "lstm_ae.keras").is_file()


def test_arma_refuses_a_series_with_other_channels_than_it_fitted(tmp_path):
    """Fitted on one channel, arma scored only the first channel of a two-channel series: an anomaly in the other
    went unseen. Fewer channels than fitted was an IndexError."""
    from vae_lstm.errors import DataError

    detector = ARMADetector(arma_config())
    detector.fit(ar1(600)[:, None], tmp_path)
    two = np.stack([ar1(200), ar1(200)], axis=1)
    with pytest.raises(DataError, match="series of 2 channel.*fitted on 1"):
        detector.score(two)
    assert detector.score(two[:, 0]).points.shape == (200,)
    two_channel = ARMADetector(arma_config(n_channel=2))
    two_channel.fit(two, tmp_path / "two")
    with pytest.raises(DataError, match="series of 1 channel.*fitted on 2"):
        two_channel.score(two[:, :1])


@pytest.mark.parametrize("name", ["lstm_ae", "lstm_vae", "lstm_ad", "vae", "vae_lstm"])
def test_a_neural_detector_refuses_a_series_with_other_channels_than_its_model(name):
    """A one-channel model scoring a two-channel series (or calibrating on one) was a Keras shape error
    ("Dimensions must be equal ...") many lines long."""
    from vae_lstm.detectors.lstm_ad import build_lstm_ad
    from vae_lstm.detectors.lstm_ae import build_lstm_ae
    from vae_lstm.detectors.lstm_vae import LSTMVAE
    from vae_lstm.errors import DataError
    from vae_lstm.models import VAE, build_lstm

    config = from_dict({"detector": name, "l_win": 8, "l_seq": 2, "code_size": 2, "num_hidden_units": 16,
                        "num_hidden_units_lstm": 4, "prediction_horizon": 1, "point_score": "balanced"})
    detector = detector_class(name)(config)
    if name in ("vae", "vae_lstm"):
        detector.vae, detector.lstm = VAE(8, 1, 2, 16), build_lstm(2, 2, 4)
    else:
        detector.model = {"lstm_ae": lambda: build_lstm_ae(8, 1, 2, 4), "lstm_vae": lambda: LSTMVAE(8, 1, 2, 4),
                          "lstm_ad": lambda: build_lstm_ad(8, 1, 1, 4)}[name]()
        detector.mu, detector.sigma = np.zeros(1), np.eye(1)
    two = np.zeros((40, 2), "float32")
    with pytest.raises(DataError, match=rf"^series of 2 channel\(s\); {name} was fitted on 1$"):
        detector.score(two)
    if name == "vae_lstm":
        with pytest.raises(DataError, match=r"^series of 2 channel\(s\); vae_lstm was fitted on 1$"):
            detector.calibrate(two)
        detector.calibrate(two[:, :1])
    assert detector.score(two[:, :1]).points.shape == (40,)


def saved_run(name, run, config):
    """A run folder holding what ``name``'s fit saves (its models built from ``config``, not trained)."""
    from vae_lstm.detectors.lstm_ad import GAUSSIAN_FILE, LSTMADModel
    from vae_lstm.detectors.lstm_ae import LSTMAEModel
    from vae_lstm.detectors.lstm_vae import LSTMVAEModel
    from vae_lstm.detectors.vae_lstm import LSTMModel, VAEModel

    run.mkdir()
    models = {"vae_lstm": [VAEModel, LSTMModel], "vae": [VAEModel], "lstm_ae": [LSTMAEModel],
              "lstm_vae": [LSTMVAEModel], "lstm_ad": [LSTMADModel]}[name]
    for model in models:
        stage = model(config, run)
        stage.build_compiled(1)
        stage.save(0)
    if name == "lstm_ad":
        d = config.prediction_horizon * config.n_channel
        np.savez(run / GAUSSIAN_FILE, mu=np.zeros(d), sigma=np.eye(d))
    return run


def saved_tiny_run(name, tmp_path):
    """A tiny run of ``name`` (l_win 8, l_seq 2, widths 16 and 4) saved and loaded back under its own config."""
    config = from_dict({"detector": name, "l_win": 8, "l_seq": 2, "n_channel": 1, "code_size": 2,
                        "num_hidden_units": 16, "num_hidden_units_lstm": 4, "prediction_horizon": 1})
    run = saved_run(name, tmp_path / "run", config)
    detector_class(name)(config).load(run)
    return config, run


@pytest.mark.parametrize("name, key, other", [("lstm_ae", "l_win", 16), ("lstm_vae", "l_win", 16),
                                              ("lstm_ad", "l_win", 16), ("vae", "l_win", 16),
                                              ("vae_lstm", "l_win", 16), ("vae_lstm", "l_seq", 3),
                                              ("lstm_ad", "prediction_horizon", 2)])
def test_load_with_other_windows_than_the_run_was_trained_with_is_one_line(name, key, other, tmp_path):
    """A run trained with l_win 8 (l_seq 2) loaded under a config of l_win 16 (or, for the VAE-LSTM's LSTM, l_seq
    3) loaded without a word, then calibrate or score failed inside Keras: "Input 0 with name 'window' of layer
    'encoder' is incompatible with the layer: expected shape=(None, 8, 1), found shape=(None, 16)". LSTM-AD under
    another prediction_horizon was a ValueError about its Gaussian's dimensions."""
    config, run = saved_tiny_run(name, tmp_path)  # loads under its own windows
    with pytest.raises(UserError, match=rf"^run folder {run} holds a {name} trained with {key} = {config[key]}; the "
                                        rf"config's {key} is {other}: load it with the config it was trained with$"):
        detector_class(name)(config.replace(**{key: other})).load(run)


@pytest.mark.parametrize("name, key, other, stage", [
    ("vae", "num_hidden_units", 32, "vae"), ("vae_lstm", "code_size", 3, "vae"),
    ("vae_lstm", "num_hidden_units_lstm", 8, "lstm"), ("lstm_ae", "code_size", 3, "lstm_ae"),
    ("lstm_vae", "num_hidden_units_lstm", 8, "lstm_vae"), ("lstm_ad", "num_hidden_units_lstm", 8, "lstm_ad")])
def test_load_with_other_widths_than_the_run_was_built_with_is_one_line(name, key, other, stage, tmp_path):
    """A checkpoint was loaded as it was saved, whatever widths the config gives: a run folder whose config.json was
    edited went on (or was scored) with the checkpoint's model, not the config's. Now one line names what differs."""
    config, run = saved_tiny_run(name, tmp_path)  # loads under its own widths
    with pytest.raises(UserError, match=rf"^checkpoint {run / stage}.keras was built with {key}={config[key]} \(the "
                                        rf"config says {other}\): not the {stage} this config builds"):
        detector_class(name)(config.replace(**{key: other})).load(run)


@pytest.mark.parametrize("name, stage", [("vae", "vae"), ("vae_lstm", "lstm"), ("lstm_ad", "lstm_ad")])
def test_a_checkpoint_of_nan_weights_is_refused_in_one_line(name, stage, tmp_path):
    """A checkpoint whose weights went NaN (a training that diverged) was loaded as it was: detection scored NaN,
    lstm_ad's fit stopped with a ValueError traceback ("no finite error vectors to fit the Gaussian to") when its
    Gaussian was fitted again, and the VAE-LSTM's LSTM trained on NaN codes of its VAE, then stopped blaming
    learning_rate_lstm. Now loading it says so in one line, naming the checkpoint and the rate to lower."""
    from vae_lstm.detectors import lstm_ad, vae_lstm

    config = from_dict({"detector": name, "l_win": 8, "l_seq": 2, "n_channel": 1, "code_size": 2,
                        "num_hidden_units": 16, "num_hidden_units_lstm": 4, "prediction_horizon": 1})
    run = saved_run(name, tmp_path / "run", config)
    model_class = {"vae": vae_lstm.VAEModel, "lstm": vae_lstm.LSTMModel, "lstm_ad": lstm_ad.LSTMADModel}[stage]
    model = model_class(config, run)
    weights = model.build_compiled(1).get_weights()
    k = next(i for i, w in enumerate(weights) if w.size > 2)  # the VAE's first weight is its one sigma
    weights[k] = weights[k].copy()
    weights[k].flat[[0, 2]] = [np.nan, np.inf]
    model.model.set_weights(weights)
    model.save(3)
    total = sum(w.size for w in weights)
    rate = "learning_rate_vae" if stage == "vae" else "learning_rate_lstm"
    line = (rf"^checkpoint {run / stage}.keras holds 2 NaN/inf weight\(s\) of its {total} \(the training of its 3 "
            rf"epochs diverged\): train the {stage} afresh in a new run folder \(load_model: 0; in an experiment, "
            rf"another output_dir or move this run folder away\), with a lower {rate} \(now {config[rate]}\)$")
    with pytest.raises(UserError, match=line):
        detector_class(name)(config).load(run)
    with pytest.raises(UserError, match=line):  # resumed by a fit
        model_class(config, run).load(resume=True)


@pytest.mark.parametrize("name", ["lstm_ae", "arma"])
def test_fit_refuses_training_data_with_other_channels_than_the_config_names(name, tmp_path):
    """n_channel 1 and a two-channel training block: the neural detectors failed inside Keras's fit with a shape
    error; now one line before anything trains, as the commands say it."""
    from vae_lstm.errors import DataError

    config = from_dict({"detector": name, "n_channel": 1, "l_win": 8, "num_epochs_lstm": 1, "arma_p": 1})
    with pytest.raises(DataError, match=r"^training data of 2 channel\(s\); the config's n_channel is 1: leave "
                                        r"n_channel out \(or null\) to follow the data$"):
        detector_class(name)(config).fit(np.zeros((100, 2), "float32"), tmp_path)
    assert not (tmp_path / "state.json").exists()


def test_arma_with_n_channel_unset_fits_and_loads_the_channels_of_its_data(tmp_path):
    """arma fitted a two-channel block with n_channel unset (taken as 1), then its own arma.json was refused on
    load ("holds an ARIMA ... for 2 channel(s); the config asks for ... on 1") and every fit fitted afresh."""
    config = from_dict({"detector": "arma", "arma_p": 1, "arma_q": 0})
    two = np.stack([ar1(300, seed=1), ar1(300, seed=2)], axis=1)
    fitted = ARMADetector(config)
    fitted.fit(two, tmp_path)
    assert fitted.config.n_channel == 2
    loaded = ARMADetector(config)
    loaded.load(tmp_path)
    np.testing.assert_array_equal(loaded.score(two).points, fitted.score(two).points)
    stamp = (tmp_path / "arma.json").stat().st_mtime_ns
    ARMADetector(config).fit(two, tmp_path)  # fitted already: nothing is fitted again
    assert (tmp_path / "arma.json").stat().st_mtime_ns == stamp


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lstm_ae", "lstm_ad"])
def test_a_neural_detector_with_n_channel_unset_trains_on_the_channels_of_its_data(name, tmp_path):
    """n_channel unset and a two-channel training block: the model was built for one channel, and Keras's fit
    failed with a shape error (lstm_ad's still did, and its load refused its own two-channel Gaussian: "the config
    needs 1 (prediction_horizon * n_channel)")."""
    train, test = sine_data(n_channel=2, n_train=200, n_test=60, spike_at=30)
    config = from_dict({"detector": name, "l_win": 8, "code_size": 2, "num_hidden_units_lstm": 4,
                        "num_epochs_lstm": 1, "seed": 0})
    keras.utils.set_random_seed(0)
    detector = detector_class(name)(config)
    detector.fit(train, tmp_path)
    assert detector.config.n_channel == 2
    loaded = detector_class(name)(config)
    loaded.load(tmp_path)
    assert loaded.config.n_channel == 2
    np.testing.assert_array_equal(loaded.score(test).points, detector.score(test).points)


@pytest.mark.parametrize("name", ["lstm_ae", "vae_lstm", "arma"])
def test_fit_refuses_training_data_with_nan_in_one_line(name, tmp_path):
    """A NaN in the training block made the neural fits stop with "the loss is nan ... (the model diverged); train
    with a lower learning rate", which points away from the cause; arma fitted on it as if it were missing."""
    from vae_lstm.errors import DataError

    train = np.sin(np.arange(300) / 3.0)[:, None]
    train[100] = np.nan
    config = from_dict({"detector": name, "l_win": 8, "l_seq": 2, "num_epochs_vae": 1, "num_epochs_lstm": 1})
    with pytest.raises(DataError, match=r"^training data holds 1 NaN/inf value\(s\), the first at point 100$"):
        detector_class(name)(config).fit(train, tmp_path)
    segments = np.zeros((3, 16, 1))
    segments[2, 5] = np.inf
    if name != "arma":  # segments: the neural detectors only
        with pytest.raises(DataError, match=r"holds 1 NaN/inf value\(s\), the first at segment 2, point 5$"):
            detector_class(name)(config).fit(segments, tmp_path)
    assert not (tmp_path / "state.json").exists()


@pytest.mark.parametrize("name", ["abs_z", "random", "arma"])
def test_score_refuses_a_series_with_nan_in_one_line(name, tmp_path):
    """A NaN in a series to score gave a random score (random), a NaN score (abs_z), or arma's Kalman filter took it
    for a missing value: nothing said the series was broken."""
    from vae_lstm.errors import DataError

    detector = detector_class(name)(arma_config(detector=name))
    if name == "arma":
        detector.fit(ar1(300)[:, None], tmp_path)
    series = ar1(100)[:, None]
    series[[40, 60]] = np.nan
    with pytest.raises(DataError, match=r"^series holds 2 NaN/inf value\(s\), the first at point 40$"):
        detector.score(series)


@pytest.mark.parametrize("name", ["vae_lstm", "arma"])
def test_fit_refuses_a_value_too_large_for_float32_scores_in_one_line(name, tmp_path):
    """A finite 1e39 in the training block overflowed float32: vae_lstm stopped with "the loss is nan ... (the model
    diverged); train with a lower learning_rate_vae", which points away from the cause."""
    from vae_lstm.errors import DataError

    train = np.sin(np.arange(300) / 3.0)[:, None]
    train[100] = 1e39
    config = from_dict({"detector": name, "l_win": 8, "l_seq": 2, "num_epochs_vae": 1, "num_epochs_lstm": 1})
    with pytest.raises(DataError, match=r"^training data holds 1 value\(s\) beyond 1e\+12 in size, the first 1e\+39 at "
                                        r"point 100: a detector takes the training-standardised series, where such a "
                                        r"value is a data error \(a wrong unit or a sentinel\), too large for float32 "
                                        r"scores$"):
        detector_class(name)(config).fit(train, tmp_path)
    assert not (tmp_path / "state.json").exists()


@pytest.mark.parametrize("name", ["vae_lstm", "arma"])
def test_fit_refuses_a_channel_whose_variation_float32_loses_in_one_line(name, tmp_path):
    """A training block not standardised, 1.7e9 + 1e-3 sin(t) (an epoch-like offset), is constant in the float32 copy
    the detectors fit: arma's scores were all equal, vae_lstm's nearly so, and nothing said why."""
    from vae_lstm.errors import DataError

    train = 1.7e9 + 1e-3 * np.sin(np.arange(300) / 3.0)[:, None]
    config = from_dict({"detector": name, "l_win": 8, "l_seq": 2, "num_epochs_vae": 1, "num_epochs_lstm": 1})
    with pytest.raises(DataError, match=r"^training data: channel 0 varies by only 0\.002 at values near 1\.7e\+09, "
                                        r"within float32 rounding there \(at most 4 steps\), and the detectors compute "
                                        r"in float32: fit takes the training-standardised series \(minus the training "
                                        r"block's mean, over its standard deviation\)$"):
        detector_class(name)(config).fit(train, tmp_path)
    assert not (tmp_path / "state.json").exists()


@pytest.mark.parametrize("name", ["abs_z", "random", "arma"])
def test_score_refuses_a_value_too_large_for_float32_scores_in_one_line(name, tmp_path):
    """A finite 1e39 in a series to score was called a NaN/inf value (its float32 copy was inf), with a RuntimeWarning;
    1e30 squared to inf in vae_lstm's float32 sequence scores."""
    from vae_lstm.errors import DataError

    detector = detector_class(name)(arma_config(detector=name))
    if name == "arma":
        detector.fit(ar1(300)[:, None], tmp_path)
    series = ar1(100)[:, None]
    series[[40, 60]] = [[-1e39], [1e30]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=r"^series holds 2 value\(s\) beyond 1e\+12 in size, the first -1e\+39 at "
                                            r"point 40: a detector takes"):
            detector.score(series)


@pytest.mark.parametrize("name", ["abs_z", "random"])
def test_score_refuses_an_array_that_is_not_one_series(name):
    """Three segments of 50 points (a 3-D array) got 3 x 1 'point' scores from abs_z and 3 from random, silently;
    a single number was "len() of unsized object"."""
    from vae_lstm.errors import DataError

    detector = detector_class(name)(from_dict({"detector": name}))
    with pytest.raises(DataError, match=r"^an array of shape \(3, 50, 1\) is not one series, \(n,\) or "
                                        r"\(n, n_channel\): join segments end to end to score them$"):
        detector.score(np.zeros((3, 50, 1)))
    with pytest.raises(DataError, match=r"^an array of shape \(\) is not one series"):
        detector.score(1.0)


@pytest.mark.parametrize("name, call", [("random", "score"), ("abs_z", "score"), ("arma", "fit"), ("lstm_ae", "fit")])
def test_a_series_of_no_channel_is_one_line(name, call, tmp_path):
    """A DataFrame of no column (an empty selection of columns): random scored it, abs_z failed in NumPy ("zero-size
    array to reduction operation maximum which has no identity"), and fit in "cannot reshape array of size 0"."""
    from vae_lstm.errors import DataError

    detector = detector_class(name)(from_dict({"detector": name, "l_win": 8, "l_seq": 2, "arma_p": 1}))
    what = "training data" if call == "fit" else "series"
    with pytest.raises(DataError, match=rf"^{what} has no channel \(shape \(100, 0\)\)$"):
        detector.fit(np.zeros((100, 0)), tmp_path / "run") if call == "fit" else detector.score(np.zeros((100, 0)))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("call", ["score", "fit"])
@pytest.mark.parametrize("times, shown", [(lambda t: t, "Timestamp('2020-01-01 02:00:00')"),
                                          (lambda t: t.astype(str), "'2020-01-01 02:00:00'")])
def test_a_dataframe_with_its_timestamp_column_is_one_line_naming_the_value(call, times, shown, tmp_path):
    """A DataFrame given with its timestamp column (as read from a CSV) failed in NumPy's conversion: "float()
    argument must be a string or a real number, not 'Timestamp'", or "could not convert string to float"."""
    import pandas as pd

    from vae_lstm.errors import DataError

    frame = pd.DataFrame({"value": np.arange(100.0), "timestamp": times(pd.date_range("2020", periods=100, freq="h"))})
    detector = ARMADetector(arma_config()) if call == "fit" else detector_class("abs_z")(arma_config(detector="abs_z"))
    what = "training data" if call == "fit" else "series"
    with pytest.raises(DataError, match=rf"^{what} holds a value that is not a number, the first at point 0, channel 1: "
                                        rf"{re.escape(shown)}; give the value columns alone \(no time or text column\)$"):
        detector.fit(frame.iloc[2:], tmp_path / "run") if call == "fit" else detector.score(frame.iloc[2:])
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("call", ["score", "fit"])
@pytest.mark.parametrize("dtype", ["Int64", "Float64"])
def test_a_missing_value_of_a_nullable_column_is_called_missing(call, dtype, tmp_path):
    """A DataFrame of pandas' nullable dtypes (read_csv(dtype_backend="numpy_nullable"), convert_dtypes()) holds a
    missing value as <NA>: it was called "a value that is not a number", with the advice to leave out time and text
    columns, which the frame does not have."""
    import pandas as pd

    from vae_lstm.errors import DataError

    frame = pd.DataFrame({"a": np.arange(100.0) % 7, "value": pd.array([1, 4, None, 2] * 25, dtype=dtype)})
    detector = ARMADetector(arma_config(n_channel=2)) if call == "fit" else \
        detector_class("abs_z")(arma_config(detector="abs_z", n_channel=2))
    what = "training data" if call == "fit" else "series"
    with pytest.raises(DataError, match=rf"^{what} holds 25 NaN/inf value\(s\), the first at point 2$"):
        detector.fit(frame, tmp_path / "run") if call == "fit" else detector.score(frame)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["arma", "lstm_ae", "lstm_vae", "lstm_ad", "vae", "vae_lstm"])
def test_score_before_fit_or_load_says_so(name):
    """score on a detector that was neither fitted nor loaded failed with "object of type 'NoneType' has no len()"
    (arma) or "'NoneType' object has no attribute ..." (the neural detectors)."""
    detector = detector_class(name)(from_dict({"detector": name, "l_win": 8, "l_seq": 2}))
    with pytest.raises(UserError, match=rf"^{name} is not trained: call fit\(train_series, run_dir\) or "
                                        r"load\(run_dir\) first$"):
        detector.score(np.zeros(40))
    if name == "vae_lstm":
        with pytest.raises(UserError, match="vae_lstm is not trained"):
            detector.calibrate(np.zeros(40))


def test_a_fit_from_python_is_scored_by_detect_and_resumes_for_more_epochs(tmp_path):
    """A run fitted from Python was never marked fitted, so detect.py refused it as 'has not finished training';
    and a second fit for more epochs left config.json at the first fit's count, so train.py and detect.py with the
    config of the second refused the folder as trained with other values. Fewer epochs than trained are refused."""
    from vae_lstm.runs import check_run_config, refuse_unfinished

    train, _ = sine_data()
    run = tmp_path / "run"
    one, two = tiny_config("lstm_ae", num_epochs_lstm=1), tiny_config("lstm_ae", num_epochs_lstm=2)
    detector_class("lstm_ae")(one).fit(train, run)
    assert json.loads((run / "state.json").read_text())["fitted"] is True
    refuse_unfinished(one, run)  # no "has not finished training"
    detector_class("lstm_ae")(two).fit(train, run)
    assert json.loads((run / "state.json").read_text())["lstm_ae"] == 2
    assert json.loads((run / "config.json").read_text())["num_epochs_lstm"] == 2
    check_run_config(two, run)
    refuse_unfinished(two, run)
    with pytest.raises(UserError, match=r"was trained with num_epochs_lstm=2 \(the config says 1\)"):
        detector_class("lstm_ae")(one).fit(train, run)


@pytest.mark.parametrize("name", ["vae_lstm", "lstm_ae"])
def test_trainers_copy_the_training_windows_once(tmp_path, name):
    """The training windows of a float64 series: the train/validation split's copies alone, in float32 (a float32
    copy of every window before the split made two: a 15.8 MB peak here, 7.7 MB now), with the same windows."""
    import tracemalloc

    from vae_lstm.detectors.lstm_ae import LSTMAEModel, SingleStageTrainer, training_window_array
    from vae_lstm.detectors.vae_lstm import VAETrainer
    from vae_lstm.windowing import rolling_windows

    config = from_dict({"detector": name, "l_win": 16, "n_channel": 2, "num_hidden_units": 16})
    series = np.random.default_rng(0).standard_normal((60_000, 2))
    every = np.asarray(rolling_windows(series, 16), dtype="float32")
    tracemalloc.start()
    try:
        if name == "vae_lstm":
            trainer = VAETrainer(config, tmp_path, series)
            parts = trainer.train_windows, trainer.val_windows
        else:
            trainer = SingleStageTrainer(LSTMAEModel(config, tmp_path), config, tmp_path,
                                         training_window_array(series, config))
            parts = trainer.pairs(trainer.idx_train)[0], trainer.pairs(trainer.idx_val)[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert all(part.dtype == np.float32 for part in parts)
    idx_train, idx_val = train_val_split(len(every), config.val_fraction, config.seed)
    np.testing.assert_array_equal(parts[0], every[idx_train])
    np.testing.assert_array_equal(parts[1], every[idx_val])
    assert peak < 1.3 * every.nbytes, f"{peak / 1e6:.1f} MB against {every.nbytes / 1e6:.1f} MB of windows"


@pytest.mark.parametrize("name", ["vae_lstm", "lstm_ad"])
def test_trainers_refuse_training_windows_larger_than_the_memory_available(tmp_path, monkeypatch, name):
    """Every point is copied into the l_win windows that hold it: a million rows of 8 channels at l_win 1440 (a day
    of 1-minute data) made 28 GB of windows, and the kernel killed train.py at 22.8 GB with no message. Windows of
    more bytes than the memory available are one line, before any is copied."""
    from vae_lstm import training
    from vae_lstm.detectors.lstm_ad import LSTMADTrainer
    from vae_lstm.detectors.vae_lstm import VAETrainer

    config = from_dict({"detector": name, "l_win": 16, "n_channel": 2, "num_hidden_units": 16,
                        "prediction_horizon": 2})
    series = np.zeros((1_000, 2))
    # 985 windows of 16 x 2 float32 = 126,080 bytes; LSTM-AD: 983 inputs of 16 x 2 and targets of 2 x 2 = 141,552
    need = {"vae_lstm": 126_080, "lstm_ad": 141_552}[name]
    make = {"vae_lstm": VAETrainer, "lstm_ad": LSTMADTrainer}[name]
    copies = []
    monkeypatch.setattr(training, "aligned_empty", lambda *a, f=training.aligned_empty: copies.append(a) or f(*a))
    monkeypatch.setattr(training, "available_memory", lambda: need // 2, raising=False)
    with pytest.raises(UserError) as info:
        make(config, tmp_path, series)
    what = {"vae_lstm": "vae stage's 985 training windows of 16 points x 2 channel(s)",
            "lstm_ad": "lstm_ad stage's 983 training windows of 16 points x 2 channel(s), with their targets,"}[name]
    assert str(info.value) == (
        f"the {what} take {need / 1e9:.3g} GB of memory, more than the {need // 2 / 1e9:.3g} GB available: each point "
        "is copied into every window that holds it; give a smaller l_win, a shorter training block (train_points, "
        "train_range) or fewer channels (value_columns)")
    assert not copies  # refused before a copy
    # a stage that only loads its saved model (TRAIN_VAE / TRAIN_LSTM 0) copies no window: not refused, nor copied
    skip = {"vae_lstm": "TRAIN_VAE", "lstm_ad": "TRAIN_LSTM"}[name]
    make(config.replace(**{skip: 0}), tmp_path, series)
    assert not copies
    monkeypatch.setattr(training, "available_memory", lambda: need)
    make(config, tmp_path, series)  # as much as is available: trained
    monkeypatch.setattr(training, "available_memory", lambda: None)  # unknown (not Linux): not checked
    make(config, tmp_path, series)


@pytest.mark.parametrize("name", ["lstm_ae", "lstm_vae"])
def test_a_finished_or_loaded_stage_makes_no_window_of_segments(tmp_path, monkeypatch, name):
    """A stage that only loads its model (TRAIN_LSTM 0, or a finished checkpoint: a run trained again) copied every
    window out of the training segments all the same, unchecked, for nothing. It makes them when it trains; a finished
    stage's fit gets as many windows as a training fit does."""
    from vae_lstm.detectors import lstm_ae
    from vae_lstm.detectors.lstm_ae import LSTMAETrainer
    from vae_lstm.detectors.lstm_vae import LSTMVAETrainer

    made = []
    monkeypatch.setattr(lstm_ae, "training_windows", lambda *a, f=lstm_ae.training_windows: made.append(a) or f(*a))
    make = {"lstm_ae": LSTMAETrainer, "lstm_vae": LSTMVAETrainer}[name]
    monkeypatch.setattr(make, "will_train", lambda self: False)
    fitted = []
    monkeypatch.setattr(make, "fit", lambda self, x, y=None, validation_data=None: fitted.append(len(x)))
    config = from_dict({"detector": name, "l_win": 16, "n_channel": 2, "num_hidden_units": 16, "window_stride": 3})
    segments = np.zeros((40, 40, 2), "float32")  # starts 0, 3, .., 24 of each: 360 windows
    n_train = len(train_val_split(360, config.val_fraction, config.seed)[0])
    for keys in ({"TRAIN_LSTM": 0}, {}):
        trainer = make(config.replace(**keys), tmp_path, segments)
        monkeypatch.setattr(trainer.model, "load", lambda: "the saved model")
        assert trainer.train() == "the saved model"
    assert made == [] and fitted == [n_train]
    assert len(trainer.pairs(trainer.idx_val)[0]) == 360 - n_train and len(made) == 1  # to train: made once


@pytest.mark.parametrize("name", ["vae_lstm", "lstm_ae", "lstm_vae"])
def test_trainers_refuse_segment_windows_larger_than_the_memory_available_before_windowing_them(
        tmp_path, monkeypatch, name):
    """The windows inside independent segments (a 3-D training array) are a copy, not a view: they were made (two
    copies of them at once) before the check, which then counted one, though the split copies them again. So a
    dataset of segments too large was killed before its line, or let through at half its peak."""
    import tracemalloc

    from vae_lstm import training
    from vae_lstm.detectors.lstm_ae import LSTMAETrainer
    from vae_lstm.detectors.lstm_vae import LSTMVAETrainer
    from vae_lstm.detectors.vae_lstm import VAETrainer

    config = from_dict({"detector": name, "l_win": 16, "n_channel": 2, "num_hidden_units": 16, "l_seq": 2,
                        "window_stride": 3})
    segments = np.zeros((400, 40, 2), "float32")
    # starts 0, 3, .., 24 of each segment: 9 windows of 16 x 2 float32, 3,600 windows of 460,800 bytes; twice over
    need = 2 * 460_800
    make = {"vae_lstm": VAETrainer, "lstm_ae": LSTMAETrainer, "lstm_vae": LSTMVAETrainer}[name]
    stage = {"vae_lstm": "vae"}.get(name, name)
    monkeypatch.setattr(training, "available_memory", lambda: need - 1)
    tracemalloc.start()
    try:
        with pytest.raises(UserError) as info:
            make(config, tmp_path, segments)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value) == (
        f"the {stage} stage's 3,600 training windows of 16 points x 2 channel(s) take 0.000922 GB of memory (the "
        "windows inside the segments, and the copy their split makes), more than the 0.000922 GB available: each "
        "point is copied into every window that holds it; give a smaller l_win, a shorter training block "
        "(train_points, train_range) or fewer channels (value_columns)")
    assert peak < 100_000, f"{peak} bytes taken before the refusal"  # no window copied
    monkeypatch.setattr(training, "available_memory", lambda: need)
    trainer = make(config, tmp_path, segments)  # as much as is available: trained
    windows = trainer.windows if name == "vae_lstm" else trainer.x
    np.testing.assert_array_equal(windows, np.zeros((3_600, 16, 2)))


@pytest.mark.parametrize("name", ["vae_lstm", "lstm_ae", "lstm_vae"])
@pytest.mark.parametrize("n_seg, length, l_win, stride, n_windows", [
    (400, 40, 8, 8, 2_000),  # windows that tile each segment (ECG5000's: 7 windows of 20 in a beat of 140)
    (300, 16, 16, 16, 300),  # one window per segment (ECG5000's lstm_ae and lstm_vae: l_win 140 = the beat)
    (1, 400, 16, 3, 129),  # one segment: starts 0, 3, .., 384
])
def test_segment_windows_that_are_a_view_of_the_segments_count_one_copy(
        tmp_path, monkeypatch, name, n_seg, length, l_win, stride, n_windows):
    """Windows that tile their segments (or of one segment) are a view of them, not a copy: the split makes the
    only copy, so they train with as much memory as one copy takes; the check counted two (the refusal's line
    named a copy of the windows inside the segments that is never made) and refused them at half that."""
    from vae_lstm import training
    from vae_lstm.detectors.lstm_ae import LSTMAETrainer
    from vae_lstm.detectors.lstm_vae import LSTMVAETrainer
    from vae_lstm.detectors.vae_lstm import VAETrainer

    config = from_dict({"detector": name, "l_win": l_win, "n_channel": 2, "num_hidden_units": 16, "l_seq": 2,
                        "window_stride": stride})
    segments = np.arange(n_seg * length * 2, dtype="float32").reshape(n_seg, length, 2)
    need = n_windows * l_win * 2 * 4  # one copy: the split's
    make = {"vae_lstm": VAETrainer, "lstm_ae": LSTMAETrainer, "lstm_vae": LSTMVAETrainer}[name]
    stage = {"vae_lstm": "vae"}.get(name, name)
    monkeypatch.setattr(training, "available_memory", lambda: need)
    trainer = make(config, tmp_path, segments)  # as much as is available: trained
    windows = trainer.windows if name == "vae_lstm" else trainer.x
    starts = np.arange(0, length - l_win + 1, stride)
    expected = np.stack([segments[s, t:t + l_win] for s in range(n_seg) for t in starts])
    np.testing.assert_array_equal(windows, expected)
    monkeypatch.setattr(training, "available_memory", lambda: need - 1)
    with pytest.raises(UserError) as info:
        make(config, tmp_path, segments)
    assert str(info.value) == (
        f"the {stage} stage's {n_windows:,} training windows of {l_win} points x 2 channel(s) take {need / 1e9:.3g} GB "
        f"of memory, more than the {(need - 1) / 1e9:.3g} GB available: each point is copied into every window that "
        "holds it; give a smaller l_win, a shorter training block (train_points, train_range) or fewer channels "
        "(value_columns)")


def test_available_memory_reads_memavailable(tmp_path, monkeypatch):
    from vae_lstm import training

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:   22650096 kB\n")
    monkeypatch.setattr(training, "MEMINFO", str(meminfo), raising=False)
    monkeypatch.setattr(training, "PROC_CGROUP", str(tmp_path / "no cgroup"), raising=False)  # the host's alone
    assert training.available_memory() == 22650096 * 1024
    meminfo.write_text("MemTotal:       24000000 kB\n")  # an old kernel's, without it: unknown
    assert training.available_memory() is None
    monkeypatch.setattr(training, "MEMINFO", str(tmp_path / "absent"))
    assert training.available_memory() is None


@pytest.mark.parametrize("version", ["v2", "v1", "v1 mounted at the container's own cgroup", "unlimited", "none"])
def test_available_memory_is_the_smaller_of_the_hosts_and_the_cgroups(tmp_path, monkeypatch, version):
    """In a container (docker --memory 2g) MemAvailable is the host's: windows that fit it but not the container's
    limit were let through, and the kernel killed the process at the limit with no message. The memory cgroup of the
    process (and those above it) leaves its limit less what it uses, less the file cache it can drop."""
    from vae_lstm import training

    meminfo, proc, root = tmp_path / "meminfo", tmp_path / "cgroup", tmp_path / "fs"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n")  # 20,480,000,000 bytes
    monkeypatch.setattr(training, "MEMINFO", str(meminfo))
    monkeypatch.setattr(training, "PROC_CGROUP", str(proc), raising=False)
    monkeypatch.setattr(training, "CGROUP_ROOT", str(root), raising=False)
    gib = 1 << 30
    if version in ("v2", "unlimited", "none"):
        proc.write_text("0::/docker/abc\n")
        own, parent = root / "docker" / "abc", root / "docker"
        own.mkdir(parents=True)
        (root / "cgroup.controllers").write_text("cpu memory\n")
        if version != "none":
            (own / "memory.max").write_text("max\n" if version == "unlimited" else f"{2 * gib}\n")
            (own / "memory.current").write_text(f"{gib}\n")
            (own / "memory.stat").write_text(f"anon {gib // 2}\nfile {gib // 2}\ninactive_file {gib // 4}\n")
            (parent / "memory.max").write_text(f"{8 * gib}\n")  # a looser limit above it
            (parent / "memory.current").write_text(f"{gib}\n")
        expected = {"v2": 2 * gib - (gib - gib // 4), "unlimited": 7 * gib, "none": 20_480_000_000}[version]
    else:
        proc.write_text("5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/docker/abc\n")
        memory = root / "memory"
        own = memory / "docker" / "abc" if version == "v1" else memory  # without a cgroup namespace, docker
        own.mkdir(parents=True)                                       # mounts its own cgroup as the root
        (own / "memory.limit_in_bytes").write_text(f"{3 * gib}\n")
        (own / "memory.usage_in_bytes").write_text(f"{2 * gib}\n")
        (own / "memory.stat").write_text(f"cache {gib}\ninactive_file 7\ntotal_inactive_file {gib // 2}\n")
        if version == "v1":  # the root above it: v1's "no limit" is a number
            (memory / "memory.limit_in_bytes").write_text("9223372036854771712\n")
            (memory / "memory.usage_in_bytes").write_text(f"{20 * gib}\n")
        expected = 3 * gib - (2 * gib - gib // 2)
    assert training.available_memory() == expected
    # the host's, when it is the smaller
    meminfo.write_text(f"MemAvailable:   {gib // 1024 // 4} kB\n")
    assert training.available_memory() == min(expected, gib // 4)
    meminfo.unlink()  # not readable: the cgroup's alone
    assert training.available_memory() == (None if version == "none" else expected)


@pytest.mark.parametrize("problem", ["/proc/self/cgroup not UTF-8", "cgroup folder not searchable",
                                     "memory.max not a number", "memory.stat not UTF-8", "v1 limit -1"])
def test_a_cgroup_that_cannot_be_read_leaves_memavailable(tmp_path, monkeypatch, problem):
    """The cgroup's files are read only to lower MemAvailable: one that cannot be read or makes no sense (a path that
    is not UTF-8, a folder the user may not search, which pathlib's is_dir raises on, a limit that is not a size) is
    left out, not a crash of the run nor a limit of 0 that refuses every window."""
    import pathlib

    from vae_lstm import training

    meminfo, proc, root = tmp_path / "meminfo", tmp_path / "cgroup", tmp_path / "fs"
    meminfo.write_text("MemAvailable:   20000000 kB\n")
    monkeypatch.setattr(training, "MEMINFO", str(meminfo))
    monkeypatch.setattr(training, "PROC_CGROUP", str(proc))
    monkeypatch.setattr(training, "CGROUP_ROOT", str(root))
    own = root / "memory" / "job" if problem == "v1 limit -1" else root / "job"
    own.mkdir(parents=True)
    proc.write_text("4:memory:/job\n0::/\n" if problem == "v1 limit -1" else "0::/job\n")
    limit, usage = ("memory.limit_in_bytes", "memory.usage_in_bytes") if problem == "v1 limit -1" else (
        "memory.max", "memory.current")
    (own / limit).write_text({"memory.max not a number": "2G\n", "v1 limit -1": "-1\n"}.get(problem, f"{1 << 30}\n"))
    (own / usage).write_text(f"{1 << 29}\n")
    (own / "memory.stat").write_text("inactive_file 0\n")
    if problem == "/proc/self/cgroup not UTF-8":
        proc.write_bytes(b"0::/job\xff\n")
    elif problem == "memory.stat not UTF-8":
        (own / "memory.stat").write_bytes(b"anon \xff\n")
        assert training.available_memory() == 1 << 29  # the limit and usage still read: the cache taken as used
        return
    elif problem == "cgroup folder not searchable":  # as for a user without x on a folder above it (root has it)
        def refused(self, *args, original=pathlib.Path.stat, **kwargs):
            if str(self).startswith(str(own)):
                raise PermissionError(13, "Permission denied", str(self))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(pathlib.Path, "stat", refused)
        monkeypatch.setattr(pathlib.Path, "read_text", lambda self, *a, f=pathlib.Path.read_text, **k: refused(
            self) and f(self, *a, **k))
    assert training.available_memory() == 20_000_000 * 1024  # MemAvailable's


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_a_cgroups_active_file_cache_counts_as_memory_available(tmp_path, monkeypatch, version):
    """A container's page cache of files read more than once (a data file, the libraries loaded) is active_file, which
    the kernel drops as readily as inactive_file when the container nears its limit (MemAvailable counts both), but
    the check took it as used and refused windows that fit: here 2 GiB of windows in a 4 GiB container using 3 GiB, of
    which 2.25 GiB is file cache."""
    from vae_lstm import training

    gib, mib = 1 << 30, 1 << 20
    meminfo, proc, root = tmp_path / "meminfo", tmp_path / "cgroup", tmp_path / "fs"
    meminfo.write_text("MemAvailable:   20000000 kB\n")
    monkeypatch.setattr(training, "MEMINFO", str(meminfo))
    monkeypatch.setattr(training, "PROC_CGROUP", str(proc))
    monkeypatch.setattr(training, "CGROUP_ROOT", str(root))
    if version == "v2":
        proc.write_text("0::/\n")
        root.mkdir()
        files = {"memory.max": 4 * gib, "memory.current": 3 * gib}
        stat = (f"anon {512 * mib}\nfile {2560 * mib}\nactive_file {2 * gib}\ninactive_file {256 * mib}\n"
                f"shmem {256 * mib}\n")
    else:
        proc.write_text("4:memory:/\n0::/\n")
        root = root / "memory"
        root.mkdir(parents=True)
        files = {"memory.limit_in_bytes": 4 * gib, "memory.usage_in_bytes": 3 * gib}
        stat = (f"cache {2560 * mib}\nactive_file 5\ninactive_file 7\ntotal_cache {2560 * mib}\n"
                f"total_active_file {2 * gib}\ntotal_inactive_file {256 * mib}\n")
    for name, value in files.items():
        (root / name).write_text(f"{value}\n")
    (root / "memory.stat").write_text(stat)
    assert training.available_memory() == 4 * gib - (3 * gib - 2 * gib - 256 * mib)  # 3.25 GiB
    training.require_window_memory("vae", (1 << 26, 8, 1))  # 2 GiB of windows: not refused


@pytest.mark.parametrize("max_points", [0, 500])
def test_arma_refuses_a_channel_that_holds_one_value_over_the_points_it_fits(tmp_path, max_points):
    """A channel constant over the fitted points (all of them from Python, or a flat tail under arma_max_train_points)
    was fitted with a noise variance of about 1e-11 ("did not converge"), so any change on it later scored ~1e10."""
    from vae_lstm.errors import DataError

    train = np.stack([ar1(2000, seed=2), ar1(2000, seed=4)], axis=1)
    train[-500:, 1] = 0.25 if max_points else train[-500:, 1]
    if not max_points:
        train[:, 1] = 0.25
    fix = "raise arma_max_train_points, or set 0 for the whole training block" if max_points else "leave that channel out"
    which = "the last 500 training points (arma_max_train_points)" if max_points else "the 2000 training points"
    with pytest.raises(DataError) as info:
        ARMADetector(arma_config(n_channel=2, arma_max_train_points=max_points)).fit(train, tmp_path)
    assert str(info.value) == (f"arma: channel 1 holds one value (0.25) over {which} it fits, so it has no noise to "
                               f"scale its errors by: {fix}")
    assert not (tmp_path / "arma.json").exists()
    # named as the data names it (train.py gives the column names): counted from 0, a bare number misleads
    detector = ARMADetector(arma_config(n_channel=2, arma_max_train_points=max_points))
    detector.channel_names = ["Pressure", "Thermocouple"]
    with pytest.raises(DataError, match=r"^arma: channel 1 \(Thermocouple\) holds one value \(0\.25\)"):
        detector.fit(train, tmp_path)


# ---------------------------------------------------------------------------------------------
# The LSTM-VAE's loss and the trainers' input/target pairs, by hand


def small_lstm_vae(monkeypatch, **changes):
    """lstm_vae's model as the trainer builds it from ``tiny_config`` (8-point windows of 2 channels), with z_log_var (1.5, -1, 0.5, 0) for every
    window and sampling noise eps of ones: a sampled code is z_mean + exp(z_log_var / 2)."""
    from vae_lstm.detectors.lstm_vae import LSTMVAEModel

    monkeypatch.setattr(keras.random, "normal", lambda shape, **kwargs: keras.ops.ones(shape))
    keras.utils.set_random_seed(3)
    model = LSTMVAEModel(tiny_config("lstm_vae", l_win=8, n_channel=2, num_hidden_units_lstm=4, **changes), "unused").build()
    layer = model.encoder.get_layer("z_log_var")
    layer.set_weights([np.zeros_like(layer.get_weights()[0]), np.array([1.5, -1.0, 0.5, 0.0], "float32")])
    return model


def test_the_lstm_vae_loss_is_the_summed_squared_error_plus_beta_times_the_kl(monkeypatch):
    """``test_step`` (each batch of ``evaluate``) reports mean(summed squared error) + beta * mean(KL) of codes sampled as
    z_mean + exp(z_log_var / 2) * eps, and both terms, computed here in NumPy: beta unused (or not taken from the
    config), the KL's sign, exp(z_log_var) taken as a std, a squared error averaged over the window or its channels, decoding
    z_mean, or the KL tracker fed another term would break it."""
    model = small_lstm_vae(monkeypatch, beta=0.25)
    x = np.random.default_rng(2).standard_normal((5, 8, 2)).astype("float32")
    z_mean, z_log_var = (keras.ops.convert_to_numpy(t) for t in model.encoder(x))
    x_hat = keras.ops.convert_to_numpy(model.decoder(z_mean + np.exp(z_log_var / 2)))
    squared_error = np.square(x - x_hat).sum(axis=(1, 2))
    kl = -0.5 * (1 + z_log_var - np.square(z_mean) - np.exp(z_log_var)).sum(axis=1)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    got = model.test_step(x)  # what evaluate runs on each batch
    want = {"loss": squared_error.mean() + 0.25 * kl.mean(), "reconstruction": squared_error.mean(), "kl": kl.mean()}
    for name, value in want.items():
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got[name]), value, rtol=1e-4, err_msg=name)


def test_an_lstm_vae_training_step_follows_the_gradient_of_its_loss(monkeypatch):
    """One SGD step of ``train_step``, with the decoder cut off from the code (its LSTM's input kernel 0): the
    output bias moves by lr * 2 * sum(x - x_hat) / batch, z_log_var's bias by -lr * beta * (exp(z_log_var) - 1) / 2
    and z_mean's by -lr * beta * z_mean (the KL's gradient). A gradient of the squared error alone, or of the KL
    without beta, would move them otherwise."""
    model = small_lstm_vae(monkeypatch, beta=0.25)
    lstm = model.decoder.get_layer("decoder_lstm")
    kernel, recurrent_kernel, bias = lstm.get_weights()
    lstm.set_weights([np.zeros_like(kernel), recurrent_kernel, bias])
    mean_layer = model.encoder.get_layer("z_mean")
    z_mean = np.array([0.3, -0.7, 0.0, 1.2], "float32")
    mean_layer.set_weights([np.zeros_like(mean_layer.get_weights()[0]), z_mean])
    x = np.random.default_rng(4).standard_normal((4, 8, 2)).astype("float32")
    x_hat = keras.ops.convert_to_numpy(model(x))  # the decoder ignores the code
    out, log_var = model.decoder.get_layer("window_out"), model.encoder.get_layer("z_log_var")
    before = [layer.get_weights()[-1].copy() for layer in (out, mean_layer, log_var)]
    lr = 0.01
    model.compile(optimizer=keras.optimizers.SGD(lr))
    model.train_step(x)  # what fit runs on each batch
    moved = [layer.get_weights()[-1] - b for layer, b in zip((out, mean_layer, log_var), before, strict=True)]
    np.testing.assert_allclose(moved[0], lr * 2 * (x - x_hat).sum(axis=(0, 1)) / len(x), rtol=1e-3)
    np.testing.assert_allclose(moved[1], -lr * 0.25 * z_mean, rtol=1e-3, atol=1e-9)
    np.testing.assert_allclose(moved[2], -lr * 0.25 * (np.exp([1.5, -1.0, 0.5, 0.0]) - 1) / 2, rtol=1e-3, atol=1e-9)


def fit_arguments(trainer, monkeypatch):
    """The (x, y, validation_data) that ``trainer.train()`` hands to ``fit``, which trains nothing here."""
    calls = []

    def fit(x, y=None, validation_data=None):
        calls.append((x, y, validation_data))
        trainer.model.model = "trained"

    monkeypatch.setattr(trainer, "fit", fit)
    trainer.train()
    return calls[0]


@pytest.mark.parametrize("name", ["lstm_ae", "lstm_vae"])
def test_the_autoencoders_train_to_rebuild_each_window_as_it_is(name, tmp_path, monkeypatch):
    """Their target is the input window itself (not reversed in time, not another window), in training and
    validation: the seeded split's windows."""
    from vae_lstm.detectors.lstm_ae import LSTMAETrainer
    from vae_lstm.detectors.lstm_vae import LSTMVAETrainer

    series = np.arange(40, dtype="float32")[:, None]
    config = tiny_config(name)
    trainer = {"lstm_ae": LSTMAETrainer, "lstm_vae": LSTMVAETrainer}[name](config, tmp_path, series)
    x, y, (x_val, y_val) = fit_arguments(trainer, monkeypatch)
    idx_train, idx_val = train_val_split(40 - 16 + 1, config.val_fraction, config.seed)
    np.testing.assert_array_equal(x[:, :, 0], idx_train[:, None] + np.arange(16))
    np.testing.assert_array_equal(x_val[:, :, 0], idx_val[:, None] + np.arange(16))
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(y_val, x_val)


def test_lstm_ad_trains_each_window_to_predict_the_points_after_it(tmp_path, monkeypatch):
    """Window w (points w .. w + l_win - 1) is paired with points w + l_win .. w + l_win + h - 1, in training and
    validation."""
    from vae_lstm.detectors.lstm_ad import LSTMADTrainer

    series = np.arange(40, dtype="float32")[:, None]
    config = tiny_config("lstm_ad")  # l_win 16, prediction_horizon 3
    x, y, (x_val, y_val) = fit_arguments(LSTMADTrainer(config, tmp_path, series), monkeypatch)
    idx_train, idx_val = train_val_split(40 - 16 - 3 + 1, config.val_fraction, config.seed)
    for inputs, targets, idx in [(x, y, idx_train), (x_val, y_val, idx_val)]:
        np.testing.assert_array_equal(inputs[:, :, 0], idx[:, None] + np.arange(16))
        np.testing.assert_array_equal(targets[:, :, 0], idx[:, None] + 16 + np.arange(3))


def test_the_lstm_models_are_the_layers_their_modules_describe():
    """lstm_ae: an LSTM encoder and a dense code, then the decoder (the code repeated, an LSTM, a dense layer per
    step) on that code; lstm_ad: two stacked LSTMs and a dense layer whose h * c outputs are the next h points
    of c channels; lstm_vae: an LSTM encoder with a dense z_mean and z_log_var on its output. Counts of weights
    by hand (l_win 6, 2 channels, codes of 3, 4 units), and each model's output equal to its layers applied in
    that order: a layer skipped or a decoder fed another tensor would break it."""
    from vae_lstm.detectors.lstm_ae import build_lstm_ae
    from vae_lstm.detectors.lstm_vae import LSTMVAE

    def rows(model):
        return [(layer.name, layer.count_params()) for layer in model.layers if layer.count_params()]

    lstm_6_2 = 4 * (4 * (2 + 4) + 4)  # an LSTM of 4 units over 2 channels
    x = np.random.default_rng(0).normal(size=(3, 6, 2)).astype("float32")
    ae = build_lstm_ae(6, 2, 3, 4)
    assert rows(ae) == [("encoder_lstm", lstm_6_2), ("code", 4 * 3 + 3), ("decoder", 4 * (4 * (3 + 4) + 4) + 4 * 2 + 2)]
    code = ae.get_layer("code")(ae.get_layer("encoder_lstm")(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ae(x)),
                               keras.ops.convert_to_numpy(ae.get_layer("decoder")(code)), rtol=1e-5, atol=1e-7)
    ad = build_lstm_ad(6, 2, 3, 4)
    assert rows(ad) == [("lstm_1", lstm_6_2), ("lstm_2", 4 * (4 * (4 + 4) + 4)), ("next_points", 4 * 6 + 6)]
    hidden = ad.get_layer("lstm_2")(ad.get_layer("lstm_1")(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ad(x)),
                               keras.ops.convert_to_numpy(ad.get_layer("next_points")(hidden)).reshape(3, 3, 2),
                               rtol=1e-5, atol=1e-7)
    vae = LSTMVAE(6, 2, 3, 4)
    assert rows(vae.encoder) == [("encoder_lstm", lstm_6_2), ("z_mean", 4 * 3 + 3), ("z_log_var", 4 * 3 + 3)]


@pytest.mark.parametrize("name", ["lstm_ae", "lstm_ad", "vae_lstm"])
def test_the_lstm_models_train_on_the_mean_squared_error(name, tmp_path):
    """The compiled loss of a prediction 0 against targets 2 is 4 (the mean squared error; the absolute one: 2)."""
    from vae_lstm.detectors.lstm_ad import LSTMADModel
    from vae_lstm.detectors.lstm_ae import LSTMAEModel
    from vae_lstm.detectors.vae_lstm import LSTMModel

    config = from_dict({**TINY, "detector": name, "l_seq": 3})
    model = {"lstm_ae": LSTMAEModel, "lstm_ad": LSTMADModel, "vae_lstm": LSTMModel}[name](config, tmp_path)
    compiled = model.build_compiled(steps_per_epoch=1)
    target = np.full((2, 3, 4), 2.0, "float32")
    loss = compiled.compute_loss(y=target, y_pred=np.zeros_like(target))
    assert float(keras.ops.convert_to_numpy(loss)) == pytest.approx(4.0)


@pytest.mark.parametrize("mu, sigma", [(np.zeros(2), np.eye(2)), (np.float64(0.0), np.eye(1)),
                                       (np.zeros(1), np.eye(2)), (np.zeros((1, 1)), np.eye(1))])
def test_an_lstm_ad_gaussian_of_other_dimensions_is_one_line(mu, sigma, tmp_path):
    """An lstm_ad_gaussian.npz that does not fit the model (one of another run copied in, or one whose mean is a
    scalar) ended detect.py in a traceback: a ValueError about its dimensions, an IndexError where its mean has none,
    and a covariance of another size passed the load and failed in the scoring. It is one line, as a damaged file is,
    and train.py fits it again."""
    from vae_lstm.detectors.lstm_ad import GAUSSIAN_FILE

    config = from_dict({"detector": "lstm_ad", "l_win": 8, "n_channel": 1, "num_hidden_units_lstm": 4,
                        "prediction_horizon": 1})
    run = saved_run("lstm_ad", tmp_path / "run", config)
    detector_class("lstm_ad")(config).load(run)  # its own Gaussian: loads
    np.savez(run / GAUSSIAN_FILE, mu=mu, sigma=sigma)
    line = (f"{run / GAUSSIAN_FILE} holds a Gaussian of mean shape {np.shape(mu)} and covariance shape "
            f"{np.shape(sigma)}; the config needs 1 dimension(s) (prediction_horizon * n_channel): to fit it afresh "
            f"there, set \"load_model\": 1, \"load_dir\": \"{run}\" in <config>, then run 'python3 codes/train.py "
            "--config \"<config>\"'")  # a folder that is not the config's own: train.py resumes it with load_dir
    with pytest.raises(UserError, match=f"^{re.escape(line)}$"):
        detector_class("lstm_ad")(config).load(run)


@pytest.mark.parametrize("where", ["copied", "grid"])
def test_a_damaged_or_mismatched_fitted_file_says_how_to_fit_that_folders_again(where, tmp_path):
    """arma.json or lstm_ad_gaussian.npz of a run folder that train.py with the config does not train (one copied
    elsewhere, scored with --run-dir) said 'run train.py again to fit it afresh', which fitted the config's own folder
    and left this one as it was; in a grid, whose rerun scores a finished run from its files as they are, the same
    line led back to the same error. The first names load_dir, the second the grid's command after moving it away."""
    from vae_lstm.detectors.arma import ARMA_FILE
    from vae_lstm.detectors.lstm_ad import GAUSSIAN_FILE
    from vae_lstm.runs import rerun_command

    grid = "'python3 codes/reproduce.py g.json --series s --detectors arma --seed 0'"
    advice = (f"move it away and run {grid} to fit it afresh" if where == "grid" else
              f"to fit it afresh there, set \"load_model\": 1, \"load_dir\": \"{tmp_path / 'run'}\" in <config>, then "
              "run 'python3 codes/train.py --config \"<config>\"'")
    arma = from_dict({"detector": "arma", "arma_p": 1, "arma_q": 0, "n_channel": 1})
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.json").write_text('{"arma": 1, "fitted": true}')
    (run / ARMA_FILE).write_text('{"order": [1, 0, 0], "trend"')  # cut short
    ad = from_dict({"detector": "lstm_ad", "l_win": 8, "n_channel": 1, "prediction_horizon": 1})
    with rerun_command(grid) if where == "grid" else contextlib.nullcontext():
        with pytest.raises(UserError) as damaged:
            detector_class("arma")(arma).load(run)
        assert str(damaged.value).startswith(f"{run / ARMA_FILE} is damaged (")
        assert str(damaged.value).endswith(f"; {advice}")
        (run / ARMA_FILE).write_text(json.dumps({"order": [2, 0, 0], "trend": "c", "channels": [{}]}))
        with pytest.raises(UserError, match=re.escape(f"asks for order [1, 0, 0] on 1: {advice}") + "$"):
            detector_class("arma")(arma).load(run)
        np.savez(run / GAUSSIAN_FILE, mu=np.zeros(2), sigma=np.eye(2))
        with pytest.raises(UserError, match=re.escape(f"(prediction_horizon * n_channel): {advice}") + "$"):
            detector_class("lstm_ad")(ad).load_gaussian(run / GAUSSIAN_FILE)
