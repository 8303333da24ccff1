"""The ensemble over seeds: standardise each run's point scores by its own training block, then average."""

import numpy as np
import pytest

from vae_lstm.detection import DetectorResult, PieceResult
from vae_lstm.ensemble import ensemble_result, standardise
from vae_lstm.errors import UserError


def member(train, piece_points, labels=None):
    piece_points = np.asarray(piece_points, float)
    labels = np.zeros(len(piece_points), bool) if labels is None else np.asarray(labels, bool)
    piece = PieceResult("test", 0, None, np.zeros(1), np.zeros(1, bool), piece_points, labels)
    return DetectorResult("vae_lstm", np.zeros(1), [piece], val_point_scores=np.asarray(train, float),
                          train_point_scores=np.asarray(train, float))


def test_standardise_by_the_reference():
    np.testing.assert_allclose(standardise([3.0, 5.0], [1.0, 3.0]), [1.0, 3.0])  # mean 2, std 1
    np.testing.assert_allclose(standardise([4.0], [2.0, 2.0]), [2.0])  # constant reference: std taken as 1
    # a skewed reference: mean 1 (not its median 0), std sqrt(2) (ddof 0: deviations -1, -1, 2)
    np.testing.assert_allclose(standardise([1.0, 3.0], [0.0, 0.0, 3.0]), [0.0, 2 / np.sqrt(2)])


def test_the_ensemble_averages_standardised_scores_by_hand():
    """Run a: training mean 2, std 1; run b: mean 10, std 5. A test point scoring 4 in a (z = 2) and 10 in b
    (z = 0) gets 1; raw averaging would let b's scale dominate."""
    a = member([1.0, 3.0], [4.0, 2.0])
    b = member([5.0, 15.0], [10.0, 20.0])
    ens = ensemble_result([a, b], "vae_lstm ensemble")
    np.testing.assert_allclose(ens.pieces[0].point_scores, [(2.0 + 0.0) / 2, (0.0 + 2.0) / 2])
    np.testing.assert_allclose(ens.val_point_scores, [-1.0, 1.0])
    np.testing.assert_allclose(ens.train_point_scores, [-1.0, 1.0])


def test_a_ranking_that_seeds_disagree_on_is_settled_by_the_majority():
    labels = [False, True, False]
    right_1 = member([0.0, 2.0], [1.0, 9.0, 1.0], labels)
    right_2 = member([0.0, 2.0], [1.0, 8.0, 2.0], labels)
    wrong = member([0.0, 2.0], [1.0, 2.0, 3.0], labels)
    points = ensemble_result([right_1, right_2, wrong], "e").pieces[0].point_scores
    assert np.argmax(points) == 1


def test_three_seeds_are_averaged_not_taken_at_their_median():
    """Every run's training block is [0, 2] (mean 1, std 1), so a point's z is its score - 1. Second point: z 3, 0
    and 9, mean 4 (the median would be 3); first point: z 0 everywhere."""
    runs = [member([0.0, 2.0], points) for points in ([1.0, 4.0], [1.0, 1.0], [1.0, 10.0])]
    np.testing.assert_allclose(ensemble_result(runs, "e").pieces[0].point_scores, [0.0, 4.0])


def test_a_point_that_any_seed_left_unscored_stays_unscored():
    """Seed a left point 0 unscored, seed b point 1: the ensemble never flags either (their union)."""
    def with_unscored(unscored):
        run = member([0.0, 2.0], [1.0, 1.0, 1.0])
        piece = run.pieces[0]
        run.pieces[0] = PieceResult(piece.name, piece.start, piece.scores, piece.sequence_scores, piece.labels,
                                    piece.point_scores, piece.point_labels, np.asarray(unscored, bool))
        return run

    ens = ensemble_result([with_unscored([1, 0, 0]), with_unscored([0, 1, 0])], "e")
    assert ens.pieces[0].unscored.tolist() == [True, True, False]
    assert ensemble_result([member([0.0, 2.0], [1.0]), member([0.0, 2.0], [1.0])], "e").pieces[0].unscored is None


