"""Segment datasets (ECG5000): the split, windows that never cross a beat, one score per beat, the metrics,
and one tiny end-to-end experiment on a subset of the real beats."""

import json

import numpy as np
import pytest

from vae_lstm import beats, windowing
from vae_lstm.config import from_dict
from vae_lstm.errors import ConfigError, DataError, UserError

# ---- the split ----


def mixed_labels(n_normal=2919, n_anomalous=2081, seed=123):
    return np.random.default_rng(seed).permutation(np.r_[np.ones(n_normal, bool), np.zeros(n_anomalous, bool)])


def test_split_counts_disjoint_sets_and_only_normals_train():
    normal = mixed_labels()
    split = beats.split_beats(normal, seed=0, test_normal=700, test_anomalous=100, val_fraction=0.1)
    # 2919 normals: 700 to test, floor(0.1 * 2219) = 221 to validation, the other 1998 to training
    assert split.counts() == {"n_train": 1998, "n_validation": 221, "n_test_normal": 700, "n_test_anomalous": 100}
    sets = [set(split.train), set(split.val), set(split.test)]
    assert sum(map(len, sets)) == len(set().union(*sets)) == 1998 + 221 + 800  # no beat in two sets
    assert normal[split.train].all() and normal[split.val].all()
    np.testing.assert_array_equal(split.test_labels, ~normal[split.test])
    assert split.test_labels.mean() == 0.125
    again = beats.split_beats(normal, 0, 700, 100, 0.1)
    other = beats.split_beats(normal, 1, 700, 100, 0.1)
    np.testing.assert_array_equal(again.train, split.train)  # the same split for every detector of a seed
    assert not np.array_equal(other.train, split.train)
    capped = beats.split_beats(normal, 0, 700, 100, 0.1, train_normal=50)
    assert len(capped.train) == 50 and set(capped.train) <= set(split.train)
    np.testing.assert_array_equal(capped.val, split.val)
    with pytest.raises(DataError, match="2081 anomalous"):
        beats.split_beats(normal, 0, 700, 3000, 0.1)


def test_a_split_without_validation_beats_is_refused_before_training():
    """A split whose val_fraction leaves no validation beat (0, or 0.01 of 25 normal beats) trained the detector, then
    stopped with numpy's "val_scores is empty" and a traceback: the threshold is a quantile of those beats' scores."""
    normal = np.r_[np.ones(30, bool), np.zeros(10, bool)]
    for fraction in (0.0, 0.01):
        with pytest.raises(DataError) as refused:
            beats.split_beats(normal, 0, test_normal=5, test_anomalous=5, val_fraction=fraction)
        assert str(refused.value) == (
            f"the split's val_fraction {fraction:g} of the 25 normal beats left after the test set gives no validation "
            "beat; the threshold is a quantile of the validation beats' scores, so it needs at least one")
    assert beats.split_beats(normal, 0, 5, 5, 0.04).counts()["n_validation"] == 1


# ---- windows and sequences inside segments only ----


def labelled_segments(n=3, length=12):
    """Value = 100 * segment + position: every sample says which segment it came from."""
    return (100 * np.arange(n)[:, None] + np.arange(length)[None, :]).astype("float32")[:, :, None]


