"""Nothing lost, nothing silent: atomic checkpoints, state.json agreeing with them, one-line errors for
disk-full, bad configs and unusable folders, SIGTERM like Ctrl-C, and a run killed while it writes a
checkpoint that the same command finishes; a resumed run, early stopping included, trains as an uninterrupted
one; a diverged model stops in one line; figures and damaged logs after a kill."""

import csv
import errno
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from vae_lstm import cli, errors, models  # noqa: F401  (models registers the VAE class for loading)
from vae_lstm.config import ConfigError
from vae_lstm.windowing import train_val_split

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "exp_name": "tiny", "dataset": "synthetic", "l_win": 24, "l_seq": 4, "n_channel": 1, "code_size": 2,
    "num_hidden_units": 16, "num_hidden_units_lstm": 16, "batch_size": 128, "batch_size_lstm": 128,
    "num_epochs_vae": 2, "num_epochs_lstm": 2, "learning_rate_vae": 0.001, "learning_rate_lstm": 0.001,
    "seed": 0,
}
RUN_NAME = "tiny/synthetic_vae_lstm_lwin24_lseq4_code2_seed0"
VAE_STEPS = math.ceil(len(train_val_split(2000 - 24 + 1, 0.1, 0)[0]) / 128)  # synthetic: 2000 training points


def write_config(path: Path, out: Path, **changes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**TINY, "output_dir": str(out), **changes}))
    return path


def train(config_path: Path, capsys) -> tuple[int, list[str], str]:
    """train.py through run_cli in this process: exit code, stderr lines, stdout."""
    capsys.readouterr()
    code = errors.run_cli(cli.train_main, ["--config", str(config_path)])
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines(), captured.out


def epochs_in_log(path: Path) -> list[int]:
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def state(run: Path) -> dict:
    """state.json without the seconds it adds up (they vary from run to run)."""
    return {k: v for k, v in json.loads((run / "state.json").read_text()).items() if k != "training_seconds"}


def vae_iterations(run: Path) -> int:
    return int(keras.saving.load_model(run / "vae.keras").optimizer.iterations.numpy())


def assert_complete(run: Path, vae_epochs: int, lstm_epochs: int) -> None:
    """Every epoch in the logs exactly once, state.json saying so, loadable models, no temporary file."""
    assert epochs_in_log(run / "vae_log.csv") == list(range(vae_epochs))
    assert epochs_in_log(run / "lstm_log.csv") == list(range(lstm_epochs))
    assert state(run) == {"vae": vae_epochs, "lstm": lstm_epochs, "fitted": True}
    assert vae_iterations(run) == vae_epochs * VAE_STEPS
    keras.saving.load_model(run / "lstm.keras")
    assert not [p.name for p in run.iterdir() if "tmp" in p.name]


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny run (2 VAE and 2 LSTM epochs); tests work on copies of its output folder."""
    base = tmp_path_factory.mktemp("trained")
    cfg = write_config(base / "cfg.json", base / "out")
    assert errors.run_cli(cli.train_main, ["--config", str(cfg)]) == 0
    return base / "out"


@pytest.fixture
def copy(trained, tmp_path):
    """A copy of the finished run's output folder, and a function writing a config for it. Changed
    values go into the run's config.json too, as if the run had been started with them."""
    out = tmp_path / "out"
    shutil.copytree(trained, out)
    run = out / RUN_NAME

    def config(**changes):
        saved = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**saved, **changes}, indent=2) + "\n")
        return write_config(tmp_path / "cfg.json", out, **changes)

    return run, config


def failing_save(exception, at_call: int = 1):
    """keras.Model.save that, at its nth call, writes half the file and raises ``exception``."""
    real, calls = keras.Model.save, []

    def save(self, filepath, *args, **kwargs):
        real(self, filepath, *args, **kwargs)
        calls.append(filepath)
        if len(calls) == at_call:
            truncate(Path(filepath))
            raise exception

    return save


# ---- 1. atomic checkpoints; a damaged one ----


@pytest.mark.parametrize("exception, code", [(KeyboardInterrupt(), 130),
                                             (OSError(errno.ENOSPC, "No space left on device"), 2)],
                         ids=["ctrl-c", "disk-full"])
def test_checkpoint_write_cut_short_keeps_the_previous_checkpoint(copy, capsys, monkeypatch, exception, code):
    """Ctrl-C or a full disk while epoch 3's checkpoint is written: vae.keras still holds epoch 2."""
    run, config = copy
    cfg = config(num_epochs_vae=3)
    with monkeypatch.context() as m:
        m.setattr(keras.Model, "save", failing_save(exception))
        status, err, _ = train(cfg, capsys)
    assert status == code
    assert len(err) == 1, err
    if code == 2:  # 3. disk full: one line naming the file, saying the previous checkpoint is kept
        assert err[0].startswith("error:") and "vae.keras" in err[0] and "kept" in err[0], err[0]
    else:
        assert err[0].startswith("interrupted:")
    assert vae_iterations(run) == 2 * VAE_STEPS
    assert not [p.name for p in run.iterdir() if "tmp" in p.name]
    assert train(cfg, capsys)[0] == 0
    assert_complete(run, 3, 2)


@pytest.mark.parametrize("name, kept", [("vae_log.csv", 2), ("state.json", 3)])
def test_a_full_disk_while_the_log_or_state_json_is_written_is_one_line_naming_it(copy, capsys, monkeypatch, name,
                                                                                  kept):
    """A full disk while epoch 3's log row, or state.json after epoch 3's checkpoint, was written: the line was
    "error: No space left on device", naming no file (a write's OSError carries none). It names the file and the
    epoch the checkpoint keeps; the same command then finishes the run."""
    import builtins
    import io

    run, config = copy
    cfg = config(num_epochs_vae=3)
    real_open = builtins.open

    from conftest import WrappedFile, opening_for_write

    class FullDisk(WrappedFile):
        def write(self, data):
            if name == "state.json" and json.loads(data)["vae"] != 3:  # before epoch 3: the fitted mark removed
                return self.file.write(data)
            raise OSError(errno.ENOSPC, "No space left on device")

    full_open = opening_for_write(real_open, name, FullDisk)
    with monkeypatch.context() as m:
        for module in (builtins, io):
            m.setattr(module, "open", full_open)
        status, err, _ = train(cfg, capsys)
    assert status == 2 and err == [f"error: vae: could not write {run / name} (No space left on device); vae.keras "
                                   f"keeps epoch {kept}; run the same command again once it can be written to "
                                   "resume"], err
    assert not [p.name for p in run.iterdir() if "tmp" in p.name]
    assert train(cfg, capsys)[0] == 0
    assert_complete(run, 3, 2)


