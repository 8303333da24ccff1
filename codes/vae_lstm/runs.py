"""Run folders: pick the folder of a config, resume it or start a new one, never overwrite.

A run folder holds the training of one config: its ``config.json`` is the config its models were
trained with, and only one process trains in it at a time (``train.lock``).

One idea of each state of a run folder, used everywhere:
- ``has_training(path)``: something was trained there (a checkpoint or a saved fit), so
  ``load_model: 0`` must not reuse it;
- ``is_fitted(path)``: the detector's fit finished there (``state.json`` says ``fitted``);
  ``unfinished_training(path)``: a fit started there and did not finish (what its stages reached);
- ``detector.is_trained(path)``: every file its detector needs to score is there;
- ``has_metrics(path)``: detection finished and wrote ``detection/metrics.json``.
A config's run folders are ``<name>``, ``<name>_run2``, ``<name>_run3``, ... (``run_folders``).
And one comparison of configs: ``config_changes`` (``training_changes`` for the keys that shape the models).
"""

from __future__ import annotations

import contextvars
import errno
import functools
import glob
import json
import os
import re
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .config import (
    CONFIG_FOLDER_FILE,
    DIVERGED_KEY,
    REPO_ROOT,
    STATE_HINT,
    STOPPED_SUFFIX,
    Config,
    check_writable,
    config_argument,
    config_folders,
    json_shown,
    read_json_file,
    repr_shown,
    run_dir,
    save_config,
    shell_word,
    train_command,
    write_text_atomic,
)
from .errors import UserError, home_path, naming_the_file, unmistaken
from .windowing import n_sequences, train_val_split

# Keys that do not change the trained files: where the run lives, how it is resumed, and what
# detection does with the scores. Every other key changes training, so a run folder cannot resume under
# another value of it.
NOT_TRAINING_KEYS = ("exp_name", "output_dir", "load_model", "load_dir", "TRAIN_VAE", "TRAIN_LSTM",
                     "y_scale", "one_image", "threshold_rule", "threshold_quantile", "pot_q", "pot_level", "contamination",
                     "threshold_value", "score_batch_size", "tensorboard", "point_score",
                     "point_smoothing", "point_spread", "trailing_scale", "error_scale", "second_term_weight",
                     "reconstruction_weight", "term_scale", "term_combine", "term_power", "context_scale",
                     "steps_per_execution", "jit_compile")
# Keys of a CSV dataset object that give its training block (else "train": "auto", which follows the labels).
TRAIN_BLOCK_KEYS = ("train_range", "train_points", "train_fraction", "train_files")
# The only keys a control's run depends on (its data, units and split): it learns no model, so the model keys
# of a shared dataset config may change without refusing its finished runs.
CONTROL_KEYS = ("dataset", "detector", "seed", "l_win", "l_seq", "n_channel", "val_fraction", "window_stride")
METRICS_FILE = Path("detection") / "metrics.json"
LOCK_FILE = "train.lock"
UNNAMED_HOLDER_WAIT = 2.0  # seconds ``exclusive`` waits for a lock held without its holder's PID file
DETECT_LOCK_FILE = "detect.lock"
MIN_SEQUENCES = 2  # at least this many sequences to train on, and as many to validate on
MIN_L_WIN, MIN_L_SEQ = 8, 2  # the schema's smallest windows
SMALLEST_WINDOWS_FIX = (f"the windows are already the smallest (l_win {MIN_L_WIN}, l_seq {MIN_L_SEQ}): give the "
                        "training block more points")  # the advice when windows cannot shrink


def shrink_fix(config: Config) -> str:
    """What to do when a sequence of the config's windows is too long: make smaller those of l_win and l_seq that
    are above the schema's smallest (l_seq "auto" gives 2 beside a long l_win); SMALLEST_WINDOWS_FIX when neither is."""
    above = [key for key, least in (("l_win", MIN_L_WIN), ("l_seq", MIN_L_SEQ)) if config[key] > least]
    return f"make {' or '.join(above)} smaller" if above else SMALLEST_WINDOWS_FIX


def has_checkpoint(path: Path) -> bool:
    """A checkpoint (``<name>.keras``, ``<name>.prev.keras``) in ``path``; not the ``<name>.tmp.keras`` a trainer
    killed (SIGKILL) while writing one leaves: half a file, never read."""
    return any(not p.name.endswith(".tmp.keras") for p in Path(path).glob("*.keras"))


def has_training(path: Path) -> bool:
    return Path(path).is_dir() and (has_checkpoint(path) or (Path(path) / "state.json").is_file())


def unrecorded_training(path: Path) -> bool:
    """Training (a checkpoint, state.json) without the config.json that says what it was trained with (lost, or
    deleted): no changed key could be refused there."""
    return has_training(path) and not (Path(path) / "config.json").is_file()


def is_fitted(path: Path) -> bool:
    state_path = Path(path) / "state.json"
    return state_path.is_file() and bool(read_json_file(state_path, STATE_HINT).get("fitted"))


def has_metrics(path: Path) -> bool:
    return (Path(path) / METRICS_FILE).is_file()


def read_metrics(path: Path) -> dict | None:
    """A run's metrics.json, or None (with a line saying so) when it is damaged: a run of the experiment (not
    --summary-only, which leaves it out) scores it again."""
    try:
        return metrics_from_json(read_json_file(Path(path) / METRICS_FILE, "a run of the experiment (not "
                                                "--summary-only) scores it again"))
    except UserError as e:
        print(e)
        return None


# metrics.json is strict JSON, which has no NaN or infinity: an undefined number (NaN) is written as null and
# an infinite one as the string "Infinity" or "-Infinity". Reading turns them back, except in the config keys
# and the split, whose null is a config's null. Files written before (bare NaN) read as they did.
INFINITIES = {"Infinity": float("inf"), "-Infinity": float("-inf")}
KEPT_AS_WRITTEN = ("split",)


