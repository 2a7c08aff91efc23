"""Stage evaluate: every member's best epoch and its train/validation/test loss and accuracy.

Train and validation figures are the member's own, logged at its best epoch (as in
the notebook's summary table, so the train figures were measured with dropout on);
test figures come from the restored best weights on the test set. The members'
softmax outputs on the full training and test sets are saved for the ensemble stage.
"""
from pipeline.startup import import_quietly

import_quietly("keras")  # before anything else loads TensorFlow, so its start-up log stays quiet

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline import prepared  # noqa: E402
from pipeline.acceleration import THREAD_KEYS, Acceleration  # noqa: E402
from pipeline.errors import run_main  # noqa: E402
from pipeline.files import atomic_path, record_wall_time, write_json  # noqa: E402
from pipeline.inference import PREDICT_BATCH_SIZE, predict_member  # noqa: E402
from pipeline.members import HISTORY_KEYS, load_member, load_record  # noqa: E402
from pipeline.metrics import accuracy, log_loss  # noqa: E402
from pipeline.params import load_params  # noqa: E402
from pipeline.paths import MEMBERS_CSV, PREDICTIONS, PREPARED_DIR, TRAINING_CURVES, TRAINING_SUMMARY  # noqa: E402

COLUMNS = ["best_epoch", "train_loss", "val_loss", "test_loss", "train_accuracy", "val_accuracy", "test_accuracy"]
# how a member trained (its training.json): the acceleration settings, Keras' jit choice and the thread pools
SETUP_KEYS = (*(field.name for field in dataclasses.fields(Acceleration)), "jit_compile", *THREAD_KEYS)


def evaluate_member(member, data, tta=()):
    """(row of the summary table, per-epoch curve rows, training setup, train and test probabilities).

    The test probabilities are averaged over the `tta` views (ensemble.tta); the train ones are not.
    """
    model = load_member(member)
    history, record = load_record(member)  # val_* are NaN when the run had no validation set (split: none)
    epochs, best_epoch = len(history["loss"]), int(record["best_epoch"])
    train_probabilities = model.predict(data["x_train"], batch_size=PREDICT_BATCH_SIZE, verbose=0)
    test_probabilities = predict_member(model, data["x_test"], tta)
    at_best = {key: history[key][best_epoch - 1] for key in HISTORY_KEYS}
    row = {"member": member, "best_epoch": best_epoch,
           "train_loss": at_best["loss"], "val_loss": at_best["val_loss"],
           "test_loss": log_loss(test_probabilities, data["y_test"]),
           "train_accuracy": at_best["accuracy"], "val_accuracy": at_best["val_accuracy"],
           "test_accuracy": accuracy(test_probabilities, data["y_test"])}
    curves = [{"member": member, "epoch": epoch + 1, **{key: history[key][epoch] for key in HISTORY_KEYS}}
              for epoch in range(epochs)]
    setup = {key: record[key] for key in SETUP_KEYS}
    return row, curves, setup, train_probabilities, test_probabilities


def summarise_setups(setups):
    """How the members trained, for `dvc exp show`: each setting's value, or per member where they differ.

    Written to reports/training.json with the members' mean validation figures (what a search selects on).
    """
    summary = {}
    for key in SETUP_KEYS:
        values = [setup[key] for setup in setups.values()]
        summary[key] = (values[0] if all(value == values[0] for value in values)
                        else ", ".join(f"{member}: {setup[key]}" for member, setup in setups.items()))
    return {"training": summary}


def main(argv=None):
    params = load_params()
    tta = params["ensemble"]["tta"]
    data = prepared.load(PREPARED_DIR)
    rows, curves, setups, train_probabilities, test_probabilities = [], [], {}, [], []
    with record_wall_time("evaluate"):
        for member in params["members"]:
            row, member_curves, setups[member], train_p, test_p = evaluate_member(member, data, tta)
            rows.append(row)
            curves.extend(member_curves)
            train_probabilities.append(train_p)
            test_probabilities.append(test_p)
            print(f"evaluate: member {member}: test accuracy {row['test_accuracy']:.4f}, "
                  f"best epoch {row['best_epoch']}")

    table = pd.DataFrame(rows).set_index("member")[COLUMNS]
    table.index = [f"member_{member}" for member in table.index]
    table.loc["average"] = table.mean()
    with atomic_path(MEMBERS_CSV) as temporary:
        table.to_csv(temporary, index_label="member", float_format="%.5f")
    average = table.loc["average"]  # NaN validation figures (split: none) become null
    validation = {f"mean_{key}": None if np.isnan(average[f"val_{key}"]) else round(float(average[f"val_{key}"]), 6)
                  for key in ("accuracy", "loss")}
    write_json(TRAINING_SUMMARY, {**summarise_setups(setups), "validation": validation})
    with atomic_path(TRAINING_CURVES) as temporary:
        pd.DataFrame(curves).to_csv(temporary, index=False, float_format="%.6f")
    with atomic_path(PREDICTIONS) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, members=np.array(params["members"]),
                     train=np.stack(train_probabilities), test=np.stack(test_probabilities))
    print(table.to_string(float_format=lambda value: f"{value:.4f}"))


if __name__ == "__main__":
    run_main(main)
