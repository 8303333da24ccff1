"""Two controls that every honest table needs: a seeded random score and |z|."""

from __future__ import annotations

import zlib

import numpy as np

from .base import Detector, Scores


class RandomDetector(Detector):
    """Uniform random scores in [0, 1), seeded by the config's seed and the series' length and values,
    so that the same series always gets the same scores."""

    name = "random"
    fits_segments = True  # nothing to learn

    def score(self, series):
        series = self.check_series(series, 1, "point")
        key = zlib.crc32(np.ascontiguousarray(series[: min(len(series), 64)]).tobytes())
        rng = np.random.default_rng([self.config.seed, len(series), key])
        return Scores.from_points(rng.random(len(series)))


class AbsZDetector(Detector):
    """The absolute value of the training-standardised series, the largest over channels.

    The series handed to detectors is already standardised with the training block's mean and std.
    """

    name = "abs_z"
    fits_segments = True  # nothing to learn

    def score(self, series):
        series = self.check_series(series, 1, "point")
        return Scores.from_points(np.abs(series).max(axis=1))
