"""train.py end to end on the synthetic series with a tiny config: files, reloads, resume, new run
folders, repeatability, and the batched scorer against the per-sequence one."""

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest

from vae_lstm import (
    cli,
    errors,
    models,  # noqa: F401  (registers the VAE class for keras.saving.load_model)
    runs,
    scoring,
    training,
)
from vae_lstm.config import REPO_ROOT, from_dict, load_config, run_dir
from vae_lstm.data_loader import load_series
from vae_lstm.detectors import vae_lstm as trainers
from vae_lstm.errors import UserError
from vae_lstm.windowing import train_val_split

pytestmark = pytest.mark.slow

TINY = {
    "exp_name": "tiny", "dataset": "synthetic", "l_win": 24, "l_seq": 4, "n_channel": 1, "code_size": 2,
    "num_hidden_units": 16, "num_hidden_units_lstm": 16, "batch_size": 128, "batch_size_lstm": 128,
    "num_epochs_vae": 2, "num_epochs_lstm": 2, "learning_rate_vae": 0.001, "learning_rate_lstm": 0.001,
    "seed": 0,
}
FIGURES = ["vae_loss", "vae_reconstructions", "vae_prior_samples", "lstm_loss", "lstm_codes",
           "lstm_long_sequence"]


def write_config(folder: Path, out: Path, **changes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"tiny_{len(list(folder.glob('*.json')))}.json"
    path.write_text(json.dumps({**TINY, "output_dir": str(out), **changes}))
    return path


def run_main(config_path: Path) -> dict:
    """train.main on a config; returns the run folder and the in-memory trainers and models."""
    seen = {}
    vae_train, lstm_train = trainers.VAETrainer.train, trainers.LSTMTrainer.train

    def vae_spy(self):
        seen["vae_trainer"], seen["vae"] = self, vae_train(self)
        return seen["vae"]

    def lstm_spy(self):
        seen["lstm_trainer"], seen["lstm"] = self, lstm_train(self)
        return seen["lstm"]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainers.VAETrainer, "train", vae_spy)
        mp.setattr(trainers.LSTMTrainer, "train", lstm_spy)
        assert cli.train_main(["--config", str(config_path)]) == 0
    seen["run"] = seen["vae_trainer"].run_dir
    return seen


def log_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def state(run: Path) -> dict:
    """state.json without the seconds it adds up (they vary from run to run)."""
    return {k: v for k, v in json.loads((run / "state.json").read_text()).items() if k != "training_seconds"}


def snapshot(folder: Path) -> dict:
    """Bytes and mtime of every file under a folder."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    base = tmp_path_factory.mktemp("first")
    out = base / "out"
    cfg_path = write_config(base / "cfg", out)
    result = run_main(cfg_path)
    result.update(out=out, config_path=cfg_path, snapshot=snapshot(out))
    return result


class InterruptAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


@pytest.fixture(scope="module")
def resumed(first, tmp_path_factory):
    """The first config in a fresh folder, interrupted after its first VAE epoch, run again (it resumes),
    again unchanged, then with a key that changes no training (threshold_quantile)."""
    base = tmp_path_factory.mktemp("resumed")
    out = base / "out"
    cfg_path = write_config(base / "cfg", out)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainers.VAETrainer, "extra_callbacks", lambda self: [InterruptAfterFirstEpoch()])
        with pytest.raises(KeyboardInterrupt):
            cli.train_main(["--config", str(cfg_path)])
    run = run_dir(load_config(cfg_path))
    interrupted = snapshot(run)
    assert run_main(cfg_path)["run"] == run
    after_resume = snapshot(run)
    rerun = run_main(cfg_path)["run"]
    after_rerun = snapshot(run)
    run_main(write_config(base / "cfg", out, threshold_quantile=0.95))
    return {"run": run, "rerun": rerun, "interrupted": interrupted, "after_resume": after_resume,
            "after_rerun": after_rerun, "after_output_change": snapshot(run)}


@pytest.fixture(scope="module")
def second_folder(first, tmp_path_factory):
    """load_model=0 on a copy of the first run's folder: trains afresh in <name>_run2."""
    base = tmp_path_factory.mktemp("second")
    out = base / "out"
    shutil.copytree(first["out"], out)
    before = snapshot(out)
    cfg_path = write_config(base / "cfg", out, load_model=0)
    result = run_main(cfg_path)
    result.update(out=out, before=before)
    return result