def test_segment_windows_stay_inside_their_segment():
    seg = labelled_segments()
    windows = windowing.segment_windows(seg, 4, stride=4)
    assert windows.shape == (9, 4, 1)  # 3 non-overlapping windows per 12-point segment
    np.testing.assert_array_equal(windows[:, 0, 0], [0, 4, 8, 100, 104, 108, 200, 204, 208])
    every = windowing.segment_windows(seg, 4, stride=1)
    assert every.shape == (27, 4, 1)  # 9 per segment, not the 33 windows of the concatenation
    assert (every[..., 0] // 100 == every[:, :1, 0] // 100).all()  # no window crosses a boundary
    np.testing.assert_array_equal(np.diff(every[..., 0], axis=1), 1)
    odd = windowing.segment_windows(seg, 5, stride=3)  # starts 0, 3, 6 (9 would overrun)
    np.testing.assert_array_equal(odd[:3, 0, 0], [0, 3, 6])


def test_segment_sequences_stay_inside_their_segment():
    seg = labelled_segments(2, 12)
    one = windowing.segment_sequences(seg, 4, 3, stride=4)  # span 12 = the segment: one sequence each
    assert one.shape == (2, 3, 4, 1)
    np.testing.assert_array_equal(one[:, :, 0, 0], [[0, 4, 8], [100, 104, 108]])
    np.testing.assert_array_equal(one[1].reshape(-1), np.arange(100, 112))
    short = windowing.segment_sequences(seg, 3, 2, stride=2)  # span 6: starts 0, 2, 4, 6
    assert short.shape == (8, 2, 3, 1)
    np.testing.assert_array_equal(short[:4, :, 0, 0], [[0, 3], [2, 5], [4, 7], [6, 9]])
    assert (short[..., 0] // 100 == short[:, :1, :1, 0] // 100).all()


def test_training_windows_of_one_series_are_the_rolling_windows():
    series = np.arange(30, dtype=float)[:, None]
    np.testing.assert_array_equal(windowing.training_windows(series, 8), windowing.rolling_windows(series, 8))
    with pytest.raises(ValueError, match="segments"):
        windowing.training_windows(series, 8, stride=2)


# ---- one score per beat ----


def test_segment_scores_take_the_largest_unit_wholly_inside():
    # 3 segments of 5 points, units of span 2: 14 units; unit u covers [u, u + 1]
    units = np.arange(14, dtype=float)
    units[4] = units[9] = 99.0  # units 4 and 9 straddle two segments: never used
    np.testing.assert_array_equal(windowing.segment_scores(units, 2, 5, 3), [3, 8, 13])
    units[7] = np.nan  # NaN units are ignored
    np.testing.assert_array_equal(windowing.segment_scores(units, 2, 5, 3), [3, 8, 13])
    # span = segment length (a VAE-LSTM sequence of one beat): exactly unit b * length
    whole = np.array([7.0, 50, 50, 50, 50, 2, 50, 50, 50, 50, 4])  # 11 units of span 5 over 15 points
    np.testing.assert_array_equal(windowing.segment_scores(whole, 5, 5, 3), [7, 2, 4])
    # span 1 (point scores): the largest point of each segment
    points = np.array([1.0, 5, 2, 0, 0, -1, -3, -2, -2, -2, 9, np.nan, 0, 0, 0])
    np.testing.assert_array_equal(windowing.segment_scores(points, 1, 5, 3), [5, -1, 9])
    points[6] = np.nan  # a NaN point is ignored, not taken as 0 (above the segment's -1)
    np.testing.assert_array_equal(windowing.segment_scores(points, 1, 5, 3), [5, -1, 9])
    points[10:] = np.nan  # a segment with no scored unit is NaN
    np.testing.assert_array_equal(windowing.segment_scores(points, 1, 5, 3), [5, -1, np.nan])
    assert np.isnan(windowing.segment_scores(np.ones(5), 6, 5, 2)).all()  # a unit longer than a segment
    with pytest.raises(ValueError, match="do not fit"):
        windowing.segment_scores(np.ones(15), 2, 5, 3)


def test_score_segments_scores_the_concatenation_once():
    from vae_lstm.detectors import get_detector

    calls = []
    detector = get_detector(from_dict({"detector": "abs_z", "n_channel": 1}))
    score = detector.score
    detector.score = lambda series: calls.append(series.shape) or score(series)
    seg = np.zeros((4, 10, 1))
    seg[2, 7, 0] = -3.0
    seg[0, 1, 0] = 1.5
    np.testing.assert_array_equal(beats.score_segments(detector, seg), [1.5, 0, 3, 0])
    assert calls == [(40, 1)]


INSIDE_CASES = [  # detector, l_win, l_seq, beat length, channels, score_batch_size
    ("lstm_ae", 12, 2, 12, 1, 5),  # one window per beat (ECG5000's l_win 140), calls of 5 rows
    ("lstm_ae", 8, 2, 12, 2, 16),  # several windows per beat
    ("lstm_vae", 12, 2, 12, 1, 5),
    ("vae", 8, 2, 16, 1, 5),  # a sequence per beat (ECG5000's 20 x 7)
    ("vae", 8, 2, 20, 1, 4096),
    ("vae_lstm", 8, 3, 24, 1, 7),  # the LSTM and decoder in calls of 3 sequences
    ("vae_lstm", 8, 2, 20, 2, 4096),
]


@pytest.mark.parametrize("name, l_win, l_seq, length, n_channel, batch", INSIDE_CASES)
def test_beat_scores_from_the_units_inside_the_beats_are_those_of_the_joined_beats(name, l_win, l_seq, length,
                                                                                    n_channel, batch):
    """A window or sequence model scores only the units lying inside a beat, not every unit of the joined beats
    (ECG5000's lstm_ae and lstm_vae: 1021 windows, not 142,801), and to the same bits: each in a call of as many
    rows, at the same place, as in the joined series' pass (an LSTM's outputs differ by float rounding between small
    calls, and between places in one)."""
    import keras

    from vae_lstm.detectors import get_detector
    from vae_lstm.detectors.lstm_ae import build_lstm_ae
    from vae_lstm.detectors.lstm_vae import LSTMVAE
    from vae_lstm.models import VAE, build_lstm

    keras.utils.set_random_seed(0)
    config = from_dict({"detector": name, "l_win": l_win, "l_seq": l_seq, "n_channel": n_channel, "code_size": 3,
                        "num_hidden_units": 16, "num_hidden_units_lstm": 8, "score_batch_size": batch,
                        "point_score": "max_sequence"})
    detector = get_detector(config)
    if name in ("vae", "vae_lstm"):
        detector.vae, detector.lstm = VAE(l_win, n_channel, 3, 16), build_lstm(l_seq, 3, 8)
    else:
        detector.model = (build_lstm_ae(l_win, n_channel, 3, 8) if name == "lstm_ae"
                          else LSTMVAE(l_win, n_channel, 3, 8))
    segments = np.random.default_rng(1).standard_normal((9, length, n_channel))
    joined = detector.score(segments.reshape(-1, n_channel))  # the path of every unit of the joined beats
    expected = windowing.segment_scores(joined.native, joined.native_span, length, len(segments))
    assert detector.inside_scores(segments).shape == (9, length - joined.native_span + 1)
    np.testing.assert_array_equal(beats.score_segments(detector, segments), expected)


def test_calls_place_each_chosen_row_as_the_whole_pass_does():
    from vae_lstm.scoring import call_slots

    def plan(*args):
        return [(p.size, p.slots.tolist(), p.picks.tolist()) for p in call_slots(*args)]

    # 10 rows in calls of at most 4: rows 0-3, 4-7 and 8-9; rows 1 and 5 share place 1 of a 4-row call
    assert plan(10, [1, 5, 8, 9], 4) == [(2, [0, 1], [2, 3]), (4, [1], [0]), (4, [1], [1])]
    # 11 rows in at most 4: three calls of 4, 4 and 3 rows
    assert plan(11, [3, 10], 4) == [(3, [2], [1]), (4, [3], [0])]
    # through XLA every call has 4 rows; a 3-row array's one call is padded to 4
    assert plan(10, [2, 9], 4, True) == [(4, [1, 2], [1, 0])]
    assert plan(3, [2], 4, True) == [(4, [2], [0])]


@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_chosen_rows_get_the_bits_of_the_whole_pass(chunk):
    """An LSTM's outputs for a row differ by float rounding with the row count of its call and its place there (here
    in calls of 5 rows, each call's last row): the chosen rows, scored in calls of their own, get exactly the
    outputs that the pass over every row gives them."""
    import keras

    from vae_lstm.models import build_lstm
    from vae_lstm.scoring import compiled_apply, compiled_apply_at

    keras.utils.set_random_seed(0)
    lstm = build_lstm(3, 3, 8)
    x = np.random.default_rng(1).standard_normal((63, 2, 3)).astype("float32")
    rows = np.array([3, 4, 9, 17, 28, 44, 59, 62])
    np.testing.assert_array_equal(compiled_apply_at(lstm, x[rows], len(x), rows, chunk), compiled_apply(lstm, x, chunk)[rows])


# ---- the metrics ----


def test_beat_metrics_known_answer():
    val = np.arange(1, 21, dtype=float)  # 0.95 quantile: 19 + 0.05 * (20 - 19) = 19.05
    scores = np.array([1, 5, 19, 20, 19.5, 30])
    labels = np.array([0, 0, 0, 0, 1, 1], bool)
    m = beats.beat_metrics(scores, labels, val, 0.95)
    assert m["threshold"] == pytest.approx(19.05)
    # flagged (>= 19.05): 20 (normal), 19.5 and 30 (anomalous): TP 2, FP 1, FN 0, TN 3
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 1, 0, 3)
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == 1.0 and m["f1"] == pytest.approx(0.8)
    # AUC-ROC: of the 8 (anomalous, normal) pairs, only (19.5, 20) is ranked wrongly
    assert m["auc_roc"] == pytest.approx(7 / 8)
    # AUC-PR (average precision): ranked 30 (P), 20 (N), 19.5 (P): precisions 1 and 2/3 at the positives
    assert m["auc_pr"] == pytest.approx((1 + 2 / 3) / 2)


def test_beat_metrics_of_one_class_are_undefined_never_perfect():
    """Test beats all anomalous (or all normal): every ranking metric is undefined, not a perfect 1.0; and a split
    that asks for no beat of one class is refused."""
    scores = np.random.default_rng(0).random(20)
    for labels in (np.ones(20, bool), np.zeros(20, bool)):
        m = beats.beat_metrics(scores, labels, scores, 0.95)
        assert np.isnan(m["auc_pr"]) and np.isnan(m["auc_roc"])
    with pytest.raises(DataError, match="at least one of each"):
        beats.split_beats(np.array([True] * 30 + [False] * 10), 0, test_normal=5, test_anomalous=0, val_fraction=0.1)



def test_threshold_metrics_of_one_class_test_beats_are_undefined_never_perfect():
    """Test beats all anomalous, every one above the threshold: accuracy, precision, recall and F1 were all a perfect
    1.0 for any scores; all normal: recall (0 / 0) and F1 were 0.0. With one class every figure is undefined (NaN),
    as the series' metrics are (``metrics.degenerate``); the counts stay."""
    val = np.array([1.0, 2.0, 3.0])  # threshold 2.9
    anomalous = beats.beat_metrics(np.array([5.0, 6.0, 7.0, 8.0]), np.ones(4, bool), val, 0.95)
    normal = beats.beat_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.zeros(4, bool), val, 0.95)
    for m in (anomalous, normal):
        assert all(np.isnan(m[k]) for k in beats.METRICS), m
    assert (anomalous["tp"], anomalous["fp"], anomalous["fn"], anomalous["tn"]) == (4, 0, 0, 0)
    assert (normal["tp"], normal["fp"], normal["fn"], normal["tn"]) == (0, 2, 0, 2)


