"""Ensemble test accuracy against wall time, one point per recipe and TTA setting, on this machine in one sitting.

    python benchmarks/frontier.py run --output benchmarks/results/frontier_zen4/frontier.json fast default
    python benchmarks/frontier.py plot benchmarks/results/frontier_zen4/frontier.json   # frontier.png beside it

`run` clones this checkout (its committed state) once per recipe into a temporary folder, links this checkout's
.venv into it (the install is not timed), and times one command from its start to the report:
`dvc exp run` for `default` (params.yaml as committed), `python -m pipeline.recipes NAME` for a recipe of
recipes.yaml (`NAME:jobs=2` adds `--jobs 2`; `notebook` is the peer: the defaults trained the notebook's way).
Nothing comes from a run-cache: each clone starts without one.
Then the recipe's other TTA setting (none, or the recipe's views when it has none: flip for Fashion-MNIST,
the shifts for MNIST) is one more point: `dvc exp run -S ensemble.tta=...` reruns evaluate onwards, and its
wall time is the first run's plus that rerun's. Each finished recipe is written to the JSON file at once, so an
interrupted sitting keeps what it measured; beside it `<output>_<recipe>/` keeps the clone's reports (metrics,
members, report.md, each stage's wall time in timings/; evaluate onwards as the TTA rerun left them). `plot`
also draws, hollow, the file's `earlier` list: points of other sittings, written in by hand, each naming the
results folder it comes from. It prints figures and asserts nothing.
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

from benchmarks.common import cpu_name
from pipeline.inference import SHIFTS  # (NumPy only: no Keras start-up here)
from pipeline.params import load_params
from pipeline.paths import METRICS
from pipeline.runtime.files import read_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(command, cwd, log):
    """Run `command` in `cwd` with a bare PATH, its output appended to `log`; (exit code, wall seconds)."""
    environment = {"HOME": os.environ.get("HOME", "/tmp"), "PATH": "/usr/bin:/bin", "DVC_NO_ANALYTICS": "1",
                   **{name: os.environ[name] for name in ("MNIST_DIR", "FASHION_MNIST_DIR") if name in os.environ}}
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(command)}\n")
        handle.flush()
        start = time.perf_counter()
        code = subprocess.run(command, cwd=cwd, env=environment, stdout=handle, stderr=subprocess.STDOUT).returncode
    return code, time.perf_counter() - start


def point(recipe, tta, seconds, clone):
    metrics, params = read_json(os.path.join(clone, METRICS)), load_params(os.path.join(clone, "params.yaml"))
    return {"recipe": recipe, "dataset": params["dataset"], "members": len(params["members"]), "tta": tta,
            "wall_seconds": round(seconds, 1), "ensemble_test_accuracy": metrics["ensemble"]["test_accuracy"],
            "mean_member_test_accuracy": metrics["members"]["mean_test_accuracy"]}


def clone_path(folder, entry):
    """Where recipe `entry` (`default`, `NAME` or `NAME:jobs=N`) is cloned under `folder`: one clone per name."""
    return os.path.join(folder, entry.partition(":")[0])


def fresh_clone(clone):
    """A clone of this checkout's committed state at `clone`, this checkout's .venv linked into it (not installed)."""
    subprocess.run(["git", "clone", "-q", ROOT, clone], check=True)
    os.symlink(os.path.join(ROOT, ".venv"), os.path.join(clone, ".venv"))
    return clone


def measure(entry, folder, log, settings=()):
    """The points of one recipe (`default`, `NAME` or `NAME:jobs=N`), run in a fresh clone under `folder`, with the
    extra -S `settings` (a quick look: limit=600 epochs=1)."""
    name, _, option = entry.partition(":")
    clone = fresh_clone(clone_path(folder, entry))
    python, dvc = os.path.join(clone, ".venv", "bin", "python"), os.path.join(clone, ".venv", "bin", "dvc")
    if name == "default":
        command = [dvc, "exp", "run", "-n", "default"]
    else:
        command = [python, "-m", "pipeline.recipes", name]
        if option.startswith("jobs="):
            command += ["--jobs", option.split("=", 1)[1]]
    command += [word for value in settings for word in ("-S", value)]
    code, seconds = timed(command, clone, log)
    if code:
        return [{"recipe": entry, "error": f"exit {code} after {seconds:.0f} s; see {log}"}]
    params = load_params(os.path.join(clone, "params.yaml"))
    tta = params["ensemble"]["tta"]
    points = [point(entry, tta, seconds, clone)]
    other = [] if tta else (["flip"] if params["train"]["augment"]["flip"] else list(SHIFTS))
    code, rerun = timed([dvc, "exp", "run", "-S", f"ensemble.tta={json.dumps(other)}"], clone, log)
    if not code:
        points.append(point(entry, other, seconds + rerun, clone))
    return points


def run(arguments):
    results = {"cpu": cpu_name(), "cpus": len(os.sched_getaffinity(0)), "points": []}
    if os.path.exists(arguments.output):
        with open(arguments.output, encoding="utf-8") as handle:
            results = json.load(handle)
    os.makedirs(os.path.dirname(os.path.abspath(arguments.output)), exist_ok=True)
    log = os.path.splitext(arguments.output)[0] + ".log"
    with tempfile.TemporaryDirectory() as folder:
        for entry in arguments.recipes:
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            for found in measure(entry, folder, log, arguments.set):
                found["started"] = started
                print(json.dumps(found), flush=True)
                results["points"].append(found)
            with open(arguments.output, "w", encoding="utf-8") as handle:
                json.dump(results, handle, indent=1)
            clone = clone_path(folder, entry)
            keep(clone, f"{os.path.splitext(arguments.output)[0]}_{os.path.basename(clone)}")


KEPT = ("metrics.json", "members.csv", "report.md", "timings")  # what of a clone's reports/ outlives the sitting


def keep(clone, folder):
    """Copy the clone's reports named in KEPT into `folder` (what exists of them)."""
    os.makedirs(folder, exist_ok=True)
    for name in KEPT:
        source = os.path.join(clone, "reports", name)
        if os.path.isdir(source):  # without DVC's .gitignore of its outputs, so that git keeps the files
            shutil.copytree(source, os.path.join(folder, name), dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".gitignore"))
        elif os.path.exists(source):
            shutil.copy(source, folder)


