"""pipeline.cluster on real Dask processes: a `dask scheduler` and two `dask worker`s started from the command line on
127.0.0.1, each worker in its own folder with its own copy of the project; nothing shared with the client but a
local-folder DVC remote (and a bare git repository for a sweep's experiments)."""
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile

import psutil
import pytest
import yaml

from conftest import ROOT
from project import BARE_PATH, dvc, make_project, run, trainings

TRAIN = {**yaml.safe_load((ROOT / "params.yaml").read_text())["train"], "threads": 1}  # pinned: bit for bit
PARAMS = {"limit": 600, "members": [0, 1], "epochs": 1, "train": TRAIN}
DASK = os.path.join(sys.prefix, "bin", "dask")
START_S = 90  # how long the scheduler and the workers may take to start


def environment(folder):
    """A worker's or the client's environment: a bare PATH, and its own folder's code first."""
    return {"PATH": BARE_PATH, "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(folder),
            "DVC_NO_ANALYTICS": "1"}


def start_worker(base, scheduler_file, name, extra_path=None):
    folder = make_project(base / f"worker_{name}", **PARAMS)
    env = environment(folder)
    if extra_path:
        env["PYTHONPATH"] += os.pathsep + str(extra_path)
    log = open(base / f"worker_{name}.log", "w")
    return subprocess.Popen([DASK, "worker", "--scheduler-file", str(scheduler_file), "--nworkers", "1", "--nthreads",
                             "1", "--resources", "threads=1", "--local-directory", str(folder / "dask"), "--name",
                             name, "--no-dashboard"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_for_workers(address, count):
    from distributed import Client

    with Client(address, timeout=START_S) as client:
        client.wait_for_workers(count, timeout=START_S)
        deadline = time.time() + START_S
        while len(client.scheduler_info()["workers"]) != count and time.time() < deadline:
            time.sleep(0.5)  # a worker leaving takes a moment to be forgotten
        assert len(client.scheduler_info()["workers"]) == count


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The client project (remote: a local folder), a scheduler and two workers; stopped after the module."""
    base = tmp_path_factory.mktemp("cluster")
    remote = base / "remote"
    client = make_project(base / "client", **PARAMS)
    dvc(client, "remote", "add", "--local", "--default", "shared", str(remote))
    scheduler_file = base / "scheduler.json"
    processes = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file",
                                   str(scheduler_file), "--no-dashboard"], cwd=base, env=environment(base),
                                  stdout=open(base / "scheduler.log", "w"), stderr=subprocess.STDOUT)]
    deadline = time.time() + START_S
    while not scheduler_file.exists() and time.time() < deadline:
        time.sleep(0.2)
    address = json.loads(scheduler_file.read_text())["address"]
    processes += [start_worker(base, scheduler_file, name) for name in ("a", "b")]
    wait_for_workers(address, 2)
    yield {"base": base, "client": client, "remote": remote, "address": address, "scheduler_file": scheduler_file,
           "workers": processes[1:], "clients": []}
    for process in reversed(processes):
        process.terminate()
    for process in processes:
        process.wait(30)


@pytest.fixture(autouse=True)
def stop_clients(cluster):
    """A client a failed test left running is stopped (SIGTERM: it stops its tasks), so that it does not hold the
    client project's DVC lock, or the workers, for the next test."""
    yield
    for process in cluster["clients"]:
        if process.poll() is None:
            process.terminate()
            try:
                process.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
    cluster["clients"].clear()


def start_client(cluster, *arguments):
    client = cluster["client"]
    process = subprocess.Popen([str(client / ".venv" / "bin" / "python"), "-m", "pipeline.cluster", "--scheduler",
                                cluster["address"], *arguments], cwd=client, env=environment(client),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cluster["clients"].append(process)
    return process


def finish(process, timeout=600):
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def wait_for_training(workers, count=1, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = trainings(*(worker.pid for worker in workers))
        if len(found) >= count:
            return found
        time.sleep(0.2)
    pytest.fail(f"no {count} member(s) training on the workers within {timeout} s")


def gone(processes, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]:
            return True
        time.sleep(0.5)
    return False


def weights(path):
    with zipfile.ZipFile(path) as archive:  # the .keras file also holds its save time: only its weights compare
        return archive.read("model.weights.h5")


def lock_without_saved_models(repo):
    """dvc.lock's stages with every param, dependency and output but those that hold when they were made: a .keras
    file holds its save time (so models/ as a dependency), the SavedModel too, and the wall times."""
    stages = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    varies = (".keras", "export/saved_model", "reports/timings", "reports/report.")  # the report shows wall times
    for stage in stages.values():
        for kind in ("deps", "outs"):
            stage[kind] = [entry for entry in stage[kind]
                           if entry["path"] != "models" and not any(part in entry["path"] for part in varies)]
    return stages


@contextlib.contextmanager
def client_params(cluster, **changes):
    """The client project's params.yaml with `changes` (a new seed: members no run-cache holds yet) for the block."""
    client = cluster["client"]
    params = yaml.safe_load((client / "params.yaml").read_text())
    (client / "params.yaml").write_text(yaml.safe_dump({**params, **changes}, sort_keys=False))
    try:
        yield client
    finally:
        run(client, "git", "checkout", "--", "params.yaml")


def holder_of_the_job(address, timeout=300):
    """The worker process (its pid) that holds the run's job (pipeline.runtime.cluster.hold) once it is computed."""
    from distributed import Client

    with Client(address, timeout=START_S) as client:
        deadline = time.time() + timeout
        while time.time() < deadline:
            holders = [worker for key, workers in client.who_has().items() if str(key).startswith("hold-")
                       for worker in workers]
            if holders:
                return client.run(os.getpid, workers=holders[:1])[holders[0]]
            time.sleep(0.2)
    pytest.fail(f"no worker held the job within {timeout} s")


def kill_the_job_holder(address):
    """Kill the worker process that holds the job, once it trains a member (its nanny starts a new one); the member's
    training must end with it."""
    holder = holder_of_the_job(address)
    victim = wait_for_training([psutil.Process(holder)])[0]
    psutil.Process(holder).kill()
    assert gone([victim], timeout=15), "the killed worker's member went on training"


def remote_files(cluster):
    """Every path in the cluster's remote, sorted: what reached it."""
    return sorted(str(path) for path in cluster["remote"].rglob("*"))


def test_members_on_the_cluster_match_a_serial_run_even_when_a_worker_dies(cluster, tmp_path):
    """The worker killed is the one training a member and holding the job every task reads (the git bundle...):
    the member runs again elsewhere and the job is computed again, not lost."""
    serial = make_project(tmp_path / "serial", **PARAMS)
    dvc(serial, "repro")
    process = start_client(cluster)
    kill_the_job_holder(cluster["address"])
    code, output = finish(process)
    assert code == 0, output[-3000:]
    starts = [line for line in output.splitlines() if " started on " in line]
    assert len(starts) == 3, output  # train@0, train@1, and the killed one again
    assert output.count(" done on ") == 2 and "recomputed there" not in output
    for member in (0, 1):  # the workers' progress lines reach the client's terminal, one line per epoch
        assert re.search(rf"^cluster: tcp://\S+: train@{member}: epoch 1/\d+ in .*val_accuracy", output, re.M), output
        assert re.search(rf"^cluster: tcp://\S+: train@{member}: member {member + 1} of 2 done in ", output, re.M)
    client = cluster["client"]
    for name in ("reports/metrics.json", "data/predictions/members.npz", "reports/members.csv"):
        assert (client / name).read_bytes() == (serial / name).read_bytes(), name
    for member in (0, 1):
        assert weights(client / f"models/member_{member}.keras") == weights(serial / f"models/member_{member}.keras")
    assert lock_without_saved_models(client) == lock_without_saved_models(serial)
    assert "Data and pipelines are up to date." in dvc(client, "status")


def test_a_job_lost_with_its_only_worker_is_computed_again(cluster):
    """One member: its task runs where the job is, so killing that worker mid-member leaves no copy of the job on any
    worker (scattered data would be lost for good, and the member's task cancelled: "already forgotten")."""
    with client_params(cluster, seed=3, members=[0]):
        process = start_client(cluster)
        kill_the_job_holder(cluster["address"])
        code, output = finish(process)
    assert code == 0, output[-3000:]
    assert output.count(" started on ") == 2 and output.count(" done on ") == 1, output


def test_a_task_the_scheduler_cancels_ends_the_run_in_one_line(cluster):
    """Another client of the scheduler cancels the member's task (force: though this client wants it): the client
    stops every task and says so in its last line, no traceback; nothing unfinished reaches the remote."""
    from distributed import Client, Future

    with client_params(cluster, seed=5, members=[0]):
        process = start_client(cluster)
        training = wait_for_training(cluster["workers"])
        remote_before = remote_files(cluster)
        with Client(cluster["address"], timeout=START_S) as other:
            keys = [key for keys in other.processing().values() for key in keys if str(key).startswith("train_")]
            other.cancel([Future(key, client=other) for key in keys], force=True)
        code, output = finish(process, timeout=120)
    assert code == 1 and "Traceback" not in output, output[-3000:]
    last = output.strip().splitlines()[-1]
    assert last.startswith("error: the scheduler cancelled train_member-0-") and last.endswith(
        "; nothing of it reached the remote; run the command again to go on"), last
    assert gone(training), "the member went on training after its task was cancelled"
    time.sleep(2)
    assert remote_files(cluster) == remote_before


def test_a_client_with_nothing_left_to_train_trains_nothing(cluster):
    code, output = finish(start_client(cluster))
    assert code == 0, output[-3000:]
    assert "cluster: 0 of 2 members to train (2 restored from dvc.lock or the run-cache)" in output
    assert " started on " not in output and "Running stage 'train@" not in output


def test_a_sweep_comes_back_as_experiments(cluster):
    git_remote = cluster["base"] / "experiments.git"
    run(cluster["base"], "git", "init", "-q", "--bare", str(git_remote))
    code, output = finish(start_client(cluster, "--git-remote", str(git_remote), "-S", "seed=1,2", "-S",
                                       "members=[0]"))
    assert code == 0, output[-3000:]
    assert "cluster: sweep-1: -S seed=1 -S members=[0]" in output and output.count(" done on ") == 2
    shown = json.loads(dvc(cluster["client"], "exp", "show", "--json"))
    experiments = {exp["name"]: exp["data"] for baseline in shown for exp in (baseline.get("experiments") or [])
                   for exp in exp["revs"]}
    assert set(experiments) >= {"sweep-1", "sweep-2"}
    seeds = {name: data["params"]["params.yaml"]["data"]["seed"] for name, data in experiments.items()}
    assert (seeds["sweep-1"], seeds["sweep-2"]) == (1, 2)
    for name in ("sweep-1", "sweep-2"):
        metrics = experiments[name]["metrics"]["reports/metrics.json"]["data"]
        assert 0 < metrics["ensemble"]["test_accuracy"] <= 1


def test_stopping_the_client_stops_every_task_and_pushes_nothing(cluster):
    with client_params(cluster, seed=7):
        process = start_client(cluster)
        training = wait_for_training(cluster["workers"], count=2)
        remote_before = remote_files(cluster)
        process.send_signal(signal.SIGTERM)
        code, output = finish(process, timeout=120)
    assert code == 128 + signal.SIGTERM, output[-3000:]
    assert output.strip().splitlines()[-1].startswith("error: cluster: stopped by SIGTERM; every task was stopped")
    assert gone(training), "a member went on training after the client stopped"
    time.sleep(2)
    assert remote_files(cluster) == remote_before  # nothing half-done pushed


def test_a_worker_with_other_package_versions_is_refused_before_training(cluster, tmp_path):
    fake = tmp_path / "site" / "numpy_twin-0.0.dist-info"  # another distribution claiming the module numpy
    fake.mkdir(parents=True)
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: numpy-twin\nVersion: 0.0\n")
    (fake / "top_level.txt").write_text("numpy\n")
    odd = start_worker(tmp_path, cluster["scheduler_file"], "odd", extra_path=tmp_path / "site")
    try:
        wait_for_workers(cluster["address"], 3)
        code, output = finish(start_client(cluster))
    finally:
        odd.terminate()
        odd.wait(30)
        wait_for_workers(cluster["address"], 2)
    assert code == 1
    last = output.strip().splitlines()[-1]
    assert last.startswith("error: worker tcp://127.0.0.1:") and "other package versions: numpy" in last, last
    assert "numpy-twin 0.0" in last and last.endswith("nothing was trained")
    assert " started on " not in output
