"""Whether a process runs, what it is, and the CPUs this one may use: the one place that asks (psutil)."""
import os

import psutil


def cpu_count():
    """The CPUs this process may run on (its affinity, where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def is_running(pid):
    """Whether process `pid` exists and has not ended (a zombie has ended; another user's process counts)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def name_and_parent(pid):
    """(name, parent pid) of process `pid`; None when it does not run."""
    try:
        process = psutil.Process(pid)
        return process.name(), process.ppid()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def tree(pid):
    """Process `pid` and all its descendants that run now; empty when it does not run."""
    try:
        process = psutil.Process(pid)
        return [pid, *(child.pid for child in process.children(recursive=True))]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []
