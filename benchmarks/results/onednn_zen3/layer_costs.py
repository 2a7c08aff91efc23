"""One training step's cost of each layer of the CNN members alone: forward and backward, batch 128, float32.

    TF_ENABLE_ONEDNN_OPTS=0 .venv/bin/python benchmarks/results/onednn_zen3/layer_costs.py   # TensorFlow's kernels
    TF_ENABLE_ONEDNN_OPTS=1 .venv/bin/python benchmarks/results/onednn_zen3/layer_costs.py   # oneDNN's

Each layer at the input shape it has in ensemble_cnn / slim_cnn_bn; the gradient of a sum of squares with respect
to the input and the weights, in a tf.function, 60 steps after 5 warm-ups. Prints milliseconds per step.
"""
import time

import numpy as np
import tensorflow as tf  # first, so TF_ENABLE_ONEDNN_OPTS as given decides, not the project's import

from pipeline.model import FusedBatchNormalization
from pipeline.runtime.quiet_keras import keras

BATCH = 128  # the members' batch_size


def step_milliseconds(layer, shape, steps=60):
    """One forward and backward step of `layer` alone on a batch of `shape` inputs, in ms (after 5 warm-ups)."""
    x = tf.constant(np.random.rand(BATCH, *shape).astype("float32"))
    layer.build((BATCH, *shape))
    weights = layer.trainable_variables

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x] + weights)

    for _ in range(5):
        step(x)
    start = time.perf_counter()
    for _ in range(steps):
        step(x)
    return (time.perf_counter() - start) / steps * 1000


rows = [
 ("conv 1->16 @28", lambda: keras.layers.Conv2D(16, 3, padding="same", activation="relu"), (28, 28, 1)),
 ("conv 16->16 @28", lambda: keras.layers.Conv2D(16, 3, padding="same", activation="relu"), (28, 28, 16)),
 ("fusedBN 16 @28", lambda: FusedBatchNormalization(), (28, 28, 16)),
 ("kerasBN 16 @28", lambda: keras.layers.BatchNormalization(), (28, 28, 16)),
 ("maxpool 16 @28", lambda: keras.layers.MaxPooling2D(2), (28, 28, 16)),
 ("conv 16->32 @14", lambda: keras.layers.Conv2D(32, 3, padding="same", activation="relu"), (14, 14, 16)),
 ("conv 32->32 @14", lambda: keras.layers.Conv2D(32, 3, padding="same", activation="relu"), (14, 14, 32)),
 ("fusedBN 32 @14", lambda: FusedBatchNormalization(), (14, 14, 32)),
 ("maxpool 32 @14", lambda: keras.layers.MaxPooling2D(2), (14, 14, 32)),
 ("conv 32->64 @7", lambda: keras.layers.Conv2D(64, 3, padding="same", activation="relu"), (7, 7, 32)),
 ("conv 64->64 @7", lambda: keras.layers.Conv2D(64, 3, padding="same", activation="relu"), (7, 7, 64)),
 ("conv 64->64 valid @7", lambda: keras.layers.Conv2D(64, 3, activation="relu"), (7, 7, 64)),
 ("fusedBN 64 @7", lambda: FusedBatchNormalization(), (7, 7, 64)),
 ("dense 1600->128", lambda: keras.layers.Dense(128, activation="relu"), (1600,)),
 ("dense 128->128", lambda: keras.layers.Dense(128, activation="relu"), (128,)),
 ("dropout 1600", lambda: keras.layers.Dropout(0.1), (1600,)),
]
for name, make, shape in rows:
    print(f"{name:24s} {step_milliseconds(make(), shape):7.2f} ms/step", flush=True)
