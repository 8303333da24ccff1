"""The VAE alone (the paper's VAE column): the same window VAE as the hybrid, scored by its own
reconstruction error.

To compare with the hybrid on the same footing, the score of sequence s is the summed squared
error of the VAE's reconstructions (through the code mean) of the same l_seq - 1 windows that the
hybrid scores: windows s + l_win, ..., s + (l_seq - 1) * l_win.
"""

from __future__ import annotations

from pathlib import Path

import keras

from ..scoring import score_vae_windows, vae_sequence_scores_at
from .base import Detector, Scores
from .vae_lstm import VAEModel, VAETrainer


class VAEDetector(Detector):
    name = "vae"
    native_unit = "sequence"
    native_scores_spread = True  # Scores.from_units: each point the largest covering unit score
    trained_files = ("vae.keras",)
    fits_segments = True

    def __init__(self, config):
        super().__init__(config)
        self.vae = None

    def fit(self, train_series, run_dir: Path) -> None:
        train_series = self.check_training(train_series, self.config.span, "sequence", run_dir)
        self.vae = VAETrainer(self.config, run_dir, train_series, self.channel_names).train()

    def load(self, run_dir: Path) -> None:
        self.require_trained(run_dir)
        vae = VAEModel(self.config, run_dir).load()
        self.check_trained_with(run_dir, "l_win", self.model_steps(vae))
        self.vae = vae
        self.follow_channels(self.model_channels(self.vae))

    def score(self, series) -> Scores:
        c = self.config
        series = self.check_channels(self.check_series(series, c.span, "sequence"), self.vae)
        sequence_scores, window_errors = score_vae_windows(self.vae, series, c.l_win, c.l_seq, c.score_batch_size)
        return Scores.from_units(sequence_scores, c.span, len(series), window_squared_error=window_errors)

    def inside_scores(self, segments):
        c = self.config
        joined = self.joined_inside(segments, c.span, "sequence", self.vae, isinstance(self.vae, keras.Model))
        if joined is None:
            return None
        series, rows = joined
        return vae_sequence_scores_at(self.vae, series, c.l_win, c.l_seq, rows.ravel(),
                                      c.score_batch_size).reshape(rows.shape)