def test_damaged_checkpoint_is_one_line_naming_it(copy, capsys):
    run, config = copy
    truncate(run / "vae.keras")
    (run / "vae.prev.keras").unlink(missing_ok=True)
    status, err, _ = train(config(), capsys)
    assert status == 2
    assert len(err) == 1 and err[0].startswith("error:") and str(run / "vae.keras") in err[0], err


def test_damaged_checkpoint_resumes_from_the_previous_one(copy, capsys):
    run, config = copy
    assert (run / "vae.prev.keras").is_file()
    truncate(run / "vae.keras")
    status, err, out = train(config(), capsys)
    assert status == 0, err
    assert "vae.keras" in out and "vae.prev.keras" in out
    assert_complete(run, 2, 2)


def test_detect_refuses_a_damaged_checkpoint_in_one_line(copy, capsys):
    run, config = copy
    truncate(run / "lstm.keras")
    capsys.readouterr()
    assert errors.run_cli(cli.detect_main, ["--config", str(config())]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lstm.keras" in err[0], err


@pytest.mark.parametrize("command", ["train", "detect"])
@pytest.mark.parametrize("case, said", [
    ("num_hidden_units", "was built with num_hidden_units=16 (the config says 32)"),
    ("num_hidden_units_lstm", "was built with num_hidden_units_lstm=16 (the config says 8)"),
    ("another stage's file", "holds a Functional model 'lstm_predictor', not the vae of a vae_lstm run"),
], ids=["vae width", "lstm width", "another stage's file"])
def test_a_checkpoint_that_is_not_the_configs_model_is_one_line_naming_it(copy, capsys, command, case, said):
    """A run folder whose config.json was edited (a width changed in it, the config given the same), or whose
    vae.keras is another stage's file: the checkpoint was loaded as it was, so train.py went on with a model of
    other widths than the config's (detect.py scored it, exit 0), and the LSTM's file as the VAE failed in a
    traceback ("'Functional' object has no attribute 'encoder'"). Now one line names the file and what differs."""
    run, config = copy
    if case == "another stage's file":
        for name in ("vae.keras", "vae.prev.keras"):
            shutil.copyfile(run / "lstm.keras", run / name)
        path = config()
    else:
        path = config(**{case: 32 if case == "num_hidden_units" else 8})
    capsys.readouterr()
    status = errors.run_cli(cli.train_main if command == "train" else cli.detect_main, ["--config", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("error: checkpoint "), err
    stage = "lstm" if case == "num_hidden_units_lstm" else "vae"
    assert f"{run / f'{stage}.keras'} {said}" in err[0], err[0]


@pytest.mark.parametrize("stage", ["vae", "lstm"])
def test_a_finished_stage_whose_checkpoints_are_gone_says_it_trains_afresh(copy, capsys, monkeypatch, stage):
    """state.json records the stage's epochs, but its checkpoints were deleted: the stage trained again from its
    first epoch without a word about it (the LSTM's, with no line at all). Now a note says so before it trains."""
    run, config = copy
    for name in (f"{stage}.keras", f"{stage}.prev.keras"):
        (run / name).unlink()

    def interrupted(self, *args, **kwargs):  # what the note is printed before: the stage's first epoch
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "fit", interrupted)
    status, _, out = train(config(), capsys)
    assert status == 130
    assert (f"note: {run / f'{stage}.keras'} is missing, though state.json records 2 epochs of the {stage}: the "
            f"{stage} trains afresh\n") in out, out


@pytest.mark.parametrize("train_vae, train_lstm, settings", [
    (1, 0, "set TRAIN_LSTM: 1, then run"), (0, 0, "set TRAIN_VAE: 1 and TRAIN_LSTM: 1, then run"),
    (0, 1, "set TRAIN_VAE: 1, then run"), (None, None, "; run")], ids=["vae", "none", "lstm", "detect"])
def test_a_damaged_vae_under_a_skipped_stage_says_the_settings_that_resume_it(copy, capsys, train_vae, train_lstm,
                                                                              settings):
    """With TRAIN_LSTM 0 the LSTM was set aside and the line was "no trained lstm ... train it first"; with TRAIN_VAE
    0 it said "run codes/train.py again", which did not resume it. Now the line names the damaged file, the settings
    that train.py needs and the command, and touches nothing; those settings resume the run."""
    run, config = copy
    truncate(run / "vae.keras")
    if train_vae is None:
        capsys.readouterr()
        assert errors.run_cli(cli.detect_main, ["--config", str(config())]) == 2
        err = capsys.readouterr().err.strip().splitlines()
    else:
        status, err, _ = train(config(TRAIN_VAE=train_vae, TRAIN_LSTM=train_lstm), capsys)
        assert status == 2
    assert len(err) == 1 and err[0].startswith(f"error: checkpoint {run / 'vae.keras'} is truncated"), err
    assert (f"{settings} 'python3 codes/train.py --config {run.parents[2] / 'cfg.json'}' to resume the vae from its "
            "previous checkpoint vae.prev.keras (the lstm then trains afresh too)") in err[0], err[0]
    assert sorted(p.name for p in run.glob("*.keras*")) == ["lstm.keras", "lstm.prev.keras", "vae.keras",
                                                            "vae.prev.keras"]
    status, err, out = train(config(TRAIN_VAE=1, TRAIN_LSTM=1), capsys)
    assert status == 0, err
    assert_complete(run, 2, 2)


def test_a_vae_and_its_previous_copy_both_damaged_leave_the_lstm_in_place(copy, capsys):
    """Both VAE checkpoints damaged under TRAIN_VAE 1 and TRAIN_LSTM 1: the LSTM was set aside (lstm.keras renamed
    to lstm.before-<date>.keras, its epochs dropped from state.json) before the VAE was refused in one line, so
    restoring the VAE from a copy still retrained the LSTM. A refusal touches nothing."""
    run, config = copy
    truncate(run / "vae.keras")
    truncate(run / "vae.prev.keras")

    def files():  # the copy's output_dir is another than its config.json's: a dated copy of the config is written
        return sorted(p.name for p in run.iterdir() if not p.name.startswith("config.2")), state(run)

    before = files()
    status, err, out = train(config(), capsys)
    assert status == 2 and len(err) == 1 and "move vae.keras and vae.prev.keras away" in err[0], err
    assert "set aside" not in out, out
    assert files() == before


def test_a_damaged_vae_under_zero_epochs_names_the_runs_own_epochs(copy, capsys, tmp_path):
    """With num_epochs_vae 0 the line said "set num_epochs_vae > 0"; any count but the run's was then refused as a
    changed training key. It now names the run's own count, and that setting resumes the run."""
    run, _ = copy
    truncate(run / "vae.keras")
    planned = json.loads((run / "config.json").read_text())["num_epochs_vae"]
    status, err, _ = train(write_config(tmp_path / "cfg.json", run.parents[1], num_epochs_vae=0), capsys)
    assert status == 2 and len(err) == 1, err
    assert f"set num_epochs_vae: {planned}, then run 'python3 codes/train.py" in err[0], err[0]
    status, err, _ = train(write_config(tmp_path / "cfg.json", run.parents[1], num_epochs_vae=planned), capsys)
    assert status == 0, err
    assert_complete(run, 2, 2)


def test_a_damaged_checkpoint_and_its_damaged_previous_copy_are_named_in_one_line(copy, capsys):
    """The line named lstm.keras only; once it was moved away, the next run named lstm.prev.keras."""
    run, config = copy
    truncate(run / "lstm.keras")
    truncate(run / "lstm.prev.keras")
    capsys.readouterr()
    assert errors.run_cli(cli.detect_main, ["--config", str(config())]) == 2
    lines = [capsys.readouterr().err.strip().splitlines(), train(config(), capsys)[1]]
    for err in lines:  # detect.py, then train.py
        assert len(err) == 1 and err[0].startswith("error:"), err
        assert f"checkpoint {run / 'lstm.keras'} is truncated" in err[0], err[0]
        assert f"checkpoint {run / 'lstm.prev.keras'} is truncated" in err[0], err[0]
        assert "move lstm.keras and lstm.prev.keras away and run 'python3 codes/train.py" in err[0], err[0]
    (run / "lstm.prev.keras").rename(run / "lstm.prev.keras.damaged")  # the earlier line named one only
    assert "move lstm.keras away" in train(config(), capsys)[1][0]
    for name in ("lstm.keras", "lstm.prev.keras.damaged"):
        (run / name).unlink()
    assert train(config(), capsys)[0] == 0
    assert_complete(run, 2, 2)


def without_seeds(path: Path) -> None:
    """Rewrite a checkpoint as an earlier version wrote it: without its SeedGenerator states (seeds.json)."""
    import zipfile

    old = path.with_name("old.keras")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for name in src.namelist():
            if name != "seeds.json":
                dst.writestr(name, src.read(name))
    old.replace(path)


@pytest.mark.parametrize("detector", ["vae_lstm", "lstm_vae"])
def test_a_checkpoint_keeps_the_state_of_the_sampling_noise(tmp_path, capsys, detector):
    """Keras saves no SeedGenerator state: the checkpoint does, so a resumed VAE goes on with the noise an
    uninterrupted one would draw; an older checkpoint without it still loads, its noise afresh."""
    from vae_lstm.config import from_dict
    from vae_lstm.detectors.lstm_vae import LSTMVAEModel
    from vae_lstm.detectors.vae_lstm import VAEModel

    config = from_dict({**TINY, "detector": detector, "output_dir": str(tmp_path)})
    store_class = VAEModel if detector == "vae_lstm" else LSTMVAEModel
    store = store_class(config, tmp_path)
    store.build_compiled(steps_per_epoch=1)
    store.model.optimizer.build(store.model.trainable_variables)
    state = store.model.sample_seed.state
    state.assign(np.array([0, 123], dtype=state.dtype))  # as after 123 draws
    store.save(1)
    loaded = store_class(config, tmp_path)
    assert loaded.load().sample_seed.state.numpy().tolist() == [0, 123]
    assert loaded.seeds_restored
    without_seeds(store.path)
    loaded = store_class(config, tmp_path)
    assert loaded.load().sample_seed.state.numpy().tolist() == [0, 0]
    assert not loaded.seeds_restored
    if detector == "vae_lstm":  # an LSTM's generators (one per cell, for dropout that is off) draw nothing
        from vae_lstm.detectors.vae_lstm import LSTMModel

        lstm = LSTMModel(config, tmp_path)
        lstm.build_compiled(steps_per_epoch=1)
        lstm.save(1)
        without_seeds(lstm.path)
        lstm = LSTMModel(config, tmp_path)
        lstm.load()
        assert lstm.seeds_restored  # so its resume says nothing of noise


# ---- 2. state.json agrees with the checkpoint ----


def test_state_behind_the_checkpoint_trains_no_extra_epoch(copy, capsys):
    """Killed after epoch 2's checkpoint, before state.json said so: nothing is left to train."""
    run, config = copy
    (run / "state.json").write_text(json.dumps({"vae": 1, "lstm": 2, "fitted": True}))
    assert train(config(), capsys)[0] == 0
    assert_complete(run, 2, 2)
    assert not list(run.glob("lstm.before-*"))


def test_state_ahead_of_the_checkpoint_trains_the_missing_epoch(copy, capsys):
    """state.json (and the log) claim epoch 3, the checkpoint holds 2: epoch 3 is trained, logged once."""
    run, config = copy
    (run / "state.json").write_text(json.dumps({"vae": 3, "lstm": 2, "fitted": True}))
    log = run / "vae_log.csv"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines) + "2" + lines[-1][1:])
    assert train(config(num_epochs_vae=3), capsys)[0] == 0
    assert_complete(run, 3, 2)


