"""Own data through the commands: a CSV dataset object in the config, multivariate, with and without labels."""

import json

import numpy as np
import pandas as pd
import pytest

from vae_lstm import cli, plotting
from vae_lstm.config import from_dict, load_config
from vae_lstm.csv_data import TRAIN_FIELDS
from vae_lstm.errors import ConfigError, DataError, UserError
from vae_lstm.prepare import load_data

PERIOD = 24


def sensor_frame(n: int, seed: int, spike_at: int | None = None) -> pd.DataFrame:
    """Three periodic channels (a sine, its cosine, a slow ramp plus noise); a spike of +8 in channel b
    over [spike_at, spike_at + 10) when asked, labelled 1 in the 'anomaly' column."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    a = np.sin(2 * np.pi * t / PERIOD) + 0.05 * rng.standard_normal(n)
    b = np.cos(2 * np.pi * t / PERIOD) + 0.05 * rng.standard_normal(n)
    c = 0.5 * np.sin(2 * np.pi * t / (2 * PERIOD)) + 0.05 * rng.standard_normal(n)
    label = np.zeros(n, int)
    if spike_at is not None:
        b[spike_at:spike_at + 10] += 8.0
        label[spike_at:spike_at + 10] = 1
    return pd.DataFrame({"a": a, "b": b, "c": c, "anomaly": label})


def write_dataset(folder, labelled=True):
    train = sensor_frame(600, 0).drop(columns="anomaly")  # the training file carries no label column
    train.to_csv(folder / "train.csv", index=False)
    for k, spike in enumerate((150, 310)):
        frame = sensor_frame(400, k + 1, spike)
        frame.drop(columns=[] if labelled else ["anomaly"]).to_csv(folder / f"test{k}.csv", sep=";", index=False)


def write_config(folder, labelled=True, **keys):
    dataset = {"name": "sensors", "train_files": ["train.csv"], "test_files": ["test0.csv", "test1.csv"]}
    if labelled:
        dataset["labels"] = {"column": "anomaly"}
    values = {"exp_name": "own", "dataset": dataset, "l_win": "auto", "l_seq": 3, "code_size": 2,
              "num_hidden_units": 16, "num_hidden_units_lstm": 8, "batch_size": 64, "batch_size_lstm": 64,
              "num_epochs_vae": 2, "num_epochs_lstm": 2, "output_dir": str(folder / "runs"), **keys}
    path = folder / "config.json"
    path.write_text(json.dumps(values))
    return path


@pytest.mark.slow
def test_multivariate_csv_with_labels_and_a_training_file_trains_and_detects(tmp_path, capsys, monkeypatch):
    write_dataset(tmp_path)
    config_path = write_config(tmp_path)
    named, shown_channels = [], plotting.shown_channels
    monkeypatch.setattr(plotting, "shown_channels", lambda n, names=None: named.append(names) or shown_channels(n, names))
    assert cli.train_main(["--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert f"auto windows: l_win {PERIOD}" in out  # the dominant period of the training file
    assert named and all(names == ["a", "b", "c"] for names in named)  # training figures: the CSV's names, not ch0..
    assert cli.detect_main(["--config", str(config_path)]) == 0

    run = tmp_path / "runs" / "own" / f"sensors_vae_lstm_lwin{PERIOD}_lseq3_code2_seed0"
    saved = json.loads((run / "config.json").read_text())
    assert (saved["l_win"], saved["n_channel"]) == (PERIOD, 3)  # resolved values, saved with the run
    text = (run / "detection" / "metrics.json").read_text()
    assert "NaN" not in text  # strict JSON: this run's undefined figures (a rule that flags nothing) are null
    metrics = json.loads(text)
    assert metrics["labelled"] and metrics["n_channel"] == 3
    points = metrics["abs_z"]["points"]
    assert set(points) >= {"all", "test0", "test1"}  # each test file is a piece
    assert points["all"]["n"] == 800 and points["all"]["n_anomalous"] == 20
    # abs_z (largest |z| over channels) finds the +8 spikes in channel b: every labelled point ranks first
    assert points["all"]["threshold_free"]["auc_pr"] > 0.95
    assert metrics["random"]["points"]["all"]["threshold_free"]["auc_pr"] < 0.2
    assert np.isfinite(metrics["vae_lstm"]["points"]["all"]["threshold_free"]["vus_pr"])
    ranges = pd.read_csv(run / "detection" / "flagged_ranges.csv")
    assert list(ranges.columns[:4]) == ["piece", "first_row", "last_row", "n_points"]
    assert set(ranges["piece"].astype(str)) <= {"test0", "test1"}
    # each range says the rule and threshold that flagged it, and its peak is at or above that threshold
    assert set(ranges["rule"]) == {"val_quantile"} and (ranges["peak_score"] >= ranges["threshold"]).all()
    assert (run / "detection" / "detections.png").is_file()


@pytest.mark.slow
def test_unlabelled_csv_skips_the_metrics_and_still_flags(tmp_path, capsys):
    write_dataset(tmp_path, labelled=False)
    config_path = write_config(tmp_path, labelled=False, detector="abs_z")
    assert cli.train_main(["--config", str(config_path)]) == 0
    assert cli.detect_main(["--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert "no labels" in out and "skipped" in out
    run = tmp_path / "runs" / "own" / f"sensors_abs_z_lwin{PERIOD}_lseq3_code2_seed0"
    metrics = json.loads((run / "detection" / "metrics.json").read_text())
    assert metrics["labelled"] is False and "vus_pr" not in json.dumps(metrics)
    flagged = metrics["abs_z"]["points"]["rules"]["val_quantile"]
    assert flagged["flagged_points"] >= 20  # both spikes are far above the training block's |z|
    ranges = pd.read_csv(run / "detection" / "flagged_ranges.csv")
    spikes = {("test0", 150), ("test1", 310)}
    hit = {(p, s) for p, s in spikes for _, r in ranges.iterrows()
           if str(r["piece"]) == p and r["first_row"] <= s + 9 and r["last_row"] >= s}
    assert hit == spikes
    # the channel that stands out at each spike's peak: b, where the +8 was added, far above its training level
    at_spikes = ranges[[any(str(r["piece"]) == p and r["first_row"] <= s + 9 and r["last_row"] >= s for p, s in spikes)
                        for _, r in ranges.iterrows()]]
    assert len(at_spikes) >= 2 and set(at_spikes["peak_channel"]) == {"b"} and (at_spikes["peak_channel_z"] > 5).all()
    assert (run / "detection" / "detections.png").is_file()
    assert not (run / "detection" / "precision_recall.png").exists()


def test_unlabelled_metrics_and_histogram_name_their_threshold_the_sequence_one(tmp_path, monkeypatch):
    """On unlabelled data metrics.json's '<detector>.threshold' and score_histograms.png's line ("val_quantile
    threshold") are the rule's threshold on the sequence scores (the paper's metric, not computed here), while
    flagged_ranges.csv flags at the rule's threshold on the point scores, another number. metrics.json now says
    which key holds which, and the figure calls its line the sequence threshold."""
    drawn = {}
    original = plotting.score_histograms
    monkeypatch.setattr(plotting, "score_histograms",
                        lambda *a: (drawn.update(title=a[4], label=a[5]), original(*a))[1])
    write_dataset(tmp_path, labelled=False)
    config_path = write_config(tmp_path, labelled=False, detector="abs_z")
    assert cli.train_main(["--config", str(config_path)]) == 0
    assert cli.detect_main(["--config", str(config_path)]) == 0
    run = tmp_path / "runs" / "own" / f"sensors_abs_z_lwin{PERIOD}_lseq3_code2_seed0"
    metrics = json.loads((run / "detection" / "metrics.json").read_text())
    point = metrics["abs_z"]["points"]["rules"]["val_quantile"]["threshold"]
    assert metrics["abs_z"]["threshold"] != point
    assert set(pd.read_csv(run / "detection" / "flagged_ranges.csv")["threshold"]) == {point}
    assert metrics["thresholds"] == {
        "<detector>.threshold": "the threshold_rule's threshold on the detector's sequence scores, for the paper's "
                                "metric (the line of score_histograms.png)",
        "<detector>.points.rules.<rule>.threshold": "each label-free rule's threshold on the point scores "
                                                    "(threshold_per_piece under dynamic): flagged_ranges.csv and "
                                                    "detections.png flag at the config's rule's",
        "<detector>.points.all.oracle.pointwise.threshold": "the best pointwise F1's threshold on the point scores, "
                                                            "chosen with the test labels: flagged_ranges.csv and "
                                                            "detections.png flag at it under threshold_rule "
                                                            "oracle_best_f1"}
    assert drawn == {"title": "sensors: abs_z sequence scores (no labels, so no metric; the flags are at the point "
                              "scores' threshold)", "label": "val_quantile sequence threshold"}


def test_an_anomaly_at_the_start_of_a_test_file_is_its_own(tmp_path):
    """The paper's sequence labels start a run at each test file's first row when it is labelled, also when the
    file before it ends inside an anomaly (the files are laid end to end)."""
    from vae_lstm.data_loader import segment_starts

    sensor_frame(600, 0).drop(columns="anomaly").to_csv(tmp_path / "train.csv", index=False)
    for k in range(2):
        frame = sensor_frame(400, k + 1)
        frame.loc[390:, "anomaly"] = 1 if k == 0 else 0  # test0 ends labelled, test1 starts labelled
        frame.loc[:9, "anomaly"] = 1 if k == 1 else 0
        frame.to_csv(tmp_path / f"test{k}.csv", index=False)
    config, series = load_data(load_config(write_config(tmp_path)), verbose=False)
    assert series.anomaly_idx.tolist() == [600 + 390, 1000]
    assert [p.anomaly_idx.tolist() for p in series.test_pieces] == [[390], [0]]
    assert segment_starts([0, 1, 1, 1, 0, 1], file_starts=[2, 5]).tolist() == [1, 2, 5]
    assert segment_starts([1, 1, 0], file_starts=[0, 3]).tolist() == [0]


def test_labels_added_to_a_trained_run_score_it_and_other_training_data_is_refused(tmp_path, capsys):
    """Labels (and test files) do not change the training data: a run trained unlabelled is scored once they are
    added. A change of the training data itself is refused, by its fingerprint, in one line."""
    write_dataset(tmp_path, labelled=False)
    config_path = write_config(tmp_path, labelled=False, detector="abs_z")
    assert cli.train_main(["--config", str(config_path)]) == 0
    write_dataset(tmp_path, labelled=True)  # the same values, now with the 'anomaly' column of the test files
    labelled = write_config(tmp_path, labelled=True, detector="abs_z")
    assert cli.detect_main(["--config", str(labelled)]) == 0
    run = tmp_path / "runs" / "own" / f"sensors_abs_z_lwin{PERIOD}_lseq3_code2_seed0"
    metrics = json.loads((run / "detection" / "metrics.json").read_text())
    assert metrics["labelled"] and metrics["abs_z"]["points"]["all"]["n_anomalous"] == 20
    assert not list(run.parent.glob("*_run2"))  # scored in the run it trained, no new folder
    frame = pd.read_csv(tmp_path / "train.csv")
    frame.loc[5, "a"] += 1.0
    frame.to_csv(tmp_path / "train.csv", index=False)
    capsys.readouterr()
    from vae_lstm.errors import run_cli

    assert run_cli(cli.detect_main, ["--config", str(labelled)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was trained on other training data" in err[0], err


def test_under_train_auto_added_labels_are_a_change_of_data(tmp_path, capsys):
    """Under "train": "auto" the labels choose the training block, so a run trained without them is refused with
    them (in one line, also in a folder from before training_data.json); with the block given they only label.
    Where two folders hold the same training data, each config finds the one trained with its own labels."""
    from vae_lstm import runs
    from vae_lstm.errors import run_cli

    sensor_frame(1200, 0, spike_at=900).drop(columns="anomaly").to_csv(tmp_path / "one.csv", index=False)
    (tmp_path / "labels.json").write_text(json.dumps([900]))
    values = {"exp_name": "own", "detector": "abs_z", "l_win": 24, "l_seq": 3, "output_dir": str(tmp_path / "runs")}

    def config(name, **dataset):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({**values, "dataset": {"name": "one", "path": "one.csv", **dataset}}))
        return path

    labels = {"labels": {"timestamps": "labels.json"}}
    assert cli.train_main(["--config", str(config("auto"))]) == 0
    run = tmp_path / "runs" / "own" / "one_abs_z_lwin24_lseq3_code6_seed0"
    (run / "training_data.json").unlink()  # as in a folder trained before the file existed
    capsys.readouterr()
    assert run_cli(cli.detect_main, ["--config", str(config("auto_labelled", **labels))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was trained with dataset=" in err[0], err

    # the block given: labels only label. Trained with them, then without (load_model 0: a second folder on
    # the same training data), each config finds its own folder, not merely the newest
    values["output_dir"] = str(tmp_path / "given")
    labelled = config("given_labelled", train_points=600, **labels)
    assert cli.train_main(["--config", str(labelled)]) == 0
    values["load_model"] = 0
    plain = config("given", train_points=600)
    assert cli.train_main(["--config", str(plain)]) == 0
    first = tmp_path / "given" / "own" / run.name
    (labelled_config, _), (plain_config, _) = (load_data(load_config(c), verbose=False) for c in (labelled, plain))
    assert runs.training_changes(plain_config, first) == []  # adding or dropping the labels is no change
    assert runs.latest_run(labelled_config, fitted=True) == first
    assert runs.latest_run(plain_config, fitted=True) == first.with_name(f"{run.name}_run2")
    assert runs.TRAIN_BLOCK_KEYS == TRAIN_FIELDS[:-1]


@pytest.mark.parametrize("dated", [True, False])
def test_flagged_ranges_of_several_test_files_give_each_files_own_times(tmp_path, dated):
    """With a training file and test files, flagged_ranges.csv once had no times: each range now gives the
    times of its own file's rows (dates, or numbers as read)."""
    write_dataset(tmp_path, labelled=False)
    for k, (name, start) in enumerate((("train.csv", "2025-01-01"), ("test0.csv", "2025-03-01"),
                                       ("test1.csv", "2025-06-01"))):
        sep = "," if name == "train.csv" else ";"
        frame = pd.read_csv(tmp_path / name, sep=sep)
        frame.insert(0, "t", pd.date_range(start, periods=len(frame), freq="h").astype(str) if dated
                     else 1000 * k + np.arange(len(frame)))
        frame.to_csv(tmp_path / name, sep=sep, index=False)
    config_path = write_config(tmp_path, labelled=False, detector="abs_z")
    values = json.loads(config_path.read_text())
    values["dataset"]["time_column"] = "t"
    config_path.write_text(json.dumps(values))
    assert cli.train_main(["--config", str(config_path)]) == 0
    assert cli.detect_main(["--config", str(config_path)]) == 0
    run = tmp_path / "runs" / "own" / f"sensors_abs_z_lwin{PERIOD}_lseq3_code2_seed0"
    ranges = pd.read_csv(run / "detection" / "flagged_ranges.csv")
    for piece, spike, start, offset in (("test1", 310, "2025-06-01", 2000), ("test0", 150, "2025-03-01", 1000)):
        hit = ranges[(ranges["piece"].astype(str) == piece) & (ranges["first_row"] <= spike)
                     & (ranges["last_row"] >= spike)].iloc[0]
        expected = (pd.Timestamp(start) + pd.Timedelta(hours=int(hit["first_row"]))) if dated \
            else offset + hit["first_row"]
        assert (pd.Timestamp(hit["first_time"]) if dated else hit["first_time"]) == expected
    # several files: detections.png's time axis is the index over the series, which each range gives too
    assert (ranges["last_index"] - ranges["first_index"] == ranges["last_row"] - ranges["first_row"]).all()
    assert ((ranges["first_index"] - ranges["first_row"]).groupby(ranges["piece"]).nunique() == 1).all()


def test_a_train_range_between_two_anomalies_says_the_pooled_row_joins_them(tmp_path, capsys):
    """A train_range of one's own that starts right after one labelled window and ends right before another
    makes the pooled 'all' row join the two: detection says so in one line and in metrics.json."""
    frame = sensor_frame(600, 0)
    frame.loc[190:199, "anomaly"] = 1
    frame.loc[400:409, "anomaly"] = 1
    frame.to_csv(tmp_path / "data.csv", index=False)
    values = {"exp_name": "own", "detector": "abs_z", "l_win": PERIOD, "l_seq": 3, "output_dir": str(tmp_path / "runs"),
              "dataset": {"name": "pair", "path": "data.csv", "labels": {"column": "anomaly"},
                          "train_range": [200, 400]}}
    (tmp_path / "config.json").write_text(json.dumps(values))
    assert cli.train_main(["--config", str(tmp_path / "config.json")]) == 0
    assert cli.detect_main(["--config", str(tmp_path / "config.json")]) == 0
    err = capsys.readouterr().err  # a warning: on stderr
    assert "test pieces 'test_1' and 'test_2' meet inside labelled anomalies" in err
    assert "a training block that starts one row later avoids it" in err
    run = next((tmp_path / "runs").rglob("detection/metrics.json"))
    assert "counts each such pair as one event" in json.loads(run.read_text())["pooled_note"]
    # one row later, the pieces meet at a normal row: no note
    values["dataset"]["train_range"], values["output_dir"] = [201, 400], str(tmp_path / "runs2")
    (tmp_path / "config.json").write_text(json.dumps(values))
    assert cli.train_main(["--config", str(tmp_path / "config.json")]) == 0
    assert cli.detect_main(["--config", str(tmp_path / "config.json")]) == 0
    assert "meet inside labelled anomalies" not in str(capsys.readouterr())


@pytest.mark.parametrize("rule", ["contamination", "dynamic"])
def test_unlabelled_csv_with_a_rule_that_reads_the_test_scores(tmp_path, rule):
    """Rules that read the unlabelled test scores work without labels (they once raised a traceback)."""
    write_dataset(tmp_path, labelled=False)
    config_path = write_config(tmp_path, labelled=False, detector="abs_z", threshold_rule=rule)
    assert cli.train_main(["--config", str(config_path)]) == 0
    assert cli.detect_main(["--config", str(config_path)]) == 0
    run = tmp_path / "runs" / "own" / f"sensors_abs_z_lwin{PERIOD}_lseq3_code2_seed0"
    metrics = json.loads((run / "detection" / "metrics.json").read_text())
    assert metrics["threshold_rule"] == rule
    if rule == "dynamic":  # a threshold of each piece's smoothed point scores: none for the raw sequence scores
        assert metrics["abs_z"]["threshold"] is None and "smoothed scores" in metrics["abs_z"]["threshold_undefined"]
        assert len(metrics["abs_z"]["points"]["rules"]["dynamic"]["threshold_per_piece"]) == 2
    else:
        assert np.isfinite(metrics["abs_z"]["threshold"])
    flagged = metrics["abs_z"]["points"]["rules"]["contamination"]
    assert flagged["flagged_points"] == 80  # a tenth of the 800 test points: distinct scores, no ties


def test_test_labels_without_anomalies_give_no_precision_recall_curve(tmp_path, recwarn):
    write_dataset(tmp_path)
    for k in range(2):
        frame = pd.read_csv(tmp_path / f"test{k}.csv", sep=";")
        frame["anomaly"] = 0
        frame.to_csv(tmp_path / f"test{k}.csv", sep=";", index=False)
    config_path = write_config(tmp_path, detector="abs_z")
    assert cli.train_main(["--config", str(config_path)]) == 0
    assert cli.detect_main(["--config", str(config_path)]) == 0
    run = tmp_path / "runs" / "own" / f"sensors_abs_z_lwin{PERIOD}_lseq3_code2_seed0"
    assert (run / "detection" / "detections.png").is_file()
    assert not (run / "detection" / "precision_recall.png").exists()
    assert not [w for w in recwarn if "positive" in str(w.message).lower()]
    # the oracle rule has no anomaly to find: it flags nothing (it once flagged the top score as a detection)
    assert cli.detect_main(["--config", str(config_path), "--threshold-rule", "oracle_best_f1"]) == 0
    assert pd.read_csv(run / "detection" / "flagged_ranges.csv").empty


@pytest.mark.parametrize("train_range, undefined", [([0, 200], "all"), ([100, 300], "test_1, test_2")])
def test_point_metrics_undefined_by_one_class_labels_are_said(tmp_path, capsys, train_range, undefined):
    """A test piece whose points are all labelled anomalous (or all normal): the point-level rows read n/a with
    no word of why, while the paper's metric said so in a line."""
    values = sensor_frame(400, 0).drop(columns="anomaly")
    values["anomaly"] = (np.arange(400) >= 200).astype(int)
    values.to_csv(tmp_path / "half.csv", index=False)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({
        "exp_name": "own", "dataset": {"path": "half.csv", "labels": {"column": "anomaly"}, "train_range": train_range},
        "detector": "abs_z", "l_win": 8, "l_seq": 2, "output_dir": str(tmp_path / "runs")}))
    assert cli.train_main(["--config", str(config_path)]) == 0
    capsys.readouterr()
    assert cli.detect_main(["--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert (f"point level ({undefined}): the point labels are all normal or all anomalous: the metrics are "
            "undefined, so they are n/a") in out


def test_a_folder_given_as_the_data_file_is_named(tmp_path):
    write_dataset(tmp_path)
    config = load_config(write_config(tmp_path))
    config = config.replace(dataset={**config.dataset, "train_files": [str(tmp_path)]})
    with pytest.raises(DataError, match="is a folder, not a CSV file"):
        load_data(config, verbose=False)


def test_n_channel_that_contradicts_the_data_is_one_line(tmp_path):
    write_dataset(tmp_path)
    config = load_config(write_config(tmp_path, n_channel=2))
    with pytest.raises(ConfigError, match="'n_channel' = 2 but dataset 'sensors' has 3 channel"):
        load_data(config, verbose=False)


def test_auto_windows_and_null_n_channel_follow_the_data(tmp_path, capsys):
    write_dataset(tmp_path)
    config, series = load_data(load_config(write_config(tmp_path, l_seq="auto")))
    assert (config.l_win, config.n_channel, series.channels) == (PERIOD, 3, ["a", "b", "c"])
    assert config.l_seq == 600 // (4 * PERIOD) and config.resolved  # 7 windows, shrunk to a quarter of 600 points
    assert (f"auto windows: l_win {PERIOD} (period {PERIOD} (the first autocorrelation peak at lags 8 to 150)), l_seq 6 "
            "(7 windows, cut to 6 for one sequence to fit a quarter of the 600-point training block): a sequence "
            f"spans {PERIOD * 6} points") in capsys.readouterr().out


@pytest.mark.parametrize("value", [1.5, 0.3])  # 0.3 repeated 600 times has a std of 5.6e-17, not 0
def test_a_constant_channel_is_named(tmp_path, value):
    write_dataset(tmp_path)
    frame = pd.read_csv(tmp_path / "train.csv")
    frame["c"] = value
    frame.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DataError, match=r"column\(s\) 'c' constant in the training block"):
        load_data(load_config(write_config(tmp_path)), verbose=False)


