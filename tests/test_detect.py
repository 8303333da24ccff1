"""End to end: train a tiny synthetic run, detect through the CLI and the notebook, check the outputs."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

TINY = {
    "exp_name": "tiny", "dataset": "synthetic", "l_win": 16, "l_seq": 3, "code_size": 3,
    "num_hidden_units": 16, "num_hidden_units_lstm": 8, "batch_size": 128, "batch_size_lstm": 128,
    "num_epochs_vae": 2, "num_epochs_lstm": 2, "learning_rate_vae": 0.002, "learning_rate_lstm": 0.002,
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny config trained once for this module: (config path, run folder)."""
    from vae_lstm import cli

    tmp = tmp_path_factory.mktemp("detect")
    config_path = tmp / "tiny.json"
    config_path.write_text(json.dumps({**TINY, "output_dir": str(tmp / "runs")}))
    assert cli.train_main(["--config", str(config_path)]) == 0
    run = tmp / "runs" / "tiny" / "synthetic_vae_lstm_lwin16_lseq3_code3_seed0"
    assert (run / "vae.keras").is_file() and (run / "lstm.keras").is_file()
    return config_path, run


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})


def test_detect_cli_writes_metrics_and_figures(trained):
    config_path, run = trained
    done = run_cli("codes/detect.py", "--config", str(config_path))
    assert done.returncode == 0, done.stderr
    assert "oracle PA-F1" in done.stdout and "VUS-PR" in done.stdout and "pot: PW-F1" in done.stdout
    assert "note:" not in done.stdout  # scored with the settings it was trained with
    metrics = json.loads((run / "detection" / "metrics.json").read_text())
    assert metrics["threshold_rule"] == "val_quantile"
    assert metrics["detectors"] == ["vae_lstm", "random", "abs_z"]
    for model in ("vae_lstm", "random", "abs_z"):
        summary = metrics[model]["all"]
        assert 0.0 <= summary["oracle_point_adjusted"]["f1"] <= 1.0
        assert summary["oracle_point_adjusted"]["f1"] >= summary["point_adjusted"]["f1"] - 1e-12
        assert summary["n"] == 4000 - 2000 - 16 * 3 + 1
    for model in ("vae_lstm", "random", "abs_z"):
        points = metrics[model]["points"]
        assert set(points["all"]["threshold_free"]) == {"auc_pr", "auc_roc", "vus_pr", "vus_roc"}
        assert set(points["all"]["oracle"]) == {"pointwise", "point_adjusted", "pak_auc", "affiliation",
                                                "range_based", "event"}
        assert points["all"]["n"] == 2000 and points["all"]["n_anomalous"] > 0
    for name in ("score_histograms.png", "detections.png", "precision_recall.png", "vus_pr.png"):
        assert (run / "detection" / name).stat().st_size > 1000
    # a known answer: abs_z's point AUC-PR is the average precision of |z| on the test piece's point labels
    from sklearn.metrics import average_precision_score

    from vae_lstm import config, data_loader

    (piece,) = data_loader.load_config_series(config.load_config(config_path), verbose=False).test_pieces
    expected = average_precision_score(piece.point_labels, np.abs(piece.values).max(axis=1))
    points = {model: metrics[model]["points"]["all"]["threshold_free"] for model in ("abs_z", "random")}
    assert points["abs_z"]["auc_pr"] == pytest.approx(expected, rel=1e-9)
    assert points["abs_z"]["auc_pr"] > points["random"]["auc_pr"] + 0.2  # the spikes and shifts stand out


def test_detect_cli_threshold_rule_pot(trained, tmp_path):
    """--threshold-rule pot through the command line: POT's threshold on the validation scores, and written so."""
    from vae_lstm import config, detection, thresholds

    config_path, run = trained
    copy = tmp_path / run.name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("detection"))
    done = run_cli("codes/detect.py", "--config", str(config_path), "--run-dir", str(copy), "--threshold-rule", "pot")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((copy / "detection" / "metrics.json").read_text())
    assert metrics["threshold_rule"] == "pot"
    assert "note: scoring" in done.stdout and "threshold_rule 'pot' (the run's config.json: 'val_quantile')" in done.stdout
    val_scores = detection.run_detection(config.load_config(config_path)).main.val_scores
    assert metrics["vae_lstm"]["threshold"] == pytest.approx(thresholds.pot(val_scores), rel=1e-6)


def test_detect_threshold_rule_override(trained):
    from vae_lstm import config, detection

    config_path, run = trained
    cfg = config.load_config(config_path)
    result = detection.run_detection(cfg)
    val_scores = result.main.val_scores
    # dynamic thresholds each piece's smoothed point scores: the paper's metric (raw sequence scores, pooled)
    # has no threshold from it, and says why, while the point-level rules flag with it
    dynamic = detection.compute_metrics(result, "dynamic")
    assert np.isnan(dynamic["vae_lstm"]["threshold"])
    assert "thresholds each test piece's smoothed scores" in dynamic["vae_lstm"]["threshold_undefined"]
    assert np.isnan(dynamic["vae_lstm"]["all"]["pointwise"]["f1"])
    assert "threshold_per_piece" in dynamic["vae_lstm"]["points"]["rules"]["dynamic"]
    # the rule stands for the config's everywhere: the point level reports it too, as detect.py's option does
    train_max = detection.compute_metrics(result, "train_max")
    assert "threshold" in train_max["vae_lstm"]["points"]["rules"]["train_max"]
    oracle = detection.compute_metrics(result, "oracle_best_f1")
    best = oracle["vae_lstm"]["all"]["oracle_point_adjusted"]
    assert oracle["vae_lstm"]["all"]["point_adjusted"]["f1"] == pytest.approx(best["f1"])
    assert oracle["vae_lstm"]["threshold"] == pytest.approx(best["threshold"])
    # the validation sequences are the ones the LSTM held out, scored like any other sequence
    from vae_lstm.detectors import get_detector
    from vae_lstm.windowing import train_val_split

    n_seq = len(result.series.train) - cfg.span + 1
    _, lstm_val = train_val_split(n_seq, cfg.val_fraction, cfg.seed)
    detector = get_detector(cfg)
    detector.load(run)
    detector.calibrate(result.series.train)
    train_scores = detector.score(result.series.train).native
    np.testing.assert_allclose(val_scores, train_scores[lstm_val], rtol=1e-5)
    # the validation quantile threshold is a quantile of the validation scores
    assert result.metrics["vae_lstm"]["threshold"] == pytest.approx(
        np.quantile(val_scores, cfg.threshold_quantile))


def test_scoring_again_keeps_the_previous_metrics_beside_the_new(trained, tmp_path, capsys, monkeypatch):
    from vae_lstm import config, detection

    result = detection.run_detection(config.load_config(trained[0]))
    out = tmp_path / "detection"
    detection.write_report(result, out)
    first = json.loads((out / "metrics.json").read_text(), parse_constant=refuse_constant)  # strict JSON
    result.metrics["threshold_rule"] = "another"
    detection.write_report(result, out)
    assert json.loads((out / "metrics.previous.json").read_text()) == first
    assert json.loads((out / "metrics.json").read_text())["threshold_rule"] == "another"
    assert "kept in metrics.previous.json" in capsys.readouterr().out
    # a third scoring keeps both earlier generations; a damaged metrics.json never replaces a good one
    second = json.loads((out / "metrics.json").read_text())
    result.metrics["threshold_rule"] = "third"
    detection.write_report(result, out)
    assert json.loads((out / "metrics.previous.2.json").read_text()) == first
    assert json.loads((out / "metrics.previous.json").read_text()) == second
    (out / "metrics.json").write_text('{"cut sh')
    detection.write_report(result, out)
    assert (out / "metrics.damaged.json").read_text() == '{"cut sh'
    assert json.loads((out / "metrics.previous.json").read_text()) == second
    # an experiment's time for the run (wall_seconds) stays with it when detect.py scores it again
    (out / "metrics.json").write_text(json.dumps({**second, "wall_seconds": 41.5}))
    result.metrics.pop("wall_seconds", None)
    detection.write_report(result, out)
    assert json.loads((out / "metrics.json").read_text())["wall_seconds"] == 41.5
    result.metrics["wall_seconds"] = 7.0  # a grid's own figure wins
    detection.write_report(result, out)
    assert json.loads((out / "metrics.json").read_text())["wall_seconds"] == 7.0
    # a scoring that failed once metrics.json was set aside (a full disk while drawing) loses it no more: the next
    # one takes it from metrics.previous.json
    result.metrics.pop("wall_seconds")

    def full_disk(*args):
        raise OSError(28, "No space left on device", str(out / "detections.png"))

    monkeypatch.setattr(detection, "draw_figures", full_disk)
    with pytest.raises(OSError):
        detection.write_report(result, out)
    assert not (out / "metrics.json").exists()
    monkeypatch.undo()
    result.metrics.pop("wall_seconds", None)  # detect.py run again: a new process
    detection.write_report(result, out)
    assert json.loads((out / "metrics.json").read_text())["wall_seconds"] == 7.0


def refuse_constant(name):
    raise ValueError(f"not strict JSON: {name}")