def test_the_precision_of_a_run_that_flags_no_beat_is_undefined_never_0():
    """No test beat at or above the threshold: precision is 0 / 0, and was written as 0.0, which the summary
    averaged into the seeds' mean as a real 0; it is undefined (NaN, the table's "(k of n)"). Recall and F1 stay 0:
    every anomalous beat was missed."""
    val = np.arange(1, 21, dtype=float)  # threshold 19.05, above every test score
    m = beats.beat_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 0, 1, 1], bool), val, 0.95)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (0, 0, 2, 2)
    assert np.isnan(m["precision"]) and m["recall"] == 0.0 and m["f1"] == 0.0 and m["accuracy"] == 0.5


# ---- detectors on segments ----


class _Predictor:
    def __init__(self, fn):
        self.fn = fn

    def predict(self, x, batch_size=None, verbose=0):
        return self.fn(np.asarray(x, dtype="float32"))


class StubVAE:
    """code = first value of the window."""

    def __init__(self, l_win):
        self.encoder = _Predictor(lambda w: (w[:, :1, 0], np.ones((len(w), 1), "float32")))


def test_trainers_take_their_samples_inside_segments(tmp_path):
    from vae_lstm.detectors.lstm_ae import LSTMAETrainer
    from vae_lstm.detectors.vae_lstm import LSTMTrainer, VAETrainer

    cfg = from_dict({"l_win": 8, "l_seq": 3, "code_size": 1, "n_channel": 1, "window_stride": 8,
                     "val_fraction": 0.25})
    seg = labelled_segments(4, 24)
    vae = VAETrainer(cfg, tmp_path, seg)
    windows = np.concatenate([vae.train_windows, vae.val_windows])
    assert sorted(windows[:, 0, 0]) == sorted(100 * b + s for b in range(4) for s in (0, 8, 16))
    assert (windows[..., 0] // 100 == windows[:, :1, 0] // 100).all()
    lstm = LSTMTrainer(cfg, tmp_path, seg, StubVAE(8))  # one sequence per segment: codes b00, b08, b16
    codes = np.concatenate([lstm.train_codes, lstm.val_codes])[..., 0]
    assert sorted(map(tuple, codes)) == [(100 * b, 100 * b + 8, 100 * b + 16) for b in range(4)]
    np.testing.assert_array_equal(lstm.sequence_points(2).reshape(-1), np.arange(200, 224))  # sequence 2 = segment 2
    ae = LSTMAETrainer(cfg.replace(window_stride=4), tmp_path, seg)
    assert ae.x.shape == (4 * 5, 8, 1) and (ae.x[..., 0] // 100 == ae.x[:, :1, 0] // 100).all()


@pytest.mark.parametrize("detector, l_seq, stride, note", [
    ("lstm_ae", 3, 8, "note: window_stride 8 leaves the last 4 of each segment's 28 points out of the training windows "
                      "(l_win 8, the last at points 16 to 23); a window_stride that divides 20 (28 - l_win) trains on "
                      "them"),
    ("vae_lstm", 2, 5, "note: window_stride 5 leaves the last 2 of each segment's 28 points out of the training "
                       "sequences (l_win * l_seq 16, the last at points 10 to 25); a window_stride that divides 12 (28 - "
                       "l_win * l_seq) trains on them"),
    ("vae_lstm", 2, 7, "note: window_stride 7 leaves the last 6 of each segment's 28 points out of the training windows "
                       "(l_win 8, the last at points 14 to 21), and the last 5 out of the training sequences (l_win * "
                       "l_seq 16, the last at points 7 to 22); a window_stride that divides 20 (28 - l_win) and 12 (28 "
                       "- l_win * l_seq) trains on them"),
    ("vae_lstm", 3, 4, None),  # windows at 0, 4, ..., 20 end at 27; the sequences of 24 points at 0 and 4 too
])
def test_a_window_stride_that_leaves_a_segments_last_points_out_is_noted(capsys, detector, l_seq, stride, note):
    """window_stride 8 with l_win 8 on 28-point segments trained on points 0 to 23 of each: the last 4 were in no
    training window, without a word (a stride above l_win, which leaves points out inside, is refused)."""
    from vae_lstm.detectors import get_detector

    cfg = from_dict({"detector": detector, "l_win": 8, "l_seq": l_seq, "n_channel": 1, "window_stride": stride})
    get_detector(cfg).checked_training(np.zeros((6, 28, 1)), cfg.span, "sequence")
    assert capsys.readouterr().out.splitlines() == ([note] if note else [])


def test_detectors_refuse_what_they_cannot_fit(tmp_path):
    from vae_lstm.detectors import get_detector

    series_cfg = from_dict({"detector": "lstm_ae", "l_win": 8, "n_channel": 1, "window_stride": 8})
    with pytest.raises(UserError, match="window_stride = 8 applies to segment datasets only"):
        get_detector(series_cfg).fit(np.zeros((100, 1)), tmp_path)
    with pytest.raises(UserError, match="'lstm_ad' cannot train on independent segments"):
        get_detector(from_dict({"detector": "lstm_ad", "l_win": 8, "n_channel": 1})).fit(np.zeros((3, 20, 1)), tmp_path)


# ---- configs and data files ----


def ecg_config(tmp_path, **changes):
    values = {"exp_name": "ecg", "dataset": "ECG5000", "l_win": 20, "l_seq": 7, "n_channel": 1, "window_stride": 20,
              "threshold_quantile": 0.95, **changes}
    path = tmp_path / "ecg.json"
    path.write_text(json.dumps(values))
    from vae_lstm.config import load_config

    return load_config(path)


@pytest.mark.parametrize("change, message", [
    ({"l_seq": 8}, "l_win \\* l_seq = 160 is longer than one ECG5000 segment \\(140 points\\)"),
    ({"l_win": "auto"}, "give l_win and l_seq as numbers"),
    ({"threshold_rule": "pot"}, "set threshold_rule to 'val_quantile'"),
    ({"detector": "arma"}, "detector 'arma' cannot train on the independent segments of ECG5000"),
    ({"detector": "lstm_vae", "l_win": 150}, "l_win = 150 is longer than one ECG5000 segment"),
    ({"detector": "vae", "l_seq": 8}, "l_win \\* l_seq = 160 is longer than one ECG5000 segment"),
    # a stride past l_win leaves points of every segment out of every training window: the VAE trained on points 0-19
    # of each beat only, the copy of lstm_ae's window_stride 140 that the experiment file sets beside its l_win 140
    ({"window_stride": 140}, "^ecg.json: key 'window_stride' = 140 is larger than l_win 20: the training windows, "
                             "20 points every 140, would leave 120 of every 140 points of a segment out; set it to at "
                             "most l_win \\(20 makes the windows tile a segment\\)$"),
    ({"detector": "lstm_ae", "l_win": 40, "window_stride": 41}, "key 'window_stride' = 41 is larger than l_win 40"),
])
def test_a_bad_ecg_config_is_one_line(tmp_path, change, message):
    config = ecg_config(tmp_path, **change)
    assert beats.is_segments(config)
    with pytest.raises(ConfigError, match=message):
        beats.check_config(config)


@pytest.mark.parametrize("change, message", [
    ({"detectors": ["random", "arma"]}, "with detector 'arma': detector 'arma' cannot train on the independent"),
    ({"overrides": {"lstm_vae": {"l_win": 150}}}, "with detector 'lstm_vae': l_win = 150 is longer than one"),
    ({"overrides": {"*": {"threshold_rule": "train_max"}}}, "with detector 'random': ECG5000 takes its threshold"),
])
def test_an_experiment_that_does_not_fit_the_beats_is_its_own_one_line_before_any_run(tmp_path, change, message):
    from vae_lstm.experiment import load_experiment

    ecg_config(tmp_path)
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"datasets": {"ECG5000": str(tmp_path / "ecg.json")}, "seeds": 1,
                                "detectors": ["random", "lstm_vae"], "summary": "beats", **change}))
    with pytest.raises(ConfigError, match=f"^grid.json: dataset 'ECG5000' {message}"):
        load_experiment(path)


