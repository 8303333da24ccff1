"""The benchmark's counters and figures (multiply-adds from layer shapes, checked by hand; steady-state epochs;
the figures file), and the jit_compile (XLA) training lever: same losses, checkpoints load either way."""

import csv
import json
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from keras import layers

from vae_lstm import benchmark
from vae_lstm.benchmark import model_costs, multiply_adds, scoring_multiply_adds, stage_figures
from vae_lstm.config import from_dict, load_config
from vae_lstm.data_loader import load_series
from vae_lstm.detectors import get_detector
from vae_lstm.detectors.vae_lstm import LSTMModel
from vae_lstm.errors import UserError
from vae_lstm.models import lstm_from_config, vae_from_config

# ---- multiply-adds, worked out by hand ----


def test_multiply_adds_of_a_tiny_model_by_hand():
    x_in = keras.Input((10, 2))
    x = layers.Conv1D(4, 3, strides=2, padding="same")(x_in)  # 5 positions x 4 filters x (3 x 2) = 120
    x = layers.LeakyReLU()(x)  # no weights: 0
    x = layers.LSTM(3, return_sequences=True)(x)  # 5 steps x (4 x 12 + 3 x 12) = 420
    x = layers.TimeDistributed(layers.Dense(2))(x)  # 5 steps x 3 x 2 = 30
    x = layers.Dense(5)(x)  # on (5, 2): 5 positions x 2 x 5 = 50
    x = layers.Flatten()(x)
    out = layers.Dense(1)(x)  # 25 x 1 = 25
    model = keras.Model(x_in, out)
    assert multiply_adds(model) == 120 + 420 + 30 + 50 + 25

    inner = keras.Sequential([keras.Input((25,)), layers.Dense(4)])  # 100
    outer = keras.Model(x_in, inner(x))  # the same layers up to Flatten, then a nested model
    assert multiply_adds(outer) == 120 + 420 + 30 + 50 + 100


def test_multiply_adds_of_channels_first_convolutions_count_their_output_positions():
    x_in = keras.Input((2, 10))  # 2 channels of 10 steps
    x = layers.Conv1D(4, 3, data_format="channels_first")(x_in)  # (4, 8): 8 positions x 4 filters x (3 x 2) = 192
    assert multiply_adds(keras.Model(x_in, x)) == 192

    image = keras.Input((2, 6, 5))
    y = layers.Conv2D(4, 3, padding="same", data_format="channels_first")(image)  # 6 x 5 positions x 4 x (3 x 3 x 2)
    assert multiply_adds(keras.Model(image, y)) == 30 * 72
    image_last = keras.Input((6, 5, 2))  # the same layer, channels last
    assert multiply_adds(keras.Model(image_last, layers.Conv2D(4, 3, padding="same")(image_last))) == 30 * 72


def test_multiply_adds_of_a_subclassed_model_sum_its_parts():
    class Pair(keras.Model):
        def __init__(self):
            super().__init__()
            self.first = keras.Sequential([keras.Input((3,)), layers.Dense(4)])  # 12
            self.second = keras.Sequential([keras.Input((4,)), layers.Dense(2)])  # 8

        def call(self, x):
            return self.second(self.first(x))

    assert multiply_adds(Pair()) == 20


def test_multiply_adds_refuses_a_layer_it_does_not_know():
    x_in = keras.Input((4,))
    model = keras.Model(x_in, layers.BatchNormalization()(x_in))
    with pytest.raises(ValueError, match="not counted"):
        multiply_adds(model)


def test_vae_and_lstm_multiply_adds_at_the_common_config():
    """l_win 24, code 6, 512 units: the encoder halves 24 twice (conv 64 then 128 filters), spans 6 steps with
    512 filters, then 24 and 2 x 6 units; the decoder seeds 6 steps x 64 channels (the default's cap),
    convolves 64 -> 64 at 6 steps and 64 -> 32 at 12, smooths 32 -> 16 at 24. The official VAE (the TF2
    port's) counts 1,036,448 per window."""
    c = load_config("benchmark_common_config.json")
    costs = model_costs(vae_from_config(c), lstm_from_config(c), c.l_seq)
    encoder = 12 * 64 * 3 * 1 + 6 * 128 * 3 * 64 + 1 * 512 * 6 * 128 + 512 * 24 + 2 * 24 * 6
    decoder = 6 * 512 + 512 * 6 * 64 + 6 * 64 * 3 * 64 + 12 * 32 * 3 * 64 + 24 * 16 * 3 * 32 + 24 * 1 * 5 * 16
    assert (costs["vae_encoder_per_window"], costs["vae_decoder_per_window"]) == (encoder, decoder)
    assert costs["vae_per_window"] == 941_472 < 1_036_448
    step = 4 * 64 * (6 + 64) + 4 * 64 * (64 + 64) + 4 * 6 * (64 + 6)
    assert costs["lstm_per_sequence"] == 11 * step == 576_048
    assert costs["lstm_per_window"] == step
    assert costs["vae_per_sequence"] == 12 * costs["vae_per_window"]
    assert scoring_multiply_adds(costs, 100, 50, 12) == 100 * encoder + 50 * 11 * step + 50 * 11 * decoder


def test_the_earlier_wider_decoder_is_still_a_config_away(tmp_path):
    """vae_decoder_channels 128 at the common config gives back the earlier default's 1.62M per window
    (seed 6 x 128, convolutions 128 -> 128 at 6 steps, 128 -> 64 at 12, smoothing 64 -> 16 at 24), and
    the saved model keeps its channels."""
    c = load_config("benchmark_common_config.json")
    assert c.vae_decoder_channels is None and "decoder_channels" not in vae_from_config(c).get_config()
    vae = vae_from_config(c.replace(vae_decoder_channels=128))
    decoder = (6 * 512 + 512 * 6 * 128 + 6 * 128 * 3 * 128 + 12 * 64 * 3 * 128 + 24 * 16 * 3 * 64
               + 24 * 1 * 5 * 16)
    assert multiply_adds(vae.decoder) == decoder
    assert multiply_adds(vae) == 555_552 + decoder == 1_617_312
    vae.save(tmp_path / "vae.keras")
    again = keras.saving.load_model(tmp_path / "vae.keras")
    assert again.decoder_channels == 128 and multiply_adds(again) == 1_617_312


def test_matmul_gflops_is_a_rate():
    assert benchmark.matmul_gflops(n=64, repeats=2) > 0


def test_the_peak_memory_after_scoring_is_the_process_peak_even_when_scoring_peaks_lower():
    """Scoring measures its own peak from a reset high-water mark (VmHWM): when the resident set fell after
    training (1,010 MB at its peak, 700 MB when scoring starts, 800 MB at scoring's peak), the process's peak
    after scoring is still 1,010 MB, not 800 MB below the 1,000 MB after training; scoring added 100 MB."""
    f = benchmark.memory_figures(training_peak=1000.4, peak_before_scoring=1010.2, rss_before_scoring=700.0,
                                 scoring_peak=800.3, peak_was_reset=True)
    assert f == {"peak_memory_mb_training": 1000, "peak_memory_mb_scoring": 1010, "scoring_added_memory_mb": 100}
    higher = benchmark.memory_figures(1000.4, 1010.2, 1009.0, 1056.0, peak_was_reset=True)
    assert higher == {"peak_memory_mb_training": 1000, "peak_memory_mb_scoring": 1056, "scoring_added_memory_mb": 47}
    # no reset (no /proc/self/clear_refs): the high-water mark after scoring is the process's own; nothing added
    unreset = benchmark.memory_figures(1000.4, 1010.2, None, 1056.0, peak_was_reset=False)
    assert unreset == {"peak_memory_mb_training": 1000, "peak_memory_mb_scoring": 1056, "scoring_added_memory_mb": None}


def test_the_table_says_when_what_scoring_added_was_not_measured():
    """Without a reset high-water mark (no /proc/self/clear_refs, as on macOS) what scoring added is not measured
    (None): the table said "scoring added None MB to the resident set it started from"."""
    unreset = {**sample_figures("a.json"), **benchmark.memory_figures(1000.4, 1010.2, None, 1056.0, False)}
    md = benchmark.benchmark_markdown({"a.json": unreset})
    assert "None" not in md
    assert ("| 1000 / 1056 (what scoring alone added is not measured here: its high-water mark could not be "
            "reset) |") in md
    measured = benchmark.benchmark_markdown({"a.json": sample_figures("a.json")})
    assert "| 900 / 950 (scoring added 50 MB to the resident set it started from) |" in measured


def test_the_config_row_names_the_series_channels_and_reads_figures_measured_without_them():
    """benchmark.json gave the config's sizes (l_win, l_seq, code_size, ...) but not the series' channel count, which
    sets the VAE's input and output width. It does now; figures measured before (figures/benchmark.json) still read."""
    md = benchmark.benchmark_markdown({"a.json": {**sample_figures("a.json"), "n_channel": 8}})
    assert "| config | d, 8 channels, l_win 24, l_seq 12, code 6," in md
    assert "| config | d, l_win 24, l_seq 12, code 6," in benchmark.benchmark_markdown({"a.json": sample_figures("a.json")})
    committed = json.loads((Path(benchmark.REPO_ROOT) / "figures" / "benchmark.json").read_text())["configs"]
    rows = [row for row in benchmark.benchmark_markdown(committed).splitlines() if row.startswith("| config |")]
    assert len(rows) == len(committed) and not any("channels" in row for row in rows)


