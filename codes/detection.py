"""Detection with a trained run: scores, threshold and labels kept apart, then metrics and figures.

Used by detect.py, the detection notebook and reproduce.py, so that all three report the same numbers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import evaluation
import plotting
from config import Config, check_against_data, run_dir
from data_loader import Series, load_series
from errors import UserError
from runs import require_trained
from scoring import SequenceScores, score_series
from windowing import train_val_split


@dataclass
class PieceResult:
    """Scores and labels of the sequences of one test piece."""

    name: str
    start: int
    scores: SequenceScores
    labels: np.ndarray


@dataclass
class Detection:
    config: Config
    run_dir: Path
    series: Series
    val: SequenceScores          # validation sequences of the training block (held out from the LSTM)
    val_index: np.ndarray
    pieces: list[PieceResult]
    scoring_seconds: float
    metrics: dict = field(default_factory=dict)

    def test_scores(self, pieces=None, vae_only=False) -> tuple[np.ndarray, np.ndarray]:
        """Scores and labels of the chosen pieces (all by default), concatenated in time order."""
        chosen = [p for p in self.pieces if pieces is None or p.name in pieces]
        scores = [p.scores.vae_scores if vae_only else p.scores.scores for p in chosen]
        return np.concatenate(scores), np.concatenate([p.labels for p in chosen])

    def val_scores(self, vae_only=False) -> np.ndarray:
        return self.val.vae_scores if vae_only else self.val.scores


def load_models(path: Path):
    """The trained VAE and LSTM of a run folder."""
    import keras

    import models  # noqa: F401  (registers the VAE class for loading)

    return keras.saving.load_model(path / "vae.keras"), keras.saving.load_model(path / "lstm.keras")


def run_detection(config: Config, path: Path | None = None) -> Detection:
    """Score the validation sequences and every test piece of the config's series with its trained run."""
    path = Path(path) if path else run_dir(config)
    require_trained(path, config)
    series = load_series(config.dataset)
    check_against_data(config, len(series.train), series.n_channel)
    vae, lstm = load_models(path)
    started = time.perf_counter()
    val_all = score_series(vae, lstm, series.train, config.l_win, config.l_seq, config.score_batch_size)
    _, val_index = train_val_split(len(val_all.scores), config.val_fraction, config.seed)
    val = SequenceScores(val_all.scores[val_index], val_all.vae_scores[val_index],
                         val_all.window_squared_error, val_all.window_neg_elbo, val_all.predicted_windows[:0])
    pieces = []
    for piece in series.test_pieces:
        if len(piece.values) < config.span:
            continue  # too short for one sequence
        scores = score_series(vae, lstm, piece.values, config.l_win, config.l_seq, config.score_batch_size)
        labels = evaluation.sequence_labels(piece.anomaly_idx, len(scores.scores), config.span)
        pieces.append(PieceResult(piece.name, piece.start, scores, labels))
    if not pieces:
        raise UserError(f"no test piece of '{config.dataset}' is as long as one sequence ({config.span} points)")
    result = Detection(config, path, series, val, val_index, pieces, time.perf_counter() - started)
    result.metrics = compute_metrics(result)
    return result


def compute_metrics(result: Detection, rule: str | None = None) -> dict:
    """Metrics of the VAE-LSTM score and of the VAE-only score, on all pieces and on each piece."""
    c = result.config
    rule = rule or c.threshold_rule
    out = {"dataset": c.dataset, "run_dir": str(result.run_dir), "l_win": c.l_win, "l_seq": c.l_seq,
           "span": c.span, "threshold_rule": rule, "threshold_quantile": c.threshold_quantile,
           "scoring_seconds": round(result.scoring_seconds, 3),
           "n_val_sequences": int(len(result.val.scores))}
    groups = {"all": None, **{p.name: [p.name] for p in result.pieces}} if len(result.pieces) > 1 else {"all": None}
    for model, vae_only in (("vae_lstm", False), ("vae_only", True)):
        val_scores = result.val_scores(vae_only)
        test_scores, test_labels = result.test_scores(vae_only=vae_only)
        threshold = evaluation.choose_threshold(
            rule, val_scores=val_scores, quantile=c.threshold_quantile, value=c.threshold_value,
            test_scores=test_scores, test_labels=test_labels)
        out[model] = {"threshold": float(threshold)}
        for group, names in groups.items():
            scores, labels = result.test_scores(names, vae_only)
            out[model][group] = evaluation.summarise(scores, labels, threshold)
    return out


def summary_rows(metrics: dict) -> list[dict]:
    """One flat row per (model, piece group): the figures people compare."""
    rows = []
    for model in ("vae_lstm", "vae_only"):
        for group, m in metrics[model].items():
            if group == "threshold":
                continue
            rows.append({
                "model": model, "pieces": group,
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
    header = (f"{'model':9} {'pieces':7} {'oracle PA-F1 (P/R)':>22} {'oracle PW-F1':>12} {'AP':>6} "
              f"{metrics['threshold_rule'] + ' PA-F1 / PW-F1':>30}")
    lines = [header, "-" * len(header)]
    for r in summary_rows(metrics):
        lines.append(f"{r['model']:9} {r['pieces']:7} {r['oracle_pa_f1']:>8.3f} "
                     f"({r['oracle_pa_precision']:.3f}/{r['oracle_pa_recall']:.3f}) {r['oracle_pw_f1']:>12.3f} "
                     f"{r['average_precision']:>6.3f} {r['rule_pa_f1']:>19.3f} / {r['rule_pw_f1']:.3f}")
    lines.append("oracle = best threshold chosen on the test labels (an upper bound, not a deployable figure); "
                 "PA = point-adjusted, PW = pointwise")
    for model in ("vae_lstm", "vae_only"):
        counts = metrics[model]["all"].get("normals_above_each_anomaly")
        if counts is not None:
            lines.append(f"{model}: normal sequences scoring at least each anomaly's best score: {counts}")
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


def draw_figures(result: Detection, out_dir: Path) -> list[Path]:
    from sklearn.metrics import precision_recall_curve

    c, m = result.config, result.metrics
    threshold = m["vae_lstm"]["threshold"]
    test_scores, test_labels = result.test_scores()
    paths = [plotting.score_histograms(result.val_scores(), test_scores, threshold, out_dir / "score_histograms.png",
                                       f"{c.dataset}: VAE-LSTM sequence scores")]
    pieces = [{"start": p.start, "scores": p.scores.scores, "flags": p.scores.scores >= threshold,
               "span": c.span, "threshold": threshold} for p in result.pieces]
    paths.append(plotting.detections(
        result.series.normalised, pieces, result.series.anomaly_idx,
        (result.series.train_start, result.series.train_end), out_dir / "detections.png",
        f"{c.dataset}: detections with the {m['threshold_rule']} threshold "
        f"(l_win {c.l_win}, l_seq {c.l_seq})", c.y_scale))
    curves = []
    for label, vae_only in (("VAE-LSTM", False), ("VAE only", True)):
        scores, labels = result.test_scores(vae_only=vae_only)
        precision, recall, _ = precision_recall_curve(labels, scores)
        curves.append({"label": label, "precision": precision, "recall": recall,
                       "ap": evaluation.average_precision(scores, labels)})
    paths.append(plotting.precision_recall(curves, out_dir / "precision_recall.png"))
    return paths