def test_runs_of_different_points_are_refused():
    with pytest.raises(UserError, match="do not score the same points"):
        ensemble_result([member([0.0, 1.0], [1.0, 2.0]), member([0.0, 1.0, 2.0], [1.0, 2.0])], "e")


def test_runs_of_different_points_are_refused_with_what_differs():
    """Runs of one config score the same points whatever their point_score (max_sequence runs are refused before, by
    their span), so the refusal's "(any point_score but max_sequence)" was never the cause: it is reached from Python,
    with runs of other series or detectors (LSTM-AD leaves its first training-block points unscored). It says what
    each run scores."""
    with pytest.raises(UserError) as refused:
        ensemble_result([member([0.0, 1.0], [1.0, 2.0]), member([0.0, 1.0, 2.0], [1.0, 2.0])], "e")
    assert str(refused.value) == (
        "the runs of e do not score the same points (run 1: 2 training-block points and 2 of test piece test; run 2: "
        "3 training-block points and 2 of test piece test; unscored training-block points not counted): an ensemble "
        "averages each point's scores over runs of one series")


def test_the_ensemble_table_says_its_oracle_f1_is_an_upper_bound():
    import pandas as pd

    from vae_lstm.ensemble import ensemble_markdown

    row = {"series": "s", "detector": "vae_lstm", "vus_pr": 0.5, "auc_pr": 0.5, "f1_deployable": 0.4,
           "f1_pointwise_oracle": 0.6, "flagged_deployable": 0.01}
    table = pd.DataFrame([{**row, "member": "seed 0"}, {**row, "member": "seed 1"}, {**row, "member": "ensemble of 2"}])
    text = ensemble_markdown(table, pd.DataFrame(columns=[*row, "seed"]), "val_quantile")
    assert "an upper bound for any fixed threshold" in text and "| s | vae_lstm, ensemble of 2 |" in text


def test_a_seed_without_its_lstm_is_refused_with_the_grid_command_that_trains_it(tmp_path):
    """A finished seed whose lstm.keras was lost said "train first with 'python3 codes/train.py --config <the
    dataset's config>'", which trains another folder than the grid's. The line names the seed's folder, what it
    lacks, and the grid's command for that run (which trains it again once its metrics are moved away)."""
    import json

    from vae_lstm.ensemble import seed_ensemble
    from vae_lstm.experiment import Job, load_experiment

    (tmp_path / "tiny.json").write_text(json.dumps({"dataset": "synthetic", "l_win": 16, "l_seq": 3}))
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"datasets": {"synth": str(tmp_path / "tiny.json")}, "detectors": ["vae_lstm"],
                                "seeds": 2, "output_dir": str(tmp_path / "runs")}))
    experiment = load_experiment(path)
    run = experiment.run_dir(Job(str(path), "synth", "vae_lstm", 0))
    run.mkdir(parents=True)
    (run / "vae.keras").write_bytes(b"")
    with pytest.raises(UserError) as refused:
        seed_ensemble(experiment, "synth", "vae_lstm", [0, 1])
    assert str(refused.value) == (
        f"the ensemble scores seed 0 of vae_lstm on synth again, and its run folder {run} has no lstm.keras: "
        f"restore it, or move {run / 'detection'} away and run 'python3 codes/reproduce.py {path} --series synth "
        f"--detectors vae_lstm --seed 0 --output-dir {tmp_path / 'runs'}' to train it again and score it")


