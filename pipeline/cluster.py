"""Train a run's members, or a sweep of experiments, on a Dask cluster: `python -m pipeline.cluster`.

    python -m pipeline.cluster --local 2                          # 2 workers on this machine
    python -m pipeline.cluster --scheduler tcp://HOST:8786        # the workers of a running scheduler
    python -m pipeline.cluster --scheduler tcp://HOST:8786 --git-remote GIT_URL -S 'seed=0,1' -S 'epochs=10,20'

Members: what comes before them runs here and goes to the DVC remote (`dvc push --run-cache`); each member
not in dvc.lock or the run-cache yet is one task, trained on a worker and pushed to the remote's run-cache;
then `dvc repro --pull` here restores them and runs the rest, so the workspace ends as a plain `dvc repro`
leaves it. With -S: each combination of the values (DVC's sweep syntax, as `dvc exp run --queue -S`) is one
experiment, run on a worker with `dvc exp run` and pulled back here through GIT_URL (`dvc exp show` lists them).

`train.threads` must be set (the thread count changes the weights, so the run-cache must know it); each task
takes that many of a worker's `threads` resource (workers: `dask worker ADDRESS --resources threads=N`).
Workers need the project's environment (bash install.sh), git, and the DVC remote; docs/cluster.md says how.
"""
import argparse
import contextlib
import logging
import signal
import sys
import time

from pipeline.params import load_params, validate
from pipeline.recipes import apply, parse_setting
from pipeline.runtime import cluster
from pipeline.runtime.dvc import default_remote, restorable, run_dvc
from pipeline.runtime.errors import PipelineError, print_error, run_main
from pipeline.runtime.lifeline import SIGNALS, Stopped, raise_stopped
from pipeline.runtime.processes import cpu_count


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m pipeline.cluster", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    where.add_argument("--local", type=int, metavar="N", help="start N workers on this machine for this run")
    parser.add_argument("-S", "--set-param", dest="settings", action="append", default=[], metavar="KEY=VALUES",
                        help="a sweep: each combination is one experiment (needs --git-remote)")
    parser.add_argument("--git-remote", metavar="GIT_URL",
                        help="a git remote the workers push experiments to and this client pulls them from")
    parser.add_argument("--name", default="sweep", help="experiments are named NAME-1, NAME-2, ... (default sweep)")
    return parser.parse_args(argv)


def experiments(params, settings):
    """[(overrides, train.threads)] of the sweep `settings`, each checked as params.yaml's rules check a value."""
    from dvc.utils.hydra import get_hydra_sweeps  # what `dvc exp run --queue -S` expands with

    found = []
    for sweep in get_hydra_sweeps({"params.yaml": settings}):
        overrides = sweep["params.yaml"]
        values = dict(map(parse_setting, overrides))
        threads = validate(apply(params, values), f"-S {' -S '.join(overrides)}")["train"]["threads"]
        if threads is None:
            raise PipelineError(f"-S {' -S '.join(overrides)}: train.threads: null is not allowed on a cluster; "
                                "allowed: the threads each member trains with, e.g. -S train.threads=1")
        found.append((overrides, threads))
    return found


