"""Input checks shared by the threshold metrics."""

from __future__ import annotations

import numpy as np

from ..evaluation import binary, same_index, segments


def pair_and_segments(labels, predictions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked boolean labels and predictions of equal length, and the [start, end) of each labelled run."""
    y, p = binary("labels", labels), binary("predictions", predictions)
    if len(y) != len(p):
        raise ValueError(f"labels and predictions differ in length: {len(y)} != {len(p)}")
    same_index("labels", labels, "predictions", predictions)
    seg = segments(y)
    return y, p, seg[:, 0], seg[:, 1]
