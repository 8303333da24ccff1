"""The experiment runner: experiment files, a tiny grid run sequentially, in 2 processes and on Ray."""

import contextlib
import io
import json
import os
import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

from vae_lstm import reproduce
from vae_lstm.config import CONFIG_DIR, REPO_ROOT
from vae_lstm.errors import ConfigError, UserError
from vae_lstm.experiment import EXPERIMENT_DIR, load_experiment

TINY = {"exp_name": "grid", "dataset": "synthetic", "l_win": 16, "l_seq": 3, "code_size": 2,
        "num_hidden_units": 16, "num_hidden_units_lstm": 8, "batch_size": 256, "batch_size_lstm": 256,
        "num_epochs_vae": 1, "num_epochs_lstm": 1}
DETECTORS = ["vae_lstm", "arma", "random", "abs_z"]  # the controls: a grid adds any left out


def tiny_experiment(folder, **extra):
    (folder / "tiny.json").write_text(json.dumps(TINY))
    path = folder / "grid.json"
    path.write_text(json.dumps({"description": "tiny", "datasets": {"synth": str(folder / "tiny.json")},
                                "detectors": DETECTORS, "seeds": 2, "output_dir": str(folder / "runs"),
                                "overrides": {"arma": {"arma_max_train_points": 500}}, **extra}))
    return path


def headline(summary_dir) -> dict:
    """(dataset, detector, seed) -> the numbers that every route must reproduce."""
    import pandas as pd

    rows = pd.read_csv(summary_dir / "results.csv")
    rows = rows[rows.pieces == "all"]
    return {(r.series, r.detector, r.seed): (r.vus_pr, r.auc_pr, r.f1_deployable, r.oracle_pa_f1)
            for r in rows.itertuples()}


def test_every_shipped_experiment_loads():
    names = sorted(p.stem for p in EXPERIMENT_DIR.glob("*.json"))
    assert "table1" in names
    for name in names:
        experiment = load_experiment(name)
        assert experiment.jobs() and len(experiment.jobs()) == (
            len(experiment.datasets) * len(experiment.detectors) * experiment.seeds)


def test_jobs_run_the_vae_after_the_vae_lstm_that_it_reuses():
    """Controls first, then the VAE-LSTM, the other neural detectors, the VAE last; seed-major within each.
    Run beside its VAE-LSTM in another worker, a VAE job would train the identical VAE again."""
    jobs = load_experiment("table1").jobs(["ambient_temp", "nyc_taxi"], ["vae", "abs_z", "lstm_ae", "vae_lstm"],
                                          [0, 1])
    assert [j.detector for j in jobs] == ["abs_z"] * 4 + ["vae_lstm"] * 4 + ["lstm_ae"] * 4 + ["vae"] * 4
    assert [(j.seed, j.dataset) for j in jobs[:4]] == [(0, "ambient_temp"), (0, "nyc_taxi"),
                                                       (1, "ambient_temp"), (1, "nyc_taxi")]


def test_table1_keeps_the_run_folders_of_the_earlier_runner():
    experiment = load_experiment("table1")
    config = experiment.config("nyc_taxi", "lstm_ae", 3)
    assert (config.num_epochs_lstm, config.batch_size_lstm, config.early_stopping_patience) == (20, 64, 3)
    assert str(experiment.run_dir(experiment.jobs(["nyc_taxi"], ["lstm_ae"], [3])[0])).endswith(
        "experiments/reproduce/NAB/nyc_taxi_lstm_ae_lwin24_lseq7_code6_seed3")


def test_each_seeds_config_is_its_own_and_is_checked_once_per_dataset_and_detector(tmp_path, monkeypatch):
    """A summary looks for 100 seeds of every job's run folder: checking each seed's config against the schema took
    a table1 summary 10-40 s. The configs are checked once per dataset and detector; each seed's is still the one a
    fresh experiment builds, and an output folder set afterwards (--output-dir) still counts."""
    from vae_lstm.experiment import Experiment
    from vae_lstm.reproduce import collect_finished

    built = []
    build = Experiment._config
    experiment = load_experiment("table1")
    experiment.built.clear()  # loading it checked each job's config
    monkeypatch.setattr(Experiment, "_config",
                        lambda self, *args: (self is experiment and built.append(args[:2])) or build(self, *args))
    for seed in (0, 1, 7, 99):
        config = experiment.config("ec2_request", "lstm_ad", seed, resolve=False)
        assert config.to_dict() == load_experiment("table1").config("ec2_request", "lstm_ad", seed,
                                                                    resolve=False).to_dict()
        assert config.seed == seed and config.source == experiment.base_config("ec2_request").source
    assert built == [("ec2_request", "lstm_ad")]
    experiment.values["output_dir"] = str(tmp_path / "elsewhere")
    assert experiment.config("ec2_request", "lstm_ad", 3, resolve=False).output_dir == str(tmp_path / "elsewhere")
    built.clear()
    assert collect_finished(experiment) == ({}, {})
    jobs = {(j.dataset, j.detector) for j in experiment.jobs()}
    assert len(built) == len(jobs), len(built)  # not 100 times as many


@pytest.mark.parametrize("change, message", [
    ({"detectors": ["vae_lstn"]}, r"detectors\[0\] = \"vae_lstn\" is invalid: must be one of"),
    ({"seedz": 2}, "unknown key 'seedz'; did you mean 'seeds'"),
    ({"overrides": {"*": {"l_wn": 8}}}, "unknown key 'l_wn'; did you mean 'l_win'"),
    ({"overrides": {"lstm-ae": {"l_win": 8}}}, "overrides.lstm-ae: not a detector; did you mean 'lstm_ae'"),
    ({"overrides": {"*": {"seed": 5}}}, "overrides.*.seed: the experiment sets seed for each run"),
    ({"overrides": {"arma": {"output_dir": "x"}}}, "overrides.arma.output_dir: the experiment sets output_dir"),
    ({"overrides": {"*": {"load_dir": "x"}}}, "overrides.*.load_dir: the experiment sets load_dir for each run"),
    ({"summary": "beats"}, "dataset 'synth' is a series, and summary \"beats\" does not summarise it"),
    # schema errors in JSON's words and the config's phrasing, not Python's ("True is not of type 'integer'")
    ({"seeds": True}, "seeds = true is invalid: must be an integer >= 1 and <= 100$"),
    ({"seeds": None}, "seeds = null is invalid: must be an integer >= 1 and <= 100$"),
    ({"datasets": {}}, "datasets = {} is invalid: must have at least 1 entry$"),
    # a dataset object in place of its config file: where such an object goes
    ({"datasets": {"s": {"dataset": "synthetic"}}}, r'datasets\.s = \{"dataset": "synthetic"\} is invalid: must be a '
     r"string that is not empty \(the path of a dataset's config file; a dataset object goes in that config's "
     r'"dataset", or under "overrides"\)$'),
    ({"detectors": ["abs_z", "abs_z"]}, r'detectors = \["abs_z", "abs_z"\] is invalid: must not name an item twice$'),
    ({"detectors": []}, r"detectors = \[\] is invalid: must have at least 1 item$"),
    ({"related": [{"figures": {}}]}, "related\\[0\\] = .* is invalid: lacks the key 'source'$"),
    ({"related": [{"source": "x", "figures": {}, "note": 0.9}]}, r"related\[0\]\.note = 0\.9 is invalid: must be a string$"),
    ({"output_dir": " "}, r'^[^:]+\.json: output_dir = " " is invalid: a folder name must not be blank'),
])
def test_a_bad_experiment_file_is_one_line(tmp_path, change, message):
    path = tiny_experiment(tmp_path)
    values = {**json.loads(path.read_text()), **change}
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigError, match=message):
        load_experiment(path)


def test_a_misspelt_dataset_name_in_an_experiments_config_is_named_before_its_kind(tmp_path):
    """"ecg5000" in a beats experiment's dataset config was "a series" that the summary does not summarise, and the
    message said to change the summary."""
    path = tiny_experiment(tmp_path, summary="beats")
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, "dataset": "ecg5000"}))
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert str(info.value).startswith("grid.json: dataset 'synth': unknown dataset 'ecg5000' (the config's "
                                      "\"dataset\"); did you mean 'ECG5000'? valid names: ")


def test_an_experiment_file_without_a_required_key_names_it(tmp_path):
    path = tiny_experiment(tmp_path)
    values = json.loads(path.read_text())
    del values["seeds"]
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigError, match="the file lacks the key 'seeds'$"):
        load_experiment(path)


def test_an_integral_float_of_seeds_counts_as_its_integer(tmp_path):
    """JSON Schema's integer takes 2.0, as the config loader does for its integer keys; the grid then runs two seeds
    rather than failing with a TypeError from range()."""
    experiment = load_experiment(tiny_experiment(tmp_path, seeds=2.0))
    assert experiment.seeds == 2 and isinstance(experiment.seeds, int)
    assert [job.seed for job in experiment.jobs(detectors=["abs_z"])] == [0, 1]


def test_an_override_for_a_detector_the_experiment_does_not_run_is_noted(tmp_path, capsys):
    """Kept from a longer detector list, it would otherwise be ignored without a word."""
    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1)
    assert load_experiment(path).unused_overrides == ["arma"]
    assert reproduce.main([str(path), "--no-summary"]) == 0
    assert "note: grid.json: overrides.arma is not used: 'arma' is not in the experiment's detectors (abs_z, random)" in (
        capsys.readouterr().out)
    assert load_experiment(tiny_experiment(tmp_path)).unused_overrides == []


def test_an_override_that_no_job_reads_is_noted(tmp_path, capsys):
    """A key that its detector never reads (beta for lstm_ae) would otherwise change nothing without a word; under
    "*" only when no detector of the file reads it, as "*" sets keys for detectors that ignore them."""
    path = tiny_experiment(tmp_path, detectors=["abs_z", "random", "arma", "lstm_ae"], overrides={
        "*": {"beta": 2, "point_score": "max_sequence", "arma_p": 2},
        "arma": {"arma_max_train_points": 500, "num_hidden_units": 32, "point_smoothing": 3},
        "lstm_ae": {"beta": 2, "point_score": "max_sequence", "num_hidden_units_lstm": 8}})
    assert reproduce.main([str(path), "--no-summary", "--seeds", "1", "--detectors", "abs_z"]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("note:")] == [
        "note: grid.json: overrides.*.beta is not used: no detector of the experiment reads it (lstm_vae does)",
        "note: grid.json: overrides.*.point_score is not used: no detector of the experiment reads it (vae_lstm does)",
        "note: grid.json: overrides.arma.num_hidden_units is not used: arma never reads it (vae_lstm, vae do)",
        "note: grid.json: overrides.arma.point_smoothing is not used: arma never reads it (vae_lstm does)",
        "note: grid.json: overrides.lstm_ae.beta is not used: lstm_ae never reads it (lstm_vae does)",
        "note: grid.json: overrides.lstm_ae.point_score is not used: lstm_ae never reads it (vae_lstm does)"]
    assert load_experiment(tiny_experiment(tmp_path)).unread_overrides == []


def test_an_override_that_its_point_score_does_not_read_is_noted(tmp_path, capsys):
    """trailing_scale and point_spread under point_score max_sequence, term_power under predicted_error and
    threshold_value under a rule other than fixed changed no run of a grid without a word, where detect.py names
    them (runs.unread_scoring_keys); a key that some dataset's runs read is not named."""
    (tmp_path / "own.json").write_text(json.dumps({**TINY, "point_score": "predicted_error"}))
    path = tiny_experiment(tmp_path, detectors=["vae_lstm", "abs_z", "random"], overrides={
        "*": {"point_score": "max_sequence", "trailing_scale": 3},
        "vae_lstm": {"point_spread": 2, "threshold_value": 1.5}})
    reproduce.note_overrides(load_experiment(path))  # as reproduce.main says them, before any run
    assert capsys.readouterr().out.splitlines() == [
        "note: grid.json: overrides.*.trailing_scale is not used: vae_lstm does not read it under point_score "
        "'max_sequence' (abs_z, random never read it)",
        "note: grid.json: overrides.vae_lstm.point_spread is not used: vae_lstm does not read it under point_score "
        "'max_sequence'",
        "note: grid.json: overrides.vae_lstm.threshold_value is not used: vae_lstm does not read it under "
        "threshold_rule 'val_quantile'"]
    values = json.loads(path.read_text())
    values["datasets"]["own"] = str(tmp_path / "own.json")  # its own point_score does not read term_power
    values["overrides"] = {"vae_lstm": {"point_score": "predicted_error", "term_power": 0.5}}
    path.write_text(json.dumps(values))
    assert [key for _, key, _ in load_experiment(path).unread_scoring_overrides] == ["term_power"]
    values["overrides"] = {"vae_lstm": {"term_power": 0.5}}  # synth's balanced_level reads it
    path.write_text(json.dumps(values))
    assert load_experiment(path).unread_scoring_overrides == []


def test_a_patience_that_can_end_no_stage_early_is_noted_by_detector_and_dataset(tmp_path, capsys):
    """An early_stopping_patience of no fewer epochs than a stage trains, less one, never ends it early: a grid ran
    such runs without a word (train.py says it: runs.idle_patience). Each detector's datasets in one line."""
    (tmp_path / "long.json").write_text(json.dumps({**TINY, "num_epochs_lstm": 30}))
    path = tiny_experiment(tmp_path, detectors=["vae_lstm", "lstm_ad", "abs_z"], overrides={
        "*": {"early_stopping_patience": 9}, "vae_lstm": {"num_epochs_vae": 10}})
    values = json.loads(path.read_text())
    values["datasets"]["long"] = str(tmp_path / "long.json")
    path.write_text(json.dumps(values))
    reproduce.note_idle_patience(load_experiment(path))  # as reproduce.main says it, before any run
    soonest = "early: a stage stops after 10 epochs at the soonest (it still ends on its best epoch's weights)"
    assert capsys.readouterr().out.splitlines() == [
        "note: grid.json: vae_lstm on synth: early_stopping_patience 9 cannot end the training of num_epochs_vae 10 or "
        f"num_epochs_lstm 1 {soonest}",
        f"note: grid.json: vae_lstm on long: early_stopping_patience 9 cannot end the training of num_epochs_vae 10 {soonest}",
        f"note: grid.json: lstm_ad on synth: early_stopping_patience 9 cannot end the training of num_epochs_lstm 1 "
        f"{soonest}"]


@pytest.mark.parametrize("flags, message", [
    (["--series", "Synth"], "^experiment grid has no dataset Synth; did you mean 'synth'\\? its datasets: synth$"),
    (["--series", "synth", "synt", "other"], "no dataset synt, other; did you mean 'synth' for 'synt'\\? its"),
    (["--detectors", "lstm_vae"], "^experiment grid has no detector lstm_vae; did you mean 'lstm_ae'\\? its detectors: "
                                  "vae_lstm, lstm_ae, random, abs_z$"),
    (["--detectors", "lstmae"], "invalid choice: 'lstmae'; did you mean 'lstm_ae'\\? \\(choose from 'vae_lstm', "),
    (["--detectors", "LSTM_VAE"], "invalid choice: 'LSTM_VAE'; did you mean 'lstm_vae'\\?"),
])
def test_a_mistyped_dataset_or_detector_gets_a_did_you_mean(tmp_path, flags, message):
    from vae_lstm.errors import UserError

    with pytest.raises(UserError, match=message):
        reproduce.main([str(tiny_experiment(tmp_path, detectors=["vae_lstm", "lstm_ae", "random", "abs_z"])), "--no-summary",
                        *flags])
    assert not (tmp_path / "runs").exists()


def test_a_missing_dataset_config_names_every_folder_searched_first_the_experiments(tmp_path):
    path = tiny_experiment(tmp_path)
    path.write_text(json.dumps({**json.loads(path.read_text()), "datasets": {"synth": "missing.json"}}))
    with pytest.raises(ConfigError, match="config file 'missing.json' not found") as error:
        load_experiment(path)
    assert f"(looked in: {tmp_path / 'missing.json'}, " in str(error.value)
    assert str(CONFIG_DIR / "missing.json") in str(error.value)


def test_a_dataset_config_in_the_home_folder_or_a_folder_beside_the_experiment_file_is_named_as_it_is(
        tmp_path, monkeypatch):
    """"~/tiny.json" as a dataset's config was "not found", looked for in a folder named "~", though --config
    takes it (and the file's output_dir "~/runs"); a folder beside the experiment file was "not found" in a list of
    folders that left out the experiment file's, where it is."""
    path = tiny_experiment(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    (home / "mine.json").write_text(json.dumps(TINY))
    monkeypatch.setenv("HOME", str(home))
    values = json.loads(path.read_text())
    path.write_text(json.dumps({**values, "datasets": {"synth": "~/mine.json"}}))
    assert load_experiment(path).base_config("synth").source == home / "mine.json"
    (tmp_path / "sub").mkdir()
    path.write_text(json.dumps({**values, "datasets": {"synth": "sub"}}))
    with pytest.raises(ConfigError, match=f"config 'sub' is a folder \\({tmp_path / 'sub'}\\), not a JSON file$"):
        load_experiment(path)


NO_USER = "~no_such_user_of_this_machine"


@pytest.mark.parametrize("route", ["experiment dataset", "--config", "output_dir", "--run-dir", "--output-dir",
                                   "output_dir ${VAR}", "dataset path ${VAR}", "NAB_DATA_DIR", "data_dir"])
def test_a_path_in_the_home_folder_of_no_user_is_one_line(tmp_path, capsys, monkeypatch, route):
    """"~name/..." of a user the machine does not have (a typo for "~/name/...") stopped with a RuntimeError traceback
    ("Could not determine home directory."): an experiment file's dataset config (read from "~" since "~/" was
    taken), --config, a config's output_dir, detect.py's --run-dir, reproduce.py's --output-dir. Given by an
    environment variable (an output_dir or a dataset's path of ${VAR}, NAB_DATA_DIR) or a data_dir, it was a folder
    "~name" of the working folder: runs were written there, and data was "not found" there."""
    from vae_lstm import data_loader
    from vae_lstm.config import folder_path, resolve_config_path
    from vae_lstm.csv_data import load_csv_dataset
    from vae_lstm.runs import given_run_dir

    value = f"{NO_USER}/tiny.json"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MY_FOLDER", value)
    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, value)
    with pytest.raises((UserError, SystemExit)) as error:
        if route == "output_dir ${VAR}":
            folder_path("${MY_FOLDER}/runs", "key 'output_dir'")
        elif route == "dataset path ${VAR}":
            load_csv_dataset({"path": "${MY_FOLDER}/x.csv"}, [tmp_path])
        elif route in ("NAB_DATA_DIR", "data_dir"):
            data_loader.nab_file("data/realKnownCause/nyc_taxi.csv", value if route == "data_dir" else None)
        elif route == "experiment dataset":
            path = tiny_experiment(tmp_path)
            path.write_text(json.dumps({**json.loads(path.read_text()), "datasets": {"synth": value}}))
            load_experiment(path).base_config("synth")
        elif route == "--config":
            resolve_config_path(value)
        elif route == "output_dir":
            folder_path(value, "key 'output_dir'")
        elif route == "--run-dir":
            given_run_dir(value)
        else:
            reproduce.parse_args(["table1", "--output-dir", value])
    said = capsys.readouterr().err.strip() if error.type is SystemExit else str(error.value)
    assert "\n" not in said and (f"'{value}' starts with {NO_USER}, the home folder of a user '{NO_USER[1:]}' that "
                                  "this machine does not have; write the folder in full, or ~/ for your own home "
                                  "folder") in said, said
    if route == "dataset path ${VAR}":  # a DataError, as every refusal of a dataset's file: the value kept as written
        from vae_lstm.csv_data import read_files

        assert read_files({"path": "${MY_FOLDER}/x.csv"}, [tmp_path]) == {"path": "${MY_FOLDER}/x.csv"}


