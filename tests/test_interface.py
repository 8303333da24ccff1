"""The detector interface, the one map from units to time, and known-answer scores from hand-built models.

The stub models below have fixed, simple behaviour, so every score can be worked out on paper:
- the encoder's code of a window is its first value (code_size 1, std 1);
- the LSTM predicts that the next code equals the current one;
- the decoder turns code c into a window filled with c.
"""

import json

import numpy as np
import pytest

from vae_lstm import detection, evaluation, windowing
from vae_lstm.config import from_dict
from vae_lstm.detectors import CONTROLS, DETECTORS, detector_class, get_detector
from vae_lstm.detectors.base import Scores
from vae_lstm.scoring import score_vae_lstm, score_vae_windows

# ---- the one map from units to time ----


def test_unit_span_is_inclusive():
    first, last = windowing.unit_span([0, 5], 4)
    assert list(first) == [0, 5] and list(last) == [3, 8]


def test_points_from_units_hand_computed():
    # 3 units of span 3 over 5 points: point t is covered by units max(t-2, 0) .. min(t, 2)
    out = windowing.points_from_units([1.0, 5.0, 2.0], 3, 5)
    np.testing.assert_array_equal(out, [1.0, 5.0, 5.0, 5.0, 2.0])


def test_points_from_units_span_1_is_identity_and_uncovered_points_are_nan():
    np.testing.assert_array_equal(windowing.points_from_units([3.0, 1.0], 1, 2), [3.0, 1.0])
    out = windowing.points_from_units([4.0], 2, 3)  # unit 0 covers points 0 and 1 only
    assert out[:2].tolist() == [4.0, 4.0] and np.isnan(out[2])


def test_points_from_units_leave_the_points_a_nan_unit_covers_nan():
    """Unit 1 (NaN) covers points 1 and 2: an unknown score is not taken as a low one, so they stay NaN rather than
    take unit 0's 1.0 and unit 2's 2.0; point 5, which no unit covers, is NaN too."""
    out = windowing.points_from_units([1.0, np.nan, 2.0, 0.5], 2, 6)
    np.testing.assert_array_equal(out, [1.0, np.nan, np.nan, 2.0, 0.5, np.nan])


def test_points_from_units_brute_force():
    rng = np.random.default_rng(0)
    for span, n_units in [(1, 7), (4, 9), (6, 1), (5, 30)]:
        s = rng.random(n_units)
        n = n_units + span - 1
        expected = [max(s[u] for u in range(n_units) if u <= t <= u + span - 1) for t in range(n)]
        np.testing.assert_allclose(windowing.points_from_units(s, span, n), expected)


def test_units_from_points_hand_computed_and_ignores_nan():
    p = np.array([np.nan, 1.0, 3.0, 0.0, 2.0])
    np.testing.assert_array_equal(windowing.units_from_points(p, 2), [1.0, 3.0, 3.0, 2.0])
    assert np.isnan(windowing.units_from_points([np.nan, np.nan, 1.0], 2)[0])


def test_sequence_labels_use_the_same_map():
    # anomaly at 6, span 4: sequences 3..6 hold it
    labels = evaluation.sequence_labels([6], 8, 4)
    assert np.flatnonzero(labels).tolist() == [3, 4, 5, 6]


def test_scores_sequences_use_native_scores_only_at_the_same_span():
    s = Scores.from_units([1.0, 9.0, 2.0], 3, 5)
    np.testing.assert_array_equal(s.sequences(3), [1.0, 9.0, 2.0])
    np.testing.assert_array_equal(s.sequences(4), [9.0, 9.0])  # max of points [1, 9, 9, 9, 2] over 4


# ---- the registry ----


def test_registry_names_the_schema_enum_and_every_class_loads():
    from vae_lstm.config import load_schema

    assert load_schema()["properties"]["detector"]["enum"] == list(DETECTORS)
    for name in DETECTORS:
        assert detector_class(name).name == name
    assert set(CONTROLS) <= set(DETECTORS)


def test_a_registered_class_that_names_itself_otherwise_is_refused_at_lookup(monkeypatch):
    """A detector registered as 'mine' whose class says name = "abs_z" (copied from controls.py) keyed its results
    by 'abs_z': the abs_z control was then never scored beside it, and detect.py ended in KeyError: 'mine'."""
    from vae_lstm.errors import UserError

    monkeypatch.setitem(DETECTORS, "mine", "controls:AbsZDetector")
    with pytest.raises(UserError) as refused:
        detector_class("mine")
    assert str(refused.value) == ("detector 'mine' is registered as controls:AbsZDetector, whose name is 'abs_z': "
                                  "set name = 'mine' in that class (detection keys its results by it)")


def test_near_miss_names_in_the_registries_get_a_did_you_mean():
    """detector_class("vae_lstn") was a KeyError listing every name; the config, the experiment files and the
    command-line options suggest the near one, and so do the registries' own lookups now."""
    from vae_lstm import thresholds
    from vae_lstm.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        detector_class("vae_lstn")
    assert str(refused.value) == "unknown detector 'vae_lstn'; did you mean 'vae_lstm'?"
    with pytest.raises(ConfigError, match=r"^unknown detector 'nothing_like_it'; known: vae_lstm, vae, lstm_ad, "):
        detector_class("nothing_like_it")
    with pytest.raises(ConfigError) as refused:
        thresholds.compute_threshold("val_quantil", val_scores=[1.0, 2.0])
    assert str(refused.value) == "unknown threshold rule 'val_quantil'; did you mean 'val_quantile'?"
    with pytest.raises(ConfigError) as refused:
        evaluation.choose_threshold("oracle_best_F1", test_scores=[1.0], test_labels=[1])
    assert str(refused.value) == "unknown threshold rule 'oracle_best_F1'; did you mean 'oracle_best_f1'?"


def test_a_registered_detector_that_fits_but_cannot_load_is_refused_at_lookup(monkeypatch):
    """A detector written to the README's "two methods" (fit and score) saved its fit, but detect.py, which scores a
    trained run in a new process, never read it back (Detector.load does nothing): its scores came from the state
    __init__ left, silently, or ended in a traceback."""
    import sys
    import types

    from vae_lstm.detectors.base import Detector
    from vae_lstm.errors import UserError

    class MeanDetector(Detector):
        name = "mine"
        trained_files = ("mean.json",)

        def fit(self, train_series, run_dir):
            self.mean = float(np.mean(train_series))

        def score(self, series):
            return Scores.from_points(np.abs(np.asarray(series)[:, 0] - self.mean))

    module = types.ModuleType("vae_lstm.detectors.mine")
    module.MeanDetector = MeanDetector
    monkeypatch.setitem(sys.modules, "vae_lstm.detectors.mine", module)
    monkeypatch.setitem(DETECTORS, "mine", "mine:MeanDetector")
    with pytest.raises(UserError) as refused:
        detector_class("mine")
    assert str(refused.value) == ("detector 'mine' (mine:MeanDetector) defines fit but not load: detect.py scores a "
                                  "trained run in a new process, from what load(run_dir) reads back")
    MeanDetector.load = lambda self, run_dir: None
    assert detector_class("mine") is MeanDetector
    del MeanDetector.score  # Detector.score raised a NotImplementedError with no message
    with pytest.raises(UserError) as refused:
        detector_class("mine")
    assert str(refused.value) == "detector 'mine' (mine:MeanDetector) defines no score(series) returning a Scores"
    with pytest.raises(NotImplementedError, match=r"^MeanDetector defines no score\(series\) returning a Scores$"):
        MeanDetector(from_dict({})).score(np.zeros((3, 1)))


