"""LSTM-AD (Malhotra et al., ESANN 2015, "Long Short Term Memory Networks for Anomaly Detection in
Time Series"): a stacked LSTM predicts the next points, and a Gaussian models the prediction errors.

Model: the l_win points before time t -> LSTM(num_hidden_units_lstm, return_sequences) ->
LSTM(num_hidden_units_lstm) -> Dense -> the next h = prediction_horizon points, all channels,
shape (h, n_channel). Trained with MSE and Adam(learning_rate_lstm) on the training block's pairs
(window w = points ``[w, w + l_win - 1]``, target ``[w + l_win, w + l_win + h - 1]``), seeded split.

Errors: point t is predicted h times, by the windows ending at t - 1, ..., t - h; its error vector
``e_t`` has entries ``e_t[j * n_channel + k] = x_t[k] - (prediction of x_t[k] made j + 1 steps ahead)``,
j = 0 .. h - 1 (``error_vectors``). The first l_win + h - 1 points of a series have fewer than h
predictions: their error vector, and their score, are NaN.

Gaussian: N(mu, Sigma) (maximum likelihood, plus a ridge of ``RIDGE`` times the mean error variance
on the diagonal) fitted to the error vectors of the validation points of the training block: point
t is a validation point when its one-step-ahead window (the l_win points just before it, pair
``t - l_win``) is in the held-out split. Its longer-lead predictions come from neighbouring windows,
which are mostly training pairs, so the Gaussian sees partly in-sample errors (a fully held-out
point would need all h of its windows held out, which a random split almost never gives).
Saved as ``lstm_ad_gaussian.npz`` (mu, sigma) next to ``lstm_ad.keras``.

Score of point t: the negative log-likelihood of e_t under N(mu, Sigma),
``0.5 * (d log(2 pi) + log det Sigma + (e_t - mu)' Sigma^-1 (e_t - mu))`` with d = h * n_channel,
less its smallest value (at e_t = mu), so that scores are >= 0 as error-based threshold rules expect:
half the squared Mahalanobis distance (the paper thresholds the likelihood itself, which ranks alike).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import keras
import numpy as np
from keras import layers

from ..errors import UserError
from ..models import recurrent
from ..optimizers import FusedAdam
from ..progress import scoring_pass
from ..runs import refit_advice
from ..scoring import JIT_SCORING, compiled_chunks
from ..training import BaseModel
from ..windowing import as_2d, rolling_windows
from .base import Detector, Scores
from .lstm_ae import SingleStageTrainer

GAUSSIAN_FILE = "lstm_ad_gaussian.npz"
RIDGE = 1e-6  # relative ridge on the error covariance: RIDGE * mean(diag(Sigma)) is added to its diagonal


# ---------------------------------------------------------------------------------------------
# Pure NumPy: error vectors and the Gaussian


def error_vectors(series: np.ndarray, predictions: np.ndarray, l_win: int) -> np.ndarray:
    """The (n, h * c) prediction-error vectors of every point of a (n, c) series.

    ``predictions[w, j]`` (shape (n - l_win, h, c)) is the prediction of point ``w + l_win + j`` made
    by window w (the l_win points ``[w, w + l_win - 1]``), i.e. ``j + 1`` steps ahead. Row t of the
    result is ``[x_t - P[t - l_win, 0], x_t - P[t - l_win - 1, 1], ..., x_t - P[t - l_win - h + 1, h - 1]]``,
    each entry over the c channels; rows ``t < l_win + h - 1`` (fewer than h predictions) are NaN.
    """
    series = as_2d(np.asarray(series, dtype=float))
    predictions = np.asarray(predictions, dtype=float)
    n, c = series.shape
    if predictions.ndim != 3 or len(predictions) != n - l_win or predictions.shape[2] != c:
        raise ValueError(f"predictions of shape {predictions.shape} do not match a series of shape "
                         f"{series.shape} with l_win={l_win}: expected ({n - l_win}, h, {c})")
    out = np.full((n, predictions.shape[1] * c), np.nan)
    for start, errors, _ in error_vector_blocks(series, [predictions], l_win):
        out[start:start + len(errors)] = errors
    return out


def error_vector_blocks(series: np.ndarray, prediction_chunks, l_win: int):
    """``error_vectors`` a block of points at a time: for each chunk of the predictions (rows a .. b - 1 of
    ``predictions``, in order), yields ``(a + l_win, errors, one_step)``: the error vectors of points
    ``a + l_win .. b + l_win - 1`` (NaN before ``l_win + h - 1``) and those points' one-step predictions
    ``predictions[a:b, 0]``. Holds the h - 1 prediction rows a later block still needs, not the whole array."""
    series = as_2d(np.asarray(series, dtype=float))
    c = series.shape[1]
    carry, a = None, 0
    for chunk in prediction_chunks:
        h = chunk.shape[1]
        rows = chunk if carry is None else np.concatenate([carry, chunk])
        b = a + len(chunk)
        t = np.arange(max(a + l_win, l_win + h - 1), b + l_win)  # points with all h predictions
        j = np.arange(h)
        predicted = rows[t[:, None] - l_win - j[None, :] - (b - len(rows)), j[None, :]]  # (len(t), h, c)
        errors = np.full((len(chunk), h * c), np.nan)
        errors[len(chunk) - len(t):] = (series[t, None, :] - predicted).reshape(len(t), h * c)
        yield a + l_win, errors, chunk[:, 0]
        carry, a = rows[max(len(rows) - (h - 1), 0):], b


def fit_gaussian(errors: np.ndarray, ridge: float = RIDGE) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood mean and covariance of the finite rows of (m, d) error vectors, with
    ``ridge * mean(diag(Sigma))`` (or ``ridge`` when that is 0) added to the diagonal."""
    errors = np.asarray(errors, dtype=float)
    errors = errors[np.isfinite(errors).all(axis=1)]
    if len(errors) == 0:
        raise ValueError("no finite error vectors to fit the Gaussian to")
    mu = errors.mean(axis=0)
    centred = errors - mu
    sigma = centred.T @ centred / len(errors)
    scale = float(np.mean(np.diag(sigma)))
    sigma = sigma + ridge * (scale if scale > 0 else 1.0) * np.eye(len(mu))
    return mu, sigma