def test_a_figure_undefined_for_some_seeds_says_how_many_seeds_its_mean_is_of():
    """Seed 1's deployable rule is undefined (NaN F1, NaN share): the mean row said "mean of the 2 seeds" and showed
    seed 0's 0.400 and 1.0% alone; the ensemble's own undefined figures read "nan" and "nan%"."""
    import pandas as pd

    from vae_lstm.ensemble import ensemble_markdown

    row = {"series": "s", "detector": "vae_lstm", "vus_pr": 0.5, "auc_pr": 0.5, "f1_deployable": 0.4,
           "f1_pointwise_oracle": 0.6, "flagged_deployable": 0.01}
    undefined = {"f1_deployable": np.nan, "flagged_deployable": np.nan}
    table = pd.DataFrame([{**row, "member": "seed 0"}, {**row, **undefined, "member": "seed 1"},
                          {**row, **undefined, "member": "ensemble of 2"}])
    controls = pd.DataFrame([{**row, "detector": "random", "seed": s, "f1_deployable": f} for s, f in ((0, 0.2), (1, 0.4))])
    text = ensemble_markdown(table, controls, "pot")
    assert "| s | vae_lstm, ensemble of 2 | 0.500 | 0.500 | n/a | 0.600 | n/a |" in text
    assert "| s | vae_lstm, mean of the 2 seeds | 0.500 | 0.500 | 0.400 (1 of 2) | 0.600 | 1.0% (1 of 2) |" in text
    assert "| s | random (control), mean of 2 seeds | 0.500 | 0.500 | 0.300 | 0.600 | 1.0% |" in text
    one = ensemble_markdown(table, controls[controls.seed == 1], "pot")  # a control of one finished seed
    assert "| s | random (control), seed 1 alone | 0.500 | 0.500 | 0.400 | 0.600 | 1.0% |" in one


@pytest.mark.parametrize("rule, keys, why", [
    ("fixed", {"threshold_value": 5.0}, "threshold_value 5 is on one run's own scores"),
    ("dynamic", {}, "it needs error-like scores >= 0 and moves with where zero is, while the ensemble's are centred "
                    "on each seed's training mean")])
def test_a_fixed_or_dynamic_threshold_is_refused_before_any_run(tmp_path, rule, keys, why):
    """fixed: threshold_value is on a run's own scores; the ensemble's are means of z-scores. Seeds scoring
    [20, 20, 40, 20] (training block mean 20, std 7.07) are flagged right at threshold_value 5 (F1 1), while the
    ensemble's z-scores [0, 0, 2.83, 0] were compared with the same 5: nothing flagged, and that F1 0 was called
    deployable. dynamic needs error-like scores (>= 0, zero meaning no error): its z is chosen on the drop of the mean
    relative to the mean, its pruning on relative drops of peaks. The ensemble's scores are centred on each seed's
    training mean, so its dynamic threshold moved with that arbitrary origin, and was undefined (n/a) wherever the
    test scores averaged below the training block's. Both are refused with one line."""
    import json

    from vae_lstm import reproduce

    (tmp_path / "tiny.json").write_text(json.dumps({"dataset": "synthetic", "l_win": 16, "l_seq": 3,
                                                    "threshold_rule": rule, **keys}))
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"datasets": {"synth": str(tmp_path / "tiny.json")}, "detectors": ["vae_lstm"],
                                "seeds": 2, "output_dir": str(tmp_path / "runs")}))
    with pytest.raises(UserError) as refused:
        reproduce.main([str(path), "--summary-only", "--ensemble"])
    assert str(refused.value) == (
        "--ensemble compares the mean of each seed's standardised scores with its threshold, and synth's config "
        f"sets threshold_rule '{rule}' ({why}); drop --ensemble or pass --series without it")


def test_the_ensemble_tables_legend_says_what_the_flagged_column_is():
    """Its 'flagged' column (a percentage of the test points) was described nowhere."""
    import pandas as pd

    from vae_lstm.ensemble import ensemble_markdown

    row = {"series": "s", "detector": "vae_lstm", "vus_pr": 0.5, "auc_pr": 0.5, "f1_deployable": 0.4,
           "f1_pointwise_oracle": 0.6, "flagged_deployable": 0.01}
    table = pd.DataFrame([{**row, "member": "seed 0"}, {**row, "member": "ensemble of 1"}])
    text = ensemble_markdown(table, pd.DataFrame(columns=[*row, "seed"]), "val_quantile")
    assert "'flagged' is the share of test points the `val_quantile` threshold flags" in text


