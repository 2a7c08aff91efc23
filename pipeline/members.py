"""The trained members on disk: where each one's files are, and loading a model with a clear error."""
import csv
import os

from pipeline.paths import history_path, member_dir, model_path, record_path
from pipeline.runtime.errors import PipelineError
from pipeline.runtime.files import load_keras_file, read_json

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")  # Keras' names, the columns of history.csv


def load_member(member):
    """Member `member`'s Keras model; a missing or damaged file is one PipelineError saying how to retrain it."""
    return load_keras_file(model_path(member), f"retrain it with `dvc repro -f train@{member}`")


def read_history(path):
    """The per-epoch history in `path` (pipeline.training.HistoryFile): {key: [value per epoch]}, NaN where empty."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    missing = [key for key in HISTORY_KEYS if key not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{os.path.basename(path)} lacks the columns {', '.join(missing)}")
    return {key: [float(row[key]) if row[key] else float("nan") for row in rows] for key in HISTORY_KEYS}


def load_record(member):
    """(history {key: [value per epoch]}, training record) of member `member`; one PipelineError if unreadable."""
    try:
        history, record = read_history(history_path(member)), read_json(record_path(member))
        if not 1 <= record["best_epoch"] <= len(history["loss"]):
            raise ValueError(f"{os.path.basename(history_path(member))} holds {len(history['loss'])} epochs; "
                             f"the kept epoch is {record['best_epoch']}")
        return history, record
    except (OSError, KeyError, ValueError) as error:
        raise PipelineError(f"{member_dir(member)}: the member's training history is missing or unreadable "
                            f"({type(error).__name__}: {error}); retrain it with `dvc repro -f train@{member}`"
                            ) from None