# ---- early stopping, a diverged model, figures and logs across a kill ----


class InterruptAfter(keras.callbacks.Callback):
    """Ctrl-C once ``epochs`` epochs are checkpointed."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            raise KeyboardInterrupt


def same_weights(a: Path, b: Path) -> None:
    for x, y in zip(*(keras.saving.load_model(path).get_weights() for path in (a, b)), strict=True):
        np.testing.assert_array_equal(x, y)


def train_vae(config, run: Path, *callbacks) -> None:
    """The VAE stage alone, as train.py trains it (seeded first), with ``callbacks`` in place of its figures."""
    from vae_lstm.data_loader import load_series
    from vae_lstm.detectors import vae_lstm as trainers

    keras.utils.set_random_seed(config.seed)
    run.mkdir(parents=True, exist_ok=True)
    trainer = trainers.VAETrainer(config, run, load_series("synthetic").train)
    trainer.extra_callbacks = lambda: list(callbacks)
    trainer.train()


class InterruptInFirstBatch(keras.callbacks.Callback):
    """Ctrl-C in the first batch: no epoch, so no checkpoint, is done."""

    def on_train_batch_end(self, batch, logs=None):
        raise KeyboardInterrupt


@pytest.mark.parametrize("load_model", [1, 0])
def test_a_run_interrupted_before_its_first_checkpoint_holds_no_training(tmp_path, capsys, monkeypatch, load_model):
    """Killed in the VAE's first epoch, a run folder held state.json ({}) and so counted as trained: a changed
    training key was refused as "was trained with", load_model 0's line told to resume a folder with no finished
    epoch, and its next run trained in <name>_run2 saying the folder "already holds a trained run". Nothing was
    trained: the folder takes the next run, changed keys included."""
    from vae_lstm.detectors import vae_lstm as trainers

    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out", load_model=load_model)
    with monkeypatch.context() as m:
        m.setattr(trainers.VAETrainer, "extra_callbacks", lambda self: [InterruptInFirstBatch()])
        status, err, _ = train(cfg, capsys)
    assert status == 130 and err == [f"interrupted: {errors.RESUME_TRAINING}"], err
    run = tmp_path / "out" / RUN_NAME
    assert not (run / "state.json").exists() and not list(run.glob("*.keras"))
    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out", load_model=load_model, learning_rate_vae=0.002,
                       num_epochs_vae=1, num_epochs_lstm=1)
    status, err, out = train(cfg, capsys)
    assert status == 0, err
    assert "already holds a trained run" not in out and f"run folder: {run}\n" in out, out
    assert json.loads((run / "config.json").read_text())["learning_rate_vae"] == 0.002
    assert state(run) == {"vae": 1, "lstm": 1, "fitted": True}
    assert not (run.parent / f"{run.name}_run2").exists()


def test_early_stopping_resumed_stops_as_an_uninterrupted_run(tmp_path, capsys):
    """Killed while early stopping waits (its last epoch did not improve) and resumed, the stage stops at the
    epoch, and with the best weights, of the run never killed; killed after the stop's checkpoint, before
    state.json says so, it stays stopped."""
    from vae_lstm.config import from_dict

    config = from_dict({**TINY, "num_epochs_vae": 30, "learning_rate_vae": 0.05, "early_stopping_patience": 2})
    whole, run = tmp_path / "whole", tmp_path / "killed"
    train_vae(config, whole)
    stopped = state(whole)["vae_stopped_early_at"]
    assert 3 <= stopped < 30
    with pytest.raises(KeyboardInterrupt):  # one epoch before the stop: waiting, with patience 2
        train_vae(config, run, InterruptAfter(stopped - 1))
    train_vae(config, run)
    assert state(run) == state(whole) == {"vae": stopped, "vae_stopped_early_at": stopped}
    assert (run / "vae_log.csv").read_bytes() == (whole / "vae_log.csv").read_bytes()
    same_weights(run / "vae.keras", whole / "vae.keras")

    log = (run / "vae_log.csv").read_bytes()
    (run / "state.json").write_text(json.dumps({"vae": stopped}))  # killed right after the stop's checkpoint
    capsys.readouterr()
    train_vae(config, run)
    assert "early stopping ended its training" in capsys.readouterr().out
    assert state(run) == state(whole)
    assert (run / "vae_log.csv").read_bytes() == log


class TinyModel:
    """A one-layer model for the generic trainer: trains in milliseconds."""

    @staticmethod
    def store(config, run: Path):
        from vae_lstm.optimizers import FusedAdam
        from vae_lstm.training import BaseModel

        class Tiny(BaseModel):
            name = "tiny"

            def build(self):
                return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])

            def compile(self, model, steps_per_epoch):
                model.compile(optimizer=FusedAdam(0.1), loss="mse")

        return Tiny(config, run)


def test_an_epoch_whose_weights_went_nan_at_a_finite_loss_is_not_checkpointed(tmp_path):
    """A step whose loss is finite but whose gradient is NaN (a norm at 0) made every weight NaN at the end of an
    epoch whose loss was finite: without validation data nothing saw it, that epoch was checkpointed, and the next
    epoch's NaN loss said the checkpoint "keeps epoch 1", whose weights were NaN. Now that epoch stops it."""
    from vae_lstm.config import from_dict
    from vae_lstm.optimizers import FusedAdam
    from vae_lstm.training import BaseModel, BaseTrainer

    class Norm(BaseModel):
        name = "tiny"

        def build(self):
            return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])

        def compile(self, model, steps_per_epoch):
            model.compile(optimizer=FusedAdam(0.1), loss=lambda y, p: keras.ops.sqrt(keras.ops.mean(keras.ops.square(p))))

    run = tmp_path / "run"
    trainer = BaseTrainer(Norm(from_dict(TINY), run), from_dict(TINY), run, 2, 16)
    trainer.verbosity = lambda: 0
    x = np.ones((16, 2), "float32")
    with pytest.raises(errors.UserError) as stopped:
        trainer.fit(x, x[:, :1])
    assert str(stopped.value) == ("model: 2 of its 2 weights are NaN/inf at epoch 1 of 2 (the model diverged); train with "
                                  "a lower learning rate in a new run folder (load_model: 0; in an experiment, another "
                                  "output_dir or move this run folder away); no checkpoint was written")
    assert not (run / "tiny.keras").exists() and "model" not in json.loads((run / "state.json").read_text())


