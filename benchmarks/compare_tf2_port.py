"""Side-by-side speed of this project and the public TF2 port of the same paper, at one common config.

    .venv/bin/python benchmarks/compare_tf2_port.py --setup             # once: the port's own venv
    .venv/bin/python benchmarks/compare_tf2_port.py [--rounds 5] [--epochs 4] [--port ../shared/peers/tf2-port]

The port (SevenFo/VAE-LSTM-for-anomaly-detection-TF2) is not copied here: its ``models.py`` is imported
from --port and runs unchanged, in a venv of its own (--port-venv, default benchmarks/.venv) with its
pinned requirements (benchmarks/tf2_port_requirements.txt). See benchmarks/README.md.

Both sides get the same data: the config's training block (machine_temp at
configs/benchmark_common_config.json: l_win 24, l_seq 12, code 6, 512 conv units, LSTM 64, batch 32) and
its test pieces, prepared once by this project's loader. Each round runs each side in a fresh process,
the order alternating (ours first in rounds 1, 3, ...), and each process measures:

- VAE training, ms per step: the training steps of each epoch after the first (traced) one;
- LSTM training, ms per step, the same way (ours trains on the VAE's codes; the port's step re-encodes
  every window through its frozen VAE, as its ``VAE_LSTM.train_step`` does);
- scoring both test pieces, sequences/s: ours through ``scoring.sequence_scores`` (the detector's pass of the models), the
  port's as its main.py does (``VAE_LSTM.predict`` on batches of 2,048 sequences, then ``utils.post_process``),
  after one untimed warm-up scoring each;
- peak memory (the largest resident set) at the end of training.

Each side trains as it ships (ours: its compile, Adam with its schedule, the config's jit_compile, and its
thread settings, one thread per op and one op per core at once (``vae_lstm.threads``); the port: its
main.py's compile and tf.data pipeline, TensorFlow's default threads, or ours with
--port-one-thread-per-op), without validation or checkpoints. The table gives best /
median over all rounds. Multiply-adds per window are counted from each VAE's graph (matrix products and
convolutions), and the LSTMs' from their weights.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_PORT = REPO.parent / "shared" / "peers" / "tf2-port"
DEFAULT_VENV = HERE / ".venv"
REQUIREMENTS = HERE / "tf2_port_requirements.txt"
DEFAULT_CONFIG = REPO / "configs" / "benchmark_common_config.json"
RESULT = "RESULT "
PORT_SCORE_BATCH = 2048  # the port's main.py scores batches of 2,048 sequences


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line (exit 2), as in the project's commands, not the usage block and the error."""

    def error(self, message):
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def parse_args(argv=None):
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", default=str(DEFAULT_PORT), help="folder holding the port's models.py")
    parser.add_argument("--port-venv", default=str(DEFAULT_VENV), help="the port's venv (made by --setup)")
    parser.add_argument("--setup", action="store_true", help="create the port's venv with its pinned requirements")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="our config giving the common settings")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per stage and round; the first is not timed")
    parser.add_argument("--score-repeats", type=int, default=3, help="timed scorings per round and side")
    parser.add_argument("--jit-compile", choices=["on", "off"], help="override our config's jit_compile")
    parser.add_argument("--port-one-thread-per-op", action="store_true",
                        help="run the port with our thread settings too (one thread per op, one op per core at "
                             "once) rather than TensorFlow's default, as it ships")
    parser.add_argument("--output", help="also write the figures to this .json (and the table to .md beside it)")
    parser.add_argument("--worker", choices=["ours", "port"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("port", "port_venv", "config", "output"):
        if getattr(args, name) == "":  # an unset shell variable: no figures written, or the working folder read
            parser.error(f"argument --{name.replace('_', '-')}: is empty (an unset shell variable?)")
        if getattr(args, name) and name != "config":  # "~/x" is the home folder's (the shell leaves --port=~/x)
            setattr(args, name, str(Path(getattr(args, name)).expanduser()))
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch traces the graphs and is not timed")
    for flag in ("rounds", "score_repeats"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    return args


# ---------------------------------------------------------------------------------------------
# Setup and orchestration (this project's venv)


def port_python(venv: Path) -> Path:
    return Path(venv) / "bin" / "python"


def ready_mark(venv: Path) -> Path:
    """Written once the port's requirements are installed: a venv without it is not ready."""
    return Path(venv) / ".ready"


def setup(venv: Path) -> None:
    venv = Path(venv)
    sys.path.insert(0, str(REPO / "codes"))
    from vae_lstm.config import check_writable
    from vae_lstm.errors import UserError

    try:  # a file in the way is one line, not a traceback
        check_writable(venv)
    except UserError as e:
        raise SystemExit(f"error: --port-venv {venv}: {e}") from None
    ready_mark(venv).unlink(missing_ok=True)
    pip = [str(port_python(venv)), "-m", "pip", "install", "--quiet"]
    try:
        if not port_python(venv).exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"error: could not set up the port's venv in {venv} ({' '.join(map(str, e.cmd[-3:]))} "
                         f"exited {e.returncode}); check the network and run --setup again") from None
    ready_mark(venv).write_text("installed from " + str(REQUIREMENTS) + "\n")
    print(f"the port's venv is ready: {venv}")


def prepare_data(config_path: str, folder: Path, jit_compile: str | None = None) -> tuple[Path, dict]:
    """The common config's training block, its training sequences' starts and the test pieces, in one .npz, with
    the settings both sides run at (our jit_compile: ``jit_compile``, --jit-compile's on / off, else the config's)."""
    sys.path.insert(0, str(REPO / "codes"))
    from vae_lstm.config import load_config
    from vae_lstm.prepare import check_scorable, load_data
    from vae_lstm.windowing import n_sequences, train_val_split

    config, series = load_data(load_config(config_path), verbose=False)
    if config.detector != "vae_lstm":  # both sides run the VAE-LSTM, as benchmark.py measures it: say so
        print(f"note: both sides run the VAE-LSTM at {config_path}'s keys; its detector '{config.detector}' is not "
              "compared")
        config = config.replace(detector="vae_lstm")
    check_scorable(config, series)  # a test piece as long as one sequence at least, as benchmark.py checks
    if jit_compile:
        config = config.replace(jit_compile=jit_compile == "on")
    train = np.asarray(series.train, dtype="float32")
    n_windows = len(train) - config.l_win + 1
    window_idx, _ = train_val_split(n_windows, config.val_fraction, config.seed)
    sequence_idx, _ = train_val_split(n_sequences(len(train), config.l_win, config.l_seq), config.val_fraction,
                                      config.seed)
    pieces = [np.asarray(p.values, dtype="float32") for p in series.test_pieces if len(p.values) >= config.span]
    settings = {key: config[key] for key in (
        "l_win", "l_seq", "n_channel", "code_size", "num_hidden_units", "num_hidden_units_lstm", "batch_size",
        "batch_size_lstm", "learning_rate_vae", "learning_rate_lstm", "sigma", "sigma2_offset", "seed",
        "score_batch_size", "jit_compile")}
    settings.update(dataset=config.dataset_name, config=str(config.source))
    path = folder / "data.npz"
    np.savez(path, train=train, window_idx=window_idx, sequence_idx=sequence_idx,
             **{f"piece_{k}": p for k, p in enumerate(pieces)}, settings=json.dumps(settings))
    return path, settings


def run_worker(side: str, args, data: Path) -> dict:
    python = sys.executable if side == "ours" else str(port_python(args.port_venv))
    command = [python, str(Path(__file__).resolve()), "--worker", side, "--data", str(data), "--port", args.port,
               "--config", args.config, "--epochs", str(args.epochs), "--score-repeats", str(args.score_repeats)]
    if args.port_one_thread_per_op:
        command += ["--port-one-thread-per-op"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ""}
    sys.path.insert(0, str(REPO / "codes"))
    from vae_lstm.benchmark import end_with_parent  # a worker dies with the harness, even by SIGKILL

    done = subprocess.run(command, capture_output=True, text=True, env=env, preexec_fn=end_with_parent)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode or not lines:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-8000:])
        raise SystemExit(f"error: the {side} worker failed (exit {done.returncode})")
    return json.loads(lines[-1][len(RESULT):])