def test_a_related_figure_that_is_no_beat_metric_is_refused(tmp_path):
    """A related project's published figure under a key the beats table has no column for ("F1", as its header
    writes it, or "auc") was left out of results.md without a word; the six metrics' own keys are shown."""
    from vae_lstm.experiment import load_experiment

    ecg_config(tmp_path)
    path = tmp_path / "grid.json"
    grid = {"datasets": {"ECG5000": str(tmp_path / "ecg.json")}, "seeds": 1, "detectors": ["random"], "summary": "beats"}
    path.write_text(json.dumps({**grid, "related": [{"source": "theirs", "figures": {"f1": 0.9}},
                                                    {"source": "others", "figures": {"accuracy": 0.9, "F1": 0.957}}]}))
    with pytest.raises(ConfigError) as refused:
        load_experiment(path)
    assert str(refused.value) == ("grid.json: related[1].figures: unknown per-beat metric 'F1'; did you mean 'f1'? "
                                  "(the beats table's columns: accuracy, precision, recall, f1, auc_roc, auc_pr)")
    path.write_text(json.dumps({**grid, "related": [{"source": "theirs", "figures": dict.fromkeys(beats.METRICS, 0.5)}]}))
    table = beats.markdown(load_experiment(path), beats.summary_rows({}))
    assert "| theirs |  |  | 0.5 | 0.5 | 0.5 | 0.5 | 0.5 | 0.5 |  |" in table