def test_a_stage_fitted_for_more_epochs_under_early_stopping_goes_on_from_its_last_weights(tmp_path, monkeypatch):
    """A stage trained for 3 epochs whose last was not its best keeps the best (epoch 2) in its checkpoint; fit
    for more epochs then went on from those weights rather than from epoch 3's, so that it trained other weights
    than one fit for the 5 epochs at once (a VAE so resumed stopped at epoch 7 of 10 where the whole run trained
    all 10). It goes on from epoch 3's weights, and ends with the uninterrupted run's best ones."""
    from vae_lstm.config import from_dict
    from vae_lstm.training import BaseTrainer, EarlyStop

    val_losses = [3.0, 1.0, 2.0, 0.5, 0.6]  # scripted: epoch 2 best after 3 epochs, epoch 4 after 5
    real = EarlyStop.on_epoch_end
    monkeypatch.setattr(EarlyStop, "on_epoch_end",
                        lambda self, epoch, logs=None: real(self, epoch, {**logs, "val_loss": val_losses[epoch]}))
    config = from_dict({**TINY, "early_stopping_patience": 3})
    x = np.linspace(-1, 1, 32, dtype="float32").reshape(16, 2)
    y = x.sum(axis=1, keepdims=True) * 3 + 1

    def fit(run: Path, epochs: int) -> list:
        keras.utils.set_random_seed(0)
        trainer = BaseTrainer(TinyModel.store(config, run), config, run, epochs, 16)
        trainer.verbosity = lambda: 0
        trainer.fit(x, y, validation_data=(x, y))
        return keras.saving.load_model(run / "tiny.keras").get_weights()

    whole = fit(tmp_path / "whole", 5)
    fit(tmp_path / "more", 3)
    more = fit(tmp_path / "more", 5)
    for a, b in zip(whole, more, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_diverged_stage_stops_in_one_line_and_is_not_done(tmp_path, capsys):
    """A learning rate that makes the loss NaN stops at the first such epoch, with one line naming the stage,
    the epoch and the learning rate; that epoch is neither logged nor checkpointed, and the run is not fitted.
    state.json keeps what diverged: detect.py said to run train.py again to finish the run, which diverged again."""
    from vae_lstm.config import load_config
    from vae_lstm.runs import refuse_unfinished

    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out", num_epochs_vae=4, learning_rate_vae=0.5,
                       grad_clip_value=0)
    status, err, _ = train(cfg, capsys)
    run = tmp_path / "out" / RUN_NAME
    done = state(run).get("vae", 0)
    assert status == 2 and len(err) == 1, err
    assert re.search(f"vae: the (validation )?loss is nan at epoch {done + 1} of 4 ", err[0]), err[0]
    assert "learning_rate_vae (now 0.5)" in err[0] and f"vae.keras keeps epoch {done}" in err[0], err[0]
    diverged = "its vae stopped: " + err[0].removeprefix("error: vae: ").split("; vae.keras keeps")[0]
    assert 1 <= done < 4 and state(run) == {"vae": done, "diverged": diverged}
    with pytest.raises(errors.UserError) as refused:
        refuse_unfinished(load_config(cfg), run)
    assert str(refused.value) == f"run folder {run} has not finished training (vae {done} epochs done): {diverged}"
    assert epochs_in_log(run / "vae_log.csv") == list(range(done))
    assert vae_iterations(run) == done * VAE_STEPS
    assert not (run / "lstm.keras").exists()