@pytest.mark.parametrize("platform, maxrss", [("linux", 3 * 1024**2), ("darwin", 3 * 1024**3)])
def test_peak_memory_without_proc_reads_getrusage_in_the_platforms_unit(monkeypatch, platform, maxrss):
    """Without /proc, the peak is getrusage's ru_maxrss: KB on Linux, bytes on macOS; 3 GB is 3,072 MB on both
    (macOS's was divided by 1,024 only: 3,145,728 'MB'), for the process and for end_to_end's children."""
    import resource
    import types

    monkeypatch.setattr(benchmark, "_status_mb", lambda field: None)
    monkeypatch.setattr(benchmark.sys, "platform", platform)
    monkeypatch.setattr(resource, "getrusage", lambda who: types.SimpleNamespace(ru_maxrss=maxrss))
    assert benchmark.peak_rss_mb() == 3072
    assert benchmark.maxrss_mb(resource.RUSAGE_CHILDREN) == 3072


# ---- steady-state figures and the figures file ----


def test_stage_figures_leave_out_the_first_epoch():
    epochs = [{"steps": 9.0, "epoch": 10.0, "n_steps": 100},  # traced
              {"steps": 0.5, "epoch": 0.7, "n_steps": 100}, {"steps": 0.4, "epoch": 0.6, "n_steps": 100},
              {"steps": 0.6, "epoch": 0.9, "n_steps": 100}]
    f = stage_figures(epochs, [0.3, 0.05, 0.07, 0.06], batch=10, per_sample_macs=1_000_000, gflops=100.0)
    assert (f["ms_per_step_min"], f["ms_per_step_median"]) == (4.0, 5.0)
    assert (f["s_per_epoch_min"], f["s_per_epoch_median"]) == (0.6, 0.7)
    assert f["first_epoch_s"] == 10.0 and f["epochs_timed"] == 3 and f["steps_per_epoch"] == 100
    assert f["checkpoint_s_median"] == 0.06
    # a step: 3 x 2 x 1e6 x 10 = 6e7 FLOP at 1e11 FLOP/s = 0.6 ms, against 4 ms
    assert f["flop_bound_ms_per_step"] == 0.6 and f["flop_bound_reached_percent"] == 15.0


def test_stage_figures_of_a_tiny_model_show_their_flop_bound_not_zero():
    """A tiny config's FLOP bound (6e-7 ms a step) was rounded to 0.0 ms and "0.0% reached": figures too small for
    their decimals keep two significant digits."""
    epochs = [{"steps": 9.0, "epoch": 10.0, "n_steps": 100}, {"steps": 0.4, "epoch": 0.6, "n_steps": 100}]
    f = stage_figures(epochs, [0.3, 0.0003], batch=1, per_sample_macs=10, gflops=100.0)
    # a step: 3 x 2 x 10 x 1 = 60 FLOP at 1e11 FLOP/s = 6e-7 ms, against 4 ms; a checkpoint of 0.0003 s, 0.05% of 0.6 s
    assert (f["flop_bound_ms_per_step"], f["flop_bound_reached_percent"]) == (6e-7, 1.5e-5)
    assert (f["checkpoint_s_median"], f["checkpoint_share_of_epoch_percent"]) == (0.0003, 0.05)
    assert benchmark.shown(0.0, 1) == 0.0 and benchmark.shown(15.64, 1) == 15.6 and benchmark.shown(0.0468, 1) == 0.047


