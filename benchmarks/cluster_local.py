"""Members side by side on this machine: `python -m pipeline.cluster --local N` against plain `dvc repro`.

    python benchmarks/cluster_local.py --members 0 1 --local 2 --threads 1 [--output FILE.json]

Two fresh clones of this checkout (its last commit), each with params.yaml's defaults but `members` and
`train.threads` as given, its own DVC cache and its own DVC remote (a folder), so neither reuses the
other's members. In each, `dvc repro prepare` first (not timed: the same in both), then the timed run:
`dvc repro` in one, `python -m pipeline.cluster --local N` in the other, from the members to the report.
Prints the wall times, their ratio and whether the metrics are identical; asserts nothing.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import yaml

from benchmarks.common import ROOT, cpu_name


def clone(folder, members, threads):
    subprocess.run(["git", "clone", "-q", ROOT, folder], check=True)
    os.symlink(os.path.join(ROOT, ".venv"), os.path.join(folder, ".venv"))
    path = os.path.join(folder, "params.yaml")
    with open(path, encoding="utf-8") as handle:
        params = yaml.safe_load(handle)
    params["members"], params["train"]["threads"] = members, threads
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(params, handle, sort_keys=False)
    dvc = os.path.join(folder, ".venv", "bin", "dvc")
    subprocess.run([dvc, "remote", "add", "--local", "--default", "--force", "bench", f"{folder}-remote"],
                   cwd=folder, check=True)
    subprocess.run([dvc, "repro", "prepare"], cwd=folder, check=True, capture_output=True)
    return folder


def timed(command, folder, log):
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as handle:
        subprocess.run(command, cwd=folder, check=True, stdout=handle, stderr=subprocess.STDOUT)
    return round(time.perf_counter() - start, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--local", type=int, default=2, help="workers of the LocalCluster")
    parser.add_argument("--threads", type=int, default=1, help="train.threads in both runs")
    parser.add_argument("--output", help="also write the figures here as JSON")
    arguments = parser.parse_args()
    python = os.path.join(ROOT, ".venv", "bin", "python")
    with tempfile.TemporaryDirectory() as base:
        serial = clone(os.path.join(base, "serial"), arguments.members, arguments.threads)
        spread = clone(os.path.join(base, "cluster"), arguments.members, arguments.threads)
        logs = arguments.output.rsplit(".", 1)[0] if arguments.output else os.path.join(base, "log")
        serial_s = timed([os.path.join(serial, ".venv", "bin", "dvc"), "repro"], serial, f"{logs}.serial.log")
        cluster_s = timed([python, "-m", "pipeline.cluster", "--local", str(arguments.local)], spread,
                          f"{logs}.cluster.log")
        same = all(open(os.path.join(serial, name), "rb").read() == open(os.path.join(spread, name), "rb").read()
                   for name in ("reports/metrics.json", "data/predictions/members.npz"))
        with open(os.path.join(spread, "reports", "metrics.json"), encoding="utf-8") as handle:
            accuracy = json.load(handle)["ensemble"]["test_accuracy"]
    figures = {"cpu": cpu_name(), "cpus": len(os.sched_getaffinity(0)), "members": arguments.members,
               "train.threads": arguments.threads, "local_workers": arguments.local,
               "dvc_repro_s": serial_s, "cluster_local_s": cluster_s, "speedup": round(serial_s / cluster_s, 2),
               "metrics_identical": same, "ensemble_test_accuracy": accuracy}
    print(json.dumps(figures, indent=2))
    if arguments.output:
        with open(arguments.output, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