@pytest.mark.parametrize("dataset, message", [
    ({"path": "x.csv", "vaule_columns": ["a"]}, "unknown field 'vaule_columns'; did you mean 'value_columns'"),
    ({"path": "x.csv", "labels": {"colum": "y"}}, "unknown field 'labels.colum'; did you mean 'column'"),
    ({"path": "x.csv", "train_fraction": 1.5}, "key 'dataset.train_fraction' = 1.5 is invalid: must be a number > 0"),
    ({"path": "x.csv", "train_range": [5]}, "key 'dataset.train_range' = \\[5\\] is invalid"),
])
def test_a_bad_dataset_object_is_one_line_at_load(dataset, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"dataset": dataset})


def test_run_name_uses_the_dataset_objects_name():
    from vae_lstm.config import run_name

    config = from_dict({"dataset": {"path": "data/my_plant.csv"}, "l_win": 16, "l_seq": 4})
    assert run_name(config) == "NAB/my_plant_vae_lstm_lwin16_lseq4_code6_seed0"


@pytest.fixture
def shared_sources(monkeypatch):
    """The example configs' ${VAR} sources, from the environment or the shared copies."""
    import os

    from conftest import _shared_dir

    for var, sub in (("NAB_DATA_DIR", "NAB"), ("KLSE_DATA_DIR", "KLSE"), ("SKAB_DATA_DIR", "SKAB/data")):
        if not os.environ.get(var):
            monkeypatch.setenv(var, str(_shared_dir(sub)))


