"""Shared fixtures: where the shared real data lives (skipped locally if absent, required on CI)."""

import os
from pathlib import Path

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


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