@pytest.mark.parametrize("route", ["experiment dataset", "--config", "output_dir", "--run-dir", "--output-dir",
                                   "--summary-dir", "benchmark --output-dir"])
def test_a_path_that_starts_with_dot_slash_tilde_is_a_folder_named_tilde(tmp_path, monkeypatch, route):
    """Only a leading "~" is a home folder: "./~/x" (how a shell names a folder "~" of the working folder) was read as
    "~/x", the home folder's x (pathlib drops the "./"), and "./~name/x" as the home folder of a user 'name'."""
    from vae_lstm import benchmark
    from vae_lstm.config import folder_path, resolve_config_path
    from vae_lstm.runs import given_run_dir

    home, work = tmp_path / "home", tmp_path / "work"
    for folder in (home, work / "~"):
        folder.mkdir(parents=True)
        (folder / "tiny.json").write_text(json.dumps(TINY))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    name = "tiny.json" if route in ("experiment dataset", "--config") else "out"
    value = f"./~/{name}"
    if route == "experiment dataset":
        path = tiny_experiment(tmp_path)
        path.write_text(json.dumps({**json.loads(path.read_text()), "datasets": {"synth": value}}))
        found = Path(load_experiment(path).base_config("synth").source)
    elif route == "--config":
        found = resolve_config_path(value)
    elif route == "output_dir":
        found = folder_path(value, "key 'output_dir'")
    elif route == "--run-dir":
        found = given_run_dir(value)
    elif route == "benchmark --output-dir":
        found = benchmark.output_dir(benchmark.parse_args(["--output-dir", value]), None)
    else:  # as main reads them: --output-dir through the experiment's output_dir, --summary-dir as it is
        args = reproduce.parse_args(["table1", f"--{route[2:]}", value])
        found = folder_path(args.output_dir) if route == "--output-dir" else Path(args.summary_dir)
    assert (work / found).resolve() == (work / "~" / name).resolve()
    if route in ("--run-dir", "--summary-dir", "benchmark --output-dir"):  # the folder the lines name ("run folder:
        assert not str(found).startswith("~"), found  # ~/out", "summary written to ~/out") is not the home folder's
    with pytest.raises(UserError, match="not found|does not exist") if route == "--config" else nullcontext():
        resolve_config_path(f"./{NO_USER}/tiny.json") if route == "--config" else folder_path(f"./{NO_USER}/x")


@pytest.mark.parametrize("where", ["output_dir", "dataset path"])
def test_a_path_in_the_home_folder_of_no_user_names_the_key_it_is_in(tmp_path, where):
    """The line on "~name/..." of no user named the path but not the key, where every other refusal of a folder key
    or a dataset's file names it; of a dataset's file it was a ConfigError, where load_csv_dataset refuses with a
    DataError (one that read_files keeps the value as written on)."""
    from vae_lstm.config import load_config
    from vae_lstm.csv_data import load_csv_dataset, read_files
    from vae_lstm.errors import DataError

    if where == "output_dir":
        path = tmp_path / "c.json"
        path.write_text(json.dumps({"dataset": "synthetic", "output_dir": f"{NO_USER}/runs"}))
        with pytest.raises(ConfigError, match=rf"^c\.json: key 'output_dir': '{NO_USER}/runs' starts with "):
            load_config(path)
    else:
        with pytest.raises(DataError, match=rf"^dataset: path: '{NO_USER}/x\.csv' starts with "):
            load_csv_dataset({"path": f"{NO_USER}/x.csv"}, [tmp_path])
        assert read_files({"path": f"{NO_USER}/x.csv"}, [tmp_path]) == {"path": f"{NO_USER}/x.csv"}


@pytest.mark.parametrize("name, message", [
    ("dev_wide_level_weight3", "; did you mean 'dev_wide_level_weight8', 'dev_wide_level_weight4', "
                               "'dev_wide_level_weight2', 'dev_wide_level_weight05'"),
    ("table", "; did you mean 'table1', 'table1_auto_windows', 'table1_epochs_100_200'\\?$"),
    ("SKAB", "; did you mean 'skab_valve1'\\?$"),
    ("tabel1", "; did you mean 'table1'\\?$"),
    ("dev", "; did you mean 'dev_baseline', 'dev_combined', 'dev_epochs_100_200', 'dev_epochs_20_50', "
            "'dev_epochs_50_100' \\(or \\d+ more starting with 'dev'\\)\\?$"),
])
def test_an_experiment_that_does_not_exist_is_one_line_naming_the_close_ones(name, message):
    """dev_wide_level_weight3 got "did you mean 'dev_wide_level_weight8'" alone, though weight 2 and 4 are as near,
    and skab, the start of one name, got the list of all 70 experiments."""
    with pytest.raises(ConfigError, match=f"^experiment '{name}' not found{message}"):
        load_experiment(name)


def test_an_experiment_path_that_is_a_folder_is_named_as_one(tmp_path):
    """A folder given as the experiment file was "not found", with the list of known experiments, though it is
    there; it is named as a folder, as --config names one."""
    folder = tmp_path / "grid.json"
    folder.mkdir()
    with pytest.raises(ConfigError, match=r"^experiment '.*grid\.json' is a folder \(.*\), not a JSON file$"):
        load_experiment(folder)


def test_a_dataset_configs_own_load_dir_does_not_put_every_run_in_one_folder(tmp_path):
    experiment = load_experiment(tiny_experiment(tmp_path))
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, "load_dir": str(tmp_path / "one")}))
    folders = {experiment.run_dir(job) for job in experiment.jobs()}
    assert len(folders) == len(experiment.jobs()) == len(DETECTORS) * 2 and all((tmp_path / "runs") in f.parents for f in folders)


@pytest.mark.parametrize("flags, unused", [(["--workers", "2"], "--workers would do nothing; drop it"),
                                           (["--threads", "1", "--ray", "local"], "--threads and --ray would do nothing; drop them")])
def test_summary_only_refuses_the_flags_of_running(flags, unused):
    """--summary-only runs no job: a --workers, --threads or --ray with it was silently unused."""
    with pytest.raises(UserError, match=f"^--summary-only runs nothing, so {unused} "):
        reproduce.parse_args(["table1", "--summary-only", *flags])
    assert reproduce.parse_args(["table1", "--summary-only", "--ensemble"]).summary_only


def test_a_number_of_threads_beyond_any_machines_cores_is_refused():
    """--threads 100000 (a mistyped 10) made each run's TensorFlow start 100000 threads: minutes, and 7 GB of memory
    before the first op, when not killed first."""
    with pytest.raises(UserError, match=r"^--threads must be between 1 and 1024 .*, got 100000 "):
        reproduce.parse_args(["table1", "--threads", "100000"])
    assert reproduce.parse_args(["table1", "--threads", "1024"]).threads == 1024


def test_a_list_option_given_twice_keeps_both_lists_and_a_seed_given_twice_is_refused():
    """--detectors arma --detectors random ran random alone (the second list replaced the first), and --seed 0
    --seed 1 ran seed 1 alone, without a word; the same value twice counts once."""
    args = reproduce.parse_args(["table1", "--detectors", "arma", "--detectors", "random", "abs_z",
                                 "--series", "nyc_taxi", "--datasets", "ec2_request"])
    assert args.detectors == ["arma", "random", "abs_z"] and args.series == ["nyc_taxi", "ec2_request"]
    with pytest.raises(UserError, match=r"^--seed given twice, 0 and 1: it runs one seed; pass --seeds N for seeds 0 "
                                        r"to N-1, or run one command per seed \(see reproduce.py --help\)$"):
        reproduce.parse_args(["table1", "--seed", "0", "--seed", "1"])
    with pytest.raises(UserError, match=r"^--seeds given twice, 2 and 3: give it once"):
        reproduce.parse_args(["table1", "--seeds", "2", "--seeds", "3"])
    with pytest.raises(UserError, match=r"^--summary-dir given twice, a and b: give it once"):
        reproduce.parse_args(["table1", "--summary-dir", "a", "--summary-dir", "b"])
    assert reproduce.parse_args(["table1", "--seed", "3", "--seed", "3"]).seed == 3
    with pytest.raises(UserError, match="--series: expected one argument|--series.*is empty"):
        reproduce.parse_args(["table1", "--series", ""])


def test_an_output_dir_starting_with_a_tilde_is_under_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    experiment = load_experiment(tiny_experiment(tmp_path, output_dir="~/runs"))
    assert reproduce.runs_folder(experiment) == tmp_path / "home" / "runs"  # not <repository>/~/runs
    assert all((tmp_path / "home" / "runs") in experiment.run_dir(job).parents for job in experiment.jobs())


def test_an_output_dir_starting_with_a_variable_is_under_its_folder(tmp_path, monkeypatch):
    """An experiment file's output_dir "${SCRATCH}/runs" put its runs in a folder named "${SCRATCH}" in the
    repository."""
    monkeypatch.setenv("RUNS_HOME", str(tmp_path / "scratch"))
    experiment = load_experiment(tiny_experiment(tmp_path, output_dir="${RUNS_HOME}/runs"))
    assert reproduce.runs_folder(experiment) == tmp_path / "scratch" / "runs"
    assert all((tmp_path / "scratch" / "runs") in experiment.run_dir(job).parents for job in experiment.jobs())


@pytest.mark.slow
def test_two_workers_give_the_sequential_results(tmp_path, monkeypatch):
    """Two workers of one thread each give exactly what one process on two threads gives: every op runs on
    one thread, so a run's numbers depend neither on its threads nor on how many runs go at once. The
    workers are replaced every 2 jobs here (to bound their memory), which changes nothing either. (ARMA's runs in
    other processes: test_ray_local_gives_the_sequential_results.)"""
    from vae_lstm import grid

    monkeypatch.setattr(grid, "JOBS_PER_WORKER", 2)  # 6 jobs: each worker is replaced, and its successor runs one
    import subprocess
    import sys

    detectors = ["vae_lstm", "random", "abs_z"]
    path = tiny_experiment(tmp_path, detectors=detectors, overrides={})
    subprocess.run([sys.executable, str(REPO_ROOT / "codes" / "reproduce.py"), str(path), "--threads", "2",
                    "--summary-dir", str(tmp_path / "seq")], check=True, capture_output=True)
    sequential = headline(tmp_path / "seq")
    assert len(sequential) == len(detectors) * 2 and all(np.isfinite(v).all() for v in sequential.values())
    table = (tmp_path / "seq" / "results.md").read_text()
    assert "| synth | vae_lstm | 2 |" in table and "| synth | abs_z | 2 | " in table

    assert reproduce.main([str(path), "--workers", "2", "--threads", "1", "--output-dir", str(tmp_path / "runs2"),
                           "--summary-dir", str(tmp_path / "par")]) == 0
    parallel = headline(tmp_path / "par")
    assert parallel.keys() == sequential.keys()
    for key, values in sequential.items():
        np.testing.assert_array_equal(parallel[key], values, err_msg=str(key))

    # the ensemble over the two seeds: its members score again exactly what each run's detection scored
    import pandas as pd

    assert reproduce.main([str(path), "--summary-only", "--ensemble", "--output-dir", str(tmp_path / "runs2"),
                           "--summary-dir", str(tmp_path / "par")]) == 0
    ensemble = pd.read_csv(tmp_path / "par" / "ensemble.csv")
    assert set(ensemble.detector) == {"vae_lstm", "random", "abs_z"}  # the controls beside the ensemble
    ensemble = ensemble[ensemble.detector == "vae_lstm"].reset_index(drop=True)
    assert list(ensemble.member) == ["seed 0", "seed 1", "ensemble of 2"]
    for seed in (0, 1):
        np.testing.assert_allclose(ensemble.vus_pr[seed], parallel[("synth", "vae_lstm", seed)][0], atol=1e-4)
    assert np.isfinite(ensemble.vus_pr[2]) and "ensemble of 2" in (tmp_path / "par" / "ensemble.md").read_text()


@pytest.mark.slow
def test_ray_local_gives_the_sequential_results(tmp_path):
    if os.environ.get("CI") != "true":
        pytest.importorskip("ray")
    path = tiny_experiment(tmp_path)
    # Ray first: its workers start with the environment of now, before a run in this process sets its thread count
    assert reproduce.main([str(path), "--detectors", "arma", "abs_z", "--ray", "local",
                           "--output-dir", str(tmp_path / "ray"), "--summary-dir", str(tmp_path / "ray_sum")]) == 0
    assert reproduce.main([str(path), "--detectors", "arma", "abs_z", "--summary-dir", str(tmp_path / "seq")]) == 0
    sequential, on_ray = headline(tmp_path / "seq"), headline(tmp_path / "ray_sum")
    assert on_ray.keys() == sequential.keys() and len(on_ray) == 4
    for key, values in sequential.items():
        np.testing.assert_allclose(on_ray[key], values, rtol=1e-9, err_msg=str(key))


def test_a_grid_runs_the_experiment_file_as_it_loaded_it_when_the_file_is_edited_meanwhile(tmp_path):
    """A long grid's later jobs read the file again: an edit made while it runs (an override, a half-saved file)
    scored them under other keys than the summary's, which then left them out (exit 0)."""
    from vae_lstm.experiment import job_experiment
    from vae_lstm.grid import run_job

    path = tiny_experiment(tmp_path)
    jobs = load_experiment(path).jobs(detectors=["abs_z"])
    values = json.loads(path.read_text())
    values["overrides"] = {"*": {"threshold_rule": "train_max"}}
    path.write_text(json.dumps(values))
    assert job_experiment(jobs[1]).config("synth", "abs_z", 1).threshold_rule == "val_quantile"
    assert run_job(jobs[0])["threshold_rule"] == "val_quantile"
    path.write_text("{")  # a half-saved file
    assert run_job(jobs[1])["threshold_rule"] == "val_quantile"


def test_a_grid_runs_each_dataset_config_as_it_read_it_when_the_config_is_edited_meanwhile(tmp_path):
    """The experiment file was carried by each job, but each job read its dataset's config file again: an edit of it
    while the grid ran scored the later runs under other keys (or stopped them, for a half-saved file)."""
    from vae_lstm.experiment import job_experiment
    from vae_lstm.grid import run_job

    path = tiny_experiment(tmp_path)
    jobs = load_experiment(path).jobs(detectors=["abs_z"])
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, "threshold_rule": "train_max"}))
    assert job_experiment(jobs[0]).config("synth", "abs_z", 0).threshold_rule == "val_quantile"
    (tmp_path / "tiny.json").write_text("{")  # a half-saved file
    assert run_job(jobs[1])["threshold_rule"] == "val_quantile"  # one whole run: nothing else reads the file again
    with pytest.raises(ConfigError, match="tiny.json: not valid JSON"):  # a grid started now reads it as it is now
        load_experiment(path)


@pytest.mark.parametrize("layout", ["table1", "standard"])
def test_a_deployable_figure_at_another_rule_than_the_heading_says_names_its_rule(tmp_path, layout):
    """A detector's override of threshold_rule: its deployable F1 is at that rule, and the heading named only the
    first row's (table1) or every rule without saying whose (standard)."""
    path = tiny_experiment(tmp_path, detectors=["random", "abs_z"], seeds=1, summary=layout,
                           overrides={"abs_z": {"threshold_rule": "pot"}})
    assert reproduce.main([str(path), "--summary-dir", str(tmp_path / "sum")]) == 0
    rows = {line.split(" | ")[1]: line for line in (tmp_path / "sum" / "results.md").read_text().splitlines()
            if line.startswith("| synth | ") and " | 1 | " in line}
    assert " (at `pot`)" in rows["abs_z"]
    assert (" (at `val_quantile`)" in rows["random"]) == (layout == "standard")


def test_a_finished_run_is_rescored_under_another_threshold_rule_and_refused_under_other_training(tmp_path):
    from vae_lstm.errors import UserError
    from vae_lstm.experiment import Job
    from vae_lstm.grid import run_job

    path = tiny_experiment(tmp_path)
    job = Job(str(path), "synth", "abs_z", 0)
    assert run_job(job)["threshold_rule"] == "val_quantile"
    values = json.loads(path.read_text())
    values["overrides"] = {"abs_z": {"threshold_rule": "train_max"}}
    path.write_text(json.dumps(values))
    metrics = run_job(job)
    assert metrics["threshold_rule"] == "train_max" and "train_max" in metrics["abs_z"]["points"]["rules"]
    values["overrides"] = {"abs_z": {"threshold_rule": "train_max", "pot_q": 0.01, "pot_level": 0.9}}
    path.write_text(json.dumps(values))
    rescored = run_job(job)  # POT's own keys: its figures are scored again too
    assert (rescored["pot_q"], rescored["pot_level"]) == (0.01, 0.9)
    assert rescored["abs_z"]["points"]["rules"]["pot"] != metrics["abs_z"]["points"]["rules"]["pot"]
    values["overrides"] = {"abs_z": {"threshold_rule": "train_max", "pot_q": 0.01, "pot_level": 0.9,
                                     "num_epochs_vae": 7, "learning_rate_lstm": 0.5}}
    path.write_text(json.dumps(values))
    assert run_job(job)["detector"] == "abs_z"  # a control learns no model: model keys do not refuse its run
    values["overrides"] = {"abs_z": {"threshold_rule": "train_max", "val_fraction": 0.2}}
    path.write_text(json.dumps(values))
    with pytest.raises(UserError, match="other values of val_fraction"):
        run_job(job)


def test_a_grid_run_trains_in_its_own_folder_and_resumes_a_lost_checkpoint_before_scoring_again(tmp_path):
    """train.py with load_model 0 writes <run>_run2: a grid resumed the newest run of the config there and then
    scored its own, empty, folder; it now trains its own, and the same seed gives the same scores. Scored again
    under another rule after its lstm.keras was lost, the run failed on every rerun (advising to train the
    dataset's config); its LSTM now resumes from lstm.prev.keras, and the same weights give the same scores."""
    from vae_lstm.experiment import Job
    from vae_lstm.grid import run_job

    path = tiny_experiment(tmp_path, overrides={"vae_lstm": {"num_epochs_lstm": 2}})
    job = Job(str(path), "synth", "vae_lstm", 0)
    first = run_job(job)["vae_lstm"]["points"]["all"]["threshold_free"]
    run = load_experiment(path).run_dir(job)
    newer = run.with_name(f"{run.name}_run2")
    run.rename(newer)
    assert run_job(job)["vae_lstm"]["points"]["all"]["threshold_free"] == first
    assert (run / "detection" / "metrics.json").is_file() and (newer / "detection" / "metrics.json").is_file()
    (run / "lstm.keras").unlink()
    assert (run / "lstm.prev.keras").is_file()
    values = json.loads(path.read_text())
    values["overrides"]["vae_lstm"]["threshold_rule"] = "train_max"
    path.write_text(json.dumps(values))
    again = run_job(job)
    assert again["threshold_rule"] == "train_max" and (run / "lstm.keras").is_file()
    assert again["vae_lstm"]["points"]["all"]["threshold_free"] == first


