"""Anomaly scores from trained models, batched: each window is encoded once, by compiled graphs.

Sequence ``s`` of a series covers time points ``[s, s + l_win * l_seq - 1]`` (see windowing.py).
Its VAE-LSTM score is the paper's: the summed squared error of its last ``l_seq - 1`` windows
rebuilt by the decoder from the codes that the LSTM predicts.

Every model call of scoring goes through ``compiled_apply``: one ``tf.function`` per model, traced
once, run over the whole array in equal chunks of at most ``chunk`` rows (the config's
``score_batch_size``), so that memory stays bounded whatever the series' length. The VAE-LSTM's LSTM and
decoder run as one graph per chunk of sequences (``decoded_predictions``). Against Keras ``predict`` it saves the
per-batch work of its data adapter, callbacks and step loop; the outputs agree to float rounding.
One chunk per thread runs at a time, side by side, each op on one thread (``threads.use_threads``); a
chunk is one call whatever the thread count, so the scores are the same bits for any. XLA
(``JIT_SCORING``) is off: under these thread settings, on 2 CPU cores, it made VAE-LSTM scoring at the
common config 10-15% slower, the decoder's part 50% slower and an LSTM autoencoder over 100 steps twice
as slow (it had paid under TensorFlow's default threads). The VAE's decoder runs as ``scoring_decoder``:
its upsamplings folded into the convolutions after them.
"""

from __future__ import annotations

import hashlib
import logging
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from .models import elbo_terms, fold_upsampling
from .threads import branches
from .windowing import rolling_windows, sequence_window_index

# predict (the LSTM's training codes, figures) retraces for new input lengths; TensorFlow warns, harmlessly.
logging.getLogger("tensorflow").setLevel(logging.ERROR)

DEFAULT_CHUNK = 1024
ROWS_IN_FLIGHT = 16_384  # at most this many rows' chunks at once (at least one), to bound memory on many cores
JIT_SCORING = False  # XLA for the VAE encoder and the comparison models when scoring (see the module docstring)
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {(row shape, XLA): tf.function}
_SCORING_DECODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # decoder -> (weights' digest, folded)
_PREDICTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # lstm -> {row shape: (decoder ref, graph)}


def compiled_apply(model, array: np.ndarray, chunk: int = DEFAULT_CHUNK, jit_compile: bool = False):
    """``model(array, training=False)`` as NumPy, through one compiled graph per model and input shape.

    The graph (a ``tf.function`` whose batch dimension is free, so it is traced once) runs on
    consecutive chunks of at most ``chunk`` rows (``chunk_rows``: as few calls as that allows, of
    equal size): peak memory grows with ``chunk``, not with the array. Returns an array, or a list of
    arrays for a model with several outputs, like ``predict``. ``jit_compile``: through XLA, which
    compiles one program per chunk shape, so every call has exactly ``chunk`` rows, a short last one
    padded with zero rows (to the next power of two when the whole array is shorter). An object that is
    not a Keras model (a stand-in with a ``predict`` method) is asked to predict.
    """
    if not isinstance(model, keras.Model):
        return model.predict(array, batch_size=chunk, verbose=0)
    array = np.asarray(array, dtype="float32")
    return _apply_in_chunks(_compiled_call(model, array.shape[1:], jit_compile), array, chunk, jit_compile)


