"""Speed and memory of training and scoring for one config, against what this machine can do.

    python3 codes/benchmark.py [--config NAB_config.json] [--epochs 4] [--repeats 5] [--loop-sequences 300]
                               [--jit-compile on|off] [--score-batch-size N] [--output-dir figures]

For the config's VAE-LSTM, on its training block and test pieces (in a temporary run folder):

- training, per stage (VAE, LSTM): ms per step (the training steps of an epoch, without its validation
  and checkpoint) and s per epoch (all of it), each as min / median over the epochs after the first;
  the first epoch traces the graphs, so it is reported apart. Also the per-epoch checkpoint's seconds.
- peak memory: the largest resident set (VmHWM) of the benchmark process, which measures the matmul rate,
  trains and then scores in one process, after training and after scoring, and what scoring added to it;
- multiply-adds of each model, counted from its layers' shapes (``multiply_adds``): per window and per
  sequence. Only matrix products and convolutions count (biases, activations, the LSTM's gate arithmetic
  are left out); one multiply-add is 2 FLOP;
- this machine's float32 matmul GFLOP/s (``matmul_gflops``, best of several 2048 x 2048 products);
- scoring the whole test set (all pieces) as the detector does: seconds (min / median of --repeats, after
  a first, cold scoring that traces the graphs and compiles the XLA ones, reported apart),
  sequences/s, and windows/s = sequences/s * l_seq (the windows a sequence spans: the first is the LSTM's
  context, the last l_seq - 1 are predicted, decoded and scored; neighbouring sequences share windows, so
  distinct windows/s is lower); the FLOP lower bound of scoring (its
  multiply-adds at the matmul rate) and the percentage of it reached;
- the original code's approach, model calls per sequence in a Python loop, timed on --loop-sequences
  sequences of the longest test piece (all of its sequences when it has fewer; after an untimed first call on one) and scaled to the test set, with the ratio; its scores must
  equal the batched ones.

Each run adds its config's figures to benchmark.json and rewrites benchmark.md (one table per config) in
--output-dir: by default figures/ for a config in configs/ at the default settings, else experiments/benchmark/. ``--end-to-end`` instead times a whole train.py + detect.py of the config.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .config import (
    REPO_ROOT,
    Config,
    check_writable,
    config_argument,
    load_config,
    load_schema,
    write_text_atomic,
)
from .errors import ArgumentParser, ConfigError, UserError, home_text, json_error, unmistaken
from .prepare import check_scorable, load_data
from .threads import usable_cores

MATMUL_SIZE = 2048
FIGURES_VERSION = 2  # figures of another version in benchmark.json are dropped, not mixed in
MAX_REPEATS = 1000  # --repeats: timed scorings of the whole test set
COUNT_DEFAULTS = {"epochs": 4, "repeats": 5, "loop_sequences": 300}  # set after parsing: --end-to-end sees them given
MEASUREMENT_FLAGS = ("epochs", "repeats", "loop_sequences", "jit_compile", "steps_per_execution", "score_batch_size")
# the first line of benchmark.md and of benchmark_end_to_end.md: a .md without it is not replaced (check_figures_files)
MARKDOWN_HEADS = {"benchmark": "# Speed and memory (`make benchmark`, codes/vae_lstm/benchmark.py)\n",
                  "benchmark_end_to_end": "# A whole `make train` (`make benchmark-end-to-end`: train.py, then detect.py)\n"}


def parse_args(argv):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="NAB_config.json")
    parser.add_argument("--epochs", type=int,
                        help="epochs per stage (default 4: the traced first one, then 3 timed at steady state)")
    parser.add_argument("--repeats", type=int, help="timed scorings of the whole test set (default 5, at most 1000)")
    parser.add_argument("--loop-sequences", type=int,
                        help="sequences scored one by one for the per-sequence reference (default 300)")
    parser.add_argument("--jit-compile", choices=["on", "off"],
                        help="override the config's jit_compile (XLA) for training")
    parser.add_argument("--steps-per-execution", type=int,
                        help="override the config's steps_per_execution (training batches per compiled call)")
    parser.add_argument("--score-batch-size", type=int,
                        help="override the config's score_batch_size (rows per compiled model call when scoring)")
    parser.add_argument("--output-dir",
                        help="where benchmark.json and benchmark.md (or benchmark_end_to_end.*) go (default: "
                             "figures/ for a config in configs/ at the default settings, else experiments/benchmark/)")
    parser.add_argument("--end-to-end", action="store_true",
                        help="instead: time a whole train.py + detect.py of the config (what `make train` runs) "
                             "in a temporary folder, with its peak memory; adds to benchmark_end_to_end.* (one entry per config); it runs "
                             "the config as it is, so it takes none of the flags above but --config and --output-dir")
    args = parser.parse_args(argv)
    if args.output_dir:  # "~/bench" is the home folder's, as reproduce.py's --output-dir (the shell leaves
        try:  # --output-dir=~/bench as it is)
            args.output_dir = home_text(args.output_dir)
        except ConfigError as e:
            parser.error(f"--output-dir: {e}")
    given = [f"--{flag.replace('_', '-')}" for flag in MEASUREMENT_FLAGS if getattr(args, flag) is not None]
    if args.end_to_end and given:
        parser.error(f"--end-to-end runs train.py and detect.py on the config as it is, so {', '.join(given)} would "
                     "not be used: set the config's own keys instead")
    for flag, default in COUNT_DEFAULTS.items():
        if getattr(args, flag) is None:
            setattr(args, flag, default)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch traces the graphs and is not timed")
    for flag in ("repeats", "loop_sequences", "score_batch_size", "steps_per_execution"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    if args.repeats > MAX_REPEATS:  # each scores the whole test set: a mistyped count would run for days
        parser.error(f"--repeats must be at most {MAX_REPEATS}, got {args.repeats}")
    keys = load_schema()["properties"]  # the config keys these flags set: their maxima are the flags' own
    for flag, key in (("epochs", "num_epochs_vae"), ("score_batch_size", "score_batch_size"),
                      ("steps_per_execution", "steps_per_execution")):
        if getattr(args, flag) is not None and getattr(args, flag) > keys[key]["maximum"]:
            parser.error(f"--{flag.replace('_', '-')} must be at most {keys[key]['maximum']} (the config key {key}'s "
                         f"maximum), got {getattr(args, flag)}")
    return args


def config_key(config) -> str:
    """How benchmark.json names a config's figures: its file name for a file in configs/, else its path."""
    return config_argument(config) if config.source else "config"


