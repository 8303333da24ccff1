"""The VAE and LSTM models of a run folder and their trainers."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

import plotting
from base import BaseModel, BaseTrainer
from models import lstm_from_config, vae_from_config
from scoring import encode_windows, gather_sequences
from windowing import rolling_windows, train_val_split


class VAEModel(BaseModel):
    name = "vae"

    def build(self):
        return vae_from_config(self.config)

    def compile(self, model, steps_per_epoch):
        c = self.config
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            c.learning_rate_vae, decay_steps=steps_per_epoch, decay_rate=c.lr_decay_vae, staircase=True)
        model.compile(optimizer=keras.optimizers.Adam(
            learning_rate=learning_rate, beta_1=c.adam_beta1, beta_2=c.adam_beta2,
            clipvalue=c.grad_clip_value or None))


class LSTMModel(BaseModel):
    name = "lstm"

    def build(self):
        return lstm_from_config(self.config)

    def compile(self, model, steps_per_epoch):
        model.compile(optimizer=keras.optimizers.Adam(self.config.learning_rate_lstm), loss="mse")


class FigureCallback(keras.callbacks.Callback):
    """Calls a figure function once training ends, so that figures show the final model."""

    def __init__(self, draw):
        super().__init__()
        self.draw = draw

    def on_train_end(self, logs=None):
        self.draw()


class VAETrainer(BaseTrainer):
    """Trains the VAE on the rolling windows of the training block (seeded 90/10 split)."""

    stage = "vae"

    def __init__(self, config, run_dir, train_series: np.ndarray):
        super().__init__(VAEModel(config, run_dir), config, run_dir,
                         config.num_epochs_vae if config.TRAIN_VAE else 0, config.batch_size)
        windows = np.asarray(rolling_windows(train_series, config.l_win), dtype="float32")
        idx_train, idx_val = train_val_split(len(windows), config.val_fraction, config.seed)
        self.train_windows, self.val_windows = windows[idx_train], windows[idx_val]

    def extra_callbacks(self):
        return [FigureCallback(self.draw_figures)]

    def draw_figures(self):
        vae, figures = self.model.model, self.run_dir / "figures"
        plotting.loss_curves(self.log_path, figures / "vae_loss.png", "VAE")
        plotting.reconstructions(self.val_windows[:8], vae.predict(self.val_windows[:8], verbose=0),
                                 figures / "vae_reconstructions.png")
        rng = np.random.default_rng(self.config.seed)
        prior = rng.standard_normal((8, self.config.code_size)).astype("float32")
        plotting.prior_samples(vae.decoder.predict(prior, verbose=0), figures / "vae_prior_samples.png")

    def train(self) -> keras.Model:
        if self.num_epochs == 0:
            return self.model.load()
        self.fit(self.train_windows, validation_data=(self.val_windows, None))
        return self.model.model if self.model.model is not None else self.model.load()


class LSTMTrainer(BaseTrainer):
    """Trains the LSTM on VAE code means of the training sequences, computed in one batched predict."""

    stage = "lstm"

    def __init__(self, config, run_dir, train_series: np.ndarray, vae):
        super().__init__(LSTMModel(config, run_dir), config, run_dir,
                         config.num_epochs_lstm if config.TRAIN_LSTM else 0, config.batch_size_lstm)
        self.vae, self.train_series = vae, train_series
        windows = rolling_windows(train_series, config.l_win)
        codes, _ = encode_windows(vae, windows, config.score_batch_size)
        sequences = gather_sequences(codes, len(train_series), config.l_win, config.l_seq)
        idx_train, idx_val = train_val_split(len(sequences), config.val_fraction, config.seed)
        self.train_codes, self.val_codes = sequences[idx_train], sequences[idx_val]
        self.val_index = idx_val

    def extra_callbacks(self):
        return [FigureCallback(self.draw_figures)]

    def draw_figures(self):
        c, figures = self.config, self.run_dir / "figures"
        plotting.loss_curves(self.log_path, figures / "lstm_loss.png", "LSTM")
        codes = self.val_codes[:1]
        predicted = self.model.model.predict(codes[:, :-1], verbose=0)
        plotting.predicted_codes(codes[0, 1:], predicted[0], figures / "lstm_codes.png")
        start = int(self.val_index[0])
        segment = self.train_series[start:start + c.l_win * c.l_seq]
        rebuilt = self.vae.decoder.predict(predicted[0], verbose=0)
        plotting.long_sequence(segment, rebuilt, c.l_win, figures / "lstm_long_sequence.png")

    def train(self) -> keras.Model:
        if self.num_epochs == 0:
            return self.model.load()
        x, y = self.train_codes[:, :-1], self.train_codes[:, 1:]
        self.fit(x, y, validation_data=(self.val_codes[:, :-1], self.val_codes[:, 1:]))
        return self.model.model if self.model.model is not None else self.model.load()


def train_from_config(config, series) -> Path:
    """Seed, pick the run folder, train the VAE then the LSTM; returns the run folder."""
    from runs import prepare_run_dir

    keras.utils.set_random_seed(config.seed)
    run = prepare_run_dir(config)
    vae_trainer = VAETrainer(config, run, series.train)
    vae = vae_trainer.train()
    lstm_trainer = LSTMTrainer(config, run, series.train, vae)
    if vae_trainer.trained and lstm_trainer.model.exists():
        print("the VAE changed, so the LSTM trained on its old codes is set aside and trained afresh")
        lstm_trainer.set_aside()
    lstm_trainer.train()
    return run
