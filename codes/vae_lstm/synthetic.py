"""Deterministic synthetic seasonal series with known anomalies, for fast tests and offline demos."""

import numpy as np

from .errors import ConfigError

KINDS = ("spike", "level_shift", "flat_line")


def make_synthetic_values(length, period, noise, n_anomalies, train_end, n_channel=1, seed=0):
    """Return (values (length, n_channel) float64, anomaly_idx int64); see ``make_synthetic``."""
    values, starts, _ = make_synthetic(length, period, noise, n_anomalies, train_end, n_channel, seed)
    return values, starts


def make_synthetic(length, period, noise, n_anomalies, train_end, n_channel=1, seed=0):
    """Return (values (length, n_channel) float64, anomaly_idx int64, point_labels bool (length,)).

    Each channel is a sine of `period` plus its second harmonic, with a random phase and
    Gaussian noise of std `noise`. Anomalies are injected only after `train_end`, one per
    equal slot, cycling through spike (2 points), level shift and flat-line (`seg` points
    each); the label of an anomaly is its first point, and ``point_labels`` marks every point it changed.
    """
    if period < 2 or length < 1 or n_channel < 1 or noise < 0 or n_anomalies < 0:
        raise ConfigError(
            "synthetic: need period >= 2, length >= 1, n_channel >= 1, noise >= 0, n_anomalies >= 0"
        )
    if not 0 < train_end <= length:
        raise ConfigError(f"synthetic: train_end {train_end} must be in (0, length={length}]")
    seg = max(3, period // 4)
    slot = (length - train_end) / max(n_anomalies, 1)
    if n_anomalies and slot < 4 * seg:
        raise ConfigError(
            f"synthetic: {n_anomalies} anomalies of {seg} points do not fit in the {length - train_end} "
            "points after train_end"
        )
    rng = np.random.default_rng(seed)
    t = np.arange(length)[:, None]
    phase = rng.uniform(0, 2 * np.pi, size=(2, n_channel))
    w = 2 * np.pi * t / period
    values = np.sin(w + phase[0]) + 0.5 * np.sin(2 * w + phase[1])
    values += noise * rng.standard_normal((length, n_channel))

    starts = []
    point_labels = np.zeros(length, dtype=bool)
    for i in range(n_anomalies):
        start = train_end + int(slot * (i + rng.uniform(0.25, 0.75)))
        seg_end = min(start + seg, length)
        kind = KINDS[i % len(KINDS)]
        if kind == "spike":
            values[start : start + 2] += 4.0 * rng.choice([-1.0, 1.0])
            point_labels[start : start + 2] = True
        elif kind == "level_shift":
            values[start:seg_end] += 2.0
            point_labels[start:seg_end] = True
        else:
            values[start:seg_end] = values[start]
            point_labels[start:seg_end] = True
        starts.append(start)
    return values, np.asarray(starts, dtype=np.int64), point_labels
