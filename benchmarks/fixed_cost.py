"""Where a run's time goes outside the stages' own work: each stage's process (Python, imports, TensorFlow, exit)
and DVC's own work around them. A slice of the data keeps the work itself short; what remains is what a short
recipe pays whatever its data.

    python benchmarks/fixed_cost.py --recipe fast --rounds 3
    MNIST_DIR=../shared/datasets/mnist python benchmarks/fixed_cost.py --recipe fast-mnist

In a fresh clone of this checkout (its committed state, this checkout's .venv linked), with the recipe's params
(`default`: params.yaml as committed) and `--set` (a slice: limit=600 epochs=1), one `dvc repro` fills the
outputs (not timed); then, `--rounds` times: `dvc repro --force` timed whole, and each stage's command
(`sh python.sh -m stages.<name>`, as DVC runs it) timed alone, its own work read from reports/timings/. Prints,
per stage, the process's wall time, its own work and the rest; per run, the stages' processes and DVC's share
(the whole run less them). It asserts nothing.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

import yaml

from benchmarks.common import cpu_name
from benchmarks.frontier import fresh_clone, timed
from pipeline import recipes
from pipeline.params import load_params
from pipeline.paths import STAGES, member_stage, timing_path
from pipeline.runtime.files import read_json


def stage_commands(members):
    """(timing name, command) of each stage in run order, as dvc.yaml runs them (one train stage per member)."""
    commands = []
    for stage in STAGES:
        if stage == "train":
            commands += [(member_stage(member), ["sh", "python.sh", "-m", "stages.train", "--member", str(member)])
                         for member in members]
        else:
            commands.append((stage, ["sh", "python.sh", "-m", f"stages.{stage}"]))
    return commands


def measure(clone, log, rounds):
    members = load_params(os.path.join(clone, "params.yaml"))["members"]
    dvc = os.path.join(clone, ".venv", "bin", "dvc")
    code, _ = timed([dvc, "repro"], clone, log)
    if code:
        sys.exit(f"dvc repro exited {code}; see {log}")
    runs, processes, own = [], {}, {}
    for _ in range(rounds):
        code, seconds = timed([dvc, "repro", "--force"], clone, log)
        if code:
            sys.exit(f"dvc repro --force exited {code}; see {log}")
        runs.append(seconds)
        for name, command in stage_commands(members):
            code, seconds = timed(command, clone, log)
            if code:
                sys.exit(f"{' '.join(command)} exited {code}; see {log}")
            processes.setdefault(name, []).append(seconds)
            path = os.path.join(clone, timing_path(name))
            own.setdefault(name, []).append(read_json(path)["wall_time_s"] if os.path.exists(path) else 0.0)
    return runs, processes, own


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="default", help="a recipe of recipes.yaml, or default")
    parser.add_argument("--set", nargs="*", default=["limit=600", "epochs=1"], metavar="KEY=VALUE",
                        help="dotted params keys applied after the recipe (default: limit=600 epochs=1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", help="a JSON file for the figures")
    arguments = parser.parse_args(argv)
    changes = dict(setting.split("=", 1) for setting in arguments.set)
    changes = {key: yaml.safe_load(value) for key, value in changes.items()}
    with tempfile.TemporaryDirectory() as folder:
        clone = fresh_clone(os.path.join(folder, "clone"))
        path = os.path.join(clone, "params.yaml")
        recipes_file = os.path.join(clone, recipes.RECIPES_FILE)
        with open(path, encoding="utf-8") as handle:
            params = yaml.safe_load(handle)
        recipe = {} if arguments.recipe == "default" else recipes.load(recipes_file)[arguments.recipe]
        with open(path, "w", encoding="utf-8") as handle:  # as `dvc exp run -S` would write it
            yaml.safe_dump(recipes.apply(params, {**recipe, **changes}), handle, sort_keys=False)
        log = os.path.join(folder, "fixed_cost.log")
        runs, processes, own = measure(clone, log, arguments.rounds)
    median = statistics.median
    print(f"{cpu_name()}, {len(os.sched_getaffinity(0))} CPUs; recipe {arguments.recipe} with "
          f"{' '.join(arguments.set)}; medians of {arguments.rounds} rounds, seconds")
    print(f"{'stage':<10} {'process':>8} {'own work':>9} {'the rest':>9}")
    for name in processes:
        print(f"{name:<10} {median(processes[name]):8.2f} {median(own[name]):9.2f} "
              f"{median(processes[name]) - median(own[name]):9.2f}")
    whole = median(runs)
    stages = sum(median(times) for times in processes.values())
    work = sum(median(times) for times in own.values())
    print(f"one run: dvc repro --force {whole:.1f} s = stages' own work {work:.1f} s + their processes' rest "
          f"{stages - work:.1f} s + DVC's share {whole - stages:.1f} s")
    if arguments.output:
        with open(arguments.output, "w", encoding="utf-8") as handle:
            json.dump({"cpu": cpu_name(), "cpus": len(os.sched_getaffinity(0)), "recipe": arguments.recipe,
                       "set": arguments.set, "runs": runs, "processes": processes, "own": own}, handle, indent=1)


if __name__ == "__main__":
    main()