def argument_problems(arguments, threads, option="--local"):
    """Every mistake in the command line and params.yaml together, one line (one round trip for all of them);
    `option` is what the user typed for --local (pipeline.recipes: --jobs)."""
    problems = []
    local, cpus = arguments.local, cpu_count()
    if local is not None and local < 1:
        problems.append(f"{option} {local}: allowed: an integer >= 1")
    elif local is not None and local * (threads or 1) > cpus:
        problems.append(f"{option} {local}: {local} x train.threads {threads or 1} = {local * (threads or 1)} CPUs, "
                        f"but this process may use {cpus}; allowed: {option} x train.threads <= {cpus}")
    if threads is None and not arguments.settings:
        example = max(1, cpus // local) if local and local > 0 else 1
        problems.append("params.yaml: train.threads: null is not allowed on a cluster; allowed: the threads each "
                        f"member trains with, e.g. {example} (it changes the weights, so the run-cache must know it)")
    if arguments.settings and not arguments.git_remote:
        problems.append("-S: a sweep needs --git-remote GIT_URL, through which its experiments come back")
    return problems


@contextlib.contextmanager
def connect(arguments, threads):
    """A Dask client of the scheduler named, or of a LocalCluster of --local workers; its dashboard printed."""
    from distributed import Client, LocalCluster

    if arguments.local:
        with LocalCluster(n_workers=arguments.local, threads_per_worker=1, processes=True, dashboard_address=":0",
                          resources={cluster.RESOURCE: max(threads or 1, cpu_count() // arguments.local)},
                          silence_logs=logging.ERROR) as local, Client(local) as client:
            print(f"cluster: {arguments.local} local workers; dashboard {client.dashboard_link}", flush=True)
            yield client
        return
    try:
        client = Client(arguments.scheduler, timeout=30)
    except OSError as error:
        raise PipelineError(f"--scheduler {arguments.scheduler}: cannot reach it ({error}); allowed: the address "
                            "`dask scheduler` printed, e.g. tcp://10.0.0.5:8786") from None
    with client:
        print(f"cluster: scheduler {arguments.scheduler}, {len(client.scheduler_info()['workers'])} workers; "
              f"dashboard {client.dashboard_link}", flush=True)
        yield client


def train_members(client, job, members, threads):
    """Members not in dvc.lock or the run-cache, trained on the cluster; then the rest of the pipeline here."""
    run_dvc(["repro", "prepare"])
    run_dvc(["push", "--run-cache", "--with-deps", "prepare"])
    run_dvc(["fetch", "--run-cache", "prepare"])  # members other machines pushed earlier need no training
    done = restorable([f"train@{member}" for member in members])
    pending = [member for member in members if f"train@{member}" not in done]
    print(f"cluster: {len(pending)} of {len(members)} members to train"
          + (f" ({len(done)} restored from dvc.lock or the run-cache)" if done else ""), flush=True)
    for result in cluster.run_tasks(client, cluster.train_member, job, [(member,) for member in pending],
                                    {cluster.RESOURCE: threads}):
        print(cluster.describe(result), flush=True)
    run_dvc(["repro", "--pull"])


def run_sweep(client, job, combinations, arguments):
    """Each combination one `dvc exp run` on a worker, then every experiment pulled here."""
    names = [f"{arguments.name}-{index}" for index in range(1, len(combinations) + 1)]
    for name, (overrides, _) in zip(names, combinations):
        print(f"cluster: {name}: -S {' -S '.join(overrides)}", flush=True)
    tasks = [(name, overrides, arguments.git_remote) for name, (overrides, _) in zip(names, combinations)]
    threads = max(threads for _, threads in combinations)
    for result in cluster.run_tasks(client, cluster.run_experiment, job, tasks, {cluster.RESOURCE: threads}):
        print(cluster.describe(result), flush=True)
    for name in names:
        run_dvc(["exp", "pull", "--force", arguments.git_remote, name])
    print(f"cluster: {len(names)} experiments: {', '.join(names)}; `dvc exp show` lists them", flush=True)


def main(argv=None):
    arguments = parse(argv)
    params = load_params()
    threads = params["train"]["threads"]
    problems = argument_problems(arguments, threads)
    if problems:
        raise PipelineError("; ".join(problems))
    combinations = experiments(params, arguments.settings) if arguments.settings else None
    _, remote = default_remote()
    job = cluster.make_job(remote, cluster.stop_name())
    # A stop signal raises Stopped here, so that every task is stopped before this process ends
    previous = {each: signal.signal(each, raise_stopped) for each in SIGNALS}
    start = time.perf_counter()
    try:
        with connect(arguments, threads) as client:
            needed = max(each for _, each in combinations) if combinations else threads
            cluster.check_workers(client, job.versions, job.remote, needed)
            if combinations:
                run_sweep(client, job, combinations, arguments)
            else:
                train_members(client, job, params["members"], threads)
    except Stopped as stopped:
        print_error(f"cluster: stopped by {stopped}; every task was stopped and nothing it had not finished "
                    "reached the remote; run the command again to go on")
        sys.exit(128 + stopped.signum)
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)
    print(f"cluster: done in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    run_main(main)
