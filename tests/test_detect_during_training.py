"""detect.py on a run folder that another process is training now says so, rather than to run train.py again
(which that process's lock would refuse)."""

import json
import subprocess
import sys
import time

import pytest

from vae_lstm import runs
from vae_lstm.config import from_dict
from vae_lstm.errors import UserError

HOLD = """
import os, sys, time
from filelock import FileLock
path = sys.argv[1]
with FileLock(path + "/train.lock"):
    open(path + "/train.lock.pid", "w").write(f"{os.getpid()}\\n")
    print("held", flush=True)
    time.sleep(60)
"""


def test_an_unfinished_run_being_trained_now_names_the_training_process(tmp_path):
    config = from_dict({"dataset": "synthetic", "output_dir": str(tmp_path)})
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.json").write_text(json.dumps({"vae": 3}))  # a fit started, not finished

    with pytest.raises(UserError, match="again to finish it"):  # nobody trains it: resume it
        runs.refuse_unfinished(config, run)

    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError) as refused:
            runs.refuse_unfinished(config, run)
        message = str(refused.value)
        assert f"being trained now by another process (PID {holder.pid};" in message
        assert "vae 3 epochs done" in message and "again to finish it" not in message
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    with pytest.raises(UserError, match="again to finish it"):  # its trainer gone (killed): resume it
        runs.refuse_unfinished(config, run)
