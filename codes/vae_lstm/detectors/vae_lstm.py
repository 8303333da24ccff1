"""The paper's VAE-LSTM hybrid: a window VAE, then an LSTM over the codes of l_seq - 1 windows.

Two stages in one run folder, ``vae.keras`` then ``lstm.keras``, each trained by the generic trainer.
The score of sequence s (covering ``[s, s + l_win * l_seq - 1]``) is the summed squared error of
its last l_seq - 1 windows, rebuilt by the decoder from the codes that the LSTM predicts.

Training samples: from one series, every stride-1 window (VAE) and every stride-1 sequence (LSTM).
From independent segments, a (n_segments, length, c) array, the windows and sequences inside each
segment only, at ``window_stride`` (``windowing.segment_windows`` / ``segment_sequences``); with
``l_win * l_seq`` equal to the segment length, a segment is exactly one sequence.
"""

from __future__ import annotations

import functools
from pathlib import Path

import keras
import numpy as np

from .. import plotting, scoring
from ..errors import UserError
from ..models import lstm_from_config, vae_from_config
from ..optimizers import FusedAdam
from ..progress import pass_name, scoring_pass
from ..runs import train_hint
from ..scoring import (
    BlockPasses,
    ChannelErrorScale,
    ContextErrorScale,
    PredictionErrors,
    SequenceErrors,
    balanced_points,
    block_digest,
    encode_windows,
    last_window_points,
    level_points,
    moving_max,
    moving_mean,
    sequence_codes,
    sequence_scores_at,
    term_scale,
    trailing_standardise,
    uncovered_error,
    vae_point_errors,
)
from ..training import (
    BaseModel,
    BaseTrainer,
    FigureCallback,
    damage,
    finished_stand_in,
    gather_rows,
    require_memory,
    require_window_memory,
    set_aside,
)
from ..windowing import (
    as_2d,
    n_sequences,
    rolling_windows,
    segment_sequences,
    train_val_split,
    training_sequences_copied,
    training_window_shape,
    training_windows,
    training_windows_copied,
)
from . import BALANCED_SCORES, SCORING_KEYS, scoring_keys_for
from .base import Detector, Scores


def figure_rows(model: keras.Model, rows: np.ndarray) -> np.ndarray:
    """``model``'s output (inference) for the few rows a training figure draws, as NumPy: the model called on them,
    not Keras's ``predict``, which for each model traced a graph and a tf.data pipeline (four of them, about a
    second of a small run's training) to run one batch."""
    return keras.ops.convert_to_numpy(model(np.asarray(rows, dtype="float32"), training=False))


class VAEModel(BaseModel):
    name = "vae"
    kind = "VAE"
    rate_key = "learning_rate_vae"

    def build(self):
        return vae_from_config(self.config)

    def built_with(self, model):
        saved = model.get_config()
        return {"code_size": saved["code_size"], "num_hidden_units": saved["num_hidden_units"],
                "vae_decoder_channels": saved.get("decoder_channels")}

    def compile(self, model, steps_per_epoch):
        c = self.config
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            c.learning_rate_vae, decay_steps=steps_per_epoch, decay_rate=c.lr_decay_vae, staircase=True)
        model.compile(optimizer=FusedAdam(
            learning_rate=learning_rate, beta_1=c.adam_beta1, beta_2=c.adam_beta2,
            clipvalue=c.grad_clip_value or None))


class LSTMModel(BaseModel):
    name = "lstm"
    kind = "lstm_predictor"
    static_batch_key = "batch_size_lstm"

    def build(self):
        return lstm_from_config(self.config)

    def built_with(self, model):
        return {"num_hidden_units_lstm": model.get_layer("lstm_1").units, "code_size": model.get_layer("lstm_out").units}

    def compile(self, model, steps_per_epoch):
        model.compile(optimizer=FusedAdam(self.config.learning_rate_lstm), loss="mse")