def metrics_text(metrics: dict) -> str:
    """The text of a metrics.json: strict JSON (``metrics_from_json`` reads it back)."""
    def strict(value):
        if isinstance(value, dict):
            return {k: strict(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [strict(v) for v in value]
        if isinstance(value, (float, np.floating)) and not np.isfinite(value):
            return None if np.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return value.item() if isinstance(value, np.generic) else value

    return json.dumps(strict(metrics), indent=2, allow_nan=False) + "\n"


def metrics_from_json(values: dict) -> dict:
    """A parsed metrics.json with its numbers as written: null is NaN, "Infinity" is infinite (not in the
    config keys or the split)."""
    def number(value):
        if isinstance(value, dict):
            return {k: number(v) for k, v in value.items()}
        if isinstance(value, list):
            return [number(v) for v in value]
        if value is None:
            return float("nan")
        return INFINITIES.get(value, value) if isinstance(value, str) else value

    kept = config_keys() | set(KEPT_AS_WRITTEN)
    return {k: v if k in kept else number(v) for k, v in values.items()}


@functools.cache
def config_keys() -> frozenset:
    """Every config key (read once from the schema)."""
    from .config import default_values

    return frozenset(default_values())


def saved_config(path: Path) -> dict | None:
    """The config a run folder was first made with (its config.json), or None."""
    saved_path = Path(path) / "config.json"
    if not saved_path.is_file():
        return None
    saved = read_json_file(saved_path, "it records the config the run was trained with: restore it, or move the "
                                       "run folder away to train afresh")
    saved.pop("$schema", None)
    return saved


def config_changes(config: Config, path: Path, keys=None, same=lambda key, saved, now: saved == now) -> list[str]:
    """Keys (all, or those in ``keys``) whose value differs between ``config`` and the run's saved config
    (``same(key, saved, now)``: whether two values of a key count as equal)."""
    saved = saved_config(path)
    if saved is None:
        return []
    values = config.to_dict()
    return [k for k in (values if keys is None else keys)
            if k in saved and k in values and not same(k, saved[k], values[k])]


def training_changes(config: Config, path: Path) -> list[str]:
    """Keys that change the trained files and differ from the run's saved config. The epochs of a
    stage that the config skips (TRAIN_VAE / TRAIN_LSTM 0, or 0 epochs) are not compared, nor the keys of other
    detectors (``detectors.FOREIGN_KEYS``: ARMA's orders for a VAE-LSTM, the VAE's width for ARMA)."""
    def same(key, saved, now) -> bool:
        if saved == now or key != "dataset":
            return saved == now
        if training_part(saved) == training_part(now):
            return True
        from .csv_data import read_files
        from .data_loader import dataset_folders

        # the same files, named otherwise: a run recorded an override's data file by its absolute path before the
        # override gave it from the dataset config's folder ("../exp/data.csv")
        saved, now, folders = training_part(saved), training_part(now), dataset_folders(config)
        return isinstance(saved, dict) and isinstance(now, dict) and (
            read_files(saved, folders) == read_files(now, folders))

    return config_changes(config, path, training_keys(config), same=same)


def training_keys(config: Config) -> list[str]:
    """The keys of ``config`` that change its detector's trained files (``training_changes`` compares them)."""
    from .detectors import CONTROLS, FOREIGN_KEYS

    skipped = {"num_epochs_vae": not (config.TRAIN_VAE and config.num_epochs_vae),
               "num_epochs_lstm": not (config.TRAIN_LSTM and config.num_epochs_lstm)}
    foreign = FOREIGN_KEYS.get(config.detector, ())
    return [k for k in config.to_dict() if k not in NOT_TRAINING_KEYS and not skipped.get(k) and k not in foreign
            and (config.detector not in CONTROLS or k in CONTROL_KEYS)]


def training_part(dataset):
    """A dataset (a name, or a CSV dataset object) without the keys that only say how its test data is read and
    labelled: ``test_files``, and ``labels`` when the training block is given (``train_range``, ``train_points``,
    ``train_fraction``, ``train_files``), so that labels may be added to a trained run to evaluate it. Under
    ``"train": "auto"`` the labels choose the training block, so they count."""
    if not isinstance(dataset, dict):
        return dataset
    block_given = any(dataset.get(k) is not None for k in TRAIN_BLOCK_KEYS)
    return {k: v for k, v in dataset.items() if k != "test_files" and not (k == "labels" and block_given)}


def describe_changes(config: Config, path: Path, changed: list[str]) -> str:
    saved = saved_config(path)
    return ", ".join(f"{k}={repr_shown(saved[k])} (the config says {repr_shown(config[k])})" for k in changed)


def scoring_differences(config: Config, path: Path) -> str | None:
    """One note line when ``config`` scores the run with other detection or scoring keys than its config.json
    holds (a grid's override, say): its figures then differ from those of the run's own scoring. None when not."""
    from .grid import BEFORE_RECORDED, recorded, scoring_keys

    saved = saved_config(path)
    if saved is None:
        return None
    differ = [f"{k} {config[k]!r} (the run's config.json{'' if k in saved else ' predates it'}: {recorded(saved, k)!r})"
              for k in scoring_keys(config, config.n_channel)
              if (k in saved or k in BEFORE_RECORDED) and recorded(saved, k) != config[k]]
    return (f"note: scoring {path} with {', '.join(differ)}; its figures differ from those its own settings give"
            if differ else None)


def unread_scoring_keys(config: Config, n_channel: int | None) -> str | None:
    """One note line naming the detection and scoring keys that ``config`` sets away from their defaults but that its
    detector's scores on ``n_channel`` channels do not read (``unread_settings``: point_smoothing under point_score
    max_sequence, term_power under predicted_error, the VAE-LSTM's keys under another detector, threshold_value under
    a rule other than fixed), which would otherwise change nothing without a word."""
    from .config import default_values

    defaults = default_values()
    why = unread_settings(config, n_channel, [k for k, v in config.to_dict().items() if v != defaults.get(k)])
    if not why:
        return None
    reasons = sorted(dict.fromkeys(why.values()), key=lambda reason: reason == "on one channel")  # the channels' last
    parts = [f"{', '.join(f'{k} {config[k]!r}' for k in why if why[k] == reason)} not read {reason}"
             for reason in reasons]
    return f"note: {'; '.join(parts)}: the scores are the same without"


def unread_training_keys(config: Config) -> str | None:
    """One note line naming the training keys that ``config`` sets away from their defaults but that its detector's
    training never reads (its foreign keys, ``detectors.FOREIGN_KEYS``; a control's: every one of them, as it trains
    nothing): num_hidden_units, the VAE's width, for lstm_ae, whose width is num_hidden_units_lstm, would otherwise
    change nothing without a word. In the order of the schema's keys; None when there is none."""
    from .config import default_values
    from .detectors import CONTROLS, FOREIGN_KEYS

    foreign = (set().union(*FOREIGN_KEYS.values()) if config.detector in CONTROLS
               else set(FOREIGN_KEYS.get(config.detector, ())))
    defaults = default_values()  # the values from to_dict: no attribute read (a test records the keys training reads)
    unread = {k: v for k, v in config.to_dict().items() if k in foreign and v != defaults[k]}
    if not unread:
        return None
    return (f"note: {', '.join(f'{k} {v!r}' for k, v in unread.items())} not read by {config.detector}: its training "
            "is the same without")


def unread_settings(config: Config, n_channel: int | None, keys) -> dict[str, str]:
    """Of the detection and scoring keys among ``keys``, those that ``config``'s detector does not read on
    ``n_channel`` channels (None: more than one), each with why ("under point_score 'max_sequence'", "on one channel",
    "by lstm_ad", "under threshold_rule 'val_quantile'"), in the order of its scoring keys, then the others'."""
    from .detectors import SCORING_KEYS, scoring_keys_for

    own = SCORING_KEYS.get(config.detector, ())
    read, on_more = scoring_keys_for(config.detector, n_channel, config), scoring_keys_for(config.detector, None, config)
    under = f"under point_score {config.point_score!r}" if "point_score" in own else f"under {config.detector}"
    others = [k for keys_of in SCORING_KEYS.values() for k in keys_of if k not in own]
    keys = set(keys)
    why = {k: "on one channel" if k in on_more else under for k in own if k in keys and k not in read}
    why |= {k: f"by {config.detector}" for k in dict.fromkeys(others) if k in keys}
    if "threshold_value" in keys and config.threshold_rule != "fixed":
        why["threshold_value"] = f"under threshold_rule {config.threshold_rule!r}"
    for k in ("point_smoothing", "point_spread"):  # windows of l_win points, rounded: a span of 1 point changes nothing
        if k in keys and k in read and config[k] > 0 and isinstance(config.l_win, int):
            span = round(config[k] * config.l_win)
            if span <= 1:
                why[k] = f"at l_win {config.l_win}, where it spans {span} point{'' if span == 1 else 's'}"
    return why


def run_folders(config: Config, held: bool = False) -> list[Path]:
    """The config's run folders that hold training, oldest first: <name>, <name>_run2, <name>_run3, ...; ``held``:
    and those whose training lock a process holds (a training in its first epoch, which holds no checkpoint or
    state.json yet)."""
    base = run_dir(config)
    prefix = f"{base.name}_run"
    numbered = sorted((int(p.name[len(prefix):]), p) for p in base.parent.glob(f"{glob.escape(prefix)}*")
                      if p.name[len(prefix):].isdigit())
    return [p for p in [base, *(p for _, p in numbered)]
            if has_training(p) or (held and p.is_dir() and training_holder(p) is not None)]


def unfinished_training(path: Path) -> str | None:
    """What the stages of a fit that started in ``path`` and did not finish reached (``state.json`` without
    ``fitted``), e.g. "vae 40, lstm 2 epochs"; None when no fit started there or the last one finished."""
    state_path = Path(path) / "state.json"
    if not state_path.is_file():  # checkpoints without their record (moved away): their epochs are unknown
        return "state.json is missing beside its checkpoints" if has_checkpoint(path) else None
    state = read_json_file(state_path, STATE_HINT)
    if state.get("fitted"):
        return None
    done = [f"{k} {v}" for k, v in state.items()
            if isinstance(v, int) and not isinstance(v, bool) and not k.endswith(STOPPED_SUFFIX)]
    return f"{', '.join(done)} epochs done" if done else "no stage finished"


def refuse_unfinished(config: Config, path: Path) -> None:
    """One line when a fit started in ``path`` and did not finish: its models must not be scored."""
    unfinished = unfinished_training(path)
    if unfinished is None:
        return
    if (pid := training_holder(path)) is not None:  # its fit is going on now: train.py again would be refused
        raise UserError(f"run folder {path} is being trained now by another process (PID {pid}; {unfinished} so "
                        "far); wait for it to finish, then detect")
    if diverged := divergence(path):  # train.py again would diverge again
        raise UserError(f"run folder {path} has not finished training ({unfinished}): {diverged}")
    raise UserError(f"run folder {path} has not finished training ({unfinished}); "
                    f"{training_advice(config, path, finish=True)}, then detect")


def divergence(path: Path) -> str | None:
    """What diverged when the last training in ``path`` stopped at a loss that was not finite, and what to do (state.json's
    ``diverged``, ``BaseTrainer.record_divergence``); None when it did not."""
    state_path = Path(path) / "state.json"
    record = read_json_file(state_path, STATE_HINT).get(DIVERGED_KEY) if state_path.is_file() else None
    return record if isinstance(record, str) and record else None


def newer_unfinished_note(config: Config, path: Path) -> str | None:
    """detect.py scores the newest run folder of ``config`` whose training finished (``latest_run``): when that is
    ``path`` and a newer one of its training keys has not finished (interrupted, or being trained now), a note that
    names it, what its stages reached and how to finish it. None otherwise."""
    path = Path(path)
    if not is_fitted(path):
        return None
    folders = run_folders(config, held=True)  # one in its first epoch too: it is being trained
    if path not in folders:
        return None

    def unfinished(folder: Path) -> bool:
        try:
            return not is_fitted(folder) and not training_changes(config, folder)
        except UserError:  # a damaged state.json or config.json: not a run detect.py could have scored
            return False

    newer = [folder for folder in folders[folders.index(path) + 1:] if unfinished(folder)]
    if not newer:
        return None
    folder, reached = newer[-1], unfinished_training(newer[-1]) or "no epoch done yet"
    if (pid := training_holder(folder)) is not None:
        how = f"it is being trained now by another process (PID {pid}); wait for it to finish, then detect"
    else:
        how = divergence(folder) or f"{training_advice(config, folder, finish=True)}, then detect"
    return (f"note: scoring {path}, the newest run of the config whose training finished; {folder} is newer and has "
            f"not finished training ({reached}): {how}")


def training_holder(path: Path) -> str | None:
    """The PID of the process that holds ``path``'s training lock now ("unknown" when it wrote none), or None
    when no process holds it (a killed trainer's lock is free, whatever its stale PID file says)."""
    return lock_holder(Path(path) / LOCK_FILE)


def lock_holder(lock_path: Path) -> str | None:
    """The PID of the process that holds the lock file ``lock_path`` now, as ``training_holder`` finds it."""
    from filelock import FileLock, Timeout

    lock_path = Path(lock_path)
    if not lock_path.is_file():
        return None
    lock = FileLock(lock_path, timeout=0)
    try:
        acquire(lock)
    except Timeout:
        return holder_pid(lock_path)
    lock.release()
    return None


def acquire(lock, timeout: float | None = None) -> None:
    """``lock.acquire``, with a file system that has no file locks (filelock 3 on some network or FUSE mounts
    raises NotImplementedError) as one line naming the folder."""
    try:
        lock.acquire() if timeout is None else lock.acquire(timeout=timeout)
    except NotImplementedError as e:
        folder = Path(lock.lock_file).parent
        raise UserError(f"cannot lock files in {folder}: its file system does not support file locks ({e}); "
                        "put it on a local disk") from None


def pid_file(lock_path: Path) -> Path:
    """Where the holder of the lock file ``lock_path`` writes its PID (``exclusive``)."""
    return lock_path.with_name(lock_path.name + ".pid")


def holder_pid(lock_path: Path) -> str:
    """The PID that the holder of ``lock_path`` wrote (with its host where that is another machine), or "unknown"
    when there is none to read (``download.holder_pid``)."""
    from .download import holder_pid as written

    return written(pid_file(lock_path))


def finished_metrics(path: Path) -> dict | None:
    """A run's metrics.json when it has one and its training is not being done again (a fit started after an
    earlier detection and not finished: such a run trains on before its metrics count); else None."""
    return read_metrics(path) if has_metrics(path) and unfinished_training(path) is None else None


DATA_FILE = "training_data.json"


def data_fingerprint(train_data) -> dict:
    """Shape and sha256 of the training data (one series as (n, c)), its values rounded to 6 decimals first: the
    standardised values, whose last bits a numpy upgrade may move, hash the same."""
    values = np.asarray(train_data, dtype=np.float64)
    if values.ndim == 1:
        values = values.reshape(len(values), 1)
    import hashlib

    rounded = np.ascontiguousarray(np.round(values, 6) + 0.0)  # + 0.0: -0.0 and 0.0 hash the same
    return {"shape": list(values.shape), "sha256": hashlib.sha256(rounded.tobytes()).hexdigest()}


def same_training_data(saved: dict, train_data, fingerprint: dict | None = None) -> bool:
    """Whether ``saved`` (a ``training_data.json``) records ``train_data`` (``fingerprint``: its own, when known) or
    its float32 copy: a fit from Python given the float32 copy of the block, which the detectors compute in, was
    fitted on the same data, though some of its values round to 6 decimals otherwise."""
    if saved == (fingerprint or data_fingerprint(train_data)):
        return True
    return saved == data_fingerprint(np.asarray(train_data, dtype=np.float32))


def check_training_data(path: Path, train_data, config: Config | None = None, fix: str | None = None,
                        given: str = "the config now gives") -> None:
    """One line when the run folder's models were fitted on other training data than ``train_data`` (its
    ``training_data.json``, written when a fit starts there); folders from before the file pass. ``fix``: what
    the line suggests (by default a new run folder, through ``config``'s load_model); ``given``: where
    ``train_data`` comes from, in the line's words."""
    saved_path = Path(path) / DATA_FILE
    if not saved_path.is_file():
        return
    saved, now = read_json_file(saved_path), data_fingerprint(train_data)
    if not same_training_data(saved, train_data, now):
        def describe(f):
            return f"{' x '.join(map(str, f.get('shape', [])))} values, sha256 {str(f.get('sha256'))[:12]}"

        if fix is None:
            fix = (f"{new_run_advice(config)}, or " if config is not None else "") + "restore the data it was trained on"
        raise UserError(f"run folder {path} was trained on other training data ({describe(saved)}) than {given} "
                        f"({describe(now)}); {fix}")


def record_training_data(path: Path, train_data, config: Config, fix: str | None = None,
                         given: str = "the config now gives") -> None:
    """Before a fit in ``path``: refuse other data than its models were fitted on (``fix`` and ``given``: as in
    ``check_training_data``), else record this data. A folder that holds no training yet (a fit killed before its
    first checkpoint) takes the new data."""
    if has_training(path):
        check_training_data(path, train_data, config, fix, given)
        if (Path(path) / DATA_FILE).is_file():
            return
    write_text_atomic(Path(path) / DATA_FILE, json.dumps(data_fingerprint(train_data), indent=2) + "\n")


def latest_run(config: Config, fitted: bool = False) -> Path:
    """The newest run folder of the config trained with its training values (with ``fitted``: whose fit
    finished); else the newest one, whose values differ; else the config's folder, untrained. Under load_model 1 a
    load_dir is the folder itself, not the newest of it and the <load_dir>_runN beside it: the one folder it names."""
    if config.load_model and config.load_dir != "default":
        return run_dir(config)
    folders = [p for p in run_folders(config) if is_fitted(p) or not fitted]
    matching = [p for p in folders if not training_changes(config, p)]
    exact = [p for p in matching if not config_changes(config, p, ["dataset"])]  # labels as given, if any
    return (exact or matching or folders or [run_dir(config)])[-1]


def next_free_run(config: Config) -> Path:
    """The first of <name>, <name>_run2, <name>_run3, ... that holds no training."""
    base = path = run_dir(config)
    n = 2
    while has_training(path):
        path = base.with_name(f"{base.name}_run{n}")
        n += 1
    return path


def new_run_advice(config: Config) -> str:
    """How to train ``config`` in a new run folder: load_model 0, and every stage it skips trained there too (a new
    folder has no model to skip to, so load_model 0 alone would be refused by ``check_skipped_stages``)."""
    from .detectors import CONTROLS

    keys = ["load_model: 0"]
    if config.detector not in CONTROLS:
        for stage in model_stages(config.detector):
            flag, epochs = stage_keys(stage)
            keys += [f"{flag}: 1"] if not config[flag] else []
            keys += [f"{epochs} > 0"] if not config[epochs] else []
    listed = keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + f" and {keys[-1]}"
    return f"set {listed} to train a new run in {next_free_run(config)}"


def choose_run_dir(config: Config, path: Path | None = None) -> Path:
    """The folder to train in, checked; creates nothing. load_model 1 resumes the latest run of the config,
    load_model 0 takes the next free folder; ``path``, when given, is the folder whatever other runs the config
    has (an experiment's own run folder). A run folder holds the models of one config, so a changed key
    that shapes training is refused, and so is a skipped stage that has no model there."""
    if path is None:
        path = latest_run(config) if config.load_model else next_free_run(config)
    path = Path(path)
    if unrecorded_training(path):
        raise UserError(f"run folder {path} holds training but no config.json, which records the keys it was trained "
                        f"with, so a resume there cannot be checked: put its config.json back, or "
                        f"{new_run_advice(config)}")
    changed = training_changes(config, path) if has_training(path) else []
    if changed:
        raise UserError(f"run folder {path} was trained with {describe_changes(config, path, changed)}; a run "
                        f"folder holds the models of one config: {new_run_advice(config)}, or go back to the values "
                        "it was trained with")
    check_skipped_stages(config, path)
    return path


def check_skipped_stages(config: Config, path: Path) -> None:
    """A stage the config skips must have its model in the run folder already."""
    from .detectors import CONTROLS

    if config.detector in CONTROLS:
        return
    from .training import STOPPING_ENTRY, checkpoint_entry, checkpoint_epochs, read_state, stopped_key

    source = config_argument(config)
    for stage in model_stages(config.detector):
        name = f"{stage}.keras"
        flag, epochs = stage_keys(stage)
        why = f"{flag}: 0" if not config[flag] else f"{epochs}: 0" if not config[epochs] else None
        if not why:
            continue
        model = Path(path) / name
        if not model.is_file():
            raise UserError(f"{source} asks to skip training the {stage} ({why}), but there is no trained {stage} "
                            f"in {path} yet; set {flag}: 1 and {epochs} > 0 to train it first with "
                            f"{train_command(config)}")
        # the epochs it was being trained for: the run's own config.json's (a skipped stage's count may change)
        planned = (saved_config(path) or {}).get(epochs, config[epochs])
        try:
            held = checkpoint_epochs(model)
            stop = checkpoint_entry(model, STOPPING_ENTRY)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError):  # damaged: loading it says so, in one line
            continue
        stopped = json.loads(stop)["stopped"] if stop is not None else \
            read_state(Path(path) / "state.json").get(stopped_key(stage)) == held
        if held is not None and planned and held < planned and not stopped:
            raise UserError(f"{source} asks to skip training the {stage} ({why}), but the {stage} in {path} holds "
                            f"{held} of the {planned} epochs it was being trained for (its training was "
                            f"interrupted); set {flag}: 1 and {epochs}: {planned} to finish it first")


def model_stages(detector: str) -> list[str]:
    """The stages of a detector that train a Keras model (``<stage>.keras``), in the order they train."""
    from .detectors import detector_class

    return [name.removesuffix(".keras") for name in detector_class(detector).trained_files if name.endswith(".keras")]


def stage_keys(stage: str) -> tuple[str, str]:
    """The config keys that train a stage: its flag and its epochs (the VAE's, or the LSTM stage's for any other)."""
    return ("TRAIN_VAE", "num_epochs_vae") if stage == "vae" else ("TRAIN_LSTM", "num_epochs_lstm")


def idle_patience(config: Config) -> str | None:
    """Why early_stopping_patience can end none of the stages that ``config`` trains before its last epoch, for a
    note; None when it is off, unread, or can end one. Early stopping ends a stage once the validation loss has not
    improved for ``patience`` epochs after its best, so after ``patience + 1`` epochs at the soonest: a stage of no
    more epochs than that trains all of them (``training.EarlyStop.stopped``), and only takes its best epoch's
    weights. Its stages are those whose epoch keys its detector reads (``detectors.unread_keys``: no TensorFlow)."""
    from .detectors import unread_keys

    unread = unread_keys(config.detector)
    if "early_stopping_patience" in unread:  # not read at all: a detector's training reads none of its foreign keys
        return None
    patience = config.early_stopping_patience
    if not patience:
        return None
    idle = [f"{epochs} {config[epochs]}" for flag, epochs in (stage_keys("vae"), stage_keys("lstm"))
            if epochs not in unread and config[flag] and 0 < config[epochs] <= patience + 1]
    if not idle:
        return None
    return (f"early_stopping_patience {patience} cannot end the training of {' or '.join(idle)} early: a stage stops "
            f"after {patience + 1} epochs at the soonest (it still ends on its best epoch's weights)")


# the command that runs the current job again when an experiment's grid runs it (``rerun_command``): the
# dataset's config given to train.py would train a run folder of its own, not the grid's
_RERUN = contextvars.ContextVar("rerun", default=None)


@contextmanager
def rerun_command(command: str):
    """Within it, ``train_hint`` names ``command`` (quoted) rather than train.py with the config."""
    token = _RERUN.set(command)
    try:
        yield
    finally:
        _RERUN.reset(token)


def train_hint(config: Config, stage: str, what: str, path: Path | None = None) -> str:
    """How train.py does ``what`` to ``stage`` of a run of ``config``: the settings ``config`` turns off that it
    needs, for the stage and for those trained after it (which then train afresh), and the command (in a grid,
    ``rerun_command``'s: reproduce.py for the job's run). Epochs the config skips are named as the run folder
    ``path`` saved them, since another count is refused as a changed training key; a ``path`` that train.py does not
    resume (a run folder copied elsewhere, given as --run-dir) is named as load_dir."""
    stages = model_stages(config.detector)
    after = stages[stages.index(stage) + 1:] if stage in stages else []
    settings = [] if config.load_model else ["load_model: 1"]
    saved = (saved_config(path) if path is not None else None) or {}
    for name in (stage, *after):
        flag, epochs = stage_keys(name)
        planned = saved.get(epochs)
        known = isinstance(planned, int) and not isinstance(planned, bool) and planned > 0
        # a skipped stage's epochs are not compared, so the config may hold another count than the run's: once the
        # stage trains, that count is refused as a changed training key
        other = known and not config[flag] and config[epochs] != planned
        epochs_setting = f"{epochs}: {planned}" if known else f"{epochs} > 0"
        settings += [f"{flag}: 1"] * (not config[flag]) + [epochs_setting] * (not config[epochs] or other)
    if path is not None and not _RERUN.get() and Path(path).resolve() != latest_run(config).resolve():
        settings.append(f"load_dir: {load_dir_text(path)}")  # a run folder elsewhere: train.py resumes its own
    setting = f"set {' and '.join(settings)}, then " if settings else ""
    then = f" (the {' and the '.join(after)} then trains afresh too)" if after else ""
    return f"{setting}run {_RERUN.get() or train_command(config)} {what}{then}"


def check_run_config(config: Config, path: Path) -> None:
    """Before detection: the run must have been trained with the config's values of the training keys."""
    if unrecorded_training(path):
        raise UserError(f"run folder {path} holds training but no config.json, which records the keys it was trained "
                        "with, so what it was trained with cannot be checked: put its config.json back (a copy of the "
                        "config it was trained with) to score it")
    changed = training_changes(config, path)
    if changed:
        raise UserError(f"run folder {path} was trained with {describe_changes(config, path, changed)}; detect "
                        "with the config it was trained with, or train this one first")


def check_training_sizes(config: Config, n_points: int, data: str | None = None) -> None:
    """The training block must give enough sequences of l_win * l_seq points to train on and to validate on
    (the windows are more than the sequences). ``data``: what the lines call it (by default the training block of
    the config's dataset; ``Detector.fit`` says the series given to it)."""
    data = data or f"training block of '{config.dataset_name}'"
    if config.detector == "lstm_ad":  # its samples: an input window and the prediction_horizon points after it
        check_pairs(config, n_points, data)
    n_seq = n_sequences(n_points, config.l_win, config.l_seq)
    n_train = too_few_to_split(config, n_seq)
    if n_train is not None:
        where = config.source.name if config.source else "config"
        fix = split_fix(config, n_seq, n_train) or shrink_fix(config)
        raise UserError(f"{where}: sequences of l_win * l_seq = {config.span} points leave {n_seq} "
                        f"sequence{'s' if n_seq != 1 else ''} in the {n_points}-point {data}: {n_train} to train "
                        f"on and {n_seq - n_train} to validate on "
                        f"(val_fraction {config.val_fraction}); at least {MIN_SEQUENCES} of each are needed: {fix}")


def split_fix(config: Config, n_samples: int, n_train: int) -> str | None:
    """What to do when the config's own val_fraction is what leaves too few of ``n_samples`` to train or to
    validate on (the schema's default splits them well): None when the default would not do either."""
    from .config import default_values

    default = default_values()["val_fraction"]
    if config.val_fraction == default or too_few_to_split(config.replace(val_fraction=default), n_samples):
        return None
    short = "validate" if n_samples - n_train < MIN_SEQUENCES else "train"
    return (f"{'raise' if short == 'validate' else 'lower'} val_fraction, which leaves too few to {short} on "
            f"(the default, {default:g}, splits them)")


def too_few_to_split(config: Config, n_samples: int) -> int | None:
    """How many of ``n_samples`` the seeded split keeps to train on when that, or the rest, is under
    MIN_SEQUENCES; None when both are enough."""
    n_train = len(train_val_split(n_samples, config.val_fraction, config.seed)[0]) if n_samples else 0
    return n_train if min(n_train, n_samples - n_train) < MIN_SEQUENCES else None


def check_pairs(config: Config, n_points: int, data: str) -> None:
    """LSTM-AD's training pairs (l_win points in, the next prediction_horizon out): enough to train on and to
    validate on, in the ``n_points`` of ``data`` (what the line calls them)."""
    n_pairs = max(n_points - config.l_win - config.prediction_horizon + 1, 0)
    n_train = too_few_to_split(config, n_pairs)
    if n_train is not None:
        where = config.source.name if config.source else "config"
        raise UserError(f"{where}: l_win {config.l_win} + prediction_horizon {config.prediction_horizon} leave "
                        f"{n_pairs} training pair(s) in the {n_points}-point {data}: {n_train} to train on and "
                        f"{n_pairs - n_train} to validate on (val_fraction {config.val_fraction}); at least {MIN_SEQUENCES} of each are needed: "
                        f"{split_fix(config, n_pairs, n_train) or 'make l_win or prediction_horizon smaller'}")


def prepare_run_dir(config: Config, path: Path | None = None) -> Path:
    """Choose and check the folder to train in (``choose_run_dir``; ``path``: this one), say which it is,
    create it and write its config.json. ``train`` calls it holding the folder's lock."""
    path = choose_run_dir(config, path)
    base = run_dir(config)
    if not config.load_model and path != base:
        print(f"{base} already holds a trained run and load_model is 0: writing to {path} instead "
              f"(set load_model: 1 to resume the latest run)")
    elif has_training(path):
        print(f"resuming run folder {path}")
    check_writable(path)
    path.mkdir(parents=True, exist_ok=True)
    write_config_copy(config, path)
    record_config_folder(config, path)
    return path


@contextmanager
def training_lock(path: Path, load_model: bool = True):
    """Hold the run folder's lock, or stop with one line naming the process that holds it."""
    new_run = "" if _RERUN.get() else ", or set load_model: 0 to train a new run"  # a grid's runs always resume
    hint = (f"wait for it to finish or stop it{new_run}" if load_model else
            "it took this free folder a moment ago; run the command again once it has written its first "
            "checkpoint, and the next free folder is used")
    with exclusive(path / LOCK_FILE, f"run folder {path} is being trained by another process", hint):
        refuse_held(path, DETECT_LOCK_FILE, "scored")  # its models must not change while they are scored
        yield


def refuse_held(path: Path, lock_name: str, doing: str) -> None:
    """One line when another process holds the run folder's lock ``lock_name`` now: train.py and detect.py each
    take their own lock, then look at the other's (the one that comes second refuses; both, at the same instant)."""
    if (pid := lock_holder(Path(path) / lock_name)) is not None:
        raise UserError(f"run folder {path} is being {doing} now by another process (PID {pid}); wait for it to "
                        "finish, then run the command again")


UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)  # a read-only disk, or a folder of another user's
COPY_ADVICE = ("detect.py writes its detection/ there: copy the run folder to a place you can write and pass --run-dir "
               "with the copy")  # detect.py's line for a run folder that cannot be written


