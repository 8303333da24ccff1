"""The tables users read, from hand-made rows: the summaries' cells, verdicts and marks, and how pieces pool."""

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from vae_lstm import detection, reproduce
from vae_lstm.config import from_dict

# per detector, two seeds of the pooled ("all") row; a piece row ("p1") of other values must not enter them
ALL_ROWS = {
    "vae_lstm": {"vus_pr": [0.5, 0.7], "auc_pr": [0.4, 0.4], "auc_roc": [0.8, 0.9], "f1_deployable": [0.2, 0.4],
                 "ratio_pointwise": [0.5, 0.5], "f1_affiliation_deployable": [0.6, 0.6],
                 "ratio_affiliation": [0.75, 0.75], "f1_pointwise_oracle": [0.4, 0.8],
                 "f1_affiliation_oracle": [0.8, 0.8], "flagged_pot": [0.1, 0.3], "wall_seconds": [10.0, 20.0]},
    "abs_z": {"vus_pr": [0.3, 0.3], "auc_pr": [0.2, 0.2]},
    "random": {"vus_pr": [0.9, 0.9], "auc_pr": [0.9, 0.9]},
}


def summary_frame() -> pd.DataFrame:
    rows = []
    for detector, values in ALL_ROWS.items():
        for seed in (0, 1):
            row = {"series": "s", "seed": seed, "L": 144, "detector": detector, "pieces": "all",
                   "deployable_rule": "pot", "vus_pr": 0.5, "auc_pr": 0.5, "auc_roc": 0.5, "f1_deployable": 0.5,
                   "ratio_pointwise": 0.5, "f1_affiliation_deployable": 0.5, "ratio_affiliation": 0.5,
                   "f1_pointwise_oracle": 0.5, "f1_affiliation_oracle": 0.5, "flagged_pot": 0.5,
                   "flagged_val_quantile": 0.9, "wall_seconds": 1.0, "oracle_pa_f1": 0.5}
            row.update({k: v[seed] for k, v in values.items()})
            row["f1_pointwise_pot"] = row["f1_deployable"]
            row["f1_pointwise_val_quantile"] = 0.05
            rows.append(row)
            rows.append({**row, "pieces": "p1", **{k: 0.01 for k in values if k != "wall_seconds"},
                         "wall_seconds": 999.0})
    return pd.DataFrame(rows)


def experiment():
    return SimpleNamespace(name="x", detectors=["vae_lstm", "random", "abs_z"], datasets={"s": ""}, values={})


def header_and_row(text: str, header: str, row: str) -> list[tuple[str, str]]:
    """Each heading of the table whose header line starts with ``header`` beside its cell in the row starting with
    ``row``."""
    lines = text.splitlines()

    def cells(start):
        return [c.strip() for c in next(line for line in lines if line.startswith(start)).strip("|").split("|")]

    return list(zip(cells(header), cells(row), strict=True))