def test_a_point_scoring_override_of_a_beats_experiment_is_noted(tmp_path, capsys, monkeypatch):
    """A beat's score is the largest of its units' own scores, whatever the VAE-LSTM's point scores: its scoring keys
    change no figure of a beats experiment. Before, an override of one (point_score "combined", say) was taken
    without a word, and the tables read as if the runs had used it."""
    from vae_lstm import reproduce
    from vae_lstm.experiment import load_experiment

    ecg_config(tmp_path)
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"datasets": {"ECG5000": str(tmp_path / "ecg.json")}, "seeds": 1,
                                "detectors": ["vae_lstm", "random", "abs_z"], "summary": "beats",
                                "output_dir": str(tmp_path / "runs"),
                                "overrides": {"vae_lstm": {"point_score": "combined", "num_epochs_vae": 1},
                                              "*": {"point_smoothing": 3}}}))
    assert load_experiment(path).unread_overrides == [("vae_lstm", "point_score", []), ("*", "point_smoothing", [])]
    monkeypatch.delenv("ECG5000_DATA_DIR", raising=False)  # the notes come before the data is read
    with pytest.raises(UserError):
        reproduce.main([str(path), "--no-summary"])
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")] == [
        "note: grid.json: overrides.vae_lstm.point_score is not used: vae_lstm never reads it (a segment's score is "
        "the largest of its units' own scores, whatever the point scores)",
        "note: grid.json: overrides.*.point_smoothing is not used: no detector of the experiment reads it (a "
        "segment's score is the largest of its units' own scores, whatever the point scores)"]


def test_ecg_data_needs_its_variable_and_the_pinned_files(tmp_path, monkeypatch):
    """Each message says where the pinned files come from. Before, the unset variable's message suggested this
    checkout's ../shared/datasets/ECG5000, and a changed file's said nothing of the file it should be, so a
    user holding UCR's own full-precision ECG5000_TEST.txt could not tell why it was refused."""
    monkeypatch.delenv("ECG5000_DATA_DIR", raising=False)
    with pytest.raises(DataError) as unset:
        beats.load_segments("ECG5000")
    assert str(unset.value) == (
        "ECG5000 is read from a local copy: set ECG5000_DATA_DIR to a folder holding ECG5000_TRAIN.txt and "
        "ECG5000_TEST.txt, the files pinned (sha256) in datasets/series.json, whose segments.ECG5000.sources say "
        "where each comes from")
    for name in ("ECG5000_TRAIN.txt", "ECG5000_TEST.txt"):
        (tmp_path / name).write_text("1 " + " ".join(["0.5"] * 140) + "\n")
    monkeypatch.setenv("ECG5000_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"ECG5000_TRAIN.txt has the wrong sha256 .* of ECG5000's pinned "
                                        r"ECG5000_TRAIN.txt, https://github.com/factwy/1D-CNN-ECG5000 at f60465d"):
        beats.load_segments("ECG5000")
    spec = beats.segment_specs()["ECG5000"]
    test_first = {**spec, "files": dict(reversed(spec["files"].items()))}
    monkeypatch.setattr(beats, "segment_specs", lambda: {"ECG5000": test_first})
    with pytest.raises(DataError, match=r"ECG5000_TEST.txt has the wrong sha256 .* of ECG5000's pinned "
                                        r"ECG5000_TEST.txt, the test rows of data/ECG5000.rda in .*fda.tsc.*"
                                        r"UCR's own full-precision ECG5000_TEST.txt is another file"):
        beats.load_segments("ECG5000")