def best_median(values) -> tuple[float, float]:
    import statistics

    return min(values), statistics.median(values)


def best_median_high(values) -> tuple[float, float]:
    """For rates (higher is better): the best is the largest."""
    import statistics

    return max(values), statistics.median(values)


TABLE_HEAD = "| | ours | TF2 port | ours / port |\n"  # its table's first row: a .md holding it is the comparison's


def summarise(results: dict, settings: dict, rounds: int) -> tuple[dict, str]:
    rows, figures = [], {"settings": settings, "rounds": rounds, "sides": {}}
    keys = [("VAE training, ms per step", "vae_ms_per_step", best_median),
            ("LSTM training, ms per step", "lstm_ms_per_step", best_median),
            ("scoring the test pieces, sequences/s", "sequences_per_second", best_median_high),
            ("peak memory of training, MB", "peak_memory_mb_training", best_median)]
    for side, runs in results.items():
        figures["sides"][side] = {
            key: [value for run in runs for value in (run[key] if isinstance(run[key], list) else [run[key]])]
            for _, key, _ in keys}
        figures["sides"][side].update({k: runs[0][k] for k in ("versions", "multiply_adds")})
    for label, key, stat in keys:
        ours, port = (stat(figures["sides"][side][key]) for side in ("ours", "port"))
        ratio = (ours[0] / port[0], ours[1] / port[1])
        fmt = "{:,.0f}" if key in ("sequences_per_second", "peak_memory_mb_training") else "{:.2f}"
        rows.append(f"| {label} | {fmt.format(ours[0])} / {fmt.format(ours[1])} | "
                    f"{fmt.format(port[0])} / {fmt.format(port[1])} | {ratio[0]:.2f} / {ratio[1]:.2f} |")
        figures[key] = {"ours_best": ours[0], "ours_median": ours[1], "port_best": port[0], "port_median": port[1]}
    macs = {side: figures["sides"][side]["multiply_adds"] for side in ("ours", "port")}
    for label, key in (("VAE multiply-adds per window", "vae_per_window"),
                       ("LSTM multiply-adds per sequence", "lstm_per_sequence"),
                       ("scoring multiply-adds per sequence", "scoring_per_sequence")):
        rows.append(f"| {label} | {macs['ours'][key]:,} | {macs['port'][key]:,} | "
                    f"{macs['ours'][key] / macs['port'][key]:.2f} |")
    if macs["ours"]["vae_per_window"] != macs["ours"]["vae_per_window_from_graph"]:
        rows.append(f"| (our VAE counted from its graph) | {macs['ours']['vae_per_window_from_graph']:,} | | |")
    versions = {side: figures["sides"][side]["versions"] for side in ("ours", "port")}
    s = settings
    head = (f"{s['dataset']}: l_win {s['l_win']}, l_seq {s['l_seq']}, code {s['code_size']}, "
            f"{s['num_hidden_units']} conv units, LSTM {s['num_hidden_units_lstm']}, batch {s['batch_size']}; "
            f"{rounds} rounds alternating, best / median.\n"
            f"ours: {versions['ours']}; port: {versions['port']}\n\n"
            f"{TABLE_HEAD}| --- | --- | --- | --- |\n")
    return figures, head + "\n".join(rows) + "\n"