def test_metrics_json_is_strict_json_and_reads_back_its_undefined_and_infinite_numbers(tmp_path):
    """metrics.json once held bare NaN, which jq and JavaScript refuse: undefined numbers are now null and
    infinite ones "Infinity", read back as NaN and inf; a config key's null stays None."""
    from vae_lstm import runs

    metrics = {"vae_decoder_channels": None, "threshold_rule": "val_quantile", "split": {"spec": {"k": None}},
               "labelled": True, "wall_seconds": np.float32(2.5),
               "vae_lstm": {"threshold": float("inf"), "f1": np.float64("nan"), "low": -np.inf,
                            "counts": [1, float("nan"), 3], "name": "x"}}
    text = runs.metrics_text(metrics)
    strict = json.loads(text, parse_constant=refuse_constant)
    assert strict["vae_lstm"]["f1"] is None and strict["vae_lstm"]["threshold"] == "Infinity"
    (tmp_path / "detection").mkdir()
    (tmp_path / "detection" / "metrics.json").write_text(text)
    back = runs.read_metrics(tmp_path)
    assert back["vae_decoder_channels"] is None and back["split"] == {"spec": {"k": None}}
    assert back["wall_seconds"] == 2.5 and back["labelled"] is True and back["threshold_rule"] == "val_quantile"
    assert back["vae_lstm"]["threshold"] == np.inf and back["vae_lstm"]["low"] == -np.inf
    assert np.isnan(back["vae_lstm"]["f1"]) and back["vae_lstm"]["name"] == "x"
    assert back["vae_lstm"]["counts"][0] == 1 and np.isnan(back["vae_lstm"]["counts"][1])
    # a file an earlier version wrote, with bare NaN, reads as it did
    (tmp_path / "detection" / "metrics.json").write_text('{"vae_lstm": {"f1": NaN}, "seed": 0}')
    old = runs.read_metrics(tmp_path)
    assert np.isnan(old["vae_lstm"]["f1"]) and old["seed"] == 0


def test_a_diverged_model_is_one_line_not_a_score(trained, tmp_path):
    """An LSTM whose weights went NaN scores NaN everywhere: detection says so in one line, naming the checkpoint,
    instead of filling every point with the neutral score (or a traceback from the metrics)."""
    import keras

    from vae_lstm import config, detection
    from vae_lstm.errors import UserError

    run = tmp_path / "run"
    shutil.copytree(trained[1], run, ignore=shutil.ignore_patterns("detection", "*.lock"))
    lstm = keras.saving.load_model(run / "lstm.keras")
    lstm.set_weights([np.full_like(w, np.nan) for w in lstm.get_weights()])
    lstm.save(run / "lstm.keras")
    with pytest.raises(UserError, match=rf"^checkpoint {run / 'lstm.keras'} holds \d+ NaN/inf weight\(s\) of its "):
        detection.run_detection(config.load_config(trained[0]), run)


def test_pot_on_the_detector_leaves_a_control_it_cannot_fit_undefined(trained):
    """The controls' sequence scores are maxima of shared points, so their top validation scores tie and POT
    cannot be fitted on them: that leaves their paper's-metric F1 at the rule undefined (NaN, said in the table),
    and the detector's own POT threshold stands. (Any detector whose sequence scores tie gets the same.)"""
    from vae_lstm import config, detection

    result = detection.run_detection(config.load_config(trained[0]))
    metrics = detection.compute_metrics(result, "pot")
    assert np.isfinite(metrics["vae_lstm"]["threshold"]) and "threshold_undefined" not in metrics["vae_lstm"]
    undefined = [name for name in ("random", "abs_z") if "threshold_undefined" in metrics[name]]
    assert undefined, "expected at least one control whose top validation scores tie"
    for name in undefined:
        assert np.isnan(metrics[name]["threshold"]) and np.isnan(metrics[name]["all"]["pointwise"]["f1"])
        assert np.isfinite(metrics[name]["all"]["average_precision"])  # threshold-free figures stay
    table = detection.format_table(metrics)
    assert f"{undefined[0]}: threshold_rule 'pot' cannot be set on the {undefined[0]} sequence scores" in table
    assert "paper's metric:" not in table
    metrics["vae_lstm"]["all"]["undefined"] = "the labels are all normal or all anomalous: every metric is undefined"
    metrics["vae_lstm"]["all"]["normals_above_each_anomaly"] = []  # as evaluation gives it then
    table = detection.format_table(metrics)
    assert "paper's metric: the labels are all normal" in table
    assert "each anomaly's best score" not in table  # not a line ending in an empty list: [] said nothing


def test_figure_titles_name_the_dataset(trained, tmp_path, monkeypatch):
    from vae_lstm import config, detection, plotting

    titles = {}
    for figure in ("metric_bars", "precision_recall"):
        original = getattr(plotting, figure)
        monkeypatch.setattr(plotting, figure, lambda *a, _f=figure, _o=original: (titles.__setitem__(_f, a[-1]),
                                                                                  _o(*a))[1])
    result = detection.run_detection(config.load_config(trained[0]))
    detection.draw_figures(result, tmp_path)
    assert titles["metric_bars"] == "synthetic: point level"  # not the last control's name
    assert titles["precision_recall"].startswith("synthetic: precision-recall of the sequence scores")


def test_the_detections_title_names_the_seed_of_its_run(trained, tmp_path, monkeypatch):
    """A summary's detections_<dataset>.png is one seed's detections.png, and nothing in it said which seed (the
    beats figure's title does)."""
    from vae_lstm import config, detection, plotting

    titles = []
    monkeypatch.setattr(plotting, "detections", lambda *a, **k: titles.append(a[6]) or tmp_path / "d.png")
    result = detection.run_detection(config.load_config(trained[0]))
    detection.draw_figures(result, tmp_path)
    assert titles == ["synthetic: vae_lstm detections, val_quantile threshold on point scores "
                      "(l_win 16, l_seq 3, seed 0)"]


def test_detect_without_training_says_to_train(tmp_path):
    config_path = tmp_path / "untrained.json"
    config_path.write_text(json.dumps({**TINY, "output_dir": str(tmp_path / "none")}))
    done = run_cli("codes/detect.py", "--config", str(config_path))
    assert done.returncode == 2
    assert f"train first with 'python3 codes/train.py --config {config_path.resolve()}'" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_damaged_checkpoint_of_a_run_dir_elsewhere_says_how_to_resume_that_folder(trained, tmp_path):
    """A run folder copied elsewhere, its lstm.keras truncated, scored with --run-dir (or the notebook's run_dir):
    the line said "run 'python3 codes/train.py --config ...' to resume the lstm from its previous checkpoint", which
    resumes the config's own folder and leaves this one damaged. It now names load_dir too; for the config's own
    folder, nothing is added."""
    from vae_lstm import config, detection
    from vae_lstm.errors import UserError

    config_path, run = trained
    copy = tmp_path / "copied run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("detection"))
    (copy / "lstm.keras").write_bytes((copy / "lstm.keras").read_bytes()[:1000])
    cfg = config.load_config(config_path)
    command = f"'python3 codes/train.py --config {config_path.resolve()}'"
    with pytest.raises(UserError) as refused:
        detection.run_detection(cfg, copy)
    assert str(refused.value) == (f"checkpoint {copy / 'lstm.keras'} is truncated or corrupt (File is not a zip file); "
                                  f"set load_dir: {json.dumps(str(copy))}, then run {command} to resume the lstm from "
                                  "its previous checkpoint lstm.prev.keras")
    from vae_lstm.runs import train_hint

    assert train_hint(cfg, "lstm", "to resume it", run) == f"run {command} to resume it"  # the folder train.py resumes


def test_detect_on_a_run_dir_without_a_model_says_how_to_train_that_folder(tmp_path):
    """--run-dir naming a folder that holds no model (or a copied run without lstm.keras) said "train first with
    'python3 codes/train.py --config ...'", which trains the config's own folder, never the one named. The line
    names that folder and the keys that make train.py train there."""
    from vae_lstm import config
    from vae_lstm.detectors import get_detector
    from vae_lstm.errors import UserError

    config_path = tmp_path / "untrained.json"
    config_path.write_text(json.dumps({**TINY, "output_dir": str(tmp_path / "runs")}))
    empty = tmp_path / "empty"
    empty.mkdir()
    fix = (f'to train it there, set "load_model": 1, "load_dir": {json.dumps(str(empty))} in {config_path.resolve()}, '
           f"then run 'python3 codes/train.py --config {config_path.resolve()}'")
    done = run_cli("codes/detect.py", "--config", str(config_path), "--run-dir", str(empty))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: run folder {empty} holds no trained detector; {fix}"
    (empty / "vae.keras").write_bytes(b"")  # a copied run that lacks its LSTM
    with pytest.raises(UserError) as refused:
        get_detector(config.load_config(config_path)).require_trained(empty)
    assert str(refused.value) == f"run folder {empty} has no lstm.keras; {fix}"
    own = config.load_config(config_path)
    with pytest.raises(UserError, match="; train first with 'python3 codes/train.py --config "):  # its own folder
        get_detector(own).require_trained(config.run_dir(own))