def output_dir(args, config) -> Path:
    """--output-dir, or by default figures/ for a shipped config measured with the default settings, and
    experiments/benchmark/ (said) for any other: the committed figures hold the shipped configs only."""
    if args.output_dir:
        return unmistaken(Path(args.output_dir))
    defaults = parse_args([])
    shipped = "/" not in config_key(config) and all(
        getattr(args, k) == getattr(defaults, k) for k in ("epochs", "repeats", "loop_sequences", "jit_compile",
                                                            "steps_per_execution", "score_batch_size"))
    if shipped:
        return REPO_ROOT / "figures"
    out = REPO_ROOT / "experiments" / "benchmark"
    print(f"a config outside configs/, or settings other than the defaults: the figures go to {out}, not to "
          "figures/ (pass --output-dir to choose)")
    return out


def end_to_end(config_name: str) -> dict:
    """Wall time and peak memory (max RSS of the child processes) of train.py then detect.py."""
    import subprocess

    config = load_config(config_name)
    figures = {"machine": machine(), "config": end_to_end_key(config),
               "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "dataset": config.dataset_name, "detector": config.detector,
               "num_epochs_vae": config.num_epochs_vae, "num_epochs_lstm": config.num_epochs_lstm}
    with tempfile.TemporaryDirectory() as tmp:
        path = end_to_end_config(config, Path(tmp))
        for command in ("train", "detect"):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, str(REPO_ROOT / "codes" / f"{command}.py"), "--config",
                                   str(path)], stdout=subprocess.DEVNULL, preexec_fn=end_with_parent)
            if done.returncode != 0:
                raise UserError(f"--end-to-end: {command}.py stopped (exit {done.returncode}) on {config_name}, "
                                "with the error above; nothing was measured")
            figures[f"{command}_seconds"] = round(time.perf_counter() - started, 1)
            # the largest resident set of any child so far, in MB
            figures[f"peak_memory_mb_after_{command}"] = round(maxrss_mb(resource.RUSAGE_CHILDREN))
    figures["total_seconds"] = round(figures["train_seconds"] + figures["detect_seconds"], 1)
    return figures


def end_to_end_key(config) -> str:
    """How benchmark_end_to_end.json names a config's figures, however --config named its file: its path in the
    repository (configs/NAB_config.json, as `make benchmark-end-to-end` passes it), else its absolute path."""
    source = Path(config.source).resolve()
    return str(source.relative_to(REPO_ROOT.resolve())) if source.is_relative_to(REPO_ROOT.resolve()) else str(source)


