"""LSTM encoder-decoder (autoencoder) that rebuilds each window, as in the Keras KLSE LSTM autoencoder.

Encoder: LSTM(num_hidden_units_lstm) -> Dense(code_size), the code of one window. Decoder: the code
repeated l_win times -> LSTM(num_hidden_units_lstm, return_sequences) -> Dense(n_channel) at every
step. Trained with MSE and Adam(learning_rate_lstm) on the rolling windows of the training block
(seeded split, ``val_fraction`` held out), one stage ``lstm_ae`` saved as ``lstm_ae.keras``. From
independent segments (a 3-D training array), the windows inside each segment at ``window_stride``.

Score of window w (covering ``[w, w + l_win - 1]``): the mean squared reconstruction error over its
points and channels. Point t gets the largest score of the windows that cover it.

This module also holds what the single-stage LSTM detectors (lstm_ae, lstm_vae, lstm_ad) share:
``build_lstm_decoder`` and ``SingleStageTrainer``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import keras
import numpy as np
from keras import layers

from .. import plotting
from ..models import recurrent
from ..optimizers import FusedAdam
from ..scoring import JIT_SCORING, compiled_chunks, compiled_chunks_at, gathered
from ..training import (
    BaseModel,
    BaseTrainer,
    FigureCallback,
    finished_stand_in,
    gather_rows,
    require_window_memory,
)
from ..windowing import (
    rolling_windows,
    train_val_split,
    training_window_shape,
    training_windows,
    training_windows_copied,
)
from .base import Detector, Scores


def build_lstm_decoder(l_win: int, n_channel: int, code_size: int, num_hidden_units: int) -> keras.Model:
    """Code (code_size,) -> window (l_win, n_channel): RepeatVector, LSTM, per-step Dense."""
    z_in = keras.Input((code_size,), name="code")
    x = layers.RepeatVector(l_win, name="repeat_code")(z_in)
    x = recurrent(num_hidden_units, l_win, return_sequences=True, name="decoder_lstm")(x)
    x_out = layers.TimeDistributed(layers.Dense(n_channel), name="window_out")(x)
    return keras.Model(z_in, x_out, name="decoder")


def build_lstm_ae(l_win: int, n_channel: int, code_size: int, num_hidden_units: int) -> keras.Model:
    """Window (l_win, n_channel) -> code (code_size,) -> rebuilt window (l_win, n_channel)."""
    x_in = keras.Input((l_win, n_channel), name="window")
    h = recurrent(num_hidden_units, l_win, name="encoder_lstm")(x_in)
    code = layers.Dense(code_size, name="code")(h)
    x_out = build_lstm_decoder(l_win, n_channel, code_size, num_hidden_units)(code)
    return keras.Model(x_in, x_out, name="lstm_ae")


def window_array(series: np.ndarray, l_win: int) -> np.ndarray:
    """Every stride-1 window of a (n, c) series as one float32 array (n - l_win + 1, l_win, c): a view of the
    series in float32, not a copy of each window."""
    return rolling_windows(np.asarray(series, dtype="float32"), l_win)


def training_window_array(train: np.ndarray, config) -> np.ndarray:
    """The training windows as one float32 array: every stride-1 window of a (n, c) series (``window_array``, a
    view: the trainer's split makes the only copies), or the windows inside each segment of a (n_seg, length, c)
    array at ``window_stride``."""
    return training_windows(np.asarray(train, dtype="float32"), config.l_win, config.window_stride)


def window_samples(train: np.ndarray, config) -> tuple:
    """``SingleStageTrainer``'s x, y and segments for an autoencoder's training windows: those of a series (a view),
    or the segments of a 3-D array, whose windows are a copy (unless they tile them) that the trainer makes once it
    has checked their size."""
    train = np.asarray(train, dtype="float32")
    return (None, None, train) if train.ndim == 3 else (training_window_array(train, config), None, None)


def window_mse(model: keras.Model, windows: np.ndarray, batch_size: int) -> np.ndarray:
    """Per-window mean squared reconstruction error (over points and channels): one compiled graph over
    the windows, in chunks of ``batch_size`` (``scoring.compiled_chunks``), each chunk's errors taken as it
    comes, so that memory grows with ``batch_size``, not with the windows."""
    errors, first = [], 0
    for rebuilt in compiled_chunks(model, windows, batch_size, JIT_SCORING):
        errors.append(np.square(windows[first:first + len(rebuilt)] - rebuilt).mean(axis=(1, 2)))
        first += len(rebuilt)
    return np.concatenate(errors)


def window_mse_at(model: keras.Model, windows: np.ndarray, rows, batch_size: int) -> np.ndarray:
    """``window_mse(model, windows, batch_size)[rows]``, to the bit, from calls that hold only those windows, each
    in a call like its call over every window (``scoring.compiled_chunks_at``)."""
    rows = np.asarray(rows, dtype=np.int64)
    chosen = np.asarray(windows[rows], dtype="float32")
    parts = ((picks, np.square(chosen[picks] - rebuilt).mean(axis=(1, 2)))
             for picks, rebuilt in compiled_chunks_at(model, chosen, len(windows), rows, batch_size, JIT_SCORING))
    return gathered(parts, len(rows))


def inside_window_mse(detector, segments: np.ndarray) -> np.ndarray | None:
    """``Detector.inside_scores`` of a detector scored by ``window_mse`` of its ``model``: the windows of the
    joined segments that lie inside one, each scored in a call like its call in ``score`` of the joined series."""
    c = detector.config
    joined = detector.joined_inside(segments, c.l_win, "window", detector.model,
                                    isinstance(detector.model, keras.Model))
    if joined is None:
        return None
    series, rows = joined
    return window_mse_at(detector.model, window_array(series, c.l_win), rows.ravel(),
                         c.score_batch_size).reshape(rows.shape)


class SingleStageTrainer(BaseTrainer):
    """Trains one of the single-stage LSTM detectors on input/target pairs of the training block.

    The pairs are split with ``train_val_split(len(x), val_fraction, seed)``; the held-out ones are
    the validation data. Epochs are ``num_epochs_lstm`` (0 when TRAIN_LSTM is 0: the saved model is
    loaded instead), mini-batches ``batch_size_lstm``. Subclasses set ``stage`` and ``title``.
    ``y=None`` means the targets are the inputs (autoencoders). ``segments`` (a (n_seg, length, c) array, with
    ``x`` None): x is the windows inside them (``training_window_array``).
    """

    stage = "model"
    title = "model"
    rate_key = "learning_rate_lstm"

    def __init__(self, model: BaseModel, config, run_dir, x: np.ndarray | None, y: np.ndarray | None = None,
                 segments: np.ndarray | None = None):
        super().__init__(model, config, run_dir,
                         config.num_epochs_lstm if config.TRAIN_LSTM else 0, config.batch_size_lstm)
        shape = x.shape if segments is None else training_window_shape(segments.shape, config.l_win,
                                                                        config.window_stride)
        if self.will_train():  # before the split copies them (``pairs``); a stage that only loads copies none
            copies = 1 if segments is None else 1 + training_windows_copied(segments, config.l_win,
                                                                            config.window_stride)
            require_window_memory(self.stage, shape, None if y is None else y.shape, copies)
        self.segments, self.window_shape, self.y = segments, shape, y
        if segments is None:  # the windows of segments: ``x``, made when training asks
            self.x = x
        self.idx_train, self.idx_val = train_val_split(shape[0], config.val_fraction, config.seed)

    @functools.cached_property
    def x(self) -> np.ndarray:
        """The windows inside the segments, a copy (unless they tile them), made once checked and when training asks:
        not by a stage that only loads its model."""
        return training_window_array(self.segments, self.config)

    def extra_callbacks(self):
        return [FigureCallback(self.draw_figures)]

    def figures(self):
        return [f"{self.stage}_loss.png"]

    def draw_figures(self):
        plotting.loss_curves(self.log_path, self.run_dir / "figures" / f"{self.stage}_loss.png", self.title)

    def pairs(self, idx):
        """The inputs and targets of pairs ``idx``, each one copy, which fit takes as it is (an autoencoder's inputs
        are its targets: one array, one tensor)."""
        x = gather_rows(self.x, idx)
        return x, (x if self.y is None else gather_rows(self.y, idx))

    def train(self) -> keras.Model:
        if self.num_epochs == 0:
            return self.model.load()
        if not self.will_train():  # a finished stage: fit loads it and trains nothing, so no pair is copied
            self.fit(finished_stand_in(len(self.idx_train), self.window_shape[1:]))
            return self.model.model if self.model.model is not None else self.model.load()
        x_train, y_train = self.pairs(self.idx_train)
        validation = self.pairs(self.idx_val) if len(self.idx_val) else None
        self.fit(x_train, y_train, validation_data=validation)
        return self.model.model if self.model.model is not None else self.model.load()


class LSTMAEModel(BaseModel):
    name = "lstm_ae"
    kind = "lstm_ae"
    static_batch_key = "batch_size_lstm"

    def build(self):
        c = self.config
        return build_lstm_ae(c.l_win, c.n_channel, c.code_size, c.num_hidden_units_lstm)

    def built_with(self, model):
        return {"num_hidden_units_lstm": model.get_layer("encoder_lstm").units, "code_size": model.get_layer("code").units}

    def compile(self, model, steps_per_epoch):
        model.compile(optimizer=FusedAdam(self.config.learning_rate_lstm), loss="mse")


class LSTMAETrainer(SingleStageTrainer):
    stage = "lstm_ae"
    title = "LSTM-AE"

    def __init__(self, config, run_dir, train_series: np.ndarray):
        super().__init__(LSTMAEModel(config, run_dir), config, run_dir, *window_samples(train_series, config))


class LSTMAEDetector(Detector):
    """Native unit: the window (span l_win)."""

    name = "lstm_ae"
    native_unit = "window"
    native_scores_spread = True  # Scores.from_units: each point the largest covering unit score
    trained_files = ("lstm_ae.keras",)
    fits_segments = True

    def __init__(self, config):
        super().__init__(config)
        self.model = None

    def fit(self, train_series, run_dir: Path) -> None:
        train_series = self.check_training(train_series, self.config.l_win, "window", run_dir)
        if np.ndim(train_series) != 3:
            train_series = self.check_series(train_series, self.config.l_win, "window")
        self.model = LSTMAETrainer(self.config, run_dir, train_series).train()

    def load(self, run_dir: Path) -> None:
        self.require_trained(run_dir)
        model = LSTMAEModel(self.config, run_dir).load()
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
