"""Speed and memory of training and scoring, for machine_temp at the shipped config.

    python3 codes/benchmark.py [--config NAB_config.json] [--epochs 3] [--loop-sequences 300]

Prints seconds per VAE and LSTM epoch, the peak memory (max RSS) of the process, the batched
scoring throughput on the whole test set, and the original code's approach (model calls per
sequence in a Python loop) timed on the first --loop-sequences sequences, with the ratio.
Writes the figures to figures/benchmark.json and figures/benchmark.md.
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

from .config import REPO_ROOT, check_against_data, load_config
from .data_loader import load_series


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="NAB_config.json")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per stage to time (default 3)")
    parser.add_argument("--loop-sequences", type=int, default=300,
                        help="sequences scored one by one for the per-sequence reference (default 300)")
    parser.add_argument("--end-to-end", action="store_true",
                        help="instead: time a whole train.py + detect.py of the config (what `make train` runs) "
                             "in a temporary folder, with its peak memory; writes figures/benchmark_end_to_end.*")
    return parser.parse_args(argv)


def end_to_end(config_name: str) -> dict:
    """Wall time and peak memory (max RSS of the child processes) of train.py then detect.py."""
    import subprocess

    config = load_config(config_name)
    figures = {"machine": machine(), "config": config_name, "dataset": config.dataset, "detector": config.detector,
               "num_epochs_vae": config.num_epochs_vae, "num_epochs_lstm": config.num_epochs_lstm}
    with tempfile.TemporaryDirectory() as tmp:
        values = {**config.to_dict(), "output_dir": tmp}
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(values))
        for command in ("train", "detect"):
            started = time.perf_counter()
            subprocess.run([sys.executable, str(REPO_ROOT / "codes" / f"{command}.py"), "--config", str(path)],
                           check=True, stdout=subprocess.DEVNULL)
            figures[f"{command}_seconds"] = round(time.perf_counter() - started, 1)
            # the largest resident set of any child so far, in MB (Linux reports KB)
            figures[f"peak_memory_mb_after_{command}"] = round(
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    figures["total_seconds"] = round(figures["train_seconds"] + figures["detect_seconds"], 1)
    return figures


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}), {platform.system()}, Python {platform.python_version()}"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.end_to_end:
        write_figures(end_to_end(args.config), "benchmark_end_to_end")
        return 0
    config = load_config(args.config)
    series = load_series(config.dataset)
    check_against_data(config, len(series.train), series.n_channel)

    import keras
    import numpy as np
    import tensorflow as tf

    from .detectors import vae_lstm as trainers
    from .runs import train
    from .scoring import score_series_per_sequence, score_vae_lstm

    seconds = {"vae": [], "lstm": []}

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self, stage):
            super().__init__()
            self.stage = stage

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds[self.stage].append(time.perf_counter() - self.started)

    for trainer in (trainers.VAETrainer, trainers.LSTMTrainer):  # time epochs instead of drawing figures
        trainer.extra_callbacks = lambda self: [EpochTimer(self.stage)]

    with tempfile.TemporaryDirectory() as tmp:
        bench = config.replace(num_epochs_vae=args.epochs, num_epochs_lstm=args.epochs, output_dir=tmp,
                               load_model=False, exp_name="benchmark")
        started = time.perf_counter()
        run = train(bench, series.train)
        train_seconds = time.perf_counter() - started
        vae_epochs, lstm_epochs = seconds["vae"], seconds["lstm"]
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        vae = keras.saving.load_model(run / "vae.keras")
        lstm = keras.saving.load_model(run / "lstm.keras")

    pieces = [p.values for p in series.test_pieces if len(p.values) >= config.span]
    score_vae_lstm(vae, lstm, pieces[0][: config.span + 64], config.l_win, config.l_seq)  # warm-up trace
    started = time.perf_counter()
    results = [score_vae_lstm(vae, lstm, p, config.l_win, config.l_seq, config.score_batch_size) for p in pieces]
    batched_seconds = time.perf_counter() - started
    n_windows = sum(len(p) - config.l_win + 1 for p in pieces)
    n_sequences = sum(len(r.scores) for r in results)

    n_loop = min(args.loop_sequences, len(results[0].scores))
    segment = pieces[0][: n_loop + config.span - 1]
    started = time.perf_counter()
    loop_scores = score_series_per_sequence(vae, lstm, segment, config.l_win, config.l_seq)
    loop_seconds_per_sequence = (time.perf_counter() - started) / n_loop
    np.testing.assert_allclose(loop_scores, results[0].scores[:n_loop], rtol=1e-3, atol=1e-4)
    loop_seconds_total = loop_seconds_per_sequence * n_sequences

    figures = {
        "machine": machine(), "tensorflow": tf.__version__, "keras": keras.__version__,
        "dataset": config.dataset, "l_win": config.l_win, "l_seq": config.l_seq,
        "batch_size": config.batch_size, "batch_size_lstm": config.batch_size_lstm,
        "vae_epoch_seconds": round(float(np.median(vae_epochs)), 2),
        "lstm_epoch_seconds": round(float(np.median(lstm_epochs)), 2),
        "first_epoch_seconds": {"vae": round(vae_epochs[0], 2), "lstm": round(lstm_epochs[0], 2)},
        "training_seconds": round(train_seconds, 1), "epochs_timed": args.epochs,
        "peak_memory_mb": round(peak_mb),
        "test_windows": n_windows, "test_sequences": n_sequences,
        "batched_scoring_seconds": round(batched_seconds, 2),
        "batched_windows_per_second": round(n_windows / batched_seconds),
        "batched_sequences_per_second": round(n_sequences / batched_seconds),
        "loop_sequences_timed": n_loop,
        "loop_seconds_per_sequence": round(loop_seconds_per_sequence, 4),
        "loop_seconds_whole_test_set_estimated": round(loop_seconds_total, 1),
        "loop_windows_per_second_estimated": round(n_windows / loop_seconds_total),
        "speedup_batched_vs_loop": round(loop_seconds_total / batched_seconds, 1),
    }
    write_figures(figures, "benchmark")
    return 0


def write_figures(figures: dict, stem: str) -> None:
    """figures/<stem>.json and .md, and the same on stdout."""
    out = REPO_ROOT / "figures"
    out.mkdir(exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(figures, indent=2) + "\n")
    table = "\n".join(f"| {k} | {v} |" for k, v in figures.items())
    (out / f"{stem}.md").write_text(f"| figure | value |\n| --- | --- |\n{table}\n")
    for key, value in figures.items():
        print(f"{key:40} {value}")


