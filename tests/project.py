"""Helpers for the end-to-end tests: a copy of the project in a temporary git repository, run as a user runs it."""
import contextlib
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from pipeline.paths import STAGES

from conftest import ROOT

PROJECT_FILES = ["dvc.yaml", "params.yaml", "architectures.yaml", "recipes.yaml", "python.sh", "pipeline", "stages",
                 "data/own", ".dvc/config", ".dvc/.gitignore", ".dvc/plots", ".dvcignore", ".gitignore"]


# What a new user's shell may have: a bare PATH (plus git's folder, wherever it is), nothing of this interpreter's.
BARE_PATH = os.pathsep.join(dict.fromkeys(["/usr/bin", "/bin", os.path.dirname(shutil.which("git"))]))
PASSED_ON = ("HOME", "TMPDIR", "MNIST_DIR", "FASHION_MNIST_DIR")


def run(repo, *command, check=True, path=BARE_PATH, env=None):
    """Run a command in `repo` with a bare environment (`path` as PATH, plus `env`); return its output."""
    environment = {**{name: os.environ[name] for name in PASSED_ON if name in os.environ},
                   "PATH": path, "DVC_NO_ANALYTICS": "1", **(env or {})}
    result = subprocess.run(command, cwd=repo, env=environment, capture_output=True, text=True)
    output = result.stdout + result.stderr
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {result.returncode}:\n{output[-4000:]}")
    return output


def dvc(repo, *arguments, check=True, path=BARE_PATH):
    """`.venv/bin/dvc ...` in `repo`, as the README starts it."""
    return run(repo, str(repo / ".venv" / "bin" / "dvc"), *arguments, check=check, path=path)


def trainings(*pids):
    """The Python processes training a member (a train stage) below the processes `pids`, zombies left out (not the
    `sh -c` DVC starts each in: a stage's Python has begun to watch its DVC once it runs)."""
    import psutil

    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if ("stages.train" in " ".join(child.cmdline()) and "python" in child.name()
                            and child.status() != psutil.STATUS_ZOMBIE):
                        found.append(child)
    return found


def full_run(members):
    """What ran() gives for a first `dvc repro` with these members: every stage of pipeline.paths.STAGES."""
    return sorted(name for stage in STAGES
                  for name in ([f"train@{member}" for member in members] if stage == "train" else [stage]))


def ran(output):
    """Names of the stages that `dvc repro` / `dvc exp run` actually ran."""
    return sorted(line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '"))


def make_project(repo, **changes):
    """Copy the project into `repo`, apply `changes` to params.yaml, commit it to a new git repository."""
    for name in PROJECT_FILES:
        source, target = ROOT / name, repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy(source, target)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params.update(changes)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # The project's virtual environment, as install.sh makes it: here, the one running the tests.
    (repo / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    run(repo, "git", "init", "-q")
    run(repo, "git", "config", "user.email", "test@example.com")
    run(repo, "git", "config", "user.name", "test")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "project")
    return repo