def test_epoch_phases_time_the_steps_before_the_validation():
    record = {}
    model = keras.Sequential([keras.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((50, 3), "float32")
    model.fit(x, x[:, :1], validation_data=(x, x[:, :1]), batch_size=16, epochs=3, verbose=0,
              callbacks=[benchmark.epoch_phases_callback("s", record)])
    assert len(record["s"]) == 3
    for epoch in record["s"]:
        assert 0 < epoch["steps"] <= epoch["epoch"] and epoch["n_steps"] == 4


def test_figures_file_keeps_one_entry_per_config(tmp_path, capsys):
    (tmp_path / "benchmark.json").write_text(json.dumps({"configs": {"old.json": {"version": 1}}}))
    first = sample_figures("a.json")
    benchmark.write_benchmark(first, tmp_path)
    # another config's figures of an older format are dropped, and said so (they went without a word)
    assert f"dropping the figures of old.json from {tmp_path / 'benchmark.json'}" in capsys.readouterr().out
    benchmark.write_benchmark(sample_figures("b.json"), tmp_path)
    benchmark.write_benchmark(sample_figures("a.json", seconds=0.5), tmp_path)
    saved = json.loads((tmp_path / "benchmark.json").read_text())["configs"]
    assert sorted(saved) == ["a.json", "b.json"]  # the old format is dropped
    assert saved["a.json"]["scoring"]["seconds_min"] == 0.5
    md = (tmp_path / "benchmark.md").read_text()
    assert "## a.json" in md and "## b.json" in md and "sequences/s x l_seq" in md


def test_end_to_end_figures_keep_one_entry_per_config_and_take_in_the_single_config_file(tmp_path, capsys):
    def figures(config, total):
        return {"config": config, "measured_at": "now", "train_seconds": total - 1, "detect_seconds": 1.0,
                "total_seconds": total}
    flat = {**figures("configs/NAB_config.json", 134.3), "measured_at": None}
    (tmp_path / "benchmark_end_to_end.json").write_text(json.dumps(flat))  # the format of one config
    benchmark.write_end_to_end(figures("configs/NAB_ambient_temp_config.json", 40.0), tmp_path)
    benchmark.write_end_to_end(figures("configs/NAB_ambient_temp_config.json", 41.0), tmp_path)
    assert "replacing the figures of configs/NAB_ambient_temp_config.json" in capsys.readouterr().out
    saved = json.loads((tmp_path / "benchmark_end_to_end.json").read_text())["configs"]
    assert saved["configs/NAB_config.json"]["total_seconds"] == 134.3  # another config's figures are kept
    assert saved["configs/NAB_ambient_temp_config.json"]["total_seconds"] == 41.0
    md = (tmp_path / "benchmark_end_to_end.md").read_text()
    assert "## configs/NAB_config.json" in md and "| total_seconds | 41.0 |" in md


def test_a_damaged_figures_file_is_one_line_and_kept(tmp_path, capsys):
    benchmark.write_benchmark(sample_figures("a.json"), tmp_path)
    benchmark.write_benchmark(sample_figures("a.json", seconds=0.5), tmp_path)
    assert "replacing the figures of a.json measured at now" in capsys.readouterr().out
    damaged = (tmp_path / "benchmark.json").read_text()[:-20]
    (tmp_path / "benchmark.json").write_text(damaged)
    with pytest.raises(UserError, match="benchmark.json is damaged"):
        benchmark.write_benchmark(sample_figures("b.json"), tmp_path)
    assert (tmp_path / "benchmark.json").read_text() == damaged  # not emptied


def test_a_damaged_figures_file_names_the_place_as_every_damaged_json_file_does(tmp_path):
    """json's own text ("Expecting value: line 1 column 9 (char 8)") named the place twice, unlike every other
    damaged JSON file's line ("Expecting value at line 1, column 9")."""
    (tmp_path / "benchmark_end_to_end.json").write_text('{"a": 1,')
    with pytest.raises(UserError) as info:
        benchmark.write_end_to_end({"config": "a.json", "total_seconds": 1.0}, tmp_path)
    assert str(info.value) == (f"{tmp_path / 'benchmark_end_to_end.json'} is damaged (Expecting property name "
                               "enclosed in double quotes at line 1, column 9); move it away, and the figures "
                               "measured now start a new one")


def test_figures_are_keyed_by_file_name_in_configs_and_by_path_elsewhere(tmp_path):
    from vae_lstm.config import load_config

    assert benchmark.config_key(load_config("NAB_config.json")) == "NAB_config.json"
    own = tmp_path / "NAB_config.json"
    own.write_text(json.dumps(TINY))
    assert benchmark.config_key(load_config(own)) == str(own.resolve())


@pytest.mark.parametrize("flag", ["--loop-sequences", "--score-batch-size", "--repeats"])
def test_counts_below_one_are_one_line(flag):
    with pytest.raises(UserError, match=f"{flag} must be at least 1"):
        benchmark.parse_args([flag, "0"])


def test_repeats_above_a_thousand_are_one_line():
    """--repeats 1000000 (a count mistyped) was taken: the benchmark trained, then scored the test set for days."""
    with pytest.raises(UserError, match="--repeats must be at most 1000, got 1000000"):
        benchmark.parse_args(["--repeats", "1000000"])
    assert benchmark.parse_args(["--repeats", "1000"]).repeats == 1000


@pytest.mark.parametrize("flag, value, key", [("--epochs", "100001", "num_epochs_vae"),
                                              ("--score-batch-size", "2000000", "score_batch_size"),
                                              ("--steps-per-execution", "5000", "steps_per_execution")])
def test_counts_above_the_config_keys_maximum_name_the_flag(flag, value, key):
    """A flag above its config key's maximum was refused after the data loaded, as the config file's own mistake
    ("NAB_config.json: key 'score_batch_size' = 2000000 is invalid"), though the file never set it."""
    with pytest.raises(UserError, match=f"{flag} must be at most .*{key}.*got {value}"):
        benchmark.parse_args([flag, value])


def test_the_per_sequence_loop_is_timed_after_an_untimed_first_call(monkeypatch):
    """The batched scoring is timed after a first, cold run; the per-sequence loop was timed from its first model
    calls, whose one-off cost went into its seconds per sequence and the batched-against-per-sequence ratio."""
    from vae_lstm import scoring

    calls = []

    def loop(vae, lstm, series, l_win, l_seq):
        calls.append(len(series))
        time.sleep(0.3 if len(calls) == 1 else 0.001)  # the first call's one-off cost
        return np.arange(len(series) - l_win * l_seq + 1, dtype=float)

    monkeypatch.setattr(scoring, "score_series_per_sequence", loop)
    scores, seconds = benchmark.per_sequence_loop(None, None, np.zeros((200, 1)), 4, 3, 10)
    assert calls == [12, 21] and list(scores) == list(range(10))  # one sequence untimed, then the 10 timed
    assert seconds < 0.02


def sample_figures(name, seconds=1.0):
    stage = {"steps_per_epoch": 10, "epochs_timed": 3, "ms_per_step_min": 1.0, "ms_per_step_median": 1.1,
             "s_per_epoch_min": 0.1, "s_per_epoch_median": 0.2, "first_epoch_s": 1.0, "checkpoint_s_median": 0.01,
             "checkpoint_share_of_epoch_percent": 5.0, "flop_bound_ms_per_step": 0.1, "flop_bound_reached_percent": 10}
    return {
        "version": benchmark.FIGURES_VERSION, "measured_at": "now", "machine": "m", "tensorflow": "t", "keras": "k",
        "matmul_gflops": 100.0, "config": name, "dataset": "d", "l_win": 24, "l_seq": 12, "code_size": 6,
        "num_hidden_units": 512, "num_hidden_units_lstm": 64, "batch_size": 32, "batch_size_lstm": 32,
        "jit_compile": False, "score_batch_size": 1024,
        "multiply_adds": {"vae_encoder_per_window": 1, "vae_decoder_per_window": 2, "vae_per_window": 3,
                          "vae_per_sequence": 36, "lstm_per_sequence": 11, "lstm_per_window": 1},
        "training": {"vae": stage, "lstm": stage}, "training_seconds": 1.0,
        "peak_memory_mb_training": 900, "peak_memory_mb_scoring": 950, "scoring_added_memory_mb": 50,
        "scoring": {"test_pieces": 2, "test_sequences": 100, "test_windows_distinct": 110, "windows_spanned": 1200, "windows_predicted": 1100,
                    "seconds_min": seconds, "seconds_median": seconds, "repeats": 1, "first_seconds": 2.0,
                    "sequences_per_second_best": 100, "sequences_per_second_median": 100,
                    "windows_per_second_best": 1200, "windows_per_second_median": 1200, "gflop": 1.0,
                    "flop_bound_seconds": 0.5, "flop_bound_reached_percent_best": 50.0,
                    "flop_bound_reached_percent_median": 50.0},
        "per_sequence_loop": {"sequences_timed": 10, "seconds_per_sequence": 0.01,
                              "whole_test_set_seconds_estimated": 1.0, "batched_speedup_best": 1.0},
    }


@pytest.mark.slow
def test_benchmark_runs_end_to_end_on_the_synthetic_series(tmp_path):
    assert benchmark.main(["--config", "synthetic_config.json", "--epochs", "2", "--repeats", "1",
                           "--loop-sequences", "5", "--output-dir", str(tmp_path)]) == 0
    f = json.loads((tmp_path / "benchmark.json").read_text())["configs"]["synthetic_config.json"]
    assert f["training"]["vae"]["epochs_timed"] == 1 and f["training"]["lstm"]["ms_per_step_min"] > 0
    s = f["scoring"]
    assert s["windows_per_second_best"] == pytest.approx(s["sequences_per_second_best"] * f["l_seq"], rel=1e-3)
    assert 0 < s["flop_bound_reached_percent_best"] < 100
    assert f["peak_memory_mb_training"] > 0 and f["multiply_adds"]["vae_per_window"] > 0
    assert f["n_channel"] == 1


def test_a_config_that_skips_a_stage_still_has_both_stages_trained_and_timed(tmp_path):
    """TRAIN_VAE / TRAIN_LSTM 0 mean 'already trained in the run folder'; the benchmark's run folder is a new,
    empty one, so it trains both (before, it stopped after training the VAE: 'no trained lstm in /tmp/...')."""
    skipping = from_dict({**TINY, "TRAIN_VAE": 0, "TRAIN_LSTM": 0, "batch_size": 64, "batch_size_lstm": 64})
    run, epochs, saves = benchmark.time_training(benchmark.training_config(skipping, 2, tmp_path),
                                                 load_series("synthetic").train[:400])
    assert [len(epochs[stage]) for stage in ("vae", "lstm")] == [2, 2]
    assert [len(saves[stage]) for stage in ("vae", "lstm")] == [2, 2]
    assert (run / "vae.keras").is_file() and (run / "lstm.keras").is_file()


def test_the_benchmark_trains_every_epoch_asked_even_where_the_config_stops_early(tmp_path):
    """--epochs is the epochs each stage trains and times; a config's early stopping (patience 1) would end a
    stage whose validation loss does not improve (an LSTM that a learning rate of 1e-30 leaves as it is) after
    2 of 3 epochs, so the figures would be over fewer epochs than asked."""
    stopping = from_dict({**TINY, "early_stopping_patience": 1, "learning_rate_lstm": 1e-30, "batch_size": 64,
                          "batch_size_lstm": 64})
    _, epochs, _ = benchmark.time_training(benchmark.training_config(stopping, 3, tmp_path),
                                           load_series("synthetic").train[:400])
    assert [len(epochs[stage]) for stage in ("vae", "lstm")] == [3, 3]


# ---- jit_compile (XLA) ----

TINY = {"exp_name": "tiny", "dataset": "synthetic", "l_win": 16, "l_seq": 3, "n_channel": 1, "code_size": 2,
        "num_hidden_units": 16, "num_hidden_units_lstm": 8, "batch_size": 256, "batch_size_lstm": 256,
        "num_epochs_vae": 2, "num_epochs_lstm": 2, "seed": 0}
PORT_TINY = {**TINY, "l_win": 20, "num_hidden_units": 448}  # windows the port's decoder builds: 448 / 16 - 8 = 20


def test_jit_compile_is_off_by_default():
    assert from_dict({}).jit_compile is False


@pytest.mark.slow
def test_lstm_trains_to_the_same_losses_with_xla():
    """No sampling in the LSTM's step: XLA changes only the rounding."""
    codes = np.random.default_rng(0).standard_normal((256, 3, 2)).astype("float32")
    losses = {}
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = LSTMModel(from_dict({**TINY, "jit_compile": jit}), "unused").build_compiled(4)
        assert model.jit_compile is jit
        history = model.fit(codes[:, :-1], codes[:, 1:], batch_size=64, epochs=3, shuffle=False, verbose=0)
        losses[jit] = history.history["loss"]
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)


def log_losses(path):
    with open(path, newline="") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


@pytest.mark.slow
def test_vae_lstm_trains_with_xla_and_checkpoints_resume_under_either_setting(tmp_path):
    """XLA draws the VAE's reparameterisation noise with another generator, so its losses are close, not equal.
    A VAE checkpointed under XLA resumes without it, and an LSTM checkpointed without XLA resumes under it."""
    from vae_lstm.detectors.vae_lstm import LSTMTrainer

    class VAEDone(Exception):
        pass

    def stop(self):
        raise VAEDone

    train = load_series("synthetic").train
    plain, run = tmp_path / "plain", tmp_path / "run"
    plain.mkdir(), run.mkdir()
    keras.utils.set_random_seed(0)
    with pytest.MonkeyPatch.context() as mp, pytest.raises(VAEDone):  # the reference: the VAE's log, not its LSTM
        mp.setattr(LSTMTrainer, "train", stop)
        get_detector(from_dict(TINY)).fit(train, plain)
    keras.utils.set_random_seed(0)
    get_detector(from_dict({**TINY, "jit_compile": True, "num_epochs_vae": 1, "num_epochs_lstm": 1})).fit(train, run)
    # the VAE resumes its XLA checkpoint without XLA (then the LSTM trains afresh on the new codes, 1 epoch)
    get_detector(from_dict({**TINY, "num_epochs_lstm": 1})).fit(train, run)
    # the LSTM resumes its plain checkpoint under XLA for its 2nd epoch; the VAE has nothing left to train
    resumed = get_detector(from_dict({**TINY, "jit_compile": True}))
    resumed.fit(train, run)
    assert json.loads((run / "state.json").read_text())["lstm"] == 2
    np.testing.assert_allclose(log_losses(run / "vae_log.csv"), log_losses(plain / "vae_log.csv"), rtol=0.05)
    lstm = log_losses(run / "lstm_log.csv")
    assert len(lstm) == 2 and np.isfinite(lstm).all()
    # fit leaves calibration to the first score, on the series it trained on: the same scales as calibrate's
    assert resumed.term_scales is None
    assert np.isfinite(resumed.score(train[:200]).native).all()
    loaded = get_detector(from_dict({**TINY, "jit_compile": True}))
    loaded.load(run)
    loaded.calibrate(train)
    np.testing.assert_allclose(resumed.term_scales, loaded.term_scales, rtol=1e-6)


# ---- steps_per_execution ----


def test_steps_per_execution_trains_the_same_weights(tmp_path):
    """Several batches per call of the train step: the same batches, the same noise, the same weights.
    300 windows at batch 64 make 5 steps an epoch, so a call of 4 steps ends short every epoch."""
    train = load_series("synthetic").train[:400]
    tiny = {**TINY, "batch_size": 64, "batch_size_lstm": 64}
    weights = {}
    for steps in (1, 4):
        run = tmp_path / f"steps{steps}"
        run.mkdir()
        keras.utils.set_random_seed(0)
        det = get_detector(from_dict({**tiny, "steps_per_execution": steps}))
        det.fit(train, run)
        assert det.vae.steps_per_execution == steps
        weights[steps] = det.vae.get_weights() + det.lstm.get_weights()
        assert log_losses(run / "vae_log.csv")
    for a, b in zip(weights[1], weights[4], strict=True):
        np.testing.assert_array_equal(a, b)



# ---- full batches through a graph of static shapes ----


def test_static_batches_train_bit_identical_weights_and_trace_full_batches_with_their_shape():
    """150 pairs at batch 32: four full batches an epoch and one of 22 rows. The full ones go through a step
    traced for exactly 32 rows, the last through the step of any row count; the weights after 3 epochs are those
    of Keras's own step to the bit."""
    from vae_lstm.training import use_static_batches

    traced = []

    class Spy(keras.Model):  # a functional model whose train step notes the row count it is traced with
        def train_step(self, data):
            traced.append(data[0].shape[0])
            return super().train_step(data)

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((150, 5, 3)).astype("float32"), rng.standard_normal((150, 5, 2)).astype("float32")
    weights = {}
    for static in (False, True):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((5, 3))
        model = Spy(inputs, layers.LSTM(2, return_sequences=True, unroll=True)(layers.LSTM(8, return_sequences=True,
                                                                                           unroll=True)(inputs)))
        model.compile(optimizer="adam", loss="mse")
        model.steps_per_execution = 2
        traced.clear()
        if static:
            use_static_batches(model, 32)
            use_static_batches(model, 32)  # a second call wraps nothing twice
        model.fit(x, y, batch_size=32, epochs=3, shuffle=True, verbose=0)
        weights[static] = model.get_weights()
        # traced for 32 rows (the full batches) and for any row count (the last), or only the latter
        assert set(traced) == ({32, None} if static else {None})
    for a, b in zip(weights[False], weights[True], strict=True):
        np.testing.assert_array_equal(a, b)


def test_static_batches_take_a_missing_target_and_an_unknown_time_axis():
    """A generator of (x, y, None) with a time axis that varies between epochs' batches: Keras's step takes both,
    and so does the wrapped one, with the same weights."""
    from vae_lstm.training import use_static_batches

    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((8, steps, 3)).astype("float32"), rng.standard_normal((8, 2)).astype("float32"))
               for steps in (4, 6, 4, 5)] + [(rng.standard_normal((3, 4, 3)).astype("float32"),
                                               rng.standard_normal((3, 2)).astype("float32"))]
    weights = {}
    for static in (False, True):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((None, 3))
        model = keras.Model(inputs, layers.Dense(2)(layers.LSTM(4)(inputs)))
        model.compile(optimizer="adam", loss="mse")
        if static:
            use_static_batches(model, 8)
        for _ in range(2):
            model.fit(((x, y, None) for x, y in batches), steps_per_epoch=len(batches), epochs=1, shuffle=False,
                      verbose=0)
        weights[static] = model.get_weights()
    for a, b in zip(weights[False], weights[True], strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_lstm_models_use_static_batches_and_the_vae_and_xla_do_not(tmp_path):
    from vae_lstm.detectors.lstm_ae import LSTMAEModel
    from vae_lstm.detectors.vae_lstm import VAEModel

    config = from_dict({**TINY, "batch_size_lstm": 16})
    for cls in (LSTMModel, LSTMAEModel):
        assert getattr(cls(config, tmp_path).build_compiled(3), "_static_batch_size", None) == 16
    assert not hasattr(VAEModel(config, tmp_path).build_compiled(3), "_static_batch_size")
    xla = from_dict({**TINY, "batch_size_lstm": 16, "jit_compile": True})
    assert not hasattr(LSTMModel(xla, tmp_path).build_compiled(3), "_static_batch_size")


def test_a_built_model_traces_its_train_step_once_over_two_epochs(tmp_path):
    """Keras made the optimizer's moments while it traced the first train step, and TensorFlow then traced the
    whole step once more (a step that makes no variables): two traces of each stage's train step (seconds of a
    small run) where one does. A model from ``build_compiled`` has its optimizer built, and two epochs of 40 rows
    at batch 16 (two full batches and a last one of 8 an epoch) trace the VAE's train step once."""
    from vae_lstm.detectors.vae_lstm import VAEModel

    config = from_dict({**TINY, "batch_size": 16, "batch_size_lstm": 16, "steps_per_execution": 1})
    assert LSTMModel(config, tmp_path).build_compiled(3).optimizer.built
    model = VAEModel(config, tmp_path).build_compiled(3)
    assert model.optimizer.built
    traced, step = [], model.train_step

    def counted(data):  # Python: runs once per trace of the step
        traced.append(1)
        return step(data)

    model.train_step = counted
    windows = np.random.default_rng(0).standard_normal((40, config.l_win, 1)).astype("float32")
    model.fit(windows, batch_size=16, epochs=2, shuffle=True, verbose=0)
    assert len(traced) == 1


def test_only_a_shipped_config_at_the_default_settings_writes_the_committed_figures(tmp_path, capsys):
    from vae_lstm.config import REPO_ROOT

    shipped = load_config("NAB_config.json")
    assert benchmark.output_dir(benchmark.parse_args([]), shipped) == REPO_ROOT / "figures"
    private = REPO_ROOT / "experiments" / "benchmark"
    assert benchmark.output_dir(benchmark.parse_args(["--epochs", "2"]), shipped) == private
    own = tmp_path / "NAB_config.json"
    own.write_text(json.dumps(TINY))
    assert benchmark.output_dir(benchmark.parse_args([]), load_config(own)) == private
    assert "not to figures/" in capsys.readouterr().out
    assert benchmark.output_dir(benchmark.parse_args(["--output-dir", str(tmp_path)]), load_config(own)) == tmp_path


def test_the_port_harness_checks_its_flags_and_its_venv_in_one_line(tmp_path, capsys):
    import importlib.util

    from vae_lstm.config import REPO_ROOT

    spec = importlib.util.spec_from_file_location("compare_tf2_port", REPO_ROOT / "benchmarks" / "compare_tf2_port.py")
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    for flag in ("--rounds", "--score-repeats"):
        with pytest.raises(SystemExit) as e:
            harness.parse_args([flag, "0"])
        assert e.value.code == 2
        assert capsys.readouterr().err.count("\n") == 1  # one line, not the usage block too
    port = tmp_path / "port"
    port.mkdir()
    (port / "models.py").write_text("")
    (port / "utils.py").write_text("")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")  # a venv whose setup did not finish: no .ready mark
    with pytest.raises(SystemExit, match="^error: no ready venv for the port .*run with --setup first"):
        harness.orchestrate(harness.parse_args(["--port", str(port), "--port-venv", str(venv)]))
    harness.ready_mark(venv).write_text("")
    with pytest.raises(SystemExit, match="error: config file 'missing.json' not found"):
        harness.orchestrate(harness.parse_args(["--port", str(port), "--port-venv", str(venv),
                                                "--config", "missing.json"]))


def test_the_port_harness_checks_its_output_before_any_round(tmp_path, monkeypatch):
    """An --output that names a folder ended the rounds (minutes each) in an IsADirectoryError traceback, the
    figures lost; one ending in .md had its JSON overwritten by the table."""
    import importlib.util

    from vae_lstm.config import REPO_ROOT

    spec = importlib.util.spec_from_file_location("compare_tf2_port", REPO_ROOT / "benchmarks" / "compare_tf2_port.py")
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    flags = ready_port(tmp_path, harness)
    workers = []
    monkeypatch.setattr(harness, "run_worker", lambda side, args, data: workers.append(side))
    monkeypatch.setattr(harness, "prepare_data", lambda config, folder: workers.append("data"))
    (tmp_path / "taken").write_text("")
    for output, message in ((tmp_path, "is a folder"), (tmp_path / "table.md", "the .json"),
                            (tmp_path / "taken" / "out.json", "is a file, not a folder")):
        with pytest.raises(SystemExit, match=f"error: --output .*{message}"):
            harness.orchestrate(harness.parse_args([*flags, "--output", str(output)]))
    assert workers == []


def test_the_port_harness_counts_our_vae_from_its_graph_with_the_configs_channels():
    """Our worker traced the encoder on one channel whatever the config's n_channel: a config of several channels
    failed after both stages had trained and scored."""
    import importlib.util

    from vae_lstm.config import REPO_ROOT

    spec = importlib.util.spec_from_file_location("compare_tf2_port", REPO_ROOT / "benchmarks" / "compare_tf2_port.py")
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    for channels in (1, 3):
        c = load_config("benchmark_common_config.json").replace(n_channel=channels)
        vae = vae_from_config(c)
        assert harness.vae_graph_multiply_adds(vae, c.l_win, c.n_channel, c.code_size) == multiply_adds(vae)


def test_end_to_end_runs_a_copy_of_the_config_in_a_temporary_folder_and_a_failed_command_is_one_line(tmp_path,
                                                                                                     monkeypatch):
    """The copy sat beside the user's config, where a SIGKILL of the benchmark left it; and a failing train.py or
    detect.py ended in a CalledProcessError traceback."""
    import subprocess

    config = tmp_path / "mine.json"
    config.write_text(json.dumps({"dataset": "synthetic", "num_epochs_vae": 1, "num_epochs_lstm": 1}))
    seen, codes = [], iter([0, 2])

    def run(command, **kwargs):  # what a kill now would leave in the user's folder: nothing but the config
        assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.json"]
        assert kwargs["preexec_fn"] is benchmark.end_with_parent  # nor a child training on
        copy = Path(command[command.index("--config") + 1])
        seen.append((copy.parent == tmp_path, json.loads(copy.read_text())["dataset"]))
        return subprocess.CompletedProcess(command, next(codes))

    monkeypatch.setattr(subprocess, "run", run)
    with pytest.raises(UserError, match=r"--end-to-end: detect.py stopped \(exit 2\) on .*mine.json"):
        benchmark.end_to_end(str(config))
    assert seen == [(False, "synthetic")] * 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_of_end_to_end_dies_with_the_benchmark_even_by_sigkill(tmp_path):
    """A SIGKILL of benchmark.py --end-to-end left its train.py training on, alone."""
    import signal
    import subprocess

    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time; from vae_lstm.benchmark import end_with_parent; "
        "child = subprocess.Popen(['sleep', '60'], preexec_fn=end_with_parent); print(child.pid, flush=True); "
        "time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    for _ in range(50):  # the kernel signals the child as the parent dies; it is reaped by init
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{child}/stat").read_text().split(")")[1].split()[0] == "Z":
            break  # killed, not yet reaped
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its parent")