@pytest.mark.parametrize("name, n_points, n_channel, n_pieces, labelled", [
    ("KLSE_close_config.json", 248, 1, 1, False),
    ("KLSE_ohlc_config.json", 248, 4, 1, False),
    ("SKAB_valve1_config.json", 9405 + 18160, 8, 16, True),
    ("NAB_rogue_agent_key_hold_config.json", 1882, 1, 1, True),
    ("NAB_rogue_agent_key_updown_config.json", 5315, 1, 1, True),
])
def test_shipped_own_data_examples_load(shared_sources, name, n_points, n_channel, n_pieces, labelled):
    config, series = load_data(load_config(name), verbose=False)
    assert (len(series.raw), series.n_channel, len(series.test_pieces)) == (n_points, n_channel, n_pieces)
    assert series.labelled == labelled and config.n_channel == n_channel
    assert all(len(p.values) >= config.span for p in series.test_pieces)


def test_train_max_rule_flags_what_exceeds_every_training_score(tmp_path):
    """abs_z under train_max: a test point is flagged exactly when its largest |z| over channels is above
    the largest one in the training file (computed here by hand from the CSVs)."""
    from vae_lstm.detection import run_detection
    from vae_lstm.runs import train

    write_dataset(tmp_path, labelled=False)
    config, series = load_data(load_config(write_config(tmp_path, labelled=False, detector="abs_z",
                                                        threshold_rule="train_max")), verbose=False)
    train(config, series.train)
    result = run_detection(config, series=series)
    raw_train = pd.read_csv(tmp_path / "train.csv").to_numpy()
    mean, std = raw_train.mean(axis=0), raw_train.std(axis=0)
    limit = np.abs((raw_train - mean) / std).max()
    expected = sum(int((np.abs((pd.read_csv(tmp_path / f"test{k}.csv", sep=";").to_numpy() - mean) / std)
                        .max(axis=1) > limit).sum()) for k in range(2))
    chosen = result.metrics["abs_z"]["points"]["rules"]["train_max"]
    assert chosen["threshold"] == pytest.approx(limit, rel=1e-6)
    assert chosen["flagged_points"] == expected >= 20