def test_a_detector_of_ones_own_fitted_from_python_is_scored_by_detect(tmp_path):
    """A detector of one's own whose fit saves its file and leaves the run folder to the interface (no
    check_training with run_dir) got state.json's fitted mark and no config.json: detect.py then refused the folder
    as one that 'holds training but no config.json' and told to put back a file it never had."""
    from pathlib import Path

    from vae_lstm.detectors.base import Detector
    from vae_lstm.runs import check_run_config, check_training_data, refuse_unfinished

    class MeanDetector(Detector):
        name = "mine"
        trained_files = ("mean.json",)

        def fit(self, train_series, run_dir):
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            (Path(run_dir) / "mean.json").write_text(json.dumps(float(np.mean(train_series))))

        def load(self, run_dir):
            self.mean = json.loads((Path(run_dir) / "mean.json").read_text())

        def score(self, series):
            return Scores.from_points(np.abs(np.asarray(series)[:, 0] - self.mean))

    config = from_dict({"n_channel": 1})
    train = np.sin(np.arange(200.0))[:, None]
    MeanDetector(config).fit(train, tmp_path)
    check_run_config(config, tmp_path)  # what detect.py checks before it loads the detector
    refuse_unfinished(config, tmp_path)
    check_training_data(tmp_path, train, config)
    assert json.loads((tmp_path / "config.json").read_text())["n_channel"] == 1


def test_controls_known_answers():
    cfg = from_dict({"detector": "abs_z", "seed": 3})
    series = np.array([[0.5, -2.0], [1.0, 0.0], [-3.0, 1.0]])
    np.testing.assert_array_equal(get_detector(cfg).score(series).points, [2.0, 1.0, 3.0])
    rnd = get_detector(cfg.replace(detector="random"))
    a, b = rnd.score(series).points, rnd.score(series).points
    np.testing.assert_array_equal(a, b)  # seeded: the same series gets the same scores
    assert ((0 <= a) & (a < 1)).all()
    other = get_detector(cfg.replace(detector="random", seed=4)).score(series).points
    assert not np.array_equal(a, other)


# ---- known-answer scores from hand-built models ----


class _Predictor:
    def __init__(self, fn):
        self.fn = fn

    def predict(self, x, batch_size=None, verbose=0):
        return self.fn(np.asarray(x, dtype="float32"))


class StubVAE:
    """code = first value of the window; decoder fills the window with the code."""

    def __init__(self, l_win):
        self.encoder = _Predictor(lambda w: (w[:, :1, 0], np.ones((len(w), 1), "float32")))
        self.decoder = _Predictor(lambda z: np.repeat(z[:, None, :], l_win, axis=1))

    def sigma2(self):
        return 1.0


IDENTITY_LSTM = _Predictor(lambda codes: codes)


def hand_vae_lstm_score(x, s, l_win, l_seq):
    """Sequence s: window k (k = 1 .. l_seq - 1) is predicted as filled with the first value of window k - 1."""
    total = 0.0
    for k in range(1, l_seq):
        previous_code = x[s + (k - 1) * l_win]
        for j in range(l_win):
            total += (x[s + k * l_win + j] - previous_code) ** 2
    return total


def hand_vae_score(x, s, l_win, l_seq):
    """Sequence s: the VAE rebuilds window k from its own first value, for k = 1 .. l_seq - 1."""
    total = 0.0
    for k in range(1, l_seq):
        start = s + k * l_win
        total += sum((x[start + j] - x[start]) ** 2 for j in range(l_win))
    return total


@pytest.fixture
def ramp_series():
    rng = np.random.default_rng(1)
    return rng.standard_normal(40).astype("float32")


def test_vae_lstm_score_known_answer(ramp_series):
    l_win, l_seq = 4, 3
    out = score_vae_lstm(StubVAE(l_win), IDENTITY_LSTM, ramp_series[:, None], l_win, l_seq)
    expected = [hand_vae_lstm_score(ramp_series, s, l_win, l_seq) for s in range(40 - l_win * l_seq + 1)]
    np.testing.assert_allclose(out.scores, expected, rtol=1e-5)


def test_vae_score_known_answer(ramp_series):
    l_win, l_seq = 4, 3
    seq, window_errors = score_vae_windows(StubVAE(l_win), ramp_series[:, None], l_win, l_seq)
    expected = [hand_vae_score(ramp_series, s, l_win, l_seq) for s in range(40 - l_win * l_seq + 1)]
    np.testing.assert_allclose(seq, expected, rtol=1e-5)
    x = ramp_series
    np.testing.assert_allclose(window_errors[5], sum((x[5 + j] - x[5]) ** 2 for j in range(l_win)), rtol=1e-5)


def test_detectors_turn_native_scores_into_points_with_the_one_map(ramp_series):
    """With point_score max_sequence, the VAE-LSTM detector's point score is the largest score of the
    sequences covering the point (the other point scores are tested in test_scoring.py)."""
    from vae_lstm.detectors.vae_lstm import VAELSTMDetector

    cfg = from_dict({"l_win": 8, "l_seq": 3, "code_size": 1, "point_score": "max_sequence"})
    det = VAELSTMDetector(cfg)
    det.vae, det.lstm = StubVAE(8), IDENTITY_LSTM
    x = np.random.default_rng(2).standard_normal(60).astype("float32")
    scores = det.score(x[:, None])
    seq = [hand_vae_lstm_score(x, s, 8, 3) for s in range(60 - 24 + 1)]
    assert scores.native_span == 24
    np.testing.assert_allclose(scores.native, seq, rtol=1e-5)
    t = 30  # covered by sequences 7 .. 30
    assert scores.points[t] == pytest.approx(max(seq[7:31]), rel=1e-5)
    assert scores.points[0] == pytest.approx(seq[0], rel=1e-5)


# ---- detection: labels and validation sequences ----


def test_detection_labels_sequences_over_the_whole_span(monkeypatch):
    """A sequence covers l_win * l_seq points, not l_win: labels come from that span."""
    cfg = from_dict({"dataset": "synthetic", "detector": "abs_z", "l_win": 16, "l_seq": 3})
    from vae_lstm.data_loader import load_series

    series = load_series("synthetic")
    result = detection.score_detector(get_detector(cfg), cfg, series, detection.validation_index(cfg, 2000))
    piece = series.test_pieces[0]
    labels = result.pieces[0].labels
    n_seq = len(piece.values) - 48 + 1
    assert len(labels) == n_seq
    expected = np.zeros(n_seq, bool)
    for a in piece.anomaly_idx:
        expected[max(a - 47, 0): a + 1] = True
    np.testing.assert_array_equal(labels, expected)


class _OwnDetector:
    """A researcher's detector whose ``score`` breaks the Scores contract in the way ``make`` says."""

    name = "mine"

    def __init__(self, make):
        self.make = make

    def calibrate(self, train_series):
        pass

    def score(self, series):
        return self.make(np.abs(np.asarray(series, float)).max(axis=1))


@pytest.mark.parametrize("make, says", [
    (lambda s: s, "detector 'mine' returned a ndarray from score on the training block, not a Scores"),
    (lambda s: list(s), "detector 'mine' returned a list from score on the training block, not a Scores"),
    (lambda s: Scores.from_points(s[:-3]), "detector 'mine' gave 1997 point scores for the 2000 points of the "
                                            "training block: score returns one per point"),
    (lambda s: Scores.from_points(np.stack([s, s], 1)), "detector 'mine' gave point scores of shape (2000, 2) for "
                                                         "the 2000 points of the training block"),
    (lambda s: Scores(s, s[:-50], 48), "detector 'mine' gave 1950 native scores of span 48 for the 2000 points of "
                                       "the training block: one per unit, 1953"),
])
def test_a_detector_that_breaks_the_scores_contract_is_one_line_naming_it(make, says):
    """A detector of one's own whose score returns the wrong thing was a traceback from deep in the metrics (an
    IndexError 'index 1997 is out of bounds', 'scores and labels differ in length', AttributeError 'points')."""
    from vae_lstm.data_loader import load_series
    from vae_lstm.errors import UserError

    cfg = from_dict({"dataset": "synthetic", "detector": "abs_z", "l_win": 16, "l_seq": 3})
    with pytest.raises(UserError) as refused:
        detection.score_detector(_OwnDetector(make), cfg, load_series("synthetic"), detection.validation_index(cfg, 2000))
    assert str(refused.value).startswith(says)