def test_the_end_to_end_copy_reads_the_files_its_config_reads_from_its_own_folder(tmp_path):
    """The copy lies in the temporary folder, so the dataset paths that the config's folder holds (read there first)
    are made absolute in it; those found elsewhere (the repository, the working folder), absolute ones and ${VAR} ones
    stay as they are."""
    from vae_lstm.csv_data import absolute_paths
    from vae_lstm.data_loader import load_config_series

    user, tmp = tmp_path / "configs", tmp_path / "tmp"
    (user / "data").mkdir(parents=True)
    tmp.mkdir()
    t = np.arange(1200)
    pd.DataFrame({"value": np.sin(2 * np.pi * t / 24) + (t >= 900) * (t < 910) * 5.0}).to_csv(
        user / "data" / "one.csv", index=False)
    (user / "data" / "labels.json").write_text(json.dumps([900]))
    dataset = {"path": "data/one.csv", "train_points": 600, "labels": {"timestamps": "./data/labels.json"}}
    config = user / "mine.json"
    config.write_text(json.dumps({"dataset": dataset, "detector": "abs_z", "l_win": 24, "l_seq": 3}))
    original = load_config(config)

    copy = benchmark.end_to_end_config(original, tmp)
    assert copy.parent == tmp and sorted(p.name for p in user.iterdir()) == ["data", "mine.json"]
    written = json.loads(copy.read_text())
    folder = user.resolve()
    assert written["output_dir"] == str(tmp)
    assert written["dataset"] == {"path": str(folder / "data/one.csv"), "train_points": 600,
                                  "labels": {"timestamps": str(folder / "data/labels.json")}}
    assert np.array_equal(load_config_series(load_config(copy)).normalised, load_config_series(original).normalised)

    elsewhere = {"path": "${DATA}/one.csv", "train_files": ["data/one.csv", "README.md"],
                 "test_files": [str(tmp_path / "x.csv")], "labels": {"column": "data/one.csv"}}
    assert absolute_paths(elsewhere, user) == {**elsewhere, "train_files": [str(folder / "data/one.csv"), "README.md"]}


