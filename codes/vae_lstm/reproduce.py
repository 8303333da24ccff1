"""Run an experiment file (a grid of datasets x detectors x seeds), then write its tables and figures.

    python3 codes/reproduce.py                                    # table1: 5 NAB series x 8 detectors x 5 seeds
    python3 codes/reproduce.py skab_valve1                        # any file in configs/experiments/
    python3 codes/reproduce.py table1 --detectors vae_lstm arma random abs_z --seeds 1
    python3 codes/reproduce.py table1 --series nyc_taxi --seed 3 --detectors lstm_ae
    python3 codes/reproduce.py table1 --workers 2                 # two runs at once, each on half the CPU threads
    python3 codes/reproduce.py table1 --ray auto                  # each run a task on an existing Ray cluster

Each run trains into the run folder of its config (under the experiment's output_dir) and writes its
detection/metrics.json there; a finished run is skipped, so an interrupted grid goes on where it
stopped. A run folder made with other training keys or data is refused, naming them; the other runs go on
and the grid exits non-zero. The summary (results.md,
results.csv, results.png, detections_<dataset>.png) goes to figures/<experiment>/ when the finished runs cover the
whole grid, and beside the runs (<output_dir>/summary/<experiment>/) otherwise, unless --summary-dir says
where. The tables hold the experiment's seeds (or those asked for) and, beside any detector asked for, the
finished controls of the same datasets and seeds. Relative --output-dir and --summary-dir paths are taken
from the working folder.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import locale
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .config import (
    REPO_ROOT,
    check_folder_name,
    check_writable,
    copy_atomic,
    folder_path,
    read_json_file,
    run_dir,
    write_text_atomic,
)
from .detectors import CONTROLS, DETECTORS, detector_class
from .errors import (
    ArgumentParser,
    ConfigError,
    UserError,
    closest,
    home_path,
    home_text,
    non_empty,
    unmistaken,
)
from .experiment import EXPERIMENT_DIR, Experiment, Job, load_experiment
from .runs import divergence, has_metrics, has_training, read_metrics, unfinished_training

# Table 1 of the paper: best-threshold point-adjusted F1 (precision, recall for the hybrid).
# Its ARMA and LSTM-AD columns are not transcribed here (no copy of the table could be checked), so
# they show as "n/a" rather than as numbers from memory.
PAPER = {
    "ambient_temp": {"L": 168, "precision": 0.806, "recall": 1.0, "vae_lstm": 0.892, "vae": 0.573},
    "cpu_utilization": {"L": 144, "precision": 0.694, "recall": 1.0, "vae_lstm": 0.819, "vae": 0.410},
    "ec2_request": {"L": 192, "precision": 0.993, "recall": 1.0, "vae_lstm": 0.996, "vae": 0.974},
    "machine_temp": {"L": 288, "precision": 0.559, "recall": 1.0, "vae_lstm": 0.717, "vae": 0.207},
    "nyc_taxi": {"L": 168, "precision": 0.961, "recall": 1.0, "vae_lstm": 0.980, "vae": 0.725},
}
DEFAULT_EXPERIMENT = "table1"
MAX_SEEDS = 100  # run folders of seeds 0..99 are looked for when summarising
MAX_THREADS = 1024  # more than any machine's cores: each thread costs a run's TensorFlow ~70 kB and time to start
FIGURES = REPO_ROOT / "figures"


class Once(argparse.Action):
    """An option of one value given twice with another value is refused in one line, rather than the last one taken
    without a word (--seed 0 --seed 1 ran seed 1 alone); the same value twice counts once."""

    def __call__(self, parser, namespace, values, option_string=None):
        before = getattr(namespace, self.dest)
        if before is not None and before != values:
            why = ("it runs one seed; pass --seeds N for seeds 0 to N-1, or run one command per seed"
                   if self.dest == "seed" else "give it once")
            parser.error(f"{option_string} given twice, {before} and {values}: {why}")
        setattr(namespace, self.dest, values)


def parse_args(argv):
    parser = ArgumentParser(prog="reproduce.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", nargs="?", default=DEFAULT_EXPERIMENT,
                        help="experiment file: a name in configs/experiments/ or a path (default: table1)")
    # given twice (--detectors arma --detectors random), a list option keeps both lists, not the last one
    parser.add_argument("--series", "--datasets", nargs="+", dest="series", action="extend", type=non_empty,
                        help="datasets to run (default: all)")
    parser.add_argument("--detectors", nargs="+", choices=list(DETECTORS), action="extend", type=non_empty,
                        help="detectors to run (default: all)")
    parser.add_argument("--seeds", type=int, action=Once, help="seeds 0..N-1 (default: the experiment's)")
    parser.add_argument("--seed", type=int, action=Once, help="run this one seed only")
    parser.add_argument("--output-dir", action=Once, type=non_empty, help="where the run folders go (default: the experiment's output_dir, "
                        "which is taken from the repository root); a relative path here is taken from the working folder")
    parser.add_argument("--workers", type=int, default=1, help="runs at once in local processes (default 1)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="CPU threads per run (default: the cores over --workers). Every op runs on one thread, "
                             "so a run's numbers do not depend on --threads or --workers")
    parser.add_argument("--ray", metavar="ADDRESS", help="run each job as a Ray task: 'local' starts a local Ray "
                                                         "instance, 'auto' or ray://host:port joins a cluster")
    parser.add_argument("--summary-dir", action=Once, type=non_empty, help="where the tables and figures go (default: see above); a relative "
                        "path is taken from the working folder")
    parser.add_argument("--no-summary", action="store_true", help="train and detect only; skip the tables")
    parser.add_argument("--summary-only", action="store_true", help="only rebuild the tables from finished runs")
    parser.add_argument("--ensemble", action="store_true",
                        help="also score the ensemble over the finished seeds of the first detector, per dataset "
                             "(the mean of standardised point scores): ensemble.md and .csv beside the summary")
    args = parser.parse_args(argv)
    for name in ("output_dir", "summary_dir"):  # "~/runs" is the home folder's, as in an experiment file (the shell
        if getattr(args, name):                 # leaves --output-dir=~/runs as it is)
            try:
                setattr(args, name, home_text(getattr(args, name)))
            except ConfigError as e:
                parser.error(f"--{name.replace('_', '-')}: {e}")
    if args.summary_dir:  # '${SCRATCH}/tables' is the variable's folder, as --output-dir's is (``folder_path``)
        try:
            args.summary_dir = str(unmistaken(folder_path(args.summary_dir, "--summary-dir")))
        except ConfigError as e:
            parser.error(str(e))
    if args.seeds is not None and not 1 <= args.seeds <= MAX_SEEDS:
        parser.error(f"--seeds must be between 1 and {MAX_SEEDS}, got {args.seeds}")
    if args.seed is not None and not 0 <= args.seed < MAX_SEEDS:
        parser.error(f"--seed must be between 0 and {MAX_SEEDS - 1}, got {args.seed}")
    if args.seed is not None and args.seeds is not None:  # --seed alone would run, and --seeds be ignored
        parser.error(f"--seed {args.seed} runs one seed and --seeds {args.seeds} the first {args.seeds}; give one of them")
    if args.no_summary and (args.summary_only or args.ensemble or args.summary_dir):
        other = "--summary-only" if args.summary_only else "--ensemble" if args.ensemble else "--summary-dir"
        parser.error(f"--no-summary skips the tables, so {other} would do nothing; drop one of them")
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    if args.summary_only and (unused := [flag for flag, given in (("--workers", args.workers != 1), ("--threads",
                              args.threads is not None), ("--ray", args.ray is not None)) if given]):
        parser.error(f"--summary-only runs nothing, so {' and '.join(unused)} would do nothing; drop "
                     f"{'it' if len(unused) == 1 else 'them'}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.threads is not None and args.threads > MAX_THREADS:  # a mistyped 10: minutes and GBs of idle threads
        parser.error(f"--threads must be between 1 and {MAX_THREADS} (each run's TensorFlow starts that many "
                     f"threads), got {args.threads}")
    if args.ray and importlib.util.find_spec("ray") is None:  # before the grid says it runs on Ray
        from .grid import RAY_NEEDED

        parser.error(RAY_NEEDED)
    if args.ray:  # an address where nothing answers: now, not after Ray's 20 minutes of retries
        from .grid import check_ray_address

        check_ray_address(args.ray)
    if args.summary_dir:  # before any run, not after the whole grid
        try:
            check_writable(Path(args.summary_dir), "--summary-dir")
        except UserError as e:
            parser.error(f"--summary-dir: {e}")
    if args.output_dir is not None:  # as output_dir in a file; the runs' configs would name their dataset's file
        try:
            check_folder_name(args.output_dir, "--output-dir")
        except ConfigError as e:
            parser.error(str(e))
    return args


def vae_keys_differ(vae_config, vae_lstm_config) -> list[str]:
    """Training keys of the VAE stage (every training key the ``vae`` detector reads) whose values differ between a
    ``vae`` and a ``vae_lstm`` config."""
    from .detectors import FOREIGN_KEYS
    from .runs import NOT_TRAINING_KEYS

    a, b = vae_config.to_dict(), vae_lstm_config.to_dict()
    foreign = FOREIGN_KEYS["vae"]
    return sorted(k for k in a.keys() | b.keys() if k not in NOT_TRAINING_KEYS and k != "detector"
                  and k not in foreign and a.get(k) != b.get(k))


def reuse_vae_stage(vae_lstm_config, target: Path, vae_config=None, train_data=None) -> bool:
    """Start a ``vae`` run from the finished VAE stage of the ``vae_lstm`` run of the same series and seed.

    Both train the same VAE from the same config and seed, so the weights are identical (checked
    bit for bit); copying them saves one VAE training per run. Nothing is copied unless that stage
    finished (all its epochs, or early stopping ended it), the target holds no training of its own, (given
    ``vae_config``, the ``vae`` run's) the two configs agree on every key the VAE stage trains with, and (given
    ``train_data``, the training block now) the stage was trained on that data: a VAE fitted on data since
    changed would only get the ``vae`` run refused, where it can train its own. The target gets the ``vae`` run's
    config.json first, as training there writes it: a folder of training without one is refused.
    """
    from .plotting import finished_figures
    from .runs import (
        DATA_FILE,
        data_fingerprint,
        has_training,
        record_config_folder,
        training_changes,
        unrecorded_training,
        write_config_copy,
    )
    from .training import read_state, stopped_key

    if vae_config is not None and vae_keys_differ(vae_config, vae_lstm_config):
        return False
    source = run_dir(vae_lstm_config)
    state_path = source / "state.json"
    if has_training(target) or not (source / "vae.keras").is_file() or not state_path.is_file():
        return False
    # a folder the grid refuses (made with other keys, or with no config.json to say which) is no source
    if unrecorded_training(source) or training_changes(vae_lstm_config, source):
        return False
    if (train_data is not None and (source / DATA_FILE).is_file()
            and read_json_file(source / DATA_FILE) != data_fingerprint(train_data)):  # nor one of other data
        return False
    state = read_state(state_path)
    epochs = state.get("vae", 0)
    stopped = {stopped_key("vae"): epochs} if state.get(stopped_key("vae")) == epochs else {}
    if epochs < vae_lstm_config.num_epochs_vae and not stopped:
        return False
    (target / "figures").mkdir(parents=True, exist_ok=True)
    # first the vae run's config.json, as training there writes it: a folder holding training without one is refused
    own = vae_config if vae_config is not None else vae_lstm_config.replace(detector="vae")
    write_config_copy(own, target)
    record_config_folder(own, target)
    for name in ("vae.keras", "vae_log.csv", DATA_FILE):  # with what it was trained on: the fit checks that
        if (source / name).is_file():  # through a temporary file: a kill mid-copy leaves no truncated checkpoint
            copy_atomic(source / name, target / name)
    for figure in finished_figures(source / "figures", "vae_*.png"):
        copy_atomic(figure, target / "figures" / figure.name)
    write_text_atomic(target / "state.json", json.dumps({"vae": epochs, **stopped}, indent=2) + "\n")
    print(f"vae: reusing the identical VAE stage of {source.name}")
    return True


def collect_finished(experiment: Experiment) -> tuple[dict, dict]:
    """metrics.json of every finished (dataset, detector, seed) run of the experiment (any seed below
    ``MAX_SEEDS``), and why each other finished run is left out: its training was started again, or it was last
    scored under other detection or scoring keys (by another experiment sharing its folder) or by an older
    evaluation. Run the experiment (not --summary-only) to score those again."""
    from .beats import out_of_date as beats_out_of_date
    from .beats import refusal as beats_refusal
    from .grid import out_of_date

    found, left_out, loaded = {}, {}, {}
    for job in experiment.jobs(seeds=range(MAX_SEEDS)):
        run = experiment.run_dir(job)
        if not has_metrics(run):
            continue
        key = (job.dataset, job.detector, job.seed)
        metrics = read_metrics(run)  # None, with a line saying so, when it is damaged
        if metrics is None:
            left_out[key] = f"{run.name}, its metrics.json is damaged (run the experiment to score it again)"
            continue
        try:
            unfinished = unfinished_training(run)
        except UserError as e:  # a damaged state.json: left out with its line, as a damaged config.json is
            left_out[key] = str(e)
            continue
        if unfinished is not None:
            left_out[key] = f"{run.name}, its training has not finished ({unfinished})"
            continue
        config = experiment.config(job.dataset, job.detector, job.seed, resolve=experiment.summary != "beats")
        refused = (beats_refusal(config, run, metrics, loaded) if experiment.summary == "beats"
                   else refusal(config, run, loaded))
        if refused:  # what the grid itself refuses to score
            left_out[key] = f"{refused} (the grid refuses it)"
            continue
        why = (beats_out_of_date(config, metrics) if experiment.summary == "beats"
               else out_of_date(config, metrics, loaded[data_key(config)]))
        if why:
            left_out[key] = f"{run.name}, its metrics.json is from {why} (run the experiment to score it again)"
            continue
        found[key] = metrics
    return found, left_out


def refusal(config, run: Path, loaded: dict) -> str | None:
    """Why the grid would refuse a finished run (``runs.refuse_other_training``: other training keys or data), as
    its one line; None when it would score it. ``loaded``: each dataset's series, read once (``data_key``)."""
    from .prepare import load_data
    from .runs import refuse_other_training

    key = data_key(config)
    if key not in loaded:
        loaded[key] = load_data(config, verbose=False)[1]
    try:
        refuse_other_training(config, run, "the experiment", loaded[key].train)
    except UserError as e:
        return str(e).split(";")[0]
    return None


