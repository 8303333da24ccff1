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
