"""The trained members on disk: where each one's files are, and loading a model with a clear error.

A member is one train@<i> stage's run; with train.snapshots K > 1 each run gives K ensemble members, its snapshots,
named <i>.<k> (k from 1), which evaluate, ensemble, export and the report treat like any member.
"""
import csv
import dataclasses
import os

from pipeline.paths import live_dir, model_path, record_path, snapshot_path
from pipeline.runtime.errors import PipelineError
from pipeline.runtime.files import load_keras_file, read_json

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")  # Keras' names, DVCLive's metric names
REQUIRED_KEYS = HISTORY_KEYS[:2]  # val_* are logged only with a validation set (split: none has none)
RETRAIN = "retrain it with `dvc repro -f train@{member}`"  # the way back from any damaged file of a member


@dataclasses.dataclass(frozen=True)
class EnsembleMember:
    """One model of the ensemble: snapshot `snapshot` of the `of` (train.snapshots) that member `member`'s run gave."""
    member: int
    snapshot: int = 1
    of: int = 1

    @property
    def name(self):
        """3 for member 3 with one snapshot a run (as `members` names it), "3.2" for its second snapshot of several:
        members.csv's member_<name> row, the model card's and data/predictions' member names."""
        return self.member if self.of == 1 else f"{self.member}.{self.snapshot}"

    @property
    def path(self):
        return model_path(self.member) if self.snapshot == self.of else snapshot_path(self.member, self.snapshot)


def ensemble_members(params):
    """Every model the ensemble combines, in order: each member of `members`, or each of its snapshots."""
    snapshots = params["train"]["snapshots"]
    return [EnsembleMember(member, snapshot, snapshots)
            for member in params["members"] for snapshot in range(1, snapshots + 1)]


def load_member(entry):
    """The Keras model of `entry` (an EnsembleMember); a missing or damaged file is one PipelineError saying how to
    retrain its member."""
    return load_keras_file(entry.path, RETRAIN.format(member=entry.member))


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


def check_kept(epoch, epochs):
    """ValueError unless `epoch` (counted from 1) is one of the `epochs` a member ran."""
    if not 1 <= epoch <= epochs:
        raise ValueError(f"the kept epoch {epoch} is not one of the {epochs} epochs run")


def load_record(member):
    """(history {key: [value per epoch]}, training record) of member `member`; one PipelineError if unreadable."""
    path = record_path(member)
    try:
        record = read_json(path)
        epochs = int(record["epochs_run"])
        check_kept(record["best_epoch"], epochs)
        for kept in record["snapshot_epochs"]:
            check_kept(kept, epochs)
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise PipelineError(f"{path}: the member's training record is missing or unreadable "
                            f"({type(error).__name__}: {error}); {RETRAIN.format(member=member)}") from None
    return read_history(member, epochs), record


def load_records(entries):
    """The records of the ensemble members `entries` (ensemble_members): (histories {member: history} of each run,
    records {name: training record} of each ensemble member, its best_epoch the epoch its weights are from)."""
    runs = {entry.member: load_record(entry.member) for entry in entries}
    records = {}
    for entry in entries:
        record = runs[entry.member][1]
        if len(record["snapshot_epochs"]) != entry.of:
            raise PipelineError(f"{record_path(entry.member)}: {len(record['snapshot_epochs'])} snapshots, not the "
                                f"{entry.of} of train.snapshots; {RETRAIN.format(member=entry.member)}")
        records[entry.name] = {**record, "best_epoch": record["snapshot_epochs"][entry.snapshot - 1]}
    return {member: history for member, (history, _) in runs.items()}, records
