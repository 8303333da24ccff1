"""Input checks shared by the threshold metrics."""

from __future__ import annotations

import numpy as np


def binary(name: str, x) -> np.ndarray:
    """A 1-D boolean copy of 0/1 (or boolean) values; ValueError otherwise."""
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.dtype != bool:
        if not np.all((a == 0) | (a == 1)):
            raise ValueError(f"{name} must hold only 0 and 1")
        a = a == 1
    return a


def pair_and_segments(labels, predictions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked boolean labels and predictions of equal length, and the [start, end) of each labelled run."""
    from ..evaluation import segments

    y, p = binary("labels", labels), binary("predictions", predictions)
    if len(y) != len(p):
        raise ValueError(f"labels and predictions differ in length: {len(y)} != {len(p)}")
    seg = segments(y)
    return y, p, seg[:, 0], seg[:, 1]