@contextmanager
def detection_lock(path: Path, unwritable: str = "its scoring writes detection/ there: make it writable, or copy the "
                                                 "run folder to a place you can write and score the copy"):
    """Hold the run folder's detection lock while its detection/ folder is written, or stop with one line: two
    scorings of one run at once would each replace the other's files. A folder that cannot be written (a read-only
    disk) is one line too, ending in ``unwritable``: what to do; so is a new one (a control's) that cannot be made."""
    if not Path(path).is_dir():
        check_writable(path)  # its output_dir's folder cannot be written: one line saying so, not mkdir's
    Path(path).mkdir(parents=True, exist_ok=True)
    with exclusive(Path(path) / DETECT_LOCK_FILE, f"run folder {path} is being scored by another process",
                   "wait for it to finish, then run the command again",
                   unwritable=lambda why: f"run folder {path} cannot be written ({why}), and {unwritable}"):
        refuse_held(path, LOCK_FILE, "trained")  # a finished run trained on (more epochs): its checkpoints change
        yield


@contextmanager
def exclusive(lock_path: Path, busy: str, hint: str, unwritable=None):
    """Hold the lock file ``lock_path`` (its holder's PID beside it, in ``<name>.pid``), or stop at once with
    the line "<busy> (PID n); <hint>". ``unwritable(why)``: the line when the lock file cannot be made (a read-only
    folder)."""
    from filelock import FileLock, Timeout

    from .download import write_holder

    lock, pid_path = FileLock(lock_path, timeout=0), pid_file(lock_path)
    try:
        try:
            acquire(lock)
        except Timeout:
            if pid_path.is_file():
                raise
            # held without a PID: a holder that took it an instant ago, or ``training_holder`` looking whether a
            # trainer holds it (for an instant): wait a moment rather than refuse
            acquire(lock, UNNAMED_HOLDER_WAIT)
    except Timeout:
        raise UserError(f"{busy} (PID {holder_pid(lock_path)}); {hint}") from None
    except OSError as e:
        if unwritable is None or e.errno not in UNWRITABLE:
            raise
        raise UserError(unwritable(f"{e.strerror}: {e.filename or lock_path}")) from None
    try:
        with naming_the_file(pid_path):  # a full disk
            write_holder(pid_path)
        yield
    finally:
        pid_path.unlink(missing_ok=True)
        lock.release()


