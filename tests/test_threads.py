"""Thread settings: one thread per op, ``threads`` ops at once, set before TensorFlow starts."""

import subprocess
import sys

import numpy as np

from vae_lstm.config import REPO_ROOT

PROBE = """
import os
import numpy as np  # loaded first, as in a grid's worker: its BLAS has read the variables already
from threadpoolctl import threadpool_info, threadpool_limits
threadpool_limits(limits=2, user_api="blas")
from vae_lstm.threads import branches, use_threads
import tensorflow as tf
print(branches())  # TensorFlow's defaults: each op over all threads, so no slices
use_threads({threads})
print(tf.config.threading.get_intra_op_parallelism_threads(), tf.config.threading.get_inter_op_parallelism_threads(),
      branches(), os.environ["OMP_NUM_THREADS"], *sorted({{i["num_threads"] for i in threadpool_info()
                                                          if i["user_api"] == "blas"}}))
tf.constant(1.0) + 1.0  # TensorFlow has started: later settings are ignored, the first ones kept
use_threads(5)
print(tf.config.threading.get_inter_op_parallelism_threads(), branches())
"""


def test_use_threads_sets_one_thread_per_op_and_chunks_per_thread():
    """... and numpy's BLAS, loaded before, to ``threads``: ARMA's fits run in it, and a grid worker's BLAS with a
    thread per core, whose threads wait on each other, made an ARMA fit 20 times slower on 2 busy cores."""
    out = subprocess.run([sys.executable, "-c", PROBE.format(threads=3)], capture_output=True, text=True, check=True,
                         cwd=REPO_ROOT / "codes").stdout.split("\n")
    assert out[:3] == ["1", "1 3 3 3 3", "3 3"]


SCORES = """
import sys
import numpy as np
from vae_lstm.threads import use_threads
use_threads({threads})
import keras
from vae_lstm.scoring import compiled_apply
keras.utils.set_random_seed(0)
from vae_lstm.models import build_lstm
model = build_lstm(6, 4, 64)  # the VAE-LSTM's predictor of key_hold, where 2 threads moved a VUS-PR
x = np.random.default_rng(1).standard_normal((5_000, 5, 4)).astype("float32")
np.save(sys.argv[1], np.concatenate([compiled_apply(model, x[:526], chunk=4096), compiled_apply(model, x, chunk=2048)]))
"""


def test_scores_are_the_same_bits_for_any_thread_count(tmp_path):
    """Scoring once split each chunk into one slice per thread: 2 threads gave point scores that differed from
    1 thread's by float rounding (1.8e-8), which reordered tied scores and moved a VUS-PR by 0.0007. Each chunk
    is now one call whatever the threads, so the outputs are identical."""
    outputs = []
    for threads in (1, 2, 3):
        path = tmp_path / f"out{threads}.npy"
        subprocess.run([sys.executable, "-c", SCORES.format(threads=threads), str(path)], check=True,
                       capture_output=True, cwd=REPO_ROOT / "codes")
        outputs.append(np.load(path))
    assert outputs[0].shape == (5_526, 5, 4) and np.isfinite(outputs[0]).all()
    for other in outputs[1:]:
        np.testing.assert_array_equal(other, outputs[0])


def test_cgroup_cpu_quota_reads_v2_and_v1(tmp_path):
    from vae_lstm.threads import cgroup_cpu_quota

    assert cgroup_cpu_quota(tmp_path) is None  # no cgroup files: no quota
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # v1 without a quota
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    assert cgroup_cpu_quota(tmp_path) == 0.5
    (tmp_path / "cpu.max").write_text("max 100000\n")  # v2 comes first: no quota there
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu.max").write_text("250000 100000\n")  # docker --cpus 2.5
    assert cgroup_cpu_quota(tmp_path) == 2.5


def test_usable_cores_follows_the_affinity_and_the_quota(monkeypatch):
    """Threads for every core of the machine, on a container's 2 of 64, only wait on each other."""
    from vae_lstm import threads

    monkeypatch.setattr(threads.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(threads, "cgroup_cpu_quota", lambda: None)
    assert threads.usable_cores() == 4
    monkeypatch.setattr(threads, "cgroup_cpu_quota", lambda: 2.5)
    assert threads.usable_cores() == 3
    monkeypatch.setattr(threads, "cgroup_cpu_quota", lambda: 0.2)
    assert threads.usable_cores() == 1
    monkeypatch.setattr(threads, "cgroup_cpu_quota", lambda: 16.0)
    assert threads.usable_cores() == 4