def test_detect_names_a_newer_run_of_the_config_that_has_not_finished_training(trained, tmp_path, capsys, monkeypatch):
    """detect.py scores the newest run folder whose training finished: with <name>_run2 interrupted (a load_model 0
    training stopped by Ctrl-C), it scored <name> and said nothing of run2, and --help promised "its highest
    <name>_runN". It names the newer folder it passes over, what its stages reached and how to finish it."""
    from vae_lstm import cli

    config_path, run = trained
    runs = tmp_path / "runs"
    shutil.copytree(run.parent, runs / run.parent.name, ignore=shutil.ignore_patterns("*_run*", "detection"))
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({**json.loads(config_path.read_text()), "output_dir": str(runs)}))
    first = runs / run.parent.name / run.name
    newer = first.with_name(f"{run.name}_run2")
    shutil.copytree(first, newer)
    state = json.loads((newer / "state.json").read_text())
    state.pop("fitted")
    (newer / "state.json").write_text(json.dumps({**state, "lstm": 1}))
    scored = []
    monkeypatch.setattr(cli, "score", lambda config, series, path: scored.append(path) or 0)
    assert cli.detect_main(["--config", str(config)]) == 0
    assert scored == [first]
    out = capsys.readouterr().out
    assert (f"note: scoring {first}, the newest run of the config whose training finished; {newer} is newer and has "
            f"not finished training (vae 2, lstm 1 epochs done): run 'python3 codes/train.py --config "
            f"{config.resolve()}' again to finish it, then detect") in out, out
    shutil.rmtree(newer)  # none newer: no note
    assert cli.detect_main(["--config", str(config)]) == 0
    assert "is newer" not in capsys.readouterr().out
    # a newer run in its first epoch: its folder holds its config.json and the training lock, no checkpoint nor
    # state.json yet; it was not named
    newer.mkdir()
    shutil.copy(first / "config.json", newer / "config.json")
    assert cli.detect_main(["--config", str(config)]) == 0
    assert "is newer" not in capsys.readouterr().out  # a folder no training holds (killed in its first epoch): none
    hold = ("import os, sys, time\nfrom filelock import FileLock\nwith FileLock(sys.argv[1] + '/train.lock'):\n"
            "    open(sys.argv[1] + '/train.lock.pid', 'w').write(f'{os.getpid()}\\n')\n"
            "    print('held', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(newer)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cli.detect_main(["--config", str(config)]) == 0
    finally:
        holder.kill()
        holder.wait()
    assert (f"note: scoring {first}, the newest run of the config whose training finished; {newer} is newer and has "
            f"not finished training (no epoch done yet): it is being trained now by another process (PID "
            f"{holder.pid}); wait for it to finish, then detect") in capsys.readouterr().out
    help_text = subprocess.run([sys.executable, "codes/detect.py", "--help"], cwd=ROOT, capture_output=True,
                               text=True).stdout
    assert "highest" not in help_text and "finished" in help_text, help_text


def test_notebook_runs_headless(trained, tmp_path, monkeypatch):
    import papermill

    config_path, run = trained
    out = tmp_path / "out.ipynb"
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # the kernel's temporary folders
    papermill.execute_notebook(str(ROOT / "notebooks" / "NAB-anomaly-detection.ipynb"), str(out),
                               parameters={"config": str(config_path), "threshold_quantile": 0.9},
                               cwd=str(ROOT / "notebooks"),
                               progress_bar=False, kernel_name="python3")
    text = out.read_text()
    assert "oracle PA-F1" in text and "VUS-PR" in text and "oracle (best on test labels)" in text
    assert "image/png" in text
    assert "threshold_quantile 0.9 (the run's config.json: 0.99)" in text  # a parameter other than the run's: said
    assert not list((tmp_path / "tmp").glob("notebook_figures_*"))  # each run left its figures folder behind


def failed_notebook_on_an_untrained_config(tmp_path, **parameters):
    """The PapermillExecutionError of the notebook run with ``parameters`` on a tiny config never trained."""
    import papermill

    config_path = tmp_path / "untrained.json"
    config_path.write_text(json.dumps({**TINY, "output_dir": str(tmp_path / "none")}))
    with pytest.raises(papermill.PapermillExecutionError) as failed:
        papermill.execute_notebook(str(ROOT / "notebooks" / "NAB-anomaly-detection.ipynb"),
                                   str(tmp_path / "out.ipynb"), parameters={"config": str(config_path), **parameters},
                                   cwd=str(ROOT / "notebooks"), progress_bar=False, kernel_name="python3")
    return failed.value


def test_notebook_on_an_untrained_config_fails_with_the_one_line(tmp_path):
    """The notebook's cell failed with a traceback through the package; its error is now the line detect.py
    prints, and the notebook still fails."""
    failed = failed_notebook_on_an_untrained_config(tmp_path)
    assert failed.ename == "UserError"
    assert len(failed.traceback) == 1 and failed.traceback[0].startswith("error: run folder ")
    assert "train first with 'python3 codes/train.py" in failed.traceback[0]


def test_notebook_takes_the_fixed_rule_with_its_threshold_value(tmp_path):
    """The parameters threshold_rule "fixed" and threshold_value were applied one replace at a time, so the
    rule was validated without its value: "key 'threshold_value' must be a number when threshold_rule is 'fixed'"
    though the notebook was given one. Untrained, the notebook now gets as far as the run folder."""
    failed = failed_notebook_on_an_untrained_config(tmp_path, threshold_rule="fixed", threshold_value=2.5)
    assert failed.traceback[0].startswith("error: run folder "), failed.traceback[0]


def test_a_bad_notebook_parameter_is_blamed_on_the_parameters(tmp_path):
    """A bad parameter (-p detector lstmae) was refused as the config file's own key ("untrained.json: key
    'detector' = "lstmae" is invalid"), though the file never names it; the line now names the parameters."""
    failed = failed_notebook_on_an_untrained_config(tmp_path, detector="lstmae")
    line = failed.traceback[0]
    assert len(failed.traceback) == 1 and line.startswith("error: the notebook's parameters: key 'detector'"), line
    assert "untrained.json" not in line


def test_notebook_refuses_a_threshold_value_without_the_fixed_rule(tmp_path):
    """-p threshold_value 2.5 alone was silently unused: the notebook scored at the config's val_quantile, and its
    tables read as if at the threshold given. The threshold of rule "fixed" needs that rule."""
    failed = failed_notebook_on_an_untrained_config(tmp_path, threshold_value=2.5)
    assert failed.traceback == [
        "error: the notebook's parameters: threshold_value is the threshold of threshold_rule 'fixed', and the rule "
        "is 'val_quantile'; set threshold_rule \"fixed\" too, or leave threshold_value out"]


NOTEBOOK_PARAMETERS = ("config", "detector", "threshold_rule", "threshold_quantile", "threshold_value", "run_dir")


@pytest.mark.parametrize("injected, line", [
    ('config = "tiny.json"\ntreshold_rule = "pot"\n', "unknown parameter 'treshold_rule'; did you mean 'threshold_rule'?"),
    ("seed = 3\nthreshold_quantile = 0.95\n", "unknown parameter 'seed'; known: " + ", ".join(NOTEBOOK_PARAMETERS)),
    ("seed = 3\nfoo = 1\nseed = 4\n", "unknown parameters 'seed', 'foo'; known: " + ", ".join(NOTEBOOK_PARAMETERS)),
    ('config = "tiny.json"\nthreshold_rule = "pot"\nrun_dir = None\n', None),
    # papermill's own, of --inject-paths (it warns of them as unknown too)
    ('config = "tiny.json"\nPAPERMILL_INPUT_PATH = "in.ipynb"\nPAPERMILL_OUTPUT_PATH = "out.ipynb"\n', None),
])
def test_notebook_refuses_a_parameter_it_does_not_have(injected, line):
    """-p treshold_rule pot (mistyped) was only warned about by papermill ("Passed unknown parameter"), and the
    notebook ran on at the config's rule, its tables read as if at the rule given. The notebook now stops with one
    line naming the parameter, from papermill's cell of the given parameters (in IPython's history); a session
    without papermill has no such cell, and no check."""
    from vae_lstm.errors import ConfigError, check_notebook_parameters

    defaults = '# Parameters (papermill can override them: ...)\nconfig = "NAB_config.json"\ndetector = None\n'
    history = ["", defaults, "# Parameters\n" + injected, "from vae_lstm.errors import check_notebook_parameters"]
    if line is None:
        check_notebook_parameters(NOTEBOOK_PARAMETERS, history)
    else:
        with pytest.raises(ConfigError) as refused:
            check_notebook_parameters(NOTEBOOK_PARAMETERS, history)
        assert str(refused.value) == f"the notebook's parameters: {line}"
    check_notebook_parameters(NOTEBOOK_PARAMETERS, ["", defaults, "x = 1"])  # no papermill: nothing to check
    notebook = json.loads((ROOT / "notebooks" / "NAB-anomaly-detection.ipynb").read_text())
    cells = {cell["id"]: "".join(cell["source"]) for cell in notebook["cells"]}
    parameters = next(cell for cell in notebook["cells"] if "parameters" in cell["metadata"].get("tags", ()))
    assert tuple(node.targets[0].id for node in ast.parse("".join(parameters["source"])).body) == NOTEBOOK_PARAMETERS
    names = ", ".join(f'"{name}"' for name in NOTEBOOK_PARAMETERS)  # the check, before the parameters are read
    assert any(f"check_notebook_parameters(({names}))\ncfg = load_config(config)" in cell for cell in cells.values())


def test_notebook_names_a_mistyped_run_dir_as_its_parameter(tmp_path, monkeypatch):
    """-p run_dir with a folder that does not exist said "train first with 'python3 codes/train.py --config ...'",
    which trains the config's own folder, never that one; detect.py names --run-dir, the notebook its parameter.
    A run_dir from ~ is the home folder's, as output_dir is."""
    monkeypatch.setenv("HOME", str(tmp_path))
    failed = failed_notebook_on_an_untrained_config(tmp_path, run_dir="~/typo")
    assert failed.traceback == [f"error: run folder {tmp_path / 'typo'} does not exist (the notebook's run_dir "
                                "parameter)"]


def notebook_setup(**parameters) -> dict:
    """The notebook's parameter cell, with ``parameters`` as papermill would inject them, and its setup cell, run in
    this process (up to its data, before any scoring: no model is loaded); the namespace they leave."""
    notebook = json.loads((ROOT / "notebooks" / "NAB-anomaly-detection.ipynb").read_text())
    code = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    parameter_cell = next(i for i, cell in enumerate(code) if cell.startswith("# Parameters"))
    namespace = {}
    exec(code[parameter_cell], namespace)
    namespace.update(parameters)
    exec(code[parameter_cell + 1], namespace)
    return namespace


def test_notebook_names_a_newer_run_of_the_config_that_has_not_finished_training(tmp_path, capsys):
    """The notebook scores the newest run folder whose training finished, as detect.py does: with <name>_run2
    interrupted, detect.py names run2 in a note, and the notebook scored <name> without a word."""
    from vae_lstm.config import load_config, run_dir
    from vae_lstm.prepare import load_data

    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({**TINY, "output_dir": str(tmp_path / "runs")}))
    resolved, _ = load_data(load_config(cfg), verbose=False)
    base = run_dir(resolved)
    newer = base.with_name(f"{base.name}_run2")
    for folder, state in ((base, {"vae": 2, "lstm": 2, "fitted": True}), (newer, {"vae": 2, "lstm": 1})):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(resolved.to_dict()))
        (folder / "state.json").write_text(json.dumps(state))
    assert notebook_setup(config=str(cfg))["run_dir"] == base
    assert (f"note: scoring {base}, the newest run of the config whose training finished; {newer} is newer and has "
            f"not finished training (vae 2, lstm 1 epochs done): run 'python3 codes/train.py --config {cfg.resolve()}' "
            "again to finish it, then detect") in capsys.readouterr().out
    assert notebook_setup(config=str(cfg), run_dir=str(base))["run_dir"] == base  # a run_dir given: no note
    assert "is newer" not in capsys.readouterr().out


