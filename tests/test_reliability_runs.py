"""A run folder holds one training of one config: a lock against a second writer, refused changes of
training keys, detect on the latest run of its config, and refusals that leave no empty folder."""

import csv
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vae_lstm import cli, detection, errors, runs
from vae_lstm.config import from_dict, load_config, run_dir, save_config
from vae_lstm.data_loader import load_series
from vae_lstm.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
pytestmark = pytest.mark.slow

TINY = {
    "exp_name": "tiny", "dataset": "synthetic", "l_win": 24, "l_seq": 4, "n_channel": 1, "code_size": 2,
    "num_hidden_units": 16, "num_hidden_units_lstm": 16, "batch_size": 128, "batch_size_lstm": 128,
    "num_epochs_vae": 1, "num_epochs_lstm": 1, "learning_rate_vae": 0.001, "learning_rate_lstm": 0.001,
    "seed": 0,
}
NAME = "synthetic_vae_lstm_lwin24_lseq4_code2_seed0"


def write_config(path: Path, out: Path, **changes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**TINY, "output_dir": str(out), **changes}))
    return path


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error:")
    return lines[0]


def epochs_logged(path: Path) -> list[int]:
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


class Reached(Exception):
    """Raised by the stand-in for run_detection: detection was reached, with this run folder."""


@pytest.fixture
def detect_spy(monkeypatch):
    """detect_main stops where it would score, and says which run folder it was given."""
    def spy(config, path=None, controls=True, series=None):
        raise Reached(path)

    monkeypatch.setattr(detection, "run_detection", spy)


def detect_path(config_path: Path, *extra) -> Path:
    with pytest.raises(Reached) as reached:
        cli.detect_main(["--config", str(config_path), *extra])
    return Path(reached.value.args[0])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """TINY trained once; each test that trains more works on its own copy or in a new folder."""
    tmp = tmp_path_factory.mktemp("trained")
    cfg = write_config(tmp / "cfg" / "tiny.json", tmp / "out")
    assert cli.train_main(["--config", str(cfg)]) == 0
    run = tmp / "out" / "tiny" / NAME
    return {"tmp": tmp, "out": tmp / "out", "run": run, "config": cfg}


# ---- 1. one writer per run folder ----


def test_second_training_of_one_config_is_refused_with_the_holders_pid(tmp_path, capsys):
    """A second training of a config that a train.py process trains (held at the end of its fit until the
    second has finished) stops at once with one line naming the first's PID (train.py's own call, run in this
    process: another process than the holder, which is what the lock tells apart)."""
    cfg = write_config(tmp_path / "tiny.json", tmp_path / "out")
    ready, go = tmp_path / "ready", tmp_path / "go"
    held = (
        "import runpy, sys, time\n"
        "from pathlib import Path\n"
        "from vae_lstm.detectors import vae_lstm as m\n"
        "fit = m.VAELSTMDetector.fit\n"
        "def held_fit(self, *args):\n"
        "    fit(self, *args)\n"
        f"    Path({str(ready)!r}).touch()\n"
        f"    while not Path({str(go)!r}).exists():\n"
        "        time.sleep(0.2)\n"
        "m.VAELSTMDetector.fit = held_fit\n"
        f"sys.argv = ['codes/train.py', '--config', {str(cfg)!r}]\n"
        "runpy.run_path('codes/train.py', run_name='__main__')\n"
    )
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen([sys.executable, "-c", held], cwd=ROOT, env=ENV, stdout=log, stderr=log, text=True)
        try:
            deadline = time.monotonic() + 300
            while not ready.exists():
                assert first.poll() is None, (tmp_path / "first.log").read_text()
                assert time.monotonic() < deadline
                time.sleep(0.2)
            capsys.readouterr()
            second = errors.run_cli(cli.train_main, ["--config", str(cfg)])
            err = capsys.readouterr().err
        finally:
            go.touch()
            first.wait(timeout=300)
    assert first.returncode == 0, (tmp_path / "first.log").read_text()
    assert second == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    assert f"PID {first.pid}" in lines[0]
    run = tmp_path / "out" / "tiny" / NAME
    state = json.loads((run / "state.json").read_text())
    assert set(state.pop("training_seconds")) == {"vae", "lstm"} and state == {"vae": 1, "lstm": 1, "fitted": True}
    assert epochs_logged(run / "vae_log.csv") == [0]
    assert epochs_logged(run / "lstm_log.csv") == [0]
    assert sorted(p.name for p in run.parent.iterdir()) == [NAME]


# ---- 2. a changed training key is refused, an output-only key is not ----


@pytest.mark.parametrize("key, value", [("learning_rate_vae", 0.002), ("num_epochs_vae", 2),
                                        ("val_fraction", 0.2), ("adam_beta2", 0.9)])
def test_changed_training_key_is_refused_and_changes_nothing(trained, key, value, capsys):
    before = snapshot(trained["out"])
    cfg = write_config(trained["tmp"] / "cfg" / f"{key}.json", trained["out"], **{key: value})
    assert errors.run_cli(cli.train_main, ["--config", str(cfg)]) == 2
    line = one_error_line(capsys)
    saved = json.loads((trained["run"] / "config.json").read_text())[key]
    assert f"{key}={saved!r}" in line and repr(value) in line
    assert "load_model: 0" in line and f"{NAME}_run2" in line
    assert snapshot(trained["out"]) == before


def test_a_refused_change_under_a_skipped_stage_gives_advice_that_trains(trained, tmp_path, capsys):
    """More LSTM epochs with TRAIN_VAE 0 are refused; the line said only "set load_model: 0", and a new folder
    has no VAE to skip to, so following it was refused in turn. It now names TRAIN_VAE: 1 too, and that trains."""
    out = tmp_path / "out"
    shutil.copytree(trained["out"], out)  # a copy: the new run folder must not join the shared one's
    cfg = write_config(tmp_path / "lstm_only.json", out, TRAIN_VAE=0, num_epochs_lstm=2)
    assert errors.run_cli(cli.train_main, ["--config", str(cfg)]) == 2
    line = one_error_line(capsys)
    assert "set load_model: 0 and TRAIN_VAE: 1 to train a new run in" in line and f"{NAME}_run2" in line, line
    advised = write_config(tmp_path / "advised.json", out, TRAIN_VAE=1, num_epochs_lstm=2, load_model=0)
    assert errors.run_cli(cli.train_main, ["--config", str(advised)]) == 0
    assert (out / "tiny" / f"{NAME}_run2" / "lstm.keras").is_file()


def test_output_only_change_resumes_and_trains_nothing(trained):
    models = {name: (trained["run"] / name).read_bytes() for name in ("vae.keras", "lstm.keras")}
    cfg = write_config(trained["tmp"] / "cfg" / "output_only.json", trained["out"], threshold_quantile=0.95,
                       score_batch_size=64, tensorboard=1, threshold_rule="pot")
    assert cli.train_main(["--config", str(cfg)]) == 0
    assert {name: (trained["run"] / name).read_bytes() for name in models} == models
    assert epochs_logged(trained["run"] / "vae_log.csv") == [0]
    assert json.loads((trained["run"] / "config.json").read_text())["threshold_quantile"] == 0.99


# ---- 3. detect follows the latest run of its config and checks its saved config ----


def test_load_model_0_run_is_what_detect_and_a_resume_use(trained, detect_spy, capsys):
    base = trained["run"]
    cfg_b = write_config(trained["tmp"] / "cfg" / "lr_b.json", trained["out"], learning_rate_vae=0.002,
                         load_model=0)
    assert cli.train_main(["--config", str(cfg_b)]) == 0
    run2 = base.with_name(f"{NAME}_run2")
    assert json.loads((run2 / "config.json").read_text())["learning_rate_vae"] == 0.002
    assert detect_path(cfg_b) == run2
    assert detect_path(trained["config"]) == base  # the first config's run is still there
    # load_model: 1 with the new value resumes the run made with it, not the first folder
    before = snapshot(base)
    cfg_b1 = write_config(trained["tmp"] / "cfg" / "lr_b1.json", trained["out"], learning_rate_vae=0.002)
    assert cli.train_main(["--config", str(cfg_b1)]) == 0
    assert snapshot(base) == before
    assert epochs_logged(run2 / "vae_log.csv") == [0]
    assert not base.with_name(f"{NAME}_run3").exists()


