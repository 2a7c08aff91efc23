"""Atomic writes: a stage either leaves a complete file or none at all."""
import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import time
import zipfile

from pipeline.paths import timing_path
from pipeline.runtime.errors import DISK_ERRORS, PipelineError
from pipeline.runtime.processes import is_running

TEMPORARY_DIR = ".tmp"  # beside the project's folders, outside every tracked one (git and DVC ignore it)
TEMPORARY_NAME = re.compile(r"^\..*\.(\d+)\.\w+\.tmp(\.\w+)?$")  # .<name>.<pid>.<random>.tmp<suffix>


def remove_stale_temporaries(directory=TEMPORARY_DIR):
    """Remove what processes that no longer run left in `directory` (a stage killed with kill -9).

    Temporary names carry their process id: .<name>.<pid>.<random>.tmp<suffix>.
    """
    if not os.path.isdir(directory):
        return
    for entry in os.listdir(directory):
        match = TEMPORARY_NAME.match(entry)
        if not match or is_running(int(match.group(1))):
            continue
        path = os.path.join(directory, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)


def temporary_dir_for(path):
    """Where the temporary of `path` lives: the project's TEMPORARY_DIR when `path` is in the current folder
    (a stage runs in the project's root) on the same filesystem, else beside `path`'s real folder (its
    symlinks resolved: `models/` may be a link to a bigger disk), so the final rename never crosses
    filesystems."""
    real_folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    if os.path.abspath(path).startswith(os.path.join(os.getcwd(), "")):
        os.makedirs(TEMPORARY_DIR, exist_ok=True)
        if os.stat(TEMPORARY_DIR).st_dev == os.stat(real_folder).st_dev:
            return TEMPORARY_DIR
    return real_folder


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path; rename it onto `path` on success.

    The temporary lives where temporary_dir_for says; its name keeps the suffix of `path`
    (Keras insists on `.keras`). On any exception it is removed, and `path` is left as it was;
    a full disk or a read-only folder becomes one PipelineError naming `path` (disk_problem).
    One left by a killed process is removed by the next call that uses the same folder.
    """
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        temporary_dir = temporary_dir_for(path)
        remove_stale_temporaries(temporary_dir)
        base, suffix = os.path.splitext(os.path.basename(path))
        handle, temporary = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=f".tmp{suffix}",
                                             dir=temporary_dir)
    except OSError as error:
        raise_disk_problem(path, error, os.path.dirname(os.path.abspath(path)))
        raise
    os.close(handle)
    os.remove(temporary)  # callers create it themselves (file or directory)
    try:
        yield temporary
        replace(temporary, path)
    except BaseException as error:
        if os.path.isdir(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
        elif os.path.exists(temporary):
            os.remove(temporary)
        if isinstance(error, Exception):
            raise_disk_problem(path, error, temporary_dir)
        raise


def sync(path, recursive=True):
    """fsync `path`: a file's data, or a folder's entries (with `recursive`, every file and folder in it first). A
    rename is only durable once what it publishes is on the disk: after a power cut, a renamed file whose data was
    still in the page cache can be empty on some filesystems (ext4 with delalloc, XFS)."""
    folder = os.path.isdir(path) and not os.path.islink(path)
    if folder and recursive:
        for entry in os.listdir(path):
            if not os.path.islink(os.path.join(path, entry)):
                sync(os.path.join(path, entry))
    try:
        descriptor = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if folder else 0))
    except OSError:  # a folder that cannot be opened (Windows): its entries are synced already
        return
    try:
        os.fsync(descriptor)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.EBADF):  # a filesystem that cannot sync a folder: nothing to do
            raise
    finally:
        os.close(descriptor)


def replace(temporary, path):
    """os.replace after syncing what it publishes, then the folder holding it (sync); also for a folder onto an
    existing folder (a stage run twice without DVC removing its outputs first): the old folder is renamed aside,
    the new one put in place, then the old one removed."""
    sync(temporary)
    if os.path.isdir(temporary) and os.path.isdir(path) and not os.path.islink(path):
        aside = f"{temporary}.old"  # still a temporary's name: removed as stale if this process dies here
        os.rename(path, aside)
        os.rename(temporary, path)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(temporary, path)
    sync(os.path.dirname(os.path.abspath(path)), recursive=False)  # the rename itself


def disk_problem(error, folder):
    """What the disk did wrong for `error`, raised while writing in `folder`; None when it was not the disk.

    Keras, h5py and TensorFlow wrap the OSError in their own exceptions, some with only its text, so the
    exception's chain, its message and the folder's free space are all looked at.
    """
    seen = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in DISK_ERRORS:
            return DISK_ERRORS[seen.errno]
        seen = seen.__cause__ or seen.__context__
    text = str(error)
    if "No space left on device" in text or "errno = 28" in text:
        return DISK_ERRORS[errno.ENOSPC]
    if "Read-only file system" in text:
        return DISK_ERRORS[errno.EROFS]
    try:
        status = os.statvfs(folder)
    except OSError:
        return None
    return DISK_ERRORS[errno.ENOSPC] if status.f_bavail == 0 else None


def raise_disk_problem(path, error, folder):
    """Raise one PipelineError naming `path` if `error` was the disk's doing (disk_problem); else return."""
    problem = disk_problem(error, folder)
    if problem is None:
        return
    try:
        status = os.statvfs(folder)
        free = f"{status.f_bavail * status.f_frsize / 2**20:.1f} MiB free there"
    except OSError:
        free = "its free space unknown"
    raise PipelineError(f"{path}: cannot be written: {problem} ({os.path.realpath(folder)}, {free}); "
                        "nothing was replaced: free some space or fix the folder, then run again") from None


def write_text(path, text):
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)


def json_text(data):
    """`data` as write_json writes it."""
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def write_json(path, data):
    write_text(path, json_text(data))


def load_keras_file(path, rebuild):
    """The Keras model saved at `path`; missing or damaged, one PipelineError ending in `rebuild` (how to make it
    again)."""
    from pipeline.runtime.quiet_keras import keras  # here: most callers of this module need no Keras

    if not os.path.exists(path):
        raise PipelineError(f"{path}: missing; {rebuild}")
    if not zipfile.is_zipfile(path):  # Keras reports a damaged file as "File not found"
        raise PipelineError(f"{path}: not a .keras file (not a zip archive: damaged or truncated); {rebuild}")
    try:
        # compile=False: every caller only predicts, and a compiled member predicts its first pass with its
        # training's steps_per_execution, 2-3.4x slower (benchmarks/results/first_predict_xeon/)
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # a zip without a loadable model: Keras raises several kinds
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PipelineError(f"{path}: not a loadable Keras model ({reason}); {rebuild}") from None


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@contextlib.contextmanager
def timed(stage):
    """Time the block; on success write {stage, wall_time_s} to pipeline.paths.timing_path(stage)."""
    start = time.perf_counter()
    yield
    write_json(timing_path(stage),
               {"stage": stage, "wall_time_s": round(time.perf_counter() - start, 2)})