def end_with_parent() -> None:
    """In a child process, before it runs (``preexec_fn``): on Linux it is killed when the benchmark's process
    dies, even by SIGKILL (``PR_SET_PDEATHSIG``), rather than train on alone; elsewhere nothing."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def end_to_end_config(config, tmp: Path) -> Path:
    """A copy of ``config`` in the temporary folder ``tmp``, its runs there too (not in the config's load_dir): nothing
    is left beside the user's config when the benchmark is killed. Each stage trains (TRAIN_VAE / TRAIN_LSTM 1, as
    ``training_config``): the folder holds no trained model to skip to; a stage of 0 epochs is refused in one line. The dataset's relative paths are made absolute where its folder holds them
    (they are read relative to the config's folder first), so that the copy reads the same files."""
    from .csv_data import absolute_paths
    from .runs import model_stages, stage_keys

    values = {**config.to_dict(), "output_dir": str(tmp), "load_dir": "default"}  # not a run folder of the user's
    for stage in model_stages(config.detector):  # the temporary folder holds no trained stage: each trains
        flag, epochs = stage_keys(stage)
        if not config[epochs]:
            raise UserError(f"--end-to-end times training with the config's own epochs, and its {epochs} is 0 "
                            "(a stage already trained): set it to the epochs to time")
        values[flag] = 1
    if config.source and isinstance(values["dataset"], dict):
        values["dataset"] = absolute_paths(values["dataset"], Path(config.source).parent)
    path = tmp / "benchmark_config.json"
    path.write_text(json.dumps(values))
    return path


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores, machine_cores = usable_cores(), os.cpu_count()
    count = f"{cores} CPU cores" if cores == machine_cores else f"{cores} usable CPU cores of {machine_cores}"
    return f"{count} ({cpu}), {platform.system()}, Python {platform.python_version()}"


# ---------------------------------------------------------------------------------------------
# What the machine can do, and what the models cost


def matmul_gflops(n: int = MATMUL_SIZE, repeats: int = 20) -> float:
    """The best float32 GFLOP/s of n x n by n x n ``tf.matmul`` products (2 n^3 FLOP each) over ``repeats``
    runs: one product per thread at once (``threads.branches``), so that the figure is the whole CPU's
    whether TensorFlow splits each op over the threads or runs independent ops side by side."""
    import tensorflow as tf

    from .threads import branches

    parts = branches()
    a = [tf.random.stateless_normal((n, n), seed=(1, k)) for k in range(parts)]
    b = [tf.random.stateless_normal((n, n), seed=(3, k)) for k in range(parts)]
    product = tf.function(lambda x, y: tf.add_n([tf.reduce_sum(tf.matmul(p, q)) for p, q in zip(x, y, strict=True)]))
    product(a, b).numpy()  # trace and warm up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        product(a, b).numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 * parts / best / 1e9


def multiply_adds(model) -> int:
    """Multiply-adds of one sample (one row of the batch) through a built Keras model, from its layers' shapes.

    Counted: Dense (once per position of its input's middle axes), Conv1D/2D/3D (once per output position,
    channels last or first),
    LSTM / GRU / SimpleRNN (kernel and recurrent kernel once per time step), TimeDistributed(Dense), and
    nested models. Not counted: biases, activations, the recurrent cells' elementwise gate arithmetic,
    and layers without weights (reshapes, upsampling, cropping). A model that is not functional (the
    VAE, the LSTM-VAE) is the sum of its sub-models. A layer with weights of another kind is refused.
    """
    import keras
    from keras import layers

    functional = hasattr(model, "_operations") or isinstance(model, keras.Sequential)
    if not functional:  # a subclassed model: the sum of its parts
        return sum(multiply_adds(part) for part in model.layers)
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += multiply_adds(layer)
        elif isinstance(layer, layers.TimeDistributed):
            inner = layer.layer
            if not isinstance(inner, layers.Dense):
                raise ValueError(f"multiply_adds: TimeDistributed({type(inner).__name__}) is not counted")
            total += _positions(layer.output.shape) * int(np.prod(inner.kernel.shape))
        elif isinstance(layer, layers.Dense):
            total += _positions(layer.input.shape) * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
            total += _positions(layer.output.shape, layer.data_format) * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, (layers.LSTM, layers.GRU, layers.SimpleRNN)):
            cell = layer.cell
            per_step = int(np.prod(cell.kernel.shape)) + int(np.prod(cell.recurrent_kernel.shape))
            total += int(layer.input.shape[1]) * per_step
        elif layer.weights:
            raise ValueError(f"multiply_adds: layer {layer.name} ({type(layer).__name__}) is not counted")
    return total


def _positions(shape, data_format: str = "channels_last") -> int:
    """Positions a per-position layer is applied at: the product of the axes other than batch and channels
    (the channels last, or second with ``data_format`` "channels_first", as a convolution may have them)."""
    spatial = shape[2:] if data_format == "channels_first" else shape[1:-1]
    return int(np.prod([int(d) for d in spatial])) if len(shape) > 2 else 1


