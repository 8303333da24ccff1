"""Thread settings: one thread per op, ``threads`` ops at once, set before TensorFlow starts."""

import subprocess
import sys

from vae_lstm.config import REPO_ROOT

PROBE = """
import os
from vae_lstm.threads import branches, use_threads
import tensorflow as tf
print(branches())  # TensorFlow's defaults: each op over all threads, so no slices
use_threads({threads})
print(tf.config.threading.get_intra_op_parallelism_threads(), tf.config.threading.get_inter_op_parallelism_threads(),
      branches(), os.environ["OMP_NUM_THREADS"])
tf.constant(1.0) + 1.0  # TensorFlow has started: later settings are ignored, the first ones kept
use_threads(5)
print(tf.config.threading.get_inter_op_parallelism_threads(), branches())
"""


def test_use_threads_sets_one_thread_per_op_and_slices_per_thread():
    out = subprocess.run([sys.executable, "-c", PROBE.format(threads=3)], capture_output=True, text=True, check=True,
                         cwd=REPO_ROOT / "codes").stdout.split("\n")
    assert out[:3] == ["1", "1 3 3 3", "3 3"]