def record_config_folder(config: Config, path: Path) -> None:
    """Write config_folder.json once: the folder the config's relative dataset paths are read from (the
    config file's, or the one a run folder's config.json recorded), so that the run's config.json, which keeps
    those paths as written, reads the same files from any working folder."""
    target = path / CONFIG_FOLDER_FILE
    if config.source is not None and not target.is_file():
        write_text_atomic(target, json.dumps({"config_folder": str(config_folders(config)[-1])}, indent=2) + "\n")


def write_config_copy(config: Config, path: Path) -> None:
    """config.json holds the config the models were trained with; a resume with other values of keys
    that do not change training adds a dated copy."""
    target = path / "config.json"
    if target.is_file() and has_training(path):
        latest = max([target, *path.glob("config.*.json")], key=lambda p: p.name if p != target else "")
        saved = read_json_file(latest)
        saved.pop("$schema", None)
        if saved == config.to_dict():
            return
        target = path / f"config.{time.strftime('%Y%m%d-%H%M%S')}.json"
    save_config(config, target)


def train(config: Config, train_series, path: Path | None = None, channels: list[str] | None = None) -> Path:
    """Check the sizes, pick the run folder (``path``: this one, as an experiment's runs do), and, holding its
    lock, fit the config's detector on the training block; returns the folder. A null n_channel follows the
    data (as ``prepare.load_data`` does). ``channels``: the data's channel names, for the training figures."""
    if config.n_channel is None:
        config = config.replace(n_channel=int(np.shape(train_series)[1]) if np.ndim(train_series) == 2 else 1)
    check_training_sizes(config, len(train_series))
    return fit_in_run_folder(config, train_series, path, channels)


