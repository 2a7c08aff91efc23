"""Members and sweeps as Dask tasks, the DVC remote the only thing workers and this client share (docs/cluster.md).

A task runs on a worker in a workspace of its own: a clone of the client's commit (a git bundle the client
ships through Dask, so workers need no access to the client's git), the client's params.yaml and
architectures.yaml as they are (committed or not), and the client's DVC remote. A member's task runs
`dvc repro --pull train@<i>` there (what comes before it restored from the remote's run-cache) and
pushes the member to the remote's run-cache; an experiment's task runs `dvc exp run --pull` and
`dvc exp push`. The client then restores the members (`dvc repro --pull`) or pulls the experiments.

Nothing half-done reaches the remote: a task pushes only after DVC finished its stage. A worker that dies
mid-task takes its DVC process with it (PR_SET_PDEATHSIG; the stage stops with DVC, pipeline.runtime.lifeline)
and the scheduler runs the task again elsewhere. Stopping the client sets a Dask Event that every task
watches: it stops its DVC process group and ends.
"""
import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import CancelledError

from distributed import Event, as_completed, get_worker

from pipeline.members import read_history
from pipeline.paths import METRICS, record_path
from pipeline.runtime.dvc import dvc_command, git
from pipeline.runtime.errors import PipelineError
from pipeline.runtime.files import read_json
from pipeline.runtime.keys import installed_versions
from pipeline.runtime.lifeline import ask_for_parent_death_signal
from pipeline.runtime.processes import is_running

TOPIC = "pipeline-cluster"  # the tasks' start and progress lines, logged as Dask events; the client prints them
WORKSPACES = "pipeline-cluster"  # in each worker's local directory: one folder per running task
USER_FILES = ("params.yaml", "architectures.yaml")  # the files that travel as the client has them, committed or not
# What workers take from the commit: an uncommitted change there would make their stages differ from the client's
# (the code is each stage's key; data/own is fetch's input). Outputs and dvc.lock may differ: workers make their own.
COMMITTED = ("dvc.yaml", "python.sh", "pipeline/", "stages/", "data/own/")
RESOURCE = "threads"  # the Dask resource a member's task takes train.threads of (workers: --resources threads=N)
POLL_S = 1.0  # how often a task looks at its DVC process and at the stop Event
RETRIES = 2  # a task whose worker died runs again elsewhere, at most this many more times
STOP_WAIT_S = 30  # how long a stopped DVC process may take to clean up before it is killed


@dataclasses.dataclass(frozen=True)
class Job:
    """What every task of one run needs, shipped to each worker once."""
    bundle: bytes  # `git bundle` of the client's HEAD
    commit: str
    files: dict  # USER_FILES' text, as the client has them
    remote: str  # the URL of the client's default DVC remote
    versions: dict  # the client's TensorFlow, Keras and NumPy (pipeline.runtime.keys.installed_versions)
    stop: str  # the name of the distributed.Event that stops every task of the run


class Stopped(Exception):
    """The client stopped the run; the task ended its DVC process."""


def remote_folder(remote):
    """The folder the DVC remote `remote` is (a path, or a file:// URL); None for any other kind of remote."""
    if "://" not in remote or remote.startswith("file://"):
        return remote.removeprefix("file://")
    return None


def make_job(remote, stop):
    """The Job of this checkout; one PipelineError when it has changes that would not reach the workers. A remote
    that is a folder not made yet is made (as `dvc push` would), so the workers find it."""
    if remote_folder(remote):
        os.makedirs(remote_folder(remote), exist_ok=True)
    status = git("status", "--porcelain", "--untracked-files=all", "--", *COMMITTED)
    changed = [line[3:] for line in status.splitlines()]
    if changed:
        raise PipelineError(f"uncommitted changes: {', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}; "
                            f"the workers run the last commit of {', '.join(COMMITTED)} (and {', '.join(USER_FILES)} "
                            "as they are here): allowed: commit them first (git commit)")
    bundle = git_bundle()
    files = {}
    for name in USER_FILES:
        with open(name, encoding="utf-8") as handle:
            files[name] = handle.read()
    return Job(bundle, git("rev-parse", "HEAD").strip(), files, remote, installed_versions(), stop)


