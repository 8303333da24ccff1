"""Detection with a trained run: scores, threshold and labels kept apart, then metrics and figures.

The config's detector is scored beside the two controls (``random`` and ``abs_z``) on the same
pieces and labels. Metrics are on the paper's unit, the sequence of ``span = l_win * l_seq`` points
(a sequence is anomalous when it holds a labelled anomaly): a detector whose native unit is that
sequence is evaluated on its own scores, any other on the largest point score inside each sequence.

Used by detect.py, the detection notebook and reproduce.py, so that all three report the same numbers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import evaluation, plotting
from .config import Config, check_against_data, run_dir
from .data_loader import Series, load_series
from .detectors import CONTROLS, get_detector
from .detectors.base import Scores
from .errors import UserError
from .windowing import points_from_units, train_val_split

METRICS_VERSION = 1  # bumped when metrics.json gains or changes metrics; reproduce re-scores older runs


@dataclass
class PieceResult:
    """Scores and labels of one test piece, for one detector: per sequence and per point."""

    name: str
    start: int
    scores: Scores          # the detector's own scores (points and native unit)
    sequence_scores: np.ndarray
    labels: np.ndarray      # per sequence: holds a labelled anomaly timestamp (the paper's labels)
    point_scores: np.ndarray          # per point, unscored points at the lowest score
    point_labels: np.ndarray | None   # per point: inside a labelled anomaly window (None: no windows)


@dataclass
class DetectorResult:
    name: str
    val_scores: np.ndarray  # sequence scores of the held-out validation sequences of the training block
    pieces: list[PieceResult]
    val_point_scores: np.ndarray = None  # point scores of the training block used by point-level rules

    def test_scores(self, pieces=None) -> tuple[np.ndarray, np.ndarray]:
        """Sequence scores and labels of the chosen pieces (all by default), concatenated in time order."""
        chosen = [p for p in self.pieces if pieces is None or p.name in pieces]
        return (np.concatenate([p.sequence_scores for p in chosen]),
                np.concatenate([p.labels for p in chosen]))

    def test_points(self, pieces=None) -> tuple[np.ndarray, np.ndarray | None]:
        """Point scores and point labels of the chosen pieces, concatenated in time order."""
        chosen = [p for p in self.pieces if pieces is None or p.name in pieces]
        labels = None if any(p.point_labels is None for p in chosen) else np.concatenate(
            [p.point_labels for p in chosen])
        return np.concatenate([p.point_scores for p in chosen]), labels


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


def fill_unscored(values) -> np.ndarray:
    """NaN (unscored) entries take the lowest score, so that no threshold flags them above a scored one."""
    values = np.asarray(values, dtype=float)
    if np.isnan(values).any():
        finite = values[np.isfinite(values)]
        values = np.where(np.isnan(values), finite.min() if len(finite) else 0.0, values)
    return values


def sequence_scores(scores: Scores, span: int) -> np.ndarray:
    """A detector's scores on the evaluation unit; a sequence with no scored point gets the lowest score."""
    return fill_unscored(scores.sequences(span))


def validation_point_scores(scores: Scores, val_index: np.ndarray, span: int) -> np.ndarray:
    """Point scores of the training block for point-level threshold rules.

    A detector whose native unit is the evaluation sequence: each point's largest score over the
    held-out sequences that cover it (points no held-out sequence covers are left out). Any other
    detector: its point scores over the whole training block (its own held-out windows are inside).
    """
    if scores.native_span == span and len(scores.native):
        held_out = np.full(len(scores.native), -np.inf)
        held_out[val_index] = scores.native[val_index]
        points = points_from_units(held_out, span, len(scores.points))
    else:
        points = scores.points
    return points[np.isfinite(points)]


def score_detector(detector, config: Config, series: Series, val_index: np.ndarray) -> DetectorResult:
    """Score the training block (for the validation sequences) and every test piece long enough."""
    span = config.span
    train_scores = detector.score(series.train)
    val = sequence_scores(train_scores, span)[val_index]
    pieces = []
    for piece in series.test_pieces:
        if len(piece.values) < span:
            continue  # too short for one sequence
        scores = detector.score(piece.values)
        seq = sequence_scores(scores, span)
        labels = evaluation.sequence_labels(piece.anomaly_idx, len(seq), span)
        pieces.append(PieceResult(piece.name, piece.start, scores, seq, labels, fill_unscored(scores.points),
                                  piece.point_labels))
    return DetectorResult(detector.name, val, pieces, validation_point_scores(train_scores, val_index, span))


def run_detection(config: Config, path: Path | None = None, controls: bool = True) -> Detection:
    """Score the validation sequences and every test piece with the config's trained detector,
    and with the controls beside it."""
    path = Path(path) if path else run_dir(config)
    detector = get_detector(config)
    detector.require_trained(path)
    series = load_series(config.dataset)
    check_against_data(config, len(series.train), series.n_channel)
    if not any(len(p.values) >= config.span for p in series.test_pieces):
        raise UserError(f"no test piece of '{config.dataset}' is as long as one sequence ({config.span} points)")
    detector.load(path)
    val_index = validation_index(config, len(series.train))
    started = time.perf_counter()
    results = {detector.name: score_detector(detector, config, series, val_index)}
    seconds = time.perf_counter() - started
    for name in CONTROLS if controls else ():
        if name not in results:
            results[name] = score_detector(get_detector(config.replace(detector=name)), config, series, val_index)
    result = Detection(config, path, series, val_index, results, seconds)
    result.metrics = compute_metrics(result)
    return result