def test_a_grid_refuses_other_keys_or_data_in_an_unfinished_or_finished_run_with_the_grids_remedy(tmp_path):
    """A grid's runs always resume (load_model 1), so "set load_model: 0" is no remedy there: a run folder trained
    with other keys (finished or not) or on other data is refused with "move that folder away"."""
    from vae_lstm.errors import UserError
    from vae_lstm.experiment import Job, job_experiment
    from vae_lstm.grid import run_job

    path = tiny_experiment(tmp_path)
    job = Job(str(path), "synth", "abs_z", 0)
    run_job(job)
    run = job_experiment(job).run_dir(job)
    fingerprint = json.loads((run / "training_data.json").read_text())
    (run / "training_data.json").write_text(json.dumps({**fingerprint, "sha256": "0" * 64}))
    with pytest.raises(UserError, match="other training data.*move that folder away") as caught:
        run_job(job)
    assert "load_model" not in str(caught.value)
    (run / "training_data.json").write_text(json.dumps(fingerprint))
    state = json.loads((run / "state.json").read_text())
    (run / "state.json").write_text(json.dumps({**state, "fitted": False}))  # as if its fit had been stopped
    values = json.loads(path.read_text())
    values["overrides"] = {"abs_z": {"val_fraction": 0.2}}
    path.write_text(json.dumps(values))
    with pytest.raises(UserError, match="other values of val_fraction.*move that folder away") as caught:
        run_job(job)
    assert "load_model" not in str(caught.value)


def test_an_experiment_file_outside_the_shipped_ones_never_writes_the_committed_tables(tmp_path, capsys,
                                                                                     monkeypatch):
    """A user's own table1.json, run whole, writes its summary beside its runs, not over figures/table1/."""
    monkeypatch.setattr(reproduce, "FIGURES", tmp_path / "figures")  # where the committed tables would go
    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1)
    own = path.rename(tmp_path / "table1.json")
    assert reproduce.main([str(own)]) == 0
    assert (tmp_path / "runs" / "summary" / "table1" / "results.md").is_file()
    assert "is not the experiment file of that name" in capsys.readouterr().out
    assert not (tmp_path / "figures" / "table1").exists()


def test_two_datasets_that_share_run_folders_but_not_their_keys_stop_before_any_run(tmp_path):
    """Two dataset configs of one exp_name, data and windows give one run folder: with other detection keys each
    label scored it over the other's metrics.json at every run (the summary always left one out), with other
    training keys the second was refused. Identical configs share their runs, as before."""
    from vae_lstm.errors import UserError

    for name, rule in (("vq", "val_quantile"), ("pot", "pot"), ("same", "val_quantile")):
        (tmp_path / f"{name}.json").write_text(json.dumps({**TINY, "threshold_rule": rule}))
    path = tmp_path / "share.json"
    path.write_text(json.dumps({"datasets": {"vq": "vq.json", "pot": "pot.json"}, "detectors": ["abs_z"],
                                "seeds": 1, "output_dir": str(tmp_path / "runs")}))
    with pytest.raises(UserError, match="datasets 'vq' and 'pot' share the run folders of abs_z .* but differ in "
                                        "threshold_rule"):
        reproduce.main([str(path)])
    assert not (tmp_path / "runs").exists()
    path.write_text(json.dumps({"datasets": {"vq": "vq.json", "same": "same.json"}, "detectors": ["abs_z"],
                                "seeds": 1, "output_dir": str(tmp_path / "runs")}))
    reproduce.check_shared_runs(load_experiment(path))
    # one config text beside two files of one name (a/plant.csv, b/plant.csv): other data, one run folder name (the
    # second label was said to give the same runs, then left out as trained on other data)
    for folder, step in (("a", 5.0), ("b", 7.0)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "plant.csv").write_text("value\n" + "\n".join(f"{np.sin(i / step):.4f}" for i in range(400)))
        (tmp_path / folder / "cfg.json").write_text(json.dumps({**TINY, "dataset": {"path": "plant.csv",
                                                                                    "train_points": 200}}))
    path.write_text(json.dumps({"datasets": {"pa": "a/cfg.json", "pb": "b/cfg.json"}, "detectors": ["abs_z"],
                                "seeds": 1, "output_dir": str(tmp_path / "runs")}))
    with pytest.raises(UserError, match="datasets 'pa' and 'pb' share the run folders of abs_z .* but differ in "
                                        "dataset"):
        reproduce.check_shared_runs(load_experiment(path))
    (tmp_path / "b" / "plant.csv").unlink()
    (tmp_path / "b" / "plant.csv").symlink_to(tmp_path / "a" / "plant.csv")  # the same file: the same runs
    reproduce.check_shared_runs(load_experiment(path))


def unlabelled_dataset(folder):
    """u.json: TINY's settings on u.csv, a series of 600 points without labels (the first 300 train)."""
    values = np.sin(np.arange(600) / 5.0) + 0.01 * np.arange(600) % 1
    (folder / "u.csv").write_text("value\n" + "\n".join(f"{v:.4f}" for v in values) + "\n")
    (folder / "u.json").write_text(json.dumps({**TINY, "dataset": {"path": str(folder / "u.csv"),
                                                                   "train_points": 300}}))


def test_the_oracle_rule_on_an_unlabelled_dataset_stops_before_any_run(tmp_path):
    """threshold_rule oracle_best_f1 on data without labels failed in every run of it, the same line once per run
    after the grid had gone through them all; it is now one line naming the dataset and the detectors, before any."""
    from vae_lstm.errors import UserError

    unlabelled_dataset(tmp_path)
    path = tmp_path / "oracle.json"
    path.write_text(json.dumps({"datasets": {"unlabelled": "u.json"}, "detectors": ["abs_z", "random"], "seeds": 1,
                                "output_dir": str(tmp_path / "runs"), "overrides": {"abs_z": {"threshold_rule":
                                                                                               "oracle_best_f1"}}}))
    with pytest.raises(UserError, match=r"^experiment oracle, dataset 'unlabelled' with detector 'abs_z': the "
                                        r"experiment file's overrides\.abs_z: key 'threshold_rule' = 'oracle_best_f1' "
                                        r"needs labels, and 'u' has none; use val_quantile"):
        reproduce.main([str(path)])
    assert not (tmp_path / "runs").exists()


def test_an_ensemble_of_a_first_detector_that_detectors_leaves_out_stops_before_any_run(tmp_path):
    """--detectors without the first detector runs none of its seeds: with fewer than two of them finished on one
    dataset, the ensemble is refused before the grid runs, not after it. Seeds finished on two datasets, one each,
    make no ensemble either."""
    from vae_lstm.errors import UserError

    path = tiny_experiment(tmp_path, detectors=["abs_z", "random"])  # a cheap first detector: the check is the same
    with pytest.raises(UserError, match="--detectors leaves it out with fewer than two of its seeds finished"):
        reproduce.main([str(path), "--detectors", "random", "--seeds", "2", "--ensemble"])
    assert not (tmp_path / "runs").exists()
    values = json.loads(path.read_text())
    (tmp_path / "other.json").write_text(json.dumps({**TINY, "exp_name": "other"}))  # its own run folders
    values["datasets"]["other"] = str(tmp_path / "other.json")
    path.write_text(json.dumps(values))
    assert reproduce.main([str(path), "--detectors", "abs_z", "--seed", "0", "--series", "synth", "--no-summary"]) == 0
    assert reproduce.main([str(path), "--detectors", "abs_z", "--seed", "1", "--series", "other", "--no-summary"]) == 0
    with pytest.raises(UserError, match="--detectors leaves it out"):
        reproduce.main([str(path), "--detectors", "random", "--seeds", "2", "--ensemble"])
    assert not list((tmp_path / "runs").glob("*/*random*"))


def test_an_ensemble_of_one_seed_and_a_bad_ray_address_stop_before_any_run(tmp_path):
    """ARMA, whose runs take a fraction of a VAE-LSTM's: the seed check reads only which runs are finished (the
    ensemble of the VAE-LSTM's seeds is test_two_workers_give_the_sequential_results's)."""
    from vae_lstm.errors import UserError

    path = tiny_experiment(tmp_path, detectors=["arma"])
    with pytest.raises(UserError, match="--ensemble averages two seeds of arma at least"):
        reproduce.main([str(path), "--seed", "0", "--ensemble"])
    assert not (tmp_path / "runs").exists()
    assert reproduce.main([str(path), "--seed", "1", "--no-summary"]) == 0  # with seed 1 finished, seed 0 may go on
    assert reproduce.main([str(path), "--seed", "0", "--ensemble", "--summary-dir", str(tmp_path / "sum")]) == 0
    assert (tmp_path / "sum" / "ensemble.md").is_file()
    if os.environ.get("CI") != "true":
        pytest.importorskip("ray")
    with pytest.raises(UserError, match="--ray bogus: .*use 'local'"):
        reproduce.main([str(path), "--ray", "bogus"])


@pytest.mark.parametrize("form", ["{host}:{port}", "ray://{host}:{port}"])
def test_a_ray_address_where_nothing_answers_stops_before_the_grid_says_it_runs(tmp_path, monkeypatch, capsys, form):
    """A head address with a wrong port (or a cluster that is down) had Ray retry for minutes (20 tries to reach its
    GCS), under a progress bar at 0, before its one line; the runs folder and its lock were made first."""
    import socket

    from vae_lstm import grid

    if os.environ.get("CI") != "true":
        pytest.importorskip("ray")
    ray = __import__("ray")
    with socket.socket() as free:  # a port that was free an instant ago: nothing listens there
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]

    def never(**kwargs):
        raise AssertionError("ray.init was called for an address where nothing answers")

    monkeypatch.setattr(ray, "init", never)
    address = form.format(host="127.0.0.1", port=port)
    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1)
    with pytest.raises(UserError, match=rf"^--ray {address}: nothing answers at 127\.0\.0\.1:{port} \(.*refused.*\); "):
        reproduce.main([str(path), "--ray", address])
    assert "runs, Ray at" not in capsys.readouterr().out and not (tmp_path / "runs").exists()
    with pytest.raises(UserError, match=r"^--ray no-such-host\.invalid:6379: nothing answers at "):
        grid.check_ray_address("no-such-host.invalid:6379")
    for fine in ("local", "auto", "bogus"):  # no host and port to try: Ray's own line, at once
        grid.check_ray_address(fine)


def test_a_local_ray_that_does_not_start_is_one_line(tmp_path, monkeypatch, capsys):
    """On a busy machine Ray's local node can time out starting; Ray raises a plain Exception, which was a traceback.
    Its deadlines are fixed (the raylet gives its agent about 15 s to report its ports, ray.init the raylet 30 s to
    register), so a start that timed out is tried again, twice, before that line; the processes each failed start
    left running (its GCS, dashboard, monitors) were left to the end of the process, beside the next start's."""
    import subprocess
    import sys

    from vae_lstm import grid
    from vae_lstm.errors import UserError

    ray = pytest.importorskip("ray") if os.environ.get("CI") != "true" else __import__("ray")
    ray_dir = str(Path(ray.__file__).parent)
    started = []

    def timed_out(**kwargs):  # what a failed start leaves: a Ray process (here one that waits) of this one's
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", ray_dir]))
        raise Exception("The current node timed out during startup. This could happen because some of the raylet "
                        "failed to startup or the GCS has become overloaded.")

    monkeypatch.setattr(ray, "init", timed_out)
    jobs = load_experiment(tiny_experiment(tmp_path)).jobs(detectors=["abs_z"])
    try:
        with pytest.raises(UserError, match=r"^--ray local: Ray did not start: The current node timed out during "
                                            r"startup\. .*run the grid without --ray: --workers N\)$"):
            list(grid.on_ray(jobs, "local", 1))
        assert len(started) == 3 and all(p.poll() is not None for p in started)  # each ended before the next start
        notes = capsys.readouterr().out.splitlines()
        assert notes == [f"note: the local Ray instance timed out starting (a busy machine?): starting it again ({n} of 3)"
                         for n in (2, 3)]

        # a start that timed out once and then started: the grid runs, after the one note
        calls = []
        monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs) or (timed_out() if len(calls) == 1
                                                                                   else None))
        monkeypatch.setattr(ray, "shutdown", lambda: None)
        monkeypatch.setattr(ray, "remote", lambda **options: lambda function: None)
        assert list(grid.on_ray([], "local", 1)) == [] and len(calls) == 2 and calls[0] == calls[1]
        assert calls[1]["address"] == "local" and started[-1].poll() is not None
        assert capsys.readouterr().out.count("starting it again (2 of 3)") == 1
    finally:
        for process in started:
            process.kill()
            process.wait()


def test_a_local_ray_start_that_failed_ends_only_the_ray_processes_it_started(monkeypatch):
    """What a failed start left is ended, not a Ray process that a child this process had before started meanwhile:
    a worker of a Ray instance of the user's (``ray start --head --block`` run from a notebook) was ended with it."""
    import subprocess

    from vae_lstm import grid

    ray = pytest.importorskip("ray") if os.environ.get("CI") != "true" else __import__("ray")
    ray_dir = str(Path(ray.__file__).parent)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)", ray_dir]
    user = subprocess.Popen(  # the user's: on a line, it starts a Ray process of its own (a worker), says its pid
        [sys.executable, "-c", "import subprocess, sys; sys.stdin.readline(); "
         f"p = subprocess.Popen({sleeper!r}); print(p.pid, flush=True); p.wait()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    started = []

    def fails(**kwargs):  # the start's own process, and the user's worker started while it ran
        started.append(subprocess.Popen(sleeper))
        user.stdin.write("\n")
        user.stdin.flush()
        started.append(int(user.stdout.readline()))
        raise RuntimeError("Maybe you called ray.init twice by accident?")

    monkeypatch.setattr(ray, "init", fails)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    try:
        with pytest.raises(RuntimeError, match="twice"):
            grid.start_local_ray(ray, num_cpus=1)
        assert "PYTHONPATH" not in os.environ  # ray_site's, only while ray.init ran
        assert started[0].poll() is not None  # the start's: ended
        import psutil  # Ray's own copy, importable once Ray is

        assert psutil.pid_exists(started[1]) and user.poll() is None  # the user's worker: still running
    finally:
        if started:
            started[0].kill()
            started[0].wait()
        user.kill()
        user.wait()
        if len(started) > 1:
            with contextlib.suppress(ProcessLookupError):
                os.kill(started[1], 9)


def test_a_local_ray_instances_processes_import_jsonschema_without_its_iri_grammar(tmp_path, monkeypatch):
    """Each Python process of a local Ray instance (dashboard, monitors, agents, workers) spent about 1.3 of its 2 s
    of CPU importing Ray on rfc3987_syntax's grammar (jsonschema's optional "iri" check), which on a busy machine made
    the raylet's agent miss Ray's fixed 15 s start-up deadline. They start with ``ray_site`` first on PYTHONPATH,
    whose sitecustomize imports jsonschema as this package does, then runs a sitecustomize it hides."""
    import subprocess
    import sys

    from vae_lstm import grid

    ray = pytest.importorskip("ray") if os.environ.get("CI") != "true" else __import__("ray")
    site = Path(grid.__file__).parent / "ray_site"
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    (tmp_path / "sitecustomize.py").write_text("import builtins\nbuiltins.HIDDEN_SITE_RAN = True\n")
    seen = []
    monkeypatch.setattr(ray, "init", lambda **kwargs: seen.append(os.environ["PYTHONPATH"]))
    grid.start_local_ray(ray, num_cpus=1)
    assert seen == [os.pathsep.join([str(site), str(tmp_path)])] and os.environ["PYTHONPATH"] == str(tmp_path)

    check = ("import builtins, sys, jsonschema\n"
             "checker = jsonschema.FormatChecker()\n"
             "print('rfc3987_syntax' in sys.modules, getattr(builtins, 'HIDDEN_SITE_RAN', False),\n"
             "      checker.conforms('http://a/b', 'iri'), checker.conforms('not an iri', 'iri'))")
    out = subprocess.run([sys.executable, "-c", check], env={**os.environ, "PYTHONPATH": seen[0]},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "True", "False"]  # the grammar is built only for an "iri" check, which still works

    # a sitecustomize that is a package, with a relative import: it ran as a lone file, outside its package;
    (tmp_path / "sitecustomize.py").unlink()
    (tmp_path / "sitecustomize").mkdir()
    (tmp_path / "sitecustomize" / "__init__.py").write_text("from .part import mark\nmark()\n")
    (tmp_path / "sitecustomize" / "part.py").write_text("def mark():\n    import builtins\n    builtins.HIDDEN_SITE_RAN = 1\n")
    # and ray_site also by a second spelling (a symlink), which it took for the one it hides: a RecursionError
    (tmp_path / "link").symlink_to(site, target_is_directory=True)
    twice = os.pathsep.join([str(site), str(tmp_path / "link"), str(tmp_path)])
    done = subprocess.run([sys.executable, "-c", "import builtins, sitecustomize; "
                           "print(getattr(builtins, 'HIDDEN_SITE_RAN', 0), sitecustomize.mark.__module__)"],
                          env={**os.environ, "PYTHONPATH": twice}, capture_output=True, text=True, check=True)
    assert (done.stdout.split(), done.stderr) == (["1", "sitecustomize.part"], "")


def test_a_summary_of_part_of_a_grid_holds_that_part_only(tmp_path):
    import pandas as pd

    path = tiny_experiment(tmp_path, detectors=["arma", "abs_z"])
    assert reproduce.main([str(path), "--summary-dir", str(tmp_path / "all")]) == 0
    assert reproduce.main([str(path), "--summary-only", "--seed", "1", "--detectors", "abs_z",
                           "--summary-dir", str(tmp_path / "part")]) == 0
    rows = pd.read_csv(tmp_path / "part" / "results.csv")
    assert set(rows.seed) == {1} and set(rows.detector) == {"random", "abs_z"}  # the finished controls
    # the figure is of the first detector the tables hold, when --detectors leaves out the experiment's first
    assert (tmp_path / "part" / "detections_synth.png").is_file()
    assert set(pd.read_csv(tmp_path / "all" / "results.csv").seed) == {0, 1}


def test_a_second_reproduce_of_the_same_runs_stops_with_one_line(tmp_path):
    """While one process holds the experiment's runs folder, another reproduce.py of it stops at once, naming
    the holder's PID, and trains or scores nothing; with the lock free again the grid runs and leaves it free."""
    import subprocess
    import sys

    from vae_lstm.errors import UserError

    path = tiny_experiment(tmp_path)
    (tmp_path / "runs").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, sys.argv[1]); from pathlib import Path; "
        "from vae_lstm.runs import exclusive\n"
        "with exclusive(Path(sys.argv[2]) / 'reproduce.lock', 'busy', 'wait'):\n"
        "    print('held', flush=True); time.sleep(60)"), str(REPO_ROOT / "codes"), str(tmp_path / "runs")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError) as caught:
            reproduce.main([str(path), "--detectors", "abs_z", "--summary-dir", str(tmp_path / "sum")])
        message = str(caught.value)
        assert "is in use by another reproduce.py" in message and f"PID {holder.pid}" in message
        assert "\n" not in message and not list((tmp_path / "runs").rglob("*abs_z*"))
    finally:
        holder.kill()
        holder.wait()
    assert reproduce.main([str(path), "--detectors", "abs_z", "--summary-dir", str(tmp_path / "sum")]) == 0
    assert len(headline(tmp_path / "sum")) == 2 and not (tmp_path / "runs" / "reproduce.lock.pid").exists()