def test_validation_sequences_are_the_ones_the_lstm_held_out():
    from vae_lstm.windowing import train_val_split

    cfg = from_dict({"dataset": "synthetic", "l_win": 16, "l_seq": 3, "seed": 5, "val_fraction": 0.2})
    n_seq = 2000 - 48 + 1
    lstm_train, lstm_val = train_val_split(n_seq, 0.2, 5)  # the LSTM trainer's split (same call)
    index = detection.validation_index(cfg, 2000)
    np.testing.assert_array_equal(index, lstm_val)
    assert not set(index) & set(lstm_train)
    assert len(index) == n_seq - int(np.floor(n_seq * 0.8 + 1e-9))


def test_metrics_json_names_each_detector(tmp_path):
    """A control-only run (nothing to train) goes through train, detect and the report."""
    from vae_lstm import cli

    path = tmp_path / "abs_z.json"
    path.write_text(json.dumps({"dataset": "synthetic", "detector": "abs_z", "l_win": 16, "l_seq": 3,
                                "exp_name": "ctrl", "output_dir": str(tmp_path / "runs")}))
    assert cli.train_main(["--config", str(path)]) == 0
    assert cli.detect_main(["--config", str(path)]) == 0
    metrics = json.loads((tmp_path / "runs" / "ctrl" / "synthetic_abs_z_lwin16_lseq3_code6_seed0" / "detection"
                          / "metrics.json").read_text())
    assert metrics["detectors"] == ["abs_z", "random"]
    # abs_z ranks the synthetic spikes and level shifts well above the random control
    assert metrics["abs_z"]["all"]["average_precision"] > metrics["random"]["all"]["average_precision"] + 0.2


def test_lstm_learns_the_next_codes_not_its_input(tmp_path, monkeypatch):
    """The LSTM's target is the codes of windows 1 .. l_seq - 1 of a sequence; its input, windows 0 .. l_seq - 2."""
    from vae_lstm.detectors.vae_lstm import LSTMTrainer

    cfg = from_dict({"l_win": 8, "l_seq": 3, "code_size": 1, "num_epochs_lstm": 1})
    x = np.arange(60, dtype="float32")[:, None]  # code of window w = x[w] = w
    trainer = LSTMTrainer(cfg, tmp_path, x, StubVAE(8))
    seen = {}
    monkeypatch.setattr(LSTMTrainer, "fit", lambda self, x, y, validation_data: seen.update(x=x, y=y, val=validation_data))
    monkeypatch.setattr(trainer.model, "load", lambda: None)
    trainer.train()
    starts = trainer.train_index
    np.testing.assert_array_equal(seen["x"][:, :, 0], starts[:, None] + np.array([0, 8]))
    np.testing.assert_array_equal(seen["y"][:, :, 0], starts[:, None] + np.array([8, 16]))
    val_x, val_y = seen["val"]
    np.testing.assert_array_equal(val_y[:, :, 0], trainer.val_index[:, None] + np.array([8, 16]))
    assert not set(trainer.val_index) & set(starts)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DETECTORS))
def test_every_detector_trains_and_detects_through_the_commands(name, tmp_path):
    """codes/train.py then codes/detect.py, with a tiny synthetic config naming each detector."""
    from vae_lstm import cli

    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({
        "exp_name": "each", "dataset": "synthetic", "detector": name, "l_win": 16, "l_seq": 3, "code_size": 2,
        "num_hidden_units": 16, "num_hidden_units_lstm": 8, "batch_size": 256, "batch_size_lstm": 256,
        "num_epochs_vae": 1, "num_epochs_lstm": 1, "output_dir": str(tmp_path / "runs")}))
    assert cli.train_main(["--config", str(path)]) == 0
    assert cli.detect_main(["--config", str(path)]) == 0
    run = tmp_path / "runs" / "each" / f"synthetic_{name}_lwin16_lseq3_code2_seed0"
    metrics = json.loads((run / "detection" / "metrics.json").read_text())
    assert metrics["detector"] == name and metrics["detectors"][0] == name
    n_seq = 4000 - 2000 - 48 + 1
    assert metrics[name]["all"]["n"] == n_seq
    assert set(metrics["detectors"]) == {name, "random", "abs_z"}
    assert json.loads((run / "state.json").read_text())["fitted"] is True


def test_point_metrics_known_answers():
    """Point-level evaluation of hand-made scores: threshold-free metrics on the pooled pieces, the
    val_quantile threshold from the validation unit scores only, and per-piece groups."""
    from sklearn.metrics import average_precision_score

    from vae_lstm import metrics

    cfg = from_dict({"threshold_quantile": 0.5})
    labels_a = np.array([0, 0, 1, 1, 0, 0], bool)
    labels_b = np.array([0, 1, 0, 0, 0, 0], bool)
    scores_a = np.array([0.1, 0.2, 0.9, 0.8, 0.35, 0.1])
    scores_b = np.array([0.2, 0.7, 0.1, 0.4, 0.2, 0.1])
    pieces = [detection.PieceResult(name, 0, None, np.zeros(1), np.zeros(1, bool), s, y)
              for name, s, y in (("a", scores_a, labels_a), ("b", scores_b, labels_b))]
    res = detection.DetectorResult("x", np.zeros(1), pieces, val_point_scores=np.array([0.0, 0.2, 0.4, 0.6]))
    out = detection.point_metrics(cfg, res, {"all": None, "a": ["a"]})
    assert out["rules"]["val_quantile"]["threshold"] == pytest.approx(0.3)  # median of the validation scores
    pooled_s, pooled_y = np.concatenate([scores_a, scores_b]), np.concatenate([labels_a, labels_b])
    assert out["all"]["threshold_free"]["auc_pr"] == pytest.approx(average_precision_score(pooled_y, pooled_s))
    assert out["a"]["threshold_free"]["auc_pr"] == pytest.approx(1.0)
    flagged = out["all"]["rules"]["val_quantile"]
    assert flagged["flagged_fraction"] == pytest.approx(5 / 12)
    expected = metrics.at_predictions(pooled_y, pooled_s >= 0.3)
    assert flagged["pointwise"] == expected["pointwise"] and flagged["affiliation"] == expected["affiliation"]
    assert out["all"]["oracle"]["pointwise"]["f1"] == pytest.approx(evaluation.best_f1(pooled_s, pooled_y, False)["f1"])


def test_contamination_rule_flags_a_share_of_all_pieces_together():
    """One threshold over the pooled test pieces: the 3 highest of 12 scores at contamination 0.25."""
    cfg = from_dict({"contamination": 0.25})
    scores_a = np.array([0.1, 0.2, 0.9, 0.8, 0.35, 0.1])
    scores_b = np.array([0.2, 0.7, 0.1, 0.4, 0.2, 0.1])
    pieces = [detection.PieceResult(name, 0, None, np.zeros(1), np.zeros(1, bool), s, np.zeros(6, bool))
              for name, s in (("a", scores_a), ("b", scores_b))]
    res = detection.DetectorResult("x", np.zeros(1), pieces, val_point_scores=np.array([5.0, 6.0]))
    flags, chosen = detection.point_flags(cfg, res, "contamination")
    assert chosen["threshold"] == pytest.approx(0.7)  # 0.9, 0.8, 0.7: two in piece a, one in piece b
    assert flags[0].tolist() == [False, False, True, True, False, False]
    assert flags[1].tolist() == [False, True, False, False, False, False]