def detector_rows(text: str, header: str) -> list[str]:
    """The detector column of the table under ``header``, top to bottom."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(header)) + 2
    rows = []
    for line in lines[at:]:
        if not line.startswith("|"):
            break
        rows.append(line.split("|")[2].strip())
    return rows


def test_the_table1_row_is_the_pooled_rows_means_with_each_figure_in_its_column(monkeypatch):
    monkeypatch.setattr(reproduce, "iid_random_row", lambda experiment, name: (144, 24, 6, "0.123"))
    text = reproduce.results_markdown(experiment(), summary_frame())
    # mean ± std (ddof 0) over the two seeds of the 'all' rows; the verdict against abs_z (not random): gaps
    # 0.3 (VUS-PR, spread 0.1) and 0.2 (AUC-PR, spread 0): yes; wall seconds: the mean per run
    assert ("| s | vae_lstm | 2 | 0.600 ± 0.100 | 0.400 ± 0.000 | 0.850 ± 0.050 | 0.300 ± 0.100 | 0.500 ± 0.000 "
            "| 0.600 ± 0.000 | 0.750 ± 0.000 | 0.600 ± 0.200 | 0.800 ± 0.000 | yes | 15 |") in text
    assert "| s | random | 2 | 0.900 ± 0.000 |" in text and "| control |" in text
    # the rules table: each rule's F1 over the oracle's, seed by seed: pot 0.2 / 0.4 and 0.4 / 0.8,
    # val_quantile 0.05 / 0.4 and 0.05 / 0.8
    assert "| s | vae_lstm | 0.300 ± 0.100 (0.500 ± 0.000) | 0.050 ± 0.000 (0.094 ± 0.031) | 0.600 ± 0.200 |" in text
    assert "| s | 144 (24 × 6) | 0.500 ± 0.000 | 0.500 ± 0.000 | 0.500 ± 0.000 | 0.123 | n/a | n/a |" in text
    # each heading over its own figure, and the rows in the detectors' order (the controls last)
    assert header_and_row(text, "| series | detector | seeds |", "| s | vae_lstm | 2 |") == [
        ("series", "s"), ("detector", "vae_lstm"), ("seeds", "2"), ("VUS-PR", "0.600 ± 0.100"),
        ("AUC-PR", "0.400 ± 0.000"), ("AUC-ROC", "0.850 ± 0.050"), ("deployable PW-F1", "0.300 ± 0.100"),
        ("ratio to oracle", "0.500 ± 0.000"), ("deployable Aff-F1", "0.600 ± 0.000"),
        ("ratio to oracle", "0.750 ± 0.000"), ("oracle PW-F1", "0.600 ± 0.200"), ("oracle Aff-F1", "0.800 ± 0.000"),
        ("above abs_z?", "yes"), ("wall s / run", "15")]
    assert detector_rows(text, "| series | detector | seeds |") == ["vae_lstm", "random", "abs_z"]


def test_the_standard_row_shows_the_flagged_share_at_the_rows_own_rule():
    text = reproduce.standard_markdown(experiment(), summary_frame())
    assert ("| s | vae_lstm | 2 | 0.600 ± 0.100 | 0.400 ± 0.000 | 0.850 ± 0.050 | 0.300 ± 0.100 | 0.600 ± 0.000 "
            "| 0.200 ± 0.100 | 0.600 ± 0.200 | yes | 15 |") in text
    assert header_and_row(text, "| dataset | detector | seeds |", "| s | vae_lstm | 2 |") == [
        ("dataset", "s"), ("detector", "vae_lstm"), ("seeds", "2"), ("VUS-PR", "0.600 ± 0.100"),
        ("AUC-PR", "0.400 ± 0.000"), ("AUC-ROC", "0.850 ± 0.050"), ("deployable PW-F1", "0.300 ± 0.100"),
        ("deployable Aff-F1", "0.600 ± 0.000"), ("flagged", "0.200 ± 0.100"), ("oracle PW-F1", "0.600 ± 0.200"),
        ("above abs_z?", "yes"), ("wall s / run", "15")]
    # the rows in the experiment's order of detectors, as it lists them (random before abs_z here)
    assert detector_rows(text, "| dataset | detector | seeds |") == ["vae_lstm", "random", "abs_z"]
    assert detector_rows(text, "| dataset | detector | pot |") == ["vae_lstm", "random", "abs_z"]


def test_a_rule_that_no_run_has_a_figure_of_gets_no_column():
    """A column of "n/a" cells only (a rule that no run of these tables scored) is left out, labelled or not."""
    text = reproduce.standard_markdown(experiment(), summary_frame().assign(f1_pointwise_fixed=np.nan,
                                                                            flagged_fixed=np.nan))
    assert "| dataset | detector | pot | val_quantile | oracle |" in text
    unlabelled = pd.DataFrame([{"series": "s", "seed": 0, "detector": "vae_lstm", "pieces": "all", "labelled": False,
                                "flagged_pot": 0.25, "flagged_fixed": np.nan, "wall_seconds": 1.0}])
    text = reproduce.standard_markdown(experiment(), unlabelled)
    assert "| dataset | detector | seeds | pot | wall s / run |" in text and "| s | vae_lstm | 1 | 0.250 | 1 |" in text


def test_the_standard_tables_sentence_does_not_call_the_oracles_fallback_the_configs_rule():
    """Under threshold_rule oracle_best_f1 the deployable column is val_quantile's, and the sentence called that
    "the config's rule (val_quantile)"; it now names the rule and says when it stands in for the oracle."""
    frame = summary_frame().assign(deployable_rule="val_quantile")
    text = reproduce.standard_markdown(experiment(), frame)
    assert ("'deployable' is pointwise F1 at the val_quantile rule (the config's threshold_rule, or val_quantile "
            "where that is the oracle)") in text
    assert "the config's rule (val_quantile)" not in text


def runs(vus, auc) -> pd.DataFrame:
    """The runs of one detector, one row per seed, as the verdict reads them."""
    return pd.DataFrame({"vus_pr": vus, "auc_pr": auc})


def test_the_verdict_at_its_edges():
    z = runs([0.398, 0.398], [0.2, 0.2])
    # equal means, as printed too (0.398 beside 0.398): level, not the no of a mean below
    assert reproduce.above_abs_z("vae_lstm", runs([0.398, 0.398], [0.4, 0.4]), z) == "level"
    # equal at the 3 decimals printed, a little above or below: level; below as printed (0.397): no
    assert reproduce.above_abs_z("vae_lstm", runs([0.3984, 0.3984], [0.4, 0.4]), z) == "level"
    assert reproduce.above_abs_z("vae_lstm", runs([0.3976, 0.3976], [0.4, 0.4]), z) == "level"
    assert reproduce.above_abs_z("vae_lstm", runs([0.3974, 0.3974], [0.4, 0.4]), z) == "**no**"
    assert reproduce.above_abs_z("vae_lstm", runs([0.3974, 0.3974], [0.2, 0.2]), z) == "**no**"  # one below, one level
    assert reproduce.above_abs_z("vae_lstm", runs([0.3984], [0.4]), z.iloc[:1]) == "level"  # not "yes, 1 seed"
    # gap 0.012 against the spread of [0.40, 0.42]: 0.010 with ddof 0 (the tables' ±), so yes
    assert reproduce.above_abs_z("vae_lstm", runs([0.40, 0.42], [0.4, 0.4]), z) == "yes"
    # no abs_z runs (of the seeds the detector has): n/a, not a verdict against nothing
    assert reproduce.above_abs_z("vae_lstm", runs([0.40, 0.42], [0.4, 0.4]), z.iloc[:0]) == "n/a"
    # a gap equal to the spread is not more than it: level (0.75 against 0.25 and 0.75, whose std is 0.25)
    assert reproduce.above_abs_z("vae_lstm", runs([0.75, 0.75], [1.0, 1.0]), runs([0.25, 0.75], [0.0, 0.0])) == "level"
    # abs_z's seeds are paired too: on seed 0, 0.5 against 0.3 (its seed 1, 0.9, is not compared)
    paired = pd.DataFrame({"seed": [0, 1], "vus_pr": [0.3, 0.9], "auc_pr": [0.3, 0.9]})
    assert reproduce.above_abs_z("vae_lstm", pd.DataFrame({"seed": [0], "vus_pr": [0.5], "auc_pr": [0.5]}),
                                 paired) == "yes, 1 seed"


def test_the_verdict_against_abs_z_says_level_when_the_gap_is_inside_the_seeds_spread():
    z = runs([0.30, 0.30], [0.20, 0.20])
    assert reproduce.above_abs_z("vae_lstm", runs([0.50, 0.52], [0.40, 0.40]), z) == "yes"
    # above on both means, but VUS-PR by 0.001 where the seeds spread by 0.005: level
    assert reproduce.above_abs_z("vae_lstm", runs([0.296, 0.306], [0.40, 0.40]), z) == "level"
    assert reproduce.above_abs_z("vae_lstm", runs([0.50, 0.52], [0.19, 0.20]), z) == "**no**"
    assert reproduce.above_abs_z("abs_z", z, z) == "control"
    # one seed: no spread to weigh a gap of 0.01 against, which a plain yes would hide
    assert reproduce.above_abs_z("vae_lstm", runs([0.31], [0.21]), z) == "yes, 1 seed"


def test_a_runs_table_rows_are_its_own_detectors_only(monkeypatch):
    """Each run also scores the controls; the summary takes only the run's own detector from it."""
    monkeypatch.setattr(detection, "summary_rows", lambda m: [{"detector": "vae_lstm", "pieces": "all", "vus_pr": 0.6},
                                                              {"detector": "abs_z", "pieces": "all", "vus_pr": 0.3}])
    df = reproduce.summarise_runs({("s", "vae_lstm", 3): {"span": 144, "l_win": 24, "l_seq": 6}})
    assert df[["series", "seed", "L", "detector", "vus_pr"]].values.tolist() == [["s", 3, 144, "vae_lstm", 0.6]]


def point_row(detector, pieces, vus, auc):
    row = {k: 0.5 for k in ("auc_roc", "f1_pointwise_oracle", "f1_pa_oracle", "pak_auc_oracle", "f1_affiliation_oracle",
                            "f1_range_oracle", "f1_event_oracle", "seq_auc_pr", "oracle_pw_f1", "oracle_pa_f1",
                            "oracle_pa_precision", "oracle_pa_recall", "rule_pw_f1", "rule_pa_f1")}
    return {**row, "detector": detector, "pieces": pieces, "vus_pr": vus, "auc_pr": auc}