# ---- one run: files, reloads ----


def test_run_folder_is_named_from_the_config(first):
    assert first["run"] == first["out"] / "tiny" / "synthetic_vae_lstm_lwin24_lseq4_code2_seed0"
    assert first["run"] == run_dir(load_config(first["config_path"]))


def test_run_writes_every_file(first):
    run = first["run"]
    for name in ["vae.keras", "lstm.keras", "config.json", "vae_log.csv", "lstm_log.csv", "state.json"]:
        assert (run / name).is_file(), name
    for name in FIGURES:
        png = run / "figures" / f"{name}.png"
        assert png.is_file(), png
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nothing_lands_in_the_repo(first):
    assert not (Path(cli.__file__).resolve().parents[2] / "experiments" / "tiny").exists()


def test_logs_and_state(first):
    run = first["run"]
    vae_log, lstm_log = log_rows(run / "vae_log.csv"), log_rows(run / "lstm_log.csv")
    assert [int(r["epoch"]) for r in vae_log] == [0, 1]
    assert [int(r["epoch"]) for r in lstm_log] == [0, 1]
    assert {"loss", "val_loss", "kl", "squared_error", "sigma2"} <= set(vae_log[0])
    assert {"loss", "val_loss"} <= set(lstm_log[0])
    for row in vae_log + lstm_log:
        assert np.isfinite(float(row["loss"])) and np.isfinite(float(row["val_loss"]))
    assert state(run) == {"vae": 2, "lstm": 2, "fitted": True}


def test_saved_config_is_the_resolved_config(first):
    saved = json.loads((first["run"] / "config.json").read_text())
    assert "$schema" in saved
    saved.pop("$schema")
    assert saved == load_config(first["config_path"]).to_dict()


def test_reloaded_models_predict_like_the_trained_ones(first):
    run = first["run"]
    vae = keras.saving.load_model(run / "vae.keras")
    lstm = keras.saving.load_model(run / "lstm.keras")
    assert isinstance(vae, models.VAE)
    x = first["vae_trainer"].val_windows[:32]
    for a, b in zip(first["vae"].encoder.predict(x, verbose=0), vae.encoder.predict(x, verbose=0),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first["vae"].predict(x, verbose=0), vae.predict(x, verbose=0))
    codes = first["lstm_trainer"].val_codes[:8, :-1]
    np.testing.assert_array_equal(first["lstm"].predict(codes, verbose=0), lstm.predict(codes, verbose=0))
    again = keras.saving.load_model(run / "lstm.keras")
    np.testing.assert_array_equal(again.predict(codes, verbose=0), lstm.predict(codes, verbose=0))


def test_the_training_figures_call_their_models_without_predict(first, monkeypatch):
    """The stages' figures ran their few rows through Keras's ``predict``, four calls that each traced a graph and
    a tf.data pipeline (about a second of a small run's training); they call the models on them, and draw
    ``predict``'s numbers to the bit."""
    from vae_lstm import plotting

    drawn, calls, predict = {}, [], keras.Model.predict
    for name in ("loss_curves", "reconstructions", "prior_samples", "predicted_codes", "long_sequence"):
        monkeypatch.setattr(plotting, name, lambda *args, name=name, **kwargs: drawn.setdefault(name, args))
    with monkeypatch.context() as m:
        m.setattr(keras.Model, "predict", lambda self, *args, **kwargs: calls.append(self.name) or predict(self, *args,
                                                                                                         **kwargs))
        first["vae_trainer"].draw_figures()
        first["lstm_trainer"].draw_figures()
    assert calls == []
    windows, rebuilt = drawn["reconstructions"][:2]
    np.testing.assert_array_equal(rebuilt, first["vae"].predict(windows, verbose=0))
    codes = first["lstm_trainer"].val_codes[:1]
    np.testing.assert_array_equal(drawn["predicted_codes"][1], first["lstm"].predict(codes[:, :-1], verbose=0)[0])


