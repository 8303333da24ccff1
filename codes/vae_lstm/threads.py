"""How TensorFlow uses the CPU: every op on one thread, and up to ``threads`` independent ops at once.

On 2 cores the models here are small enough that splitting each op over threads costs more than it
gains: a VAE training step at the common benchmark config took 4.4-5.8 ms with one thread per op and
two ops at once, against 8.6-9.7 ms with TensorFlow's default of both threads per op. Scoring runs
``branches()`` chunks side by side, one per thread (``scoring.compiled_apply``). Every op then runs
single-threaded on inputs of the same shapes, so a run's numbers do not depend on how many threads it was
given.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def usable_cores() -> int:
    """The cores this process may use: its CPU affinity (``taskset``, a container's cpuset), capped by a cgroup's
    CPU quota where one is set (``docker --cpus 2``), rounded up. ``os.cpu_count()`` counts the machine's cores,
    and threads for all of them on a share of them only wait on each other."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(min(cores, math.ceil(quota)) if quota else cores, 1)


def cgroup_cpu_quota(root: Path = CGROUP) -> float | None:
    """CPUs' worth of time a cgroup allows per period: cgroup v2's ``cpu.max`` ("200000 100000" is 2) or v1's
    ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``; None where there is no quota ("max", -1) or no such file."""
    try:
        quota, period = (root / "cpu.max").read_text().split()
    except (OSError, ValueError):
        try:
            quota, period = ((root / "cpu" / name).read_text().strip() for name in ("cpu.cfs_quota_us", "cpu.cfs_period_us"))
        except OSError:
            return None
    try:
        share = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):  # "max": no quota
        return None
    return share if share > 0 else None  # v1's -1: no quota


def use_threads(threads: int | None = None) -> int:
    """Give TensorFlow (and the BLAS under numpy) ``threads`` threads, default the usable cores
    (``usable_cores``), before it starts; a TensorFlow that already ran an op keeps its pools. Returns the
    threads asked for."""
    threads = max(int(threads or usable_cores()), 1)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    # a BLAS already loaded (numpy imported first, as in a grid's workers) read the variables at its load: limit it
    # too, or each of a grid's workers runs ARMA's fits with a BLAS thread per core, which wait on each other
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
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