def test_point_rules_calibrate_on_held_out_units():
    seq = Scores.from_units([5.0, 1.0, 9.0, 2.0], 3, 6)
    np.testing.assert_array_equal(detection.validation_point_scores(seq, np.array([1, 3]), 3), [1.0, 2.0])
    win = Scores.from_units([5.0, np.nan, 9.0], 2, 4)  # windows: every unit of the training block
    np.testing.assert_array_equal(detection.validation_point_scores(win, np.array([1]), 3), [5.0, 9.0])


def test_degenerate_point_labels_give_undefined_metrics_not_perfect_ones():
    from vae_lstm import metrics

    y = np.ones(10, bool)
    assert all(np.isnan(v) for v in metrics.threshold_free(np.arange(10.0), y).values())
    assert np.isnan(metrics.oracle(np.arange(10.0), y)["pointwise"]["f1"])
    assert np.isnan(metrics.at_predictions(y, y)["affiliation"]["f1"])


@pytest.mark.parametrize("labels", [[0, 1, 0, np.nan], [0, 1, 0, 2], [0.0, 1.0, 0.0, 0.5]])
def test_labels_other_than_0_and_1_are_refused_not_counted_as_anomalies(labels):
    """A NaN (an unknown label), a 2 or a 0.5 was silently an anomaly for the registry's metrics, where its threshold
    metrics called directly refuse it."""
    from vae_lstm import metrics

    scores = np.array([0.1, 0.9, 0.2, 0.8])
    for call in (lambda: metrics.threshold_free(scores, labels), lambda: metrics.oracle(scores, labels),
                 lambda: metrics.at_threshold(scores, labels, 0.5), lambda: metrics.degenerate(labels)):
        with pytest.raises(ValueError, match="labels must hold only 0 and 1"):
            call()
    assert metrics.at_threshold(scores, [0.0, 1.0, 0.0, 1.0], 0.5)["pointwise"]["f1"] == 1.0  # 0/1 floats are fine



@pytest.mark.parametrize("labels", [[0, 1, 0, 1], [0, 0, 0, 0]])
def test_the_registry_refuses_scores_it_cannot_use_even_for_degenerate_labels(labels):
    """A NaN score was silently never flagged by at_threshold (NaN >= t is False); scores or predictions of another
    length than the labels, or NaN scores, came back as undefined metrics when the labels were all normal; and a
    length mismatch was named as one of "y_true and y_pred", names the caller never used."""
    from vae_lstm import metrics

    nan_scores = np.array([0.1, 0.9, np.nan, 0.8])
    for call in (lambda: metrics.at_threshold(nan_scores, labels, 0.5), lambda: metrics.threshold_free(nan_scores, labels),
                 lambda: metrics.oracle(nan_scores, labels)):
        with pytest.raises(ValueError, match="^scores must be finite$"):
            call()
    short = np.array([0.1, 0.9, 0.2])
    for call in (lambda: metrics.at_threshold(short, labels, 0.5), lambda: metrics.threshold_free(short, labels),
                 lambda: metrics.oracle(short, labels)):
        with pytest.raises(ValueError, match="^scores and labels differ in length: 3 != 4$"):
            call()
    with pytest.raises(ValueError, match="^labels and predictions differ in length: 4 != 3$"):
        metrics.at_predictions(labels, [0, 1, 0])



def test_the_oracle_refuses_a_flaggable_mask_it_cannot_use():
    """A NaN in flaggable was taken as "may be flagged", and a mask of the wrong length was ignored when the labels
    were all normal."""
    from vae_lstm import metrics

    scores = np.array([0.1, 0.9, 0.2, 0.8])
    with pytest.raises(ValueError, match="^flaggable must hold only 0 and 1$"):
        metrics.oracle(scores, [0, 1, 0, 1], flaggable=[1.0, np.nan, 1.0, 1.0])
    for labels in ([0, 1, 0, 1], [0, 0, 0, 0]):
        with pytest.raises(ValueError, match="^scores and flaggable differ in length: 4 != 3$"):
            metrics.oracle(scores, labels, flaggable=[True, True, False])

def test_at_threshold_with_a_nan_threshold_is_undefined_not_flags_nothing():
    """As evaluation.evaluate: a NaN threshold (a rule that gave none) flags nothing only by accident of NaN
    comparisons; every metric is undefined."""
    from vae_lstm import metrics

    out = metrics.at_threshold([0.2, 0.5, 0.9], [0, 1, 1], float("nan"))
    assert np.isnan(out["flagged_fraction"])
    assert all(np.isnan(out[name]["f1"]) for name in metrics.AT_THRESHOLD)

def test_threshold_metrics_of_no_points_are_undefined_without_warnings():
    """at_threshold and at_predictions of empty inputs (a piece every point of which was left out) printed NumPy's
    "RuntimeWarning: Mean of empty slice" and "invalid value encountered in scalar divide" for flagged_fraction."""
    import warnings

    from vae_lstm import metrics

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outs = [metrics.at_threshold([], [], 0.5), metrics.at_predictions([], []),
                metrics.at_predictions([], [], flaggable=[])]
    for out in outs:
        assert set(out) == {*metrics.AT_THRESHOLD, "flagged_fraction"}
        assert np.isnan(out["flagged_fraction"]) and all(np.isnan(out[name]["f1"]) for name in metrics.AT_THRESHOLD)


def test_at_threshold_flags_a_score_equal_to_the_threshold():
    """score >= threshold: at 0.5 the points scoring 0.5 and 0.9 (both anomalies) are flagged, 2 of 3 points."""
    from vae_lstm import metrics

    out = metrics.at_threshold([0.2, 0.5, 0.9], [0, 1, 1], 0.5)
    assert out["pointwise"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert out["flagged_fraction"] == pytest.approx(2 / 3)


def test_threshold_free_metrics_hand_computed():
    """Scores 0.1, 0.4 (normal), 0.35, 0.8 (anomalous). AUC-ROC: of the 4 (anomaly, normal) pairs the anomaly
    scores higher in 3 (0.35 < 0.4): 0.75. AUC-PR (average precision): 0.8 finds half the anomalies at precision
    1, then 0.35 the other half at precision 2/3: 0.5 * 1 + 0.5 * 2/3 = 5/6."""
    from vae_lstm import metrics
    from vae_lstm.metrics import vus

    scores, labels = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1], bool)
    out = metrics.threshold_free(scores, labels)
    assert out["auc_roc"] == pytest.approx(0.75) and out["auc_pr"] == pytest.approx(5 / 6)
    # the VUS entries are the metrics they are named after (here 0.869 and 0.810: a swap would show)
    assert out["vus_pr"] == vus.vus_pr(scores, labels) and out["vus_roc"] == vus.vus_roc(scores, labels)
    assert out["vus_pr"] != pytest.approx(out["vus_roc"], abs=0.01)