def test_a_second_summary_into_a_folder_being_written_stops_with_one_line(tmp_path, monkeypatch):
    """Two summaries into one --summary-dir at once (--summary-only of another part of the grid, from a second
    terminal) each wrote their tables over the other's: results.csv of one beside results.md of the other. The
    second now stops with one line naming the first one's PID, and the first one's tables are whole."""
    import pandas as pd

    from vae_lstm import detection, plotting

    monkeypatch.setattr(detection, "draw_figures", lambda *args, **kwargs: None)  # quick: no figure is needed
    monkeypatch.setattr(plotting, "results_chart", lambda *args, **kwargs: None)
    path, summary = tiny_experiment(tmp_path), tmp_path / "sum"
    assert reproduce.main([str(path), "--detectors", "abs_z", "--no-summary"]) == 0
    write, refused = reproduce.write_text_atomic, []

    def second_one_meanwhile(target, text):
        write(target, text)
        if Path(target).name == "results.csv" and not refused:
            refused.append(None)
            with pytest.raises(UserError) as caught:
                reproduce.main([str(path), "--summary-only", "--seed", "1", "--summary-dir", str(summary)])
            refused[0] = str(caught.value)

    monkeypatch.setattr(reproduce, "write_text_atomic", second_one_meanwhile)
    assert reproduce.main([str(path), "--summary-only", "--summary-dir", str(summary)]) == 0
    assert refused[0] == (f"the summary folder {summary.resolve()} is being written by another reproduce.py "
                          f"(PID {os.getpid()}); wait for it to finish, then run the command again")
    assert set(pd.read_csv(summary / "results.csv").seed) == {0, 1}
    assert not (summary / ".summary.lock.pid").exists()


def test_summary_keeps_labelled_series_with_degenerate_labels_apart_from_unlabelled_ones():
    from types import SimpleNamespace

    import pandas as pd

    from vae_lstm.detection import summary_rows

    unlabelled = summary_rows({"labelled": False, "detectors": ["vae_lstm"],
                               "vae_lstm": {"points": {"rules": {"val_quantile": {"flagged_fraction": 0.25}}}}})
    assert unlabelled[0]["labelled"] is False
    rows = [{"series": "prices", "seed": 0, "wall_seconds": 1.0, **unlabelled[0]},
            {"series": "quiet", "seed": 0, "wall_seconds": 1.0, "detector": "vae_lstm", "pieces": "all",
             "labelled": True, "vus_pr": np.nan, "flagged_val_quantile": 0.5}]
    experiment = SimpleNamespace(name="x", detectors=["vae_lstm"], datasets={"prices": "", "quiet": ""}, values={})
    text = reproduce.standard_markdown(experiment, pd.DataFrame(rows))
    no_labels, degenerate = text.index("No labels"), text.index("every test point's label is the same")
    assert "| prices | vae_lstm | 1 | 0.250" in text[no_labels:degenerate]
    assert "| quiet | vae_lstm | 1 | 0.500" in text[degenerate:]
    assert "quiet" not in text[no_labels:degenerate]
    # no metric column in either table, so the legend explains none (it did: VUS, AUC-PR, PW, Aff)
    assert text.rstrip().endswith("random and abs_z are controls.") and "VUS" not in text


def test_an_ensemble_of_a_point_native_detector(tmp_path):
    """LSTM-AD scores points natively, one score per point: its seeds line up, so they can be averaged."""
    import pandas as pd

    path = tiny_experiment(tmp_path, detectors=["lstm_ad", "abs_z"],
                           overrides={"*": {"threshold_rule": "train_max"},
                                      "lstm_ad": {"l_win": 8, "prediction_horizon": 2, "num_epochs_lstm": 1}})
    assert reproduce.main([str(path), "--ensemble", "--summary-dir", str(tmp_path / "sum")]) == 0
    rows = pd.read_csv(tmp_path / "sum" / "ensemble.csv")
    assert "ensemble of 2" in set(rows[rows.detector == "lstm_ad"].member)
    # every row at the experiment's rule (train_max), the controls' flagged share too
    summary = pd.read_csv(tmp_path / "sum" / "results.csv").query("pieces == 'all'").set_index(["detector", "seed"])
    for r in rows[rows.member.str.startswith("seed")].itertuples():
        seed = int(r.member.split()[1])
        assert r.f1_deployable == pytest.approx(summary.loc[(r.detector, seed), "f1_pointwise_train_max"], abs=1e-4)
        assert r.flagged_deployable == pytest.approx(summary.loc[(r.detector, seed), "flagged_train_max"], abs=1e-4)
    assert "`train_max` threshold" in (tmp_path / "sum" / "ensemble.md").read_text()


def test_summaries_beside_the_runs_keep_each_experiment_its_seeds_and_the_controls(tmp_path):
    """Two experiments sharing a runs folder each keep their own summary, of their own seeds; a summary of
    some detectors keeps the finished controls beside them; flags that cannot work are refused up front."""
    import pandas as pd

    from vae_lstm.errors import UserError

    path = tiny_experiment(tmp_path, detectors=["arma", "random", "abs_z"])
    assert reproduce.main([str(path)]) == 0
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**json.loads(path.read_text()), "seeds": 1}))
    assert reproduce.main([str(other)]) == 0
    summaries = tmp_path / "runs" / "summary"
    assert set(pd.read_csv(summaries / "grid" / "results.csv").seed) == {0, 1}
    assert set(pd.read_csv(summaries / "other" / "results.csv").seed) == {0}  # not grid's seed 1
    assert reproduce.main([str(path), "--summary-only", "--detectors", "arma", "--summary-dir", str(tmp_path / "s")]) == 0
    assert set(pd.read_csv(tmp_path / "s" / "results.csv").detector) == {"arma", "random", "abs_z"}
    with pytest.raises(UserError, match="has no detector lstm_ae; its detectors: arma, random, abs_z"):
        reproduce.main([str(path), "--detectors", "lstm_ae"])
    for flags, message in ((["--summary-only", "--no-summary"], "--no-summary skips the tables, so --summary-only"),
                           (["--ensemble", "--no-summary"], "so --ensemble would do nothing"),
                           (["--seed", "100"], "--seed must be between 0 and 99"),
                           (["--seed", "1", "--seeds", "2"], "--seed 1 runs one seed and --seeds 2 the first 2")):
        with pytest.raises(UserError, match=message):
            reproduce.main([str(path), *flags])


def test_a_run_that_fails_in_any_way_is_reported_and_the_grid_goes_on(monkeypatch):
    """Sequentially as with workers: an unexpected error in one run (a KeyError, say) is one failed run."""
    from vae_lstm import grid
    from vae_lstm.errors import UserError
    from vae_lstm.experiment import Job

    def run_job(job, threads=None):
        if job.seed == 0:
            raise KeyError("boom")
        return {"seed": job.seed}

    monkeypatch.setattr(grid, "run_job", run_job)
    jobs = [Job("x.json", "synth", "abs_z", seed) for seed in (0, 1)]
    with pytest.raises(UserError, match=r"1 of 2 runs failed: synth abs_z seed 0: KeyError: 'boom'"):
        grid.run_grid(jobs)



def test_a_grid_writing_to_a_file_prints_one_whole_line_per_run_and_no_progress_bar(monkeypatch, capsys):
    """reproduce.py's output piped to a file (or ``| tee``) held tqdm's bar: carriage returns and its redrawn copies
    between the runs' lines, and a run's own training lines glued to the end of the bar's. Off a terminal the bar is
    left out and each run's line says how many have finished."""
    from vae_lstm import grid
    from vae_lstm.experiment import Job

    def run_job(job, threads=None):
        if job.seed == 1:
            raise UserError("a.csv: no column 'value'")
        print(f"training seed {job.seed}")  # a run's own lines (Keras's per-epoch lines)
        return {"seed": job.seed}

    monkeypatch.setattr(grid, "run_job", run_job)
    jobs = [Job("x.json", "synth", "abs_z", seed) for seed in (0, 1, 2)]
    with pytest.raises(UserError, match="1 of 3 runs failed"):
        grid.run_grid(jobs)
    assert capsys.readouterr().out == ("training seed 0\ndone synth abs_z seed 0 (1 of 3)\n"
                                       "FAILED synth abs_z seed 1: a.csv: no column 'value' (2 of 3)\n"
                                       "training seed 2\ndone synth abs_z seed 2 (3 of 3)\n")


class WriteOnly:
    """A stand-in for stdout with only ``write`` and ``flush`` (a logger's writer, ``sys.stdout = Tee(...)``)."""

    def __init__(self):
        self.text = io.StringIO()

    def write(self, s):
        return self.text.write(s)

    def flush(self):
        pass

    def getvalue(self):
        return self.text.getvalue()


class IsattyRaises(io.StringIO):
    """A stream whose ``isatty`` raises (a detached or replaced stream's)."""

    def isatty(self):
        raise io.UnsupportedOperation("isatty")


@pytest.mark.parametrize("stream", [WriteOnly, IsattyRaises])
def test_a_grid_on_a_stdout_without_a_working_isatty_is_not_a_terminal(monkeypatch, stream):
    """reproduce.main called with sys.stdout replaced by a writer of one's own that has no ``isatty``, or one whose
    ``isatty`` raises: the grid asked it whether it was a terminal and ended in a traceback before any run. It is
    taken for a file: no bar, each run's line (and a training's Keras lines one per epoch)."""
    from vae_lstm import grid
    from vae_lstm.experiment import Job

    monkeypatch.setattr(grid, "run_job", lambda job, threads=None: {"seed": job.seed})
    out = stream()
    monkeypatch.setattr(sys, "stdout", out)
    grid.run_grid([Job("x.json", "synth", "abs_z", seed) for seed in (0, 1)])
    assert out.getvalue() == "done synth abs_z seed 0 (1 of 2)\ndone synth abs_z seed 1 (2 of 2)\n"
    from vae_lstm.training import BaseTrainer

    assert BaseTrainer.verbosity() == 2  # a run's Keras lines: one per epoch, as in a file


class NotUnpicklable(Exception):
    """An error whose ``__init__`` takes other arguments than its ``args``: it pickles but does not unpickle."""

    def __init__(self, path, why):
        super().__init__(f"{path}: {why}")


def fails_in_a_worker(job, threads=None):
    """A job of seed 0 raises a NotUnpicklable; the others finish (at module level: a worker finds it by name)."""
    if job.seed == 0:
        raise NotUnpicklable("a.csv", "no column 'value'")
    return {"seed": job.seed}


def test_a_runs_error_that_does_not_unpickle_is_its_own_line_not_a_dead_worker(monkeypatch, capsys):
    """A worker's error that cannot come back whole to the grid's process comes back as its type and message: it
    once read as a worker process that ended abruptly (killed or out of memory). Forked workers, to be fast."""
    import multiprocessing

    from vae_lstm import grid
    from vae_lstm.experiment import Job

    monkeypatch.setattr(grid, "run_job", fails_in_a_worker)
    fork = multiprocessing.get_context("fork")  # the worker has this module (and the patched run_job) at once
    monkeypatch.setattr(multiprocessing, "get_context", lambda method=None: fork)
    jobs = [Job("x.json", "synth", "abs_z", seed) for seed in (0, 1)]
    with pytest.raises(UserError) as failed:
        grid.run_grid(jobs, workers=2, threads=1)
    assert str(failed.value) == "1 of 2 runs failed: synth abs_z seed 0: NotUnpicklable: a.csv: no column 'value'"
    err = capsys.readouterr().err
    assert "in fails_in_a_worker" in err and "NotUnpicklable: a.csv" in err  # the bug's traceback, from the worker


def prints_in_a_worker(job, threads=None):
    """A job that prints as a training does: Keras's epoch line in two writes, a note, a warning on stderr, a
    progress bar's redraw, and a last line with no line end; returns whether its stdout said it was a terminal."""
    from vae_lstm.errors import isatty

    sys.stdout.write("Epoch 1/2\n")
    sys.stdout.write("28/28 - 2s - loss: 0.5")
    sys.stdout.write("1\nvae: resuming at epoch 2 of 2\n")
    print("warning: test piece 2 is too short to score", file=sys.stderr)
    sys.stdout.write("3/9 [==>  ]\r9/9 [=====]\n")
    sys.stdout.write("no line end")
    return {"terminal": isatty(sys.stdout)}  # what training.BaseTrainer.verbosity reads


def test_each_line_a_grid_worker_prints_names_its_run(monkeypatch, capfd):
    """Two workers' epoch lines and notes came interleaved and unnamed ("Epoch 1/2" twice): each line now starts
    with its run's name, on stdout and stderr, and Keras gets one line per epoch rather than a progress bar that
    the other worker's lines would break into. Forked workers, to be fast."""
    import multiprocessing

    from vae_lstm import grid
    from vae_lstm.experiment import Job

    monkeypatch.setattr(grid, "run_job", prints_in_a_worker)
    fork = multiprocessing.get_context("fork")
    monkeypatch.setattr(multiprocessing, "get_context", lambda method=None: fork)
    job = Job("x.json", "synth", "vae_lstm", 3)
    results = dict(grid.run_grid([job], workers=2, threads=1))
    assert results[job] == {"terminal": False}
    out, err = capfd.readouterr()
    name = "synth vae_lstm seed 3: "
    assert [line for line in out.splitlines() if line.startswith(name)] == [
        f"{name}Epoch 1/2", f"{name}28/28 - 2s - loss: 0.51", f"{name}vae: resuming at epoch 2 of 2",
        f"{name}3/9 [==>  ]", f"{name}9/9 [=====]", f"{name}no line end"]
    assert f"{name}warning: test piece 2 is too short to score" in err.splitlines()


def test_a_log_handler_made_in_a_workers_first_job_names_the_later_jobs_lines(capsys):
    """A worker's first job imports TensorFlow, whose logger (and absl's) keeps the stderr of then: the later jobs
    of that worker (up to JOBS_PER_WORKER) had their warnings ('tf.function retracing') named with the first job."""
    import logging

    from vae_lstm.job_lines import named_lines

    with named_lines("synth vae_lstm seed 0"):
        handler = logging.StreamHandler()  # as tf.get_logger() makes one, on the stderr of then
    logger = logging.getLogger("test_grid.job_lines")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with named_lines("synth vae_lstm seed 1"):
            logger.warning("5 out of the last 5 calls triggered tf.function retracing")
        logger.warning("between jobs")
    finally:
        logger.removeHandler(handler)
    assert capsys.readouterr().err.splitlines() == [
        "synth vae_lstm seed 1: 5 out of the last 5 calls triggered tf.function retracing", "between jobs"]


def test_a_grid_with_a_failed_run_says_how_to_get_the_finished_runs_tables(tmp_path, monkeypatch):
    """A failed run leaves no summary; the line says which command gives the tables of the runs that finished
    (--summary-only), and with --no-summary, where no table was asked for, it does not."""
    from vae_lstm import grid

    def run_job(job, threads=None):
        raise KeyError("boom")

    monkeypatch.setattr(grid, "run_job", run_job)
    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1)
    with pytest.raises(UserError) as failed:
        reproduce.main([str(path), "--detectors", "abs_z"])
    assert str(failed.value) == ("1 of 1 runs failed: synth abs_z seed 0: KeyError: 'boom'; the tables of the runs "
                                 "that finished: the same command with --summary-only (they name the runs missing)")
    # the tables of an earlier summary, in the folder that this grid's would have gone to, stay as they were; the line
    # says whose they are, where they were read as this grid's without a word
    for summary_dir in (tmp_path / "runs" / "summary" / "grid", tmp_path / "chosen"):
        summary_dir.mkdir(parents=True)
        for name in ("results.md", "results.csv", "notes.txt"):
            (summary_dir / name).write_text("earlier")
        chosen = ["--summary-dir", str(summary_dir)] if summary_dir.name == "chosen" else []
        with pytest.raises(UserError) as failed:
            reproduce.main([str(path), "--detectors", "abs_z", *chosen])
        assert str(failed.value) == (
            "1 of 1 runs failed: synth abs_z seed 0: KeyError: 'boom'; the tables of the runs that finished: the same "
            f"command with --summary-only (they name the runs missing); {summary_dir} holds an earlier summary's "
            "results.md and results.csv, not this grid's")
        assert all((summary_dir / name).read_text() == "earlier" for name in ("results.md", "results.csv"))
    with pytest.raises(UserError) as failed:
        reproduce.main([str(path), "--detectors", "abs_z", "--no-summary"])
    assert str(failed.value) == "1 of 1 runs failed: synth abs_z seed 0: KeyError: 'boom'"

def test_a_resumed_run_counts_the_training_it_did_before(tmp_path, monkeypatch):
    """Each epoch adds its seconds to its stage's in state.json (a stage trained again from scratch drops
    them), and a grid's wall_seconds of a run counts what its folder already holds."""
    from vae_lstm import grid
    from vae_lstm.training import SECONDS_KEY, EpochState, forget_seconds, total_seconds

    assert grid.earlier_training_seconds(tmp_path) == 0.0
    (tmp_path / "state.json").write_text(json.dumps({"vae": 3, SECONDS_KEY: {"vae": 40.0}}))
    callback = EpochState(tmp_path / "state.json", "lstm")
    callback.on_epoch_begin(0)
    callback.on_epoch_end(0)
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["lstm"] == 1 and state["vae"] == 3 and state[SECONDS_KEY]["vae"] == 40.0
    assert 0 <= state[SECONDS_KEY]["lstm"] < 1.0
    assert grid.earlier_training_seconds(tmp_path) == 40.0 + state[SECONDS_KEY]["lstm"]
    forget_seconds(state, "vae")
    assert total_seconds(state) == state[SECONDS_KEY]["lstm"]
    # run_job: the time it takes now plus what the folder held before
    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1)
    monkeypatch.setattr(grid, "earlier_training_seconds", lambda run: 500.0)
    metrics = grid.run_grid(load_experiment(path).jobs())
    assert 500.0 <= next(iter(metrics.values()))["wall_seconds"] < 560.0


def test_an_experiment_file_finds_configs_beside_it_and_must_be_an_object(tmp_path, monkeypatch):
    path = tiny_experiment(tmp_path)
    path.write_text(json.dumps({**json.loads(path.read_text()), "datasets": {"synth": "tiny.json"}}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # tiny.json is beside the experiment file, not in the working folder
    assert load_experiment(path).config("synth", "abs_z", 0, resolve=False).l_win == TINY["l_win"]
    for content, kind in (("null", "null"), ("[1, 2]", "an array"), ('"abc"', "a string")):
        path.write_text(content)
        with pytest.raises(ConfigError, match=f"holds one JSON object .*, not {kind}$"):
            load_experiment(path)


def test_a_name_given_twice_runs_once_and_a_missing_dataset_is_one_line_before_any_run(tmp_path, capsys):
    from vae_lstm.errors import UserError

    path = tiny_experiment(tmp_path)
    assert reproduce.main([str(path), "--series", "synth", "synth", "--detectors", "abs_z", "abs_z",
                           "--seeds", "1", "--no-summary"]) == 0
    assert "experiment grid: 1 runs" in capsys.readouterr().out
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, "dataset": {"path": str(tmp_path / "gone.csv")}}))
    with pytest.raises(UserError, match=r"^experiment grid, dataset 'synth': .*gone.csv"):
        reproduce.main([str(path), "--seeds", "1", "--detectors", "arma", "--output-dir", str(tmp_path / "other")])
    assert not (tmp_path / "other").exists()


def test_summary_only_leaves_out_the_runs_the_grid_would_refuse(tmp_path, capsys):
    """--summary-only summarises only runs the grid would score: not one made with other training keys."""
    import pandas as pd

    path = tiny_experiment(tmp_path, detectors=["arma", "random", "abs_z"], seeds=1)
    assert reproduce.main([str(path)]) == 0
    values = json.loads(path.read_text())
    values["overrides"]["arma"]["arma_p"] = 1  # the finished arma run was fitted with the default order
    path.write_text(json.dumps(values))
    capsys.readouterr()
    assert reproduce.main([str(path), "--summary-only"]) == 0
    assert "made with other values of arma_p than the experiment gives" in capsys.readouterr().out
    rows = pd.read_csv(tmp_path / "runs" / "summary" / "grid" / "results.csv")
    assert set(rows.detector) == {"random", "abs_z"}