def test_detect_uses_the_highest_fitted_run(tmp_path, detect_spy):
    cfg_path = write_config(tmp_path / "tiny.json", tmp_path / "out")
    config = from_dict(json.loads(cfg_path.read_text()), source=cfg_path)
    base = run_dir(config)
    for name, state in [(NAME, {"fitted": True}), (f"{NAME}_run2", {"fitted": True}),
                        (f"{NAME}_run10", {"fitted": True}), (f"{NAME}_run11", {"vae": 1})]:
        folder = base.with_name(name)
        folder.mkdir(parents=True)
        (folder / "state.json").write_text(json.dumps(state))
        save_config(config, folder / "config.json")
    assert detect_path(cfg_path) == base.with_name(f"{NAME}_run10")  # _run11 has not finished training
    assert detect_path(cfg_path, "--run-dir", str(base)) == base


def test_detect_refuses_a_run_trained_with_another_shape(trained, detect_spy, capsys):
    cfg = write_config(trained["tmp"] / "cfg" / "lwin16.json", trained["out"], l_win=16)
    assert errors.run_cli(cli.detect_main, ["--config", str(cfg), "--run-dir", str(trained["run"])]) == 2
    line = one_error_line(capsys)
    assert "l_win=24" in line and "16" in line


def test_detect_refuses_when_no_run_has_the_configs_training_values(trained, detect_spy, capsys):
    cfg = write_config(trained["tmp"] / "cfg" / "lr_c.json", trained["out"], learning_rate_lstm=0.005)
    assert errors.run_cli(cli.detect_main, ["--config", str(cfg)]) == 2
    line = one_error_line(capsys)
    assert "learning_rate_lstm=0.001" in line and "0.005" in line


# ---- 4. skipping a stage whose model does not exist yet ----


@pytest.mark.parametrize("changes, key", [({"TRAIN_VAE": 0}, "TRAIN_VAE"), ({"num_epochs_vae": 0}, "num_epochs_vae"),
                                          ({"TRAIN_LSTM": 0}, "TRAIN_LSTM")])
def test_skipping_a_stage_that_was_never_trained(tmp_path, changes, key, capsys):
    cfg = write_config(tmp_path / "tiny.json", tmp_path / "out", **changes)
    assert errors.run_cli(cli.train_main, ["--config", str(cfg)]) == 2
    line = one_error_line(capsys)
    assert "skip" in line and f"{key}: 0" in line
    assert not (tmp_path / "out").exists()


# ---- 5. training and validation sets too small to fit ----


def test_too_few_sequences_are_refused_before_any_folder(tmp_path):
    config = from_dict({**TINY, "output_dir": str(tmp_path / "out")})
    train = load_series("synthetic").train
    # l_win * l_seq = 96 points: 105 points give 10 sequences, 9 to train on and 1 to validate
    with pytest.raises(UserError, match=r"10 sequences.*9 .*train.* 1 .*validat") as refused:
        runs.train(config, train[:105])
    assert len(str(refused.value).splitlines()) == 1
    assert "of 'synthetic'" in str(refused.value)  # the dataset's name, not its config object
    # the whole training block as one sequence: 0 to train on
    with pytest.raises(UserError, match=r"1 sequence\b.*0 .*train"):
        runs.train(config.replace(l_win=25, l_seq=4), train[:100])
    assert not (tmp_path / "out").exists()


def test_xla_and_batches_per_call_change_no_trained_file(trained):
    """jit_compile and steps_per_execution change how training runs, not what a run folder holds: a run trained
    without them is scored (and resumed) with them; a learning rate is a training key."""
    config = load_config(trained["config"])
    assert runs.training_changes(config.replace(jit_compile=True, steps_per_execution=4), trained["run"]) == []
    assert runs.training_changes(config.replace(learning_rate_vae=0.5), trained["run"]) == ["learning_rate_vae"]


def test_another_detectors_keys_change_no_trained_file(trained, tmp_path):
    """A key that only another detector's training reads leaves a run alone: ARMA's orders and the LSTM-VAE's
    beta for a VAE-LSTM run; the VAE's width and learning rate for an ARMA run, whose own order still counts."""
    config = load_config(trained["config"])
    assert runs.training_changes(config.replace(arma_p=5, beta=0.5), trained["run"]) == []
    assert runs.training_changes(config.replace(num_hidden_units=32), trained["run"]) == ["num_hidden_units"]
    arma = tmp_path / "arma_run"
    arma.mkdir()
    save_config(config.replace(detector="arma"), arma / "config.json")
    changed = config.replace(detector="arma", num_hidden_units=32, learning_rate_vae=0.5, num_epochs_lstm=7)
    assert runs.training_changes(changed, arma) == []
    assert runs.training_changes(changed.replace(arma_p=5), arma) == ["arma_p"]


@pytest.mark.parametrize("detector", ["vae_lstm", "vae", "lstm_ad", "lstm_ae", "lstm_vae", "arma"])
def test_a_detectors_training_reads_none_of_its_foreign_keys(detector, tmp_path, monkeypatch):
    """``detectors.FOREIGN_KEYS`` say which keys a detector's training never reads, so that changing them refuses none of
    its runs: every key that a whole training (early stopping and a learned sigma on, so that their branches
    run too) reads is checked against them."""
    from vae_lstm import config as config_module
    from vae_lstm.detectors import FOREIGN_KEYS

    read = set()
    attribute, item = config_module.Config.__getattr__, config_module.Config.__getitem__
    monkeypatch.setattr(config_module.Config, "__getattr__", lambda self, k: read.add(k) or attribute(self, k))
    monkeypatch.setattr(config_module.Config, "__getitem__", lambda self, k: read.add(k) or item(self, k))
    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out", detector=detector, early_stopping_patience=1,
                       TRAIN_sigma=1, num_epochs_vae=2, num_epochs_lstm=2)
    read.clear()
    assert cli.train_main(["--config", str(cfg)]) == 0
    foreign = set(FOREIGN_KEYS[detector])
    assert foreign and not read & foreign, sorted(read & foreign)
    assert {"l_win", "seed"} <= read  # the recording works


def test_a_load_dir_that_does_not_exist_is_said_before_training(tmp_path, monkeypatch, capsys):
    """load_model 1 with a load_dir that does not exist (a typo) resumes nothing: train.py says so, then trains there."""
    monkeypatch.setattr(runs, "train", lambda config, train, **_: (_ for _ in ()).throw(Reached(run_dir(config))))
    missing = tmp_path / "typo"
    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out", load_model=1, load_dir=str(missing))
    with pytest.raises(Reached):
        cli.train_main(["--config", str(cfg)])
    assert f"note: load_dir '{missing}' does not exist: training starts there from scratch" in capsys.readouterr().out
    missing.mkdir()
    with pytest.raises(Reached):
        cli.train_main(["--config", str(cfg)])
    assert "note:" not in capsys.readouterr().out