@pytest.mark.parametrize("losses, start, noted", [
    ([2.4e28, 1.6e29, 1.0e30], 0, "from 2.4e+28 (epoch 1) to 1e+30 (epoch 3)"),  # a learning rate of 1 did this
    ([10.0, 9.0, 10.9], 4, None),                # 9% above the first epoch's: within LOSS_RISE
    ([10.0, 9.0, 11.5], 4, "from 10 (epoch 5) to 11.5 (epoch 7)"),  # resumed at epoch 5: 15% above
    ([-5.0, -6.0, -4.0], 0, "from -5 (epoch 1) to -4 (epoch 3)"),  # learned sigma: the ELBO can be negative
    ([-5.0, -6.0, -4.6], 0, None),
    ([3.0], 0, None),                             # one epoch: nothing to compare
])
def test_a_loss_that_ends_well_above_its_first_epochs_is_noted(losses, start, noted):
    """A finite but diverged training (a learning rate of 1 took the VAE's loss from 2e28 to 1e30 in 4 epochs)
    finished without a word; detection then scored with a model that learned nothing."""
    from vae_lstm.detectors.vae_lstm import VAETrainer

    trainer = VAETrainer.__new__(VAETrainer)
    trainer.config = {"learning_rate_vae": 1.0}
    note = trainer.rise_note(losses, start)
    if noted is None:
        assert note is None
    else:
        assert note.startswith("vae: note: its training loss rose ") and noted in note, note
        assert note.endswith("try a lower learning_rate_vae (now 1.0) in a new run folder"), note


@pytest.mark.parametrize("losses, kept_epoch, noted", [
    ([10.0, 5.0, 12.0, 14.0], 1, None),  # early stopping kept epoch 2, which learned: the later rise is not the model
    ([10.0, 12.0, 11.0, 15.0], 1, "from 10 (epoch 1) to 12 (epoch 2, the epoch early stopping kept)"),
    ([10.0, 12.0, 11.0], 0, None),  # the first epoch kept: nothing to compare
])
def test_the_loss_rise_note_is_about_the_epoch_early_stopping_kept(losses, kept_epoch, noted):
    """With early stopping the model is the best epoch's (restore_best_weights), not the last's: a loss that fell,
    then rose after that epoch, was noted as a model that "did not learn"."""
    from vae_lstm.detectors.vae_lstm import VAETrainer

    trainer = VAETrainer.__new__(VAETrainer)
    trainer.config = {"learning_rate_vae": 1.0}
    note = trainer.rise_note(losses, 0, kept_epoch)
    assert note == (None if noted is None else f"vae: note: its training loss rose {noted}; it did not learn: try a "
                    "lower learning_rate_vae (now 1.0) in a new run folder")