def compute_metrics(result: Detection, rule: str | None = None) -> dict:
    """Metrics of every scored detector, on all pieces and on each piece."""
    c = result.config
    rule = rule or c.threshold_rule
    out = {"metrics_version": METRICS_VERSION, "dataset": c.dataset, "detector": c.detector, "run_dir": str(result.run_dir), "l_win": c.l_win,
           "l_seq": c.l_seq, "span": c.span, "threshold_rule": rule, "threshold_quantile": c.threshold_quantile,
           "scoring_seconds": round(result.scoring_seconds, 3), "n_val_sequences": int(len(result.val_index)),
           "detectors": list(result.results)}
    pieces = result.main.pieces
    groups = {"all": None, **{p.name: [p.name] for p in pieces}} if len(pieces) > 1 else {"all": None}
    for name, res in result.results.items():
        test_scores, test_labels = res.test_scores()
        threshold = evaluation.choose_threshold(
            rule, val_scores=res.val_scores, quantile=c.threshold_quantile, value=c.threshold_value,
            test_scores=test_scores, test_labels=test_labels)
        out[name] = {"threshold": float(threshold)}
        for group, names in groups.items():
            scores, labels = res.test_scores(names)
            out[name][group] = evaluation.summarise(scores, labels, threshold)
    return out


def summary_rows(metrics: dict) -> list[dict]:
    """One flat row per (detector, piece group): the figures people compare."""
    rows = []
    for name in metrics.get("detectors", [metrics.get("detector", "vae_lstm")]):
        for group, m in metrics[name].items():
            if group == "threshold":
                continue
            rows.append({
                "detector": name, "pieces": group,
                "oracle_pa_f1": m["oracle_point_adjusted"]["f1"],
                "oracle_pa_precision": m["oracle_point_adjusted"]["precision"],
                "oracle_pa_recall": m["oracle_point_adjusted"]["recall"],
                "oracle_pw_f1": m["oracle_pointwise"]["f1"],
                "average_precision": m["average_precision"],
                "rule_pa_f1": m["point_adjusted"]["f1"], "rule_pw_f1": m["pointwise"]["f1"],
                "threshold": m["threshold"],
            })
    return rows


def format_table(metrics: dict) -> str:
    header = (f"{'detector':9} {'pieces':7} {'AP':>6} {'oracle PW-F1':>12} {'oracle PA-F1 (P/R)':>22} "
              f"{metrics['threshold_rule'] + ' PW-F1 / PA-F1':>30}")
    lines = [header, "-" * len(header)]
    for r in summary_rows(metrics):
        lines.append(f"{r['detector']:9} {r['pieces']:7} {r['average_precision']:>6.3f} {r['oracle_pw_f1']:>12.3f} "
                     f"{r['oracle_pa_f1']:>8.3f} ({r['oracle_pa_precision']:.3f}/{r['oracle_pa_recall']:.3f}) "
                     f"{r['rule_pw_f1']:>19.3f} / {r['rule_pa_f1']:.3f}")
    lines.append("AP = average precision (threshold-free); oracle = best threshold chosen on the test labels "
                 "(an upper bound, not a deployable figure); PW = pointwise, PA = point-adjusted (the paper's "
                 "metric); random and abs_z are controls")
    counts = metrics[metrics["detector"]]["all"].get("normals_above_each_anomaly")
    if counts is not None:
        lines.append(f"{metrics['detector']}: normal sequences scoring at least each anomaly's best score: {counts}")
    return "\n".join(lines)


def write_report(result: Detection, out_dir: Path | None = None) -> Path:
    """metrics.json and the detection figures, in <run folder>/detection/."""
    out_dir = Path(out_dir) if out_dir else result.run_dir / "detection"
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = out_dir / "metrics.json"
    if metrics_path.exists():
        print(f"replacing {metrics_path} (recomputed from the saved models)")
    metrics_path.write_text(json.dumps(result.metrics, indent=2) + "\n")
    draw_figures(result, out_dir)
    return metrics_path


def point_threshold(result: Detection, res: DetectorResult) -> float:
    """The point-level threshold of a detector under the config's rule (the oracle rule: pointwise F1)."""
    c = result.config
    if c.threshold_rule == "oracle_best_f1":
        scores, labels = res.test_points()
        if labels is None:
            raise UserError("the oracle threshold needs point labels, and this series has none")
        return evaluation.best_f1(scores, labels, adjusted=False)["threshold"]
    return evaluation.choose_threshold(c.threshold_rule, val_scores=res.val_point_scores,
                                       quantile=c.threshold_quantile, value=c.threshold_value)


def draw_figures(result: Detection, out_dir: Path) -> list[Path]:
    from sklearn.metrics import precision_recall_curve

    c, m, main = result.config, result.metrics, result.main
    threshold = m[main.name]["threshold"]
    test_scores, _ = main.test_scores()
    paths = [plotting.score_histograms(main.val_scores, test_scores, threshold, out_dir / "score_histograms.png",
                                       f"{c.dataset}: {main.name} sequence scores")]
    point_t = point_threshold(result, main)
    pieces = [{"start": p.start, "scores": p.point_scores, "flags": p.point_scores >= point_t, "threshold": point_t}
              for p in main.pieces]
    paths.append(plotting.detections(
        result.series.normalised, pieces, result.series.anomaly_idx, result.series.point_labels,
        (result.series.train_start, result.series.train_end), out_dir / "detections.png",
        f"{c.dataset}: {main.name} detections, {c.threshold_rule} threshold on point scores "
        f"(l_win {c.l_win}, l_seq {c.l_seq})", c.y_scale))
    curves = []
    for name, res in result.results.items():
        scores, labels = res.test_scores()
        precision, recall, _ = precision_recall_curve(labels, scores)
        curves.append({"label": name, "precision": precision, "recall": recall,
                       "ap": evaluation.average_precision(scores, labels)})
    paths.append(plotting.precision_recall(curves, out_dir / "precision_recall.png"))
    return paths
