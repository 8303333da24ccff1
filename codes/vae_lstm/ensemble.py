"""An ensemble over seeds: the mean of each seed's standardised point scores, evaluated like one detector.

Each seed's finished run scores the training block and the test pieces (``detection.score_detector``).
Its point scores are standardised by the mean and standard deviation of its own training-block point
scores (no labels), then averaged over the seeds, point by point. The ensemble's label-free thresholds
calibrate on the averaged training-block scores (contamination: on the averaged test scores), as one run's do on
its own; ``reproduce.py --ensemble`` refuses ``fixed`` and ``dynamic``, whose thresholds are on a run's own scale and
origin. The runs' point scores must
be one per point (the VAE-LSTM's default ``point_score``, or a detector whose native unit is the point, such as
LSTM-AD), so that the training-block points of every seed line up.

    python3 codes/reproduce.py dev_width512_decoder64 --summary-only --ensemble

writes ``ensemble.md`` and ``ensemble.csv`` beside the experiment's summary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .config import write_text_atomic
from .detection import (
    DetectorResult,
    PieceResult,
    deployable_rule,
    point_metrics,
    score_detector,
    share_text,
    validation_index,
)
from .errors import UserError


def standardise(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(values - mean) / std of ``reference``; a constant reference keeps the scale (std 1). Constant by its range,
    not by std == 0: 0.1 repeated has a float std of 3e-17, which would blow its seed's scores up."""
    reference = np.asarray(reference, float)
    std = float(np.std(reference)) if np.ptp(reference) > 0 else 1.0
    return (np.asarray(values, float) - float(np.mean(reference))) / std


def ensemble_result(members: list[DetectorResult], name: str) -> DetectorResult:
    """The mean over ``members`` of their point scores, each standardised by its training-block point scores."""
    first = members[0]

    def scored(m: DetectorResult) -> str:
        return " and ".join([f"{len(m.val_point_scores)} training-block points",
                             *(f"{len(p.point_scores)} of test piece {p.name}" for p in m.pieces)])

    for k, m in enumerate(members[1:], start=2):  # runs of one config score the same points, whatever point_score
        if scored(m) != scored(first):
            raise UserError(f"the runs of {name} do not score the same points (run 1: {scored(first)}; run {k}: "
                            f"{scored(m)}; unscored training-block points not counted): an ensemble averages "
                            "each point's scores over runs of one series")
    train = np.mean([standardise(m.val_point_scores, m.val_point_scores) for m in members], axis=0)
    pieces = []
    for i, piece in enumerate(first.pieces):
        points = np.mean([standardise(m.pieces[i].point_scores, m.val_point_scores) for m in members], axis=0)
        unscored = [m.pieces[i].unscored for m in members if m.pieces[i].unscored is not None]
        pieces.append(PieceResult(piece.name, piece.start, piece.scores, piece.sequence_scores, piece.labels,
                                  points, piece.point_labels, np.logical_or.reduce(unscored) if unscored else None))
    return DetectorResult(name, first.val_scores, pieces, val_point_scores=train, train_point_scores=train)


def point_row(config, result: DetectorResult, name: str = "") -> dict:
    """VUS-PR, AUC-PR, the pointwise F1 at the deployable rule (``detection.deployable_rule``) and the share it flags,
    and the oracle pointwise F1, over all test pieces. A rule undefined on these scores (``dynamic`` on standardised
    scores of a mean below 0, say) leaves its two figures NaN, with one line saying why (``name``: whose scores)."""
    metrics = point_metrics(config, result, {"all": None})
    group = metrics["all"]
    if "threshold_free" not in group:
        return {}
    rule = deployable_rule(config.threshold_rule)
    if why := metrics["rules"].get(rule, {}).get("undefined"):
        print(f"{name or result.name} has no `{rule}` threshold, so its deployable F1 and flagged share are n/a: {why}")
    at = group["rules"].get(rule, {})
    return {"vus_pr": group["threshold_free"]["vus_pr"], "auc_pr": group["threshold_free"]["auc_pr"],
            "f1_deployable": at.get("pointwise", {}).get("f1", np.nan),
            "f1_pointwise_oracle": group["oracle"]["pointwise"]["f1"],
            "flagged_deployable": at.get("flagged_fraction", np.nan)}


