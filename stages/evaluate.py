"""Stage evaluate: every member's best epoch and its train/validation/test loss and accuracy.

Train and validation figures are the member's own, logged at its best epoch (as in
the notebook's summary table, so the train figures were measured with dropout on);
test figures come from the restored best weights on the test set. The members'
softmax outputs on the full training and test sets are saved for the ensemble stage.
"""

import sys

import numpy as np
from tqdm import tqdm

from pipeline import prepared
from pipeline.acceleration import summarise_training
from pipeline.inference import predict_member
from pipeline.members import ensemble_members, load_member, load_records
from pipeline.metrics import accuracy
from pipeline.params import load_params
from pipeline.paths import MEMBERS_CSV, MEMBERS_SUMMARY, PREDICTIONS, PREPARED_DIR, TRAINING_CURVES
from pipeline.results import curves_table, members_table
from pipeline.runtime.errors import run_main
from pipeline.runtime.files import atomic_path, timed, write_json


def predict(entry, data, tta=(), progress=None):
    """Ensemble member `entry`'s softmax outputs on the training set and, averaged over the `tta` views
    (ensemble.tta), on the test set; `progress(n)` after each batch of n images."""
    model = load_member(entry)
    return (predict_member(model, data["x_train"], progress=progress),
            predict_member(model, data["x_test"], tta, progress=progress))


def main():
    params = load_params()
    tta = params["ensemble"]["tta"]
    data = prepared.load(PREPARED_DIR)
    entries = ensemble_members(params)
    histories, records = load_records(entries)  # val_* are NaN when the run had no validation set (split: none)
    train_probabilities, test_probabilities = [], []
    # every image each member sees: the training set once, the test set once and once more per ensemble.tta view
    images = len(entries) * (len(data["x_train"]) + len(data["x_test"]) * (1 + len(tta)))
    # a bar on stderr only when a person watches (disable=None: a terminal), not in DVC's logs or a queue's
    with timed("evaluate"), tqdm(total=images, unit="image", desc="evaluate", file=sys.stderr, disable=None) as bar:
        for entry in entries:
            train_p, test_p = predict(entry, data, tta, progress=bar.update)
            train_probabilities.append(train_p)
            test_probabilities.append(test_p)
            bar.write(f"evaluate: member {entry.name}: test accuracy {accuracy(test_p, data['y_test']):.4f}, "
                      f"{'best ' if entry.of == 1 else ''}epoch {records[entry.name]['best_epoch']}")  # above the bar

    table = members_table(entries, histories, records, test_probabilities, data["y_test"])
    with atomic_path(MEMBERS_CSV) as temporary:
        table.to_csv(temporary, index_label="member", float_format="%.5f")
    average = table.loc["average"]  # NaN validation figures (split: none) become null
    validation = {f"mean_{key}": None if np.isnan(average[f"val_{key}"]) else round(float(average[f"val_{key}"]), 6)
                  for key in ("accuracy", "loss")}
    # for the ensemble stage's metrics and the report: how they trained, their mean validation figures
    write_json(MEMBERS_SUMMARY, {"training": summarise_training(records), "validation": validation})
    with atomic_path(TRAINING_CURVES) as temporary:
        curves_table(histories).to_csv(temporary, index=False, float_format="%.6f")
    with atomic_path(PREDICTIONS) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, members=np.array([entry.name for entry in entries]),
                     train=np.stack(train_probabilities), test=np.stack(test_probabilities))
    print(table.to_string(float_format=lambda value: f"{value:.4f}"))


if __name__ == "__main__":
    run_main(main)