@pytest.mark.parametrize("rules, chosen_on", [
    ("val_quantile", "chosen on the averaged training-block scores (no test labels)"),
    ("train_max", "chosen on the averaged training-block scores (no test labels)"),
    ("contamination", "chosen on the averaged test scores (no test labels)"),
    ("dynamic", "chosen on the averaged test scores (no test labels)"),
    ("pot", "chosen on the averaged training-block scores (no test labels)")])
def test_the_ensemble_tables_legend_says_which_scores_its_threshold_reads(rules, chosen_on):
    """contamination and dynamic set their threshold on the (unlabelled) test scores; the legend said every rule
    was chosen on the averaged training-block scores."""
    import pandas as pd

    from vae_lstm.ensemble import ensemble_markdown

    row = {"series": "s", "detector": "vae_lstm", "vus_pr": 0.5, "auc_pr": 0.5, "f1_deployable": 0.4,
           "f1_pointwise_oracle": 0.6, "flagged_deployable": 0.1}
    table = pd.DataFrame([{**row, "member": "seed 0"}, {**row, "member": "seed 1"}, {**row, "member": "ensemble of 2"}])
    text = ensemble_markdown(table, pd.DataFrame(columns=[*row, "seed"]), rules)
    assert f"'deployable' is the `{rules}` threshold, {chosen_on};" in text


def test_a_training_block_of_one_repeated_value_keeps_the_scale():
    """0.1 repeated 100 times has a float std of 2.8e-17, not 0: its seed's test scores were divided by it (0.3 became
    7e15) and alone decided the ensemble, where a constant reference is meant to keep the scale (std 1)."""
    np.testing.assert_allclose(standardise([0.1, 0.3], np.full(100, 0.1)), [0.0, 0.2], atol=1e-12)
    constant = member(np.full(100, 0.1), [0.1, 0.3])
    spread = member(np.tile([0.0, 2.0], 50), [3.0, 1.0])  # mean 1, std 1: z 2, 0
    np.testing.assert_allclose(ensemble_result([constant, spread], "e").pieces[0].point_scores, [1.0, 0.1], atol=1e-12)


def test_an_ensemble_short_of_the_experiments_seeds_names_each_seed_it_leaves_out(tmp_path, monkeypatch, capsys):
    """Seeds 0 and 1 of 3 finished: the ensemble of 2 said nothing of seed 2 (the summary's own lines name only the
    runs its tables hold, none under --seed 0), so it read as the experiment's ensemble. Each seed it lacks is one
    line with why, and ensemble.md names it."""
    import json

    import pandas as pd

    from vae_lstm import ensemble
    from vae_lstm.experiment import load_experiment

    (tmp_path / "tiny.json").write_text(json.dumps({"dataset": "synthetic", "l_win": 16, "l_seq": 3}))
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"datasets": {"synth": str(tmp_path / "tiny.json")}, "detectors": ["vae_lstm"],
                                "seeds": 4, "output_dir": str(tmp_path / "runs")}))
    experiment = load_experiment(path)
    row = {"series": "synth", "detector": "vae_lstm", "vus_pr": 0.5, "auc_pr": 0.5, "f1_deployable": 0.4,
           "f1_pointwise_oracle": 0.6, "flagged_deployable": 0.01}
    monkeypatch.setattr(ensemble, "seed_ensemble", lambda experiment, dataset, detector, seeds: pd.DataFrame(
        [{**row, "member": f"seed {s}"} for s in seeds] + [{**row, "member": f"ensemble of {len(seeds)}"}]))
    summary = pd.DataFrame([{**row, "detector": "abs_z", "seed": 0, "pieces": "all", "deployable_rule": "val_quantile",
                             "flagged_val_quantile": 0.01}])
    metrics = {("synth", "vae_lstm", 0): {}, ("synth", "vae_lstm", 1): {}}
    left_out = {("synth", "vae_lstm", 3): "synthetic_vae_lstm_seed3, its training has not finished (vae 1 of 2 epochs)"}
    ensemble.write_ensemble(experiment, metrics, summary, tmp_path / "summary", range(4), left_out)
    out = capsys.readouterr().out
    assert "the ensemble of vae_lstm on synth leaves out seed 2: it has not run\n" in out
    assert ("the ensemble of vae_lstm on synth leaves out seed 3: synthetic_vae_lstm_seed3, its training has not "
            "finished (vae 1 of 2 epochs)\n") in out
    text = (tmp_path / "summary" / "ensemble.md").read_text()
    assert "| synth | vae_lstm, ensemble of 2 |" in text
    assert text.endswith("\nNot in the ensemble (not run, unfinished, or left out for the reason printed), so it "
                         "averages fewer seeds: synth seed 2, synth seed 3.\n")


