"""Whether a process runs, and what it is: the one place that asks, through psutil (Linux, macOS, Windows)."""
import psutil


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
