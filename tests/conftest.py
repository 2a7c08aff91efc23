"""Shared fixtures: the project root and the real MNIST files beside the checkout."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The real MNIST IDX files, shipped beside the checkout for offline development and CI.
MNIST_DIR = pathlib.Path(os.environ.get("MNIST_DIR", ROOT.parent / "shared" / "datasets" / "mnist"))


@pytest.fixture(autouse=True)
def _quiet_tensorflow(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def mnist_dir():
    if not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.fail(f"real MNIST files not found in {MNIST_DIR}; set MNIST_DIR")
    return MNIST_DIR
