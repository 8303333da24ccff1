"""Windows, LSTM sequences, seeded splits and index maps. NumPy only; all indices 0-based.

A series has shape (n, n_channel). Window ``w`` covers time points ``[w, w + l_win - 1]``.
Sequence ``s`` is the ``l_seq`` consecutive non-overlapping windows starting at ``s``, so it
covers ``[s, s + l_win * l_seq - 1]`` and uses windows ``s, s + l_win, ..., s + (l_seq - 1) * l_win``.
Sequences start at every offset, as in the paper's loader.

Independent segments. A 3-D array (n_segments, length, n_channel) is a set of independent segments of
equal length (e.g. ECG heartbeats), not one series: its training windows and sequences are taken
inside each segment only, never across two, at a stride (the config's ``window_stride``; offsets 0,
stride, 2 * stride, ... within the segment): ``segment_windows``, ``segment_sequences``,
``training_windows``. To score segments, concatenate them and score the long series once; segment
b of length L covers points ``[b * L, (b + 1) * L - 1]``, and ``segment_scores`` gives it the largest
score of the units lying wholly inside it. A (n, n_channel) series keeps every stride-1 window.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def as_2d(series: np.ndarray) -> np.ndarray:
    """(n,) or (n, c) -> (n, c)."""
    series = np.asarray(series)
    return series[:, None] if series.ndim == 1 else series


def whole_number(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int when it is a whole number >= ``minimum`` (4 and 4.0 are; True, NaN and 2.5 are not),
    else a ValueError naming ``name``: a size (a window, sequence, span, segment length, stride, buffer) below 1
    made NumPy fail with a message about something else, or return empty windows. A 0-d array is the number it
    holds (np.array(24), a sum over an array, is 24)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if (isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or value != int(value) or value < minimum):
        shown = value.item() if isinstance(value, np.generic) else value  # 2.5, not NumPy 2's np.float64(2.5)
        raise ValueError(f"{name} must be an integer >= {minimum}, got {shown!r}")
    return int(value)


def rolling_windows(series: np.ndarray, l_win: int) -> np.ndarray:
    """All windows of length l_win with stride 1: shape (n - l_win + 1, l_win, c), a read-only view."""
    l_win = whole_number(l_win, "l_win")
    series = as_2d(series)
    if len(series) < l_win:
        raise ValueError(f"series of {len(series)} points is shorter than one window ({l_win})")
    return sliding_window_view(series, l_win, axis=0).transpose(0, 2, 1)


def n_sequences(n_points: int, l_win: int, l_seq: int) -> int:
    """Number of sequence starts in a series of n_points (0 if one sequence does not fit)."""
    l_win, l_seq = whole_number(l_win, "l_win"), whole_number(l_seq, "l_seq")
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


def unit_span(unit_idx, span: int) -> tuple[np.ndarray, np.ndarray]:
    """THE map from a unit to time: unit ``u`` (a window, span l_win, or a sequence, span
    l_win * l_seq) starts at time ``u`` and covers ``[u, u + span - 1]`` (first and last, inclusive)."""
    start = np.asarray(unit_idx)
    return start, start + span - 1


def window_span(window_idx, l_win: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last time index (inclusive) covered by each window."""
    return unit_span(window_idx, l_win)