def test_notebook_names_the_run_folder_whose_config_json_it_was_given(tmp_path, capsys):
    """``-p config <run folder>/config.json`` of a run folder moved or copied elsewhere, whose output_dir leads to its
    old place: the notebook said "run folder <old place> does not exist; train first with ...", which trains a new run
    there while the trained one sits beside the config, and scored the old place's run (a copy's original) without a
    word, where detect.py names the folder. The notebook now names it too, and its run_dir parameter."""
    from vae_lstm.errors import UserError

    name = "synthetic_vae_lstm_lwin16_lseq3_code3_seed0"
    copy = tmp_path / "copy"
    copy.mkdir()
    cfg = copy / "config.json"
    cfg.write_text(json.dumps({**TINY, "output_dir": str(tmp_path / "old")}))
    (copy / "state.json").write_text(json.dumps({"vae": 2, "lstm": 2, "fitted": True}))
    old = tmp_path / "old" / "tiny" / name
    with pytest.raises(UserError) as refused:  # moved: its output_dir leads to no run
        notebook_setup(config=str(cfg))
    assert str(refused.value) == (f"run folder {old}, where the output_dir of {cfg} leads, does not exist; that file "
                                  f"is the config.json of run folder {copy}: set the notebook's run_dir parameter to "
                                  f"\"{copy}\" to score it")
    old.mkdir(parents=True)  # a copy: the original is still there, and is what the notebook scores, saying so
    shutil.copy(cfg, old / "config.json")
    shutil.copy(copy / "state.json", old / "state.json")
    capsys.readouterr()
    notebook_setup(config=str(cfg))
    assert (f"note: scoring {old}, where the output_dir of {cfg} leads, not {copy}, whose config.json it is (set the "
            f"notebook's run_dir parameter to \"{copy}\" to score that one)") in capsys.readouterr().out
    notebook_setup(config=str(cfg), run_dir=str(copy))  # the copy itself: nothing to say
    assert "note: scoring" not in capsys.readouterr().out


@pytest.mark.parametrize("detector", ["vae_lstm", "abs_z"])
def test_notebook_refuses_a_run_dir_that_holds_run_folders_but_is_not_one(tmp_path, detector):
    """-p run_dir naming the exp_name folder above the run folders (one level too high): detect.py's --run-dir says
    it holds run folders and is not one; the notebook said it "has no vae.keras or lstm.keras; to train it there,
    set "load_model": 1, "load_dir": ..." (a training among the run folders), and a control was scored there without
    a word, its tables headed by that folder. Refused in one line, as detect.py refuses it, before any data is read."""
    from vae_lstm.errors import UserError

    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({**TINY, "detector": detector, "output_dir": str(tmp_path / "runs")}))
    above = tmp_path / "runs" / "tiny"
    for seed in (0, 1):
        (above / f"synthetic_vae_lstm_lwin16_lseq3_code3_seed{seed}").mkdir(parents=True)
        (above / f"synthetic_vae_lstm_lwin16_lseq3_code3_seed{seed}" / "state.json").write_text('{"fitted": true}')
    with pytest.raises(UserError) as refused:
        notebook_setup(config=str(cfg), run_dir=str(above))
    assert str(refused.value) == (f"run folder {above} holds 2 run folders but is not one (such as "
                                  f"{above / 'synthetic_vae_lstm_lwin16_lseq3_code3_seed0'} or "
                                  f"{above / 'synthetic_vae_lstm_lwin16_lseq3_code3_seed1'}): give a run folder (the "
                                  "notebook's run_dir parameter)")
    notes = tmp_path / "notes"  # a folder of one's own: no run
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match=r"^run folder .*notes holds files but no run \(.*\): give a run folder \(the "):
        notebook_setup(config=str(cfg), run_dir=str(notes))
    (notes / "notes.txt").unlink()  # an empty folder: a control's scores need no training
    if detector == "abs_z":
        assert notebook_setup(config=str(cfg), run_dir=str(notes))["run_dir"] == notes


def test_notebook_shows_no_training_figure_a_kill_cut_short(tmp_path):
    """A training killed while drawing leaves ``<name>.tmp.png`` (``plotting._save``); the notebook's training-figures
    cell showed it beside the finished figures, a broken or half-drawn image. The cell runs here on its own, with the
    setup cell's imports and the display calls recorded."""
    from types import SimpleNamespace

    notebook = json.loads((ROOT / "notebooks" / "NAB-anomaly-detection.ipynb").read_text())
    code = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    setup = code[next(i for i, cell in enumerate(code) if cell.startswith("# Parameters")) + 1]
    imports = [node for node in ast.parse(setup).body if isinstance(node, (ast.Import, ast.ImportFrom))]
    figures_cell = next(cell for cell in code if 'result.run_dir / "figures"' in cell)
    (tmp_path / "figures").mkdir()
    for name in ("vae_loss.png", "lstm_loss.png", "lstm_loss.tmp.png"):
        (tmp_path / "figures" / name).write_bytes(b"")
    shown = []
    namespace = {}
    exec(compile(ast.Module(imports, type_ignores=[]), "setup", "exec"), namespace)
    namespace.update(result=SimpleNamespace(run_dir=tmp_path), Markdown=str, Image=lambda filename: filename,
                     display=lambda *items: shown.append(items[1]))
    exec(figures_cell, namespace)
    assert [Path(path).name for path in shown] == ["lstm_loss.png", "vae_loss.png"]


def test_notebook_names_the_scoring_keys_its_scores_do_not_read(tmp_path, capsys):
    """A config that sets point_smoothing under point_score max_sequence, which never reads it: detect.py said so in a
    note (the scores are the same without), the notebook scored without a word, its tables read as if smoothed."""
    cfg = tmp_path / "unread.json"
    cfg.write_text(json.dumps({**TINY, "output_dir": str(tmp_path / "runs"), "point_score": "max_sequence",
                               "point_smoothing": 5}))
    notebook_setup(config=str(cfg))
    assert ("note: point_smoothing 5.0 not read under point_score 'max_sequence': the scores are the same without"
            in capsys.readouterr().out.splitlines())


def table1_job(detector: str, tmp_path):
    from vae_lstm.experiment import Job, job_experiment, load_experiment

    job = Job(str(load_experiment("table1").path), "nyc_taxi", detector, 0, str(tmp_path))
    return job, job_experiment(job)


@pytest.mark.nab
def test_reproduce_refuses_a_finished_run_made_with_another_config(tmp_path, nab_dir, monkeypatch):
    """A finished run is reused only while the shipped config still matches the one it was made with."""
    from vae_lstm.config import run_dir, save_config
    from vae_lstm.errors import UserError
    from vae_lstm.grid import run_job

    monkeypatch.setenv("NAB_DATA_DIR", str(nab_dir))
    job, experiment = table1_job("vae_lstm", tmp_path)
    config = experiment.config("nyc_taxi", "vae_lstm", 0)
    folder = run_dir(config)
    (folder / "detection").mkdir(parents=True)
    from vae_lstm.detection import METRICS_VERSION

    finished = {"dataset": "nyc_taxi", "metrics_version": METRICS_VERSION, "threshold_rule": config.threshold_rule,
                "threshold_quantile": config.threshold_quantile, "point_score": config.point_score,
                "error_scale": config.error_scale, "term_scale": config.term_scale,
                "second_term_weight": config.second_term_weight}
    (folder / "detection" / "metrics.json").write_text(json.dumps(finished))
    save_config(config, folder / "config.json")
    assert run_job(job) == finished

    save_config(config.replace(num_epochs_vae=config.num_epochs_vae + 1), folder / "config.json")
    with pytest.raises(UserError, match="num_epochs_vae"):
        run_job(job)