def model_costs(vae, lstm, l_seq: int) -> dict:
    """Multiply-adds of the VAE (per window) and the LSTM (per sequence of l_seq - 1 steps), and per unit of
    the other kind: the VAE per sequence of l_seq windows, the LSTM per window (one step)."""
    encoder, decoder, lstm_macs = multiply_adds(vae.encoder), multiply_adds(vae.decoder), multiply_adds(lstm)
    return {"vae_encoder_per_window": encoder, "vae_decoder_per_window": decoder,
            "vae_per_window": encoder + decoder, "vae_per_sequence": l_seq * (encoder + decoder),
            "lstm_per_sequence": lstm_macs, "lstm_per_window": lstm_macs // (l_seq - 1)}


def scoring_multiply_adds(costs: dict, n_windows: int, n_sequences: int, l_seq: int) -> int:
    """What batched scoring computes: every window encoded once, the LSTM over every sequence, and the
    decoder over the l_seq - 1 predicted codes of every sequence."""
    return (n_windows * costs["vae_encoder_per_window"] + n_sequences * costs["lstm_per_sequence"]
            + n_sequences * (l_seq - 1) * costs["vae_decoder_per_window"])


# ---------------------------------------------------------------------------------------------
# Memory


def peak_rss_mb() -> float:
    """The largest resident set of this process so far (VmHWM), in MB."""
    return _status_mb("VmHWM") or maxrss_mb(resource.RUSAGE_SELF)


def maxrss_mb(who: int) -> float:
    """getrusage's largest resident set of ``who`` (RUSAGE_SELF or RUSAGE_CHILDREN) in MB: Linux reports it in KB,
    macOS in bytes."""
    return resource.getrusage(who).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def rss_mb() -> float | None:
    """The resident set of this process now (VmRSS), in MB; None where /proc is absent."""
    return _status_mb("VmRSS")


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024
    except (OSError, StopIteration):
        return None


def memory_figures(training_peak: float, peak_before_scoring: float, rss_before_scoring: float | None,
                   scoring_peak: float, peak_was_reset: bool) -> dict:
    """The peak-memory figures in MB: the process's largest resident set after training and after scoring, and
    what scoring added to the resident set it started from. ``scoring_peak`` is VmHWM read after scoring: with
    ``peak_was_reset`` (``reset_peak_rss`` before scoring) the peak of scoring alone, so the process's peak after
    scoring is the larger of it and ``peak_before_scoring``; without, the process's own."""
    return {
        "peak_memory_mb_training": round(training_peak),
        "peak_memory_mb_scoring": round(max(peak_before_scoring, scoring_peak)),
        "scoring_added_memory_mb": (round(scoring_peak - rss_before_scoring)
                                    if peak_was_reset and rss_before_scoring else None),
    }


def reset_peak_rss() -> bool:
    """Start VmHWM again from the current resident set (Linux, /proc/self/clear_refs); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Training: the phases of each epoch


def epoch_phases_callback(stage: str, record: dict):
    """A Keras callback that records, per epoch of ``stage``, the seconds of its training steps (up to the
    validation) and of the whole epoch (validation, log, checkpoint included: it runs last)."""
    import keras

    class EpochPhases(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started, self.steps_done = time.perf_counter(), None

        def on_test_begin(self, logs=None):
            if self.steps_done is None:
                self.steps_done = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            ended = time.perf_counter()
            record.setdefault(stage, []).append({"steps": (self.steps_done or ended) - self.started,
                                                 "epoch": ended - self.started, "n_steps": self.params["steps"]})

    return EpochPhases()


def shown(x: float, digits: int) -> float:
    """``x`` rounded to ``digits`` decimals, or to two significant digits where those decimals would show fewer (a
    tiny config's FLOP bound of 6e-07 ms, a share of 0.05%, not 0.0)."""
    return round(x, digits) if x == 0 or abs(x) >= 10 ** (1 - digits) else float(f"{x:.2g}")


def stage_figures(epochs: list[dict], saves: list[float], batch: int, per_sample_macs: int, gflops: float) -> dict:
    """Steady-state figures of one stage from its epochs' phases (the first, traced epoch apart)."""
    steady = epochs[1:]
    steps_per_epoch = steady[0]["n_steps"]
    ms_per_step = [1000 * e["steps"] / steps_per_epoch for e in steady]
    epoch_s = [e["epoch"] for e in steady]
    # a training step: forward, then backward (about twice the forward's products), over the batch
    step_flop = 3 * 2 * per_sample_macs * batch
    bound_ms = 1000 * step_flop / (gflops * 1e9)
    return {
        "steps_per_epoch": steps_per_epoch, "epochs_timed": len(steady),
        "ms_per_step_min": round(min(ms_per_step), 2), "ms_per_step_median": round(float(np.median(ms_per_step)), 2),
        "s_per_epoch_min": round(min(epoch_s), 2), "s_per_epoch_median": round(float(np.median(epoch_s)), 2),
        "first_epoch_s": round(epochs[0]["epoch"], 2),
        "checkpoint_s_median": shown(float(np.median(saves[1:] or saves)), 3),
        "checkpoint_share_of_epoch_percent": shown(100 * float(np.median(saves[1:] or saves)) / float(np.median(epoch_s)), 1),
        "flop_bound_ms_per_step": shown(bound_ms, 3),
        "flop_bound_reached_percent": shown(100 * bound_ms / min(ms_per_step), 1),
    }


def training_config(config: Config, epochs: int, folder) -> Config:
    """The config the benchmark trains: both stages afresh, ``epochs`` each, in ``folder`` (a temporary run
    folder, whatever the config's load_dir). A config that skips a stage (TRAIN_VAE or TRAIN_LSTM 0: a model already
    trained in its own run folder) still has both stages trained and timed here, where no trained model is to be found; a config's
    early stopping is off, so that no stage ends before its ``epochs``."""
    return config.replace(num_epochs_vae=epochs, num_epochs_lstm=epochs, output_dir=str(folder), load_dir="default",
                          load_model=False, exp_name="benchmark", TRAIN_VAE=1, TRAIN_LSTM=1, early_stopping_patience=0)


def time_training(config, train_series) -> tuple[Path, dict, dict]:
    """Train the config's VAE-LSTM in its (temporary) run folder, timing every epoch's phases and every
    checkpoint; figures are not drawn. Returns the run folder, the epochs and the checkpoint seconds."""
    from .detectors import vae_lstm as trainers
    from .runs import train
    from .training import BaseModel

    epochs, saves = {}, {}
    stages = (trainers.VAETrainer, trainers.LSTMTrainer)
    drawn = [trainer.extra_callbacks for trainer in stages]
    save = BaseModel.save

    def timed_save(self, *args, **kwargs):
        started = time.perf_counter()
        out = save(self, *args, **kwargs)
        saves.setdefault(self.name, []).append(time.perf_counter() - started)
        return out

    for trainer in stages:  # time epochs instead of drawing figures
        trainer.extra_callbacks = lambda self: [epoch_phases_callback(self.stage, epochs)]
    BaseModel.save = timed_save
    try:
        run = train(config, train_series)
    finally:
        BaseModel.save = save
        for trainer, callbacks in zip(stages, drawn, strict=True):
            trainer.extra_callbacks = callbacks
    return run, epochs, saves


# ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.end_to_end:
        out = output_dir(args, load_config(args.config))
        check_figures_files(out, "benchmark_end_to_end")  # before the measurement, not after it
        write_end_to_end(end_to_end(args.config), out)
        return 0
    config, series = load_data(load_config(args.config))
    out = output_dir(args, config)
    check_figures_files(out, "benchmark")  # a file in the way is one line now, not after minutes of measuring
    if config.detector != "vae_lstm":  # the one detector it measures: say so, its figures are filed under the config
        print(f"note: benchmark.py measures the VAE-LSTM at {config_key(config)}'s keys; its detector "
              f"'{config.detector}' is not measured")
        config = config.replace(detector="vae_lstm")
    check_scorable(config, series)  # as the VAE-LSTM scores it (lstm_ad's prediction_horizon is not read)
    if args.jit_compile:
        config = config.replace(jit_compile=args.jit_compile == "on")
    if args.score_batch_size is not None:
        config = config.replace(score_batch_size=args.score_batch_size)
    if args.steps_per_execution is not None:
        config = config.replace(steps_per_execution=args.steps_per_execution)

    from .threads import use_threads

    use_threads()  # as train.py and detect.py run
    import keras
    import tensorflow as tf

    from .scoring import sequence_scores

    gflops = matmul_gflops()
    with tempfile.TemporaryDirectory() as tmp:
        bench = training_config(config, args.epochs, tmp)
        started = time.perf_counter()
        run, epochs, saves = time_training(bench, series.train)
        train_seconds = time.perf_counter() - started
        training_peak_mb = peak_rss_mb()
        vae = keras.saving.load_model(run / "vae.keras")
        lstm = keras.saving.load_model(run / "lstm.keras")

    costs = model_costs(vae, lstm, config.l_seq)
    training = {
        "vae": stage_figures(epochs["vae"], saves["vae"], config.batch_size, costs["vae_per_window"], gflops),
        "lstm": stage_figures(epochs["lstm"], saves["lstm"], config.batch_size_lstm, costs["lstm_per_sequence"],
                              gflops),
    }

    pieces = [p.values for p in series.test_pieces if len(p.values) >= config.span]
    peak_before_scoring = peak_rss_mb()
    peak_was_reset, rss_before_scoring = reset_peak_rss(), rss_mb()
    seconds = []
    for _ in range(args.repeats + 1):  # the first, cold, traces the graphs and compiles the XLA ones
        started = time.perf_counter()
        results = [sequence_scores(vae, lstm, p, config.l_win, config.l_seq, config.score_batch_size) for p in pieces]
        seconds.append(time.perf_counter() - started)
    scoring_peak_mb = peak_rss_mb()
    first_seconds, seconds = seconds[0], seconds[1:]
    n_windows = sum(len(p) - config.l_win + 1 for p in pieces)
    n_seq = sum(len(r) for r in results)
    best, median = min(seconds), float(np.median(seconds))
    flop = 2 * scoring_multiply_adds(costs, n_windows, n_seq, config.l_seq)
    bound_seconds = flop / (gflops * 1e9)

    k, n_loop = loop_piece(results, args.loop_sequences)
    loop_scores, loop_seconds_per_sequence = per_sequence_loop(vae, lstm, pieces[k], config.l_win, config.l_seq,
                                                               n_loop)
    np.testing.assert_allclose(loop_scores, results[k][:n_loop], rtol=1e-3, atol=1e-4)
    loop_seconds_total = loop_seconds_per_sequence * n_seq

    figures = {
        "version": FIGURES_VERSION, "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(), "tensorflow": tf.__version__, "keras": keras.__version__,
        "matmul_gflops": round(gflops, 1),
        "config": config_key(config), "dataset": config.dataset_name, "n_channel": series.n_channel,
        "l_win": config.l_win, "l_seq": config.l_seq,
        "code_size": config.code_size, "num_hidden_units": config.num_hidden_units,
        "num_hidden_units_lstm": config.num_hidden_units_lstm, "batch_size": config.batch_size,
        "batch_size_lstm": config.batch_size_lstm, "jit_compile": bool(config.jit_compile),
        "steps_per_execution": config.steps_per_execution,
        "score_batch_size": config.score_batch_size,
        "multiply_adds": costs,
        "training": training,
        "training_seconds": round(train_seconds, 1),
        **memory_figures(training_peak_mb, peak_before_scoring, rss_before_scoring, scoring_peak_mb, peak_was_reset),
        "scoring": {
            "test_pieces": len(pieces), "test_sequences": n_seq, "test_windows_distinct": n_windows,
            "windows_spanned": n_seq * config.l_seq, "windows_predicted": n_seq * (config.l_seq - 1),
            "seconds_min": round(best, 3), "seconds_median": round(median, 3), "repeats": args.repeats,
            "first_seconds": round(first_seconds, 3),
            "sequences_per_second_best": round(n_seq / best), "sequences_per_second_median": round(n_seq / median),
            "windows_per_second_best": round(n_seq * config.l_seq / best),
            "windows_per_second_median": round(n_seq * config.l_seq / median),
            "gflop": shown(flop / 1e9, 1), "flop_bound_seconds": shown(bound_seconds, 3),
            "flop_bound_reached_percent_best": shown(100 * bound_seconds / best, 1),
            "flop_bound_reached_percent_median": shown(100 * bound_seconds / median, 1),
        },
        "per_sequence_loop": {
            "sequences_timed": n_loop, "seconds_per_sequence": round(loop_seconds_per_sequence, 4),
            "whole_test_set_seconds_estimated": round(loop_seconds_total, 1),
            "batched_speedup_best": round(loop_seconds_total / best, 1),
        },
    }
    write_benchmark(figures, out)
    return 0


def loop_piece(results: list, wanted: int) -> tuple[int, int]:
    """The test piece the per-sequence loop is timed on (the one of the most sequences, of the pieces' sequence
    scores ``results``) and how many of its sequences: ``wanted`` (--loop-sequences), or all it has when fewer, said."""
    k = max(range(len(results)), key=lambda i: len(results[i]))
    n_loop = min(wanted, len(results[k]))
    if n_loop < wanted:
        print(f"note: --loop-sequences {wanted}: the longest test piece has {n_loop} sequences; the per-sequence "
              "loop is timed on those")
    return k, n_loop


def per_sequence_loop(vae, lstm, piece: np.ndarray, l_win: int, l_seq: int, n_loop: int) -> tuple[np.ndarray, float]:
    """The scores of the first ``n_loop`` sequences of ``piece`` scored one by one, as the original code did
    (``scoring.score_series_per_sequence``), and the seconds per sequence that took, after an untimed first call on
    one sequence: its one-off cost is left out, as the batched scoring's first, cold run is."""
    from . import scoring

    span = l_win * l_seq
    scoring.score_series_per_sequence(vae, lstm, piece[:span], l_win, l_seq)
    started = time.perf_counter()
    scores = scoring.score_series_per_sequence(vae, lstm, piece[: n_loop + span - 1], l_win, l_seq)
    return scores, (time.perf_counter() - started) / n_loop


def write_benchmark(figures: dict, out: Path) -> None:
    """Add one config's figures to <out>/benchmark.json (keyed by config) and rewrite benchmark.md; print them."""
    configs = saved_configs(out / "benchmark.json", figures,
                            keep=lambda f: f.get("version") == FIGURES_VERSION)
    write_text_atomic(out / "benchmark.json", json.dumps({"configs": configs}, indent=2) + "\n")
    write_text_atomic(out / "benchmark.md", benchmark_markdown(configs))
    print(benchmark_markdown({figures["config"]: figures}))


def saved_configs(path: Path, figures: dict, keep) -> dict:
    """The figures per config saved in ``path`` that ``keep`` accepts (saying which it drops), with ``figures`` put
    in under its config (saying so when it replaces earlier ones). A damaged file is one line and stays as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = saved_figures(path)
    if isinstance(saved, dict) and "configs" not in saved and isinstance(saved.get("config"), str):
        saved = {"configs": {saved["config"]: saved}}  # a file of one config's figures, as written before
    elif isinstance(saved, dict) and "configs" not in saved and first_format(saved):  # dropped below, and said so
        saved = {"configs": {f"a config of {saved['dataset']} (the first format names none)": saved}}
    configs = saved.get("configs") if isinstance(saved, dict) and isinstance(saved.get("configs"), dict) else {}
    dropped = [name for name, f in configs.items() if not (isinstance(f, dict) and keep(f))]
    if [name for name in dropped if name != figures["config"]]:  # the config measured now is replaced anyway
        print(f"dropping the figures of {', '.join(n for n in dropped if n != figures['config'])} from {path}: measured in an older format; measure "
              "them again to have them back")
    configs = {name: f for name, f in configs.items() if name not in dropped}
    old = configs.get(figures["config"])
    if old is not None:
        print(f"replacing the figures of {figures['config']} measured at {old.get('measured_at')} in {path}")
    configs[figures["config"]] = figures
    return configs


def first_format(saved: dict) -> bool:
    """Whether ``saved`` is one measurement's figures as benchmark.py first wrote them, with no config named (the
    machine, the versions and the dataset, beside the figures)."""
    return ("config" not in saved and all(isinstance(saved.get(key), str) for key in ("machine", "tensorflow", "keras"))
            and isinstance(saved.get("dataset"), str))


def check_figures_files(out: Path, stem: str) -> None:
    """One line, before anything is measured, unless <out>/<stem>.json and .md can be written: the folder can be
    made or written, neither file is a folder, the .json holds figures (or is absent), and the .md is absent, begins
    as benchmark.py's tables do, or has figures beside it (the first format's tables had no heading)."""
    check_writable(out)
    md = out / f"{stem}.md"
    for path in (out / f"{stem}.json", md):
        if path.is_dir():
            raise UserError(f"{path} is a folder, where the figures go; move it away, or choose another --output-dir")
    saved = saved_figures(out / f"{stem}.json")  # a damaged one too
    if md.is_file() and not saved:
        with open(md, encoding="utf-8", errors="replace") as f:
            head = f.read(len(MARKDOWN_HEADS[stem]))
        if head != MARKDOWN_HEADS[stem]:
            raise UserError(f"{md} holds no tables of benchmark.py (and no {stem}.json of figures is beside it); move "
                            "it away, or choose another --output-dir")


def saved_figures(path: Path):
    """What the figures file ``path`` holds ({} when there is none); a damaged one is one line (main reads it before
    measuring too, so that the line does not come after minutes of measuring)."""
    try:
        saved = json.loads(path.read_text()) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        why = json_error(e) if isinstance(e, json.JSONDecodeError) else e.reason
        raise UserError(f"{path} is damaged ({why}); move it away, and the figures measured now start a new "
                        "one") from None
    # figures per config ({"configs": {...}}), or one config's figures as written before ({"config": ..., ...}); JSON of
    # another kind is not taken for an empty file and replaced
    if saved and not (isinstance(saved, dict) and (isinstance(saved.get("configs"), dict) if "configs" in saved
                                                   else isinstance(saved.get("config"), str) or first_format(saved))):
        raise UserError(f"{path} holds no figures of benchmark.py (JSON of another kind); move it away, or choose "
                        "another --output-dir, and the figures measured now start a new one")
    return saved


def benchmark_markdown(configs: dict) -> str:
    """One section per config: the machine, then a table of the figures."""
    sections = [MARKDOWN_HEADS["benchmark"],
                "Steady state: the epochs after the first (traced) one, min / median. Multiply-adds count matrix "
                "products and convolutions only (1 multiply-add = 2 FLOP). Windows/s = sequences/s x l_seq. "
                "FLOP bounds use the measured matmul rate.\n"]
    for name, f in configs.items():
        t, s, loop, m = f["training"], f["scoring"], f["per_sequence_loop"], f["multiply_adds"]
        n = f.get("n_channel")  # not in figures measured before it was recorded
        channels = "" if n is None else f"{n} channel{'s' * (n != 1)}, "
        rows = [
            ("machine", f["machine"]), ("TensorFlow / Keras", f"{f['tensorflow']} / {f['keras']}"),
            ("matmul GFLOP/s (float32, 2048^2)", f["matmul_gflops"]),
            ("config", f"{f['dataset']}, {channels}l_win {f['l_win']}, l_seq {f['l_seq']}, code {f['code_size']}, "
                       f"{f['num_hidden_units']} conv units, LSTM {f['num_hidden_units_lstm']}, batch "
                       f"{f['batch_size']} / {f['batch_size_lstm']}, jit_compile {f['jit_compile']}, "
                       f"steps_per_execution {f.get('steps_per_execution', 1)}"),
            ("VAE multiply-adds per window (encoder + decoder)",
             f"{m['vae_per_window']:,} ({m['vae_encoder_per_window']:,} + {m['vae_decoder_per_window']:,}); "
             f"per sequence {m['vae_per_sequence']:,}"),
            ("LSTM multiply-adds per sequence", f"{m['lstm_per_sequence']:,}; per window (step) {m['lstm_per_window']:,}"),
        ]
        for stage in ("vae", "lstm"):
            st = t[stage]
            rows += [
                (f"{stage.upper()} training, ms per step", f"{st['ms_per_step_min']} / {st['ms_per_step_median']} "
                 f"({st['epochs_timed']} epochs timed, {st['steps_per_epoch']} steps per epoch; FLOP bound {st['flop_bound_ms_per_step']} ms, "
                 f"{st['flop_bound_reached_percent']}% reached)"),
                (f"{stage.upper()} training, s per epoch", f"{st['s_per_epoch_min']} / {st['s_per_epoch_median']} "
                 f"(first, traced: {st['first_epoch_s']}; checkpoint {st['checkpoint_s_median']} s, "
                 f"{st['checkpoint_share_of_epoch_percent']}% of an epoch)"),
            ]
        rows += [
            ("peak memory of the benchmark process (VmHWM: matmul rate, training, then scoring), after training / "
             "after scoring (MB)",
             f"{f['peak_memory_mb_training']} / {f['peak_memory_mb_scoring']} " + (
                 f"(scoring added {f['scoring_added_memory_mb']} MB to the resident set it started from)"
                 if f["scoring_added_memory_mb"] is not None else
                 "(what scoring alone added is not measured here: its high-water mark could not be reset)")),
            ("scoring the test set", f"{s['test_sequences']:,} sequences, {s['test_windows_distinct']:,} distinct "
             f"windows, {s['test_pieces']} pieces; score_batch_size {f['score_batch_size']}"),
            ("scoring, seconds", f"{s['seconds_min']} / {s['seconds_median']} ({s['repeats']} runs after a first, "
             f"cold one of {s['first_seconds']} s that traces and compiles the graphs)"),
            ("scoring, sequences/s", f"{s['sequences_per_second_best']:,} / {s['sequences_per_second_median']:,}"),
            ("scoring, windows/s (sequences/s x l_seq, the windows a sequence spans; l_seq - 1 of them predicted)",
             f"{s['windows_per_second_best']:,} / {s['windows_per_second_median']:,}"),
            ("scoring FLOP lower bound", f"{s['gflop']} GFLOP: {s['flop_bound_seconds']} s; reached "
             f"{s['flop_bound_reached_percent_best']}% / {s['flop_bound_reached_percent_median']}%"),
            ("per-sequence loop (the original's approach)",
             f"{loop['seconds_per_sequence']} s per sequence ({loop['sequences_timed']} timed): about "
             f"{loop['whole_test_set_seconds_estimated']} s for the test set"),
            ("batched against per-sequence", f"{loop['batched_speedup_best']}x faster"),
        ]
        table = "\n".join(f"| {k} | {v} |" for k, v in rows)
        sections.append(f"## {name} (measured {f['measured_at']})\n\n| figure | value |\n| --- | --- |\n{table}\n")
    return "\n".join(sections)


def write_end_to_end(figures: dict, out: Path) -> None:
    """Add one config's end-to-end figures to <out>/benchmark_end_to_end.json (keyed by the config's
    file, ``end_to_end_key``) and rewrite its .md; print them."""
    configs = saved_configs(out / "benchmark_end_to_end.json", figures, keep=lambda f: "total_seconds" in f)
    write_text_atomic(out / "benchmark_end_to_end.json", json.dumps({"configs": configs}, indent=2) + "\n")
    sections = [MARKDOWN_HEADS["benchmark_end_to_end"]]
    for name, f in configs.items():
        table = "\n".join(f"| {k} | {v} |" for k, v in f.items())
        sections.append(f"## {name}\n\n| figure | value |\n| --- | --- |\n{table}\n")
    write_text_atomic(out / "benchmark_end_to_end.md", "\n".join(sections))
    for key, value in figures.items():
        print(f"{key:40} {value}")
