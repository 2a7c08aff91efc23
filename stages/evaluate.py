"""Stage evaluate: every member's best epoch and its train/validation/test loss and accuracy.

Train and validation figures are the member's own, logged at its best epoch (as in
the notebook's summary table, so the train figures were measured with dropout on);
test figures come from the restored best weights on the test set. The members'
softmax outputs on the full training and test sets are saved for the ensemble stage.
"""

import numpy as np

from pipeline import prepared
from pipeline.acceleration import summarise_training
from pipeline.inference import PREDICT_BATCH_SIZE, predict_member
from pipeline.members import load_member, load_record
from pipeline.metrics import accuracy
from pipeline.params import load_params
from pipeline.paths import MEMBERS_CSV, MEMBERS_SUMMARY, PREDICTIONS, PREPARED_DIR, TRAINING_CURVES
from pipeline.results import curves_table, members_table
from pipeline.runtime.errors import run_main
from pipeline.runtime.files import atomic_path, timed, write_json


def predict(member, data, tta=()):
    """Member `member`'s softmax outputs on the training set and, averaged over the `tta` views (ensemble.tta),
    on the test set."""
    model = load_member(member)
    return (model.predict(data["x_train"], batch_size=PREDICT_BATCH_SIZE, verbose=0),
            predict_member(model, data["x_test"], tta))


def main():
    params = load_params()
    tta = params["ensemble"]["tta"]
    data = prepared.load(PREPARED_DIR)
    histories, records, train_probabilities, test_probabilities = {}, {}, [], []
    with timed("evaluate"):
        for member in params["members"]:
            # val_* are NaN when the run had no validation set (split: none)
            histories[member], records[member] = load_record(member)
            train_p, test_p = predict(member, data, tta)
            train_probabilities.append(train_p)
            test_probabilities.append(test_p)
            print(f"evaluate: member {member}: test accuracy {accuracy(test_p, data['y_test']):.4f}, "
                  f"best epoch {records[member]['best_epoch']}")

    table = members_table(histories, records, test_probabilities, data["y_test"])
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
            np.savez(handle, members=np.array(params["members"]),
                     train=np.stack(train_probabilities), test=np.stack(test_probabilities))
    print(table.to_string(float_format=lambda value: f"{value:.4f}"))


if __name__ == "__main__":
    run_main(main)