def git_bundle():
    """HEAD and its history as one git bundle (a few MB): a worker clones it without reaching the client's git."""
    result = subprocess.run(["git", "bundle", "create", "-", "HEAD"], check=False, capture_output=True)
    if result.returncode:
        raise PipelineError(f"git bundle create - HEAD: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


# --- on the workers ------------------------------------------------------------------------------------------------

def check_worker(versions, remote):
    """What keeps this worker from training a member the client would find: None when nothing does."""
    problems = []
    here = installed_versions()
    if here != versions:
        differ = [f"{name}: {here.get(name)} (client: {versions[name]})" for name in versions
                  if here.get(name) != versions[name]]
        problems.append(f"other package versions: {', '.join(differ)}, so its members would have another key")
    folder = remote_folder(remote)  # a folder must be there and writable; other remotes are found out by dvc pull
    if folder and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
        problems.append(f"cannot reach the DVC remote {folder} (not a writable folder here)")
    if shutil.which("git") is None:
        problems.append("no git on its PATH")
    if not os.path.exists(dvc_command()) and shutil.which("dvc") is None:
        problems.append("no dvc beside its Python")
    return "; ".join(problems) or None


def workspace(job, label):
    """A new folder in this worker's local directory holding the client's commit, its USER_FILES and remote."""
    root = os.path.join(get_worker().local_directory, WORKSPACES)
    remove_stale_workspaces(root)
    folder = os.path.join(root, f"{os.getpid()}-{label}-{uuid.uuid4().hex[:8]}")
    os.makedirs(folder)
    bundle = f"{folder}.bundle"
    with open(bundle, "wb") as handle:
        handle.write(job.bundle)
    try:
        git("clone", "-q", bundle, folder)
        git("checkout", "-q", job.commit, cwd=folder)
    finally:
        os.remove(bundle)
    git("config", "user.name", "pipeline.cluster", cwd=folder)  # `dvc exp run` commits the experiment
    git("config", "user.email", "pipeline.cluster@localhost", cwd=folder)
    for name, text in job.files.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    run_dvc_in(folder, ["remote", "add", "--local", "--default", "--force", "cluster", job.remote], job)
    return folder


def remove_stale_workspaces(root):
    """Remove the folders that tasks of worker processes no longer running left (a worker killed mid-task)."""
    if not os.path.isdir(root):
        return
    for entry in os.listdir(root):
        pid = entry.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not is_running(int(pid)):
            shutil.rmtree(os.path.join(root, entry), ignore_errors=True)


def run_dvc_in(folder, arguments, job):
    """`dvc <arguments>` in `folder`, watched: the client's stop Event ends it; returns its output; a failure is one
    PipelineError naming this worker and the output's last line. A killed worker takes its DVC process with it
    (PR_SET_PDEATHSIG), and the stage stops with DVC (pipeline.runtime.lifeline)."""
    environment = {**os.environ, "PROJECT_PYTHON": sys.executable}  # python.sh: the worker's Python, not a .venv
    log = os.path.join(folder, ".cluster.log")
    with open(log, "a+", encoding="utf-8") as output:
        forwarded = output.tell()  # this command's lines only ("a+" starts at the end)
        process = subprocess.Popen([dvc_command(), *arguments], cwd=folder, env=environment, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=ask_for_parent_death_signal)
        stop = Event(job.stop)
        while process.poll() is None:
            forwarded = forward_progress(log, forwarded)
            if stop.is_set():
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(STOP_WAIT_S)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                raise Stopped(f"dvc {' '.join(arguments)}")
            time.sleep(POLL_S)
        forward_progress(log, forwarded)
        output.seek(0)
        text = output.read()
    if process.returncode:
        errors = [line for line in text.splitlines() if line.startswith(("error:", "ERROR:"))] or text.splitlines()
        raise PipelineError(f"worker {get_worker().address}: dvc {' '.join(arguments)} exited with "
                            f"{process.returncode}: {errors[-1] if errors else 'no output'}")
    return text


def forward_progress(path, start):
    """Send the client the train stage's progress lines (member k of N, one per epoch, the member's end) that the
    log `path` holds after byte `start`; returns the offset read up to (whole lines only)."""
    with open(path, "rb") as log:
        log.seek(start)
        text = log.read()
    complete = text[:text.rfind(b"\n") + 1]
    for line in complete.decode("utf-8", errors="replace").splitlines():
        if line.startswith("train@"):
            get_worker().log_event(TOPIC, {"event": "line", "line": line, "worker": get_worker().address})
    return start + len(complete)


def stages_run(output):
    """The stages DVC ran (not restored) according to its output."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


@contextlib.contextmanager
def task_workspace(job, task):
    """Announce `task` to the client, then yield its workspace (`workspace`), removed after the block."""
    get_worker().log_event(TOPIC, {"event": "start", "task": task, "worker": get_worker().address})
    folder = workspace(job, task)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def task_result(task, start, output, **figures):
    """What every task returns: itself, its worker, its seconds, the stages DVC ran there, and its `figures`."""
    return {"task": task, "worker": get_worker().address, "seconds": time.perf_counter() - start,
            "ran": stages_run(output), **figures}


def train_member(job, member):
    """Train member `member` (or restore it from the remote's run-cache) and push it to the remote's run-cache."""
    task, start = f"train@{member}", time.perf_counter()
    with task_workspace(job, task) as folder:
        output = run_dvc_in(folder, ["repro", "--pull", task], job)
        record = read_json(os.path.join(folder, record_path(member)))
        history = read_history(member, record["epochs_run"], root=folder)
        run_dvc_in(folder, ["push", "--run-cache", task], job)
    return task_result(task, start, output, val_accuracy=history["val_accuracy"][record["best_epoch"] - 1])


def run_experiment(job, name, overrides, git_remote):
    """`dvc exp run -n NAME -S ...` in a workspace of its own, then the experiment pushed to `git_remote` (and its
    outputs and run-cache to the DVC remote)."""
    start = time.perf_counter()
    with task_workspace(job, name) as folder:
        settings = [word for override in overrides for word in ("-S", override)]
        output = run_dvc_in(folder, ["exp", "run", "--pull", "--name", name, *settings], job)
        metrics = read_json(os.path.join(folder, METRICS))
        run_dvc_in(folder, ["exp", "push", "--run-cache", "--force", git_remote, name], job)
    return task_result(name, start, output, test_accuracy=metrics["ensemble"]["test_accuracy"])


# --- on the client -------------------------------------------------------------------------------------------------

def check_workers(client, versions, remote, threads):
    """One PipelineError naming every worker that cannot take a task, and why; none when all can."""
    workers = client.scheduler_info()["workers"]
    if not workers:
        raise PipelineError(f"no workers connected to the scheduler {client.scheduler.address}; "
                            "allowed: start some with `dask worker ADDRESS --resources threads=N` (docs/cluster.md)")
    problems = [f"worker {address}: {problem}"
                for address, problem in client.run(check_worker, versions, remote).items() if problem]
    fitting = [address for address, info in workers.items() if info.get("resources", {}).get(RESOURCE, 0) >= threads]
    if not fitting:
        problems.append(f"no worker offers {RESOURCE}={threads} (train.threads); allowed: workers started with "
                        f"--resources {RESOURCE}=N, N >= {threads}")
    if problems:
        raise PipelineError("; ".join(problems) + "; nothing was trained")


def print_event(event):
    """A task's start, or a progress line of its training, as the client prints them."""
    _, message = event
    if message["event"] == "start":
        print(f"cluster: {message['task']} started on {message['worker']}", flush=True)
    else:
        print(f"cluster: {message['worker']}: {message['line']}", flush=True)


def hold(job):
    """The job as a task's result: every task of the run reads it from there, and a worker that dies holding it
    loses nothing (scattered data would be lost with it, and the tasks still to run cancelled)."""
    return job


def run_tasks(client, function, job, arguments, resources):
    """Submit `function(job, *each)` for each tuple in `arguments`; yield each result as it ends. On any exception
    (Ctrl-C, a stop signal, a failed task) every task is stopped before it is raised on."""
    client.subscribe_topic(TOPIC, print_event)
    stop = Event(job.stop, client=client)
    shipped = client.submit(hold, job, pure=False)  # not scattered: a task, computed again should its worker die
    futures = [client.submit(function, shipped, *each, key=f"{function.__name__}-{'-'.join(map(str, each))}-{job.stop}",
                             resources=resources, retries=RETRIES, pure=False) for each in arguments]
    try:
        for future in as_completed(futures):
            try:
                result = future.result()
            except CancelledError as error:  # by the scheduler (lost its data, restarted): one line, not a traceback
                raise PipelineError(f"the scheduler cancelled {future.key} ({error}); nothing of it reached the "
                                    "remote; run the command again to go on") from None
            yield result
    except BaseException:
        stop.set()  # running tasks end their DVC process; cancel drops the ones not started
        client.cancel(futures)
        raise


def describe(result):
    """The line printed when a task ends. A member's task should have restored what comes before it: a stage it
    ran instead is named (the remote's run-cache lacked it, or the worker computes another key)."""
    done = f"cluster: {result['task']} done on {result['worker']} in {result['seconds']:.0f} s"
    if "val_accuracy" not in result:
        return f"{done}, test_accuracy {result['test_accuracy']:.4f}"
    recomputed = [stage for stage in result["ran"] if not stage.startswith("train@")]
    note = f" (recomputed there, not restored: {', '.join(recomputed)})" if recomputed else ""
    return f"{done}, val_accuracy {result['val_accuracy']:.4f}{note}"


def stop_name():
    return f"pipeline-cluster-stop-{uuid.uuid4().hex[:12]}"