@pytest.mark.parametrize("flag, value", [("--epochs", "2"), ("--repeats", "5"), ("--loop-sequences", "10"),
                                         ("--jit-compile", "on"), ("--steps-per-execution", "1"),
                                         ("--score-batch-size", "64")])
def test_end_to_end_refuses_the_flags_it_would_not_use(flag, value):
    """--end-to-end runs train.py and detect.py on the config as it is: --epochs 2 or --jit-compile on were
    silently ignored (it trained the config's own epochs, with its own jit_compile), and only sent the figures
    to experiments/benchmark/ as if measured at other settings."""
    with pytest.raises(UserError, match=f"--end-to-end .*{flag}"):
        benchmark.parse_args(["--end-to-end", flag, value])
    assert benchmark.parse_args(["--end-to-end"]).end_to_end
    defaults = benchmark.parse_args([])
    assert (defaults.epochs, defaults.repeats, defaults.loop_sequences) == (4, 5, 300)


def test_a_flag_below_one_is_named_before_any_data_is_read():
    with pytest.raises(UserError, match="--steps-per-execution must be at least 1"):
        benchmark.parse_args(["--steps-per-execution", "0"])


def test_the_end_to_end_copy_of_a_config_that_skips_a_stage_trains_both(tmp_path):
    """TRAIN_VAE / TRAIN_LSTM 0 mean 'already trained in the run folder'; the end-to-end copy runs in a new, empty
    temporary folder, so train.py stopped at once with 'no trained vae in /tmp/...' (as time_training did before
    training_config). A stage of 0 epochs has nothing to time: one line before any command runs."""
    config = from_dict({**TINY, "TRAIN_VAE": 0, "TRAIN_LSTM": 0})
    written = json.loads(benchmark.end_to_end_config(config, tmp_path).read_text())
    assert (written["TRAIN_VAE"], written["TRAIN_LSTM"]) == (1, 1)
    assert (written["num_epochs_vae"], written["num_epochs_lstm"]) == (2, 2)
    with pytest.raises(UserError, match="num_epochs_lstm is 0"):
        benchmark.end_to_end_config(from_dict({**TINY, "num_epochs_lstm": 0}), tmp_path)
    controls = from_dict({**TINY, "detector": "abs_z", "num_epochs_vae": 0, "TRAIN_VAE": 0})  # trains no model
    assert json.loads(benchmark.end_to_end_config(controls, tmp_path).read_text())["detector"] == "abs_z"


def test_a_config_of_another_detector_is_measured_as_the_vae_lstm_and_says_so(tmp_path, capsys, monkeypatch):
    """benchmark.py measures the VAE-LSTM only; a config of another detector was measured as one without a word, its
    figures filed under the config's name as if they were that detector's."""
    config = tmp_path / "ae.json"
    config.write_text(json.dumps({**TINY, "detector": "lstm_ae"}))

    def stop():
        raise RuntimeError("measuring")

    monkeypatch.setattr(benchmark, "matmul_gflops", stop)  # the first measurement: what is printed before it
    with pytest.raises(RuntimeError, match="measuring"):
        benchmark.main(["--config", str(config), "--output-dir", str(tmp_path)])
    assert (f"note: benchmark.py measures the VAE-LSTM at {config}'s keys; its detector 'lstm_ae' is not measured"
            in capsys.readouterr().out)


