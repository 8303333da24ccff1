"""Datasets of independent fixed-length segments (ECG5000's heartbeats): load, split, train, score per beat.

A segment dataset is an entry of ``datasets/series.json`` under ``"segments"``; a config names it as its
``dataset`` (``"dataset": "ECG5000"``) and ``grid.run_job`` hands its jobs to ``run_job`` here.

- **Data.** The files listed in the entry, read from the folder in ``$ECG5000_DATA_DIR`` (the entry's
  ``env``) and checked against their sha256. ECG5000's test file has no pinned public text copy, so
  nothing is downloaded: an unset variable is a one-line error that says how to set it. UCR format:
  one beat a row, column 0 the class, then the ``length`` samples (each beat already z-normalised;
  nothing is standardised again). The UCR train and test files are pooled (5000 beats). The entry's
  ``normal_classes`` are normal, its ``anomalous_classes`` anomalous (ECG5000: 1, and 2-5); any other class, rows
  of unequal length, text and values that are not finite are refused in one line (``read_ucr``).
- **Split** (``split_beats``), seeded by the config's ``seed``, so every detector of a seed sees the
  same beats and each seed another split. The normal beats (class 1) are shuffled: the first
  ``test_normal`` go to the test set, then ``floor(val_fraction * rest)`` of the rest to validation,
  the remainder (at most ``train_normal`` when that is set) to training. ``test_anomalous`` beats
  drawn from classes 2-5 complete the test set. ECG5000 with the shipped split: test = 700 normal +
  100 anomalous beats (12.5 % anomalous, the mix the related LSTM-VAE project's figures imply),
  validation = 221 normal beats, training = 1998 normal beats; no beat is in two sets.
- **Training** on the training beats only, as a (n_beats, length, 1) array of independent segments:
  each detector takes its windows and sequences inside each beat, at ``window_stride``
  (``windowing.segment_windows`` / ``segment_sequences``), never across two beats. The detectors'
  own ``val_fraction`` of those windows is held out for their validation loss, as on a series.
- **Scoring.** The validation beats, then the test beats, are concatenated into one series; a beat's score
  is the largest native-unit score among the units of that series lying wholly inside it
  (``windowing.segment_scores``): with ``l_win * l_seq`` = 140 a VAE-LSTM sequence is exactly one beat; a
  window detector takes its worst window, a point detector its worst point. The window and sequence models
  score those units alone (``Detector.inside_scores``: with ``l_win`` 140, 1021 windows of the 142,801 of the
  joined beats), to the bits that scoring the whole series gives them; the controls score the series in one
  ``detector.score`` call.
- **Threshold and metrics** (``beat_metrics``): the ``threshold_quantile`` (0.95 in the shipped config)
  quantile of the validation beats' scores; a test beat is flagged when its score is >= it;
  anomalous beats are the positives. Accuracy, precision (undefined, NaN, when no beat is flagged), recall and
  F1 at that threshold, and AUC-ROC and AUC-PR (average precision) over all test beats, which need no threshold;
  all six undefined for test beats of one class (which the split never draws).

Each run writes ``<run folder>/detection/metrics.json``, ``beat_scores.csv`` (one row per scored beat)
and ``beats.png`` (score histograms of normal and anomalous test beats with the threshold, and example
beats). ``write_summary`` writes an experiment's tables (``"summary": "beats"``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import Config, run_dir, write_text_atomic
from .data_loader import check_pinned
from .download import local_root
from .errors import ConfigError, DataError, UserError
from .windowing import largest_inside, segment_scores, train_val_split

BEATS_VERSION = 1  # bumped when metrics.json changes; a finished run of an older version is scored again
MIN_SAMPLES = 2  # training samples (windows or sequences) to train on, and as many to validate on
METRICS = ("accuracy", "precision", "recall", "f1", "auc_roc", "auc_pr")
METRIC_NAMES = {"accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1": "F1",
                "auc_roc": "AUC-ROC", "auc_pr": "AUC-PR"}


# ---- the dataset ---------------------------------------------------------------------------------------

def segment_specs() -> dict:
    """The segment datasets of datasets/series.json, by name."""
    from .data_loader import load_spec

    return load_spec().get("segments", {})


def is_segments(config: Config) -> bool:
    """Whether the config's dataset is a segment dataset (a name under series.json's "segments")."""
    return isinstance(config.dataset, str) and config.dataset in segment_specs()


@dataclass
class Segments:
    name: str
    values: np.ndarray   # (n, length, n_channel) float64, as in the files (ECG5000: each beat z-normalised)
    classes: np.ndarray  # (n,) int
    normal: np.ndarray   # (n,) bool: a normal class


def data_folder(name: str, spec: dict) -> Path:
    var = spec["env"]
    folder = os.environ.get(var)
    if not folder:
        raise DataError(f"{name} is read from a local copy: set {var} to a folder holding "
                        f"{' and '.join(spec['files'])}, the files pinned (sha256) in datasets/series.json, whose "
                        f"segments.{name}.sources say where each comes from")
    return local_root(folder, var)


def load_segments(name: str) -> Segments:
    """The pooled beats of a segment dataset, each file checked against its sha256 (one line on a problem)."""
    spec = segment_specs()[name]
    folder = data_folder(name, spec)
    length, n_channel = spec["length"], spec.get("n_channel", 1)
    rows = []
    for file, sha in spec["files"].items():
        path = folder / file
        if not path.is_file():
            raise DataError(f"{path} not found; point {spec['env']} at a folder holding {' and '.join(spec['files'])}")
        source = spec.get("sources", {}).get(file)
        check_pinned(path, sha, f"{name}'s pinned {file}" + (f", {source}" if source else " in datasets/series.json"))
        rows.append(read_ucr(path, length * n_channel, name, spec))
    table = np.concatenate(rows)
    classes = table[:, 0].astype(int)
    values = table[:, 1:].reshape(len(table), n_channel, length).transpose(0, 2, 1)
    return Segments(name, values, classes, np.isin(classes, spec["normal_classes"]))


def data_lines(path: Path) -> list[tuple[int, list[str]]]:
    """The rows of a UCR text file as np.loadtxt reads them: (1-based line number, fields), comments and blank
    lines left out. Read only to say where a problem is."""
    fields = ((number, line.split("#")[0].split()) for number, line in enumerate(path.read_text().splitlines(), 1))
    return [(number, row) for number, row in fields if row]


def read_ucr(path: Path, n_values: int, name: str, spec: dict) -> np.ndarray:
    """A UCR file's rows (the class, then ``n_values`` finite values); each problem one line naming its line: rows
    of unequal length, text, no row, a value that is not finite, a class that is not a whole number or that the
    dataset's entry lists neither as normal nor (where it lists them) as anomalous."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": refused below
            table = np.loadtxt(path, ndmin=2)
    except ValueError as e:
        lines = data_lines(path)
        first, width = lines[0][0], len(lines[0][1])
        for number, row in lines:
            if len(row) != width:
                raise DataError(f"{path}: line {number} has {len(row)} columns and line {first} has {width}: every "
                                f"row is one beat, its class then its {n_values} values (UCR format)") from None
            for field in row:
                try:
                    float(field)
                except ValueError:
                    raise DataError(f"{path}: line {number}: {field!r} is not a number (UCR format: the class, then "
                                    "the values, separated by spaces or tabs)") from None
        raise DataError(f"{path}: {e}") from None
    if table.size == 0:
        raise DataError(f"{path} holds no beats")
    if table.shape[1] != 1 + n_values:
        raise DataError(f"{path}: rows of {table.shape[1]} columns, expected a class and {n_values} values (UCR format)")
    bad = ~np.isfinite(table[:, 1:])
    if bad.any():
        raise DataError(f"{path}: {int(bad.sum())} values are not finite (NaN or inf), the first in the beat of line "
                        f"{data_lines(path)[np.flatnonzero(bad.any(axis=1))[0]][0]}; drop or fill those beats")
    classes = table[:, 0]
    odd = ~np.isfinite(classes) | (classes != np.round(classes))
    if odd.any():
        row = np.flatnonzero(odd)[0]
        raise DataError(f"{path}: line {data_lines(path)[row][0]}'s class is {classes[row]:g}, not a whole number")
    if "anomalous_classes" in spec:  # else every class but the normal ones is anomalous
        unknown = ~np.isin(classes, spec["normal_classes"] + spec["anomalous_classes"])
        if unknown.any():
            row = np.flatnonzero(unknown)[0]
            raise DataError(f"{path}: line {data_lines(path)[row][0]}'s class {int(classes[row])} is neither normal "
                            f"({', '.join(map(str, spec['normal_classes']))}) nor anomalous "
                            f"({', '.join(map(str, spec['anomalous_classes']))}) in datasets/series.json's "
                            f"segments.{name}")
    return table


