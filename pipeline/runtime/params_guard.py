"""Refuse to go on when params.yaml changed in the middle of one `dvc repro` / `dvc exp run`.

DVC runs one experiment at a time in a workspace. A second `dvc exp run` started meanwhile
writes its -S values into params.yaml and only then fails ("is busy"): the first run's next
stages would train with the second's values. The first stage that DVC runs in a run records
params.yaml's hash under the run's process id (DVC's, the stage's parent); every later stage of
the same run compares and stops with one line saying what happened and how to recover.
"""
import glob
import hashlib
import os

from pipeline.runtime.errors import PipelineError
from pipeline.runtime.processes import is_running

STAMP_DIR = os.path.join(".dvc", "tmp")  # DVC's own scratch folder: ignored by git, never tracked
STAMP_PREFIX = "params-at-start."
PARAMS_FILE = "params.yaml"
RECOVERY = ("get it back with `git checkout params.yaml` (or `dvc exp apply <exp>`); for several experiments at once: "
            "`dvc exp run --queue` + `dvc queue start -j N`")


def digest(path=PARAMS_FILE):
    with open(path, "rb") as handle:
        return hashlib.md5(handle.read()).hexdigest()


def check_params_unchanged(run_pid, stage, moment="before"):
    """Record params.yaml's hash for the DVC process `run_pid`, or compare it with the record: PipelineError
    naming `stage` when another process changed the file since this run's first stage started.

    Called `before` a stage starts and again once it has finished (`after`): DVC reads the params it records
    in dvc.lock only when a stage ends, so a change during the stage would be recorded for outputs made with
    the old values; failing the stage keeps them out of dvc.lock and the run-cache.
    """
    if not os.path.isdir(STAMP_DIR) or not os.path.exists(PARAMS_FILE):
        return
    record = os.path.join(STAMP_DIR, f"{STAMP_PREFIX}{run_pid}")
    for stale in glob.glob(os.path.join(STAMP_DIR, f"{STAMP_PREFIX}*")):  # of runs that have ended
        pid = stale.rsplit(".", 1)[1]
        if stale != record and (not pid.isdigit() or not is_running(int(pid))):
            os.remove(stale)
    now = digest()
    if not os.path.exists(record) and moment == "before":
        with open(record, "w", encoding="utf-8") as handle:
            handle.write(now + "\n")
        return
    with open(record, encoding="utf-8") as handle:
        at_start = handle.read().strip()
    if now != at_start:
        what = "its outputs are not recorded" if moment == "after" else "it did not start"
        raise PipelineError(f"{PARAMS_FILE}: changed during this run, {moment} stage {stage} (another `dvc exp run` "
                            f"here?); {what}; {RECOVERY}")
