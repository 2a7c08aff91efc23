"""The DVC and git command lines the runners start: the one place that finds `dvc` and runs it."""
import os
import subprocess
import sys

from pipeline.runtime.errors import PipelineError


def dvc_command():
    """The project's own dvc, beside this Python (a bare PATH may have none, or another one)."""
    dvc = os.path.join(os.path.dirname(sys.executable), "dvc")
    return dvc if os.path.exists(dvc) else "dvc"


def run_dvc(arguments, cwd=None, quiet=False):
    """`dvc <arguments>`, its output shown (or returned when `quiet`); a failure is one PipelineError."""
    if not quiet:
        print("dvc " + " ".join(arguments), flush=True)
    result = subprocess.run([dvc_command(), *arguments], cwd=cwd, check=False, text=True,
                            capture_output=quiet)
    if result.returncode:
        said = (result.stdout + result.stderr).strip().splitlines() if quiet else []
        tail = f": {said[-1]}" if said else " (its output is above)"
        raise PipelineError(f"dvc {' '.join(arguments)} exited with {result.returncode}{tail}")
    return result.stdout if quiet else None


def git(*arguments, cwd=None):
    """`git <arguments>`'s standard output; a failure is one PipelineError with git's last line."""
    result = subprocess.run(["git", *arguments], cwd=cwd, check=False, capture_output=True, text=True)
    if result.returncode:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise PipelineError(f"git {' '.join(arguments)} exited with {result.returncode}: {last}")
    return result.stdout


def default_remote():
    """(name, url) of the DVC remote `dvc push` uses (DVC's own config reader: a local folder comes back absolute);
    one PipelineError when there is none."""
    from dvc.repo import Repo

    with Repo() as repo:
        name = repo.config["core"].get("remote")
        remotes = repo.config["remote"]
    if not name or name not in remotes:
        raise PipelineError("no default DVC remote: the cluster's workers and this client share members through "
                            "it; allowed: any DVC remote all of them reach, e.g. "
                            "`dvc remote add -d shared /mnt/shared/dvc` (docs/cluster.md)")
    return name, remotes[name]["url"]


def restorable(names):
    """The stages among `names` that `dvc repro` would not run: dvc.lock already matches them, or this machine's
    run-cache (`dvc fetch --run-cache` brings the remote's) holds a run with the same code, data and params."""
    from dvc.repo import Repo

    found = []
    with Repo() as repo, repo.lock:
        for name in names:
            stage = repo.stage.collect(name)[0]
            if not stage.changed():
                found.append(name)
                continue
            stage.save_deps()  # hashes the stage's dependencies, which the run-cache entry is keyed by
            if repo.stage_cache._load(stage):
                found.append(name)
    return found
