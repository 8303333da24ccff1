import numpy as np
import pytest

from vae_lstm.data_loader import load_series
from vae_lstm.errors import ConfigError
from vae_lstm.synthetic import make_synthetic_values

ARGS = dict(length=1000, period=24, noise=0.1, n_anomalies=3, train_end=500)


def test_deterministic_by_seed():
    a, ia = make_synthetic_values(**ARGS, seed=7)
    b, ib = make_synthetic_values(**ARGS, seed=7)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ia, ib)


def test_different_seeds_differ():
    a, _ = make_synthetic_values(**ARGS, seed=0)
    b, _ = make_synthetic_values(**ARGS, seed=1)
    assert not np.allclose(a, b)


@pytest.mark.parametrize("n_channel", [1, 3])
def test_shapes_and_anomalies_after_train_end(n_channel):
    values, idx = make_synthetic_values(**ARGS, n_channel=n_channel)
    assert values.shape == (1000, n_channel) and values.dtype == np.float64
    assert idx.dtype == np.int64 and len(idx) == 3
    assert (idx >= 500).all() and (idx < 1000).all() and (np.diff(idx) > 0).all()


def test_anomalies_change_the_signal():
    clean, _ = make_synthetic_values(**{**ARGS, "n_anomalies": 0})
    dirty, idx = make_synthetic_values(**ARGS)
    changed = np.flatnonzero((clean != dirty).any(axis=1))
    assert changed.min() == idx[0] and (changed >= 500).all()


def test_too_many_anomalies_is_config_error():
    with pytest.raises(ConfigError):
        make_synthetic_values(**{**ARGS, "n_anomalies": 100})


