"""Shared fixtures: the project root and real IDX files from the same sources the fetch stage uses."""
import os
import pathlib

import pytest

import pipeline.runtime.quiet_keras  # noqa: F401  first: TensorFlow loads here as in the stages (oneDNN on)
from pipeline.datasets import DATASETS, FILES, fetch, find_local_source
from pipeline.runtime.errors import PipelineError

ROOT = pathlib.Path(__file__).resolve().parents[1]


def stage_entries(pipeline, kinds):
    """(path, options) of every entry under `kinds` (deps, outs, ...) of every stage in a parsed dvc.yaml."""
    for stage in pipeline["stages"].values():
        stage = stage.get("do", stage)  # a foreach stage
        for kind in kinds:
            for entry in stage.get(kind, []):
                yield (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))


# The slow tests, marked `e2e` (pytest -m "not e2e" runs the rest in a couple of minutes): those that drive the DVC CLI
# or train on real data. A test is one when it lives in one of these modules or uses one of these fixtures.
E2E_MODULES = {"test_pipeline", "test_reliability", "test_studies", "test_install", "test_benchmarks", "test_cluster"}
E2E_FIXTURES = {"trained_repo", "first_run", "fashion_dir", "mnist_dir"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__ in E2E_MODULES or E2E_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _quiet_tensorflow(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def fashion_dir():
    """Fashion-MNIST's four .gz IDX files: $FASHION_MNIST_DIR or Debian's package (install.sh installs it)."""
    spec = DATASETS["fashion_mnist"]
    directory = find_local_source("fashion_mnist", os.environ, spec["debian_dir"])
    if directory is None or not all(os.path.exists(os.path.join(directory, f"{file}.gz")) for file in FILES):
        pytest.skip(f"Fashion-MNIST's .gz files are neither in ${spec['env']} nor in {spec['debian_dir']}: "
                    "apt-get install dataset-fashion-mnist (install.sh does) or set FASHION_MNIST_DIR")
    return pathlib.Path(directory)


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory):
    """Real MNIST files: $MNIST_DIR (CI points it at ../shared/datasets/mnist), else the public mirrors.

    Skipped, with the reason, only where neither can be reached.
    """
    if os.environ.get("MNIST_DIR"):
        directory = pathlib.Path(os.environ["MNIST_DIR"])
        if not directory.is_dir():
            pytest.fail(f"MNIST_DIR={directory}: not a directory")
        return directory
    destination = tmp_path_factory.mktemp("mnist") / "files"
    try:
        fetch("mnist", str(destination), environ={}, timeout=30)
    except PipelineError as error:
        pytest.skip(f"MNIST not reachable (set MNIST_DIR to a folder with its IDX files): {error}")
    return destination


@pytest.fixture(scope="session")
def trained_repo(tmp_path_factory):
    """A git + DVC repo holding the project, set to 600 images, 2 members, 1 epoch, reproduced once and committed.

    Shared by the end-to-end modules; each brings it back to this commit before relying on its state.
    """
    from project import dvc, full_run, make_project, ran, run  # imported here: project imports this module

    repo = make_project(tmp_path_factory.mktemp("project"), limit=600, members=[0, 1], epochs=1)
    output = dvc(repo, "repro")
    assert ran(output) == full_run([0, 1])
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "first run")
    return repo


@pytest.fixture(scope="module")
def first_run(trained_repo):
    """trained_repo as its first run left it, whatever an earlier module did to it: the committed params and lock,
    data/own as committed, every output restored from the cache or the run-cache. The one way to bring it back."""
    from project import dvc, ran, run

    run(trained_repo, "git", "reset", "--hard", "-q")
    run(trained_repo, "git", "clean", "-fdq", "data/own")
    dvc(trained_repo, "checkout", "--force")
    dvc(trained_repo, "repro")  # what checkout cannot restore (outputs that git keeps, not the cache)
    assert ran(dvc(trained_repo, "repro")) == []
    return trained_repo