class VAETrainer(BaseTrainer):
    """Trains the VAE on the rolling windows of the training block, or the windows inside each training
    segment at ``window_stride`` (seeded 90/10 split)."""

    stage = "vae"
    rate_key = "learning_rate_vae"

    def __init__(self, config, run_dir, train_series: np.ndarray, channels: list[str] | None = None):
        super().__init__(VAEModel(config, run_dir), config, run_dir,
                         config.num_epochs_vae if config.TRAIN_VAE else 0, config.batch_size)
        self.channels = channels  # the figures' channel names
        # windows in float32 (of a series, a view), so that the split makes the only copies (segments': two, unless
        # the windows tile them), which fit hands to TensorFlow as they are (gather_rows); made when first asked for,
        # not by a stage that only loads its model
        self.train_array = train = np.asarray(train_series, dtype="float32")
        self.window_shape = training_window_shape(train.shape, config.l_win, config.window_stride)
        if self.will_train():  # before any copy of them: the windows of segments are one, unless they tile them
            require_window_memory(self.stage, self.window_shape,
                                  copies=1 + training_windows_copied(train, config.l_win, config.window_stride))
        self.idx_train, self.idx_val = train_val_split(self.window_shape[0], config.val_fraction, config.seed)

    @functools.cached_property
    def windows(self) -> np.ndarray:
        """Every training window (of segments, a copy unless they tile them), made when training or its figures ask."""
        c = self.config
        return training_windows(self.train_array, c.l_win, c.window_stride)

    @functools.cached_property
    def train_windows(self) -> np.ndarray:
        return gather_rows(self.windows, self.idx_train)

    @functools.cached_property
    def val_windows(self) -> np.ndarray:
        return gather_rows(self.windows, self.idx_val)

    def extra_callbacks(self):
        return [FigureCallback(self.draw_figures)]

    def figures(self):
        return ["vae_loss.png", "vae_reconstructions.png", "vae_prior_samples.png"]

    def draw_figures(self):
        vae, figures = self.model.model, self.run_dir / "figures"
        plotting.loss_curves(self.log_path, figures / "vae_loss.png", "VAE")
        spread = np.linspace(0, len(self.val_windows) - 1, min(8, len(self.val_windows))).astype(int)
        windows = self.val_windows[spread]  # across the validation set, not one region
        plotting.reconstructions(windows, figure_rows(vae, windows), figures / "vae_reconstructions.png",
                                 self.channels)
        rng = np.random.default_rng(self.config.seed)
        prior = rng.standard_normal((8, self.config.code_size)).astype("float32")
        plotting.prior_samples(figure_rows(vae.decoder, prior), figures / "vae_prior_samples.png", self.channels)

    def train(self) -> keras.Model:
        if self.num_epochs == 0:
            return self.model.load()
        if not self.will_train():  # a finished stage: fit loads it and trains nothing, so no window is made
            self.fit(finished_stand_in(len(self.idx_train), self.window_shape[1:]))
        else:
            self.fit(self.train_windows, validation_data=(self.val_windows, None))
        return self.model.model if self.model.model is not None else self.model.load()


