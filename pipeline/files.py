"""Atomic writes: a stage either leaves a complete file or none at all."""
import contextlib
import json
import os
import shutil
import tempfile
import time


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` on success.

    The temporary name keeps the suffix of `path` (Keras insists on `.keras`).
    On any exception the temporary file or directory is removed.
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    base, suffix = os.path.splitext(os.path.basename(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{suffix}", dir=directory)
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
def record_wall_time(stage, directory=os.path.join("reports", "timings")):
    """Time the block; on success write {stage, wall_time_s} to <directory>/<stage>.json."""
    start = time.perf_counter()
    yield
    write_json(os.path.join(directory, f"{stage}.json"),
               {"stage": stage, "wall_time_s": round(time.perf_counter() - start, 2)})