def test_figures_a_kill_cut_short_are_drawn_by_the_next_run(copy, capsys, monkeypatch):
    """Killed while drawing the figures of a finished run: no half a figure is left, and the next run, which
    trains nothing, draws the missing ones."""
    from matplotlib.figure import Figure

    run, config = copy
    cfg = config()
    figures = sorted(p.name for p in (run / "figures").iterdir())
    assert len(figures) == 6
    for name in ("vae_prior_samples.png", "lstm_codes.png"):
        (run / "figures" / name).unlink()
    log = (run / "vae_log.csv").read_bytes()

    def killed(self, path, *args, **kwargs):  # half a PNG written, then the kill
        Path(path).write_bytes(b"\x89PNG\r\n")
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(Figure, "savefig", killed)
        assert train(cfg, capsys)[0] == 130
    left = [f for f in figures if f not in ("vae_prior_samples.png", "lstm_codes.png")]
    assert sorted(p.name for p in (run / "figures").iterdir()) == left  # no half a figure
    status, _, out = train(cfg, capsys)
    assert status == 0 and "drawing its missing figures" in out
    assert sorted(p.name for p in (run / "figures").iterdir()) == figures
    assert (run / "figures" / "lstm_codes.png").stat().st_size > 1000
    assert (run / "vae_log.csv").read_bytes() == log
    assert_complete(run, 2, 2)


def test_damaged_log_rows_are_dropped_and_a_headless_log_set_aside(copy, capsys):
    """Garbage in a finished run's logs (a damaged disk): the next run drops the bad rows, or sets aside a log
    whose header is gone, each with one line, and trains nothing."""
    run, config = copy
    vae_log = run / "vae_log.csv"
    lines = vae_log.read_text().splitlines(keepends=True)
    vae_log.write_text("".join([lines[0], lines[1], "\x00\x00\x00\x00\r\n", "1,not,a,number\r\n", lines[2]]))
    lstm_log = run / "lstm_log.csv"
    lstm_log.write_bytes(b"\x00" * 64 + lstm_log.read_bytes()[64:])
    (run / "figures" / "lstm_loss.png").unlink()  # and its curves missing: no log to draw them from
    status, err, out = train(config(), capsys)
    assert status == 0, err
    assert f"{vae_log}: dropped 2 damaged rows" in out
    assert f"{lstm_log} has no header line (damaged): kept as lstm_log.csv.damaged" in out
    assert vae_log.read_text() == "".join(lines)
    assert not lstm_log.exists() and (run / "lstm_log.csv.damaged").is_file()
    assert "missing figures" not in out
    assert state(run) == {"vae": 2, "lstm": 2, "fitted": True}


@pytest.mark.parametrize("lost", ["file", "rows"])
def test_a_log_that_lost_the_checkpoints_epochs_is_said_before_it_goes_on(copy, capsys, lost):
    """A lost vae_log.csv (or one restored from an older copy) went on silently with the resumed epochs only: the
    loss curves then began at epoch 3, or jumped from epoch 1 to 3, with no word."""
    run, config = copy
    log = run / "vae_log.csv"
    lines = log.read_text().splitlines(keepends=True)
    if lost == "file":
        log.unlink()
    else:
        log.write_text(lines[0] + lines[1])
    status, err, out = train(config(num_epochs_vae=3), capsys)
    assert status == 0, err
    missing = "2 of the 2 epochs its checkpoint holds, from epoch 1" if lost == "file" else \
        "1 of the 2 epochs its checkpoint holds, from epoch 2"
    assert f"vae: vae_log.csv lacks the rows of {missing} (lost): its loss curves go on without them" in out, out
    assert epochs_in_log(log) == ([2] if lost == "file" else [0, 2])


# ---- 4. SIGTERM ----

SIGNAL_SCRIPT = """
import os, signal, sys, time
from vae_lstm.errors import run_cli

signals = [getattr(signal, name) for name in sys.argv[1].split("+")]
signum = signals[0]
for each in signals:  # as a shell leaves them, whatever this test's own parent did (nohup ignores SIGHUP)
    signal.signal(each, signal.SIG_IGN if sys.argv[2] == "ignored" else signal.SIG_DFL)
before = signal.getsignal(signum)

def main(argv):
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)  # all of them delivered at once, as systemd sends them
    for each in signals:
        os.kill(os.getpid(), each)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
    time.sleep(0.5)
    print("went on")

code = run_cli(main)
print("restored" if signal.getsignal(signum) == before else "not restored")
sys.exit(code)
"""


@pytest.mark.parametrize("name, handled", [("SIGTERM", "default"), ("SIGHUP", "default"), ("SIGHUP", "ignored"),
                                           ("SIGHUP+SIGTERM", "default")])
def test_sigterm_and_sighup_are_handled_like_ctrl_c(name, handled):
    """SIGTERM (a scheduler's, timeout's) and SIGHUP (a closed terminal, 'kill -HUP') stop a command with the line
    saying how to resume, and exit 128 + the signal's number; SIGHUP killed it with no line at all. A SIGHUP that
    nohup set to be ignored stays ignored: the command goes on. Both at once (systemd ends a session with SIGTERM
    and SIGHUP): the second raised its interrupt while the first one's was handled, a traceback and exit 1."""
    done = subprocess.run([sys.executable, "-c", SIGNAL_SCRIPT, name, handled], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO / "codes")})
    if handled == "ignored":
        assert (done.returncode, done.stdout.split(), done.stderr) == (0, ["went", "on", "restored"], ""), done
        return
    assert done.returncode == 128 + getattr(signal, name.split("+")[0]), done
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("interrupted: run the same command again to resume"), err
    assert done.stdout.strip() == "restored"


SECOND_CTRL_C = """
import atexit, os, runpy, signal, sys, time, types
script, module, name, when = sys.argv[1:5]
signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal leaves it, whatever this test's parent did

def main(argv):
    if when == "exiting":  # the second one while Python ends (the grid's worker threads joined, TensorFlow's exit)
        atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(0.5), print("not ended at once")))
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
    finally:
        if when == "handled":  # the second one while the first one's interrupt is handled (workers stopped, a part
            os.kill(os.getpid(), signal.SIGINT)  # file removed)
            time.sleep(0.2)
            print("cleaned up")
        if when == "hung":  # a clean-up that does not end (a lost cluster's shutdown): Ctrl-C twice more
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(20)
            print("cleaned up")

stand_in = types.ModuleType(module)
setattr(stand_in, name, main)
sys.modules[module] = stand_in
sys.argv = [script]
runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.parametrize("script, module, name, when", [
    ("train.py", "vae_lstm.cli", "train_main", "handled"), ("train.py", "vae_lstm.cli", "train_main", "exiting"),
    ("detect.py", "vae_lstm.cli", "detect_main", "exiting"), ("reproduce.py", "vae_lstm.reproduce", "main", "exiting"),
    ("reproduce.py", "vae_lstm.reproduce", "main", "hung")])
def test_a_second_ctrl_c_ends_the_command_as_the_first_one_does(script, module, name, when):
    """A second Ctrl-C while the first one's interrupt was handled cut its clean-up short (the grid's workers left
    running, a part file left); one while the process ended, after the line saying how to resume, printed Python's
    "Exception ignored" traceback. The second one now changes nothing: exit 130, the one line. A clean-up that does
    not end is not waited for past a third Ctrl-C (only a SIGKILL ended it): the process ends at once, saying so."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", SECOND_CTRL_C, str(REPO / "codes" / script), module, name, when],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO / "codes")})
    assert done.returncode == 130, done
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("interrupted: run the same command again"), done.stderr
    assert done.stdout == ("cleaned up\n" if when == "handled" else ""), done
    assert time.monotonic() - started < 15, done


