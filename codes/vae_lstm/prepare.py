"""Load a config's data and give the keys that follow the data their values.

``load_data(config)`` returns the config with ``n_channel`` taken from the data (when it is null) and
``"l_win": "auto"`` / ``"l_seq": "auto"`` chosen from the training block's dominant period, and the
series, checked against the window sizes. Train, detect, reproduce and benchmark all start here, so
they name, train and score the same run.
"""

from __future__ import annotations

from .config import Config, check_against_data, load_schema
from .data_loader import Series, load_config_series
from .errors import ConfigError, UserError
from .thresholds import LABEL_FREE_CHOICES
from .windowing import auto_windows


def resolve(config: Config, series: Series, verbose: bool = True) -> Config:
    """The config with n_channel and any "auto" window sizes set from the series (printed when chosen)."""
    changes = {}
    if config.n_channel is None:
        most = load_schema()["properties"]["n_channel"]["maximum"]
        if series.n_channel > most:  # else config.replace refuses the n_channel the config left to the data
            where = config.source.name if config.source else "config"
            raise ConfigError(f"{where}: dataset '{config.dataset_name}' has {series.n_channel} channels, more than "
                              f"the {most} a config allows (n_channel); pick at most {most} with the dataset's "
                              "value_columns")
        changes["n_channel"] = series.n_channel
    if "auto" in (config.l_win, config.l_seq):
        chosen = auto_windows(series.train, l_win=None if config.l_win == "auto" else config.l_win)
        if config.l_win == "auto":
            changes["l_win"] = chosen["l_win"]
        if config.l_seq == "auto":
            changes["l_seq"] = chosen["l_seq"]
        if verbose:
            l_win, l_seq = changes.get("l_win", config.l_win), changes.get("l_seq", config.l_seq)
            cut = "l_seq" in changes and "cut to" in chosen["l_seq_why"]  # else the 7 windows asked for
            seq_why = f" ({chosen['l_seq_why']})" if cut else ""
            print(f"auto windows: l_win {l_win} ({chosen['why']}), "
                  f"l_seq {l_seq}{seq_why}: a sequence spans {l_win * l_seq} points")
    return config.replace(**changes) if changes else config


def load_data(config: Config, verbose: bool = True) -> tuple[Config, Series]:
    """The series of ``config`` and the config resolved against it; one-line errors when they do not fit."""
    series = load_config_series(config, verbose)
    return fit_data(config, series, verbose), series


def fit_data(config: Config, series: Series, verbose: bool = True) -> Config:
    """``config`` resolved against its loaded ``series`` (``resolve``); one line when its windows or channels do not
    fit the data."""
    config = resolve(config, series, verbose)
    check_against_data(config, len(series.train), series.n_channel)
    return config


def check_scorable(config: Config, series: Series) -> None:
    """One line when no test piece is as long as one sequence, or when the threshold rule needs labels the data
    lacks: before training too, so that no training is spent on a split that cannot be scored."""
    lengths = piece_lengths(series)
    if not any(len(p.values) >= config.span for p in series.test_pieces):
        spec = config.dataset if isinstance(config.dataset, dict) else {}
        block = "leave more of the series out of the training block"
        more = ("give longer test files" if spec.get("train_files") else
                f"{block}, or give longer test files" if spec.get("test_files") else block)
        raise UserError(f"no test piece of '{config.dataset_name}' is as long as one sequence (l_win * l_seq = "
                        f"{config.span} points; test pieces: {lengths}); choose a smaller l_win or l_seq, or {more}")
    if config.threshold_rule == "oracle_best_f1" and not series.labelled:  # before training too: detect.py refuses it
        raise UserError(f"key 'threshold_rule' = 'oracle_best_f1' needs labels, and '{config.dataset_name}' has none; "
                        f"use {LABEL_FREE_CHOICES}")
    if config.detector != "lstm_ad":  # the one detector that reads prediction_horizon
        return
    first = config.l_win + config.prediction_horizon  # LSTM-AD scores a point once all h predictions of it exist
    if not any(len(p.values) >= first for p in series.test_pieces):
        raise UserError(f"no test piece of '{config.dataset_name}' is long enough for lstm_ad to score a point "
                        f"(l_win + prediction_horizon = {first} points; test pieces: {lengths}); make "
                        "prediction_horizon or l_win smaller")


LISTED_PIECES = 5  # a line lists the lengths of this many test pieces at most; more are counted


def piece_lengths(series: Series) -> str:
    """The test pieces' lengths for a one-line message: each of a few ("40, 33"), else how many there are and the
    longest ("300, the longest 40 points"): hundreds of test files are one line, not a list of hundreds."""
    lengths = [len(p.values) for p in series.test_pieces]
    if len(lengths) > LISTED_PIECES:
        return f"{len(lengths)}, the longest {max(lengths)} points"
    return ", ".join(map(str, lengths)) or "none"