def test_at_predictions_hand_computed():
    """Labels: one segment, points 1-4 of 10; predictions: point 2 (inside it) and points 7-8 (outside).
    Pointwise: tp 1, fp 2, fn 3. Point-adjusted: the hit finds the whole segment, tp 4, fp 2, fn 0. Range-based
    (flat, alpha 0): precision is the mean over the two predicted ranges of their share inside a label (1 and 0),
    recall the label's share predicted (1 of 4); swapping labels and predictions would swap the two. Event: recall
    1 (the one segment is hit), precision pointwise 1/3. Affiliation (zone [0, 10], |J| = 4, m = 1): precision
    (1 + integral of (5 - d) / 10 over d in [2, 4]) / 3 = 1.4 / 3; recall (0.9 + 1 + 1.6) / 4 = 0.875. PA%K: F1 0.8
    for K < 25 (1 hit of 4 is more than K%), 2/7 from K = 25, by trapezoids over K / 100."""
    from vae_lstm import metrics

    labels = np.array([0, 1, 1, 1, 1, 0, 0, 0, 0, 0], bool)
    predicted = np.array([0, 0, 1, 0, 0, 0, 0, 1, 1, 0], bool)
    out = metrics.at_predictions(labels, predicted)
    assert out["pointwise"] == pytest.approx({"precision": 1 / 3, "recall": 1 / 4, "f1": 2 / 7})
    assert out["point_adjusted"] == pytest.approx({"precision": 4 / 6, "recall": 1.0, "f1": 0.8})
    assert out["range_based"] == pytest.approx({"precision": 0.5, "recall": 0.25, "f1": 1 / 3})
    assert out["event"] == pytest.approx({"precision": 1 / 3, "recall": 1.0, "f1": 0.5})
    assert out["affiliation"] == pytest.approx({"precision": 1.4 / 3, "recall": 0.875, "f1": 2 * 1.4 / 3 * 0.875
                                                / (1.4 / 3 + 0.875)})
    assert out["pak_auc"]["f1"] == pytest.approx(0.01 * (24 * 0.8 + (0.8 + 2 / 7) / 2 + 75 * 2 / 7))
    assert out["flagged_fraction"] == 0.3


def test_the_oracle_searches_the_quantiles_of_the_points_it_may_flag():
    """990 unscored points at a neutral fill of 0.5 and 10 scored ones, 0.55 .. 1.0, the top three (one segment)
    anomalous: at 0.9 range-based F1 is 1. Quantiles of all 1,000 scores are 0.5 up to the 99th percentile, then 1.0
    alone (range-based F1 0.5: recall 1/3); the quantiles of the 10 scored points fall between every two of them."""
    from vae_lstm import metrics

    scores = np.concatenate([np.full(990, 0.5), np.linspace(0.55, 1.0, 10)])
    labels = np.arange(1000) >= 997
    best = metrics.oracle(scores, labels, flaggable=np.arange(1000) >= 990)["range_based"]
    assert best["f1"] == 1.0 and 0.85 < best["threshold"] <= 0.9  # flags the scores 0.9, 0.95 and 1.0


def test_the_oracle_breaks_ties_towards_the_largest_threshold():
    """Event F1 is 1.0 both at 0.9 (point 1 alone: precision 1, the one segment found) and at every candidate
    down to just above 0.2 (points 1 and 2); the oracle reports the largest, 0.9, the highest score."""
    from vae_lstm import metrics

    event = metrics.oracle(np.array([0.1, 0.9, 0.8, 0.2]), np.array([0, 1, 1, 0], bool))["event"]
    assert event["f1"] == 1.0 and event["threshold"] == 0.9


@pytest.mark.nab
def test_a_dropped_test_piece_is_said_once(nab_dir, monkeypatch, capsys):
    """machine_temp at span 6,000: its first test piece (5,000 points) is too short and is named."""
    monkeypatch.setenv("NAB_DATA_DIR", str(nab_dir))
    cfg = from_dict({"dataset": "machine_temp", "detector": "abs_z", "l_win": 1200, "l_seq": 5})
    result = detection.run_detection(cfg, controls=False)
    captured = capsys.readouterr()
    # on stderr, once, so that 'detect.py ... > results.txt' keeps it out of the results and on the terminal
    assert captured.err.count("test piece 'test_1'") == 1 and "left out" in captured.err
    assert "test piece" not in captured.out
    assert [p.name for p in result.main.pieces] == ["test_2"]


def test_unscored_points_rank_in_the_middle_and_are_never_flagged():
    """A detector's unscored points (NaN) take the median of its validation point scores, not the lowest score:
    at the lowest, a piece starting inside a labelled window counted them as missed anomalies. No rule flags
    them, even at a threshold below that median."""
    from sklearn.metrics import roc_auc_score

    val = np.array([np.nan, 1.0, 2.0, 3.0, 10.0])
    assert detection.neutral_fill(val) == 2.5
    raw = np.array([np.nan, np.nan, 0.5, 4.0, 1.0, 5.0])
    labels = np.array([1, 0, 0, 1, 0, 1], bool)
    filled = detection.fill_unscored(raw, detection.neutral_fill(val))
    np.testing.assert_array_equal(filled, [2.5, 2.5, 0.5, 4.0, 1.0, 5.0])
    # the unscored pair (one anomalous, one not) ties with each other and sits above the scored normal points;
    # at the lowest score (0.5) the anomalous one ranked with the lowest normal points (7 / 9)
    assert roc_auc_score(labels, filled) == pytest.approx(8.5 / 9)
    assert roc_auc_score(labels, detection.fill_unscored(raw)) == pytest.approx(7 / 9)
    piece = detection.PieceResult("a", 0, None, np.zeros(1), np.zeros(1, bool), filled, labels, np.isnan(raw))
    res = detection.DetectorResult("x", np.zeros(1), [piece], val_point_scores=val[1:])
    flags, chosen = detection.point_flags(from_dict({"threshold_rule": "fixed", "threshold_value": 0.8}), res, "fixed")
    assert chosen["threshold"] == 0.8
    assert flags[0].tolist() == [False, False, False, True, True, True]  # 2.5 >= 0.8, yet unscored: not flagged
    flags, chosen = detection.point_flags(from_dict({"threshold_quantile": 0.5}), res, "val_quantile")
    assert chosen["threshold"] == 2.5 and flags[0].tolist() == [False, False, False, True, False, True]


def unscored_sequences_result():
    """score_detector on series whose first three points are unscored, as LSTM-AD's at l_win 1, prediction_horizon 3
    (sequences of 2 points; validation sequences 0, 4 and 6 of the training block)."""
    from types import SimpleNamespace

    from vae_lstm.data_loader import TestPiece
    from vae_lstm.detectors.base import Scores

    nan = np.nan
    points = {"train": [nan, nan, nan, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0], "a": [nan, nan, nan, 5.0, 6.0, 7.0],
              "b": [nan, nan, nan, 2.0, 1.0, 1.0, 1.0]}

    class Unscored:  # the first three points of a series unscored, as LSTM-AD's at l_win 1, prediction_horizon 3
        name = "stand-in"

        def calibrate(self, series):
            pass

        def score(self, series):
            return Scores.from_points(next(v for v in points.values() if len(v) == len(series)))

    series = SimpleNamespace(train=np.zeros((9, 1)), test_pieces=[
        TestPiece(name, 10 * k, np.zeros((len(points[name]), 1)), np.array([], int)) for k, name in enumerate("ab", 1)])
    return detection.score_detector(Unscored(), SimpleNamespace(span=2), series, np.array([0, 4, 6]))


def test_unscored_sequences_rank_below_every_pieces_scored_ones_and_stay_out_of_validation():
    """A sequence with no scored point (LSTM-AD's first l_win + h - 1 points at l_seq 1) took the lowest score of its
    own piece: pooled with a piece scoring lower, piece a's unscored sequences (5.0) ranked above b's scored ones
    (1.0, 2.0), and a threshold of 1.5 flagged them. They now take the lowest over every piece, 1.0. The validation
    sequences hold only scored ones: training sequence 0 (points 0 and 1, unscored) entered at the training block's
    lowest, 10."""
    res = unscored_sequences_result()
    # sequences of 2 points: the larger of each pair; 0 and 1 unscored, 2 from point 3 alone
    assert [p.sequence_scores.tolist() for p in res.pieces] == [[1.0, 1.0, 5.0, 6.0, 7.0], [1.0, 1.0, 2.0, 2.0, 1.0, 1.0]]
    scores, _ = res.test_scores()
    assert (scores[:2] >= 1.5).sum() == 0  # no threshold above every unscored sequence flags one of them
    assert res.val_scores.tolist() == [30.0, 50.0]  # training sequences 4 (points 4, 5) and 6 (points 6, 7)
    assert res.train_scores.max() == 60.0