def overridden_rule_experiment(tmp_path, monkeypatch, rule: str):
    """A two-seed vae_lstm experiment whose override gives vae_lstm ``rule``, with each seed's and the ensemble's
    row set to ``row`` (seed_ensemble replaced): (experiment, row)."""
    import json

    import pandas as pd

    from vae_lstm import ensemble
    from vae_lstm.experiment import load_experiment

    (tmp_path / "tiny.json").write_text(json.dumps({"dataset": "synthetic", "l_win": 16, "l_seq": 3}))
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"datasets": {"synth": str(tmp_path / "tiny.json")}, "detectors": ["vae_lstm"],
                                "seeds": 2, "output_dir": str(tmp_path / "runs"),
                                "overrides": {"vae_lstm": {"threshold_rule": rule}}}))
    row = {"series": "synth", "detector": "vae_lstm", "vus_pr": 0.5, "auc_pr": 0.5, "f1_deployable": 0.7,
           "f1_pointwise_oracle": 0.7, "flagged_deployable": 0.009}
    monkeypatch.setattr(ensemble, "seed_ensemble", lambda experiment, dataset, detector, seeds: pd.DataFrame(
        [{**row, "member": f"seed {s}"} for s in seeds] + [{**row, "member": f"ensemble of {len(seeds)}"}]))
    return load_experiment(path), row


def two_dataset_experiment(tmp_path, monkeypatch, rules: dict):
    """A two-seed vae_lstm experiment of two synthetic datasets (synth, synth2; their configs' threshold_rule from
    ``rules`` by config name), each seed's and ensemble's row set to ``row`` (seed_ensemble replaced): (experiment, row)."""
    import json

    import pandas as pd

    from vae_lstm import ensemble
    from vae_lstm.experiment import load_experiment

    for name in ("tiny", "tiny2"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"dataset": "synthetic", "exp_name": name, "l_win": 16,
                                                           "l_seq": 3, **({"threshold_rule": rules[name]}
                                                                          if name in rules else {})}))
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"datasets": {"synth": str(tmp_path / "tiny.json"), "synth2": str(tmp_path / "tiny2.json")},
                                "detectors": ["vae_lstm"], "seeds": 2, "output_dir": str(tmp_path / "runs")}))
    experiment = load_experiment(path)
    row = {"detector": "vae_lstm", "vus_pr": 0.5, "auc_pr": 0.5, "f1_deployable": 0.4, "f1_pointwise_oracle": 0.6,
           "flagged_deployable": 0.01}
    monkeypatch.setattr(ensemble, "seed_ensemble", lambda experiment, dataset, detector, seeds: pd.DataFrame(
        [{**row, "series": dataset, "member": f"seed {s}"} for s in seeds]
        + [{**row, "series": dataset, "member": f"ensemble of {len(seeds)}"}]))
    return experiment, row


