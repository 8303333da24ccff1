"""Damaged files and interrupted stages: a truncated state.json, config.json or metrics.json is one line
or a rescoring, never a traceback; a stage that may train leaves no half-trained model marked fitted; an
early-stopped stage stays stopped; a partial grid never writes the committed tables."""

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from vae_lstm import cli, errors, reproduce, runs
from vae_lstm.config import from_dict
from vae_lstm.data_loader import load_series
from vae_lstm.detectors import vae_lstm as vae_lstm_module

pytestmark = pytest.mark.slow

TINY = {
    "exp_name": "tiny", "dataset": "synthetic", "l_win": 24, "l_seq": 4, "n_channel": 1, "code_size": 2,
    "num_hidden_units": 16, "num_hidden_units_lstm": 16, "batch_size": 128, "batch_size_lstm": 128,
    "num_epochs_vae": 1, "num_epochs_lstm": 1, "seed": 0,
}
NAME = "synthetic_vae_lstm_lwin24_lseq4_code2_seed0"


def train_tiny(tmp_path, **changes) -> tuple[Path, Path]:
    """(config file, run folder) of TINY trained once with ``changes``."""
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({**TINY, "output_dir": str(tmp_path / "out"), **changes}))
    assert cli.train_main(["--config", str(path)]) == 0
    return path, tmp_path / "out" / "tiny" / NAME


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    return lines[0]


def test_a_truncated_state_json_is_one_line_and_moving_it_away_resumes(tmp_path, capsys):
    config, run = train_tiny(tmp_path)
    state = run / "state.json"
    good = state.read_text()
    state.write_text("[1, 2]")  # JSON, but not the object it should be
    assert errors.run_cli(cli.detect_main, ["--config", str(config)]) == 2
    assert "state.json is damaged (a JSON list, not an object)" in one_error_line(capsys)
    state.write_text(good[:7])
    assert errors.run_cli(cli.train_main, ["--config", str(config)]) == 2
    assert "state.json is damaged" in one_error_line(capsys)
    assert errors.run_cli(cli.detect_main, ["--config", str(config)]) == 2
    assert "state.json is damaged" in one_error_line(capsys)
    state.rename(run / "state.json.damaged")  # what the line says to do
    assert cli.train_main(["--config", str(config)]) == 0
    assert json.loads(state.read_text()) == {"vae": 1, "lstm": 1, "fitted": True}  # nothing trained again
    assert sorted(p.name for p in run.parent.iterdir()) == [NAME]


def test_a_truncated_run_config_is_one_line(tmp_path, capsys):
    config, run = train_tiny(tmp_path)
    (run / "config.json").write_text("{\"l_win\": 2")
    assert errors.run_cli(cli.detect_main, ["--config", str(config)]) == 2
    assert "config.json is damaged" in one_error_line(capsys)


def test_the_lstm_is_set_aside_before_a_vae_that_will_train(tmp_path, monkeypatch):
    """The VAE's checkpoints are gone: the LSTM trained on the old VAE's codes goes aside before the new VAE
    trains, so that a kill right after the VAE's last epoch cannot pair the new VAE with the old LSTM; and
    from the first epoch trained again, the run is no longer marked fitted, so detection refuses it."""
    config_path, run = train_tiny(tmp_path)
    assert runs.is_fitted(run)
    for name in ("vae.keras", "vae.prev.keras"):
        (run / name).unlink(missing_ok=True)

    def killed(*args, **kwargs):  # the kill: after the VAE's training, before the LSTM stage starts
        raise KeyboardInterrupt

    monkeypatch.setattr(vae_lstm_module.LSTMTrainer, "train", killed)
    config = from_dict({**TINY, "output_dir": str(tmp_path / "out")})
    with pytest.raises(KeyboardInterrupt):
        runs.train(config, load_series("synthetic").train)
    assert (run / "vae.keras").is_file() and not (run / "lstm.keras").exists()
    assert len(list(run.glob("lstm.before-*.keras"))) == 1
    assert not runs.is_fitted(run)


def test_an_early_stopped_stage_stays_stopped(tmp_path, capsys):
    config, run = train_tiny(tmp_path, num_epochs_vae=60, learning_rate_vae=0.05, early_stopping_patience=1)
    state = json.loads((run / "state.json").read_text())
    stopped = state.get("vae_stopped_early_at")
    assert stopped is not None and stopped == state["vae"] < 60
    log = (run / "vae_log.csv").read_text()
    capsys.readouterr()
    assert cli.train_main(["--config", str(config)]) == 0
    assert "early stopping ended its training" in capsys.readouterr().out
    assert (run / "vae_log.csv").read_text() == log  # no epoch trained again
    assert json.loads((run / "state.json").read_text()) == state