def sequence_span(sequence_idx, l_win: int, l_seq: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last time index (inclusive) covered by each sequence."""
    return unit_span(sequence_idx, l_win * l_seq)


def points_from_units(unit_scores, span: int, n_points: int) -> np.ndarray:
    """Per-point scores from per-unit scores: the score of time t is the largest score of the
    units that cover it: unit u covers t iff u <= t <= u + span - 1. Points that no unit covers get NaN, and so
    do the points a NaN unit covers (an unknown score is not taken as a low one).

    This is how every detector turns its window or sequence errors into one score per time point.
    """
    span = whole_number(span, "span")
    s = np.asarray(unit_scores, dtype=float)
    n_units = len(s)
    if n_units and n_units + span - 1 > n_points:
        raise ValueError(f"{n_units} units of span {span} do not fit in {n_points} points")
    out = np.full(n_points, np.nan)
    if n_units == 0:
        return out
    padded = np.concatenate([np.full(span - 1, -np.inf), s, np.full(span - 1, -np.inf)])
    # point t sees units t - span + 1 .. t, i.e. padded[t .. t + span - 1]
    covered = sliding_window_view(padded, span)[: n_units + span - 1].max(axis=1)
    out[: n_units + span - 1] = covered
    return out


def units_from_points(point_scores, span: int) -> np.ndarray:
    """Per-unit scores from per-point scores: unit u gets the largest score over ``[u, u + span - 1]``,
    ignoring NaN points (a unit with no scored point gets NaN)."""
    span = whole_number(span, "span")
    p = np.asarray(point_scores, dtype=float)
    if len(p) < span:
        return np.empty(0)
    windows = sliding_window_view(np.where(np.isnan(p), -np.inf, p), span)
    out = windows.max(axis=1)
    return np.where(np.isneginf(out), np.nan, out)


def dominant_period(series: np.ndarray, min_period: int = 8, max_period: int | None = None,
                    min_strength: float = 0.3) -> int | None:
    """The series' dominant period: per channel, its straight line (level and trend) removed, the lag of the first
    autocorrelation peak between
    ``min_period`` and ``max_period`` (default: a quarter of the series) that is at least ``min_strength``,
    rises above the lowest autocorrelation at the lags before it by more than an estimate's noise (2 / sqrt(n),
    the white-noise band), and falls by as much after it before the autocorrelation passes it (a bump on the way
    up to a peak is none); the lag of the channel whose peak is highest. Autocorrelations by FFT. None when no
    channel has such a peak.

    Averaged over channels, as before 2026-12-05, a slowly decaying channel (a random walk) beside a noisy one
    gave a curve whose noise-sized bumps counted as peaks: a period of 8-13 for data with none, and 9 for SKAB
    valve1, whose Temperature channel cycles every 83 s (its autocorrelation's top).

    A series with a NaN or an infinite value is a ValueError (every autocorrelation would be NaN)."""
    x = as_2d(np.asarray(series, dtype=float))
    bad = ~np.isfinite(x)
    if bad.any():  # one would make every autocorrelation NaN: "no period", silently
        point, channel = np.argwhere(bad)[0]
        count = int(bad.sum())
        raise ValueError(f"the series has {count} value{'s' if count > 1 else ''} that {'are' if count > 1 else 'is'} "
                         f"not a finite number (NaN or infinite), the first at point {point} of channel {channel}: "
                         "fill or drop them before looking for its period")
    n = len(x)
    min_period, max_period = period_lags(n, min_period, max_period)
    if max_period < min_period:  # lags min_period .. max_period, both included: one lag when they are equal
        return None
    x = x - x.mean(axis=0)
    spread = (x ** 2).sum(axis=0)
    t = np.arange(n) - (n - 1) / 2
    x = x - np.outer(t, t @ x / (t @ t))  # each channel's straight line (a trend's autocorrelation buries a cycle's)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(x, size, axis=0)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size, axis=0)[:n]
    varying = acf[0] > 1e-12 * spread  # a straight line leaves rounding only: no cycle
    acf = acf[:, varying] / acf[0, varying]
    lags = np.arange(min_period, max_period + 1)
    a = acf[lags]
    lowest_before = np.minimum.accumulate(acf[1:max_period + 1], axis=0)[lags - 1]
    noise = 2 / np.sqrt(n)
    peaks = ((a > acf[lags - 1]) & (a >= acf[np.minimum(lags + 1, n - 1)]) & (a >= min_strength)
             & (a - lowest_before > noise))
    found = [(acf[lag, k], lag) for k in range(acf.shape[1])
             for lag in [next((int(lag) for lag in lags[peaks[:, k]] if _falls_after(acf[:, k], lag, noise)), None)]
             if lag is not None]
    return max(found)[1] if found else None


def period_lags(n: int, min_period: int = 8, max_period: int | None = None) -> tuple[int, int]:
    """The lags ``dominant_period`` looks at in a series of ``n`` points, both included: ``min_period`` to
    ``max_period`` (default: a quarter of the series), at most ``n - 1``; none when the second is below the first."""
    return min_period, min(max_period or n // 4, n - 1)


def _falls_after(acf: np.ndarray, lag: int, noise: float) -> bool:
    """Whether ``acf`` falls more than ``noise`` below its value at ``lag`` after it, before it passes that value
    (or before its end). Read in blocks, so that the many bumps of a noisy rise each cost a few lags."""
    top, step = acf[lag], max(lag, 64)
    for start in range(lag + 1, len(acf), step):
        block = acf[start:start + step]
        higher = np.flatnonzero(block > top)
        below = block[: higher[0]] if higher.size else block
        if below.size and below.min() < top - noise:
            return True
        if higher.size:
            return False
    return True


MAX_L_WIN = 4096  # the config schema's largest l_win (a test checks that they agree)


def auto_windows(train_series: np.ndarray, windows_per_sequence: int = 7, default_l_win: int = 24,
                 l_win: int | None = None) -> dict:
    """``l_win`` from the dominant period of the training block (``default_l_win`` when there is none),
    and ``l_seq`` so that a sequence spans ``windows_per_sequence`` periods (the paper's NAB configs: a
    week of days), both shrunk so that one sequence fits a quarter of the training block; ``l_win`` is at
    most ``MAX_L_WIN``, the largest the config allows. Given ``l_win``
    (a config's own, with ``l_seq`` "auto"), only ``l_seq`` is chosen, for that ``l_win``.
    Returns {"l_win", "l_seq", "period", "why" (of l_win), "l_seq_why"}."""
    n = len(as_2d(train_series))
    windows_per_sequence = whole_number(windows_per_sequence, "windows_per_sequence")
    if l_win is not None:
        l_win, period, why = whole_number(l_win, "l_win"), None, "from the config"
    else:
        period = dominant_period(train_series)
        wanted = period if period is not None else default_l_win
        l_win = int(np.clip(wanted, 8, max(8, min(n // 8, MAX_L_WIN))))
        # the lags looked at, said: a cycle of 3 points is found as 9 (its first repeat at a lag of 8 or more), and
        # one longer than a quarter of the block is not looked for
        first, last = period_lags(n)
        lags = f"{first}" if first == last else f"{first} to {last}"
        why = (f"period {period} (the first autocorrelation peak at lag{'s' * (first < last)} {lags})"
               if period is not None else f"no period of {lags} points: default {default_l_win}" if first <= last
               else f"too short to look for a period: default {default_l_win}")
        if l_win < wanted:
            why += (f", capped at {MAX_L_WIN}, the largest l_win" if l_win == MAX_L_WIN else
                    f", capped at an eighth of the {n}-point training block" if l_win == n // 8 else
                    f", cut to {l_win}, the smallest l_win, for the {n}-point training block")
        elif l_win > wanted:
            why += f", raised to {l_win}, the smallest l_win"
    fit = n // (4 * l_win)  # the most windows of a sequence that fits a quarter of the block
    l_seq = int(np.clip(windows_per_sequence, 2, max(2, fit)))
    l_seq_why = f"{windows_per_sequence} windows"
    if l_seq < windows_per_sequence:
        l_seq_why += (f", cut to {l_seq} for one sequence to fit a quarter of the {n}-point training block"
                      if l_seq == fit else f", cut to {l_seq}, the smallest l_seq, for the {n}-point training block")
    return {"l_win": l_win, "l_seq": l_seq, "period": period, "why": why, "l_seq_why": l_seq_why}


def segment_windows(segments: np.ndarray, l_win: int, stride: int = 1) -> np.ndarray:
    """Windows of l_win taken inside each of the (n_seg, length, c) segments only, starting at offsets
    0, stride, 2 * stride, ... <= length - l_win of each: shape (n_seg * per_segment, l_win, c), segment-major."""
    l_win, stride = whole_number(l_win, "l_win"), whole_number(stride, "stride")
    segments = np.asarray(segments)
    n_seg, length, n_channel = segments.shape
    if length < l_win:
        raise ValueError(f"segments of {length} points are shorter than one window ({l_win})")
    windows = sliding_window_view(segments, l_win, axis=1)[:, ::stride]  # (n_seg, per_segment, c, l_win): a view
    # the one copy; a view (read-only) where the windows tile the segments, or of one segment
    # (``training_windows_copied``)
    return windows.transpose(0, 1, 3, 2).reshape(-1, l_win, n_channel)


def training_window_shape(shape: tuple, l_win: int, stride: int = 1) -> tuple[int, int, int]:
    """The shape (n, l_win, c) of ``training_windows`` of a training array of ``shape``: (n, c) or (n_seg, length,
    c), from its shape alone (the windows of segments are a copy)."""
    if len(shape) == 3:
        n_seg, length, n_channel = shape
        return n_seg * max((length - l_win) // stride + 1, 0), l_win, n_channel
    return max(shape[0] - l_win + 1, 0), l_win, (shape[1] if len(shape) > 1 else 1)


def training_windows_copied(train: np.ndarray, l_win: int, stride: int = 1) -> bool:
    """Whether ``training_windows`` of ``train`` are a copy of it rather than a view: the windows inside segments
    are, except where they are one run of memory in the segments (one segment, one window per segment, or windows
    that tile each segment: stride l_win, dividing its length); a series' never are. Known from the shape and
    strides alone, before any window is made."""
    if np.ndim(train) != 3:
        return False
    train = np.asarray(train)
    n_seg, length, _ = train.shape
    per_segment = (length - l_win) // stride + 1
    # the (n_seg, per_segment, l_win, c) view merges its first two axes without a copy when one has a single entry
    # or each segment's windows end where the next segment's start
    return n_seg > 1 and per_segment > 1 and train.strides[0] != per_segment * stride * train.strides[1]


def training_sequences_copied(train: np.ndarray, l_win: int, l_seq: int, stride: int = 1) -> bool:
    """Whether the windows of ``segment_sequences`` of ``train``, one row per window ((n_seq * l_seq, l_win, c), as the
    LSTM stage encodes them), are a copy of it rather than a view: they are, unless the windows follow each other at
    one step through memory (sequences that tile the segments, or a segment that is one sequence); a series' never
    are. Known from the shape and strides alone."""
    if np.ndim(train) != 3:
        return False
    train = np.asarray(train)
    n_seg, length, _ = train.shape
    per_segment = (length - l_win * l_seq) // stride + 1
    # (size, step in bytes) of the segment, sequence and window axes; those of one entry merge with any
    axes = [(n, step) for n, step in ((n_seg, train.strides[0]), (per_segment, stride * train.strides[1]),
                                      (l_seq, l_win * train.strides[1])) if n > 1]
    return any(outer != n * step for (_, outer), (n, step) in zip(axes, axes[1:], strict=False))


def segment_sequences(segments: np.ndarray, l_win: int, l_seq: int, stride: int = 1) -> np.ndarray:
    """Sequences of l_seq consecutive non-overlapping windows, each sequence inside one of the
    (n_seg, length, c) segments, starting at offsets 0, stride, ... <= length - l_win * l_seq:
    shape (n_seg * per_segment, l_seq, l_win, c), segment-major."""
    l_win, l_seq, stride = (whole_number(l_win, "l_win"), whole_number(l_seq, "l_seq"),
                            whole_number(stride, "stride"))
    segments = np.asarray(segments)
    n_seg, length, n_channel = segments.shape
    span = l_win * l_seq
    if length < span:
        raise ValueError(f"segments of {length} points are shorter than one sequence ({span})")
    spans = sliding_window_view(segments, span, axis=1)[:, ::stride]  # (n_seg, per_segment, c, span): a view
    sequences = spans.reshape(n_seg, -1, n_channel, l_seq, l_win)  # each span's l_seq windows: a view too
    # the one copy; a view (read-only) where the sequences tile the segments, or of one segment
    return sequences.transpose(0, 1, 3, 4, 2).reshape(-1, l_seq, l_win, n_channel)


def training_windows(train: np.ndarray, l_win: int, stride: int = 1) -> np.ndarray:
    """The training windows of a detector: every stride-1 window of a (n, c) series (``rolling_windows``;
    ``stride`` must be 1), or the windows inside each segment of a (n_seg, length, c) array
    (``segment_windows``)."""
    if np.ndim(train) == 3:
        return segment_windows(train, l_win, stride)
    if stride != 1:
        raise ValueError("a window stride other than 1 applies to segments (a 3-D array) only")
    return rolling_windows(train, l_win)


def segment_scores(unit_scores, span: int, length: int, n_segments: int) -> np.ndarray:
    """One score per segment from the unit scores of the concatenated segments (n_segments * length points).

    Segment b covers points ``[b * length, (b + 1) * length - 1]``; the units lying wholly inside it
    (``unit_span``) are u = b * length .. b * length + length - span. Its score is the largest of theirs,
    NaN units ignored; NaN when it has none (span > length, or no scored unit). With span == length (a
    VAE-LSTM sequence of one beat) that is exactly unit b * length; with span 1, the largest point score.
    Units that straddle two segments are never used."""
    span, length = whole_number(span, "span"), whole_number(length, "length")
    s = np.asarray(unit_scores, dtype=float)
    n_points = n_segments * length
    if len(s) > n_points - span + 1 and len(s):
        raise ValueError(f"{len(s)} units of span {span} do not fit in {n_segments} segments of {length} points")
    if span > length:
        return np.full(n_segments, np.nan)
    padded = np.full(n_points, np.nan)
    padded[: len(s)] = s
    return largest_inside(padded.reshape(n_segments, length)[:, : length - span + 1])


def inside_units(n_segments: int, length: int, span: int) -> np.ndarray:
    """(n_segments, length - span + 1): the units of ``span`` points lying wholly inside each of ``n_segments``
    segments of ``length`` points joined end to end, by their first point (b * length .. b * length + length - span:
    those ``segment_scores`` reads)."""
    span, length = whole_number(span, "span"), whole_number(length, "length")
    if span > length:
        raise ValueError(f"a unit of {span} points does not fit in a segment of {length}")
    return np.arange(n_segments)[:, None] * length + np.arange(length - span + 1)


def largest_inside(unit_scores) -> np.ndarray:
    """One score per segment from the scores of the units inside each, one row per segment (``inside_units``): the
    largest, NaN units ignored; NaN when a segment has none."""
    s = np.asarray(unit_scores, dtype=float)
    out = np.where(np.isnan(s), -np.inf, s).max(axis=1, initial=-np.inf)
    return np.where(np.isneginf(out), np.nan, out)
