"""The detector interface: fit on a training block, then score any series, one score per time point.

A detector also keeps its native unit (a window, a sequence or a point) so that metrics defined on
that unit, like the paper's per-sequence F1, stay exact. Unit ``u`` covers time ``[u, u + span - 1]``
(``windowing.unit_span``); ``windowing.points_from_units`` turns unit scores into point scores.

``fit`` takes one (n, n_channel) training series: every stride-1 window or sequence of it is a
training sample (the default path). A detector whose ``fits_segments`` is True also takes a 3-D array
(n_segments, length, n_channel) of independent segments (e.g. ECG beats, ``beats.py``): it then takes
its training windows and sequences inside each segment only, at the config's ``window_stride``
(``windowing.segment_windows`` / ``segment_sequences``). ``check_training`` checks either form.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data_loader import MAX_STANDARDISED, ROUNDING_STEPS
from ..errors import DataError, UserError
from ..windowing import as_2d, inside_units, points_from_units, units_from_points


def check_finite(values: np.ndarray, what: str) -> None:
    """One line when ``values`` (a series, or (n_segments, length, c) segments) hold NaN or inf: a model trained on
    them diverges (a message about the learning rate), and a score of them says nothing; or a value farther from 0
    than ``MAX_STANDARDISED``, which the loaders refuse too: beyond float32's range it became inf in the float32 copy
    (called NaN/inf, or a diverged model), and nearer it squares to inf in float32 scores."""
    def where(bad: np.ndarray) -> tuple[tuple, str]:
        first = tuple(np.argwhere(bad)[0])
        return first, f"segment {first[0]}, point {first[1]}" if values.ndim == 3 else f"point {first[0]}"

    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{what} holds {int(bad.sum())} NaN/inf value(s), the first at {where(bad)[1]}")
    far = (values > MAX_STANDARDISED) | (values < -MAX_STANDARDISED)  # no float copy of a large block
    if far.any():
        first, at = where(far)
        raise DataError(f"{what} holds {int(far.sum())} value(s) beyond {MAX_STANDARDISED:.0e} in size, the first "
                        f"{values[first]:.6g} at {at}: a detector takes "
                        "the training-standardised series, where such a value is a data error (a wrong unit or a "
                        "sentinel), too large for float32 scores")


def as_numbers(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` (a series, or segments) when they are numbers; else their float copy (NaN for a missing value, <NA>
    or None), or one line naming the first value that is none (a DataFrame's timestamp or text column) or saying
    they are complex."""
    if values.dtype.kind in "fiub":
        return values
    if values.dtype.kind == "c":
        raise DataError(f"{what} holds complex numbers: give real values (their real parts or magnitudes)")
    try:
        return values.astype(float)
    except (TypeError, ValueError):
        flat = values.ravel()
        missing = np.array([_is_missing(v) for v in flat], bool)  # <NA> of pandas' nullable columns, None
        if missing.any() and all(_is_number(v) for v in flat[~missing]):  # NaN: check_finite says where
            numbers = np.full(flat.shape, np.nan)
            numbers[~missing] = flat[~missing].astype(float)
            return numbers.reshape(values.shape)
        k = next((i for i, v in enumerate(flat) if not _is_number(v)), 0)
        at = ", ".join(f"{name} {i}" for name, i in zip(("segment", "point", "channel")[3 - values.ndim:],
                                                         np.unravel_index(k, values.shape), strict=True))
        value = flat[k].item() if isinstance(flat[k], np.generic) else flat[k]  # 'a', not np.str_('a')
        raise DataError(f"{what} holds a value that is not a number, the first at {at}: {value!r}; give the value "
                        "columns alone (no time or text column)") from None


def _is_missing(value) -> bool:
    """None, or pandas' missing value (pd.NA), which float() refuses."""
    return value is None or type(value).__name__ == "NAType"


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def check_some_channel(values: np.ndarray, what: str) -> None:
    """One line when ``values`` (a series, or segments) hold no channel: an empty selection of a DataFrame's columns."""
    if np.ndim(values) > 1 and np.shape(values)[-1] == 0:
        raise DataError(f"{what} has no channel (shape {np.shape(values)})")