def test_machine_names_the_usable_cores_of_the_machines(monkeypatch):
    """The figures are per usable core: a container's share of a larger machine says so."""
    from vae_lstm import benchmark

    monkeypatch.setattr(benchmark.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(benchmark, "usable_cores", lambda: 2)
    assert benchmark.machine().startswith("2 usable CPU cores of 64 (")
    monkeypatch.setattr(benchmark, "usable_cores", lambda: 64)
    assert benchmark.machine().startswith("64 CPU cores (")


def port_harness():
    """benchmarks/compare_tf2_port.py as a module (it is a script, outside the package)."""
    import importlib.util

    from vae_lstm.config import REPO_ROOT

    spec = importlib.util.spec_from_file_location("compare_tf2_port", REPO_ROOT / "benchmarks" / "compare_tf2_port.py")
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    return harness


def test_the_port_harness_builds_our_models_at_the_windows_and_channels_the_data_gave(tmp_path, monkeypatch):
    """Our worker built its models from the config file as written: a config of "l_win": "auto" (or a null
    n_channel, the default) stopped in a TypeError traceback ('str' / 'int') after the data was prepared, though the
    prepared data, and the port's side, had the windows the training block gave."""
    from vae_lstm.detectors import vae_lstm as trainers

    harness = port_harness()
    config = tmp_path / "auto.json"
    config.write_text(json.dumps({**TINY, "l_win": "auto", "n_channel": None}))
    data, settings = harness.prepare_data(str(config), tmp_path)
    assert (settings["l_win"], settings["n_channel"]) == (48, 1)  # the synthetic series' period, its one channel
    built = []

    class Built(Exception):
        pass

    def vae_model(config, folder):
        built.append((config.l_win, config.l_seq, config.n_channel))
        raise Built

    monkeypatch.setattr(trainers, "VAEModel", vae_model)
    with pytest.raises(Built):
        harness.worker_ours(harness.parse_args(["--worker", "ours", "--data", str(data), "--config", str(config)]))
    assert built == [(48, 3, 1)]


def fake_side_figures(rate: float) -> dict:
    """What a harness worker reports, made up."""
    return {"vae_ms_per_step": [3.0], "lstm_ms_per_step": [2.0], "sequences_per_second": [rate],
            "peak_memory_mb_training": 900, "peak_memory_mb_scoring": 950, "versions": "v",
            "multiply_adds": {"vae_per_window": 10, "vae_per_window_from_graph": 10, "lstm_per_sequence": 5,
                              "scoring_per_sequence": 20}}


def ready_port(tmp_path, harness) -> list[str]:
    """A port folder with models.py and utils.py, and a venv marked ready: the harness's flags for them."""
    port, venv = tmp_path / "port", tmp_path / "venv"
    port.mkdir()
    (port / "models.py").write_text("")
    (port / "utils.py").write_text("")
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    harness.ready_mark(venv).write_text("")
    return ["--port", str(port), "--port-venv", str(venv)]


def test_the_port_harness_records_the_jit_compile_our_side_ran_with(tmp_path, monkeypatch):
    """--jit-compile on trained our side under XLA, but the figures' settings (and the data the workers read) kept
    the config's jit_compile, false: the .json said the figures were measured without XLA."""
    harness = port_harness()
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(PORT_TINY))
    seen = []

    def run_worker(side, args, data):
        seen.append(harness.load_data(data)[2]["jit_compile"])
        return fake_side_figures(100.0)

    monkeypatch.setattr(harness, "run_worker", run_worker)
    out = tmp_path / "out.json"
    assert harness.orchestrate(harness.parse_args([*ready_port(tmp_path, harness), "--config", str(config), "--rounds",
                                                   "1", "--jit-compile", "on", "--output", str(out)])) == 0
    assert json.loads(out.read_text())["settings"]["jit_compile"] is True
    assert seen == [True, True]


def test_the_port_harness_counts_the_sequences_the_port_scores_not_its_scores(tmp_path):
    """The port's post_process reshapes its windows as if of one channel, so for a config of 2 channels it gives 2
    scores per sequence: the harness counted the scores, and reported twice the port's sequences/s."""
    harness = port_harness()
    l_win, l_seq, channels = 4, 3, 2

    class PortModel:  # the port's VAE_LSTM.predict: predicted windows, the VAE's windows, the input
        mean, std = 0.0, 1.0

        def predict(self, batch, batch_size, verbose):
            n = len(batch)
            return (None, None, np.zeros((n * (l_seq - 1), l_win, channels)), np.zeros((n * l_seq, l_win, channels)),
                    batch)

    class PortUtils:  # the port's utils.post_process: its scores are rows of l_seq * l_win values
        @staticmethod
        def post_process(mean, std, predicted, predicted_vae, original, configs):
            rows = np.reshape(original, (-1, configs["l_seq"] * configs["l_win"]))
            return None, None, rows, rows.mean(axis=1), None

    pieces = [np.zeros((3000, l_win * l_seq, channels)), np.zeros((5, l_win * l_seq, channels))]
    assert harness.score_port(PortModel(), PortUtils, pieces, {"l_win": l_win, "l_seq": l_seq}) == 3005


def test_an_output_dir_starting_with_a_tilde_is_under_the_home_folder(tmp_path, monkeypatch, capsys):
    """--output-dir=~/bench (a form the shell leaves as it is) made a folder named '~' in the working folder, where
    reproduce.py's --output-dir=~/runs, and a config's output_dir, are the home folder's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    args = benchmark.parse_args(["--output-dir=~/bench"])
    out = benchmark.output_dir(args, load_config("synthetic_config.json"))
    assert out == tmp_path / "home" / "bench"
    benchmark.write_benchmark(sample_figures("synthetic_config.json"), out)
    assert (out / "benchmark.md").is_file() and not (tmp_path / "~").exists()


def test_the_port_harness_takes_a_tilde_as_the_home_folder(tmp_path, monkeypatch):
    """--port=~/tf2-port (a form the shell leaves as it is) was said to hold no models.py, and --output=~/c.json
    wrote into a folder named '~' in the working folder."""
    harness = port_harness()
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    ready_port(home, harness)
    monkeypatch.setattr(harness, "prepare_data", lambda config, folder, jit: (folder / "data.npz", {
        "dataset": "d", "l_win": 24, "l_seq": 12, "code_size": 6, "num_hidden_units": 512,
        "num_hidden_units_lstm": 64, "batch_size": 32}))
    monkeypatch.setattr(harness, "run_worker", lambda side, args, data: fake_side_figures(100.0))
    assert harness.orchestrate(harness.parse_args(["--port=~/port", "--port-venv=~/venv", "--rounds", "1",
                                                   "--output=~/c.json"])) == 0
    assert (home / "c.json").is_file() and (home / "c.md").is_file() and not (tmp_path / "~").exists()


def test_an_interrupted_port_comparison_is_one_line_and_its_worker_dies_with_it(tmp_path, monkeypatch, capsys):
    """Ctrl-C during the rounds ended in a KeyboardInterrupt traceback; a SIGTERM (or SIGKILL) of the harness left
    the worker of the round training on, alone, for minutes."""
    import subprocess

    harness = port_harness()
    flags = ready_port(tmp_path, harness)
    monkeypatch.setattr(harness, "prepare_data", lambda config, folder, jit: (folder / "data.npz",
                        {"l_win": 24, "num_hidden_units": 512, "config": "c.json"}))

    def interrupted(side, args, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(harness, "run_worker", interrupted)
    try:
        assert harness.main(flags) == 130
    except KeyboardInterrupt:
        pytest.fail("the interruption came out of main() as a KeyboardInterrupt (a traceback)")
    assert capsys.readouterr().err == "interrupted: no figures were written; run the same command again\n"

    started = []

    def run(command, **kwargs):
        started.append(kwargs.get("preexec_fn"))
        return subprocess.CompletedProcess(command, 0, stdout='RESULT {"a": 1}\n', stderr="")

    monkeypatch.setattr(subprocess, "run", run)
    assert port_harness().run_worker("ours", harness.parse_args(flags), tmp_path / "data.npz") == {"a": 1}
    assert started == [benchmark.end_with_parent]


def test_the_port_harness_checks_every_file_it_runs_before_any_round(tmp_path, monkeypatch):
    """The port's worker imports utils.py beside models.py, and runs the venv's bin/python: a port folder without
    utils.py, or a venv marked ready whose python is gone (its base Python removed), failed only when the port's
    first worker started, after our side's round."""
    harness = port_harness()
    flags = ready_port(tmp_path, harness)
    workers = []
    monkeypatch.setattr(harness, "run_worker", lambda side, args, data: workers.append(side))
    monkeypatch.setattr(harness, "prepare_data", lambda config, folder, jit: workers.append("data"))
    (tmp_path / "port" / "utils.py").unlink()
    with pytest.raises(SystemExit, match="^error: no utils.py in .*port; point --port at the TF2 port's folder"):
        harness.orchestrate(harness.parse_args(flags))
    (tmp_path / "port" / "utils.py").write_text("")
    (tmp_path / "venv" / "bin" / "python").unlink()
    with pytest.raises(SystemExit, match="^error: no ready venv for the port at .*venv; run with --setup first"):
        harness.orchestrate(harness.parse_args(flags))
    assert workers == []


