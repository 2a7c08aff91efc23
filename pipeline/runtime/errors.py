"""One exception type for user-facing errors, and the one way they are printed: `error: ...`, the last line."""
import errno
import os
import sys

from pipeline.paths import LIVE_DIR

# errno -> what it means for a write; anything else keeps its own traceback (a bug, not a fault of the disk)
DISK_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is used up",
               errno.EROFS: "the folder is on a read-only filesystem", errno.EACCES: "permission denied",
               errno.EPERM: "operation not permitted"}


class PipelineError(Exception):
    """Bad params or bad input data: reported as one line, exit code 1.

    Not a ValueError: code that turns Keras' ValueErrors into messages of its own
    (pipeline.model.build_model) must not catch and re-word these, which already
    name the key and the rule.
    """


def print_error(message):
    """`error: <message>` on stderr, after anything already printed on stdout."""
    sys.stdout.flush()
    print(f"error: {message}", file=sys.stderr, flush=True)


def run_main(main, *arguments):
    """Call `main(*arguments)`; turn a PipelineError, a disk's fault or a DVCLive file taken away into one line on
    stderr, the last one printed, and exit 1."""
    try:
        main(*arguments)
    except PipelineError as error:
        print_error(error)
        sys.exit(1)
    except FileNotFoundError as error:
        if not vanished_live_file(error.filename):
            raise
        # DVCLive reads every file of its folder back as each epoch ends; another `dvc exp run` in this workspace
        # stashes live/ (git stash) and puts it back, and a file read in between is gone (seen in CI)
        print_error(f"{error.filename}: taken away while the stage wrote it (another `dvc exp run` in this workspace "
                    f"stashes {LIVE_DIR}/); nothing of this stage was recorded; run one experiment at a time, or "
                    f"several with `dvc exp run --queue` + `dvc queue start -j N`")
        sys.exit(1)
    except OSError as error:  # the disk's doing where no atomic_path said it first: one line, not a traceback
        if error.errno not in DISK_ERRORS:
            raise
        print_error(f"{error.filename or 'a file'}: {DISK_ERRORS[error.errno]} ({error.strerror})")
        sys.exit(1)


def vanished_live_file(filename):
    """Whether `filename` (a FileNotFoundError's) is a file of a member's DVCLive folder, live/train_<i>/..."""
    if not isinstance(filename, (str, os.PathLike)):
        return False
    parts = os.path.relpath(filename).split(os.sep)  # relpath makes it absolute and normal first
    return len(parts) > 2 and parts[0] == LIVE_DIR
