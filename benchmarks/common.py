"""What the benchmark scripts share: the CPU's name, the data, epoch timing. Keras is imported only where needed."""
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def recipe_params(name, **changes):
    """params.yaml with recipe `name` of recipes.yaml applied, then `changes` (dotted keys as -S takes them)."""
    from pipeline import recipes
    from pipeline.params import load_params

    values = recipes.load(os.path.join(ROOT, recipes.RECIPES_FILE))[name]
    return recipes.apply(load_params(os.path.join(ROOT, "params.yaml")), {**values, **changes})


def cpu_name():
    """"model name ..., cpu family F, model M" of /proc/cpuinfo (the Zen generation shows in family and model)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            fields = dict((key.strip(), value) for key, value in (line.split(":", 1) for line in handle if ":" in line))
        keys = ("model name", "cpu family", "model")
        return ", ".join(f"{key} {fields[key].strip()}" for key in keys if key in fields)
    except OSError:
        return platform.processor() or "unknown CPU"


def load_data(dataset, limit=None, source_dir=None, test_limit=None):
    """(x_train, y_train, x_test, y_test) of `dataset` as a member's input: the first `limit` training and `test_limit`
    test images (None: all), fetched as the fetch stage does (from `source_dir` when given)."""
    from pipeline.datasets import DATASETS, fetch, load_raw
    from pipeline.prepare import to_inputs

    environ = dict(os.environ)
    if source_dir:
        environ[DATASETS[dataset]["env"]] = source_dir
    with tempfile.TemporaryDirectory() as directory:
        fetch(dataset, os.path.join(directory, dataset), environ=environ)
        x_train, y_train, x_test, y_test = load_raw(os.path.join(directory, dataset))
    return (to_inputs(x_train[:limit]), y_train[:limit].astype("int64"),
            to_inputs(x_test[:test_limit]), y_test[:test_limit].astype("int64"))


def epoch_times():
    """A Keras callback whose `seconds` holds each epoch's wall seconds (the first one includes compilation), and
    `first_batch` the wall clock (time.time(), comparable across processes) when the first training batch began."""
    from pipeline.runtime.quiet_keras import keras

    class EpochTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self._start, self.first_batch = [], None, None

        def on_train_batch_begin(self, batch, logs=None):  # only batch-end hooks make Keras wait on each batch
            if self.first_batch is None:
                self.first_batch = time.time()

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(round(time.perf_counter() - self._start, 2))
            print(f"epoch {epoch + 1}: {self.seconds[-1]} s", file=sys.stderr, flush=True)  # a long run's progress

    return EpochTimes()
