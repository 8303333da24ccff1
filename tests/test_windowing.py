"""Windows, LSTM sequences, splits and spans, checked against hand-computed arrays (NumPy only)."""

import numpy as np
import pytest

from vae_lstm.windowing import (
    as_2d,
    auto_windows,
    lstm_sequences,
    n_sequences,
    points_from_units,
    rolling_windows,
    segment_scores,
    segment_sequences,
    segment_windows,
    sequence_span,
    sequence_window_index,
    train_val_split,
    training_sequences_copied,
    units_from_points,
    window_span,
)


def paper_sequences(series: np.ndarray, l_win: int, l_seq: int) -> list[np.ndarray]:
    """The paper's loader: for every offset k, cut series[k:] into consecutive non-overlapping
    windows and take every run of l_seq consecutive ones."""
    series = as_2d(series)
    out = []
    for k in range(l_win):
        n_win = (len(series) - k) // l_win
        windows = [series[k + i * l_win: k + (i + 1) * l_win] for i in range(n_win)]
        for i in range(n_win - l_seq + 1):
            out.append(np.stack(windows[i:i + l_seq]))
    return out


def as_set(sequences) -> set:
    return {tuple(np.asarray(s).ravel().tolist()) for s in sequences}


# ---- rolling windows ----


def test_rolling_windows_hand_computed():
    w = rolling_windows(np.arange(6), 3)
    assert w.shape == (4, 3, 1)
    np.testing.assert_array_equal(w[..., 0], [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]])


def test_rolling_windows_multichannel():
    series = np.stack([np.arange(5), 10 * np.arange(5), -np.arange(5)], axis=1)  # (5, 3)
    w = rolling_windows(series, 2)
    assert w.shape == (4, 2, 3)
    np.testing.assert_array_equal(w[1], [[1, 10, -1], [2, 20, -2]])
    np.testing.assert_array_equal(w[3], [[3, 30, -3], [4, 40, -4]])
    for i in range(4):
        np.testing.assert_array_equal(w[i], series[i:i + 2])


def test_rolling_windows_exact_fit_and_too_short():
    assert rolling_windows(np.arange(3), 3).shape == (1, 3, 1)
    with pytest.raises(ValueError, match="shorter than one window"):
        rolling_windows(np.arange(2), 3)
    with pytest.raises(ValueError):
        rolling_windows(np.zeros((0, 2)), 1)


def test_rolling_windows_is_a_read_only_view():
    series = np.arange(6.0)[:, None]
    w = rolling_windows(series, 3)
    assert not w.flags.writeable
    assert np.shares_memory(w, series)


def test_as_2d():
    assert as_2d(np.arange(4)).shape == (4, 1)
    assert as_2d(np.zeros((4, 2))).shape == (4, 2)


# ---- sequence index ----


def test_sequence_window_index_hand_computed():
    index = sequence_window_index(n_points=10, l_win=2, l_seq=3)
    np.testing.assert_array_equal(index, [[0, 2, 4], [1, 3, 5], [2, 4, 6], [3, 5, 7], [4, 6, 8]])
    assert np.issubdtype(index.dtype, np.integer)


@pytest.mark.parametrize("n_points, l_win, l_seq, expected", [
    (10, 2, 3, 5), (6, 2, 3, 1), (5, 2, 3, 0), (0, 2, 3, 0), (100, 24, 4, 5), (2000, 24, 4, 1905),
])
def test_n_sequences(n_points, l_win, l_seq, expected):
    assert n_sequences(n_points, l_win, l_seq) == expected
    assert len(sequence_window_index(n_points, l_win, l_seq)) == expected


def test_sequence_index_points_at_the_last_window_at_most():
    n, l_win, l_seq = 50, 4, 3
    index = sequence_window_index(n, l_win, l_seq)
    assert index.max() == len(rolling_windows(np.arange(n), l_win)) - 1


# ---- LSTM sequences ----


