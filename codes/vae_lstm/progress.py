"""The name of the pass that a progress line of scoring belongs to (``scoring.Progress``), without TensorFlow.

Detection makes several passes over series of the same length (the training block's calibration and scores,
then each test piece), and a line that named none ("scoring: 74 of 185 windows") left the reader to guess
which one it was. The caller names each with ``scoring_pass``.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

_PASS = contextvars.ContextVar("scoring_pass", default="scoring")


@contextmanager
def scoring_pass(name: str):
    """The passes started inside it print ``name`` (such as "scoring test piece 2 of 3") at the start of their
    progress lines, in place of "scoring"."""
    token = _PASS.set(name)
    try:
        yield
    finally:
        _PASS.reset(token)


def pass_name() -> str:
    """The name of the pass that starts now: the innermost ``scoring_pass``'s, else "scoring"."""
    return _PASS.get()