def fit_in_run_folder(config: Config, train_data, path: Path | None = None, channels: list[str] | None = None) -> Path:
    """Pick the run folder (``path``: this one) and, holding its lock, fit the config's detector on
    ``train_data`` (a series, or the independent segments of ``beats.py``); returns the folder."""
    fixed = path
    path = choose_run_dir(config, fixed)  # every refusal comes before a folder is made
    check_writable(path)
    path.mkdir(parents=True, exist_ok=True)
    with training_lock(path, bool(config.load_model)):
        if choose_run_dir(config, fixed) != path:  # another process trained there between the choice and the lock
            raise UserError(f"another process trained in {path} meanwhile; run the command again")
        prepare_run_dir(config, path)
        record_training_data(path, train_data, config)
        import keras

        from .detectors import get_detector

        keras.utils.set_random_seed(config.seed)
        detector = get_detector(config)
        detector.channel_names = channels
        detector.fit(train_data, path)
        mark_fitted(path)
    return path


def refuse_other_training(config: Config, path: Path, source: str, train_data=None) -> None:
    """In an experiment, whose runs always resume: a run folder is reused only under the training keys it was
    made with (recorded in its config.json) and, given ``train_data``, on the data it was fitted on; else one line
    naming what differs."""
    fix = "move that folder away (or set another output_dir) to rerun it"
    if unrecorded_training(path):
        raise UserError(f"run folder {path} holds training but no config.json, which records the keys it was trained "
                        f"with, so {source}'s cannot be checked there: put its config.json back, or {fix}")
    changed = training_changes(config, path)
    if changed:
        raise UserError(f"{path} was made with other values of {', '.join(changed)} than {source} gives; {fix}")
    if train_data is not None:
        check_training_data(path, train_data, fix=f"{fix}, or restore the data it was trained on")