@pytest.mark.parametrize("changes, note", [
    ({"num_epochs_vae": 5, "num_epochs_lstm": 20, "early_stopping_patience": 4},
     "num_epochs_vae 5"),  # it stops after 5 epochs at the soonest: the last
    ({"num_epochs_vae": 6, "num_epochs_lstm": 6, "early_stopping_patience": 4}, None),  # after 5 of 6
    ({"num_epochs_vae": 1, "num_epochs_lstm": 12, "early_stopping_patience": 20},
     "num_epochs_vae 1 or num_epochs_lstm 12"),
    ({"TRAIN_VAE": 0, "num_epochs_vae": 1, "num_epochs_lstm": 30, "early_stopping_patience": 20}, None),
    ({"detector": "lstm_ad", "num_epochs_vae": 1, "num_epochs_lstm": 3, "early_stopping_patience": 2},
     "num_epochs_lstm 3"),
    ({"detector": "vae", "num_epochs_vae": 20, "num_epochs_lstm": 1, "early_stopping_patience": 2}, None),
    ({"num_epochs_vae": 1, "num_epochs_lstm": 1, "early_stopping_patience": 0}, None),
])
def test_a_patience_that_can_end_no_stage_early_is_said_before_training(tmp_path, monkeypatch, capsys, changes, note):
    """An early_stopping_patience of no fewer epochs than a stage trains, less one, can never end that stage early
    (Keras stops after patience + 1 epochs at the soonest): train.py trained without a word about it."""
    monkeypatch.setattr(runs, "train", lambda config, train, **_: (_ for _ in ()).throw(Reached(run_dir(config))))
    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out", **changes)
    with pytest.raises(Reached):
        cli.train_main(["--config", str(cfg)])
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: early_stopping")]
    patience = changes["early_stopping_patience"]
    assert notes == ([] if note is None else [
        f"note: early_stopping_patience {patience} cannot end the training of {note} early: a stage stops after "
        f"{patience + 1} epochs at the soonest (it still ends on its best epoch's weights)"])


@pytest.mark.parametrize("changes, note", [
    ({"detector": "lstm_ae", "num_hidden_units": 128, "num_hidden_units_lstm": 64},  # the VAE's width, not lstm_ae's
     "num_hidden_units 128 not read by lstm_ae"),
    ({"arma_p": 5, "beta": 2.0, "prediction_horizon": 4}, "beta 2.0, arma_p 5 not read by vae_lstm"),  # 4: its default
    ({"detector": "arma", "arma_p": 3, "code_size": 6, "num_epochs_lstm": 7, "sigma": 0.5},
     "num_epochs_lstm 7, sigma 0.5 not read by arma"),  # code_size: no registry names it foreign to arma
    ({"detector": "random", "beta": 3.0, "l_win": 30}, "beta 3.0 not read by random"),
    ({"detector": "vae_lstm", "num_hidden_units": 128}, None),
    ({"detector": "lstm_ad", "prediction_horizon": 2, "num_hidden_units_lstm": 8}, None),
])
def test_keys_that_the_detectors_training_does_not_read_are_a_note_before_training(tmp_path, monkeypatch, capsys,
                                                                                    changes, note):
    """A key of another detector's training (num_hidden_units, the VAE's width, set for lstm_ae, whose width is
    num_hidden_units_lstm) changed nothing, without a word: train.py names the ones set away from their defaults."""
    monkeypatch.setattr(runs, "train", lambda config, train, **_: (_ for _ in ()).throw(Reached(run_dir(config))))
    values = {k: v for k, v in TINY.items() if k not in ("num_hidden_units", "learning_rate_vae", "batch_size",
                                                          "num_epochs_vae", "num_epochs_lstm", "learning_rate_lstm",
                                                          "num_hidden_units_lstm", "batch_size_lstm")}
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**values, "output_dir": str(tmp_path / "out"), **changes}))
    with pytest.raises(Reached):
        cli.train_main(["--config", str(cfg)])
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert notes == ([] if note is None else [f"note: {note}: its training is the same without"])


# ---- interrupted training, changed data, an unscorable split ----


def test_detect_refuses_a_run_whose_training_was_interrupted(trained, tmp_path, capsys):
    import shutil

    run = tmp_path / "out" / "tiny" / NAME
    shutil.copytree(trained["run"], run)
    cfg = write_config(tmp_path / "cfg" / "tiny.json", tmp_path / "out")
    state = json.loads((run / "state.json").read_text())
    assert state.get("fitted") and runs.unfinished_training(run) is None
    # what a kill during the LSTM stage leaves: the VAE's epoch, the LSTM's, no "fitted"
    (run / "state.json").write_text(json.dumps({"vae": 1, "lstm": 0}))
    assert runs.unfinished_training(run) == "vae 1, lstm 0 epochs done"
    assert errors.run_cli(cli.detect_main, ["--config", str(cfg), "--run-dir", str(run)]) == 2
    line = one_error_line(capsys)
    assert "has not finished training (vae 1, lstm 0 epochs done)" in line and "train.py" in line
    # the API the grid uses refuses it too, and an early stop's mark is not counted as a stage's epochs
    (run / "state.json").write_text(json.dumps({"vae": 1, "vae_stopped_early_at": 1, "lstm": 0}))
    from vae_lstm.prepare import load_data

    config, series = load_data(from_dict(json.loads(cfg.read_text()), source=cfg), verbose=False)
    with pytest.raises(UserError, match=r"has not finished training \(vae 1, lstm 0 epochs done\)"):
        detection.run_detection(config, run, series=series)
    # the LSTM detectors' stages have an underscore in their names: still counted as stages
    (run / "state.json").write_text(json.dumps({"lstm_ae": 3, "lstm_ae_stopped_early_at": 3,
                                                "training_seconds": {"lstm_ae": 1.5}}))
    assert runs.unfinished_training(run) == "lstm_ae 3 epochs done"
    # state.json moved away (as its damage message advises) leaves checkpoints of unknown epochs: refused too
    (run / "state.json").unlink()
    with pytest.raises(UserError, match=r"has not finished training \(state.json is missing beside its checkpoints\)"):
        detection.run_detection(config, run, series=series)


def test_a_run_killed_in_its_first_stage_is_refused_as_unfinished_by_the_notebook_too(tmp_path, capsys):
    """A fit killed during the VAE stage leaves vae.keras and no lstm.keras. detect.py said it "has not finished
    training (vae 3 epochs done)"; run_detection (the notebook, the grid) said it "has no lstm.keras; train first",
    as of a folder never trained. Both now say the detect.py line."""
    from vae_lstm.prepare import load_data

    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out")
    config, series = load_data(load_config(cfg), verbose=False)
    run = run_dir(config)
    run.mkdir(parents=True)
    save_config(config, run / "config.json")
    (run / "vae.keras").write_bytes(b"PK")
    (run / "state.json").write_text(json.dumps({"vae": 3}))
    assert errors.run_cli(cli.detect_main, ["--config", str(cfg)]) == 2
    line = one_error_line(capsys)
    assert line == (f"error: run folder {run} has not finished training (vae 3 epochs done); run 'python3 "
                    f"codes/train.py --config {cfg.resolve()}' again to finish it, then detect")
    with pytest.raises(UserError) as refused:
        detection.run_detection(config, run, series=series)
    assert f"error: {refused.value}" == line


def test_skipping_a_stage_whose_training_was_interrupted_is_refused(trained, tmp_path):
    """TRAIN_VAE: 0 keeps the VAE in the run folder: a finished one may be kept whatever the config's epochs now
    say, one that holds fewer epochs than it was being trained for (its config.json's) is refused."""
    import shutil

    from vae_lstm.training import checkpoint_epochs

    run = tmp_path / "run"
    shutil.copytree(trained["run"], run)
    config = load_config(trained["config"])
    held = checkpoint_epochs(run / "vae.keras")
    assert held == config.num_epochs_vae
    runs.check_skipped_stages(config.replace(TRAIN_VAE=0), run)  # all its epochs: fine
    runs.check_skipped_stages(config.replace(TRAIN_VAE=0, num_epochs_vae=held + 3), run)  # finished: fine too
    saved = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**saved, "num_epochs_vae": held + 3}))  # trained for more
    with pytest.raises(UserError, match=rf"the vae in .* holds {held} of the {held + 3} epochs it was being trained "
                                        rf"for .*set TRAIN_VAE: 1 and num_epochs_vae: {held + 3}"):
        runs.check_skipped_stages(config.replace(TRAIN_VAE=0), run)


def test_a_finished_grid_run_whose_training_was_interrupted_trains_on(trained, tmp_path, monkeypatch):
    """metrics.json from an earlier detection does not make a run finished once its training restarted."""
    from vae_lstm import grid

    monkeypatch.setattr(runs, "has_metrics", lambda path: True)
    monkeypatch.setattr(runs, "read_metrics", lambda path: {"metrics_version": 0})
    path = tmp_path / "run"
    path.mkdir()
    (path / "state.json").write_text(json.dumps({"vae": 1}))
    trained_calls = []

    class Stop(Exception):
        pass

    def fake_train(config, series, path=None, channels=None):
        trained_calls.append(config.dataset_name)
        raise Stop

    monkeypatch.setattr(runs, "train", fake_train)
    job, experiment = grid_job(tmp_path, path, monkeypatch)
    save_config(experiment.config(job.dataset, job.detector, job.seed), path / "config.json")  # as training wrote it
    with pytest.raises(Stop):
        grid.run_job(job)
    assert trained_calls == ["synthetic"]


