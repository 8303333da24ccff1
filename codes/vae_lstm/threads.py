"""How TensorFlow uses the CPU: every op on one thread, and up to ``threads`` independent ops at once.

On 2 cores the models here are small enough that splitting each op over threads costs more than it
gains: a VAE training step at the common benchmark config took 4.4-5.8 ms with one thread per op and
two ops at once, against 8.6-9.7 ms with TensorFlow's default of both threads per op. Scoring runs
``branches()`` chunks side by side, one per thread (``scoring.compiled_apply``). Every op then runs
single-threaded on inputs of the same shapes, so a run's numbers do not depend on how many threads it was
given.
"""

from __future__ import annotations

import os


def use_threads(threads: int | None = None) -> int:
    """Give TensorFlow (and the BLAS under numpy) ``threads`` threads, default all cores, before it
    starts; a TensorFlow that already ran an op keeps its pools. Returns the threads asked for."""
    threads = max(int(threads or os.cpu_count() or 1), 1)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # an op ran before: the pools are fixed (a second call in one process)
        pass
    from .quiet import mute_int32_notice

    mute_int32_notice()
    return threads


def branches() -> int:
    """Independent scoring chunks run at once: TensorFlow's inter-op threads when each op has one thread
    (``use_threads``), else 1."""
    import tensorflow as tf

    if tf.config.threading.get_intra_op_parallelism_threads() != 1:
        return 1
    return max(tf.config.threading.get_inter_op_parallelism_threads(), 1)
