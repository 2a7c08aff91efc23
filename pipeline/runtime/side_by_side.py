"""`dvc repro` with the members trained side by side: `python -m pipeline.runtime.side_by_side --jobs N`.

DVC runs one stage at a time (it has no `repro -j`), but several `dvc --wait-for-lock repro
-s train@<i>` processes may run at once, each writing its own dvc.lock entry under DVC's lock.
This runs what comes before the members (`dvc repro prepare`), then the members N at a time,
each process pinned to its own share of the CPUs, then the rest (`dvc repro`). On a GPU the N
processes share the device.

The thread count changes a member's weights, so it must be a param, or the run-cache would
reuse a member trained one way for a run configured the other way: `train.threads` must be set,
and N x train.threads must fit the CPUs this process may use. Members already in dvc.lock or
the run-cache are restored, not trained.

Stopped by SIGTERM, SIGINT or SIGHUP (a scheduler, `timeout`, Ctrl-C), it stops the dvc processes it
started, and their stages, before it exits (pipeline.runtime.children).
"""
import argparse
import os
import sys
import time

from pipeline.params import load_params
from pipeline.runtime import children
from pipeline.runtime.errors import PipelineError, run_main


def dvc_command():
    """The project's own dvc, beside this Python."""
    dvc = os.path.join(os.path.dirname(sys.executable), "dvc")
    return dvc if os.path.exists(dvc) else "dvc"


def cpu_shares(jobs, threads, cpus):
    """`jobs` disjoint sets of `threads` CPUs each from `cpus` (sorted), one per process running side by side."""
    cpus = sorted(cpus)
    problem = jobs_problem(jobs, threads, len(cpus))
    if problem:
        raise PipelineError(problem)
    return [set(cpus[index * threads:(index + 1) * threads]) for index in range(jobs)]


def jobs_problem(jobs, threads, cpus):
    """What is wrong with `jobs` processes of `threads` threads each (None: not known, at least 1) on `cpus` CPUs."""
    if jobs < 1:
        return f"--jobs {jobs}: allowed: an integer >= 1"
    if threads is None and jobs > cpus:
        return (f"--jobs {jobs}: {jobs} jobs need at least {jobs} CPUs (1 thread each), but this process may use "
                f"{cpus}; allowed: --jobs <= {cpus}")
    if threads is not None and jobs * threads > cpus:
        return (f"--jobs {jobs}: {jobs} x train.threads {threads} = {jobs * threads} CPUs, but this process may use "
                f"{cpus}; allowed: --jobs x train.threads <= {cpus}")
    return None


def threads_problem(threads, jobs, cpus):
    """What is wrong with train.threads `threads` for --jobs: it must be set."""
    if threads is not None:
        return None
    fitting = min(max(jobs, 1), cpus)  # the suggestion must itself fit
    return (f"params.yaml: train.threads: null is not allowed with --jobs; allowed: the threads each member trains "
            f"with, e.g. {cpus // fitting} for {fitting} jobs on {cpus} CPUs (it changes the weights, so the "
            "run-cache must know it)")


def check_threads(threads, jobs, cpus=None):
    """The CPU shares of `jobs` processes with `threads` (train.threads) each on `cpus` (default: those this process
    may use); every problem with the two in one line, so that one mistake costs one round trip."""
    cpus = os.sched_getaffinity(0) if cpus is None else cpus
    problems = [jobs_problem(jobs, threads, len(cpus)), threads_problem(threads, jobs, len(cpus))]
    if any(problems):
        raise PipelineError("; and ".join(filter(None, problems)))
    return cpu_shares(jobs, threads, cpus)


def checked(jobs, load=load_params):
    """(the params `load` returns, their CPU shares for `jobs`): a problem with --jobs is reported together with
    one in the params, in one line."""
    cpus = os.sched_getaffinity(0)
    try:
        params = load()
    except PipelineError as error:
        raise PipelineError("; and ".join(filter(None, [jobs_problem(jobs, None, len(cpus)), str(error)]))) from None
    return params, check_threads(params["train"]["threads"], jobs, cpus)


def run(arguments):
    """`dvc <arguments>`, stopped with this process; PipelineError when it fails."""
    print("dvc " + " ".join(arguments), flush=True)
    code = children.wait(children.start([dvc_command(), *arguments]))
    if code:
        raise PipelineError(f"dvc {' '.join(arguments)} exited with {code} (its output is above)")


def train_side_by_side(members, shares):
    """Run `dvc --wait-for-lock repro -s train@<member>` for every member, len(shares) at a time, each process on
    the CPUs of its share. Returns {member: seconds}; the first failure stops the others' queue."""
    pending, running, seconds, failed = list(members), {}, {}, []
    free = list(range(len(shares)))
    while pending or running:
        while pending and free and not failed:
            member, slot = pending.pop(0), free.pop(0)
            arguments = ["--wait-for-lock", "repro", "--single-item", f"train@{member}"]
            print(f"dvc {' '.join(arguments)}   # CPUs {sorted(shares[slot])}", flush=True)
            process = children.start([dvc_command(), *arguments], cpus=shares[slot])
            running[process] = (member, slot, time.perf_counter())
        time.sleep(0.5)
        for process in [process for process in running if children.ended(process) is not None]:
            member, slot, start = running.pop(process)
            seconds[member] = time.perf_counter() - start
            free.append(slot)
            if process.returncode:
                failed.append(member)
    if failed:
        raise PipelineError(f"train@{failed[0]} failed (its output is above); the members that finished are in "
                            "dvc.lock: run the command again to train the rest")
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", "-j", type=int, default=2, help="members trained at once (default 2)")
    arguments = parser.parse_args(argv)
    params, shares = checked(arguments.jobs)
    threads, start = params["train"]["threads"], time.perf_counter()
    with children.stopped_with_children("pipeline.runtime.side_by_side"):
        run(["repro", "prepare"])
        seconds = train_side_by_side(params["members"], shares)
        run(["repro"])
    print(f"parallel: {len(seconds)} members, {arguments.jobs} at a time with {threads} thread(s) each: "
          + ", ".join(f"train@{member} {value:.0f} s" for member, value in seconds.items())
          + f"; {time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    run_main(main)
