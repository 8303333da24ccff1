"""Run folders: pick the folder of a config, resume it or start a new one, never overwrite."""

from __future__ import annotations

import json
import time
from pathlib import Path

from config import Config, run_dir, save_config
from errors import UserError

# Keys that change the shape of a trained model: a run folder cannot resume under other values.
ARCHITECTURE_KEYS = ("dataset", "l_win", "l_seq", "n_channel", "code_size", "num_hidden_units",
                     "num_hidden_units_lstm", "TRAIN_sigma")


def has_results(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*.keras"))


def prepare_run_dir(config: Config) -> Path:
    """The folder to train in: resumed when load_model is on, else a fresh one next to any taken folder."""
    base = run_dir(config)
    path = base
    if has_results(base) and not config.load_model:
        n = 2
        while has_results(path := base.with_name(f"{base.name}_run{n}")):
            n += 1
        print(f"{base} already holds a trained run and load_model is 0: writing to {path} instead "
              f"(set load_model: 1 to resume {base.name})")
    elif has_results(base):
        check_resumable(config, base)
        print(f"resuming run folder {base}")
    path.mkdir(parents=True, exist_ok=True)
    write_config_copy(config, path)
    return path


def check_resumable(config: Config, path: Path) -> None:
    saved_path = path / "config.json"
    if not saved_path.is_file():
        return
    saved = json.loads(saved_path.read_text())
    for key in ARCHITECTURE_KEYS:
        if key in saved and saved[key] != config[key]:
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


def require_trained(path: Path, config: Config) -> None:
    """Stop with one line, saying how to train, when a run folder lacks its models."""
    missing = [name for name in ("vae.keras", "lstm.keras") if not (path / name).is_file()]
    if missing:
        what = "does not exist" if not path.is_dir() else f"has no {' or '.join(missing)}"
        source = config.source.name if config.source else "<config>"
        raise UserError(f"run folder {path} {what}; train first with "
                        f"'python3 codes/train.py --config {source}'")
