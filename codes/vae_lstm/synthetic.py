"""Deterministic synthetic seasonal series with known anomalies, for fast tests and offline demos."""

import numbers

import numpy as np

from .errors import ConfigError
from .windowing import whole_number

KINDS = ("spike", "level_shift", "flat_line")
# Kinds that last one whole period, for a wider development set: more noise, the pattern at twice its
# frequency, the pattern at 0.3 of its amplitude, a ramp up to +2. The last three stay within the
# series' normal range for most of their points, so a level detector (abs_z) hardly sees them.
WIDE_KINDS = ("noise_burst", "frequency", "amplitude", "drift")
ALL_KINDS = KINDS + WIDE_KINDS


def make_synthetic_values(length, period, noise, n_anomalies, train_end, n_channel=1, seed=0, kinds=KINDS):
    """Return (values (length, n_channel) float64, anomaly_idx int64); see ``make_synthetic``."""
    values, starts, _ = make_synthetic(length, period, noise, n_anomalies, train_end, n_channel, seed, kinds)
    return values, starts


def make_synthetic(length, period, noise, n_anomalies, train_end, n_channel=1, seed=0, kinds=KINDS):
    """Return (values (length, n_channel) float64, anomaly_idx int64, point_labels bool (length,)).

    Each channel is a sine of `period` plus its second harmonic, with a random phase and
    Gaussian noise of std `noise`. Anomalies are injected only after `train_end`, one per
    equal slot, cycling through ``kinds``: spike (2 points), level shift and flat-line (`seg` points
    each), and the ``WIDE_KINDS`` (`period` points each). The label of an anomaly is its first point, and
    ``point_labels`` marks every point of its span: every point it changed, and the first of a flat line (whose
    value the line holds) and of a drift (whose ramp starts at +0), and the point of a frequency anomaly at a
    whole number of periods (where the pattern at 2t is the pattern at t), which it leaves as they were (the last
    but for float64 rounding).
    """
    try:  # whole numbers (400.0 is 400, as JSON may write it), each at least its least value
        length, period, n_anomalies, train_end, n_channel, seed = (
            whole_number(value, key, least) for key, value, least in (
                ("length", length, 1), ("period", period, 2), ("n_anomalies", n_anomalies, 0),
                ("train_end", train_end, 1), ("n_channel", n_channel, 1), ("seed", seed, 0)))
    except ValueError as e:
        raise ConfigError(f"synthetic: {e}") from None
    if (not isinstance(noise, numbers.Real) or isinstance(noise, bool | np.bool_)  # np.float32(0.25) is a number
            or not np.isfinite(noise) or noise < 0):
        shown = noise.item() if isinstance(noise, np.generic) else noise  # nan, not NumPy 2's np.float64(nan)
        raise ConfigError(f"synthetic: noise must be a finite number >= 0, got {shown!r}")
    noise = float(noise)
    if not 0 < train_end <= length:
        raise ConfigError(f"synthetic: train_end {train_end} must be in (0, length={length}]")
    if (not isinstance(kinds, list | tuple) or not kinds  # a string is no list of kinds: "spike" is not s, p, i, k, e
            or not all(isinstance(kind, str) and kind in ALL_KINDS for kind in kinds)):
        given = list(kinds) if isinstance(kinds, list | tuple) else kinds
        raise ConfigError(f"synthetic: kinds must be some of {', '.join(ALL_KINDS)}; got {given!r}")
    seg = max(3, period // 4)
    width = max(seg, period) if set(kinds) & set(WIDE_KINDS) else seg
    slot = (length - train_end) / max(n_anomalies, 1)
    if n_anomalies and slot < 4 * width:
        need = (f"1 anomaly of up to {width} points needs a slot of 4 x {width} = {4 * width} points after train_end"
                if n_anomalies == 1 else
                f"{n_anomalies} anomalies of up to {width} points need a slot of 4 x {width} = {4 * width} points "
                f"each after train_end ({4 * width * n_anomalies} in all)")
        raise ConfigError(f"synthetic: {need}; there are {length - train_end}")
    rng = np.random.default_rng(seed)
    t = np.arange(length)[:, None]
    phase = rng.uniform(0, 2 * np.pi, size=(2, n_channel))
    w = 2 * np.pi * t / period
    pattern = np.sin(w + phase[0]) + 0.5 * np.sin(2 * w + phase[1])
    with np.errstate(over="ignore"):
        values = pattern + noise * rng.standard_normal((length, n_channel))
    if not np.isfinite(values).all():  # 1e308 times a normal number overflows: a series of infinities
        raise ConfigError(f"synthetic: noise {noise!r} is too large: the values overflow float64")

    starts = []
    point_labels = np.zeros(length, dtype=bool)
    for i in range(n_anomalies):
        start = train_end + int(slot * (i + rng.uniform(0.25, 0.75)))
        seg_end = min(start + seg, length)
        wide_end = min(start + period, length)
        kind = kinds[i % len(kinds)]
        if kind == "spike":
            values[start : start + 2] += 4.0 * rng.choice([-1.0, 1.0])
            point_labels[start : start + 2] = True
        elif kind == "level_shift":
            values[start:seg_end] += 2.0
            point_labels[start:seg_end] = True
        elif kind == "flat_line":
            values[start:seg_end] = values[start]
            point_labels[start:seg_end] = True
        else:
            span = slice(start, wide_end)
            if kind == "noise_burst":
                values[span] += 0.5 * rng.standard_normal((wide_end - start, n_channel))
            elif kind == "frequency":
                fast = 2 * w[span]
                values[span] += np.sin(fast + phase[0]) + 0.5 * np.sin(2 * fast + phase[1]) - pattern[span]
            elif kind == "amplitude":
                values[span] -= 0.7 * pattern[span]
            else:  # drift
                values[span] += np.linspace(0.0, 2.0, wide_end - start)[:, None]
            point_labels[span] = True
        starts.append(start)
    return values, np.asarray(starts, dtype=np.int64), point_labels