# What each METRICS_VERSION's scoring gives on ``unscored_sequences_result``'s series: the test pieces' sequence scores
# and the validation sequences' scores, which every sequence metric and threshold of metrics.json reads. A change of
# them must bump METRICS_VERSION, or a stored metrics.json of the old scoring is taken as current (grid.out_of_date).
SCORING_BY_METRICS_VERSION = {
    10: ([[5.0, 5.0, 5.0, 6.0, 7.0], [1.0, 1.0, 2.0, 2.0, 1.0, 1.0]], [10.0, 30.0, 50.0]),
    11: ([[1.0, 1.0, 5.0, 6.0, 7.0], [1.0, 1.0, 2.0, 2.0, 1.0, 1.0]], [30.0, 50.0]),  # unscored: lowest of every piece
}


def test_a_metrics_version_names_one_scoring():
    """Unscored sequences came to take the lowest score over every test piece, and left the validation scores,
    under METRICS_VERSION 10 still: a run's metrics.json of the old scoring was re-used by the grids and reproduce
    as current, though scoring it afresh gave other thresholds and metrics."""
    res = unscored_sequences_result()
    scoring = ([p.sequence_scores.tolist() for p in res.pieces], res.val_scores.tolist())
    assert SCORING_BY_METRICS_VERSION.get(detection.METRICS_VERSION) == scoring, (
        "the scoring changed: bump METRICS_VERSION and record its scoring here")


def test_contamination_never_ranks_the_unscored_points_neutral_fill():
    """The unscored points' neutral fill (2.5, above every scored point here), which no threshold flags, took the top
    two ranks, so contamination 0.25 set its threshold at 2.5 and flagged one point. They now count at the lowest
    score, still among the n = 10: the ceil(0.25 * 10) = 3rd highest is 0.6, three flagged."""
    filled = np.array([2.5, 2.5, 0.1, 0.2, 0.9, 0.3, 0.4, 0.5, 0.6, 0.7])
    unscored = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], bool)
    piece = detection.PieceResult("a", 0, None, np.zeros(1), np.zeros(1, bool), filled, None, unscored)
    res = detection.DetectorResult("x", np.zeros(1), [piece], val_point_scores=np.array([1.0, 2.0, 3.0, 10.0]))
    flags, chosen = detection.point_flags(from_dict({"contamination": 0.25}), res, "contamination")
    assert chosen["threshold"] == 0.6
    assert np.flatnonzero(flags[0]).tolist() == [4, 8, 9]


def test_the_oracle_never_flags_unscored_points_either():
    """The oracle (the best threshold on the test labels) is an upper bound for the label-free rules, which never
    flag a point the detector left unscored; so neither does the oracle. Flagging the unscored pair at 2.5 gave
    pointwise F1 6/7 (tp 3, fp 1), a threshold no rule could use; among the scored points the best is 4.0:
    tp 2, fp 0, fn 1, F1 0.8."""
    from vae_lstm import metrics

    filled = np.array([2.5, 2.5, 0.5, 4.0, 1.0, 5.0])
    labels = np.array([1, 0, 0, 1, 0, 1], bool)
    unscored = np.array([1, 1, 0, 0, 0, 0], bool)
    piece = detection.PieceResult("a", 0, None, np.zeros(1), np.zeros(1, bool), filled, labels, unscored)
    res = detection.DetectorResult("x", np.zeros(1), [piece], val_point_scores=np.array([1.0, 2.0, 3.0, 10.0]))
    oracle = detection.point_metrics(from_dict({}), res, {"all": None})["all"]["oracle"]
    assert oracle["pointwise"]["f1"] == pytest.approx(0.8) and oracle["pointwise"]["threshold"] == 4.0
    assert metrics.oracle(filled, labels)["pointwise"]["f1"] == pytest.approx(6 / 7)  # every point flaggable
    for name, best in oracle.items():  # each metric's best is what its threshold gives with the unscored not flagged
        flagged = (filled >= best["threshold"]) & ~unscored
        assert best["f1"] == pytest.approx(metrics.at_predictions(labels, flagged)[name]["f1"]), name
    # every anomaly unscored: nothing the oracle may flag finds one, so its F1 is 0 and the ratio to it undefined
    hidden = detection.PieceResult("a", 0, None, np.zeros(1), np.zeros(1, bool), filled, labels, labels.copy())
    res = detection.DetectorResult("x", np.zeros(1), [hidden], val_point_scores=np.array([1.0, 2.0, 3.0, 10.0]))
    points = detection.point_metrics(from_dict({}), res, {"all": None})["all"]
    assert points["oracle"]["pointwise"]["f1"] == 0.0 and points["rules"]["val_quantile"]["pointwise"]["f1"] == 0.0
    assert np.isnan(detection._ratio(0.0, 0.0)) and np.isnan(detection._ratio(0.2, float("nan")))
    assert detection._ratio(0.2, 0.4) == 0.5


def test_the_oracle_rule_flags_nothing_when_every_point_is_labelled_anomalous():
    """Under threshold_rule oracle_best_f1 the flags are at the pointwise oracle's threshold, which metrics.json gives
    as NaN (undefined) when the test points are all labelled anomalous; the flags were at the lowest score instead,
    so flagged_ranges.csv and detections.png marked every point as a detection, a perfect score, on one class."""
    scores = np.array([0.3, 0.1, 0.7, 0.2, 0.5])
    piece = detection.PieceResult("a", 0, None, np.zeros(1), np.zeros(1, bool), scores, np.ones(5, bool))
    res = detection.DetectorResult("x", np.zeros(1), [piece], val_point_scores=np.array([0.0, 1.0]))
    result = detection.Detection(from_dict({"threshold_rule": "oracle_best_f1"}), None, None, np.zeros(0, int),
                                 {"x": res}, 0.0)
    flags, thresholds = detection.detection_flags(result, res)
    oracle = detection.point_metrics(from_dict({}), res, {"all": None})["all"]["oracle"]["pointwise"]["threshold"]
    assert np.isnan(oracle) and np.isnan(thresholds[0])
    assert not flags[0].any()


def test_metrics_are_undefined_when_the_scored_points_are_all_anomalous():
    """A detector that leaves its first points unscored (LSTM-AD's l_win + h - 1, say) on a piece whose scored points
    are all labelled anomalous got a perfect oracle F1 for any scores (flag every scored point: every anomaly, no
    normal); every metric of such a group is undefined, as for labels of one class, and says why. (Every anomaly
    unscored stays an F1 of 0: test_the_oracle_never_flags_unscored_points_either.)"""
    from vae_lstm import metrics

    scores = np.array([0.4, 0.4, 0.4, 0.3, 0.1, 0.7, 0.2, 0.5])  # the first three unscored, at a neutral fill
    labels = np.arange(8) >= 3
    unscored = ~labels
    assert metrics.oracle(scores, labels)["pointwise"]["f1"] < 1  # the scores rank badly over all points
    assert np.isnan(metrics.oracle(scores, labels, ~unscored)["pointwise"]["f1"])  # was 1 for any scores
    piece = detection.PieceResult("a", 0, None, np.zeros(1), np.zeros(1, bool), scores, labels, unscored)
    res = detection.DetectorResult("lstm_ad", np.zeros(1), [piece], val_point_scores=np.array([0.0, 1.0]))
    group = detection.point_metrics(from_dict({}), res, {"all": None})["all"]
    assert all(np.isnan(v) for v in group["threshold_free"].values())
    assert all(np.isnan(m["f1"]) for m in group["oracle"].values())
    assert all(np.isnan(m["f1"]) for rule in group["rules"].values() for m in rule.values() if isinstance(m, dict))
    assert group["undefined"] == "the 5 of the 8 points lstm_ad scored are all labelled anomalous: the metrics are undefined"
    result = detection.Detection(from_dict({"threshold_rule": "oracle_best_f1"}), None, None, np.zeros(0, int),
                                 {"lstm_ad": res}, 0.0)
    flags, thresholds = detection.detection_flags(result, res)
    assert np.isnan(thresholds[0]) and not flags[0].any()