def test_reloaded_vae_keeps_its_optimizer_state(first):
    vae = keras.saving.load_model(first["run"] / "vae.keras")
    n_train = len(first["vae_trainer"].train_windows)
    steps = -(-n_train // TINY["batch_size"])
    assert int(vae.optimizer.iterations.numpy()) == 2 * steps


# ---- scoring with the trained models ----


def test_batched_scores_equal_per_sequence_scores(first):
    piece = load_series("synthetic").test_pieces[0].values[:130]
    l_win, l_seq = TINY["l_win"], TINY["l_seq"]
    batched = scoring.score_vae_lstm(first["vae"], first["lstm"], piece, l_win, l_seq, batch_size=64)
    reference = scoring.score_series_per_sequence(first["vae"], first["lstm"], piece, l_win, l_seq)
    assert batched.scores.shape == reference.shape == (130 - l_win * l_seq + 1,)
    np.testing.assert_allclose(batched.scores, reference, rtol=1e-4)
    assert batched.predicted_windows.shape == (len(reference), l_seq - 1, l_win, 1)


# ---- resume ----


def test_resume_trains_only_the_missing_epochs(first, resumed):
    interrupted = resumed["interrupted"]
    assert {k: v for k, v in json.loads(interrupted["state.json"][0]).items() if k != "training_seconds"} == {"vae": 1}
    assert "lstm.keras" not in interrupted
    rows = log_rows(resumed["run"] / "vae_log.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert rows[0] == log_rows(first["run"] / "vae_log.csv")[0]
    assert [int(r["epoch"]) for r in log_rows(resumed["run"] / "lstm_log.csv")] == [0, 1]
    after = json.loads(resumed["after_resume"]["state.json"][0])
    assert set(after.pop("training_seconds")) == {"vae", "lstm"} and after == {"vae": 2, "lstm": 2, "fitted": True}


def test_a_resumed_run_trains_as_an_uninterrupted_one(first, resumed):
    """Interrupted after its first VAE epoch and resumed, the run is the uninterrupted one bit for bit: its
    checkpoint carries the state of the VAE's sampling noise, which Keras does not save."""
    for name in ("vae_log.csv", "lstm_log.csv"):
        assert (resumed["run"] / name).read_bytes() == (first["run"] / name).read_bytes(), name
    for name in ("vae.keras", "lstm.keras"):
        weights = [keras.saving.load_model(run / name).get_weights() for run in (first["run"], resumed["run"])]
        for a, b in zip(*weights, strict=True):
            np.testing.assert_array_equal(a, b)


def config_copies(files: dict) -> dict:
    return {name: v for name, v in files.items() if name.startswith("config.") and name != "config.json"}


def test_resume_with_other_output_values_keeps_the_first_config(resumed):
    after = resumed["after_output_change"]
    assert json.loads(after["config.json"][0])["threshold_quantile"] == 0.99
    dated = config_copies(after)
    assert len(dated) == 1
    assert json.loads(next(iter(dated.values()))[0])["threshold_quantile"] == 0.95
    for name in ["vae.keras", "lstm.keras", "vae_log.csv", "lstm_log.csv", "state.json"]:
        assert after[name] == resumed["after_rerun"][name], name


def test_identical_rerun_writes_no_config_copy(resumed):
    assert config_copies(resumed["after_rerun"]) == config_copies(resumed["after_resume"])


def test_identical_rerun_trains_nothing(resumed):
    assert resumed["rerun"] == resumed["run"]
    before, after = resumed["after_resume"], resumed["after_rerun"]
    for name in ["vae_log.csv", "lstm_log.csv", "state.json", "vae.keras", "lstm.keras", "config.json"]:
        assert after[name] == before[name], name
    assert {k: v for k, v in after.items() if k.startswith("figures/")} == \
        {k: v for k, v in before.items() if k.startswith("figures/")}
    assert len(log_rows(resumed["run"] / "vae_log.csv")) == 2


# ---- load_model=0 on a taken folder ----


def test_load_model_0_writes_a_new_folder(second_folder, first):
    run = second_folder["run"]
    assert run.name == "synthetic_vae_lstm_lwin24_lseq4_code2_seed0_run2"
    assert run.parent == second_folder["out"] / "tiny"
    for name in ["vae.keras", "lstm.keras", "config.json", "vae_log.csv", "lstm_log.csv", "state.json"]:
        assert (run / name).is_file(), name
    assert state(run) == {"vae": 2, "lstm": 2, "fitted": True}


def test_load_model_0_leaves_the_first_folder_alone(second_folder):
    out = second_folder["out"]
    after = {k: v for k, v in snapshot(out).items() if "_run2/" not in k}
    assert after == second_folder["before"]


def test_prepare_run_dir_counts_up(tmp_path):
    cfg = from_dict({**TINY, "output_dir": str(tmp_path), "load_model": 0})
    base = run_dir(cfg)
    assert runs.prepare_run_dir(cfg) == base  # empty: used as is
    (base / "vae.keras").write_bytes(b"x")
    second = runs.prepare_run_dir(cfg)
    assert second.name == base.name + "_run2"
    (second / "vae.keras").write_bytes(b"x")
    assert runs.prepare_run_dir(cfg).name == base.name + "_run3"
    assert runs.prepare_run_dir(cfg.replace(load_model=1)) == second  # the latest run of the config


def test_resume_refuses_another_architecture(tmp_path):
    cfg = from_dict({**TINY, "output_dir": str(tmp_path)})
    base = runs.prepare_run_dir(cfg)
    (base / "vae.keras").write_bytes(b"x")
    with pytest.raises(UserError, match="num_hidden_units"):
        runs.prepare_run_dir(cfg.replace(num_hidden_units=32))


# ---- errors ----


def test_train_vae_0_without_a_trained_vae(tmp_path, capsys):
    cfg_path = write_config(tmp_path / "cfg", tmp_path / "out", TRAIN_VAE=0)
    assert errors.run_cli(cli.train_main, ["--config", str(cfg_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error:")
    assert "vae" in err[0]
    assert re.search(r"train( it)? first", err[0]), err[0]
    assert "codes/train.py" in err[0]


def test_config_longer_than_training_data(tmp_path, capsys):
    cfg_path = write_config(tmp_path / "cfg", tmp_path / "out", l_win=512, l_seq=5)
    assert errors.run_cli(cli.train_main, ["--config", str(cfg_path)]) == 2
    err = capsys.readouterr().err
    assert "'l_seq'" in err and "2000" in err
    assert not (tmp_path / "out").exists()


def test_tensorboard_without_its_package_is_one_line_before_training(tmp_path, capsys, monkeypatch):
    """tensorboard: 1 without the tensorboard package (requirements.txt leaves it out) was a TensorFlow traceback
    at the first epoch; it is one line naming the key, and no epoch is trained."""
    import sys

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as on an install without it: importing it fails
    cfg_path = write_config(tmp_path / "cfg", tmp_path / "out", tensorboard=1)
    assert errors.run_cli(cli.train_main, ["--config", str(cfg_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    assert "'tensorboard' = 1" in err[0] and "pip install tensorboard" in err[0] and "tensorboard: 0" in err[0]
    assert not list((tmp_path / "out").rglob("*.keras"))


# ---- repeatability ----


def test_same_seed_same_losses(first, tmp_path, monkeypatch):
    """The same config trains the same losses and weights, to the bit; here the second run hands ``fit`` and the
    LSTM stage's encoder NumPy arrays, which Keras converts (two copies each), as every run did before the
    training arrays were handed over as tensors over the same memory (``training.shared_tensor``): the batches,
    their order and so the weights are the same either way."""
    monkeypatch.setattr(training, "shared_tensor", lambda array: array)
    monkeypatch.setattr(scoring, "shared_tensor", lambda array: array)
    cfg_path = write_config(tmp_path / "cfg", tmp_path / "out")
    again = run_main(cfg_path)
    assert again["run"] != first["run"]
    for stage in ("vae", "lstm"):
        weights, others = first[stage].get_weights(), again[stage].get_weights()
        assert len(weights) == len(others)
        for w, o in zip(weights, others, strict=True):
            np.testing.assert_array_equal(w, o, err_msg=stage)
    a, b = log_rows(first["run"] / "vae_log.csv"), log_rows(again["run"] / "vae_log.csv")
    assert [r.keys() for r in a] == [r.keys() for r in b]
    for ra, rb in zip(a, b, strict=True):
        for key in ra:
            assert float(ra[key]) == float(rb[key]), key
    la, lb = log_rows(first["run"] / "lstm_log.csv"), log_rows(again["run"] / "lstm_log.csv")
    for ra, rb in zip(la, lb, strict=True):
        for key in ra:
            assert float(ra[key]) == float(rb[key]), key


def test_make_help_lists_every_target():
    """`make help` (the README: "every target, one line each") lists a target only when its rule has a `## `
    description; every target of .PHONY needs one."""
    text = (REPO_ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", text, re.MULTILINE).group(1).split()
    described = set(re.findall(r"^([a-z-]+):.*## ", text, re.MULTILINE))
    assert [t for t in phony if t not in described] == []


def test_a_bare_make_lists_the_targets_and_installs_nothing(tmp_path):
    """`make` with no target ran the first rule, the venv's install (3 GB of requirements); it lists the targets."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(["make", "--no-print-directory", "-C", str(REPO_ROOT), f"VENV={tmp_path / 'venv'}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert {"install", "train", "test", "help"} <= set(listed)
    assert not (tmp_path / "venv").exists()


def test_the_oracle_rule_on_unlabelled_data_is_one_line_before_training(tmp_path, capsys):
    """threshold_rule oracle_best_f1 needs test labels: on a dataset without them train.py trained every stage, and
    only the detect.py after it (make train runs both) refused the run."""
    values = np.sin(np.arange(600) / 5.0)
    (tmp_path / "u.csv").write_text("value\n" + "\n".join(f"{v:.4f}" for v in values) + "\n")
    cfg_path = write_config(tmp_path / "cfg", tmp_path / "out", threshold_rule="oracle_best_f1", n_channel=None,
                            dataset={"path": str(tmp_path / "u.csv"), "train_points": 300})
    assert errors.run_cli(cli.train_main, ["--config", str(cfg_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: key 'threshold_rule' = 'oracle_best_f1' needs labels, and 'u' has none; use val_quantile, pot, "
                   "dynamic, contamination, train_max or fixed"]
    assert not list((tmp_path / "out").rglob("*.keras"))


@pytest.mark.parametrize("segments", [False, True])
def test_a_loaded_lstm_encodes_no_training_window(tmp_path, monkeypatch, segments):
    """With TRAIN_LSTM 0 (or num_epochs_lstm 0) the LSTM stage loads lstm.keras, yet it first ran the VAE's encoder
    over every training window for codes that nothing read (minutes, and 3 GB, for a long CSV). It encodes them
    when it trains (or when its figures or samples are asked for), and returns the model it loads either way."""
    calls = []

    def encode(vae, windows, batch):
        calls.append(len(windows))
        return windows[:, 0], -windows[:, 0]

    monkeypatch.setattr(trainers, "encode_windows", encode)
    monkeypatch.setattr(trainers.LSTMModel, "load", lambda self: "the saved lstm")
    series = np.arange(2 * 120 if segments else 120, dtype="float32").reshape((2, 120, 1) if segments else (120, 1))
    for keys in ({"TRAIN_LSTM": 0}, {"num_epochs_lstm": 0}):
        config = from_dict({**TINY, "window_stride": 8 if segments else 1, **keys})
        assert trainers.LSTMTrainer(config, tmp_path, series, vae=None).train() == "the saved lstm"
        assert calls == []
    # a finished stage (its checkpoint holds every epoch: a run trained again, or resumed): fit loads it and trains
    # nothing, from as many training sequences as a training fit gets, none encoded
    config = from_dict({**TINY, "window_stride": 8 if segments else 1})
    fitted = []
    with monkeypatch.context() as m:
        m.setattr(trainers.LSTMTrainer, "will_train", lambda self: False)
        m.setattr(trainers.LSTMTrainer, "fit", lambda self, x, y=None, validation_data=None: fitted.append(len(x)))
        assert trainers.LSTMTrainer(config, tmp_path, series, vae=None).train() == "the saved lstm"
    n_train = len(train_val_split(2 * 4 if segments else 25, config.val_fraction, config.seed)[0])
    assert calls == [] and fitted == [n_train]
    trainer = trainers.LSTMTrainer(config, tmp_path, series, None)
    assert len(trainer.train_codes) + len(trainer.val_codes) == len(trainer.train_index) + len(trainer.val_index)
    assert calls == [2 * 4 * 4 if segments else 97]  # once: 2 segments x 4 sequences x 4 windows, or 97 windows
    assert len(trainer.train_index) == n_train


@pytest.mark.parametrize("segments", [False, True])
def test_a_finished_or_loaded_vae_makes_no_training_window(tmp_path, monkeypatch, segments):
    """A VAE stage that only loads vae.keras (TRAIN_VAE 0, or a finished checkpoint: a run trained again, or resumed
    in its LSTM stage) copied every window out of the training segments all the same (as large as the VAE's training
    copy, unchecked, for nothing). It makes them when it trains or draws figures; a finished stage's fit gets as
    many windows as a training fit does, none made."""
    made = []
    monkeypatch.setattr(trainers, "training_windows", lambda *a, f=trainers.training_windows: made.append(a) or f(*a))
    monkeypatch.setattr(trainers.VAEModel, "load", lambda self: "the saved vae")
    series = np.arange(2 * 120 if segments else 120, dtype="float32").reshape((2, 120, 1) if segments else (120, 1))
    config = from_dict({**TINY, "window_stride": 8 if segments else 1})
    n_windows = 2 * 13 if segments else 97  # starts 0, 8, .., 96 of each segment, or 0 .. 96
    n_train = len(train_val_split(n_windows, config.val_fraction, config.seed)[0])
    assert trainers.VAETrainer(config.replace(TRAIN_VAE=0), tmp_path, series).train() == "the saved vae"
    fitted = []
    with monkeypatch.context() as m:
        m.setattr(trainers.VAETrainer, "will_train", lambda self: False)
        m.setattr(trainers.VAETrainer, "fit", lambda self, x, y=None, validation_data=None: fitted.append(len(x)))
        assert trainers.VAETrainer(config, tmp_path, series).train() == "the saved vae"
    assert made == [] and fitted == [n_train]
    trainer = trainers.VAETrainer(config, tmp_path, series)  # to train: its windows, once
    assert len(trainer.train_windows) == n_train and len(trainer.val_windows) == n_windows - n_train
    assert len(made) == 1


@pytest.mark.parametrize("segments", [False, True])
def test_the_lstm_stage_refuses_samples_larger_than_the_memory_available_before_the_vae_trains(
        tmp_path, monkeypatch, segments):
    """The LSTM stage copies the l_seq windows of every sequence out of the training segments to encode them (l_seq / 2
    times the VAE's windows, which alone were checked), then gathers their codes into inputs and targets: a dataset
    whose VAE windows fit was killed by the kernel at the LSTM stage, with no message, after the VAE had trained. Its
    samples of more bytes than the memory available are one line, before the VAE trains and before any is made."""
    from vae_lstm.detectors.vae_lstm import VAELSTMDetector

    encoded = []
    monkeypatch.setattr(trainers, "encode_windows", lambda vae, w, batch: encoded.append(len(w)) or (w[:, 0], w[:, 0]))
    config = from_dict({**TINY, "window_stride": 8 if segments else 1, "code_size": 6})  # l_win 24, l_seq 4
    series = np.zeros((2, 400, 1) if segments else (400, 1), "float32")
    if segments:  # starts 0, 8, .., 304 of each segment: 78 sequences of 4 windows; the windows, then the codes
        # (mean and std, each in the encoder's parts and joined): 312 x (24 x 4 + 4 x 6 x 4) bytes
        need, n_seq, why = 312 * (24 * 4 + 4 * 6 * 4), 78, "their windows, copied out of the segments, "
    else:  # 305 sequences: the codes of the 377 windows, and the inputs and targets of 3 codes each (more than the
        # VAE's 377 windows of 24 points)
        need, n_seq, why = 377 * 6 * 4 + 2 * 305 * 3 * 6 * 4, 305, ""
    monkeypatch.setattr(training, "available_memory", lambda: need - 1)
    with pytest.raises(UserError) as info:
        trainers.LSTMTrainer(config, tmp_path, series, vae=None)
    fix = ("give a larger window_stride, a smaller l_seq or fewer segments" if segments else
           "give a smaller l_seq or code_size, or a shorter training block (train_points, train_range)")
    assert str(info.value) == (
        f"the lstm stage's {n_seq} training sequences of 4 windows of 24 points x 1 channel(s) take {need / 1e9:.3g} GB "
        f"of memory ({why}their windows' codes, and the inputs and targets their split copies), more than the "
        f"{(need - 1) / 1e9:.3g} GB available: {fix}")
    assert encoded == []
    trained = []
    monkeypatch.setattr(trainers.VAETrainer, "train", lambda self: trained.append(self.stage))
    with pytest.raises(UserError) as fitted:  # the VAE's windows fit (as many bytes as its check counts): not trained
        VAELSTMDetector(config).fit(series, tmp_path / "run")
    assert str(fitted.value) == str(info.value) and trained == [] and encoded == []
    trainers.LSTMTrainer(config.replace(TRAIN_LSTM=0), tmp_path, series, vae=None)  # loads its model: not checked
    monkeypatch.setattr(training, "available_memory", lambda: need)
    trainer = trainers.LSTMTrainer(config, tmp_path, series, vae=None)  # as much as is available: trained
    assert len(trainer.train_index) + len(trainer.val_index) == n_seq


def test_an_lstm_stage_refused_for_memory_keeps_the_lstm_that_a_vae_to_train_would_set_aside(tmp_path, monkeypatch):
    """A run folder whose VAE will train (here: damaged) sets its LSTM aside to train it afresh on the new codes: the
    LSTM stage's memory check comes first, so that a refusal leaves the folder's LSTM where it was (it set it aside,
    then refused: the run's fitted mark stayed, its lstm.keras gone)."""
    from vae_lstm.detectors.vae_lstm import VAELSTMDetector

    config = from_dict({**TINY, "code_size": 6})  # 305 sequences of the 377 windows of 400 points (the test above)
    run = tmp_path / "run"
    run.mkdir()
    for name in ("vae.keras", "lstm.keras"):
        (run / name).write_bytes(b"a damaged checkpoint")
    monkeypatch.setattr(training, "available_memory", lambda: 377 * 24 * 4)  # the VAE's windows fit, the LSTM's not
    trained = []
    monkeypatch.setattr(trainers.VAETrainer, "train", lambda self: trained.append(self.stage))
    with pytest.raises(UserError, match="the lstm stage's 305 training sequences"):
        VAELSTMDetector(config).fit(np.zeros((400, 1), "float32"), run)
    assert (run / "lstm.keras").read_bytes() == b"a damaged checkpoint" and not list(run.glob("lstm.before-*"))
    assert trained == []


@pytest.mark.parametrize("segments", [False, True])
def test_the_lstm_learns_each_window_code_from_the_code_before_it(tmp_path, monkeypatch, segments):
    """The LSTM's input is the code means of windows s, s + l_win, .., s + (l_seq - 2) l_win of sequence s and its
    target those one window later, in training and validation (the held-out sequences), from one series or the
    segments of an array: here a window's code mean is its first point (of a series 0, 1, 2, ..) and its std
    the opposite. A target equal to the input, or the code stds in place of the means, would break it."""
    monkeypatch.setattr(trainers, "encode_windows", lambda vae, windows, batch: (windows[:, 0], -windows[:, 0]))
    config = from_dict({**TINY, "window_stride": 8 if segments else 1})  # l_win 24, l_seq 4
    series = np.arange(2 * 120 if segments else 120, dtype="float32").reshape((2, 120, 1) if segments else (120, 1))
    trainer = trainers.LSTMTrainer(config, tmp_path, series, vae=None)
    seen = {}

    def fit(x, y=None, validation_data=None):
        seen.update(x=x, y=y, validation=validation_data)
        trainer.model.model = "trained"

    monkeypatch.setattr(trainer, "fit", fit)
    trainer.train()
    starts = np.arange(0, 120 - 96 + 1, 8 if segments else 1)
    starts = np.concatenate([starts, starts + 120]) if segments else starts  # each sequence's first point
    idx_train, idx_val = train_val_split(len(starts), config.val_fraction, config.seed)
    x_val, y_val = seen["validation"]
    for x, y, idx in [(seen["x"], seen["y"], idx_train), (x_val, y_val, idx_val)]:
        np.testing.assert_array_equal(x[..., 0], starts[idx][:, None] + 24 * np.arange(3))
        np.testing.assert_array_equal(y[..., 0], starts[idx][:, None] + 24 * np.arange(1, 4))


def test_the_vae_learning_rate_decays_once_per_epoch(tmp_path):
    """learning_rate_vae times lr_decay_vae to the number of whole epochs trained (4 steps each here): the same
    rate through an epoch's steps, not a decay per step, and not none."""
    config = from_dict({**TINY, "learning_rate_vae": 0.01, "lr_decay_vae": 0.5})
    optimizer = trainers.VAEModel(config, tmp_path).build_compiled(steps_per_epoch=4).optimizer
    rates = []
    for step in [0, 3, 4, 7, 8, 13]:
        optimizer.iterations.assign(step)
        rates.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
    np.testing.assert_allclose(rates, [0.01, 0.01, 0.005, 0.005, 0.0025, 0.00125], rtol=1e-6)


def test_training_arrays_go_to_tensorflow_as_they_are(monkeypatch):
    """``gather_rows`` copies the rows a split picks from a view of every window, a block at a time, into one aligned
    array; ``shared_tensor`` hands such an array to TensorFlow over the same memory (Keras took two more copies of
    a NumPy array: the VAE stage's peak was about 3 times its training windows' size), and anything else, an
    unaligned array or a view, as it is, for Keras to convert (an unaligned buffer in place would abort TensorFlow).
    An autoencoder's inputs, given again as its targets, are one tensor."""
    import tensorflow as tf

    from vae_lstm.windowing import rolling_windows

    monkeypatch.setattr(training, "GATHER_BYTES", 24 * 4 * 3)  # 3 windows a block
    windows = rolling_windows(np.arange(30, dtype="float32"), 24)  # window w: w, w + 1, .., w + 23
    rows = training.gather_rows(windows, [5, 0, 6, 2])
    np.testing.assert_array_equal(rows[:, :, 0], np.array([5, 0, 6, 2])[:, None] + np.arange(24))
    assert rows.ctypes.data % training.TENSOR_ALIGNMENT == 0 and rows.flags.c_contiguous
    np.testing.assert_array_equal(training.gather_rows(np.arange(3.0), dtype="float32"), [0, 1, 2])
    tensor = training.shared_tensor(rows)
    assert tf.is_tensor(tensor)
    rows[1, 0, 0] = -7  # the same memory: no copy
    assert float(tensor[1, 0, 0]) == -7
    unaligned = training.aligned_empty((2 * 24 + 1,), "float32")[1:].reshape(2, 24)
    for array in (windows, rows[:, :, 0].T, unaligned, rows.astype(int).astype(object)):
        assert training.shared_tensor(array) is array
    validation = training.gather_rows(windows, [1])
    x, y, (val_x, val_y) = training.fit_tensors(rows, rows, (validation, None))
    assert x is y and tf.is_tensor(val_x) and val_y is None
