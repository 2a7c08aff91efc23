"""Where every stage reads and writes: the one place besides dvc.yaml that names these paths.

Relative to the project root, where DVC runs each stage. dvc.yaml must list the same
paths as deps and outs; tests/test_paths.py checks that it does.
"""
import os

# dvc.yaml's stages in the order they run; stage <name> runs stages/<name>.py (tests/test_dependencies.py checks both)
STAGES = ("check", "fetch", "prepare", "train", "evaluate", "ensemble", "export", "report")
KEYED_STAGES = STAGES[1:]  # every stage but check, which writes the others' keys (pipeline.runtime.keys)

ARCHITECTURES = "architectures.yaml"  # beside params.yaml: the layer lists `arch` chooses from (check reads it)
KEYS_DIR = os.path.join("data", "keys")  # check's output: each stage depends on its key file (pipeline.runtime.keys)
OWN_DATA_DIR = os.path.join("data", "own")  # `dataset` paths live here: fetch depends on this folder
RAW_DIR = os.path.join("data", "raw")
USER_RAW_DIR = os.path.join(RAW_DIR, "user")  # a user's file, converted by fetch
PREPARED_DIR = os.path.join("data", "prepared")
PREDICTIONS = os.path.join("data", "predictions", "members.npz")  # every member's test probabilities
MEMBERS_SUMMARY = os.path.join("data", "predictions", "members.json")  # how they trained, mean validation figures
MODELS_DIR = "models"
REPORTS_DIR = "reports"
TIMINGS_DIR = os.path.join(REPORTS_DIR, "timings")
FIGURES_DIR = os.path.join(REPORTS_DIR, "figures")
MEMBERS_CSV = os.path.join(REPORTS_DIR, "members.csv")  # one row per member
TRAINING_CURVES = os.path.join(REPORTS_DIR, "training_curves.csv")
METRICS = os.path.join(REPORTS_DIR, "metrics.json")  # the run's metrics: `dvc exp show`'s columns
TEST_PREDICTIONS = os.path.join(REPORTS_DIR, "test_predictions.csv")
PER_CLASS = os.path.join(REPORTS_DIR, "per_class.csv")
REPORT_MD = os.path.join(REPORTS_DIR, "report.md")
REPORT_HTML = os.path.join(REPORTS_DIR, "report.html")
EXPORT_DIR = "export"  # not under models/: evaluate and report depend on that folder, and export runs after them
ENSEMBLE_MODEL = os.path.join(EXPORT_DIR, "ensemble.keras")
SAVED_MODEL_DIR = os.path.join(EXPORT_DIR, "saved_model")
MODEL_CARD = os.path.join(EXPORT_DIR, "ensemble.json")  # class names and how inputs are prepared


def model_path(member):
    """Member `member`'s trained Keras model."""
    return os.path.join(MODELS_DIR, f"member_{member}.keras")


def member_dir(member):
    """Member `member`'s training record (RECORD_NAME), written into a temporary folder first, so by its name."""
    return os.path.join(MODELS_DIR, f"member_{member}")


def snapshot_path(member, snapshot):
    """Snapshot `snapshot` (counted from 1) of member `member`'s run when train.snapshots K > 1, for every snapshot
    but the last: that one is model_path(member), the run's last weights, as with one snapshot."""
    return os.path.join(member_dir(member), f"snapshot_{snapshot}.keras")


RECORD_NAME = "training.json"  # the kept epoch, epochs run, and how the member trained


def record_path(member):
    return os.path.join(member_dir(member), RECORD_NAME)


# What a run shows while it trains (dvc.yaml declares it: live/train_<i>/ cached like the models, progress.json in git)
LIVE_DIR = "live"
PROGRESS = os.path.join(LIVE_DIR, "progress.json")  # members done of the run; the training member's last epoch


def live_dir(member):
    """Member `member`'s DVCLive folder: its loss and accuracy per epoch, the one copy of its history, written as
    each epoch ends (pipeline.members.read_history reads it back)."""
    return os.path.join(LIVE_DIR, member_stage(member))


def key_path(stage):
    """What `stage` runs besides its params and data (pipeline.runtime.keys): the modules' MD5s, for train the
    versions."""
    return os.path.join(KEYS_DIR, f"{stage}.json")


def member_stage(member):
    """train@<member>'s name in files: its timing record (train_3) and its DVCLive folder (live/train_3)."""
    return f"train_{member}"


def timing_path(stage):
    """The wall time record of `stage` (train@3 writes train_3)."""
    return os.path.join(TIMINGS_DIR, f"{stage}.json")


def timed_stages(members):
    """The stages that write a wall time record, in run order, train's once per member (train_<i>)."""
    return [name for stage in STAGES[1:STAGES.index("report")]
            for name in ([member_stage(member) for member in members] if stage == "train" else [stage])]
