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
"""
import argparse
import os
import subprocess
import sys
import time

from pipeline.params import load_params
from pipeline.runtime.errors import PipelineError, run_main


def dvc_command():
    """The project's own dvc, beside this Python."""
    dvc = os.path.join(os.path.dirname(sys.executable), "dvc")
    return dvc if os.path.exists(dvc) else "dvc"


def cpu_shares(jobs, threads, cpus):
    """`jobs` disjoint sets of `threads` CPUs each from `cpus` (sorted), one per process running side by side."""
    cpus = sorted(cpus)
    if jobs * threads > len(cpus):
        raise PipelineError(f"--jobs {jobs}: {jobs} x train.threads {threads} = {jobs * threads} CPUs, but this "
                            f"process may use {len(cpus)}; allowed: --jobs x train.threads <= {len(cpus)}")
    return [set(cpus[index * threads:(index + 1) * threads]) for index in range(jobs)]


def run(arguments, **options):
    print("dvc " + " ".join(arguments), flush=True)
    result = subprocess.run([dvc_command(), *arguments], check=False, **options)
    if result.returncode:
        raise PipelineError(f"dvc {' '.join(arguments)} exited with {result.returncode} (its output is above)")


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
            process = subprocess.Popen([dvc_command(), *arguments],
                                       preexec_fn=lambda cpus=shares[slot]: os.sched_setaffinity(0, cpus))
            running[process] = (member, slot, time.perf_counter())
        time.sleep(0.5)
        for process in [process for process in running if process.poll() is not None]:
            member, slot, start = running.pop(process)
            seconds[member] = time.perf_counter() - start
            free.append(slot)
            if process.returncode:
                failed.append(member)
    if failed:
        raise PipelineError(f"train@{failed[0]} failed (its output is above); the members that finished are in "
                            "dvc.lock: run the command again to train the rest")
    return seconds


def check_threads(threads, jobs):
    """The CPU shares of `jobs` processes with `threads` (train.threads) each; one line if they do not fit."""
    if jobs < 1:
        raise PipelineError(f"--jobs {jobs}: allowed: an integer >= 1")
    cpus = os.sched_getaffinity(0)
    if threads is None:
        raise PipelineError(f"params.yaml: train.threads: null is not allowed with --jobs; allowed: the threads each "
                            f"member trains with, e.g. {max(1, len(cpus) // jobs)} for {jobs} jobs on "
                            f"{len(cpus)} CPUs (it changes the weights, so the run-cache must know it)")
    return cpu_shares(jobs, threads, cpus)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", "-j", type=int, default=2, help="members trained at once (default 2)")
    arguments = parser.parse_args(argv)
    params = load_params()
    threads = params["train"]["threads"]
    shares = check_threads(threads, arguments.jobs)
    start = time.perf_counter()
    run(["repro", "prepare"])
    seconds = train_side_by_side(params["members"], shares)
    run(["repro"])
    print(f"parallel: {len(seconds)} members, {arguments.jobs} at a time with {threads} thread(s) each: "
          + ", ".join(f"train@{member} {value:.0f} s" for member, value in seconds.items())
          + f"; {time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    run_main(main)