def gaussian_nll(errors: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Negative log-likelihood of each row of (n, d) errors under N(mu, sigma); NaN rows stay NaN."""
    errors = np.asarray(errors, dtype=float)
    out = np.full(len(errors), np.nan)
    rows = np.isfinite(errors).all(axis=1)
    chol = np.linalg.cholesky(np.asarray(sigma, dtype=float))
    z = np.linalg.solve(chol, (errors[rows] - mu).T)  # (d, m): L z = e - mu
    mahalanobis2 = np.square(z).sum(axis=0)
    log_det = 2.0 * np.log(np.diag(chol)).sum()
    out[rows] = 0.5 * (len(mu) * np.log(2.0 * np.pi) + log_det + mahalanobis2)
    return out


# ---------------------------------------------------------------------------------------------
# Keras model, trainer, detector


def build_lstm_ad(l_win: int, n_channel: int, horizon: int, num_hidden_units: int) -> keras.Model:
    """l_win points (l_win, n_channel) -> the next ``horizon`` points (horizon, n_channel)."""
    x_in = keras.Input((l_win, n_channel), name="window")
    x = recurrent(num_hidden_units, l_win, return_sequences=True, name="lstm_1")(x_in)
    x = recurrent(num_hidden_units, l_win, name="lstm_2")(x)
    x = layers.Dense(horizon * n_channel, name="next_points")(x)
    x_out = layers.Reshape((horizon, n_channel), name="prediction")(x)
    return keras.Model(x_in, x_out, name="lstm_ad")


def training_pairs(series: np.ndarray, l_win: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (m, l_win, c) and targets (m, horizon, c) of every full pair, m = n - l_win - horizon + 1: read-only
    views of the series in float32 (the trainer's split makes the only copies)."""
    series = np.asarray(series, dtype="float32")
    return rolling_windows(series[: len(series) - horizon], l_win), rolling_windows(series[l_win:], horizon)


def predict_all(model: keras.Model, series: np.ndarray, l_win: int, batch_size: int) -> np.ndarray:
    """Predictions (n - l_win, h, c) of every window ending at t - 1 for t = l_win .. n - 1: one compiled
    graph over the windows, in chunks of ``batch_size`` (``prediction_chunks``), joined."""
    return np.concatenate(list(prediction_chunks(model, series, l_win, batch_size)))


def prediction_chunks(model: keras.Model, series: np.ndarray, l_win: int, batch_size: int):
    """``predict_all``'s rows one compiled call at a time (``scoring.compiled_chunks``), read from a view of
    the series' windows."""
    windows = rolling_windows(np.asarray(series, dtype="float32")[:-1], l_win)
    return compiled_chunks(model, windows, batch_size, JIT_SCORING)


def row_nll(errors: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``gaussian_nll`` of a block of rows, the same to the bit as in a longer array: a lone finite row goes in
    twice, since LAPACK solves one right-hand side by another kernel than several (1e-15 apart)."""
    finite = np.flatnonzero(np.isfinite(errors).all(axis=1))
    if len(finite) != 1:
        return gaussian_nll(errors, mu, sigma)
    out = np.full(len(errors), np.nan)
    out[finite] = gaussian_nll(errors[[finite[0], finite[0]]], mu, sigma)[0]
    return out


def validation_errors(model: keras.Model, series: np.ndarray, l_win: int, batch_size: int,
                      points: np.ndarray) -> np.ndarray:
    """``error_vectors(series, predict_all(...))[points]``, keeping only those rows as the blocks come."""
    points = np.asarray(points)
    out = None
    for start, errors, _ in error_vector_blocks(series, prediction_chunks(model, series, l_win, batch_size), l_win):
        if out is None:
            out = np.full((len(points), errors.shape[1]), np.nan)
        here = np.flatnonzero((points >= start) & (points < start + len(errors)))
        out[here] = errors[points[here] - start]
    return out


class LSTMADModel(BaseModel):
    name = "lstm_ad"
    kind = "lstm_ad"
    static_batch_key = "batch_size_lstm"

    def build(self):
        c = self.config
        return build_lstm_ad(c.l_win, c.n_channel, c.prediction_horizon, c.num_hidden_units_lstm)

    def built_with(self, model):
        return {"num_hidden_units_lstm": model.get_layer("lstm_1").units}

    def compile(self, model, steps_per_epoch):
        model.compile(optimizer=FusedAdam(self.config.learning_rate_lstm), loss="mse")


class LSTMADTrainer(SingleStageTrainer):
    stage = "lstm_ad"
    title = "LSTM-AD"

    def __init__(self, config, run_dir, train_series):
        x, y = training_pairs(train_series, config.l_win, config.prediction_horizon)
        super().__init__(LSTMADModel(config, run_dir), config, run_dir, x, y)

    def validation_points(self) -> np.ndarray:
        """Time indices of the validation points that have all h predictions: t = w + l_win for each
        held-out pair w >= h - 1."""
        idx_val = self.idx_val[self.idx_val >= self.config.prediction_horizon - 1]
        return idx_val + self.config.l_win


class LSTMADDetector(Detector):
    """Native unit: the point."""

    name = "lstm_ad"
    native_unit = "point"
    trained_files = ("lstm_ad.keras", GAUSSIAN_FILE)

    def __init__(self, config):
        super().__init__(config)
        self.model = None
        self.mu = self.sigma = None

    def fit(self, train_series, run_dir: Path) -> None:
        self.check_training(train_series, 1, "point", run_dir)  # one series only: no segments, window_stride 1; n_channel
        c, run_dir = self.config, Path(run_dir)
        train_series = self.check_series(train_series, c.l_win + c.prediction_horizon,
                                         "input window and prediction horizon")
        trainer = LSTMADTrainer(c, run_dir, train_series)
        self.model = trainer.train()
        gaussian_path = run_dir / GAUSSIAN_FILE
        if gaussian_path.is_file() and not trainer.trained:
            try:
                self.load_gaussian(gaussian_path)
                return
            except UserError:  # damaged (a kill while it was written by an older version): fitted again below
                print(f"lstm_ad: {GAUSSIAN_FILE} is damaged; fitting the Gaussian again")
        points = trainer.validation_points()
        if len(points) == 0:  # no held-out point with all h predictions: use every training point
            print("lstm_ad: no validation point has all its predictions; fitting the Gaussian on the training points")
            points = np.arange(c.l_win + c.prediction_horizon - 1, len(train_series))
        with scoring_pass("predicting the training block (LSTM-AD's error Gaussian)"):
            errors = validation_errors(self.model, train_series, c.l_win, c.score_batch_size, points)
        self.mu, self.sigma = fit_gaussian(errors)
        tmp = gaussian_path.with_name(gaussian_path.name + ".tmp")
        try:  # through a temporary file and a rename: a kill leaves the old file or the new one
            with open(tmp, "wb") as f:
                np.savez(f, mu=self.mu, sigma=self.sigma, validation_points=points)
            os.replace(tmp, gaussian_path)
        finally:
            tmp.unlink(missing_ok=True)

    def load_gaussian(self, path: Path) -> None:
        try:
            with np.load(path) as saved:
                self.mu, self.sigma = saved["mu"], saved["sigma"]
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            raise UserError(f"{path} is damaged ({type(e).__name__}); {refit_advice(self.config, path.parent)}") from None
        expected = self.config.prediction_horizon * self.config.n_channel
        if self.mu.shape != (expected,) or self.sigma.shape != (expected, expected):  # another run's, or damaged
            raise UserError(f"{path} holds a Gaussian of mean shape {self.mu.shape} and covariance shape "
                            f"{self.sigma.shape}; the config needs {expected} dimension(s) (prediction_horizon * "
                            f"n_channel): {refit_advice(self.config, path.parent)}")

    def load(self, run_dir: Path) -> None:
        self.require_trained(run_dir)
        model = LSTMADModel(self.config, run_dir).load()
        self.check_trained_with(run_dir, "l_win", self.model_steps(model))
        outputs = getattr(model, "outputs", None)  # (batch, prediction_horizon, n_channel)
        self.check_trained_with(run_dir, "prediction_horizon", outputs[0].shape[1] if outputs else None)
        self.model = model
        self.follow_channels(self.model_channels(self.model))
        self.load_gaussian(Path(run_dir) / GAUSSIAN_FILE)

    def score(self, series) -> Scores:
        c = self.config
        series = self.check_channels(self.check_series(series, c.l_win + 1, "input window and one point"), self.model)
        least = gaussian_nll(self.mu[None, :], self.mu, self.sigma)[0]  # scores >= 0: 0 at the mean error
        scores, one_step = np.full(len(series), np.nan), np.full(series.shape, np.nan)
        chunks = prediction_chunks(self.model, series, c.l_win, c.score_batch_size)
        for start, errors, first in error_vector_blocks(series, chunks, c.l_win):  # memory bounded by the chunk
            scores[start:start + len(errors)] = row_nll(errors, self.mu, self.sigma) - least
            one_step[start:start + len(errors)] = first
        return Scores.from_points(scores, prediction=one_step)
