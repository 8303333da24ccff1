"""Detection with a trained run: scores, threshold and labels kept apart, then metrics and figures.

The config's detector is scored beside the two controls (``random`` and ``abs_z``) on the same
pieces and labels. Metrics are on the paper's unit, the sequence of ``span = l_win * l_seq`` points
(a sequence is anomalous when it holds a labelled anomaly): a detector whose native unit is that
sequence is evaluated on its own scores, any other on the largest point score inside each sequence.

Used by detect.py, the detection notebook and reproduce.py, so that all three report the same numbers.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import evaluation, plotting
from .config import Config, write_text_atomic
from .data_loader import Series
from .detectors import CONTROLS, get_detector
from .detectors.base import Scores
from .errors import UserError
from .prepare import check_scorable
from .progress import scoring_pass
from .runs import data_fingerprint, metrics_text, set_aside_metrics
from .thresholds import LABEL_FREE_RULES, pot_note
from .windowing import train_val_split

METRICS_VERSION = 11  # bumped when metrics.json gains or changes metrics; reproduce re-scores older runs


@dataclass
class PieceResult:
    """Scores and labels of one test piece, for one detector: per sequence and per point."""

    name: str
    start: int
    scores: Scores          # the detector's own scores (points and native unit)
    sequence_scores: np.ndarray
    labels: np.ndarray      # per sequence: holds a labelled anomaly timestamp (the paper's labels)
    point_scores: np.ndarray          # per point; unscored points at the median validation point score
    point_labels: np.ndarray | None   # per point: inside a labelled anomaly window (None: no windows)
    unscored: np.ndarray | None = None  # per point: the detector gave it no score (never flagged); None: none

    def flags(self, scores: np.ndarray, threshold: float) -> np.ndarray:
        """Points flagged at ``threshold`` from ``scores`` (these point scores, or a rule's smoothing of them):
        at or above it, and scored by the detector."""
        flagged = np.asarray(scores) >= threshold
        return flagged if self.unscored is None else flagged & ~self.unscored


@dataclass
class DetectorResult:
    name: str
    val_scores: np.ndarray  # sequence scores of the held-out validation sequences of the training block (scored ones)
    pieces: list[PieceResult]
    val_point_scores: np.ndarray = None  # training-block scores point-level rules calibrate on (validation_point_scores)
    train_scores: np.ndarray = None  # sequence scores of every training-block sequence (rule train_max)
    train_point_scores: np.ndarray = None  # native-unit (or own point) scores of the training block (train_max)

    def chosen(self, pieces=None) -> list[PieceResult]:
        """The pieces named in ``pieces`` (all by default), in time order."""
        return [p for p in self.pieces if pieces is None or p.name in pieces]

    def test_scores(self, pieces=None) -> tuple[np.ndarray, np.ndarray]:
        """Sequence scores and labels of the chosen pieces (all by default), concatenated in time order."""
        chosen = self.chosen(pieces)
        return (np.concatenate([p.sequence_scores for p in chosen]),
                np.concatenate([p.labels for p in chosen]))

    def test_points(self, pieces=None) -> tuple[np.ndarray, np.ndarray | None]:
        """Point scores and point labels of the chosen pieces, concatenated in time order."""
        chosen = self.chosen(pieces)
        labels = None if any(p.point_labels is None for p in chosen) else np.concatenate(
            [p.point_labels for p in chosen])
        return np.concatenate([p.point_scores for p in chosen]), labels

    def test_flaggable(self, pieces=None) -> np.ndarray:
        """Per point of the chosen pieces, in time order: whether a threshold may flag it (the detector scored it)."""
        return np.concatenate([np.ones(len(p.point_scores), bool) if p.unscored is None else ~p.unscored
                               for p in self.chosen(pieces)])


@dataclass
class Detection:
    config: Config
    run_dir: Path
    series: Series
    val_index: np.ndarray            # which training-block sequences are the validation ones
    results: dict[str, DetectorResult]
    scoring_seconds: float
    metrics: dict = field(default_factory=dict)

    @property
    def main(self) -> DetectorResult:
        return self.results[self.config.detector]


def validation_index(config: Config, n_train_points: int) -> np.ndarray:
    """The held-out sequences of the training block: the same seeded split as vae_lstm's LSTM uses."""
    n_seq = max(n_train_points - config.span + 1, 0)
    return train_val_split(n_seq, config.val_fraction, config.seed)[1]


def fill_unscored(values, fill: float | None = None) -> np.ndarray:
    """NaN (unscored) entries take ``fill``; by default the lowest score, so that no threshold flags them above a
    scored one (sequence scores)."""
    values = np.asarray(values, dtype=float)
    if np.isnan(values).any():
        if fill is None:
            finite = values[np.isfinite(values)]
            fill = finite.min() if len(finite) else 0.0
        values = np.where(np.isnan(values), fill, values)
    return values


def neutral_fill(calibration: np.ndarray) -> float:
    """The point score given to points a detector does not score (lstm_ad's first l_win + h - 1 points of a
    piece, the VAE-LSTM's first l_win under its prediction-only point scores): the median of its validation
    point scores, which ranks them in the middle rather than last. At the lowest score, they ranked below
    every scored point, so a piece that starts inside a labelled window counted them as missed anomalies,
    and one that starts in normal data as correct rejections, while the controls score every point.
    Threshold rules never flag them (``PieceResult.flags``)."""
    calibration = finite(calibration)
    return float(np.median(calibration)) if len(calibration) else 0.0


def sequence_scores(scores: Scores, span: int, fill: float | None = None) -> np.ndarray:
    """A detector's scores on the evaluation unit; a sequence with no scored point gets ``fill``, by default the
    lowest score (``score_detector`` gives the lowest over every test piece, where they are pooled)."""
    return fill_unscored(scores.sequences(span), fill)


def validation_point_scores(scores: Scores, val_index: np.ndarray, span: int) -> np.ndarray:
    """Training-block scores that point-level threshold rules calibrate on: the detector's native-unit
    scores, since a point is flagged exactly when one of the units covering it scores above the
    threshold (``windowing.points_from_units``). For a detector whose unit is the evaluation sequence,
    only the held-out sequences; for any other, every unit of the training block (its own held-out
    windows are among them).
    """
    if not scores.points_from_native:  # points of their own: every scored point of the training block
        return finite(scores.points)
    return finite(scores.native[val_index] if scores.native_span == span else scores.native)


def finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def require_finite(scores, name: str, where: str, n_points: int, some_scored: bool = False):
    """``scores`` of a series of ``n_points`` points, or one line when they are not what ``Detector.score`` returns
    (``check_scores``), when they hold inf, or (``some_scored``: on the training block, always long enough to score)
    no finite score at all. NaN marks points a detector does not score (LSTM-AD's first l_win + h - 1 of a piece), so
    only the training block can tell a model whose weights diverged."""
    check_scores(scores, name, where, n_points)
    for kind, values in (("point", scores.points), ("native", scores.native)):
        require_finite_values(values, name, where, f"{kind} scores", some_scored)
    return scores


def require_finite_values(values, name: str, where: str, what: str, some_scored: bool = False) -> None:
    """``require_finite``'s line when ``values`` (its ``what``: "native scores") hold inf, or, with ``some_scored``,
    no finite value."""
    values = np.asarray(values, dtype=float)
    if np.isinf(values).any() or (some_scored and not np.isfinite(values).any()):
        raise UserError(f"{name} gives scores that are not finite on {where} ({int((~np.isfinite(values)).sum())}"
                        f" of its {values.size} {what}): its model may have diverged; train it again (a "
                        "lower learning rate) or check the data")


def check_scores(scores, name: str, where: str, n_points: int) -> None:
    """One line when a detector's ``score`` of ``n_points`` points did not return a ``Scores`` of one number per point
    and one per native unit (unit u covers points u .. u + span - 1), which the metrics and labels assume."""
    if not isinstance(scores, Scores):
        raise UserError(f"detector '{name}' returned a {type(scores).__name__} from score on {where}, not a Scores "
                        "(detectors.base.Scores.from_points: one score per point)")
    n_units = n_points - scores.native_span + 1
    for kind, values, wanted, rule in (("point", scores.points, n_points, "score returns one per point"),
                                       ("native", scores.native, n_units, f"one per unit, {n_units}")):
        values = np.asarray(values)
        if values.shape != (wanted,):
            got = f"{len(values)} {kind} scores" if values.ndim == 1 else f"{kind} scores of shape {values.shape}"
            span = f" of span {scores.native_span}" if kind == "native" else ""
            raise UserError(f"detector '{name}' gave {got}{span} for the {n_points} points of {where}: {rule}")
        if values.dtype.kind not in "fiub":
            raise UserError(f"detector '{name}' gave {kind} scores of dtype {values.dtype} on {where}: scores are numbers")


def score_detector(detector, config: Config, series: Series, val_index: np.ndarray) -> DetectorResult:
    """Score the training block (for the validation sequences) and every test piece long enough. Point-level
    rules calibrate on ``validation_point_scores``; ``train_max`` on every scored training point (or unit)."""
    span = config.span
    with scoring_pass("calibrating on the training block"):
        detector.calibrate(series.train)
    with scoring_pass("scoring the training block"):
        train_scores = require_finite(detector.score(series.train), detector.name, "the training block",
                                      len(series.train), some_scored=True)
    val = finite(train_scores.sequences(span)[val_index])  # the scored ones: an unscored one is no normal score
    val_points = validation_point_scores(train_scores, val_index, span)
    fill = neutral_fill(val_points)
    pieces, piece_scores = [], []
    scored = [piece for piece in series.test_pieces if len(piece.values) >= span]  # a shorter one: run_detection says so
    for k, piece in enumerate(scored, 1):
        name = "scoring the test piece" if len(scored) == 1 else f"scoring test piece {k} of {len(scored)} ({piece.name})"
        with scoring_pass(name):
            piece_scores.append(require_finite(detector.score(piece.values), detector.name, f"test piece {piece.name}",
                                               len(piece.values)))
    # a sequence with no scored point (LSTM-AD's first l_win + h - 1 points, where l_win * (l_seq - 1) < h) at the
    # lowest score over every piece: at its own piece's lowest, it ranked above another piece's scored sequences
    lowest = finite(np.concatenate([scores.sequences(span) for scores in piece_scores])) if piece_scores else []
    lowest = float(lowest.min()) if len(lowest) else None
    for piece, scores in zip(scored, piece_scores, strict=True):
        seq = sequence_scores(scores, span, lowest)
        labels = evaluation.sequence_labels(piece.anomaly_idx, len(seq), span)
        unscored = np.isnan(np.asarray(scores.points, dtype=float))
        pieces.append(PieceResult(piece.name, piece.start, scores, seq, labels, fill_unscored(scores.points, fill),
                                  piece.point_labels, unscored if unscored.any() else None))
    train_points = train_scores.native if train_scores.points_from_native else train_scores.points
    return DetectorResult(detector.name, val, pieces, val_points, sequence_scores(train_scores, span),
                          finite(train_points))


# labelled test points from which the metrics (VUS-PR, the oracle sweeps, affiliation: about 10 s per million points
# and detector) say first that they are being computed
LONG_METRICS_POINTS = 200_000


def run_detection(config: Config, path: Path | None = None, controls: bool = True,
                  series: Series | None = None) -> Detection:
    """Score the validation sequences and every test piece with the config's trained detector,
    and with the controls beside it. ``series``: the config's data, when the caller has loaded it
    (``prepare.load_data``; the config must then be the resolved one)."""
    from . import runs
    from .prepare import load_data

    if series is None:
        config, series = load_data(config, verbose=False)
    path = Path(path) if path else runs.latest_run(config, fitted=True)
    runs.check_run_config(config, path)
    runs.refuse_unfinished(config, path)  # a killed fit lacks a model: said as detect.py says it, not "train first"
    detector = get_detector(config)
    detector.require_trained(path)
    runs.check_training_data(path, series.train, config)
    name = config.dataset_name
    check_scorable(config, series)
    runs.check_training_sizes(config, len(series.train))  # what train.py refused is not scored either
    for piece in series.test_pieces:
        if len(piece.values) < config.span:
            print(f"warning: test piece '{piece.name}' of {name} ({len(piece.values)} points) is shorter "
                  f"than one sequence (l_win * l_seq = {config.span}); it is left out of every metric", file=sys.stderr)
        elif config.detector == "lstm_ad" and len(piece.values) < config.l_win + config.prediction_horizon:
            print(f"warning: test piece '{piece.name}' of {name} ({len(piece.values)} points) is too short for "
                  f"lstm_ad to score a point (l_win + prediction_horizon = "
                  f"{config.l_win + config.prediction_horizon}); its points all take the neutral score", file=sys.stderr)
    detector.load(path)
    val_index = validation_index(config, len(series.train))
    started = time.perf_counter()
    results = {detector.name: score_detector(detector, config, series, val_index)}
    seconds = time.perf_counter() - started
    for name in CONTROLS if controls else ():
        if name not in results:
            results[name] = score_detector(get_detector(config.replace(detector=name)), config, series, val_index)
    result = Detection(config, path, series, val_index, results, seconds)
    n_test = sum(len(piece.point_scores) for piece in result.main.pieces)
    if series.labelled and n_test >= LONG_METRICS_POINTS:  # after the last scoring line, tens of seconds of nothing
        names = list(results)
        names = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        print(f"computing the metrics of {names} on {n_test:,} labelled test points", flush=True)
    result.metrics = compute_metrics(result)
    if result.metrics.get("pooled_note"):
        print(f"warning: {result.metrics['pooled_note']}", file=sys.stderr)
    detection_flags(result, result.main)  # a rule the point scores do not allow: one line, before anything is written
    return result


def joined_anomalies(series: Series, pieces: list[PieceResult]) -> str | None:
    """Why the pooled ``all`` row undercounts events: consecutive scored test pieces, joined end to end, where
    a labelled window ends one and another starts the next, so every metric of segments (point-adjusted, PA%K,
    affiliation, range, event, and VUS's ranges) sees one anomaly where each piece's own row sees two; and, for the
    paper's metric, where the last sequence of one and the first of the next both hold a label timestamp (its
    point-adjusted F1 then finds both when it flags either), which can happen where the point labels do not meet.
    None when none meet so."""
    labelled = [p for p in pieces if p.point_labels is not None and len(p.point_labels)]
    pairs = [(a, b) for a, b in zip(labelled[:-1], labelled[1:], strict=True) if a.point_labels[-1] and b.point_labels[0]]
    sequence_pairs = [(a, b) for a, b in zip(pieces[:-1], pieces[1:], strict=True)
                      if len(a.labels) and len(b.labels) and a.labels[-1] and b.labels[0]]
    lines = []
    if pairs:
        around_training = any(a.start + len(a.point_labels) == series.train_start and b.start == series.train_end
                              for a, b in pairs)
        lines.append(
            f"test pieces {', '.join(f'{a.name!r} and {b.name!r}' for a, b in pairs)} meet inside labelled "
            "anomalies: the pooled 'all' row joins the pieces end to end and counts each such pair as one event "
            "in the point-adjusted, PA%K, affiliation, range and event metrics and in VUS's ranges; each piece's own row "
            "counts both"
            + (" (a training block that starts one row later avoids it)" if around_training else ""))
    if sequence_pairs:
        lines.append(
            f"test pieces {', '.join(f'{a.name!r} and {b.name!r}' for a, b in sequence_pairs)} meet inside the "
            "paper's sequence labels (the last sequence of one and the first of the next each hold a label "
            "timestamp): the pooled 'all' row of the paper's metric counts each such pair as one anomaly, which its "
            "point-adjusted F1 finds whole when either piece's part is flagged; each piece's own row counts both")
    return ". ".join(lines) or None


def compute_metrics(result: Detection, rule: str | None = None) -> dict:
    """Metrics of every scored detector, on all pieces and on each piece; ``rule`` stands for the config's
    threshold_rule everywhere, as detect.py's --threshold-rule does."""
    c = result.config if rule is None else result.config.replace(threshold_rule=rule)
    rule = c.threshold_rule
    out = {"metrics_version": METRICS_VERSION, "dataset": c.dataset_name, "detector": c.detector,
           "run_dir": str(result.run_dir), "l_win": c.l_win, "l_seq": c.l_seq, "span": c.span,
           "n_channel": c.n_channel, "threshold_rule": rule, "threshold_quantile": c.threshold_quantile,
           "contamination": c.contamination, "pot_q": c.pot_q, "pot_level": c.pot_level,
           "threshold_value": c.threshold_value,
           "point_score": c.point_score, "point_smoothing": c.point_smoothing, "point_spread": c.point_spread,
           "trailing_scale": c.trailing_scale, "error_scale": c.error_scale,
           "second_term_weight": c.second_term_weight, "reconstruction_weight": c.reconstruction_weight,
           "term_scale": c.term_scale,
           "term_combine": c.term_combine, "term_power": c.term_power, "context_scale": c.context_scale,
           "scoring_seconds": round(result.scoring_seconds, 3), "n_val_sequences": int(len(result.val_index)),
           "detectors": list(result.results), "labelled": result.series.labelled,
           "test_data": evaluation_fingerprint(result.series), "thresholds": THRESHOLD_KEYS}
    if not result.series.labelled:
        out["skipped"] = UNLABELLED
        for name, res in result.results.items():
            out[name] = rule_threshold(c, rule, name, res, test_scores=np.concatenate(
                [p.sequence_scores for p in res.pieces]))
            out[name]["points"] = unlabelled_point_summary(c, res)
        return out
    pieces = result.main.pieces
    groups = {"all": None, **{p.name: [p.name] for p in pieces}} if len(pieces) > 1 else {"all": None}
    joined = joined_anomalies(result.series, pieces)
    if joined:
        out["pooled_note"] = joined
    for name, res in result.results.items():
        test_scores, test_labels = res.test_scores()
        out[name] = rule_threshold(c, rule, name, res, test_scores=test_scores, test_labels=test_labels)
        threshold = out[name]["threshold"]
        for group, names in groups.items():
            scores, labels = res.test_scores(names)
            out[name][group] = evaluation.summarise(scores, labels, threshold)
        out[name]["points"] = point_metrics(c, res, groups)
    return out


# metrics.json says which of a detector's thresholds is which: one rule gives another number on each kind of score
THRESHOLD_KEYS = {
    "<detector>.threshold": "the threshold_rule's threshold on the detector's sequence scores, for the paper's metric "
                            "(the line of score_histograms.png)",
    "<detector>.points.rules.<rule>.threshold": "each label-free rule's threshold on the point scores "
                                                "(threshold_per_piece under dynamic): flagged_ranges.csv and "
                                                "detections.png flag at the config's rule's",
    "<detector>.points.all.oracle.pointwise.threshold": "the best pointwise F1's threshold on the point scores, chosen "
                                                        "with the test labels: flagged_ranges.csv and detections.png "
                                                        "flag at it under threshold_rule oracle_best_f1"}


def evaluation_fingerprint(series: Series) -> str:
    """The sha256 of what a run is evaluated on: each test piece's place, values and labels (its values rounded to 6
    decimals, as ``runs.data_fingerprint`` rounds the training block's). Recorded in metrics.json, so that a grid
    scores a finished run again when its test data or labels changed (labels added to a trained run, say)."""
    import hashlib

    digest = hashlib.sha256(str(series.labelled).encode())
    for piece in series.test_pieces:
        digest.update(f"{piece.name}:{piece.start}:{np.shape(piece.values)}".encode())
        digest.update(data_fingerprint(piece.values)["sha256"].encode())
        digest.update(np.ascontiguousarray(np.asarray(piece.anomaly_idx, np.int64)).tobytes())
        digest.update(b"-" if piece.point_labels is None else np.packbits(np.asarray(piece.point_labels, bool)).tobytes())
    return digest.hexdigest()


def rule_threshold(c: Config, rule: str, name: str, res: DetectorResult, **test) -> dict:
    """{"threshold": the rule's threshold on a detector's sequence scores, for the paper's metric}. A rule that
    these scores do not allow (POT on the ties of sequence maxima, which max-pooled point scores share) leaves it
    NaN, with why: the label-free flags come from the point scores (``detection_flags``), which may allow it."""
    try:
        out = {"threshold": float(sequence_threshold(
            rule, name, val_scores=res.val_scores, quantile=c.threshold_quantile, value=c.threshold_value,
            params=rule_params(c, rule), train_scores=res.train_scores, **test))}
    except UserError as e:
        return {"threshold": float("nan"), "threshold_undefined": str(e).split(";")[0]}
    if rule == "pot" and (note := pot_note(res.val_scores, c.pot_level)):
        out["threshold_few_excesses"] = note
    return out


def sequence_threshold(rule: str, detector: str, **inputs) -> float:
    """The config's rule on a detector's sequence scores (``evaluation.choose_threshold``); one line naming the rule
    when the scores do not allow it (POT with no validation score above its level), or when its threshold is not
    one for the raw scores (dynamic: the EWMA of each piece's scores, which the point-level rules compare)."""
    from .thresholds import THRESHOLD_RULES

    if rule in THRESHOLD_RULES and THRESHOLD_RULES[rule].smoothed:
        raise UserError(f"threshold_rule '{rule}' thresholds each test piece's smoothed scores, not the raw "
                        f"{detector} sequence scores of the paper's metric: see its point-level flags; choose "
                        "another rule for this metric, e.g. threshold_rule val_quantile (detect.py --threshold-rule)")
    try:
        return evaluation.choose_threshold(rule, **inputs)
    except ValueError as e:
        raise UserError(rule_refusal(rule, f"{detector} sequence scores (the paper's metric)", e)) from None


def rule_refusal(rule: str, scores: str, error: Exception) -> str:
    return (f"threshold_rule '{rule}' cannot be set on the {scores}: {' '.join(str(error).split())}; choose another "
            "rule, e.g. threshold_rule val_quantile (detect.py --threshold-rule)")


UNLABELLED = "the data has no labels: metrics that need labels (VUS, AUC, F1) are skipped"


def unlabelled_point_summary(config: Config, res: DetectorResult) -> dict:
    """Without labels: the threshold of each label-free rule and the share of test points it flags."""
    out = {"rules": {}}
    for rule in reported_rules(config):
        try:
            flags, chosen = point_flags(config, res, rule)
        except ValueError as e:
            out["rules"][rule] = {"undefined": " ".join(str(e).split())}
            continue
        flags = np.concatenate(flags) if flags else np.zeros(0, bool)
        out["rules"][rule] = {**chosen, "flagged_fraction": float(flags.mean()) if flags.size else 0.0,
                              "flagged_points": int(flags.sum())}
    return out


def reported_rules(config: Config) -> list[str]:
    """The label-free point-level rules reported: the deployable ones, and the config's own rule."""
    rules, own = list(evaluation.DEPLOYABLE_RULES), config.threshold_rule
    return rules + [own] if own in LABEL_FREE_RULES and own not in rules else rules


def rule_params(config: Config, rule: str) -> dict:
    return {"pot": {"q": config.pot_q, "level": config.pot_level},
            "contamination": {"share": config.contamination}}.get(rule, {})


def point_flags(config: Config, res: DetectorResult, rule: str) -> tuple[list[np.ndarray], dict]:
    """Per-piece point predictions of a rule that uses no test labels, and the threshold(s) it chose.

    ``val_quantile`` and ``pot`` read the validation point scores; ``dynamic`` reads each piece's own
    (unlabelled) point scores, smoothed, and sets one threshold per piece; ``contamination`` reads all
    pieces' point scores together (the unscored ones at the lowest, not at their neutral fill) and flags that share
    of them.
    """
    from . import thresholds

    if rule == "dynamic":
        flags, chosen = [], []
        for piece in res.pieces:
            t = thresholds.compute_threshold("dynamic", test_scores=piece.point_scores)
            flags.append(piece.flags(compared_scores("dynamic", piece), t))
            chosen.append(t)
        short = [f"'{p.name}' ({len(p.point_scores)} points)" for p in res.pieces
                 if thresholds.dynamic_note(len(p.point_scores))]
        if short:  # it flags none of them, whatever the scores (KLSE's test piece of 124 days)
            why = thresholds.dynamic_note(min(len(p.point_scores) for p in res.pieces))  # the same for each
            return flags, {"threshold_per_piece": chosen, "short_pieces": (
                f"it cannot flag a point of test piece(s) {', '.join(short)}: {why}")}
        return flags, {"threshold_per_piece": chosen}
    if rule == "fixed":
        t = float(config.threshold_value)
    else:  # a rule that reads test scores (contamination) reads all pieces' together, the unscored points at the
        # lowest score: their neutral fill, which no threshold flags, could take the top ranks of a share
        scores = np.concatenate([p.point_scores for p in res.pieces])
        t = evaluation.choose_threshold(rule, val_scores=res.val_point_scores, quantile=config.threshold_quantile,
                                        params=rule_params(config, rule), train_scores=res.train_point_scores,
                                        test_scores=fill_unscored(np.where(res.test_flaggable(), scores, np.nan)))
    chosen = {"threshold": float(t)}
    if rule == "pot" and (note := pot_note(res.val_point_scores, config.pot_level)):
        chosen["few_excesses"] = note
    return [piece.flags(piece.point_scores, t) for piece in res.pieces], chosen


def point_metrics(config: Config, res: DetectorResult, groups: dict) -> dict:
    """Point-level metrics on NAB's anomaly windows: threshold-free, at the oracle thresholds (upper
    bounds), and at each rule that uses no test labels."""
    from . import metrics

    rules = reported_rules(config)
    flags, out = {}, {"rules": {}}
    for rule in rules:
        try:
            flags[rule], out["rules"][rule] = point_flags(config, res, rule)
        except ValueError as e:  # e.g. POT with no validation score above its level, dynamic on scores <= 0
            out["rules"][rule] = {"undefined": " ".join(str(e).split())}
    # the rules' own thresholds are oracle candidates too: the oracle then bounds every one-threshold rule
    rule_thresholds = [r["threshold"] for r in out["rules"].values() if np.isfinite(r.get("threshold", np.nan))]
    for group, names in groups.items():
        chosen = [i for i, p in enumerate(res.pieces) if names is None or p.name in names]
        names = [res.pieces[i].name for i in chosen]
        scores, labels = res.test_points(names)
        if labels is None:
            out[group] = {"undefined": "this series has no point labels"}
            continue
        flaggable = res.test_flaggable(names)
        g = {"n": int(len(labels)), "n_anomalous": int(labels.sum()),
             "threshold_free": metrics.threshold_free(scores, labels, flaggable),
             "oracle": metrics.oracle(scores, labels, flaggable, rule_thresholds), "rules": {}}
        if "dynamic" in flags:  # it flags the smoothed scores: the oracle over those is its bound (on one piece)
            smoothed = np.concatenate([compared_scores("dynamic", res.pieces[i]) for i in chosen])
            g["oracle_smoothed"] = metrics.oracle(smoothed, labels, flaggable,
                                                  out["rules"]["dynamic"]["threshold_per_piece"])
        for rule, rule_flags in flags.items():
            g["rules"][rule] = metrics.at_predictions(labels, np.concatenate([rule_flags[i] for i in chosen]), flaggable)
        if metrics.degenerate(labels):
            g["undefined"] = "the point labels are all normal or all anomalous: the metrics are undefined"
        elif metrics.degenerate(labels, flaggable):  # a perfect F1 for any scores
            g["undefined"] = (f"the {int(flaggable.sum())} of the {len(labels)} points {res.name} scored are all labelled "
                              "anomalous: the metrics are undefined")
        out[group] = g
    return out


ORACLE_F1 = {"pointwise": "f1_pointwise_oracle", "point_adjusted": "f1_pa_oracle", "pak_auc": "pak_auc_oracle",
             "affiliation": "f1_affiliation_oracle", "range_based": "f1_range_oracle", "event": "f1_event_oracle"}


def oracle_column(rule: str, metric: str) -> str:
    """The summary column of the oracle F1 that a rule's F1 is divided by: the oracle over the scores the rule
    compares with its threshold (``compared_scores``), the EWMA-smoothed ones under ``dynamic`` (a name apart from
    the rules' ``f1_pointwise_<rule>``)."""
    return f"f1_smoothed_oracle_{metric}" if rule == "dynamic" else f"f1_{metric}_oracle"


def deployable_rule(threshold_rule: str) -> str:
    """The label-free rule the tables call deployable: the config's own, or val_quantile for the oracle."""
    return threshold_rule if threshold_rule in LABEL_FREE_RULES else "val_quantile"


def summary_rows(metrics: dict) -> list[dict]:
    """One flat row per (detector, piece group): point-level metrics first, then the paper's."""
    if not metrics.get("labelled", True):  # the share of test points each label-free rule flags
        return [{"detector": name, "pieces": "all", "labelled": False,
                 **{f"flagged_{rule}": r.get("flagged_fraction", np.nan)
                                                       for rule, r in metrics[name]["points"]["rules"].items()}}
                for name in metrics["detectors"]]
    rows = []
    default_rule = deployable_rule(metrics["threshold_rule"])
    for name in metrics.get("detectors", [metrics.get("detector", "vae_lstm")]):
        points = metrics[name].get("points", {})
        for group, m in metrics[name].items():
            if group in ("threshold", "threshold_undefined", "threshold_few_excesses", "points"):
                continue
            row = {"detector": name, "pieces": group, "labelled": True}
            pm = points.get(group, {})
            if "threshold_free" in pm:
                row.update(pm["threshold_free"])
                row.update({column: pm["oracle"][key]["f1"] for key, column in ORACLE_F1.items()})
                if "oracle_smoothed" in pm:
                    row.update({oracle_column("dynamic", key): pm["oracle_smoothed"][key]["f1"]
                                for key in ("pointwise", "affiliation")})
                for rule, at in pm["rules"].items():
                    row[f"f1_pointwise_{rule}"] = at["pointwise"]["f1"]
                    row[f"f1_affiliation_{rule}"] = at["affiliation"]["f1"]
                    row[f"flagged_{rule}"] = at["flagged_fraction"]
                row["deployable_rule"] = default_rule
                row["f1_deployable"] = row.get(f"f1_pointwise_{default_rule}", np.nan)
                row["f1_affiliation_deployable"] = row.get(f"f1_affiliation_{default_rule}", np.nan)
                # each over the oracle of the scores the rule compares (the smoothed ones under dynamic)
                row["ratio_pointwise"] = _ratio(row["f1_deployable"],
                                                row.get(oracle_column(default_rule, "pointwise"), np.nan))
                row["ratio_affiliation"] = _ratio(row["f1_affiliation_deployable"],
                                                  row.get(oracle_column(default_rule, "affiliation"), np.nan))
            row.update({
                "seq_auc_pr": m["average_precision"],
                "oracle_pa_f1": m["oracle_point_adjusted"]["f1"],
                "oracle_pa_precision": m["oracle_point_adjusted"]["precision"],
                "oracle_pa_recall": m["oracle_point_adjusted"]["recall"],
                "oracle_pw_f1": m["oracle_pointwise"]["f1"],
                "rule_pa_f1": m["point_adjusted"]["f1"], "rule_pw_f1": m["pointwise"]["f1"],
                "threshold": m["threshold"],
            })
            rows.append(row)
    return rows


def _ratio(value: float, oracle: float) -> float:
    """A deployable F1 over its oracle F1; NaN where the oracle's is 0 or undefined (no flaggable anomaly)."""
    return float(value) / oracle if oracle and np.isfinite(oracle) else float("nan")


def share_text(fraction: float, decimals: int = 1) -> str:
    """A share as a percentage to ``decimals`` decimals that reads 0% or 100% only when it is exactly that: a share
    that rounds to either reads "<0.1%" or ">99.9%" (one point of 2000 left out is not all of them)."""
    text, step = f"{100 * fraction:.{decimals}f}%", 10.0 ** -decimals
    if 0 < fraction < 1 and text in (f"{0:.{decimals}f}%", f"{100:.{decimals}f}%"):
        return f"<{step:.{decimals}f}%" if fraction < 0.5 else f">{100 - step:.{decimals}f}%"
    return text


def _f(value) -> str:
    return "   n/a" if value is None or not np.isfinite(value) else f"{value:6.3f}"


def printed_order(value: float, other: float, digits: int = 3) -> int:
    """-1, 0 or 1: ``value`` below, level with or above ``other`` (both finite) as the tables print them, to ``digits``
    decimals: a figure that prints as abs_z's reads level with it, not above or below it."""
    if f"{value:.{digits}f}" == f"{other:.{digits}f}":
        return 0
    return 1 if value > other else -1


def format_unlabelled(metrics: dict) -> str:
    """Without labels: each detector's share of flagged test points under each label-free rule."""
    rules = list(metrics[metrics["detector"]]["points"]["rules"])

    def cell(name: str, rule: str) -> str:
        r = metrics[name]["points"]["rules"][rule]
        return "undefined" if "undefined" in r else f"{share_text(r['flagged_fraction'], 2)} ({r['flagged_points']})"

    cells = {name: [cell(name, rule) for rule in rules] for name in metrics["detectors"]}
    # each column as wide as its widest cell (a count of 10,000 points or more too), at least the header's 22
    widths = [max(22, len(f"{rule} flagged"), *(len(row[k]) for row in cells.values())) for k, rule in enumerate(rules)]
    header = f"{'detector':9} " + " ".join(f"{rule + ' flagged':>{w}}" for rule, w in zip(rules, widths, strict=True))
    lines = [f"no metrics: {metrics['skipped']}", "share of test points flagged, thresholds chosen without labels",
             header, "-" * len(header)]
    for name, row in cells.items():
        lines.append(f"{name:9} " + " ".join(f"{text:>{w}}" for text, w in zip(row, widths, strict=True)))
    lines += undefined_rules(metrics)
    lines.append("random and abs_z are controls: a detector that flags what they flag adds nothing over them")
    return "\n".join(lines)


def undefined_rules(metrics: dict) -> list[str]:
    """One line per detector and point-level rule that its scores do not allow (the tables' "undefined"): why; and
    one per POT threshold fitted on few excesses: on how many; and one where dynamic cannot flag a piece that short; and
    one that says the fixed rule's threshold_value is in each detector's own units (README's rule table)."""
    rules = [(name, rule, r) for name in metrics.get("detectors", [])
             for rule, r in metrics.get(name, {}).get("points", {}).get("rules", {}).items()]
    short = dict.fromkeys(f"{rule}: note: {r['short_pieces']}" for _, rule, r in rules if "short_pieces" in r)
    return ([f"{name} {rule}: undefined: {r['undefined']}" for name, rule, r in rules if "undefined" in r]
            + [f"{name} {rule}: note: {r['few_excesses']}" for name, rule, r in rules if "few_excesses" in r]
            + list(short)  # the pieces' lengths, the same for every detector: once
            + ([f"fixed: threshold_value {metrics.get('threshold_value'):g} is in each detector's own score units: the "
                "controls get the same number in theirs, so their fixed figures compare nothing"]
               if any(rule == "fixed" for _, rule, _ in rules) and metrics.get("threshold_value") is not None else []))


def format_table(metrics: dict) -> str:
    """The detector beside the controls: point-level metrics first, then the paper's metric."""
    if not metrics.get("labelled", True):
        return format_unlabelled(metrics)
    rows = summary_rows(metrics)
    abs_z = {r["pieces"]: r for r in rows if r["detector"] == "abs_z"}
    lines = []
    if any("vus_pr" in r for r in rows):
        header = (f"{'detector':9} {'pieces':7} {'VUS-PR':>6} {'AUC-PR':>6} {'AUC-ROC':>7} | oracle F1 (best fixed threshold): "
                  f"{'PW':>6} {'PA':>6} {'PA%K':>6} {'Aff':>6} {'Range':>6} {'Event':>6}")
        lines += ["point level (labels: every point of a labelled anomaly window)", header, "-" * len(header)]
        for r in (r for r in rows if "vus_pr" in r):
            z = abs_z.get(r["pieces"])
            pairs = [(r[m], z[m]) for m in ("vus_pr", "auc_pr")] if z and r["detector"] not in ("abs_z", "random") else []
            order = [printed_order(*pair) for pair in pairs if None not in pair and np.isfinite(pair).all()]  # undefined: no mark
            mark = " (not above abs_z)" if -1 in order else " (level with abs_z)" if 0 in order else ""
            lines.append(f"{r['detector']:9} {r['pieces']:7} {_f(r['vus_pr'])} {_f(r['auc_pr'])} {_f(r['auc_roc']):>7} |"
                         f" {'':26}{_f(r['f1_pointwise_oracle'])} {_f(r['f1_pa_oracle'])} {_f(r['pak_auc_oracle'])} "
                         f"{_f(r['f1_affiliation_oracle'])} {_f(r['f1_range_oracle'])} {_f(r['f1_event_oracle'])}{mark}")
        rules = list(metrics[metrics["detector"]]["points"]["rules"])
        header = f"{'detector':9} {'pieces':7} " + " ".join(f"{rule + ': PW-F1 / Aff-F1 / flagged':>36}" for rule in rules)
        lines += ["", "point level, thresholds chosen without test labels", header, "-" * len(header)]
        for r in (r for r in rows if "vus_pr" in r):
            cells = [f"{_f(r[f'f1_pointwise_{rule}'])} / {_f(r[f'f1_affiliation_{rule}'])} / "
                     f"{share_text(r[f'flagged_{rule}']):>6}" if f"flagged_{rule}" in r else f"{'undefined':>36}"
                     for rule in rules]
            lines.append(f"{r['detector']:9} {r['pieces']:7} " + " ".join(f"{c:>36}" for c in cells))
        lines += undefined_rules(metrics)
        points = metrics[metrics["detector"]]["points"]
        one_class = [g for g, v in points.items() if g != "rules" and "undefined" in v]
        if one_class:  # n/a rows, as the paper's metric's line below says for its own
            lines.append(f"point level ({', '.join(one_class)}): {points[one_class[0]]['undefined']}, so they are n/a")
        lines.append("")
    header = (f"{'detector':9} {'pieces':7} {'AP':>6} {'oracle PW-F1':>12} {'oracle PA-F1 (P/R)':>22} "
              f"{metrics['threshold_rule'] + ' PW-F1 / PA-F1':>30}")
    lines += ["paper's metric (sequences of l_win * l_seq points holding a label timestamp)", header, "-" * len(header)]
    for r in rows:
        def cell(key, width, r=r):  # n/a, as in the point tables, where a metric is undefined (one class only)
            return f"{_f(r[key]).strip():>{width}}"

        lines.append(f"{r['detector']:9} {r['pieces']:7} {cell('seq_auc_pr', 6)} {cell('oracle_pw_f1', 12)} "
                     f"{cell('oracle_pa_f1', 8)} ({cell('oracle_pa_precision', 0)}/{cell('oracle_pa_recall', 0)}) "
                     f"{cell('rule_pw_f1', 19)} / {cell('rule_pa_f1', 0)}")
    lines.append("VUS = volume under the surface; AP/AUC-PR = average precision; oracle = best threshold chosen on the "
                 "test labels (a bound for any fixed threshold, never deployable); PW = pointwise, PA = point-adjusted (the paper's "
                 "metric, which a random score games), PA%K = area under PA%K F1 over K, Aff = affiliation, "
                 "Range = range-based (Tatbul), Event = composite event F1; random and abs_z are controls")
    undefined = metrics[metrics["detector"]]["all"].get("undefined")
    if undefined:
        lines.append(f"paper's metric: {undefined} (sequence labels), so it is n/a")
    lines += [f"{name}: {metrics[name]['threshold_undefined']}" for name in metrics.get("detectors", [])
              if metrics.get(name, {}).get("threshold_undefined")]
    lines += [f"{name} {metrics['threshold_rule']} on the sequence scores (the paper's metric): note: "
              f"{metrics[name]['threshold_few_excesses']}" for name in metrics.get("detectors", [])
              if metrics.get(name, {}).get("threshold_few_excesses")]
    counts = metrics[metrics["detector"]]["all"].get("normals_above_each_anomaly")
    if counts:  # none where the sequence labels are all one class
        shown = str(counts) if len(counts) <= COUNTS_SHOWN else (
            f"[{', '.join(map(str, counts[:COUNTS_SHOWN]))}, ...] ({len(counts)} anomalies: "
            f"{counts.count(0)} at 0, the most {max(counts)}; every count in metrics.json)")
        lines.append(f"{metrics['detector']}: normal sequences scoring at least each anomaly's best score: {shown}")
    return "\n".join(lines)


COUNTS_SHOWN = 20  # format_table: the normals above each anomaly printed, of thousands of anomalies


def write_report(result: Detection, out_dir: Path | None = None) -> Path:
    """metrics.json and the detection figures, in <run folder>/detection/. A metrics.json there before is kept
    as metrics.previous.json; its ``wall_seconds`` (an experiment's time for the run) stays with the new one
    unless that has its own: from metrics.previous.json when metrics.json lacks it (a scoring that stopped after
    setting it aside, a full disk or a kill, left none)."""
    out_dir = Path(out_dir) if out_dir else result.run_dir / "detection"
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = out_dir / "metrics.json"
    if result.metrics.get("wall_seconds") is None:
        earlier = earlier_wall_seconds(metrics_path)
        earlier = earlier_wall_seconds(metrics_path.with_name("metrics.previous.json")) if earlier is None else earlier
        if earlier is not None:
            result.metrics["wall_seconds"] = earlier
    set_aside_metrics(metrics_path, "flagged_ranges.csv and the figures")
    write_text_atomic(out_dir / "flagged_ranges.csv", flagged_ranges(result).to_csv(index=False))
    draw_figures(result, out_dir)
    write_text_atomic(metrics_path, metrics_text(result.metrics))  # last: a scored run has it all
    return metrics_path


def earlier_wall_seconds(metrics_path: Path) -> float | None:
    """The ``wall_seconds`` of a metrics.json, or None when it has none or cannot be read."""
    try:
        value = json.loads(Path(metrics_path).read_text(encoding="utf-8")).get("wall_seconds")
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        return None
    return value if isinstance(value, (int, float)) else None


def compared_scores(rule: str, piece) -> np.ndarray:
    """The point scores a rule compares with its threshold: the EWMA-smoothed ones under ``dynamic``."""
    from . import thresholds

    return thresholds.scores_for_rule("dynamic", piece.point_scores) if rule == "dynamic" else piece.point_scores


def drawn_scores(rule: str, piece) -> np.ndarray:
    """The scores detections.png draws of a piece: those the rule compares (``compared_scores``), NaN (no score, a
    break in the line) at the points the detector left unscored, whose neutral fill no rule flags: drawn, it was a
    flat run of scores above a low threshold and yet not flagged."""
    scores = np.array(compared_scores(rule, piece), dtype=float)
    if piece.unscored is not None:
        scores[piece.unscored] = np.nan
    return scores


def flagged_ranges(result: Detection):
    """The detector's flagged time ranges at the config's threshold rule on point scores: one row per run
    of flagged points, with its piece, first and last row (0-based in the piece, and in its CSV file), times when the data
    has them (ending in Z when they are UTC), length, the rule and its threshold, and the peak of the scores
    the rule compared with it (``compared_scores``); with several channels, the channel whose training-standardised
    value is furthest from 0 at the run's top point score (over every point at it: ``plotting.run_peak``; the point
    scores, not dynamic's smoothing of them, which climbs through a window detector's top and peaks after it), and
    that value. A DataFrame, written as detection/flagged_ranges.csv."""
    import pandas as pd

    main, series, rule = result.main, result.series, result.config.threshold_rule
    times = series.timestamps if series.timestamps is not None else series.row_times
    # ISO 8601: times converted from their file's UTC offsets say they are UTC (each test file's own)
    row_utc = series.row_utc if series.row_utc is not None else np.full(len(series.normalised), series.utc)
    rows, several = [], series.n_channel > 1
    flags_per_piece, thresholds_per_piece = detection_flags(result, main)
    for piece, flags, t in zip(main.pieces, flags_per_piece, thresholds_per_piece, strict=True):
        compared = compared_scores(rule, piece)
        for a, b in evaluation.segments(flags):
            row = {"piece": piece.name, "first_row": int(a), "last_row": int(b - 1), "n_points": int(b - a)}
            if series.file_rows is not None:  # the rows in the piece's CSV file, where a user looks them up
                row["first_file_row"] = int(series.file_rows[piece.start + a])
                row["last_file_row"] = int(series.file_rows[piece.start + b - 1])
            if times is not None:
                zone = "Z" if row_utc[piece.start + a] else ""
                row["first_time"] = f"{times[piece.start + a]}{zone}"
                row["last_time"] = f"{times[piece.start + b - 1]}{zone}"
            if series.timestamps is None:  # detections.png's time axis is then the index over the whole series
                row["first_index"], row["last_index"] = int(piece.start + a), int(piece.start + b - 1)
            row.update({"rule": rule, "threshold": float(t), "peak_score": float(compared[a:b].max())})
            if several:  # which sensor stands out at the peak: by its own training-standardised value
                peak, k = plotting.run_peak(series.normalised[piece.start:], piece.point_scores, a, b)
                row.update({"peak_channel": series.channels[k],
                            "peak_channel_z": float(series.normalised[piece.start + peak, k])})
            if series.point_labels is not None:
                row["labelled_points"] = int(series.point_labels[piece.start + a: piece.start + b].sum())
            rows.append(row)
    columns = ["piece", "first_row", "last_row", "n_points"] + (
        ["first_file_row", "last_file_row"] if series.file_rows is not None else []) + (
        ["first_time", "last_time"] if times is not None else []) + (
        ["first_index", "last_index"] if series.timestamps is None else []) + [
        "rule", "threshold", "peak_score"] + (["peak_channel", "peak_channel_z"] if several else []) + (
        ["labelled_points"] if series.point_labels is not None else [])
    return pd.DataFrame(rows, columns=columns)


def detection_flags(result: Detection, res: DetectorResult) -> tuple[list[np.ndarray], list[float]]:
    """Per-piece point flags of a detector under the config's rule, and the threshold of each piece
    (the oracle rule: the best pointwise F1 on the test labels, an upper bound)."""
    from . import metrics

    c = result.config
    if c.threshold_rule == "oracle_best_f1":
        scores, labels = res.test_points()
        if labels is None:
            raise UserError("the oracle threshold needs point labels, and this series has none")
        if metrics.degenerate(labels, res.test_flaggable()):  # one class (no anomaly to find, or no normal point
            # among those it scored): the best F1 is undefined, as in metrics.json, so flag nothing
            return [p.flags(p.point_scores, float("nan")) for p in res.pieces], [float("nan")] * len(res.pieces)
        t = evaluation.best_f1(scores, labels, adjusted=False, flaggable=res.test_flaggable())["threshold"]
        return [p.flags(p.point_scores, t) for p in res.pieces], [t] * len(res.pieces)
    try:
        flags, chosen = point_flags(c, res, c.threshold_rule)
    except ValueError as e:
        raise UserError(rule_refusal(c.threshold_rule, f"{res.name} point scores", e)) from None
    return flags, chosen.get("threshold_per_piece", [chosen.get("threshold")] * len(flags))


def draw_figures(result: Detection, out_dir: Path) -> list[Path]:
    from sklearn.metrics import precision_recall_curve

    c, m, main = result.config, result.metrics, result.main
    threshold = m[main.name]["threshold"]
    test_scores, _ = main.test_scores()
    name = c.dataset_name
    which_threshold = ("the paper's metric's threshold" if result.series.labelled else
                       "no labels, so no metric; the flags are at the point scores' threshold")
    paths = [plotting.score_histograms(main.val_scores, test_scores, threshold, out_dir / "score_histograms.png",
                                       f"{name}: {main.name} sequence scores ({which_threshold})",
                                       f"{c.threshold_rule} sequence threshold")]
    flags, point_t = detection_flags(result, main)
    pieces = [{"start": p.start, "scores": drawn_scores(c.threshold_rule, p), "point_scores": p.point_scores,
               "flags": f, "threshold": t}
              for p, f, t in zip(main.pieces, flags, point_t, strict=True)]
    which = "EWMA-smoothed point scores" if c.threshold_rule == "dynamic" else "point scores"
    tested = result.series.test_pieces  # every one, those too short to score among them: their joins are drawn too
    joins = [p.start for before, p in zip(tested, tested[1:], strict=False) if p.start == before.start + len(before.values)]
    paths.append(plotting.detections(
        result.series.normalised, pieces, result.series.anomaly_idx, result.series.point_labels,
        (result.series.train_start, result.series.train_end), out_dir / "detections.png",
        f"{name}: {main.name} detections, {c.threshold_rule} threshold on {which} "
        f"(l_win {c.l_win}, l_seq {c.l_seq}, seed {c.seed})", c.y_scale, result.series.channels,
        result.series.timestamps,
        utc=result.series.utc, score_label=which.removesuffix("s"), threshold_label=f"{c.threshold_rule} threshold",
        joins=joins))
    # the figures below need labels of both classes; one not drawn this time must not stay from an earlier
    # scoring (of other labels) beside this metrics.json
    stale = {"precision_recall.png", "vus_pr.png"}
    if not result.series.labelled:
        _remove_figures(out_dir, stale)
        return paths  # the curves below need labels
    curves = []
    for detector, res in result.results.items():
        scores, labels = res.test_scores()
        if labels.all() or not labels.any():
            continue  # one class only: no precision-recall curve
        precision, recall, _ = precision_recall_curve(labels, scores)
        curves.append({"label": detector, "precision": precision, "recall": recall,
                       "ap": evaluation.average_precision(scores, labels)})
    if curves:
        paths.append(plotting.precision_recall(curves, out_dir / "precision_recall.png",
                                               f"{name}: precision-recall of the sequence scores (the paper's labels)"))
    else:
        print("precision_recall.png is not drawn: the paper's sequence labels of the test pieces are all one class "
              "(every test sequence is labelled anomalous, or none is)")
    vus = {detector: m[detector]["points"]["all"]["threshold_free"]["vus_pr"] for detector in result.results
           if "threshold_free" in m[detector]["points"].get("all", {})}
    if vus and all(np.isfinite(v) for v in vus.values()):
        paths.append(plotting.metric_bars(vus, out_dir / "vus_pr.png", "VUS-PR", f"{name}: point level"))
    else:
        print("vus_pr.png is not drawn: VUS-PR is undefined here (the point labels of the scored test points are "
              "all one class: every one anomalous, or none)")
    _remove_figures(out_dir, stale - {path.name for path in paths})
    return paths


def _remove_figures(out_dir: Path, names) -> None:
    """Remove figures of an earlier scoring that this one does not draw (they would describe other labels)."""
    for figure in names:
        (out_dir / figure).unlink(missing_ok=True)


def _rule_threshold(chosen: dict):
    """A rule's threshold as metrics.json holds it: one number, one per piece, or why it is undefined."""
    return chosen.get("threshold", chosen.get("threshold_per_piece", chosen.get("undefined")))


def rules_table(metrics: dict, pieces: str = "all", shares: bool = False):
    """Point-level F1s of every detector at each threshold rule, the oracle included: a DataFrame. Without
    labels: each rule's threshold and the share of the test points it flags. ``shares``: that share written as the
    printed tables write it (``share_text``: one point of thousands reads "<0.1%", which rounding made 0), and each
    threshold to 4 significant digits (a column that holds dynamic's per-piece lists is one ``round`` leaves as it
    is), and each F1 to 3 decimals, n/a where it is undefined (labels of one class), for the notebook to show."""
    table = _rules_rows(metrics, pieces)
    if shares and "flagged" in table:
        table["flagged"] = ["n/a" if np.isnan(f) else share_text(f) for f in table["flagged"]]
    for column in ("PW-F1", "Aff-F1"):
        if shares and column in table:
            table[column] = [_f(f).strip() for f in table[column]]
    if shares and "threshold" in table:
        table["threshold"] = [_threshold_text(t) for t in table["threshold"]]
    return table


def _threshold_text(threshold) -> str:
    """A threshold of ``_rule_threshold`` to 4 significant digits: one number, one per piece, or why there is none."""
    if isinstance(threshold, str):
        return threshold
    if threshold is None or (isinstance(threshold, float) and np.isnan(threshold)):
        return "n/a"
    return ", ".join(f"{t:.4g}" for t in np.atleast_1d(threshold))


def _rules_rows(metrics: dict, pieces: str):
    import pandas as pd

    rows = []
    if not metrics.get("labelled", True):
        for name in metrics["detectors"]:
            for rule, chosen in metrics[name]["points"]["rules"].items():
                rows.append({"detector": name, "rule": rule, "uses test labels": "no",
                             "threshold": _rule_threshold(chosen),
                             "flagged": chosen.get("flagged_fraction", np.nan)})
        return pd.DataFrame(rows)
    for name in metrics["detectors"]:
        points = metrics[name]["points"]
        if "rules" not in points.get(pieces, {}):
            continue
        for rule, chosen in points["rules"].items():
            at = points[pieces]["rules"].get(rule)
            rows.append({"detector": name, "rule": rule, "uses test labels": "no",
                         "threshold": _rule_threshold(chosen),
                         "PW-F1": at["pointwise"]["f1"] if at else np.nan,
                         "Aff-F1": at["affiliation"]["f1"] if at else np.nan,
                         "flagged": at["flagged_fraction"] if at else np.nan})
        smoothed = "oracle of the smoothed scores (dynamic's ratio is to it; a bound on one piece only)"
        for key, rule in (("oracle", "oracle (best on test labels)"), ("oracle_smoothed", smoothed)):
            oracle = points[pieces].get(key)
            if oracle:
                rows.append({"detector": name, "rule": rule, "uses test labels": "YES",
                             "threshold": oracle["pointwise"].get("threshold"), "PW-F1": oracle["pointwise"]["f1"],
                             "Aff-F1": oracle["affiliation"]["f1"], "flagged": np.nan})
    return pd.DataFrame(rows)