def test_load_series_synthetic():
    s = load_series("synthetic")
    assert s.timestamps is None and s.n_channel == 1
    assert s.raw.shape == (4000, 1) and s.train.shape == (2000, 1)
    np.testing.assert_allclose(s.train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(s.train.std(axis=0), 1)
    [piece] = s.test_pieces
    assert piece.name == "test" and piece.start == 2000 and piece.values.shape == (2000, 1)
    np.testing.assert_array_equal(piece.anomaly_idx + piece.start, s.anomaly_idx)


def test_each_kind_changes_its_points_as_described():
    from vae_lstm.synthetic import ALL_KINDS, make_synthetic

    args = dict(length=2000, period=24, noise=0.0, train_end=1000, seed=3)
    clean, _, _ = make_synthetic(**args, n_anomalies=0)
    dirty, starts, labels = make_synthetic(**args, n_anomalies=7, kinds=ALL_KINDS)
    assert len(starts) == 7 and (np.diff(starts) > 24).all()
    changed = (dirty != clean).any(axis=1)
    assert (labels | ~changed).all()  # every changed point is labelled
    spans = {kind: slice(s, s + 24) for kind, s in zip(ALL_KINDS, starts, strict=True)}
    for kind in ("noise_burst", "frequency", "amplitude", "drift"):  # one period each
        assert labels[spans[kind]].all() and labels[spans[kind].stop] == 0
    t = np.arange(spans["amplitude"].start, spans["amplitude"].stop)
    np.testing.assert_allclose(dirty[t], 0.3 * clean[t])  # without noise the series is the pattern
    t = np.arange(spans["drift"].start, spans["drift"].stop)
    np.testing.assert_allclose(dirty[t, 0] - clean[t, 0], np.linspace(0, 2, 24))
    t = np.arange(spans["frequency"].start, spans["frequency"].stop)
    np.testing.assert_allclose(dirty[t], clean[(2 * t) % 24], atol=1e-9)  # the pattern at time 2t
    t = np.arange(spans["noise_burst"].start, spans["noise_burst"].stop)
    assert changed[t].all() and 0.2 < np.std(dirty[t] - clean[t]) < 1.0
    assert labels.sum() == 2 + 6 + 6 + 4 * 24  # spike, level shift and flat line (period // 4), four wide kinds


def test_unknown_kind_is_config_error():
    with pytest.raises(ConfigError, match="kinds"):
        make_synthetic_values(**ARGS, kinds=("spike", "wobble"))
    with pytest.raises(ConfigError, match="got 'spike'$"):  # a string, not a list of kinds: it read s, p, i, k, e
        make_synthetic_values(**ARGS, kinds="spike")


def test_anomalies_that_do_not_fit_say_how_many_points_they_need():
    """The message said "1 anomalies of 50 points do not fit in the 50 points after train_end": 50 points fit in 50."""
    with pytest.raises(ConfigError) as info:
        make_synthetic_values(length=100, period=200, noise=0.1, n_anomalies=1, train_end=50)
    assert str(info.value) == ("synthetic: 1 anomaly of up to 50 points needs a slot of 4 x 50 = 200 points after "
                               "train_end; there are 50")
    with pytest.raises(ConfigError, match="3 anomalies of up to 6 points need a slot of 4 x 6 = 24 points each "
                                          r"after train_end \(72 in all\); there are 50"):
        make_synthetic_values(length=100, period=24, noise=0.1, n_anomalies=3, train_end=50)


@pytest.mark.parametrize("key, value", [("n_anomalies", 1.5), ("period", 24.5), ("train_end", "500"),
                                        ("n_channel", True), ("noise", float("nan"))])
def test_parameters_of_the_wrong_kind_are_one_line(key, value):
    """A period of 24.5 or 1.5 anomalies was a TypeError from deep inside, and a NaN noise a series of NaNs."""
    with pytest.raises(ConfigError, match=f"synthetic: {key} must be "):
        make_synthetic_values(**{**ARGS, key: value})
    if not isinstance(value, str | bool):  # a NumPy scalar is named as its number, not "got np.float64(24.5)"
        with pytest.raises(ConfigError, match=rf"synthetic: {key} must be .*, got {value!r}$"):
            make_synthetic_values(**{**ARGS, key: np.float64(value)})
    whole, _ = make_synthetic_values(**{**ARGS, "length": 1000.0, "period": 24.0})  # whole numbers, as JSON may write
    np.testing.assert_array_equal(whole, make_synthetic_values(**ARGS)[0])


@pytest.mark.parametrize("kinds", [5, None, [["spike"]]])
def test_kinds_that_are_no_list_of_names_are_one_line(kinds):
    """kinds 5 or [["spike"]] was a TypeError from set(kinds) (not iterable, a list is unhashable)."""
    with pytest.raises(ConfigError, match=r"synthetic: kinds must be some of spike, .*; got "):
        make_synthetic_values(**ARGS, kinds=kinds)


@pytest.mark.parametrize("key, value, line", [("seed", -1, "seed must be an integer >= 0, got -1"),
                                              ("period", 1, "period must be an integer >= 2, got 1")])
def test_counts_out_of_range_are_one_line_naming_the_count(key, value, line):
    """A seed of -1 was numpy's ValueError ("expected non-negative integer"), not a ConfigError; a period of 1 was a
    line listing every bound but not which one was broken."""
    with pytest.raises(ConfigError) as info:
        make_synthetic_values(**{**ARGS, key: value})
    assert str(info.value) == f"synthetic: {line}"


def test_labelled_points_left_unchanged_are_a_flat_lines_and_a_drifts_first_and_a_frequencys_whole_period():
    """The docstring said the labels mark every point an anomaly changed; three labelled points are unchanged (but
    for float64 rounding): a flat line's first, whose value the line holds, a drift's first, where its ramp adds 0,
    and the point of a doubled frequency at a whole number of periods, where the pattern at 2t is the pattern at t.
    The docstring and the README named the first two only: the third differs by 4e-14 of rounding."""
    from vae_lstm.synthetic import ALL_KINDS, make_synthetic

    args = dict(length=2000, period=24, noise=0.1, train_end=1000, seed=3)
    clean, _, _ = make_synthetic(**args, n_anomalies=0)
    dirty, starts, labels = make_synthetic(**args, n_anomalies=7, kinds=ALL_KINDS)
    unchanged = np.flatnonzero(labels & ~(np.abs(dirty - clean) > 1e-9).any(axis=1))
    flat, frequency, drift = starts[[ALL_KINDS.index(kind) for kind in ("flat_line", "frequency", "drift")]]
    assert frequency == 1625  # so its whole period, 68 x 24 = 1632, is its 8th point
    np.testing.assert_array_equal(unchanged, [flat, 1632, drift])


def test_spike_and_level_shift_sizes_and_where_anomalies_start():
    """Without noise: a spike adds +-4 to its 2 points (one sign for both), a level shift +2 to its period // 4 = 6
    points, and nothing else changes; each anomaly starts in the middle half of its slot, here 1000 / 3 points
    after train_end each."""
    from vae_lstm.synthetic import make_synthetic

    args = dict(length=2000, period=24, noise=0.0, train_end=1000, n_channel=2, seed=5)
    clean, _, _ = make_synthetic(**args, n_anomalies=0)
    dirty, starts, labels = make_synthetic(**args, n_anomalies=3)
    slot = 1000 / 3
    offsets = (starts - 1000) / slot - np.arange(3)
    assert ((offsets >= 0.25) & (offsets < 0.75)).all(), offsets
    diff = dirty - clean
    spike, shift = starts[0], starts[1]
    np.testing.assert_allclose(diff[spike:spike + 2], np.sign(diff[spike, 0]) * 4.0, rtol=1e-12)
    np.testing.assert_allclose(diff[shift:shift + 6], 2.0, rtol=1e-12)
    changed = np.flatnonzero((diff != 0).any(axis=1))
    assert set(changed) - {spike, spike + 1} - set(range(shift, shift + 6)) <= set(range(starts[2], starts[2] + 6))
    assert labels.sum() == 2 + 6 + 6


def test_each_channel_has_its_own_noise_of_the_given_std():
    """The same seed with noise 0.1 and 0 draws the same phases and the same normal numbers: their difference is
    0.1 times the noise, which must differ between the channels (not one noise shared by all) and have std 0.1."""
    args = dict(length=4000, period=24, n_anomalies=0, train_end=2000, n_channel=2, seed=1)
    noise = make_synthetic_values(**args, noise=0.1)[0] - make_synthetic_values(**args, noise=0.0)[0]
    assert abs(np.corrcoef(noise[:, 0], noise[:, 1])[0, 1]) < 0.1
    np.testing.assert_allclose(noise.std(axis=0), 0.1, rtol=0.05)


@pytest.mark.parametrize("noise", [np.float32(0.25), np.int64(1), np.float16(0.5)])
def test_noise_of_a_numpy_type_is_taken_as_its_number(noise):
    """np.float32(0.25), as an array of float32 gives it, was refused as "noise must be a finite number >= 0"."""
    np.testing.assert_array_equal(make_synthetic_values(**{**ARGS, "noise": noise})[0],
                                  make_synthetic_values(**{**ARGS, "noise": float(noise)})[0])


def test_noise_too_large_for_float64_is_one_line():
    """A noise of 1e308 overflowed to a series of infinities, with only numpy's RuntimeWarning."""
    with pytest.raises(ConfigError, match=r"^synthetic: noise 1e\+308 is too large: the values overflow float64$"):
        make_synthetic_values(**{**ARGS, "noise": 1e308})