def test_the_oracle_bounds_every_one_threshold_rule_even_between_its_quantiles():
    """The quantile-searched oracle metrics (affiliation, range-based, event, PA%K) tried 101 score quantiles
    only, so a rule's threshold between two of them could score higher, and the tables printed ratios to the
    oracle above 1 (up to 1.06). The rules' thresholds are now candidates too. Here the 0.9973 threshold gives
    range-based F1 0.580 against 0.570 at the best quantile."""
    from vae_lstm import metrics

    rng = np.random.default_rng(2)
    labels = np.zeros(600, bool)
    for start in rng.integers(0, 560, 3):
        labels[start:start + rng.integers(5, 40)] = True
    scores = rng.random(600) + labels * rng.random(600) * 0.8
    threshold = 0.9973
    at_rule = metrics.at_threshold(scores, labels, threshold)["range_based"]["f1"]
    assert metrics.oracle(scores, labels)["range_based"]["f1"] < at_rule - 0.005  # the quantiles alone miss it
    piece = detection.PieceResult("a", 0, None, np.zeros(1), np.zeros(1, bool), scores, labels,
                                  np.zeros(600, bool))
    res = detection.DetectorResult("x", np.zeros(1), [piece], val_point_scores=np.array([0.0, 1.0]))
    config = from_dict({"threshold_rule": "fixed", "threshold_value": threshold})
    points = detection.point_metrics(config, res, {"all": None})["all"]

    def res_rules(res):
        return detection.point_metrics(config, res, {})["rules"]

    assert points["rules"]["fixed"]["range_based"]["f1"] == pytest.approx(at_rule)
    one_threshold = [rule for rule, at in res_rules(res).items() if "threshold" in at]
    assert "fixed" in one_threshold and "val_quantile" in one_threshold
    for name, best in points["oracle"].items():
        for rule in one_threshold:
            assert best["f1"] >= points["rules"][rule][name]["f1"] - 1e-12, (name, rule)


def test_the_dynamic_rules_ratio_is_to_the_oracle_of_the_smoothed_scores_it_flags():
    """dynamic flags the EWMA-smoothed point scores, so it could beat the oracle of the raw ones and its ratio
    came out above 1. Here every other point of a 100-point anomaly scores 10, and so do 50 points outside it:
    the best raw threshold (10) flags 100 points, 50 anomalous, F1 0.5; dynamic flags 50 smoothed points, 39
    anomalous, F1 2 * 39 / (50 + 100) = 0.52, once reported as 1.04 of the oracle. Its ratio is now to the
    oracle over the smoothed scores; the other rules' stays to the raw one."""
    from vae_lstm import thresholds

    scores, labels = np.ones(1000), np.zeros(1000, bool)
    labels[600:700] = True
    scores[600:700:2] = scores[0:500:10] = 10.0
    piece = detection.PieceResult("test", 0, None, np.zeros(1), np.zeros(1, bool), scores, labels)
    res = detection.DetectorResult("x", np.zeros(1), [piece], val_point_scores=np.linspace(0.5, 1.5, 20))
    points = detection.point_metrics(from_dict({}), res, {"all": None})
    raw, smoothed = points["all"]["oracle"]["pointwise"], points["all"]["oracle_smoothed"]["pointwise"]
    assert raw["f1"] == pytest.approx(0.5) and raw["threshold"] == 10.0
    assert smoothed == evaluation.best_f1(thresholds.ewma(scores, 105), labels, adjusted=False)
    at = points["all"]["rules"]
    assert at["dynamic"]["pointwise"] == pytest.approx({"precision": 39 / 50, "recall": 39 / 100, "f1": 0.52})
    paper = {"average_precision": 0.0, "oracle_point_adjusted": {"f1": 0.0, "precision": 0.0, "recall": 0.0},
             "oracle_pointwise": {"f1": 0.0}, "point_adjusted": {"f1": 0.0}, "pointwise": {"f1": 0.0}, "threshold": 0.0}
    for rule, f1, oracle in (("dynamic", 0.52, smoothed["f1"]), ("val_quantile", at["val_quantile"]["pointwise"]["f1"],
                                                                   0.5)):
        (row,) = detection.summary_rows({"threshold_rule": rule, "detectors": ["x"],
                                         "x": {"points": points, "all": paper}})
        assert row["ratio_pointwise"] == pytest.approx(f1 / oracle)
        assert row["ratio_affiliation"] == pytest.approx(
            at[rule]["affiliation"]["f1"] / points["all"]["oracle_smoothed" if rule == "dynamic" else "oracle"]
            ["affiliation"]["f1"])
    assert row["ratio_pointwise"] <= 1 and 0.52 / smoothed["f1"] < 1  # dynamic's ratio: 0.52 / 0.70


def test_the_smoothed_oracle_is_not_called_dynamics_bound_where_dynamic_passes_it():
    """On pooled pieces dynamic sets a threshold per piece, so it can beat the best single threshold over the pooled
    smoothed scores: here two pieces of scores ten times apart give dynamic F1 0.59 against that oracle's 0.49. The
    rules table called that oracle "dynamic's bound"; it says the bound holds on one piece only."""
    rng = np.random.default_rng(0)
    pieces = []
    for k, (base, peak) in enumerate(((1.0, 3.0), (10.0, 30.0))):
        scores, labels = base * (1 + 0.05 * rng.standard_normal(1000)), np.zeros(1000, bool)
        labels[600:700], scores[600:700] = True, peak
        pieces.append(detection.PieceResult(f"p{k}", k * 1000, None, np.zeros(1), np.zeros(1, bool), scores, labels))
    res = detection.DetectorResult("x", np.zeros(1), pieces, val_point_scores=np.linspace(0.5, 1.5, 20))
    points = detection.point_metrics(from_dict({}), res, {"all": None, "p0": ["p0"]})
    assert points["all"]["rules"]["dynamic"]["pointwise"]["f1"] > points["all"]["oracle_smoothed"]["pointwise"]["f1"]
    assert points["p0"]["rules"]["dynamic"]["pointwise"]["f1"] <= points["p0"]["oracle_smoothed"]["pointwise"]["f1"]
    table = detection.rules_table({"detectors": ["x"], "x": {"points": points}})
    (label,) = [r for r in table.rule if r.startswith("oracle of the smoothed")]
    assert "bound on one piece only" in label and not label.endswith("(dynamic's bound)")