@pytest.mark.parametrize("labels", [None, "all normal"])
def test_an_ensemble_without_labels_of_two_classes_stops_before_any_run(tmp_path, labels):
    from vae_lstm.errors import UserError

    t = np.arange(600)
    rows = "value,anomaly\n" + "".join(f"{np.sin(2 * np.pi * i / 24):.6f},0\n" for i in t)
    (tmp_path / "flat.csv").write_text(rows)
    dataset = {"path": str(tmp_path / "flat.csv"), "train_points": 300, "value_columns": ["value"]}
    if labels:
        dataset["labels"] = {"column": "anomaly"}
    path = tiny_experiment(tmp_path, detectors=["abs_z"])
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, "dataset": dataset}))
    with pytest.raises(UserError, match="--ensemble is scored against labels, and synth of grid has none"):
        reproduce.main([str(path), "--ensemble"])
    assert not (tmp_path / "runs").exists()


def test_the_iid_random_column_is_na_for_labels_of_one_class():
    """A degenerate split never shows a perfect (or a zero) paper's metric for the random control."""
    assert reproduce.random_pa_f1(np.ones(50, bool)) == reproduce.random_pa_f1(np.zeros(50, bool)) == "n/a"
    labels = np.zeros(50, bool)
    labels[20:30] = True  # one anomaly of 10 sequences: a random score's top sequence hits it 1 time in 5
    mean = float(reproduce.random_pa_f1(labels).split(" ± ")[0])
    assert 0.3 < mean < 1.0


def test_the_verdict_pairs_seeds_and_a_cell_says_how_many_seeds_it_averages():
    """With seed 2 of the detector and seed 1 of abs_z missing, the verdict compared unpaired means (here 0.35
    against 0.30: "yes"); on the seed both have (0) it is "**no**". A cell whose values are undefined for some
    seeds averaged the others with no mark."""
    import pandas as pd

    def runs(seeds, vus):
        return pd.DataFrame({"seed": seeds, "vus_pr": vus, "auc_pr": vus})

    z = runs([0, 2], [0.30, 0.30])
    assert reproduce.above_abs_z("vae_lstm", runs([0, 1], [0.29, 0.41]), z) == "**no**"
    assert reproduce.seeds_cell(pd.Series([0.2, np.nan, 0.4])) == "0.300 ± 0.100 (2 of 3)"
    assert reproduce.seeds_cell(pd.Series([0.2, 0.4])) == "0.300 ± 0.100"
    assert reproduce.seeds_cell(pd.Series([np.nan])) == "n/a"
    rows = pd.DataFrame({"L": [144, 144, 84]})
    assert reproduce._other_l(rows, 84) == " (L 144)" and reproduce._other_l(rows[2:], 84) == ""


def test_a_summary_names_the_runs_it_lacks(tmp_path, capsys):
    """--summary-only with a run folder gone: the rows average fewer seeds, and results.md and the console say
    which run is missing (it was named nowhere)."""
    import shutil

    path = tiny_experiment(tmp_path, detectors=["random", "abs_z"])
    assert reproduce.main([str(path), "--summary-dir", str(tmp_path / "sum"), "--ensemble"]) == 0
    assert "Not in these tables" not in (tmp_path / "sum" / "results.md").read_text()
    assert (tmp_path / "sum" / "ensemble.md").is_file() and (tmp_path / "sum" / "results.png").is_file()
    [gone] = [p for p in (tmp_path / "runs").rglob("*abs_z*seed1") if p.is_dir()]
    shutil.rmtree(gone)
    capsys.readouterr()
    assert reproduce.main([str(path), "--summary-only", "--summary-dir", str(tmp_path / "sum")]) == 0
    out = capsys.readouterr().out
    assert "left out of the summary: synth abs_z seed 1 has not run" in out
    assert ("Not in these tables (not run, unfinished, or left out for the reason printed), so some rows average "
            "fewer seeds: synth abs_z seed 1.") in (tmp_path / "sum" / "results.md").read_text()
    # the earlier summary's ensemble is gone, not left beside tables of other runs; other files stay
    assert f"removed the ensemble of an earlier summary from {tmp_path / 'sum'}" in out
    assert not (tmp_path / "sum" / "ensemble.md").exists() and not (tmp_path / "sum" / "ensemble.csv").exists()
    (tmp_path / "sum" / "ensemble.md").write_text("my own notes")
    assert reproduce.main([str(path), "--summary-only", "--summary-dir", str(tmp_path / "sum")]) == 0
    assert (tmp_path / "sum" / "ensemble.md").read_text() == "my own notes"


def test_a_summary_says_a_trained_run_is_not_scored_rather_than_not_run(tmp_path, capsys):
    """A grid stopped between a run's training and its scoring: --summary-only said the run "has not run", while
    its training is there and only its metrics.json is not."""
    path = tiny_experiment(tmp_path, detectors=["random", "abs_z"])
    assert reproduce.main([str(path), "--summary-dir", str(tmp_path / "sum")]) == 0
    [run] = [p for p in (tmp_path / "runs").rglob("*abs_z*seed1") if p.is_dir()]
    (run / "detection" / "metrics.json").unlink()
    capsys.readouterr()
    assert reproduce.main([str(path), "--summary-only", "--summary-dir", str(tmp_path / "sum")]) == 0
    out = capsys.readouterr().out
    assert ("left out of the summary: synth abs_z seed 1 is trained but not scored (a run of the experiment, not "
            "--summary-only, scores it)") in out
    assert "has not run" not in out


@pytest.mark.parametrize("flags, part", [
    ([], None),
    (["--seed", "1", "--detectors", "arma"], "seed 1 (the file's: 0 to 1); detectors arma, with the controls"),
    (["--seeds", "3", "--series", "synth"], "seeds 0 to 2 (the file's: 0 to 1)"),  # more than the file's: no "part"
    (["--seeds", "1"], "seed 0 (the file's: 0 to 1)"),  # not "seeds 0 to 0"
    (["--seeds", "2"], None),
    (["--detectors", "arma", "vae_lstm"], None),  # every detector of the file: the finished controls are held too
])
def test_a_summary_of_a_part_of_the_grid_says_which_part_it_holds(tmp_path, monkeypatch, flags, part):
    """A summary of a user's experiment file goes beside its runs whether the command asks for the whole grid or a
    part of it: the tables of --seed 1 --detectors arma replaced those of the whole grid there, and read as the
    experiment's, with nothing saying that they hold one seed of one detector. --seeds 3 on a file of 2 seeds is no
    "part of the experiment", as the line said, and --seeds 1 is seed 0, not "seeds 0 to 0"."""
    import pandas as pd

    from vae_lstm import plotting

    path = tiny_experiment(tmp_path)
    metrics = {(j.dataset, j.detector, j.seed): {} for j in load_experiment(path).jobs(seeds=range(3))}
    monkeypatch.setattr(reproduce, "collect_finished", lambda experiment: (metrics, {}))
    monkeypatch.setattr(reproduce, "summarise_runs", lambda metrics: pd.DataFrame())
    monkeypatch.setattr(reproduce, "standard_markdown", lambda experiment, df: "tables\n")
    monkeypatch.setattr(reproduce, "copy_run_figures", lambda *args: None)
    monkeypatch.setattr(plotting, "results_chart", lambda *args: None)
    assert reproduce.main([str(path), "--summary-only", *flags]) == 0
    text = (tmp_path / "runs" / "summary" / "grid" / "results.md").read_text()
    assert text == "tables\n" + (f"\nThese tables hold the runs that the command asked for, not the experiment file's "
                                 f"grid: {part}.\n" if part else "")


def test_a_summary_of_some_detectors_lacks_no_control_that_was_not_asked_for_and_has_not_run(tmp_path, capsys):
    path = tiny_experiment(tmp_path, detectors=["arma", "random", "abs_z"])
    assert reproduce.main([str(path), "--detectors", "arma", "--seeds", "1", "--summary-dir", str(tmp_path / "s")]) == 0
    assert "has not run" not in capsys.readouterr().out
    assert "Not in these tables" not in (tmp_path / "s" / "results.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM to the grid", "Ctrl-C to the process group"])
def test_an_interrupted_grid_stops_its_running_workers_at_once(tmp_path, how):
    """Runs far too long to finish are interrupted while both workers train: the grid exits with one line
    (143 or 130), no traceback from it or a worker, and its workers end with it. It once waited for the
    running runs to finish (108 s in an audit), and a Ctrl-C printed a worker's traceback."""
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, "num_epochs_vae": 100_000}))
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"datasets": {"synth": str(tmp_path / "tiny.json")}, "detectors": ["vae_lstm"],
                                "seeds": 2, "output_dir": str(tmp_path / "runs")}))
    out_file, err_file = open(tmp_path / "out.txt", "w"), open(tmp_path / "err.txt", "w")  # no pipe to fill
    grid = subprocess.Popen([sys.executable, str(REPO_ROOT / "codes" / "reproduce.py"), str(path), "--workers", "2",
                             "--threads", "1", "--no-summary"], stdout=out_file, stderr=err_file,
                            start_new_session=True, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 240
        while len(list((tmp_path / "runs").rglob("vae_log.csv"))) < 2:  # both runs are past their first epoch
            assert grid.poll() is None, (tmp_path / "err.txt").read_text()
            assert time.monotonic() < deadline, "the runs never started training"
            time.sleep(0.5)
        workers = subprocess.run(["pgrep", "-P", str(grid.pid), "-f", "spawn_main"], capture_output=True,
                                 text=True).stdout.split()
        assert len(workers) == 2
        if how.startswith("SIGTERM"):
            grid.send_signal(signal.SIGTERM)
        else:
            os.killpg(grid.pid, signal.SIGINT)
        grid.wait(timeout=120)  # a run of 100,000 epochs would take hours
    finally:
        if grid.poll() is None:
            os.killpg(grid.pid, signal.SIGKILL)
        out_file.close(), err_file.close()
    out, err = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert grid.returncode == (143 if how.startswith("SIGTERM") else 130), err
    assert "Traceback" not in out + err and err.count("interrupted:") == 1, err
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived the grid"
        time.sleep(0.5)


def alive(pid: str) -> bool:
    """A process that exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def default_sigint() -> None:
    """In the child before it starts: Ctrl-C as in a terminal. A job started in the background by a
    non-interactive shell (as CI may run the tests) inherits SIGINT ignored, and would never see it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_an_experiment_file_in_latin1_or_with_a_bom_and_a_bad_label_or_override(tmp_path):
    """Each was a traceback, a late failure after every run, or a line blaming the dataset's config."""
    path = tiny_experiment(tmp_path)
    values = json.loads(path.read_text())
    path.write_bytes(json.dumps({**values, "description": "cafe"}).encode().replace(b"cafe", b"caf\xe9"))
    with pytest.raises(ConfigError, match="grid.json: not UTF-8 text"):
        load_experiment(path)
    path.write_text(json.dumps(values), encoding="utf-8-sig")  # a BOM, as config files accept
    assert load_experiment(path).name == "grid"
    path.write_text(json.dumps({**values, "datasets": {"a/b": values["datasets"]["synth"]}}))
    with pytest.raises(ConfigError, match="the label 'a/b' must be"):
        load_experiment(path)
    # detections_NAB.png and detections_nab.png are one file where names ignore case (macOS, Windows): one label's
    # figure was silently the other's
    path.write_text(json.dumps({**values, "datasets": {"NAB": values["datasets"]["synth"],
                                                      "nab": values["datasets"]["synth"]}}))
    with pytest.raises(ConfigError, match="the labels 'NAB' and 'nab' differ only in case"):
        load_experiment(path)
    path.write_text(json.dumps({**values, "overrides": {"*": {"l_wn": 3}}}))
    with pytest.raises(ConfigError, match=r"the experiment file's overrides\.\*: unknown key 'l_wn'"):
        load_experiment(path).config("synth", "abs_z", 0)
    # a misspelt key of one detector's overrides, whose "did you mean" names a key that "*" sets: its own section
    path.write_text(json.dumps({**values, "overrides": {"*": {"num_epochs_vae": 1}, "abs_z": {"num_epochs": 1}}}))
    with pytest.raises(ConfigError, match=r"the experiment file's overrides\.abs_z: unknown key 'num_epochs'"):
        load_experiment(path).config("synth", "abs_z", 0)
    path.write_text(json.dumps({**values, "overrides": {"abs_z": {"threshold_rule": "fixed"}}}))
    with pytest.raises(ConfigError, match="the experiment file's overrides: key 'threshold_value' must be"):
        load_experiment(path).config("synth", "abs_z", 0)


def test_an_override_that_leaves_too_few_training_sequences_is_the_experiment_files_line_before_any_run(tmp_path):
    """Windows of an override that fit the training block, but leave it too few sequences to split (9 of 1992
    points in its 2000: 8 to train on, 1 to validate on), failed each of that detector's runs after the grid had
    trained the others, each line blaming the dataset's config file (tiny.json: ...), which passes alone."""
    path = tiny_experiment(tmp_path, detectors=["random", "abs_z"],
                           overrides={"abs_z": {"l_win": 996, "l_seq": 2}})
    with pytest.raises(UserError) as refused:
        reproduce.main([str(path), "--seeds", "1"])
    assert str(refused.value) == (
        "experiment grid, dataset 'synth' with detector 'abs_z': the experiment file's overrides: sequences of "
        "l_win * l_seq = 1992 points leave 9 sequences in the 2000-point training block of 'synthetic': 8 to train "
        "on and 1 to validate on (val_fraction 0.1); at least 2 of each are needed: make l_win smaller")
    assert not (tmp_path / "runs").exists()  # before any run, the random control's too


def test_two_experiment_files_of_one_name_never_replace_each_others_summary(tmp_path):
    from vae_lstm.errors import UserError

    (tmp_path / "a").mkdir()
    first = tiny_experiment(tmp_path / "a")
    (tmp_path / "b").mkdir()
    second = tmp_path / "b" / "grid.json"
    second.write_text(json.dumps({**json.loads(first.read_text()), "detectors": ["random", "abs_z"]}))
    assert reproduce.main([str(first), "--detectors", "abs_z", "--seeds", "1"]) == 0
    summary = tmp_path / "a" / "runs" / "summary" / "grid" / "results.md"
    kept = summary.read_text()
    with pytest.raises(UserError, match="holds the summary of another experiment file"):
        reproduce.main([str(second), "--seeds", "1"])
    assert summary.read_text() == kept
    assert not list((tmp_path / "a" / "runs").rglob("*random*"))  # refused before any run, not after the grid
    with pytest.raises(UserError, match="holds the summary of another experiment file"):  # a folder given likewise
        reproduce.main([str(second), "--seeds", "1", "--summary-dir", str(summary.parent)])
    assert summary.read_text() == kept and not list((tmp_path / "a" / "runs").rglob("*random*"))


def test_an_owner_file_written_before_utf8_in_the_locales_encoding_still_claims_its_summary_folder(tmp_path,
                                                                                                  monkeypatch):
    """.experiment was written in the locale's encoding (Windows-1252 on Windows) before written files were UTF-8; read
    as UTF-8 only, the name of a file in a folder such as 'Données' failed to decode, was taken as no owner, and
    another experiment file of the same name replaced that folder's tables without a word."""
    import locale
    from types import SimpleNamespace

    theirs, mine, summary = tmp_path / "Données" / "grid.json", tmp_path / "b" / "grid.json", tmp_path / "summary"
    for path in (theirs, mine):
        path.parent.mkdir()
        path.write_text("{}")
    summary.mkdir()
    (summary / reproduce.SUMMARY_OWNER).write_bytes((os.path.relpath(theirs, summary) + "\n").encode("cp1252"))
    monkeypatch.setattr(locale, "getpreferredencoding", lambda do_setlocale=True: "cp1252")
    with pytest.raises(UserError, match="holds the summary of another experiment file"):
        reproduce.summary_owner(SimpleNamespace(path=mine), summary)
    assert reproduce.summary_owner(SimpleNamespace(path=theirs), summary) == theirs.resolve()


def test_a_part_of_a_shipped_grid_is_refused_another_files_summary_folder_before_any_run(tmp_path, monkeypatch):
    """A part of the grid of the experiment file in configs/experiments/ (--detectors) has its summary beside the
    runs, known before the grid: another file's summary there was refused only after the grid had run."""
    from vae_lstm.errors import UserError

    (tmp_path / "a").mkdir()
    shipped = tiny_experiment(tmp_path / "a")
    (tmp_path / "b").mkdir()
    other = tmp_path / "b" / "grid.json"
    other.write_text(shipped.read_text())  # the same name and output_dir
    assert reproduce.main([str(other), "--detectors", "abs_z", "--seeds", "1"]) == 0
    monkeypatch.setattr(reproduce, "EXPERIMENT_DIR", tmp_path / "a")
    with pytest.raises(UserError, match="holds the summary of another experiment file"):
        reproduce.main([str(shipped), "--detectors", "abs_z", "--seed", "1"])
    assert list((tmp_path / "a" / "runs").rglob("*seed0")) and not list((tmp_path / "a" / "runs").rglob("*seed1"))


def test_an_output_dir_argument_padded_with_a_space_is_named_as_the_argument(tmp_path):
    """It was refused as "synthetic_config.json: key 'output_dir' = ...": a key that file does not set."""
    from vae_lstm.errors import UserError

    path = tiny_experiment(tmp_path)
    with pytest.raises(UserError) as info:
        reproduce.main([str(path), "--output-dir", str(tmp_path / "runs ")])
    assert str(info.value).startswith(f'--output-dir = "{tmp_path / "runs "}" is invalid: a folder name must not be blank')
    assert not (tmp_path / "runs ").exists()


def test_an_output_or_summary_folder_that_is_a_file_or_read_only_stops_before_any_run(tmp_path, monkeypatch):
    """A read-only --summary-dir was told to "choose another output_dir", which would not move the summary."""
    from vae_lstm import config
    from vae_lstm.errors import UserError

    path = tiny_experiment(tmp_path)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="--summary-dir: cannot make folder .*afile is a file, not a folder"):
        reproduce.main([str(path), "--summary-dir", str(tmp_path / "afile")])
    with pytest.raises(UserError, match="output_dir"):
        reproduce.main([str(path), "--output-dir", str(tmp_path / "afile")])
    assert not (tmp_path / "runs").exists()

    def read_only(**kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(config.tempfile, "TemporaryFile", read_only)
    with pytest.raises(UserError, match=f"^--summary-dir: cannot write in {tmp_path} \\(Permission denied\\): choose "
                                        "another --summary-dir or make it writable "):
        reproduce.main([str(path), "--summary-dir", str(tmp_path / "sum")])


def test_a_summary_folders_claim_follows_a_moved_file_and_never_lands_in_figures(tmp_path, monkeypatch):
    """The claim (.experiment) held an absolute path: a relative --summary-dir figures/<name> wrote one into the
    committed tables, and a moved experiment file (or another clone) was refused its own summary folder."""
    monkeypatch.setattr(reproduce, "FIGURES", tmp_path / "figures")
    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1)
    assert reproduce.main([str(path), "--no-summary"]) == 0
    monkeypatch.chdir(tmp_path)
    assert reproduce.main([str(path), "--summary-only", "--summary-dir", "figures/grid"]) == 0
    assert (tmp_path / "figures" / "grid" / "results.md").is_file()
    assert not (tmp_path / "figures" / "grid" / ".experiment").exists()
    assert reproduce.main([str(path), "--summary-only", "--summary-dir", "s"]) == 0
    assert (tmp_path / "s" / ".experiment").read_text().strip() == "../grid.json"
    (tmp_path / "moved").mkdir()
    moved = path.rename(tmp_path / "moved" / "grid.json")
    assert reproduce.main([str(moved), "--summary-only", "--summary-dir", "s"]) == 0
    assert (tmp_path / "s" / ".experiment").read_text().strip() == "../moved/grid.json"