# The targets, one dashed line each: `fast` must reach the study's ensemble, `best-cpu` the second line.
TARGETS = {"fashion_mnist": [(0.9355, "study 000's ensemble"), (0.955, "best-cpu's target")],
           "mnist": [(0.9961, "study 001's ensemble"), (0.9978, "best-cpu-mnist's target")]}


def plot(arguments):
    """The points of this sitting (filled; squares without TTA) and the file's `earlier` points (hollow: runs of
    other sittings, each naming its results folder), one panel per dataset, the targets as lines."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot, ticker

    with open(arguments.results, encoding="utf-8") as handle:
        results = json.load(handle)
    points = [found for found in results["points"] if "error" not in found]
    earlier = results.get("earlier", [])
    datasets = sorted({found["dataset"] for found in points + earlier})
    figure, axes = pyplot.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.5), squeeze=False)
    for axis, dataset in zip(axes[0], datasets):
        for found in [found for found in points + earlier if found["dataset"] == dataset]:
            views = "+".join(found["tta"]) if found["tta"] else "no TTA"
            x, y = found["wall_seconds"] / 60, 100 * found["ensemble_test_accuracy"]
            hollow = found in earlier
            axis.scatter(x, y, marker="s" if not found["tta"] else "o", s=36,
                         facecolors="none" if hollow else None, edgecolors="grey" if hollow else None)
            label = f"{found['recipe']} ({found['members']}), {views}" + (", another sitting" if hollow else "")
            axis.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
        for target, name in TARGETS.get(dataset, []):
            axis.axhline(100 * target, linestyle="--", linewidth=0.8, color="grey")
            axis.annotate(name, (0.01, 100 * target), xycoords=("axes fraction", "data"), fontsize=7,
                          textcoords="offset points", xytext=(0, 3), color="grey")
        axis.set_xscale("log")
        axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_formatter(ticker.NullFormatter())
        axis.set_xticks([1, 2, 5, 10, 20, 30, 60, 100, 200])
        axis.set_xlim(1, 400)  # room for the labels right of the points
        axis.set_xlabel("wall time, dvc exp run to report (minutes, log scale)")
        axis.set_ylabel("ensemble test accuracy (%)")
        axis.set_title(dataset)
        axis.grid(alpha=0.3)
    figure.suptitle(f"{results['cpu']}, {results['cpus']} CPUs", fontsize=9)
    figure.tight_layout()
    output = arguments.output or os.path.splitext(arguments.results)[0] + ".png"
    figure.savefig(output, dpi=120)
    print(output)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    runs = commands.add_parser("run", help="time recipes in fresh clones, one after another")
    runs.add_argument("recipes", nargs="+", help="default, a recipes.yaml name, or NAME:jobs=N")
    runs.add_argument("--output", required=True, help="the JSON file (points are added to one that exists)")
    runs.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="an extra -S for every recipe (a quick look: --set limit=600 --set epochs=1)")
    plots = commands.add_parser("plot", help="draw a JSON file's points")
    plots.add_argument("results")
    plots.add_argument("--output", help="the PNG (default: the JSON's name with .png)")
    arguments = parser.parse_args(argv)
    run(arguments) if arguments.command == "run" else plot(arguments)


if __name__ == "__main__":
    main()
