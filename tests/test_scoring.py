"""The compiled scoring path (``scoring.compiled_apply``): the same outputs as Keras ``predict`` for every
neural model, whatever the chunking; one trace per model; the cache does not keep models alive; and the
detectors' scores equal those of the ``predict`` path they replaced and the per-sequence reference."""

import gc
import weakref

import keras
import numpy as np
import pytest

from vae_lstm import scoring
from vae_lstm.config import from_dict
from vae_lstm.detectors import get_detector
from vae_lstm.detectors.base import Scores
from vae_lstm.detectors.lstm_ad import build_lstm_ad
from vae_lstm.detectors.lstm_ae import build_lstm_ae
from vae_lstm.detectors.lstm_vae import LSTMVAE
from vae_lstm.errors import UserError
from vae_lstm.models import VAE, build_lstm, elbo_terms
from vae_lstm.windowing import rolling_windows, sequence_window_index

L_WIN, L_SEQ, CODE = 16, 3, 3
TOL = {"rtol": 1e-4, "atol": 1e-5}


@pytest.fixture(scope="module")
def vae():
    keras.utils.set_random_seed(0)
    return VAE(L_WIN, 1, CODE, 32, seed=0)


@pytest.fixture(scope="module")
def lstm():
    keras.utils.set_random_seed(1)
    return build_lstm(L_SEQ, CODE, 8)


@pytest.fixture(scope="module")
def series():
    t = np.arange(200, dtype="float32")
    noise = np.random.default_rng(0).standard_normal(200).astype("float32")
    return (np.sin(2 * np.pi * t / 24) + 0.1 * noise)[:, None]


def windows_of(series, l_win=L_WIN):
    return np.asarray(rolling_windows(series, l_win), dtype="float32")


def assert_like_predict(model, x, chunk, jit_compile=False):
    expected = model.predict(x, batch_size=64, verbose=0)
    got = scoring.compiled_apply(model, x, chunk, jit_compile)
    if isinstance(expected, (list, tuple)):
        assert isinstance(got, list) and len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, **TOL)
    else:
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, **TOL)


@pytest.mark.parametrize("chunk, jit_compile", [(1, False), (7, False), (64, False), (10_000, False),
                                                (7, True), (64, True), (10_000, True)])
def test_compiled_apply_equals_predict_for_the_vae_and_lstm(vae, lstm, series, chunk, jit_compile):
    w = windows_of(series)
    assert_like_predict(vae.encoder, w, chunk, jit_compile)  # two outputs: mean and std
    codes = np.random.default_rng(2).standard_normal((50, CODE)).astype("float32")
    assert_like_predict(vae.decoder, codes, chunk, jit_compile)
    assert_like_predict(lstm, codes[: 48].reshape(-1, L_SEQ - 1, CODE), chunk, jit_compile)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_compiled_apply_equals_predict_for_the_comparison_models(series, jit_compile):
    keras.utils.set_random_seed(3)
    w = windows_of(series)
    assert_like_predict(build_lstm_ae(L_WIN, 1, CODE, 8), w, 50, jit_compile)
    assert_like_predict(LSTMVAE(L_WIN, 1, CODE, 8, seed=0), w, 50, jit_compile)  # rebuilds through z_mean
    assert_like_predict(build_lstm_ad(L_WIN, 1, 4, 8), w, 50, jit_compile)


@pytest.mark.parametrize("jit_compile, rows", [(False, [[41, 41, 41], [5]]), (True, [[50, 50, 50], [8]])])
def test_compiled_apply_traces_once_and_calls_each_chunk_whole(vae, series, jit_compile, rows):
    """Chunks of at most 50 rows, as few as that allows and of equal size (123 rows: 3 of 41, not 50, 50 and
    23, so that side-by-side calls end together); through XLA every call has 50 rows, the last padded (to 8,
    the next power of two, when the whole array is shorter than a chunk), the padding dropped from the
    output."""
    w = windows_of(series)  # 185 windows
    scoring.compiled_apply(vae.encoder, w, 50, jit_compile)
    key = (w.shape[1:], jit_compile)
    function = scoring._COMPILED[vae.encoder][key]
    seen = []

    class Spy:
        def __call__(self, x):
            seen.append(len(x))
            return function(x)

        def experimental_get_tracing_count(self):
            return function.experimental_get_tracing_count()

    scoring._COMPILED[vae.encoder][key] = Spy()
    try:
        mean, _ = scoring.compiled_apply(vae.encoder, w[:123], 50, jit_compile)
        short, _ = scoring.compiled_apply(vae.encoder, w[:5], 50, jit_compile)
    finally:
        scoring._COMPILED[vae.encoder][key] = function
    assert sorted(seen) == sorted(rows[0] + rows[1])  # chunks run side by side, one per thread
    assert mean.shape == (123, CODE) and short.shape == (5, CODE)
    np.testing.assert_allclose(short, mean[:5], **TOL)
    assert function.experimental_get_tracing_count() == 1  # every length and chunk size: one graph


@pytest.mark.parametrize("jit_compile", [False, True])
def test_compiled_apply_of_no_rows_gives_no_rows(vae, jit_compile):
    mean, std = scoring.compiled_apply(vae.encoder, np.zeros((0, L_WIN, 1), "float32"), 8, jit_compile)
    assert mean.shape == std.shape == (0, CODE)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_compiled_apply_in_side_by_side_slices_gives_the_same_rows(vae, series, monkeypatch, jit_compile):
    """Each chunk split into 3 slices (one per thread), with one and two outputs, and chunks shorter than
    the slices (one row): the rows of the unsplit call, none lost, none repeated."""
    w = windows_of(series)[:101]
    codes = np.random.default_rng(4).standard_normal((101, CODE)).astype("float32")
    whole = [scoring.compiled_apply(vae.encoder, w, 50, jit_compile), scoring.compiled_apply(vae.decoder, codes, 50)]
    for model in (vae.encoder, vae.decoder):
        scoring._COMPILED.pop(model)
    monkeypatch.setattr(scoring, "branches", lambda: 3)
    try:
        mean, std = scoring.compiled_apply(vae.encoder, w, 50, jit_compile)  # chunks of 50, 50 and 1 rows
        decoded = scoring.compiled_apply(vae.decoder, codes, 50)
        one_mean, _ = scoring.compiled_apply(vae.encoder, w[:1], 50, jit_compile)
        tiny_chunks, _ = scoring.compiled_apply(vae.encoder, w[:7], 2, jit_compile)  # every call padded
    finally:
        for model in (vae.encoder, vae.decoder):
            scoring._COMPILED.pop(model)
    np.testing.assert_allclose(mean, whole[0][0], **TOL)
    np.testing.assert_allclose(std, whole[0][1], **TOL)
    np.testing.assert_allclose(decoded, whole[1], **TOL)
    assert one_mean.shape == (1, CODE)
    np.testing.assert_allclose(one_mean, whole[0][0][:1], **TOL)
    np.testing.assert_allclose(tiny_chunks, whole[0][0][:7], **TOL)


def test_compiled_cache_does_not_keep_a_model_alive():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    scoring.compiled_apply(model, np.ones((4, 3), "float32"), 2)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("n_rows, chunk, rows", [(12_149, 4_096, 4_050), (123, 50, 41), (101, 50, 34),
                                                 (100, 50, 50), (5, 50, 5), (0, 8, 1), (7, 0, 1)])
def test_chunk_rows_makes_the_fewest_calls_of_equal_size(n_rows, chunk, rows):
    assert scoring.chunk_rows(n_rows, chunk) == rows


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_decoded_predictions_equal_the_lstm_then_the_decoder(vae, lstm, chunk):
    """One graph for both models, in calls of chunk // (l_seq - 1) sequences (at least one): the windows of
    the two models called one after the other, for every sequence in its place."""
    sequences = np.random.default_rng(5).standard_normal((45, L_SEQ - 1, CODE)).astype("float32")
    codes = lstm.predict(sequences, verbose=0)
    expected = vae.decoder.predict(codes.reshape(-1, CODE), verbose=0).reshape(45, L_SEQ - 1, L_WIN, 1)
    np.testing.assert_allclose(scoring.decoded_predictions(lstm, vae.decoder, sequences, chunk), expected, **TOL)


def test_decoded_predictions_follow_another_decoder_and_keep_no_model_alive(vae):
    keras.utils.set_random_seed(6)
    lstm = build_lstm(L_SEQ, CODE, 8)
    sequences = np.random.default_rng(6).standard_normal((9, L_SEQ - 1, CODE)).astype("float32")
    first = scoring.decoded_predictions(lstm, vae.decoder, sequences, 8)
    other = keras.models.clone_model(vae.decoder)
    other.set_weights([w * 1.5 for w in vae.decoder.get_weights()])
    second = scoring.decoded_predictions(lstm, other, sequences, 8)
    codes = lstm.predict(sequences, verbose=0).reshape(-1, CODE)
    np.testing.assert_allclose(second.reshape(-1, L_WIN, 1), other.predict(codes, verbose=0), **TOL)
    assert not np.allclose(first, second)
    refs = [weakref.ref(lstm), weakref.ref(other)]
    del lstm, other
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_scoring_decoder_is_rebuilt_when_the_weights_change(vae):
    """Scoring runs a folded copy of the decoder (models.fold_upsampling): reused while the weights are the
    same, rebuilt after training changes them, so that a retrained VAE is never scored with old weights."""
    decoder = keras.models.clone_model(vae.decoder)
    decoder.set_weights(vae.decoder.get_weights())
    codes = np.random.default_rng(2).normal(size=(8, CODE)).astype("float32")
    folded = scoring.scoring_decoder(decoder)
    assert scoring.scoring_decoder(decoder) is folded
    decoder.set_weights([w * 1.5 for w in decoder.get_weights()])
    rebuilt = scoring.scoring_decoder(decoder)
    assert rebuilt is not folded
    np.testing.assert_allclose(scoring.compiled_apply(rebuilt, codes, 4), decoder.predict(codes, verbose=0),
                               rtol=1e-4, atol=1e-5)
    ref = weakref.ref(decoder)
    del decoder
    gc.collect()
    assert ref() is None  # the cache does not keep the decoder alive


def test_scoring_decoder_does_not_keep_a_decoder_it_leaves_as_it_is_alive():
    """A decoder that is not a chain is scored as it is; caching it must not keep it alive either."""
    codes = keras.Input((CODE,))
    model = keras.Model(codes, keras.layers.Add()([keras.layers.Dense(L_WIN)(codes), keras.layers.Dense(L_WIN)(codes)]))
    assert scoring.scoring_decoder(model) is model
    assert scoring.scoring_decoder(model) is model  # from the cache
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


# ---- scores: the compiled path against the predict path it replaced, and the per-sequence reference ----


def predict_path_vae_lstm(vae, lstm, series, batch=64):
    """score_vae_lstm as it was, with Keras predict for each model call."""
    w = windows_of(series)
    index = sequence_window_index(len(series), L_WIN, L_SEQ)
    mean, _ = vae.encoder.predict(w, batch_size=batch, verbose=0)
    predicted = lstm.predict(mean[index[:, :-1]], batch_size=batch, verbose=0)
    decoded = vae.decoder.predict(predicted.reshape(-1, CODE), batch_size=batch, verbose=0)
    rebuilt = decoded.reshape(len(index), L_SEQ - 1, L_WIN, 1)
    return np.square(w[index[:, 1:]] - rebuilt).sum(axis=(1, 2, 3)), rebuilt


def test_vae_lstm_scores_equal_the_predict_path_and_the_per_sequence_scorer(vae, lstm, series):
    out = scoring.score_vae_lstm(vae, lstm, series, L_WIN, L_SEQ, batch_size=37)
    expected, rebuilt = predict_path_vae_lstm(vae, lstm, series)
    np.testing.assert_allclose(out.scores, expected, rtol=1e-4)
    np.testing.assert_allclose(out.predicted_windows, rebuilt, **TOL)
    reference = scoring.score_series_per_sequence(vae, lstm, series, L_WIN, L_SEQ)
    np.testing.assert_allclose(out.scores, reference, rtol=1e-3)