@pytest.mark.nab
def test_point_score_rescores_only_the_detectors_that_read_it(tmp_path, nab_dir, monkeypatch):
    """A metrics.json written before point_score existed was scored under max_sequence: a vae_lstm run is
    scored again under the new default, a control's run (whose scores do not read the key) is not."""
    from vae_lstm import detection, grid
    from vae_lstm.config import run_dir, save_config
    from vae_lstm.grid import run_job

    monkeypatch.setenv("NAB_DATA_DIR", str(nab_dir))
    rescored = []
    monkeypatch.setattr(detection, "run_detection", lambda config, *a, **k: rescored.append(config.detector) or 1 / 0)
    monkeypatch.setattr(grid, "ready_to_score", lambda config, path: True)  # no checkpoints here: nothing to resume
    for name in ("abs_z", "vae_lstm"):
        job, experiment = table1_job(name, tmp_path)
        config = experiment.config("nyc_taxi", name, 0)
        folder = run_dir(config)
        (folder / "detection").mkdir(parents=True)
        old = {"metrics_version": detection.METRICS_VERSION, "threshold_rule": config.threshold_rule,
               "threshold_quantile": config.threshold_quantile}
        (folder / "detection" / "metrics.json").write_text(json.dumps(old))
        save_config(config, folder / "config.json")
        if name == "abs_z":
            assert run_job(job) == old
        else:
            assert config.point_score == "balanced_level"
            with pytest.raises(ZeroDivisionError):
                run_job(job)
    assert rescored == ["vae_lstm"]
    # the same old file under a max_sequence config without channel scaling, with mean term scales: what it
    # was scored with, so nothing is scored again
    config = config.replace(point_score="max_sequence", error_scale="none", term_scale="mean", second_term_weight=1)
    assert grid.stale_keys(config, old) == []
    assert grid.stale_keys(config.replace(threshold_quantile=0.5), old) == ["threshold_quantile"]
    # threshold_value is read by the fixed rule alone: under another one it scores nothing again
    assert grid.stale_keys(config.replace(threshold_value=3.0), old) == []
    fixed = config.replace(threshold_rule="fixed", threshold_value=3.0)
    assert grid.stale_keys(fixed, {**old, "threshold_rule": "fixed", "threshold_value": 2.0}) == ["threshold_value"]
    # max_sequence reads no point-score key: a change of one does not score its runs again
    for key, value in (("point_smoothing", 1), ("point_spread", 1), ("trailing_scale", 8), ("error_scale", "channel"),
                       ("second_term_weight", 4), ("term_scale", "max"), ("context_scale", "mean")):
        assert grid.stale_keys(config.replace(**{key: value}), old) == []
    # a predicted_error run reads the smoothing, channel and context keys, not the balanced scores' term keys
    config = config.replace(point_score="predicted_error")
    old = {**old, "point_score": "predicted_error"}
    assert grid.stale_keys(config.replace(second_term_weight=4, term_scale="max"), old) == []
    assert grid.stale_keys(config.replace(context_scale="mean"), old) == ["context_scale"]
    # a balanced_level run reads them all
    config = config.replace(point_score="balanced_level")
    old = {**old, "point_score": "balanced_level"}
    # older files were scored without smoothing: a smoothing config scores them again
    assert grid.stale_keys(config.replace(point_smoothing=1), old) == ["point_smoothing"]
    assert grid.stale_keys(config.replace(point_smoothing=0), old) == []
    # and without spreading
    assert grid.stale_keys(config.replace(point_spread=1), old) == ["point_spread"]
    assert grid.stale_keys(config.replace(point_spread=0), old) == []
    # and without trailing standardisation
    assert grid.stale_keys(config.replace(trailing_scale=8), old) == ["trailing_scale"]
    assert grid.stale_keys(config.replace(trailing_scale=0), old) == []
    # and without per-channel scaling
    assert grid.stale_keys(config.replace(error_scale="channel"), old) == ["error_scale"]
    assert grid.stale_keys(config.replace(error_scale="none"), old) == []
    assert grid.stale_keys(config.replace(second_term_weight=2), old) == ["second_term_weight"]
    assert grid.stale_keys(config.replace(second_term_weight=1), old) == []  # older files: weight 1
    assert grid.stale_keys(config.replace(term_scale="max"), old) == ["term_scale"]  # older files: "mean"
    assert grid.stale_keys(config.replace(term_scale="mean"), old) == []
    assert grid.stale_keys(config.replace(term_combine="max"), old) == ["term_combine"]  # older files: "sum"
    assert grid.stale_keys(config.replace(term_combine="sum"), old) == []
    assert grid.stale_keys(config.replace(term_power=0.5), old) == ["term_power"]  # older files: power 1
    assert grid.stale_keys(config.replace(term_power=1), old) == []
    # older files were scored without the third term: weight 0, and a weight set since then scores them again
    assert grid.stale_keys(config.replace(reconstruction_weight=0), old) == []
    assert grid.stale_keys(config.replace(reconstruction_weight=1), old) == ["reconstruction_weight"]
    assert grid.stale_keys(config.replace(reconstruction_weight=1), {**old, "reconstruction_weight": 0}) == [
        "reconstruction_weight"]
    assert grid.stale_keys(config.replace(reconstruction_weight=1), {**old, "reconstruction_weight": 1.0}) == []
    balanced = {**old, "point_score": "balanced"}  # whose second term is the VAE's error already: not read
    assert grid.stale_keys(config.replace(point_score="balanced", reconstruction_weight=1), balanced) == []
    # a run of one channel, whose scores' order error_scale does not change, is not scored again for it
    assert grid.stale_keys(config.replace(error_scale="channel"), {**old, "n_channel": 1}) == []

    # a summary leaves out a run last scored under other keys (by an experiment sharing its folder)
    from vae_lstm.reproduce import collect_finished

    found, left_out = collect_finished(experiment)
    assert list(found) == [("nyc_taxi", "abs_z", 0)]
    assert "from other values of point_score" in left_out[("nyc_taxi", "vae_lstm", 0)]
    # and one scored by an older evaluation, whose scores may have changed since (run the experiment instead)
    abs_z_metrics = run_dir(experiment.config("nyc_taxi", "abs_z", 0)) / "detection" / "metrics.json"
    abs_z_metrics.write_text(json.dumps({**old, "metrics_version": detection.METRICS_VERSION - 1}))
    assert collect_finished(experiment)[0] == {}


def test_reproduce_reuses_a_finished_vae_stage_only(tmp_path):
    """A vae run starts from the vae_lstm run's VAE only when that stage finished all its epochs."""
    from vae_lstm import reproduce
    from vae_lstm.config import run_dir, save_config

    _, experiment = table1_job("vae_lstm", tmp_path)
    source_config = experiment.config("nyc_taxi", "vae_lstm", 0)
    source = run_dir(source_config)
    target = run_dir(experiment.config("nyc_taxi", "vae", 0))
    (source / "figures").mkdir(parents=True)
    save_config(source_config, source / "config.json")  # as training writes it
    (source / "vae.keras").write_bytes(b"weights")
    (source / "vae_log.csv").write_text("epoch,loss\n")
    (source / "figures" / "vae_loss.png").write_bytes(b"png")
    (source / "state.json").write_text(json.dumps({"vae": source_config.num_epochs_vae - 1}))
    assert not reproduce.reuse_vae_stage(source_config, target)  # unfinished stage: nothing copied
    assert not target.exists()
    stopped = {"vae": 3, "vae_stopped_early_at": 3}  # ended by early stopping: finished, copied with its mark
    (source / "state.json").write_text(json.dumps(stopped))
    assert reproduce.reuse_vae_stage(source_config, target)
    assert json.loads((target / "state.json").read_text()) == stopped
    shutil.rmtree(target)

    (source / "state.json").write_text(json.dumps({"vae": source_config.num_epochs_vae, "lstm": 3}))
    vae_config = experiment.config("nyc_taxi", "vae", 0)
    wider = vae_config.replace(num_hidden_units=2 * vae_config.num_hidden_units)
    assert reproduce.vae_keys_differ(wider, source_config) == ["num_hidden_units"]
    assert not reproduce.reuse_vae_stage(source_config, target, wider)  # another VAE: trained on its own
    assert not target.exists()
    assert reproduce.vae_keys_differ(vae_config.replace(num_epochs_lstm=1, batch_size_lstm=7), source_config) == []
    (source / "training_data.json").write_text('{"shape": [3, 1], "sha256": "abc"}')
    assert reproduce.reuse_vae_stage(source_config, target, vae_config)
    assert (target / "vae.keras").read_bytes() == b"weights"
    # with the data it was trained on, which the vae run's fit then checks against its own
    assert (target / "training_data.json").read_text() == '{"shape": [3, 1], "sha256": "abc"}'
    assert (target / "figures" / "vae_loss.png").is_file()
    assert json.loads((target / "state.json").read_text()) == {"vae": source_config.num_epochs_vae}
    (target / "vae.keras").write_bytes(b"its own")
    assert not reproduce.reuse_vae_stage(source_config, target)  # never over a run's own training
    assert (target / "vae.keras").read_bytes() == b"its own"
    # a vae_lstm folder made with other training keys, which the grid refuses, is no source either
    shutil.rmtree(target)
    save_config(source_config.replace(learning_rate_vae=0.5), source / "config.json")
    assert not reproduce.reuse_vae_stage(source_config, target, vae_config) and not target.exists()
    save_config(source_config, source / "config.json")
    assert reproduce.reuse_vae_stage(source_config, target, vae_config)
    # nor one fitted on other training data than the series now gives: the vae run trains its own VAE instead
    shutil.rmtree(target)
    from vae_lstm.runs import data_fingerprint

    now, before = np.arange(6.0).reshape(3, 2), np.arange(6.0).reshape(3, 2) + 1
    (source / "training_data.json").write_text(json.dumps(data_fingerprint(before)))
    assert not reproduce.reuse_vae_stage(source_config, target, vae_config, now) and not target.exists()
    assert reproduce.reuse_vae_stage(source_config, target, vae_config, before)


def test_a_vae_run_started_from_the_vae_lstm_runs_vae_stage_trains_on_in_its_folder(tmp_path):
    """The reused VAE stage comes with the vae run's config.json, as a folder trained there would hold: without it
    the grid's training refused the folder (training, but no record of its keys), and every vae run of a grid that
    also ran the VAE-LSTM failed."""
    from vae_lstm import reproduce
    from vae_lstm.config import run_dir, save_config
    from vae_lstm.runs import choose_run_dir, saved_config

    _, experiment = table1_job("vae_lstm", tmp_path)
    source_config, vae_config = (experiment.config("nyc_taxi", d, 0) for d in ("vae_lstm", "vae"))
    source, target = run_dir(source_config), run_dir(vae_config)
    source.mkdir(parents=True)
    save_config(source_config, source / "config.json")
    (source / "vae.keras").write_bytes(b"weights")
    (source / "state.json").write_text(json.dumps({"vae": source_config.num_epochs_vae}))
    (source / "config.json").rename(source / "lost.json")  # a source the grid refuses gives nothing to reuse
    assert not reproduce.reuse_vae_stage(source_config, target, vae_config)
    assert not target.exists()
    (source / "lost.json").rename(source / "config.json")
    assert reproduce.reuse_vae_stage(source_config, target, vae_config)
    assert saved_config(target) == vae_config.to_dict()
    assert choose_run_dir(vae_config, target) == target  # the vae run's training goes on there, not refused


