"""fast's member on all 60,000 Fashion-MNIST images in this process: its epoch times, with or without the flip.

    .venv/bin/python benchmarks/results/onednn_zen3/fast_member_epochs.py flip 4     # as recipes.yaml has it
    .venv/bin/python benchmarks/results/onednn_zen3/fast_member_epochs.py noflip 4   # no augmentation: arrays input

Prints the variant and each epoch's seconds (the first compiles).
"""
import sys

from benchmarks.common import epoch_times, load_data, recipe_params
from pipeline.acceleration import detect
from pipeline.training import TrainConfig, train_member

variant, epochs = sys.argv[1], int(sys.argv[2])
params = recipe_params("fast", epochs=epochs)
params["train"]["augment"]["flip"] = variant == "flip"  # without augmentation the member reads arrays, not tf.data
config = TrainConfig.from_params(params)
x, y, _, _ = load_data("fashion_mnist", 60000)
timer = epoch_times()
train_member(x, y, 10, config, 0, detect(config.precision, config.accelerate), callbacks=[timer], verbose=0)
print(variant, " ".join(f"{seconds:.1f}" for seconds in timer.seconds), flush=True)