def set_aside_metrics(metrics_path: Path, also: str) -> None:
    """Before a run is scored again: say so, and keep its metrics.json as metrics.previous.json (until the new one
    lands, the run counts as not scored). An older metrics.previous.json moves to the next free
    metrics.previous.<n>.json, so no generation is lost; a damaged metrics.json becomes metrics.damaged.json (or
    the next free metrics.damaged.<n>.json) and leaves the previous ones alone."""
    metrics_path = Path(metrics_path)
    if not metrics_path.exists():
        return
    try:
        json.loads(metrics_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        damaged = metrics_path.with_name("metrics.damaged.json")
        damaged = free_numbered(damaged) if damaged.exists() else damaged
        print(f"replacing {metrics_path}, which is damaged (kept as {damaged.name}), and {also} beside it")
        os.replace(metrics_path, damaged)
        return
    previous = metrics_path.with_name("metrics.previous.json")
    if previous.exists():
        os.replace(previous, free_numbered(previous))
    print(f"replacing {metrics_path}, {also} beside it (scored again from the run folder); the previous "
          f"metrics are kept in {previous.name}")
    os.replace(metrics_path, previous)


def free_numbered(path: Path) -> Path:
    """The first of <stem>.2<suffix>, <stem>.3<suffix>, ... beside ``path`` that does not exist."""
    n = 2
    while (numbered := path.with_name(f"{path.stem}.{n}{path.suffix}")).exists():
        n += 1
    return numbered


def mark_fitted(path: Path) -> None:
    """Record in state.json that the detector's fit finished (its stages record their epochs there; a stage
    that starts to train removes the mark, ``BaseTrainer.fit``)."""
    state_path = Path(path) / "state.json"
    state = read_json_file(state_path, STATE_HINT) if state_path.is_file() else {}
    if not state.get("fitted") or DIVERGED_KEY in state:
        state["fitted"] = True
        state.pop(DIVERGED_KEY, None)
        write_text_atomic(state_path, json.dumps(state, indent=2) + "\n")


def given_run_dir(value: str | Path) -> Path:
    """A run folder as a user gave it (detect.py's --run-dir, the notebook's run_dir): "~" is the home folder, and a
    relative path that is not under the working folder but is under the repository (where configs' output_dir and
    load_dir are read from, and where runs print their folders) is the repository's: the notebook runs in
    notebooks/, and detect.py may run from codes/."""
    path = home_path(value)
    if not path.is_absolute() and not path.exists() and (REPO_ROOT / path).exists():
        return REPO_ROOT / path
    return unmistaken(path)


def folder_problem(path: Path) -> str | None:
    """Why ``path`` is no run folder ("does not exist", "is not a folder"), or None when it is a folder."""
    if Path(path).is_symlink() and not Path(path).exists():
        return f"is a symbolic link to {os.readlink(path)}, which does not exist"
    return "does not exist" if not Path(path).exists() else "is not a folder" if not Path(path).is_dir() else None


def foreign_folder(path: Path) -> str | None:
    """Why a folder given as a run folder holds something else (files, but no run's config.json, state.json or
    detection/: a control, which needs no training, would write its detection/ among them; run folders, naming
    two of them); None otherwise."""
    path = Path(path)
    if not path.is_dir() or not any(not p.name.startswith(".") for p in path.iterdir()):  # .DS_Store and the like
        return None
    if is_run_folder(path):
        return None  # a run, or part of one (checkpoints without state.json: require_training names what lacks)
    if inside := run_folders_below(path):  # the exp_name folder above the runs, or output_dir above those
        if len(inside) == 1:
            return f"holds a run folder but is not one ({inside[0]})"
        return f"holds {len(inside)} run folders but is not one (such as {inside[0]} or {inside[1]})"
    return "holds files but no run (no state.json, lock, detection/ or model; a config.json alone is a config, not a run)"


def is_run_folder(path: Path) -> bool:
    """A run folder, or part of one: its state.json, training_data.json, config_folder.json, detection/, a lock (a
    run killed early) or a checkpoint. Not a config.json alone: a run's is written holding its lock, so one
    without any of those is a user's own config file (a project folder of a config beside its data)."""
    run_files = ("state.json", DATA_FILE, CONFIG_FOLDER_FILE, "detection", LOCK_FILE, DETECT_LOCK_FILE)
    return Path(path).is_dir() and (any((Path(path) / name).exists() for name in run_files) or has_training(path))


def run_folders_below(path: Path) -> list[Path]:
    """The run folders in ``path`` (an exp_name folder), or, when it holds none, in its folders (an output_dir),
    by name; hidden folders left out."""
    def runs_in(folder: Path) -> list[Path]:
        try:
            return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and is_run_folder(p))
        except OSError:  # a folder that cannot be read (a home folder's private ones) holds none to name
            return []

    folders = sorted(p for p in Path(path).iterdir() if p.is_dir() and not p.name.startswith("."))
    return runs_in(path) or [run for folder in folders for run in runs_in(folder)]