def own_segment_file(tmp_path, monkeypatch, text, **spec):
    """A one-file segment dataset "beats" of 4-point segments, pinned to ``text``'s sha256; loads it."""
    import hashlib

    (tmp_path / "beats.txt").write_text(text)
    sha = hashlib.sha256(text.encode()).hexdigest()
    entry = {"env": "BEATS_DIR", "files": {"beats.txt": sha}, "length": 4, "normal_classes": [1], **spec}
    monkeypatch.setattr(beats, "segment_specs", lambda: {"beats": entry})
    monkeypatch.setenv("BEATS_DIR", str(tmp_path))
    return beats.load_segments("beats")


@pytest.mark.parametrize("text, message", [
    ("1 0 1 2 3\n2 0 1 2\n", "beats.txt: line 2 has 4 columns and line 1 has 5: every row is one beat, its class "
                              "then its 4 values (UCR format)"),
    ("1 0 1 2 3\n\n# a comment\n2 0 1 2 3 4\n", "beats.txt: line 4 has 6 columns and line 1 has 5"),
    ("1 0 1 a 3\n", "beats.txt: line 1: 'a' is not a number (UCR format: the class, then the values, "
                    "separated by spaces or tabs)"),
    ("", "beats.txt holds no beats"),
    ("1 0 nan 2 3\n2 0 1 2 3\n2 inf 1 2 3\n", "beats.txt: 2 values are not finite (NaN or inf), the first in the beat "
                                                "of line 1; drop or fill those beats"),
    ("nan 0 1 2 3\n", "beats.txt: line 1's class is nan, not a whole number"),
    ("1.5 0 1 2 3\n", "beats.txt: line 1's class is 1.5, not a whole number"),
    ("1 0 1 2 3\n-inf 0 1 2 3\n", "beats.txt: line 2's class is -inf, not a whole number"),
    ("1 0 1 2 3\n7 0 1 2 3\n", "beats.txt: line 2's class 7 is neither normal (1) nor anomalous (2, 3) in "
                                "datasets/series.json's segments.beats"),
])
def test_a_bad_segment_file_is_one_line(tmp_path, monkeypatch, text, message):
    """Beats of unequal length and text were numpy's ValueError with a traceback (its advice: "use `usecols`"); an
    empty file was "rows of 1 columns"; NaN values loaded, and reached the models (whose scores then said the model
    had diverged); a class of NaN or 1.5 became -9223372036854775808 (anomalous) or 1 (normal), and a class the
    dataset does not list was counted anomalous."""
    with pytest.raises(DataError) as refused:
        own_segment_file(tmp_path, monkeypatch, text, anomalous_classes=[2, 3])
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_segment_file_of_whole_classes_loads(tmp_path, monkeypatch):
    data = own_segment_file(tmp_path, monkeypatch, "1.0000000e+00 0 1 2 3\n\n3 4 5 6 7\n2\t0 1 2 3\n",
                            anomalous_classes=[2, 3])
    np.testing.assert_array_equal(data.classes, [1, 3, 2])
    np.testing.assert_array_equal(data.normal, [True, False, False])
    np.testing.assert_array_equal(data.values[1, :, 0], [4, 5, 6, 7])
    free = own_segment_file(tmp_path, monkeypatch, "1 0 1 2 3\n7 0 1 2 3\n")  # no anomalous_classes: any other
    np.testing.assert_array_equal(free.normal, [True, False])
    from vae_lstm.data_loader import load_spec

    ecg = load_spec()["segments"]["ECG5000"]  # the README's classes: 1 normal, 2-5 anomalous
    assert (ecg["normal_classes"], ecg["anomalous_classes"]) == ([1], [2, 3, 4, 5])


def test_a_split_that_does_not_fit_the_beats_is_one_line_before_any_run(tmp_path, monkeypatch):
    """A split asking for more test beats than the data holds (or leaving no validation beat) failed each run of the
    grid with the same line; it is refused once, naming the experiment and dataset, before any run."""
    from vae_lstm import reproduce
    from vae_lstm.experiment import load_experiment

    ecg_config(tmp_path)
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"datasets": {"ECG5000": str(tmp_path / "ecg.json")}, "seeds": 2,
                                "detectors": ["random", "abs_z"], "summary": "beats"}))
    normal = np.r_[np.ones(30, bool), np.zeros(10, bool)]
    monkeypatch.setattr(beats, "load_segments", lambda name: beats.Segments(name, np.zeros((40, 140, 1)),
                                                                            np.where(normal, 1, 2), normal))
    specs = beats.segment_specs()
    split = {"test_normal": 5, "test_anomalous": 20, "val_fraction": 0.1, "train_normal": None}
    monkeypatch.setattr(beats, "segment_specs", lambda: {**specs, "ECG5000": {**specs["ECG5000"], "split": split}})
    with pytest.raises(UserError) as refused:
        reproduce.check_datasets(load_experiment(path), None)
    assert str(refused.value) == ("experiment grid, dataset 'ECG5000': the split asks for 5 normal and 20 anomalous "
                                  "test beats; the data has 30 normal and 10 anomalous beats")
    split["test_anomalous"] = 10
    reproduce.check_datasets(load_experiment(path), None)


def test_shipped_ecg_experiment_loads():
    from vae_lstm.experiment import load_experiment

    experiment = load_experiment("ecg5000")
    assert experiment.summary == "beats" and experiment.seeds == 5
    assert experiment.detectors == ["vae_lstm", "lstm_vae", "lstm_ae", "random", "abs_z"]
    config = experiment.config("ECG5000", "vae_lstm", 0)  # resolved without loading any data
    assert (config.span, config.window_stride, config.threshold_quantile) == (140, 20, 0.95)
    assert beats.check_config(config)["split"]["test_normal"] == 700
    for name in ("lstm_vae", "lstm_ae"):  # a whole beat is one window: l_seq does not limit a window detector
        config = experiment.config("ECG5000", name, 0)
        assert (config.l_win, config.window_stride, beats.sample_span(config)) == (140, 140, 140)
        assert beats.check_config(config) and beats.samples_per_segment(config, 140) == 1


