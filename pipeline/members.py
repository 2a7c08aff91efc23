"""The trained members on disk: where each one's files are, and loading a model with a clear error."""
import csv
import os
import zipfile

from pipeline.errors import PipelineError
from pipeline.files import read_json
from pipeline.paths import history_path, member_dir, model_path, record_path

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")  # Keras' names, the columns of history.csv


def load_member(member):
    """Member `member`'s Keras model; a missing or damaged file is one PipelineError saying how to retrain it."""
    import keras  # here, not at the top: callers import Keras quietly first (pipeline.startup)

    path = model_path(member)
    retrain = f"retrain it with `dvc repro -f train@{member}`"
    if not os.path.exists(path):
        raise PipelineError(f"{path}: missing; {retrain}")
    if not zipfile.is_zipfile(path):  # Keras reports a damaged file as "File not found"
        raise PipelineError(f"{path}: not a .keras file (not a zip archive: damaged or truncated); {retrain}")
    try:
        return keras.models.load_model(path)
    except Exception as error:  # a zip without a loadable model: Keras raises several kinds
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PipelineError(f"{path}: not a loadable Keras model ({reason}); {retrain}") from None


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
                            f"({type(error).__name__}: {error}); retrain it with `dvc repro -f train@{member}`") from None
