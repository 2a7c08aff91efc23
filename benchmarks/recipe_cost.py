"""What a recipe of recipes.yaml (cpu-recipe-fashion unless --recipe) costs against the default run, measured in turns.

    python benchmarks/recipe_cost.py                  # 2 rounds of 3 epochs a way, all 60,000 images
    python benchmarks/recipe_cost.py --recipe fast --ways default recipe "recipe, ensemble_cnn"   # fast's member
    python benchmarks/recipe_cost.py --levers         # also the recipe in float32 and without BatchNormalization
    python benchmarks/recipe_cost.py --resnet         # also the best recipe (the same settings with arch resnet)
    python benchmarks/recipe_cost.py --rounds 1 --epochs 2 --limit 12000   # a quick look

A full run of each takes hours and this machine's speed drifts by a third within hours, so
runs on different days do not compare. This trains member 0 both ways in turns (default,
recipe, default, recipe, ...) so both see the same machine: the default as `dvc repro` trains
it (ensemble_cnn, its 80/20 split, validated every epoch) and the recipe as recipes.yaml has it
(ensemble_cnn_bn on all images, shift 2 + flip), or --recipe's. Each training is a process of its own,
as each train@<i> stage is: an input read through a Python generator (the augmented one, until
it became a tf.data pass) changed the process for good, and one training's state could slow the
next. Each way's epoch is the median of the epochs after the first (which compiles). The whole
training is then projected: the default's epochs as the committed baseline ran them
(reports/training_curves.csv: early stopping ends members early), the recipe's `epochs` for
each of its members. Prints figures; asserts nothing.
"""
import argparse
import csv
import dataclasses
import json
import os
import statistics
import subprocess
import sys

from benchmarks.augment_speed import RECIPE  # recipes.yaml's CPU recipe
from benchmarks.common import cpu_name, recipe_params

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

BASELINE_CURVES = os.path.join(ROOT, "reports", "training_curves.csv")  # one row per epoch the baseline ran


WAYS = ("default", "recipe", "recipe in float32", "recipe, ensemble_cnn", "recipe, resnet")


def configs(name, epochs):
    """{way: TrainConfig} for every entry of WAYS, `epochs` each, with recipe `name`."""
    from pipeline.params import load_params
    from pipeline.training import TrainConfig

    params = load_params(os.path.join(ROOT, "params.yaml"))
    default = dataclasses.replace(TrainConfig.from_params(params), epochs=epochs)
    recipe = TrainConfig.from_params(recipe_params(name, epochs=epochs))
    return {"default": default, "recipe": recipe,
            "recipe in float32": dataclasses.replace(recipe, precision="float32"),
            "recipe, ensemble_cnn": dataclasses.replace(recipe, arch="ensemble_cnn",
                                                        architecture=params["architectures"]["ensemble_cnn"]),
            "recipe, resnet": dataclasses.replace(recipe, arch="resnet",
                                                  architecture=params["architectures"]["resnet"])}


def train_one(way, name, epochs, limit):
    """Train member 0 the `way` way in this process; print {"precision", "seconds" per epoch} as JSON."""
    from benchmarks.common import epoch_times, load_data
    from pipeline.acceleration import detect
    from pipeline.training import train_member

    x, y, _, _ = load_data("fashion_mnist", limit)
    config = configs(name, epochs)[way]
    acceleration = detect(config.precision, config.accelerate)
    timer = epoch_times()
    train_member(x, y, 10, config, 0, acceleration, callbacks=[timer], verbose=0)
    print(json.dumps({"precision": acceleration.precision, "seconds": timer.seconds}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="turns of each way")
    parser.add_argument("--epochs", type=int, default=3, help="epochs a way per round (at least 2; the first is "
                                                                "not timed)")
    parser.add_argument("--limit", type=int, default=60000, help="training images used")
    parser.add_argument("--levers", action="store_true",
                        help="also the recipe in float32, and with ensemble_cnn (no BatchNormalization)")
    parser.add_argument("--resnet", action="store_true", help="also the recipe with arch resnet (the best recipe)")
    parser.add_argument("--recipe", default=RECIPE, help=f"the recipe of recipes.yaml (default {RECIPE})")
    parser.add_argument("--ways", nargs="+", choices=WAYS, help="instead of the flags: these ways, in this order")
    parser.add_argument("--one", choices=WAYS, help=argparse.SUPPRESS)  # internal: one training, in a child process
    arguments = parser.parse_args()
    if arguments.epochs < 2 or arguments.rounds < 1:
        parser.error("--epochs must be at least 2 (the first epoch compiles and is not timed), --rounds at least 1")
    if arguments.one:
        return train_one(arguments.one, arguments.recipe, arguments.epochs, arguments.limit)

    ways = ["default", "recipe"] + (["recipe in float32", "recipe, ensemble_cnn"] if arguments.levers else []) + (
        ["recipe, resnet"] if arguments.resnet else [])
    ways = arguments.ways or ways
    model_name = cpu_name()
    print(f"CPU: {model_name}, {os.cpu_count()} cores; recipe {arguments.recipe}; {arguments.limit} images of "
          f"fashion_mnist; "
          f"{arguments.rounds} rounds of {arguments.epochs} epochs a way, each in a process of its own\n")
    seconds = {name: [] for name in ways}
    for round_number in range(1, arguments.rounds + 1):
        for name in ways:
            command = [sys.executable, os.path.abspath(__file__), "--one", name, "--recipe", arguments.recipe,
                       "--epochs", str(arguments.epochs), "--limit", str(arguments.limit)]
            child = subprocess.run(command, capture_output=True, text=True, check=False)
            if child.returncode:
                sys.exit(f"{name}: the training process failed:\n{child.stderr[-3000:]}")
            result = json.loads(child.stdout.strip().splitlines()[-1])
            seconds[name] += result["seconds"][1:]
            print(f"round {round_number}, {name:22} ({result['precision']}) epochs "
                  f"{' '.join(f'{value:.1f}' for value in result['seconds'])} s", flush=True)

    with open(BASELINE_CURVES, encoding="utf-8") as handle:
        baseline_epochs = sum(1 for _ in csv.DictReader(handle))
    recipe = recipe_params(arguments.recipe)
    recipe_epochs = recipe["epochs"] * len(recipe["members"])
    print(f"\nmedian epoch after the first; whole training projected (the default's {baseline_epochs} epochs as "
          f"the baseline ran them, {recipe_epochs} for a recipe):")
    default_total = statistics.median(seconds["default"]) * baseline_epochs
    for name, values in seconds.items():
        epoch = statistics.median(values)
        total = epoch * (baseline_epochs if name == "default" else recipe_epochs)
        print(f"  {name:22} {epoch:5.1f} s an epoch, {total / 60:5.0f} min of training, "
              f"{total / default_total:.2f}x the default")


if __name__ == "__main__":
    main()