def seed_ensemble(experiment, dataset: str, detector: str, seeds) -> pd.DataFrame:
    """One row per seed's run and one for the ensemble of them all, for one dataset and detector."""
    from .detectors import get_detector
    from .experiment import Job
    from .grid import job_command
    from .prepare import load_data

    members, rows, config = [], [], None
    for seed in seeds:
        config, series = load_data(experiment.config(dataset, detector, seed), verbose=False)
        scorer = get_detector(config)
        job = Job(str(experiment.path), dataset, detector, seed, experiment.values.get("output_dir"))
        path = experiment.run_dir(job)
        if missing := scorer.missing(path):  # its metrics are up to date, so the grid's command alone trains nothing
            raise UserError(f"the ensemble scores seed {seed} of {detector} on {dataset} again, and its run folder "
                            f"{path} has no {' or '.join(missing)}: restore it, or move {path / 'detection'} away "
                            f"and run {job_command(experiment, job)} to train it again and score it")
        scorer.load(path)
        result = score_detector(scorer, config, series, validation_index(config, len(series.train)))
        scores = result.pieces[0].scores if result.pieces else None
        if scores is not None and scores.points_from_native and scores.native_span > 1:
            hint = " (any point_score but max_sequence)" if detector == "vae_lstm" else ""
            raise UserError(f"{detector} runs of {dataset} spread each score over {scores.native_span} points; an "
                            f"ensemble over seeds needs one score per point{hint}")
        members.append(result)
        rows.append({"series": dataset, "detector": detector, "member": f"seed {seed}",
                     **point_row(config, result, f"seed {seed} of {detector} on {dataset}")})
    ensemble = ensemble_result(members, f"{detector} ensemble")
    rows.append({"series": dataset, "detector": detector, "member": f"ensemble of {len(members)}",
                 **point_row(config, ensemble, f"the ensemble of {detector} on {dataset}")})
    return pd.DataFrame(rows)


def mean_cell(values: pd.Series, form) -> str:
    """``form`` of the mean of the defined values; "(k of n)" when some are undefined (NaN), "n/a" when all are."""
    defined = pd.to_numeric(values, errors="coerce").dropna()
    if defined.empty:
        return "n/a"
    return form(defined.mean()) + (f" ({len(defined)} of {len(values)})" if len(defined) < len(values) else "")


def chosen_on(rules: str) -> str:
    """Which averaged scores the threshold rules (``rules``: names joined by ", ") read: the training block's
    (val_quantile, pot, train_max), the unlabelled test scores (contamination, dynamic), or both."""
    from .thresholds import THRESHOLD_RULES

    inputs = {i for r in rules.split(", ") for i in THRESHOLD_RULES[r].inputs}
    reads = [name for name, keys in (("training-block scores", {"val_scores", "train_scores"}),
                                     ("test scores", {"test_scores"})) if inputs & keys]
    return f"the averaged {' or '.join(reads)}"