def test_a_damaged_checkpoint_in_a_grid_names_the_grids_command(tmp_path):
    """A grid run's damaged checkpoint (its previous copy damaged too) said to run train.py with the dataset's
    config, which trains a run folder of that config, not the grid's. It names the reproduce.py command of the
    job, which then trains the run again in its own folder."""
    import shlex
    import shutil

    from vae_lstm.errors import UserError

    path = tiny_experiment(tmp_path, detectors=["vae_lstm"], seeds=1)
    assert reproduce.main([str(path)]) == 0
    run = next((tmp_path / "runs").rglob("vae.keras")).parent
    shutil.copyfile(run / "lstm.keras", run / "lstm.prev.keras")
    for name in ("lstm.keras", "lstm.prev.keras"):
        (run / name).write_bytes((run / name).read_bytes()[:100])
    (run / "detection" / "metrics.json").unlink()
    with pytest.raises(UserError) as failed:
        reproduce.main([str(path)])
    message = str(failed.value)
    assert "codes/train.py" not in message and "move lstm.keras and lstm.prev.keras away and run" in message
    command = message.split(" away and run '")[1].split("'")[0]
    assert command == (f"python3 codes/reproduce.py {path} --series synth --detectors vae_lstm --seed 0 "
                       f"--output-dir {tmp_path / 'runs'}")
    for name in ("lstm.keras", "lstm.prev.keras"):
        (run / name).rename(run / f"{name}.damaged")
    assert reproduce.main(shlex.split(command)[2:]) == 0
    assert (run / "lstm.keras").is_file() and (run / "detection" / "metrics.json").is_file()


def test_a_finished_run_is_scored_again_when_its_test_labels_change(tmp_path, capsys):
    """Labels may be added to a trained run (the training block is given): the grid scored it again only for other
    detection keys, so its summary kept the metrics of the run's first scoring, without labels."""
    import pandas as pd

    t = np.arange(800)
    values = np.sin(2 * np.pi * t / 24)
    values[600:610] += 3
    rows = "value,anomaly\n" + "".join(f"{v:.6f},{int(600 <= i < 610)}\n" for i, v in enumerate(values))
    (tmp_path / "series.csv").write_text(rows)
    dataset = {"path": str(tmp_path / "series.csv"), "train_points": 400, "value_columns": ["value"]}
    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1)
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, "dataset": dataset}))
    assert reproduce.main([str(path)]) == 0
    results = tmp_path / "runs" / "summary" / "grid" / "results.csv"
    assert not pd.read_csv(results).labelled.any()

    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, "dataset": {**dataset, "labels": {"column": "anomaly"}}}))
    capsys.readouterr()
    with pytest.raises(reproduce.UserError, match="no finished run to summarise"):
        reproduce.main([str(path), "--summary-only"])  # the old metrics are left out, not shown as these labels'
    assert "its metrics.json is from other test data or labels" in capsys.readouterr().out
    assert reproduce.main([str(path)]) == 0
    rows = pd.read_csv(results)
    assert rows.labelled.all() and rows.vus_pr.notna().all()


def test_a_dataset_configs_own_output_dir_that_the_grid_does_not_use_is_noted(tmp_path, capsys):
    """A user's config with its own output_dir, run by an experiment file: its runs go under the experiment's
    output_dir, which was not said anywhere."""
    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1, overrides={})
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, "output_dir": str(tmp_path / "mine")}))
    assert reproduce.main([str(path), "--no-summary"]) == 0
    assert (f"note: grid.json: tiny.json's output_dir ({tmp_path / 'mine'}) is not used: the experiment's runs go "
            f"under {tmp_path / 'runs'} (the experiment file's output_dir, or --output-dir)") in capsys.readouterr().out
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, "output_dir": str(tmp_path / "runs")}))
    assert reproduce.main([str(path), "--no-summary"]) == 0
    assert "output_dir" not in capsys.readouterr().out


def test_a_dataset_configs_own_load_dir_and_load_model_0_that_the_grid_does_not_use_are_noted(tmp_path, capsys):
    """A dataset config with load_dir (a run folder to resume) or load_model 0 (a new run folder), run by an
    experiment file: every job trains in its own folder and resumes, and neither key's being set aside was said."""
    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1, overrides={})
    own = tmp_path / "mine"
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, "load_dir": str(own), "load_model": 0}))
    assert reproduce.main([str(path), "--no-summary"]) == 0
    out = capsys.readouterr().out
    assert (f"note: grid.json: tiny.json's load_dir ({own}) is not used: each of the experiment's runs trains in its "
            f"own folder under {tmp_path / 'runs'}") in out
    assert "note: grid.json: tiny.json's load_model 0 is not used: the experiment's runs always resume" in out
    assert not own.exists()
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, "load_dir": "default", "load_model": 1}))
    assert reproduce.main([str(path), "--no-summary"]) == 0
    out = capsys.readouterr().out
    assert "load_dir" not in out and "load_model" not in out


@pytest.mark.parametrize("overrides, message", [
    ({"abs_z": {"l_win": 2048}}, r"^experiment grid, dataset 'synth' with detector 'abs_z': the experiment file's "
                                 r"overrides\.abs_z: key 'l_win' = 2048 is longer than the training data of 'synthetic' "
                                 r"\(2000 points\): make l_win smaller$"),
    ({"*": {"n_channel": 3}}, r"^experiment grid, dataset 'synth' with detector 'vae_lstm': the experiment file's "
                              r"overrides\.\*: key 'n_channel' = 3 but dataset 'synthetic' has 1 channel"),
    ({"*": {"window_stride": 2}}, r"^experiment grid, dataset 'synth' with detector 'vae_lstm': the experiment file's "
                                  r"overrides\.\*: key 'window_stride' = 2 applies to segment datasets only"),
])
def test_an_override_that_does_not_fit_the_data_names_the_override_before_any_run(tmp_path, overrides, message):
    """An override whose windows or channels do not fit the data was blamed on the dataset's config file (whose own
    values fit) and, for any detector but the file's first, failed its runs only after the runs before them."""
    path = tiny_experiment(tmp_path, overrides=overrides, detectors=["vae_lstm", "abs_z"])
    with pytest.raises(UserError, match=message):
        reproduce.main([str(path), "--no-summary"])
    assert not (tmp_path / "runs").exists()


def test_the_table1_layout_of_an_unlabelled_dataset_stops_before_any_run(tmp_path):
    """summary "table1" (an own copy of table1.json with the KLSE series, say) ran every run of a dataset without
    labels, then stopped with a traceback (AttributeError: no 'oracle_pa_f1'): its tables are of metrics that need
    labels. It is one line naming the dataset and the layout that fits, before any run, also under --summary-only."""
    unlabelled_dataset(tmp_path)
    path = tmp_path / "t1.json"
    path.write_text(json.dumps({"datasets": {"prices": "u.json"}, "detectors": ["abs_z", "random"], "seeds": 1,
                                "output_dir": str(tmp_path / "runs"), "summary": "table1"}))
    message = (r"experiment t1, dataset 'prices' has no labels, and summary \"table1\" reports metrics that need "
               r"them; set \"summary\": \"standard\"")
    with pytest.raises(UserError, match=message):
        reproduce.main([str(path)])
    assert not (tmp_path / "runs").exists()
    path.write_text(path.read_text().replace('"table1"', '"standard"'))
    assert reproduce.main([str(path)]) == 0  # the layout for it: the share of test points each rule flags
    assert "No labels" in (tmp_path / "runs" / "summary" / "t1" / "results.md").read_text()
    path.write_text(path.read_text().replace('"standard"', '"table1"'))
    with pytest.raises(UserError, match=message):
        reproduce.main([str(path), "--summary-only"])


def test_a_run_that_fills_the_disk_is_one_line_without_a_traceback(monkeypatch, capsys):
    """A full disk or a folder that cannot be written (an OSError) is no bug: train.py and detect.py say it in
    one line, and a grid's run printed a traceback through the package for it and named it 'OSError: [Errno 28]
    ...'. It is now the line the commands give: the file, and why."""
    import errno

    from vae_lstm import grid
    from vae_lstm.errors import UserError
    from vae_lstm.experiment import Job

    def run_job(job, threads=None):
        if job.seed == 0:
            raise OSError(errno.ENOSPC, "No space left on device", "/runs/r/detection/flagged_ranges.csv.tmp")
        return {"seed": job.seed}

    monkeypatch.setattr(grid, "run_job", run_job)
    jobs = [Job("x.json", "synth", "abs_z", seed) for seed in (0, 1)]
    with pytest.raises(UserError) as failed:
        grid.run_grid(jobs)
    assert str(failed.value) == ("1 of 2 runs failed: synth abs_z seed 0: /runs/r/detection/flagged_ranges.csv.tmp: "
                                 "No space left on device")
    assert "Traceback" not in capsys.readouterr().err


def test_an_experiment_without_the_controls_runs_and_reports_them_anyway(tmp_path, capsys):
    """An experiment file that listed no control got tables without random and abs_z, whose legend still said
    "random and abs_z are controls"; every table shows the controls, so the grid adds them, with a note."""
    path = tiny_experiment(tmp_path, detectors=["arma"])
    experiment = load_experiment(path)
    assert experiment.detectors == ["arma", "random", "abs_z"] and experiment.added_controls == ["random", "abs_z"]
    assert reproduce.main([str(path), "--seeds", "1", "--summary-dir", str(tmp_path / "sum")]) == 0
    out = capsys.readouterr().out
    assert "note: grid.json lists no random or abs_z: they are added to its detectors (every table shows the " \
        "controls)" in out
    table = (tmp_path / "sum" / "results.md").read_text()
    assert "| synth | random | 1 |" in table and "| synth | abs_z | 1 |" in table
    (tmp_path / "one").mkdir()
    one = tiny_experiment(tmp_path / "one", detectors=["arma", "abs_z"])
    with pytest.raises(UserError, match="no finished run"):  # none has run: the note is all it gives
        reproduce.main([str(one), "--summary-only", "--summary-dir", str(tmp_path / "sum1")])
    assert "note: grid.json lists no random: it is added to its detectors" in capsys.readouterr().out


def test_an_ensemble_refused_leaves_no_earlier_ensemble_beside_the_new_tables(tmp_path, capsys):
    """--summary-only --ensemble with one seed left of two: the ensemble is refused, and the ensemble.md of both
    seeds that an earlier summary wrote stayed beside the new tables, read as the ensemble of these runs."""
    import shutil

    path = tiny_experiment(tmp_path, detectors=["abs_z", "random"])
    assert reproduce.main([str(path), "--summary-dir", str(tmp_path / "sum"), "--ensemble"]) == 0
    assert "abs_z, ensemble of 2" in (tmp_path / "sum" / "ensemble.md").read_text()
    [gone] = [p for p in (tmp_path / "runs").rglob("*abs_z*seed1") if p.is_dir()]
    shutil.rmtree(gone)
    capsys.readouterr()
    with pytest.raises(UserError, match="an ensemble needs two finished seeds of abs_z"):
        reproduce.main([str(path), "--summary-only", "--summary-dir", str(tmp_path / "sum"), "--ensemble"])
    assert not (tmp_path / "sum" / "ensemble.md").exists() and not (tmp_path / "sum" / "ensemble.csv").exists()
    out = capsys.readouterr().out
    assert f"removed the ensemble of an earlier summary from {tmp_path / 'sum'}\n" in out


def test_an_ensemble_stopped_with_ctrl_c_leaves_no_earlier_ensemble_beside_the_new_tables(tmp_path, monkeypatch,
                                                                                          capsys):
    """Ctrl-C while the ensemble scores its runs again (a minute on table1), after the new tables are written: the
    earlier summary's ensemble.md stayed beside them (only an Exception removed it), read as the ensemble of these."""
    from vae_lstm import ensemble

    path = tiny_experiment(tmp_path, detectors=["abs_z", "random"])
    assert reproduce.main([str(path), "--summary-dir", str(tmp_path / "sum"), "--ensemble"]) == 0
    assert (tmp_path / "sum" / "ensemble.md").is_file()

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(ensemble, "seed_ensemble", interrupted)
    capsys.readouterr()
    with pytest.raises(KeyboardInterrupt):
        reproduce.main([str(path), "--summary-only", "--summary-dir", str(tmp_path / "sum"), "--ensemble"])
    assert not (tmp_path / "sum" / "ensemble.md").exists() and not (tmp_path / "sum" / "ensemble.csv").exists()
    assert f"removed the ensemble of an earlier summary from {tmp_path / 'sum'}\n" in capsys.readouterr().out


@pytest.mark.parametrize("first, keys", [("vae_lstm", {"point_score": "max_sequence"}), ("lstm_ae", {})])
def test_an_ensemble_of_a_first_detector_that_spreads_its_scores_stops_before_any_run(tmp_path, first, keys):
    """An ensemble averages point scores; a first detector that spreads each sequence's or window's score over its
    points was refused only once every run had trained and been scored."""
    from vae_lstm.errors import UserError

    path = tiny_experiment(tmp_path, detectors=[first, "abs_z"])
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, **keys}))
    with pytest.raises(UserError, match=f"--ensemble averages one score per point, and {first}, the experiment's "
                                        "first detector, spreads each of its scores over"):
        reproduce.main([str(path), "--seeds", "2", "--ensemble"])
    assert not (tmp_path / "runs").exists()


def fake_ray(monkeypatch, raised, init=lambda **kwargs: None):
    """Ray's calls as ``grid.on_ray`` makes them, without a Ray instance: each task's ref is its job, run at once, and
    ray.get raises what Ray raises for it (``raised(job)``: an exception, or None for its metrics)."""
    ray = pytest.importorskip("ray") if os.environ.get("CI") != "true" else __import__("ray")

    class Task:
        def remote(self, job, threads):
            return job

    def get(job):
        if (error := raised(job)) is not None:
            raise error
        return {"seed": job.seed}

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "remote", lambda **options: lambda function: Task())
    monkeypatch.setattr(ray, "wait", lambda refs, num_returns: (refs[:1], refs[1:]))
    monkeypatch.setattr(ray, "get", get)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    return ray


def test_a_failed_ray_task_is_one_line_of_its_own_error_as_in_local_workers(monkeypatch, capsys):
    """Ray raises a task's error wrapped in a RayTaskError, whose text is the task's traceback (colour codes and
    all): a run refused with a UserError was reported as that traceback on one line. A task whose worker died
    after its retry printed the runner's own traceback, where a local worker's death is one line. A bug in a task
    still prints the task's traceback on stderr."""
    from ray.exceptions import RayTaskError, WorkerCrashedError

    from vae_lstm import grid
    from vae_lstm.experiment import Job

    def in_task(error, where):
        return RayTaskError("run_job", f"Traceback (most recent call last):\n  File \"{where}\"\n{error!r}", error,
                            proctitle="ray::run_job()", pid=7, ip="10.0.0.1").as_instanceof_cause()

    def raised(job):
        return {0: in_task(UserError("/runs/a was made with other values of l_win"), "runs.py"),
                1: WorkerCrashedError(), 2: in_task(KeyError("boom"), "scoring.py")}.get(job.seed)

    fake_ray(monkeypatch, raised)
    jobs = [Job("x.json", "synth", "abs_z", seed) for seed in (0, 1, 2, 3)]
    with pytest.raises(UserError) as failed:
        grid.run_grid(jobs, ray_address="local")
    assert str(failed.value) == (
        "3 of 4 runs failed: synth abs_z seed 0: /runs/a was made with other values of l_win; synth abs_z seed 1: "
        "WorkerCrashedError: The worker died unexpectedly while executing this task. Check python-core-worker-*.log "
        "files for more information.; synth abs_z seed 2: KeyError: 'boom'")
    err = capsys.readouterr().err
    assert 'File "scoring.py"' in err and "runs.py" not in err and "Traceback" not in err  # the runner's own