# ---- 6. killed while writing a checkpoint, then the same command ----

DRIVER = """
import os, runpy, signal, sys
import keras

stage, at, how = os.environ["STAGE"], int(os.environ["AT_SAVE"]), os.environ["HOW"]
real, calls = keras.Model.save, []

def save(self, filepath, *args, **kwargs):
    real(self, filepath, *args, **kwargs)
    if not os.path.basename(filepath).startswith(stage + "."):
        return
    calls.append(filepath)
    if len(calls) == at:
        if how == "kill":  # as if killed half way through writing the file
            os.truncate(filepath, os.path.getsize(filepath) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGTERM)

keras.Model.save = save
sys.argv = ["codes/train.py", *sys.argv[1:]]
runpy.run_path("codes/train.py", run_name="__main__")
"""


def run_train_py(args: list[str], **env) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "codes"), "TF_CPP_MIN_LOG_LEVEL": "3",
           "CUDA_VISIBLE_DEVICES": "", **env}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("how, stage, returncodes", [
    ("kill", "vae", (-signal.SIGKILL,)),  # SIGKILL half way through the VAE's epoch-2 checkpoint
    ("term", "lstm", (130, 143)),         # SIGTERM once the LSTM's epoch-2 checkpoint is written
], ids=["sigkill-vae", "sigterm-lstm"])
def test_killed_during_a_checkpoint_the_same_command_finishes(tmp_path, how, stage, returncodes):
    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out", num_epochs_vae=3)
    killed = run_train_py(["-c", DRIVER, "--config", str(cfg)], STAGE=stage, AT_SAVE="2", HOW=how)
    assert killed.returncode in returncodes, killed.stderr[-3000:]
    if how == "term":
        assert killed.stderr.strip().splitlines()[-1].startswith("interrupted: run the same command again")
    assert errors.run_cli(cli.train_main, ["--config", str(cfg)]) == 0  # train.py's own call, in this process
    assert_complete(tmp_path / "out" / RUN_NAME, 3, 2)


# ---- 5. one-line errors for configs and folders ----


def assert_one_line_error(config_path, capsys, *words):
    status, err, _ = train(config_path, capsys)
    assert status == 2
    assert len(err) == 1 and err[0].startswith("error:"), err
    for word in words:
        assert word in err[0], (word, err[0])
    return err[0]


def test_config_with_non_utf8_bytes(tmp_path, capsys):
    cfg = tmp_path / "latin1.json"
    cfg.write_bytes(json.dumps({**TINY, "exp_name": "caf\u00e9"}, ensure_ascii=False).encode("latin-1"))
    assert_one_line_error(cfg, capsys, "latin1.json", "UTF-8")


def test_config_that_is_a_folder(tmp_path, capsys):
    line = assert_one_line_error(tmp_path, capsys, str(tmp_path), "folder")
    assert "not found" not in line


@pytest.mark.parametrize("key, where", [("output_dir", "file"), ("output_dir", "file/below"),
                                        ("load_dir", "file"), ("load_dir", "file/below")])
def test_folder_key_that_is_a_file(tmp_path, capsys, key, where):
    (tmp_path / "file").write_text("not a folder")
    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out", **{key: str(tmp_path / where)})
    assert_one_line_error(cfg, capsys, key, str(tmp_path / "file"), "is a file")


@pytest.mark.parametrize("detector", ["vae_lstm", "abs_z"])
@pytest.mark.parametrize("inside", ["notes.txt", "some_run/state.json"])
def test_a_load_dir_that_holds_files_but_no_run_is_refused_before_anything_is_written(tmp_path, capsys, detector,
                                                                                      inside):
    """load_dir naming a folder of one's own (a data folder, or the exp_name folder above the run folders): train.py
    trained a new run there, its config.json, state.json and checkpoints among that folder's files (over a file of
    the same name), where detect.py --run-dir refuses such a folder."""
    folder = tmp_path / "mine"
    (folder / inside).parent.mkdir(parents=True, exist_ok=True)
    (folder / inside).write_text("{}")
    before = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out", load_dir=str(folder), detector=detector)
    problem = "holds files but no run" if inside == "notes.txt" else f"holds a run folder but is not one ({folder / 'some_run'})"
    assert_one_line_error(cfg, capsys, "load_dir", f"{folder} {problem}")
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == before