def test_the_controls_are_shown_at_the_ensembles_own_threshold_rule(tmp_path, monkeypatch, capsys):
    """An override gives vae_lstm threshold_rule pot, the controls keep their config's val_quantile: ensemble.md said
    "'deployable' is the `pot` threshold" over every row, yet showed abs_z's F1 and flagged share at val_quantile
    (0.485, 1.9%) beside the ensemble's at pot. The controls' rows are at the ensemble's rule, in the .md and .csv."""
    experiment, row = overridden_rule_experiment(tmp_path, monkeypatch, "pot")
    import pandas as pd

    from vae_lstm import ensemble
    summary = pd.DataFrame([{**row, "detector": "abs_z", "seed": s, "pieces": "all", "deployable_rule": "val_quantile",
                             "f1_deployable": 0.485, "f1_pointwise_val_quantile": 0.485, "flagged_val_quantile": 0.019,
                             "f1_pointwise_pot": 0.696, "flagged_pot": 0.009} for s in (0, 1)])
    metrics = {("synth", "vae_lstm", 0): {}, ("synth", "vae_lstm", 1): {}}
    ensemble.write_ensemble(experiment, metrics, summary, tmp_path / "summary", range(2))
    text = (tmp_path / "summary" / "ensemble.md").read_text()
    assert "'deployable' is the `pot` threshold" in text
    assert "| synth | abs_z (control), mean of 2 seeds | 0.500 | 0.500 | 0.696 | 0.700 | 0.9% |" in text
    table = pd.read_csv(tmp_path / "summary" / "ensemble.csv")
    assert table[table.detector == "abs_z"].f1_deployable.tolist() == [0.696, 0.696]
    assert table[table.detector == "abs_z"].flagged_deployable.tolist() == [0.009, 0.009]


def test_the_csv_holds_no_controls_of_a_dataset_the_ensemble_left_out(tmp_path, monkeypatch, capsys):
    """synth2 has one finished seed of vae_lstm, so the ensemble leaves it out (ensemble.md says so), yet ensemble.csv
    held its controls' rows, beside no ensemble of theirs."""

    import pandas as pd

    from vae_lstm import ensemble

    experiment, row = two_dataset_experiment(tmp_path, monkeypatch, {})
    summary = pd.DataFrame([{**row, "series": d, "detector": "abs_z", "seed": s, "pieces": "all",
                             "deployable_rule": "val_quantile", "f1_pointwise_val_quantile": 0.4,
                             "flagged_val_quantile": 0.01} for d in ("synth", "synth2") for s in (0, 1)])
    metrics = {("synth", "vae_lstm", 0): {}, ("synth", "vae_lstm", 1): {}, ("synth2", "vae_lstm", 0): {}}
    ensemble.write_ensemble(experiment, metrics, summary, tmp_path / "summary", range(2))
    assert "the ensemble leaves out synth2: fewer than two finished seeds of vae_lstm" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "summary" / "ensemble.csv")
    assert set(table.series) == {"synth"}


