"""The run's results as numbers and tables, computed from the members' predictions; the stages write them.

members_table and training_curves are reports/members.csv and reports/training_curves.csv (stage evaluate; the
report computes them again from the same files rather than parse the CSVs back); ensemble_metrics are the
ensemble's and the members' figures (the report shows them all), headline_metrics the few of them in
reports/metrics.json (stage ensemble); per_class_table is reports/per_class.csv (stage report).
"""
import numpy as np
import pandas as pd

from pipeline.members import HISTORY_KEYS
from pipeline.metrics import ENSEMBLE_METHODS, accuracy, log_loss

MEMBER_COLUMNS = ["best_epoch", "train_loss", "val_loss", "test_loss",
                  "train_accuracy", "val_accuracy", "test_accuracy"]


def members_table(entries, histories, records, test_probabilities, y_test):
    """One row per ensemble member and their average: the kept epoch, the loss and accuracy logged there (train
    figures with dropout on, as in the notebook's table; val_* NaN without a validation set) and those of the kept
    weights on the test set. `entries` are pipeline.members.ensemble_members, `histories` and `records`
    pipeline.members.load_records' two parts; `test_probabilities` are the entries' in the same order."""
    rows = {}
    for entry, probabilities in zip(entries, test_probabilities):
        history, best_epoch = histories[entry.member], int(records[entry.name]["best_epoch"])
        at_best = {key: history[key][best_epoch - 1] for key in HISTORY_KEYS}
        rows[f"member_{entry.name}"] = {
            "best_epoch": best_epoch, "train_loss": at_best["loss"], "val_loss": at_best["val_loss"],
            "test_loss": log_loss(probabilities, y_test), "train_accuracy": at_best["accuracy"],
            "val_accuracy": at_best["val_accuracy"], "test_accuracy": accuracy(probabilities, y_test)}
    table = pd.DataFrame.from_dict(rows, orient="index")[MEMBER_COLUMNS]
    table.loc["average"] = table.mean()
    return table


def curves_table(histories):
    """One row per member and epoch: its loss and accuracy (and validation's); one run's, whatever its snapshots."""
    return pd.DataFrame([{"member": member, "epoch": epoch + 1, **{key: history[key][epoch] for key in HISTORY_KEYS}}
                         for member, history in histories.items() for epoch in range(len(history["loss"]))])


def ensemble_metrics(train_probabilities, test_probabilities, y_train, y_test, method="mean"):
    """The metrics.json content from member probabilities shaped (members, images, classes)."""
    member_test_accuracy = [accuracy(p, y_test) for p in test_probabilities]
    combine = ENSEMBLE_METHODS[method].combine
    ensemble_train, ensemble_test = combine(train_probabilities), combine(test_probabilities)
    test_accuracy = accuracy(ensemble_test, y_test)
    mean_member, best_member = float(np.mean(member_test_accuracy)), float(np.max(member_test_accuracy))
    metrics = {
        "ensemble": {
            "members": len(test_probabilities),
            "train_accuracy": accuracy(ensemble_train, y_train),
            "train_loss": log_loss(ensemble_train, y_train),
            "test_accuracy": test_accuracy,
            "test_loss": log_loss(ensemble_test, y_test),
            "gain_over_mean_member": test_accuracy - mean_member,
            "gain_over_best_member": test_accuracy - best_member,
        },
        "members": {
            "mean_test_accuracy": mean_member,
            "best_test_accuracy": best_member,
            "mean_test_loss": float(np.mean([log_loss(p, y_test) for p in test_probabilities])),
        },
    }
    return metrics, ensemble_test


# The figures worth a `dvc exp show` column: what a comparison of runs looks at first. The rest are in the report.
HEADLINE = {"ensemble": ("test_accuracy", "test_loss", "gain_over_mean_member"),
            "members": ("mean_test_accuracy", "best_test_accuracy")}
TRAINING_HEADLINE = ("device", "precision", "intra_op_threads", "inter_op_threads")  # the thread counts change weights


def headline_metrics(metrics, summary):
    """reports/metrics.json: HEADLINE of ensemble_metrics' `metrics`, rounded, the members' mean validation accuracy
    (what a search selects on) and how they trained, from evaluate's `summary` (pipeline.paths.MEMBERS_SUMMARY)."""
    headline = {group: {key: round(metrics[group][key], 6) for key in keys} for group, keys in HEADLINE.items()}
    headline["members"]["mean_val_accuracy"] = summary["validation"]["mean_accuracy"]
    headline["training"] = {key: summary["training"][key] for key in TRAINING_HEADLINE}
    return headline


def per_class_table(actual, predicted, class_names):
    """Precision, recall, F1 and support of every class, and their macro average."""
    from sklearn.metrics import precision_recall_fscore_support  # here: only the report needs scikit-learn

    precision, recall, f1, support = precision_recall_fscore_support(
        actual, predicted, labels=range(len(class_names)), zero_division=0)
    frame = pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support}, index=class_names)
    frame.loc["macro average"] = [precision.mean(), recall.mean(), f1.mean(), support.sum()]
    return frame
