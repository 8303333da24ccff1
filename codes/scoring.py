"""Anomaly scores from trained models, batched: each window is encoded once, in one predict.

Sequence ``s`` of a series covers time points ``[s, s + l_win * l_seq - 1]`` (see windowing.py).
Its VAE-LSTM score is the paper's: the summed squared error of its last ``l_seq - 1`` windows
rebuilt by the decoder from the codes that the LSTM predicts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from keras import ops

from models import elbo_terms
from windowing import rolling_windows, sequence_window_index

# Pieces of different lengths retrace predict once each; TensorFlow warns about it, harmlessly.
logging.getLogger("tensorflow").setLevel(logging.ERROR)


def encode_windows(vae, windows: np.ndarray, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Code means and stds of many windows, in one batched predict."""
    mean, std = vae.encoder.predict(np.asarray(windows, dtype="float32"), batch_size=batch_size, verbose=0)
    return mean, std


def gather_sequences(codes: np.ndarray, n_points: int, l_win: int, l_seq: int) -> np.ndarray:
    """(n_seq, l_seq, code_size): the codes of every sequence, gathered from the per-window codes."""
    return codes[sequence_window_index(n_points, l_win, l_seq)]


@dataclass
class SequenceScores:
    """Scores of every sequence of one series piece, plus what they were computed from."""

    scores: np.ndarray           # (n_seq,) VAE-LSTM score, the paper's
    vae_scores: np.ndarray       # (n_seq,) same windows rebuilt by the VAE alone (code mean)
    window_squared_error: np.ndarray  # (n_win,) VAE reconstruction error of every window
    window_neg_elbo: np.ndarray  # (n_win,) VAE negative ELBO of every window
    predicted_windows: np.ndarray  # (n_seq, l_seq - 1, l_win, c) windows rebuilt from LSTM codes


def score_series(vae, lstm, series: np.ndarray, l_win: int, l_seq: int,
                 batch_size: int = 1024) -> SequenceScores:
    """Score every sequence of a (n, c) series with a trained VAE and LSTM, all batched."""
    windows = np.asarray(rolling_windows(series, l_win), dtype="float32")
    index = sequence_window_index(len(windows) + l_win - 1, l_win, l_seq)
    if len(index) == 0:
        raise ValueError(f"series of {len(windows) + l_win - 1} points is shorter than one sequence "
                         f"(l_win * l_seq = {l_win * l_seq})")
    mean, std = encode_windows(vae, windows, batch_size)
    n_seq, code_size = len(index), mean.shape[1]

    predicted_codes = lstm.predict(mean[index[:, :-1]], batch_size=batch_size, verbose=0)
    decoded = vae.decoder.predict(predicted_codes.reshape(-1, code_size), batch_size=batch_size, verbose=0)
    predicted_windows = decoded.reshape(n_seq, l_seq - 1, l_win, -1)
    targets = windows[index[:, 1:]]
    scores = np.square(targets - predicted_windows).sum(axis=(1, 2, 3))

    reconstructed = vae.decoder.predict(mean, batch_size=batch_size, verbose=0)
    squared_error, _, neg_elbo = (ops.convert_to_numpy(t) for t in
                                  elbo_terms(windows, reconstructed, mean, std, vae.sigma2()))
    vae_scores = squared_error[index[:, 1:]].sum(axis=1)
    return SequenceScores(scores, vae_scores, squared_error, neg_elbo, predicted_windows)


def score_series_per_sequence(vae, lstm, series: np.ndarray, l_win: int, l_seq: int) -> np.ndarray:
    """Reference scorer in the original code's style: one set of model calls per sequence.

    Slow on purpose; used to check score_series and to benchmark against it.
    """
    windows = np.asarray(rolling_windows(series, l_win), dtype="float32")
    index = sequence_window_index(len(windows) + l_win - 1, l_win, l_seq)
    scores = np.empty(len(index))
    for s, window_idx in enumerate(index):
        seq = windows[window_idx]
        mean, _ = vae.encoder(seq, training=False)
        predicted = lstm(ops.expand_dims(mean[:-1], 0), training=False)[0]
        rebuilt = ops.convert_to_numpy(vae.decoder(predicted, training=False))
        scores[s] = np.square(seq[1:] - rebuilt).sum()
    return scores
