"""Input checks shared by the threshold metrics."""

from __future__ import annotations

import numpy as np

from ..evaluation import binary_pair, segments


def pair_and_segments(labels, predictions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked boolean labels and predictions of equal length, and the [start, end) of each labelled run."""
    y, p = binary_pair("labels", labels, "predictions", predictions)
    seg = segments(y)
    return y, p, seg[:, 0], seg[:, 1]
