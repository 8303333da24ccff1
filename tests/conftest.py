"""Shared fixtures: where the shared real data lives (skipped locally if absent, required on CI)."""

import os
from pathlib import Path

import pytest

# numpy's BLAS (OpenBLAS) on one thread in the test processes and the processes they start, set before numpy loads:
# with a thread per core on 2 cores that the 2 test workers share, its threads wait on each other, and an ARMA fit
# of 500 points took 16-50 s instead of 0.7-2 s (a machine whose other core is busy).
BLAS_THREADS = "OPENBLAS_NUM_THREADS"
os.environ[BLAS_THREADS] = "1"

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
# Test files that take a worker longest, slowest first (pytest --durations, 2 workers): `make test` hands whole files
# to its workers in collection order (--dist loadfile --no-loadscope-reorder), and starting the long ones first
# keeps one worker from running a long file alone at the end. Files not named follow, in their usual order.
SLOWEST_FIRST = ("test_grid.py", "test_reliability_training.py", "test_detect.py", "test_reliability_runs.py",
                 "test_benchmark.py", "test_train.py", "test_reliability_damage.py", "test_beats.py",
                 "test_interface.py", "test_scoring.py", "test_detectors.py", "test_threads.py", "test_own_data.py")


@pytest.fixture(autouse=True)
def one_blas_thread(monkeypatch):
    """Each test starts its processes with one BLAS thread again: an earlier run in this process (use_threads) set
    the variable to the run's thread count, which only the processes started after it read, and limited this
    process's BLAS to it (threadpoolctl), which is set back to one thread after the test."""
    monkeypatch.setenv(BLAS_THREADS, "1")
    yield
    if os.environ.get(BLAS_THREADS) != "1":  # use_threads ran in this process
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")


def pytest_collection_modifyitems(items):
    rank = {name: k for k, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # a stable sort: tests keep their order in a file


def _shared_dir(sub: str) -> Path:
    path = SHARED_DATASETS / sub
    if not path.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing and CI=true: the shared data must be present on CI")
        pytest.skip(f"{path} not found (shared data absent)")
    return path


@pytest.fixture(scope="session")
def nab_dir() -> Path:
    """The NAB copy: $NAB_DATA_DIR when set (as the tools use it), else the shared one."""
    env = os.environ.get("NAB_DATA_DIR")
    if env:
        if not Path(env).is_dir():
            pytest.fail(f"NAB_DATA_DIR={env} is not a folder")
        return Path(env)
    return _shared_dir("NAB")


@pytest.fixture(scope="session")
def paper_reference_dir() -> Path:
    """The paper's preprocessed .npz files (test fixtures only)."""
    return _shared_dir("paper-reference")


class WrappedFile:
    """An open file whose ``write`` a test replaces; everything else is the file's own."""

    def __init__(self, file):
        self.file = file

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def opening_for_write(real_open, prefix: str, wrap):
    """An ``open`` that gives a file whose name starts with ``prefix``, opened for writing, as ``wrap(file)``."""
    def wrapping_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        hit = isinstance(file, (str, os.PathLike)) and Path(file).name.startswith(prefix)
        return wrap(handle) if hit and ("w" in mode or "a" in mode) else handle

    return wrapping_open


@pytest.fixture
def cut_short_writes(monkeypatch):
    """``cut(prefix)``: from now on, a file whose name starts with ``prefix`` opened for writing gets its first 60
    characters, then the process is interrupted (KeyboardInterrupt: a Ctrl-C, or a kill, mid-write); ``cut(None)``
    writes normally again."""
    import builtins
    import io

    real_open = builtins.open  # also io.open, which pathlib's write_text calls

    class CutShort(WrappedFile):
        def write(self, data):
            self.file.write(data[:60])
            self.file.flush()
            raise KeyboardInterrupt

    def cut(prefix):
        for module in (builtins, io):
            monkeypatch.setattr(module, "open", real_open if prefix is None else
                                opening_for_write(real_open, prefix, CutShort))

    return cut