# ---- the split -----------------------------------------------------------------------------------------

@dataclass
class BeatSplit:
    """Indices into the pooled beats, each sorted; the test labels are True for anomalous beats."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray

    def counts(self) -> dict:
        return {"n_train": len(self.train), "n_validation": len(self.val),
                "n_test_normal": int((~self.test_labels).sum()), "n_test_anomalous": int(self.test_labels.sum())}


def split_beats(normal, seed: int, test_normal: int, test_anomalous: int, val_fraction: float,
                train_normal: int | None = None) -> BeatSplit:
    """Seeded split of the pooled beats (``normal``: (n,) bool). Normal beats, shuffled: ``test_normal`` to
    the test set, then ``floor(val_fraction * rest)`` to validation, the remainder (at most ``train_normal``)
    to training; ``test_anomalous`` anomalous beats, drawn at random, complete the test set."""
    normal = np.asarray(normal, bool)
    normals, anomalous = np.flatnonzero(normal), np.flatnonzero(~normal)
    if test_normal < 1 or test_anomalous < 1:
        raise DataError(f"the split asks for {test_normal} normal and {test_anomalous} anomalous test beats; the "
                        "test set needs at least one of each, or every metric is undefined")
    if test_normal >= len(normals) or test_anomalous > len(anomalous):
        raise DataError(f"the split asks for {test_normal} normal and {test_anomalous} anomalous test beats; the "
                        f"data has {len(normals)} normal and {len(anomalous)} anomalous beats")
    n_val = int(np.floor(val_fraction * (len(normals) - test_normal) + 1e-9))
    if n_val < 1:
        raise DataError(f"the split's val_fraction {val_fraction:g} of the {len(normals) - test_normal} normal beats "
                        "left after the test set gives no validation beat; the threshold is a quantile of the "
                        "validation beats' scores, so it needs at least one")
    rng = np.random.default_rng(seed)
    normals, anomalous = rng.permutation(normals), rng.permutation(anomalous)
    rest = normals[test_normal:]
    train = rest[n_val:] if train_normal is None else rest[n_val:n_val + train_normal]
    test = np.concatenate([normals[:test_normal], anomalous[:test_anomalous]])
    order = np.argsort(test, kind="stable")
    return BeatSplit(np.sort(train), np.sort(rest[:n_val]), test[order], (~normal[test])[order])


# ---- the config ----------------------------------------------------------------------------------------

def check_config(config: Config, where: str | None = None) -> dict:
    """The dataset's entry, once the config fits it; every problem is one line (ConfigError) that starts with
    ``where`` (default: the config file's name)."""
    from .detectors import detector_class

    name, spec = config.dataset, segment_specs()[config.dataset]
    where = where or (config.source.name if config.source else "config")
    length, n_channel = spec["length"], spec.get("n_channel", 1)
    if "auto" in (config.l_win, config.l_seq) or config.n_channel != n_channel:
        raise ConfigError(f"{where}: {name} is a dataset of {length}-point segments with {n_channel} channel(s): "
                          f"give l_win and l_seq as numbers (l_win * l_seq = {length} makes a segment one "
                          f"sequence) and n_channel {n_channel}")
    if unit_span(config) > length:
        what = "l_win * l_seq" if unit_span(config) == config.span else "l_win"
        raise ConfigError(f"{where}: {what} = {unit_span(config)} is longer than one {name} segment "
                          f"({length} points)")
    if unit_span(config) > 1 and config.window_stride > config.l_win:  # the controls read no window
        gap = config.window_stride - config.l_win
        raise ConfigError(f"{where}: key 'window_stride' = {config.window_stride} is larger than l_win {config.l_win}: "
                          f"the training windows, {config.l_win} points every {config.window_stride}, would leave "
                          f"{gap} of every {config.window_stride} points of a segment out; set it to at most l_win "
                          f"({config.l_win} makes the windows tile a segment)")
    if config.threshold_rule != "val_quantile":
        raise ConfigError(f"{where}: {name} takes its threshold at the threshold_quantile quantile of the "
                          f"validation beats' scores: set threshold_rule to 'val_quantile', not "
                          f"'{config.threshold_rule}'")
    if not detector_class(config.detector).fits_segments:
        raise ConfigError(f"{where}: detector '{config.detector}' cannot train on the independent segments "
                          f"of {name}")
    return spec


def unit_span(config: Config) -> int:
    """Points in one scored unit of the config's detector: a sequence (vae_lstm, vae), a window (lstm_vae,
    lstm_ae), or a point (the controls, which read no l_win)."""
    from .detectors import detector_class

    return {"sequence": config.span, "point": 1}.get(detector_class(config.detector).native_unit, config.l_win)


def sample_span(config: Config) -> int:
    """Points in one training sample of the config's detector: a sequence (vae_lstm), a point for a detector that
    scores points (the controls, which learn nothing), else a window."""
    return config.span if config.detector == "vae_lstm" else min(unit_span(config), config.l_win)


def samples_per_segment(config: Config, length: int) -> int:
    """Training samples per segment of the config's detector."""
    return (length - sample_span(config)) // config.window_stride + 1


def stride_tail_note(config: Config, detector: str, length: int) -> str | None:
    """A note when ``window_stride`` leaves the last points of each ``length``-point segment out of ``detector``'s
    training samples: its windows (and the VAE-LSTM's sequences) start at 0, stride, 2 * stride, ..., so where the
    stride does not divide ``length`` less their span, the last one ends before the segment does. None when they
    reach its end (a stride above l_win, which leaves points out inside too, is refused by ``check_config``)."""
    samples = [("windows", "l_win", config.l_win)]
    if detector == "vae_lstm":
        samples.append(("sequences", "l_win * l_seq", config.span))
    stride, parts, divides = config.window_stride, [], []
    for what, label, span in samples:
        if span > length or not (tail := (length - span) % stride):
            continue
        last, whose = length - span - tail, "" if parts else f" of each segment's {length} points"
        parts.append(f"the last {tail}{whose} out of the training {what} ({label} {span}, the last at points {last} to "
                     f"{last + span - 1})")
        divides.append(f"{length - span} ({length} - {label})")
    if not parts:
        return None
    return (f"note: window_stride {stride} leaves {', and '.join(parts)}; a window_stride that divides "
            f"{' and '.join(divides)} trains on them")


def check_sizes(config: Config, n_train: int, length: int, given: str = "") -> None:
    """``n_train`` training segments of ``length`` points must give the config's detector at least MIN_SAMPLES
    training samples to train on, and as many to validate on. ``given``: what the line adds to the segments' name
    (``Detector.fit``: " given to fit")."""
    n = n_train * samples_per_segment(config, length)
    n_fit = len(train_val_split(n, config.val_fraction, config.seed)[0])
    if min(n_fit, n - n_fit) < MIN_SAMPLES:
        raise UserError(f"{n_train} training segment{'s' if n_train != 1 else ''}{given} give {n} training "
                        f"sample{'s' if n != 1 else ''}: {n_fit} to train on and {n - n_fit} to validate on "
                        f"(val_fraction {config.val_fraction}); at least {MIN_SAMPLES} of each are needed")


# ---- training and scoring ------------------------------------------------------------------------------

def train(config: Config, segments: np.ndarray, path: Path | None = None) -> Path:
    """``runs.train`` for independent segments: fit the detector on the (n, length, c) training segments in
    the config's run folder (``path``: this one; its lock held); returns the folder."""
    from .runs import fit_in_run_folder

    return fit_in_run_folder(config, segments, path)


def score_segments(detector, segments: np.ndarray) -> np.ndarray:
    """One score per segment of a (n, length, c) array: the largest score of the units wholly inside it among those
    of the segments concatenated. A detector that scores those units alone (``inside_scores``: the window and
    sequence models) scores only them, to the same bits; any other scores the concatenation in one ``detector.score``
    call. One line when a score is inf, or none is finite (``detection.require_finite``: a model that diverged), or
    a segment has no finite score."""
    from .detection import require_finite, require_finite_values
    from .progress import scoring_pass

    n, length, n_channel = segments.shape
    where = "the validation and test beats"
    inside = getattr(detector, "inside_scores", None)  # a stand-in may have none
    with scoring_pass(f"scoring {where}"):
        units = inside(segments) if inside is not None else None
        if units is None:
            scores = require_finite(detector.score(segments.reshape(n * length, n_channel)), detector.name, where,
                                    n * length, some_scored=True)  # long enough to score
    if units is None:
        per_segment = segment_scores(scores.native, scores.native_span, length, n)
    else:
        require_finite_values(units, detector.name, where, "native scores inside them", some_scored=True)
        per_segment = largest_inside(units)
    if np.isnan(per_segment).any():  # every unit inside a beat NaN: the metrics have no score for it
        raise UserError(f"{detector.name} gives no finite score inside {int(np.isnan(per_segment).sum())} of the {n} "
                        "validation and test beats: its model may have diverged; train it again (a lower learning "
                        "rate) or check the data")
    return per_segment


def beat_metrics(test_scores, test_labels, val_scores, quantile: float) -> dict:
    """Metrics of the test beats (anomalous = positive) at the ``quantile`` quantile of the validation
    scores (flagged: score >= threshold), and the threshold-free AUC-ROC and AUC-PR (average precision). Test beats
    of one class leave all six undefined (NaN); the counts stay."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from .evaluation import choose_threshold, precision_recall_f1
    from .metrics import degenerate

    scores, labels = np.asarray(test_scores, float), np.asarray(test_labels, bool)
    if not (np.isfinite(scores).all() and np.isfinite(val_scores).all()):
        raise ValueError("a beat has no finite score")
    threshold = choose_threshold("val_quantile", val_scores=val_scores, quantile=quantile)
    flagged = scores >= threshold
    counts = precision_recall_f1(labels, flagged)
    tallies = {"tp": counts["tp"], "fp": counts["fp"], "fn": counts["fn"], "tn": int(np.sum(~labels & ~flagged))}
    if degenerate(labels):  # one class: flagging every beat of an all-anomalous set would score a perfect 1.0
        return {"threshold": threshold, **dict.fromkeys(METRICS, float("nan")), **tallies}
    return {"threshold": threshold, "accuracy": float(np.mean(flagged == labels)),
            "precision": counts["precision"] if flagged.any() else float("nan"),  # 0 / 0: undefined, not 0
            "recall": counts["recall"], "f1": counts["f1"],
            "auc_roc": float(roc_auc_score(labels, scores)), "auc_pr": float(average_precision_score(labels, scores)),
            **tallies}


def out_of_date(config, metrics: dict) -> str | None:
    """Why a beats run's ``metrics`` no longer hold for ``config`` (another threshold_quantile, an older
    ``BEATS_VERSION``); None when they hold."""
    if metrics.get("threshold_quantile") != config.threshold_quantile:
        return "another value of threshold_quantile"
    return None if metrics.get("beats_version") == BEATS_VERSION else "an older version"


def run_job(experiment, job) -> dict:
    """Train and evaluate one (segment dataset, detector, seed) job unless it is finished; returns its metrics.
    A run folder made with other training keys (finished or not) or data, or a finished run of another split, is
    refused; one made with another threshold_quantile, or by an older version of this module, is scored again
    from its saved models."""
    from .grid import FinishedBefore, earlier_training_seconds
    from .runs import detection_lock, finished_metrics, has_training, refuse_other_training

    config = experiment.config(job.dataset, job.detector, job.seed, resolve=False)
    spec = check_config(config)
    path = run_dir(config)
    started, wall = time.perf_counter() - earlier_training_seconds(path), None  # a resumed run's earlier epochs
    metrics = finished_metrics(path)
    source = f"experiment {experiment.name}"
    if metrics is not None or has_training(path):  # grid runs always resume: refuse with the grid's remedy
        refuse_other_training(config, path, source)
    if metrics is not None:
        refuse_other_split(config, path, metrics, spec)
        why = out_of_date(config, metrics)
        if why is None:
            return FinishedBefore(metrics)
        print(f"{path.name}: metrics.json is from {why}; scoring again")
        wall = metrics.get("wall_seconds")
    data = load_segments(config.dataset)
    split = split_beats(data.normal, config.seed, **spec["split"])
    check_sizes(config, len(split.train), spec["length"])
    if has_training(path):
        refuse_other_training(config, path, source, data.values[split.train])
    train(config, data.values[split.train], path)  # the grid's own folder, not a newer run of the config
    with detection_lock(path):
        return _score_run(config, path, data, split, spec, wall, started)


def refuse_other_split(config, path: Path, metrics: dict, spec: dict) -> None:
    """One line when a finished run was trained on another split of the segments than series.json gives."""
    if metrics.get("split", {}).get("spec") != spec["split"]:
        raise UserError(f"{path} was trained on another split of {config.dataset} than datasets/series.json "
                        "gives; move that folder away to rerun it")


def refusal(config, path: Path, metrics: dict, loaded: dict) -> str | None:
    """Why ``run_job`` would refuse a finished run (other training keys, another split, other training data),
    as its one line; None when it would score it. For ``--summary-only``, which must not publish such runs.
    ``loaded``: segment datasets by name, read once across calls."""
    from .runs import refuse_other_training

    spec = check_config(config)
    try:
        refuse_other_split(config, path, metrics, spec)
        if config.dataset not in loaded:
            loaded[config.dataset] = load_segments(config.dataset)
        data = loaded[config.dataset]
        refuse_other_training(config, path, "the experiment",
                              data.values[split_beats(data.normal, config.seed, **spec["split"]).train])
    except UserError as e:
        return str(e).split(";")[0]
    return None


def _score_run(config, path: Path, data: Segments, split: BeatSplit, spec: dict, wall, started: float) -> dict:
    """Score a trained run's validation and test beats; write and return its metrics."""
    from .detectors import get_detector
    from .runs import METRICS_FILE

    detector = get_detector(config.replace(point_score="max_sequence"))  # beats read the native units only
    detector.load(path)
    scored = np.concatenate([split.val, split.test])
    scores = score_segments(detector, data.values[scored])
    val_scores, test_scores = scores[: len(split.val)], scores[len(split.val):]
    metrics = {"beats_version": BEATS_VERSION, "dataset": config.dataset, "detector": config.detector,
               "seed": config.seed, "l_win": config.l_win, "l_seq": config.l_seq, "span": unit_span(config),
               "window_stride": config.window_stride, "native_unit": detector.native_unit,
               "threshold_rule": config.threshold_rule, "threshold_quantile": config.threshold_quantile,
               "split": {**split.counts(), "seed": config.seed, "spec": spec["split"],
                         "test_anomalous_classes": {str(k): int(v) for k, v in zip(
                             *np.unique(data.classes[split.test[split.test_labels]], return_counts=True),
                             strict=True)}},
               **beat_metrics(test_scores, split.test_labels, val_scores, config.threshold_quantile)}
    metrics["wall_seconds"] = wall if wall is not None else round(time.perf_counter() - started, 1)
    write_report(path / METRICS_FILE.parent, metrics, data, split, val_scores, test_scores)
    return metrics


