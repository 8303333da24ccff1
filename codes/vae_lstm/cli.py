"""The train and detect commands. codes/train.py and codes/detect.py call these.

    python3 codes/train.py --config configs/NAB_config.json
    python3 codes/detect.py --config configs/NAB_config.json
"""

from __future__ import annotations

import time
from pathlib import Path

from .config import config_argument, load_config, run_dir, train_command
from .errors import ArgumentParser, Interrupted, UserError
from .evaluation import THRESHOLD_RULES
from .prepare import check_scorable, load_data
from .runs import (
    COPY_ADVICE,
    auto_windows_moved,
    check_run_config,
    config_run_folder,
    copied_run_note,
    detection_lock,
    folder_problem,
    foreign_folder,
    given_run_dir,
    has_training,
    idle_patience,
    latest_run,
    leading_key,
    newer_unfinished_note,
    next_free_run,
    require_training,
    resume_keys,
    scoring_differences,
    unread_scoring_keys,
    unread_training_keys,
)

CONFIG_HELP = "JSON config: a path, or a file name in configs/ (e.g. NAB_config.json)"


def train_main(argv=None) -> int:
    """Train the config's detector (default: the VAE, then the LSTM) on its series' training block."""
    parser = ArgumentParser(prog="train.py", description=train_main.__doc__)
    parser.add_argument("--config", required=True, help=CONFIG_HELP)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = load_config(args.config)
    auto_keys = [key for key in ("l_win", "l_seq") if config[key] == "auto"]
    config, series = load_data(config)
    labels = label_summary(series)
    print(f"{config.dataset_name}: {len(series.raw)} points x {series.n_channel} channel(s), training block "
          f"[{series.train_start}, {series.train_end}), {len(series.test_pieces)} test piece(s), {labels}; "
          f"detector {config.detector}")

    check_scorable(config, series)  # before any training: a split that cannot be scored is one line now
    from .runs import train  # imports TensorFlow: after the cheap checks
    from .threads import use_threads

    use_threads()

    target = None if config.load_model else next_free_run(config)
    if (own := config_run_folder(config, target or latest_run(config))) is not None:  # a moved or copied run's file
        print(f"note: {args.config} is the config.json of run folder {own}, but its {leading_key(config)} trains in "
              f"{target or latest_run(config)}; to resume {own} instead, set {resume_keys(own, config.load_model)} "
              "in it")
    trains_in = target or latest_run(config)
    if not has_training(trains_in) and (moved := auto_windows_moved(config, auto_keys, series.train)):
        print(f"note: {moved}: training starts afresh in {trains_in}")
    if config.load_model and config.load_dir != "default" and not run_dir(config).exists():  # a typo resumes nothing
        print(f"note: load_dir {config.load_dir!r} does not exist: training starts there from scratch")
    if why := idle_patience(config):
        print(f"note: {why}")
    if note := unread_training_keys(config):
        print(note)
    try:
        path = train(config, series.train, channels=series.channels)
    except KeyboardInterrupt:
        from .detectors import QUICK

        if config.detector in QUICK:  # no epochs to resume from: its fit is written whole at its end, or not at all
            raise Interrupted(f"run the same command again to fit {config.detector} afresh (it has no epochs, and "
                              "its fit keeps nothing until it ends)") from None
        resume = None if target is None else resume_advice(config, target)
        if resume is None:
            raise
        raise Interrupted(resume) from None
    print(f"run folder: {path}")
    print(f"wall time: {time.perf_counter() - started:.1f} s")
    return 0


def label_summary(series) -> str:
    """How many labelled anomalies the series holds, and how many of them its test pieces (which are scored) hold."""
    if not series.labelled:
        return "no labels"
    tested = sum(len(piece.anomaly_idx) for piece in series.test_pieces)
    total = len(series.anomaly_idx)
    return f"{total} labelled anomalies" + ("" if tested == total else f" ({tested} in the test pieces)")