# ---- end to end on a subset of the real beats ----

TINY = {"exp_name": "ecg", "dataset": "ECG5000", "l_win": 20, "l_seq": 7, "n_channel": 1, "window_stride": 20,
        "code_size": 2, "num_hidden_units": 16, "num_hidden_units_lstm": 8, "batch_size": 256,
        "batch_size_lstm": 256, "num_epochs_vae": 1, "num_epochs_lstm": 1, "threshold_quantile": 0.95}
SMALL_SPLIT = {"test_normal": 30, "test_anomalous": 10, "val_fraction": 0.2, "train_normal": 40}


@pytest.fixture
def small_ecg(monkeypatch):
    """300 beats drawn from the real ECG5000 (the pinned files, sha-checked once here, not again at each of the
    grid's reads) and a small split; returns how many of them are normal."""
    import os

    from conftest import _shared_dir

    if not os.environ.get("ECG5000_DATA_DIR"):
        monkeypatch.setenv("ECG5000_DATA_DIR", str(_shared_dir("ECG5000")))
    specs = beats.segment_specs()
    load = beats.load_segments

    keep = np.sort(np.random.default_rng(0).choice(5000, 300, replace=False))

    pooled = {}

    def subset(name):
        if name not in pooled:
            pooled[name] = load(name)
        data = pooled[name]
        return beats.Segments(name, data.values[keep], data.classes[keep], data.normal[keep])

    monkeypatch.setattr(beats, "segment_specs", lambda: {**specs, "ECG5000": {**specs["ECG5000"], "split": SMALL_SPLIT}})
    monkeypatch.setattr(beats, "load_segments", subset)
    return int(subset("ECG5000").normal.sum())


@pytest.mark.slow
def test_ecg_experiment_end_to_end(tmp_path, small_ecg, capsys):
    from vae_lstm import reproduce

    detectors = ["vae_lstm", "lstm_ae", "random", "abs_z"]  # lstm_vae scores beats as lstm_ae (INSIDE_CASES)
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    experiment = tmp_path / "ecg.json"
    experiment.write_text(json.dumps({
        "description": "tiny", "datasets": {"ECG5000": str(tmp_path / "tiny.json")}, "detectors": detectors,
        "seeds": 1, "output_dir": str(tmp_path / "runs"), "summary": "beats",
        "related": [{"source": "theirs", "detector": "lstm_ae", "figures": {"f1": 0.957}}]}))
    assert reproduce.main([str(experiment), "--summary-dir", str(tmp_path / "summary")]) == 0
    first = None
    for detector in detectors:
        run = tmp_path / "runs" / "ecg" / f"ECG5000_{detector}_lwin20_lseq7_code2_seed0"
        metrics = json.loads((run / "detection" / "metrics.json").read_text())
        assert all(np.isfinite(metrics[k]) for k in beats.METRICS), detector
        assert metrics["split"]["n_train"] == 40 and metrics["split"]["n_test_anomalous"] == 10
        # the normals: 30 to test, a fifth of the rest to validation, 40 of the others to training
        assert metrics["split"]["n_validation"] == (small_ecg - 30) // 5 and metrics["split"]["n_test_normal"] == 30
        rows = np.loadtxt(run / "detection" / "beat_scores.csv", delimiter=",", skiprows=1, usecols=0)
        first = rows if first is None else first
        np.testing.assert_array_equal(rows, first)  # the same beats for every detector of the seed
        assert (run / "detection" / "beats.png").is_file()
    for control in ("random", "abs_z"):
        metrics = json.loads((tmp_path / "runs" / "ecg" / f"ECG5000_{control}_lwin20_lseq7_code2_seed0" / "detection"
                              / "metrics.json").read_text())
        assert 0 <= metrics["auc_roc"] <= 1 and 0 < metrics["auc_pr"] <= 1
    table = (tmp_path / "summary" / "results.md").read_text()
    assert "| ECG5000 | vae_lstm | 1 |" in table and "| ECG5000 | abs_z | 1 |" in table
    assert "Theirs" in table and "| theirs |  | lstm_ae |" in table
    assert (tmp_path / "summary" / "beats_ECG5000.png").is_file()
    # a finished grid is read back, not trained again, and says so
    capsys.readouterr()
    assert reproduce.main([str(experiment), "--summary-dir", str(tmp_path / "again")]) == 0
    assert [line for line in capsys.readouterr().out.splitlines() if "ECG5000 " in line and " seed 0" in line] == [
        f"already done ECG5000 {detector} seed 0: finished before ({k} of 4)" for k, detector in enumerate(
            ["random", "abs_z", "vae_lstm", "lstm_ae"], 1)]
    assert (tmp_path / "again" / "results.csv").read_text() == (tmp_path / "summary" / "results.csv").read_text()
    # a run whose training was started again and not finished trains on before its metrics count again
    run = tmp_path / "runs" / "ecg" / "ECG5000_lstm_ae_lwin20_lseq7_code2_seed0"
    state = json.loads((run / "state.json").read_text())
    (run / "state.json").write_text(json.dumps({k: v for k, v in state.items() if k != "fitted"}))
    assert reproduce.main([str(experiment), "--summary-dir", str(tmp_path / "third")]) == 0
    assert json.loads((run / "state.json").read_text()).get("fitted")
    import pandas as pd

    def figures(folder):  # every column but the wall time, which the resumed run records afresh
        table = pd.read_csv(tmp_path / folder / "results.csv")
        return table.drop(columns=[c for c in table.columns if "wall" in c])

    pd.testing.assert_frame_equal(figures("third"), figures("summary"))
    # a beats experiment has no point scores to average, and runs scored at another threshold are left out
    from vae_lstm.errors import UserError

    with pytest.raises(UserError, match="scores whole segments"):
        reproduce.main([str(experiment), "--summary-only", "--ensemble"])
    # --summary-only leaves out what the grid refuses: a run of another split, one made with other training keys
    abs_z = tmp_path / "runs" / "ecg" / "ECG5000_abs_z_lwin20_lseq7_code2_seed0" / "detection" / "metrics.json"
    good = abs_z.read_text()
    moved = json.loads(good)
    moved["split"]["spec"] = {**moved["split"]["spec"], "test_normal": 31}
    abs_z.write_text(json.dumps(moved))
    assert reproduce.main([str(experiment), "--summary-only", "--summary-dir", str(tmp_path / "split")]) == 0
    assert set(pd.read_csv(tmp_path / "split" / "results.csv").detector) == set(detectors) - {"abs_z"}
    assert ("Not in these tables (not run, unfinished, or left out for the reason printed), so some rows average "
            "fewer seeds: ECG5000 abs_z seed 0.") in (tmp_path / "split" / "results.md").read_text()
    abs_z.write_text(good)
    values = json.loads(experiment.read_text())
    experiment.write_text(json.dumps({**values, "overrides": {"lstm_ae": {"learning_rate_lstm": 0.5}}}))
    assert reproduce.main([str(experiment), "--summary-only", "--summary-dir", str(tmp_path / "keys")]) == 0
    assert set(pd.read_csv(tmp_path / "keys" / "results.csv").detector) == set(detectors) - {"lstm_ae"}
    experiment.write_text(json.dumps(values))
    values = json.loads(experiment.read_text())
    experiment.write_text(json.dumps({**values, "overrides": {"*": {"threshold_quantile": 0.99}}}))
    with pytest.raises(UserError, match="no finished run to summarise"):
        reproduce.main([str(experiment), "--summary-only", "--summary-dir", str(tmp_path / "fourth")])