def test_the_printed_table_marks_each_row_not_above_abs_z_of_its_own_pieces(monkeypatch):
    rows = [point_row("abs_z", "all", 0.3, 0.3), point_row("abs_z", "p1", 0.6, 0.6), point_row("abs_z", "p2", 0.3, 0.3),
            point_row("vae_lstm", "all", 0.3, 0.4),  # level with abs_z on VUS-PR
            point_row("vae_lstm", "p1", 0.5, 0.5),  # above abs_z's pooled row, below its p1 row
            point_row("vae_lstm", "p2", 0.2996, 0.4),  # below, but 0.300 as printed: level
            point_row("lstm_ae", "all", 0.4, 0.4),  # above on both
            point_row("lstm_ae", "p2", 0.3004, 0.2994),  # 0.300 and 0.299 as printed: below
            point_row("random", "all", 0.1, 0.1)]  # a control: never marked
    monkeypatch.setattr(detection, "summary_rows", lambda metrics: rows)
    metrics = {"labelled": True, "detector": "vae_lstm", "threshold_rule": "val_quantile", "detectors": [],
               "vae_lstm": {"points": {"rules": {}}, "all": {}}}
    lines = detection.format_table(metrics).splitlines()
    marked = {tuple(line.split()[:2]) for line in lines if line.endswith("(not above abs_z)")}
    assert marked == {("vae_lstm", "p1"), ("lstm_ae", "p2")}
    level = {tuple(line.split()[:2]) for line in lines if line.endswith("(level with abs_z)")}
    assert level == {("vae_lstm", "all"), ("vae_lstm", "p2")}


def two_pieces():
    labels = np.array([False, False, True, True])
    a = detection.PieceResult("a", 0, None, np.zeros(1), np.zeros(1, bool), np.array([9.0, 9.0, 0.0, 0.0]),
                              np.array([True, False, False, False]))
    b = detection.PieceResult("b", 10, None, np.zeros(1), np.zeros(1, bool), np.array([0.0, 0.0, 9.0, 9.0]), labels)
    return detection.DetectorResult("x", np.zeros(1), [a, b], val_point_scores=np.linspace(0.0, 1.0, 50))


def test_pieces_pool_in_time_order_and_a_piece_row_takes_that_pieces_flags():
    res = two_pieces()
    scores, labels = res.test_points()
    assert scores.tolist() == [9, 9, 0, 0, 0, 0, 9, 9]
    assert labels.tolist() == [True, False, False, False, False, False, True, True]
    config = from_dict({"threshold_rule": "fixed", "threshold_value": 5.0})
    points = detection.point_metrics(config, res, {"all": None, "a": ["a"], "b": ["b"]})
    # fixed at 5 flags a's first two points and b's last two
    assert points["b"]["rules"]["fixed"]["pointwise"]["f1"] == 1.0
    assert points["a"]["rules"]["fixed"]["pointwise"]["f1"] == pytest.approx(2 / 3)  # 1 of 2 flagged, 1 of 1 found
    assert points["all"]["rules"]["fixed"]["pointwise"]["f1"] == pytest.approx(6 / 7)  # tp 3, fp 1, fn 0


def test_a_cell_is_the_mean_and_population_std_over_seeds():
    # mean 0.3 (the median would be 0.2), std sqrt((0.04 + 0.01 + 0.09) / 3) = 0.216
    assert reproduce.mean_std(pd.Series([0.1, 0.2, 0.6])) == "0.300 ± 0.216"
    assert reproduce.seeds_cell(pd.Series([0.1, np.nan, 0.2, 0.6])) == "0.300 ± 0.216 (3 of 4)"
    # the wall seconds: the mean of the runs that recorded theirs (the median would be 20)
    assert reproduce.wall_cell(pd.Series([10.0, 20.0, np.nan, 60.0])) == "30"


def test_the_beats_table_row_is_its_datasets_mean_over_seeds():
    from vae_lstm import beats

    rows = [{"dataset": dataset, "detector": "vae_lstm", "seed": seed, **dict.fromkeys(beats.METRICS, 0.5),
             "f1": f1, "n_test_normal": 10, "n_test_anomalous": 5, "n_validation": 4, "n_train": 20,
             "threshold_quantile": 0.95, "wall_seconds": float(seed + 1)}
            for dataset, f1s in (("ecg", [0.1, 0.2, 0.6]), ("other", [0.9])) for seed, f1 in enumerate(f1s)]
    experiment = SimpleNamespace(name="x", values={}, datasets={"ecg": "", "other": ""}, detectors=["vae_lstm"])
    text = beats.markdown(experiment, pd.DataFrame(rows))
    assert "| ecg | vae_lstm | 3 | 0.500 ± 0.000 | 0.500 ± 0.000 | 0.500 ± 0.000 | 0.300 ± 0.216 | 0.500 ± 0.000 " \
           "| 0.500 ± 0.000 | 2 |" in text
    assert "| other | vae_lstm | 1 | 0.500 | 0.500 | 0.500 | 0.900 | 0.500 | 0.500 | 1 |" in text
    assert "Test: 10 normal + 5 anomalous beats; threshold: the 0.95 quantile of 4 validation beats" in text
    # a seed without a figure (no beat flagged: precision undefined) is counted, not dropped without a word
    rows[1]["f1"] = float("nan")
    assert "| 0.350 ± 0.250 (2 of 3) |" in beats.markdown(experiment, pd.DataFrame(rows))
    # each heading over its own figure
    one = [{**rows[0], "accuracy": 0.1, "precision": 0.2, "recall": 0.3, "f1": 0.4, "auc_roc": 0.5, "auc_pr": 0.6}]
    assert header_and_row(beats.markdown(experiment, pd.DataFrame(one)), "| dataset |", "| ecg |") == [
        ("dataset", "ecg"), ("detector", "vae_lstm"), ("seeds", "1"), ("accuracy", "0.100"), ("precision", "0.200"),
        ("recall", "0.300"), ("F1", "0.400"), ("AUC-ROC", "0.500"), ("AUC-PR", "0.600"), ("wall s / run", "1")]


def test_the_beats_tables_name_each_threshold_quantile_their_runs_used():
    """Runs at two threshold_quantiles (an override for one detector) read "threshold: the the config's
    threshold_quantile quantile", naming neither."""
    from vae_lstm import beats

    rows = [{"dataset": "ecg", "detector": detector, "seed": 0, **dict.fromkeys(beats.METRICS, 0.5),
             "n_test_normal": 10, "n_test_anomalous": 5, "n_validation": 4, "n_train": 20, "threshold_quantile": q,
             "wall_seconds": 1.0} for detector, q in (("vae_lstm", 0.99), ("abs_z", 0.95))]
    experiment = SimpleNamespace(name="x", values={}, datasets={"ecg": ""}, detectors=["vae_lstm", "abs_z"])
    text = beats.markdown(experiment, pd.DataFrame(rows))
    assert ("threshold: the quantile of 4 validation beats' scores at each run's threshold_quantile (0.95 or 0.99);"
            in text) and "the the" not in text
    assert "threshold: the 0.99 quantile of 4 validation beats' scores;" in beats.markdown(experiment, pd.DataFrame(rows[:1]))