def orchestrate(args) -> int:
    for name in ("models.py", "utils.py"):  # what the port's worker imports
        if not (Path(args.port) / name).is_file():
            raise SystemExit(f"error: no {name} in {args.port}; point --port at the TF2 port's folder")
    if not (ready_mark(args.port_venv).is_file() and port_python(args.port_venv).exists()):
        raise SystemExit(f"error: no ready venv for the port at {args.port_venv}; run with --setup first")
    sys.path.insert(0, str(REPO / "codes"))
    from vae_lstm.errors import UserError

    if args.output:  # before the rounds, not after them
        try:
            check_output(Path(args.output))
        except UserError as e:
            raise SystemExit(f"error: {e}") from None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            data, settings = prepare_data(args.config, Path(tmp), args.jit_compile)
            check_port_builds(settings)
        except UserError as e:
            raise SystemExit(f"error: {e}") from None
        results = {"ours": [], "port": []}
        for r in range(args.rounds):
            for side in (("ours", "port") if r % 2 == 0 else ("port", "ours")):
                started = time.perf_counter()
                results[side].append(run_worker(side, args, data))
                print(f"round {r + 1}/{args.rounds} {side}: {time.perf_counter() - started:.0f} s "
                      f"{json.dumps({k: v for k, v in results[side][-1].items() if k not in ('versions', 'multiply_adds')})}",
                      flush=True)
    figures, table = summarise(results, settings, args.rounds)
    print()
    print(table)
    if args.output:
        from vae_lstm.config import write_text_atomic

        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists() or out.with_suffix(".md").exists():
            print(f"replacing the figures in {out} and {out.with_suffix('.md')}")
        write_text_atomic(out, json.dumps({**figures, "runs": results}, indent=2) + "\n")
        write_text_atomic(out.with_suffix(".md"), table)
    return 0