def grid_job(tmp_path, path, monkeypatch):
    from vae_lstm import experiment as experiment_module

    exp_path = tmp_path / "exp.json"
    exp_path.write_text(json.dumps({"datasets": {"synthetic": "synthetic_config.json"}, "detectors": ["vae_lstm"],
                                    "seeds": 1, "output_dir": str(tmp_path / "out"),
                                    "overrides": {"*": {k: v for k, v in TINY.items() if k not in ("exp_name", "seed")}}}))
    exp = experiment_module.load_experiment(str(exp_path))
    monkeypatch.setattr(type(exp), "run_dir", lambda self, job: path)
    return exp.jobs()[0], exp


def test_training_on_changed_data_is_refused_and_detect_too(trained, tmp_path, capsys):
    import shutil

    run = tmp_path / "out" / "tiny" / NAME
    shutil.copytree(trained["run"], run)
    saved = json.loads((run / runs.DATA_FILE).read_text())
    train = load_series("synthetic").train
    assert saved == runs.data_fingerprint(train)
    config = from_dict({**TINY, "output_dir": str(tmp_path / "out")})
    runs.check_training_data(run, train, config)  # the same data: passes
    changed = train.copy()
    changed[5] += 1.0
    with pytest.raises(UserError, match=r"trained on other training data .*sha256 [0-9a-f]{12}.*load_model: 0") as e:
        runs.train(config, changed)
    assert len(str(e.value).splitlines()) == 1
    assert json.loads((run / runs.DATA_FILE).read_text()) == saved  # nothing rewritten
    with pytest.raises(UserError, match="other training data"):
        runs.check_training_data(run, changed[:-1], config)  # fewer rows: the shape differs
    # detection with the changed data, through the API the grid uses: refused before any model loads
    from dataclasses import replace

    from vae_lstm.prepare import load_data

    resolved, series = load_data(config, verbose=False)
    normalised = series.normalised.copy()
    normalised[series.train_start + 5] += 1.0
    with pytest.raises(UserError, match="other training data"):
        detection.run_detection(resolved, run, series=replace(series, normalised=normalised))
    # values that differ below the fingerprint's rounding (a numpy upgrade's last bits) hash the same
    assert runs.data_fingerprint(train + 1e-12) == saved and runs.data_fingerprint(train[:, 0]) == saved
    # a folder from before the file: passes, and a fit there records the data it resumes with
    (run / runs.DATA_FILE).unlink()
    runs.check_training_data(run, changed, config)
    runs.record_training_data(run, train, config)
    assert json.loads((run / runs.DATA_FILE).read_text()) == saved
    # a folder that holds no training yet (a fit killed before its first checkpoint) takes new data
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / runs.DATA_FILE).write_text(json.dumps(runs.data_fingerprint(changed)))
    runs.record_training_data(fresh, train, config)
    assert json.loads((fresh / runs.DATA_FILE).read_text()) == saved


def test_a_split_that_cannot_be_scored_is_refused_before_training(tmp_path, capsys):
    import numpy as np

    # own data: 600 rows, the first 550 for training; l_win 24 x l_seq 4 = 96 points, more than the 50 left
    t = np.arange(600)
    (tmp_path / "short.csv").write_text("value\n" + "\n".join(f"{np.sin(2 * np.pi * i / 24):.6f}" for i in t) + "\n")
    cfg = write_config(tmp_path / "short.json", tmp_path / "out", dataset={"path": "short.csv", "train_range": [0, 550]})
    assert errors.run_cli(cli.train_main, ["--config", str(cfg)]) == 2
    line = one_error_line(capsys)
    assert "no test piece of 'short' is as long as one sequence" in line and "test pieces: 50" in line
    assert not (tmp_path / "out").exists()  # no run folder made, nothing trained


def test_a_test_file_shorter_than_a_sequence_is_told_to_be_longer(tmp_path, capsys):
    """With separate training and test files, no training block cut frees test data: the line asks for longer test files."""
    import numpy as np

    for name, n in (("train.csv", 200), ("test.csv", 95)):  # l_win 24 x l_seq 4 = 96 points
        (tmp_path / name).write_text("value\n" + "\n".join(f"{np.sin(2 * np.pi * i / 24):.6f}" for i in range(n)) + "\n")
    cfg = write_config(tmp_path / "short.json", tmp_path / "out",
                       dataset={"name": "short", "train_files": ["train.csv"], "test_files": ["test.csv"]})
    assert errors.run_cli(cli.train_main, ["--config", str(cfg)]) == 2
    line = one_error_line(capsys)
    assert line.endswith("(l_win * l_seq = 96 points; test pieces: 95); choose a smaller l_win or l_seq, or give "
                         "longer test files")


@pytest.mark.parametrize("detector, need", [("abs_z", "l_win * l_seq = 48"),
                                             ("lstm_ad", "l_win + prediction_horizon = 48")])
def test_many_short_test_pieces_are_counted_not_listed_in_the_line(detector, need):
    """300 test files shorter than a sequence: the line listed every piece's length ("test pieces: 40, 40, 40, ..."),
    1351 characters. Up to five are listed; more are counted, with the longest, which is what falls short."""
    from types import SimpleNamespace

    import numpy as np

    from vae_lstm.prepare import check_scorable

    config = from_dict({"dataset": "synthetic", "detector": detector, "l_win": 16, "l_seq": 3 if detector == "abs_z"
                        else 2, "prediction_horizon": 32})  # lstm_ad: a sequence of 32 fits, its first score does not
    for lengths, shown in (([40, 33, 35], "40, 33, 35"), ([33] * 299 + [40], "300, the longest 40 points")):
        pieces = [SimpleNamespace(values=np.zeros(n)) for n in lengths]
        with pytest.raises(UserError) as info:
            check_scorable(config, SimpleNamespace(test_pieces=pieces, labelled=True))
        assert f"({need} points; test pieces: {shown});" in str(info.value), str(info.value)[:300]


@pytest.mark.parametrize("stem", ["plant", "line[2]"])
def test_the_newest_run_folder_is_found_whatever_characters_the_data_file_is_named_with(tmp_path, stem):
    """The run folders of a dataset named after its file, brackets included: load_model 1 and detect.py take the newest."""
    (tmp_path / f"{stem}.csv").write_text("value\n" + "\n".join(str(i % 7) for i in range(50)) + "\n")
    config = load_config(write_config(tmp_path / "c.json", tmp_path / "out", dataset={"path": f"{stem}.csv"}))
    base = run_dir(config)
    folders = [base, base.with_name(f"{base.name}_run2"), base.with_name(f"{base.name}_run3")]
    for folder in folders:
        folder.mkdir(parents=True)
        (folder / "state.json").write_text(json.dumps({"fitted": True}))
    assert base.name.startswith(f"{stem}_")
    assert runs.run_folders(config) == folders
    assert runs.next_free_run(config) == base.with_name(f"{base.name}_run4")


def test_a_run_dir_that_is_a_file_is_named_so(tmp_path, capsys):
    cfg = write_config(tmp_path / "tiny.json", tmp_path / "out")
    not_a_folder = tmp_path / "data.csv"
    not_a_folder.write_text("a\n1\n")
    assert errors.run_cli(cli.detect_main, ["--config", str(cfg), "--run-dir", str(not_a_folder)]) == 2
    assert f"run folder {not_a_folder} is not a folder" in one_error_line(capsys)
    # a mistyped --run-dir is named, and not made, also for a control, which needs no trained files
    typo = tmp_path / "typo" / "run"
    control = write_config(tmp_path / "abs_z.json", tmp_path / "out", detector="abs_z")
    assert errors.run_cli(cli.detect_main, ["--config", str(control), "--run-dir", str(typo)]) == 2
    assert f"run folder {typo} does not exist (--run-dir)" in one_error_line(capsys)
    assert not (tmp_path / "typo").exists()