def test_the_beats_tables_say_when_the_detectors_of_a_seed_split_the_beats_differently():
    """Runs of one seed split differently (one made with another split of the dataset) were all given the first
    row's counts and the words "the same for every detector of a seed"."""
    from vae_lstm import beats

    rows = [{"dataset": "ecg", "detector": detector, "seed": 0, **dict.fromkeys(beats.METRICS, 0.5),
             "n_test_normal": 10, "n_test_anomalous": 5, "n_validation": n_val, "n_train": 24 - n_val,
             "threshold_quantile": 0.99, "wall_seconds": 1.0} for detector, n_val in (("vae_lstm", 4), ("abs_z", 6))]
    experiment = SimpleNamespace(name="x", values={}, datasets={"ecg": ""}, detectors=["vae_lstm", "abs_z"])
    text = beats.markdown(experiment, pd.DataFrame(rows))
    assert "the 0.99 quantile of 4 to 6 validation beats' scores; training: 18 to 20 normal beats;" in text
    assert "its sizes differ between the runs of a seed" in text and "the same for every detector" not in text
    same = beats.markdown(experiment, pd.DataFrame(rows[:1]))
    assert "4 validation beats' scores; training: 20 normal beats; the split is drawn anew for each seed, the same" in same


def test_the_iid_random_column_is_point_adjusted():
    """One anomaly of 10 sequences in 50: point-adjusted, the threshold at the anomaly's top score finds all 10 at
    the cost of the k normals above it, F1 20 / (20 + k) with k 40 / 11 on average (about 0.85); the pointwise best
    of a uniform score is about 0.4."""
    labels = np.zeros(50, bool)
    labels[20:30] = True
    assert float(reproduce.random_pa_f1(labels).split(" ± ")[0]) > 0.7


def test_the_iid_random_column_scores_every_sequence_of_each_test_piece(monkeypatch):
    """Sequences of L = 3: a piece of 6 points has 4 (the last, points 3..5, holds its anomaly at 5), one of 4 points
    2 (the first holds its anomaly at 0), and one of 2 points none."""
    from vae_lstm import prepare

    pieces = [SimpleNamespace(values=np.zeros(n), anomaly_idx=np.array(at)) for n, at in ((6, [5]), (4, [0]), (2, []))]
    config = SimpleNamespace(span=3, l_win=3, l_seq=1)
    monkeypatch.setattr(prepare, "load_data", lambda config, verbose: (config, SimpleNamespace(test_pieces=pieces)))
    seen = []
    monkeypatch.setattr(reproduce, "random_pa_f1", lambda labels, seeds: seen.append(labels.tolist()) or "0.5")
    exp = SimpleNamespace(config=lambda *args, **kwargs: config)
    assert reproduce.iid_random_row(exp, "s") == (3, 3, 1, "0.5")
    assert seen == [[False, False, False, True, True, False]]


def test_a_summary_writes_its_csv_to_four_decimals_and_names_the_runs_it_lacks(tmp_path, monkeypatch):
    from vae_lstm import plotting

    monkeypatch.setattr(reproduce, "summarise_runs", lambda metrics: summary_frame().assign(vus_pr=0.123456))
    monkeypatch.setattr(plotting, "results_chart", lambda *args: None)
    exp = SimpleNamespace(**vars(experiment()), summary="standard")
    reproduce.write_summary(exp, {}, tmp_path, missing=[("s", "vae_lstm", 2), ("s", "abs_z", 1)])
    assert set(pd.read_csv(tmp_path / "results.csv").vus_pr) == {0.1235}
    assert (tmp_path / "results.md").read_text().endswith(
        "so some rows average fewer seeds: s vae_lstm seed 2, s abs_z seed 1.\n")
    # and a beats experiment's (ECG5000's) own tables
    from vae_lstm import beats

    monkeypatch.setattr(beats, "summary_rows", lambda metrics: pd.DataFrame([{"dataset": "s", "f1": 0.123456}]))
    monkeypatch.setattr(beats, "markdown", lambda experiment, df: "tables\n")
    reproduce.write_summary(SimpleNamespace(**{**vars(exp), "summary": "beats"}), {}, tmp_path / "b",
                            missing=[("s", "abs_z", 1)])
    assert pd.read_csv(tmp_path / "b" / "results.csv").f1.tolist() == [0.1235]
    assert (tmp_path / "b" / "results.md").read_text() == ("tables\n\nNot in these tables (not run, unfinished, or left "
                                                         "out for the reason printed), so some rows average fewer seeds: "
                                                         "s abs_z seed 1.\n")


def test_a_summary_shows_the_detection_figure_of_the_lowest_seed_of_the_first_detector_it_holds(tmp_path):
    def run_dir(job):
        return tmp_path / "runs" / f"{job.dataset}_{job.detector}_{job.seed}"

    for detector, seed in (("vae_lstm", 3), ("vae_lstm", 1), ("random", 0)):
        figure = run_dir(SimpleNamespace(dataset="s", detector=detector, seed=seed)) / "detection" / "detections.png"
        figure.parent.mkdir(parents=True)
        figure.write_bytes(f"{detector} {seed}".encode())
    exp = SimpleNamespace(**vars(experiment()), path="e.json", run_dir=run_dir)
    metrics = {("s", "vae_lstm", 3): {}, ("s", "random", 0): {}, ("s", "vae_lstm", 1): {}}
    (tmp_path / "sum").mkdir()
    reproduce.copy_run_figures(exp, metrics, tmp_path / "sum", "detections")
    assert (tmp_path / "sum" / "detections_s.png").read_bytes() == b"vae_lstm 1"


def test_a_grid_is_complete_when_every_job_of_it_has_metrics():
    from vae_lstm.experiment import Job

    exp = SimpleNamespace(jobs=lambda: [Job("e.json", "s", "vae_lstm", 0), Job("e.json", "s", "vae_lstm", 1)])
    assert not reproduce.grid_complete(exp, {("s", "vae_lstm", 0): {}})
    assert reproduce.grid_complete(exp, {("s", "vae_lstm", 0): {}, ("s", "vae_lstm", 1): {}})


def test_the_pooled_row_holds_every_piece_and_each_piece_has_its_own():
    from pathlib import Path

    res = two_pieces()
    series = SimpleNamespace(labelled=True, train_start=4, train_end=10, test_pieces=[])
    result = detection.Detection(from_dict({"threshold_rule": "fixed", "threshold_value": 5.0}), Path("run"), series,
                                 np.arange(1), {"vae_lstm": res}, 0.0)
    metrics = detection.compute_metrics(result)
    points = metrics["vae_lstm"]["points"]
    assert [(g, points[g]["n"], points[g]["n_anomalous"]) for g in ("all", "a", "b")] == [
        ("all", 8, 3), ("a", 4, 1), ("b", 4, 2)]
    assert metrics["vae_lstm"]["all"]["n"] == 2 and metrics["vae_lstm"]["b"]["n"] == 1  # sequences
    rows = {r["pieces"]: r for r in detection.summary_rows(metrics)}
    assert rows["all"]["f1_deployable"] == pytest.approx(6 / 7) and rows["b"]["f1_deployable"] == 1.0


def test_unscored_sequences_take_the_lowest_score():
    assert detection.fill_unscored([np.nan, 2.0, 1.0]).tolist() == [1.0, 2.0, 1.0]
    assert detection.fill_unscored([np.nan, np.nan]).tolist() == [0.0, 0.0]