def check_port_builds(settings: dict) -> None:
    """A one-line UserError unless the port's models build at ``settings``' windows: its decoder ends in
    num_hidden_units / 16 - 8 points after three depth_to_space steps (num_hidden_units a multiple of 64), and its
    encoder's last convolution (4 points, 'valid') follows three halvings of l_win + 8 points."""
    from vae_lstm.errors import UserError

    l_win, units = settings["l_win"], settings["num_hidden_units"]
    if units % 64 or units != 16 * (l_win + 8) or l_win + 8 <= 24:
        raise UserError(f"the TF2 port builds windows of num_hidden_units / 16 - 8 points only (num_hidden_units a "
                        f"multiple of 64, l_win 20 or more: l_win 24 with 512, 20 with 448, 48 with 896): "
                        f"{settings['config']} has l_win {l_win} and num_hidden_units {units}; choose a config that "
                        "fits it, such as configs/benchmark_common_config.json")


def check_output(out: Path) -> None:
    """A one-line UserError unless ``out`` (the figures' .json) and the table's .md beside it can be written."""
    from vae_lstm.config import check_writable
    from vae_lstm.errors import UserError

    if out.suffix == ".md":
        raise UserError(f"--output {out}: name the .json (the table goes beside it as .md), such as "
                        f"{out.with_suffix('.json')}")
    for path in (out, out.with_suffix(".md")):
        if path.is_dir():
            raise UserError(f"--output {out}: {path} is a folder; name a file, such as {path / 'compare_tf2_port.json'}")
    try:
        check_writable(out.parent)
    except UserError as e:
        raise UserError(f"--output {out}: {e}") from None
    # a file of something else is not replaced by the figures (benchmark.py's figures/benchmark.json, a config):
    # its .md beside it with it, as benchmark.py keeps a benchmark.json of another kind
    if out.is_file():
        try:
            saved = json.loads(out.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            saved = None
        if not (isinstance(saved, dict) and isinstance(saved.get("sides"), dict)
                and isinstance(saved.get("settings"), dict)):
            raise UserError(f"--output {out}: {out} holds no figures of compare_tf2_port.py (something else, or "
                            "damaged); move it away, or choose another --output")
    elif out.with_suffix(".md").is_file() and not own_table(out.with_suffix(".md")):
        raise UserError(f"--output {out}: {out.with_suffix('.md')} holds no figures of compare_tf2_port.py (no "
                        f"{out.name} of its figures beside it); move it away, or choose another --output")


def own_table(md: Path) -> bool:
    """Whether ``md`` holds a comparison's table, as ``summarise`` writes it (its .json beside it removed)."""
    with open(md, encoding="utf-8", errors="replace") as f:
        return TABLE_HEAD in f.read(1 << 16).splitlines(keepends=True)


# ---------------------------------------------------------------------------------------------
# Measurements shared by both workers (they run in either venv: TensorFlow and Keras 3 only)


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def step_timer(keras, record: list):
    """A callback that records, for every epoch, the seconds of its training steps per step."""

    class StepTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            record.append((time.perf_counter() - self.started) / self.params["steps"])

    return StepTimer()


def side_figures(vae_times, lstm_times, rates, training_peak, versions: str, multiply_adds: dict) -> dict:
    """What one side's worker reports: steady-state steps, scoring rates, peak memory, versions, multiply-adds."""
    return {"vae_ms_per_step": steady_ms(vae_times), "lstm_ms_per_step": steady_ms(lstm_times),
            "sequences_per_second": [round(r, 1) for r in rates], "peak_memory_mb_training": round(training_peak),
            "peak_memory_mb_scoring": round(peak_rss_mb()), "versions": versions, "multiply_adds": multiply_adds}


def threads_used(tf) -> str:
    intra, inter = (tf.config.threading.get_intra_op_parallelism_threads(),
                    tf.config.threading.get_inter_op_parallelism_threads())
    return "TensorFlow's default threads" if intra == inter == 0 else f"{intra} thread(s) per op, {inter} ops at once"


def steady_ms(per_step: list) -> list:
    return [round(1000 * s, 3) for s in per_step[1:]]


def graph_multiply_adds(function, spec) -> int:
    """Multiply-adds of one traced call (batch 1) from its graph: MatMul / BatchMatMul and convolutions, from
    their static shapes. Loops (while bodies) are not entered: use it for networks without recurrence."""
    import tensorflow as tf

    graph = tf.function(function, autograph=False).get_concrete_function(spec).graph
    total = 0
    for op in graph.get_operations():
        if op.type in ("MatMul", "BatchMatMulV2", "BatchMatMulV3"):
            a, b = (t.shape.as_list() for t in op.inputs[:2])
            out = op.outputs[0].shape.as_list()
            inner = a[-2] if op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x") else a[-1]
            total += int(np.prod(out)) * inner
        elif op.type in ("Conv2D", "Conv3D", "Conv"):
            out, kernel = op.outputs[0].shape.as_list(), op.inputs[1].shape.as_list()
            total += int(np.prod(out[1:-1])) * int(np.prod(kernel))
    return total


def vae_graph_multiply_adds(vae, l_win: int, n_channel: int, code_size: int) -> int:
    """Multiply-adds per window of our VAE (its encoder, then its decoder) from their traced graphs."""
    import tensorflow as tf

    return (graph_multiply_adds(lambda w: vae.encoder(w, training=False), tf.TensorSpec((1, l_win, n_channel)))
            + graph_multiply_adds(lambda z: vae.decoder(z, training=False), tf.TensorSpec((1, code_size))))


def lstm_multiply_adds(lstm_layers, steps: int) -> int:
    """Kernel and recurrent kernel of each LSTM layer once per step (the gates' elementwise work left out)."""
    return steps * sum(int(np.prod(layer.cell.kernel.shape)) + int(np.prod(layer.cell.recurrent_kernel.shape))
                       for layer in lstm_layers)


def load_data(path: str):
    with np.load(path) as saved:
        data = {k: saved[k] for k in saved.files}
    settings = json.loads(str(data.pop("settings")))
    pieces = [data[f"piece_{k}"] for k in range(sum(k.startswith("piece_") for k in data))]
    return data, pieces, settings


def windows_of(series, length: int):
    from numpy.lib.stride_tricks import sliding_window_view

    return np.ascontiguousarray(sliding_window_view(series, length, axis=0).transpose(0, 2, 1), dtype="float32")


# ---------------------------------------------------------------------------------------------
# Our worker


def worker_ours(args) -> dict:
    data, pieces, s = load_data(args.data)
    sys.path.insert(0, str(REPO / "codes"))
    from vae_lstm.threads import use_threads

    use_threads()  # as our train.py, detect.py and benchmark.py run: one thread per op, ops side by side
    import keras
    import tensorflow as tf

    from vae_lstm.benchmark import multiply_adds
    from vae_lstm.config import load_config
    from vae_lstm.detectors.vae_lstm import LSTMModel, VAEModel
    from vae_lstm.scoring import compiled_apply, gather_sequences, sequence_scores

    config = load_config(args.config).replace(  # "auto" windows and a null n_channel as the data gave them
        **{key: s[key] for key in ("l_win", "l_seq", "n_channel", "jit_compile")})
    keras.utils.set_random_seed(s["seed"])
    train = data["train"]
    windows = windows_of(train, s["l_win"])
    x = windows[data["window_idx"]]
    steps = -(-len(x) // s["batch_size"])
    vae_times, lstm_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        vae = VAEModel(config, tmp).build_compiled(steps)
        vae.fit(x, batch_size=s["batch_size"], epochs=args.epochs, shuffle=True, verbose=0,
                callbacks=[step_timer(keras, vae_times)])
        codes, _ = compiled_apply(vae.encoder, windows, s["score_batch_size"])
        sequences = gather_sequences(codes, len(train), s["l_win"], s["l_seq"])[data["sequence_idx"]]
        lstm = LSTMModel(config, tmp).build_compiled(-(-len(sequences) // s["batch_size_lstm"]))
        lstm.fit(sequences[:, :-1], sequences[:, 1:], batch_size=s["batch_size_lstm"], epochs=args.epochs,
                 shuffle=True, verbose=0, callbacks=[step_timer(keras, lstm_times)])
    training_peak = peak_rss_mb()

    def score():
        return sum(len(sequence_scores(vae, lstm, p, s["l_win"], s["l_seq"], s["score_batch_size"]))
                   for p in pieces)

    score()  # warm-up: traces the compiled graphs
    rates = []
    for _ in range(args.score_repeats):
        started = time.perf_counter()
        n = score()
        rates.append(n / (time.perf_counter() - started))
    encoder, decoder = multiply_adds(vae.encoder), multiply_adds(vae.decoder)
    graph = vae_graph_multiply_adds(vae, s["l_win"], s["n_channel"], s["code_size"])
    lstm_macs = multiply_adds(lstm)
    n_windows = sum(len(p) - s["l_win"] + 1 for p in pieces)
    n_seq = sum(len(p) - s["l_win"] * s["l_seq"] + 1 for p in pieces)
    return side_figures(
        vae_times, lstm_times, rates, training_peak,
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, jit_compile {bool(config.jit_compile)}, "
        f"{threads_used(tf)}",
        {"vae_per_window": encoder + decoder, "vae_per_window_from_graph": graph, "lstm_per_sequence": lstm_macs,
         # every window encoded once; the LSTM and the decoder of l_seq - 1 codes per sequence
         "scoring_per_sequence": round((n_windows * encoder + n_seq * (lstm_macs + (s["l_seq"] - 1) * decoder))
                                       / n_seq)})


# ---------------------------------------------------------------------------------------------
# The port's worker (its venv; its models.py imported from --port, unchanged)


def worker_port(args) -> dict:
    data, pieces, s = load_data(args.data)
    sys.path.insert(0, str(Path(args.port).resolve()))
    import importlib

    import tensorflow as tf
    from tensorflow import keras

    if args.port_one_thread_per_op:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(os.cpu_count() or 1)
    models = importlib.import_module("models")  # the port's models.py, from --port, unchanged
    utils = importlib.import_module("utils")  # the port's utils.py (post_process)

    tf.keras.utils.set_random_seed(s["seed"])
    configs = {"l_win": s["l_win"], "l_seq": s["l_seq"], "n_channel": s["n_channel"], "code_size": s["code_size"],
               "num_hidden_units": s["num_hidden_units"], "num_hidden_units_lstm": s["num_hidden_units_lstm"],
               "batch_size": s["batch_size"], "batch_size_lstm": s["batch_size_lstm"], "sigma": s["sigma"],
               "sigma2_offset": s["sigma2_offset"], "learning_rate_vae": s["learning_rate_vae"],
               "learning_rate_lstm": s["learning_rate_lstm"], "TRAIN_sigma": 0}
    train = data["train"]
    x = windows_of(train, s["l_win"])[data["window_idx"]]
    span = s["l_win"] * s["l_seq"]
    sequences = windows_of(train, span)[data["sequence_idx"]]

    def dataset(array, batch):  # as the port's main.py: shuffle(1000), repeat, batch(drop_remainder)
        return tf.data.Dataset.from_tensor_slices(array).shuffle(1000).repeat().batch(batch, drop_remainder=True)

    def schedule(rate):  # the port's main.py: ExponentialDecay(rate, 1000, 0.96, staircase)
        return keras.optimizers.schedules.ExponentialDecay(rate, decay_steps=1000, decay_rate=0.96, staircase=True)

    vae_times, lstm_times = [], []
    vae = models.VAEModel(configs, encoder=models.Encoder(configs), decoder=models.Decoder(configs))
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule(s["learning_rate_vae"])), run_eagerly=False)
    vae(tf.random.normal([1, s["l_win"], s["n_channel"]]))
    vae.fit(dataset(x, s["batch_size"]), epochs=args.epochs, steps_per_epoch=len(x) // s["batch_size"], verbose=0,
            callbacks=[step_timer(keras, vae_times)])
    vae_lstm = models.VAE_LSTM(configs, vae=vae, lstm=models.LSTMModule(configs), std=1.0, mean=0.0)
    vae_lstm.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule(s["learning_rate_lstm"])),
                     loss=keras.losses.MeanSquaredError(), run_eagerly=False)
    vae_lstm(tf.random.normal([1, s["l_seq"], s["l_win"], s["n_channel"]]))
    vae_lstm.fit(dataset(sequences, s["batch_size_lstm"]), epochs=args.epochs,
                 steps_per_epoch=len(sequences) // s["batch_size_lstm"], verbose=0,
                 callbacks=[step_timer(keras, lstm_times)])
    training_peak = peak_rss_mb()
    test_sequences = [windows_of(p, span) for p in pieces]
    score_port(vae_lstm, utils, test_sequences, configs)  # warm-up
    rates = []
    for _ in range(args.score_repeats):
        started = time.perf_counter()
        n = score_port(vae_lstm, utils, test_sequences, configs)
        rates.append(n / (time.perf_counter() - started))
    encoder = graph_multiply_adds(lambda w: vae.encoder(w), tf.TensorSpec((1, s["l_win"], s["n_channel"])))
    decoder = graph_multiply_adds(lambda z: vae.decoder(z), tf.TensorSpec((1, s["code_size"])))
    module = vae_lstm.lstm
    lstm_macs = lstm_multiply_adds([module.lstm_1, module.lstm_2, module.lstm_output], s["l_seq"] - 1)
    import keras as keras_3
    import tensorflow_probability as tfp

    keras_version = keras_3.__version__
    return side_figures(
        vae_times, lstm_times, rates, training_peak,
        f"TensorFlow {tf.__version__}, Keras {keras_version}, TFP {tfp.__version__}, {threads_used(tf)}",
        {"vae_per_window": encoder + decoder, "vae_per_window_from_graph": encoder + decoder,
         "lstm_per_sequence": lstm_macs,
         # its predict: every window of a sequence encoded, the decoder over the l_seq - 1 predicted codes
         # and over the l_seq codes of the windows themselves
         "scoring_per_sequence": s["l_seq"] * encoder + lstm_macs + (2 * s["l_seq"] - 1) * decoder})