def test_tensorflow_start_up_noise_is_silenced(tmp_path):
    """No absl, oneDNN or cuInit lines on a CPU machine: they used to come twice per process, and training
    the VAE (its upsampling's gradient) added oneDNN's DT_INT32 line."""
    config_path = tmp_path / "quiet.json"
    config_path.write_text(json.dumps({**TINY, "detector": "vae", "num_epochs_vae": 1,
                                       "output_dir": str(tmp_path / "runs")}))
    done = subprocess.run([sys.executable, "codes/train.py", "--config", str(config_path)], cwd=ROOT,
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    for noise in ("absl::InitializeLog", "oneDNN", "cuInit", "cuda drivers", "E0000"):
        assert noise not in done.stderr, done.stderr


@pytest.mark.nab
def test_partial_reproduce_leaves_the_committed_tables_alone(tmp_path, nab_dir, monkeypatch):
    """A part of the table1 grid (here an incomplete one) writes its summary beside its runs. A part asked of a
    complete grid is tested in test_reliability_damage."""
    from vae_lstm import reproduce

    monkeypatch.setenv("NAB_DATA_DIR", str(nab_dir))
    tables = ROOT / "figures" / "table1"  # where a whole table1 grid writes its tables
    committed = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tables.iterdir()}
    assert "results.csv" in committed
    out = tmp_path / "runs"
    assert reproduce.main(["--series", "nyc_taxi", "--seeds", "1", "--detectors", "abs_z",
                           "--output-dir", str(out)]) == 0
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tables.iterdir()} == committed
    table = (out / "summary" / "table1" / "results.md").read_text()
    assert "| nyc_taxi | abs_z | 1 |" in table
    rows = pd.read_csv(out / "summary" / "table1" / "results.csv")
    for column in ("vus_pr", "auc_pr", "auc_roc", "f1_pointwise_oracle", "f1_pa_oracle", "f1_affiliation_oracle",
                   "f1_deployable"):
        assert rows[column].notna().all(), column


