"""Reproduce the paper's Table 1 over detectors: every NAB series x detector x seed, then tables and figures.

    python3 codes/reproduce.py                                    # 5 series x 8 detectors x 5 seeds
    python3 codes/reproduce.py --detectors vae_lstm vae arma random abs_z --seeds 1
    python3 codes/reproduce.py --series nyc_taxi --seed 3 --detectors lstm_ae

Each run trains into <output_dir>/<exp_name>/<series>_<detector>_... (default experiments/reproduce/)
and writes its detection/metrics.json there; a finished run is skipped, so an interrupted
reproduction goes on where it stopped. A finished run made with another config stops the runner,
naming the keys. The summary (results.md, results.csv, detections_<series>.png) goes to figures/
when the finished runs cover the whole grid, and beside the runs (<output_dir>/summary/) otherwise,
unless --summary-dir says where.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .config import REPO_ROOT, load_config, run_dir
from .detectors import CONTROLS, DETECTORS
from .errors import UserError
from .runs import METRICS_FILE, config_changes, has_metrics

CONFIGS = {
    "ambient_temp": "NAB_ambient_temp_config.json",
    "cpu_utilization": "NAB_cpu_utilization_config.json",
    "ec2_request": "NAB_ec2_request_config.json",
    "machine_temp": "NAB_config.json",
    "nyc_taxi": "NAB_nyc_taxi_config.json",
}
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
# The comparison detectors train as one stage with the LSTM keys of the series' config. Their epoch
# budget is capped here so that the whole grid fits on a small machine; early stopping on the
# validation loss ends a stage sooner. A compute budget, not tuned on any score.
BASELINE_SETTINGS = {
    "lstm_ad": {"num_epochs_lstm": 20, "batch_size_lstm": 64, "early_stopping_patience": 3},
    "lstm_ae": {"num_epochs_lstm": 20, "batch_size_lstm": 64, "early_stopping_patience": 3},
    "lstm_vae": {"num_epochs_lstm": 20, "batch_size_lstm": 64, "early_stopping_patience": 3},
}
DEFAULT_SEEDS = 5
FIGURES = REPO_ROOT / "figures"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="reproduce.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--detectors", nargs="+", choices=list(DETECTORS), default=list(DETECTORS),
                        help="detectors to run (default: all)")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--seed", type=int, help="run this one seed only")
    parser.add_argument("--output-dir", default="experiments/reproduce",
                        help="where the run folders go (relative to the repository root)")
    parser.add_argument("--summary-dir", help="where the tables and figures go (default: see above)")
    parser.add_argument("--no-summary", action="store_true", help="train and detect only; skip the tables")
    parser.add_argument("--summary-only", action="store_true", help="only rebuild the tables from finished runs")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    return args


def run_config(name: str, detector: str, seed: int, output_dir: str):
    """The shipped config of a series, for one detector and seed (with the baselines' budget)."""
    return load_config(CONFIGS[name]).replace(detector=detector, seed=seed, output_dir=output_dir, load_model=True,
                                              **BASELINE_SETTINGS.get(detector, {}))


def run_one(name: str, detector: str, seed: int, output_dir: str) -> dict:
    """Train and detect one (series, detector, seed) unless it is finished; returns its metrics."""
    config = run_config(name, detector, seed, output_dir)
    path = run_dir(config)
    from .detection import METRICS_VERSION, run_detection, write_report

    if has_metrics(path):
        changed = config_changes(config, path)
        if changed:
            raise UserError(f"{path} was made with other values of {', '.join(changed)} than "
                            f"configs/{CONFIGS[name]}; move that folder away (or pass another --output-dir) "
                            "to rerun it")
        metrics = json.loads((path / METRICS_FILE).read_text())
        if metrics.get("metrics_version") == METRICS_VERSION:
            return metrics
        print(f"{path.name}: metrics.json is from an older evaluation; scoring the trained run again")
        result = run_detection(config, path)
        result.metrics["wall_seconds"] = metrics.get("wall_seconds")
        write_report(result)
        return result.metrics
    from .data_loader import load_series
    from .runs import train

    started = time.perf_counter()
    if detector == "vae":
        reuse_vae_stage(run_config(name, "vae_lstm", seed, output_dir), path)
    train(config, load_series(config.dataset).train)
    result = run_detection(config, path)
    result.metrics["wall_seconds"] = round(time.perf_counter() - started, 1)
    write_report(result)
    return result.metrics


def reuse_vae_stage(vae_lstm_config, target: Path) -> bool:
    """Start a ``vae`` run from the finished VAE stage of the ``vae_lstm`` run of the same series and seed.

    Both train the same VAE from the same config and seed, so the weights are identical (checked
    bit for bit); copying them saves one VAE training per run. Nothing is copied unless that stage
    finished all its epochs and the target holds no training of its own.
    """
    from .runs import has_training

    source = run_dir(vae_lstm_config)
    state_path = source / "state.json"
    if has_training(target) or not (source / "vae.keras").is_file() or not state_path.is_file():
        return False
    epochs = json.loads(state_path.read_text()).get("vae", 0)
    if epochs < vae_lstm_config.num_epochs_vae:
        return False
    (target / "figures").mkdir(parents=True, exist_ok=True)
    for name in ("vae.keras", "vae_log.csv"):
        shutil.copyfile(source / name, target / name)
    for figure in (source / "figures").glob("vae_*.png"):
        shutil.copyfile(figure, target / "figures" / figure.name)
    (target / "state.json").write_text(json.dumps({"vae": epochs}, indent=2) + "\n")
    print(f"vae: reusing the identical VAE stage of {source.name}")
    return True


def collect_finished(output_dir: str) -> dict:
    """metrics.json of every finished (series, detector, seed) run of the shipped configs."""
    found = {}
    for name in CONFIGS:
        for detector in DETECTORS:
            for seed in range(100):
                path = run_dir(run_config(name, detector, seed, output_dir)) / METRICS_FILE
                if path.is_file():
                    found[(name, detector, seed)] = json.loads(path.read_text())
    return found


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


def iid_random_pa_f1(name: str, seeds: int = DEFAULT_SEEDS) -> str:
    """The paper's metric for an i.i.d. uniform score per sequence (no model at all), on the series' test
    sequences and labels: mean ± std over seeds."""
    from .data_loader import load_series
    from .evaluation import best_f1, sequence_labels

    config, series = load_config(CONFIGS[name]), load_series(name)
    labels = np.concatenate([sequence_labels(p.anomaly_idx, len(p.values) - config.span + 1, config.span)
                             for p in series.test_pieces if len(p.values) >= config.span])
    f1 = [best_f1(np.random.default_rng(seed).random(len(labels)), labels, adjusted=True)["f1"]
          for seed in range(seeds)]
    return f"{np.mean(f1):.3f} ± {np.std(f1):.3f}"


def _cell(values: pd.Series) -> str:
    values = values.dropna()
    return "n/a" if values.empty else mean_std(values)


def results_markdown(df: pd.DataFrame) -> str:
    main = df[df.pieces == "all"]
    detectors = [d for d in DETECTORS if d in set(main.detector)]
    rule = main.deployable_rule.dropna().iloc[0] if "deployable_rule" in main and main.deployable_rule.notna().any() \
        else "val_quantile"
    lines = ["### Point level: every detector beside the controls (mean ± std over seeds)", "",
             "Labels: every point inside one of NAB's labelled anomaly windows. VUS-PR, AUC-PR and AUC-ROC need no "
             f"threshold; 'deployable' is the `{rule}` threshold, chosen without test labels, with its ratio to "
             "the oracle (the best threshold on the test labels, an upper bound).", "",
             "| series | detector | seeds | VUS-PR | AUC-PR | AUC-ROC | deployable PW-F1 | ratio to oracle | "
             "deployable Aff-F1 | ratio to oracle | oracle PW-F1 | oracle Aff-F1 | above abs_z? | wall s / run |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in CONFIGS:
        rows = main[main.series == name]
        z = rows[rows.detector == "abs_z"]
        for d in detectors:
            r = rows[rows.detector == d]
            if r.empty or "vus_pr" not in r:
                continue
            if d in CONTROLS:
                verdict = "control"
            elif z.empty or r.vus_pr.isna().all():
                verdict = "n/a"
            else:
                above = r.vus_pr.mean() > z.vus_pr.mean() and r.auc_pr.mean() > z.auc_pr.mean()
                verdict = "yes" if above else "**no**"
            lines.append(f"| {name} | {d} | {len(r)} | {_cell(r.vus_pr)} | {_cell(r.auc_pr)} | {_cell(r.auc_roc)} "
                         f"| {_cell(r.f1_deployable)} | {_cell(r.ratio_pointwise)} | {_cell(r.f1_affiliation_deployable)} "
                         f"| {_cell(r.ratio_affiliation)} | {_cell(r.f1_pointwise_oracle)} | "
                         f"{_cell(r.f1_affiliation_oracle)} | {verdict} | {r.wall_seconds.mean():.0f} |")
    rules = [c[len("f1_pointwise_"):] for c in main.columns
             if c.startswith("f1_pointwise_") and c != "f1_pointwise_oracle"]
    lines += ["", "### Point level: pointwise F1 at each threshold rule that uses no test labels", "",
              "| series | detector | " + " | ".join(f"{r} (ratio)" for r in rules) + " | oracle |",
              "| --- | --- | " + " | ".join("---" for _ in rules) + " | --- |"]
    for name in CONFIGS:
        rows = main[main.series == name]
        for d in detectors:
            r = rows[rows.detector == d]
            if r.empty or "f1_pointwise_oracle" not in r:
                continue
            cells = [f"{_cell(r[f'f1_pointwise_{x}'])} ({_cell(r[f'f1_pointwise_{x}'] / r.f1_pointwise_oracle)})"
                     for x in rules]
            lines.append(f"| {name} | {d} | " + " | ".join(cells) + f" | {_cell(r.f1_pointwise_oracle)} |")
    lines += ["", "### The paper's metric, Table 1 layout: oracle point-adjusted F1 over sequences", "",
              "Sequences of L = l_win × l_seq points, anomalous when they hold a label timestamp; the threshold is "
              "the best one on the test labels. The `i.i.d. random` column scores each sequence with an "
              "independent uniform number (no model, 5 seeds): it matches or beats the models on most series, "
              "which is why this metric does not lead here. The `random` control scores points, and a "
              "sequence gets its largest point score, so neighbouring sequences share scores and it does worse.",
              "", "| series | L | " + " | ".join(detectors) + " | i.i.d. random | paper VAE-LSTM | paper VAE |",
              "| --- | --- | " + " | ".join("---" for _ in detectors) + " | --- | --- | --- |"]
    for name in CONFIGS:
        rows = main[main.series == name]
        if rows.empty:
            continue
        cells = [_cell(rows[rows.detector == d].oracle_pa_f1) for d in detectors]
        lines.append(f"| {name} | {rows.L.iloc[0]} ({rows.l_win.iloc[0]} × {rows.l_seq.iloc[0]}) | "
                     + " | ".join(cells) + f" | {iid_random_pa_f1(name)} | {PAPER[name]['vae_lstm']:.3f} "
                     f"| {PAPER[name]['vae']:.3f} |")
    lines += ["", "The paper's ARMA and LSTM-AD columns are not shown: no copy of its table could be checked here.",
              "", "PW = pointwise, Aff = affiliation (Huet et al. 2022), VUS = volume under the surface (Paparrizos "
              "et al. 2022). Detectors whose own unit is not the sequence are scored, for the paper's metric, by the "
              "largest point score inside each sequence."]
    return "\n".join(lines) + "\n"


def grid_complete(metrics: dict) -> bool:
    return all((n, d, s) in metrics for n in CONFIGS for d in DETECTORS for s in range(DEFAULT_SEEDS))


def write_summary(metrics: dict, output_dir: str, summary_dir: Path) -> None:
    df = summarise_runs(metrics)
    summary_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(summary_dir / "results.csv", index=False, float_format="%.4f")
    (summary_dir / "results.md").write_text(results_markdown(df))
    for name in CONFIGS:  # the detections figure of the lowest-seed vae_lstm run
        seeds = sorted(seed for (n, d, seed) in metrics if n == name and d == "vae_lstm")
        if seeds:
            source = run_dir(run_config(name, "vae_lstm", seeds[0], output_dir)) / "detection" / "detections.png"
            if source.is_file():
                shutil.copyfile(source, summary_dir / f"detections_{name}.png")
    print((summary_dir / "results.md").read_text())
    print(f"summary written to {summary_dir}")


def main(argv=None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

    seeds = [args.seed] if args.seed is not None else list(range(args.seeds))
    jobs = [(name, detector, seed) for seed in seeds for name in args.series for detector in args.detectors]
    if args.summary_only:
        jobs = []
    started = time.perf_counter()
    for name, detector, seed in tqdm(jobs, desc="runs", unit="run", file=sys.stdout):
        tqdm.write(f"== {name} {detector} seed {seed}")
        run_one(name, detector, seed, args.output_dir)
    if not args.no_summary:
        everything = collect_finished(args.output_dir)
        if not everything:
            raise UserError("no finished run to summarise")
        if args.summary_dir:
            summary_dir = Path(args.summary_dir)
        elif grid_complete(everything):
            summary_dir = FIGURES
        else:
            out = Path(args.output_dir)
            summary_dir = (out if out.is_absolute() else REPO_ROOT / out) / "summary"
            print(f"the finished runs do not cover the whole grid, so the summary goes beside them, not to "
                  f"{FIGURES} (pass --summary-dir to choose)")
        write_summary(everything, args.output_dir, summary_dir)
    print(f"wall time: {time.perf_counter() - started:.0f} s")
    return 0