def test_the_interrupt_line_says_what_running_again_does(capsys):
    def main(argv):
        raise KeyboardInterrupt

    assert errors.run_cli(main) == 130
    assert capsys.readouterr().err.strip() == "interrupted: run the same command again to resume from the last finished epoch"
    assert errors.run_cli(main, resume="run the same command again to score the run") == 130
    assert capsys.readouterr().err.strip() == "interrupted: run the same command again to score the run"
    detect_script = (ROOT / "codes" / "detect.py").read_text()
    assert 'resume="run the same command again to score the run' in detect_script


@pytest.mark.parametrize("load_model", [0, 1])
def test_an_interrupted_arma_fit_says_it_fits_afresh_not_resumes_an_epoch(tmp_path, capsys, monkeypatch, load_model):
    """Ctrl-C (or a kill) during an ARMA fit, which has no epochs and keeps nothing until it ends, said "run the same
    command again to resume from the last finished epoch"."""
    from vae_lstm.detectors import arma

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(arma, "fit_channel", interrupted)
    cfg = write_config(tmp_path / "arma.json", tmp_path / "out", detector="arma", load_model=load_model)
    capsys.readouterr()
    assert errors.run_cli(cli.train_main, ["--config", str(cfg)]) == 130
    assert capsys.readouterr().err.strip() == ("interrupted: run the same command again to fit arma afresh (it has no "
                                               "epochs, and its fit keeps nothing until it ends)")
    assert not runs.has_training(run_dir(load_config(cfg)))  # nothing of it kept


def test_an_interrupt_on_a_terminal_starts_its_line_after_the_progress_bar(monkeypatch):
    """Ctrl-C during an epoch on a terminal: Keras's bar ends without a newline (and the terminal echoes "^C"), so
    the line was glued to it ("... squared_error: 0.4672^Cinterrupted: run the same command ..."). On a terminal the
    line starts a line of its own; in a file, where every line is whole, it adds no blank one."""
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    def main(argv):
        sys.stdout.write("\r 64/223 ━━━━━ 0s 2ms/step - loss: -6.3908")  # a bar, mid-line
        raise KeyboardInterrupt

    for stream, start in ((Terminal(), "\n"), (io.StringIO(), "")):
        monkeypatch.setattr(sys, "stdout", stream)
        monkeypatch.setattr(sys, "stderr", stream)  # both to the same terminal (or file)
        assert errors.run_cli(main) == 130
        assert stream.getvalue() == (f"\r 64/223 ━━━━━ 0s 2ms/step - loss: -6.3908{start}interrupted: "
                                     f"{errors.RESUME_TRAINING}\n")


def test_an_interrupt_with_its_reader_gone_is_its_line_and_exit_code_only():
    """'detect.py ... | head -1', then Ctrl-C or a SIGTERM: what stdout still held could not be written (the pipe's
    reader had gone), and Python's last flush at exit added "Exception ignored ... BrokenPipeError" to the interrupt
    line and changed the exit code (143, 130) to 120."""
    script = (
        "import os, signal, sys\n"
        "r, w = os.pipe(); os.close(r); os.dup2(w, 1)  # stdout: a pipe whose reader has gone\n"
        "from vae_lstm.errors import run_cli\n"
        "def main(argv):\n"
        "    print('a line of results')  # held in stdout's buffer\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "sys.exit(run_cli(main))\n")
    env = {**ENV, "PYTHONPATH": str(ROOT / "codes")}  # no PYTHONUNBUFFERED: stdout buffered, as by default
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert (done.returncode, done.stderr) == (143, f"interrupted: {errors.RESUME_TRAINING}\n")


@pytest.mark.parametrize("fd, unbuffered", [(1, False), (1, True), (2, False)])
def test_a_command_whose_reader_has_gone_finishes_its_work_and_ends_quietly(tmp_path, fd, unbuffered):
    """'detect.py ... | head -3' (or '2>&1 | head'): a line printed once the reader had gone raised BrokenPipeError,
    so the command stopped where it was, with "error: Broken pipe" and exit 2 (on stdout as PYTHONUNBUFFERED has it,
    on stderr always); or, stdout buffered, Python's last flush at exit added "Exception ignored ... BrokenPipeError"
    and exit code 120. What no one reads is dropped: the command does its work and ends as it would have."""
    script = (
        "import os, sys\n"
        f"r, w = os.pipe(); os.close(r); os.dup2(w, {fd})  # a pipe whose reader has gone\n"
        "from vae_lstm.errors import run_cli\n"
        "def main(argv):\n"
        "    print('a line of results')\n"
        "    print('a note', file=sys.stderr)\n"
        "    open(sys.argv[1], 'w').write('the work, done')\n"
        "sys.exit(run_cli(main, []))\n")
    env = {**ENV, "PYTHONPATH": str(ROOT / "codes"), **({"PYTHONUNBUFFERED": "1"} if unbuffered else {})}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "work")], capture_output=True, text=True,
                          env=env, timeout=60)
    read = ["", "a note\n"] if fd == 1 else ["a line of results\n", ""]  # what the other stream's reader reads
    assert (done.returncode, done.stdout, done.stderr) == (0, *read)
    assert (tmp_path / "work").read_text() == "the work, done"


@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_a_command_with_a_closed_stream_prints_to_it_nothing_and_runs_on(monkeypatch, capsys, closed):
    """'detect.py ... >&-' (or 2>&-): Python sets a stream whose file descriptor is closed to None, where print
    writes nothing. The stream that drops lines once their reader has gone wrapped None too, so the first line
    printed was "AttributeError: 'NoneType' object has no attribute 'write'" and a traceback, exit 1."""
    def main(argv):
        print("a line of results")
        print("a note", file=sys.stderr)

    monkeypatch.setattr(sys, closed, None)
    assert errors.run_cli(main, []) == 0
    assert getattr(sys, closed) is None
    shown = capsys.readouterr()
    assert (shown.err == "a note\n") if closed == "stdout" else shown.out.startswith("a line of results\n")


def test_a_command_that_fails_once_the_reader_of_its_stdout_has_gone_says_so_and_exits_2(monkeypatch, capsys):
    """'train.py --config bad.json | head -1': the lines no one reads are dropped, not the error: its one line on
    stderr and exit code 2, as without the pipe."""
    class Gone:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        flush = write

    def main(argv):
        print("a line of results")
        raise UserError("key 'l_win' = 0 is invalid")

    monkeypatch.setattr(sys, "stdout", Gone())
    assert errors.run_cli(main, []) == 2
    assert capsys.readouterr().err == "error: key 'l_win' = 0 is invalid\n"


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), UserError("key 'l_win' = 0 is invalid")])
def test_a_command_whose_terminal_has_hung_up_ends_with_its_exit_code(monkeypatch, interrupt):
    """A closed terminal (SIGHUP, an ssh session gone): each write to it fails with EIO. The interrupt line (or an
    error's) raised that OSError out of run_cli, so the command ended in a traceback that could not be written
    either, and exit code 1 rather than 129/130 (or 2)."""
    class HungUp:
        def write(self, text):
            raise OSError(errno.EIO, "Input/output error")

        flush = write

    def main(argv):
        print("a line of results")
        raise interrupt

    leader, terminal = os.openpty()  # a terminal whose other end has closed: a character device whose writes fail
    os.close(leader)
    HungUp.fileno = lambda self: terminal
    monkeypatch.setattr(sys, "stdout", HungUp())
    monkeypatch.setattr(sys, "stderr", HungUp())
    try:
        assert errors.run_cli(main, []) == (130 if isinstance(interrupt, KeyboardInterrupt) else 2)
    finally:
        os.close(terminal)