def test_lstm_sequences_hand_computed():
    seq = lstm_sequences(np.arange(7), l_win=2, l_seq=3)
    assert seq.shape == (2, 3, 2, 1)
    np.testing.assert_array_equal(seq[0, :, :, 0], [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(seq[1, :, :, 0], [[1, 2], [3, 4], [5, 6]])


@pytest.mark.parametrize("n, l_win, l_seq", [(10, 2, 3), (37, 3, 4), (50, 5, 2), (24, 4, 6), (61, 7, 3)])
def test_lstm_sequences_equal_the_paper_loader(n, l_win, l_seq):
    series = np.arange(n)
    ours = lstm_sequences(series, l_win, l_seq)
    paper = paper_sequences(series, l_win, l_seq)
    assert len(ours) == len(paper) == n_sequences(n, l_win, l_seq)
    assert as_set(ours) == as_set(paper)


def test_lstm_sequences_multichannel_equal_the_paper_loader():
    rng = np.random.default_rng(0)
    series = rng.standard_normal((40, 2))
    ours = lstm_sequences(series, 4, 3)
    paper = paper_sequences(series, 4, 3)
    assert ours.shape == (40 - 12 + 1, 3, 4, 2)
    assert as_set(ours) == as_set(paper)


def test_lstm_sequences_too_short_is_empty():
    seq = lstm_sequences(np.arange(5), 2, 3)
    assert seq.shape == (0, 3, 2, 1)


# ---- seeded train/validation split ----


@pytest.mark.parametrize("n", [1, 10, 97, 1000, 1977])
def test_split_sizes_disjoint_and_complete(n):
    train, val = train_val_split(n, 0.1, seed=0)
    assert len(train) == int(np.floor(0.9 * n)) == (9 * n) // 10
    assert len(train) + len(val) == n
    assert not set(train.tolist()) & set(val.tolist())
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)


def test_split_is_seeded():
    a = train_val_split(500, 0.1, seed=3)
    b = train_val_split(500, 0.1, seed=3)
    c = train_val_split(500, 0.1, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_split_is_random_not_a_tail():
    _, val = train_val_split(1000, 0.1, seed=0)
    assert val.min() < 500 < val.max()


def test_split_size_is_exact_for_other_fractions():
    train, _ = train_val_split(90, 0.3, seed=0)
    assert len(train) == 63


# ---- spans ----


def test_window_span():
    start, end = window_span([0, 5, 7], l_win=4)
    np.testing.assert_array_equal(start, [0, 5, 7])
    np.testing.assert_array_equal(end, [3, 8, 10])
    w = rolling_windows(np.arange(20), 4)
    for i in (0, 5, 7, 16):
        assert (w[i, 0, 0], w[i, -1, 0]) == tuple(int(v) for v in window_span(i, 4))


def test_sequence_span_hand_computed():
    start, end = sequence_span(np.array([0, 3]), l_win=2, l_seq=3)
    np.testing.assert_array_equal(start, [0, 3])
    np.testing.assert_array_equal(end, [5, 8])


@pytest.mark.parametrize("n, l_win, l_seq", [(10, 2, 3), (100, 24, 4), (61, 7, 3)])
def test_sequence_span_equals_the_time_indices_of_its_values(n, l_win, l_seq):
    seq = lstm_sequences(np.arange(n), l_win, l_seq)
    starts, ends = sequence_span(np.arange(len(seq)), l_win, l_seq)
    np.testing.assert_array_equal(seq[:, 0, 0, 0], starts)
    np.testing.assert_array_equal(seq[:, -1, -1, 0], ends)
    np.testing.assert_array_equal(ends - starts + 1, l_win * l_seq)
    # sequence s holds exactly the points s .. s + l_win*l_seq - 1, in order
    for s in (0, len(seq) - 1):
        np.testing.assert_array_equal(seq[s].ravel(), np.arange(starts[s], ends[s] + 1))
    assert ends[-1] == n - 1


def test_auto_windows_say_when_the_block_caps_them():
    from vae_lstm.windowing import auto_windows

    t = np.arange(1500)
    capped = auto_windows(np.sin(2 * np.pi * t / 300))  # period 300, but at most 1500 // 8 = 187
    assert (capped["l_win"], capped["period"]) == (187, 300)
    assert capped["why"] == "period 300 (the first autocorrelation peak at lags 8 to 375), capped at an eighth of " \
                            "the 1500-point training block"
    free = auto_windows(np.sin(2 * np.pi * t / 24))
    assert free["l_win"] == 24 and "capped" not in free["why"]


@pytest.mark.parametrize("period, why", [
    (3, "period 9 (the first autocorrelation peak at lags 8 to 1000)"),  # the cycle of 3 counted three times
    (1360, "no period of 8 to 1000 points: default 24"),  # longer than a quarter of the block
])
def test_auto_windows_say_which_lags_were_looked_at(period, why):
    """The note said "dominant period 9" of a series that repeats every 3 points (9 is the first lag of 8 or more
    that it repeats at), and "no clear period" of one that clearly repeats every 1,360 of its 4,000 points (past
    the quarter of the block that is looked at)."""
    from vae_lstm.windowing import auto_windows

    t = np.arange(4000)
    cycle = np.sin(2 * np.pi * t / period) + 0.1 * np.random.default_rng(0).standard_normal(len(t))
    assert auto_windows(cycle)["why"] == why


def test_auto_l_win_stays_within_the_schemas_range():
    """A period longer than the schema's largest l_win (4096) in a training block of more than 8 * 4096 points
    was chosen as it was, and the config "l_win": "auto" then failed validation: "key 'l_win' = 4967 is invalid"."""
    import json

    from vae_lstm.config import SCHEMA_PATH
    from vae_lstm.windowing import MAX_L_WIN, auto_windows

    schema_l_win = json.loads(SCHEMA_PATH.read_text())["properties"]["l_win"]["anyOf"][0]
    assert MAX_L_WIN == schema_l_win["maximum"]
    t = np.arange(50_000)
    chosen = auto_windows(np.sin(2 * np.pi * t / 5000))
    assert (chosen["l_win"], chosen["period"], chosen["l_seq"]) == (MAX_L_WIN, 5000, 3)
    assert chosen["why"] == ("period 5000 (the first autocorrelation peak at lags 8 to 12500), capped at 4096, the "
                             "largest l_win")


def test_auto_windows_on_a_tiny_block_say_the_smallest_l_win():
    from vae_lstm.windowing import auto_windows

    short = auto_windows(np.sin(2 * np.pi * np.arange(50) / 24))  # 50 // 8 = 6 < 8: the floor, not an eighth
    assert short["l_win"] == 8 and "cut to 8, the smallest l_win" in short["why"]
    noise = np.random.default_rng(0).standard_normal(35)
    assert auto_windows(noise[:20])["why"] == ("too short to look for a period: default 24, cut to 8, the smallest "
                                               "l_win, for the 20-point training block")  # lags 8 to 5
    assert auto_windows(noise[:32])["why"].startswith("no period of 8 points: default 24")  # the one lag 8


def test_auto_l_seq_follows_a_given_l_win():
    """l_seq "auto" beside a config's own l_win was chosen for the series' period instead (3 windows of 24
    where 7 fit; 3 windows of 600 where only 2 fit a quarter of the block)."""
    from vae_lstm.windowing import auto_windows

    daily = np.sin(2 * np.pi * np.arange(4420) / 288)
    assert (auto_windows(daily)["l_win"], auto_windows(daily)["l_seq"]) == (288, 3)  # 3 days fit a quarter
    assert auto_windows(daily, l_win=24)["l_seq"] == 7
    assert auto_windows(daily, l_win=600) == {"l_win": 600, "l_seq": 2, "period": None, "why": "from the config",
                                              "l_seq_why": "7 windows, cut to 2, the smallest l_seq, for the "
                                                           "4420-point training block"}  # 1200 points: more than 1105


@pytest.mark.parametrize("n, l_win, why", [
    (4420, None, "7 windows, cut to 3 for one sequence to fit a quarter of the 4420-point training block"),
    (4420, 24, "7 windows"),
    (20, None, "7 windows, cut to 2, the smallest l_seq, for the 20-point training block"),
])
def test_auto_l_seq_says_why_it_has_fewer_than_7_windows(n, l_win, why):
    """The note said "l_seq 3: a sequence spans 864 points" of a daily cycle, and left the user to wonder why a
    sequence spans 3 days, not a week."""
    from vae_lstm.windowing import auto_windows

    assert auto_windows(np.sin(2 * np.pi * np.arange(n) / 288), l_win=l_win)["l_seq_why"] == why


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_dominant_period_of_a_series_with_a_missing_value_is_an_error_not_no_period(bad):
    """A NaN (or an infinity) in the series made every autocorrelation NaN: dominant_period said there was no
    period, and auto_windows chose the default l_win 24 "for no clear period" of a series cycling every 20."""
    from vae_lstm.windowing import auto_windows, dominant_period

    t = np.arange(2000)
    cycle = np.stack([np.sin(2 * np.pi * t / 20), np.cos(2 * np.pi * t / 20)], axis=1)
    assert dominant_period(cycle) == 20
    cycle[7, 1] = bad
    message = r"the series has 1 value that is not a finite number \(NaN or infinite\), the first at point 7 of channel 1"
    with pytest.raises(ValueError, match=message):
        dominant_period(cycle)
    with pytest.raises(ValueError, match=message):
        auto_windows(cycle)


@pytest.mark.parametrize("seed", range(5))
def test_dominant_period_finds_no_period_in_a_random_walk_beside_noise(seed):
    """Averaged over channels, a random walk's slowly decaying autocorrelation beside white noise gave bumps of
    the estimate's noise that counted as peaks: periods 8 to 13 for data that has none."""
    from vae_lstm.windowing import dominant_period

    rng = np.random.default_rng(seed)
    walk_and_noise = np.stack([np.cumsum(rng.standard_normal(5000)), rng.standard_normal(5000)], axis=1)
    assert dominant_period(walk_and_noise) is None
    assert dominant_period(np.cumsum(rng.standard_normal(5000))) is None


@pytest.mark.parametrize("seed", range(5))
def test_dominant_period_of_one_cycling_channel_among_others(seed):
    """A channel with a 50-point cycle beside a noise channel and a constant one: its period, not a noisy
    average's (which came out 46 to 51)."""
    from vae_lstm.windowing import dominant_period

    rng = np.random.default_rng(seed)
    t = np.arange(5000)
    data = np.stack([np.sin(2 * np.pi * t / 50) + 0.3 * rng.standard_normal(5000), rng.standard_normal(5000),
                     np.ones(5000)], axis=1)
    assert dominant_period(data) == 50
    assert dominant_period(data[:, 1:]) is None  # noise and a constant: no period


def test_dominant_period_removes_each_channels_own_level():
    """A 20-point cycle at level 100 beside a constant channel at 0. Each channel's mean is removed on its own;
    removing the mean of both (50) would leave each channel 50 away from 0, and the autocorrelation of that
    offset, falling by 1/n per lag, would bury the cycle's (0.5 / 2500 of it): no period."""
    from vae_lstm.windowing import dominant_period

    t = np.arange(2000)
    assert dominant_period(np.stack([np.sin(2 * np.pi * t / 20) + 100, np.zeros(2000)], axis=1)) == 20


def test_dominant_period_takes_the_channel_with_the_highest_peak():
    """Channel 0 cycles every 20 points under as much noise as signal (its autocorrelation peak is about
    0.5 / (0.5 + 1) = 1/3), channel 1 every 50 points without noise (peak about 1): the period is 50."""
    from vae_lstm.windowing import dominant_period

    t = np.arange(2000)
    noisy_20 = np.sin(2 * np.pi * t / 20) + np.random.default_rng(0).standard_normal(2000)
    both = np.stack([noisy_20, np.sin(2 * np.pi * t / 50)], axis=1)
    assert dominant_period(both[:, :1]) == 20 and dominant_period(both) == 50


def test_units_from_points_of_exactly_one_span():
    """Three points and span 3: one unit, covering all three, scored by their largest."""
    from vae_lstm.windowing import units_from_points

    np.testing.assert_array_equal(units_from_points([1.0, 3.0, 2.0], 3), [3.0])
    assert len(units_from_points([1.0, 3.0], 3)) == 0


def test_dominant_period_looks_no_further_than_a_quarter_of_the_series():
    """A 300-point cycle in 1,000 points is past the default largest lag, 250: no period; allowed lags up to 400,
    its first autocorrelation peak is found (at 298, the estimate's bias on so short a series)."""
    from vae_lstm.windowing import dominant_period

    cycle = np.sin(2 * np.pi * np.arange(1000) / 300)
    assert dominant_period(cycle) is None
    assert abs(dominant_period(cycle, max_period=400) - 300) <= 5


def test_dominant_period_at_the_largest_lag_when_it_is_the_smallest():
    """A 33-point block of an 8-point cycle: its only allowed lag is 8 (= 33 // 4 = min_period), which was skipped
    as if the range were empty, so "l_win": "auto" printed "no clear period: default 24, cut to 8"."""
    from vae_lstm.windowing import dominant_period

    cycle = np.sin(2 * np.pi * np.arange(33) / 8)
    assert dominant_period(cycle) == 8
    assert auto_windows(cycle)["why"] == "period 8 (the first autocorrelation peak at lag 8)"


@pytest.mark.parametrize("call, message", [
    (lambda: rolling_windows(np.arange(10.0), 0), "l_win must be an integer >= 1, got 0"),
    (lambda: n_sequences(10, 0, 3), "l_win must be an integer >= 1, got 0"),
    (lambda: lstm_sequences(np.arange(10.0), 2, 0), "l_seq must be an integer >= 1, got 0"),
    (lambda: points_from_units([1.0, 2.0, 3.0], 0, 5), "span must be an integer >= 1, got 0"),
    (lambda: points_from_units([1.0, 2.0, 3.0], -1, 5), "span must be an integer >= 1, got -1"),
    (lambda: units_from_points(np.arange(10.0), 0), "span must be an integer >= 1, got 0"),
    (lambda: segment_scores([1.0, 2.0], 0, 5, 2), "span must be an integer >= 1, got 0"),
    (lambda: segment_scores([1.0, 2.0], 1, 0, 2), "length must be an integer >= 1, got 0"),
    (lambda: segment_windows(np.zeros((2, 10, 1)), 3, 0), "stride must be an integer >= 1, got 0"),
    (lambda: segment_sequences(np.zeros((2, 10, 1)), 2, 0), "l_seq must be an integer >= 1, got 0"),
    (lambda: auto_windows(np.zeros(100), l_win=0), "l_win must be an integer >= 1, got 0"),
])
def test_a_size_below_one_is_refused_by_name(call, message):
    """Sizes of 0 gave NumPy's "negative dimensions are not allowed", "zero-size array to reduction operation",
    a ZeroDivisionError, empty windows (11 sequences of 0 windows) or, in segment_scores, scores for a span of 0
    points."""
    with pytest.raises(ValueError, match=rf"^{message}$"):
        call()


def test_a_whole_float_size_is_taken_and_a_fraction_or_bool_refused():
    np.testing.assert_array_equal(rolling_windows(np.arange(5.0), 4.0), rolling_windows(np.arange(5.0), 4))
    assert n_sequences(10, np.int64(2), 3.0) == 5
    for bad in (2.5, True, float("nan")):
        with pytest.raises(ValueError, match=rf"^l_win must be an integer >= 1, got {bad!r}$"):
            rolling_windows(np.arange(5.0), bad)


def test_dominant_period_of_a_noisy_cycle_is_its_autocorrelations_top_not_a_bump_on_the_way_up():
    """A 288-point cycle (5-minute data, daily) under noise of 0.3: a bump of the estimate's noise on the
    autocorrelation's rise towards its peak at 288 counted as the first peak, so the period came out 273 to 283.
    A peak must fall by the estimate's noise after it, before the autocorrelation passes it."""
    from vae_lstm.windowing import dominant_period

    t = np.arange(4032)
    for seed in range(8):
        noisy = np.sin(2 * np.pi * t / 288) + 0.3 * np.random.default_rng(seed).standard_normal(4032)
        assert abs(dominant_period(noisy) - 288) <= 3, seed


@pytest.mark.parametrize("period, rise, noise", [(24, 20, 0.0), (288, 10, 0.3), (288, 4, 0.3)])
def test_dominant_period_of_a_cycle_on_a_trend(period, rise, noise):
    """A cycle of amplitude 1 on a straight line rising ``rise`` over the block (a growing metric): the line's slowly
    falling autocorrelation buried the cycle's (no period, "default 24") or pulled its peak early (280 for 288).
    Each channel's straight line is removed, not only its level."""
    from vae_lstm.windowing import dominant_period

    t = np.arange(2000 if period == 24 else 4032)
    for seed in range(4):
        wobble = noise * np.random.default_rng(seed).standard_normal(len(t))
        trending = np.sin(2 * np.pi * t / period) + rise * t / len(t) + wobble
        found = dominant_period(np.stack([trending, np.ones(len(t))], axis=1))
        assert found is not None and abs(found - period) <= 3, (seed, found)


@pytest.mark.parametrize("shape, l_win, l_seq, stride", [
    ((3, 12, 1), 3, 4, 1),   # a segment is one sequence: a view
    ((3, 12, 2), 2, 3, 6),   # sequences that tile the segments: a view
    ((1, 20, 1), 2, 3, 1),   # one segment: a view
    ((3, 20, 1), 2, 3, 1),   # overlapping sequences: a copy
    ((3, 14, 1), 3, 4, 1),   # one sequence per segment, shorter than it: a copy
    ((3, 16, 1), 2, 3, 6),   # stride of a sequence, segments longer than two: a copy
])
def test_training_sequences_copied_says_whether_the_lstm_stage_copies_the_windows(shape, l_win, l_seq, stride):
    """The LSTM stage's memory check counts the windows of the segments' sequences only where encoding them copies
    them: as NumPy does (a view shares the segments' memory)."""
    segments = np.arange(np.prod(shape), dtype="float32").reshape(shape)
    rows = segment_sequences(segments, l_win, l_seq, stride).reshape(-1, l_win, shape[2])
    assert training_sequences_copied(segments, l_win, l_seq, stride) == (not np.shares_memory(rows, segments))
    assert not training_sequences_copied(segments[0], l_win, l_seq, stride)  # a series


@pytest.mark.parametrize("shape, l_win, stride, expected", [
    ((3, 10, 2), 4, 2, (12, 4, 2)),  # offsets 0, 2, 4, 6 in each of 3 segments
    ((3, 10, 2), 4, 1, (21, 4, 2)),  # offsets 0 .. 6
    ((2, 8, 1), 4, 4, (4, 4, 1)),  # windows that tile the segments
    ((1, 9, 1), 9, 1, (1, 9, 1)),  # one window per segment
    ((1, 10, 1), 4, 1, (7, 4, 1)),  # one segment: a view of it
    ((10, 3), 4, 1, (7, 4, 3)),  # a series: every stride-1 window
])
def test_training_window_shape_and_copy_match_the_windows_made(shape, l_win, stride, expected):
    """The memory check before training reads the windows' shape, and whether they are a copy, from the training
    array's shape alone: both agree with the windows ``training_windows`` then makes (a count one window short, or a
    copy taken for a view, misjudged the memory the training needs)."""
    from vae_lstm.windowing import training_window_shape, training_windows, training_windows_copied

    train = np.arange(float(np.prod(shape))).reshape(shape)
    windows = training_windows(train, l_win, stride)
    assert training_window_shape(shape, l_win, stride) == expected == windows.shape
    assert training_windows_copied(train, l_win, stride) == (not np.shares_memory(windows, train))