def test_flagged_ranges_without_a_time_column_give_the_index_of_the_detections_figure(tmp_path, capsys):
    """Without times, a range's rows counted within its piece while detections.png counts the whole series;
    first_index / last_index now give the figure's index."""
    t = np.arange(600)
    value = np.sin(2 * np.pi * t / 24) + 0.05 * np.random.default_rng(0).standard_normal(600)
    value[500:504] += 9.0
    pd.DataFrame({"value": value}).to_csv(tmp_path / "plain.csv", index=False)
    config_path = tmp_path / "plain.json"
    config_path.write_text(json.dumps({"exp_name": "own", "dataset": {"path": "plain.csv"}, "detector": "abs_z",
                                       "l_win": 16, "l_seq": 3, "output_dir": str(tmp_path / "runs")}))
    assert cli.train_main(["--config", str(config_path)]) == 0
    assert cli.detect_main(["--config", str(config_path)]) == 0
    run = next((tmp_path / "runs" / "own").glob("plain_abs_z_*"))
    ranges = pd.read_csv(run / "detection" / "flagged_ranges.csv")
    spike = ranges[(ranges["first_index"] <= 500) & (ranges["last_index"] >= 503)]
    assert len(spike) == 1 and int(spike["first_index"].iloc[0] - spike["first_row"].iloc[0]) == 300