def data_key(config) -> str:
    """What a config's series is read from: its dataset and the config's file (whose folder a relative data path is
    read from). Not the experiment's dataset label: an override may give one detector of a label another dataset,
    whose runs the grid scores on their own data."""
    return json.dumps([config.dataset, str(config.source)])


def summarise_runs(metrics: dict) -> pd.DataFrame:
    """One row per (series, detector, seed, piece group) with the headline figures.

    Each run also scored the controls; only the run's own detector is taken from it, so each control
    comes from its own runs and appears once per seed.
    """
    from .detection import summary_rows

    rows = []
    for (name, detector, seed), m in metrics.items():
        for row in summary_rows(m):
            if row["detector"] != detector:
                continue
            rows.append({"series": name, "seed": seed, "L": m["span"], "l_win": m["l_win"], "l_seq": m["l_seq"],
                         "wall_seconds": m.get("wall_seconds", np.nan), **row})
    return pd.DataFrame(rows)


def mean_std(values: pd.Series) -> str:
    return f"{values.mean():.3f} ± {values.std(ddof=0):.3f}" if len(values) > 1 else f"{values.mean():.3f}"


def iid_random_row(experiment: Experiment, name: str, seeds: int = 5) -> tuple[int, int, int, str]:
    """The VAE-LSTM config's (L, l_win, l_seq) for the series, resolved against its data ("auto" windows), and
    the paper's metric for an i.i.d. uniform score per sequence of that L (no model at all) on the series' test
    sequences and labels: mean ± std over seeds."""
    from .evaluation import sequence_labels
    from .prepare import load_data

    config, series = load_data(experiment.config(name, "vae_lstm", 0), verbose=False)
    labels = np.concatenate([sequence_labels(p.anomaly_idx, len(p.values) - config.span + 1, config.span)
                             for p in series.test_pieces if len(p.values) >= config.span])
    return config.span, config.l_win, config.l_seq, random_pa_f1(labels, seeds)