def test_vae_scores_equal_the_predict_path(vae, series):
    seq, errors = scoring.score_vae_windows(vae, series, L_WIN, L_SEQ, batch_size=37)
    w = windows_of(series)
    mean, std = vae.encoder.predict(w, verbose=0)
    expected = np.asarray(elbo_terms(w, vae.decoder.predict(mean, verbose=0), mean, std, vae.sigma2())[0])
    np.testing.assert_allclose(errors, expected, rtol=1e-4)
    index = sequence_window_index(len(series), L_WIN, L_SEQ)
    np.testing.assert_allclose(seq, expected[index[:, 1:]].sum(axis=1), rtol=1e-4)


def detector(name, **keys):
    cfg = from_dict({"detector": name, "l_win": L_WIN, "l_seq": L_SEQ, "code_size": CODE, "n_channel": 1,
                     "num_hidden_units": 32, "num_hidden_units_lstm": 8, "score_batch_size": 29, **keys})
    return get_detector(cfg)


@pytest.mark.parametrize("name", ["lstm_ae", "lstm_vae"])
def test_window_detectors_score_like_predict(name, series):
    keras.utils.set_random_seed(4)
    det = detector(name)
    det.model = (build_lstm_ae(L_WIN, 1, CODE, 8) if name == "lstm_ae" else LSTMVAE(L_WIN, 1, CODE, 8, seed=0))
    w = windows_of(series)
    expected = np.square(w - det.model.predict(w, verbose=0)).mean(axis=(1, 2))
    np.testing.assert_allclose(det.score(series).native, expected, rtol=1e-4, atol=1e-7)