class LSTMTrainer(BaseTrainer):
    """Trains the LSTM to predict the next codes from the VAE code means of the training sequences.

    Input: the codes of windows 0 .. l_seq - 2 of a sequence; target: those of windows 1 .. l_seq - 1.
    The held-out sequences (``val_index``) are the ones detection uses for its validation scores.
    Segments (a 3-D training array): the sequences inside each segment at ``window_stride``.
    """

    stage = "lstm"
    rate_key = "learning_rate_lstm"

    def __init__(self, config, run_dir, train_series: np.ndarray, vae, channels: list[str] | None = None):
        super().__init__(LSTMModel(config, run_dir), config, run_dir,
                         config.num_epochs_lstm if config.TRAIN_LSTM else 0, config.batch_size_lstm)
        self.vae, self.train_series, self.channels = vae, train_series, channels
        if self.will_train():  # before the VAE stage trains (``VAELSTMDetector.fit``), and before any sample is made
            self.require_sample_memory()

    def require_sample_memory(self) -> None:
        """One line when the samples that training makes take more bytes than the memory available. Encoding: the
        windows of every sequence, copied out of segments (``training_sequences_copied``; a series' are a view), with
        their codes (means and stds, in the encoder's parts and joined: 4 x the means); then training: the means,
        and the inputs and targets that the split gathers (l_seq - 1 codes each)."""
        c, shape = self.config, np.shape(self.train_series)
        n_seq, segments = self.sequence_count(), len(shape) == 3
        n_channel = shape[-1] if len(shape) > 1 else 1
        rows = n_seq * c.l_seq if segments else max(shape[0] - c.l_win + 1, 0)  # the windows encoded
        copied = training_sequences_copied(self.train_series, c.l_win, c.l_seq, c.window_stride)
        windows = 4 * rows * c.l_win * n_channel if copied else 0
        codes = 4 * rows * c.code_size
        need = max(windows + 4 * codes, codes + 2 * 4 * n_seq * (c.l_seq - 1) * c.code_size)
        what = (f"the {self.stage} stage's {n_seq:,} training sequences of {c.l_seq} windows of {c.l_win} points x "
                f"{n_channel} channel(s)")
        why = (f" ({'their windows, copied out of the segments, ' if copied else ''}their windows' codes, and the "
               "inputs and targets their split copies)")
        fix = ("give a larger window_stride, a smaller l_seq or fewer segments" if segments else
               "give a smaller l_seq or code_size, or a shorter training block (train_points, train_range)")
        require_memory(need, what, why, fix)

    @functools.cached_property
    def samples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sequence codes, train index, validation index): the code means of every training sequence, (n_seq,
        l_seq, code_size) (of one series, a view of its windows' codes), and their seeded split. Encoded when first
        asked for (training, its figures), not for an LSTM that is loaded: the encoder over every training window
        takes minutes on a long series."""
        config, train_series = self.config, self.train_series
        if np.ndim(train_series) == 3:
            windows = segment_sequences(train_series, config.l_win, config.l_seq, config.window_stride)
            codes, _ = encode_windows(self.vae, windows.reshape(-1, *windows.shape[2:]), config.score_batch_size)
            sequences = codes.reshape(len(windows), config.l_seq, -1)
        else:
            codes, _ = encode_windows(self.vae, rolling_windows(train_series, config.l_win), config.score_batch_size)
            # windows s, s + l_win, .., s + (l_seq - 1) * l_win of every start s: sequence_codes of l_seq + 1 windows
            # gives the first l_seq of them, one row per sequence (as gather_sequences, without a copy)
            sequences = sequence_codes(codes, config.l_win, config.l_seq + 1)
        idx_train, idx_val = train_val_split(len(sequences), config.val_fraction, config.seed)
        return sequences, idx_train, idx_val

    def sequence_count(self) -> int:
        """The number of training sequences, from the training array's shape alone."""
        c = self.config
        shape = np.shape(self.train_series)
        if len(shape) == 3:
            return shape[0] * max((shape[1] - c.span) // c.window_stride + 1, 0)
        return n_sequences(shape[0], c.l_win, c.l_seq)

    @property
    def train_codes(self) -> np.ndarray:
        return gather_rows(self.samples[0], self.train_index)

    @property
    def val_codes(self) -> np.ndarray:
        return gather_rows(self.samples[0], self.val_index)

    @property
    def train_index(self) -> np.ndarray:
        return self.samples[1]

    @property
    def val_index(self) -> np.ndarray:
        return self.samples[2]

    def extra_callbacks(self):
        return [FigureCallback(self.draw_figures)]

    def figures(self):
        return ["lstm_loss.png", *(["lstm_codes.png", "lstm_long_sequence.png"] if len(self.val_index) else [])]

    def draw_figures(self):
        c, figures = self.config, self.run_dir / "figures"
        plotting.loss_curves(self.log_path, figures / "lstm_loss.png", "LSTM")
        if not len(self.val_index):
            return
        codes = self.samples[0][self.val_index[:1]]
        predicted = figure_rows(self.model.model, codes[:, :-1])
        plotting.predicted_codes(codes[0, 1:], predicted[0], figures / "lstm_codes.png")
        segment = self.sequence_points(int(self.val_index[0]))
        rebuilt = figure_rows(self.vae.decoder, predicted[0])
        plotting.long_sequence(segment, rebuilt, c.l_win, figures / "lstm_long_sequence.png", self.channels)

    def sequence_points(self, i: int) -> np.ndarray:
        """The (l_win * l_seq, c) points of training sequence i."""
        c = self.config
        if np.ndim(self.train_series) == 3:
            return segment_sequences(self.train_series, c.l_win, c.l_seq, c.window_stride)[i].reshape(c.span, -1)
        return self.train_series[i:i + c.l_win * c.l_seq]

    def train(self) -> keras.Model:
        if self.num_epochs == 0:
            return self.model.load()
        if not self.will_train():  # a finished stage: fit loads it and trains nothing, so no window is encoded
            n_train = len(train_val_split(self.sequence_count(), self.config.val_fraction, self.config.seed)[0])
            self.fit(finished_stand_in(n_train, (self.config.l_seq - 1, self.config.code_size)))
            return self.model.model if self.model.model is not None else self.model.load()
        sequences = self.samples[0]  # inputs and targets gathered on their own, each whole, which fit takes as they are
        inputs, targets = sequences[:, :-1], sequences[:, 1:]
        self.fit(gather_rows(inputs, self.train_index), gather_rows(targets, self.train_index),
                 validation_data=(gather_rows(inputs, self.val_index), gather_rows(targets, self.val_index)))
        return self.model.model if self.model.model is not None else self.model.load()


CALIBRATED_SCORES = (*BALANCED_SCORES, "combined")  # point scores that need the training block's errors
# point_score values that take a quantile of a point's errors over the predictions covering it, not their mean
# scoring keys that score applies to the terms calibrate computed: a change after calibrate needs none again
# (but with trailing_scale, whose history is the training block's point scores under them)
APPLIED_AT_SCORE = ("point_smoothing", "point_spread", "second_term_weight", "reconstruction_weight", "term_combine",
                    "term_power")
PREDICTION_QUANTILES = {"median_prediction": 0.5, "min_prediction": 0.0}
# point scores that are a mean of the point's errors: under error_scale "channel", linear in its errors' sums per
# channel, which one pass over a training block gives with the channels' scales (VAELSTMDetector.one_pass_scores)
ONE_PASS_SCORES = ("predicted_error", "combined", "balanced", "balanced_level", "last_window")
# one_pass_scores' sums take at most this share of the bytes of the predicted windows they stand for, and this many
ONE_PASS_SHARE, ONE_PASS_BYTES = 0.25, 1 << 30
# trailing_scale's floor on a trailing standard deviation, as a share of the training block's point scores' own
TRAILING_SD_FLOOR = 1e-3


class VAELSTMDetector(Detector):
    """Native unit: the sequence of l_seq windows (span l_win * l_seq). Point scores (``point_score``):
    ``max_sequence``, the largest score of the sequences covering a point; ``predicted_error``, the point's
    own squared error in the predicted windows, averaged over the sequences that predict it; ``combined``,
    that plus the VAE's own reconstruction error of the point, averaged over the windows covering it;
    ``balanced``, the same two terms, each divided by its mean (``term_scale`` "mean") or its largest value
    ("max") over the training block (``calibrate``), a point that no prediction covers taking the training
    block's median prediction error;
    ``balanced_level``, likewise with the point's squared training-standardised value (``abs_z``'s score squared)
    as the second term, which ``second_term_weight`` weighs, and with ``reconstruction_weight`` > 0 a third, the
    VAE's own reconstruction error, weighed by it; the terms summed, or the largest with ``term_combine`` "max";
    each term raised to ``term_power`` first;
    ``median_prediction`` and ``min_prediction``, the median and the smallest of the point's squared errors over
    the sequences that predict it, in place of their mean;
    ``last_window``, the point's error in the predictions with the most context (each sequence's last
    window), averaged over the sequences whose last window covers it. With ``point_smoothing`` k > 0,
    all but ``max_sequence`` take the centred moving mean of their point scores over k * l_win points; with
    ``point_spread`` s > 0, then their centred moving maximum over s * l_win points; with ``trailing_scale``
    k > 0, then each is standardised by the mean and standard deviation of the k * l_win point scores just
    before it, the training block's point scores (``calibrate``) standing before a series' first points. With
    ``error_scale`` "channel", their squared errors are summed over channels after dividing each channel's
    by its mean squared error in the training block's predicted windows (``calibrate``). With ``context_scale``
    "mean", each prediction's error is divided by the training block's mean error of predictions made after as
    many windows of context before the errors covering a point are combined (``calibrate``)."""

    name = "vae_lstm"
    native_unit = "sequence"
    trained_files = ("vae.keras", "lstm.keras")
    fits_segments = True
    scoring_keys = SCORING_KEYS["vae_lstm"]

    def __init__(self, config):
        super().__init__(config)
        self.vae = self.lstm = None
        self.channel_scale = None  # (c,) with error_scale "channel" and more than one channel (calibrate)
        self.context_scale = None  # (l_seq - 1,) with context_scale "mean": training error by window position
        self.term_scales = None  # (prediction, second[, third] term) training scales (term_scale), BALANCED_SCORES
        self.uncovered_error = None  # the training block's median prediction error: the term of points none covers
        self.trailing_history = None  # the training block's point scores, before trailing_scale: a series' past
        self.trailing_floor = None  # the floor of a trailing standard deviation (TRAILING_SD_FLOOR of theirs)
        self.training_scores = None  # (block_digest, sequence scores, point scores) of the block calibrated on
        self.calibrated_config = None  # the config calibrate ran under: its scoring keys made the statistics above
        self.calibrated = False
        self.fit_series = None  # the series fit trained on: score calibrates on it when first needed

    def fit(self, train_series, run_dir: Path) -> None:
        train_series = self.check_training(train_series, self.config.span, "sequence", run_dir)
        if np.ndim(train_series) != 3:  # one series: (n,) is one channel, as score takes it
            train_series = as_2d(np.asarray(train_series))
        vae_trainer = VAETrainer(self.config, run_dir, train_series, self.channel_names)
        # its samples' memory checked before the VAE trains: an LSTM stage refused after it would waste its training
        lstm_trainer = LSTMTrainer(self.config, run_dir, train_series, None, self.channel_names)
        lstm_model = lstm_trainer.model
        if lstm_model.exists() and vae_trainer.will_train():  # decided before: a kill may come between the stages
            if not (self.config.TRAIN_LSTM and self.config.num_epochs_lstm):  # the LSTM set aside would not train
                vae = vae_trainer.model
                raise UserError(vae.unusable() if damage(vae.path) else f"the vae in {vae.path} has epochs left to "
                                f"train; {train_hint(self.config, 'vae', 'to train them', run_dir)}")
            # it trains afresh: its samples' memory checked before it is set aside (a refusal keeps it in place)
            lstm_trainer.require_sample_memory()
            vae = vae_trainer.model
            if self.config.load_model and vae.exists() and damage(vae.path) and not vae.resumable():
                raise UserError(vae.unusable())  # what resuming it would say, before the LSTM is set aside
            print("the VAE will train, so the LSTM trained on its old codes is set aside and trained afresh")
            set_aside(lstm_model, run_dir, LSTMTrainer.stage)
        self.forget_calibration()  # before the models change: a fit that fails keeps no scales of the old ones,
        self.fit_series = None
        self.vae = self.lstm = None  # nor their models (a new VAE beside the LSTM of the old one's codes): unfitted
        vae = vae_trainer.train()
        del vae_trainer  # its training windows, before the LSTM stage's samples
        lstm_trainer.vae = vae
        lstm = lstm_trainer.train()
        self.vae, self.lstm = vae, lstm
        # one series (not segments): a fitted detector scores at once, calibrated on it
        self.fit_series = train_series if np.ndim(train_series) != 3 else None

    def load(self, run_dir: Path) -> None:
        self.require_trained(run_dir)
        vae, lstm = VAEModel(self.config, run_dir).load(), LSTMModel(self.config, run_dir).load()
        self.check_trained_with(run_dir, "l_win", self.model_steps(vae))
        steps = self.model_steps(lstm)  # the LSTM reads the codes of l_seq - 1 windows
        self.check_trained_with(run_dir, "l_seq", None if steps is None else steps + 1)
        self.vae, self.lstm = vae, lstm
        self.follow_channels(self.model_channels(self.vae))
        self.forget_calibration()  # the scales of earlier models, or the series an earlier fit trained on
        self.fit_series = None

    def forget_calibration(self) -> None:
        """Uncalibrated: no training-block statistics, until ``calibrate`` (or a fitted detector's first score)."""
        self.channel_scale, self.context_scale, self.term_scales, self.uncovered_error = None, None, None, None
        self.trailing_history = self.trailing_floor = self.training_scores = self.calibrated_config = None
        self.calibrated = False

    @classmethod
    def spreads_scores(cls, config) -> bool:
        return config.point_score == "max_sequence"

    @classmethod
    def scoring_keys_for(cls, n_channel, config=None):
        return scoring_keys_for(cls.name, n_channel, config)

    def scales_channels(self, series: np.ndarray) -> bool:
        """Whether the point scores of this (n, c) series divide each channel's error by its training scale."""
        c = self.config
        return c.error_scale == "channel" and c.point_score != "max_sequence" and series.shape[1] > 1

    def scales_context(self) -> bool:
        """Whether each prediction's error is divided by the training error of its window position."""
        return self.config.context_scale == "mean" and self.config.point_score != "max_sequence"

    def trails(self) -> bool:
        """Whether each point score is standardised by the point scores before it (trailing_scale)."""
        return self.config.trailing_scale > 0 and self.config.point_score != "max_sequence"

    def needs_calibration(self, series: np.ndarray) -> bool:
        return (self.scales_channels(series) or self.scales_context() or self.trails()
                or self.config.point_score in CALIBRATED_SCORES)

    def check_model_sizes(self) -> None:
        """One line when the config's l_win or l_seq is not the one the models were trained with (a config changed
        since fit or load): the block calibrated on got its kept scores labelled with the new span, any other a
        Keras shape error. Stand-ins without ``inputs`` are not checked."""
        for key, model, extra in (("l_win", self.vae, 0), ("l_seq", self.lstm, 1)):  # the LSTM reads l_seq - 1 codes
            steps = self.model_steps(model)
            if steps is not None and steps + extra != self.config[key]:
                raise UserError(f"the {self.name}'s models were trained with {key} = {steps + extra}; the config's "
                                f"{key} is {self.config[key]}: score with the config they were trained with")

    def calibrate(self, train_series) -> None:
        c = self.config
        self.forget_calibration()  # until it ends: a refused block leaves it uncalibrated
        self.check_model_sizes()
        series = self.check_channels(self.check_series(train_series, c.span, "sequence"), self.vae)
        if self.needs_calibration(series):
            self.calibrate_on(series)
        self.calibrated, self.fit_series, self.calibrated_config = True, None, c

    def calibrate_on(self, series: np.ndarray) -> None:
        """The training-block statistics that ``needs_calibration`` asks for, from the checked (n, c) series: each
        from a pass over it, as each needs the scales before it, the models running over it once (``BlockPasses``,
        its predicted windows kept between the passes up to ``KEEP_PREDICTION_BYTES``). A block too large to keep
        them, whose channels' scales the point errors (a mean of errors) divide by, takes one pass in all
        (``one_pass_scores``). Its scores, which detection asks for next, are kept (``training_scores``) where a
        pass computed them, or where they cost no model run."""
        c = self.config
        needs = [self.scales_channels(series), self.scales_context(),
                 c.point_score in CALIBRATED_SCORES or self.trails()]
        # after a scale's pass, the kept windows serve the next passes (the block's scores among them)
        block = self.passes(series, scoring.KEEP_PREDICTION_BYTES if any(needs[:2]) else 0)
        # each pass says which it is in its progress lines (a block too large to keep runs the models in each; the
        # scores' pass that no statistic needs runs on kept windows only, without a line)
        passes = [what for what, needed in zip(("channels' error scales", "window positions' error scales", "scores"),
                                               needs, strict=True) if needed]
        within = pass_name()

        def named(what: str):
            return scoring_pass(f"{within}, pass {passes.index(what) + 1} of {len(passes)} ({what})"
                                if len(passes) > 1 and what in passes else within)

        if self.calibrates_in_one_pass(series, block):
            scales = ", ".join(what for what in passes if what != "scores")
            with scoring_pass(f"{within}, one pass ({scales} and scores)"):
                native, terms = self.one_pass_scores(series, block)
        else:
            if needs[0]:
                with named("channels' error scales"):
                    self.channel_scale, = block.run(ChannelErrorScale(series, c.l_win))
            if needs[1]:  # after the channels' scale, which it then includes
                with named("window positions' error scales"):
                    self.context_scale, = block.run(ContextErrorScale(series, c.l_win, self.channel_scale))
            if not needs[2] and block.kept is None:  # its scores would take another run of the models: score runs it
                return
            with named("scores"):
                native, terms = self.raw_scores(series, block)
        if c.point_score in CALIBRATED_SCORES:
            if c.point_score in BALANCED_SCORES:
                self.term_scales = tuple(term_scale(t, c.term_scale) for t in terms)
            self.uncovered_error = uncovered_error(terms[0])
        points = self.finished_points(terms)
        if self.trails():  # last: the training block's point scores under every scale above
            known = points[np.isfinite(points)]
            if len(known) and np.ptp(known) == 0:  # a floor of 0.001 of no spread: test scores near 1e300, or inf
                raise UserError(self.equal_training_scores(len(series), len(known), float(known[0])))
            self.trailing_history = points
            self.trailing_floor = max(TRAILING_SD_FLOOR * (float(np.std(known)) if len(known) else 0.0),
                                      np.finfo(float).tiny)
        self.training_scores = (block_digest(series), native, points)

    def calibrates_in_one_pass(self, series: np.ndarray, block: BlockPasses) -> bool:
        """Whether ``calibrate_on`` takes one pass of the models over the training block (``one_pass_scores``): where
        each channel's error is divided by its scale, the point score is a mean of errors (ONE_PASS_SCORES), the
        block's predicted windows are too large to keep between passes (each pass would run the LSTM and decoder
        again), and the sums that stand for them take at most ONE_PASS_SHARE of their bytes and ONE_PASS_BYTES."""
        c = self.config
        if not (self.scales_channels(series) and c.point_score in ONE_PASS_SCORES) or block.keeps(
                scoring.KEEP_PREDICTION_BYTES):
            return False
        size = scoring.ChannelErrorSums.size(len(series), series.shape[1], c.l_seq, self.scales_context(),
                                             c.point_score == "last_window")
        return size <= min(ONE_PASS_SHARE * block.predicted_bytes(), ONE_PASS_BYTES)

    def one_pass_scores(self, series: np.ndarray, block: BlockPasses) -> tuple[np.ndarray, np.ndarray | tuple]:
        """``raw_scores`` of the training block from one pass of the models, which sets the channels' error scales
        (and the window positions', with context_scale "mean") on the way: each point's squared errors summed per
        channel (and window position) over the predicted windows covering it (``scoring.ChannelErrorSums``), then
        divided by the scales that the same pass gave. The channels' scales and the sequence scores are those of a
        pass per statistic to the bit; the window positions' scales and the point errors to float rounding (their
        sums in another order)."""
        c = self.config
        last = c.point_score == "last_window"
        native, sums = block.run(SequenceErrors(), scoring.ChannelErrorSums(series, c.l_win, c.l_seq,
                                                                            self.scales_context(), last))
        self.channel_scale = sums.channel_scale()
        scaled = sums.scaled(self.channel_scale)
        if self.scales_context():
            self.context_scale = sums.context_scale(scaled)
        points = sums.point_errors(scaled, self.context_scale)
        if last:
            return native, last_window_points(sums.point_errors(scaled, self.context_scale, last_only=True), points)
        del sums, scaled  # before the VAE's own errors (error_terms), which run its decoder over the block
        return native, self.error_terms(series, points, block) if c.point_score in CALIBRATED_SCORES else points

    def equal_training_scores(self, n_points: int, n_scores: int, value: float) -> str:
        """Why trailing_scale cannot standardise against a training block whose point scores are all ``value``."""
        c = self.config
        why = (f": point_spread {c.point_spread:g} gives each point the largest score within "
               f"{round(c.point_spread * c.l_win)} points around it, which reaches the same one from every point of the "
               f"{n_points}-point block; make point_spread smaller" if c.point_spread > 0 else "")
        return (f"trailing_scale {c.trailing_scale} divides each point score by the spread of the scores before it, "
                f"but the training block's {n_scores} point scores are all equal ({value:.6g}), so the test scores "
                f"would be divided by about 0{why}")

    def passes(self, series: np.ndarray, keep_bytes: int = 0) -> BlockPasses:
        """The passes of the models over ``series`` (``scoring.BlockPasses``)."""
        c = self.config
        return BlockPasses(self.vae, self.lstm, series, c.l_win, c.l_seq, c.score_batch_size, keep_bytes)

    def prediction_errors(self, series: np.ndarray, last_only: bool = False) -> PredictionErrors:
        """The sink of the point's squared errors in the predicted windows (each sequence's last with
        ``last_only``), under the calibrated scales and the point score's quantile."""
        c = self.config
        return PredictionErrors(series, c.l_win, c.l_seq - 1 if last_only else 1, **self.error_scales(),
                                quantile=PREDICTION_QUANTILES.get(c.point_score))

    def error_terms(self, series: np.ndarray, predicted: np.ndarray, block: BlockPasses) -> tuple[np.ndarray, ...]:
        """Per point: the squared error in the LSTM-predicted windows (``predicted``, NaN where none covers it), and
        the second term: the point's squared level with "balanced_level", else the VAE's own squared reconstruction
        error (its decoder over the code means of ``block``); with "balanced_level" and ``reconstruction_weight``
        > 0, that error too, as a third term."""
        c = self.config
        if c.point_score == "balanced_level":
            level = level_points(series)
            return (predicted, level, self.reconstruction_errors(series, block)) if c.reconstruction_weight > 0 else (
                predicted, level)
        return predicted, self.reconstruction_errors(series, block)

    def reconstruction_errors(self, series: np.ndarray, block: BlockPasses) -> np.ndarray:
        """Per point: the VAE's own squared reconstruction error (its decoder over the code means of ``block``)."""
        c = self.config
        return vae_point_errors(self.vae, series, c.l_win, c.score_batch_size, self.error_scales()["channel_scale"],
                                block.codes)

    def error_scales(self) -> dict:
        """The calibrated scales that the config's error_scale and context_scale ask for (one set to "none" since
        calibrate reads none of them)."""
        c = self.config
        return {"channel_scale": self.channel_scale if c.error_scale == "channel" else None,
                "context_scale": self.context_scale if self.scales_context() else None}

    def score(self, series) -> Scores:
        c = self.config
        self.check_model_sizes()  # before the series is checked against a span of the changed sizes
        series = self.check_channels(self.check_series(series, c.span, "sequence"), self.vae)
        if self.needs_calibration(series) and not self.calibrated:
            if self.fit_series is None:
                why = (f"point_score '{c.point_score}'" if c.point_score in CALIBRATED_SCORES
                       else "context_scale 'mean'" if self.scales_context()
                       else f"trailing_scale {c.trailing_scale}" if self.trails() else "error_scale 'channel'")
                raise UserError(f"{why} needs the training block's errors: call calibrate(train_series) before score")
            self.calibrate(self.fit_series)  # after fit, on what it trained on (a caller that calibrates first skips this)
        if stale := self.stale_calibration(series):
            calibrated = self.calibrated_config
            raise UserError(f"{', '.join(f'{k} {c[k]!r}' for k in stale)} changed since calibrate, which ran under "
                            f"{', '.join(f'{k} {calibrated[k]!r}' for k in stale)}: the training block's statistics "
                            f"that the scores read are of {'that value' if len(stale) == 1 else 'those values'}; "
                            f"call calibrate(train_series) again before score")
        if c.point_score == "max_sequence":
            native, = self.passes(series).run(SequenceErrors())
            return Scores.from_units(native, c.span, len(series))
        kept = self.training_scores
        # the block calibrated on, under the scoring keys its scores read (a weight is applied at score time; the kept
        # scores come before trailing_scale): its scores are known
        if kept is not None and not self.read_changes(series) and kept[0] == block_digest(series):
            native, points = kept[1].copy(), kept[2].copy()
        else:
            native, terms = self.raw_scores(series, self.passes(series))
            points = self.finished_points(terms)
        if self.trails():
            points = trailing_standardise(points, round(c.trailing_scale * c.l_win), self.trailing_history,
                                          self.trailing_floor)
        return Scores.with_points(points, native, c.span)

    def scoring_changes(self) -> list[str]:
        """The scoring keys whose values differ from those ``calibrate`` ran under (none when uncalibrated)."""
        calibrated = self.calibrated_config
        return [] if calibrated is None else [k for k in self.scoring_keys if self.config[k] != calibrated[k]]

    def read_keys(self, series: np.ndarray) -> set[str]:
        """The scoring keys that can change the scores of this (n, c) series, under the config or the one calibrate
        ran under (``scoring_keys_for``)."""
        calibrated = self.calibrated_config
        return {*scoring_keys_for(self.name, series.shape[1], self.config),
                *(() if calibrated is None else scoring_keys_for(self.name, series.shape[1], calibrated))}

    def read_changes(self, series: np.ndarray) -> list[str]:
        """The scoring keys changed since ``calibrate`` that the kept scores of the block it ran on (before
        trailing_scale) read: under any other change, they are the block's scores."""
        read = self.read_keys(series) - {"trailing_scale"}
        return [k for k in self.scoring_changes() if k in read]

    def stale_calibration(self, series: np.ndarray) -> list[str]:
        """The scoring keys changed since ``calibrate`` (``scoring_changes``) that the training-block statistics
        read by the scores of this (n, c) series depend on: every one but those that score applies to calibrate's
        terms (``APPLIED_AT_SCORE``; and not even those with ``trailing_scale``, whose history is the training block's
        point scores under them), and ``reconstruction_weight`` and ``trailing_scale`` only when they ask for a
        statistic that calibrate did not make; ``point_score`` and ``context_scale`` too, unless the point score
        reads the terms' statistics or the trailing history (the channels' scales are of neither)."""
        c = self.config
        if not self.needs_calibration(series):
            return []
        read = self.read_keys(series)
        stale = []
        for k in self.scoring_changes():
            if k not in read:
                continue
            if k == "trailing_scale":  # the history, before trailing_scale, serves any window: only it must be there
                missing = self.trails() and self.trailing_history is None
            elif k == "reconstruction_weight":  # the third term's scale, calibrated only with a weight > 0
                missing = (c.point_score == "balanced_level" and c.reconstruction_weight > 0
                           and len(self.term_scales or ()) < 3)
            elif k in ("point_score", "context_scale"):  # the channels' and window positions' scales, which neither
                # point_score nor (the channels') context_scale changes, serve a point score that reads no other
                missing = (c.point_score in CALIBRATED_SCORES or self.trails()
                           or (self.scales_channels(series) and self.channel_scale is None)
                           or (self.scales_context() and self.context_scale is None))
            else:
                missing = k not in APPLIED_AT_SCORE
            if missing or (k in APPLIED_AT_SCORE and self.trails()):
                stale.append(k)
        return stale

    def inside_scores(self, segments):
        """The sequences inside each segment (their scores under any point_score, which reads none of the
        training block's statistics), Keras models only."""
        c = self.config
        self.check_model_sizes()
        joined = self.joined_inside(segments, c.span, "sequence", self.vae, all(
            isinstance(m, keras.Model) for m in (self.vae.encoder, self.vae.decoder, self.lstm)))
        if joined is None:
            return None
        series, rows = joined
        return sequence_scores_at(self.vae, self.lstm, series, c.l_win, c.l_seq, rows.ravel(),
                                  c.score_batch_size).reshape(rows.shape)

    def raw_scores(self, series: np.ndarray, block: BlockPasses) -> tuple[np.ndarray, np.ndarray | tuple]:
        """(sequence scores, point errors) of ``series`` from one pass of ``block`` over it, for any ``point_score``
        but max_sequence; for a calibrated point score, the ``error_terms`` in place of the point errors."""
        c = self.config
        if c.point_score == "last_window":
            native, last, every = block.run(SequenceErrors(), self.prediction_errors(series, True),
                                            self.prediction_errors(series))
            return native, last_window_points(last, every)
        native, points = block.run(SequenceErrors(), self.prediction_errors(series))
        return native, self.error_terms(series, points, block) if c.point_score in CALIBRATED_SCORES else points

    def finished_points(self, terms) -> np.ndarray:
        """The point scores from ``raw_scores``' point errors or terms, smoothed and spread, before
        ``trailing_scale``."""
        c = self.config
        points = terms
        if c.point_score in CALIBRATED_SCORES:
            predicted, second, *third = terms
            if c.point_score in BALANCED_SCORES:
                points = balanced_points(predicted, second, self.term_scales, uncovered=self.uncovered_error,
                                         weight=c.second_term_weight, combine=c.term_combine, power=c.term_power,
                                         third=third[0] if third else None, third_weight=c.reconstruction_weight)
            else:  # the first l_win points, which no prediction covers: the training block's median prediction error
                points = np.where(np.isnan(predicted), self.uncovered_error, predicted) + second
        return moving_max(moving_mean(points, round(c.point_smoothing * c.l_win)), round(c.point_spread * c.l_win))
