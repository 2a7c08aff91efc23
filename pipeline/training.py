"""Train one ensemble member: its own split, its own seed, its best epoch kept."""
import dataclasses
import math

import numpy as np
from dvclive import Live

from pipeline.augment import augment, augments
from pipeline.members import HISTORY_KEYS
from pipeline.model import build_model, compile_model, learning_rate_of
from pipeline.options import SPLITS
from pipeline.runtime.errors import PipelineError
from pipeline.runtime.quiet_keras import keras
from pipeline.sampling import part_size, seed32


def member_seed(seed, member):
    """A 32-bit seed for member `member` of a run seeded with `seed`.

    Both numbers are mixed (pipeline.sampling), so members 1 and 2 of seed 0 do not share
    streams with members 0 and 1 of seed 1.
    """
    return seed32(seed, member)


def member_split(num_examples, seed, member, validation_fraction, split="per_member"):
    """Indices (train, validation) of member `member`'s training data.

    per_member: the member's own random split; fixed: one split from `seed` alone, the
    same for every member; none: everything is training data, no validation.
    """
    if split == "none":
        return np.arange(num_examples), np.arange(0)
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    split_seed = member_seed(seed, member) if split == "per_member" else seed32(seed)
    order = np.random.default_rng(split_seed).permutation(num_examples)
    num_validation = part_size(num_examples, validation_fraction)
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


def cosine_schedule(learning_rate, epochs, warmup_epochs, steps_per_epoch):
    """Linear warm-up from 0 over `warmup_epochs`, then cosine decay to 0 by the end of `epochs` (per step)."""
    warmup_steps = warmup_epochs * steps_per_epoch
    decay_steps = max(1, (epochs - warmup_epochs) * steps_per_epoch)
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    return keras.optimizers.schedules.CosineDecay(0.0, decay_steps, warmup_target=learning_rate,
                                                  warmup_steps=warmup_steps)


def snapshot_schedule(learning_rate, epochs, snapshots, steps_per_epoch):
    """train.snapshots' schedule, per step: `snapshots` cosine decays from `learning_rate` to 0 over `epochs`.

    Keras' own schedule, so a saved member loads wherever Keras does."""
    return keras.optimizers.schedules.CosineDecayRestarts(learning_rate, epochs // snapshots * steps_per_epoch,
                                                          t_mul=1.0, m_mul=1.0)


class Snapshots(keras.callbacks.Callback):
    """Snapshot ensembles (Huang et al. 2017): with train.snapshots K, `epochs` are K cosine cycles of
    `cycle_epochs`, each from the learning rate down to 0 (CosineDecayRestarts), and each cycle's last weights are
    a member. This keeps the weights at the end of every cycle but the last (the model keeps those): `taken` is
    [(epoch counted from 1, weights), ...]."""

    def __init__(self, cycle_epochs):
        super().__init__()
        self.cycle_epochs, self.taken = cycle_epochs, []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.cycle_epochs == 0 and epoch + 1 < self.params["epochs"]:
            self.taken.append((epoch + 1, self.model.get_weights()))


class AugmentedImages(keras.utils.PyDataset):
    """The training part, shuffled and augmented anew each epoch: epoch k's order and augmentation from (seed, k).

    Under TensorFlow, `inputs()` is a tf.data.Dataset that calls `draw` once an epoch (Keras iterates it afresh
    each epoch) and cuts the epoch into batches in TensorFlow: this PyDataset as Keras feeds it to TensorFlow, a
    Python generator a batch, made an epoch of fast's member 2x dearer on a 2-core float32 CPU
    (benchmarks/results/augmented_input_zen3). Other backends read this PyDataset a batch at a time. One augmented
    copy of the training part is held at a time.
    """

    def __init__(self, x, y, batch_size, augmentation, seed):
        super().__init__()  # one worker, no processes: NumPy augments an epoch in a fraction of a second
        self.x, self.y, self.batch_size = x, y, batch_size
        self.augmentation, self.seed, self.epoch = augmentation, seed, 0
        self.images = self.labels = None
        self.served = 0  # batches read since the last epoch end

    def draw(self):
        """The next epoch's (images, labels): the k-th call draws epoch k."""
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        order = rng.permutation(len(self.x))
        return augment(self.x, self.augmentation, rng, order), self.y[order]

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        if self.images is None:
            self.images, self.labels = self.draw()
        self.served += 1
        batch = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.images[batch], self.labels[batch]

    def on_epoch_end(self):
        # Keras reads a batch to build the model and ends an "epoch" before the first: that draw is epoch 0's
        if self.served >= len(self):
            self.images = self.labels = None
        self.served = 0

    def inputs(self):
        """model.fit's arguments that feed it these epochs."""
        if keras.backend.backend() != "tensorflow":
            return dict(x=self, shuffle=False)
        import tensorflow as tf  # (a tf.distribute strategy's first look at the data would spend a draw)

        shapes = [(None, *self.x.shape[1:]), (None, *self.y.shape[1:])]
        dtypes = [tf.as_dtype(self.x.dtype), tf.as_dtype(self.y.dtype)]

        def epoch(_):
            images, labels = tf.numpy_function(self.draw, [], dtypes, stateful=True)
            return tf.data.Dataset.from_tensor_slices((tf.ensure_shape(images, shapes[0]),
                                                       tf.ensure_shape(labels, shapes[1])))

        batches = tf.data.Dataset.from_tensors(0).flat_map(epoch).batch(self.batch_size)
        batches = batches.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(tf.data.AUTOTUNE)
        return dict(x=batches, shuffle=False)  # shuffled from the seed


