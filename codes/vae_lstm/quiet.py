"""Silence TensorFlow's start-up noise on machines without a GPU, before TensorFlow is imported.

TensorFlow 2.21 writes its import-time notices (absl's "before InitializeLog" warning, the oneDNN
notice, "could not find cuda drivers") from C++ straight to file descriptor 2, whatever
TF_CPP_MIN_LOG_LEVEL says, and "failed call to cuInit" at device discovery when no GPU driver is
present. It also writes, once per process, "oneDNN supports DT_INT32 only on platforms with AVX-512"
(an error-level line) at the first int32 op that oneDNN could take, such as the transpose in the gradient
of the decoder's upsampling. This module hides exactly those: stderr is muted while ``tensorflow`` itself
is imported and its devices are listed (an import error still shows, once stderr is back), and while
``mute_int32_notice`` runs one int32 transpose, which ``threads.use_threads`` calls once the thread pools
are set (running an op fixes them). Set
VAE_LSTM_TF_VERBOSE=1 to see everything.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys


@contextlib.contextmanager
def muted_stderr():
    """File descriptor 2 (where TensorFlow's C++ writes) points at /dev/null inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the other finders, and mutes fd 2 while its module body runs."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module):
            with muted_stderr():
                original(module)
                module.config.list_physical_devices()  # device discovery (cuInit) while muted

        loader.exec_module = exec_module
        return spec


def install() -> None:
    if os.environ.get("VAE_LSTM_TF_VERBOSE") == "1" or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


def mute_int32_notice() -> None:
    """Run one int32 transpose with stderr muted, so that oneDNN's once-per-process DT_INT32 line goes nowhere.
    Call it after the thread settings: the first op starts TensorFlow's runtime, which fixes them."""
    if os.environ.get("VAE_LSTM_TF_VERBOSE") == "1":
        return
    import tensorflow as tf

    with muted_stderr(), contextlib.suppress(Exception):  # a notice to hide, never a reason to stop
        tf.transpose(tf.constant([[0, 1]], tf.int32))
