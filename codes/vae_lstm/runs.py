"""Run folders: pick the folder of a config, resume it or start a new one, never overwrite.

One idea of each state of a run folder, used everywhere:
- ``has_training(path)``: something was trained there (a checkpoint or a saved fit), so
  ``load_model: 0`` must not reuse it;
- ``detector.is_trained(path)``: every file its detector needs to score is there;
- ``has_metrics(path)``: detection finished and wrote ``detection/metrics.json``.
And one comparison of configs: ``config_changes``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .config import Config, run_dir, save_config
from .errors import UserError

# Keys that change the shape of a trained model: a run folder cannot resume under other values.
ARCHITECTURE_KEYS = ("dataset", "detector", "l_win", "l_seq", "n_channel", "code_size", "num_hidden_units",
                     "num_hidden_units_lstm", "TRAIN_sigma", "prediction_horizon", "arma_p", "arma_q", "beta",
                     "arma_max_train_points")
METRICS_FILE = Path("detection") / "metrics.json"


def has_training(path: Path) -> bool:
    return Path(path).is_dir() and (any(Path(path).glob("*.keras")) or (Path(path) / "state.json").is_file())


def has_metrics(path: Path) -> bool:
    return (Path(path) / METRICS_FILE).is_file()


def saved_config(path: Path) -> dict | None:
    """The config a run folder was first made with (its config.json), or None."""
    saved_path = Path(path) / "config.json"
    if not saved_path.is_file():
        return None
    saved = json.loads(saved_path.read_text())
    saved.pop("$schema", None)
    return saved


def config_changes(config: Config, path: Path, keys=None) -> list[str]:
    """Keys (all, or those in ``keys``) whose value differs between ``config`` and the run's saved config."""
    saved = saved_config(path)
    if saved is None:
        return []
    values = config.to_dict()
    return [k for k in (keys or values) if k in saved and k in values and saved[k] != values[k]]


def prepare_run_dir(config: Config) -> Path:
    """The folder to train in: resumed when load_model is on, else a fresh one next to any taken folder."""
    base = run_dir(config)
    path = base
    if has_training(base) and not config.load_model:
        n = 2
        while has_training(path := base.with_name(f"{base.name}_run{n}")):
            n += 1
        print(f"{base} already holds a trained run and load_model is 0: writing to {path} instead "
              f"(set load_model: 1 to resume {base.name})")
    elif has_training(base):
        check_resumable(config, base)
        print(f"resuming run folder {base}")
    path.mkdir(parents=True, exist_ok=True)
    write_config_copy(config, path)
    return path


def check_resumable(config: Config, path: Path) -> None:
    changed = config_changes(config, path, ARCHITECTURE_KEYS)
    if changed:
        saved = saved_config(path)
        key = changed[0]
        raise UserError(f"run folder {path} was trained with {key}={saved[key]!r}, the config says "
                        f"{config[key]!r}; set load_model: 0 to start a new run folder")


def write_config_copy(config: Config, path: Path) -> None:
    """config.json holds the config of the first run; a resume with other values adds a dated copy."""
    target = path / "config.json"
    if target.is_file():
        latest = max([target, *path.glob("config.*.json")], key=lambda p: p.name if p != target else "")
        saved = json.loads(latest.read_text())
        saved.pop("$schema", None)
        if saved == config.to_dict():
            return
        target = path / f"config.{time.strftime('%Y%m%d-%H%M%S')}.json"
    save_config(config, target)


def train(config: Config, train_series) -> Path:
    """Seed, pick the run folder and fit the config's detector on the training block; returns the folder."""
    import keras

    from .detectors import get_detector

    keras.utils.set_random_seed(config.seed)
    path = prepare_run_dir(config)
    get_detector(config).fit(train_series, path)
    mark_fitted(path)
    return path


def mark_fitted(path: Path) -> None:
    """Record in state.json that the detector's fit finished (its stages record their epochs there)."""
    state_path = Path(path) / "state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if not state.get("fitted"):
        state["fitted"] = True
        state_path.write_text(json.dumps(state, indent=2) + "\n")


def require_training(config: Config, path: Path) -> None:
    """Before TensorFlow is imported: stop with one line when a detector that learns has no run folder."""
    from .detectors import CONTROLS

    if config.detector not in CONTROLS and not has_training(path):
        source = config.source.name if config.source else "<config>"
        what = "does not exist" if not Path(path).is_dir() else "holds no trained detector"
        raise UserError(f"run folder {path} {what}; train first with 'python3 codes/train.py --config {source}'")
