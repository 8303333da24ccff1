"""Windows, LSTM sequences, seeded splits and index maps. NumPy only; all indices 0-based.

A series has shape (n, n_channel). Window ``w`` covers time points ``[w, w + l_win - 1]``.
Sequence ``s`` is the ``l_seq`` consecutive non-overlapping windows starting at ``s``, so it
covers ``[s, s + l_win * l_seq - 1]`` and uses windows ``s, s + l_win, ..., s + (l_seq - 1) * l_win``.
Sequences start at every offset, as in the paper's loader.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def as_2d(series: np.ndarray) -> np.ndarray:
    """(n,) or (n, c) -> (n, c)."""
    series = np.asarray(series)
    return series[:, None] if series.ndim == 1 else series


def rolling_windows(series: np.ndarray, l_win: int) -> np.ndarray:
    """All windows of length l_win with stride 1: shape (n - l_win + 1, l_win, c), a read-only view."""
    series = as_2d(series)
    if len(series) < l_win:
        raise ValueError(f"series of {len(series)} points is shorter than one window ({l_win})")
    return sliding_window_view(series, l_win, axis=0).transpose(0, 2, 1)


def n_sequences(n_points: int, l_win: int, l_seq: int) -> int:
    """Number of sequence starts in a series of n_points (0 if one sequence does not fit)."""
    return max(n_points - l_win * l_seq + 1, 0)


def sequence_window_index(n_points: int, l_win: int, l_seq: int) -> np.ndarray:
    """(n_seq, l_seq) indices into rolling_windows(...) of the windows of every sequence."""
    starts = np.arange(n_sequences(n_points, l_win, l_seq))
    return starts[:, None] + l_win * np.arange(l_seq)[None, :]


def lstm_sequences(series: np.ndarray, l_win: int, l_seq: int) -> np.ndarray:
    """Every sequence of l_seq non-overlapping windows: shape (n_seq, l_seq, l_win, c)."""
    windows = rolling_windows(series, l_win)
    return windows[sequence_window_index(len(as_2d(series)), l_win, l_seq)]


def train_val_split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of range(n): floor((1 - val_fraction) * n) training indices, the rest validation."""
    n_train = int(np.floor(n * (1.0 - val_fraction) + 1e-9))  # tolerance: 0.7 * 90 is 62.999...
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def window_span(window_idx, l_win: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last time index (inclusive) covered by each window."""
    start = np.asarray(window_idx)
    return start, start + l_win - 1


def sequence_span(sequence_idx, l_win: int, l_seq: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last time index (inclusive) covered by each sequence."""
    start = np.asarray(sequence_idx)
    return start, start + l_win * l_seq - 1