def chunk_rows(n_rows: int, chunk: int) -> int:
    """Rows per call for ``n_rows`` in calls of at most ``chunk``: the fewest calls, of equal size (the last
    up to one row fewer per other call), so that side-by-side calls end together (12,149 rows in
    chunks of 4,096 run as 3 calls of 4,050, not 4,096, 4,096 and 3,957). It depends on the two counts only,
    never on the thread count, so the scores do not either."""
    chunk = max(int(chunk), 1)
    calls = max(-(-n_rows // chunk), 1)
    return max(-(-n_rows // calls), 1)


def _apply_in_chunks(function, array: np.ndarray, chunk: int, jit_compile: bool = False, rows_per_item: int = 1):
    """``function`` (a compiled graph with a free batch dimension) over ``array`` in calls of ``chunk_rows``
    rows (of exactly ``chunk``, padded, through XLA), NumPy in and out.

    ``threads.branches()`` calls run side by side, one per thread, as many as fit ``ROWS_IN_FLIGHT`` rows
    (at least one; an item of ``array`` counts as ``rows_per_item`` rows): peak memory grows with ``chunk``
    times that number. Each call is one graph call whatever
    the thread count, so the outputs do not depend on it (splitting a chunk into one slice per thread changed
    them by float rounding, enough to reorder tied point scores)."""
    chunk = max(int(chunk), 1)
    if jit_compile:  # rows each call gets: padding, so that XLA compiles one program
        rows = chunk if len(array) >= chunk else 1 << max(len(array) - 1, 0).bit_length()
    else:  # at least one row, as some kernels refuse an empty batch
        chunk, rows = chunk_rows(len(array), chunk), 1
    parts, kept = [], []  # each call's input, and how many of its rows are the array's (not padding)
    for start in range(0, max(len(array), 1), chunk):
        part = array[start:start + chunk]
        kept.append(len(part))
        if len(part) < rows:
            part = np.concatenate([part, np.zeros((rows - len(part), *array.shape[1:]), "float32")])
        parts.append(part)
    outputs = [] if function.experimental_get_tracing_count() else [function(parts[0])]  # a first call traces
    threads = min(branches(), max(ROWS_IN_FLIGHT // (chunk * rows_per_item), 1), len(parts) - len(outputs))
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            outputs += list(pool.map(function, parts[len(outputs):]))
    else:
        outputs += [function(part) for part in parts[len(outputs):]]
    if isinstance(outputs[0], (list, tuple)):
        return [np.concatenate([out[k].numpy()[:n] for out, n in zip(outputs, kept, strict=True)])
                for k in range(len(outputs[0]))]
    return np.concatenate([out.numpy()[:n] for out, n in zip(outputs, kept, strict=True)])


def _compiled_call(model, row_shape: tuple, jit_compile: bool):
    import tensorflow as tf

    functions = _COMPILED.setdefault(model, {})
    key = (row_shape, bool(jit_compile))
    if key not in functions:
        ref = weakref.ref(model)  # the cache must not keep the model alive

        def call(x):
            return ref()(x, training=False)

        functions[key] = tf.function(call, input_signature=[tf.TensorSpec((None, *row_shape), tf.float32)],
                                     autograph=False, jit_compile=bool(jit_compile))
    return functions[key]


def scoring_decoder(decoder: keras.Model) -> keras.Model:
    """The decoder as scoring runs it: ``models.fold_upsampling`` of it (the same outputs to float rounding;
    7% less time over the 127,831 predicted windows of the common benchmark config), rebuilt whenever the
    decoder's weights differ from those it was built from. Anything but a Keras model is returned as it is."""
    if not isinstance(decoder, keras.Model):
        return decoder
    digest = hashlib.blake2b(digest_size=16)
    for weights in decoder.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    digest, cached = digest.digest(), _SCORING_DECODERS.get(decoder)
    if cached is None or cached[0] != digest:
        folded = fold_upsampling(decoder)  # a decoder it leaves as it is is cached as None: the weak cache must
        cached = _SCORING_DECODERS[decoder] = (digest, None if folded is decoder else folded)  # not hold its key
    return decoder if cached[1] is None else cached[1]


def decoded_predictions(lstm, decoder, sequences: np.ndarray, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """(n_seq, l_seq - 1, l_win, c): the windows ``decoder`` rebuilds from the codes ``lstm`` predicts for each
    of the (n_seq, l_seq - 1, code_size) sequences of codes, both models in one compiled graph per call of
    ``chunk // (l_seq - 1)`` sequences (at least one), so that the decoder gets about ``chunk`` rows per call.
    In one graph each thread goes on from the LSTM to the decoder without waiting for the other threads'
    LSTM chunks. Models that are not Keras models (stand-ins) are asked to predict, one after the other."""
    sequences = np.asarray(sequences, dtype="float32")
    n_seq, steps, code_size = sequences.shape
    if not (isinstance(lstm, keras.Model) and isinstance(decoder, keras.Model)):
        codes = compiled_apply(lstm, sequences, chunk)
        decoded = compiled_apply(decoder, codes.reshape(-1, code_size), chunk)
        return decoded.reshape(n_seq, steps, *decoded.shape[1:])
    return _apply_in_chunks(_predictor_call(lstm, decoder, sequences.shape[1:]), sequences,
                            max(int(chunk) // steps, 1), rows_per_item=steps)


def _predictor_call(lstm, decoder, row_shape: tuple):
    """The compiled graph of ``decoded_predictions``, cached per LSTM and input shape and rebuilt for another
    decoder; it holds both models by weak reference, so the cache keeps neither alive."""
    import tensorflow as tf

    functions = _PREDICTORS.setdefault(lstm, {})
    if row_shape not in functions or functions[row_shape][0]() is not decoder:
        lstm_ref, decoder_ref = weakref.ref(lstm), weakref.ref(decoder)

        def call(sequences):
            codes = lstm_ref()(sequences, training=False)
            windows = decoder_ref()(tf.reshape(codes, (-1, codes.shape[-1])), training=False)
            return tf.reshape(windows, (-1, sequences.shape[1], *windows.shape[1:]))

        function = tf.function(call, input_signature=[tf.TensorSpec((None, *row_shape), tf.float32)],
                               autograph=False)
        functions[row_shape] = (decoder_ref, function)
    return functions[row_shape][1]


def encode_windows(vae, windows: np.ndarray, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Code means and stds of many windows, in one batched predict (the LSTM's training codes)."""
    mean, std = vae.encoder.predict(np.asarray(windows, dtype="float32"), batch_size=batch_size, verbose=0)
    return mean, std


def gather_sequences(codes: np.ndarray, n_points: int, l_win: int, l_seq: int) -> np.ndarray:
    """(n_seq, l_seq, code_size): the codes of every sequence, gathered from the per-window codes."""
    return codes[sequence_window_index(n_points, l_win, l_seq)]


@dataclass
class SequenceScores:
    """VAE-LSTM scores of every sequence of one series piece, and the windows they came from."""

    scores: np.ndarray             # (n_seq,) the paper's score
    predicted_windows: np.ndarray  # (n_seq, l_seq - 1, l_win, c) windows rebuilt from LSTM-predicted codes


def score_vae_lstm(vae, lstm, series: np.ndarray, l_win: int, l_seq: int,
                   batch_size: int = 1024) -> SequenceScores:
    """Score every sequence of a (n, c) series with a trained VAE and LSTM: the encoder over every window
    (``compiled_apply``), then the LSTM over every sequence and the decoder over its predicted codes
    (``decoded_predictions``), in compiled calls of about ``batch_size`` rows."""
    windows = np.asarray(rolling_windows(series, l_win), dtype="float32")
    index = _sequence_index(len(windows), l_win, l_seq)
    mean, _ = compiled_apply(vae.encoder, windows, batch_size, JIT_SCORING)
    predicted_windows = decoded_predictions(lstm, scoring_decoder(vae.decoder), mean[index[:, :-1]], batch_size)
    targets = windows[index[:, 1:]]
    scores = np.square(targets - predicted_windows).sum(axis=(1, 2, 3))
    return SequenceScores(scores, predicted_windows)


def covered_mean(points: np.ndarray, values: np.ndarray, n_points: int) -> np.ndarray:
    """Mean of ``values`` over the entries of ``points`` (same shape) naming each time point; NaN where none."""
    total = np.bincount(points.ravel(), weights=values.ravel(), minlength=n_points)
    count = np.bincount(points.ravel(), minlength=n_points)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def covered_quantile(points: np.ndarray, values: np.ndarray, n_points: int, q: float) -> np.ndarray:
    """The lower ``q``-quantile of ``values`` over the entries of ``points`` naming each time point: the value
    at rank floor(q * (count - 1)) of the sorted ones (q 0: the smallest, 0.5: the lower median); NaN where none."""
    points, values = points.ravel(), np.asarray(values, dtype=float).ravel()
    ordered = values[np.lexsort((values, points))]
    count = np.bincount(points, minlength=n_points)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    covered = count > 0
    out = np.full(n_points, np.nan)
    out[covered] = ordered[first[covered] + np.floor(q * (count[covered] - 1)).astype(int)]
    return out


def moving_mean(points: np.ndarray, width: int) -> np.ndarray:
    """Centred moving mean of per-point scores over ``width`` points (points t - (width - 1) // 2 ..
    t + width // 2, cut at the ends), skipping NaN; NaN only where the whole span is NaN."""
    points = np.asarray(points, dtype=float)
    if width <= 1:
        return points
    known = np.isfinite(points)
    total = np.concatenate([[0.0], np.cumsum(np.where(known, points, 0.0))])
    count = np.concatenate([[0], np.cumsum(known)])
    t = np.arange(len(points))
    lo, hi = np.maximum(t - (width - 1) // 2, 0), np.minimum(t + width // 2 + 1, len(points))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[hi] > count[lo], (total[hi] - total[lo]) / (count[hi] - count[lo]), np.nan)


def moving_max(points: np.ndarray, width: int) -> np.ndarray:
    """Centred moving maximum of per-point scores over ``width`` points (the span of ``moving_mean``: points
    t - (width - 1) // 2 .. t + width // 2, cut at the ends), skipping NaN; NaN only where the whole span is NaN."""
    from scipy.ndimage import maximum_filter1d

    points = np.asarray(points, dtype=float)
    if width <= 1 or not len(points):
        return points
    known = np.where(np.isnan(points), -np.inf, points)
    # scipy's window starts at t - width // 2; an even width moves it one point on, to moving_mean's span
    out = maximum_filter1d(known, int(width), mode="constant", cval=-np.inf, origin=-1 if width % 2 == 0 else 0)
    return np.where(out == -np.inf, np.where(np.isnan(points), np.nan, out), out)


def trailing_standardise(points: np.ndarray, width: int, history: np.ndarray, floor: float) -> np.ndarray:
    """Each point's score less the mean of the ``width`` scores just before it, over their standard deviation
    (ddof 0, floored at ``floor``): causal, so a point is judged against its own recent past. The scores before
    the series' first points are ``history`` (the training block's point scores), then the series' own.
    NaN scores are skipped in the statistics and stay NaN; a point with no finite score before it gets NaN."""
    points = np.asarray(points, dtype=float)
    if width <= 0 or not len(points):
        return points
    history = np.asarray(history, dtype=float)[-width:]  # only the last ``width`` reach any point
    joined = np.concatenate([history, points])
    known = np.isfinite(joined)
    # sums of squares about a centre from the history (it cancels out): less cancellation than about 0
    centre = float(np.mean(history[np.isfinite(history)])) if np.isfinite(history).any() else 0.0
    values = np.where(known, joined - centre, 0.0)
    total = np.concatenate([[0.0], np.cumsum(values)])
    squares = np.concatenate([[0.0], np.cumsum(values * values)])
    count = np.concatenate([[0], np.cumsum(known)])
    end = len(history) + np.arange(len(points))  # point t of ``points`` is joined[end]: its past is joined[start:end]
    start = np.maximum(end - width, 0)
    n = count[end] - count[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (total[end] - total[start]) / n
        sd = np.sqrt(np.maximum((squares[end] - squares[start]) / n - mean * mean, 0.0))
        return np.where(n > 0, (points - centre - mean) / np.maximum(sd, floor), np.nan)


def vae_point_errors(vae, series: np.ndarray, l_win: int, batch_size: int = 1024,
                     channel_scale: np.ndarray | None = None) -> np.ndarray:
    """Per-point squared reconstruction error of the VAE alone (through the code mean, summed over channels,
    each divided by its ``channel_scale`` when given), averaged over every window that covers the point."""
    windows = np.asarray(rolling_windows(series, l_win), dtype="float32")
    mean, _ = compiled_apply(vae.encoder, windows, batch_size, JIT_SCORING)
    squared = np.square(windows - compiled_apply(scoring_decoder(vae.decoder), mean, batch_size))
    error = (squared if channel_scale is None else squared / channel_scale).sum(axis=-1)
    points = np.arange(len(windows))[:, None] + np.arange(l_win)[None, :]
    return covered_mean(points, error, len(windows) + l_win - 1)


def predicted_points(n_seq: int, n_pred: int, l_win: int, first: int = 1) -> np.ndarray:
    """(n_seq, n_pred, l_win) time points of the predicted windows k = ``first`` .. ``first`` + n_pred - 1 of
    every sequence: sequence s (starting at point s) predicts window k over ``s + k * l_win .. s + (k + 1) *
    l_win - 1``."""
    return (np.arange(n_seq)[:, None, None] + l_win * np.arange(first, first + n_pred)[None, :, None]
            + np.arange(l_win)[None, None, :])


def window_errors(series: np.ndarray, predicted_windows: np.ndarray, l_win: int, first: int = 1,
                  channel_scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(points, errors), both (n_seq, n, l_win): the time point of each predicted value (``predicted_points``)
    and its squared error, summed over channels, each divided by its ``channel_scale`` when given."""
    series = np.asarray(series, dtype=float).reshape(len(series), -1)
    n_seq, n_pred = predicted_windows.shape[:2]
    points = predicted_points(n_seq, n_pred, l_win, first)
    squared = np.square(series[points] - predicted_windows)
    if channel_scale is not None:
        squared = squared / channel_scale
    return points, squared.sum(axis=-1)


def point_errors(series: np.ndarray, predicted_windows: np.ndarray, l_win: int, first: int = 1,
                 channel_scale: np.ndarray | None = None, quantile: float | None = None,
                 context_scale: np.ndarray | None = None) -> np.ndarray:
    """Per-point score from the LSTM-predicted windows of every sequence: the squared error at each time point
    (summed over channels, each divided by its ``channel_scale`` when given), averaged over every predicted
    window that covers it (with ``quantile`` q, their lower q-quantile instead: ``covered_quantile``). With
    ``context_scale`` (the training block's mean error of every window position k, ``context_error_scale``),
    each error is first divided by that of its window's position and the result multiplied by their mean.

    ``predicted_windows`` is (n_seq, n, l_win, c), the windows k = ``first`` .. ``first`` + n - 1 of every
    sequence (all of them by default; ``predicted_points``). Points that none covers get NaN."""
    points, errors = window_errors(series, predicted_windows, l_win, first, channel_scale)
    if context_scale is not None:
        scale = np.asarray(context_scale, dtype=float)
        errors = errors / scale[first - 1:first - 1 + errors.shape[1], None] * scale.mean()
    if quantile is not None:
        return covered_quantile(points, errors, len(series), quantile)
    return covered_mean(points, errors, len(series))


def context_error_scale(series: np.ndarray, predicted_windows: np.ndarray, l_win: int,
                        channel_scale: np.ndarray | None = None) -> np.ndarray:
    """(l_seq - 1,) the mean squared error (``window_errors``) of the predicted windows k = 1 .. l_seq - 1 over
    every sequence of a series (the training block's, for ``context_scale`` "mean"): window k is predicted from
    k windows of codes, and with little context the LSTM errs more. A position predicted without error gets 1."""
    _, errors = window_errors(series, predicted_windows, l_win, channel_scale=channel_scale)
    scale = errors.mean(axis=(0, 2))
    return np.where(scale > 0, scale, 1.0)


def channel_error_scale(series: np.ndarray, predicted_windows: np.ndarray, l_win: int) -> np.ndarray:
    """(c,) each channel's mean squared error over every predicted window of a series (the training block's,
    for ``error_scale`` "channel"); a channel predicted without error gets 1, so that it is not divided by 0."""
    series = np.asarray(series, dtype=float).reshape(len(series), -1)
    n_seq, n_pred, _, _ = predicted_windows.shape
    points = predicted_points(n_seq, n_pred, l_win)
    scale = np.square(series[points] - predicted_windows).mean(axis=(0, 1, 2))
    return np.where(scale > 0, scale, 1.0)


TERM_SCALES = {"mean": np.mean, "max": np.max}


def term_scale(points: np.ndarray, how: str = "mean") -> float:
    """The mean or the largest (``how``) of the finite point values of one term (the training block's, for the
    balanced point scores); 1 where it is 0 or nothing is finite, so that it is never divided by 0."""
    points = np.asarray(points, dtype=float)
    finite = points[np.isfinite(points)]
    scale = float(TERM_SCALES[how](finite)) if len(finite) else 0.0
    return scale if scale > 0 else 1.0


def uncovered_error(points: np.ndarray) -> float:
    """The prediction error given to points that no prediction covers (the first l_win of a series): the
    median of the finite training-block prediction errors (0 when none is finite). The median, not the mean:
    these errors are heavy-tailed, and their mean ranked at the 98th percentile on a development series,
    which put every uncovered point among the most anomalous whatever it held."""
    points = np.asarray(points, dtype=float)
    finite = points[np.isfinite(points)]
    return float(np.median(finite)) if len(finite) else 0.0


TERM_COMBINES = {"sum": np.add, "max": np.fmax}


def balanced_points(predicted: np.ndarray, second: np.ndarray, scales: tuple[float, float], *, uncovered: float,
                    weight: float = 1.0, combine: str = "sum", power: float = 1.0) -> np.ndarray:
    """``(predicted / scales[0]) ** power`` and ``weight * (second / scales[1]) ** power``, summed (``combine``
    "sum") or the larger of the two ("max"): the LSTM's prediction error of each point and a second term (the
    VAE's reconstruction error, or the point's squared level), each in units of its own training-block scale
    (``term_scale``), so that with weight 1 both weigh the same; ``power`` 0.5 turns the squared terms into
    absolute ones. A point that no prediction covers (NaN: the first l_win of a series) takes ``uncovered`` as
    its prediction error, in the same units as ``predicted``: the caller gives the training block's median
    error (``uncovered_error``), a typical value that counts neither for nor against the point."""
    predicted = np.where(np.isnan(predicted), uncovered, np.asarray(predicted, dtype=float)) / scales[0]
    second = np.asarray(second, dtype=float) / scales[1]
    return TERM_COMBINES[combine](predicted ** power, weight * second ** power)


def level_points(series: np.ndarray) -> np.ndarray:
    """Per point: the largest squared training-standardised value over channels (the square of ``abs_z``'s
    score, in the same units as a squared error), for ``point_score`` "balanced_level"."""
    series = np.asarray(series, dtype=float)
    return np.square(series.reshape(len(series), -1)).max(axis=1)


def last_window_errors(series: np.ndarray, predicted_windows: np.ndarray, l_win: int,
                       channel_scale: np.ndarray | None = None, context_scale: np.ndarray | None = None) -> np.ndarray:
    """Per-point score from the prediction with the most context: the point's squared error in the last
    predicted window (k = l_seq - 1, after l_seq - 1 windows of codes), averaged over the l_win sequences
    whose last window covers it. The points before any last window (the first (l_seq - 1) * l_win of a
    series, whose predictions all have less context) take ``point_errors`` of every window."""
    n_pred = predicted_windows.shape[1]
    scales = {"channel_scale": channel_scale, "context_scale": context_scale}
    last = point_errors(series, predicted_windows[:, -1:], l_win, first=n_pred, **scales)
    return np.where(np.isnan(last), point_errors(series, predicted_windows, l_win, **scales), last)


def score_vae_windows(vae, series: np.ndarray, l_win: int, l_seq: int,
                      batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The VAE alone: (per-sequence scores, per-window squared errors) of a (n, c) series.

    A window's error is its squared reconstruction error through the code mean (the same
    ``elbo_terms`` as training); a sequence's score sums the errors of its last l_seq - 1 windows.
    """
    windows = np.asarray(rolling_windows(series, l_win), dtype="float32")
    index = _sequence_index(len(windows), l_win, l_seq)
    mean, std = compiled_apply(vae.encoder, windows, batch_size, JIT_SCORING)
    reconstructed = compiled_apply(scoring_decoder(vae.decoder), mean, batch_size)
    squared_error, _, _ = (ops.convert_to_numpy(t) for t in
                           elbo_terms(windows, reconstructed, mean, std, vae.sigma2()))
    return squared_error[index[:, 1:]].sum(axis=1), squared_error


def _sequence_index(n_windows: int, l_win: int, l_seq: int) -> np.ndarray:
    index = sequence_window_index(n_windows + l_win - 1, l_win, l_seq)
    if len(index) == 0:
        raise ValueError(f"series of {n_windows + l_win - 1} points is shorter than one sequence "
                         f"(l_win * l_seq = {l_win * l_seq})")
    return index


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