def resume_advice(config, target: Path) -> str | None:
    """After an interrupted load_model 0 training in ``target``: how to resume it, since running the same command
    again would start yet another run folder. None when nothing was trained there yet (running again reuses it)."""
    if not has_training(target):
        return None
    source = config_argument(config)
    how = ("set load_model: 1" if latest_run(config) == target
           else f"set {resume_keys(target)}")  # a newer folder would be resumed instead
    return (f"{how} in {source} and run the same command again to resume {target} from its last finished epoch "
            "(load_model: 0 starts a new run folder)")


def detect_main(argv=None) -> int:
    """Score a trained run beside the random and abs_z controls, evaluate, and draw the figures."""
    parser = ArgumentParser(prog="detect.py", description=detect_main.__doc__)
    parser.add_argument("--config", required=True, help=CONFIG_HELP)
    parser.add_argument("--threshold-rule", choices=THRESHOLD_RULES, help="override the config's threshold_rule")
    parser.add_argument("--run-dir", help="run folder to evaluate (default: the config's newest run folder, <name> or "
                                          "<name>_runN, whose training finished with the config's training keys)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.threshold_rule == "fixed" and config.threshold_value is None:  # the config's key, not the command line
        raise UserError(f"--threshold-rule fixed needs a threshold: set \"threshold_value\" (in the detector's score "
                        f"units) in {args.config}")
    if args.threshold_rule:
        config = config.replace(threshold_rule=args.threshold_rule)
    auto_keys = [key for key in ("l_win", "l_seq") if config[key] == "auto"]
    config, series = load_data(config)
    if args.threshold_rule == "oracle_best_f1" and not series.labelled:  # the option's rule, not the config's key
        from .thresholds import LABEL_FREE_CHOICES

        raise UserError(f"--threshold-rule oracle_best_f1 needs labels, and '{config.dataset_name}' has none; "
                        f"use {LABEL_FREE_CHOICES}")

    path = given_run_dir(args.run_dir) if args.run_dir else latest_run(config, fitted=True)
    if args.run_dir and folder_problem(path):  # a mistyped --run-dir is not made, even for a control
        raise UserError(f"run folder {path} {folder_problem(path)} (--run-dir)")
    if args.run_dir and (problem := foreign_folder(path)):  # a control writes detection/ wherever it is pointed
        raise UserError(f"--run-dir {path} {problem}: give a run folder, or an empty folder for a control")
    if not args.run_dir and (note := copied_run_note(config, path, args.config)):  # a moved or copied run's file
        print(note)
    if not args.run_dir and (note := newer_unfinished_note(config, path)):  # an interrupted newer run is passed over
        print(note)
    from .detectors import CONTROLS

    if not args.run_dir and not has_training(path) and config.detector not in CONTROLS and \
            (moved := auto_windows_moved(config, auto_keys, series.train)):  # not "train first": it was
        raise UserError(f"{moved}: its training data changed since; restore the data it was trained on, or train "
                        f"for the data as it is now with {train_command(config)}")
    require_training(config, path)  # before TensorFlow loads, so that the error comes back at once
    check_run_config(config, path)  # the run was trained with the config's l_win, l_seq, ... (else one line)
    print(f"run folder: {path}")
    # the folder's detection lock, before TensorFlow loads: another scoring of it, or a folder that cannot be
    # written, is one line at once
    with detection_lock(path, COPY_ADVICE):
        return score(config, series, path)


def score(config, series, path: Path) -> int:
    """detect.py's scoring of the run folder ``path``, holding its detection lock: metrics, figures, the table."""
    from .detection import format_table, run_detection, write_report
    from .threads import use_threads

    use_threads()
    if note := scoring_differences(config, path):  # its detector's scoring keys: after the threads are set
        print(note)
    if note := unread_scoring_keys(config, series.n_channel):
        print(note)

    result = run_detection(config, path, series=series)
    metrics_path = write_report(result)
    print(f"{config.dataset_name}: {sum(len(p.labels) for p in result.main.pieces)} test sequences in "
          f"{len(result.main.pieces)} piece(s), scored by {config.detector} in {result.scoring_seconds:.2f} s "
          f"(validation sequences included)")
    print(format_table(result.metrics))
    print(f"metrics, flagged ranges (flagged_ranges.csv and detections.png: {config.detector} at the "
          f"{config.threshold_rule} threshold) and figures: {metrics_path.parent}")
    return 0
