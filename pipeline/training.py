"""Train one ensemble member: its own split, its own seed, its best epoch kept."""
import csv
import os

import numpy as np
import keras

from pipeline.errors import PipelineError
from pipeline.model import KERAS2_LEARNING_RATES, build_model, compile_model

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def member_seed(seed, member):
    """A 32-bit seed for member `member` of a run seeded with `seed`.

    SeedSequence mixes both numbers, so members 1 and 2 of seed 0 do not share
    streams with members 0 and 1 of seed 1, as `seed + member` would.
    """
    return seed32(seed, member)


def seed32(*entropy):
    """A 32-bit seed mixed from the integers `entropy` by NumPy's SeedSequence."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def member_split(num_examples, seed, member, validation_fraction, split="per_member"):
    """Indices (train, validation) of member `member`'s training data.

    per_member: the member's own random split; fixed: one split from `seed` alone, the
    same for every member; none: everything is training data, no validation.
    """
    if split == "none":
        return np.arange(num_examples), np.arange(0)
    if split not in ("per_member", "fixed"):
        raise ValueError(f"split {split!r} is not one of per_member, fixed, none")
    split_seed = member_seed(seed, member) if split == "per_member" else seed32(seed)
    order = np.random.default_rng(split_seed).permutation(num_examples)
    num_validation = int(round(num_examples * validation_fraction))
    if num_validation < 1 or num_validation >= num_examples:
        raise PipelineError(f"params.yaml: train.validation_fraction: {validation_fraction} of {num_examples} "
                            "images leaves an empty train or validation part; allowed: a fraction that leaves "
                            "at least one image in each (or a larger limit)")
    return np.sort(order[num_validation:]), np.sort(order[:num_validation])


def step_schedule(learning_rate, lr_schedule):
    """Keras' schedule(epoch, lr) for study 002's steps: after 0-based epoch E, learning_rate * factor."""
    def schedule(epoch, current):
        factor = 1.0
        for boundary, step_factor in lr_schedule:
            if epoch > boundary:  # 002: `if epoch > 80: lr *= 1e-1`
                factor = step_factor
        return learning_rate * factor
    return schedule


def standardizer(x_train):
    """A Normalization layer holding the per-pixel mean and variance of `x_train` (study 003).

    It becomes the model's first layer, so the statistics come from the member's training
    part only and travel with the saved model to evaluation.
    """
    layer = keras.layers.Normalization(axis=tuple(range(1, x_train.ndim)))
    layer.adapt(np.asarray(x_train))
    return layer


BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # without one of these, bfloat16 is emulated and slow


def cpu_flags(path="/proc/cpuinfo"):
    """The CPU's feature flags (empty where /proc/cpuinfo does not exist)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return set(next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), []))
    except OSError:
        return set()


def choose_precision(requested, has_gpu, flags):
    """The Keras dtype policy for `requested`; "auto" takes the one that pays on this hardware.

    Measured on a 2-core AMD EPYC without AMX (README): mixed_bfloat16 ran 15x slower
    than float32 there, so "auto" uses bfloat16 only where the CPU has bf16 instructions.
    """
    if requested != "auto":
        return requested
    if has_gpu:
        return "mixed_float16"
    return "mixed_bfloat16" if flags & set(BF16_CPU_FLAGS) else "float32"


def make_deterministic(seed):
    """Seed Python, NumPy and the backend; on TensorFlow, also make its ops deterministic.

    TensorFlow is imported only here, and only on that backend, so the same training code runs under Keras' JAX
    backend (benchmarks/train_outside_dvc.py on a GPU machine without TensorFlow).
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()


class KeepBestWeights(keras.callbacks.Callback):
    """Keep the weights of the epoch with the highest val_accuracy, restore them at the end.

    The notebook's ModelCheckpoint(monitor='val_acc', save_best_only=True): a later
    epoch replaces the best only when strictly better. Kept in memory, not on disk.
    """

    def __init__(self, monitor="val_accuracy"):
        super().__init__()
        self.monitor = monitor
        self.best_value, self.best_epoch, self.best_weights = -np.inf, None, None

    def on_epoch_end(self, epoch, logs=None):
        value = logs[self.monitor]
        if value > self.best_value:
            self.best_value, self.best_epoch = value, epoch + 1  # epochs counted from 1
            self.best_weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class LogToDvclive(keras.callbacks.Callback):
    """Log Keras' own metric names (loss, val_loss, ...) per epoch to a dvclive Live."""

    def __init__(self, live):
        super().__init__()
        self.live = live

    def on_epoch_end(self, epoch, logs=None):
        for key in HISTORY_KEYS:
            if key in logs:  # no val_* without a validation set
                self.live.log_metric(key, float(logs[key]))
        self.live.next_step()


def train_member(x, y, num_classes, *, member, seed, architecture, arch, epochs, batch_size, optimizer,
                 learning_rate, validation_fraction, patience, split="per_member", early_stopping=True,
                 keep_best=True, lr_schedule=(), normalize="scale", activation=None, dropout=None,
                 max_params=None, precision="float32", callbacks=(), verbose=2):
    """Train member `member`; return (model with its kept weights, history dict, kept epoch).

    Keyword names are the params.yaml keys. `precision` is a Keras dtype policy
    ("float32", "mixed_bfloat16", "mixed_float16").
    """
    make_deterministic(member_seed(seed, member))
    keras.mixed_precision.set_global_policy(precision)
    train_index, validation_index = member_split(len(x), seed, member, validation_fraction, split)
    x_train, y_train = x[train_index], y[train_index]
    normalization = standardizer(x_train) if normalize == "standardize" else None
    model = compile_model(build_model(architecture, x.shape[1:], num_classes, name=arch, activation=activation,
                                      dropout=dropout, max_params=max_params, normalization=normalization),
                          optimizer, learning_rate)
    best = KeepBestWeights() if keep_best else None
    own_callbacks = [best] if best else []
    if early_stopping:
        own_callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, mode="min"))
    if lr_schedule:
        base_rate = KERAS2_LEARNING_RATES[optimizer] if learning_rate is None else learning_rate
        own_callbacks.append(keras.callbacks.LearningRateScheduler(step_schedule(base_rate, lr_schedule)))
    validation = (x[validation_index], y[validation_index]) if len(validation_index) else None
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_data=validation,
                        callbacks=[*own_callbacks, *callbacks], verbose=verbose).history
    kept_epoch = best.best_epoch if best else len(history["loss"])
    return model, history, kept_epoch


def read_history(log_dir):
    """The per-epoch history a LogToDvclive wrote to `log_dir`: {key: [value per epoch]} (keys it logged)."""
    history = {}
    for key in HISTORY_KEYS:
        path = os.path.join(log_dir, "plots", "metrics", f"{key}.tsv")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                history[key] = [float(row[key]) for row in csv.DictReader(handle, delimiter="\t")]
    return history