@pytest.mark.parametrize("offset", ["+01:00", ""])
def test_flagged_ranges_say_when_their_times_are_utc(tmp_path, monkeypatch, offset):
    """Times read with UTC offsets are converted to UTC; flagged_ranges.csv once wrote them without a zone, as
    if local. They now end in Z (ISO 8601), and detections.png's axis says UTC; times without an offset stay as
    the file writes them."""
    from vae_lstm import plotting

    axis_labels, save = [], plotting._save

    def spy(fig, path):  # the score panel's time axis of detections.png
        if path.name == "detections.png":
            axis_labels.append(fig.axes[-1].get_xlabel())
        return save(fig, path)

    monkeypatch.setattr(plotting, "_save", spy)
    t = np.arange(600)
    value = np.sin(2 * np.pi * t / 24) + 0.05 * np.random.default_rng(0).standard_normal(600)
    value[500:504] += 9.0
    times = pd.date_range("2025-03-01", periods=600, freq="h").strftime("%Y-%m-%dT%H:%M:%S") + offset
    pd.DataFrame({"time": times, "value": value}).to_csv(tmp_path / "tz.csv", index=False)
    config_path = tmp_path / "tz.json"
    config_path.write_text(json.dumps({"exp_name": "own", "dataset": {"path": "tz.csv", "time_column": "time"},
                                       "detector": "abs_z", "l_win": 16, "l_seq": 3,
                                       "output_dir": str(tmp_path / "runs")}))
    assert cli.train_main(["--config", str(config_path)]) == 0
    assert cli.detect_main(["--config", str(config_path)]) == 0
    run = next((tmp_path / "runs" / "own").glob("tz_abs_z_*"))
    ranges = pd.read_csv(run / "detection" / "flagged_ranges.csv")
    spike = ranges[(ranges["first_row"] <= 200) & (ranges["last_row"] >= 203)].iloc[0]  # row 500 of the file
    # 500 hours after 2025-03-01 00:00 is 2025-03-21 20:00, at +01:00 19:00 UTC
    assert spike["first_time"] == ("2025-03-21T19:00:00Z" if offset else "2025-03-21T20:00:00")
    assert ranges["last_time"].str.endswith("Z").all() == bool(offset)
    assert axis_labels == ["time (UTC)" if offset else "time"]


def test_the_oracle_rule_on_unlabelled_data_is_refused_naming_every_label_free_rule(tmp_path):
    """--threshold-rule oracle_best_f1 on unlabelled data was refused as "key 'threshold_rule' = 'oracle_best_f1'",
    a key the config did not set; the line now names the option that chose the rule."""
    from vae_lstm.errors import UserError

    write_dataset(tmp_path, labelled=False)
    config_path = write_config(tmp_path, labelled=False, detector="abs_z")
    assert cli.train_main(["--config", str(config_path)]) == 0
    with pytest.raises(UserError, match="^--threshold-rule oracle_best_f1 needs labels, and 'sensors' has none; "
                                        "use val_quantile, pot, dynamic, contamination, train_max or fixed$"):
        cli.detect_main(["--config", str(config_path), "--threshold-rule", "oracle_best_f1"])
    # the config's own rule is named as the config's key (its threshold_rule is val_quantile above, not the oracle)
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps({**json.loads(config_path.read_text()), "threshold_rule": "oracle_best_f1"}))
    with pytest.raises(UserError, match="^key 'threshold_rule' = 'oracle_best_f1' needs labels, and 'sensors' has none"):
        cli.detect_main(["--config", str(oracle)])


def test_flagged_ranges_end_in_z_by_the_test_files_own_offsets(tmp_path):
    """Whether the times were UTC was decided over every file, the training files included: a training file
    without offsets left the converted times of a test file with offsets without their Z (the note said they
    were UTC). Each test file's ranges now say so by its own times."""
    t = np.arange(600)
    times = pd.date_range("2025-03-01", periods=600, freq="h").strftime("%Y-%m-%dT%H:%M:%S")
    rng = np.random.default_rng(0)
    for name, offset in (("train", ""), ("utc", "+01:00"), ("local", "")):
        value = np.sin(2 * np.pi * t / 24) + 0.05 * rng.standard_normal(600)
        if name != "train":
            value[500:504] += 9.0
        pd.DataFrame({"time": times + offset, "value": value}).to_csv(tmp_path / f"{name}.csv", index=False)
    config_path = tmp_path / "tz.json"
    config_path.write_text(json.dumps({
        "exp_name": "own", "dataset": {"name": "tz", "train_files": ["train.csv"],
                                       "test_files": ["utc.csv", "local.csv"], "time_column": "time"},
        "detector": "abs_z", "l_win": 16, "l_seq": 3, "output_dir": str(tmp_path / "runs")}))
    assert cli.train_main(["--config", str(config_path)]) == 0
    assert cli.detect_main(["--config", str(config_path)]) == 0
    run = next((tmp_path / "runs" / "own").glob("tz_abs_z_*"))
    ranges = pd.read_csv(run / "detection" / "flagged_ranges.csv")
    spikes = ranges[(ranges["first_row"] <= 500) & (ranges["last_row"] >= 503)].set_index("piece")
    # row 500 is 2025-03-21 20:00 as written, 19:00 UTC at +01:00
    assert spikes.loc["utc", "first_time"] == "2025-03-21T19:00:00Z"
    assert spikes.loc["local", "first_time"] == "2025-03-21T20:00:00"
    assert ranges.loc[ranges["piece"] == "utc", "last_time"].str.endswith("Z").all()
    assert not ranges.loc[ranges["piece"] == "local", "last_time"].str.endswith("Z").any()