def score_port(vae_lstm, utils, test_sequences: list, configs: dict) -> int:
    """Score the test pieces' sequences as the port's main.py does (batches of 2,048 sequences through
    ``VAE_LSTM.predict``, then ``utils.post_process``); returns the sequences scored, not the scores: post_process
    reshapes the windows as if of one channel, so for a config of several it gives n_channel scores per sequence."""
    n = 0
    for features in test_sequences:
        for start in range(0, len(features), PORT_SCORE_BATCH):
            batch = features[start:start + PORT_SCORE_BATCH]
            _, _, predicted, predicted_vae, original = vae_lstm.predict(batch, batch_size=len(batch), verbose=0)
            utils.post_process(vae_lstm.mean, vae_lstm.std, predicted, predicted_vae, original, configs=configs)
            n += len(batch)
    return n


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.setup:
        setup(Path(args.port_venv))
        return 0
    if args.worker:
        result = worker_ours(args) if args.worker == "ours" else worker_port(args)
        print(RESULT + json.dumps(result), flush=True)
        return 0
    sys.path.insert(0, str(REPO / "codes"))
    from vae_lstm.errors import run_cli  # Ctrl-C and SIGTERM: one line, and the round's worker stopped

    return run_cli(lambda _: orchestrate(args), resume="no figures were written; run the same command again")


if __name__ == "__main__":
    sys.exit(main())