def test_a_control_scores_points_not_windows(tmp_path):
    """random and abs_z score each point: a beat's score is its largest point score, whatever l_win. Their
    metrics.json said "span": 20 (the l_win they never read) beside "native_unit": "point", and an l_win longer than
    a beat refused them ("l_win = 150 is longer than one ECG5000 segment")."""
    for detector in ("random", "abs_z"):
        config = ecg_config(tmp_path, detector=detector, l_win=150, l_seq=2)
        assert beats.check_config(config) and beats.unit_span(config) == 1
        assert beats.check_config(ecg_config(tmp_path, detector=detector, window_stride=140))  # no window to leave out
    assert beats.unit_span(ecg_config(tmp_path, detector="lstm_ae", l_win=140)) == 140
    assert beats.unit_span(ecg_config(tmp_path)) == 140  # vae_lstm: a sequence of 20 * 7


def test_scores_that_are_not_finite_are_one_line_about_the_model():
    """A model whose outputs overflow (float32 squared errors past 3.4e38) scores beats inf: that was numpy's
    ValueError "a beat has no finite score" from the metrics, with a traceback; now the line that the series' scoring
    gives (``detection.require_finite``)."""
    from vae_lstm.detectors.base import Scores

    class Overflowing:
        name = "vae_lstm"

        def score(self, series):
            points = np.zeros(len(series))
            points[13] = np.inf
            return Scores.from_points(points)

    with pytest.raises(UserError) as refused:
        beats.score_segments(Overflowing(), np.zeros((3, 10, 1)))
    assert str(refused.value) == (
        "vae_lstm gives scores that are not finite on the validation and test beats (1 of its 30 point scores): its "
        "model may have diverged; train it again (a lower learning rate) or check the data")
    Overflowing.score = lambda self, series: Scores.from_points(np.full(len(series), np.nan))  # NaN weights
    with pytest.raises(UserError, match=r"not finite on the validation and test beats \(30 of its 30 point scores\)"):
        beats.score_segments(Overflowing(), np.zeros((3, 10, 1)))

    def some_nan(self, series):  # NaN on the second beat only: its score was NaN, and the metrics' ValueError followed
        points = np.arange(len(series), dtype=float)
        points[10:20] = np.nan
        return Scores.from_points(points)

    Overflowing.score = some_nan
    with pytest.raises(UserError) as refused:
        beats.score_segments(Overflowing(), np.zeros((3, 10, 1)))
    assert str(refused.value) == (
        "vae_lstm gives no finite score inside 1 of the 3 validation and test beats: its model may have diverged; "
        "train it again (a lower learning rate) or check the data")

    # a detector that scores the units inside the beats alone (inside_scores), which never scores the units that
    # straddle two beats: an inf inside one is refused as the joined scores' is, a beat of NaN units too
    units = np.arange(21, dtype=float).reshape(3, 7)  # 3 beats of 10 points, units of 4 points: 7 inside each
    units[1, 3] = -np.inf
    Overflowing.inside_scores = lambda self, segments: units
    with pytest.raises(UserError) as refused:
        beats.score_segments(Overflowing(), np.zeros((3, 10, 1)))
    assert str(refused.value) == (
        "vae_lstm gives scores that are not finite on the validation and test beats (1 of its 21 native scores inside "
        "them): its model may have diverged; train it again (a lower learning rate) or check the data")
    units[1] = np.nan
    with pytest.raises(UserError, match="^vae_lstm gives no finite score inside 1 of the 3 validation and test beats"):
        beats.score_segments(Overflowing(), np.zeros((3, 10, 1)))
    units[1] = [np.nan, 9, 8, 7, np.nan, 8, 9]  # NaN units beside finite ones: the largest of those, as in score's
    assert beats.score_segments(Overflowing(), np.zeros((3, 10, 1))).tolist() == [6, 9, 20]
