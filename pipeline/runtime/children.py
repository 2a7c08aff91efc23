"""Child processes that stop when their parent is stopped: `start` them inside `stopped_with_children`.

A job scheduler, `timeout` or `kill` sends SIGTERM to the process it started, not to that process's
children: pipeline.recipes' `dvc exp run`, and the stages it runs, would train
on as orphans. Here each child runs in a session of its own (a terminal's Ctrl-C reaches the parent
alone, which passes it on) and asks Linux for SIGTERM when the parent dies without cleaning up
(kill -9). On SIGTERM, SIGINT or SIGHUP the parent sends the same signal to each child's process
group (DVC and the stage it runs, which removes its temporaries: pipeline.runtime.lifeline; DVC
itself waits for its stage on SIGINT, as after a Ctrl-C in one terminal), waits until every process
of them has ended (SIGKILL after STOP_WAIT_S), prints one `error:` line and exits 128 + the signal's
number, as a shell reports a process killed by that signal.
"""
import contextlib
import os
import signal
import subprocess
import sys
import time

from pipeline.runtime.errors import print_error
from pipeline.runtime.lifeline import SIGNALS, Stopped, ask_for_parent_death_signal, raise_stopped
from pipeline.runtime.processes import is_running, tree

STOP_WAIT_S = 30  # a stage stops within about a second of a signal (lifeline); TensorFlow's exit may take a few
POLL_S = 0.1
_children = []  # started by `start`, not yet seen to end
_guarded = []  # the names of the stopped_with_children blocks now running, outermost first


@contextlib.contextmanager
def signals_held():
    """Hold SIGTERM, SIGINT and SIGHUP back until the block ends (a write, or a start, that must not be cut)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


def start(command, cpus=None):
    """subprocess.Popen(command) in a session of its own, on `cpus` when given; stopped with this process."""
    def in_child():  # after fork, before exec
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)  # the mask is inherited: the child must see signals
        ask_for_parent_death_signal()
        if cpus:
            os.sched_setaffinity(0, cpus)

    with signals_held():  # a signal between the fork and the append would leave this child out of stop_all
        process = subprocess.Popen(command, start_new_session=True, preexec_fn=in_child)
        _children.append(process)
    return process


def ended(process):
    """`process`'s exit code once it has ended (no longer stopped with this one), else None."""
    code = process.poll()
    if code is not None and process in _children:
        _children.remove(process)
    return code


def wait(process):
    """`process`'s exit code, waiting for it."""
    while ended(process) is None:
        time.sleep(POLL_S)
    return process.returncode


def stop_all(signum=signal.SIGTERM):
    """`signum` to every child's process group; wait until every process of them has ended, SIGKILL to what is
    left after STOP_WAIT_S. Returns (children stopped, processes killed)."""
    groups = [process for process in _children if ended(process) is None]
    members = {pid for process in groups for pid in tree(process.pid)}
    _signal(groups, members, signum)
    deadline = time.monotonic() + STOP_WAIT_S
    while _running(groups, members) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    left = _running(groups, members)
    _signal(groups, left, signal.SIGKILL)
    for process in groups:
        process.wait()
        ended(process)
    return len(groups), len(left)


def _signal(groups, pids, signum):
    """`signum` to each child's process group, and to each of `pids` (one that left its group still stops)."""
    for send, target in [(os.killpg, process.pid) for process in groups] + [(os.kill, pid) for pid in pids]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            send(target, signum)


def _running(groups, pids):
    """The processes of `pids` that have not ended."""
    for process in groups:
        process.poll()  # reap: a child that has ended stays a zombie until then
    return {pid for pid in pids if is_running(pid)}


@contextlib.contextmanager
def stopped_with_children(name):
    """Run the block so that SIGTERM, SIGINT or SIGHUP stop it and every child `start`ed in it, reported as `name`
    (the outermost block's name when they nest)."""
    if _guarded:  # the outer block handles the signals
        yield
        return
    previous = {each: signal.signal(each, raise_stopped) for each in SIGNALS}
    _guarded.append(name)
    try:
        yield
    except Stopped as stopped:
        count, killed = stop_all(stopped.signum)
        forced = f", {killed} of their processes killed after {STOP_WAIT_S} s" if killed else ""
        print_error(f"{name}: stopped by {stopped}; so were the {count} dvc process(es) it had started{forced} (their "
                    "stages removed their temporaries; what dvc.lock records stays): run it again to go on")
        sys.exit(128 + stopped.signum)
    except BaseException:  # an error of this process's own: its children must not train on without it
        stop_all()
        raise
    finally:
        _guarded.pop()
        for each, handler in previous.items():
            signal.signal(each, handler)
