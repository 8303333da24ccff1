"""Generic training: a Keras model saved as ``<name>.keras`` in the run folder, and a trainer
around ``fit`` that checkpoints every epoch, logs, and resumes. Every neural detector's stages use
these; nothing here knows about VAEs or LSTMs.

A checkpoint is written to ``<name>.tmp.keras`` and renamed into place, so ``<name>.keras`` is always
whole; the checkpoint it replaces stays as ``<name>.prev.keras``. Each checkpoint holds the number of
epochs it was trained (``epochs.json`` in its zip): that, not ``state.json``, says where a stage resumes.
It also holds the states of the model's random generators (``seeds.json``: the VAE's sampling noise), which
Keras does not save, so that a resumed stage draws the noise an uninterrupted one would, and with early
stopping its state (``early_stopping.json``, and ``best_weights.npz`` when the best epoch is an earlier one),
so that a resumed stage stops where, and with the weights, an uninterrupted one would. The checkpoint of a stage's
last epoch holds its best weights; when that epoch was not the best, it also holds the epoch's own
(``last_weights.npz``), from which a fit for more epochs goes on, as a fit for them all at once would.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
import zipfile
from pathlib import Path

import keras
import numpy as np

from .config import DIVERGED_KEY, STATE_HINT, STOPPED_SUFFIX, read_json_file, write_text_atomic
from .errors import UserError, isatty, naming_the_file
from .optimizers import FusedAdam  # noqa: F401 - registered: checkpoints name it, and load needs it

EPOCHS_ENTRY = "epochs.json"
SEEDS_ENTRY = "seeds.json"
STOPPING_ENTRY = "early_stopping.json"
BEST_ENTRY = "best_weights.npz"
LAST_ENTRY = "last_weights.npz"


class BaseModel:
    """One Keras model, how to build and compile it, and its ``<name>.keras`` file in the run folder."""

    name = "model"
    # the config key of the batch size whose full batches train through a graph of static shapes
    # (``use_static_batches``); None: every batch through one graph, as Keras traces it
    static_batch_key: str | None = None
    rate_key = "learning_rate_lstm"  # the config key of its learning rate, named when its weights diverged

    def __init__(self, config, run_dir: Path):
        self.config = config
        self.run_dir = Path(run_dir)
        self.model: keras.Model | None = None
        self.epochs: int | None = None  # epochs the model holds: 0 when built, the checkpoint's when loaded
        self.seeds_restored = True  # False when loaded from a checkpoint without its random state (older)

    @property
    def path(self) -> Path:
        return self.run_dir / f"{self.name}.keras"

    @property
    def prev_path(self) -> Path:
        return self.run_dir / f"{self.name}.prev.keras"

    @property
    def tmp_path(self) -> Path:
        return self.run_dir / f"{self.name}.tmp.keras"

    # what the Keras model that ``build`` returns is: its class, or the name of a functional model (a subclassed
    # model's name is made unique per process: "vae_1"); "" for none checked
    kind = ""

    def exists(self) -> bool:
        return self.path.is_file() or self.prev_path.is_file()

    def built_with(self, model: keras.Model) -> dict:
        """The config keys that give the loaded ``model``'s layers their sizes (its widths, its code size), with the
        values it was built with; l_win, l_seq, n_channel and prediction_horizon are left to the detectors' own checks
        (``Detector.check_trained_with``)."""
        return {}

    def check_built(self, model: keras.Model) -> None:
        """One line when the loaded ``model`` is not the one ``build`` makes from the config: another stage's or
        detector's model, or one of other widths (a run folder's config.json edited, a file copied from another
        run), which would go on training, or be scored, as it is."""
        if not self.kind:
            return
        kind = model.name if type(model).__name__ == "Functional" else type(model).__name__
        if kind != self.kind:
            what = f"a Functional model {model.name!r}" if type(model).__name__ == "Functional" else f"a {kind} model"
            raise UserError(f"checkpoint {self.path} holds {what}, not the {self.name} of a {self.config.detector} "
                            f"run: move it away, or train a new run with load_model: 0")
        differ = [f"{key}={value} (the config says {self.config[key]})" for key, value in self.built_with(model).items()
                  if value != self.config[key]]
        if differ:
            raise UserError(f"checkpoint {self.path} was built with {', '.join(differ)}: not the {self.name} this "
                            "config builds (its run folder's config.json edited, or the file copied from another "
                            "run?); go back to the values it was built with, or train a new run with load_model: 0")

    def build(self) -> keras.Model:
        raise NotImplementedError

    def compile(self, model: keras.Model, steps_per_epoch: int) -> None:
        raise NotImplementedError

    def build_compiled(self, steps_per_epoch: int) -> keras.Model:
        self.model = self.build()
        self.compile(self.model, steps_per_epoch)
        self.use_training_settings(self.model)
        self.epochs = 0
        return self.model

    def use_training_settings(self, model: keras.Model) -> None:
        """XLA and batches per call as the config says, and static shapes for full batches where set."""
        use_jit_compile(model, self.config)
        build_optimizer(model)
        if self.static_batch_key:
            use_static_batches(model, int(self.config[self.static_batch_key]))

    def save(self, epochs: int, entries: dict | None = None) -> Path:
        """Write the model, the epochs it holds, its random state and ``entries`` (more files for its zip,
        name -> bytes or text) to the temporary file, then rename it into place; the checkpoint it replaces
        becomes <name>.prev.keras. A failed write leaves both as they were."""
        tmp = self.tmp_path
        seeds = [v.numpy().tolist() for v in seed_states(self.model)]
        entries = {EPOCHS_ENTRY: json.dumps({"epochs": epochs}), SEEDS_ENTRY: json.dumps(seeds), **(entries or {})}
        try:
            self.model.save(tmp)
            with zipfile.ZipFile(tmp, "a") as archive:
                for name, data in entries.items():
                    archive.writestr(name, data)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        except OSError as e:
            tmp.unlink(missing_ok=True)
            kept = (f"the previous checkpoint {self.path.name} is kept" if self.path.is_file()
                    else "there was no earlier checkpoint")
            raise UserError(f"could not write checkpoint {self.path} ({e.strerror or e}); {kept}; run the "
                            "same command again once there is room to resume") from None
        except BaseException:  # Ctrl-C, SIGTERM
            tmp.unlink(missing_ok=True)
            raise
        if self.path.is_file():
            os.replace(self.path, self.prev_path)
        os.replace(tmp, self.path)
        self.epochs = epochs
        return self.path

    def load(self, resume: bool = False) -> keras.Model:
        """Load the checkpoint. A damaged one stops with one line naming it (``unusable``); with ``resume``
        (training goes on), the previous checkpoint takes its place when that one is whole."""
        problem = damage(self.path)
        if problem:
            if not (resume and self.resumable()):
                raise UserError(self.unusable())
            print(f"{problem}; resuming from the previous checkpoint {self.prev_path.name}")
            if self.path.exists():
                os.replace(self.path, self.path.with_name(self.path.name + ".damaged"))
            os.replace(self.prev_path, self.path)
        try:
            self.model = keras.saving.load_model(self.path)
        except ValueError as e:
            if "shape" not in str(e) and "could not be loaded" not in str(e):
                raise
            raise UserError(f"this version of the package cannot load the {self.name} in {self.path}: its layers "
                            "differ from those it builds from the config (saved by an earlier version?); move the "
                            "run folder away to train afresh") from e
        self.check_built(self.model)
        self.epochs = checkpoint_epochs(self.path)
        self.check_finite()
        self.seeds_restored = restore_seeds(self.model, self.path)
        return self.model

    def check_finite(self) -> None:
        """One line when the loaded model holds NaN or inf weights (its training diverged; the loss check stops a
        stage before such an epoch's checkpoint, but not one that an earlier version, or a script, wrote): it would
        go on training at NaN losses that blame its next stage's learning rate, or score NaN everywhere."""
        weights = self.model.get_weights()
        bad = sum(int((~np.isfinite(w)).sum()) for w in weights)
        if not bad:
            return
        epochs = f"the training of its {self.epochs} epochs" if self.epochs is not None else "its training"
        raise UserError(f"checkpoint {self.path} holds {bad} NaN/inf weight(s) of its {sum(w.size for w in weights)} "
                        f"({epochs} diverged): train the {self.name} afresh in a new run folder "
                        "(load_model: 0; in an experiment, another output_dir or move this run folder away), with a "
                        f"lower {self.rate_key} (now {self.config[self.rate_key]})")

    def resumable(self) -> bool:
        """Whether the previous checkpoint is whole, so that training resumes from it."""
        return self.prev_path.is_file() and not damage(self.prev_path)

    def unusable(self) -> str:
        """The line for a checkpoint that cannot be loaded: what is wrong with it, and with its previous copy when
        that is damaged too, and how train.py resumes or retrains it."""
        from .runs import train_hint

        broken = [path for path in (self.path, self.prev_path) if path.exists()]
        if not broken:
            return f"no trained {self.name} at {self.path}; {train_hint(self.config, self.name, 'to train it', self.path.parent)}"
        if self.resumable():
            what = f"to resume the {self.name} from its previous checkpoint {self.prev_path.name}"
            return f"{damage(self.path)}; {train_hint(self.config, self.name, what, self.path.parent)}"
        moved = " and ".join(path.name for path in broken)
        what = f"to train the {self.name} afresh"
        return f"{'; '.join(map(damage, broken))}; move {moved} away and {train_hint(self.config, self.name, what, self.path.parent)}"


def use_jit_compile(model: keras.Model, config) -> None:
    """Train (and validate) through XLA when the config's ``jit_compile`` is on, and run
    ``steps_per_execution`` batches per call of the compiled train step. Set on the compiled model, not
    saved in its checkpoint: a resumed model follows the config it resumes under."""
    model.jit_compile = bool(config.jit_compile)
    model.steps_per_execution = int(config.steps_per_execution)


def build_optimizer(model: keras.Model) -> None:
    """Make the optimizer's variables (Adam's moments, zeros) now. Keras makes them while it traces the first train
    step, and a step that makes variables is traced by TensorFlow a second time, as one that makes none: the whole
    step traced twice at the start of every stage (seconds of a small run). The same variables, in the same order,
    so the same weights and checkpoints."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def check_tensorboard(config) -> None:
    """``tensorboard: 1`` needs the tensorboard package, which requirements.txt leaves out (TensorFlow no longer
    installs it); without it Keras's TensorBoard callback fails with a traceback at the first epoch."""
    if not config.tensorboard:
        return
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        where = config.source.name if config.source else "config"
        raise UserError(f"{where}: key 'tensorboard' = 1 writes TensorBoard logs, which needs the tensorboard package (not in "
                        "requirements.txt): pip install tensorboard, or set tensorboard: 0") from None


def use_static_batches(model: keras.Model, batch_size: int) -> None:
    """Train every full batch of ``batch_size`` rows through a train step traced for exactly that many rows, and
    a last, smaller batch through the one Keras traces (any number of rows). Keras's batches have an unknown
    row count, and under it TensorFlow's gradient of every elementwise product and sum adds shape, broadcast and
    reduction ops; an LSTM's step is mostly such ops. The same ops compute the same values, so the weights are
    bit-identical (tested); the steps are faster (README, "Speed and memory") and the first epoch traces the
    step twice. Not under XLA, which compiles each batch shape on its own. For training data of known length
    (the arrays every trainer here passes): a dataset that runs out mid-epoch would wait in the ``tf.cond``
    where Keras's step counts one more optimizer iteration."""
    if model.jit_compile or getattr(model, "_static_batch_size", None) == batch_size:
        return
    import tensorflow as tf
    from keras import tree

    step = type(model).train_step.__get__(model)

    def full_rows(tensor):  # the same rows with a static row count (a pad and a slice: ops that never fail)
        if tensor is None:
            return None
        rank = len(tensor.shape)
        padded = tf.pad(tensor, [[0, batch_size]] + [[0, 0]] * (rank - 1))
        return tf.slice(padded, [0] * rank, [batch_size] + [-1] * (rank - 1))

    def train_step(data):
        rows = tf.shape(next(t for t in tree.flatten(data) if t is not None))[0]
        return tf.cond(tf.equal(rows, batch_size), lambda: step(tree.map_structure(full_rows, data)),
                       lambda: step(data))

    model.train_step = train_step
    model._static_batch_size = batch_size


# TensorFlow takes a NumPy buffer in place (DLPack) when its data start on this boundary (Eigen's largest alignment,
# AVX-512's): ``shared_tensor``. An unaligned one would abort the process at its first use, so none is handed over.
TENSOR_ALIGNMENT = 64
GATHER_BYTES = 1 << 20  # ``gather_rows`` copies the rows of a view a block of about this many bytes at a time


def aligned_empty(shape: tuple, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data start on a ``TENSOR_ALIGNMENT`` boundary."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(size + TENSOR_ALIGNMENT, np.uint8)
    offset = -raw.ctypes.data % TENSOR_ALIGNMENT
    return raw[offset:offset + size].view(dtype).reshape(shape)


MEMINFO = "/proc/meminfo"
PROC_CGROUP = "/proc/self/cgroup"
CGROUP_ROOT = "/sys/fs/cgroup"
# a memory cgroup's files: (cgroup v2, cgroup v1) names of its limit, its usage and, in memory.stat, the file cache
# it can drop: its active and inactive file lists, the page cache that MemAvailable counts as available (not shmem,
# which is file cache that cannot be dropped)
CGROUP_FILES = {"v2": ("memory.max", "memory.current", ("active_file", "inactive_file")),
                "v1": ("memory.limit_in_bytes", "memory.usage_in_bytes", ("total_active_file", "total_inactive_file"))}


def host_available_memory() -> int | None:
    """``MemAvailable`` of /proc/meminfo in bytes (free memory and the caches the kernel can drop); None where it
    cannot be read (not Linux, or a kernel older than 3.14)."""
    try:
        with open(MEMINFO) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def cgroup_left(folder: Path, version: str) -> int | None:
    """What the memory cgroup ``folder`` leaves: its limit less its usage, less the file cache it can drop; None
    without a limit (``max``) or where its files cannot be read."""
    limit_file, usage_file, cache_keys = CGROUP_FILES[version]
    try:
        limit = (folder / limit_file).read_text().strip()
        if limit == "max":
            return None
        usage = int((folder / usage_file).read_text())
        limit = int(limit)
    except (OSError, ValueError):
        return None
    if not 0 <= limit < 1 << 62:  # cgroup v1's "no limit": the largest page-aligned signed 64-bit number (or -1)
        return None
    cache = 0
    try:
        for line in (folder / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key in cache_keys:
                cache += int(value)
    except (OSError, ValueError):
        pass
    return max(limit - max(usage - cache, 0), 0)


def cgroup_available_memory() -> int | None:
    """The least that the memory cgroups of this process leave (``cgroup_left``): its own and every one above it,
    under cgroup v2 or v1; a container's limit (docker --memory), which MemAvailable, the host's, does not show.
    The cgroup's path (/proc/self/cgroup) is looked for under the mount and, where a container mounts its own
    cgroup as the root, each shorter path down to the root. None without a limit, or where none can be read."""
    try:
        lines = Path(PROC_CGROUP).read_text().splitlines()
    except (OSError, ValueError):  # unreadable, or not text
        return None
    root, found = Path(CGROUP_ROOT), []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            version, mounts = "v2", [root, root / "unified"]
        elif "memory" in controllers.split(","):
            version, mounts = "v1", [root / "memory"]
        else:
            continue
        parts = [p for p in path.strip().split("/") if p]
        for mount in mounts:
            for depth in range(len(parts), -1, -1):
                # no is_dir first: it raises where a folder above cannot be searched, which cgroup_left takes as
                # an unreadable cgroup
                if (left := cgroup_left(mount.joinpath(*parts[:depth]), version)) is not None:
                    found.append(left)
    return min(found, default=None)


def available_memory() -> int | None:
    """Bytes of memory that new arrays can take: the smaller of the host's ``MemAvailable`` and what this process's
    memory cgroup leaves (``cgroup_available_memory``); None where neither can be read."""
    known = [v for v in (host_available_memory(), cgroup_available_memory()) if v is not None]
    return min(known, default=None)


WINDOW_MEMORY_FIX = ("each point is copied into every window that holds it; give a smaller l_win, a shorter training "
                     "block (train_points, train_range) or fewer channels (value_columns)")


def require_window_memory(stage: str, windows: tuple, targets: tuple | None = None, copies: int = 1) -> None:
    """One line when a stage's training windows of shape ``windows`` (n, l_win, c) and their ``targets`` (shapes, of
    float32 values), which its split copies (``gather_rows``) before training, take more bytes than
    ``available_memory``: the kernel's out-of-memory killer would end the process part way, with no message (a
    million rows of 8 channels at l_win 1440: 28 GB). ``copies`` 2: the windows of segments, a copy of their own,
    then the split's; asked before either is made."""
    need = copies * 4 * sum(int(np.prod(shape, dtype=np.int64)) for shape in (windows, targets) if shape is not None)
    shape = f" of {windows[1]} points x {windows[2]} channel(s)" if len(windows) == 3 else ""
    what = f"the {stage} stage's {windows[0]:,} training windows{shape}" + (
        ", with their targets," if targets is not None else "")
    twice = " (the windows inside the segments, and the copy their split makes)" if copies == 2 else ""
    require_memory(need, what, twice, WINDOW_MEMORY_FIX)


def require_memory(need: int, what: str, why: str, fix: str) -> None:
    """One line when ``what`` (a stage's training samples) take ``need`` bytes, more than ``available_memory``:
    ``why`` (in brackets, after the size, or empty) says what they are made of, ``fix`` how to take fewer."""
    free = available_memory()
    if free is None or need <= free:
        return
    raise UserError(f"{what} take {need / 1e9:.3g} GB of memory{why}, more than the {free / 1e9:.3g} GB available: "
                    f"{fix}")


def finished_stand_in(n: int, row_shape: tuple) -> np.ndarray:
    """What a finished stage hands to ``fit``, which loads its model and trains nothing (``will_train``): as many
    rows of ``row_shape`` as its training data, for the steps per epoch that fit counts, in no memory at all."""
    return np.broadcast_to(np.float32(0), (n, *row_shape))


def gather_rows(array: np.ndarray, index=None, dtype=None) -> np.ndarray:
    """``array[index]`` (rows along the first axis; every row without ``index``), in ``dtype`` when given, as a new
    array that ``shared_tensor`` hands to TensorFlow without a copy, the same values in the same order. The rows of a
    view (every window of a series) are copied straight into it, a block of about ``GATHER_BYTES`` at a time: the view
    is never copied whole."""
    array = np.asarray(array)
    index = np.arange(len(array)) if index is None else np.asarray(index)
    out = aligned_empty((len(index), *array.shape[1:]), array.dtype if dtype is None else dtype)
    row_bytes = max(int(np.prod(array.shape[1:], dtype=np.int64)) * max(array.dtype.itemsize, out.dtype.itemsize), 1)
    step = max(GATHER_BYTES // row_bytes, 1)
    for start in range(0, len(index), step):
        out[start:start + step] = array[index[start:start + step]]
    return out


def shared_tensor(array):
    """``array`` as a TensorFlow tensor over the same memory, when it is a C-contiguous, writeable NumPy array of
    numbers whose data start on a ``TENSOR_ALIGNMENT`` boundary (``gather_rows``' arrays); anything else as it is.
    Keras's ``fit`` took two more copies of each NumPy array it was given (the VAE's peak was about 3 times its
    training windows' size); a tensor it takes as it is."""
    if not (isinstance(array, np.ndarray) and array.size and array.dtype.kind in "fiu"
            and array.flags.c_contiguous and array.flags.writeable and array.ctypes.data % TENSOR_ALIGNMENT == 0):
        return array
    import tensorflow as tf

    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())


def damage(path: Path) -> str | None:
    """Why a checkpoint cannot be loaded (missing, truncated, corrupt), or None when it is whole."""
    if not path.is_file():
        return f"checkpoint {path} is missing"
    try:
        with zipfile.ZipFile(path) as archive:
            bad, names = archive.testzip(), archive.namelist()
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        return f"checkpoint {path} is truncated or corrupt ({e})"
    if bad or "config.json" not in names:
        return f"checkpoint {path} is corrupt ({bad or 'config.json'} fails its check)"
    return None


def checkpoint_entry(path: Path, name: str) -> bytes | None:
    """A file that ``BaseModel.save`` added to a checkpoint's zip; None when it has none (an older one)."""
    with zipfile.ZipFile(path) as archive:
        return archive.read(name) if name in archive.namelist() else None


def checkpoint_epochs(path: Path) -> int | None:
    """Epochs a checkpoint holds; None for one written before they were recorded in it."""
    entry = checkpoint_entry(path, EPOCHS_ENTRY)
    return None if entry is None else int(json.loads(entry)["epochs"])


def seed_states(model: keras.Model) -> list:
    """The model's state beyond its weights: the state variables of its SeedGenerators (the VAE's sampling
    noise), in a fixed order. Keras does not save them, so a loaded model would start their streams afresh."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def unused_seed_states(model: keras.Model) -> set:
    """ids of the states of SeedGenerators that draw nothing: those of layers whose dropout is off (every
    Keras LSTM cell has one)."""
    unused = set()
    for layer in model._flatten_layers(include_self=True):
        if getattr(layer, "dropout", None) == 0 and not getattr(layer, "recurrent_dropout", 0):
            unused |= {id(g.state) for g in getattr(layer, "_seed_generators", [])}
    return unused


def restore_seeds(model: keras.Model, path: Path) -> bool:
    """Give the model's SeedGenerators the states saved in its checkpoint; False when some of them draw noise
    and the checkpoint holds none (written by an earlier version), so that their streams start afresh."""
    states = seed_states(model)
    entry = checkpoint_entry(path, SEEDS_ENTRY)
    saved = json.loads(entry) if entry is not None else None
    if saved is None or len(saved) != len(states):
        unused = unused_seed_states(model)
        return all(id(s) in unused for s in states)
    for variable, value in zip(states, saved, strict=True):
        variable.assign(np.asarray(value, dtype=variable.dtype))
    return True


class EarlyStop(keras.callbacks.EarlyStopping):
    """Keras' EarlyStopping on val_loss, restoring the best weights, whose state each checkpoint carries
    (``entries``) and a resumed stage takes back (``resume``): a run killed and resumed stops at the epoch,
    and with the weights, of one never stopped. On the stage's last epoch, stopped early or not, the model
    takes the best weights before that epoch's checkpoint, which so holds the stage's final model, and, when it
    ended without stopping early, the epoch's own weights, from which a fit for more epochs goes on."""

    def __init__(self, patience: int):
        super().__init__(patience=patience, restore_best_weights=True)
        self.resumed = None  # (state, best weights or None for the checkpoint's own, last weights or None) to go on from
        self.last_weights = None  # the last epoch's own weights, when the best ones replaced them in the model

    def resume(self, path: Path) -> bool:
        """Go on from the state saved in the checkpoint ``path``; False when it holds none (an older one)."""
        entry = checkpoint_entry(path, STOPPING_ENTRY)
        if entry is None:
            return False
        self.resumed = json.loads(entry), weights_entry(path, BEST_ENTRY), weights_entry(path, LAST_ENTRY)
        return True

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.resumed is not None:
            state, weights, last = self.resumed
            self.best, self.wait, self.best_epoch = state["best"], state["wait"], state["best_epoch"]
            if self.best is not None:
                self.best_weights = weights if weights is not None else self.model.get_weights()
            if last is not None:  # the checkpoint of a finished stage holds its best weights: go on from its last
                self.model.set_weights(last)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self.last_weights = None
        if (self.stopped() or epoch + 1 == self.params["epochs"]) and self.best_weights is not None:
            if self.best_epoch != epoch and not self.stopped():  # a stopped stage trains no more
                self.last_weights = self.model.get_weights()
            self.model.set_weights(self.best_weights)

    def stopped(self) -> bool:
        """Whether it ended the stage before its last epoch."""
        return 0 < self.stopped_epoch < self.params["epochs"] - 1

    def entries(self, epoch: int) -> dict:
        """Its state after ``epoch``, as files for that epoch's checkpoint: the best weights too when they
        are not the checkpoint's own."""
        best = None if self.best is None else float(self.best)
        state = {"best": best, "wait": self.wait, "best_epoch": self.best_epoch, "stopped": self.stopped()}
        entries = {STOPPING_ENTRY: json.dumps(state)}
        if self.last_weights is not None:  # the model holds the best weights now: keep the epoch's own beside them
            entries[LAST_ENTRY] = weights_bytes(self.last_weights)
        elif self.best_weights is not None and self.best_epoch != epoch:
            entries[BEST_ENTRY] = weights_bytes(self.best_weights)
        return entries


def weights_bytes(weights: list) -> bytes:
    """A model's weights as an .npz file's bytes (``w0``, ``w1``, ... in order)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{f"w{i}": w for i, w in enumerate(weights)})
    return buffer.getvalue()


def weights_entry(path: Path, name: str) -> list | None:
    """The weights that ``weights_bytes`` wrote into a checkpoint's zip as ``name``; None when it holds none."""
    data = checkpoint_entry(path, name)
    if data is None:
        return None
    with np.load(io.BytesIO(data)) as saved:
        return [saved[f"w{i}"] for i in range(len(saved.files))]


class Checkpoint(keras.callbacks.Callback):
    """Saves the stage's model after each epoch (``BaseModel.save``: atomic, with its epoch count and the
    state of early stopping, given one)."""

    def __init__(self, store: BaseModel, stopper: EarlyStop | None = None):
        super().__init__()
        self.store, self.stopper = store, stopper

    def on_epoch_end(self, epoch, logs=None):
        self.store.save(epoch + 1, self.stopper.entries(epoch) if self.stopper else None)


class EpochLog(keras.callbacks.CSVLogger):
    """Keras' CSVLogger appending each epoch's row to the stage's log; a failed write (a full disk), whose
    OSError names no file, names the log."""

    def __init__(self, path: Path):
        super().__init__(path, append=True)

    def on_epoch_end(self, epoch, logs=None):
        with naming_the_file(self.filename):
            super().on_epoch_end(epoch, logs)


class FiniteLoss(keras.callbacks.Callback):
    """Stops at the end of the first epoch whose loss or validation loss is not finite (the model diverged),
    or whose weights are not (a last step whose loss was finite but its gradient NaN, unseen without validation
    data), with one line, before the epoch's log row and checkpoint: the last good checkpoint stays, and the stage
    is not done."""

    def __init__(self, trainer: BaseTrainer):
        super().__init__()
        self.trainer = trainer

    def on_epoch_end(self, epoch, logs=None):
        facts = [f"the {key.replace('val_', 'validation ')} is {float(value)}" for key in ("loss", "val_loss")
                 if (value := (logs or {}).get(key)) is not None and not math.isfinite(float(value))]
        if not facts:
            weights = self.model.get_weights()
            bad = sum(int((~np.isfinite(w)).sum()) for w in weights)
            if bad:
                facts = [f"{bad} of its {sum(w.size for w in weights)} weights are NaN/inf"]
        if facts:
            self.trainer.record_divergence(epoch + 1, facts[0])
            raise UserError(self.trainer.diverged(epoch + 1, facts[0]))


class FigureCallback(keras.callbacks.Callback):
    """Calls a figure function once training ends, so that figures show the final model."""

    def __init__(self, draw):
        super().__init__()
        self.draw = draw

    def on_train_end(self, logs=None):
        self.draw()


SECONDS_KEY = "training_seconds"  # state.json: {stage: seconds of its epochs so far, across resumes}


class EpochState(keras.callbacks.Callback):
    """Records in ``state.json`` how many epochs of a stage are done, after each epoch's checkpoint, the
    epochs at which early stopping (``stopper``) ended it, and adds the epoch's seconds to ``SECONDS_KEY``."""

    def __init__(self, state_path: Path, stage: str, stopper: EarlyStop | None = None):
        super().__init__()
        self.state_path, self.stage, self.stopper = Path(state_path), stage, stopper
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        state = read_state(self.state_path)
        state[self.stage] = epoch + 1
        seconds = state.get(SECONDS_KEY) if isinstance(state.get(SECONDS_KEY), dict) else {}
        seconds[self.stage] = round(float(seconds.get(self.stage, 0.0)) + time.perf_counter() - self.started, 3)
        state[SECONDS_KEY] = seconds
        if self.stopper is not None and self.stopper.stopped():
            state[stopped_key(self.stage)] = epoch + 1
        write_state(self.state_path, state)


def forget_seconds(state: dict, stage: str) -> None:
    """Drop a stage's seconds from ``state`` when its epochs are thrown away (it trains again from scratch)."""
    seconds = state.get(SECONDS_KEY)
    if isinstance(seconds, dict):
        seconds.pop(stage, None)


def total_seconds(state: dict) -> float:
    """Seconds of every stage's epochs that the run folder holds."""
    seconds = state.get(SECONDS_KEY)
    return float(sum(seconds.values())) if isinstance(seconds, dict) else 0.0


def stopped_key(stage: str) -> str:
    """The state.json key that records the epochs at which early stopping ended a stage's training."""
    return f"{stage}{STOPPED_SUFFIX}"


def read_state(path: Path) -> dict:
    if not Path(path).is_file():
        return {}
    return read_json_file(path, STATE_HINT)


def write_state(path: Path, state: dict) -> None:
    write_text_atomic(path, json.dumps(state, indent=2) + "\n")


def trim_log(path: Path, epochs: int) -> None:
    """Keep the log rows of the first ``epochs`` epochs: a later row is of an epoch whose checkpoint
    never landed (the row is written first), and it is logged again when that epoch is trained again.
    Damaged rows (a field missing or not a number: a disk's garbage) are dropped with a line saying so; a
    log without its header line is set aside as ``<name>.damaged``, and a new one starts."""
    lines = log_lines(path)
    if not lines:
        return
    if not (lines[0].startswith("epoch,") and lines[0].endswith("\n")):
        aside, n = path.with_name(path.name + ".damaged"), 2
        while aside.exists():  # an earlier damaged log stays too
            aside, n = path.with_name(f"{path.name}.damaged{n}"), n + 1
        os.replace(path, aside)
        print(f"{path} has no header line (damaged): kept as {aside.name}; the epochs trained from now on are "
              "logged in a new one")
        return
    width = len(lines[0].split(","))
    rows = [(line, log_epoch(line, width)) for line in lines[1:]
            if line.endswith("\n")]  # a last row cut short is dropped
    damaged = sum(epoch is None for _, epoch in rows)
    if damaged:
        print(f"{path}: dropped {damaged} damaged row{'s' if damaged > 1 else ''}")
    kept = lines[:1] + [line for line, epoch in rows if epoch is not None and epoch < epochs]
    if kept != lines:
        write_text_atomic(path, "".join(kept))


def unlogged(path: Path, epochs: int) -> list[int]:
    """The epochs (1-based) of the first ``epochs`` that the log has no row of: a log lost, or restored from an
    older copy."""
    lines = log_lines(path)
    width = len(lines[0].split(",")) if lines else 0
    logged = {log_epoch(line, width) for line in lines[1:]}
    return [epoch + 1 for epoch in range(epochs) if epoch not in logged]


def log_lines(path: Path) -> list[str]:
    """A stage log's lines, line ends kept (none where there is no log)."""
    if not path.is_file():
        return []
    with open(path, newline="", errors="replace") as f:
        return f.readlines()


def log_epoch(line: str, width: int) -> int | None:
    """The epoch of a whole row of a log of ``width`` columns; None for a damaged one."""
    fields = line.rstrip("\r\n").split(",")
    if len(fields) != width:
        return None
    try:
        [float(field) for field in fields[1:] if field != "NA"]  # CSVLogger writes NA for a missing value
        return int(fields[0])
    except ValueError:
        return None


def set_aside(model: BaseModel, run_dir: Path, stage: str) -> None:
    """Keep a stage's model and log under a dated name, so that the stage trains afresh."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if not model.path.is_file() and model.prev_path.is_file():  # killed between save's renames
        os.replace(model.prev_path, model.path)
    for path in (model.path, Path(run_dir) / f"{stage}_log.csv"):
        if path.exists():
            path.rename(path.with_name(f"{path.stem}.before-{stamp}{path.suffix}"))
    model.prev_path.unlink(missing_ok=True)  # an older copy of the model set aside
    state_path = Path(run_dir) / "state.json"
    state = read_state(state_path)
    state.pop(stage, None)
    state.pop(stopped_key(stage), None)
    forget_seconds(state, stage)
    write_state(state_path, state)


def fit_tensors(x, y, validation_data):
    """``fit``'s arrays through ``shared_tensor``, one tensor for an array given twice (an autoencoder's targets)."""
    tensors = {}

    def tensor(array):
        if array is None:
            return None
        if id(array) not in tensors:
            tensors[id(array)] = shared_tensor(array)
        return tensors[id(array)]

    validation = None if validation_data is None else tuple(tensor(a) for a in validation_data)
    return tensor(x), tensor(y), validation


LOSS_RISE = 0.1  # a kept model's training loss this much (of its size) above the first epoch's is noted (rise_note)


class BaseTrainer:
    """Callbacks -> fit -> history, resuming from the run folder's checkpoint when asked."""

    stage = "model"
    rate_key: str | None = None  # the config key of the stage's learning rate, named when it diverges

    def __init__(self, model: BaseModel, config, run_dir: Path, num_epochs: int, batch_size: int):
        self.model, self.config, self.run_dir = model, config, Path(run_dir)
        self.num_epochs, self.batch_size = num_epochs, batch_size
        self.state_path = self.run_dir / "state.json"
        self.log_path = self.run_dir / f"{self.stage}_log.csv"
        self.trained = False  # whether this trainer ran any epoch
        self.stopped_key = stopped_key(self.stage)

    def will_train(self) -> bool:
        """Whether ``fit`` would train any epoch: no whole checkpoint to resume from, or one that holds fewer
        epochs than asked and was not ended by early stopping."""
        if self.num_epochs == 0:
            return False
        if not (self.config.load_model and self.model.path.is_file()) or damage(self.model.path):
            return True
        epochs = checkpoint_epochs(self.model.path)
        epochs = int(read_state(self.state_path).get(self.stage, 0)) if epochs is None else epochs
        return epochs < self.num_epochs and not self.stopped_early(epochs)

    def stopped_early(self, epochs: int) -> bool:
        """Whether early stopping ended the stage at the checkpoint's ``epochs``: so its checkpoint says, or,
        for one of an earlier version, state.json."""
        if not epochs:
            return False
        entry = checkpoint_entry(self.model.path, STOPPING_ENTRY) if self.model.path.is_file() else None
        if entry is not None:
            return bool(json.loads(entry)["stopped"])
        return read_state(self.state_path).get(self.stopped_key) == epochs

    def epochs_done(self) -> int:
        """Epochs the model holds: recorded in its checkpoint; state.json's count for older checkpoints."""
        if self.model.epochs is not None:
            return self.model.epochs
        return int(read_state(self.state_path).get(self.stage, 0))

    def agree(self, epochs: int, stopped: bool) -> None:
        """Make state.json and the log say what the checkpoint holds (its epochs, and whether early stopping
        ended the stage there): a kill between writing them and the checkpoint leaves them an epoch ahead or
        behind."""
        state = read_state(self.state_path)
        wanted = {self.stage: epochs, **({self.stopped_key: epochs} if stopped else {})} if epochs else {}
        if any(state.get(key) != value for key, value in wanted.items()):
            write_state(self.state_path, {**state, **wanted})
        trim_log(self.log_path, epochs)

    def extra_callbacks(self) -> list:
        """Stage-specific callbacks (figures); none by default."""
        return []

    def figures(self) -> list[str]:
        """The files in figures/ that ``draw_figures`` draws once the stage ends; none by default."""
        return []

    def draw_figures(self) -> None:
        """Draw the stage's figures from its final model; none by default."""

    def draw_missing_figures(self) -> None:
        """A finished stage draws again the figures that a kill while drawing left missing."""
        missing = [name for name in self.figures() if not (self.run_dir / "figures" / name).is_file()
                   and (name != f"{self.stage}_loss.png" or self.log_path.is_file())]  # no log, no loss curves
        if missing and self.model.model is not None:
            print(f"{self.stage}: drawing its missing figures ({', '.join(missing)})")
            self.draw_figures()

    def early_stopping(self, start: int) -> EarlyStop | None:
        """Early stopping when the config asks for it, going on from the state in the checkpoint of epoch
        ``start`` when it resumes one."""
        if not self.config.early_stopping_patience:
            return None
        stopper = EarlyStop(self.config.early_stopping_patience)
        if start and not stopper.resume(self.model.path):
            print(f"{self.stage}: {self.model.path.name} holds no early-stopping state (saved by an earlier "
                  f"version): early stopping counts afresh from epoch {start + 1}")
        return stopper

    def callbacks(self, start: int = 0) -> list:
        stopper = self.early_stopping(start)
        callbacks = [  # in this order: the loss check, the log row, early stopping, the checkpoint, state.json
            FiniteLoss(self),
            EpochLog(self.log_path),
            *([stopper] if stopper else []),
            Checkpoint(self.model, stopper),
            EpochState(self.state_path, self.stage, stopper),
        ]
        if self.config.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(self.run_dir / "logs" / self.stage))
        return callbacks + self.extra_callbacks()

    def diverged(self, epoch: int, fact: str) -> str:
        """The line for a loss or weights that are not finite at ``epoch`` (``fact``: "the loss is nan")."""
        kept = f"{self.model.path.name} keeps epoch {epoch - 1}" if epoch > 1 else "no checkpoint was written"
        return f"{self.stage}: {self.divergence(epoch, fact)}; {kept}"

    def divergence(self, epoch: int, fact: str) -> str:
        """What diverged at ``epoch`` and what to do, which state.json keeps (``DIVERGED_KEY``) for detect.py."""
        return (f"{fact} at epoch {epoch} of {self.num_epochs} (the model diverged); train with "
                f"{self.lower_rate()} in a new run folder (load_model: 0; in an experiment, another output_dir or "
                "move this run folder away)")

    def record_divergence(self, epoch: int, fact: str) -> None:
        """Keep in state.json what diverged (``DIVERGED_KEY``): detect.py then says so of the unfinished run, rather
        than to run train.py again to finish it (which would diverge again). A failed write loses only the record."""
        try:
            state = read_state(self.state_path)
            state[DIVERGED_KEY] = f"its {self.stage} stopped: {self.divergence(epoch, fact)}"
            write_state(self.state_path, state)
        except (OSError, UserError):
            pass

    def unwritten(self, e: OSError) -> str:
        """The line for a file that training could not write (a full disk)."""
        kept = f"{self.model.path.name} keeps epoch {self.model.epochs}" if self.model.epochs else \
            "no checkpoint was written"
        return (f"{self.stage}: could not write {e.filename} ({e.strerror or e}); {kept}; run the same command again "
                "once it can be written to resume")

    def prepare_model(self, steps_per_epoch: int) -> keras.Model:
        """Resume from the checkpoint when load_model is on and one exists; otherwise build afresh."""
        if self.config.load_model and self.model.exists():
            model = self.model.load(resume=True)
            self.model.use_training_settings(model)
            return model
        for path in (self.log_path, self.model.prev_path):  # a fresh start: the checkpoint is gone
            path.unlink(missing_ok=True)
        state = read_state(self.state_path)
        kept = json.dumps(state)
        if self.config.load_model and isinstance(recorded := state.get(self.stage), int) and recorded > 0:
            print(f"note: {self.model.path} is missing, though state.json records {recorded} epoch"
                  f"{'s' if recorded > 1 else ''} of the {self.stage}: the {self.stage} trains afresh")
        state.pop(self.stage, None)
        state.pop(self.stopped_key, None)
        forget_seconds(state, self.stage)
        if json.dumps(state) != kept:  # no state.json yet stays none: until its first checkpoint, a folder holds no training
            write_state(self.state_path, state)
        return self.model.build_compiled(steps_per_epoch)

    def fit(self, x, y=None, validation_data=None) -> keras.callbacks.History | None:
        """Train up to num_epochs in total; returns None when nothing was left to train."""
        self.run_dir.mkdir(parents=True, exist_ok=True)  # a fit from a script may name a folder not made yet
        steps = max(len(x) // self.batch_size + (len(x) % self.batch_size > 0), 1)
        model = self.prepare_model(steps)
        start = self.epochs_done()
        stopped = self.stopped_early(start)
        self.agree(start, stopped)
        if start >= self.num_epochs:
            print(f"{self.stage}: {start} of {self.num_epochs} epochs already done in {self.run_dir}")
            self.draw_missing_figures()
            return None
        if stopped:
            print(f"{self.stage}: early stopping ended its training after {start} of {self.num_epochs} epochs "
                  f"in {self.run_dir}")
            self.draw_missing_figures()
            return None
        if start:
            print(f"{self.stage}: resuming at epoch {start + 1} of {self.num_epochs}")
            lost = unlogged(self.log_path, start)
            if lost:
                print(f"{self.stage}: {self.log_path.name} lacks the rows of {len(lost)} of the {start} epochs its "
                      f"checkpoint holds, from epoch {lost[0]} (lost): its loss curves go on without them")
            if not self.model.seeds_restored:
                print(f"{self.stage}: {self.model.path.name} holds no state of its random noise (saved by an "
                      "earlier version): it goes on with other noise than an uninterrupted run would")
        check_tensorboard(self.config)  # before the run loses its fitted mark: Keras would fail at the first epoch
        state = read_state(self.state_path)
        # until the whole fit ends, detection refuses a half-trained run; an earlier divergence is tried again
        fitted, diverged = state.pop("fitted", None), state.pop(DIVERGED_KEY, None)
        if fitted or diverged is not None:
            write_state(self.state_path, state)
        callbacks = self.callbacks(start)
        x, y, validation_data = fit_tensors(x, y, validation_data)
        try:
            history = model.fit(x, y, validation_data=validation_data, batch_size=self.batch_size,
                                epochs=self.num_epochs, initial_epoch=start, shuffle=True,
                                callbacks=callbacks, verbose=self.verbosity())
        except OSError as e:  # the log or state.json (a checkpoint's own failure is a UserError)
            if not e.filename:
                raise
            raise UserError(self.unwritten(e)) from None
        self.trained = True
        stopper = next((c for c in callbacks if isinstance(c, EarlyStop)), None)
        kept = stopper.best_epoch if stopper is not None and stopper.best_weights is not None else None
        note = self.rise_note(history.history.get("loss", []), start, kept)
        if note:
            print(note)
        return history

    def rise_note(self, losses: list, start: int, kept_epoch: int | None = None) -> str | None:
        """A note when the training loss of the model kept ended well above its first epoch's (by more than
        LOSS_RISE of its size): the model did not learn, though every loss was finite. ``losses``: those of epochs
        start + 1 ...; ``kept_epoch``: the 0-based epoch whose weights early stopping restored, None for the last."""
        kept = len(losses) - 1 if kept_epoch is None else kept_epoch - start
        if kept < 1 or not losses[kept] - losses[0] > LOSS_RISE * abs(losses[0]):
            return None
        which = "" if kept_epoch is None else ", the epoch early stopping kept"
        return (f"{self.stage}: note: its training loss rose from {losses[0]:.4g} (epoch {start + 1}) to "
                f"{losses[kept]:.4g} (epoch {start + kept + 1}{which}); it did not learn: try {self.lower_rate()} in "
                "a new run folder")

    def lower_rate(self) -> str:
        """The advice to lower the stage's learning rate, naming its key and value."""
        return f"a lower {self.rate_key} (now {self.config[self.rate_key]})" if self.rate_key else "a lower learning rate"

    @staticmethod
    def verbosity():
        """Progress bars on a terminal, one line per epoch in logs and CI."""
        import sys

        return 1 if isatty(sys.stdout) else 2