@pytest.mark.parametrize("detector", ["vae_lstm", "abs_z"])
def test_a_load_dir_that_holds_the_users_own_config_file_is_no_run_folder(tmp_path, capsys, detector):
    """A config.json of one's own (a project folder: the config beside its data) made its folder count as a run
    folder: load_dir naming it trained there, writing state.json and checkpoints among the user's files and the
    resolved config over the user's config.json. A run folder's config.json comes with the files a run writes
    (its lock, state.json, training_data.json)."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    cfg = write_config(folder / "config.json", tmp_path / "out", load_dir=str(folder), detector=detector)
    text = cfg.read_text()
    assert_one_line_error(cfg, capsys, "load_dir", f"{folder} holds files but no run")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "notes.txt"]
    assert cfg.read_text() == text


@pytest.mark.parametrize("detector", ["vae_lstm", "abs_z"])
def test_a_run_folder_of_output_dir_that_holds_the_users_own_files_is_refused(tmp_path, capsys, detector):
    """A folder of one's own where output_dir and exp_name put the config's run folder (a config.json and notes):
    train.py trained there, writing the resolved config over the user's config.json and its logs and checkpoints
    among the files, and detect.py scored a control there, as load_dir naming such a folder is refused."""
    folder = tmp_path / "out" / RUN_NAME.replace("vae_lstm", detector)
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    (folder / "config.json").write_text('{"mine": 1}')
    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out", detector=detector)
    line = assert_one_line_error(cfg, capsys, "output_dir", f"{folder} holds files but no run")
    assert "set another output_dir or exp_name" in line
    capsys.readouterr()
    assert errors.run_cli(cli.detect_main, ["--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{folder} holds files but no run" in err[0], err
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "notes.txt"]
    assert (folder / "config.json").read_text() == '{"mine": 1}'


@pytest.mark.parametrize("depth", ["runs", "exp_name folders"])
def test_a_load_dir_above_the_run_folders_names_some_of_them(tmp_path, capsys, depth):
    """load_dir naming the folder above the runs (experiments/NAB, or experiments above the exp_name folders) was
    refused as "holds files but no run (no config.json, state.json, detection/ or model)": it holds run folders,
    and the line names two of them to pick from."""
    folder = tmp_path / "experiments"
    below = folder / "NAB" if depth == "exp_name folders" else folder
    for name, run_file in (("c_run", "training_data.json"), ("a_run", "state.json"), ("b_run", "vae.keras")):
        (below / name).mkdir(parents=True)
        (below / name / run_file).write_text("{}")
    (below / ".hidden_run").mkdir()
    (below / ".hidden_run" / "state.json").write_text("{}")
    (folder / "notes.txt").write_text("mine")
    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out", load_dir=str(folder))
    line = assert_one_line_error(cfg, capsys)
    assert line == (f"error: cfg.json: key 'load_dir' = '{folder}': {folder} holds 3 run folders but is not one "
                    f"(such as {below / 'a_run'} or {below / 'b_run'}); name a run folder, or a new or empty folder "
                    "to train in")


def test_a_load_dir_that_holds_only_a_lock_is_a_run_folder(tmp_path):
    """What a run killed before it wrote its config.json leaves (its lock) is a run folder to train in, not a
    folder of someone else's files."""
    from vae_lstm.config import from_dict, run_dir

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "train.lock").write_text("")
    assert run_dir(from_dict({**TINY, "load_dir": str(folder)})) == folder


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody may write in (root too: the immutable flag), or skip where that can't be made."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    try:
        (folder / "probe").touch()
    except OSError:
        yield folder
    else:
        pytest.skip("cannot make a read-only folder here")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        folder.chmod(0o755)


def test_check_writable(read_only, tmp_path):
    from vae_lstm.config import check_writable

    check_writable(tmp_path / "new" / "folder")  # creatable: fine
    for path in (read_only, read_only / "run"):
        with pytest.raises(ConfigError, match=str(read_only)):
            check_writable(path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        check_writable(tmp_path / "file" / "run")


def test_read_only_output_dir(read_only, tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.json", read_only)
    assert_one_line_error(cfg, capsys, str(read_only))


def test_read_only_output_dir_of_a_control_scored_by_detect(read_only, tmp_path, capsys):
    """detect.py scoring a control (no training) whose run folder lies in a folder that cannot be written said only
    "error: <output_dir>/tiny: Permission denied" (or "Read-only file system"), not what to do, as train.py does."""
    cfg = write_config(tmp_path / "cfg.json", read_only, detector="abs_z")
    capsys.readouterr()
    assert errors.run_cli(cli.detect_main, ["--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot write in {read_only} ("), err
    assert err[0].endswith("choose another output_dir or make it writable"), err


def test_a_damaged_vae_under_train_vae_0_with_other_epochs_names_the_runs_own_epochs(copy, capsys, tmp_path):
    """TRAIN_VAE 0 leaves num_epochs_vae uncompared, so a config may hold another count than the run's. The line said
    only "set TRAIN_VAE: 1", and following it was then refused as a changed num_epochs_vae; it now names the run's own
    count as well, and those settings resume the run."""
    run, _ = copy
    truncate(run / "vae.keras")
    planned = json.loads((run / "config.json").read_text())["num_epochs_vae"]
    status, err, _ = train(write_config(tmp_path / "cfg.json", run.parents[1], TRAIN_VAE=0, num_epochs_vae=planned + 3),
                           capsys)
    assert status == 2 and len(err) == 1, err
    assert f"set TRAIN_VAE: 1 and num_epochs_vae: {planned}, then run 'python3 codes/train.py" in err[0], err[0]
    status, err, _ = train(write_config(tmp_path / "cfg.json", run.parents[1], num_epochs_vae=planned + 3), capsys)
    assert status == 2 and "num_epochs_vae" in err[0], err  # TRAIN_VAE: 1 alone: refused as a changed training key
    status, err, _ = train(write_config(tmp_path / "cfg.json", run.parents[1], num_epochs_vae=planned), capsys)
    assert status == 0, err
    assert_complete(run, 2, 2)


def test_a_trained_folder_without_its_config_json_is_refused_not_resumed_unchecked(tmp_path, capsys):
    """config.json records the keys a run was trained with; lost or deleted, a changed training key (here the VAE's
    learning rate) resumed the run without a word, mixing two configs' training in one folder, and detect.py scored
    it as trained with the config's keys."""
    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out", num_epochs_vae=1, num_epochs_lstm=1)
    status, err, _ = train(cfg, capsys)
    assert status == 0, err
    run = tmp_path / "out" / RUN_NAME
    (run / "config.json").unlink()
    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out", num_epochs_vae=2, num_epochs_lstm=1,
                       learning_rate_vae=0.002)
    status, err, _ = train(cfg, capsys)
    assert status == 2 and len(err) == 1 and err[0].startswith(
        f"error: run folder {run} holds training but no config.json, which records the keys it was trained with, so "
        "a resume there cannot be checked: put its config.json back, or set load_model: 0"), err
    assert state(run) == {"vae": 1, "lstm": 1, "fitted": True}
    capsys.readouterr()
    assert errors.run_cli(cli.detect_main, ["--config", str(cfg), "--run-dir", str(run)]) == 2
    assert "holds training but no config.json" in capsys.readouterr().err