def check_float32_spread(values: np.ndarray, what: str) -> None:
    """One line when a channel of ``values`` (a series, or segments) varies, but by float32 rounding only at its
    values (``ROUNDING_STEPS`` steps or fewer): the float32 copy that the detectors fit is constant there. Such data
    was not standardised (1.7e9 + 1e-3 sin t); its fit gave arma equal scores and vae_lstm nearly so, silently."""
    if values.dtype.kind == "f" and values.dtype.itemsize <= 4:  # nothing a float32 copy loses
        return
    x = np.asarray(values, dtype=float).reshape(-1, values.shape[-1] if values.ndim > 1 else 1)
    high, low = x.max(axis=0), x.min(axis=0)  # no float copy of a large block
    spread, top = high - low, np.maximum(np.abs(high), np.abs(low))
    lost = (spread > 0) & (spread <= ROUNDING_STEPS * np.spacing(top.astype(np.float32)))
    if lost.any():
        k = int(np.argmax(lost))
        raise DataError(f"{what}: channel {k} varies by only {spread[k]:.3g} at values near {np.median(x[:, k]):.6g}, "
                        f"within float32 rounding there (at most {ROUNDING_STEPS} steps), and the detectors compute "
                        "in float32: fit takes the training-standardised series (minus the training block's mean, "
                        "over its standard deviation)")


@dataclass
class Scores:
    """Scores of one contiguous series (a training block or a test piece)."""

    points: np.ndarray       # (n,) one score per time point; NaN where the detector cannot score
    native: np.ndarray       # (n_units,) scores in the detector's own unit
    native_span: int         # points covered by one native unit (1 for point scores)
    extras: dict = field(default_factory=dict)  # further named arrays, for figures (not for metrics)
    points_from_native: bool = True  # points = the largest native score covering them (points_from_units)

    @classmethod
    def from_units(cls, unit_scores, span: int, n_points: int, **extras) -> Scores:
        unit_scores = np.asarray(unit_scores, dtype=float)
        return cls(points_from_units(unit_scores, span, n_points), unit_scores, span, extras)

    @classmethod
    def with_points(cls, point_scores, unit_scores, span: int, **extras) -> Scores:
        """Point scores of their own (not derived from the units), beside the native unit scores."""
        return cls(np.asarray(point_scores, dtype=float), np.asarray(unit_scores, dtype=float), span, extras,
                   points_from_native=False)

    @classmethod
    def from_points(cls, point_scores, **extras) -> Scores:
        points = np.asarray(point_scores, dtype=float)
        return cls(points, points, 1, extras)

    def sequences(self, span: int) -> np.ndarray:
        """One score per sequence of ``span`` points (sequence s covers ``[s, s + span - 1]``):
        the native scores when they are sequences of that span, else the largest point score inside."""
        if self.native_span == span:
            return self.native
        return units_from_points(self.points, span)


EPOCH_KEYS = ("num_epochs_vae", "num_epochs_lstm")  # a fit from Python may resume a run for more epochs


def marking_fitted(fit):
    """``fit``, then the run folder's state.json marked fitted (``runs.mark_fitted``), as train.py marks it: so
    that detect.py scores a run fitted from Python, and refuses one whose fit stopped part way. A fit that did not
    claim its folder (``claim_run_folder``) gets its config.json and training_data.json written after it."""
    @functools.wraps(fit)
    def fit_and_mark(self, train_series, run_dir):
        fit(self, train_series, run_dir)
        from ..runs import mark_fitted

        if not (Path(run_dir) / "config.json").is_file():  # a fit that left its folder unclaimed (no check_training
            self.claim_run_folder(run_dir, train_series)  # with run_dir): detect.py refuses training without a record
        mark_fitted(run_dir)

    fit_and_mark.marks_fitted = True
    return fit_and_mark