def test_the_pooled_note_names_only_pieces_that_meet_inside_anomalies():
    def piece(name, start, labels):
        return detection.PieceResult(name, start, None, np.zeros(1), np.zeros(1, bool), np.zeros(len(labels)),
                                     np.array(labels))

    series = SimpleNamespace(train_start=2, train_end=10)
    assert detection.joined_anomalies(series, [piece("a", 0, [False, True]), piece("b", 10, [False, True])]) is None
    assert detection.joined_anomalies(series, [piece("a", 0, [True, False]), piece("b", 10, [True, True])]) is None
    note = detection.joined_anomalies(series, [piece("a", 0, [False, True]), piece("b", 10, [True, False])])
    assert note.startswith("test pieces 'a' and 'b' meet inside labelled anomalies")
    assert note.endswith("(a training block that starts one row later avoids it)")  # a ends where training starts


def test_the_pooled_note_names_pieces_whose_sequence_labels_meet_though_their_points_do_not():
    """The paper's metric labels a sequence of span points anomalous when it holds a label timestamp, so a piece whose
    last sequence holds one and a next piece whose first sequence holds one are joined into one anomaly by the pooled
    'all' row, even where their point labels do not meet: a hit on a's alone was a perfect pooled point-adjusted F1
    (tp 2, fp 0) where b's own row, its anomaly scoring as its normal sequences, is 0.4 (flag all: tp 1, fp 3). No line
    said so."""
    from vae_lstm import evaluation

    def piece(name, start, sequence_labels, scores):
        return detection.PieceResult(name, start, None, np.array(scores, float), np.array(sequence_labels, bool),
                                     np.zeros(6), np.zeros(6, bool))

    a = piece("a", 0, [0, 0, 0, 1], [0, 0, 0, 5])
    b = piece("b", 20, [1, 0, 0, 0], [0, 0, 0, 0])
    pooled = evaluation.summarise(np.r_[a.sequence_scores, b.sequence_scores], np.r_[a.labels, b.labels], 5.0)
    assert pooled["oracle_point_adjusted"]["f1"] == 1.0  # what the pooled row shows
    assert evaluation.summarise(b.sequence_scores, b.labels, 5.0)["oracle_point_adjusted"]["f1"] == pytest.approx(0.4)
    note = detection.joined_anomalies(SimpleNamespace(train_start=6, train_end=20), [a, b])
    assert note is not None and note.startswith("test pieces 'a' and 'b' meet inside the paper's sequence labels")
    assert "the paper's metric" in note and "training block" not in note
    c = piece("c", 40, [0, 1, 0, 0], [0, 0, 0, 0])  # b's last sequence is normal: no pair
    assert detection.joined_anomalies(SimpleNamespace(train_start=6, train_end=20), [b, c]) is None


def test_a_beat_scoring_the_threshold_itself_is_flagged():
    from vae_lstm.beats import beat_metrics

    # threshold: the 0.75 quantile of 1..5, 4.0; the anomalous beat scoring exactly 4.0 is flagged
    m = beat_metrics([4.0, 3.9, 5.0, 1.0], [True, False, True, False], np.array([1.0, 2, 3, 4, 5]), 0.75)
    assert (m["threshold"], m["tp"], m["fp"], m["fn"], m["tn"], m["recall"]) == (4.0, 2, 0, 0, 2, 1.0)


def test_a_label_in_a_pieces_last_points_marks_the_sequences_that_hold_it():
    from vae_lstm.evaluation import sequence_labels

    # 4 sequences of 3 points over points 0..5: only the last (points 3..5) holds point 5, only the first point 0
    assert sequence_labels([5], 4, 3).tolist() == [False, False, False, True]
    assert sequence_labels([0], 4, 3).tolist() == [True, False, False, False]


def test_a_flagged_share_near_none_or_all_is_never_printed_as_exactly_that(monkeypatch):
    """1999 of 2000 test points flagged printed "100.0%", though flagged_ranges.csv leaves one point out (and 1 of
    4000 printed "0.0%"): a share that rounds to 100% or 0% without being it now reads ">99.9%" or "<0.1%", in the
    detection table, the unlabelled one (two decimals) and the ensemble's."""
    from vae_lstm.ensemble import ensemble_markdown

    shares = {"val_quantile": 1999 / 2000, "pot": 1 / 4000, "dynamic": 1.0, "contamination": 0.0}
    row = {**point_row("vae_lstm", "all", 0.5, 0.5), **{f"f1_pointwise_{r}": 0.5 for r in shares},
           **{f"f1_affiliation_{r}": 0.5 for r in shares}, **{f"flagged_{r}": v for r, v in shares.items()}}
    monkeypatch.setattr(detection, "summary_rows", lambda metrics: [row])
    metrics = {"labelled": True, "detector": "vae_lstm", "threshold_rule": "val_quantile", "detectors": [],
               "vae_lstm": {"points": {"rules": dict.fromkeys(shares, {})}, "all": {}}}
    line = next(line for line in detection.format_table(metrics).splitlines() if "0.500 /  0.500 /" in line)
    assert re.findall(r"0\.500 /  0\.500 / (.{6})", line) == [">99.9%", " <0.1%", "100.0%", "  0.0%"]

    unlabelled = {"skipped": "no labels", "detector": "vae_lstm", "detectors": ["vae_lstm"], "vae_lstm": {"points": {
        "rules": {"val_quantile": {"flagged_fraction": 39999 / 40000, "flagged_points": 39999},
                  "pot": {"flagged_fraction": 1 / 40000, "flagged_points": 1}}}}}
    assert detection.format_unlabelled(unlabelled).splitlines()[-2] == (
        f"vae_lstm  {'>99.99% (39999)':>22} {'<0.01% (1)':>22}")
    # a count of a million points: each cell's right edge stays under its header's (a 4-wide count pushed it out)
    unlabelled["vae_lstm"]["points"]["rules"]["val_quantile"] = {"flagged_fraction": 0.5, "flagged_points": 1234567}
    header, rule, row = detection.format_unlabelled(unlabelled).splitlines()[2:5]
    assert row == f"vae_lstm  {'50.00% (1234567)':>22} {'<0.01% (1)':>22}"
    assert len(header) == len(rule) == len(row) and header.index("pot flagged") + len("pot flagged") == len(row)
    assert header.index("val_quantile flagged") + len("val_quantile flagged") == row.index(")") + 1

    cells = {"series": "s", "detector": "vae_lstm", "vus_pr": 0.5, "auc_pr": 0.5, "f1_deployable": 0.4,
             "f1_pointwise_oracle": 0.6}
    table = pd.DataFrame([{**cells, "member": "seed 0", "flagged_deployable": 0.9995},
                          {**cells, "member": "seed 1", "flagged_deployable": 0.9995},
                          {**cells, "member": "ensemble of 2", "flagged_deployable": 0.0004}])
    text = ensemble_markdown(table, pd.DataFrame(columns=[*cells, "seed"]), "val_quantile")
    assert "| 0.400 | 0.600 | <0.1% |" in text and "| 0.400 | 0.600 | >99.9% |" in text and "100.0%" not in text


