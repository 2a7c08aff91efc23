"""Choose a fast recipe on validation data: train one member of a candidate, save its validation predictions.

    python benchmarks/fast_search.py --member 0 --threads 1 --output /tmp/a0.npz -S epochs=15 -S arch=ensemble_cnn_bn
    python benchmarks/fast_search.py --combine /tmp/a0.npz /tmp/a1.npz      # the ensemble's validation accuracy

With -S train.snapshots=K each snapshot is saved as its own member: --output /tmp/s.npz writes /tmp/s.1.npz ...
/tmp/s.K.npz.

--optimizer NAME=VALUE passes an argument the product's params do not have to the Keras optimizer that
train.optimizer names, to measure an ingredient before it becomes a param: weight averaging (`use_ema=true`,
`ema_momentum=0.999`: Keras keeps the average and swaps it in at the end of fit), Nesterov momentum for sgd
(`momentum=0.9`, `nesterov=true`).

The candidate is the default params.yaml with the -S values (dotted keys, as recipes.yaml and `dvc exp run -S`),
trained through the train stage's own train_member with split `fixed`: every member holds out the same
validation images, so members' predictions combine into an ensemble's. Validation accuracy is printed with and
without each test-time view (pipeline.inference.VIEWS); the test set is not read. Run two members side by side
with `taskset -c 0` / `taskset -c 1` and `--threads 1` to time what `pipeline.runtime.side_by_side --jobs 2` would.
"""
import argparse
import contextlib
import functools
import json
import os
import time

import numpy as np

from benchmarks.common import cpu_name, epoch_times, load_data
from pipeline.params import load_params, validate
from pipeline.recipes import apply, parse_setting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def combine(paths):
    """Print each member's and the mean ensemble's validation accuracy, per view set."""
    files = [np.load(path) for path in paths]
    labels = files[0]["labels"]
    for key in [key for key in files[0].files if key.startswith("views_")]:
        members = [file[key] for file in files]
        each = [float((member.argmax(1) == labels).mean()) for member in members]
        ensemble = float((np.mean(members, axis=0).argmax(1) == labels).mean())
        print(f"{key[6:]:>14}: members {', '.join(f'{value:.4f}' for value in each)}; ensemble of {len(members)} "
              f"{ensemble:.4f}")


@contextlib.contextmanager
def optimizer_options(optimizers, name, options):
    """While it lasts, `optimizers.<name>(...)` (as pipeline.model.compile_model builds it) also gets `options`."""
    original = getattr(optimizers, name)
    if options:
        setattr(optimizers, name, functools.partial(original, **options))
    try:
        yield
    finally:
        setattr(optimizers, name, original)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--member", type=int, default=0)
    parser.add_argument("--threads", type=int, help="train.threads (default: params.yaml's)")
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("-S", dest="settings", action="append", default=[], help="dotted.key=value (YAML value)")
    parser.add_argument("--optimizer", dest="optimizer_options", action="append", default=[],
                        help="NAME=VALUE (YAML value) for the Keras optimizer: an ingredient not yet a param")
    parser.add_argument("--output", help="an .npz for the validation predictions (for --combine)")
    parser.add_argument("--combine", nargs="+", help="the .npz files of members to combine; nothing trains")
    arguments = parser.parse_args(argv)
    if arguments.combine:
        return combine(arguments.combine)

    from pipeline.acceleration import detect
    from pipeline.inference import SHIFTS, VIEWS, predict_member
    from pipeline.options import OPTIMIZERS
    from pipeline.runtime.quiet_keras import keras
    from pipeline.training import TrainConfig, member_split, train_member

    recipe = dict(parse_setting(setting) for setting in arguments.settings)
    recipe.update({"split": "fixed", "train.validation_fraction": arguments.validation_fraction,
                   "train.early_stopping": False, "train.keep_best": False})
    if arguments.threads is not None:
        recipe["train.threads"] = arguments.threads
    params = apply(load_params(os.path.join(ROOT, "params.yaml")), recipe)
    validate(params, "fast_search")
    config = TrainConfig.from_params(params)
    options = dict(parse_setting(option) for option in arguments.optimizer_options)
    x, y, _, _ = load_data(params["dataset"], params["limit"])
    num_classes = int(y.max()) + 1
    acceleration = detect(config.precision, config.accelerate, config.threads)
    timer = epoch_times()
    start = time.perf_counter()
    with optimizer_options(keras.optimizers, OPTIMIZERS[config.optimizer][0], options):
        model, history, _, snapshots = train_member(x, y, num_classes, config, arguments.member, acceleration,
                                                    callbacks=[timer], verbose=0)
    seconds = time.perf_counter() - start
    _, validation_index = member_split(len(x), config.seed, arguments.member, config.validation_fraction,
                                       config.split)
    x_validation, labels = x[validation_index], y[validation_index]
    views = {"none": [], "flip": ["flip"], "shifts": list(SHIFTS), "flip_shifts": list(VIEWS)}
    weights = [taken for _, taken in snapshots] + [model.get_weights()]  # train.snapshots: each is a member
    run = {"cpu": cpu_name(), "threads": config.threads, "member": arguments.member, "recipe": recipe,
           "optimizer_options": options,
           "backend": keras.backend.backend(), "precision": acceleration.precision, "train_seconds": round(seconds, 1),
           "epoch_seconds": timer.seconds, "train_images": len(x) - len(validation_index),
           "last_loss": round(float(history["loss"][-1]), 4)}
    for snapshot, kept in enumerate(weights, start=1):
        model.set_weights(kept)
        predictions = {f"views_{name}": predict_member(model, x_validation, listed) for name, listed in views.items()}
        accuracies = {key[6:]: round(float((value.argmax(1) == labels).mean()), 4)
                      for key, value in predictions.items()}
        print(json.dumps({**run, "snapshot": f"{snapshot} of {len(weights)}", "validation_accuracy": accuracies}))
        if arguments.output:  # with snapshots, one file each: a.npz -> a.1.npz, a.2.npz, ... for --combine
            path = arguments.output if len(weights) == 1 else f"{os.path.splitext(arguments.output)[0]}.{snapshot}.npz"
            np.savez(path, labels=labels, **predictions)

if __name__ == "__main__":
    main()
