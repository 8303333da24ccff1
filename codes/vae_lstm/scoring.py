"""Anomaly scores from trained models, batched: each window is encoded once, by compiled graphs.

Sequence ``s`` of a series covers time points ``[s, s + l_win * l_seq - 1]`` (see windowing.py).
Its VAE-LSTM score is the paper's: the summed squared error of its last ``l_seq - 1`` windows
rebuilt by the decoder from the codes that the LSTM predicts.

Every model call of scoring goes through ``compiled_apply``, or ``compiled_chunks`` that yields its calls'
outputs one at a time: one ``tf.function`` per model, traced once, run over the whole array in equal chunks
of at most ``chunk`` rows (the config's ``score_batch_size``), so that the model's activations stay bounded
whatever the series' length. The VAE-LSTM's LSTM and decoder run as one graph per chunk of sequences
(``decoded_prediction_chunks``), whose outputs are handed on as they come (``vae_lstm_pass``). Against Keras
``predict`` it saves the per-batch work of its data adapter, callbacks and step loop; the outputs agree to
float rounding.
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
import time
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops
from numpy.lib.stride_tricks import sliding_window_view

from .models import elbo_terms, fold_upsampling
from .progress import pass_name
from .threads import branches
from .training import gather_rows, shared_tensor
from .windowing import as_2d, n_sequences, rolling_windows, sequence_window_index

# predict (the LSTM's training codes, figures) retraces for new input lengths; TensorFlow warns, harmlessly.
logging.getLogger("tensorflow").setLevel(logging.ERROR)

DEFAULT_CHUNK = 1024
ROWS_IN_FLIGHT = 16_384  # at most this many rows' chunks at once (at least one), to bound memory on many cores
JIT_SCORING = False  # XLA for the VAE encoder and the comparison models when scoring (see the module docstring)
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {(row shape, XLA): tf.function}
_SCORING_DECODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # decoder -> (weights' digest, folded)
_PREDICTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # lstm -> {row shape: (decoder ref, graph)}
PROGRESS_SECONDS = 30.0  # a scoring pass this long says how far it is, then again as often
_clock = time.monotonic


class Progress:
    """How far a pass over ``total`` rows (``unit``) has come, printed when ``PROGRESS_SECONDS`` have passed since
    it started and again every as many seconds, with the time it took and an estimate of the time left; a pass
    that ends sooner prints nothing. Scoring a series of a million points takes minutes. The line starts with the
    name of the pass (``progress.scoring_pass``'s, when it started; else "scoring")."""

    def __init__(self, total: int, unit: str):
        self.total, self.unit, self.name = total, unit, pass_name()
        self.started = _clock()
        self.next = self.started + PROGRESS_SECONDS

    def update(self, done: int) -> None:
        now = _clock()
        if now < self.next or not 0 < done < self.total:
            return
        took = now - self.started
        print(f"{self.name}: {done:,} of {self.total:,} {self.unit} ({100 * done / self.total:.0f}%) in {took:.0f} s, "
              f"about {took * (self.total - done) / done:.0f} s to go", flush=True)
        self.next = now + PROGRESS_SECONDS


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


def compiled_chunks(model, array: np.ndarray, chunk: int = DEFAULT_CHUNK, jit_compile: bool = False):
    """Yields ``compiled_apply``'s rows one call at a time, in order: the same calls and numbers, without holding
    the whole output (a stand-in that is not a Keras model predicts the whole array at once)."""
    if not isinstance(model, keras.Model):
        yield compiled_apply(model, array, chunk, jit_compile)
        return
    array = np.asarray(array, dtype="float32")
    yield from _calls_in_order(_compiled_call(model, array.shape[1:], jit_compile), array, chunk, jit_compile)


def chunk_rows(n_rows: int, chunk: int) -> int:
    """Rows per call for ``n_rows`` in calls of at most ``chunk``: the fewest calls, of equal size (the last
    up to one row fewer per other call), so that side-by-side calls end together (12,149 rows in
    chunks of 4,096 run as 3 calls of 4,050, not 4,096, 4,096 and 3,957). It depends on the two counts only,
    never on the thread count, so the scores do not either."""
    chunk = max(int(chunk), 1)
    calls = max(-(-n_rows // chunk), 1)
    return max(-(-n_rows // calls), 1)


def _apply_in_chunks(function, array: np.ndarray, chunk: int, jit_compile: bool = False, rows_per_item: int = 1):
    """``function`` (a compiled graph with a free batch dimension) over ``array``, NumPy in and out: the outputs
    of ``_calls_in_order``, concatenated."""
    outputs = list(_calls_in_order(function, array, chunk, jit_compile, rows_per_item))
    if isinstance(outputs[0], list):
        return [np.concatenate([out[k] for out in outputs]) for k in range(len(outputs[0]))]
    return np.concatenate(outputs)


def _calls_in_order(function, array: np.ndarray, chunk: int, jit_compile: bool = False, rows_per_item: int = 1,
                    unit: str = "windows"):
    """Yields the outputs of ``function`` (a compiled graph with a free batch dimension) over ``array``, one call
    of ``chunk_rows`` rows at a time (of exactly ``chunk``, padded, through XLA), in order, as NumPy without the
    padding (a list of arrays for several outputs).

    ``threads.branches()`` calls run side by side, one per thread, as many as fit ``ROWS_IN_FLIGHT`` rows
    (at least one; an item of ``array`` counts as ``rows_per_item`` rows); at most that many more wait to be
    handed on, so that memory grows with ``chunk``, not with the array. Each call is one graph call whatever
    the thread count, so the outputs do not depend on it (splitting a chunk into one slice per thread changed
    them by float rounding, enough to reorder tied point scores). A pass that runs for long says how far it has come
    (``Progress``, counting ``unit``)."""
    progress, done = Progress(len(array), unit), 0
    for out in _calls(function, array, chunk, jit_compile, rows_per_item):
        yield out
        done += len(out[0] if isinstance(out, list) else out)
        progress.update(done)  # after the caller took the output: its own work counts too


def _calls(function, array: np.ndarray, chunk: int, jit_compile: bool, rows_per_item: int):
    """``_calls_in_order``'s outputs, without the progress lines."""
    chunk = max(int(chunk), 1)
    if jit_compile:  # rows each call gets: padding, so that XLA compiles one program
        rows = chunk if len(array) >= chunk else 1 << max(len(array) - 1, 0).bit_length()
    else:  # at least one row, as some kernels refuse an empty batch
        chunk, rows = chunk_rows(len(array), chunk), 1
    starts = range(0, max(len(array), 1), chunk)

    def call(start):
        part = array[start:start + chunk]
        kept = len(part)
        if kept < rows:
            part = np.concatenate([part, np.zeros((rows - kept, *array.shape[1:]), "float32")])
        out = function(part)
        return [o.numpy()[:kept] for o in out] if isinstance(out, (list, tuple)) else out.numpy()[:kept]

    yield from _side_by_side(call, starts, bool(function.experimental_get_tracing_count()), chunk * rows_per_item)


def _side_by_side(call, items, traced: bool, rows_per_call: int):
    """Yields ``call(item)`` of each of ``items``, in order: ``threads.branches()`` calls side by side, as many as fit
    ``ROWS_IN_FLIGHT`` rows (calls of ``rows_per_call`` rows; at least one), at most that many more waiting to be
    handed on; a first call alone unless its graphs are ``traced``."""
    if not len(items):
        return
    if not traced:  # a first call traces, alone
        yield call(items[0])
    rest = items[0 if traced else 1:]
    threads = min(branches(), max(ROWS_IN_FLIGHT // max(rows_per_call, 1), 1), len(rest))
    if threads <= 1:
        yield from (call(item) for item in rest)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending = deque()
        for item in rest:
            pending.append(pool.submit(call, item))
            if len(pending) > threads:  # every thread stays busy while the oldest output is handed on
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@dataclass
class PlannedCall:
    """One call of ``call_slots``: ``size`` rows, the chosen rows ``picks`` (positions in the list of chosen rows)
    at ``slots``, every other row padding."""

    size: int
    slots: np.ndarray
    picks: np.ndarray


def call_slots(n_rows: int, rows, chunk: int, jit_compile: bool = False) -> list[PlannedCall]:
    """Calls that give each of ``rows`` (indices into an array of ``n_rows`` rows, each once) what the pass of a
    compiled graph over the whole array (``_calls_in_order``, calls of at most ``chunk`` rows) gives it, holding
    only those rows: each in a call of as many rows as its call there, at the same place in it (``slots``), the
    other rows padding. A model's output for a row depends on the row, on its call's row count and on its place in
    the call, not on the other rows: on 2 CPU cores an LSTM's outputs differed, by float rounding, between calls of
    under 64 rows and between places in such a call. The k-th chosen row at a place goes to call k; so there are as
    many calls as chosen rows share one place (the whole pass's calls at most), grouped by row count."""
    rows = np.asarray(rows, dtype=np.int64)
    chunk = max(int(chunk), 1)
    if jit_compile:  # every call of ``chunk`` rows, a short array's one call padded to a power of two
        step = chunk
        sizes = np.full(len(rows), chunk if n_rows >= chunk else 1 << max(n_rows - 1, 0).bit_length())
    else:  # chunk_rows' calls, the last up to one row fewer per other call
        step = chunk_rows(n_rows, chunk)
        n_calls = max(-(-n_rows // step), 1)
        sizes = np.where(rows // step == n_calls - 1, n_rows - (n_calls - 1) * step, step)
    slots = rows % step
    plan = []
    for size in np.unique(sizes):
        picks = np.flatnonzero(sizes == size)
        picks = picks[np.argsort(slots[picks], kind="stable")]
        place = slots[picks]
        starts = np.r_[0, np.flatnonzero(np.diff(place)) + 1]
        rank = np.arange(len(picks)) - np.repeat(starts, np.diff(np.r_[starts, len(picks)]))
        plan += [PlannedCall(int(size), place[rank == k], picks[rank == k]) for k in range(int(rank.max()) + 1)]
    return plan


def planned_calls(run, n_rows: int, rows, chunk: int, jit_compile: bool = False, rows_per_item: int = 1,
                  unit: str = "windows"):
    """Yields ``(picks, run(planned))`` for each call of ``call_slots(n_rows, rows, chunk, jit_compile)``, side by
    side as ``_calls_in_order`` runs its calls: ``run`` fills a call's rows (chosen ones at their slots, padding
    elsewhere), runs the graphs and returns its outputs at the slots. A pass that runs for long says how far it
    has come, in chosen rows."""
    plan = call_slots(n_rows, rows, chunk, jit_compile)
    progress, done = Progress(len(np.asarray(rows)), unit), 0
    for planned, out in _side_by_side(lambda p: (p, run(p)), plan, False,
                                      max((p.size for p in plan), default=1) * rows_per_item):
        yield planned.picks, out
        done += len(planned.picks)
        progress.update(done)


def padded_rows(planned: PlannedCall, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """A call's input: the rows of ``values`` (one per chosen row) that it picks, at its slots; ``fill`` elsewhere;
    float32."""
    call = np.full((planned.size, *values.shape[1:]), fill, "float32")
    call[planned.slots] = values[planned.picks]
    return call


def compiled_chunks_at(model, values: np.ndarray, n_rows: int, rows, chunk: int = DEFAULT_CHUNK,
                       jit_compile: bool = False, unit: str = "windows"):
    """Yields ``(picks, outputs)``: ``compiled_chunks(model, array, chunk, jit_compile)``'s outputs at ``rows``
    (``array[rows]`` = ``values``, of an array of ``n_rows`` rows) from calls that hold only those rows
    (``call_slots``), to the bit; ``picks`` index ``rows``. A stand-in that is not a Keras model predicts
    ``values`` at once."""
    values = np.asarray(values, dtype="float32")
    if not isinstance(model, keras.Model):
        yield np.arange(len(values)), compiled_apply(model, values, chunk, jit_compile)
        return
    function = _compiled_call(model, values.shape[1:], jit_compile)

    def run(planned):
        out = function(padded_rows(planned, values))
        return ([o.numpy()[planned.slots] for o in out] if isinstance(out, (list, tuple))
                else out.numpy()[planned.slots])

    yield from planned_calls(run, n_rows, rows, chunk, jit_compile, unit=unit)


def compiled_apply_at(model, values: np.ndarray, n_rows: int, rows, chunk: int = DEFAULT_CHUNK,
                      jit_compile: bool = False):
    """``compiled_apply(model, array, chunk, jit_compile)[rows]`` (a list of arrays for several outputs), from
    ``compiled_chunks_at``: the chosen rows' calls only."""
    return gathered(compiled_chunks_at(model, values, n_rows, rows, chunk, jit_compile), len(values))


def gathered(parts, n: int):
    """The ``(picks, outputs)`` parts as one array of ``n`` rows (a list of arrays for several outputs)."""
    out = None
    for picks, part in parts:
        several = isinstance(part, list)
        part = part if several else [part]
        if out is None:
            out = [np.empty((n, *p.shape[1:]), p.dtype) for p in part]
        for whole, p in zip(out, part, strict=True):
            whole[picks] = p
    return out if several else out[0]


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
    of the (n_seq, l_seq - 1, code_size) sequences of codes: ``decoded_prediction_chunks``, concatenated."""
    return np.concatenate(list(decoded_prediction_chunks(lstm, decoder, sequences, chunk)))


def decoded_prediction_chunks(lstm, decoder, sequences: np.ndarray, chunk: int = DEFAULT_CHUNK):
    """Yields ``decoded_predictions``' rows one call at a time, in order: both models in one compiled graph per
    call of ``chunk // (l_seq - 1)`` sequences (at least one), so that the decoder gets about ``chunk`` rows per
    call. In one graph each thread goes on from the LSTM to the decoder without waiting for the other threads'
    LSTM chunks. Models that are not Keras models (stand-ins) are asked to predict, one after the other, at once."""
    sequences = np.asarray(sequences, dtype="float32")
    n_seq, steps, code_size = sequences.shape
    if not (isinstance(lstm, keras.Model) and isinstance(decoder, keras.Model)):
        codes = compiled_apply(lstm, sequences, chunk)
        decoded = compiled_apply(decoder, codes.reshape(-1, code_size), chunk)
        yield decoded.reshape(n_seq, steps, *decoded.shape[1:])
        return
    yield from _calls_in_order(_predictor_call(lstm, decoder, sequences.shape[1:]), sequences,
                               max(int(chunk) // steps, 1), rows_per_item=steps, unit="sequences")


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


ENCODE_BYTES = 64 << 20  # encode_windows hands predict at most about this many bytes of windows at once (whole batches)


def encode_windows(vae, windows: np.ndarray, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Code means and stds of many windows (the LSTM's training codes): Keras ``predict`` in batches of
    ``batch_size``, handed whole batches of about ``ENCODE_BYTES`` of windows at a time, so that a view of every
    window of a series is never copied whole. The batches, and so the codes, are those of one ``predict`` over every
    window (to the bit); that one took a float32 copy of them and Keras another two: 3.3 GB for the 120,000 windows
    of 288 points and 8 channels of a 200,000-row CSV, where its codes take 4 MB. Each block is one copy, which
    Keras takes as it is (``shared_tensor``), not two more."""
    windows = np.asarray(windows)
    row_bytes = max(int(np.prod(windows.shape[1:], dtype=np.int64)) * 4, 1)  # float32
    rows = batch_size * max(ENCODE_BYTES // (batch_size * row_bytes), 1)
    parts = [vae.encoder.predict(shared_tensor(gather_rows(windows[start:start + rows], dtype="float32")),
                                 batch_size=batch_size, verbose=0) for start in range(0, max(len(windows), 1), rows)]
    return np.concatenate([mean for mean, _ in parts]), np.concatenate([std for _, std in parts])


def gather_sequences(codes: np.ndarray, n_points: int, l_win: int, l_seq: int) -> np.ndarray:
    """(n_seq, l_seq, code_size): the codes of every sequence, gathered from the per-window codes."""
    return codes[sequence_window_index(n_points, l_win, l_seq)]


@dataclass
class SequenceScores:
    """VAE-LSTM scores of every sequence of one series piece, and the windows they came from."""

    scores: np.ndarray             # (n_seq,) the paper's score
    predicted_windows: np.ndarray  # (n_seq, l_seq - 1, l_win, c) windows rebuilt from LSTM-predicted codes


def predicted_window_chunks(vae, lstm, series: np.ndarray, l_win: int, l_seq: int, batch_size: int = 1024,
                            codes: np.ndarray | None = None):
    """Yields ``(first, predicted, targets)`` over the sequences of a (n, c) series, one compiled call's run of
    consecutive sequences at a time, in order: the run's first sequence, the (m, l_seq - 1, l_win, c) windows
    the decoder rebuilds from the codes the LSTM predicts (``decoded_prediction_chunks``), and the windows
    they predict. The encoder runs over every window first (``window_codes``), unless ``codes`` gives its code
    means; each call then takes its sequences' codes from a strided view of them (``sequence_codes``) and its
    targets by index, so that memory grows with the series times code_size, and the predicted windows' with
    ``batch_size`` x l_win x c (a few calls'), not with the series times l_seq x l_win."""
    windows = rolling_windows(np.asarray(as_2d(series), dtype="float32"), l_win)  # a view: no copy per window
    n_seq = _sequence_count(len(windows), l_win, l_seq)
    mean = window_codes(vae, series, l_win, batch_size) if codes is None else codes
    first = 0
    for predicted in decoded_prediction_chunks(lstm, scoring_decoder(vae.decoder),
                                                sequence_codes(mean, l_win, l_seq)[:n_seq], batch_size):
        yield first, predicted, predicted_targets(windows, first, len(predicted), l_win, l_seq)
        first += len(predicted)


def window_codes(vae, series: np.ndarray, l_win: int, batch_size: int = 1024) -> np.ndarray:
    """The encoder's code means of every window of a (n, c) series, in compiled calls of ``batch_size``."""
    windows = rolling_windows(np.asarray(as_2d(series), dtype="float32"), l_win)
    return compiled_apply(vae.encoder, windows, batch_size, JIT_SCORING)[0]


def predicted_targets(windows: np.ndarray, first: int, n_seq: int, l_win: int, l_seq: int) -> np.ndarray:
    """(n_seq, l_seq - 1, l_win, c): the windows that sequences ``first`` .. ``first`` + n_seq - 1 predict, from
    every window of their series (``windows``)."""
    return windows[np.arange(first, first + n_seq)[:, None] + l_win * np.arange(1, l_seq)]


def sequence_codes(codes: np.ndarray, l_win: int, l_seq: int) -> np.ndarray:
    """(rows, l_seq - 1, code_size): the codes of windows s, s + l_win, .., s + (l_seq - 2) * l_win of every start s
    whose windows ``codes`` (one row per window) holds, as a read-only view: the LSTM's input of every sequence
    (the first n_seq rows), without a copy of them."""
    span = (l_seq - 2) * l_win + 1  # rows from a sequence's first window to its last input window
    return sliding_window_view(codes, span, axis=0)[:, :, ::l_win].transpose(0, 2, 1)


def vae_lstm_pass(vae, lstm, series: np.ndarray, l_win: int, l_seq: int, batch_size: int, *sinks) -> list:
    """Every chunk of ``predicted_window_chunks`` handed to each sink's ``add(first, predicted, targets)``; returns
    the sinks' ``result()``s. One pass of the models serves them all, and no sink holds every predicted window."""
    return BlockPasses(vae, lstm, series, l_win, l_seq, batch_size).run(*sinks)


def block_digest(series: np.ndarray) -> bytes:
    """A digest of a series' values, shape and type: whether a block is one scored before."""
    series = np.ascontiguousarray(series)
    digest = hashlib.blake2b(f"{series.dtype.str}{series.shape}".encode(), digest_size=16)
    digest.update(series.data)
    return digest.digest()


KEEP_PREDICTION_BYTES = 128 << 20  # BlockPasses keeps a block's predicted windows for its later passes up to this size


class BlockPasses:
    """The passes of a VAE-LSTM's models over one (n, c) series (a block), each handing every chunk of
    ``predicted_window_chunks`` to its sinks (``run``), as ``vae_lstm_pass`` does. Statistics that build on each
    other (the training block's channel scales, then the window positions' scales under them, then its point
    scores) take a pass each, but the models run over the block once: the encoder's code means (``codes``) serve
    every pass and ``vae_point_errors``, and with ``keep_bytes`` the first pass's predicted windows are kept for
    the later passes to hand on again, where they take at most that many bytes in all (float32). A block of more
    keeps none, and each later pass runs the LSTM and decoder again: memory does not grow with the series times
    l_seq x l_win (the VAE-LSTM's calibration takes one pass of such a block where its statistics allow it:
    ``ChannelErrorSums``). The chunks handed on are the same, to the bit, whether computed or kept."""

    def __init__(self, vae, lstm, series: np.ndarray, l_win: int, l_seq: int, batch_size: int, keep_bytes: int = 0):
        self.vae, self.lstm, self.series = vae, lstm, series
        self.l_win, self.l_seq, self.batch_size, self.keep_bytes = l_win, l_seq, batch_size, keep_bytes
        self._codes = None
        self.kept = None  # the first pass's (first, predicted) chunks, when it kept them all

    @property
    def codes(self) -> np.ndarray:
        """The encoder's code means of every window of the block, computed once."""
        if self._codes is None:
            self._codes = window_codes(self.vae, self.series, self.l_win, self.batch_size)
        return self._codes

    def predicted_bytes(self) -> int:
        """The bytes of every predicted window of the block, in float32 (known before the encoder runs)."""
        n_seq = _sequence_count(len(self.series) - self.l_win + 1, self.l_win, self.l_seq)
        return 4 * n_seq * (self.l_seq - 1) * self.l_win * as_2d(self.series).shape[1]

    def keeps(self, keep_bytes: int) -> bool:
        """Whether a first pass keeps the block's predicted windows under ``keep_bytes``."""
        return 0 < self.predicted_bytes() <= keep_bytes

    def run(self, *sinks) -> list:
        """Every chunk handed to each sink's ``add(first, predicted, targets)``; the sinks' ``result()``s."""
        for first, predicted, targets in self.chunks():
            for sink in sinks:
                sink.add(first, predicted, targets)
        return [sink.result() for sink in sinks]

    def chunks(self):
        if self.kept is not None:
            windows = rolling_windows(np.asarray(as_2d(self.series), dtype="float32"), self.l_win)
            for first, predicted in self.kept:
                yield first, predicted, predicted_targets(windows, first, len(predicted), self.l_win, self.l_seq)
            return
        kept = [] if self.keeps(self.keep_bytes) else None
        for first, predicted, targets in predicted_window_chunks(self.vae, self.lstm, self.series, self.l_win,
                                                                 self.l_seq, self.batch_size, self.codes):
            if kept is not None:
                kept.append((first, predicted))
            yield first, predicted, targets
        self.kept, self.keep_bytes = kept, 0  # only the first pass keeps its windows


class SequenceErrors:
    """Sink of ``vae_lstm_pass``: the paper's score of every sequence, the summed squared error of its predicted
    windows."""

    def __init__(self):
        self.parts = []

    def add(self, first, predicted, targets):
        self.parts.append(np.square(targets - predicted).sum(axis=(1, 2, 3)))

    def result(self) -> np.ndarray:
        return np.concatenate(self.parts)


class KeptPredictions(SequenceErrors):
    """Sink of ``vae_lstm_pass`` that keeps every predicted window (memory of n_seq x l_seq x l_win x c values)."""

    def add(self, first, predicted, targets):
        self.parts.append(predicted)


def sequence_scores(vae, lstm, series: np.ndarray, l_win: int, l_seq: int, batch_size: int = 1024) -> np.ndarray:
    """(n_seq,) the paper's score of every sequence of a (n, c) series (``vae_lstm_pass``), in memory that
    grows with ``batch_size``."""
    return vae_lstm_pass(vae, lstm, series, l_win, l_seq, batch_size, SequenceErrors())[0]


def sequence_scores_at(vae, lstm, series: np.ndarray, l_win: int, l_seq: int, sequences,
                       batch_size: int = 1024) -> np.ndarray:
    """``sequence_scores(vae, lstm, series, l_win, l_seq, batch_size)[sequences]``, to the bit, from the model calls
    that those sequences need: the encoder over their windows, the LSTM and decoder over them, each row in a call
    like its call in the whole pass (``call_slots``). Keras models only."""
    windows = rolling_windows(np.asarray(as_2d(series), dtype="float32"), l_win)
    n_seq = _sequence_count(len(windows), l_win, l_seq)
    sequences = np.asarray(sequences, dtype=np.int64)
    index = sequences[:, None] + l_win * np.arange(l_seq)  # each sequence's windows
    wanted = np.unique(index)
    mean, _ = compiled_apply_at(vae.encoder, windows[wanted], len(windows), wanted, batch_size, JIT_SCORING)
    codes = mean[np.searchsorted(wanted, index[:, :-1])]  # the LSTM's input: the codes of all but the last window
    steps = l_seq - 1
    function = _predictor_call(lstm, scoring_decoder(vae.decoder), codes.shape[1:])

    def run(planned):
        predicted = function(padded_rows(planned, codes)).numpy()[planned.slots]
        return np.square(windows[index[planned.picks, 1:]] - predicted).sum(axis=(1, 2, 3))  # as SequenceErrors

    return gathered(planned_calls(run, n_seq, sequences, max(int(batch_size) // steps, 1), rows_per_item=steps,
                                  unit="sequences"), len(sequences))


def score_vae_lstm(vae, lstm, series: np.ndarray, l_win: int, l_seq: int,
                   batch_size: int = 1024) -> SequenceScores:
    """Score every sequence of a (n, c) series with a trained VAE and LSTM, keeping the predicted windows: the
    encoder over every window, then the LSTM over every sequence and the decoder over its predicted codes, in
    compiled calls of about ``batch_size`` rows. Its memory grows with the series times l_seq x l_win x c: the
    detector scores through ``vae_lstm_pass`` instead."""
    scores, predicted = vae_lstm_pass(vae, lstm, series, l_win, l_seq, batch_size, SequenceErrors(), KeptPredictions())
    return SequenceScores(scores, predicted)


def covered_mean(points: np.ndarray, values: np.ndarray, n_points: int) -> np.ndarray:
    """Mean of ``values`` over the entries of ``points`` (same shape) naming each time point; NaN where none."""
    total = np.bincount(points.ravel(), weights=values.ravel(), minlength=n_points)
    return mean_or_nan(total, np.bincount(points.ravel(), minlength=n_points))


def mean_or_nan(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``total / count`` per point; NaN where the count is 0."""
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
                     channel_scale: np.ndarray | None = None, codes: np.ndarray | None = None) -> np.ndarray:
    """Per-point squared reconstruction error of the VAE alone (through the code mean, summed over channels,
    each divided by its ``channel_scale`` when given), averaged over every window that covers the point;
    the decoder's windows one compiled call at a time, so that memory grows with ``batch_size``. ``codes``: the
    code means of every window (``window_codes``), when known, which spare the encoder."""
    windows = rolling_windows(np.asarray(as_2d(series), dtype="float32"), l_win)
    mean = window_codes(vae, series, l_win, batch_size) if codes is None else codes
    covered, first = CoveredValues(len(windows) + l_win - 1), 0
    for decoded in compiled_chunks(scoring_decoder(vae.decoder), mean, batch_size):
        squared = np.square(windows[first:first + len(decoded)] - decoded)
        error = (squared if channel_scale is None else squared / channel_scale).sum(axis=-1)
        points = first + np.arange(len(decoded))[:, None] + np.arange(l_win)[None, :]
        first += len(decoded)
        covered.add(points, error, first)  # later windows start at ``first``: the points before it are whole
    return covered.result()


class CoveredValues:
    """Per time point, the mean (or, with ``quantile`` q, the lower q-quantile) of the values naming it, gathered
    over consecutive parts: ``add(points, values, final_below)`` with the promise that no later part names a point
    below ``final_below``. The same numbers as ``covered_mean`` / ``covered_quantile`` of every value at once, to
    the bit: a point's values are summed in the same order.

    For the mean, what a point not yet whole carries to the next part is its running sum and count, not its values:
    ``np.bincount`` sums a point's weights one after the other from 0, so its sum of the carried sum then the new
    values is the sum of all of them in order. A VAE-LSTM point has l_win * (l_seq - 1) predictions, arriving over
    as many sequences: carrying each one kept (l_win * (l_seq - 1))**2 / 2 values between parts (37 million at
    l_win 1440, l_seq 7) and copied them on every part. A quantile needs the values themselves: it carries those."""

    def __init__(self, n_points: int, quantile: float | None = None):
        self.out, self.quantile, self.done = np.full(n_points, np.nan), quantile, 0
        # the unfinished points named so far: each value (quantile), or each point's running sum and count (mean)
        self.points, self.values = np.empty(0, dtype=np.intp), np.empty(0)
        self.counts = np.empty(0, dtype=np.intp)

    def add(self, points: np.ndarray, values: np.ndarray, final_below: int) -> None:
        points = np.asarray(points, dtype=np.intp).ravel()
        values = np.asarray(values, dtype=float).ravel()
        end = min(int(final_below), len(self.out))
        if self.quantile is not None:
            points, values = np.concatenate([self.points, points]), np.concatenate([self.values, values])
            whole = points < end
            self.out[self.done:end] = covered_quantile(points[whole] - self.done, values[whole], end - self.done,
                                                       self.quantile)
            self.points, self.values, self.done = points[~whole], values[~whole], end
            return
        size = max(end, int(points.max()) + 1 if points.size else 0,
                   int(self.points.max()) + 1 if self.points.size else 0) - self.done
        named = np.concatenate([self.points, points]) - self.done  # the carried sums first: summed before the values
        total = np.bincount(named, weights=np.concatenate([self.values, values]), minlength=size)
        count = np.bincount(points - self.done, minlength=size)
        count[self.points - self.done] += self.counts  # the carried points are distinct
        n = end - self.done
        self.out[self.done:end] = mean_or_nan(total[:n], count[:n])
        unfinished = n + np.flatnonzero(count[n:])
        self.points, self.values, self.counts = unfinished + self.done, total[unfinished], count[unfinished]
        self.done = end

    def result(self) -> np.ndarray:
        self.add(np.empty(0, dtype=np.intp), np.empty(0), len(self.out))
        return self.out


def predicted_points(n_seq: int, n_pred: int, l_win: int, first: int = 1, start: int = 0) -> np.ndarray:
    """(n_seq, n_pred, l_win) time points of the predicted windows k = ``first`` .. ``first`` + n_pred - 1 of
    sequences ``start`` .. ``start`` + n_seq - 1: sequence s (starting at point s) predicts window k over
    ``s + k * l_win .. s + (k + 1) * l_win - 1``."""
    return (start + np.arange(n_seq)[:, None, None] + l_win * np.arange(first, first + n_pred)[None, :, None]
            + np.arange(l_win)[None, None, :])


def window_errors(series: np.ndarray, predicted_windows: np.ndarray, l_win: int, first: int = 1,
                  channel_scale: np.ndarray | None = None, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(points, errors), both (n_seq, n, l_win): the time point of each predicted value (``predicted_points``
    of sequences ``start`` ..) and its squared error, summed over channels, each divided by its
    ``channel_scale`` when given."""
    series = np.asarray(series, dtype=float).reshape(len(series), -1)
    n_seq, n_pred = predicted_windows.shape[:2]
    points = predicted_points(n_seq, n_pred, l_win, first, start)
    squared = np.square(series[points] - predicted_windows)
    if channel_scale is not None:
        squared = squared / channel_scale
    return points, squared.sum(axis=-1)


class PredictionErrors:
    """Sink of ``vae_lstm_pass``: per point, the mean (or, with ``quantile`` q, the lower q-quantile) of its squared
    errors (``window_errors``) over the predicted windows k = ``from_window`` .. l_seq - 1 covering it (1: every
    predicted window; l_seq - 1: each sequence's last); with ``context_scale``, each error is first divided by that
    of its window position and multiplied by their mean. NaN where none covers a point."""

    def __init__(self, series: np.ndarray, l_win: int, from_window: int = 1, channel_scale: np.ndarray | None = None,
                 quantile: float | None = None, context_scale: np.ndarray | None = None):
        self.series = np.asarray(series, dtype=float).reshape(len(series), -1)
        self.l_win, self.from_window, self.channel_scale = l_win, from_window, channel_scale
        self.context_scale = None if context_scale is None else np.asarray(context_scale, dtype=float)
        self.covered = CoveredValues(len(series), quantile)

    def add(self, first, predicted, targets=None):
        self.add_windows(first, predicted[:, self.from_window - 1:], self.from_window)

    def add_windows(self, start: int, predicted_windows: np.ndarray, first: int) -> None:
        """The windows k = ``first`` .. of sequences ``start`` .. (``predicted_windows``, (m, n, l_win, c))."""
        points, errors = window_errors(self.series, predicted_windows, self.l_win, first, self.channel_scale, start)
        if self.context_scale is not None:
            scale = self.context_scale
            errors = errors / scale[first - 1:first - 1 + errors.shape[1], None] * scale.mean()
        # the next sequences' windows start at point start + len + first * l_win: the points before it are whole
        self.covered.add(points, errors, start + len(predicted_windows) + first * self.l_win)

    def result(self) -> np.ndarray:
        return self.covered.result()


def point_errors(series: np.ndarray, predicted_windows: np.ndarray, l_win: int, first: int = 1,
                 channel_scale: np.ndarray | None = None, quantile: float | None = None,
                 context_scale: np.ndarray | None = None) -> np.ndarray:
    """Per-point score from the LSTM-predicted windows of every sequence: the squared error at each time point
    (summed over channels, each divided by its ``channel_scale`` when given), averaged over every predicted
    window that covers it (with ``quantile`` q, their lower q-quantile instead: ``covered_quantile``). With
    ``context_scale`` (the training block's mean error of every window position k, ``context_error_scale``),
    each error is first divided by that of its window's position and the result multiplied by their mean.

    ``predicted_windows`` is (n_seq, n, l_win, c), the windows k = ``first`` .. ``first`` + n - 1 of every
    sequence (all of them by default; ``predicted_points``). Points that none covers get NaN. The
    ``PredictionErrors`` sink of one chunk: the detector gathers the same over ``vae_lstm_pass``."""
    sink = PredictionErrors(series, l_win, first, channel_scale, quantile, context_scale)
    sink.add_windows(0, predicted_windows, first)
    return sink.result()


class RunningScale:
    """A mean over rows handed in parts (``accumulate``), per column: summed row after row, continuing from the
    parts before, which is how NumPy's mean of the whole array sums rows of two or more columns (to the bit); a
    scale of 0 becomes 1, so that nothing is divided by 0."""

    def __init__(self, series: np.ndarray, l_win: int):
        self.series = np.asarray(series, dtype=float).reshape(len(series), -1)  # once, not per call
        self.l_win, self.total, self.count = l_win, None, 0

    def accumulate(self, rows: np.ndarray, count: int) -> None:
        self.total = np.add.reduce(rows if self.total is None else np.concatenate([self.total[None], rows]), axis=0)
        self.count += count

    def result(self) -> np.ndarray:
        scale = self.total / self.count
        return np.where(scale > 0, scale, 1.0)


class ContextErrorScale(RunningScale):
    """Sink of ``vae_lstm_pass``: (l_seq - 1,) the mean squared error (``window_errors``) of the predicted windows
    k = 1 .. l_seq - 1 over every sequence of a series (the training block's, for ``context_scale`` "mean"): window
    k is predicted from k windows of codes, and with little context the LSTM errs more. A position predicted
    without error gets 1. Summed sequence after sequence, as NumPy's mean of the whole array sums them (to the bit,
    but for l_seq 2, whose one position NumPy sums pairwise: equal to float rounding)."""

    def __init__(self, series: np.ndarray, l_win: int, channel_scale: np.ndarray | None = None):
        super().__init__(series, l_win)
        self.channel_scale = channel_scale

    def add(self, first, predicted, targets=None):
        _, errors = window_errors(self.series, predicted, self.l_win, channel_scale=self.channel_scale, start=first)
        self.accumulate(errors.sum(axis=2), errors.shape[0] * errors.shape[2])


def context_error_scale(series: np.ndarray, predicted_windows: np.ndarray, l_win: int,
                        channel_scale: np.ndarray | None = None) -> np.ndarray:
    """``ContextErrorScale`` of every sequence's predicted windows at once."""
    sink = ContextErrorScale(series, l_win, channel_scale)
    sink.add(0, predicted_windows)
    return sink.result()


class ChannelErrorScale(RunningScale):
    """Sink of ``vae_lstm_pass``: (c,) each channel's mean squared error over every predicted window of a series
    (the training block's, for ``error_scale`` "channel"); a channel predicted without error gets 1, so that it is
    not divided by 0. Summed value after value, as NumPy's mean of the whole array sums them for two or more
    channels (to the bit; one channel NumPy sums pairwise: equal to float rounding)."""

    def add(self, first, predicted, targets=None):
        points = predicted_points(len(predicted), predicted.shape[1], self.l_win, start=first)
        squared = np.square(self.series[points] - predicted).reshape(-1, self.series.shape[1])
        self.accumulate(squared, len(squared))


def channel_error_scale(series: np.ndarray, predicted_windows: np.ndarray, l_win: int) -> np.ndarray:
    """``ChannelErrorScale`` of every sequence's predicted windows at once."""
    sink = ChannelErrorScale(series, l_win)
    sink.add(0, predicted_windows)
    return sink.result()


class ChannelErrorSums:
    """Sink of ``vae_lstm_pass``: per point and channel, the sum of the point's squared errors over the predicted
    windows covering it, and from the same values each channel's scale (a ``ChannelErrorScale``, to the bit). With
    ``error_scale`` "channel", a point's mean error is a sum of these sums, each divided by its channel's scale,
    over its count (``point_errors``), so that one pass of the models gives the training block's channel scales
    and its point errors under them, where a pass per statistic ran the models again over a block too large to keep
    its predicted windows (``BlockPasses``). ``by_position``: a sum per window position too (n x (l_seq - 1) x c
    values), for the window positions' scales (``context_scale``); ``last``: the last window's sums apart from the
    others (for ``last_window``). The point errors equal ``PredictionErrors``' to float rounding (their sums in
    another order), not to the bit."""

    def __init__(self, series: np.ndarray, l_win: int, l_seq: int, by_position: bool = False, last: bool = False):
        self.scale = ChannelErrorScale(series, l_win)
        self.l_win, self.n_pred, self.n_seq, self.n_points = l_win, l_seq - 1, 0, len(series)
        # each window position's slot of the sums: its own, the last apart from the others, or one for all
        self.slots = (np.arange(self.n_pred) if by_position else
                      (np.arange(self.n_pred) == self.n_pred - 1).astype(np.intp) if last and self.n_pred > 1
                      else np.zeros(self.n_pred, dtype=np.intp))
        self.sums = np.zeros((len(self.scale.series), int(self.slots.max()) + 1, self.scale.series.shape[1]))

    @staticmethod
    def size(n_points: int, n_channel: int, l_seq: int, by_position: bool = False, last: bool = False) -> int:
        """The bytes of the sums of a sink over ``n_points`` points."""
        return 8 * n_points * n_channel * (l_seq - 1 if by_position else 2 if last and l_seq > 2 else 1)

    def add(self, first, predicted, targets=None):
        m, n_pred = predicted.shape[:2]
        series = self.scale.series
        squared = np.square(series[predicted_points(m, n_pred, self.l_win, start=first)] - predicted)
        self.scale.accumulate(squared.reshape(-1, series.shape[1]), squared.size // series.shape[1])
        n_slots, c = self.sums.shape[1:]
        # the points from first + l_win (window 1 of sequence first), each slot's channels, in one bincount
        local = (np.arange(m)[:, None, None] + self.l_win * np.arange(n_pred)[None, :, None]
                 + np.arange(self.l_win)[None, None, :]) * n_slots + self.slots[:n_pred, None]
        span = m - 1 + n_pred * self.l_win
        index = (local[..., None] * c + np.arange(c)).ravel()
        start = first + self.l_win
        self.sums[start:start + span] += np.bincount(index, weights=squared.ravel(),
                                                     minlength=span * n_slots * c).reshape(span, n_slots, c)
        self.n_seq += m

    def result(self) -> ChannelErrorSums:
        return self

    def channel_scale(self) -> np.ndarray:
        """(c,) ``ChannelErrorScale``'s result."""
        return self.scale.result()

    def counts(self, slot: int | None = None) -> np.ndarray:
        """Per point, the predicted windows covering it (those of ``slot`` only, when given)."""
        n, l_win = self.n_points, self.l_win
        t, count = np.arange(n), np.zeros(n, dtype=np.intp)
        for k in range(1, self.n_pred + 1):  # sequence s's window k covers s + k * l_win .. s + (k + 1) * l_win - 1
            if slot is None or self.slots[k - 1] == slot:
                count += np.maximum(np.minimum(t - k * l_win, self.n_seq - 1)
                                    - np.maximum(t - (k + 1) * l_win + 1, 0) + 1, 0)
        return count

    def scaled(self, channel_scale: np.ndarray) -> np.ndarray:
        """(n, slots): each slot's sums, each channel's divided by its scale, summed over channels. The sums' last
        use: they are freed (and the series' copy), so that the point errors computed next hold the (n, slots)
        result beside a part of them at most, not every sum."""
        scaled = np.empty((self.n_points, self.sums.shape[1]))
        for slot in range(self.sums.shape[1]):  # one (n, c) slot's part at a time
            np.sum(self.sums[:, slot] / channel_scale, axis=-1, out=scaled[:, slot])
        self.sums = self.scale.series = None
        return scaled

    def context_scale(self, scaled: np.ndarray) -> np.ndarray:
        """(l_seq - 1,) ``ContextErrorScale``'s result under the channel scales of ``scaled`` (by_position): each
        window position's mean error."""
        context = scaled.sum(axis=0) / (self.n_seq * self.l_win)
        return np.where(context > 0, context, 1.0)

    def point_errors(self, scaled: np.ndarray, context_scale: np.ndarray | None = None,
                     last_only: bool = False) -> np.ndarray:
        """``PredictionErrors``' result (every predicted window, or each sequence's last with ``last_only``) from
        ``scaled``, with each window position's error divided by its ``context_scale`` (by_position) times their
        mean."""
        if context_scale is not None:  # one (n, slots) copy, not two
            scaled = scaled / context_scale
            scaled *= context_scale.mean()
        if last_only:
            slot = int(self.slots[-1])
            return mean_or_nan(scaled[:, slot], self.counts(slot))
        return mean_or_nan(scaled.sum(axis=1), self.counts())


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


def balanced_points(predicted: np.ndarray, second: np.ndarray, scales: tuple[float, ...], *, uncovered: float,
                    weight: float = 1.0, combine: str = "sum", power: float = 1.0, third: np.ndarray | None = None,
                    third_weight: float = 1.0) -> np.ndarray:
    """``(predicted / scales[0]) ** power`` and ``weight * (second / scales[1]) ** power``, summed (``combine``
    "sum") or the larger of the two ("max"): the LSTM's prediction error of each point and a second term (the
    VAE's reconstruction error, or the point's squared level), each in units of its own training-block scale
    (``term_scale``), so that with weight 1 both weigh the same; ``power`` 0.5 turns the squared terms into
    absolute ones. With ``third`` (the VAE's reconstruction error beside the level), ``third_weight * (third /
    scales[2]) ** power`` joins them likewise. A point that no prediction covers (NaN: the first l_win of a
    series) takes ``uncovered`` as its prediction error, in the same units as ``predicted``: the caller gives the
    training block's median error (``uncovered_error``), a typical value that counts neither for nor against the
    point."""
    predicted = np.where(np.isnan(predicted), uncovered, np.asarray(predicted, dtype=float)) / scales[0]
    second = np.asarray(second, dtype=float) / scales[1]
    points = TERM_COMBINES[combine](predicted ** power, weight * second ** power)
    if third is None:
        return points
    return TERM_COMBINES[combine](points, third_weight * (np.asarray(third, dtype=float) / scales[2]) ** power)


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
    series, whose predictions all have less context) take ``point_errors`` of every window: ``last_window_points``
    of two ``PredictionErrors`` sinks of one chunk."""
    n_pred = predicted_windows.shape[1]
    scales = {"channel_scale": channel_scale, "context_scale": context_scale}
    last, every = PredictionErrors(series, l_win, n_pred, **scales), PredictionErrors(series, l_win, **scales)
    for sink in (last, every):
        sink.add(0, predicted_windows)
    return last_window_points(last.result(), every.result())


def last_window_points(last: np.ndarray, every: np.ndarray) -> np.ndarray:
    """Each point's error in the last predicted windows, or where none covers it, in every predicted window."""
    return np.where(np.isnan(last), every, last)


def score_vae_windows(vae, series: np.ndarray, l_win: int, l_seq: int,
                      batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The VAE alone: (per-sequence scores, per-window squared errors) of a (n, c) series.

    A window's error is its squared reconstruction error through the code mean (the same
    ``elbo_terms`` as training), taken one compiled call of the decoder at a time; a sequence's score
    sums the errors of its last l_seq - 1 windows.
    """
    windows = rolling_windows(np.asarray(as_2d(series), dtype="float32"), l_win)
    index = _sequence_index(len(windows), l_win, l_seq)
    mean, std = compiled_apply(vae.encoder, windows, batch_size, JIT_SCORING)
    errors, first = [], 0
    for reconstructed in compiled_chunks(scoring_decoder(vae.decoder), mean, batch_size):
        rows = slice(first, first + len(reconstructed))
        errors.append(ops.convert_to_numpy(elbo_terms(windows[rows], reconstructed, mean[rows], std[rows],
                                                      vae.sigma2())[0]))
        first += len(reconstructed)
    squared_error = np.concatenate(errors)
    return squared_error[index[:, 1:]].sum(axis=1), squared_error


def vae_sequence_scores_at(vae, series: np.ndarray, l_win: int, l_seq: int, sequences,
                           batch_size: int = 1024) -> np.ndarray:
    """``score_vae_windows(vae, series, l_win, l_seq, batch_size)[0][sequences]``, to the bit, from the model calls
    that those sequences' scored windows need, each window in a call like its call in the whole pass
    (``call_slots``), its error taken over that call, as there. Keras models only."""
    windows = rolling_windows(np.asarray(as_2d(series), dtype="float32"), l_win)
    _sequence_count(len(windows), l_win, l_seq)
    index = np.asarray(sequences, dtype=np.int64)[:, None] + l_win * np.arange(1, l_seq)  # the scored windows
    wanted = np.unique(index)
    chosen = np.asarray(windows[wanted])
    mean, std = compiled_apply_at(vae.encoder, chosen, len(windows), wanted, batch_size, JIT_SCORING)
    decoder = scoring_decoder(vae.decoder)
    function = _compiled_call(decoder, mean.shape[1:], False)
    sigma2 = vae.sigma2()

    def run(planned):
        means = padded_rows(planned, mean)
        reconstructed = function(means).numpy()
        errors = elbo_terms(padded_rows(planned, chosen), reconstructed, means, padded_rows(planned, std, 1.0),
                            sigma2)[0]
        return ops.convert_to_numpy(errors)[planned.slots]

    squared_error = gathered(planned_calls(run, len(windows), wanted, batch_size), len(wanted))
    return squared_error[np.searchsorted(wanted, index)].sum(axis=1)


def _sequence_index(n_windows: int, l_win: int, l_seq: int) -> np.ndarray:
    _sequence_count(n_windows, l_win, l_seq)
    return sequence_window_index(n_windows + l_win - 1, l_win, l_seq)


def _sequence_count(n_windows: int, l_win: int, l_seq: int) -> int:
    """The sequences of a series of ``n_windows`` windows; a ValueError where not one fits."""
    n_seq = n_sequences(n_windows + l_win - 1, l_win, l_seq)
    if n_seq == 0:
        raise ValueError(f"series of {n_windows + l_win - 1} points is shorter than one sequence "
                         f"(l_win * l_seq = {l_win * l_seq})")
    return n_seq


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
