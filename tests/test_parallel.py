"""pipeline.runtime.side_by_side: the CPU split, its argument errors, and its children stopping with it (the end-to-end
run is in test_pipeline.py)."""
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
import yaml

from pipeline.runtime.errors import PipelineError
from pipeline.runtime.side_by_side import check_threads, cpu_shares

from conftest import ROOT


def test_the_cpus_are_split_into_disjoint_shares():
    assert cpu_shares(2, 1, {0, 1}) == [{0}, {1}]
    assert cpu_shares(2, 2, {3, 0, 1, 2, 4}) == [{0, 1}, {2, 3}]


def test_more_threads_than_cpus_is_refused():
    with pytest.raises(PipelineError, match=r"--jobs 3: 3 x train.threads 1 = 3 CPUs, but this process may use 2"):
        cpu_shares(3, 1, {0, 1})


@pytest.mark.parametrize("threads, jobs, refusal", [
    (None, 64, "--jobs 64: 64 jobs need at least 64 CPUs (1 thread each), but this process may use 2; allowed: "
               "--jobs <= 2; and params.yaml: train.threads: null is not allowed with --jobs; allowed: the threads "
               "each member trains with, e.g. 1 for 2 jobs on 2 CPUs (it changes the weights, so the run-cache must "
               "know it)"),
    (None, 0, "--jobs 0: allowed: an integer >= 1; and params.yaml: train.threads: null is not allowed with --jobs; "
              "allowed: the threads each member trains with, e.g. 2 for 1 jobs on 2 CPUs"),
    (None, 2, "params.yaml: train.threads: null is not allowed with --jobs; allowed: the threads each member trains "
              "with, e.g. 1 for 2 jobs on 2 CPUs"),
    (2, 2, "--jobs 2: 2 x train.threads 2 = 4 CPUs, but this process may use 2; allowed: --jobs x train.threads <= 2"),
])
def test_every_argument_error_is_in_the_one_line(threads, jobs, refusal):
    """One mistake, one round trip: --jobs against the CPUs and train.threads: null are reported together."""
    with pytest.raises(PipelineError) as error:
        check_threads(threads, jobs, {0, 1})
    assert str(error.value).startswith(refusal)


# --- stopped by a signal to its own pid only, as a scheduler stops it ---

FAKE_DVC = """#!/bin/sh
# dvc's stand-in: `repro prepare`, `repro` and `exp save` end at once; a member trains "forever" in a child process,
# as a stage does under DVC
case "$*" in
  *train@*) sleep 300 ;;
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


JOBS = min(2, len(os.sched_getaffinity(0)))


def start(workspace, call):
    """A child Python in `workspace` running `call` (the real main, dvc_command pointed at the stand-in), in a
    session of its own with the signals' default actions, as a scheduler starts it."""
    script = textwrap.dedent(f"""
        from pipeline.runtime import side_by_side
        from pipeline.runtime.errors import run_main
        side_by_side.dvc_command = lambda: {str(workspace / "dvc")!r}
        {call}
    """)
    return subprocess.Popen([sys.executable, "-c", script], cwd=workspace, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: [signal.signal(each, signal.SIG_DFL) for each in
                                                (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)])


def training(parent):
    """The processes below `parent` once JOBS members are training (JOBS stand-ins, each with its `sleep`)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        below = psutil.Process(parent.pid).children(recursive=True)
        if sum(process.name() == "sleep" for process in below) == JOBS:
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


CALLS = {
    "side_by_side": ("run_main(side_by_side.main, ['--jobs', '{jobs}'])", "pipeline.runtime.side_by_side"),
    "recipes --jobs": ("from pipeline import recipes; run_main(recipes.main, ['side-by-side', '--jobs', '{jobs}'])",
                       "pipeline.recipes"),
}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda signum: signum.name)
@pytest.mark.parametrize("command", list(CALLS))
def test_a_signal_to_the_parent_alone_stops_every_child(workspace, command, signum):
    call, name = CALLS[command]
    parent = start(workspace, call.format(jobs=JOBS))
    below = training(parent)
    os.kill(parent.pid, signum)
    _, errors = parent.communicate(timeout=40)
    assert parent.returncode == 128 + signum, errors
    assert errors.strip().splitlines()[-1] == (
        f"error: {name}: stopped by {signal.Signals(signum).name}; so were the {JOBS} dvc process(es) it had started "
        "(their stages removed their temporaries; what dvc.lock records stays): run it again to go on")
    assert_all_end(below)


def test_kill_9_of_the_parent_still_stops_its_dvc_processes(workspace):
    """No handler runs on SIGKILL: each dvc process gets SIGTERM from Linux when its parent dies (PR_SET_PDEATHSIG);
    a real stage then stops because its DVC did (pipeline.runtime.lifeline, tested in test_reliability.py)."""
    parent = start(workspace, CALLS["side_by_side"][0].format(jobs=JOBS))
    below = training(parent)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    try:
        assert_all_end([process for process in below if process.name() != "sleep"])
    finally:  # the stand-ins' orphaned `sleep`s: a real stage stops itself once its DVC has ended
        for process in below:
            if process.name() == "sleep" and not ended(process):
                process.kill()