def test_pandas_inputs_whose_indexes_differ_are_refused_not_paired_by_position():
    """Scores and labels as pandas Series with the same index in another order were paired by position: a perfect
    detector's AUC-PR came back as 0.4 without a word. Equal indexes (or plain arrays) are paired as given."""
    import pandas as pd

    from vae_lstm import metrics

    scores = pd.Series([0.1, 0.2, 0.9, 0.8, 0.1, 0.3], index=[10, 11, 12, 13, 14, 15])
    labels = pd.Series([0, 0, 1, 1, 0, 0], index=scores.index)
    assert metrics.threshold_free(scores, labels)["auc_pr"] == 1.0
    shuffled = labels.iloc[[2, 0, 1, 3, 5, 4]]
    assert metrics.threshold_free(scores.to_numpy(), shuffled.to_numpy())["auc_pr"] < 1.0  # arrays: by position
    for call in (lambda: metrics.threshold_free(scores, shuffled), lambda: metrics.oracle(scores, shuffled),
                 lambda: metrics.at_threshold(scores, shuffled, 0.5)):
        with pytest.raises(ValueError, match="^scores and labels are pandas objects of different indexes"):
            call()
    for call in (lambda: evaluation.summarise(scores, shuffled, 0.5), lambda: evaluation.best_f1(scores, shuffled, True)):
        with pytest.raises(ValueError, match="^scores and y_true are pandas objects of different indexes"):
            call()
    flagged = (scores >= 0.5).iloc[::-1]
    with pytest.raises(ValueError, match="^labels and predictions are pandas objects of different indexes"):
        metrics.at_predictions(labels, flagged)
    with pytest.raises(ValueError, match="^labels and predictions are pandas objects of different indexes"):
        metrics.AT_THRESHOLD["event"](labels, flagged)
    with pytest.raises(ValueError, match="^scores and flaggable are pandas objects of different indexes"):
        metrics.oracle(scores, labels, flaggable=pd.Series(True, index=range(6)))


def test_at_predictions_and_degenerate_refuse_a_flaggable_mask_of_another_length():
    """A flaggable mask of the wrong length stopped at_predictions and degenerate with NumPy's IndexError ("boolean
    index did not match indexed array"), naming no argument."""
    from vae_lstm import metrics

    for call in (lambda: metrics.at_predictions([0, 1, 1, 0], [0, 1, 0, 0], flaggable=[1, 1]),
                 lambda: metrics.degenerate([0, 1, 1, 0], flaggable=[1, 1]),
                 lambda: metrics.at_predictions([0, 0, 0, 0], [0, 1, 0, 0], flaggable=[1, 1])):  # labels of one class
        with pytest.raises(ValueError, match="^labels and flaggable differ in length: 4 != 2$"):
            call()
    assert metrics.degenerate([0, 1, 1, 0], flaggable=[0, 1, 1, 0])  # every scored point anomalous
    assert not metrics.degenerate([0, 1, 1, 0], flaggable=[1, 1, 0, 0])


@pytest.mark.parametrize("threshold", [None, "0.5", [0.5, 0.6], np.array([0.5, 0.6]), np.array([[0.5]]), True,
                                       np.bool_(False)])
def test_a_threshold_that_is_not_one_number_is_refused_in_one_line(threshold):
    """None or a string stopped at_threshold, evaluate and summarise with NumPy's "ufunc 'isnan' not supported", and
    two thresholds with "The truth value of an array ... is ambiguous"."""
    from vae_lstm import metrics

    scores, labels = [0.2, 0.5, 0.9], [0, 1, 1]
    for call in (lambda: metrics.at_threshold(scores, labels, threshold), lambda: evaluation.evaluate(scores, labels, threshold),
                 lambda: evaluation.summarise(scores, labels, threshold)):
        with pytest.raises(ValueError, match="^threshold must be one number, got "):
            call()


@pytest.mark.parametrize("given", [0.5, np.float32(0.5), np.array(0.5), 1])
def test_a_threshold_of_any_numeric_type_is_one_number(given):
    from vae_lstm import metrics

    assert metrics.at_threshold([0.2, 0.5, 0.9], [0, 1, 1], given)["pointwise"]["f1"] == (1.0 if given != 1 else 0.0)
    assert evaluation.evaluate([0.2, 0.5, 0.9], [0, 1, 1], given)["threshold"] == float(given)


@pytest.mark.parametrize("thresholds, says", [(0.85, None), ([[0.85]], "thresholds must be numbers in a 1-D list"),
                                              (["a"], "thresholds must be numbers in a 1-D list")])
def test_the_oracles_extra_thresholds_are_one_number_or_a_list_of_them(thresholds, says):
    """A single threshold (or a nested list) stopped the oracle with NumPy's "all the input arrays must have same
    number of dimensions"."""
    from vae_lstm import metrics

    scores, labels = [0.1, 0.2, 0.9, 0.8, 0.1, 0.3], [0, 0, 1, 1, 0, 0]
    if says:
        with pytest.raises(ValueError, match=f"^{says}"):
            metrics.oracle(scores, labels, thresholds=thresholds)
    else:
        assert metrics.oracle(scores, labels, thresholds=thresholds)["event"]["f1"] == 1.0


def test_the_registries_called_directly_keep_the_modules_promises():
    """Each entry of THRESHOLD_FREE and AT_THRESHOLD, called by name: labels of one class are undefined (NaN), as the
    module says, where auc_pr gave 0.0, and pointwise, point_adjusted and range_based 0.0, or 1.0 for all-anomalous
    labels flagged; labels of 0 and 2 are refused, where auc_roc counted the 2s as anomalies (1.0); and a length
    mismatch is named as scores and labels, not in scikit-learn's words."""
    from vae_lstm import metrics

    scores = np.array([0.1, 0.9, 0.2, 0.8])
    for labels in ([0, 0, 0, 0], [1, 1, 1, 1]):
        for name, fn in metrics.THRESHOLD_FREE.items():
            assert np.isnan(fn(scores, labels)), name
        for name, fn in metrics.AT_THRESHOLD.items():
            assert all(np.isnan(v) for v in fn(labels, [1, 1, 1, 1]).values()), name
    for name, fn in metrics.THRESHOLD_FREE.items():
        assert fn(scores, [0, 1, 0, 1]) == 1.0, name
        with pytest.raises(ValueError, match="^labels must hold only 0 and 1$"):
            fn(scores, [0, 2, 0, 2])
        with pytest.raises(ValueError, match="^scores and labels differ in length: 4 != 3$"):
            fn(scores, [0, 1, 0])
    for name, fn in metrics.AT_THRESHOLD.items():
        assert fn([0, 1, 0, 1], [0, 1, 0, 1])["f1"] == 1.0, name
        with pytest.raises(ValueError, match="^labels and predictions differ in length: 4 != 3$"):
            fn([0, 1, 0, 1], [0, 1, 0])


def test_a_flaggable_mask_of_another_index_than_the_labels_is_refused_where_only_it_decides():
    """at_predictions, threshold_free and degenerate read flaggable beside the labels only to tell whether the points
    scored are all anomalous: a mask of the same index in another order was paired by position, so metrics came
    back as numbers where the points scored (aligned) are all anomalous and every metric is undefined (NaN)."""
    import pandas as pd

    from vae_lstm import metrics

    labels = pd.Series([True, True, False, False], index=list("abcd"))
    scores = pd.Series([0.9, 0.8, 0.1, 0.2], index=labels.index)
    ok = pd.Series([True, True, False, False], index=labels.index)  # the two scored points: both anomalous
    assert np.isnan(metrics.at_predictions(labels, scores >= 0.5, ok)["pointwise"]["f1"])
    reordered = ok.iloc[::-1]  # the same mask, in another order
    for call in (lambda: metrics.at_predictions(labels, scores >= 0.5, reordered),
                 lambda: metrics.threshold_free(scores, labels, reordered),
                 lambda: metrics.degenerate(labels, reordered)):
        with pytest.raises(ValueError, match="^labels and flaggable are pandas objects of different indexes"):
            call()
    assert metrics.degenerate(labels, reordered.to_numpy()) is False  # arrays: by position, as given