def test_an_ensemble_whose_threshold_rule_is_undefined_says_why(capsys):
    """Under threshold_rule dynamic, each seed's error-like scores get a threshold, but the ensemble's standardised
    scores average below 0 on the test piece (z -0.5 almost everywhere), where dynamic is undefined: ensemble.md read
    "n/a" for its deployable F1 and flagged share, and nothing said why."""
    from vae_lstm.config import load_config
    from vae_lstm.ensemble import point_row

    labels = np.zeros(400, bool)
    labels[200:210] = True
    test = np.full(400, 0.5)
    test[200:210] = 9.0
    runs = [member(np.tile([0.0, 2.0], 50), test + 0.01 * seed, labels) for seed in range(2)]  # z of 0.5: -0.5
    config = load_config("configs/synthetic_config.json").replace(threshold_rule="dynamic")
    assert np.isfinite(point_row(config, runs[0])["f1_deployable"])
    row = point_row(config, ensemble_result(runs, "vae_lstm ensemble"), "the ensemble of vae_lstm on s")
    assert np.isnan(row["f1_deployable"]) and np.isnan(row["flagged_deployable"])
    assert capsys.readouterr().out == (
        "the ensemble of vae_lstm on s has no `dynamic` threshold, so its deployable F1 and flagged share are n/a: "
        "dynamic thresholding needs error-like scores (>= 0) with a positive mean; the smoothed scores have mean "
        "-0.285466\n")  # z -0.495 on 390 points, 8.005 on 10: mean -0.28 (smoothed: -0.285)


def test_controls_scored_without_the_ensembles_rule_say_why_their_cells_are_na(tmp_path, monkeypatch, capsys):
    """An override gives vae_lstm threshold_rule train_max; the controls' config keeps val_quantile, and a run reports
    train_max only under its own config's rule: the control rows read "n/a" for their deployable F1 and flagged share,
    and nothing said why. One line, printed and under the table, names them and the reason."""
    experiment, row = overridden_rule_experiment(tmp_path, monkeypatch, "train_max")
    import pandas as pd

    from vae_lstm import ensemble
    summary = pd.DataFrame([{**row, "detector": d, "seed": s, "pieces": "all", "deployable_rule": "val_quantile",
                             "f1_pointwise_val_quantile": 0.485, "flagged_val_quantile": 0.019}
                            for d in ("abs_z", "random") for s in (0, 1)])
    metrics = {("synth", "vae_lstm", 0): {}, ("synth", "vae_lstm", 1): {}}
    ensemble.write_ensemble(experiment, metrics, summary, tmp_path / "summary", range(2))
    note = ("the controls abs_z and random on synth report no `train_max` threshold (their config's rule is "
            "`val_quantile`, and a run reports `train_max` only where its own config sets it), so their deployable "
            "PW-F1 and flagged share are n/a")
    assert note + "\n" in capsys.readouterr().out
    text = (tmp_path / "summary" / "ensemble.md").read_text()
    assert "| synth | abs_z (control), mean of 2 seeds | 0.500 | 0.500 | n/a | 0.700 | n/a |" in text
    assert f"\n{note[0].upper()}{note[1:]}.\n" in text


def test_datasets_of_different_rules_name_each_rows_rule(tmp_path, monkeypatch, capsys):
    """synth's config sets threshold_rule pot, synth2's contamination: the legend read "'deployable' is the
    `contamination, pot` threshold", as if one rule of that name, and no row said which of the two was its own."""

    import pandas as pd

    from vae_lstm import ensemble

    experiment, row = two_dataset_experiment(tmp_path, monkeypatch, {"tiny": "pot", "tiny2": "contamination"})
    summary = pd.DataFrame(columns=["series", "seed", "pieces", "deployable_rule", *row])
    metrics = {(d, "vae_lstm", s): {} for d in ("synth", "synth2") for s in (0, 1)}
    ensemble.write_ensemble(experiment, metrics, summary, tmp_path / "summary", range(2))
    text = (tmp_path / "summary" / "ensemble.md").read_text()
    assert ("'deployable' is the threshold of each series' own rule (`contamination` or `pot`, named in its cells), "
            "chosen on the averaged training-block scores or test scores (no test labels); 'flagged' is the share of "
            "test points that threshold flags.") in text
    assert "| synth | vae_lstm, ensemble of 2 | 0.500 | 0.500 | 0.400 (at `pot`) | 0.600 | 1.0% |" in text
    assert "| synth2 | vae_lstm, mean of the 2 seeds | 0.500 | 0.500 | 0.400 (at `contamination`) | 0.600 | 1.0% |" in text
    table = pd.read_csv(tmp_path / "summary" / "ensemble.csv")
    assert table.deployable_rule.tolist() == ["pot"] * 3 + ["contamination"] * 3