TRACKER_SCRIPT = """
import os, signal, time
from multiprocessing import resource_tracker
from vae_lstm import grid

signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as a shell leaves it, whatever this test's parent did (nohup)
grid.start_resource_tracker()
pid = resource_tracker._resource_tracker._pid
os.kill(pid, signal.SIGHUP)
time.sleep(0.5)
print("alive" if os.waitpid(pid, os.WNOHANG) == (0, 0) else "killed")
"""


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGHUP"), reason="no SIGHUP on this platform")
def test_the_workers_resource_tracker_outlives_a_sighup():
    """A closed terminal sends SIGHUP to the grid's whole process group: it killed multiprocessing's resource
    tracker (which blocks SIGINT and SIGTERM only), and the grid's next call started a new one, which printed a
    "KeyError: '/loky-...'" traceback for each of the first one's semaphores as the grid stopped."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", TRACKER_SCRIPT], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "codes")})
    assert (done.stdout, done.returncode) == ("alive\n", 0), done


def test_a_sigterm_to_a_grid_on_ray_is_run_clis_one_line_and_143(monkeypatch, capsys):
    """ray.init puts in its own SIGTERM handler (sys.exit, and Ray's stack dump): a SIGTERM to a grid on Ray exited 1
    with that dump, not with the line that says how to resume; one while ray.init ran exited 15 without a line."""
    import signal
    import sys

    from vae_lstm import grid
    from vae_lstm.errors import run_cli
    from vae_lstm.experiment import Job

    def init(**kwargs):  # as ray.init does
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))

    def raised(job):
        os.kill(os.getpid(), signal.SIGTERM)  # while the first run goes on

    fake_ray(monkeypatch, raised, init)
    jobs = [Job("x.json", "synth", "abs_z", seed) for seed in (0, 1)]
    assert run_cli(lambda argv: grid.run_grid(jobs, ray_address="local"), resume="run it again") == 143
    assert capsys.readouterr().err == "interrupted: run it again\n"

    def starting(**kwargs):  # while Ray starts (half a minute on a busy machine), its handler already in place
        init()
        os.kill(os.getpid(), signal.SIGTERM)

    fake_ray(monkeypatch, lambda job: None, starting)
    assert run_cli(lambda argv: grid.run_grid(jobs, ray_address="local"), resume="run it again") == 143
    assert capsys.readouterr().err == "interrupted: run it again\n"



def test_a_local_ray_has_the_cpus_that_threads_asks_for_each_task(monkeypatch):
    """A task asks for --threads CPUs, and the local Ray instance had the machine's: with more threads than cores
    no task could ever start, and the grid waited without a word."""
    from vae_lstm import grid
    from vae_lstm.experiment import Job

    asked = {}
    fake_ray(monkeypatch, lambda job: None, init=lambda **kwargs: asked.update(kwargs))
    threads = (os.cpu_count() or 1) + 1
    assert list(grid.on_ray([Job("x.json", "synth", "abs_z", 0)], "local", 1, threads))
    assert asked["num_cpus"] == threads


def test_a_ray_worker_is_replaced_after_as_many_runs_as_a_local_one(monkeypatch):
    """TensorFlow keeps memory across the models a process builds, so a local worker is replaced after
    JOBS_PER_WORKER runs; Ray reuses a worker process for every task unless told otherwise (max_calls), so on
    Ray one worker ran a whole grid and its memory grew with it."""
    from vae_lstm import grid
    from vae_lstm.experiment import Job

    ray = fake_ray(monkeypatch, lambda job: None)
    options = {}
    task = ray.remote

    def remote(**given):
        options.update(given)
        return task(**given)

    monkeypatch.setattr(ray, "remote", remote)
    assert list(grid.on_ray([Job("x.json", "synth", "abs_z", 0)], "local", 1))
    assert options["max_calls"] == grid.JOBS_PER_WORKER and options["max_retries"] == grid.RAY_RETRIES


def test_ray_local_starts_a_local_instance_even_where_ray_address_names_a_cluster(monkeypatch):
    """ray.init() without an address joins the cluster that $RAY_ADDRESS names (as on a cluster node, or in a Ray
    job): --ray local then stopped with Ray's "When connecting to an existing cluster, num_cpus ... must not be
    provided" and the advice to use 'local'. Ray's own address "local" starts a local instance whatever it says."""
    from vae_lstm import grid
    from vae_lstm.experiment import Job

    asked = {}
    fake_ray(monkeypatch, lambda job: None, init=lambda **kwargs: asked.update(kwargs))
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert list(grid.on_ray([Job("x.json", "synth", "abs_z", 0)], "local", 1))
    assert asked["address"] == "local"


def test_ray_tasks_get_every_variable_that_the_runs_data_and_folders_name(monkeypatch, tmp_path):
    """A Ray task reads its data and run folder as the runner does: the data-source variables were forwarded, but not a
    variable that an experiment's own dataset (a CSV path "${MY_DATA}/x.csv") or its output_dir names, so a task on a
    remote node stopped with "the environment variable MY_DATA is not set", or read another folder of that name."""
    from vae_lstm import grid
    from vae_lstm.experiment import Job

    asked = {}
    fake_ray(monkeypatch, lambda job: None, init=lambda **kwargs: asked.update(kwargs))
    for name, value in (("MY_DATA", "/data/mine"), ("MY_RUNS", "/scratch/runs"), ("UNRELATED", "x"),
                        ("NAB_DATA_DIR", "/data/nab")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KLSE_DATA_DIR", raising=False)
    values = json.dumps({"output_dir": "${MY_RUNS}/grid", "seeds": 1})
    configs = json.dumps({"mine": ["mine.json", {"dataset": {"path": " ${MY_DATA}/x.csv", "labels": "${NOT_SET}/y"},
                                                 "l_win": 24}]})
    assert list(grid.on_ray([Job("x.json", "mine", "abs_z", 0, values=values, configs=configs)], "ray://h:10001", 1, 1))
    forwarded = asked["runtime_env"]["env_vars"]
    assert {k: forwarded.get(k) for k in ("MY_DATA", "MY_RUNS", "NAB_DATA_DIR", "UNRELATED", "NOT_SET", "KLSE_DATA_DIR")} \
        == {"MY_DATA": "/data/mine", "MY_RUNS": "/scratch/runs", "NAB_DATA_DIR": "/data/nab", "UNRELATED": None,
            "NOT_SET": None, "KLSE_DATA_DIR": None}
    # a folder relative to the runner's working folder, or "~": a task's working folder is another (a remote node's
    # Ray session folder), so it read no data, or another folder of that name; it gets the folder the runner reads
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MY_DATA", "data/mine")
    monkeypatch.setenv("NAB_DATA_DIR", "~/nab")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    assert list(grid.on_ray([Job("x.json", "mine", "abs_z", 0, values=values, configs=configs)], "ray://h:10001", 1, 1))
    forwarded = asked["runtime_env"]["env_vars"]
    assert (forwarded["MY_DATA"], forwarded["NAB_DATA_DIR"], forwarded["TF_CPP_MIN_LOG_LEVEL"]) == (
        str(tmp_path / "data" / "mine"), str(tmp_path / "home" / "nab"), "3")


def test_a_ray_cluster_with_no_node_of_the_cpus_a_task_asks_for_is_noted(monkeypatch, capsys):
    """A task asks for --threads CPUs, by default the runner's own cores: on a cluster of smaller nodes (or with
    --threads above every node's count) Ray can place no task, and the grid waited for ever without a word of why."""
    from vae_lstm import grid
    from vae_lstm.experiment import Job

    ray = fake_ray(monkeypatch, lambda job: None)
    nodes = [{"Alive": True, "Resources": {"CPU": 4.0}}, {"Alive": False, "Resources": {"CPU": 16.0}},
             {"Alive": True, "Resources": {"CPU": 2.0, "GPU": 1.0}}]
    monkeypatch.setattr(ray, "nodes", lambda: nodes, raising=False)
    jobs = [Job("x.json", "synth", "abs_z", 0)]
    assert list(grid.on_ray(jobs, "auto", 1, 8))
    assert capsys.readouterr().out == (
        "note: each Ray task asks for 8 CPUs (--threads; by default this machine's usable cores over --workers), and "
        "no node of the cluster at auto has that many (the most: 4): the runs wait until one joins; pass --threads 4 "
        "or fewer to run them on these nodes\n")
    assert list(grid.on_ray(jobs, "auto", 1, 4)) and capsys.readouterr().out == ""  # a node fits


def test_a_grid_of_fewer_runs_than_workers_starts_a_process_per_run_at_most(tmp_path, monkeypatch, capsys):
    """--workers 4 for one run started four worker processes (three idle) and gave the run a quarter of the cores."""
    from vae_lstm import grid

    path = tiny_experiment(tmp_path, detectors=["abs_z", "random"])

    def no_processes(*args, **kwargs):
        raise AssertionError("worker processes started for one run")

    monkeypatch.setattr(grid, "in_processes", no_processes)
    assert reproduce.main([str(path), "--detectors", "abs_z", "--seed", "0", "--workers", "4", "--no-summary"]) == 0
    assert "experiment grid: 1 runs, 1 worker process(es)" in capsys.readouterr().out


def test_more_threads_than_usable_cores_are_run_with_a_note(tmp_path, monkeypatch, capsys):
    """--threads 8 on 2 usable cores ran 8 threads on them without a word (the runs then wait on each other); it is
    no error, since a run's numbers do not depend on its threads, and a Ray task may ask for a node's larger count."""
    from vae_lstm import grid, threads

    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(grid, "usable_cores", lambda: 2)
    path = tiny_experiment(tmp_path, detectors=["abs_z", "random"])
    assert reproduce.main([str(path), "--detectors", "abs_z", "--seed", "0", "--threads", "8", "--no-summary"]) == 0
    assert ("note: 1 worker process(es) of 8 thread(s) each make 8 threads on 2 usable cores: they wait on each "
            "other (a run's numbers do not depend on its threads)\n") in capsys.readouterr().out
    assert reproduce.main([str(path), "--detectors", "abs_z", "--seed", "1", "--threads", "2", "--no-summary"]) == 0
    assert "usable cores" not in capsys.readouterr().out


def test_a_run_whose_worker_process_died_is_one_line_that_says_so(tmp_path, monkeypatch):
    """A killed worker (the system's out-of-memory killer, say) read "BrokenProcessPool: A process in the process pool
    was terminated abruptly while the future was running or pending."."""
    from concurrent.futures.process import BrokenProcessPool

    from vae_lstm import grid

    path = tiny_experiment(tmp_path, detectors=["abs_z", "random"])

    def dies(jobs, workers, threads=None):
        for job in jobs:
            yield job, BrokenProcessPool("A process in the process pool was terminated abruptly while the future "
                                         "was running or pending.")

    monkeypatch.setattr(grid, "in_processes", dies)
    with pytest.raises(UserError) as refused:
        reproduce.main([str(path), "--detectors", "abs_z", "--seeds", "2", "--workers", "2", "--no-summary"])
    assert str(refused.value) == (
        "2 of 2 runs failed: synth abs_z seed 0: its worker process ended abruptly (killed, for one, or out of memory); "
        "the same command resumes it; synth abs_z seed 1: its worker process ended abruptly (killed, for one, or out of "
        "memory); the same command resumes it")


def test_a_summary_leaves_no_figure_of_a_dataset_its_tables_do_not_hold(tmp_path, capsys):
    """detections_b.png of an earlier summary stayed beside tables that no longer held b (its runs moved away), and
    one whose run has no detections.png now stayed as that run's figure; both are removed, with a line."""
    from vae_lstm.experiment import Job

    (tmp_path / "b.json").write_text(json.dumps({**TINY, "l_win": 20}))
    path = tiny_experiment(tmp_path, datasets={"a": str(tmp_path / "tiny.json"), "b": str(tmp_path / "b.json")})
    experiment = load_experiment(path)
    for name in ("a", "b"):
        figure = experiment.run_dir(Job(str(path), name, "vae_lstm", 0)) / "detection" / "detections.png"
        figure.parent.mkdir(parents=True)
        figure.write_bytes(name.encode())
    summary = tmp_path / "summary"
    summary.mkdir()
    reproduce.copy_run_figures(experiment, {("a", "vae_lstm", 0): {}, ("b", "vae_lstm", 0): {}}, summary, "detections")
    assert (summary / "detections_a.png").read_bytes() == b"a" and (summary / "detections_b.png").read_bytes() == b"b"
    capsys.readouterr()
    (experiment.run_dir(Job(str(path), "a", "vae_lstm", 0)) / "detection" / "detections.png").unlink()
    reproduce.copy_run_figures(experiment, {("a", "vae_lstm", 0): {}}, summary, "detections")
    assert not (summary / "detections_a.png").exists() and not (summary / "detections_b.png").exists()
    assert capsys.readouterr().out == (f"removed detections_a.png, detections_b.png of an earlier summary from {summary}"
                                       ": these tables hold no such figure of their runs\n")
    # a dataset that the experiment file no longer lists (dropped, or its label renamed): its figure stayed
    (experiment.run_dir(Job(str(path), "a", "vae_lstm", 0)) / "detection" / "detections.png").write_bytes(b"a")
    (summary / "detections_old_label.png").write_bytes(b"old")
    (summary / "my_plot.png").write_bytes(b"mine")
    reproduce.copy_run_figures(experiment, {("a", "vae_lstm", 0): {}}, summary, "detections")
    assert sorted(p.name for p in summary.iterdir()) == ["detections_a.png", "my_plot.png"]
    assert capsys.readouterr().out == (f"removed detections_old_label.png of an earlier summary from {summary}: these "
                                       "tables hold no such figure of their runs\n")


def test_a_summary_is_refused_another_shipped_experiments_committed_folder(tmp_path, monkeypatch):
    """--summary-dir figures/klse for another experiment file wrote its results.md and results.csv over the committed
    klse tables (figures/ is claimed by no file), beside klse's own detections figures. figures/<name> holds the
    tables of configs/experiments/<name>.json alone; a folder of figures/ that names no experiment stays open."""
    figures, shipped = tmp_path / "figures", tmp_path / "experiments"
    (figures / "klse").mkdir(parents=True)
    (figures / "klse" / "results.md").write_text("klse's tables\n")
    shipped.mkdir()
    (shipped / "klse.json").write_text("{}")
    monkeypatch.setattr(reproduce, "FIGURES", figures)
    monkeypatch.setattr(reproduce, "EXPERIMENT_DIR", shipped)
    path = tiny_experiment(tmp_path, detectors=["abs_z"])
    assert reproduce.main([str(path), "--summary-dir", str(tmp_path / "own")]) == 0
    with pytest.raises(UserError) as refused:
        reproduce.main([str(path), "--summary-only", "--summary-dir", str(figures / "klse")])
    assert str(refused.value) == (f"{figures / 'klse'} holds the committed tables of {shipped / 'klse.json'}; pass "
                                  f"another --summary-dir for {path}'s")
    assert (figures / "klse" / "results.md").read_text() == "klse's tables\n"
    assert reproduce.main([str(path), "--summary-only", "--summary-dir", str(figures / "klse_rerun")]) == 0
    # a folder of figures/ that holds tables and names no experiment file (the committed table1_rerun), and figures/
    # itself (beside the committed detections_<series>.png), were written over without a word
    (figures / "table1_rerun").mkdir()
    (figures / "table1_rerun" / "results.md").write_text("the rerun's tables\n")
    experiment = load_experiment(path)

    def claim(folder):
        reproduce.check_summary_claim(experiment, reproduce.parse_args([str(path), "--summary-only", "--summary-dir",
                                                                        str(folder)]))

    with pytest.raises(UserError, match=f"^{figures / 'table1_rerun'} holds committed tables \\(its results.md\\) "
                                        "of no experiment file of that name; pass another --summary-dir for "):
        claim(figures / "table1_rerun")
    with pytest.raises(UserError, match=f"^{figures} holds the committed figures of every experiment; pass "
                                        f"--summary-dir {figures / 'grid'} or a folder outside it for "):
        claim(figures)
    # figures/<name> of an experiment file of that name outside configs/experiments/ stays its own to write again
    (figures / "grid").mkdir()
    (figures / "grid" / "results.md").write_text("an earlier summary of grid.json\n")
    claim(figures / "grid")


def test_a_grid_refuses_a_run_folder_that_lost_its_config_json_with_the_grids_remedy(tmp_path):
    """Unfinished, it was told to "set load_model: 0" (no remedy in a grid, whose runs always resume); finished, its
    metrics were taken unchecked, which detect.py and train.py refuse."""
    from vae_lstm.errors import UserError
    from vae_lstm.experiment import Job, job_experiment
    from vae_lstm.grid import run_job

    job = Job(str(tiny_experiment(tmp_path)), "synth", "abs_z", 0)
    run_job(job)
    run = job_experiment(job).run_dir(job)
    (run / "config.json").unlink()
    for finished in (True, False):
        if not finished:
            (run / "detection" / "metrics.json").unlink()
        with pytest.raises(UserError, match=f"^run folder {run} holds training but no config.json, .*: put its "
                                            "config.json back, or move that folder away") as caught:
            run_job(job)
        assert "load_model" not in str(caught.value)


@pytest.mark.parametrize("overrides, detector, where", [({"*": {"dataset": "synthtic"}}, "vae_lstm", r"overrides\.\*"),
                                                        ({"abs_z": {"dataset": "synthtic"}}, "abs_z", r"overrides\.abs_z")])
def test_an_unknown_dataset_set_by_an_override_names_the_override(tmp_path, overrides, detector, where):
    """It was blamed on the dataset's config file ("the config's 'dataset'"), whose own dataset is known."""
    path = tiny_experiment(tmp_path, overrides=overrides, detectors=["vae_lstm", "abs_z"])
    with pytest.raises(ConfigError, match=rf"^grid\.json: dataset 'synth' with detector '{detector}': the experiment file's "
                                          rf"{where}: unknown dataset 'synthtic' .*did you mean 'synthetic'\?"):
        load_experiment(path)


def test_a_relative_data_path_in_an_override_is_read_beside_the_experiment_file_first(tmp_path, monkeypatch):
    """An override's dataset object is written in the experiment file, whose dataset configs are looked for beside
    it first; its relative "path" was read beside the dataset's config instead (then the repository root and the
    working folder): a data.csv beside the experiment file was "not found". A path found only beside the dataset's
    config is read there, as before."""
    from vae_lstm.prepare import load_data

    for folder in ("exp", "cfg", "cwd"):
        (tmp_path / folder).mkdir()
    t = np.arange(600)
    rows = "v,anomaly\n" + "".join(f"{np.sin(k / 4):.6f},{int(500 <= k < 510)}\n" for k in t)
    (tmp_path / "exp" / "data.csv").write_text(rows)
    (tmp_path / "cfg" / "other.csv").write_text(rows)
    (tmp_path / "cfg" / "tiny.json").write_text(json.dumps(TINY))
    monkeypatch.chdir(tmp_path / "cwd")
    for name, folder in (("data.csv", "exp"), ("other.csv", "cfg")):
        path = tmp_path / "exp" / "grid.json"
        path.write_text(json.dumps({"datasets": {"own": str(tmp_path / "cfg" / "tiny.json")}, "detectors": ["abs_z"],
                                    "seeds": 1, "output_dir": str(tmp_path / "runs"), "overrides": {"*": {
                                        "dataset": {"name": "own", "path": name, "labels": {"column": "anomaly"}}}}}))
        config = load_experiment(path).config("own", "abs_z", 0)
        assert load_data(config, verbose=False)[1].test_pieces  # read, not "file ... not found"
        assert config.dataset["path"] == (f"../exp/{name}" if folder == "exp" else name)  # from the config's folder


def test_an_override_path_found_where_it_was_read_before_is_kept_as_written(tmp_path):
    """An experiment file, its dataset config and the override's data.csv in one folder: the runs recorded the path as
    written ("data.csv", found beside the dataset config), and once an override's paths were looked for beside the
    experiment file first, the grid gave it as that file's absolute path, and refused each of those runs as 'made with
    other values of dataset' (and a moved tree's runs too). The same file is kept as written."""
    from vae_lstm.config import save_config
    from vae_lstm.runs import refuse_other_training

    rows = "v,anomaly\n" + "".join(f"{np.sin(k / 4):.6f},{int(500 <= k < 510)}\n" for k in range(600))
    (tmp_path / "data.csv").write_text(rows)
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    dataset = {"name": "own", "path": "data.csv", "labels": {"column": "anomaly"}}
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"datasets": {"own": "tiny.json"}, "detectors": ["abs_z"], "seeds": 1,
                                "output_dir": str(tmp_path / "runs"), "overrides": {"*": {"dataset": dataset}}}))
    experiment = load_experiment(path)
    config = experiment.config("own", "abs_z", 0)
    run = tmp_path / "runs" / "earlier"
    run.mkdir(parents=True)
    save_config(config.replace(dataset=dataset), run / "config.json")  # what the grid recorded
    refuse_other_training(config, run, "experiment grid")  # no "made with other values of dataset"
    assert config.dataset["path"] == "data.csv"


def test_an_override_path_found_only_beside_the_experiment_file_resumes_in_a_moved_tree(tmp_path):
    """A data file found only beside the experiment file (the dataset config in another folder) was given as its
    absolute path: the runs recorded it so, and once the whole tree was moved, every run was refused as "made with
    other values of dataset". It is given from the dataset config's folder ("../exp/data.csv"), the same in any
    place the tree is moved to, and read from there."""
    import shutil

    from vae_lstm.config import save_config
    from vae_lstm.prepare import load_data
    from vae_lstm.runs import refuse_other_training

    before = tmp_path / "before"
    for folder in ("exp", "cfg"):
        (before / folder).mkdir(parents=True)
    rows = "v,anomaly\n" + "".join(f"{np.sin(k / 4):.6f},{int(500 <= k < 510)}\n" for k in range(600))
    (before / "exp" / "data.csv").write_text(rows)
    (before / "cfg" / "tiny.json").write_text(json.dumps(TINY))
    (before / "exp" / "grid.json").write_text(json.dumps({
        "datasets": {"own": "../cfg/tiny.json"}, "detectors": ["abs_z"], "seeds": 1, "output_dir": "runs",
        "overrides": {"*": {"dataset": {"name": "own", "path": "data.csv", "labels": {"column": "anomaly"}}}}}))
    config = load_experiment(before / "exp" / "grid.json").config("own", "abs_z", 0)
    assert config.dataset["path"] == "../exp/data.csv"
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    save_config(config, run / "config.json")  # what the grid recorded
    moved = shutil.move(before, tmp_path / "moved")
    config = load_experiment(moved / "exp" / "grid.json").config("own", "abs_z", 0)
    refuse_other_training(config, run, "experiment grid")  # no "made with other values of dataset"
    assert load_data(config, verbose=False)[1].test_pieces  # read from the moved tree