def test_reproduce_blames_the_command_line_for_a_bad_seed(capsys):
    from vae_lstm import reproduce
    from vae_lstm.errors import run_cli

    assert run_cli(reproduce.main, ["--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--seed must be between 0 and 99" in err and "config" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["--config", "NAB_config.json", "--threshold-rule", "bogus"], "argument --threshold-rule: invalid choice: 'bogus'"),
    ([], "the following arguments are required: --config"),
    # a file whose name starts with '-': argparse reads it as an option; the line says how to give it
    (["--config", "-my.json"], "argument --config: expected one argument (a value starting with '-' is given as "
                               "--config=-my.json)"),
    (["--config", "NAB_config.json", "--run-dir", "-run"], "(a value starting with '-' is given as --run-dir=-run)"),
])
def test_a_bad_command_line_is_one_line(capsys, argv, message):
    """argparse's usage errors come back as one line and exit 2, like every other error."""
    from vae_lstm.cli import detect_main
    from vae_lstm.errors import run_cli

    assert run_cli(detect_main, argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert lines[0].endswith("(see detect.py --help)")


@pytest.mark.parametrize("main, argv, option", [
    ("detect_main", ["--config", "NAB_config.json", "--run-dir", ""], "--run-dir"),
    ("train_main", ["--config", ""], "--config"),
    ("reproduce", ["table1", "--output-dir", "", "--summary-only"], "--output-dir"),
    ("reproduce", ["table1", "--summary-dir", "", "--summary-only"], "--summary-dir"),
])
def test_an_empty_option_is_one_line_naming_it(capsys, main, argv, option):
    """An empty option (an unset shell variable: --run-dir "$RUN") was taken as no option: detect.py scored the
    config's latest run, reproduce.py wrote its runs and summary to the defaults, and an empty --config was "a
    folder" (the working folder). It is now one line naming the option."""
    from vae_lstm import cli, reproduce
    from vae_lstm.errors import run_cli

    function = reproduce.main if main == "reproduce" else getattr(cli, main)
    assert run_cli(function, argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: argument {option}: is empty"), lines


def test_threshold_rule_fixed_on_the_command_line_without_a_value_names_the_command_line(capsys):
    """--threshold-rule fixed on a config without threshold_value was refused as the config's own mistake
    ("NAB_config.json: key 'threshold_value' must be a number when threshold_rule is 'fixed'"), though the config
    never asked for that rule; the line now says the option needs the key, before any data is read."""
    from vae_lstm.cli import detect_main
    from vae_lstm.errors import run_cli

    assert run_cli(detect_main, ["--config", "NAB_config.json", "--threshold-rule", "fixed"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--threshold-rule fixed needs a threshold" in lines[0], lines
    assert '"threshold_value"' in lines[0] and "NAB_config.json" in lines[0] and "must be a number" not in lines[0]


def test_the_rules_table_of_an_unlabelled_run_gives_each_rules_share_flagged():
    """The notebook's last table was empty for unlabelled data; it now gives each rule's threshold and share."""
    from vae_lstm.detection import rules_table

    metrics = {"labelled": False, "detectors": ["abs_z"], "abs_z": {"points": {"rules": {
        "val_quantile": {"threshold": 2.5, "flagged_fraction": 0.04},
        "pot": {"undefined": "no validation score above its level"}}}}}
    table = rules_table(metrics)
    assert table[["rule", "threshold", "flagged"]].values.tolist()[0] == ["val_quantile", 2.5, 0.04]
    assert table["threshold"].iloc[1] == "no validation score above its level" and np.isnan(table["flagged"].iloc[1])


def test_the_notebooks_rules_table_writes_a_share_that_rounds_to_zero_as_the_printed_tables_do():
    """The notebook showed rules_table(...).round(3): a rule that flagged 1 of 2,500 test points read "flagged 0.0",
    as if it flagged nothing, where detect.py's table reads "<0.1%" (``share_text``). It shows the printed form."""
    from vae_lstm.detection import rules_table

    metrics = {"labelled": False, "detectors": ["abs_z"], "abs_z": {"points": {"rules": {
        "val_quantile": {"threshold": 2.5, "flagged_fraction": 0.0004}, "pot": {"threshold": 9.0, "flagged_fraction": 0.0},
        "dynamic": {"undefined": "scores at or below 0"}}}}}
    assert rules_table(metrics, shares=True)["flagged"].tolist() == ["<0.1%", "0.0%", "n/a"]
    assert rules_table(metrics)["flagged"].tolist()[:2] == [0.0004, 0.0]  # the numbers, for code
    notebook = json.loads((ROOT / "notebooks" / "NAB-anomaly-detection.ipynb").read_text())
    assert "rules_table(result.metrics, shares=True).round(3)" in "".join(
        line for cell in notebook["cells"] for line in cell["source"])


def test_the_notebooks_rules_table_writes_n_a_where_labels_of_one_class_leave_the_f1s_undefined():
    """On test labels all of one class the notebook's rules table showed NaN for every PW-F1 and Aff-F1 and "nan" for
    the oracle's threshold, where detect.py's table writes n/a. The notebook's form writes n/a, and each F1 to 3
    decimals (.round(3) leaves a column of text as it is)."""
    from vae_lstm.detection import rules_table

    nan = float("nan")
    points = {"rules": {"val_quantile": {"threshold": 1.5}},
              "all": {"undefined": "the point labels are all normal or all anomalous: the metrics are undefined",
                      "rules": {"val_quantile": {"pointwise": {"f1": nan}, "affiliation": {"f1": nan},
                                                 "flagged_fraction": 0.0}},
                      "oracle": {"pointwise": {"f1": nan, "threshold": nan}, "affiliation": {"f1": nan}}},
              "a": {"rules": {"val_quantile": {"pointwise": {"f1": 0.51234}, "affiliation": {"f1": 0.25},
                                               "flagged_fraction": 0.1}},
                    "oracle": {"pointwise": {"f1": 0.75, "threshold": 2.0}, "affiliation": {"f1": 0.5}}}}
    metrics = {"detectors": ["x"], "x": {"points": points}}
    table = rules_table(metrics, shares=True)
    assert table[["PW-F1", "Aff-F1", "threshold"]].values.tolist() == [["n/a", "n/a", "1.5"], ["n/a", "n/a", "n/a"]]
    piece = rules_table(metrics, "a", shares=True)
    assert piece[["PW-F1", "Aff-F1", "threshold"]].values.tolist() == [["0.512", "0.250", "1.5"], ["0.750", "0.500", "2"]]
    assert np.isnan(rules_table(metrics)["PW-F1"].iloc[0])  # the numbers, for code


def test_the_notebooks_rules_table_writes_thresholds_to_four_significant_digits():
    """The notebook's .round(3) left the threshold column as it was: dynamic's per-piece list (and a rule's reason
    for no threshold) made it a column of objects, which pandas does not round, so every threshold read 61.346353
    and dynamic's [268.281008, 455.66593]. The notebook's form writes each to 4 significant digits."""
    from vae_lstm.detection import rules_table

    metrics = {"labelled": False, "detectors": ["abs_z"], "abs_z": {"points": {"rules": {
        "val_quantile": {"threshold": 61.346353, "flagged_fraction": 0.1},
        "dynamic": {"threshold_per_piece": [268.281008, 455.66593], "flagged_fraction": 0.04},
        "contamination": {"threshold": 0.000123456, "flagged_fraction": 0.1},
        "pot": {"undefined": "no validation score above its level"}}}}}
    assert rules_table(metrics, shares=True)["threshold"].tolist() == [
        "61.35", "268.3, 455.7", "0.0001235", "no validation score above its level"]
    assert rules_table(metrics)["threshold"].tolist()[:2] == [61.346353, [268.281008, 455.66593]]  # for code


def test_a_figure_not_drawn_this_time_is_not_left_from_the_last_scoring(tmp_path, capsys):
    """Labels may change on a trained run (the training block is given): when the new test labels are all one
    class, or there are none, precision_recall.png and vus_pr.png are not drawn, and the earlier scoring's
    copies, of other labels, must not stay in detection/ as if they were this metrics.json's."""
    from vae_lstm import cli

    rng = np.random.default_rng(0)
    t = np.arange(1200)
    pd.DataFrame({"v": np.sin(2 * np.pi * t / 24) + 0.05 * rng.standard_normal(1200)}).to_csv(
        tmp_path / "series.csv", index=False)
    (tmp_path / "test_anomaly.json").write_text("[900]")  # a labelled row in the test piece
    (tmp_path / "train_anomaly.json").write_text("[100]")  # in the training block only: test labels all normal

    def config(labels):
        dataset = {"path": "series.csv", "train_fraction": 0.5, **({"labels": labels} if labels else {})}
        path = tmp_path / "config.json"
        path.write_text(json.dumps({"exp_name": "stale", "dataset": dataset, "detector": "abs_z", "l_win": 24,
                                    "l_seq": 3, "output_dir": str(tmp_path / "runs")}))
        return str(path)

    assert cli.train_main(["--config", config({"timestamps": "test_anomaly.json"})]) == 0
    assert cli.detect_main(["--config", config({"timestamps": "test_anomaly.json"})]) == 0
    detection = tmp_path / "runs" / "stale" / "series_abs_z_lwin24_lseq3_code6_seed0" / "detection"
    figures = ("precision_recall.png", "vus_pr.png")
    assert all((detection / name).is_file() for name in figures)

    capsys.readouterr()
    assert cli.detect_main(["--config", config({"timestamps": "train_anomaly.json"})]) == 0
    metrics = json.loads((detection / "metrics.json").read_text())
    assert metrics["abs_z"]["points"]["all"]["threshold_free"]["vus_pr"] is None
    assert [name for name in figures if (detection / name).exists()] == []
    out = capsys.readouterr().out  # each figure left out says why
    assert "precision_recall.png is not drawn: the paper's sequence labels of the test pieces are all one" in out
    assert "vus_pr.png is not drawn: VUS-PR is undefined here (the point labels of the scored test points" in out

    assert cli.detect_main(["--config", config({"timestamps": "test_anomaly.json"})]) == 0
    assert all((detection / name).is_file() for name in figures)
    assert cli.detect_main(["--config", config(None)]) == 0  # no labels at all
    assert [name for name in figures if (detection / name).exists()] == []
    capsys.readouterr()


def test_the_score_histogram_of_unlabelled_data_names_no_metric(tmp_path, monkeypatch):
    """score_histograms.png called its threshold "the paper's metric's" on data with no labels, where no metric
    is computed."""
    from vae_lstm import cli, plotting

    titles = []
    original = plotting.score_histograms
    monkeypatch.setattr(plotting, "score_histograms", lambda *a: (titles.append(a[4]), original(*a))[1])
    t = np.arange(1200)
    pd.DataFrame({"close": np.sin(2 * np.pi * t / 24)}).to_csv(tmp_path / "series.csv", index=False)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"exp_name": "unlabelled", "dataset": {"path": "series.csv", "train_fraction": 0.5},
                                "detector": "abs_z", "l_win": 24, "l_seq": 3, "output_dir": str(tmp_path / "runs")}))
    assert cli.train_main(["--config", str(path)]) == 0
    assert cli.detect_main(["--config", str(path)]) == 0
    assert titles == ["series: abs_z sequence scores (no labels, so no metric; the flags are at the point scores' "
                      "threshold)"]


def test_a_relative_run_folder_is_read_from_the_repository_when_the_working_folder_lacks_it(tmp_path, monkeypatch):
    """The notebook runs in notebooks/ and detect.py may run from codes/, so run_dir / --run-dir
    "experiments/<run>" (as runs print their folders) was "does not exist" from there."""
    from vae_lstm import runs

    repo, work = tmp_path / "repo", tmp_path / "work"
    (repo / "experiments" / "run").mkdir(parents=True)
    (work / "mine").mkdir(parents=True)
    monkeypatch.setattr(runs, "REPO_ROOT", repo)
    monkeypatch.chdir(work)
    assert runs.given_run_dir("experiments/run") == repo / "experiments" / "run"
    assert runs.given_run_dir("mine") == Path("mine")  # the working folder's first
    assert runs.given_run_dir("typo") == Path("typo")  # neither: as given, so that the error names it
    monkeypatch.setenv("HOME", str(work))
    assert runs.given_run_dir("~/mine") == work / "mine"


def test_a_control_is_not_scored_into_a_folder_that_holds_no_run(tmp_path, capsys):
    """A control needs no training, so detect.py --run-dir <any folder> (the home folder, a data folder) wrote its
    detection/ and detect.lock among that folder's files."""
    from vae_lstm.cli import detect_main
    from vae_lstm.errors import run_cli

    config = tmp_path / "c.json"
    config.write_text(json.dumps({"dataset": "synthetic", "detector": "abs_z", "l_win": 16, "l_seq": 3,
                                  "output_dir": str(tmp_path / "runs")}))
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("mine")
    assert run_cli(detect_main, ["--config", str(config), "--run-dir", str(data)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "holds files but no run" in lines[0], lines
    assert sorted(p.name for p in data.iterdir()) == ["notes.txt"]
    from vae_lstm.runs import foreign_folder

    (tmp_path / "mac").mkdir()
    (tmp_path / "mac" / ".DS_Store").write_text("")
    assert foreign_folder(tmp_path / "mac") is None  # a hidden file alone: an empty folder
    (tmp_path / "mac" / "vae.keras").write_text("")
    assert foreign_folder(tmp_path / "mac") is None  # checkpoints: part of a run, which detect.py names itself
    (data / "run_a").mkdir()  # the folder above the run folders: the line names one to give
    (data / "run_a" / "state.json").write_text("{}")
    assert run_cli(detect_main, ["--config", str(config), "--run-dir", str(data)]) == 2
    assert capsys.readouterr().err.strip() == (f"error: --run-dir {data} holds a run folder but is not one "
                                               f"({data / 'run_a'}): give a run folder, or an empty folder for a "
                                               "control")


def test_a_control_is_not_scored_into_a_load_dir_that_holds_no_run(tmp_path, capsys):
    """The same folder named by the config's load_dir rather than --run-dir: detect.py wrote the control's
    detection/ and detect.lock among that folder's files."""
    from vae_lstm.cli import detect_main
    from vae_lstm.errors import run_cli

    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("mine")
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"dataset": "synthetic", "detector": "abs_z", "l_win": 16, "l_seq": 3,
                                  "load_dir": str(data)}))
    assert run_cli(detect_main, ["--config", str(config)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"key 'load_dir' = '{data}': {data} holds files but no run" in lines[0], lines
    assert sorted(p.name for p in data.iterdir()) == ["notes.txt"]

def test_a_kill_while_flagged_ranges_is_written_leaves_no_half_file(tmp_path, cut_short_writes):
    """flagged_ranges.csv was written in place (pandas' to_csv): a Ctrl-C, kill or full disk mid-write left the
    first rows of it, a table that reads as whole, in detection/. It is written through a temporary file and a
    rename, like metrics.json and the figures: what is there is the whole table or none."""
    from vae_lstm import config, detection

    cfg = config.from_dict({"dataset": "synthetic", "detector": "abs_z", "l_win": 16, "l_seq": 3,
                            "output_dir": str(tmp_path / "runs")})
    result = detection.run_detection(cfg)
    out = tmp_path / "detection"
    cut_short_writes("flagged_ranges")
    with pytest.raises(KeyboardInterrupt):
        detection.write_report(result, out)
    cut_short_writes(None)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("flagged_ranges")) == []
    assert not (out / "metrics.json").exists()
    detection.write_report(result, out)  # run again: the whole table
    assert pd.read_csv(out / "flagged_ranges.csv").equals(detection.flagged_ranges(result))


def test_the_notes_and_stale_checks_on_scoring_keys_import_no_tensorflow(tmp_path):
    """A summary (reproduce.py --summary-only) names the scoring keys a run's detector does not read and checks which
    finished runs were scored under other keys: both asked the detector's class, whose import loaded TensorFlow and
    Keras (6 s of CPU and 700 MB for a summary that reads only CSV and JSON files)."""
    code = (
        "import sys\n"
        "from vae_lstm.config import from_dict\n"
        "from vae_lstm.grid import scoring_keys\n"
        "from vae_lstm.runs import unread_scoring_keys\n"
        "for detector in ('vae_lstm', 'lstm_vae', 'abs_z'):\n"
        "    config = from_dict({'detector': detector, 'point_score': 'predicted_error', 'term_power': 0.5})\n"
        "    print(unread_scoring_keys(config, 1), scoring_keys(config, 2))\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "codes")})
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "False False"
    assert "term_power 0.5 not read under point_score 'predicted_error'" in run.stdout.splitlines()[0]


@pytest.mark.parametrize("detector", ["vae_lstm", "vae", "lstm_ad", "lstm_ae", "lstm_vae", "arma", "random", "abs_z"])
def test_the_registrys_scoring_keys_are_each_detector_classs(detector):
    """detectors.scoring_keys_for (which summaries read, without TensorFlow) gives what the detector's class does,
    under every point score, on one channel, several and an unknown number."""
    from vae_lstm.config import from_dict
    from vae_lstm.detectors import SCORING_KEYS, detector_class, scoring_keys_for

    cls = detector_class(detector)
    assert SCORING_KEYS.get(detector, ()) == cls.scoring_keys
    for point_score in (None, "max_sequence", "predicted_error", "balanced", "balanced_level", "combined"):
        config = None if point_score is None else from_dict({"detector": detector, "point_score": point_score})
        for n_channel in (1, 3, None):
            assert scoring_keys_for(detector, n_channel, config) == tuple(cls.scoring_keys_for(n_channel, config))
    expected = ("point_score", "point_smoothing", "point_spread", "trailing_scale", "context_scale")
    if detector == "vae_lstm":  # hand-listed: one channel, predicted_error, so neither error_scale nor the terms' keys
        assert scoring_keys_for(detector, 1, from_dict({"point_score": "predicted_error"})) == expected


def test_every_scoring_key_counts_as_scoring_only_with_its_value_before_files_recorded_it():
    """A scoring key that runs.NOT_TRAINING_KEYS lacks refuses every trained run scored under another value of it (a
    training key changed); one that grid.BEFORE_RECORDED lacks scores every finished run again whose metrics.json
    predates the key (its recorded value None), whatever the config says."""
    from vae_lstm.detectors import SCORING_KEYS
    from vae_lstm.grid import BEFORE_RECORDED, DETECTION_KEYS
    from vae_lstm.runs import NOT_TRAINING_KEYS

    keys = [k for keys_of in SCORING_KEYS.values() for k in keys_of]
    assert "reconstruction_weight" in keys
    assert [k for k in [*keys, *DETECTION_KEYS] if k not in NOT_TRAINING_KEYS] == []
    assert [k for k in [*keys, *DETECTION_KEYS] if k not in BEFORE_RECORDED and k != "threshold_rule"
            and k != "threshold_quantile"] == []


def test_scoring_keys_that_the_point_score_does_not_read_are_named():
    """point_smoothing under point_score max_sequence (the paper's sequence scores, spread) changed nothing, without a
    word; so did term_power under predicted_error and error_scale on one channel."""
    from vae_lstm.config import from_dict
    from vae_lstm.runs import unread_scoring_keys

    config = from_dict({"point_score": "max_sequence", "point_smoothing": 2, "trailing_scale": 1})
    assert unread_scoring_keys(config, 2) == ("note: point_smoothing 2.0, trailing_scale 1 not read under point_score "
                                              "'max_sequence': the scores are the same without")
    config = from_dict({"point_score": "predicted_error", "term_power": 0.5, "error_scale": "none"})
    assert unread_scoring_keys(config, 1) == ("note: term_power 0.5 not read under point_score 'predicted_error'; "
                                              "error_scale 'none' not read on one channel: the scores are the same "
                                              "without")
    assert unread_scoring_keys(config, 3) == ("note: term_power 0.5 not read under point_score 'predicted_error': the "
                                              "scores are the same without")
    assert unread_scoring_keys(from_dict({"point_smoothing": 2}), 1) is None  # balanced_level reads it
    # the third term joins balanced_level only: balanced's second term is the VAE's error already
    assert unread_scoring_keys(from_dict({"reconstruction_weight": 1}), 1) is None
    assert unread_scoring_keys(from_dict({"point_score": "balanced", "reconstruction_weight": 1}), 1) == (
        "note: reconstruction_weight 1.0 not read under point_score 'balanced': the scores are the same without")
    # another detector reads none of the VAE-LSTM's scoring keys; threshold_value is read under the fixed rule only
    config = from_dict({"detector": "lstm_ad", "point_score": "max_sequence", "trailing_scale": 3})
    assert unread_scoring_keys(config, 1) == ("note: point_score 'max_sequence', trailing_scale 3 not read by lstm_ad: "
                                              "the scores are the same without")
    assert unread_scoring_keys(from_dict({"threshold_value": 3}), 1) == (
        "note: threshold_value 3.0 not read under threshold_rule 'val_quantile': the scores are the same without")
    assert unread_scoring_keys(from_dict({"threshold_value": 3, "threshold_rule": "fixed"}), 1) is None
    # a span of point_smoothing or point_spread * l_win that rounds to 0 or 1 point leaves every score as it is
    config = from_dict({"l_win": 24, "point_smoothing": 0.02, "point_spread": 0.05})
    assert unread_scoring_keys(config, 1) == ("note: point_smoothing 0.02 not read at l_win 24, where it spans 0 "
                                              "points; point_spread 0.05 not read at l_win 24, where it spans 1 point: "
                                              "the scores are the same without")
    assert unread_scoring_keys(from_dict({"l_win": 24, "point_spread": 0.07}), 1) is None  # 2 points


def test_notebook_blames_an_oracle_rule_on_unlabelled_data_on_its_parameter(tmp_path):
    """-p threshold_rule oracle_best_f1 on data without labels was refused as "key 'threshold_rule' =
    'oracle_best_f1' needs labels", the config file's key, whose rule was val_quantile; detect.py names its
    --threshold-rule option, the notebook now its parameter."""
    import papermill

    from vae_lstm.thresholds import LABEL_FREE_CHOICES

    k = np.arange(400)
    pd.DataFrame({"value": np.sin(2 * np.pi * k / 24) + 0.1 * (k % 7)}).to_csv(tmp_path / "plant.csv", index=False)
    config_path = tmp_path / "plant.json"
    config_path.write_text(json.dumps({**TINY, "dataset": {"path": "plant.csv"}, "output_dir": str(tmp_path / "none")}))
    with pytest.raises(papermill.PapermillExecutionError) as failed:
        papermill.execute_notebook(str(ROOT / "notebooks" / "NAB-anomaly-detection.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"config": str(config_path), "threshold_rule": "oracle_best_f1"},
                                   cwd=str(ROOT / "notebooks"), progress_bar=False, kernel_name="python3")
    assert failed.value.traceback == [
        "error: the notebook's parameters: threshold_rule 'oracle_best_f1' needs labels, and 'plant' has none; "
        f"use {LABEL_FREE_CHOICES}"]


def test_a_written_file_that_cannot_replace_its_old_one_is_named_in_the_one_line(tmp_path):
    """detection/flagged_ranges.csv made a folder (detections.png too): detect.py said "error:
    .../flagged_ranges.csv.tmp: Is a directory", naming the temporary file, which it had just removed and which is no
    folder. The line names both files of the rename, as Python does."""
    from vae_lstm.config import write_text_atomic
    from vae_lstm.errors import os_error_line

    target = tmp_path / "flagged_ranges.csv"
    target.mkdir()
    with pytest.raises(OSError) as failed:
        write_text_atomic(target, "piece\n")
    assert os_error_line(failed.value) == f"{target}.tmp -> {target}: Is a directory"


def test_flagged_ranges_of_non_ascii_channel_names_are_written_in_utf8_whatever_the_locale(tmp_path, monkeypatch):
    """Written files took the locale's encoding: where that is Windows-1252 (Windows' default), a channel or test
    file named 温度 stopped detection with "'charmap' codec can't encode characters" once every score was computed,
    and débit was written in another encoding than the UTF-8 CSV it came from."""
    import builtins

    from vae_lstm import config

    def windows_open(file, mode="r", *args, encoding=None, **kwargs):  # open() as Windows' default locale has it
        if "b" not in mode and encoding is None:
            encoding = "cp1252"
        return builtins.open(file, mode, *args, encoding=encoding, **kwargs)

    monkeypatch.setattr(config, "open", windows_open, raising=False)
    target = tmp_path / "flagged_ranges.csv"
    config.write_text_atomic(target, "piece,peak_channel\n温度,débit\n")
    assert target.read_bytes() == "piece,peak_channel\n温度,débit\n".encode()


class ReaderLeaves:
    """A stdout piped into 'head -n': it takes ``lines`` lines, then its reader has gone (BrokenPipeError)."""

    def __init__(self, lines: int):
        self.lines, self.taken = lines, ""

    def write(self, text: str) -> int:
        if self.taken.count("\n") >= self.lines:
            raise BrokenPipeError(32, "Broken pipe")
        self.taken += text
        return len(text)

    def flush(self) -> None:
        if self.taken.count("\n") >= self.lines:
            raise BrokenPipeError(32, "Broken pipe")

    def isatty(self) -> bool:
        return False


def test_detect_piped_into_head_scores_the_run_whole_and_ends_quietly(tmp_path, capsys, monkeypatch):
    """'detect.py ... | head -3' on a run scored before: the reader left after "replacing .../metrics.json", and the
    next line (a figure that is not drawn) raised BrokenPipeError, so the scoring stopped with "error: Broken pipe"
    (exit 2) between setting metrics.json aside as metrics.previous.json and writing the new one: the run counted as
    not scored. Once the reader has gone, the lines are dropped and the scoring ends as it would have."""
    from vae_lstm import cli
    from vae_lstm.errors import run_cli

    t = np.arange(1200)
    pd.DataFrame({"v": np.sin(2 * np.pi * t / 24)}).to_csv(tmp_path / "series.csv", index=False)
    (tmp_path / "train_anomaly.json").write_text("[100]")  # test labels all normal: two figures are not drawn
    dataset = {"path": "series.csv", "train_fraction": 0.5, "labels": {"timestamps": "train_anomaly.json"}}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"exp_name": "piped", "dataset": dataset, "detector": "abs_z", "l_win": 24,
                                  "l_seq": 3, "output_dir": str(tmp_path / "runs")}))
    assert cli.train_main(["--config", str(config)]) == 0
    assert cli.detect_main(["--config", str(config)]) == 0
    detection = tmp_path / "runs" / "piped" / "series_abs_z_lwin24_lseq3_code6_seed0" / "detection"
    first = (detection / "metrics.json").read_text()
    capsys.readouterr()
    head = ReaderLeaves(3)
    monkeypatch.setattr(sys, "stdout", head)
    assert run_cli(cli.detect_main, ["--config", str(config)]) == 0
    assert head.taken.split("\n")[1:] == [f"run folder: {detection.parent}", f"replacing {detection / 'metrics.json'}, "
                                          "flagged_ranges.csv and the figures beside it (scored again from the run "
                                          "folder); the previous metrics are kept in metrics.previous.json", ""]
    assert capsys.readouterr().err == ""
    assert json.loads((detection / "metrics.json").read_text())["detectors"] == ["abs_z", "random"]
    assert (detection / "metrics.previous.json").read_text() == first
    assert sorted(p.name for p in detection.iterdir()) == ["detections.png", "flagged_ranges.csv", "metrics.json",
                                                          "metrics.previous.json", "score_histograms.png"]


