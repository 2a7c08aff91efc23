"""Atomic writes: a stage either leaves a complete file or none at all."""
import contextlib
import json
import os
import re
import shutil
import tempfile
import time

from pipeline.paths import timing_path


TEMPORARY_DIR = ".tmp"  # beside the project's folders, outside every tracked one (git and DVC ignore it)
TEMPORARY_NAME = re.compile(r"^\..*\.(\d+)\.\w+\.tmp(\.\w+)?$")  # .<name>.<pid>.<random>.tmp<suffix>


def _is_running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(directory=TEMPORARY_DIR):
    """Remove what processes that no longer run left in `directory` (a stage killed with kill -9).

    Temporary names carry their process id: .<name>.<pid>.<random>.tmp<suffix>.
    """
    if not os.path.isdir(directory):
        return
    for entry in os.listdir(directory):
        match = TEMPORARY_NAME.match(entry)
        if not match or _is_running(int(match.group(1))):
            continue
        path = os.path.join(directory, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path; rename it onto `path` on success.

    The temporary lives in TEMPORARY_DIR when `path` is inside the current folder (a stage
    runs in the project's root), else beside `path`, so the rename never crosses file
    systems. Its name keeps the suffix of `path` (Keras insists on `.keras`). On any
    exception it is removed; one left by a killed process is removed by the next call.
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    inside = os.path.abspath(path).startswith(os.path.join(os.getcwd(), ""))
    temporary_dir = TEMPORARY_DIR if inside else os.path.dirname(os.path.abspath(path))
    os.makedirs(temporary_dir, exist_ok=True)
    if inside:
        remove_stale_temporaries()
    base, suffix = os.path.splitext(os.path.basename(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=f".tmp{suffix}",
                                         dir=temporary_dir)
    os.close(handle)
    os.remove(temporary)  # callers create it themselves (file or directory)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        if os.path.isdir(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
        elif os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_text(path, text):
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)


def write_json(path, data):
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@contextlib.contextmanager
def record_wall_time(stage):
    """Time the block; on success write {stage, wall_time_s} to pipeline.paths.timing_path(stage)."""
    start = time.perf_counter()
    yield
    write_json(timing_path(stage),
               {"stage": stage, "wall_time_s": round(time.perf_counter() - start, 2)})