def test_a_run_that_recorded_an_override_path_as_absolute_still_resumes(tmp_path):
    """Runs of an experiment whose override names a data file found only beside the experiment file recorded its
    absolute path until that path was given from the dataset config's folder ("../exp/data.csv"): the same file,
    so such a run is not refused as "made with other values of dataset"; one recorded with another file is."""
    from vae_lstm.config import save_config
    from vae_lstm.runs import refuse_other_training

    for folder in ("exp", "cfg"):
        (tmp_path / folder).mkdir()
    rows = "v,anomaly\n" + "".join(f"{np.sin(k / 4):.6f},{int(500 <= k < 510)}\n" for k in range(600))
    for name in ("data.csv", "other.csv"):
        (tmp_path / "exp" / name).write_text(rows)
    (tmp_path / "cfg" / "tiny.json").write_text(json.dumps(TINY))
    (tmp_path / "exp" / "grid.json").write_text(json.dumps({
        "datasets": {"own": "../cfg/tiny.json"}, "detectors": ["abs_z"], "seeds": 1, "output_dir": "runs",
        "overrides": {"*": {"dataset": {"name": "own", "path": "data.csv", "labels": {"column": "anomaly"}}}}}))
    config = load_experiment(tmp_path / "exp" / "grid.json").config("own", "abs_z", 0, resolve=False)
    assert config.dataset["path"] == "../exp/data.csv"
    for name in ("data.csv", "other.csv"):
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        save_config(config.replace(dataset={**config.dataset, "path": str(tmp_path / "exp" / name)}),
                    run / "config.json")  # as recorded before
    refuse_other_training(config, tmp_path / "runs" / "data.csv", "experiment grid")
    with pytest.raises(UserError, match="made with other values of dataset"):
        refuse_other_training(config, tmp_path / "runs" / "other.csv", "experiment grid")


def test_a_data_path_of_an_override_found_nowhere_names_the_experiment_files_folder_too(tmp_path, monkeypatch):
    """An override's relative data path is looked for beside the experiment file first, then where the dataset
    config's are; found nowhere, the line named only the latter ("looked in" the config's folder, the repository root
    and the working folder), never the folder looked in first. It names every folder, in order, as the override's."""
    for folder in ("exp", "cfg", "cwd"):
        (tmp_path / folder).mkdir()
    (tmp_path / "cfg" / "tiny.json").write_text(json.dumps(TINY))
    monkeypatch.chdir(tmp_path / "cwd")
    path = tmp_path / "exp" / "grid.json"
    path.write_text(json.dumps({"datasets": {"own": str(tmp_path / "cfg" / "tiny.json")}, "detectors": ["abs_z"],
                                "seeds": 1, "output_dir": str(tmp_path / "runs"), "overrides": {"abs_z": {
                                    "dataset": {"name": "own", "path": "missing.csv"}}}}))
    with pytest.raises(UserError) as info:
        load_experiment(path)
    folders = ", ".join(str(tmp_path / f) for f in ("exp", "cfg")) + f", {REPO_ROOT}, {tmp_path / 'cwd'}"
    assert str(info.value) == (f"grid.json: dataset 'own' with detector 'abs_z': the experiment file's overrides.abs_z: "
                               f"dataset: path: file missing.csv not found (looked in {folders})")


def test_output_and_summary_dir_arguments_starting_with_a_tilde_are_under_the_home_folder(tmp_path, monkeypatch):
    """--output-dir=~/runs (a form the shell leaves as it is) made a folder named '~' in the working folder, where
    the experiment file's "~/runs" is the home folder's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1)
    assert reproduce.main([str(path), "--detectors", "abs_z", "--output-dir=~/runs", "--summary-dir=~/sum"]) == 0
    assert (tmp_path / "home" / "sum" / "results.md").is_file()
    assert list((tmp_path / "home" / "runs").rglob("metrics.json")) and not (tmp_path / "~").exists()


def test_an_output_dir_argument_starting_with_a_variable_is_under_its_folder(tmp_path, monkeypatch):
    """--output-dir '${SCRATCH}/runs' (quoted, as an experiment file's output_dir is written) passed its check, then
    was taken as a folder named "${SCRATCH}" in the working folder, and the runs' configs refused it: "a variable is
    read only as ${NAME} at the start of the path", which it was."""
    from vae_lstm import grid

    monkeypatch.setenv("RUNS_HOME", str(tmp_path / "scratch"))
    monkeypatch.chdir(tmp_path)
    ran = []
    monkeypatch.setattr(grid, "run_grid", lambda jobs, *args: ran.extend(jobs))
    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1)
    assert reproduce.main([str(path), "--detectors", "abs_z", "--no-summary", "--output-dir=${RUNS_HOME}/runs"]) == 0
    assert ran and {job.output_dir for job in ran} == {str(tmp_path / "scratch" / "runs")}
    experiment = grid.job_experiment(ran[0])
    assert tmp_path / "scratch" / "runs" in experiment.run_dir(ran[0]).parents
    assert not any("$" in p.name for p in tmp_path.rglob("*"))


def test_a_summary_dir_argument_starting_with_a_variable_is_under_its_folder(tmp_path, monkeypatch):
    """--summary-dir '${SCRATCH}/tables' (quoted) made a folder named "${SCRATCH}" in the working folder, where
    --output-dir and an experiment file's output_dir read the variable's folder."""
    monkeypatch.setenv("TABLES_HOME", str(tmp_path / "scratch"))
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    monkeypatch.chdir(tmp_path)
    args = reproduce.parse_args(["table1", "--summary-only", "--summary-dir", "${TABLES_HOME}/tables"])
    assert args.summary_dir == str(tmp_path / "scratch" / "tables")
    with pytest.raises(UserError, match=r"^--summary-dir = \"\$\{NOT_SET_HERE\}/t\" is invalid: it uses "
                                        r"\$\{NOT_SET_HERE\}, but the environment variable NOT_SET_HERE is not set"):
        reproduce.parse_args(["table1", "--summary-only", "--summary-dir", "${NOT_SET_HERE}/t"])
    assert not any("$" in p.name for p in tmp_path.rglob("*"))


def test_two_dataset_labels_of_one_config_run_each_shared_run_once(tmp_path, monkeypatch, capsys):
    """Two labels whose configs give the same runs (allowed: they share them) ran each run twice, so with --workers
    the second was started beside the first and failed ("being trained by another process")."""
    from vae_lstm import grid

    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1)
    values = json.loads(path.read_text())
    path.write_text(json.dumps({**values, "datasets": {"a": values["datasets"]["synth"],
                                                       "b": values["datasets"]["synth"]}}))
    ran, real = [], grid.run_grid
    monkeypatch.setattr(grid, "run_grid", lambda jobs, *args: ran.extend(jobs) or real(jobs, *args))
    assert reproduce.main([str(path), "--summary-dir", str(tmp_path / "sum")]) == 0
    assert sorted((job.dataset, job.detector) for job in ran) == [("a", "abs_z"), ("a", "random")]
    assert "note: datasets 'a' and 'b' of grid.json give the same runs of abs_z, random: each runs once" in (
        capsys.readouterr().out)
    import pandas as pd

    rows = pd.read_csv(tmp_path / "sum" / "results.csv")  # the tables hold both labels
    assert sorted(zip(rows.series, rows.detector, strict=True)) == [("a", "abs_z"), ("a", "random"), ("b", "abs_z"), ("b", "random")]
    ran.clear()  # a label asked for alone runs its runs
    assert reproduce.main([str(path), "--series", "b", "--no-summary"]) == 0
    assert sorted((job.dataset, job.detector) for job in ran) == [("b", "abs_z"), ("b", "random")]


def test_ray_absent_stops_before_the_grid_says_it_runs(tmp_path, monkeypatch, capsys):
    """Without Ray installed, --ray printed "N runs, Ray at local" and a progress bar, made the runs folder and took
    its lock, and only then said that it needs Ray."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1)
    with pytest.raises(UserError, match=r"^--ray needs Ray: pip install 'ray>=2\.40' \(an optional dependency\)"):
        reproduce.main([str(path), "--ray", "local"])
    assert "runs, Ray at" not in capsys.readouterr().out and not (tmp_path / "runs").exists()


def test_a_grid_run_whose_folder_another_process_trains_is_not_told_to_set_load_model_0(tmp_path):
    """A grid's runs always resume, so "set load_model: 0 to train a new run" was no remedy there."""
    from vae_lstm.experiment import Job, job_experiment
    from vae_lstm.grid import run_job
    from vae_lstm.runs import training_lock

    job = Job(str(tiny_experiment(tmp_path)), "synth", "vae_lstm", 0)
    run = job_experiment(job).run_dir(job)
    run.mkdir(parents=True)
    with training_lock(run), pytest.raises(UserError, match=f"^run folder {run} is being trained by another process "
                                                            r"\(PID \d+\); wait for it to finish or stop it$"):
        run_job(job)


def test_a_vae_run_that_reuses_the_vae_lstm_runs_vae_stage_trains_and_scores(tmp_path, capsys):
    """The copied VAE stage came without the vae run's config.json, so its folder held training that no config.json
    recorded, and every such vae run of a grid failed ("holds training but no config.json")."""
    path = tiny_experiment(tmp_path, detectors=["vae_lstm", "vae", "abs_z", "random"], seeds=1)
    assert reproduce.main([str(path), "--no-summary", "--detectors", "vae_lstm", "vae"]) == 0
    assert "vae: reusing the identical VAE stage of synthetic_vae_lstm_" in capsys.readouterr().out
    experiment = load_experiment(path)
    vae_run = experiment.run_dir(experiment.jobs(detectors=["vae"])[0])
    saved = json.loads((vae_run / "config.json").read_text())
    assert saved["detector"] == "vae" and (vae_run / "detection" / "metrics.json").is_file()


def test_a_resumed_grid_says_which_runs_had_finished_before_it(tmp_path, capsys):
    """reproduce.py run again after an interruption printed "done synth abs_z seed 0 (1 of 2)" for a run it only
    read back, as for one it had just trained and scored: a 40-run grid resumed at run 36 listed 35 runs as done in
    seconds, and nothing said it had resumed. A run finished before says so; one scored now says "done"."""
    path = tiny_experiment(tmp_path, detectors=["random", "abs_z"], seeds=2)
    flags = ["--detectors", "abs_z", "--no-summary"]
    assert reproduce.main([str(path), "--seed", "0", *flags]) == 0  # seed 0 finished, seed 1 not
    capsys.readouterr()
    assert reproduce.main([str(path), *flags]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "synth abs_z" in line]
    assert lines == ["already done synth abs_z seed 0: finished before (1 of 2)", "done synth abs_z seed 1 (2 of 2)"]
    assert reproduce.main([str(path), *flags]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if "synth abs_z" in line] == [
        "already done synth abs_z seed 0: finished before (1 of 2)",
        "already done synth abs_z seed 1: finished before (2 of 2)"]


def test_a_resumed_grids_bar_leaves_the_runs_finished_before_out_of_its_rate(monkeypatch):
    """On a terminal the bar's rate and time left counted the runs read back in a second each: a grid resumed with 3
    of 6 runs done showed a rate of seconds per run, and minutes left for hours of runs. They count as done, with no
    rate until a run finishes now."""
    import re

    from vae_lstm import grid
    from vae_lstm.experiment import Job

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(grid, "run_job", lambda job, threads=None: (
        grid.FinishedBefore if job.seed < 3 else dict)(seed=job.seed))
    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    assert grid.run_grid([Job("x.json", "synth", "abs_z", seed) for seed in range(6)])[
        Job("x.json", "synth", "abs_z", 0)] == {"seed": 0}
    frames = out.getvalue().replace("\n", "\r").split("\r")
    after = frames[frames.index("already done synth abs_z seed 2: finished before (3 of 6)"):]
    assert re.fullmatch(r"runs:  50%\|#####     \| 3/6 \[\d\d:\d\d<\?, \?run/s\]",
                        next(frame for frame in after if " 3/6 " in frame))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_runs_lines_on_a_terminal_start_on_a_line_of_their_own_not_after_the_bar(monkeypatch, workers):
    """reproduce.py on a terminal: a run's Keras lines came glued to the end of the grid's bar ("runs: 0%|...| 0/2
    [00:00<?, ?run/s]Epoch 1/2"), and Keras's own bar redrew over it. Each whole line is written above the bar (the
    run sees no terminal: one line per epoch); worker processes, which write to the terminal themselves, get no bar."""
    from vae_lstm import grid
    from vae_lstm.errors import isatty
    from vae_lstm.experiment import Job

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    def run_job(job, threads=None):
        print(f"Epoch 1/2 {isatty(sys.stdout)}")
        sys.stdout.write("3/9 [==>  ]\r9/9 [=====]\n")
        print("a note", file=sys.stderr)
        return {"seed": job.seed}

    monkeypatch.setattr(grid, "run_job", run_job)
    monkeypatch.setattr(grid, "in_processes", lambda jobs, workers, threads: (  # a worker's route, in this process
        (job, grid.named_job(job, threads)) for job in jobs))
    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", out)
    grid.run_grid([Job("x.json", "synth", "abs_z", seed) for seed in (0, 1)], workers=workers)
    lines = [line.split("\r")[-1] for line in out.getvalue().split("\n")]  # each as a terminal leaves it
    def run_lines(seed):  # a run's lines, named with it where a worker runs it
        name = "" if workers == 1 else f"synth abs_z seed {seed}: "
        return [f"{name}{line}" for line in ("Epoch 1/2 False", "3/9 [==>  ]", "9/9 [=====]", "a note")]

    assert lines[:10] == [*run_lines(0), "done synth abs_z seed 0 (1 of 2)", *run_lines(1),
                          "done synth abs_z seed 1 (2 of 2)"]
    assert ("runs:" in out.getvalue()) == (workers == 1)


@pytest.mark.parametrize("err_on_a_terminal", [False, True])
def test_a_runs_stderr_lines_on_a_terminal_go_to_stderr_where_it_is_a_file(monkeypatch, err_on_a_terminal):
    """reproduce.py on a terminal with its errors to a file (2>errors.log): a sequential run's stderr lines (notes,
    warnings, TensorFlow's log) were written above the bar to stdout, the terminal, and the file got none of them.
    They go to stderr (above the bar where it is a terminal too); stdout's lines stay above the bar."""
    from vae_lstm import grid
    from vae_lstm.experiment import Job

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    def run_job(job, threads=None):
        print("Epoch 1/2")
        print(f"a note {job.seed}", file=sys.stderr)
        return {"seed": job.seed}

    monkeypatch.setattr(grid, "run_job", run_job)
    out, err = Terminal(), (Terminal if err_on_a_terminal else io.StringIO)()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    grid.run_grid([Job("x.json", "synth", "abs_z", seed) for seed in (0, 1)])
    assert err.getvalue() == "a note 0\na note 1\n"
    lines = [line.split("\r")[-1] for line in out.getvalue().split("\n")]
    assert lines[:4] == ["Epoch 1/2", "done synth abs_z seed 0 (1 of 2)", "Epoch 1/2", "done synth abs_z seed 1 (2 of 2)"]


def test_a_runs_traceback_on_a_terminal_starts_on_a_line_of_its_own(monkeypatch):
    """A run that failed with a bug on a terminal: its traceback came glued to the end of the grid's bar ("runs:
    0%|...| 0/2 [00:00<?, ?run/s]Traceback (most recent call last):"). It is written above the bar, as the runs' lines
    are, and the bar is drawn again under it."""
    from vae_lstm import grid
    from vae_lstm.experiment import Job

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    def run_job(job, threads=None):
        if job.seed == 0:
            raise ValueError("boom")
        return {"seed": job.seed}

    monkeypatch.setattr(grid, "run_job", run_job)
    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", out)
    with pytest.raises(UserError, match="1 of 2 runs failed"):
        grid.run_grid([Job("x.json", "synth", "abs_z", seed) for seed in (0, 1)])
    lines = [line.split("\r")[-1] for line in out.getvalue().split("\n")]  # each as a terminal leaves it
    assert lines[0] == "Traceback (most recent call last):" and "ValueError: boom" in lines
    assert lines[lines.index("ValueError: boom") + 1:][:2] == [
        "FAILED synth abs_z seed 0: ValueError: boom (1 of 2)", "done synth abs_z seed 1 (2 of 2)"]


def test_a_summary_keeps_a_finished_run_of_a_detector_whose_override_gives_it_another_dataset(tmp_path, capsys):
    """An override may give one detector another dataset: the grid scores each run on its own data, but the summary
    read every run of a dataset label against the data of the first detector it met, and left the other detector's
    finished runs out as "trained on other training data ... (the grid refuses it)", at every summary, though the
    grid ran them and skipped them since as finished."""
    import pandas as pd

    unlabelled_dataset(tmp_path)  # u.csv, 600 points; abs_z's: the first 400 of them
    (tmp_path / "v.csv").write_text("\n".join((tmp_path / "u.csv").read_text().splitlines()[:401]) + "\n")
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"datasets": {"u": "u.json"}, "detectors": ["random", "abs_z"], "seeds": 1,
                                "output_dir": str(tmp_path / "runs"), "overrides": {"abs_z": {"dataset": {
                                    "path": str(tmp_path / "v.csv"), "train_points": 300}}}}))
    assert reproduce.main([str(path), "--no-summary"]) == 0
    assert reproduce.main([str(path), "--summary-only"]) == 0
    assert "left out of the summary" not in capsys.readouterr().out
    rows = pd.read_csv(tmp_path / "runs" / "summary" / "grid" / "results.csv")
    assert set(rows.detector) == {"random", "abs_z"}


def test_a_summary_of_no_finished_run_names_the_earlier_tables_it_leaves_in_its_folder(tmp_path):
    """A file edited so that no finished run holds for it (another threshold, say) gave "no finished run to summarise"
    and left the earlier summary's tables in the folder its own would have gone to, as they were, without a word: read
    afterwards as the tables of the file as it is now. The line names them, as a grid's failed runs' line does."""
    path = tiny_experiment(tmp_path, detectors=["abs_z"], seeds=1)
    for summary_dir in (tmp_path / "runs" / "summary" / "grid", tmp_path / "chosen"):
        summary_dir.mkdir(parents=True)
        for name in ("results.md", "results.csv"):
            (summary_dir / name).write_text("earlier")
        chosen = ["--summary-dir", str(summary_dir)] if summary_dir.name == "chosen" else []
        with pytest.raises(UserError) as refused:
            reproduce.main([str(path), "--summary-only", *chosen])
        assert str(refused.value) == (f"no finished run to summarise; {summary_dir} holds an earlier summary's "
                                      "results.md and results.csv, not this grid's")
        assert all((summary_dir / name).read_text() == "earlier" for name in ("results.md", "results.csv"))


def test_ray_tasks_get_the_runners_data_folders_and_checkout(monkeypatch):
    """A cluster's tasks read the data and the checkout (VAE_LSTM_REPO, for a copy installed outside one) that the
    runner reads; without VAE_LSTM_REPO a task's installed copy stopped at its first config."""
    from vae_lstm.grid import _forwarded_env

    for name in ("KLSE_DATA_DIR", "SKAB_DATA_DIR", "ECG5000_DATA_DIR", "TF_CPP_MIN_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NAB_DATA_DIR", "/data/nab")
    monkeypatch.setenv("VAE_LSTM_REPO", "/shared/checkout")
    assert _forwarded_env() == {"NAB_DATA_DIR": "/data/nab", "VAE_LSTM_REPO": "/shared/checkout"}