# ---- the report of one run -----------------------------------------------------------------------------

def write_report(out_dir: Path, metrics: dict, data: Segments, split: BeatSplit, val_scores, test_scores) -> None:
    """metrics.json, beat_scores.csv and beats.png in ``out_dir`` (<run folder>/detection)."""
    from .runs import metrics_text, set_aside_metrics

    out_dir.mkdir(parents=True, exist_ok=True)
    set_aside_metrics(out_dir / "metrics.json", "beat_scores.csv and beats.png")
    threshold = metrics["threshold"]
    index = np.concatenate([split.val, split.test])
    scores = np.concatenate([val_scores, test_scores])
    table = pd.DataFrame({"beat": index, "class": data.classes[index],
                          "set": ["validation"] * len(split.val) + ["test"] * len(split.test),
                          "anomalous": ~data.normal[index], "score": scores, "flagged": scores >= threshold})
    write_text_atomic(out_dir / "beat_scores.csv", table.to_csv(index=False))  # a kill leaves no half table
    draw_figure(data.values[split.test], test_scores, split.test_labels, threshold, out_dir / "beats.png",
                f"{metrics['dataset']}: {metrics['detector']} beat scores, seed {metrics['seed']} "
                f"(F1 {metrics['f1']:.3f}, AUC-ROC {metrics['auc_roc']:.3f})")
    write_text_atomic(out_dir / "metrics.json", metrics_text(metrics))