def standardizer(x_train):
    """A Normalization layer holding the per-pixel mean and variance of `x_train` (study 003).

    It becomes the model's first layer, so the statistics come from the member's training
    part only and travel with the saved model to evaluation.
    """
    layer = keras.layers.Normalization(axis=tuple(range(1, x_train.ndim)))
    layer.adapt(np.asarray(x_train))
    return layer


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


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What training a member reads from params.yaml, under the same names (train.* without the prefix).

    `architecture` is the layer list of `architectures.<arch>`.
    """
    seed: int
    epochs: int
    batch_size: int
    split: str
    normalize: str
    arch: str
    architecture: list
    activation: str | None
    dropout: float | None
    max_params: int | None
    optimizer: str
    learning_rate: float | None
    validation_fraction: float
    early_stopping: bool
    patience: int
    keep_best: bool
    lr_schedule: list | str  # [[epoch, factor], ...] or "cosine"
    warmup_epochs: int
    snapshots: int
    label_smoothing: float
    augment: dict  # {shift: pixels, rotate: degrees, zoom: fraction, flip: bool}
    precision: str
    accelerate: str
    threads: int | None

    @classmethod
    def from_params(cls, params):
        """The config of validated `params` (pipeline.params.load_params)."""
        top = {field.name: params[field.name] for field in dataclasses.fields(cls) if field.name in params}
        section = {key: value for key, value in params["train"].items() if key in cls.__dataclass_fields__}
        return cls(architecture=params["architectures"][params["arch"]], **top, **section)


class LogToDvclive(keras.callbacks.Callback):
    """Log Keras' own metric names (loss, val_loss, ...) per epoch with DVCLive into `folder`, for live views of a
    run. DVCLive empties its folder when it opens, so it opens as training begins: a model that is refused before
    (an architecture over max_params) leaves the last run's log as it was."""

    def __init__(self, folder):
        super().__init__()
        self.folder, self.live = folder, None

    def on_train_begin(self, logs=None):
        self.live = Live(dir=self.folder, dvcyaml=False, save_dvc_exp=False, report=None)

    def on_epoch_end(self, epoch, logs=None):
        for key in HISTORY_KEYS:
            if key in logs:
                self.live.log_metric(key, float(logs[key]))
        self.live.next_step()

    def on_train_end(self, logs=None):
        self.live.end()


def train_member(x, y, num_classes, config, member, acceleration, callbacks=(), verbose=2):
    """Train member `member` as `config` says, with `acceleration` (pipeline.acceleration.detect).

    Returns (model with its kept weights, history dict, kept epoch counted from 1, snapshots): with
    train.snapshots K > 1, snapshots are the K - 1 earlier cycles' [(epoch counted from 1, weights), ...] (the
    model holds the last cycle's); else [].
    """
    make_deterministic(member_seed(config.seed, member))
    keras.mixed_precision.set_global_policy(acceleration.precision)
    train_index, validation_index = member_split(len(x), config.seed, member, config.validation_fraction,
                                                 config.split)
    x_train = x[train_index]
    normalization = standardizer(x_train) if config.normalize == "standardize" else None
    model = build_model(config.architecture, x.shape[1:], num_classes, name=config.arch,
                        activation=config.activation, dropout=config.dropout, max_params=config.max_params,
                        normalization=normalization)
    base_rate = learning_rate_of(config.optimizer, config.learning_rate)
    steps_per_epoch = math.ceil(len(x_train) / config.batch_size)
    if config.snapshots > 1:
        rate = snapshot_schedule(base_rate, config.epochs, config.snapshots, steps_per_epoch)
    elif config.lr_schedule == "cosine":
        rate = cosine_schedule(base_rate, config.epochs, config.warmup_epochs, steps_per_epoch)
    else:
        rate = base_rate
    compile_model(model, config.optimizer, rate, steps_per_execution=acceleration.steps_per_execution,
                  label_smoothing=config.label_smoothing)
    best = KeepBestWeights() if config.keep_best else None
    own_callbacks = [best] if best else []
    snapshots = Snapshots(config.epochs // config.snapshots) if config.snapshots > 1 else None
    if snapshots:
        own_callbacks.append(snapshots)
    if config.early_stopping:
        own_callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, mode="min"))
    if isinstance(config.lr_schedule, list) and config.lr_schedule:
        own_callbacks.append(keras.callbacks.LearningRateScheduler(step_schedule(base_rate, config.lr_schedule)))
    labels = (lambda indices: keras.utils.to_categorical(y[indices], num_classes)) if config.label_smoothing else (
        lambda indices: y[indices])  # label smoothing needs one-hot targets (CategoricalCrossentropy)
    validation = (x[validation_index], labels(validation_index)) if len(validation_index) else None
    if augments(config.augment):
        inputs = AugmentedImages(x_train, labels(train_index), config.batch_size, config.augment,
                                 member_seed(config.seed, member)).inputs()
    else:
        inputs = dict(x=x_train, y=labels(train_index), batch_size=config.batch_size)
    history = model.fit(**inputs, epochs=config.epochs, validation_data=validation,
                        validation_batch_size=acceleration.validation_batch_size,
                        callbacks=[*own_callbacks, *callbacks], verbose=verbose).history
    kept_epoch = best.best_epoch if best else len(history["loss"])
    return model, history, kept_epoch, snapshots.taken if snapshots else []