@pytest.mark.parametrize("when", ["write", "flush"])
def test_an_io_error_writing_results_to_a_file_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path, when):
    """'detect.py ... > results.txt' on a failing disk (EIO from a regular file, not a terminal that has hung up):
    what was printed was dropped without a word and the command exited 0, its results file incomplete."""
    results = open(tmp_path / "results.txt", "w")

    class FailingDisk:
        def write(self, text):
            if when == "write":
                raise OSError(errno.EIO, "Input/output error")
            return len(text)

        def flush(self):
            raise OSError(errno.EIO, "Input/output error")

        def fileno(self):
            return results.fileno()

    def main(argv):
        print("a line of results")

    monkeypatch.setattr(sys, "stdout", FailingDisk())
    try:
        assert errors.run_cli(main, []) == 2
    finally:
        results.close()
    assert capsys.readouterr().err == "error: Input/output error\n"


def test_a_grid_worker_whose_reader_has_gone_runs_its_job_on():
    """'reproduce.py --workers 2 | head -3': a worker process's next line ("syn vae_lstm seed 0: Epoch 2/2") raised
    BrokenPipeError, which failed its run mid-training ("1 of 3 runs failed: ...: Broken pipe") and printed a
    traceback as the worker ended. A worker drops its lines once their reader has gone, as the runner does."""
    script = (
        "import os, sys\n"
        "r, w = os.pipe(); os.close(r); os.dup2(w, 1)  # a pipe whose reader has gone\n"
        "from vae_lstm import grid\n"
        "grid.start_worker(os.getppid())\n"
        "print('syn vae_lstm seed 0: Epoch 2/2', flush=True)\n"
        "print('the job went on')\n"
        "print('the job went on', file=sys.stderr)\n")
    env = {**ENV, "PYTHONPATH": str(ROOT / "codes")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert (done.returncode, done.stderr) == (0, "the job went on\n")


@pytest.mark.parametrize("case", ["load_model 1", "nothing trained yet", "newest", "an older folder"])
def test_an_interrupted_training_says_how_to_resume_it(tmp_path, capsys, monkeypatch, case):
    """load_model 0 trains in a new folder each time, so once its folder holds epochs the interrupt line says how
    to resume that folder: load_model 1 when it is the newest, else load_model 1 with load_dir naming it."""
    cfg = write_config(tmp_path / "tiny.json", tmp_path / "out", load_model=int(case == "load_model 1"))
    config = load_config(cfg)
    base = run_dir(config)
    for name in ((base.name, f"{base.name}_run3") if case == "an older folder" else (base.name,)):
        (base.parent / name).mkdir(parents=True)
        (base.parent / name / "state.json").write_text('{"vae": 2, "fitted": true}')
    target = runs.next_free_run(config)

    def interrupted(config, series, channels=None):
        if case != "nothing trained yet":
            target.mkdir(parents=True)
            (target / "config.json").write_text(json.dumps(config.to_dict()))  # as the run folder was made
            (target / "state.json").write_text('{"vae": 1}')  # its first epoch's checkpoint was written
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "train", interrupted)
    assert errors.run_cli(cli.train_main, ["--config", str(cfg)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    if case in ("load_model 1", "nothing trained yet"):  # running again resumes it, or reuses the empty folder
        assert err[0] == "interrupted: run the same command again to resume from the last finished epoch"
        return
    # JSON to paste into the config: a path with a backslash or a quote is escaped as JSON escapes it
    how = "set load_model: 1" if case == "newest" else f'set "load_model": 1, "load_dir": {json.dumps(str(target))}'
    if case != "newest":
        pasted = json.loads("{" + err[0].split("set ", 1)[1].split(f" in {cfg}")[0] + "}")
        assert pasted == {"load_model": 1, "load_dir": str(target)}
    assert err[0].startswith(f"interrupted: {how} in {cfg} and run the same command again to resume {target}"), err
    advised = config.replace(load_model=1, **({} if case == "newest" else {"load_dir": str(target)}))
    assert runs.choose_run_dir(advised) == target  # the advice resumes the interrupted folder


@pytest.mark.parametrize("stage", ["vae", "lstm"])
def test_load_dir_with_load_model_1_resumes_the_folder_it_names_not_a_newer_run_beside_it(tmp_path, stage):
    """<name> interrupted (or its checkpoint damaged) and <name>_run2 newer: detect.py --run-dir <name> said to set
    load_model 1 and load_dir naming <name>, and train.py with that config resumed <name>_run2, the newest folder
    whose name starts with it, leaving <name> as it was. load_dir names the one folder load_model 1 resumes and
    detect.py scores."""
    config = load_config(write_config(tmp_path / "tiny.json", tmp_path / "out", load_model=1))
    base = run_dir(config)
    for name, state in ((base.name, '{"vae": 1}'), (f"{base.name}_run2", '{"vae": 2, "lstm": 2, "fitted": true}')):
        (base.parent / name).mkdir(parents=True)
        (base.parent / name / "config.json").write_text(json.dumps(config.to_dict()))
        (base.parent / name / "state.json").write_text(state)
    advice = runs.training_advice(config, base, finish=True)
    assert f'"load_dir": {json.dumps(str(base))}' in advice, advice
    assert f"load_dir: {json.dumps(str(base))}" in runs.train_hint(config, stage, "to resume it", base)
    advised = config.replace(load_dir=str(base))
    assert runs.choose_run_dir(advised) == base  # the advice resumes the folder it names
    assert runs.latest_run(advised, fitted=True) == base  # and detect.py with it scores that folder
    assert runs.train_hint(advised, stage, "to resume it", base) == (
        f"run {runs.train_command(advised)} to resume it" + (" (the lstm then trains afresh too)" if stage == "vae"
                                                             else ""))
    assert runs.choose_run_dir(config) == base.parent / f"{base.name}_run2"  # without load_dir: the newest, as before
    assert runs.choose_run_dir(advised.replace(load_model=0)) == base.parent / f"{base.name}_run3"  # a new one beside


def test_a_second_scoring_of_one_run_at_once_is_refused_with_the_holders_pid(trained, capsys):
    """Two detect.py on one run folder would each replace the other's detection files: one waits its turn."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]); from vae_lstm import runs; "
         "from pathlib import Path\nwith runs.detection_lock(Path(sys.argv[2])):\n print('held', flush=True); time.sleep(60)",
         str(ROOT / "codes"), str(trained["run"])], stdout=subprocess.PIPE, text=True, env={**ENV, "PYTHONPATH": ""})
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(trained["run"] / "detection") if (trained["run"] / "detection").exists() else {}
        assert errors.run_cli(cli.detect_main, ["--config", str(trained["config"])]) == 2
        line = one_error_line(capsys)
        assert f"is being scored by another process (PID {holder.pid})" in line
        after = snapshot(trained["run"] / "detection") if (trained["run"] / "detection").exists() else {}
        assert after == before  # nothing written
    finally:
        holder.kill()
        holder.wait()
    assert errors.run_cli(cli.detect_main, ["--config", str(trained["config"])]) == 0  # free again


@pytest.mark.parametrize("lock", [runs.detection_lock, runs.training_lock])
def test_a_lock_whose_pid_file_fills_the_disk_is_named_in_the_one_line(lock, tmp_path, monkeypatch):
    """A full disk as detect.py (or train.py) took its run folder's lock said "error: No space left on device",
    naming no file or folder (a write's OSError carries none): the line names the lock's PID file, and the lock is
    free again."""
    import errno

    real_write = Path.write_text

    def full(self, *args, **kwargs):
        if self.name.endswith(".pid"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    name = runs.DETECT_LOCK_FILE if lock is runs.detection_lock else runs.LOCK_FILE
    with pytest.raises(OSError) as failed, lock(tmp_path):
        pass
    assert errors.os_error_line(failed.value) == f"{tmp_path / name}.pid: No space left on device"
    monkeypatch.setattr(Path, "write_text", real_write)
    with lock(tmp_path):  # released
        assert (tmp_path / f"{name}.pid").read_text() == f"{os.getpid()} {socket.gethostname()}\n"


def test_a_read_only_run_folder_is_refused_saying_to_score_a_copy(tmp_path, detect_spy, monkeypatch, capsys):
    """A run folder on a read-only disk (an archive of runs) said only "error: .../detect.lock: Read-only file
    system", once the data and TensorFlow had loaded: the line says that detect.py writes detection/ there and to
    score a copy, before anything is scored."""
    import errno

    def read_only(lock, timeout=None):
        raise OSError(errno.EROFS, "Read-only file system", lock.lock_file)

    monkeypatch.setattr(runs, "acquire", read_only)
    cfg = write_config(tmp_path / "abs_z.json", tmp_path / "out", detector="abs_z")
    run = tmp_path / "archive" / "run {0}"  # a name with braces, as a data file's may be
    run.mkdir(parents=True)
    assert errors.run_cli(cli.detect_main, ["--config", str(cfg), "--run-dir", str(run)]) == 2
    assert one_error_line(capsys) == (
        f"error: run folder {run} cannot be written (Read-only file system: {run / runs.DETECT_LOCK_FILE}), and "
        "detect.py writes its detection/ there: copy the run folder to a place you can write and pass --run-dir "
        "with the copy")


HOLD_TRAIN_LOCK = """
import os, sys, time
from filelock import FileLock
path = sys.argv[1]
with FileLock(path + "/train.lock"):
    open(path + "/train.lock.pid", "w").write(f"{os.getpid()}\\n")
    print("held", flush=True)
    time.sleep(60)
"""


HOLD_DETECT_LOCK = HOLD_TRAIN_LOCK.replace("train.lock", "detect.lock")


@pytest.mark.parametrize("held", ["train", "detect"])
def test_a_run_folder_is_not_scored_while_it_is_trained_nor_trained_while_it_is_scored(held, tmp_path):
    """detect.py on a finished run that train.py was training on (load_model 1, more epochs) scored it, its
    checkpoints replaced under it, and train.py on a run that detect.py was scoring trained it: each takes its own
    lock, then refuses with one line naming the other's process while that one holds its lock."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.json").write_text(json.dumps({"vae": 3, "lstm": 2, "fitted": True}))  # a finished fit
    mine, busy = ((runs.detection_lock, "trained") if held == "train" else (runs.training_lock, "scored"))
    holder = subprocess.Popen([sys.executable, "-c", HOLD_TRAIN_LOCK if held == "train" else HOLD_DETECT_LOCK,
                               str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError) as refused, mine(run):
            pass
        assert str(refused.value) == (f"run folder {run} is being {busy} now by another process (PID {holder.pid}); "
                                      "wait for it to finish, then run the command again")
        assert not (run / f"{'detect' if held == 'train' else 'train'}.lock.pid").exists()  # its own lock let go
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    with mine(run):  # the other gone: free
        pass


def test_an_unfinished_run_being_trained_now_names_the_training_process(tmp_path):
    config = from_dict({"dataset": "synthetic", "output_dir": str(tmp_path)})
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.json").write_text(json.dumps({"vae": 3}))  # a fit started, not finished

    with pytest.raises(UserError, match="to finish it"):  # nobody trains it: resume it
        runs.refuse_unfinished(config, run)

    holder = subprocess.Popen([sys.executable, "-c", HOLD_TRAIN_LOCK, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError) as refused:
            runs.refuse_unfinished(config, run)
        message = str(refused.value)
        assert f"being trained now by another process (PID {holder.pid};" in message
        assert "vae 3 epochs done" in message and "to finish it" not in message
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    with pytest.raises(UserError, match="to finish it"):  # its trainer gone (killed): resume it
        runs.refuse_unfinished(config, run)


def test_a_run_in_its_first_epoch_is_named_as_being_trained_not_untrained(tmp_path):
    """A fit in its first epoch has written no checkpoint and no state.json yet: detect said the folder "holds no
    trained detector" and told to train it, while a trainer holds it."""
    config = from_dict({"dataset": "synthetic", "output_dir": str(tmp_path)})
    run = tmp_path / "run"
    run.mkdir()
    save_config(config, run / "config.json")  # what train.py writes before its first epoch
    holder = subprocess.Popen([sys.executable, "-c", HOLD_TRAIN_LOCK, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError) as refused:
            runs.require_training(config, run)
        assert str(refused.value) == (f"run folder {run} is being trained now by another process (PID {holder.pid}; "
                                      "no epoch finished so far); wait for it to finish, then detect")
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    with pytest.raises(UserError, match="holds no trained detector"):  # its trainer gone: nothing was trained
        runs.require_training(config, run)
    # a trainer killed (SIGKILL) while it wrote its first checkpoint leaves vae.tmp.keras: no training either
    (run / "vae.tmp.keras").write_bytes(b"PK")
    assert not runs.has_training(run) and runs.unfinished_training(run) is None
    with pytest.raises(UserError, match="holds no trained detector"):
        runs.require_training(config, run)



@pytest.mark.parametrize("written, holder", [
    ("4321\n", "4321"),  # written before the host was: this machine's
    ("4321 Lab PC 7 (north)\n", "4321"),  # this machine, its name with spaces and brackets
    ("4321 Lab PC 8\n", "4321 on host Lab PC 8"),
    ("4321 Lab\n", "4321 on host Lab"),
    ("4321 r\u00e9seau-\u00e9t\u00e9\n", "4321"),  # this machine, a name of accented letters
])
def test_a_lock_holders_host_is_read_whole(tmp_path, monkeypatch, written, holder):
    """A host name is whatever the machine was named: one with spaces was read as its first word, so this
    machine's own lock was said to be held on another host, "Lab"."""
    this = "r\u00e9seau-\u00e9t\u00e9" if "\u00e9" in written else "Lab PC 7 (north)"
    monkeypatch.setattr(socket, "gethostname", lambda: this)
    (tmp_path / "train.lock.pid").write_text(written, encoding="utf-8")
    assert runs.holder_pid(tmp_path / "train.lock") == holder
    with runs.exclusive(tmp_path / "x.lock", "busy", "wait"):
        assert runs.holder_pid(tmp_path / "x.lock") == str(os.getpid())

HOLD_ON_ANOTHER_HOST = """
import socket, sys, time
from pathlib import Path
from vae_lstm import runs
socket.gethostname = lambda: "node7"  # another machine sharing the disk
with runs.exclusive(Path(sys.argv[1]) / "train.lock", "busy", "wait"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_lock_held_on_another_machine_names_its_host_and_a_garbled_pid_file_no_pid(tmp_path):
    """Two machines training into one shared run folder: the refusal named the other machine's PID as if it were
    this one's ("wait for it to finish or stop it"), so the process stopped would be an unrelated one here. The
    holder's host is named where it is not this one; a PID file of garbage (a disk's zeroes) names no PID."""
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_ON_ANOTHER_HOST, str(run)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "codes")})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=f"being trained by another process \\(PID {holder.pid} on host node7\\); "):
            with runs.training_lock(run):
                pass
        (run / "train.lock.pid").write_bytes(b"\0" * 40)
        with pytest.raises(UserError, match="being trained by another process \\(PID unknown\\); "):
            with runs.training_lock(run):
                pass
    finally:
        holder.kill()
        holder.wait()


PROBE_TRAIN_LOCK = """
import sys, time
from filelock import FileLock
path = sys.argv[1]
with FileLock(path + "/train.lock"):  # as runs.training_holder takes it: no PID file
    print("held", flush=True)
    time.sleep(0.3)
"""


def test_a_trainer_is_not_refused_by_a_detect_that_looks_whether_the_run_is_being_trained(tmp_path):
    """detect.py on an unfinished run takes its train.lock for an instant to see whether a trainer holds it
    (runs.training_holder), writing no PID; a train.py starting in that instant was refused "being trained by another
    process (PID unknown)". A lock held without a PID file is waited for a moment; one with a PID is refused at once."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.lock").touch()
    prober = subprocess.Popen([sys.executable, "-c", PROBE_TRAIN_LOCK, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert prober.stdout.readline().strip() == "held"
        with runs.training_lock(run):
            assert (run / "train.lock.pid").read_text() == f"{os.getpid()} {socket.gethostname()}\n"
    finally:
        prober.kill()
        prober.wait()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_TRAIN_LOCK, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.perf_counter()
        with pytest.raises(UserError, match=f"being trained by another process \\(PID {holder.pid}\\)"):
            with runs.training_lock(run):
                pass
        assert time.perf_counter() - started < 0.5  # a known holder: refused at once
    finally:
        holder.kill()
        holder.wait()


def test_scoring_note_counts_a_key_an_older_config_json_lacks_as_its_value_then(tmp_path):
    """A run trained before point_spread existed has no such key in its config.json: it was scored without
    spreading, so scoring it with point_spread 1 gives other figures and says so."""
    config = load_config("NAB_config.json").replace(output_dir=str(tmp_path))
    saved = json.loads(json.dumps(config.to_dict()))
    del saved["point_spread"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert runs.scoring_differences(config, tmp_path) is None  # the value it had then: no difference
    note = runs.scoring_differences(config.replace(point_spread=1), tmp_path)
    assert note == (f"note: scoring {tmp_path} with point_spread 1.0 (the run's config.json predates it: 0); "
                    "its figures differ from those its own settings give")


def test_an_unfinished_run_elsewhere_says_how_to_finish_that_folder(tmp_path):
    """detect.py on a half-trained run folder that its config's train.py does not resume (a run folder copied
    elsewhere, given as --run-dir with its own config.json; or any folder under load_model 0) said "run 'python3
    codes/train.py --config ...' again to finish it": that command trains another folder (the config's
    output_dir, or a new _run2) and leaves this one unfinished. The line names the keys that resume this folder."""
    cfg = write_config(tmp_path / "cfg.json", tmp_path / "out")
    config = load_config(cfg)
    command = f"'python3 codes/train.py --config {cfg.resolve()}'"
    copy = tmp_path / "copied" / NAME
    copy.mkdir(parents=True)
    (copy / "state.json").write_text(json.dumps({"vae": 3}))  # killed during the VAE stage, then copied
    with pytest.raises(UserError) as refused:
        runs.refuse_unfinished(config, copy)
    assert str(refused.value) == (f"run folder {copy} has not finished training (vae 3 epochs done); to finish it "
                                  f'there, set "load_model": 1, "load_dir": {json.dumps(str(copy))} in {cfg.resolve()}, '
                                  f"then run "
                                  f"{command}, then detect")
    own = run_dir(config)  # the folder train.py resumes: run it again
    own.mkdir(parents=True)
    (own / "state.json").write_text(json.dumps({"vae": 3}))
    with pytest.raises(UserError) as refused:
        runs.refuse_unfinished(config, own)
    assert str(refused.value) == (f"run folder {own} has not finished training (vae 3 epochs done); run {command} "
                                  "again to finish it, then detect")
    with pytest.raises(UserError) as refused:  # load_model 0: a new folder
        runs.refuse_unfinished(config.replace(load_model=0), own)
    assert f'set "load_model": 1, "load_dir": {json.dumps(str(own))} in ' in str(refused.value)


def test_the_config_json_of_a_moved_or_copied_run_folder_names_that_folder(trained, tmp_path, detect_spy, monkeypatch,
                                                                           capsys):
    """``--config <run folder>/config.json`` of a run folder moved or copied elsewhere: its output_dir still leads to
    the old place. detect.py said "run folder <old place> does not exist; train first with ...", which trains a new
    run there while the trained one sits beside the config, and scored the old place's run without a word when it
    was there (a copy); train.py trained a new run at the old place without a word. Each now names the folder that
    the config.json is in, and the option or key that uses it, quoted where the shell would split it."""
    moved = tmp_path / "moved here" / NAME
    quoted = f'"{moved}"'  # --run-dir <a path with a space>, copied, gave "unrecognized arguments"
    shutil.copytree(trained["run"], moved)
    cfg = moved / "config.json"
    # a copy: the original is still where output_dir leads, and is what detect.py scores, saying so
    assert detect_path(cfg) == trained["run"]
    assert (f"note: scoring {trained['run']}, where the output_dir of {cfg} leads, not {moved}, whose config.json it "
            f"is (pass --run-dir {quoted} to score that one)") in capsys.readouterr().out
    assert detect_path(cfg, "--run-dir", str(moved)) == moved
    assert "note: scoring" not in capsys.readouterr().out
    # moved: output_dir leads to no run
    saved = json.loads(cfg.read_text())
    cfg.write_text(json.dumps({**saved, "output_dir": str(tmp_path / "gone")}))
    old = tmp_path / "gone" / "tiny" / NAME
    assert errors.run_cli(cli.detect_main, ["--config", str(cfg)]) == 2
    assert one_error_line(capsys) == (f"error: run folder {old}, where the output_dir of {cfg} leads, does not exist; "
                                      f"that file is the config.json of run folder {moved}: pass --run-dir {quoted} to "
                                      "score it")

    def reached(config, *args, **kwargs):
        raise Reached(config)

    monkeypatch.setattr(runs, "train", reached)
    with pytest.raises(Reached):
        cli.train_main(["--config", str(cfg)])
    assert (f"note: {cfg} is the config.json of run folder {moved}, but its output_dir trains in {old}; to resume "
            f'{moved} instead, set "load_dir": {json.dumps(str(moved))} in it') in capsys.readouterr().out


def test_a_run_folder_that_does_not_exist_says_how_to_score_one_that_was_moved(tmp_path):
    """A config whose absolute output_dir no longer leads to its runs (the project moved) said only "does not exist;
    train first with ...", which trains again; --run-dir scores the moved run. A folder that exists but holds no
    training gets no such hint."""
    config = from_dict({**TINY, "output_dir": str(tmp_path / "gone")})
    with pytest.raises(UserError) as refused:
        runs.require_training(config, run_dir(config))
    assert str(refused.value).startswith(f"run folder {run_dir(config)} does not exist; ")
    assert str(refused.value).endswith("; or, for a run folder that was trained and then moved (the project with it), "
                                       "pass --run-dir with its path")
    run_dir(config).mkdir(parents=True)
    with pytest.raises(UserError) as refused:
        runs.require_training(config, run_dir(config))
    assert "holds no trained detector" in str(refused.value) and "--run-dir" not in str(refused.value)


def test_a_run_folder_on_a_file_system_without_file_locks_is_one_line(tmp_path, monkeypatch):
    """filelock 3 raises NotImplementedError where the file system has no flock: the run folder's lock and the
    look at who holds it are one line naming the folder."""
    import filelock

    def no_flock(self, *args, **kwargs):
        raise NotImplementedError("no flock")

    monkeypatch.setattr(filelock.FileLock, "acquire", no_flock)
    expected = f"cannot lock files in {tmp_path}: its file system does not support file locks (no flock); put it on a local disk"
    with pytest.raises(UserError) as info, runs.detection_lock(tmp_path):
        pass
    assert str(info.value) == expected
    (tmp_path / runs.LOCK_FILE).touch()
    with pytest.raises(UserError) as info:
        runs.training_holder(tmp_path)
    assert str(info.value) == expected


def test_a_resume_with_other_output_keys_adds_a_dated_config_that_the_readme_lists(tmp_path):
    """A resume with other values of keys that do not change training keeps config.json (what the models were
    trained with) and writes config.<date>-<time>.json beside it; the README's list of a run folder's files lacked
    that file."""
    import re

    config = from_dict({**TINY, "output_dir": str(tmp_path)})
    folder = tmp_path / "run"
    folder.mkdir()
    runs.write_config_copy(config, folder)
    (folder / "state.json").write_text('{"vae": 1}')  # trained: a resume
    runs.write_config_copy(config, folder)  # same values: nothing new
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "state.json"]
    runs.write_config_copy(config.replace(threshold_rule="pot"), folder)
    dated = [p.name for p in folder.glob("config.*.json")]
    assert len(dated) == 1 and re.fullmatch(r"config\.\d{8}-\d{6}\.json", dated[0]), dated
    assert json.loads((folder / "config.json").read_text())["threshold_rule"] == config.threshold_rule
    section = (ROOT / "README.md").read_text().split("## Run folders and resuming")[1].split("\n## ")[0]
    assert "`config.<date>-<time>.json`" in section.split("\n\n")[1]  # the paragraph that lists the folder's files