def draw_figure(beats: np.ndarray, scores: np.ndarray, labels: np.ndarray, threshold: float, path: Path,
                title: str) -> Path:
    """Score histograms of the normal and anomalous test beats with the threshold; below, the lowest- and
    the highest-scoring beat of each kind."""
    from .plotting import _save, plt

    fig = plt.figure(figsize=(11, 6))
    grid = fig.add_gridspec(2, 4, height_ratios=[1.3, 1])
    ax = fig.add_subplot(grid[0, :])
    positive = scores.min() > 0 and scores.max() > scores.min()
    bins = np.geomspace(scores.min(), scores.max(), 61) if positive else np.histogram_bin_edges(scores, bins=60)
    ax.hist(scores[~labels], bins=bins, alpha=0.6, label=f"normal test beats ({(~labels).sum()})")
    ax.hist(scores[labels], bins=bins, alpha=0.6, label=f"anomalous test beats ({labels.sum()})")
    ax.axvline(threshold, color="r", ls="--", label=f"threshold {threshold:.3g}")
    if positive:
        ax.set_xscale("log")
    ax.set_xlabel("beat score" + (" (log)" if positive else ""))
    ax.set_ylabel("beats")
    ax.set_title(title)
    ax.legend()
    examples = []
    for kind, mask in (("normal", ~labels), ("anomalous", labels)):
        idx = np.flatnonzero(mask)
        if len(idx):
            examples += [(kind, "lowest", idx[np.argmin(scores[idx])]), (kind, "highest", idx[np.argmax(scores[idx])])]
    for k, (kind, which, i) in enumerate(examples[:4]):
        ax = fig.add_subplot(grid[1, k])
        ax.plot(beats[i, :, 0], color="C1" if kind == "anomalous" else "C0")
        flagged = "flagged" if scores[i] >= threshold else "not flagged"
        ax.set_title(f"{kind}, {which} score\n{scores[i]:.3g}: {flagged}", fontsize=9)
        ax.set_xlabel("sample")
    return _save(fig, path)