def test_the_metrics_of_a_long_labelled_series_say_they_are_being_computed(tmp_path, capsys, monkeypatch):
    """The metrics of a million labelled points (VUS-PR, the oracle sweeps, affiliation) take tens of seconds after
    the last scoring line, with nothing printed: it looked hung. A series of LONG_METRICS_POINTS test points or more
    now says so in one line before them; a shorter one prints nothing of it."""
    from vae_lstm import config, detection
    from vae_lstm.prepare import load_data

    cfg = config.from_dict({"dataset": "synthetic", "detector": "abs_z", "l_win": 16, "l_seq": 3,
                            "output_dir": str(tmp_path / "runs")})
    computed = []
    monkeypatch.setattr(detection, "compute_metrics", lambda result: computed.append(capsys.readouterr().out) or {})
    monkeypatch.setattr(detection, "detection_flags", lambda *args: None)
    cfg, series = load_data(cfg, verbose=False)
    n_test = sum(len(piece.values) for piece in series.test_pieces)
    for least in (n_test + 1, n_test):
        monkeypatch.setattr(detection, "LONG_METRICS_POINTS", least, raising=False)
        detection.run_detection(cfg, series=series)
    assert "computing the metrics" not in computed[0]
    assert computed[1].splitlines()[-1] == f"computing the metrics of abs_z and random on {n_test:,} labelled test points"
