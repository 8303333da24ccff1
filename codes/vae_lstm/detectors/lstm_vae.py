"""LSTM-VAE, as in the NAB and ECG5000 LSTM-VAE projects: an LSTM encoder gives a Gaussian code of
each window, an LSTM decoder rebuilds the window from a sampled code.

Encoder: LSTM(num_hidden_units_lstm) -> Dense z_mean and Dense z_log_var (code_size each).
Sample: z = z_mean + exp(z_log_var / 2) * eps, eps from a ``SeedGenerator(seed)``.
Decoder: z repeated l_win times -> LSTM(num_hidden_units_lstm, return_sequences) -> Dense(n_channel).

Loss of a window (averaged over the batch): the squared error SUMMED over its l_win points and
channels, plus beta * KL(q(z|x) || N(0, I)). (Summing, not averaging, keeps the reconstruction
term's weight against the KL independent of the window size; with a mean the KL term dominates
and the codes collapse to the prior.) One stage ``lstm_vae`` saved as ``lstm_vae.keras``.

Training windows: every stride-1 window of the training block, or, from independent segments (a 3-D
training array), the windows inside each segment at ``window_stride``.

Score of window w: the mean squared error, over its points and channels, of its reconstruction
through z_mean (deterministic, no sampling). Point t gets the largest score of the windows covering it.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from ..models import PACKAGE, recurrent
from ..optimizers import FusedAdam
from ..training import BaseModel
from .base import Detector, Scores
from .lstm_ae import (
    SingleStageTrainer,
    build_lstm_decoder,
    inside_window_mse,
    window_array,
    window_mse,
    window_samples,
)


def build_lstm_vae_encoder(l_win: int, n_channel: int, code_size: int, num_hidden_units: int) -> keras.Model:
    """Window (l_win, n_channel) -> z_mean, z_log_var, each (code_size,)."""
    x_in = keras.Input((l_win, n_channel), name="window")
    h = recurrent(num_hidden_units, l_win, name="encoder_lstm")(x_in)
    z_mean = layers.Dense(code_size, name="z_mean")(h)
    z_log_var = layers.Dense(code_size, name="z_log_var")(h)
    return keras.Model(x_in, [z_mean, z_log_var], name="encoder")


def vae_terms(x, x_hat, z_mean, z_log_var):
    """Per-window (summed squared error, KL(N(z_mean, exp(z_log_var)) || N(0, I))), each (batch,)."""
    squared_error = ops.sum(ops.square(x - x_hat), axis=(1, 2))
    kl = -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)
    return squared_error, kl


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSTMVAE(keras.Model):
    """LSTM VAE trained by ``fit`` through ``train_step``; ``call`` rebuilds through z_mean unless training."""

    def __init__(self, l_win: int, n_channel: int, code_size: int, num_hidden_units: int,
                 beta: float = 1.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.l_win, self.n_channel, self.code_size = l_win, n_channel, code_size
        self.num_hidden_units, self.beta, self.seed = num_hidden_units, beta, seed
        self.encoder = build_lstm_vae_encoder(l_win, n_channel, code_size, num_hidden_units)
        self.decoder = build_lstm_decoder(l_win, n_channel, code_size, num_hidden_units)
        self.sample_seed = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.built = True  # encoder and decoder are built functional models

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def sample_code(self, z_mean, z_log_var):
        """Reparameterised sample z = z_mean + exp(z_log_var / 2) * eps."""
        eps = keras.random.normal(ops.shape(z_mean), seed=self.sample_seed)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def call(self, x, training=False):
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sample_code(z_mean, z_log_var) if training else z_mean
        return self.decoder(z, training=training)

    def vae_losses(self, x, training):
        z_mean, z_log_var = self.encoder(x, training=training)
        x_hat = self.decoder(self.sample_code(z_mean, z_log_var), training=training)
        squared_error, kl = vae_terms(x, x_hat, z_mean, z_log_var)
        reconstruction, kl = ops.mean(squared_error), ops.mean(kl)
        return reconstruction + self.beta * kl, reconstruction, kl

    def update_trackers(self, loss, reconstruction, kl):
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        import tensorflow as tf

        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            loss, reconstruction, kl = self.vae_losses(x, training=True)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self.update_trackers(loss, reconstruction, kl)

    def test_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        return self.update_trackers(*self.vae_losses(x, training=False))

    def get_config(self):
        return {**super().get_config(), "l_win": self.l_win, "n_channel": self.n_channel,
                "code_size": self.code_size, "num_hidden_units": self.num_hidden_units,
                "beta": self.beta, "seed": self.seed}


class LSTMVAEModel(BaseModel):
    name = "lstm_vae"
    kind = "LSTMVAE"
    static_batch_key = "batch_size_lstm"

    def built_with(self, model):
        saved = model.get_config()
        return {"code_size": saved["code_size"], "num_hidden_units_lstm": saved["num_hidden_units"]}

    def build(self):
        c = self.config
        return LSTMVAE(l_win=c.l_win, n_channel=c.n_channel, code_size=c.code_size,
                       num_hidden_units=c.num_hidden_units_lstm, beta=c.beta, seed=c.seed)

    def compile(self, model, steps_per_epoch):
        model.compile(optimizer=FusedAdam(self.config.learning_rate_lstm))


class LSTMVAETrainer(SingleStageTrainer):
    stage = "lstm_vae"
    title = "LSTM-VAE"

    def __init__(self, config, run_dir, train_series):
        super().__init__(LSTMVAEModel(config, run_dir), config, run_dir, *window_samples(train_series, config))


class LSTMVAEDetector(Detector):
    """Native unit: the window (span l_win)."""

    name = "lstm_vae"
    native_unit = "window"
    native_scores_spread = True  # Scores.from_units: each point the largest covering unit score
    trained_files = ("lstm_vae.keras",)
    fits_segments = True

    def __init__(self, config):
        super().__init__(config)
        self.model = None

    def fit(self, train_series, run_dir: Path) -> None:
        train_series = self.check_training(train_series, self.config.l_win, "window", run_dir)
        if np.ndim(train_series) != 3:
            train_series = self.check_series(train_series, self.config.l_win, "window")
        self.model = LSTMVAETrainer(self.config, run_dir, train_series).train()

    def load(self, run_dir: Path) -> None:
        self.require_trained(run_dir)
        model = LSTMVAEModel(self.config, run_dir).load()
        self.check_trained_with(run_dir, "l_win", self.model_steps(model))
        self.model = model
        self.follow_channels(self.model_channels(self.model))

    def score(self, series) -> Scores:
        c = self.config
        series = self.check_channels(self.check_series(series, c.l_win, "window"), self.model)
        scores = window_mse(self.model, window_array(series, c.l_win), c.score_batch_size)
        return Scores.from_units(scores, c.l_win, len(series))

    def inside_scores(self, segments):
        return inside_window_mse(self, segments)