class Detector:
    """Base class. Subclasses set ``name`` and implement ``fit``, ``load`` and ``score``.

    ``fit(train_series, run_dir)`` trains on the (standardised) training block and saves what it
    learnt in ``run_dir``, resuming from what is there; ``load(run_dir)`` reads it back;
    ``score(series)`` scores any (n, n_channel) series with the trained state.
    """

    name = "detector"
    native_unit = "point"  # in words, for tables: "sequence", "window" or "point"
    trained_files: tuple[str, ...] = ()  # files in the run folder that a trained detector has
    fits_segments = False  # whether fit also takes independent segments, a (n_segments, length, c) array
    scoring_keys: tuple[str, ...] = ()  # config keys that change its scores but not its training
    channel_names: list[str] | None = None  # the data's channel names, for training figures (None: ch0, ch1, ...)
    native_scores_spread: bool | None = None  # a detector of another native unit than the point: see spreads_scores

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        fit = cls.__dict__.get("fit")
        if fit is not None and not getattr(fit, "marks_fitted", False):
            cls.fit = marking_fitted(fit)

    def __init__(self, config):
        # The commands resolve a null n_channel from the data first (prepare.load_data, runs.train); a
        # config used directly takes it from the data that fit trains on (check_training) or from the fit
        # that load reads (follow_channels), and without either means one channel.
        self.channels_from_data = config.n_channel is None
        self.config = config if config.n_channel is not None else config.replace(n_channel=1)

    def fit(self, train_series: np.ndarray, run_dir: Path) -> None:
        """Nothing to learn by default."""

    def load(self, run_dir: Path) -> None:
        """Nothing to load by default."""

    @classmethod
    def scoring_keys_for(cls, n_channel: int | None, config=None) -> tuple[str, ...]:
        """The scoring keys that can change its scores on data of ``n_channel`` channels (None: unknown), under
        ``config``'s other scoring keys (None: all of them can)."""
        return cls.scoring_keys

    @classmethod
    def spreads_scores(cls, config) -> bool | None:
        """Whether its point scores under ``config`` are its native scores spread over more than one point (each
        point the largest covering it), rather than one score of each point's own; None when only scoring tells."""
        return False if cls.native_unit == "point" else cls.native_scores_spread

    def calibrate(self, train_series: np.ndarray) -> None:
        """Scoring statistics from the (standardised) training block, once loaded and before ``score``;
        nothing by default."""

    def score(self, series: np.ndarray) -> Scores:
        raise NotImplementedError(f"{type(self).__name__} defines no score(series) returning a Scores")

    def inside_scores(self, segments: np.ndarray) -> np.ndarray | None:
        """(n, length - span + 1): the native scores of the units lying wholly inside each of the (n, length, c)
        segments (``windowing.inside_units``), the same bits as ``score`` of the segments joined end to end gives
        them, from the model calls that those units need alone (``beats.score_segments``: one window of each
        140-point ECG5000 beat with l_win 140, not the 142,801 windows of 1021 joined beats). None (the default)
        where the detector has none: its caller scores the joined segments."""
        return None

    def joined_inside(self, segments: np.ndarray, span: int, unit: str, model, whole: bool):
        """For ``inside_scores``: the (n, length, c) segments joined end to end, checked as ``score`` checks a series
        (``model`` reads its channels), and the first point of each unit of ``span`` points lying inside one, shaped
        (n, length - span + 1); None where a segment is shorter than a unit or the models are not ``whole`` Keras
        models (whose calls' bits are known): ``score`` of the joined segments then."""
        n, length, n_channel = np.shape(segments)
        series = self.check_channels(self.check_series(np.reshape(segments, (n * length, n_channel)), span, unit),
                                     model)
        return (series, inside_units(n, length, span)) if length >= span and whole else None

    def is_trained(self, run_dir: Path) -> bool:
        return all((Path(run_dir) / name).is_file() for name in self.trained_files)

    def missing(self, run_dir: Path) -> list[str]:
        return [name for name in self.trained_files if not (Path(run_dir) / name).is_file()]

    def require_trained(self, run_dir: Path) -> None:
        from ..runs import training_advice

        missing = self.missing(run_dir)
        if missing:
            run_dir = Path(run_dir)
            what = "does not exist" if not run_dir.is_dir() else f"has no {' or '.join(missing)}"
            raise UserError(f"run folder {run_dir} {what}; {training_advice(self.config, run_dir)}")

    def check_training(self, train, min_points: int, what: str, run_dir: Path | None = None):
        """``checked_training``, then, given the ``run_dir`` that ``fit`` trains in, ``claim_run_folder``."""
        checked = self.checked_training(train, min_points, what)
        if run_dir is not None:
            self.claim_run_folder(run_dir, train)  # as given: what train.py and the grids record
        return checked

    def claim_run_folder(self, run_dir: Path, train) -> None:
        """Before ``fit`` trains in ``run_dir``: a folder whose models were trained with other training keys or on
        other data is refused, as train.py and the grids refuse it (a fit resumes what it finds, so it would have
        kept the old models under the new config); more epochs resume the training, and config.json takes the
        larger counts. Else its config.json and training_data.json record what trains there. train.py and the
        grids write both before ``fit``, so for them this checks nothing new."""
        from ..config import save_config
        from ..runs import (
            describe_changes,
            has_training,
            record_training_data,
            saved_config,
            training_changes,
            write_config_copy,
        )

        run_dir = Path(run_dir)
        fix = "fit into another run folder, or with the config and data it was trained with"
        changed = training_changes(self.config, run_dir) if has_training(run_dir) else []
        saved = saved_config(run_dir) or {}
        fewer = [k for k in changed if k in EPOCH_KEYS and self.config[k] < saved.get(k, 0)]
        if other := [k for k in changed if k not in EPOCH_KEYS or k in fewer]:
            raise UserError(f"run folder {run_dir} was trained with "
                            f"{describe_changes(self.config, run_dir, other)}; {fix}")
        run_dir.mkdir(parents=True, exist_ok=True)
        record_training_data(run_dir, train, self.config, fix, "fit is given")  # before config.json changes
        if changed:  # more epochs of a stage: the run is now trained for them
            save_config(self.config, run_dir / "config.json")
        elif not has_training(run_dir) or not (run_dir / "config.json").is_file():  # a fit that trained nothing there
            write_config_copy(self.config, run_dir)  # (refused, or killed before its first checkpoint) is replaced

    def checked_training(self, train, min_points: int, what: str):
        """The training data of ``fit``. A 3-D array is independent segments: returned as float32 once each
        holds one ``what`` (``min_points``) and the detector can fit segments. Anything else is one series,
        returned unchanged (the default path; ``window_stride`` must then be 1), once it gives a Keras fit enough
        samples to train and to validate on (``runs.check_training_sizes``). Its channel count becomes the
        config's n_channel when the config left that unset, and must be it otherwise."""
        check_some_channel(train, "training data")
        n_channel = int(np.shape(train)[-1]) if np.ndim(train) > 1 else 1
        if self.channels_from_data:
            self.follow_channels(n_channel)
        elif n_channel != self.config.n_channel:
            raise DataError(f"training data of {n_channel} channel(s); the config's n_channel is "
                            f"{self.config.n_channel}: leave n_channel out (or null) to follow the data")
        values = np.asarray(train)  # numbers as they are: a float64 copy of a large block doubles its memory
        values = as_numbers(values, "training data")
        check_finite(values, "training data")
        check_float32_spread(values, "training data")
        if np.ndim(train) != 3:
            if self.config.window_stride != 1:
                raise UserError(f"window_stride = {self.config.window_stride} applies to segment datasets only "
                                "(e.g. ECG5000); set it to 1 for a single series")
            if any(name.endswith(".keras") for name in self.trained_files):  # a Keras fit validates on a split
                from ..runs import check_training_sizes

                check_training_sizes(self.config, len(train), "training series given to fit")  # as train.py does
            return train
        if not self.fits_segments:
            raise UserError(f"detector '{self.name}' cannot train on independent segments; leave it out of "
                            "segment datasets (e.g. ECG5000)")
        segments = np.asarray(train, dtype="float32")
        if not len(segments) or segments.shape[1] < min_points:
            raise ValueError(f"{len(segments)} segments of {segments.shape[1]} points: need at least one, "
                             f"each at least one {what} ({min_points} points)")
        if any(name.endswith(".keras") for name in self.trained_files):  # a Keras fit validates on a split
            from ..beats import check_sizes
            from . import DETECTORS

            config = self.config.replace(detector=self.name) if self.name in DETECTORS else self.config
            check_sizes(config, len(segments), segments.shape[1], " given to fit")  # as train.py does
        from ..beats import stride_tail_note

        if note := stride_tail_note(self.config, self.name, segments.shape[1]):
            print(note)
        return segments

    @staticmethod
    def check_series(series: np.ndarray, min_points: int, what: str) -> np.ndarray:
        series = np.asarray(series)
        if series.ndim not in (1, 2):
            raise DataError(f"an array of shape {series.shape} is not one series, (n,) or (n, n_channel): join "
                            "segments end to end to score them")
        series = as_2d(series)
        check_some_channel(series, "series")
        if len(series) < min_points:
            raise DataError(f"series of {len(series)} points is shorter than one {what} ({min_points} points)")
        check_finite(as_numbers(series, "series"), "series")  # before float32
        return series.astype("float32", copy=False)

    def require_fitted(self, state) -> None:
        """One line when the trained ``state`` (a model, parameters) is None: neither fit nor load ran."""
        if state is None:
            raise UserError(f"{self.name} is not trained: call fit(train_series, run_dir) or load(run_dir) first")

    def follow_channels(self, n_channel: int | None) -> None:
        """A config that left n_channel unset takes ``n_channel``: the channels of the data fit trains on, or of the
        fit that load reads (None: unknown, a stand-in model)."""
        if self.channels_from_data and n_channel:
            self.config = self.config.replace(n_channel=int(n_channel))

    @staticmethod
    def model_input_shape(model) -> tuple | None:
        """The input shape (batch, steps, channels) a trained Keras ``model`` (its ``encoder`` when it has one: the
        VAEs) takes; None for a stand-in without ``inputs``."""
        inputs = getattr(getattr(model, "encoder", model), "inputs", None)
        return tuple(inputs[0].shape) if inputs else None

    @classmethod
    def model_channels(cls, model) -> int | None:
        """The channel count a trained Keras ``model`` takes (``model_input_shape``); None for a stand-in."""
        shape = cls.model_input_shape(model)
        return shape[-1] if shape else None

    @classmethod
    def model_steps(cls, model) -> int | None:
        """The time steps a trained Keras ``model`` takes (``model_input_shape``): its window length, or the LSTM's
        windows of context; None for a stand-in."""
        shape = cls.model_input_shape(model)
        return shape[1] if shape else None

    def check_trained_with(self, run_dir: Path, key: str, trained: int | None) -> None:
        """One line when the model that ``load`` read from ``run_dir`` was trained with another value of ``key``
        (``trained``; None: unknown) than the config's: calibrate or score would fail inside Keras on its shapes."""
        if trained is not None and trained != self.config[key]:
            raise UserError(f"run folder {run_dir} holds a {self.name} trained with {key} = {trained}; the config's "
                            f"{key} is {self.config[key]}: load it with the config it was trained with")

    def check_channels(self, series: np.ndarray, model, fitted: int | None = None) -> np.ndarray:
        """The (n, c) ``series``, refused in one line when the trained ``model`` takes another channel count than
        its ``fitted`` one (by default a Keras model's, whose shape error it would be otherwise), or when there is
        no model yet; a stand-in without ``inputs`` is not checked."""
        self.require_fitted(model)
        fitted = self.model_channels(model) if fitted is None else fitted
        if fitted is not None and series.shape[1] != fitted:
            raise DataError(f"series of {series.shape[1]} channel(s); {self.name} was fitted on {fitted}")
        return series