@pytest.mark.parametrize("flag", ["--output", "--port", "--port-venv", "--config"])
def test_the_port_harness_refuses_an_empty_path_in_one_line(flag, capsys):
    """--output "$OUT" with OUT unset ran every round and wrote no figures, without a word; an empty --port was
    'no models.py in ; ...'. The project's commands refuse an empty option (an unset shell variable?)."""
    with pytest.raises(SystemExit) as e:
        port_harness().parse_args([flag, ""])
    assert e.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: argument {flag}: is empty (an unset shell variable?)")


def test_the_port_harness_says_when_it_replaces_earlier_figures(tmp_path, monkeypatch, capsys):
    """A second comparison to the same --output (make benchmark-compare writes figures/compare_tf2_port.json)
    replaced the earlier figures without a word."""
    harness = port_harness()
    flags = ready_port(tmp_path, harness)
    monkeypatch.setattr(harness, "prepare_data", lambda config, folder, jit: (folder / "data.npz", {
        "dataset": "d", "l_win": 24, "l_seq": 12, "code_size": 6, "num_hidden_units": 512,
        "num_hidden_units_lstm": 64, "batch_size": 32}))
    rates = iter([100.0, 50.0, 200.0, 50.0])
    monkeypatch.setattr(harness, "run_worker", lambda side, args, data: fake_side_figures(next(rates)))
    out = tmp_path / "figures" / "c.json"
    for _ in range(2):
        assert harness.orchestrate(harness.parse_args([*flags, "--rounds", "1", "--output", str(out)])) == 0
    printed = capsys.readouterr().out
    assert printed.count("replacing") == 1 and f"replacing the figures in {out} and {out.with_suffix('.md')}" in printed
    assert json.loads(out.read_text())["sides"]["ours"]["sequences_per_second"] == [200.0]
    # the committed comparisons are its own, and so is its table alone (the .json beside it removed): replaced
    from vae_lstm.config import REPO_ROOT

    for name in ("compare_tf2_port", "compare_tf2_port_one_thread_per_op"):
        for suffix in (".json", ".md"):
            out.with_suffix(suffix).write_text((REPO_ROOT / "figures" / f"{name}{suffix}").read_text())
        rates = iter([100.0, 50.0])
        assert harness.orchestrate(harness.parse_args([*flags, "--rounds", "1", "--output", str(out)])) == 0
        out.unlink()
        rates = iter([100.0, 50.0])
        assert harness.orchestrate(harness.parse_args([*flags, "--rounds", "1", "--output", str(out)])) == 0
        assert out.is_file() and out.with_suffix(".md").read_text().startswith("d: l_win 24, l_seq 12")


@pytest.mark.parametrize("end_to_end", [False, True])
def test_a_damaged_figures_file_is_one_line_before_anything_is_measured(tmp_path, monkeypatch, end_to_end):
    """A damaged benchmark.json (or benchmark_end_to_end.json) in --output-dir was found only when the figures were
    written, after minutes of measuring: the line said to move it away, and the figures just measured were lost."""
    name = "benchmark_end_to_end.json" if end_to_end else "benchmark.json"
    (tmp_path / name).write_text('{"configs": {')

    def measure(*args):
        raise RuntimeError("measuring")

    monkeypatch.setattr(benchmark, "end_to_end" if end_to_end else "matmul_gflops", measure)
    with pytest.raises(UserError, match=f"{name} is damaged"):
        benchmark.main(["--config", "synthetic_config.json", "--output-dir", str(tmp_path),
                        *(["--end-to-end"] if end_to_end else [])])


def test_the_port_harness_refuses_a_split_it_cannot_score_before_any_round(tmp_path, monkeypatch):
    """A test part shorter than one sequence left no piece to score: our worker trained both stages, then stopped in
    a ZeroDivisionError traceback (its multiply-adds per scored sequence), where benchmark.py says why in one line."""
    harness = port_harness()
    flags = ready_port(tmp_path, harness)
    t = np.arange(600)
    pd.DataFrame({"value": np.sin(2 * np.pi * t / 16)}).to_csv(tmp_path / "short.csv", index=False)
    config = tmp_path / "short.json"
    config.write_text(json.dumps({**TINY, "dataset": {"path": str(tmp_path / "short.csv"), "train_points": 560}}))
    workers = []
    monkeypatch.setattr(harness, "run_worker", lambda side, args, data: workers.append(side))
    with pytest.raises(SystemExit, match=r"error: no test piece of 'short' is as long as one sequence \(l_win \* l_seq "
                                         r"= 48 points; test pieces: 40\)"):
        harness.orchestrate(harness.parse_args([*flags, "--config", str(config)]))
    assert workers == []


def test_the_benchmark_trains_in_its_temporary_folder_whatever_the_configs_load_dir(tmp_path):
    """A config with load_dir (a resumed run's config.json records one) kept it in the benchmark's copies, whose
    output_dir alone was the temporary folder: the timed training went to <load_dir>_run2 beside the user's run and
    stayed there, --end-to-end's train.py and detect.py resumed and scored the user's run itself, and a load_dir
    holding files but no run stopped the benchmark with a line about that key."""
    from vae_lstm.config import run_dir

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    config = from_dict({**TINY, "load_dir": str(mine)})
    bench = tmp_path / "bench"
    bench.mkdir()
    assert run_dir(benchmark.training_config(config, 2, bench)).is_relative_to(bench)
    written = json.loads(benchmark.end_to_end_config(config, bench).read_text())
    assert written["load_dir"] == "default" and written["output_dir"] == str(bench)


def test_the_port_harness_setup_refuses_a_venv_path_through_a_file_in_one_line(tmp_path, capsys):
    """--setup --port-venv naming a file (or a folder under one) stopped in a NotADirectoryError traceback."""
    harness = port_harness()
    (tmp_path / "taken").write_text("")
    for venv in (tmp_path / "taken", tmp_path / "taken" / "venv"):
        with pytest.raises(SystemExit, match=f"error: --port-venv {venv}: cannot make folder {venv}: "
                                             f"{tmp_path / 'taken'} is a file, not a folder"):
            harness.main(["--setup", "--port-venv", str(venv)])
    assert (tmp_path / "taken").read_text() == ""



@pytest.mark.parametrize("l_win, units, fits", [(24, 512, True), (20, 448, True), (48, 896, True), (48, 512, False),
                                                (24, 1024, False), (17, 400, False), (16, 384, False)])
def test_the_port_harness_refuses_windows_the_ports_models_cannot_build_before_any_round(tmp_path, monkeypatch,
                                                                                         l_win, units, fits):
    """The port's decoder ends in num_hidden_units / 16 - 8 points, after depth_to_space steps that need
    num_hidden_units a multiple of 64, and its encoder's last convolution needs l_win + 8 > 24 points: a config
    such as NAB_config.json (l_win 48, 512 units) trained our side for a whole round, then the port's worker stopped
    in a Reshape traceback. (Which windows build was checked by building the port's VAE_LSTM in its venv.)"""
    harness = port_harness()
    config = tmp_path / "c.json"
    config.write_text(json.dumps({**TINY, "l_win": l_win, "num_hidden_units": units}))
    workers = []
    monkeypatch.setattr(harness, "run_worker", lambda side, args, data: workers.append(side) or fake_side_figures(1.0))
    flags = [*ready_port(tmp_path, harness), "--config", str(config), "--rounds", "1"]
    if fits:
        assert harness.orchestrate(harness.parse_args(flags)) == 0
        assert workers == ["ours", "port"]
    else:
        with pytest.raises(SystemExit, match=rf"^error: the TF2 port builds windows of num_hidden_units / 16 - 8 points "
                                             rf".*: {config} has l_win {l_win} and num_hidden_units {units}"):
            harness.orchestrate(harness.parse_args(flags))
        assert workers == []


def test_end_to_end_figures_are_keyed_by_the_configs_file_however_it_was_named(tmp_path, monkeypatch):
    """end-to-end figures were keyed by --config as typed: `make benchmark-end-to-end` (configs/NAB_config.json) and
    --config NAB_config.json gave the same config two entries, and my.json of two folders shared one (the second
    replaced the first). A config in the repository is keyed by its path there, as the committed figures are."""
    import subprocess

    from vae_lstm.config import REPO_ROOT

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0))
    monkeypatch.chdir(REPO_ROOT)
    names = ["NAB_config.json", "configs/NAB_config.json", str(REPO_ROOT / "configs" / "NAB_config.json")]
    assert {benchmark.end_to_end(name)["config"] for name in names} == {"configs/NAB_config.json"}
    keys = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "my.json").write_text(json.dumps(TINY))
        monkeypatch.chdir(tmp_path / folder)
        keys.append(benchmark.end_to_end("my.json")["config"])
    assert keys == [str(tmp_path / "a" / "my.json"), str(tmp_path / "b" / "my.json")]