def test_more_channels_than_a_config_allows_is_said_of_the_data(tmp_path):
    """n_channel null (the default) takes the data's channels; with more than the schema's 1024 the config was
    refused as if it had set "n_channel": 1025 itself ("key 'n_channel' = 1025 is invalid")."""
    frame = pd.DataFrame(np.random.default_rng(0).standard_normal((40, 1025)), columns=[f"c{i}" for i in range(1025)])
    frame.to_csv(tmp_path / "wide.csv", index=False)
    config = from_dict({"dataset": {"path": str(tmp_path / "wide.csv"), "train_points": 20}, "detector": "abs_z",
                        "l_win": 8, "l_seq": 2})
    with pytest.raises(ConfigError) as info:
        load_data(config, verbose=False)
    assert str(info.value) == ("config: dataset 'wide' has 1025 channels, more than the 1024 a config allows "
                               "(n_channel); pick at most 1024 with the dataset's value_columns")


def test_the_thresholds_legend_names_where_the_oracle_rules_flags_are(tmp_path):
    """Under threshold_rule oracle_best_f1 flagged_ranges.csv flags at the pointwise oracle's threshold, which is no
    points.rules entry (they are the label-free rules'): the 'thresholds' legend sent the reader to a key that is
    not there."""
    write_dataset(tmp_path)
    config_path = write_config(tmp_path, detector="abs_z", threshold_rule="oracle_best_f1")
    assert cli.train_main(["--config", str(config_path)]) == 0
    assert cli.detect_main(["--config", str(config_path)]) == 0
    run = tmp_path / "runs" / "own" / f"sensors_abs_z_lwin{PERIOD}_lseq3_code2_seed0"
    metrics = json.loads((run / "detection" / "metrics.json").read_text())
    assert "oracle_best_f1" not in metrics["abs_z"]["points"]["rules"]
    oracle = metrics["abs_z"]["points"]["all"]["oracle"]["pointwise"]["threshold"]
    assert set(pd.read_csv(run / "detection" / "flagged_ranges.csv")["threshold"]) == {oracle}
    assert metrics["thresholds"]["<detector>.points.all.oracle.pointwise.threshold"] == (
        "the best pointwise F1's threshold on the point scores, chosen with the test labels: flagged_ranges.csv and "
        "detections.png flag at it under threshold_rule oracle_best_f1")