def test_an_experiments_flagged_share_near_none_or_all_is_never_printed_as_exactly_that():
    """SKAB valve1's random control flags 5 of its 18160 test points at train_max, and results.md printed its share
    as 0.000 beside a nonzero F1 (as the detection table did with 0.0% until it read "<0.1%"): a mean share that
    rounds to 0.000 or 1.000 without being it now reads "<0.001" or ">0.999", in the labelled tables and the
    unlabelled one (KLSE's); exact shares keep their figures."""
    frame = summary_frame().assign(flagged_pot=5 / 18160, flagged_val_quantile=1.0)
    frame.loc[frame.detector == "abs_z", "flagged_pot"] = 18159 / 18160
    text = reproduce.standard_markdown(experiment(), frame)
    assert "| 0.300 ± 0.100 | 0.600 ± 0.000 | <0.001 ± 0.000 | 0.600 ± 0.200 | yes | 15 |" in text  # the flagged column
    assert "| s | vae_lstm | 0.300 ± 0.100 (<0.001 ± 0.000) | 0.050 ± 0.000 (1.000 ± 0.000) |" in text
    assert "| s | abs_z | 0.500 ± 0.000 (>0.999 ± 0.000) |" in text
    unlabelled = pd.DataFrame([{"series": "s", "seed": 0, "detector": "vae_lstm", "pieces": "all", "labelled": False,
                                "flagged_pot": 1 / 4000, "flagged_dynamic": 0.0, "wall_seconds": 1.0}])
    assert "| s | vae_lstm | 1 | <0.001 | 0.000 | 1 |" in reproduce.standard_markdown(experiment(), unlabelled)


@pytest.mark.parametrize("cut, stale", [("results.csv", "results.csv, results.md and results.png"),
                                        ("results.md", "results.md and results.png")])
