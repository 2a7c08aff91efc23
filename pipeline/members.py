"""The trained members on disk: where each one's files are, and loading a model with a clear error."""
import os
import zipfile

from pipeline.errors import PipelineError

MODELS_DIR = "models"


def model_path(member):
    return os.path.join(MODELS_DIR, f"member_{member}.keras")


def log_dir_path(member):
    """The member's training history (dvclive's folder)."""
    return os.path.join(MODELS_DIR, f"member_{member}")


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