def test_a_run_folders_config_reads_the_data_of_its_original_config_from_any_folder(tmp_path, monkeypatch):
    """A run's config.json keeps the dataset's paths as written, relative to the original config's folder;
    detecting with it from another working folder once stopped at "file data/plain.csv not found"."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    value = np.sin(2 * np.pi * np.arange(600) / 24)
    pd.DataFrame({"value": value}).to_csv(project / "data" / "plain.csv", index=False)
    config_path = project / "plain.json"
    config_path.write_text(json.dumps({"exp_name": "own", "dataset": {"path": "data/plain.csv"}, "detector": "abs_z",
                                       "l_win": 16, "l_seq": 3, "output_dir": str(tmp_path / "runs")}))
    monkeypatch.chdir(project)
    assert cli.train_main(["--config", "plain.json"]) == 0
    run = next((tmp_path / "runs" / "own").glob("plain_abs_z_*"))
    monkeypatch.chdir(tmp_path)
    assert cli.detect_main(["--config", str(run / "config.json")]) == 0
    assert (run / "detection" / "metrics.json").is_file()


def test_flagged_ranges_give_each_ranges_rows_in_its_csv_file(tmp_path):
    """first_row / last_row count from the start of a piece; with a test file beside the main file, neither they nor
    first_index gave the row in the file of a range after the training block. first_file_row / last_file_row do."""
    t = np.arange(600)
    value = np.sin(2 * np.pi * t / 24) + 0.05 * np.random.default_rng(0).standard_normal(600)
    value[500:504] += 9.0  # in test_2, rows [400, 600) of main.csv
    pd.DataFrame({"value": value}).to_csv(tmp_path / "main.csv", index=False)
    extra = np.sin(2 * np.pi * np.arange(200) / 24) + 0.05 * np.random.default_rng(1).standard_normal(200)
    extra[120:123] += 9.0
    pd.DataFrame({"value": extra}).to_csv(tmp_path / "extra.csv", index=False)
    config_path = tmp_path / "split.json"
    config_path.write_text(json.dumps({"exp_name": "own", "detector": "abs_z", "l_win": 16, "l_seq": 3,
                                       "dataset": {"path": "main.csv", "train_range": [100, 400],
                                                   "test_files": ["extra.csv"]},
                                       "output_dir": str(tmp_path / "runs")}))
    assert cli.train_main(["--config", str(config_path)]) == 0
    assert cli.detect_main(["--config", str(config_path)]) == 0
    run = next((tmp_path / "runs" / "own").glob("main_abs_z_*"))
    ranges = pd.read_csv(run / "detection" / "flagged_ranges.csv")
    rows = {(r.piece, r.first_row, r.last_row): (r.first_file_row, r.last_file_row) for r in ranges.itertuples()}
    assert rows[("test_2", 100, 103)] == (500, 503)
    assert rows[("extra", 120, 122)] == (120, 122)
    assert list(ranges.columns[:6]) == ["piece", "first_row", "last_row", "n_points", "first_file_row", "last_file_row"]


def test_the_label_count_says_how_many_labelled_anomalies_the_test_pieces_hold():
    """train.py's first line counted every labelled anomaly, the training block's too, so a series whose only
    labels lie in its training block read '2 labelled anomalies' and then scored a test piece with none."""
    from vae_lstm.data_loader import build_series

    raw = np.sin(np.arange(400) / 5.0)
    series = build_series("s", "point", raw, [30, 350, 360], train_start=0, train_end=300)
    assert cli.label_summary(series) == "3 labelled anomalies (2 in the test pieces)"
    series = build_series("s", "point", raw, [320, 350], train_start=0, train_end=300)
    assert cli.label_summary(series) == "2 labelled anomalies"
    series = build_series("s", "point", raw, [], train_start=0, train_end=300)
    assert cli.label_summary(series) == "no labels"


def test_detections_part_a_test_file_too_short_to_score_from_its_neighbours(tmp_path, monkeypatch):
    """Test files of 400, 50 and 400 rows, the middle one shorter than a sequence (left out of every metric, with a
    warning): detections.png drew no test piece boundary at all, the joins being looked for between the scored
    pieces only, so the short file's rows ran on from its neighbours' unmarked. Each join of test files is drawn."""
    write_dataset(tmp_path, labelled=False)
    sensor_frame(50, 7).drop(columns="anomaly").to_csv(tmp_path / "short.csv", sep=";", index=False)
    config_path = write_config(tmp_path, labelled=False, detector="abs_z", l_win=PERIOD)
    values = json.loads(config_path.read_text())
    values["dataset"]["test_files"] = ["test0.csv", "short.csv", "test1.csv"]
    config_path.write_text(json.dumps(values))
    from vae_lstm import detection

    cfg, series = load_data(load_config(config_path), verbose=False)
    result = detection.run_detection(cfg, tmp_path / "run", controls=False, series=series)
    assert [p.name for p in result.main.pieces] == ["test0", "test1"]  # the short file is not scored
    figures = []
    monkeypatch.setattr(plotting, "_save", lambda fig, path: figures.append(fig) or path)
    detection.draw_figures(result, tmp_path / "figures")
    (fig,) = [f for f in figures if len(f.axes) == 4]  # detections.png: the three channels and the scores
    for ax in fig.axes:
        assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == ":"] == [1000, 1050], ax
    for f in figures:
        plotting.plt.close(f)


def test_detects_warnings_go_to_stderr_so_a_redirected_results_file_still_shows_them(tmp_path, capsys, monkeypatch):
    """``detect.py ... > results.txt``: a test file too short to score was said on stdout, in the results file, and
    the terminal showed nothing. Warnings go to stderr, with the errors. (Detection stops right after them here.)"""
    from vae_lstm import detection

    class Reached(Exception):
        pass

    def stop(*args):
        raise Reached

    write_dataset(tmp_path)
    sensor_frame(30, 5).to_csv(tmp_path / "short.csv", sep=";", index=False)
    path = write_config(tmp_path, detector="abs_z", l_win=24)
    values = json.loads(path.read_text())
    values["dataset"]["test_files"].append("short.csv")
    path.write_text(json.dumps(values))
    monkeypatch.setattr(detection, "validation_index", stop)
    with pytest.raises(Reached):
        cli.detect_main(["--config", str(path)])
    out, err = capsys.readouterr()
    assert err == ("warning: test piece 'short' of sensors (30 points) is shorter than one sequence (l_win * l_seq = "
                   "72); it is left out of every metric\n")
    assert "warning:" not in out


def fake_trained_run(folder, rows: int) -> None:
    """A run folder whose training finished (state.json) on a training block of ``rows`` x 1 values."""
    folder.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps({"vae": 1, "fitted": True}))
    (folder / "training_data.json").write_text(json.dumps({"shape": [rows, 1], "sha256": "0" * 64}))


def write_growing_series(folder, n_train: int) -> None:
    t = np.arange(n_train + 300)
    values = np.sin(2 * np.pi * t / PERIOD) + 0.05 * np.random.default_rng(0).standard_normal(len(t))
    pd.DataFrame({"v": values[:n_train]}).to_csv(folder / "train.csv", index=False)
    pd.DataFrame({"v": values[n_train:]}).to_csv(folder / "test.csv", index=False)


def test_auto_windows_changed_by_new_training_data_name_the_run_trained_before(tmp_path, capsys, monkeypatch):
    """Rows added to the training file moved "l_seq": "auto" from 6 (600 rows) to 7 (700 rows): detect.py said the
    run folder ..._lseq7_... "does not exist; train first" though the config had been trained (in ..._lseq6_...),
    and train.py under load_model 1 started afresh in a new folder without a word of the one it left: with windows
    of its own, the config's run is refused as trained on other data."""
    write_growing_series(tmp_path, 700)
    dataset = {"name": "s", "train_files": ["train.csv"], "test_files": ["test.csv"]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"exp_name": "own", "dataset": dataset, "detector": "vae", "l_win": "auto",
                                "l_seq": "auto", "code_size": 2, "output_dir": str(tmp_path / "runs")}))
    old = tmp_path / "runs" / "own" / f"s_vae_lwin{PERIOD}_lseq6_code2_seed0"
    fake_trained_run(old, 600)
    with pytest.raises(UserError) as refused:
        cli.detect_main(["--config", str(path)])
    message = str(refused.value)
    assert "\n" not in message
    assert (f"'auto' windows give l_win {PERIOD}, l_seq 7 for the 700-point training block, but this config was "
            f"trained with l_win {PERIOD}, l_seq 6 in {old} (on a 600-point training block)") in message
    assert "restore the data it was trained on" in message
    capsys.readouterr()

    from vae_lstm import runs, threads

    monkeypatch.setattr(runs, "train", lambda config, train, channels=None: runs.run_dir(config))
    monkeypatch.setattr(threads, "use_threads", lambda *args, **kwargs: None)  # no TensorFlow to load
    assert cli.train_main(["--config", str(path)]) == 0
    assert (f"note: 'auto' windows give l_win {PERIOD}, l_seq 7 for the 700-point training block, but this config "
            f"was trained with l_win {PERIOD}, l_seq 6 in {old} (on a 600-point training block): training starts "
            "afresh in") in capsys.readouterr().out


@pytest.mark.parametrize("l_seq, same_data", [(7, False), ("auto", True)])
def test_a_run_of_other_windows_not_moved_by_the_data_is_not_named(tmp_path, l_seq, same_data):
    """Only "auto" windows follow the data: a config's own l_seq 7 beside a run of l_seq 6 is another config; and
    a run of l_seq 6 on the very data that "auto" now gives 7 for was another config's (its l_seq of its own)."""
    from vae_lstm.runs import data_fingerprint

    write_growing_series(tmp_path, 700)
    dataset = {"name": "s", "train_files": ["train.csv"], "test_files": ["test.csv"]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"exp_name": "own", "dataset": dataset, "detector": "vae", "l_win": "auto",
                                "l_seq": l_seq, "code_size": 2, "output_dir": str(tmp_path / "runs")}))
    other = tmp_path / "runs" / "own" / f"s_vae_lwin{PERIOD}_lseq6_code2_seed0"
    fake_trained_run(other, 600)
    if same_data:
        train = load_data(load_config(path), verbose=False)[1].train
        (other / "training_data.json").write_text(json.dumps(data_fingerprint(train)))
    with pytest.raises(UserError, match="does not exist; train first"):
        cli.detect_main(["--config", str(path)])


