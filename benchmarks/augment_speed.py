"""What augmentation costs the training loop per epoch (the budget: under 10 % of an epoch).

    python benchmarks/augment_speed.py                 # all 60,000 Fashion-MNIST images, 3 epochs a way
    python benchmarks/augment_speed.py --limit 12000   # a quick look
    python benchmarks/augment_speed.py --recipe fast   # fast's member: flip alone

Trains member 0 of params.yaml with recipes.yaml's cpu-recipe-fashion (ensemble_cnn_bn,
split none, cosine with a warm-up epoch, label smoothing 0.1), or --recipe's, twice in this process: without
augmentation (arrays into model.fit) and with the recipe's augmentation, e.g. shift 2 + flip (AugmentedImages,
which also shuffles: a tf.data pass an epoch under TensorFlow). Prints augment() alone on the images
(best of 5) and each way's fastest epoch after the first, which includes compilation; and what turning
and resizing (rotate 10, zoom 0.1) add to augment() alone. Asserts nothing.
"""
import argparse
import dataclasses
import os
import time

RECIPE = "cpu-recipe-fashion"  # of recipes.yaml


def described(augmentation):
    """train.augment's values as "shift 2 + flip": the settings that augment."""
    return " + ".join(key if value is True else f"{key} {value}" for key, value in augmentation.items() if value)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="epochs a way (at least 2; the first is not timed)")
    parser.add_argument("--limit", type=int, default=60000, help="training images used")
    parser.add_argument("--recipe", default=RECIPE, help=f"the recipe of recipes.yaml (default {RECIPE})")
    arguments = parser.parse_args()
    if arguments.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch compiles and is not timed")

    import numpy as np

    from benchmarks.common import cpu_name, epoch_times, load_data, recipe_params
    from pipeline.acceleration import detect
    from pipeline.augment import augment
    from pipeline.training import TrainConfig, train_member

    recipe = recipe_params(arguments.recipe, epochs=arguments.epochs)
    base = TrainConfig.from_params(recipe)
    dataset = recipe["dataset"]
    x, y, _, _ = load_data(dataset, arguments.limit)
    rng = np.random.default_rng(0)
    warped = {**base.augment, "rotate": 10, "zoom": 0.1}  # what turning and resizing add (MNIST's candidates)
    alone = {}
    for name, augmentation in (("recipe", base.augment), ("warped", warped)):
        seconds = []
        for _ in range(5):
            start = time.perf_counter()
            augment(x, augmentation, rng, rng.permutation(len(x)))
            seconds.append(time.perf_counter() - start)
        alone[name] = min(seconds)

    acceleration = detect(base.precision, base.accelerate)
    model_name = cpu_name()
    print(f"CPU: {model_name}, {os.cpu_count()} cores; {acceleration}")
    print(f"recipe {arguments.recipe} ({base.arch}); {len(x)} images of {dataset}, "
          f"{arguments.epochs} epochs a way\n")
    print(f"augment() alone, {described(base.augment)}: {alone['recipe']:.2f} s per epoch (best of 5); with rotate "
          f"{warped['rotate']} and zoom {warped['zoom']} too: {alone['warped']:.2f} s")
    fastest = {}
    augmented = f"with {described(base.augment)}"
    for name, augmentation in (("without augmentation", {key: type(value)() for key, value in base.augment.items()}),
                                (augmented, base.augment)):
        config = dataclasses.replace(base, augment=augmentation)
        timer = epoch_times()
        train_member(x, y, 10, config, 0, acceleration, callbacks=[timer], verbose=0)
        fastest[name] = min(timer.seconds[1:])
        print(f"{name:22} epochs {' '.join(f'{value:.1f}' for value in timer.seconds)} s; fastest after the "
              f"first {fastest[name]:.1f} s", flush=True)
    with_it, without = fastest[augmented], fastest["without augmentation"]
    print(f"\naugment() alone: {100 * alone['recipe'] / with_it:.1f} % of an augmented epoch; the whole difference "
          f"(augment, shuffle, the input path): {with_it - without:+.1f} s, "
          f"{100 * (with_it - without) / with_it:+.1f} %")


if __name__ == "__main__":
    main()
