"""Run a stage module so that it stops when DVC stops: `python -m pipeline.runtime.lifeline -m stages.<name> ...`.

python.sh starts every stage this way. DVC starts a stage as its child and waits; stopped by
SIGTERM or SIGHUP (a scheduler, `timeout`, a closed terminal), DVC exits at once and the stage
would train on as an orphan, later writing outputs into a workspace that has moved on. Here:

- the stage asks Linux for SIGTERM when its parent exits (PR_SET_PDEATHSIG), and a watchdog
  thread checks once a second that DVC (its parent, or the parent of the `sh -c` in between)
  still runs;
- DVC may end before the stage has started its watch (a killed Dask worker takes its DVC with it
  the moment the stage starts): python.sh records the `sh -c`'s parent as it starts, and a stage
  whose shell has another parent by then stops at once;
- SIGTERM, SIGHUP and SIGINT (Ctrl-C) raise `Stopped` in the stage, so every pipeline.runtime.files
  temporary is removed on the way out; the last line says what stopped it, the exit code is
  128 + the signal's number, as a shell reports a process killed by that signal.

DVC writes no dvc.lock entry for a stage that did not finish, so the next `dvc repro` runs it
again (or restores it from the run-cache). Under DVC it also refuses to start a stage when
params.yaml changed since the run's first stage (pipeline.runtime.params_guard).
"""
import ctypes
import os
import runpy
import signal
import sys
import threading
import time

from pipeline.runtime.errors import PipelineError, print_error
from pipeline.runtime.params_guard import check_params_unchanged
from pipeline.runtime.processes import is_running, name_and_parent

PR_SET_PDEATHSIG = 1  # linux/prctl.h
SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
PARENT_CHECK_S = 1.0  # how often the watchdog looks for DVC
SHELLS = {"sh", "dash", "bash", "zsh", "ksh", "busybox"}
MAX_SHELLS = 4  # shells looked through between the stage and DVC


class Stopped(BaseException):
    """A signal asked the stage to stop (BaseException: no `except Exception` swallows it)."""

    def __init__(self, signum, reason=None):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.reason = reason or f"stopped by {self}"  # what the stage's last line says


def raise_stopped(signum, frame):
    for each in SIGNALS:  # a second signal while cleaning up must not interrupt the clean-up
        signal.signal(each, signal.SIG_IGN)
    raise Stopped(signum)


def ask_for_parent_death_signal():
    """SIGTERM to this process when its parent exits (Linux only; elsewhere the watchdog alone)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def runner_of(parent, grandparent=None):
    """The process that runs this stage: `parent`, or above it the shells in between (DVC runs a stage's cmd with
    `/bin/sh -c`, which dash does not replace by the command, so the stage's parent may be that shell). None when
    that shell's parent is no longer `grandparent` (its parent as python.sh started): DVC has ended."""
    pid = parent
    for hop in range(MAX_SHELLS):
        found = name_and_parent(pid)
        if found is None or found[0] not in SHELLS:
            return pid
        if hop == 0 and grandparent is not None and found[1] != grandparent:
            return None
        if found[1] <= 1:
            return pid
        pid = found[1]
    return pid


def watch(runner):
    """A daemon thread: SIGTERM to this process once `runner` has ended (DVC was stopped)."""
    def check():
        while is_running(runner):
            time.sleep(PARENT_CHECK_S)
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=check, name="lifeline", daemon=True).start()


def start_watch():
    """Signals raise Stopped from here on; the watchdog watches the process that runs this stage (returned). Stopped
    at once when that process has already ended."""
    parent = int(os.environ.get("PIPELINE_PARENT_PID") or os.getppid())  # set by python.sh before its exec
    grandparent = os.environ.get("PIPELINE_GRANDPARENT_PID")  # python.sh, where /proc is
    for each in SIGNALS:
        signal.signal(each, raise_stopped)
    ask_for_parent_death_signal()
    runner = runner_of(parent, int(grandparent) if grandparent and grandparent.isdigit() else None)
    if runner is None or os.getppid() != parent or not is_running(runner):  # it ended before the request above
        raise Stopped(signal.SIGTERM, "DVC, which started it, had ended before it began")
    watch(runner)
    return runner


def main(argv):
    if len(argv) < 2 or argv[0] != "-m":
        sys.exit("usage: python -m pipeline.runtime.lifeline -m MODULE [ARGUMENTS ...]")
    module, *arguments = argv[1:]
    stage = os.environ.get("DVC_STAGE")  # set by DVC: then every stage of one run must see the same params.yaml
    try:
        runner = start_watch()
        if stage:
            refuse_if_params_changed(runner, stage, "before")
        sys.argv = [module, *arguments]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except Stopped as stopped:
        print_error(f"{module}: {stopped.reason}; nothing of it was written (its temporaries removed), "
                    "and `dvc repro` runs it again")
        sys.exit(128 + stopped.signum)
    if stage:
        refuse_if_params_changed(runner, stage, "after")


def refuse_if_params_changed(runner, stage, moment):
    try:
        check_params_unchanged(runner, stage, moment)
    except PipelineError as error:
        print_error(error)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