def auto_windows_moved(config: Config, auto_keys, train_data) -> str | None:
    """When the "auto" windows (``auto_keys``: those of l_win and l_seq the config leaves to the data) resolved in
    ``config`` for ``train_data`` differ from those of a run folder of the same config (its name but for lwin/lseq;
    the newest such folder) trained on other data: what that says, for a line. The training block changed since
    (rows added or cut) and moved the windows, and with them the run folder's name, so that the config's run is not
    found where its data's change would be refused (``check_training_data``). None when there is no such folder,
    when that folder's config.json records other training keys (another config: another training block of the file,
    another model), and when the config has a run folder of its windows now (trained, or being trained)."""
    if not auto_keys or config.load_dir != "default" or run_folders(config, held=True):
        return None
    base = run_dir(config)
    windows_part = f"_lwin{config.l_win}_lseq{config.l_seq}_"  # of run_name: the name under other windows matches
    if windows_part not in base.name or not base.parent.is_dir():
        return None
    head, tail = base.name.rsplit(windows_part, 1)
    pattern = re.compile(rf"{re.escape(head)}_lwin(\d+)_lseq(\d+)_{re.escape(tail)}(_run\d+)?")
    found = []
    try:
        folders = list(base.parent.iterdir())
    except OSError:  # a folder that cannot be read: no run of it to name
        return None
    for folder in folders:
        match = pattern.fullmatch(folder.name)
        if match is None or not has_training(folder) or not (folder / DATA_FILE).is_file():
            continue
        windows = {"l_win": int(match[1]), "l_seq": int(match[2])}
        if all(windows[k] == config[k] for k in ("l_win", "l_seq") if k not in auto_keys) and \
                windows != {"l_win": config.l_win, "l_seq": config.l_seq}:
            found.append((folder.stat().st_mtime, folder.name, folder, windows))
    now = data_fingerprint(train_data)
    for _, _, folder, windows in sorted(found, reverse=True):
        try:
            saved = json.loads((folder / DATA_FILE).read_text())
            rows = int(saved["shape"][0])
        except (OSError, ValueError, TypeError, IndexError, KeyError):
            continue  # a damaged record: no claim about its data
        if same_training_data(saved, train_data, now):  # the same data: another config's windows, not moved ones
            continue
        try:
            other = [key for key in training_changes(config, folder) if key not in ("l_win", "l_seq")]
        except UserError:  # a damaged config.json: no claim about its config
            continue
        if other:  # another config's run (a training block or a model of its own), not this one's
            continue
        return (f"'auto' windows give l_win {config.l_win}, l_seq {config.l_seq} for the {len(train_data)}-point "
                f"training block, but this config was trained with l_win {windows['l_win']}, l_seq {windows['l_seq']} "
                f"in {folder} (on a {rows}-point training block)")
    return None