def test_lstm_ad_scores_like_predict(series):
    from vae_lstm.detectors.lstm_ad import error_vectors, gaussian_nll

    keras.utils.set_random_seed(5)
    det = detector("lstm_ad", prediction_horizon=3)
    det.model = build_lstm_ad(L_WIN, 1, 3, 8)
    det.mu, det.sigma = np.zeros(3), np.eye(3) * 0.5
    predictions = det.model.predict(windows_of(series[:-1]), verbose=0)
    nll = gaussian_nll(error_vectors(series, predictions, L_WIN), det.mu, det.sigma)
    expected = nll - gaussian_nll(det.mu[None, :], det.mu, det.sigma)[0]
    got = det.score(series)
    np.testing.assert_allclose(got.points, expected, rtol=1e-4, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(got.extras["prediction"][L_WIN:], predictions[:, 0], **TOL)


def test_vae_and_vae_lstm_detectors_score_through_the_compiled_path(vae, lstm, series):
    det = detector("vae_lstm")
    det.vae, det.lstm = vae, lstm
    det.calibrate(series[:120])  # the default point score needs the training block's term means
    expected, _ = predict_path_vae_lstm(vae, lstm, series)
    np.testing.assert_allclose(det.score(series).native, expected, rtol=1e-4)
    only = detector("vae")
    only.vae = vae
    np.testing.assert_allclose(only.score(series).native,
                               scoring.score_vae_windows(vae, series, L_WIN, L_SEQ)[0], rtol=1e-6)


# ---- point-level scores from the predicted windows (point_score "predicted_error") ----


def test_point_errors_hand_computed():
    # 7 points, l_win 2, l_seq 3: sequences start at 0 and 1; sequence s predicts points s+2..s+5
    predicted = np.array([[[1.0, 2], [3, 4]], [[5, 6], [7, 8]]])[..., None]  # (2 seq, 2 windows, 2, 1)
    points = scoring.point_errors(np.zeros((7, 1)), predicted, l_win=2)
    # seq 0: points 2,3,4,5 err 1,4,9,16; seq 1: points 3,4,5,6 err 25,36,49,64
    np.testing.assert_allclose(points, [np.nan, np.nan, 1, 14.5, 22.5, 32.5, 64], equal_nan=True)


def test_gather_sequences_hand_computed():
    # 8 points, l_win 2, l_seq 3: 7 windows, whose codes here are their own indices; sequence s takes windows
    # s, s + 2, s + 4, in time order (the LSTM learns to predict each code from the ones before it)
    codes = np.arange(7.0)[:, None]
    np.testing.assert_array_equal(scoring.gather_sequences(codes, 8, 2, 3)[..., 0], [[0, 2, 4], [1, 3, 5], [2, 4, 6]])


def test_last_window_errors_hand_computed():
    # 9 points, l_win 2, l_seq 3: sequences start at 0, 1, 2 and predict windows 1 and 2; window 2 (the last,
    # predicted from two windows of codes) of sequence s covers points s+4, s+5
    predicted = np.array([[[1.0, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]]])[..., None]
    # every window: seq 0 points 2..5 err 1,4,9,16; seq 1 points 3..6 err 25,36,49,64; seq 2 points 4..7
    # err 81,100,121,144. Last windows only: points 4,5 (9,16), 5,6 (49,64), 6,7 (121,144)
    last = scoring.point_errors(np.zeros((9, 1)), predicted[:, -1:], l_win=2, first=2)
    np.testing.assert_allclose(last, [np.nan] * 4 + [9, 32.5, 92.5, 144, np.nan], equal_nan=True)
    # points 0..3, which no last window covers, take the mean over every window (points 2, 3: 1 and 14.5)
    np.testing.assert_allclose(scoring.last_window_errors(np.zeros((9, 1)), predicted, l_win=2),
                               [np.nan, np.nan, 1, 14.5, 9, 32.5, 92.5, 144, np.nan], equal_nan=True)


def test_context_error_scale_and_context_scaled_point_errors_hand_computed():
    # 9 points, l_win 2, l_seq 3 (as test_last_window_errors_hand_computed): window 1 of every sequence off by
    # 2 (error 4), window 2, predicted with more context, off by 1 (error 1). Sequence s's window 1 covers
    # points s + 2, s + 3, its window 2 points s + 4, s + 5. Unscaled, a point's score depends on which windows
    # cover it: point 4 two window-1 errors and one window-2 error (3), point 5 one and two (2), 6 and 7 none.
    predicted = np.zeros((3, 2, 2, 1))
    predicted[:, 0], predicted[:, 1] = 2.0, 1.0
    series = np.zeros((9, 1))
    np.testing.assert_allclose(scoring.point_errors(series, predicted, 2),
                               [np.nan, np.nan, 4, 4, 3, 2, 1, 1, np.nan], equal_nan=True)
    scale = scoring.context_error_scale(series, predicted, 2)
    np.testing.assert_allclose(scale, [4, 1])
    # the one-pass calibration's sums give each position's mean error over its sequences and points too (not their
    # sum over a sequence's l_win points): [4, 1]; a position predicted without error 1, the other still 4
    for windows, expected in ((predicted, [4, 1]), (np.concatenate([predicted[:, :1], 0 * predicted[:, 1:]], 1), [4, 1])):
        sums = scoring.ChannelErrorSums(series, 2, 3, by_position=True)
        sums.add(0, windows)
        np.testing.assert_allclose(sums.context_scale(sums.scaled(np.ones(1))), expected)
    # each error over its window's scale (1 everywhere), times the scales' mean 2.5: the same 2.5 at every point
    np.testing.assert_allclose(scoring.point_errors(series, predicted, 2, context_scale=scale),
                               [np.nan, np.nan] + [2.5] * 6 + [np.nan], equal_nan=True)
    # point 7, covered by sequence 2's window 2 alone (offset 1), predicted 4 off: 16 times that window's scale
    off = predicted.copy()
    off[2, 1, 1] = 4.0
    np.testing.assert_allclose(scoring.point_errors(series, off, 2, context_scale=scale)[7], 16 / 1 * 2.5)
    # point 5: window 1 of sequence 2 (error 4), window 2 of sequences 0 and 1 (errors 9, made so, and 1)
    mixed = predicted.copy()
    mixed[0, 1, 1] = 3.0
    expected = np.mean([4 / 4, 9 / 1, 1 / 1]) * 2.5
    np.testing.assert_allclose(scoring.point_errors(series, mixed, 2, context_scale=scale)[5], expected)
    # the last window alone is scaled by window 2's scale, and the points before it by their own windows'
    np.testing.assert_allclose(scoring.last_window_errors(series, predicted, 2, context_scale=scale),
                               [np.nan, np.nan] + [2.5] * 6 + [np.nan], equal_nan=True)


def test_context_error_scale_of_perfect_predictions_is_one():
    # every window predicted without error: mean error 0 at both positions, taken as 1 so that no error is
    # divided by 0
    np.testing.assert_array_equal(scoring.context_error_scale(np.zeros((9, 1)), np.zeros((3, 2, 2, 1)), 2), [1, 1])


def test_channel_error_scale_and_scaled_point_errors_hand_computed():
    # 7 points, l_win 2, l_seq 3, as test_point_errors_hand_computed; channel 1 predicted 10 times as far off,
    # channel 2 predicted without error
    one = np.array([[[1.0, 2], [3, 4]], [[5, 6], [7, 8]]])
    predicted = np.stack([one, 10 * one, 0 * one], axis=-1)  # (2 seq, 2 windows, 2, 3)
    scale = scoring.channel_error_scale(np.zeros((7, 3)), predicted, l_win=2)
    # mean squared error of each channel over the 8 predicted points: (1 + 4 + ... + 64) / 8 = 25.5
    np.testing.assert_allclose(scale, [25.5, 2550, 1.0])
    unscaled = [np.nan, np.nan, 1, 14.5, 22.5, 32.5, 64]
    np.testing.assert_allclose(scoring.point_errors(np.zeros((7, 3)), predicted, 2),
                               101 * np.array(unscaled), equal_nan=True)
    # scaled, channels 0 and 1 weigh the same: 2 * (channel 0's error) / 25.5
    np.testing.assert_allclose(scoring.point_errors(np.zeros((7, 3)), predicted, 2, channel_scale=scale),
                               2 * np.array(unscaled) / 25.5, equal_nan=True)


def test_error_scale_channel_divides_each_channel_by_its_training_error(series):
    from types import SimpleNamespace

    from vae_lstm.data_loader import TestPiece
    from vae_lstm.detection import score_detector, validation_index

    keras.utils.set_random_seed(5)
    two = np.concatenate([series, 20 * np.roll(series, 7, axis=0)], axis=1)  # a second channel, far larger
    det = detector("vae_lstm", n_channel=2, point_score="predicted_error")  # the default error_scale, "channel"
    det.vae, det.lstm = VAE(L_WIN, 2, CODE, 32, seed=0), build_lstm(L_SEQ, CODE, 8)
    with pytest.raises(UserError, match="calibrate"):
        det.score(two)
    train, test = two[:120], two[120:]
    data = SimpleNamespace(train=train, test_pieces=[TestPiece("test", 120, test, np.array([10]))])
    res = score_detector(det, det.config, data, validation_index(det.config, 120))
    predicted_train = scoring.score_vae_lstm(det.vae, det.lstm, train, L_WIN, L_SEQ).predicted_windows
    predicted_test = scoring.score_vae_lstm(det.vae, det.lstm, test, L_WIN, L_SEQ).predicted_windows
    scale = [np.mean([np.square(train[s + k * L_WIN + j, c] - predicted_train[s, k - 1, j, c])
                      for s in range(len(predicted_train)) for k in range(1, L_SEQ) for j in range(L_WIN)])
             for c in range(2)]
    assert scale[1] > 10 * scale[0]
    t = 50  # one test point: each channel's squared error over its scale, averaged over the covering windows
    expected = np.mean([sum(np.square(test[t, c] - predicted_test[s, k - 1, t - s - k * L_WIN, c]) / scale[c]
                            for c in range(2))
                        for s in range(len(predicted_test)) for k in range(1, L_SEQ)
                        if 0 <= t - s - k * L_WIN < L_WIN])
    np.testing.assert_allclose(res.pieces[0].scores.points[t], expected, rtol=1e-4)
    # "none" sums the raw errors, which the larger channel dominates
    plain = detector("vae_lstm", n_channel=2, error_scale="none", point_score="predicted_error")
    plain.vae, plain.lstm = det.vae, det.lstm
    np.testing.assert_allclose(plain.score(test).points,
                               scoring.point_errors(test, predicted_test, L_WIN), rtol=1e-5)
    # one channel: no scale, so the same scores as "none"
    one = detector("vae_lstm", point_score="predicted_error")  # the default error_scale, "channel"
    one.vae, one.lstm = VAE(L_WIN, 1, CODE, 32, seed=0), build_lstm(L_SEQ, CODE, 8)
    one.calibrate(series[:120])
    assert one.channel_scale is None


def test_last_window_point_score_of_the_detector(vae, lstm, series):
    det = detector("vae_lstm", point_score="last_window")
    det.vae, det.lstm = vae, lstm
    got = det.score(series)
    assert not got.points_from_native
    predicted = scoring.score_vae_lstm(vae, lstm, series, L_WIN, L_SEQ).predicted_windows
    np.testing.assert_allclose(got.points, scoring.last_window_errors(series, predicted, L_WIN), rtol=1e-5)
    # a point after the first (l_seq - 1) * l_win: the mean of its error in the last windows covering it
    t = (L_SEQ - 1) * L_WIN + 5
    expected = np.mean([np.sum(np.square(series[t] - predicted[s, -1, t - s - (L_SEQ - 1) * L_WIN]))
                        for s in range(t - L_SEQ * L_WIN + 1, t - (L_SEQ - 1) * L_WIN + 1) if s >= 0])
    np.testing.assert_allclose(got.points[t], expected, rtol=1e-5)


@pytest.mark.parametrize("point_score", ["predicted_error", "balanced_level"])
def test_context_scale_divides_each_prediction_by_its_positions_training_error(point_score, vae, lstm, series):
    det = detector("vae_lstm", point_score=point_score, context_scale="mean")
    det.vae, det.lstm = vae, lstm
    with pytest.raises(UserError, match="context_scale 'mean' needs the training block's errors" if point_score ==
                       "predicted_error" else "'balanced_level' needs the training block's errors"):
        det.score(series)
    train, test = series[:120], series[120:]
    det.calibrate(train)
    predicted_train = scoring.score_vae_lstm(vae, lstm, train, L_WIN, L_SEQ).predicted_windows
    scale = [np.mean([np.square(train[s + k * L_WIN + j, 0] - predicted_train[s, k - 1, j, 0])
                      for s in range(len(predicted_train)) for j in range(L_WIN)]) for k in range(1, L_SEQ)]
    np.testing.assert_allclose(det.context_scale, scale, rtol=1e-5)
    predicted = scoring.score_vae_lstm(vae, lstm, test, L_WIN, L_SEQ).predicted_windows
    points = det.score(test).points
    # a point near the start, covered by window 1 alone, and one covered by windows 1 and 2
    for t, windows in ((L_WIN + 3, {1}), (2 * L_WIN + 3, {1, 2})):
        covering = [(s, k) for s in range(len(predicted)) for k in range(1, L_SEQ) if 0 <= t - s - k * L_WIN < L_WIN]
        assert {k for _, k in covering} == windows
        errors = [np.square(test[t, 0] - predicted[s, k - 1, t - s - k * L_WIN, 0]) / scale[k - 1]
                  for s, k in covering]
        expected = np.mean(errors) * np.mean(scale)
        if point_score == "balanced_level":  # over its training mean, plus the level term over its training mean
            expected = expected / det.term_scales[0] + det.config.second_term_weight * np.square(test[t, 0]) / det.term_scales[1]
        np.testing.assert_allclose(points[t], expected, rtol=1e-4)
    if point_score == "balanced_level":  # the prediction term's training mean is that of the scaled errors
        scaled = scoring.point_errors(train, predicted_train, L_WIN, context_scale=np.array(scale))
        np.testing.assert_allclose(det.term_scales[0], np.nanmean(scaled), rtol=1e-5)
        np.testing.assert_allclose(det.uncovered_error, np.nanmedian(scaled), rtol=1e-5)


def test_point_errors_sum_channels_and_total_the_sequence_scores(vae, lstm, series):
    targets = np.arange(2 * 6 * 2, dtype=float).reshape(12, 2)
    predicted = np.zeros((1, 2, 3, 2))  # 12 points, l_win 3, l_seq 3: one sequence predicts points 3..8
    np.testing.assert_allclose(scoring.point_errors(targets[:9], predicted, 3)[3:9],
                               np.square(targets[3:9]).sum(axis=1))
    # each (sequence, point) error counted once: sum over points of (mean x coverage) = sum of sequence scores
    out = scoring.score_vae_lstm(vae, lstm, series, L_WIN, L_SEQ)
    points = scoring.point_errors(series, out.predicted_windows, L_WIN)
    index = sequence_window_index(len(series), L_WIN, L_SEQ)
    coverage = np.bincount((np.arange(len(index))[:, None] + np.arange(L_WIN, L_WIN * L_SEQ)).ravel(),
                           minlength=len(series))
    np.testing.assert_allclose(np.nansum(points * coverage), out.scores.sum(), rtol=1e-4)
    assert np.isnan(points[:L_WIN]).all() and np.isfinite(points[L_WIN:]).all()


def test_predicted_error_points_calibrate_their_thresholds_on_points(vae, lstm, series):
    from types import SimpleNamespace

    from vae_lstm.data_loader import TestPiece
    from vae_lstm.detection import score_detector, validation_index

    det = detector("vae_lstm", point_score="predicted_error")
    det.vae, det.lstm = vae, lstm
    scores = det.score(series)
    assert not scores.points_from_native and scores.native_span == L_WIN * L_SEQ
    np.testing.assert_allclose(scores.points, scoring.point_errors(
        series, scoring.score_vae_lstm(vae, lstm, series, L_WIN, L_SEQ).predicted_windows, L_WIN), rtol=1e-5)
    data = SimpleNamespace(train=series[:120], test_pieces=[TestPiece("test", 120, series[120:], np.array([10]))])
    res = score_detector(det, det.config, data, validation_index(det.config, 120))
    train_points = det.score(series[:120]).points
    # point rules read point scores of the training block, not the (far larger) sequence sums
    np.testing.assert_allclose(np.sort(res.val_point_scores), np.sort(train_points[np.isfinite(train_points)]))
    np.testing.assert_allclose(res.train_point_scores, res.val_point_scores)


def test_moving_mean_hand_computed():
    x = np.array([np.nan, 1, 2, 3, 10.0])
    # width 3: points t-1..t+1, cut at the ends, NaN skipped
    np.testing.assert_allclose(scoring.moving_mean(x, 3), [1, 1.5, 2, 5, 6.5])
    # even width 2: points t..t+1
    np.testing.assert_allclose(scoring.moving_mean(x, 2), [1, 1.5, 2.5, 6.5, 10])
    np.testing.assert_array_equal(scoring.moving_mean(x, 1), x)
    assert np.isnan(scoring.moving_mean(np.array([np.nan, np.nan, 4.0]), 2)[0])


def test_point_smoothing_averages_the_detectors_point_scores_over_windows(vae, lstm, series):
    plain = detector("vae_lstm", point_score="predicted_error")
    smooth = detector("vae_lstm", point_score="predicted_error", point_smoothing=0.5)
    for det in (plain, smooth):
        det.vae, det.lstm = vae, lstm
    points = plain.score(series).points
    width = round(0.5 * L_WIN)
    got = smooth.score(series).points
    np.testing.assert_allclose(got, scoring.moving_mean(points, width), rtol=1e-6)
    t = 100  # away from the ends: the plain mean of the width points around t
    np.testing.assert_allclose(got[t], points[t - (width - 1) // 2:t + width // 2 + 1].mean(), rtol=1e-5)


def test_moving_max_hand_computed():
    x = np.array([1.0, np.nan, 3.0, 0.0, 10.0])
    # width 3: points t-1..t+1, cut at the ends, NaN skipped
    np.testing.assert_array_equal(scoring.moving_max(x, 3), [1, 3, 3, 10, 10])
    # even widths take moving_mean's span: t..t+1 for 2, t-1..t+2 for 4
    np.testing.assert_array_equal(scoring.moving_max(x, 2), [1, 3, 3, 10, 10])
    np.testing.assert_array_equal(scoring.moving_max(np.array([5.0, 0, 0, 0, 0, 7]), 4), [5, 5, 0, 7, 7, 7])
    np.testing.assert_array_equal(scoring.moving_max(x, 1), x)
    np.testing.assert_array_equal(scoring.moving_max(np.array([np.nan, np.nan, 4.0]), 2), [np.nan, 4, 4])


def test_point_spread_takes_the_largest_point_score_around_each_point(vae, lstm, series):
    plain = detector("vae_lstm", point_score="predicted_error", point_smoothing=0.5)
    spread = detector("vae_lstm", point_score="predicted_error", point_smoothing=0.5, point_spread=1)
    for det in (plain, spread):
        det.vae, det.lstm = vae, lstm
    points, got = plain.score(series).points, spread.score(series).points
    np.testing.assert_array_equal(got, scoring.moving_max(points, L_WIN))  # after the smoothing
    t = 100  # away from the ends: the largest of the l_win points around t
    assert got[t] == np.nanmax(points[t - (L_WIN - 1) // 2:t + L_WIN // 2 + 1])
    assert np.all(got[np.isfinite(points)] >= points[np.isfinite(points)])


def test_trailing_standardise_hand_computed():
    history, points = np.array([100.0, 1, 3]), np.array([2.0, 6, 4, 4, 5])
    # width 2: point 0's past is the history's last two (1, 3): mean 2, sd 1; point 1's (3, 2): 2.5, 0.5;
    # point 2's (2, 6): 4, 2; point 3's (6, 4): 5, 1; point 4's (4, 4): 4, sd 0 floored at 0.1
    np.testing.assert_allclose(scoring.trailing_standardise(points, 2, history, 0.1), [0, 7, 0, -1, 10])
    # a history shorter than the width: point 0's past is (3) alone, sd 0 floored
    np.testing.assert_allclose(scoring.trailing_standardise(points[:2], 2, np.array([3.0]), 0.1), [-10, 7])
    # width 3: NaN is skipped in the statistics and stays NaN; point 2's past (3, 2, NaN): mean 2.5, sd 0.5
    np.testing.assert_allclose(scoring.trailing_standardise(np.array([2.0, np.nan, 8]), 3, np.array([1.0, 3]), 0.1),
                               [0, np.nan, 11])
    # no history: the first point has no past
    np.testing.assert_allclose(scoring.trailing_standardise(np.array([5.0, 7]), 2, np.array([]), 0.1), [np.nan, 20])
    np.testing.assert_array_equal(scoring.trailing_standardise(points, 0, history, 0.1), points)
    # an sd above 0 but below the floor is floored too: past (1, 1.5), mean 1.25, sd 0.25 < 0.5; (2.25 - 1.25) / 0.5
    np.testing.assert_allclose(scoring.trailing_standardise(np.array([2.25]), 2, np.array([1.0, 1.5]), 0.5), [2.0])


def test_trailing_scale_standardises_each_point_score_by_the_scores_before_it(vae, lstm, series):
    train, test = series[:120], series[120:]
    plain = detector("vae_lstm", point_score="balanced_level", second_term_weight=4)
    trailing = detector("vae_lstm", point_score="balanced_level", second_term_weight=4, trailing_scale=1)
    for det in (plain, trailing):
        det.vae, det.lstm = vae, lstm
        det.calibrate(train)
    history, points = plain.score(train).points, plain.score(test).points
    got = trailing.score(test).points
    np.testing.assert_allclose(got, scoring.trailing_standardise(points, L_WIN, history, 1e-3 * history.std()))
    t = 40  # past the first l_win points: the test piece's own l_win points before t
    past = points[t - L_WIN:t]
    np.testing.assert_allclose(got[t], (points[t] - past.mean()) / past.std(), rtol=1e-9)
    t = 5  # the training block's last l_win - 5 point scores, then the piece's first 5
    past = np.concatenate([history[-(L_WIN - t):], points[:t]])
    np.testing.assert_allclose(got[t], (points[t] - past.mean()) / past.std(), rtol=1e-9)
    # a score that needs no calibration otherwise needs it with trailing_scale
    alone = detector("vae_lstm", point_score="predicted_error", trailing_scale=1)
    alone.vae, alone.lstm = vae, lstm
    with pytest.raises(UserError, match="trailing_scale 1 needs the training block"):
        alone.score(test)


def test_vae_point_errors_average_the_windows_covering_each_point(vae, series):
    got = scoring.vae_point_errors(vae, series[:60], L_WIN, batch_size=7)
    w = windows_of(series[:60])
    mean, _ = vae.encoder.predict(w, verbose=0)
    error = np.square(w - vae.decoder.predict(mean, verbose=0))[..., 0]
    expected = [np.mean([error[u, t - u] for u in range(max(0, t - L_WIN + 1), min(t, len(w) - 1) + 1)])
                for t in range(60)]
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_term_scale_and_balanced_points_hand_computed():
    assert scoring.term_scale([np.nan, 2.0, 4.0]) == 3.0  # the mean of the finite errors (the default)
    assert scoring.term_scale([np.nan, 2.0, 4.0], "max") == 4.0  # the largest finite error
    for how in ("max", "mean"):  # never divide by 0
        assert scoring.term_scale([0.0, 0.0], how) == 1.0 and scoring.term_scale([np.nan], how) == 1.0
    predicted, second = [np.nan, 2.0, 6.0], [0.5, 0.25, 1.0]
    # prediction errors in units of their scale 2, the second term in units of its 0.5; the first point, which
    # no prediction covers, takes the given uncovered error 2 as its prediction error: 1 + 1
    got = scoring.balanced_points(predicted, second, (2.0, 0.5), uncovered=2.0)
    np.testing.assert_allclose(got, [2.0, 1.5, 5.0])
    # under a larger scale (a largest training error of 8) the uncovered point's error is still the mean 2, a
    # quarter of the scale, not the scale itself: it ranks below the point with error 6, whose level is lower
    got = scoring.balanced_points(predicted, second, (8.0, 0.5), uncovered=2.0)
    np.testing.assert_allclose(got, [0.25 + 1.0, 0.25 + 0.5, 0.75 + 2.0])
    # "max": the larger term (1 and 1; 1 and 0.5; 3 and 2), and the weight applies before it is taken
    np.testing.assert_allclose(scoring.balanced_points(predicted, second, (2.0, 0.5), uncovered=2.0,
                                                       combine="max"), [1.0, 1.0, 3.0])
    np.testing.assert_allclose(scoring.balanced_points(predicted, second, (2.0, 0.5), uncovered=2.0, weight=4.0,
                                                       combine="max"), [4.0, 2.0, 8.0])
    # power 0.5: terms (1, 1), (1, 0.5), (3, 2) become (1, 1), (1, 0.707), (1.732, 1.414), then summed
    np.testing.assert_allclose(scoring.balanced_points(predicted, second, (2.0, 0.5), uncovered=2.0,
                                                       power=0.5), [2.0, 1 + 0.5 ** 0.5, 3 ** 0.5 + 2 ** 0.5])


def test_balanced_points_weigh_the_second_term_after_its_power():
    # prediction error 4 and second term 1, both in units of scale 1, weight 4, power 0.5:
    # sqrt(4) + 4 * sqrt(1) = 6 (weighing before the power would give sqrt(4) + sqrt(4 * 1) = 4)
    got = scoring.balanced_points([4.0], [1.0], (1.0, 1.0), uncovered=0.0, weight=4.0, power=0.5)
    np.testing.assert_allclose(got, [6.0])


def test_balanced_points_with_a_third_term():
    # terms 4, 2 and 9 over scales 2, 1 and 3: 2 + 1.5 * 2 + 0.5 * 3 = 6.5; "max": max(2, 3, 1.5) = 3; the uncovered
    # point's prediction term is 2 / 2 = 1: 1 + 1.5 * 4 + 0.5 * 1 = 7.5
    args = ([4.0, np.nan], [2.0, 4.0], (2.0, 1.0, 3.0))
    got = scoring.balanced_points(*args, uncovered=2.0, weight=1.5, third=[9.0, 3.0], third_weight=0.5)
    np.testing.assert_allclose(got, [6.5, 7.5])
    got = scoring.balanced_points(*args, uncovered=2.0, weight=1.5, third=[9.0, 3.0], third_weight=0.5, combine="max")
    np.testing.assert_allclose(got, [3.0, 6.0])
    # power 0.5 before the weights: sqrt(2) + 1.5 * sqrt(2) + 0.5 * sqrt(3)
    got = scoring.balanced_points(*args, uncovered=2.0, weight=1.5, third=[9.0, 3.0], third_weight=0.5, power=0.5)
    np.testing.assert_allclose(got[0], 2.5 * np.sqrt(2) + 0.5 * np.sqrt(3))


def test_balanced_level_adds_the_reconstruction_error_as_a_third_term(vae, lstm, series):
    det = detector("vae_lstm", point_score="balanced_level", reconstruction_weight=2.0)
    det.vae, det.lstm = vae, lstm
    train, test = series[:120], series[120:]
    det.calibrate(train)
    predicted_train = scoring.score_vae_lstm(vae, lstm, train, L_WIN, L_SEQ).predicted_windows
    scales = (np.nanmean(scoring.point_errors(train, predicted_train, L_WIN)), np.mean(np.square(train[:, 0])),
              np.mean(scoring.vae_point_errors(vae, train, L_WIN)))
    np.testing.assert_allclose(det.term_scales, scales, rtol=1e-5)
    predicted_test = scoring.score_vae_lstm(vae, lstm, test, L_WIN, L_SEQ).predicted_windows
    own, level = scoring.point_errors(test, predicted_test, L_WIN), np.square(test[:, 0])
    recon = scoring.vae_point_errors(vae, test, L_WIN)
    w, t = det.config.second_term_weight, 40
    expected = own[t] / scales[0] + w * level[t] / scales[1] + 2.0 * recon[t] / scales[2]
    np.testing.assert_allclose(det.score(test).points[t], expected, rtol=1e-4)
    # weight 0: the two-term score of balanced_level, to the bit, with no third scale
    det.config = det.config.replace(reconstruction_weight=0)
    det.calibrate(train)
    assert len(det.term_scales) == 2
    two = detector("vae_lstm", point_score="balanced_level")
    two.vae, two.lstm = vae, lstm
    two.calibrate(train)
    np.testing.assert_array_equal(det.score(test).points, two.score(test).points)


def test_the_training_blocks_kept_scores_follow_keys_changed_after_calibrate(vae, lstm, series):
    """calibrate keeps the training block's scores for the score of that block that detection asks for next; a
    weight changed on the calibrated detector (applied at score time) returned the kept scores of the old weight."""
    train = series[:120]

    def calibrated(**keys):
        det = detector("vae_lstm", point_score="balanced_level", **keys)
        det.vae, det.lstm = vae, lstm
        det.calibrate(train)
        return det

    det = calibrated(reconstruction_weight=2.0)
    for keys in ({"reconstruction_weight": 0.5}, {"second_term_weight": 1.0}, {"term_power": 0.5}):
        det.config = det.config.replace(**keys)
        now = {k: det.config[k] for k in ("reconstruction_weight", "second_term_weight", "term_power")}
        np.testing.assert_allclose(det.score(train).points, calibrated(**now).score(train).points, rtol=1e-6)


def calibrated_detector(vae, lstm, train, **keys):
    """A vae_lstm detector of these models and config keys, calibrated on ``train``."""
    det = detector("vae_lstm", **keys)
    det.vae, det.lstm = vae, lstm
    det.calibrate(train)
    return det


@pytest.mark.parametrize("calibrated_with, changed, refused", [
    # the third term's scale exists only when calibrate ran with reconstruction_weight > 0 (an IndexError before)
    ({}, {"reconstruction_weight": 1.0}, "reconstruction_weight"),
    ({"point_score": "predicted_error"}, {"point_score": "balanced_level"}, "point_score"),  # no term scales (TypeError)
    ({}, {"term_scale": "max"}, "term_scale"),  # the mean's scales, silently
    ({}, {"context_scale": "mean"}, "context_scale"),  # no window-position scales: scored without, silently
    ({"context_scale": "mean"}, {"context_scale": "none"}, "context_scale"),  # scored with them, silently
    ({}, {"trailing_scale": 2}, "trailing_scale"),  # no training scores to trail
    ({"trailing_scale": 2}, {"second_term_weight": 1.0}, "second_term_weight"),  # history of the old weight
    # applied at score time to what calibrate computed: scored as calibrated under them
    ({"reconstruction_weight": 2.0}, {"reconstruction_weight": 0.5}, None),
    ({"reconstruction_weight": 2.0}, {"reconstruction_weight": 0.0}, None),
    ({}, {"second_term_weight": 1.0, "term_combine": "max", "point_spread": 1.0}, None),
    ({"trailing_scale": 2}, {"trailing_scale": 4}, None),
    ({}, {"error_scale": "channel"}, None),  # one channel: no channel scales either way
    ({}, {"point_score": "max_sequence"}, None),  # reads no training-block statistic
    # a scale set to "none" since calibrate: not applied (the window positions' scales were, silently)
    ({"point_score": "predicted_error", "context_scale": "mean"}, {"context_scale": "none"}, None),
    # the window positions' scales of a point score that reads no other statistic serve every such point score
    ({"point_score": "predicted_error", "context_scale": "mean"}, {"point_score": "median_prediction"}, None),
    ({"point_score": "last_window", "context_scale": "mean"}, {"point_score": "predicted_error"}, None),
    ({"context_scale": "mean"}, {"point_score": "min_prediction"}, None),
    ({"point_score": "max_sequence", "context_scale": "mean"}, {"point_score": "predicted_error"}, "point_score"),
    ({"point_score": "predicted_error", "context_scale": "mean"}, {"point_score": "combined"}, "point_score"),
    ({"point_score": "predicted_error", "context_scale": "mean", "trailing_scale": 2},
     {"point_score": "median_prediction"}, "point_score"),
])
def test_keys_changed_after_calibrate_that_its_statistics_depend_on_are_refused(vae, lstm, series, calibrated_with,
                                                                                changed, refused):
    """A calibrated detector whose config changes (config.replace, then score) scores under the new keys those that
    score applies to calibrate's terms; one that changes the training-block statistics themselves (a scale it has
    not, or has of other values) asks in one line for calibrate again, where it failed inside (IndexError,
    TypeError) or scored silently with the old ones."""
    train, test = series[:120], series[120:]

    def calibrated(**keys):
        return calibrated_detector(vae, lstm, train, **{"point_score": "balanced_level", **keys})

    det = calibrated(**calibrated_with)
    det.config = det.config.replace(**changed)
    if refused is None:
        fresh = calibrated(**{**calibrated_with, **changed})
        np.testing.assert_allclose(det.score(test).points, fresh.score(test).points, rtol=1e-6)
    else:
        with pytest.raises(UserError, match=rf"^{refused} .*changed since calibrate.*call calibrate\(train_series\) "
                                            r"again[^\n]*$"):
            det.score(test)


@pytest.mark.parametrize("changed, trained", [({"l_win": 8}, L_WIN), ({"l_seq": 2}, L_SEQ)])
def test_a_window_size_changed_after_calibrate_is_refused_in_one_line(vae, lstm, series, changed, trained):
    """l_win and l_seq are the models' own sizes: changed in a calibrated detector's config, the block it calibrated on
    got its kept scores (sequences of the old span) labelled with the new span, silently, and any other block a Keras
    shape error. Both are one line now, as load says of a run folder trained with other sizes."""
    train, test = series[:120], series[120:]
    det = detector("vae_lstm", point_score="balanced")
    det.vae, det.lstm = vae, lstm
    det.calibrate(train)
    det.config = det.config.replace(**changed)
    key, value = next(iter(changed.items()))
    for block in (train, test):
        with pytest.raises(UserError) as info:
            det.score(block)
        assert str(info.value) == (f"the vae_lstm's models were trained with {key} = {trained}; the config's {key} is "
                                   f"{value}: score with the config they were trained with")


@pytest.mark.parametrize("calibrated_with, changed, runs", [
    ({}, {"error_scale": "none"}, 0),  # one channel: no channel scales either way
    ({"point_score": "combined"}, {"term_scale": "max", "term_power": 2.0}, 0),  # keys of the balanced scores only
    ({}, {"reconstruction_weight": 3.0}, 0),  # "balanced": its second term is the VAE's error already
    ({"trailing_scale": 2}, {"trailing_scale": 4}, 0),  # the kept scores come before trailing_scale
    ({}, {"point_smoothing": 1.0}, 1),  # applied to the terms, which are not kept: the models run again
    ({}, {"second_term_weight": 2.0}, 1),
])
def test_the_block_calibrated_on_keeps_its_scores_under_keys_that_they_do_not_read(vae, lstm, series, monkeypatch,
                                                                                   calibrated_with, changed, runs):
    """The training block's scores, kept by calibrate for the detection that scores it next, were computed again (a
    pass of the models) when any scoring key had changed since, even one that those scores do not read; they are
    used under those, and the models run again where a key they read changed: the same scores as a detector
    calibrated under the new keys either way."""
    from vae_lstm.detectors.vae_lstm import VAELSTMDetector

    train = series[:120]

    def calibrated(**keys):
        return calibrated_detector(vae, lstm, train, **{"point_score": "balanced", **keys})

    det = calibrated(**calibrated_with)
    det.config = det.config.replace(**changed)
    passes = []
    monkeypatch.setattr(VAELSTMDetector, "raw_scores", lambda self, *a, f=VAELSTMDetector.raw_scores: passes.append(1)
                        or f(self, *a))
    scores = det.score(train)
    assert len(passes) == runs
    np.testing.assert_allclose(scores.points, calibrated(**{**calibrated_with, **changed}).score(train).points,
                               rtol=1e-6)


@pytest.mark.parametrize("calibrated_with, changed", [
    ({"error_scale": "channel"}, {"error_scale": "none"}),  # scored with the channels' scales all the same
    # the channels' scales come before the positions' and depend on no point_score: they serve one that reads no other
    ({"error_scale": "channel", "context_scale": "mean"}, {"context_scale": "none"}),
    ({"error_scale": "channel", "point_score": "combined"}, {"point_score": "predicted_error"}),
    ({"error_scale": "channel", "context_scale": "mean"}, {"point_score": "last_window", "context_scale": "none"}),
])
def test_two_channels_score_under_the_scales_their_changed_keys_ask_for(two_channel_models, calibrated_with, changed):
    """A calibrated two-channel detector whose config changes in a key that leaves the training-block statistics it
    reads as they are scores as one calibrated under the new keys: not with a scale set to "none" since (it was
    applied all the same), nor refused with "call calibrate again" where the channels' scales serve as they are."""
    series = np.random.default_rng(0).standard_normal((300, 2)).astype("float32")
    train, test = series[:180], series[180:]

    def calibrated(**keys):
        det = detector("vae_lstm", **{"n_channel": 2, "point_score": "predicted_error", **keys})
        det.vae, det.lstm = two_channel_models
        det.calibrate(train)
        return det

    det = calibrated(**calibrated_with)
    det.config = det.config.replace(**changed)
    fresh = calibrated(**{**calibrated_with, **changed})
    for block in (test, train):
        np.testing.assert_allclose(det.score(block).points, fresh.score(block).points, rtol=1e-5)


def test_level_points_are_abs_z_squared_largest_over_channels():
    series = np.array([[1.0, -3.0], [-2.0, 0.5], [0.0, 0.0]])
    np.testing.assert_allclose(scoring.level_points(series), [9.0, 4.0, 0.0])
    np.testing.assert_allclose(scoring.level_points(np.array([-1.5, 2.0])), [2.25, 4.0])  # 1-D: one channel


@pytest.mark.parametrize("point_score, how", [("balanced", "max"), ("balanced_level", "max"), ("balanced_level", "mean")])
def test_balanced_points_weigh_both_terms_by_their_training_scales(point_score, how, vae, lstm, series):
    # the second term: the VAE's own reconstruction error, or the squared standardised value (one channel)
    def second(part):
        return scoring.vae_point_errors(vae, part, L_WIN) if point_score == "balanced" else np.square(part[:, 0])

    det = detector("vae_lstm", point_score=point_score, term_scale=how)
    det.vae, det.lstm = vae, lstm
    with pytest.raises(UserError, match=f"'{point_score}'.*calibrate"):
        det.score(series)
    train, test = series[:120], series[120:]
    det.calibrate(train)
    predicted_train = scoring.score_vae_lstm(vae, lstm, train, L_WIN, L_SEQ).predicted_windows
    reduce = {"max": np.nanmax, "mean": np.nanmean}[how]
    scales = (reduce(scoring.point_errors(train, predicted_train, L_WIN)), reduce(second(train)))
    np.testing.assert_allclose(det.term_scales, scales, rtol=1e-5)
    median_error = np.nanmedian(scoring.point_errors(train, predicted_train, L_WIN))
    np.testing.assert_allclose(det.uncovered_error, median_error, rtol=1e-5)
    uncovered = median_error / scales[0]  # the median's share of the mean (or of the largest) training error
    predicted_test = scoring.score_vae_lstm(vae, lstm, test, L_WIN, L_SEQ).predicted_windows
    own, other = scoring.point_errors(test, predicted_test, L_WIN), second(test)
    points = det.score(test).points
    w = det.config.second_term_weight  # the default: 4, chosen on the development set
    t = 40  # a point that predictions cover: each term over its training scale, the second weighed w times
    np.testing.assert_allclose(points[t], own[t] / scales[0] + w * other[t] / scales[1], rtol=1e-4)
    # the first point, which no prediction covers: the training block's median error as its prediction error
    np.testing.assert_allclose(points[0], uncovered + w * other[0] / scales[1], rtol=1e-4)
    if how == "max":
        assert uncovered < 0.9  # not the largest training error, which would rank it with the farthest training point
    # second_term_weight multiplies the second term only, and weight 0 leaves the prediction term alone
    det.config = det.config.replace(second_term_weight=2.5)
    np.testing.assert_allclose(det.score(test).points[t], own[t] / scales[0] + 2.5 * other[t] / scales[1], rtol=1e-4)
    det.config = det.config.replace(second_term_weight=0)
    np.testing.assert_allclose(det.score(test).points[t], own[t] / scales[0], rtol=1e-4)
    # term_combine "max": the larger of the two terms at every point, the first's prediction term the mean's
    det.config = det.config.replace(second_term_weight=1, term_combine="max")
    points = det.score(test).points
    np.testing.assert_allclose(points[t], max(own[t] / scales[0], other[t] / scales[1]), rtol=1e-4)
    np.testing.assert_allclose(points[0], max(uncovered, other[0] / scales[1]), rtol=1e-4)
    # term_power 0.5: the square root of each scaled term, then summed, the uncovered point's term too
    det.config = det.config.replace(term_combine="sum", term_power=0.5)
    points = det.score(test).points
    np.testing.assert_allclose(points[t], np.sqrt(own[t] / scales[0]) + np.sqrt(other[t] / scales[1]), rtol=1e-4)
    np.testing.assert_allclose(points[0], np.sqrt(uncovered) + np.sqrt(other[0] / scales[1]), rtol=1e-4)


def test_covered_quantile_and_quantile_point_errors_hand_computed():
    points = np.array([[0, 1], [1, 2], [1, 2]])
    values = np.array([[5.0, 3.0], [1.0, 7.0], [2.0, 4.0]])  # point 0: 5; point 1: 3, 1, 2; point 2: 7, 4
    np.testing.assert_allclose(scoring.covered_quantile(points, values, 4, 0.0), [5, 1, 4, np.nan])
    np.testing.assert_allclose(scoring.covered_quantile(points, values, 4, 0.5), [5, 2, 4, np.nan])  # lower median
    np.testing.assert_allclose(scoring.covered_quantile(points, values, 4, 1.0), [5, 3, 7, np.nan])
    # 7 points, l_win 2, l_seq 3, as test_point_errors_hand_computed: point 3 has errors 4 and 25, point 4 9 and 36
    predicted = np.array([[[1.0, 2], [3, 4]], [[5, 6], [7, 8]]])[..., None]
    np.testing.assert_allclose(scoring.point_errors(np.zeros((7, 1)), predicted, 2, quantile=0.0),
                               [np.nan, np.nan, 1, 4, 9, 16, 64], equal_nan=True)


def test_median_prediction_point_score_of_the_detector(vae, lstm, series):
    det = detector("vae_lstm", point_score="median_prediction")
    det.vae, det.lstm = vae, lstm
    predicted = scoring.score_vae_lstm(vae, lstm, series, L_WIN, L_SEQ).predicted_windows
    t = 3 * L_WIN + 2  # the lower median of the point's errors in every predicted window covering it
    errors = sorted(float(np.sum(np.square(series[t] - predicted[s, k - 1, t - s - k * L_WIN])))
                    for s in range(len(predicted)) for k in range(1, L_SEQ) if 0 <= t - s - k * L_WIN < L_WIN)
    np.testing.assert_allclose(det.score(series).points[t], errors[(len(errors) - 1) // 2], rtol=1e-5)


def test_uncovered_error_is_the_median_of_the_finite_training_errors():
    # heavy-tailed errors: the mean (21.6) would rank above 4 of the 5 training points, the median (1) in the middle
    errors = np.array([np.nan, 1.0, 0.5, 2.0, 100.0, 4.0, np.nan])
    assert scoring.uncovered_error(errors) == 2.0
    assert scoring.uncovered_error(np.array([3.0, 1.0, 2.0, 10.0])) == 2.5
    assert scoring.uncovered_error(np.array([np.nan, np.nan])) == 0.0


def test_combined_points_add_the_vae_reconstruction_error(vae, lstm, series):
    det = detector("vae_lstm", point_score="combined")
    det.vae, det.lstm = vae, lstm
    with pytest.raises(UserError, match="'combined'.*calibrate"):
        det.score(series)
    train, test = series[:120], series[120:]
    det.calibrate(train)
    predicted_train = scoring.score_vae_lstm(vae, lstm, train, L_WIN, L_SEQ).predicted_windows
    median_error = np.nanmedian(scoring.point_errors(train, predicted_train, L_WIN))
    predicted_test = scoring.score_vae_lstm(vae, lstm, test, L_WIN, L_SEQ).predicted_windows
    own, rebuilt = scoring.point_errors(test, predicted_test, L_WIN), scoring.vae_point_errors(vae, test, L_WIN)
    points = det.score(test).points
    np.testing.assert_allclose(points[40], own[40] + rebuilt[40], rtol=1e-4)
    np.testing.assert_allclose(points[:L_WIN], median_error + rebuilt[:L_WIN], rtol=1e-4)  # not the VAE's alone


def test_a_failed_calibrate_leaves_the_detector_to_be_calibrated(vae, lstm, series):
    """calibrate on a block shorter than one sequence raised, but marked the detector calibrated with no scales:
    the next score failed inside balanced_points with "'NoneType' object is not subscriptable"."""
    from vae_lstm.errors import DataError

    det = detector("vae_lstm")  # the default point score, balanced_level, needs the training block's scales
    det.vae, det.lstm = vae, lstm
    with pytest.raises(DataError, match="shorter than one sequence"):
        det.calibrate(series[:10])
    with pytest.raises(UserError, match=r"^point_score 'balanced_level' needs the training block's errors: call "
                                        r"calibrate\(train_series\) before score$"):
        det.score(series)
    det.calibrate(series[:120])
    assert np.isfinite(det.score(series).points).all()



def saved_models(run, seed):
    """A run folder holding a VAE and an LSTM of the ``detector`` helper's sizes, built with ``seed``, as a fit saves them."""
    from vae_lstm.detectors.vae_lstm import LSTMModel, VAEModel

    config = detector("vae_lstm").config
    run.mkdir()
    keras.utils.set_random_seed(seed)
    for stage in (VAEModel(config, run), LSTMModel(config, run)):
        stage.build_compiled(1)
        stage.save(0)
    return run


def test_load_of_other_models_drops_the_calibration_of_the_earlier_ones(series, tmp_path):
    """A detector calibrated (or fitted) once, then given other models by load, scored them with the earlier models'
    training scales (or calibrated on the earlier fit's series), silently: its points were not those of a fresh
    detector that loads the same run and calibrates on its training block."""
    train, test = series[:120], series[120:]
    first, other = saved_models(tmp_path / "first", 0), saved_models(tmp_path / "other", 1)
    det = detector("vae_lstm")
    det.load(first)
    det.calibrate(train)
    det.score(test)
    det.load(other)
    with pytest.raises(UserError, match=r"calibrate\(train_series\) before score$"):
        det.score(test)
    det.calibrate(train)
    fresh = detector("vae_lstm")
    fresh.load(other)
    fresh.calibrate(train)
    np.testing.assert_allclose(det.score(test).points, fresh.score(test).points, rtol=1e-6)
    det.fit_series = train  # as a fit leaves it: the first score calibrates on the series that fit trained on
    det.load(first)
    with pytest.raises(UserError, match=r"calibrate\(train_series\) before score$"):
        det.score(test)


# ---- scoring in chunks: the same numbers in memory that does not grow with l_seq x l_win ----


def whole_array_point_errors(series, predicted, l_win, first=1, channel_scale=None, quantile=None, context_scale=None):
    """The point errors as they were computed before the sinks: every predicted window in one array."""
    series = np.asarray(series, dtype=float).reshape(len(series), -1)
    n_seq, n_pred = predicted.shape[:2]
    points = (np.arange(n_seq)[:, None, None] + l_win * np.arange(first, first + n_pred)[None, :, None]
              + np.arange(l_win)[None, None, :])
    squared = np.square(series[points] - predicted)
    errors = (squared if channel_scale is None else squared / channel_scale).sum(axis=-1)
    if context_scale is not None:
        errors = errors / context_scale[first - 1:first - 1 + n_pred, None] * context_scale.mean()
    if quantile is not None:
        return scoring.covered_quantile(points, errors, len(series), quantile)
    return scoring.covered_mean(points, errors, len(series))


def fed_in_runs(sink, predicted, cuts):
    """``sink`` fed the predicted windows in runs of consecutive sequences split at ``cuts``, as a pass feeds it."""
    for part, first in zip(np.split(predicted, cuts), [0, *cuts], strict=True):
        sink.add(first, part, None)
    return sink.result()


@pytest.mark.parametrize("channels, l_win, l_seq", [(1, 4, 3), (3, 5, 4), (2, 3, 2)])
def test_sinks_fed_in_runs_equal_the_whole_array_to_the_bit(channels, l_win, l_seq):
    rng = np.random.default_rng(channels + l_win)
    n = 140
    n_seq = n - l_win * l_seq + 1
    series = rng.standard_normal((n, channels)) * 3
    predicted = rng.standard_normal((n_seq, l_seq - 1, l_win, channels)).astype("float32")
    predicted[7, 0] = series[7 + l_win:7 + 2 * l_win]  # a few errors of exactly 0, and ties
    channel_scale = rng.uniform(0.5, 2, channels)
    context_scale = rng.uniform(0.5, 2, l_seq - 1)
    for cuts in ([], [1], [5, 6, 50, 51, 90], list(range(3, n_seq, 7))):
        for keys in ({}, {"channel_scale": channel_scale}, {"quantile": 0.5}, {"quantile": 0.0},
                     {"context_scale": context_scale, "channel_scale": channel_scale}):
            expected = whole_array_point_errors(series, predicted, l_win, **keys)
            got = fed_in_runs(scoring.PredictionErrors(series, l_win, **keys), predicted, cuts)
            np.testing.assert_array_equal(got, expected)
            last = fed_in_runs(scoring.PredictionErrors(series, l_win, l_seq - 1, **keys), predicted, cuts)
            np.testing.assert_array_equal(last, whole_array_point_errors(series, predicted[:, -1:], l_win, l_seq - 1,
                                                                         **keys))
        squared = np.square(series[scoring.predicted_points(n_seq, l_seq - 1, l_win)] - predicted)
        if channels > 1:  # NumPy sums one channel pairwise, which runs cannot repeat (equal to float rounding)
            np.testing.assert_array_equal(fed_in_runs(scoring.ChannelErrorScale(series, l_win), predicted, cuts),
                                          squared.mean(axis=(0, 1, 2)))
        if l_seq > 2:  # likewise for one window position
            np.testing.assert_array_equal(
                fed_in_runs(scoring.ContextErrorScale(series, l_win, channel_scale), predicted, cuts),
                (squared / channel_scale).sum(axis=-1).mean(axis=(0, 2)))
        targets = series.astype("float32")[scoring.predicted_points(n_seq, l_seq - 1, l_win)]
        sums = scoring.SequenceErrors()
        for part, first in zip(np.split(predicted, cuts), [0, *cuts], strict=True):
            sums.add(first, part, targets[first:first + len(part)])
        np.testing.assert_array_equal(sums.result(), np.square(targets - predicted).sum(axis=(1, 2, 3)))


def test_covered_values_hand_computed():
    covered = scoring.CoveredValues(5)
    covered.add(np.array([1, 2, 2]), np.array([1.0, 2.0, 4.0]), final_below=2)  # point 1 is whole; 2 is not yet
    covered.add(np.array([2, 3]), np.array([6.0, 8.0]), final_below=4)
    np.testing.assert_array_equal(covered.result(), [np.nan, 1.0, 4.0, 8.0, np.nan])  # 4 = (2 + 4 + 6) / 3
    lower = scoring.CoveredValues(3, quantile=0.5)
    lower.add(np.array([0, 0, 1]), np.array([5.0, 1.0, 3.0]), final_below=1)
    lower.add(np.array([0 + 1, 1]), np.array([2.0, 9.0]), final_below=3)
    np.testing.assert_array_equal(lower.result(), [1.0, 3.0, np.nan])  # lower medians of {5, 1} and {3, 2, 9}


@pytest.fixture(scope="module")
def two_channel_models():
    keras.utils.set_random_seed(3)
    return VAE(L_WIN, 2, CODE, 32, seed=0), build_lstm(L_SEQ, CODE, 8)


def whole_array_scores(det, blocks, whole, series, train="train"):
    """Reference scores of ``series`` by a detector calibrated on ``train``, as computed before the sinks and before
    the training block's passes were shared: every statistic from every predicted window of a block at once
    (``whole``: the ``score_vae_lstm`` of each of the ``blocks``, by name)."""
    c, scores, predicted = det.config, whole[series].scores, whole[series].predicted_windows
    if c.point_score == "max_sequence":
        return scores, Scores.from_units(scores, c.span, len(whole[series].scores) + c.span - 1).points
    series, train, train_windows = blocks[series], blocks[train], whole[train].predicted_windows
    scales = {"channel_scale": None, "context_scale": None}
    if c.error_scale == "channel":
        scales["channel_scale"] = scoring.channel_error_scale(train, train_windows, L_WIN)
    if c.context_scale == "mean":
        scales["context_scale"] = scoring.context_error_scale(train, train_windows, L_WIN, scales["channel_scale"])

    def raw(block, predicted):  # the point errors, or with a calibrated point score the (prediction, second) terms
        if c.point_score == "last_window":
            return scoring.last_window_errors(block, predicted, L_WIN, **scales)
        quantile = {"median_prediction": 0.5, "min_prediction": 0.0}.get(c.point_score)
        errors = whole_array_point_errors(block, predicted, L_WIN, quantile=quantile, **scales)
        if c.point_score == "balanced_level" and c.reconstruction_weight > 0:
            return (errors, scoring.level_points(block),
                    scoring.vae_point_errors(det.vae, block, L_WIN, 29, scales["channel_scale"]))
        if c.point_score == "balanced_level":
            return errors, scoring.level_points(block)
        if c.point_score in ("balanced", "combined"):
            return errors, scoring.vae_point_errors(det.vae, block, L_WIN, 29, scales["channel_scale"])
        return errors

    def finished(terms):
        if c.point_score in ("balanced", "balanced_level"):
            terms = scoring.balanced_points(*terms[:2], term_scales, uncovered=uncovered, weight=c.second_term_weight,
                                            combine=c.term_combine, power=c.term_power,
                                            third=terms[2] if len(terms) > 2 else None,
                                            third_weight=c.reconstruction_weight)
        elif c.point_score == "combined":
            terms = np.where(np.isnan(terms[0]), uncovered, terms[0]) + terms[1]
        smoothed = scoring.moving_mean(terms, round(c.point_smoothing * L_WIN))
        return scoring.moving_max(smoothed, round(c.point_spread * L_WIN))

    train_terms = raw(train, train_windows)
    if c.point_score in ("balanced", "balanced_level", "combined"):
        term_scales = tuple(scoring.term_scale(t, c.term_scale) for t in train_terms)
        uncovered = scoring.uncovered_error(train_terms[0])
    points = finished(raw(series, predicted))
    if c.trailing_scale:
        history = finished(train_terms)
        floor = max(1e-3 * float(np.std(history[np.isfinite(history)])), np.finfo(float).tiny)
        points = scoring.trailing_standardise(points, round(c.trailing_scale * L_WIN), history, floor)
    return scores, points


OPTIONS = [{"point_score": "max_sequence"},
           *({"point_score": score, "error_scale": error, "context_scale": context}  # each with both of each key
             for score in ("predicted_error", "combined", "balanced", "balanced_level", "last_window",
                           "median_prediction", "min_prediction")
             for error, context in (("none", "none"), ("channel", "mean"))),
           {"point_score": "predicted_error", "error_scale": "channel"},
           {"point_score": "combined", "trailing_scale": 1, "context_scale": "mean"},
           {"point_score": "last_window", "trailing_scale": 2, "point_smoothing": 1, "point_spread": 0.5},
           {"point_score": "balanced", "term_scale": "max", "term_combine": "max", "term_power": 0.5,
            "second_term_weight": 3, "point_smoothing": 0.5},
           {"point_score": "balanced_level", "reconstruction_weight": 2, "error_scale": "channel", "term_combine": "max",
            "term_power": 0.5},
           {"point_score": "balanced_level", "reconstruction_weight": 0.5, "context_scale": "mean", "keep_bytes": 0},
           {"point_score": "predicted_error", "trailing_scale": 1, "keep_bytes": 0},
           {"point_score": "balanced", "context_scale": "mean", "trailing_scale": 1, "keep_bytes": 0},
           {"point_score": "balanced_level", "reconstruction_weight": 2, "keep_bytes": 0},
           {"point_score": "combined", "keep_bytes": 0},
           {"point_score": "last_window", "keep_bytes": 0},
           {"point_score": "last_window", "context_scale": "mean", "point_smoothing": 1, "keep_bytes": 0},
           {"point_score": "median_prediction", "context_scale": "mean", "keep_bytes": 0},
           {"point_score": "predicted_error", "error_scale": "none", "context_scale": "mean", "keep_bytes": 0}]


@pytest.mark.parametrize("keys", OPTIONS, ids=lambda keys: "-".join(map(str, keys.values())))
def test_the_detector_scores_every_block_like_the_whole_array(keys, two_channel_models, monkeypatch):
    """Every option of the point scores: the training block's scores (which detection scores after calibrating on it)
    and a test block's equal those computed from every predicted window at once, with the models run anew for each
    statistic, to the bit. score_batch_size 29: the pass hands the sinks runs of 14 sequences. keep_bytes 0: the
    training block's predicted windows are not kept between its passes. Where each channel's error is divided by
    its scale and the point score is a mean of errors, its calibration then runs the LSTM and decoder once, summing
    each point's errors per channel (and window position) before dividing them (``ChannelErrorSums``): the channels'
    scales and the sequence scores the same to the bit, the window positions' scales and the point scores to float
    rounding. Elsewhere each pass runs the models again, to the bit."""
    keys = dict(keys)
    if "keep_bytes" in keys:
        monkeypatch.setattr(scoring, "KEEP_PREDICTION_BYTES", keys.pop("keep_bytes"), raising=False)
    runs = []
    predictions = scoring.decoded_prediction_chunks
    monkeypatch.setattr(scoring, "decoded_prediction_chunks", lambda *args: runs.append(1) or predictions(*args))
    det = detector("vae_lstm", n_channel=2, **keys)
    det.vae, det.lstm = two_channel_models
    rng = np.random.default_rng(0)
    series = np.sin(np.arange(300) / 5)[:, None] * np.arange(1, 3) + 0.3 * rng.standard_normal((300, 2))
    blocks = {"train": series[:160].astype("float32"), "test": series[160:].astype("float32")}
    whole = {name: scoring.score_vae_lstm(det.vae, det.lstm, block, L_WIN, L_SEQ, batch_size=29)
             for name, block in blocks.items()}
    runs.clear()
    det.calibrate(blocks["train"])
    c = det.config
    one_pass = (scoring.KEEP_PREDICTION_BYTES == 0 and c.error_scale == "channel" and c.point_score not in
                ("max_sequence", "median_prediction", "min_prediction"))
    if c.error_scale == "channel" and c.point_score != "max_sequence":
        np.testing.assert_array_equal(
            det.channel_scale, scoring.channel_error_scale(blocks["train"], whole["train"].predicted_windows, L_WIN))
    train = det.score(blocks["train"])
    if scoring.KEEP_PREDICTION_BYTES == 0:  # the LSTM and decoder over the training block: once in one pass, else
        scales = (c.error_scale == "channel") + det.scales_context()  # once per scale, then for its scores
        assert len(runs) == (1 if one_pass else scales + 1)
    for name, got in (("train", train), ("test", det.score(blocks["test"]))):
        native, points = whole_array_scores(det, blocks, whole, name)
        np.testing.assert_array_equal(got.native, native)
        if one_pass:  # the training block's errors summed in another order (and the test block's by its scales)
            np.testing.assert_allclose(got.points, points, rtol=1e-12, atol=0)
        else:
            np.testing.assert_array_equal(got.points, points)
    again = det.score(blocks["train"].copy())  # the same block again
    np.testing.assert_array_equal(again.points, train.points)
    np.testing.assert_array_equal(again.native, train.native)


def test_each_model_runs_once_over_each_block(two_channel_models, monkeypatch):
    """detect.py calibrates on the training block, then scores it, then each test piece. The models ran over the
    training block once per training statistic (each channel's error, each window position's, the balanced terms),
    then once more for its scores: four times here, three in SKAB valve1's default scoring (8 channels), which made
    three quarters of the time of its scoring. Each model now runs over each block once: the encoder over its
    windows, the LSTM and decoder over its sequences, and the VAE's decoder over its windows for its own error."""
    rows = []

    def counted(function, name=None):  # the model's name and the rows of each call
        def count(*args, **kwargs):
            rows.append((name or args[0].name, len(args[2 if name else 1])))
            return function(*args, **kwargs)
        return count

    monkeypatch.setattr(scoring, "compiled_apply", counted(scoring.compiled_apply))
    monkeypatch.setattr(scoring, "compiled_chunks", counted(scoring.compiled_chunks))
    monkeypatch.setattr(scoring, "decoded_prediction_chunks", counted(scoring.decoded_prediction_chunks, "lstm+decoder"))
    det = detector("vae_lstm", n_channel=2, point_score="combined", error_scale="channel", context_scale="mean",
                   trailing_scale=1)
    det.vae, det.lstm = two_channel_models
    series = np.random.default_rng(0).standard_normal((300, 2)).astype("float32")
    train, test = series[:180], series[180:]
    det.calibrate(train)
    det.score(train)
    decoder = scoring.scoring_decoder(det.vae.decoder).name
    n_windows, n_seq = 180 - L_WIN + 1, 180 - L_WIN * L_SEQ + 1
    assert rows == [("encoder", n_windows), ("lstm+decoder", n_seq), (decoder, n_windows)]
    rows.clear()
    det.score(test)
    assert rows == [("encoder", 120 - L_WIN + 1), ("lstm+decoder", 120 - L_WIN * L_SEQ + 1), (decoder, 120 - L_WIN + 1)]
    # predicted windows of more than KEEP_PREDICTION_BYTES are not kept between passes: one pass gives the channels'
    # and window positions' scales and the scores (ChannelErrorSums), where the LSTM and decoder ran in each of three
    monkeypatch.setattr(scoring, "KEEP_PREDICTION_BYTES", n_seq * (L_SEQ - 1) * L_WIN * 2 * 4 - 1)
    rows.clear()
    det.calibrate(train)
    det.score(train)
    assert rows == [("encoder", n_windows), ("lstm+decoder", n_seq), (decoder, n_windows)]
    # unless its sums would take more than ONE_PASS_SHARE of the predicted windows' bytes (a sixth here): a pass per
    # statistic, each running the LSTM and decoder
    from vae_lstm.detectors import vae_lstm

    monkeypatch.setattr(vae_lstm, "ONE_PASS_SHARE", 1 / 8)
    rows.clear()
    det.calibrate(train)
    det.score(train)
    assert rows == [("encoder", n_windows), *[("lstm+decoder", n_seq)] * 3, (decoder, n_windows)]
    # a point score that is no mean of errors takes a pass per statistic, each running the LSTM and decoder
    det = detector("vae_lstm", n_channel=2, point_score="median_prediction", error_scale="channel",
                   context_scale="mean", trailing_scale=1)
    det.vae, det.lstm = two_channel_models
    rows.clear()
    det.calibrate(train)
    det.score(train)
    assert rows == [("encoder", n_windows), *[("lstm+decoder", n_seq)] * 3]


@pytest.mark.parametrize("by_position, last", [(True, False), (False, True)])
def test_the_one_pass_sums_take_little_more_memory_than_themselves(by_position, last):
    """``ChannelErrorSums``' size is what the one-pass calibration may take beyond a pass per statistic: turning the
    sums into the point errors (channel scales, window positions' scales, point errors, as ``one_pass_scores``)
    allocates the (n, slots) scaled sums and one (n, c) part of them at a time, and frees the sums, rather than
    holding several (n, slots) copies beside them (2.7 times the sums at 2 channels)."""
    import tracemalloc

    n, c, l_win, l_seq = 20_000, 2, 16, 7
    rng = np.random.default_rng(0)
    series = rng.standard_normal((n, c)).astype("float32")
    n_seq = n - l_win * l_seq + 1
    tracemalloc.start()  # before the sums: their release counts
    try:
        sink = scoring.ChannelErrorSums(series, l_win, l_seq, by_position, last)
        for first in range(0, n_seq, 2_000):
            sink.add(first, rng.standard_normal((min(2_000, n_seq - first), l_seq - 1, l_win, c)).astype("float32"))
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        scaled = sink.scaled(sink.channel_scale())
        context = sink.context_scale(scaled) if by_position else None
        points = sink.point_errors(scaled, context)
        last_points = sink.point_errors(scaled, context, last_only=True)
        peak = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    slots = scoring.ChannelErrorSums.size(n, c, l_seq, by_position, last) // (8 * n * c)
    assert points.shape == last_points.shape == (n,)
    assert peak <= 8 * n * (slots + c + 4)  # the scaled sums, an (n, c) part, a few per-point arrays


def test_the_passes_of_a_calibration_say_which_they_are(two_channel_models, monkeypatch, capsys):
    """detect.py on a million rows of 8 channels calibrated on its 600,000-row training block in two passes of the
    LSTM and decoder (its channels' error scales, then its scores), both "calibrating on the training block": a line
    at 70% with "about 26 s to go" was followed by one at 37% and 51 s to go. Each pass says which of them it is."""
    from vae_lstm.progress import scoring_pass

    ticks = iter(range(0, 100_000, 40))
    monkeypatch.setattr(scoring, "_clock", lambda: next(ticks))
    monkeypatch.setattr(scoring, "KEEP_PREDICTION_BYTES", 0)  # a block too large to keep: the models run each pass
    det = detector("vae_lstm", n_channel=2, point_score="median_prediction", error_scale="channel",
                   context_scale="mean", trailing_scale=1)
    det.vae, det.lstm = two_channel_models
    train = np.random.default_rng(0).standard_normal((180, 2)).astype("float32")
    with scoring_pass("calibrating on the training block"):
        det.calibrate(train)
    names = [line.split(": ")[0] for line in capsys.readouterr().out.splitlines()]
    within = "calibrating on the training block, pass"
    assert list(dict.fromkeys(names)) == [f"{within} 1 of 3 (channels' error scales)",
                                          f"{within} 2 of 3 (window positions' error scales)", f"{within} 3 of 3 (scores)"]
    # a mean of errors: the three from one pass of the models (ChannelErrorSums), which says so
    det = detector("vae_lstm", n_channel=2, point_score="combined", error_scale="channel", context_scale="mean")
    det.vae, det.lstm = two_channel_models
    with scoring_pass("calibrating on the training block"):
        det.calibrate(train)
    assert set(line.split(": ")[0] for line in capsys.readouterr().out.splitlines()) == {
        "calibrating on the training block, one pass (channels' error scales, window positions' error scales and "
        "scores)"}
    det = detector("vae_lstm", n_channel=2, point_score="combined", error_scale="none", context_scale="none")
    det.vae, det.lstm = two_channel_models
    with scoring_pass("calibrating on the training block"):
        det.calibrate(train)  # one pass: named as it was
    assert set(line.split(": ")[0] for line in capsys.readouterr().out.splitlines()) == {
        "calibrating on the training block"}


def scoring_peak(det, series) -> int:
    """The largest memory NumPy held (tracemalloc) while ``det`` scored ``series``, its graphs traced before."""
    import tracemalloc

    det.score(series[:2000])
    tracemalloc.start()
    try:
        det.score(series)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_scoring_memory_does_not_grow_with_l_seq_times_l_win():
    """A long series of 3 channels: every predicted window at once is 120,000 x 3 x 16 x 3 values (69 MB in float32,
    and the point errors' float64 copies and indices far more); the pass holds a few calls' worth."""
    keras.utils.set_random_seed(3)
    det = detector("vae_lstm", n_channel=3, point_score="balanced_level", score_batch_size=1024)
    det.vae, det.lstm = VAE(L_WIN, 3, CODE, 32, seed=0), build_lstm(L_SEQ, CODE, 8)
    series = np.random.default_rng(0).standard_normal((120_000, 3))
    det.calibrate(series[:2000])
    peak = scoring_peak(det, series)
    assert peak < 12 * series.nbytes, f"{peak / 1e6:.0f} MB"  # the series is 2.9 MB; 11 MB measured, 266 before


def test_a_long_scoring_pass_says_how_far_it_has_come(vae, lstm, series, monkeypatch, capsys):
    """detect.py on a million-point CSV scored for minutes without a line (184 s for 700,000 test sequences at
    l_win 288, after two passes over the training block). A pass that has run PROGRESS_SECONDS (30 s) says how far
    it is, then again every 30 s; a shorter one says nothing. The clock here moves 20 s per chunk."""
    windows = rolling_windows(series, L_WIN)  # 185 windows: 5 calls of 37 at a chunk of 40
    ticks = iter(range(0, 10_000, 20))
    monkeypatch.setattr(scoring, "_clock", lambda: next(ticks))
    scoring.compiled_apply(vae.encoder, windows, 40)
    assert capsys.readouterr().out.splitlines() == [
        "scoring: 74 of 185 windows (40%) in 40 s, about 60 s to go",  # 37 windows per 20 s: 111 left
        "scoring: 148 of 185 windows (80%) in 80 s, about 20 s to go"]  # 30 s after the first line; none at the end
    scoring.sequence_scores(vae, lstm, series, L_WIN, L_SEQ, batch_size=40)  # the encoder's windows, then sequences
    assert any(line.startswith("scoring: ") and " of 153 sequences (" in line
               for line in capsys.readouterr().out.splitlines())
    monkeypatch.setattr(scoring, "_clock", lambda: 0.0)  # a pass shorter than 30 s
    scoring.sequence_scores(vae, lstm, series, L_WIN, L_SEQ, batch_size=40)
    assert capsys.readouterr().out == ""


def test_a_long_pass_says_which_pass_it_is(monkeypatch, capsys, tmp_path):
    """detect.py's passes (the training block's calibration, its scores, each test piece) and LSTM-AD's predictions
    during fit all said "scoring: N of M ...": the same count several times, and no telling which was which. The
    caller names each pass (``scoring.scoring_pass``); the clock here moves 40 s per reading."""
    from types import SimpleNamespace

    from vae_lstm.data_loader import TestPiece
    from vae_lstm.detection import score_detector
    from vae_lstm.detectors import lstm_ad
    from vae_lstm.detectors.base import Scores

    ticks = iter(range(0, 100_000, 40))
    monkeypatch.setattr(scoring, "_clock", lambda: next(ticks))

    def one_pass(rows):  # started at one reading, half done at the next (40 s): one line
        scoring.Progress(rows, "windows").update(rows // 2)

    class Passes:  # a stand-in detector: a pass per call
        name = "stand-in"

        def calibrate(self, series):
            one_pass(len(series))

        def score(self, series):
            one_pass(len(series))
            return Scores.from_points(np.zeros(len(series)))

    pieces = [TestPiece(name, 0, np.zeros((n, 1)), np.array([], int)) for name, n in
              (("test_1", 10), ("short", 2), ("test_2", 20))]
    score_detector(Passes(), SimpleNamespace(span=4), SimpleNamespace(train=np.zeros((30, 1)), test_pieces=pieces),
                   np.arange(3))
    assert capsys.readouterr().out.splitlines() == [
        "calibrating on the training block: 15 of 30 windows (50%) in 40 s, about 40 s to go",
        "scoring the training block: 15 of 30 windows (50%) in 40 s, about 40 s to go",
        "scoring test piece 1 of 2 (test_1): 5 of 10 windows (50%) in 40 s, about 40 s to go",
        "scoring test piece 2 of 2 (test_2): 10 of 20 windows (50%) in 40 s, about 40 s to go"]
    score_detector(Passes(), SimpleNamespace(span=4), SimpleNamespace(train=np.zeros((30, 1)), test_pieces=pieces[:1]),
                   np.arange(3))
    assert capsys.readouterr().out.splitlines()[2] == "scoring the test piece: 5 of 10 windows (50%) in 40 s, about " \
                                                      "40 s to go"
    one_pass(8)  # outside any named pass: the line it always had
    assert capsys.readouterr().out == "scoring: 4 of 8 windows (50%) in 40 s, about 40 s to go\n"

    def errors(model, series, l_win, batch_size, points):
        one_pass(len(series))
        return np.random.default_rng(0).standard_normal((len(points), 1))

    monkeypatch.setattr(lstm_ad.LSTMADTrainer, "train", lambda self: build_lstm_ad(L_WIN, 1, 1, 4))
    monkeypatch.setattr(lstm_ad, "validation_errors", errors)
    det = detector("lstm_ad", prediction_horizon=1)
    det.fit(np.sin(np.arange(100.0))[:, None], tmp_path)
    assert capsys.readouterr().out == ("predicting the training block (LSTM-AD's error Gaussian): 50 of 100 windows "
                                       "(50%) in 40 s, about 40 s to go\n")


def test_training_codes_are_encoded_a_few_batches_at_a_time(monkeypatch):
    """The LSTM stage's codes of every training window: one predict over all of them took a float32 copy of every
    window (and Keras two more: 3.3 GB for a 200,000-row CSV of 8 channels at l_win 288, the peak of train.py).
    Whole batches of about ENCODE_BYTES at a time give the same codes to the bit, without the copy."""
    import tracemalloc

    keras.utils.set_random_seed(0)
    vae = VAE(64, 4, CODE, 16, seed=0)
    windows = rolling_windows(np.random.default_rng(0).standard_normal((8_000, 4)), 64)  # a view
    copy_bytes = windows.size * 4  # every window in float32: 8 MB
    expected = vae.encoder.predict(np.asarray(windows, dtype="float32"), batch_size=256, verbose=0)
    monkeypatch.setattr(scoring, "ENCODE_BYTES", 1 << 20, raising=False)  # 4 batches of 256 windows of 1 KB
    tracemalloc.start()
    try:
        mean, std = scoring.encode_windows(vae, windows, 256)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(mean, expected[0])
    np.testing.assert_array_equal(std, expected[1])
    assert peak < copy_bytes / 2, f"{peak / 1e6:.2f} MB against a copy of every window of {copy_bytes / 1e6:.2f} MB"


def test_point_errors_carry_a_sum_per_unfinished_point_not_every_error():
    """A point is covered by l_win * (l_seq - 1) predictions, which arrive over as many sequences: the sink carried
    each one until its point was whole, (l_win * (l_seq - 1))**2 / 2 numbers (295,000 here, 4.7 MB; at l_win 1440,
    a daily cycle of 1-minute data, 37 million: 2.8 GB peak and 40 s per 50,000 sequences), and copied them on
    every call. It carries a running sum and count per unfinished point (768 here): memory of a few calls."""
    import tracemalloc

    l_win, l_seq, runs = 128, 7, 16  # runs of 16 sequences, as a score_batch_size of 96 hands them on
    n_seq = 120 * runs
    rng = np.random.default_rng(0)
    series = rng.standard_normal((n_seq + l_win * l_seq - 1, 1))
    predicted = rng.standard_normal((runs, l_seq - 1, l_win, 1)).astype("float32")
    errors = scoring.PredictionErrors(series, l_win)
    tracemalloc.start()
    try:
        for first in range(0, n_seq, runs):
            errors.add(first, predicted)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    one_call = predicted.size * 8 * 3  # a call's errors, their points and their float64 copy
    assert peak < 4 * one_call + 4 * series.nbytes, f"{peak / 1e6:.1f} MB, a call's errors {one_call / 1e6:.2f} MB"


@pytest.mark.parametrize("name", ["vae", "lstm_ae"])
def test_window_detectors_score_without_a_copy_of_every_window(name):
    """A copy of every window is l_win = 16 times the series (26 and 23 MB peaks before, with the reconstructions);
    scoring takes each compiled call's windows as they come (4.4 and 2.2 MB measured)."""
    keras.utils.set_random_seed(3)
    det = detector(name, n_channel=2, score_batch_size=1024)
    if name == "vae":
        det.vae = VAE(L_WIN, 2, CODE, 32, seed=0)
    else:
        det.model = build_lstm_ae(L_WIN, 2, CODE, 8)
    series = np.random.default_rng(0).standard_normal((60_000, 2)).astype("float32")
    peak = scoring_peak(det, series)
    assert peak < L_WIN * series.nbytes, f"{peak / 1e6:.1f} MB against a series of {series.nbytes / 1e6:.1f} MB"


@pytest.mark.parametrize("l_win, l_seq", [(1, 2), (4, 2), (3, 3), (5, 4)])
def test_sequence_codes_are_the_gathered_input_codes_of_every_sequence(l_win, l_seq):
    codes = np.arange(40 * 2, dtype="float32").reshape(40, 2)  # window w's code is (2w, 2w + 1)
    n_points = 40 + l_win - 1
    n_seq = n_points - l_win * l_seq + 1
    view = scoring.sequence_codes(codes, l_win, l_seq)[:n_seq]
    np.testing.assert_array_equal(view, scoring.gather_sequences(codes, n_points, l_win, l_seq)[:, :-1])
    assert not view.flags.writeable and np.shares_memory(view, codes)  # a view, not a copy


def test_trailing_scale_refuses_training_point_scores_that_a_wide_point_spread_made_all_equal(vae, lstm, series):
    """point_spread 20 (320 points) gives every point of a 120-point training block the block's largest score: its
    standard deviation is 0, the floor 0.001 of it was 2e-308, and the test scores came out near 1e293 or inf (which
    detection called a diverged model). calibrate now says so in one line."""
    det = detector("vae_lstm", point_score="predicted_error", point_spread=20, trailing_scale=2)
    det.vae, det.lstm = vae, lstm
    with pytest.raises(UserError, match=r"^trailing_scale 2 .* training block's 120 point scores are all equal .*"
                                        r"point_spread 20 .* 320 points"):
        det.calibrate(series[:120])
    assert not det.calibrated
    det.config = det.config.replace(point_spread=1)  # scores that vary: calibrated, every scored point finite
    det.calibrate(series[:120])
    points = det.score(series[120:]).points
    assert np.isfinite(points[L_WIN + 1:]).all()


def test_a_fit_that_fails_leaves_no_calibration_of_the_models_before_it(two_channel_models, monkeypatch, tmp_path):
    """A fit that trained a new VAE and then failed (a LSTM stage that ran out of memory, say) kept the earlier
    models' training-block scores and scales: scoring that block again returned the old models' scores as the new
    ones'. Calibration is forgotten when a fit starts."""
    from vae_lstm.detectors import vae_lstm as module

    det = detector("vae_lstm", n_channel=2, error_scale="channel")
    det.vae, det.lstm = two_channel_models
    train = np.random.default_rng(0).standard_normal((180, 2)).astype("float32")
    det.calibrate(train)
    assert det.calibrated and det.training_scores is not None

    class NoModelYet:
        @staticmethod
        def exists():
            return False

    class NewVAE:
        model = NoModelYet  # the trainer's checkpoint: none in the run folder yet

        def __init__(self, *args, **kwargs):
            pass

        def will_train(self):
            return True

        def train(self):
            return two_channel_models[0]

    class FailingLSTM(NewVAE):
        def train(self):
            raise MemoryError("the LSTM stage ran out of memory")

    monkeypatch.setattr(module, "VAETrainer", NewVAE)
    monkeypatch.setattr(module, "LSTMTrainer", FailingLSTM)
    with pytest.raises(MemoryError):
        det.fit(train, tmp_path)
    assert not det.calibrated and det.training_scores is None and det.channel_scale is None
    # nor does it keep the new VAE beside the LSTM trained on the old one's codes: the sequence scores of that pair
    # came back without a word; the detector is unfitted, as score says
    max_sequence = detector("vae_lstm", n_channel=2, point_score="max_sequence")
    max_sequence.vae, max_sequence.lstm = two_channel_models
    with pytest.raises(MemoryError):
        max_sequence.fit(train, tmp_path)
    with pytest.raises(UserError, match="not trained"):
        max_sequence.score(train)