def is_paper_series(experiment: Experiment, name: str) -> bool:
    """Whether the experiment's dataset ``name`` is the paper's series of that name (the built-in NAB series), so
    that the paper's figures may stand beside it: not a user's own data under one of its names."""
    return name in PAPER and experiment.config(name, "vae_lstm", 0, resolve=False).dataset == name


def random_pa_f1(labels: np.ndarray, seeds: int = 5) -> str:
    """Oracle point-adjusted F1 of i.i.d. uniform scores against sequence ``labels``, mean ± std over seeds; "n/a"
    when the labels are all one class (undefined: never a perfect or a zero score)."""
    from .evaluation import best_f1

    labels = np.asarray(labels, bool)
    if labels.all() or not labels.any():
        return "n/a"
    f1 = [best_f1(np.random.default_rng(seed).random(len(labels)), labels, adjusted=True)["f1"]
          for seed in range(seeds)]
    return f"{np.mean(f1):.3f} ± {np.std(f1):.3f}"


VERDICT_NOTE = ("'above abs_z?', on the seeds both have: yes when the detector's mean VUS-PR and AUC-PR are both "
                "above abs_z's by more than "
                "the larger of the two seeds' standard deviations; level when both are above, but one by less, or "
                "when one equals abs_z's to the 3 decimals shown and the other is not below; no when either is below; "
                "'yes, 1 seed' when one seed leaves no spread to weigh the gap against.")


def above_abs_z(detector: str, rows: pd.DataFrame, abs_z: pd.DataFrame) -> str:
    """The tables' verdict (``VERDICT_NOTE``): 'yes', 'level' or '**no**' against abs_z's mean VUS-PR and AUC-PR."""
    if detector in CONTROLS:
        return "control"
    metrics = ["vus_pr", "auc_pr"]
    rows, abs_z = rows.dropna(subset=metrics), abs_z.dropna(subset=metrics)  # a seed without figures is not had
    if "seed" in rows and "seed" in abs_z:  # compared on the seeds both have
        common = set(rows.seed) & set(abs_z.seed)
        rows, abs_z = rows[rows.seed.isin(common)], abs_z[abs_z.seed.isin(common)]
    if abs_z.empty or rows.empty:
        return "n/a"
    from .detection import printed_order

    order = [printed_order(rows[m].mean(), abs_z[m].mean()) for m in metrics]  # as the cells print the means
    if -1 in order:
        return "**no**"
    if 0 in order:  # a tie as printed, whichever way the unrounded means differ
        return "level"
    margins = [(rows[m].mean() - abs_z[m].mean(), max(rows[m].std(ddof=0), abs_z[m].std(ddof=0)))
               for m in metrics]
    if min(len(rows), len(abs_z)) < 2:  # no spread: any gap would be a plain yes
        return "yes, 1 seed"
    return "yes" if all(gap > spread for gap, spread in margins) else "level"


def seeds_cell(values: pd.Series) -> str:
    """mean ± std of the defined values; "(k of n)" when some seeds' value is undefined (NaN)."""
    defined = values.dropna()
    if defined.empty:
        return "n/a"
    return mean_std(defined) + (f" ({len(defined)} of {len(values)})" if len(defined) < len(values) else "")


def wall_cell(values: pd.Series) -> str:
    """The mean seconds per run; "n/a" when no run recorded its time (one scored by detect.py, not the grid)."""
    seconds = pd.to_numeric(values, errors="coerce").dropna()
    return "n/a" if seconds.empty else f"{seconds.mean():.0f}"


def share_cell(values: pd.Series) -> str:
    """``seeds_cell`` of a share of points flagged, whose mean reads 0.000 or 1.000 only when it is exactly that: one
    that rounds to either reads "<0.001" or ">0.999" (as ``detection.share_text`` writes percentages)."""
    text, mean = seeds_cell(values), values.dropna().mean()
    if 0 < mean < 1 and f"{mean:.3f}" in ("0.000", "1.000"):
        return ("<0.001" if mean < 0.5 else ">0.999") + text[len("0.000"):]
    return text


