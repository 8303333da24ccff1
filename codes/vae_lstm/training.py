"""Generic training: a Keras model saved as ``<name>.keras`` in the run folder, and a trainer
around ``fit`` that checkpoints every epoch, logs, and resumes. Every neural detector's stages use
these; nothing here knows about VAEs or LSTMs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras

from .errors import UserError


class BaseModel:
    """One Keras model, how to build and compile it, and its ``<name>.keras`` file in the run folder."""

    name = "model"

    def __init__(self, config, run_dir: Path):
        self.config = config
        self.run_dir = Path(run_dir)
        self.model: keras.Model | None = None

    @property
    def path(self) -> Path:
        return self.run_dir / f"{self.name}.keras"

    def exists(self) -> bool:
        return self.path.is_file()

    def build(self) -> keras.Model:
        raise NotImplementedError

    def compile(self, model: keras.Model, steps_per_epoch: int) -> None:
        raise NotImplementedError

    def build_compiled(self, steps_per_epoch: int) -> keras.Model:
        self.model = self.build()
        self.compile(self.model, steps_per_epoch)
        return self.model

    def save(self) -> Path:
        self.model.save(self.path)
        return self.path

    def load(self) -> keras.Model:
        if not self.exists():
            raise UserError(f"no trained {self.name} at {self.path}; train it first with "
                            f"'python3 codes/train.py --config <your config>'")
        self.model = keras.saving.load_model(self.path)
        return self.model


class FigureCallback(keras.callbacks.Callback):
    """Calls a figure function once training ends, so that figures show the final model."""

    def __init__(self, draw):
        super().__init__()
        self.draw = draw

    def on_train_end(self, logs=None):
        self.draw()


class EpochState(keras.callbacks.Callback):
    """Records in ``state.json`` how many epochs of a stage are done, after each epoch's checkpoint."""

    def __init__(self, state_path: Path, stage: str):
        super().__init__()
        self.state_path, self.stage = Path(state_path), stage

    def on_epoch_end(self, epoch, logs=None):
        state = read_state(self.state_path)
        state[self.stage] = epoch + 1
        self.state_path.write_text(json.dumps(state, indent=2) + "\n")


def read_state(path: Path) -> dict:
    return json.loads(Path(path).read_text()) if Path(path).is_file() else {}


class BaseTrainer:
    """Callbacks -> fit -> history, resuming from the run folder's checkpoint when asked."""

    stage = "model"

    def __init__(self, model: BaseModel, config, run_dir: Path, num_epochs: int, batch_size: int):
        self.model, self.config, self.run_dir = model, config, Path(run_dir)
        self.num_epochs, self.batch_size = num_epochs, batch_size
        self.state_path = self.run_dir / "state.json"
        self.log_path = self.run_dir / f"{self.stage}_log.csv"
        self.trained = False  # whether this trainer ran any epoch

    def set_aside(self) -> None:
        """Keep the stage's model and log under a dated name, so that the stage trains afresh."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for path in (self.model.path, self.log_path):
            if path.exists():
                path.rename(path.with_name(f"{path.stem}.before-{stamp}{path.suffix}"))
        state = read_state(self.state_path)
        state.pop(self.stage, None)
        self.state_path.write_text(json.dumps(state, indent=2) + "\n")

    def epochs_done(self) -> int:
        return int(read_state(self.state_path).get(self.stage, 0))

    def extra_callbacks(self) -> list:
        """Stage-specific callbacks (figures); none by default."""
        return []

    def callbacks(self) -> list:
        callbacks = [
            keras.callbacks.ModelCheckpoint(self.model.path, save_best_only=False),
            EpochState(self.state_path, self.stage),
            keras.callbacks.CSVLogger(self.log_path, append=True),
        ]
        if self.config.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(self.run_dir / "logs" / self.stage))
        if self.config.early_stopping_patience:
            callbacks.append(keras.callbacks.EarlyStopping(
                patience=self.config.early_stopping_patience, restore_best_weights=True))
        return callbacks + self.extra_callbacks()

    def prepare_model(self, steps_per_epoch: int) -> keras.Model:
        """Resume from the checkpoint when load_model is on and one exists; otherwise build afresh."""
        if self.config.load_model and self.model.exists():
            return self.model.load()
        if self.log_path.exists():
            self.log_path.unlink()  # a fresh start in a folder whose checkpoint is gone
        state = read_state(self.state_path)
        state.pop(self.stage, None)
        self.state_path.write_text(json.dumps(state, indent=2) + "\n")
        return self.model.build_compiled(steps_per_epoch)

    def fit(self, x, y=None, validation_data=None) -> keras.callbacks.History | None:
        """Train up to num_epochs in total; returns None when nothing was left to train."""
        steps = max(len(x) // self.batch_size + (len(x) % self.batch_size > 0), 1)
        model = self.prepare_model(steps)
        start = self.epochs_done() if self.model.exists() else 0
        if start >= self.num_epochs:
            print(f"{self.stage}: {start} of {self.num_epochs} epochs already done in {self.run_dir}")
            return None
        if start:
            print(f"{self.stage}: resuming at epoch {start + 1} of {self.num_epochs}")
        history = model.fit(x, y, validation_data=validation_data, batch_size=self.batch_size,
                            epochs=self.num_epochs, initial_epoch=start, shuffle=True,
                            callbacks=self.callbacks(), verbose=self.verbosity())
        self.model.save()
        self.trained = True
        return history

    @staticmethod
    def verbosity():
        """Progress bars on a terminal, one line per epoch in logs and CI."""
        import sys

        return 1 if sys.stdout.isatty() else 2