def require_training(config: Config, path: Path) -> None:
    """Before TensorFlow is imported: stop with one line when a detector that learns has no run folder."""
    from .detectors import CONTROLS

    if config.detector not in CONTROLS and not has_training(path):
        if not folder_problem(path) and (pid := training_holder(path)) is not None:  # in its first epoch
            raise UserError(f"run folder {path} is being trained now by another process (PID {pid}; no epoch "
                            "finished so far); wait for it to finish, then detect")
        what = folder_problem(path) or "holds no trained detector"
        moved = ("; or, for a run folder that was trained and then moved (the project with it), pass --run-dir with "
                 "its path" if not Path(path).exists() else "")
        raise UserError(f"run folder {path} {what}; {training_advice(config, path)}{moved}")
    refuse_unfinished(config, path)


def training_advice(config: Config, path: Path, finish: bool = False) -> str:
    """How to train ``config``'s detector in the run folder ``path`` (``finish``: finish its interrupted training):
    train.py with the config where that is the folder it trains (``choose_run_dir``), else with load_model 1 and
    load_dir naming ``path`` (train.py would train another folder: the config's own, or a new one)."""
    path = Path(path)
    if path.resolve() == (latest_run(config) if config.load_model else next_free_run(config)).resolve():
        return f"run {train_command(config)} again to finish it" if finish else f"train first with {train_command(config)}"
    return (f"to {'finish' if finish else 'train'} it there, set {resume_keys(path)} in {config_argument(config)}, "
            f"then run {train_command(config)}")


def refit_advice(config: Config, path: Path) -> str:
    """How to fit again a damaged or mismatched fitted file (arma.json, lstm_ad_gaussian.npz) of the run folder
    ``path``: train.py fits such a file again where it trains, so train.py where that is the folder it trains, else
    with load_dir naming ``path`` (a run folder copied elsewhere); in a grid, which scores a finished run from its
    files as they are, the file moved away and the grid's command (``rerun_command``)."""
    path = Path(path)
    if _RERUN.get():
        return f"move it away and run {_RERUN.get()} to fit it afresh"
    if path.resolve() == (latest_run(config) if config.load_model else next_free_run(config)).resolve():
        return f"run {train_command(config)} again to fit it afresh"
    return (f"to fit it afresh there, set {resume_keys(path)} in {config_argument(config)}, then run "
            f"{train_command(config)}")


def resume_keys(path: Path, load_model: bool = False) -> str:
    """The config entries that make train.py train in the run folder ``path``, as JSON to paste into the config:
    ``"load_model": 1, "load_dir": "<path>"`` (without load_model when the config already has ``load_model`` 1)."""
    return ("" if load_model else '"load_model": 1, ') + f'"load_dir": {load_dir_text(path)}'


def load_dir_text(path: Path) -> str:
    """``path`` as a config's load_dir names it, as a JSON string: relative to the repository root, load_dir's
    root, when it is under it."""
    folder = Path(path).resolve()
    return json_shown(str(folder.relative_to(REPO_ROOT) if folder.is_relative_to(REPO_ROOT) else folder))


def config_run_folder(config: Config, path: Path) -> Path | None:
    """The run folder whose config.json ``config`` was read from, when that is not ``path``, the folder its
    output_dir (or load_dir) leads to: a run folder moved or copied elsewhere. None otherwise."""
    if config.source is None or Path(config.source).name != "config.json":
        return None
    folder = Path(config.source).resolve().parent
    return folder if has_training(folder) and folder != Path(path).resolve() else None


def copied_run_note(config: Config, path: Path, given: str, notebook: bool = False) -> str | None:
    """When ``config`` (given as ``given``) is the config.json of a run folder moved or copied elsewhere
    (``config_run_folder``) and ``path`` is the folder its output_dir (or load_dir) leads to, the one to be scored: a
    note that scores ``path`` and names the other, or one line (a UserError) when ``path`` holds no trained detector.
    Each says how to score the folder the file is in: detect.py's --run-dir, or (``notebook``) the notebook's run_dir
    parameter. None otherwise."""
    from .detectors import CONTROLS

    own = config_run_folder(config, path)
    if own is None:
        return None
    how = f"set the notebook's run_dir parameter to \"{own}\"" if notebook else f"pass --run-dir {shell_word(own)}"
    leads = f"where the {leading_key(config)} of {given} leads"
    if config.detector not in CONTROLS and not has_training(path):
        raise UserError(f"run folder {path}, {leads}, {folder_problem(path) or 'holds no trained detector'}; that file "
                        f"is the config.json of run folder {own}: {how} to score it")
    return f"note: scoring {path}, {leads}, not {own}, whose config.json it is ({how} to score that one)"


def leading_key(config: Config) -> str:
    """The config key that leads to its run folders: load_dir when it is set, else output_dir."""
    return "output_dir" if config.load_dir == "default" else "load_dir"