def test_a_damaged_metrics_json_is_scored_again_and_a_part_of_a_grid_keeps_off_the_tables(tmp_path, monkeypatch,
                                                                                          capsys):
    monkeypatch.setattr(reproduce, "FIGURES", tmp_path / "figures")
    monkeypatch.setattr(reproduce, "EXPERIMENT_DIR", tmp_path)  # grid.json counts as a shipped experiment file
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    experiment = tmp_path / "grid.json"
    experiment.write_text(json.dumps({"description": "tiny", "datasets": {"synth": str(tmp_path / "tiny.json")},
                                      "detectors": ["abs_z"], "seeds": 2, "output_dir": str(tmp_path / "runs")}))
    assert reproduce.main([str(experiment)]) == 0
    table = tmp_path / "figures" / "grid" / "results.csv"
    committed = table.read_text()

    assert reproduce.main([str(experiment), "--seed", "5"]) == 0  # one more seed: beside the runs only
    assert table.read_text() == committed
    assert "5" in set((tmp_path / "runs" / "summary" / "grid" / "results.csv").read_text().split(","))
    written = table.stat().st_mtime_ns
    assert reproduce.main([str(experiment), "--detectors", "abs_z"]) == 0  # a part asked for, the grid complete
    assert table.stat().st_mtime_ns == written  # not even rewritten with the same figures

    metrics = next((tmp_path / "runs").rglob("*seed0/detection/metrics.json"))
    metrics.write_text(metrics.read_text()[:50])
    capsys.readouterr()
    assert reproduce.main([str(experiment), "--summary-only", "--summary-dir", str(tmp_path / "part")]) == 0
    said = capsys.readouterr().out  # left out as damaged (it said "has not run")
    assert "its metrics.json is damaged" in said and "has not run" not in said
    assert reproduce.main([str(experiment)]) == 0
    assert json.loads(metrics.read_text())["detector"] == "abs_z"  # scored again, whole
    rescored = pd.read_csv(table)  # the same figures (but the rescored run's wall time): the grid's seeds only
    pd.testing.assert_frame_equal(rescored.drop(columns="wall_seconds"),
                                  pd.read_csv(io.StringIO(committed)).drop(columns="wall_seconds"))
    assert set(rescored.seed) == {0, 1}


@pytest.mark.parametrize("detector, saved", [("arma", "arma.json"), ("lstm_ad", "lstm_ad_gaussian.npz")])
def test_a_truncated_arma_or_gaussian_file_is_one_line_and_training_again_repairs_it(detector, saved, tmp_path,
                                                                                        capsys):
    extra = {"arma_p": 1, "arma_q": 0} if detector == "arma" else {"l_win": 8, "prediction_horizon": 2}
    config_path, _ = train_tiny(tmp_path, detector=detector, **extra)
    run = next((tmp_path / "out" / "tiny").glob(f"*{detector}*"))
    good = (run / saved).read_bytes()
    assert not list(run.glob("*.tmp"))  # written through a temporary file, none left behind
    (run / saved).write_bytes(good[: len(good) // 2])  # what a kill while writing in place could leave
    capsys.readouterr()
    assert errors.run_cli(cli.detect_main, ["--config", str(config_path)]) == 2
    line = one_error_line(capsys)
    assert f"{saved} is damaged" in line and line.endswith(f"run 'python3 codes/train.py --config {config_path}' again "
                                                           "to fit it afresh")
    assert cli.train_main(["--config", str(config_path)]) == 0  # fits that part again
    assert "is damaged" in capsys.readouterr().out
    assert errors.run_cli(cli.detect_main, ["--config", str(config_path)]) == 0


def test_a_threshold_rule_the_scores_do_not_allow_is_one_line(tmp_path, capsys):
    """POT on abs_z point scores of a two-level series (every top validation score ties): detect.py stops with one
    line before it touches the run's detection/ folder; at the sequence level (the paper's metric) the same rule
    leaves only that metric undefined."""
    import numpy as np

    from vae_lstm import detection

    level = [1.0 if (k // 10) % 2 else 0.0 for k in range(400)]
    (tmp_path / "square.csv").write_text("v\n" + "".join(f"{v}\n" for v in level[:300] + [5.0] + level[301:]))
    config = tmp_path / "square.json"
    config.write_text(json.dumps({**TINY, "dataset": {"path": str(tmp_path / "square.csv"), "train_range": [0, 200]},
                                  "l_win": 8, "l_seq": 2, "detector": "abs_z", "output_dir": str(tmp_path / "out")}))
    assert cli.train_main(["--config", str(config)]) == 0
    assert errors.run_cli(cli.detect_main, ["--config", str(config)]) == 0
    metrics = next((tmp_path / "out").rglob("detection/metrics.json"))
    scored = metrics.read_text()
    capsys.readouterr()
    assert errors.run_cli(cli.detect_main, ["--config", str(config), "--threshold-rule", "pot"]) == 2
    line = one_error_line(capsys)
    assert "threshold_rule 'pot' cannot be set on the abs_z point scores: no validation score exceeds" in line
    assert metrics.read_text() == scored and not metrics.with_name("metrics.previous.json").exists()
    ties = np.ones(200)
    with pytest.raises(errors.UserError, match=r"cannot be set on the vae_lstm sequence scores \(the paper's "):
        detection.sequence_threshold("pot", "vae_lstm", val_scores=ties, params={"q": 1e-3, "level": 0.98})
    assert detection.sequence_threshold("val_quantile", "vae_lstm", val_scores=ties, quantile=0.9) == 1.0


def test_a_second_damaged_metrics_json_keeps_the_first(tmp_path, capsys):
    """A damaged metrics.json was moved to metrics.damaged.json, and a second damaged one replaced that file
    silently. Each now keeps a name of its own (the next free number), and the line names it."""
    metrics = tmp_path / "metrics.json"
    for n, text in enumerate(['{"cut sh', '{"cut again', "\xff"]):
        metrics.write_text(text)
        runs.set_aside_metrics(metrics, "the figures")
        kept = "metrics.damaged.json" if n == 0 else f"metrics.damaged.{n + 1}.json"
        assert capsys.readouterr().out == (f"replacing {metrics}, which is damaged (kept as {kept}), and the figures "
                                           "beside it\n")
        assert not metrics.exists()
    assert [(tmp_path / name).read_text() for name in ("metrics.damaged.json", "metrics.damaged.2.json",
                                                       "metrics.damaged.3.json")] == ['{"cut sh', '{"cut again', "\xff"]