@pytest.mark.parametrize("case", ["another config", "being trained"])
def test_a_config_whose_windows_did_not_move_is_not_told_its_data_changed(tmp_path, case):
    """detect.py told a config never trained to "restore the data it was trained on", naming the run of another
    config on the same file (its own training block, 600 of the rows) whose "auto" windows differ; and of a config
    whose own folder a trainer holds in its first epoch, told to train it rather than to wait for that trainer."""
    from filelock import FileLock

    from vae_lstm import runs

    write_growing_series(tmp_path, 700)
    dataset = {"name": "s", "train_files": ["train.csv"], "test_files": ["test.csv"]}
    path = tmp_path / "config.json"
    settings = {"exp_name": "own", "dataset": dataset, "detector": "vae", "l_win": "auto", "l_seq": "auto",
                "code_size": 2, "output_dir": str(tmp_path / "runs")}
    path.write_text(json.dumps(settings))
    other = tmp_path / "runs" / "own" / f"s_vae_lwin{PERIOD}_lseq6_code2_seed0"
    fake_trained_run(other, 600)
    if case == "another config":  # the config of a training block of its own: the first 600 rows
        pd.read_csv(tmp_path / "train.csv")[:600].to_csv(tmp_path / "first600.csv", index=False)
        first600 = tmp_path / "first600.json"
        first600.write_text(json.dumps({**settings, "dataset": {**dataset, "train_files": ["first600.csv"]}}))
        runs.write_config_copy(load_data(load_config(first600), verbose=False)[0], other)
        with pytest.raises(UserError, match="does not exist; train first"):
            cli.detect_main(["--config", str(path)])
        return
    own = tmp_path / "runs" / "own" / f"s_vae_lwin{PERIOD}_lseq7_code2_seed0"
    own.mkdir()
    with FileLock(own / "train.lock"):
        (own / "train.lock.pid").write_text("4242\n")
        with pytest.raises(UserError, match=r"is being trained now by another process \(PID 4242; no epoch"):
            cli.detect_main(["--config", str(path)])


def test_a_config_trained_on_its_data_as_it_is_is_not_said_to_start_afresh(tmp_path, capsys, monkeypatch):
    """Under load_model 0, train.py said the config "was trained with l_seq 6" and "starts afresh" though it had
    been trained with the windows its data gives now (l_seq 7) as well: a new run of it, not a move."""
    from vae_lstm import runs, threads

    write_growing_series(tmp_path, 700)
    dataset = {"name": "s", "train_files": ["train.csv"], "test_files": ["test.csv"]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"exp_name": "own", "dataset": dataset, "detector": "vae", "l_win": "auto",
                                "l_seq": "auto", "code_size": 2, "output_dir": str(tmp_path / "runs"),
                                "load_model": 0}))
    fake_trained_run(tmp_path / "runs" / "own" / f"s_vae_lwin{PERIOD}_lseq6_code2_seed0", 600)
    fake_trained_run(tmp_path / "runs" / "own" / f"s_vae_lwin{PERIOD}_lseq7_code2_seed0", 700)
    monkeypatch.setattr(runs, "train", lambda config, train, channels=None: runs.next_free_run(config))
    monkeypatch.setattr(threads, "use_threads", lambda *args, **kwargs: None)  # no TensorFlow to load
    assert cli.train_main(["--config", str(path)]) == 0
    assert "'auto' windows give" not in capsys.readouterr().out


@pytest.mark.parametrize("rule", ["fixed", "dynamic"])
def test_the_peak_channel_of_a_window_detectors_run_is_the_one_at_its_peak_windows_spike(monkeypatch, rule):
    """A window detector gives each point the score of the worst window that covers it, so a flagged run's top score
    holds over the l_win points of that window: the peak is a plateau, and flagged_ranges.csv's peak_channel was
    read at its first point, before the spike that made the window worst (a channel at its ordinary swing there was
    blamed). Under dynamic, read at the top of the EWMA-smoothed scores, it came after the plateau, which the
    smoothing climbs through. It is the channel furthest from 0 over the points at the run's top point score, at the
    point where it is; peak_score stays the top of the scores the rule compared with its threshold."""
    from types import SimpleNamespace

    from vae_lstm import detection, thresholds
    from vae_lstm.detectors.base import Scores
    from vae_lstm.windowing import points_from_units

    l_win, n = 12, 60
    z = np.zeros((n, 3))
    z[35, 0] = 1.5  # the window's first point: channel a at an ordinary swing
    z[40, 2] = 9.0  # the spike, inside that window, in channel c
    z[51, 1] = 1.0  # the run's last point, where the smoothed scores are highest
    units = np.ones(n - l_win + 1)
    units[29:41] = 3.0  # every window holding the spike scores high
    units[35] = 3.5  # the worst: the window [35, 46]
    points = points_from_units(units, l_win, n)
    piece = detection.PieceResult("test", 0, Scores(points, units, l_win), np.zeros(0), np.zeros(0, bool), points,
                                  None)
    series = SimpleNamespace(timestamps=None, row_times=None, row_utc=None, utc=False, normalised=z, n_channel=3,
                             channels=["a", "b", "c"], file_rows=None, point_labels=None)
    config = SimpleNamespace(threshold_rule=rule, threshold_value=2.0, detector="lstm_ae")
    result = detection.Detection(config, None, series, np.zeros(0), {"lstm_ae": detection.DetectorResult(
        "lstm_ae", np.zeros(0), [piece])}, 0.0)
    flags = points >= 2.0  # [29, 51], as the rule's threshold flags it (one run under either rule)
    monkeypatch.setattr(detection, "detection_flags", lambda result, res: ([flags], [2.0]))
    compared = detection.compared_scores(rule, piece)
    assert rule == "fixed" or int(np.argmax(compared[29:52])) == 22  # smoothed: highest at the run's last point
    ranges = detection.flagged_ranges(result)
    assert ranges[["first_row", "last_row"]].values.tolist() == [[29, 51]]
    assert ranges["peak_score"][0] == compared[29:52].max() == (3.5 if rule == "fixed" else thresholds.ewma(
        points, 105)[51])
    assert (ranges["peak_channel"][0], ranges["peak_channel_z"][0]) == ("c", 9.0)
    # detections.png draws the same channel as that run's peak channel
    wide = np.zeros((n, plotting.MAX_CHANNELS_SHOWN + 2))
    wide[:, :3] = z
    wide[36:47, 3:] = 2.0  # further from 0 than a's 1.5 and b's 1.0, but not at the plateau's first point
    wide[51, 3:] = 0.0
    drawn, _ = plotting.flagged_channels(wide, [{"start": 0, "scores": detection.drawn_scores(rule, piece),
                                                 "point_scores": points, "flags": flags}])
    assert drawn == list(range(2, plotting.MAX_CHANNELS_SHOWN + 2))  # c, then the furthest from 0; not a nor b