def test_a_summary_cut_short_leaves_the_earlier_tables_whole(tmp_path, monkeypatch, cut_short_writes, cut, stale,
                                                              capsys):
    """results.csv and results.md were written in place: a Ctrl-C or kill of reproduce.py while it wrote them (in
    figures/<experiment>/ too, the committed tables) left the first lines of a table where the whole earlier one
    was. Each goes through a temporary file and a rename: an interrupted summary leaves the earlier ones whole, and
    says which of the folder's files it did not replace (results.csv of this summary stood beside the earlier
    results.md and chart without a word)."""
    monkeypatch.setattr(reproduce, "summarise_runs", lambda metrics: summary_frame())
    exp = SimpleNamespace(**vars(experiment()), summary="standard")
    reproduce.write_summary(exp, {}, tmp_path)
    before = {name: (tmp_path / name).read_text() for name in ("results.csv", "results.md")}
    cut_short_writes(cut)
    capsys.readouterr()
    with pytest.raises(KeyboardInterrupt):
        reproduce.write_summary(exp, {}, tmp_path, missing=[("s", "vae_lstm", 2)])
    cut_short_writes(None)
    assert capsys.readouterr().out == (f"note: the summary stopped before it replaced {stale} in {tmp_path}: they are "
                                       "an earlier summary's, not of these runs\n")
    assert {name: (tmp_path / name).read_text() for name in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.md", "results.png"]  # no .tmp file


def test_a_rule_the_scores_do_not_allow_is_printed_with_why(monkeypatch):
    """A point-level rule that the scores do not allow (POT on tied scores) printed a bare "undefined" in detect.py's
    tables, its reason only in metrics.json: each such rule now has a line under the table that says why."""
    why = "no validation score exceeds its 0.98 quantile 0.5 (ties at the top): POT needs excesses"
    row = {**point_row("vae_lstm", "all", 0.5, 0.5), "f1_pointwise_val_quantile": 0.5,
           "f1_affiliation_val_quantile": 0.5, "flagged_val_quantile": 0.1}
    monkeypatch.setattr(detection, "summary_rows", lambda metrics: [row])
    rules = {"val_quantile": {"threshold": 1.0}, "pot": {"undefined": why}}
    metrics = {"labelled": True, "detector": "vae_lstm", "threshold_rule": "val_quantile", "detectors": ["vae_lstm"],
               "vae_lstm": {"points": {"rules": rules}, "all": {}}}
    assert f"vae_lstm pot: undefined: {why}" in detection.format_table(metrics).splitlines()
    unlabelled = {"skipped": "no labels", "detector": "vae_lstm", "detectors": ["vae_lstm"], "vae_lstm": {"points": {
        "rules": {"val_quantile": {"flagged_fraction": 0.1, "flagged_points": 4}, "pot": {"undefined": why}}}}}
    assert f"vae_lstm pot: undefined: {why}" in detection.format_unlabelled(unlabelled).splitlines()


def test_a_pot_threshold_fitted_on_few_excesses_says_on_how_many_in_metrics_and_the_table():
    """POT's GPD tail on 50 validation scores at level 0.98 is fitted on 1 excess: metrics.json recorded the
    threshold and detect.py printed its figures as for any other fit. Both now say on how many excesses (fewer
    than 10), the threshold unchanged."""
    from pathlib import Path

    from vae_lstm import thresholds

    res = two_pieces()
    res.val_scores = np.linspace(0.0, 1.0, 50)  # the sequence scores' validation part: 1 excess too
    series = SimpleNamespace(labelled=True, train_start=4, train_end=10, test_pieces=[])
    result = detection.Detection(from_dict({"threshold_rule": "pot"}), Path("run"), series, np.arange(50),
                                 {"vae_lstm": res}, 0.0)
    metrics = detection.compute_metrics(result)
    note = ("its GPD tail is fitted on 1 excess over the 0.98 quantile of the 50 validation scores, fewer than 10: "
            "a rough threshold")
    pot = metrics["vae_lstm"]["points"]["rules"]["pot"]
    assert pot == {"threshold": thresholds.pot(res.val_point_scores), "few_excesses": note}
    assert metrics["vae_lstm"]["threshold"] == thresholds.pot(res.val_scores)
    assert metrics["vae_lstm"]["threshold_few_excesses"] == note
    assert [r["pieces"] for r in detection.summary_rows(metrics)] == ["all", "a", "b"]  # the note is no piece
    lines = detection.format_table(metrics).splitlines()
    assert f"vae_lstm pot: note: {note}" in lines
    assert f"vae_lstm pot on the sequence scores (the paper's metric): note: {note}" in lines
    unlabelled = {"skipped": "no labels", "detector": "vae_lstm", "detectors": ["vae_lstm"], "vae_lstm": {"points": {
        "rules": {"pot": {"threshold": 1.0, "few_excesses": note, "flagged_fraction": 0.1, "flagged_points": 4}}}}}
    assert f"vae_lstm pot: note: {note}" in detection.format_unlabelled(unlabelled).splitlines()


def test_the_counts_of_normals_above_each_anomaly_stay_one_short_line_for_thousands_of_anomalies(monkeypatch):
    """5,000 labelled anomalies printed a line of 5,000 counts (tens of thousands of characters) under the table:
    it shows the first ones, how many there are, how many are 0 and the largest (which caps the point-adjusted
    precision at recall 1), and where all of them are."""
    monkeypatch.setattr(detection, "summary_rows", lambda metrics: [])
    counts = [0, 3] * 2499 + [0, 472]
    metrics = {"labelled": True, "detector": "vae_lstm", "threshold_rule": "val_quantile", "detectors": [],
               "vae_lstm": {"points": {"rules": {}}, "all": {"normals_above_each_anomaly": counts}}}
    line = detection.format_table(metrics).splitlines()[-1]
    assert line == ("vae_lstm: normal sequences scoring at least each anomaly's best score: "
                    "[0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, ...] (5000 anomalies: 2500 at 0, "
                    "the most 472; every count in metrics.json)")
    metrics["vae_lstm"]["all"]["normals_above_each_anomaly"] = [0, 5, 2]  # a few: all of them, as before
    assert detection.format_table(metrics).splitlines()[-1].endswith("best score: [0, 5, 2]")


def test_the_standard_tables_legend_says_what_the_flagged_column_is():
    """The first table's 'flagged' column (the share of test points the deployable rule flags) was described
    nowhere: a reader could take it for a count, or for the share of the anomalies found."""
    text = reproduce.standard_markdown(experiment(), summary_frame())
    assert "| flagged |" in text
    assert "'flagged' is the share of test points that rule flags" in text


def test_a_run_without_its_wall_time_reads_n_a_not_nan(monkeypatch):
    """A run the grid took up as scored by detect.py has no wall_seconds in its metrics.json (or null, when the grid
    scored it again): the tables' 'wall s / run' printed "nan"."""
    monkeypatch.setattr(reproduce, "iid_random_row", lambda experiment, name: (144, 24, 6, "0.123"))
    frame = summary_frame()
    frame.loc[frame.detector == "vae_lstm", "wall_seconds"] = None
    for text in (reproduce.results_markdown(experiment(), frame), reproduce.standard_markdown(experiment(), frame)):
        assert "nan" not in text
        assert [line.rsplit("|", 2)[1] for line in text.splitlines() if line.startswith("| s | vae_lstm | 2 |")] == \
            [" n/a "]
    unlabelled = pd.DataFrame([{"series": "s", "seed": 0, "detector": "vae_lstm", "pieces": "all", "labelled": False,
                                "flagged_pot": 0.5, "wall_seconds": None}])
    assert "| s | vae_lstm | 1 | 0.500 | n/a |" in reproduce.standard_markdown(experiment(), unlabelled)


def test_a_beats_run_without_its_wall_time_reads_n_a_not_nan():
    from vae_lstm import beats

    rows = [{"dataset": "ecg", "detector": "vae_lstm", "seed": 0, **dict.fromkeys(beats.METRICS, 0.5),
             "n_test_normal": 10, "n_test_anomalous": 5, "n_validation": 4, "n_train": 20, "threshold_quantile": 0.95,
             "wall_seconds": np.nan}]
    experiment = SimpleNamespace(name="x", values={}, datasets={"ecg": ""}, detectors=["vae_lstm"])
    assert "| 0.500 | 0.500 | n/a |" in beats.markdown(experiment, pd.DataFrame(rows))


def test_the_papers_figures_beside_sequences_of_another_length_say_the_papers_length(monkeypatch):
    """The paper's point-adjusted F1 of nyc_taxi is over sequences of L = 168; beside a VAE-LSTM whose windows give
    another L (an override, "auto" windows) it stood as if measured on the same sequences, though the metric moves
    with L. Each paper cell now names the paper's L where the row's differs; at the paper's own L it stays bare."""
    frame = summary_frame().assign(series="nyc_taxi")
    exp = SimpleNamespace(name="x", detectors=["vae_lstm", "random", "abs_z"], datasets={"nyc_taxi": ""}, values={},
                          config=lambda name, *args, **kwargs: SimpleNamespace(dataset=name))
    monkeypatch.setattr(reproduce, "iid_random_row", lambda experiment, name: (120, 24, 5, "0.123"))
    assert "| 0.123 | 0.980 (paper's L 168) | 0.725 (paper's L 168) |" in reproduce.results_markdown(exp, frame)
    monkeypatch.setattr(reproduce, "iid_random_row", lambda experiment, name: (168, 24, 7, "0.123"))
    assert "| 0.123 | 0.980 | 0.725 |" in reproduce.results_markdown(exp, frame)


def test_the_papers_figures_stand_only_beside_the_papers_own_series(monkeypatch):
    """A "table1" experiment on a user's own CSV under the name nyc_taxi got the paper's nyc_taxi figures beside it,
    and every Table 1 layout said its labels were NAB's anomaly windows, whatever the data."""
    frame = summary_frame().assign(series="nyc_taxi")
    own = {"path": "taxi.csv", "value_columns": ["value"]}
    exp = SimpleNamespace(name="x", detectors=["vae_lstm", "random", "abs_z"], datasets={"nyc_taxi": ""}, values={},
                          config=lambda name, *args, **kwargs: SimpleNamespace(dataset=own))
    monkeypatch.setattr(reproduce, "iid_random_row", lambda experiment, name: (168, 24, 7, "0.123"))
    text = reproduce.results_markdown(exp, frame)
    assert "| 0.123 | n/a | n/a |" in text and "0.980" not in text
    assert "Labels: each dataset's point labels (a NAB series': every point inside one of its labelled anomaly" in text
    exp.config = lambda name, *args, **kwargs: SimpleNamespace(dataset=name)
    text = reproduce.results_markdown(exp, frame)
    assert "| 0.123 | 0.980 | 0.725 |" in text
    assert "Labels: every point inside one of NAB's labelled anomaly windows." in text


RELATED = [{"source": "their paper", "dataset": "s", "detector": "lstm_vae", "figures": {"f1": 0.957, "auc": 0.988},
            "note": "threshold at the 95% quantile of validation scores"},
           {"source": "another paper", "detector": "vae", "figures": {}, "note": "AUC 0.988"}]


def test_every_related_figure_and_note_is_in_the_tables(monkeypatch):
    """An experiment's "related" entries (published figures of other projects) were left out of the Table 1 layout
    without a word; the standard tables dropped each entry's note (what the figures were measured under) and showed
    an entry whose figures are all in its note as a bare source; the beats table dropped any figure not among its
    six columns ("auc" beside "auc_roc"). Every figure and note now shows, under the line that says they are theirs."""
    from vae_lstm import beats

    monkeypatch.setattr(reproduce, "iid_random_row", lambda experiment, name: (144, 24, 6, "0.123"))
    exp = SimpleNamespace(**{**vars(experiment()), "values": {"related": RELATED}})
    for text in (reproduce.results_markdown(exp, summary_frame()), reproduce.standard_markdown(exp, summary_frame())):
        assert "Theirs: figures reported elsewhere (each row's source says where)" in text
        assert ("| their paper | s | lstm_vae | f1 0.957, auc 0.988 | threshold at the 95% quantile of validation "
                "scores |") in text
        assert "| another paper |  | vae |  | AUC 0.988 |" in text
    rows = [{"dataset": "ecg", "detector": "vae_lstm", "seed": 0, **dict.fromkeys(beats.METRICS, 0.5),
             "n_test_normal": 10, "n_test_anomalous": 5, "n_validation": 4, "n_train": 20, "threshold_quantile": 0.95,
             "wall_seconds": 1.0}]
    exp = SimpleNamespace(name="x", values={"related": RELATED}, datasets={"ecg": ""}, detectors=["vae_lstm"])
    text = beats.markdown(exp, pd.DataFrame(rows))
    assert ("| their paper | s | lstm_vae |  |  |  | 0.957 |  |  | auc 0.988; threshold at the 95% quantile of "
            "validation scores |") in text
    assert "| another paper |  | vae |  |  |  |  |  |  | AUC 0.988 |" in text


def test_the_verdict_weighs_only_seeds_whose_figures_both_have():
    """A seed without a VUS-PR or AUC-PR (NaN) entered the verdict: abs_z without an AUC-PR gave "no" (a NaN gap is
    not above 0), a detector's seed without figures still counted as a seed (a plain "yes" on one defined seed), and
    a detector's seed whose abs_z run had none was still in its mean. Seeds are now paired on defined figures."""
    def seeds(seed, vus, auc):
        return pd.DataFrame({"seed": seed, "vus_pr": vus, "auc_pr": auc})

    z = seeds([0, 1], [0.3, 0.3], [0.3, 0.3])
    assert reproduce.above_abs_z("vae_lstm", seeds([0, 1], [0.5, 0.6], [0.5, 0.6]),
                                 seeds([0, 1], [0.3, 0.3], [np.nan, np.nan])) == "n/a"
    assert reproduce.above_abs_z("vae_lstm", seeds([0, 1], [0.5, np.nan], [0.5, np.nan]), z) == "yes, 1 seed"
    # abs_z has no figures on seed 1: the detector's seed 1 (0.1, below 0.3) is not weighed against nothing
    assert reproduce.above_abs_z("vae_lstm", seeds([0, 1], [0.5, 0.1], [0.5, 0.1]),
                                 seeds([0, 1], [0.3, np.nan], [0.3, np.nan])) == "yes, 1 seed"
    assert reproduce.above_abs_z("vae_lstm", seeds([0, 1], [0.5, 0.1], [0.5, 0.1]), z) == "level"  # 0.3 both
    assert reproduce.above_abs_z("vae_lstm", seeds([0, 1], [0.5, 0.05], [0.5, 0.05]), z) == "**no**"  # 0.275


def test_dynamic_on_a_test_piece_too_short_to_flag_says_so_once_under_the_tables():
    """KLSE's test piece has 124 points: dynamic flagged 0.00% of it for every detector, the controls too, and the
    table gave no hint that the rule cannot flag a point on a piece that short (its search widens each exceedance
    by 99 points and keeps no threshold flagging half the piece; its fallback, mean + 12 std, lies above every
    score of fewer than 145 points). metrics.json and the tables now say so, once for all detectors; a piece of
    400 points, where the rule can flag, gets no note."""
    from vae_lstm import thresholds

    assert thresholds.dynamic_note(124) and thresholds.dynamic_note(144)
    assert thresholds.dynamic_note(145) is None and thresholds.dynamic_note(400) is None
    rng = np.random.default_rng(0)
    spike = np.abs(rng.standard_normal(124)) + 1.0
    spike[60] = 50.0  # a spike far above the rest, yet not flagged
    short = detection.PieceResult("test", 0, None, np.zeros(1), np.zeros(1, bool), spike, None)
    long = detection.PieceResult("long", 200, None, np.zeros(1), np.zeros(1, bool), np.tile(spike, 4)[:400], None)
    res = detection.DetectorResult("x", np.zeros(1), [short], val_point_scores=np.linspace(0.5, 1.5, 20))
    summary = detection.unlabelled_point_summary(from_dict({}), res)["rules"]["dynamic"]
    assert summary["flagged_points"] == 0 and "'test' (124 points)" in summary["short_pieces"]
    res.pieces = [short, long]
    summary = detection.unlabelled_point_summary(from_dict({}), res)["rules"]["dynamic"]
    assert "'test' (124 points)" in summary["short_pieces"] and "long" not in summary["short_pieces"]
    unlabelled = {"skipped": "no labels", "detector": "x", "detectors": ["x", "abs_z"],
                  **{name: {"points": {"rules": {"dynamic": summary}}} for name in ("x", "abs_z")}}
    notes = [line for line in detection.format_unlabelled(unlabelled).splitlines() if "dynamic: note:" in line]
    assert notes == [f"dynamic: note: {summary['short_pieces']}"]
    res.pieces = [long]
    assert "short_pieces" not in detection.unlabelled_point_summary(from_dict({}), res)["rules"]["dynamic"]


def test_the_fixed_rules_table_says_its_value_is_in_each_detectors_own_units():
    """threshold_value 0.5 is in the main detector's score units; the random and abs_z controls get the same number in
    theirs, and the table printed their 0.00% flagged beside the detector's as if comparable. A line now says the
    value is in each detector's own units (README's rule table), so the controls' fixed figures compare nothing."""
    unlabelled = {"skipped": "no labels", "detector": "vae_lstm", "detectors": ["vae_lstm", "random"],
                  "threshold_value": 0.5, **{name: {"points": {"rules": {
                      "val_quantile": {"flagged_fraction": 0.1, "flagged_points": 4},
                      "fixed": {"threshold": 0.5, "flagged_fraction": 0.0, "flagged_points": 0}}}}
                      for name in ("vae_lstm", "random")}}
    line = ("fixed: threshold_value 0.5 is in each detector's own score units: the controls get the same number in "
            "theirs, so their fixed figures compare nothing")
    assert line in detection.format_unlabelled(unlabelled).splitlines()
    for name in ("vae_lstm", "random"):
        del unlabelled[name]["points"]["rules"]["fixed"]
    assert not any(text.startswith("fixed:") for text in detection.format_unlabelled(unlabelled).splitlines())


@pytest.mark.parametrize("state", ["", '{"vae": 1, "fi'])
def test_a_run_with_a_damaged_state_json_is_left_out_of_the_summary_with_a_line(tmp_path, state):
    """As a run with a damaged metrics.json or config.json: the other runs' tables are still written (a failed run
    of the experiment points to --summary-only for them), not refused over one run's state.json."""
    job = SimpleNamespace(dataset="s", detector="abs_z", seed=0)
    run = tmp_path / "run"
    (run / "detection").mkdir(parents=True)
    (run / "detection" / "metrics.json").write_text("{}")
    (run / "state.json").write_text(state)  # a kill, or a full disk, mid-write of an older version's
    exp = SimpleNamespace(**vars(experiment()), summary="standard", jobs=lambda seeds: [job], run_dir=lambda j: run)
    found, left_out = reproduce.collect_finished(exp)
    assert found == {}
    assert list(left_out) == [("s", "abs_z", 0)]
    assert left_out["s", "abs_z", 0].startswith(f"{run / 'state.json'} is damaged (")