def results_markdown(experiment: Experiment, df: pd.DataFrame) -> str:
    """The Table 1 layout: point-level tables, then the paper's metric beside its published figures."""
    from .detection import oracle_column

    main = df[df.pieces == "all"]
    detectors = [d for d in DETECTORS if d in set(main.detector)]
    rule = main.deployable_rule.dropna().iloc[0] if "deployable_rule" in main and main.deployable_rule.notna().any() \
        else "val_quantile"
    several_rules = main.get("deployable_rule", pd.Series(dtype=str)).nunique() > 1
    papers = {name: is_paper_series(experiment, name) for name in experiment.datasets}
    labels = ("every point inside one of NAB's labelled anomaly windows" if all(papers.values()) else
              "each dataset's point labels (a NAB series': every point inside one of its labelled anomaly windows)")
    lines = ["### Point level: every detector beside the controls (mean ± std over seeds)", "",
             f"Labels: {labels}. VUS-PR, AUC-PR and AUC-ROC need no "
             f"threshold; 'deployable' is the `{rule}` threshold"
             f"{' (another where a cell names it)' if several_rules else ''}, chosen without "
             "test labels, with its ratio to "
             "the oracle (the best single threshold on the test labels: a bound for any fixed threshold) over the "
             "scores the rule compares with its threshold, the EWMA-smoothed ones for `dynamic`.", "",
             "| series | detector | seeds | VUS-PR | AUC-PR | AUC-ROC | deployable PW-F1 | ratio to oracle | "
             "deployable Aff-F1 | ratio to oracle | oracle PW-F1 | oracle Aff-F1 | above abs_z? | wall s / run |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in experiment.datasets:
        rows = main[main.series == name]
        z = rows[rows.detector == "abs_z"]
        for d in detectors:
            r = rows[rows.detector == d]
            if r.empty or "vus_pr" not in r:
                continue
            verdict = above_abs_z(d, r, z)
            lines.append(f"| {name} | {d} | {len(r)} | {seeds_cell(r.vus_pr)} | {seeds_cell(r.auc_pr)} | {seeds_cell(r.auc_roc)} "
                         f"| {seeds_cell(r.f1_deployable)}{_at_rule(r, rule)} | {seeds_cell(r.ratio_pointwise)} "
                         f"| {seeds_cell(r.f1_affiliation_deployable)}{_at_rule(r, rule)} "
                         f"| {seeds_cell(r.ratio_affiliation)} | {seeds_cell(r.f1_pointwise_oracle)} | "
                         f"{seeds_cell(r.f1_affiliation_oracle)} | {verdict} | {wall_cell(r.wall_seconds)} |")
    rules = [c[len("f1_pointwise_"):] for c in main.columns
             if c.startswith("f1_pointwise_") and c != "f1_pointwise_oracle"]
    lines += ["", "### Point level: pointwise F1 at each threshold rule that uses no test labels", "",
              "Each ratio is to the oracle over the scores the rule compares (the smoothed ones for `dynamic`); "
              "the last column is the oracle over the point scores.", "",
              "| series | detector | " + " | ".join(f"{r} (ratio)" for r in rules) + " | oracle |",
              "| --- | --- | " + " | ".join("---" for _ in rules) + " | --- |"]
    for name in experiment.datasets:
        rows = main[main.series == name]
        for d in detectors:
            r = rows[rows.detector == d]
            if r.empty or "f1_pointwise_oracle" not in r:
                continue
            cells = [f"{seeds_cell(r[f'f1_pointwise_{x}'])} "
                     f"({seeds_cell(r[f'f1_pointwise_{x}'] / r.get(oracle_column(x, 'pointwise'), np.nan))})" for x in rules]
            lines.append(f"| {name} | {d} | " + " | ".join(cells) + f" | {seeds_cell(r.f1_pointwise_oracle)} |")
    lines += ["", "### The paper's metric, Table 1 layout: oracle point-adjusted F1 over sequences", "",
              "Sequences of L = l_win × l_seq points, anomalous when they hold a label timestamp; the threshold is "
              "the best one on the test labels. The `i.i.d. random` column scores each sequence with an "
              "independent uniform number (no model, 5 seeds): it matches or beats the models on most series, "
              "which is why this metric does not lead here. The `random` control scores points, and a "
              "sequence gets its largest point score, so neighbouring sequences share scores and it does worse.",
              "", "| series | L | " + " | ".join(detectors) + " | i.i.d. random | paper VAE-LSTM | paper VAE |",
              "| --- | --- | " + " | ".join("---" for _ in detectors) + " | --- | --- | --- |"]
    for name in experiment.datasets:
        rows = main[main.series == name]
        if rows.empty:
            continue
        L, l_win, l_seq, iid_random = iid_random_row(experiment, name)  # the row's L: the VAE-LSTM's
        cells = [seeds_cell(rows[rows.detector == d].oracle_pa_f1) + _other_l(rows[rows.detector == d], L)
                 for d in detectors]
        paper = PAPER.get(name, {}) if papers[name] else {}
        lines.append(f"| {name} | {L} ({l_win} × {l_seq}) | "
                     + " | ".join(cells) + f" | {iid_random} | "
                     f"{_paper(paper, 'vae_lstm', L)} | {_paper(paper, 'vae', L)} |")
    lines += related_lines(experiment)
    lines += ["", "The paper's ARMA and LSTM-AD columns are not shown: no copy of its table could be checked here.",
              "", VERDICT_NOTE, "", "PW = pointwise, Aff = affiliation (Huet et al. 2022), VUS = volume under the surface (Paparrizos "
              "et al. 2022). Detectors whose own unit is not the sequence are scored, for the paper's metric, by the "
              "largest point score inside each sequence."]
    return "\n".join(lines) + "\n"


def _at_rule(rows: pd.DataFrame, heading) -> str:
    """" (at `pot`)" after a deployable figure whose rule (the rows' config's) is not the one the heading names
    (``heading``: that rule, or the list of several, when each row then says its own)."""
    own = sorted(set(rows.deployable_rule.dropna())) if "deployable_rule" in rows else []
    if not own or (own == [heading] if isinstance(heading, str) else len(heading) < 2):
        return ""
    return f" (at `{', '.join(own)}`)"


def _other_l(rows: pd.DataFrame, L) -> str:
    """" (L 144)" for a detector whose sequences are of another length than the row's (its own windows)."""
    other = sorted(set(rows.L) - {L})
    return f" (L {', '.join(str(x) for x in other)})" if other else ""


def _paper(figures: dict, key: str, L) -> str:
    """The paper's figure, with " (paper's L 168)" when its sequences are not of the row's length ``L``."""
    if key not in figures:
        return "n/a"
    return f"{figures[key]:.3f}" + (f" (paper's L {figures['L']})" if figures["L"] != L else "")


def related_lines(experiment, columns: dict | None = None) -> list[str]:
    """The table of the experiment's "related" entries (published figures of other projects, beside ours): with
    ``columns`` (figure key -> heading) a column each, and an entry's other figures in its note cell; without, all
    its figures in one cell. No figure or note of an entry is left out."""
    related = experiment.values.get("related", [])
    if not related:
        return []
    headings = list(columns.values()) if columns else ["figures"]
    lines = ["", "Theirs: figures reported elsewhere (each row's source says where), with their own splits, thresholds and code "
             "(not ours, not rerun here):", "",
             "| source | dataset | detector | " + " | ".join(headings) + " | note |",
             "| --- | --- | --- | " + " | ".join("---" for _ in headings) + " | --- |"]
    for entry in related:
        figures = entry["figures"]
        other = ", ".join(f"{k} {v:g}" for k, v in figures.items() if k not in (columns or {}))
        cells = [f"{figures[k]:g}" if k in figures else "" for k in columns] if columns else [other]
        note = "; ".join(text for text in (other if columns else "", entry.get("note", "")) if text)
        lines.append(f"| {entry['source']} | {entry.get('dataset', '')} | {entry.get('detector', '')} | "
                     + " | ".join(cells) + f" | {note} |")
    return lines


def standard_markdown(experiment: Experiment, df: pd.DataFrame) -> str:
    """Every detector beside the controls, per dataset: point-level metrics (mean ± std over seeds) at the
    config's threshold rule; without labels, the share of test points each label-free rule flags."""
    main = df[df.pieces == "all"]
    detectors = [d for d in experiment.detectors if d in set(main.detector)]
    lines = [f"### {experiment.name}", "", experiment.values.get("description", ""), ""]
    labelled = main[main.get("vus_pr", pd.Series(dtype=float)).notna()] if "vus_pr" in main else main.iloc[:0]
    if not labelled.empty:
        rules = sorted({r for r in labelled.deployable_rule.dropna()})
        lines += [f"Point level, mean ± std over seeds. 'deployable' is pointwise F1 at the "
                  f"{', '.join(rules)} rule (the config's threshold_rule, or val_quantile where that is the oracle), "
                  "chosen without test labels; 'flagged' is the share of test points that rule flags; 'oracle' is the "
                  "best threshold on the test labels (a bound for any fixed threshold; `dynamic`, which moves with the smoothed scores, can pass it).", "",
                  "| dataset | detector | seeds | VUS-PR | AUC-PR | AUC-ROC | deployable PW-F1 | deployable Aff-F1 "
                  "| flagged | oracle PW-F1 | above abs_z? | wall s / run |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name in experiment.datasets:
            rows = labelled[labelled.series == name]
            z = rows[rows.detector == "abs_z"]
            for d in detectors:
                r = rows[rows.detector == d]
                if r.empty:
                    continue
                verdict = above_abs_z(d, r, z)
                flagged = r.get(f"flagged_{r.deployable_rule.iloc[0]}", pd.Series([np.nan]))
                lines.append(f"| {name} | {d} | {len(r)} | {seeds_cell(r.vus_pr)} | {seeds_cell(r.auc_pr)} | {seeds_cell(r.auc_roc)} "
                             f"| {seeds_cell(r.f1_deployable)}{_at_rule(r, rules)} | "
                             f"{seeds_cell(r.f1_affiliation_deployable)}{_at_rule(r, rules)} | {share_cell(flagged)} "
                             f"| {seeds_cell(r.f1_pointwise_oracle)} | {verdict} | {wall_cell(r.wall_seconds)} |")
        rules = [c[len("f1_pointwise_"):] for c in labelled.columns
                 if c.startswith("f1_pointwise_") and c != "f1_pointwise_oracle" and labelled[c].notna().any()]
        lines += ["", "Pointwise F1 (share of test points flagged) at each rule that uses no test labels:", "",
                  "| dataset | detector | " + " | ".join(rules) + " | oracle |",
                  "| --- | --- | " + " | ".join("---" for _ in rules) + " | --- |"]
        for name in experiment.datasets:
            rows = labelled[labelled.series == name]
            for d in detectors:
                r = rows[rows.detector == d]
                if not r.empty:
                    lines.append(f"| {name} | {d} | " + " | ".join(
                        f"{seeds_cell(r[f'f1_pointwise_{x}'])} ({share_cell(r[f'flagged_{x}'])})" for x in rules)
                        + f" | {seeds_cell(r.f1_pointwise_oracle)} |")
    rest = main[~main.index.isin(labelled.index)]
    has_labels = rest["labelled"].fillna(False).astype(bool) if "labelled" in rest else pd.Series(False, rest.index)
    for unlabelled, heading in (
            (rest[~has_labels], "No labels: the share of test points each label-free rule flags (mean ± std over seeds)."),
            (rest[has_labels], "Labelled, but every test point's label is the same (all normal or all anomalous), so "
                               "the metrics that need both are undefined: the share of test points each label-free "
                               "rule flags (mean ± std over seeds).")):
        if unlabelled.empty:
            continue
        rules = [c[len("flagged_"):] for c in unlabelled.columns if c.startswith("flagged_")
                 and unlabelled[c].notna().any()]
        lines += ["", heading, "",
                  "| dataset | detector | seeds | " + " | ".join(rules) + " | wall s / run |",
                  "| --- | --- | --- | " + " | ".join("---" for _ in rules) + " | --- |"]
        for name in experiment.datasets:
            rows = unlabelled[unlabelled.series == name]
            for d in detectors:
                r = rows[rows.detector == d]
                if not r.empty:
                    lines.append(f"| {name} | {d} | {len(r)} | " + " | ".join(share_cell(r[f"flagged_{x}"]) for x in rules)
                                 + f" | {wall_cell(r.wall_seconds)} |")
    lines += related_lines(experiment)
    legend = "" if labelled.empty else (" VUS = volume under the surface; AUC-PR = average precision; PW = pointwise, "
                                        f"Aff = affiliation F1. {VERDICT_NOTE}")  # the labelled table's columns
    lines += ["", "random and abs_z are controls." + legend]
    return "\n".join(lines) + "\n"


def grid_complete(experiment: Experiment, metrics: dict) -> bool:
    return all((j.dataset, j.detector, j.seed) in metrics for j in experiment.jobs())


ENSEMBLE_TITLE = "# An ensemble over seeds"


def drop_stale_ensemble(summary_dir: Path, hint: str = " (pass --ensemble to score it again)") -> None:
    """A summary written without --ensemble, or whose ensemble is refused, removes the ensemble.md / ensemble.csv
    that an earlier one wrote beside it (known by ensemble.md's title), so that they are never read as the ensemble
    of these runs."""
    md = summary_dir / "ensemble.md"
    if md.is_file() and md.read_text(encoding="utf-8", errors="replace").startswith(ENSEMBLE_TITLE):
        md.unlink()
        (summary_dir / "ensemble.csv").unlink(missing_ok=True)
        print(f"removed the ensemble of an earlier summary from {summary_dir}{hint}")


def copy_run_figures(experiment: Experiment, metrics: dict, summary_dir: Path, figure: str) -> None:
    """``<figure>_<dataset>.png`` in ``summary_dir``: the run's ``detection/<figure>.png`` of the lowest seed of the
    experiment's first detector that the tables hold (not its first when ``--detectors`` leaves that out). One of an
    earlier summary that these tables have no such figure for (a dataset they no longer hold or that the experiment
    file no longer lists, a run without the figure) is removed, with a line, rather than left beside them as theirs."""
    stale = []
    for name in experiment.datasets:
        held = [d for d in experiment.detectors if any(n == name and det == d for n, det, _ in metrics)]
        target = summary_dir / f"{figure}_{name}.png"
        source = None
        if held:
            seed = min(s for n, d, s in metrics if n == name and d == held[0])
            source = experiment.run_dir(Job(str(experiment.path), name, held[0], seed)) / "detection" / f"{figure}.png"
        if source is not None and source.is_file():
            copy_atomic(source, target)
        elif target.is_file():
            target.unlink()
            stale.append(target.name)
    # and one of a dataset that the experiment file no longer lists (dropped, or its label renamed)
    ours = {f"{figure}_{name}.png" for name in experiment.datasets}
    for target in sorted(summary_dir.glob(f"{figure}_*.png")):
        if target.name not in ours and target.is_file():
            target.unlink()
            stale.append(target.name)
    if stale:
        print(f"removed {', '.join(stale)} of an earlier summary from {summary_dir}: these tables hold no such figure "
              "of their runs")


SUMMARY_FILES = ("results.csv", "results.md", "results.png", "detections_*.png", "beats_*.png")  # as written


def summary_files(summary_dir: Path) -> dict:
    """The files of a summary in ``summary_dir``, each with what tells a file replaced since (by a rename: another
    inode) from the one that was there."""
    found = {}
    for pattern in SUMMARY_FILES:
        for path in sorted(Path(summary_dir).glob(pattern)):
            with contextlib.suppress(OSError):
                st = path.stat()
                found[path.name] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return found


def write_summary(experiment: Experiment, metrics: dict, summary_dir: Path, missing: list | None = None,
                  part: str = "") -> None:
    """results.md and results.csv of the finished runs; ``missing``: the runs the tables should hold and do
    not (not run, unfinished, or left out), named at the end of results.md, after ``part``: the part of the grid
    that the command asked for (``part_asked``), when it did not ask for the whole. A summary that fails or is
    interrupted says which files of an earlier one it has not replaced: they are not of these runs."""
    earlier = summary_files(summary_dir)
    try:
        _write_summary(experiment, metrics, summary_dir, missing, part)
    except BaseException:
        now = summary_files(summary_dir)
        if stale := [name for name, seen in earlier.items() if now.get(name) == seen]:
            names = stale[0] if len(stale) == 1 else f"{', '.join(stale[:-1])} and {stale[-1]}"
            print(f"note: the summary stopped before it replaced {names} in {summary_dir}: "
                  f"{'it is' if len(stale) == 1 else 'they are'} an earlier summary's, not of these runs", flush=True)
        raise


def _write_summary(experiment: Experiment, metrics: dict, summary_dir: Path, missing: list | None,
                   part: str) -> None:
    note = (f"\nThese tables hold the runs that the command asked for, not the experiment file's grid: {part}.\n"
            if part else "") + (
        ("\nNot in these tables (not run, unfinished, or left out for the reason printed), so some rows "
         "average fewer seeds: " + ", ".join(f"{n} {d} seed {seed}" for n, d, seed in missing) + ".\n"
         ) if missing else "")
    if experiment.summary == "beats":  # segment datasets (ECG5000): per-beat metrics, beats.py's own tables
        from .beats import write_summary as write_beats_summary

        return write_beats_summary(experiment, metrics, summary_dir, note)
    df = summarise_runs(metrics)
    summary_dir.mkdir(parents=True, exist_ok=True)
    # each through a temporary file: an interrupted summary leaves the earlier tables whole
    write_text_atomic(summary_dir / "results.csv", df.to_csv(index=False, float_format="%.4f"))
    markdown = results_markdown if experiment.summary == "table1" else standard_markdown
    write_text_atomic(summary_dir / "results.md", markdown(experiment, df) + note)
    from . import plotting

    chart = summary_dir / "results.png"
    if plotting.results_chart(df, chart, f"{experiment.name}: every detector beside the controls") is None:
        chart.unlink(missing_ok=True)  # unlabelled: no chart, and none of an earlier summary left beside the tables
    copy_run_figures(experiment, metrics, summary_dir, "detections")
    print((summary_dir / "results.md").read_text(encoding="utf-8"))
    print(f"summary written to {summary_dir}")


def note_overrides(experiment: Experiment) -> None:
    """A note line for each override of the experiment file that changes no run: one for a detector that it does not
    run, one that its detector never reads, or one that its detector does not read under the jobs' keys."""
    for name in experiment.unused_overrides:
        print(f"note: {experiment.path.name}: overrides.{name} is not used: '{name}' is not in the experiment's "
              f"detectors ({', '.join(experiment.detectors)})")
    for name, key, readers in experiment.unread_overrides:  # accepted, but changes no run: say so
        which = f"{name} never reads it" if name != "*" else "no detector of the experiment reads it"
        who = (f"{', '.join(readers)} {'does' if len(readers) == 1 else 'do'}" if readers else
               "a segment's score is the largest of its units' own scores, whatever the point scores")
        print(f"note: {experiment.path.name}: overrides.{name}.{key} is not used: {which} ({who})")
    for name, key, why in experiment.unread_scoring_overrides:  # read by its detector, but not under these keys
        print(f"note: {experiment.path.name}: overrides.{name}.{key} is not used: {why}")


def main(argv=None) -> int:
    from .grid import RunsFailed, run_grid

    args = parse_args(argv)
    experiment = load_experiment(args.experiment)
    note_overrides(experiment)
    for names in ("series", "detectors"):  # a name given twice would run its jobs twice, side by side
        if getattr(args, names):
            setattr(args, names, list(dict.fromkeys(getattr(args, names))))
    if args.output_dir:
        # "${SCRATCH}/runs" is the variable's folder, as in an experiment file (checked in parse_args)
        experiment.values["output_dir"] = str(folder_path(args.output_dir, "--output-dir").resolve())
    for kind, asked, known in (("dataset", args.series, list(experiment.datasets)),
                               ("detector", args.detectors, experiment.detectors)):
        if unknown := [name for name in asked or [] if name not in known]:
            near = {name: match for name in unknown if (match := closest(name, known))}
            said = [f"'{n}'" if len(unknown) == 1 else f"'{n}' for '{name}'" for name, n in near.items()]
            hint = f"did you mean {', '.join(said)}? " if said else ""
            raise UserError(f"experiment {experiment.name} has no {kind} {', '.join(unknown)}; {hint}"
                            f"its {kind}s: {', '.join(known)}")
    note_unused_output_dirs(experiment, args.series)
    if experiment.added_controls:
        added = experiment.added_controls
        print(f"note: {experiment.path.name} lists no {' or '.join(added)}: {'they are' if len(added) > 1 else 'it is'} "
              "added to its detectors (every table shows the controls)")
    seeds = table_seeds(args, experiment)
    check_datasets(experiment, args.series, args.detectors)  # --summary-only too: its tables need the data's labels
    if not args.summary_only:
        note_idle_patience(experiment, args.series, args.detectors)
    shared = check_shared_runs(experiment)
    check_summary_claim(experiment, args)
    if args.ensemble:
        check_ensemble(experiment, args.series)
    if args.ensemble and not args.summary_only:  # before any run: seeds run or finished
        check_ensemble_seeds(experiment, args, seeds)
    jobs = [] if args.summary_only else one_job_per_run(experiment, experiment.jobs(args.series, args.detectors, seeds),
                                                        shared)
    started = time.perf_counter()
    with one_writer(experiment) if jobs else contextlib.nullcontext():
        if jobs:
            workers = args.workers if args.ray else min(args.workers, len(jobs))  # no process without a run to do
            mode = f"Ray at {args.ray}" if args.ray else f"{workers} worker process(es)"
            print(f"experiment {experiment.name}: {len(jobs)} runs, {mode}")
            if not args.ray:  # a Ray task may ask for a node's larger count
                note_oversubscribed(workers, args.threads)
            try:
                run_grid(jobs, workers, args.ray, args.threads)
            except RunsFailed as e:  # the finished runs' tables are one command away
                if args.no_summary:
                    raise
                raise RunsFailed(f"{e}; the tables of the runs that finished: the same command with --summary-only "
                                 f"(they name the runs missing){earlier_tables_note(experiment, args)}") from None
        if not args.no_summary:
            summarise(experiment, args)
    print(f"wall time: {time.perf_counter() - started:.0f} s")
    return 0


EARLIER_TABLES = ("results.md", "results.csv", "results.png", "ensemble.md", "ensemble.csv")


def earlier_tables_note(experiment, args) -> str:
    """For the line of a grid whose runs failed, or of a summary with no finished run, which write no tables: ";
    <folder> holds an earlier summary's results.md and results.csv, not this grid's" when the folder its summary would
    have gone to (--summary-dir, else beside the runs) holds tables, left as they are; else nothing."""
    folder = Path(args.summary_dir) if args.summary_dir else beside_runs(experiment)
    found = [name for name in EARLIER_TABLES if (folder / name).is_file()]
    if not found:
        return ""
    names = found[0] if len(found) == 1 else f"{', '.join(found[:-1])} and {found[-1]}"
    return f"; {folder} holds an earlier summary's {names}, not this grid's"


def note_idle_patience(experiment: Experiment, datasets=None, detectors=None) -> None:
    """A note line for each detector whose runs on some datasets train under an early_stopping_patience that can end
    none of their stages early (``runs.idle_patience``), naming those datasets."""
    from .runs import idle_patience

    found = {}  # (detector, why) -> datasets
    for detector in detectors or experiment.detectors:
        for dataset in datasets or experiment.datasets:
            if why := idle_patience(experiment.config(dataset, detector, 0, resolve=False)):
                found.setdefault((detector, why), []).append(dataset)
    for (detector, why), names in found.items():
        print(f"note: {experiment.path.name}: {detector} on {', '.join(names)}: {why}")


def note_oversubscribed(workers: int, threads: int | None) -> None:
    """A note when ``workers`` local processes of ``threads`` threads each (default ``grid.threads_per_run``) make
    more threads than this process's usable cores: allowed, as a run's numbers do not depend on them, but slower."""
    from .grid import threads_per_run
    from .threads import usable_cores

    threads = threads or threads_per_run(workers)
    if workers * threads > (cores := usable_cores()):
        print(f"note: {workers} worker process(es) of {threads} thread(s) each make {workers * threads} threads on "
              f"{cores} usable cores: they wait on each other (a run's numbers do not depend on its threads)")


def one_writer(experiment):
    """The lock of the experiment's runs folder, held while this process trains, scores and summarises its
    runs: a second reproduce.py of the same runs stops with one line instead of scoring them twice."""
    from .runs import exclusive

    out = runs_folder(experiment)
    try:
        check_writable(out)  # a file in the way: one line naming it, not "File exists"
    except UserError as e:
        raise UserError(f"experiment {experiment.name}'s output_dir (or --output-dir): {e}") from None
    out.mkdir(parents=True, exist_ok=True)
    return exclusive(out / "reproduce.lock", f"the runs folder {out} (of experiment {experiment.name}, and of any "
                     "other experiment with this output_dir) is in use by another reproduce.py", "wait for it to "
                     "finish or stop it, or pass --output-dir for a separate set of runs")


def check_datasets(experiment, datasets, detectors=None) -> None:
    """Before any run: each dataset loads (its files are there, or download), and the windows and channels of each
    of its jobs fit it, else one line naming it, rather than one failure per run of it; likewise a dataset without
    labels under a rule or a layout that needs them."""
    from .beats import load_segments, segment_specs, split_beats
    from .data_loader import load_config_series

    for name in datasets or experiment.datasets:
        if experiment.summary == "beats":
            try:
                dataset = experiment.config(name, experiment.detectors[0], 0, resolve=False).dataset
                split_beats(load_segments(dataset).normal, 0, **segment_specs()[dataset]["split"])  # fits every seed
            except UserError as e:
                raise UserError(f"experiment {experiment.name}, dataset '{name}': {e}") from None
            continue
        loaded = {}  # dataset (as JSON) -> its series: an override may give a detector another dataset
        for detector in detectors or experiment.detectors:
            config = experiment.config(name, detector, 0, resolve=False)
            try:
                key = json.dumps(config.dataset)
                if key not in loaded:
                    loaded[key] = load_config_series(config, verbose=False)
                experiment.check_fits(name, detector, loaded[key])
            except UserError as e:
                which = f" with detector '{detector}'" if str(e).startswith("the experiment file's") else ""
                raise UserError(f"experiment {experiment.name}, dataset '{name}'{which}: {e}") from None
        # (a rule that needs labels is check_fits's: check_scorable's)
        if experiment.summary == "table1" and not all(series.labelled for series in loaded.values()):
            raise UserError(f"experiment {experiment.name}, dataset '{name}' has no labels, and summary \"table1\" "
                            "reports metrics that need them; set \"summary\": \"standard\", which gives the share of "
                            "test points each rule flags")


def check_shared_runs(experiment) -> dict[tuple[str, str], str]:
    """Two datasets of the experiment whose configs give one run folder (the same exp_name, data name, windows and
    code size) share its runs, which is right only when they give the same run: with other training keys the second
    is refused, with other data or detection keys each scores it over the other's metrics (and the summary leaves
    one out) at every rerun. One line naming both and the keys, before any run. Returns (dataset, detector) -> the
    earlier dataset whose runs of that detector it shares."""
    from .grid import scoring_keys
    from .runs import training_keys

    groups = {}  # first by what names the folder, unresolved: only datasets that may share one are resolved
    for name in experiment.datasets:
        for detector in experiment.detectors:
            config = experiment.config(name, detector, 0, resolve=False)
            groups.setdefault((config.output_dir, config.exp_name, config.dataset_name, config.code_size, detector),
                              []).append(name)
    shared = {}
    for (*_, detector), names in groups.items():
        seen = {}
        for name in names if len(names) > 1 else []:
            config = experiment.config(name, detector, 0)
            path = run_dir(config)
            if path not in seen:
                seen[path] = (name, config)
                continue
            other, first = seen[path]
            shared[(name, detector)] = other
            a, b = first.to_dict(), config.to_dict()
            a["dataset"], b["dataset"] = data_read(first), data_read(config)  # plant.csv beside each: other files
            keys = dict.fromkeys([*training_keys(config), *training_keys(first),
                                  *scoring_keys(config, config.n_channel)])
            if differ := [k for k in keys if a.get(k) != b.get(k)]:
                raise UserError(f"experiment {experiment.name}: datasets '{other}' and '{name}' share the run folders "
                                f"of {detector} (such as {path}) but differ in {', '.join(differ)}, so each would "
                                "score or refuse the other's runs; give one of their configs its own exp_name")
    return shared


def data_read(config):
    """A config's dataset as the files it reads: a CSV dataset object's relative paths as the real paths of the files
    they lead to from the config's folders (``csv_data.read_files``); a series name as it is."""
    if not isinstance(config.dataset, dict):
        return config.dataset
    from .csv_data import read_files
    from .data_loader import dataset_folders

    return read_files(config.dataset, dataset_folders(config))


def one_job_per_run(experiment, jobs: list[Job], shared: dict) -> list[Job]:
    """``jobs`` without those whose run another of them runs (``shared``: ``check_shared_runs``'s), which would
    train and score it a second time, beside the first with --workers; a note names the datasets."""
    asked = set(jobs)
    twins = [job for job in jobs if (job.dataset, job.detector) in shared
             and dataclasses.replace(job, dataset=shared[(job.dataset, job.detector)]) in asked]
    pairs = {}  # (first dataset, the other) -> their detectors
    for job in twins:
        pairs.setdefault((shared[(job.dataset, job.detector)], job.dataset), set()).add(job.detector)
    for (first, name), detectors in pairs.items():
        print(f"note: datasets '{first}' and '{name}' of {experiment.path.name} give the same runs of "
              f"{', '.join(d for d in experiment.detectors if d in detectors)}: each runs once")
    return [job for job in jobs if job not in twins]


def check_ensemble(experiment, datasets) -> None:
    """Before any run: an ensemble needs point scores, labels and a threshold rule other than fixed and dynamic; one
    line naming what lacks them."""
    from .prepare import load_data

    if experiment.summary == "beats":
        raise UserError(f"--ensemble averages point scores, and {experiment.name} scores whole segments (beats); "
                        "drop --ensemble")
    first = experiment.detectors[0]
    unlabelled = []
    for name in datasets or experiment.datasets:
        config = experiment.config(name, first, 0, resolve=False)
        if detector_class(first).spreads_scores(config):  # a detector that only scoring tells is checked then
            hint = " (any point_score but max_sequence)" if first == "vae_lstm" else ""
            raise UserError(f"--ensemble averages one score per point, and {first}, the experiment's first detector, "
                            f"spreads each of its scores over {'a sequence' if first == 'vae_lstm' else 'its unit'} of "
                            f"points on {name}{hint}; drop --ensemble or put a detector of point scores first")
        # fixed: a value on one run's own scores; dynamic: relative drops of error-like scores, which move with where
        # zero is, and the means of z-scores put it at each seed's training mean
        rule = config.threshold_rule
        if rule in ("fixed", "dynamic"):
            why = (f"threshold_value {config.threshold_value:g} is on one run's own scores" if rule == "fixed" else
                   "it needs error-like scores >= 0 and moves with where zero is, while the ensemble's are centred on "
                   "each seed's training mean")
            raise UserError(f"--ensemble compares the mean of each seed's standardised scores with its threshold, and "
                            f"{name}'s config sets threshold_rule '{rule}' ({why}); drop --ensemble "
                            "or pass --series without it")
        series = load_data(config, verbose=False)[1]
        labels = np.concatenate([p.point_labels for p in series.test_pieces]) if series.point_labels is not None \
            else None
        if not series.labelled or (labels is not None and (labels.all() or not labels.any())):
            unlabelled.append(name)  # no labels, or test labels of one class: every figure would be undefined
    if unlabelled:
        has = "has" if len(unlabelled) == 1 else "have"
        raise UserError(f"--ensemble is scored against labels, and {', '.join(unlabelled)} of {experiment.name} "
                        f"{has} none (or test labels of one class only); drop --ensemble or pass --series with "
                        "labelled datasets")


def check_ensemble_seeds(experiment, args, seeds) -> None:
    """Before any run: the ensemble of the experiment's first detector needs two of its seeds, finished or run now,
    on one dataset (of those asked for) at least; else one line, rather than a grid run for an ensemble refused at
    its end. ``--detectors`` without the first detector runs none of its seeds."""
    first = experiment.detectors[0]
    runs = set(seeds) if not args.detectors or first in args.detectors else set()
    if len(runs) >= 2:
        return
    for name in args.series or experiment.datasets:
        finished = {job.seed for job in experiment.jobs([name], [first], range(MAX_SEEDS))
                    if has_metrics(experiment.run_dir(job))}
        if len(finished | runs) >= 2:
            return
    if runs:
        raise UserError(f"--ensemble averages two seeds of {first} at least, and this run asks for one with no "
                        "other finished; pass --seeds 2 or more")
    raise UserError(f"--ensemble averages two seeds of {first} (the experiment's first detector) at least, and "
                    f"--detectors leaves it out with fewer than two of its seeds finished on any dataset; add {first} "
                    "to --detectors or drop --ensemble")


def table_seeds(args, experiment) -> list[int]:
    """The seeds the tables hold: --seed, else --seeds, else the experiment's."""
    return [args.seed] if args.seed is not None else list(range(args.seeds or experiment.seeds))


def in_tables(key, args, experiment) -> bool:
    """Whether a run belongs in the tables: the series, detectors and seeds asked for (by default the
    experiment's seeds), and with any detector asked for, the controls of the same series and seeds."""
    from .detectors import CONTROLS

    series, detector, seed = key
    return ((not args.series or series in args.series) and seed in table_seeds(args, experiment)
            and (not args.detectors or detector in args.detectors or detector in CONTROLS))


SUMMARY_OWNER = ".experiment"  # in a summary folder: the experiment file whose tables it holds


def summary_owner(experiment, summary_dir: Path) -> Path | None:
    """The experiment file whose tables ``summary_dir`` holds (None: none recorded, or one that no longer exists);
    one line when it is another file's: two files of one name (in other folders) that share an output_dir would
    otherwise replace each other's tables silently, and leave the other's figures beside them."""
    summary_dir = Path(summary_dir).resolve()
    owner = summary_dir / SUMMARY_OWNER
    try:
        theirs = owner.read_bytes() if owner.is_file() else None
    except OSError:
        theirs = None
    if theirs is not None:
        try:
            theirs = theirs.decode("utf-8").strip()
        except UnicodeDecodeError:  # one written before files were UTF-8, in the locale's encoding (Windows-1252)
            theirs = theirs.decode(locale.getpreferredencoding(False), errors="replace").strip()
    # recorded relative to the summary folder, so that moving or cloning the tree (runs and files together)
    # keeps the claim; a recorded file that no longer exists (moved, renamed) gives its claim up
    theirs_path = (summary_dir / theirs).resolve() if theirs else None
    if theirs_path is not None and theirs_path != experiment.path.resolve() and theirs_path.is_file():
        raise UserError(f"{summary_dir} holds the summary of another experiment file ({theirs_path}); pass "
                        f"--summary-dir to choose another folder for {experiment.path}'s, or move that one away")
    return theirs_path


def claim_summary_dir(experiment, summary_dir: Path) -> None:
    """Record ``experiment``'s file as the one whose tables ``summary_dir`` holds (after ``summary_owner``)."""
    summary_dir = Path(summary_dir).resolve()
    mine = experiment.path.resolve()
    theirs = summary_owner(experiment, summary_dir)
    summary_dir.mkdir(parents=True, exist_ok=True)
    if theirs != mine:
        write_text_atomic(summary_dir / SUMMARY_OWNER, os.path.relpath(mine, summary_dir) + "\n")


def is_committed(summary_dir: Path) -> bool:
    """Whether ``summary_dir`` is under figures/, which holds the committed tables and is claimed by no file."""
    return Path(summary_dir).resolve().is_relative_to(FIGURES.resolve())


def asks_part(experiment, args) -> bool:
    """Whether the command asks for a part of the grid or other runs: its summary then goes beside the runs."""
    return bool(args.series or args.detectors or args.seed is not None or args.output_dir
                or args.seeds not in (None, experiment.seeds))


def part_asked(experiment, args) -> str:
    """The runs that --series, --detectors, --seed or --seeds ask for where they are not the file's grid (a part of
    it, or more seeds), in words ("seed 1 (the file's: 0 to 4); detectors arma, with the controls"); "" for the
    whole grid. Its tables go to the folder of the whole
    grid's (beside the runs, for an experiment file of one's own), so they say which part they hold."""
    parts = []
    if args.series and set(args.series) != set(experiment.datasets):
        parts.append(f"datasets {', '.join(args.series)} (the file's: {', '.join(experiment.datasets)})")
    if args.detectors and not set(experiment.detectors) - set(CONTROLS) <= set(args.detectors):  # controls: held
        parts.append(f"detectors {', '.join(args.detectors)}, with the controls")
    seeds = table_seeds(args, experiment)
    if seeds != list(range(experiment.seeds)):
        asked = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds 0 to {seeds[-1]}"
        own = "seed 0" if experiment.seeds == 1 else f"0 to {experiment.seeds - 1}"
        parts.insert(0, f"{asked} (the file's: {own})")
    return "; ".join(parts)


def is_shipped(experiment) -> bool:
    """The experiment file of its name in configs/experiments/ (whose full grid's tables go to figures/)."""
    return experiment.path.resolve() == (EXPERIMENT_DIR / f"{experiment.name}.json").resolve()


def runs_folder(experiment) -> Path:
    """The experiment's output_dir (or --output-dir), a relative one taken from the repository root."""
    out = folder_path(experiment.output_dir, "output_dir")  # "~/runs", "${SCRATCH}/runs" (checked when loaded)
    return out if out.is_absolute() else REPO_ROOT / out


def note_unused_output_dirs(experiment, datasets=None) -> None:
    """A note for each dataset config whose own output_dir, load_dir or load_model 0 the grid does not use (its runs
    go under the experiment's, each in its own folder, and resume), which would otherwise be ignored without a word."""
    runs = runs_folder(experiment)
    for dataset in datasets or experiment.datasets:
        experiment.base_config(dataset)
        path, values = experiment.dataset_configs[dataset]
        own = values.get("output_dir")
        if isinstance(own, str) and own.strip():
            folder = home_path(own)
            if (folder if folder.is_absolute() else REPO_ROOT / folder).resolve() != runs.resolve():
                print(f"note: {experiment.path.name}: {Path(path).name}'s output_dir ({own}) is not used: the "
                      f"experiment's runs go under {runs} (the experiment file's output_dir, or --output-dir)")
        if values.get("load_dir", "default") != "default":  # each job trains in its own run folder
            print(f"note: {experiment.path.name}: {Path(path).name}'s load_dir ({values['load_dir']}) is not used: "
                  f"each of the experiment's runs trains in its own folder under {runs}")
        if values.get("load_model", 1) in (0, False):
            print(f"note: {experiment.path.name}: {Path(path).name}'s load_model 0 is not used: the experiment's runs "
                  "always resume (a finished run is skipped)")


def beside_runs(experiment) -> Path:
    """<output_dir>/summary/<experiment>: the summary folder of a partial grid or of another experiment file."""
    return runs_folder(experiment) / "summary" / experiment.name


def check_summary_claim(experiment, args) -> None:
    """Before any run: a summary folder known already (--summary-dir, or beside the runs for an experiment file
    outside configs/experiments/ or a part of a grid) that holds another experiment file's tables is refused now,
    not after the grid; so is figures/<name> (committed, and claimed by no file) for any file but
    configs/experiments/<name>.json, figures/ itself, and a folder of figures/ holding the tables of no experiment
    file (figures/table1_rerun) for any file of another name."""
    if args.no_summary or (not args.summary_dir and is_shipped(experiment) and not asks_part(experiment, args)):
        return  # figures/<experiment> if the grid completes, else beside the runs: known only after the grid
    summary_dir = Path(args.summary_dir) if args.summary_dir else beside_runs(experiment)
    if not is_committed(summary_dir):
        summary_owner(experiment, summary_dir)
        return
    folder = Path(summary_dir).resolve()
    if folder == FIGURES.resolve():  # its results.md and detections_<dataset>.png beside the committed ones
        raise UserError(f"{summary_dir} holds the committed figures of every experiment; pass --summary-dir "
                        f"{summary_dir / experiment.name} or a folder outside it for {experiment.path}'s")
    if folder.parent != FIGURES.resolve():
        return
    shipped = EXPERIMENT_DIR / f"{folder.name}.json"  # figures/<name>: <name>.json's tables
    if shipped.is_file() and shipped.resolve() != experiment.path.resolve():
        raise UserError(f"{summary_dir} holds the committed tables of {shipped}; pass another --summary-dir for "
                        f"{experiment.path}'s")
    # committed tables of no experiment file (figures/table1_rerun): only a file of that name may write them again
    if not shipped.is_file() and folder.name != experiment.name and (folder / "results.md").is_file():
        raise UserError(f"{summary_dir} holds committed tables (its results.md) of no experiment file of that name; "
                        f"pass another --summary-dir for {experiment.path}'s, or move them away first")


def not_scored(run: Path) -> str:
    """Why a run has no metrics.json, in words: it has not run, its training has not finished, or it is not scored."""
    if not has_training(run):
        return "has not run"
    try:
        unfinished = unfinished_training(run)
        diverged = divergence(run)
    except UserError as e:  # a damaged state.json
        return f"has a run folder that cannot be read ({str(e).split(';')[0]})"
    if unfinished and diverged:  # a run of the experiment would diverge again
        return f"has not finished training ({unfinished}): {diverged}"
    if unfinished:
        return f"has not finished training ({unfinished}; a run of the experiment finishes it)"
    return "is trained but not scored (a run of the experiment, not --summary-only, scores it)"


def summarise(experiment, args) -> None:
    found, left_out = collect_finished(experiment)
    for key, why in left_out.items():  # only about the runs the tables would hold
        if in_tables(key, args, experiment):
            print(f"left out of the summary: {why}")
    runs = {(j.dataset, j.detector, j.seed): experiment.run_dir(j) for j in experiment.jobs(seeds=table_seeds(args, experiment))}
    expected = list(runs)
    # a control that --detectors left out is in the tables once finished: it lacks only when left out
    missing = sorted(k for k in expected if k not in found and in_tables(k, args, experiment)
                     and (k in left_out or not args.detectors or k[1] in args.detectors))
    for key in missing:
        if key not in left_out:
            print(f"left out of the summary: {key[0]} {key[1]} seed {key[2]} {not_scored(runs[key])}")
    # the tables: the runs asked for; the ensemble: every finished seed (of the series asked for)
    finished = {key: m for key, m in found.items() if not args.series or key[0] in args.series}
    everything = {key: m for key, m in finished.items() if in_tables(key, args, experiment)}
    if not everything:
        raise UserError("no finished run to summarise" + earlier_tables_note(experiment, args))
    shipped = is_shipped(experiment)
    if args.summary_dir:
        summary_dir = Path(args.summary_dir)
    elif shipped and grid_complete(experiment, everything) and not asks_part(experiment, args):  # the committed tables: its seeds only
        summary_dir = FIGURES / experiment.name
        finished = {key: m for key, m in finished.items() if key[2] < experiment.seeds}
    else:
        summary_dir = beside_runs(experiment)
        why = ("the finished runs do not cover the whole grid, or a part of it was asked for" if shipped else
               f"{experiment.path} is not the experiment file of that name in {EXPERIMENT_DIR.relative_to(REPO_ROOT)}")
        print(f"{why}, so the summary goes beside the runs, not to {FIGURES / experiment.name} (pass "
              "--summary-dir to choose)")
    with summary_writer(summary_dir):
        if not is_committed(summary_dir):
            claim_summary_dir(experiment, summary_dir)
        write_summary(experiment, everything, summary_dir, missing, part_asked(experiment, args))
        if args.ensemble:
            from .ensemble import write_ensemble

            try:
                expected = set(range(experiment.seeds)) | set(table_seeds(args, experiment))  # a seed lacking: a line
                write_ensemble(experiment, finished, summarise_runs(finished), summary_dir, expected, left_out,
                               args.series)
            except BaseException:  # refused, failed or Ctrl-C: an earlier ensemble beside these tables would be read as theirs
                drop_stale_ensemble(summary_dir, hint="")
                raise
        else:
            drop_stale_ensemble(summary_dir)


SUMMARY_LOCK = ".summary.lock"  # in a summary folder: held while a summary writes its tables there


@contextlib.contextmanager
def summary_writer(summary_dir: Path):
    """Hold the summary folder's lock while its tables are written, or stop with one line naming the holder: two
    summaries into one folder at once (a --summary-only beside a grid's, or of another part of the grid) would each
    write over the other's files, leaving results.csv of one beside results.md of the other."""
    from .runs import exclusive

    summary_dir = Path(summary_dir).resolve()
    summary_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(summary_dir / SUMMARY_LOCK, f"the summary folder {summary_dir} is being written by another "
                   "reproduce.py", "wait for it to finish, then run the command again"):
        yield
