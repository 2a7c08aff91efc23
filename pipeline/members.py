"""The trained members on disk: where each one's files are, and loading a model with a clear error."""
import csv
import os

from pipeline.paths import live_dir, model_path, record_path
from pipeline.runtime.errors import PipelineError
from pipeline.runtime.files import load_keras_file, read_json

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")  # Keras' names, DVCLive's metric names
REQUIRED_KEYS = HISTORY_KEYS[:2]  # val_* are logged only with a validation set (split: none has none)
RETRAIN = "retrain it with `dvc repro -f train@{member}`"  # the way back from any damaged file of a member


def load_member(member):
    """Member `member`'s Keras model; a missing or damaged file is one PipelineError saying how to retrain it."""
    return load_keras_file(model_path(member), RETRAIN.format(member=member))


def metric_file(folder, key):
    """Where DVCLive logs metric `key` in its folder `folder`: one row (step, value) per epoch."""
    return os.path.join(folder, "plots", "metrics", f"{key}.tsv")


def read_metric(path, key):
    """The values of `key` per epoch in DVCLive's file `path`; ValueError unless one row per epoch from step 0."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows or any(row.get("step") != str(step) for step, row in enumerate(rows)):
        raise ValueError(f"{len(rows)} rows, not one per epoch from step 0")
    return [float(row[key]) for row in rows]  # DVCLive writes NaN as "nan", which float() reads


def read_history(member, epochs=None, root=""):
    """Member `member`'s history as DVCLive logged it (pipeline.paths.live_dir, under `root`): {key: [value per
    epoch]} for each of HISTORY_KEYS, NaN for a val_* key never logged; with `epochs`, every key must hold that
    many. A missing or damaged file is one PipelineError naming it and how to retrain the member."""
    folder, retrain = os.path.join(root, live_dir(member)), RETRAIN.format(member=member)
    history = {}
    for key in HISTORY_KEYS:
        path = metric_file(folder, key)
        if key not in REQUIRED_KEYS and not os.path.exists(path):
            continue
        try:
            history[key] = read_metric(path, key)
        except (OSError, KeyError, ValueError) as error:
            raise PipelineError(f"{path}: the member's training history is missing or unreadable "
                                f"({type(error).__name__}: {error}); {retrain}") from None
        epochs = epochs or len(history[key])
        if len(history[key]) != epochs:
            raise PipelineError(f"{path}: {len(history[key])} epochs, not the {epochs} the member ran; {retrain}")
    return {key: history.get(key, [float("nan")] * epochs) for key in HISTORY_KEYS}


def load_record(member):
    """(history {key: [value per epoch]}, training record) of member `member`; one PipelineError if unreadable."""
    path = record_path(member)
    try:
        record = read_json(path)
        epochs = int(record["epochs_run"])
        if not 1 <= record["best_epoch"] <= epochs:
            raise ValueError(f"the kept epoch {record['best_epoch']} is not one of the {epochs} epochs run")
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise PipelineError(f"{path}: the member's training record is missing or unreadable "
                            f"({type(error).__name__}: {error}); {RETRAIN.format(member=member)}") from None
    return read_history(member, epochs), record