def ensemble_markdown(table: pd.DataFrame, controls: pd.DataFrame, rule: str | dict, left_out: tuple = (),
                      absent: tuple = (), notes: tuple = ()) -> str:
    """Per series: the ensemble, the mean of its members, and the controls' means (from the summary); ``rule``: the
    deployable rule, or each series' (then, where they differ, each F1 cell names its own); ``left_out``: the series
    of fewer than two seeds, ``absent``: the experiment's seeds an ensemble lacks ("<series> seed <s>"), ``notes``:
    lines under the table (why some cells are n/a)."""
    rules = sorted(set(rule.values())) if isinstance(rule, dict) else [rule]
    if len(rules) == 1:
        deployable = (f"'deployable' is the `{rules[0]}` threshold, chosen on {chosen_on(rules[0])} (no test labels); "
                      f"'flagged' is the share of test points the `{rules[0]}` threshold flags.")
    else:
        deployable = (f"'deployable' is the threshold of each series' own rule ({' or '.join(f'`{r}`' for r in rules)}, "
                      f"named in its cells), chosen on {chosen_on(', '.join(rules))} (no test labels); 'flagged' is the "
                      "share of test points that threshold flags.")
    lines = ["# An ensemble over seeds", "",
             "Each seed's point scores standardised by its own training-block point scores, then averaged; "
             f"{deployable} Point labels, all test pieces. Oracle F1 is at the best single threshold on the test "
             "labels: an upper bound for any fixed threshold, not a deployable figure.",
             "",
             "| series | scores | VUS-PR | AUC-PR | deployable PW-F1 | oracle PW-F1 | flagged |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for (series, detector), rows in table.groupby(["series", "detector"], sort=False):
        members = rows[rows.member.str.startswith("seed")]
        ensemble = rows[~rows.member.str.startswith("seed")].iloc[:1]
        entries = [(f"{detector}, {ensemble.member.iloc[0]}", ensemble),
                   (f"{detector}, mean of the {len(members)} seeds", members)]
        for name, group in controls[controls.series == series].groupby("detector"):
            seeds = f"mean of {len(group)} seeds" if len(group) > 1 else f"seed {group.seed.iloc[0]} alone"
            entries.append((f"{name} (control), {seeds}", group))
        for label, r in entries:
            share = r["flagged_deployable"] if "flagged_deployable" in r else pd.Series(np.nan, index=r.index)
            cells = [mean_cell(r[k], "{:.3f}".format) for k in ("vus_pr", "auc_pr", "f1_deployable",
                                                                   "f1_pointwise_oracle")]
            if len(rules) > 1:
                cells[2] += f" (at `{rule[series]}`)"
            lines.append(f"| {series} | {label} | {' | '.join(cells)} | {mean_cell(share, share_text)} |")
    for note in notes:
        lines += ["", f"{note[0].upper()}{note[1:]}."]
    if left_out:
        lines += ["", f"Left out (fewer than two finished seeds): {', '.join(left_out)}."]
    if absent:
        lines += ["", "Not in the ensemble (not run, unfinished, or left out for the reason printed), so it averages "
                  f"fewer seeds: {', '.join(absent)}."]
    return "\n".join(lines) + "\n"


def unreported_rule_notes(controls: pd.DataFrame, rule_of: dict) -> list[str]:
    """One line per series whose controls were scored without its ensemble's rule: a run reports the deployable rules
    (``evaluation.DEPLOYABLE_RULES``) and its own config's only, so at another (``train_max``) their cells are n/a."""
    from .evaluation import DEPLOYABLE_RULES

    lacking = np.array([rule_of[r.series] not in (*DEPLOYABLE_RULES, r.get("deployable_rule"))
                        for _, r in controls.iterrows()], bool)
    notes = []
    for series, group in controls[lacking].groupby("series", sort=False):
        rule, own = rule_of[series], sorted(set(group.deployable_rule.dropna())) if "deployable_rule" in group else []
        notes.append(f"the controls {' and '.join(sorted(set(group.detector)))} on {series} report no `{rule}` threshold "
                     f"(their config's rule is {' or '.join(f'`{r}`' for r in own) or 'another'}, and a run reports "
                     f"`{rule}` only where its own config sets it), so their deployable PW-F1 and flagged share are n/a")
    return notes


def write_ensemble(experiment, metrics: dict, summary: pd.DataFrame, summary_dir: Path, expected=(),
                   why: dict | None = None, datasets=None) -> None:
    """The ensemble of every finished seed of the experiment's first detector, per dataset (two seeds at least) of
    ``datasets`` (those asked for; all the experiment's by default). Each of the ``expected`` seeds that an ensemble
    lacks is one line, with why (``why``: the reason of a run left out of the summary, by (dataset, detector, seed);
    else what its run folder shows), and named in ensemble.md, as is each dataset of fewer than two seeds."""
    from .detectors import CONTROLS
    from .experiment import Job
    from .reproduce import not_scored

    detector = experiment.detectors[0]
    tables, left_out, absent = [], [], []
    for dataset in [d for d in experiment.datasets if not datasets or d in datasets]:
        seeds = sorted(seed for (name, det, seed) in metrics if name == dataset and det == detector)
        if len(seeds) >= 2:
            for seed in sorted(set(expected) - set(seeds)):
                key = (dataset, detector, seed)
                run = experiment.run_dir(Job(str(experiment.path), *key, experiment.values.get("output_dir")))
                reason = (why or {}).get(key) or f"it {not_scored(run)}"
                print(f"the ensemble of {detector} on {dataset} leaves out seed {seed}: {reason}")
                absent.append(f"{dataset} seed {seed}")
            tables.append(seed_ensemble(experiment, dataset, detector, seeds))
        else:  # a dataset of no finished run at all too: else ensemble.md would not name it
            left_out.append(dataset)
            print(f"the ensemble leaves out {dataset}: fewer than two finished seeds of {detector}")
    if not tables:
        raise UserError(f"an ensemble needs two finished seeds of {detector} on one dataset at least")
    table = pd.concat(tables, ignore_index=True)
    rule_of = {d: deployable_rule(experiment.config(d, detector, 0, resolve=False).threshold_rule)
               for d in set(table.series)}
    # the controls of the datasets that have an ensemble (not of those left out); a first detector that is a control
    # is the ensemble's own members, not a control of them
    controls = [c for c in CONTROLS if c != detector]
    rows = summary[(summary.pieces == "all") & summary.detector.isin(controls) & summary.series.isin(rule_of)].copy()
    # each control at its dataset's ensemble's rule, not its own f1_deployable's: an override may give it another
    for column, prefix in (("f1_deployable", "f1_pointwise"), ("flagged_deployable", "flagged")):
        rows[column] = [r.get(f"{prefix}_{rule_of[r.series]}", np.nan) for _, r in rows.iterrows()]
    notes = unreported_rule_notes(rows, rule_of)
    for note in notes:
        print(note)
    table["deployable_rule"] = [rule_of[name] for name in table.series]
    controls = rows.assign(member=[f"seed {seed}" for seed in rows.seed],
                           deployable_rule=[rule_of[name] for name in rows.series])[list(table.columns)]
    summary_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(summary_dir / "ensemble.csv", pd.concat([table, controls], ignore_index=True).to_csv(
        index=False, float_format="%.4f"))
    write_text_atomic(summary_dir / "ensemble.md", ensemble_markdown(table, rows, rule_of, tuple(left_out), tuple(absent),
                                                                     tuple(notes)))
    print((summary_dir / "ensemble.md").read_text(encoding="utf-8"))
