"""The runners' argument errors (all in one line) and their children stopping with them: pipeline.recipes and its
`dvc exp run` here; pipeline.cluster's workers and tasks in test_cluster.py and test_reliability.py."""
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import psutil
import pytest
import yaml

from pipeline.cluster import argument_problems

from conftest import ROOT


@pytest.mark.parametrize("threads, local, refusal", [
    (None, 64, "--local 64: 64 x train.threads 1 = 64 CPUs, but this process may use 2; allowed: --local x "
               "train.threads <= 2; params.yaml: train.threads: null is not allowed on a cluster; allowed: the threads "
               "each member trains with, e.g. 1"),
    (None, 0, "--local 0: allowed: an integer >= 1; params.yaml: train.threads: null is not allowed on a cluster; "
              "allowed: the threads each member trains with, e.g. 1"),
    (None, 1, "params.yaml: train.threads: null is not allowed on a cluster; allowed: the threads each member trains "
              "with, e.g. 2"),
    (2, 2, "--local 2: 2 x train.threads 2 = 4 CPUs, but this process may use 2; allowed: --local x train.threads "
           "<= 2"),
])
def test_every_argument_error_is_in_the_one_line(threads, local, refusal, monkeypatch):
    """One mistake, one round trip: the workers against the CPUs and train.threads: null are reported together."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    problems = argument_problems(SimpleNamespace(local=local, settings=[]), threads)
    assert "; ".join(problems).startswith(refusal)


def test_a_sweep_needs_a_git_remote_and_no_pinned_threads_in_params():
    problems = argument_problems(SimpleNamespace(local=None, settings=["seed=0,1"], git_remote=None), None)
    assert problems == ["-S: a sweep needs --git-remote GIT_URL, through which its experiments come back"]


# --- stopped by a signal to its own pid only, as a scheduler stops it ---

FAKE_DVC = """#!/bin/sh
# dvc's stand-in: `repro prepare`, `repro` and `exp save` end at once; a member, or an experiment, trains "forever"
# in a child process, as a stage does under DVC
case "$*" in
  *train@*|"exp run"*) sleep 300 ;;
esac
"""


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder with the shipped params (2 members, 1 thread each) and architectures, and dvc's stand-in."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["members"], params["train"]["threads"] = [0, 1, 2], 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copy(ROOT / "architectures.yaml", tmp_path)
    (tmp_path / "recipes.yaml").write_text("side-by-side:\n  epochs: 2\n")
    (tmp_path / "dvc").write_text(FAKE_DVC)
    (tmp_path / "dvc").chmod(0o755)
    return tmp_path


def start(workspace, call):
    """A child Python in `workspace` running `call` (the real main, dvc_command pointed at the stand-in), in a
    session of its own with the signals' default actions, as a scheduler starts it."""
    script = textwrap.dedent(f"""
        from pipeline.runtime import dvc
        from pipeline.runtime.errors import run_main
        dvc.dvc_command = lambda: {str(workspace / "dvc")!r}
        {call}
    """)
    return subprocess.Popen([sys.executable, "-c", script], cwd=workspace, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: [signal.signal(each, signal.SIG_DFL) for each in
                                                (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)])


def training(parent, count):
    """The processes below `parent` once `count` stand-ins are training, each with its `sleep`."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        below = psutil.Process(parent.pid).children(recursive=True)
        if sum(process.name() == "sleep" for process in below) == count:
            return below
        assert parent.poll() is None, parent.communicate()
        time.sleep(0.1)
    pytest.fail("the members did not start")


def ended(process):
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def assert_all_end(processes, seconds=5):
    deadline = time.monotonic() + seconds
    while not all(ended(process) for process in processes):
        assert time.monotonic() < deadline, [process for process in processes if not ended(process)]
        time.sleep(0.1)


RECIPE = "from pipeline import recipes; run_main(recipes.main, ['side-by-side'])"  # its one `dvc exp run`


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda signum: signum.name)
def test_a_signal_to_the_parent_alone_stops_every_child(workspace, signum):
    name, count = "pipeline.recipes", 1
    parent = start(workspace, RECIPE)
    below = training(parent, count)
    os.kill(parent.pid, signum)
    _, errors = parent.communicate(timeout=40)
    assert parent.returncode == 128 + signum, errors
    assert errors.strip().splitlines()[-1] == (
        f"error: {name}: stopped by {signal.Signals(signum).name}; so were the {count} dvc process(es) it had started "
        "(their stages removed their temporaries; what dvc.lock records stays): run it again to go on")
    assert_all_end(below)


def test_kill_9_of_the_parent_still_stops_its_dvc_processes(workspace):
    """No handler runs on SIGKILL: each dvc process gets SIGTERM from Linux when its parent dies (PR_SET_PDEATHSIG);
    a real stage then stops because its DVC did (pipeline.runtime.lifeline, tested in test_reliability.py)."""
    parent = start(workspace, RECIPE)
    below = training(parent, 1)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    try:
        assert_all_end([process for process in below if process.name() != "sleep"])
    finally:  # the stand-ins' orphaned `sleep`s: a real stage stops itself once its DVC has ended
        for process in below:
            if process.name() == "sleep" and not ended(process):
                process.kill()