@pytest.mark.parametrize("name, held", [
    ("benchmark.json", [1, 2, 3]),
    ("benchmark.json", {"results": {"a": 1}}),
    ("benchmark.json", {"configs": ["a.json"]}),
    ("benchmark_end_to_end.json", "figures"),
])
def test_a_figures_file_of_something_else_is_one_line_and_kept(tmp_path, name, held):
    """A benchmark.json in --output-dir that held JSON of another kind (a list, another tool's object) was taken for
    an empty figures file and replaced by the figures measured now, without a word: what it held was lost."""
    text = json.dumps(held)
    (tmp_path / name).write_text(text)
    with pytest.raises(UserError, match=f"{name} holds no figures of benchmark.py"):
        if name == "benchmark.json":
            benchmark.write_benchmark(sample_figures("a.json"), tmp_path)
        else:
            benchmark.write_end_to_end({"config": "a.json", "total_seconds": 1.0}, tmp_path)
    assert (tmp_path / name).read_text() == text  # not replaced


def test_the_first_figures_format_with_no_config_is_dropped_with_a_note_not_refused(tmp_path, capsys):
    """benchmark.json as benchmark.py first wrote it (figures/benchmark.json until 2026-11-23): one measurement's
    figures, with no config named. It was refused as 'JSON of another kind', though benchmark.py wrote it: it is an
    older format, dropped as the others are, and said so."""
    first = {"machine": "2 CPU cores (AMD EPYC), Linux, Python 3.11.7", "tensorflow": "2.21.0", "keras": "3.15.1",
             "dataset": "machine_temp", "l_win": 48, "l_seq": 6, "vae_epoch_seconds": 2.84, "peak_memory_mb": 998}
    (tmp_path / "benchmark.json").write_text(json.dumps(first, indent=2))
    benchmark.write_benchmark(sample_figures("a.json"), tmp_path)
    assert (f"dropping the figures of a config of machine_temp (the first format names none) from "
            f"{tmp_path / 'benchmark.json'}: measured in an older format") in capsys.readouterr().out
    assert sorted(json.loads((tmp_path / "benchmark.json").read_text())["configs"]) == ["a.json"]


@pytest.mark.parametrize("name, end_to_end", [("benchmark.json", False), ("benchmark.md", False),
                                              ("benchmark_end_to_end.json", True), ("benchmark_end_to_end.md", True)])
def test_a_folder_where_a_figures_file_goes_is_one_line_before_anything_is_measured(tmp_path, monkeypatch, name,
                                                                                    end_to_end):
    """A folder named benchmark.md (or .json) in --output-dir was found only when the figures were written, after
    minutes of measuring: "Is a directory", with benchmark.json already rewritten and its .md not, so the two
    disagreed."""
    (tmp_path / name).mkdir()

    def measure(*args):
        raise RuntimeError("measuring")

    monkeypatch.setattr(benchmark, "end_to_end" if end_to_end else "matmul_gflops", measure)
    with pytest.raises(UserError, match=f"{name} is a folder"):
        benchmark.main(["--config", "synthetic_config.json", "--output-dir", str(tmp_path),
                        *(["--end-to-end"] if end_to_end else [])])


@pytest.mark.parametrize("json_text, md_text", [
    ('{"configs": {"NAB_config.json": {"version": 2}}}', "# Speed and memory\n"),  # benchmark.py's figures
    ('{"exp_name": "NAB"}', None),  # a config
    ('{"sides": ', None),  # damaged
    (None, "# notes\n"),  # a .md of something else, no figures beside it
])
def test_the_port_harness_refuses_an_output_of_something_else_before_any_round(tmp_path, monkeypatch, json_text,
                                                                                md_text):
    """--output figures/benchmark.json (benchmark.py's figures, not the comparison's) ran every round, then replaced
    that file and the benchmark.md beside it with the comparison's figures and table, saying only 'replacing the
    figures'; any JSON file, a config too, was overwritten the same way."""
    harness = port_harness()
    flags = ready_port(tmp_path, harness)
    workers = []
    monkeypatch.setattr(harness, "run_worker", lambda side, args, data: workers.append(side))
    monkeypatch.setattr(harness, "prepare_data", lambda config, folder, jit: workers.append("data"))
    out = tmp_path / "figures" / "benchmark.json"
    out.parent.mkdir()
    for path, text in ((out, json_text), (out.with_suffix(".md"), md_text)):
        if text is not None:
            path.write_text(text)
    with pytest.raises(SystemExit, match=r"^error: --output .*benchmark\.(json|md) holds no figures of "
                                         r"compare_tf2_port\.py.*; move it away, or choose another --output"):
        harness.orchestrate(harness.parse_args([*flags, "--output", str(out)]))
    assert workers == []
    assert (out.read_text() if out.exists() else None) == json_text


@pytest.mark.parametrize("lengths, wanted, piece, timed", [
    ([3, 500, 40], 300, 1, 300),  # the first piece had 3 sequences: 3 were timed where 300 were asked
    ([3, 500, 40], 1000, 1, 500),
    ([7], 5, 0, 5),
])
def test_the_per_sequence_loop_is_timed_on_the_piece_of_the_most_sequences(capsys, lengths, wanted, piece, timed):
    """The loop was timed on the first test piece, whatever its length: with a short first piece, --loop-sequences
    300 timed 3 sequences and scaled their seconds to the test set, though another piece held 500."""
    results = [np.zeros(n) for n in lengths]
    assert benchmark.loop_piece(results, wanted) == (piece, timed)
    said = capsys.readouterr().out
    assert (f"--loop-sequences {wanted}: the longest test piece has {timed} sequences" in said) == (timed < wanted)


def test_a_config_of_lstm_ad_is_measured_where_the_vae_lstm_can_score_it(tmp_path, monkeypatch):
    """A config of lstm_ad whose prediction_horizon left no test piece long enough for lstm_ad (l_win + h points)
    was refused, though its pieces held sequences of l_win * l_seq points for the VAE-LSTM that is measured."""
    pd.DataFrame({"value": np.sin(np.arange(660) / 5)}).to_csv(tmp_path / "s.csv", index=False)
    config = tmp_path / "ad.json"
    config.write_text(json.dumps({**TINY, "detector": "lstm_ad", "prediction_horizon": 100,
                                  "dataset": {"path": str(tmp_path / "s.csv"), "train_points": 600}}))

    def stop():
        raise RuntimeError("measuring")

    monkeypatch.setattr(benchmark, "matmul_gflops", stop)
    with pytest.raises(RuntimeError, match="measuring"):
        benchmark.main(["--config", str(config), "--output-dir", str(tmp_path)])


def test_the_port_harness_prepares_a_config_of_lstm_ad_where_the_vae_lstm_can_score_it(tmp_path, capsys):
    """As benchmark.py: both sides run the VAE-LSTM at the config's keys, but a config of lstm_ad whose
    prediction_horizon left no test piece long enough for lstm_ad was refused, without a word on the detector."""
    pd.DataFrame({"value": np.sin(np.arange(660) / 5)}).to_csv(tmp_path / "s.csv", index=False)
    config = tmp_path / "ad.json"
    config.write_text(json.dumps({**PORT_TINY, "detector": "lstm_ad", "prediction_horizon": 200,
                                  "dataset": {"path": str(tmp_path / "s.csv"), "train_points": 540}}))
    path, settings = port_harness().prepare_data(str(config), tmp_path)
    assert path.is_file() and settings["l_win"] == 20
    assert (f"note: both sides run the VAE-LSTM at {config}'s keys; its detector 'lstm_ad' is not compared"
            in capsys.readouterr().out)


@pytest.mark.parametrize("end_to_end", [False, True])
def test_a_markdown_file_of_something_else_where_the_table_goes_is_one_line_and_kept(tmp_path, monkeypatch,
                                                                                      end_to_end):
    """A benchmark.md (or benchmark_end_to_end.md) of other text in --output-dir, with no figures beside it, was
    replaced by the figures' tables without a word; one that benchmark.py wrote is rewritten as before."""
    stem = "benchmark_end_to_end" if end_to_end else "benchmark"
    md = tmp_path / f"{stem}.md"
    md.write_text("# Our notes on speed\n")

    def measure(*args):
        raise RuntimeError("measuring")

    monkeypatch.setattr(benchmark, "end_to_end" if end_to_end else "matmul_gflops", measure)
    flags = ["--config", "synthetic_config.json", "--output-dir", str(tmp_path), *(["--end-to-end"] if end_to_end else [])]
    with pytest.raises(UserError, match=f"{stem}.md holds no tables of benchmark.py"):
        benchmark.main(flags)
    assert md.read_text() == "# Our notes on speed\n"
    if end_to_end:
        benchmark.write_end_to_end({"config": "a.json", "total_seconds": 1.0}, tmp_path)
    else:
        benchmark.write_benchmark(sample_figures("a.json"), tmp_path)
    with pytest.raises(RuntimeError, match="measuring"):  # its own tables: measured, to be rewritten
        benchmark.main(flags)