def test_a_first_detector_that_is_a_control_is_not_listed_again_as_its_own_control(tmp_path, monkeypatch, capsys):
    """An experiment whose first detector is the control abs_z: ensemble.md showed its seeds' mean twice ("abs_z,
    mean of the 2 seeds" and "abs_z (control), mean of 2 seeds") and ensemble.csv held each of its seed rows twice,
    identical, so that a pivot on (series, detector, member) failed and a count of its seeds read 4."""
    import json

    import pandas as pd

    from vae_lstm import ensemble
    from vae_lstm.experiment import load_experiment

    (tmp_path / "tiny.json").write_text(json.dumps({"dataset": "synthetic", "l_win": 16, "l_seq": 3}))
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"datasets": {"synth": str(tmp_path / "tiny.json")}, "detectors": ["abs_z", "random"],
                                "seeds": 2, "output_dir": str(tmp_path / "runs")}))
    experiment = load_experiment(path)
    row = {"series": "synth", "vus_pr": 0.5, "auc_pr": 0.5, "f1_deployable": 0.4, "f1_pointwise_oracle": 0.6,
           "flagged_deployable": 0.01}
    monkeypatch.setattr(ensemble, "seed_ensemble", lambda experiment, dataset, detector, seeds: pd.DataFrame(
        [{**row, "detector": detector, "member": f"seed {s}"} for s in seeds]
        + [{**row, "detector": detector, "member": f"ensemble of {len(seeds)}"}]))
    summary = pd.DataFrame([{**row, "detector": d, "seed": s, "pieces": "all", "deployable_rule": "val_quantile",
                             "f1_pointwise_val_quantile": 0.4, "flagged_val_quantile": 0.01}
                            for d in ("abs_z", "random") for s in (0, 1)])
    metrics = {("synth", d, s): {} for d in ("abs_z", "random") for s in (0, 1)}
    ensemble.write_ensemble(experiment, metrics, summary, tmp_path / "summary", range(2))
    text = (tmp_path / "summary" / "ensemble.md").read_text()
    assert "| synth | abs_z, mean of the 2 seeds |" in text and "abs_z (control)" not in text
    assert "| synth | random (control), mean of 2 seeds |" in text
    table = pd.read_csv(tmp_path / "summary" / "ensemble.csv")
    assert table[["detector", "member"]].values.tolist() == [
        ["abs_z", "seed 0"], ["abs_z", "seed 1"], ["abs_z", "ensemble of 2"], ["random", "seed 0"], ["random", "seed 1"]]


@pytest.mark.parametrize("series", [None, ["synth"]])
def test_a_dataset_with_no_finished_run_is_named_as_left_out_of_the_ensemble(tmp_path, monkeypatch, capsys, series):
    """synth2 has no finished run at all: ensemble.md named it nowhere (a dataset with one finished seed is "left
    out"), so it read as the ensemble of the whole experiment. A dataset that --series leaves out is not named."""
    import pandas as pd

    from vae_lstm import ensemble

    experiment, row = two_dataset_experiment(tmp_path, monkeypatch, {})
    summary = pd.DataFrame(columns=["series", "seed", "pieces", "deployable_rule", *row])
    metrics = {("synth", "vae_lstm", s): {} for s in (0, 1)}
    ensemble.write_ensemble(experiment, metrics, summary, tmp_path / "summary", range(2), datasets=series)
    out, text = capsys.readouterr().out, (tmp_path / "summary" / "ensemble.md").read_text()
    if series is None:
        assert "the ensemble leaves out synth2: fewer than two finished seeds of vae_lstm\n" in out
        assert "\nLeft out (fewer than two finished seeds): synth2.\n" in text
    else:
        assert "synth2" not in out and "synth2" not in text