# ---- the experiment summary ----------------------------------------------------------------------------

def summary_rows(metrics: dict) -> pd.DataFrame:
    """One row per (dataset, detector, seed) run: the six figures, the threshold, counts and wall time."""
    rows = []
    for (name, detector, seed), m in metrics.items():
        rows.append({"dataset": name, "detector": detector, "seed": seed, **{k: m[k] for k in METRICS},
                     "threshold": m["threshold"], **{k: m[k] for k in ("tp", "fp", "fn", "tn")},
                     **{k: v for k, v in m["split"].items() if k.startswith("n_")},
                     "l_win": m["l_win"], "l_seq": m["l_seq"], "window_stride": m["window_stride"],
                     "threshold_quantile": m["threshold_quantile"], "wall_seconds": m.get("wall_seconds", np.nan)})
    return pd.DataFrame(rows)


def markdown(experiment, df: pd.DataFrame) -> str:
    """Per dataset and detector, mean ± std over seeds of the six figures (with "(k of n)" where only k seeds have
    one); the related project's beside them."""
    from .reproduce import related_lines, seeds_cell, wall_cell

    lines = [f"### {experiment.name}", "", experiment.values.get("description", ""), ""]
    if not df.empty:
        sizes = ("n_test_normal", "n_test_anomalous", "n_validation", "n_train")
        first = {k: count_cell(df[k]) for k in sizes}  # "20", or "18 to 20" where runs split differently
        same_split = all(df.groupby("seed")[k].nunique().max() == 1 for k in sizes)
        quantiles = sorted(set(df.threshold_quantile))
        validation = f"{first['n_validation']} validation beats' scores"
        threshold = (f"the {quantiles[0]:g} quantile of {validation}" if len(quantiles) == 1 else
                     f"the quantile of {validation} at each run's threshold_quantile "
                     f"({', '.join(f'{q:g}' for q in quantiles[:-1])} or {quantiles[-1]:g})")
        lines += [f"One score per beat (the largest score of the detector's units lying wholly inside it). Test: "
                  f"{first['n_test_normal']} normal + {first['n_test_anomalous']} anomalous beats; threshold: "
                  f"{threshold}; training: {first['n_train']} normal beats; the split is drawn anew for each seed"
                  + (", the same for every detector of a seed. " if same_split else
                     "; its sizes differ between the runs of a seed (runs made with another split of the dataset; "
                     "results.csv's n_ columns give each run's). ") +
                  "Anomalous = positive; AUC-ROC and AUC-PR (average precision) need no threshold. "
                  "Mean ± std over seeds.", "",
                  "| dataset | detector | seeds | " + " | ".join(METRIC_NAMES[k] for k in METRICS) + " | wall s / run |",
                  "| --- | --- | --- | " + " | ".join("---" for _ in METRICS) + " | --- |"]
        for name in experiment.datasets:
            for detector in experiment.detectors:
                r = df[(df.dataset == name) & (df.detector == detector)]
                if not r.empty:
                    lines.append(f"| {name} | {detector} | {len(r)} | " + " | ".join(seeds_cell(r[k]) for k in METRICS)
                                 + f" | {wall_cell(r.wall_seconds)} |")
    lines += related_lines(experiment, {k: METRIC_NAMES[k] for k in METRICS})
    lines += ["", "random and abs_z are controls: a seeded uniform score and |value| (each beat is z-normalised)."]
    return "\n".join(lines) + "\n"


def count_cell(values: pd.Series) -> str:
    """One count of beats for a table's text: the runs' count, or its range where runs differ."""
    low, high = int(values.min()), int(values.max())
    return f"{low}" if low == high else f"{low} to {high}"


def write_summary(experiment, metrics: dict, summary_dir: Path, note: str = "") -> None:
    """results.csv (one row per run), results.md (``note`` at its end: the runs it lacks) and beats_<dataset>.png
    (``reproduce.copy_run_figures``) in ``summary_dir``."""
    from .reproduce import copy_run_figures

    df = summary_rows(metrics)
    summary_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(summary_dir / "results.csv", df.to_csv(index=False, float_format="%.4f"))
    write_text_atomic(summary_dir / "results.md", markdown(experiment, df) + note)
    copy_run_figures(experiment, metrics, summary_dir, "beats")
    print((summary_dir / "results.md").read_text(encoding="utf-8"))
    print(f"summary written to {summary_dir}")
