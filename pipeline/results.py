"""The run's results as numbers and tables, computed from the members' predictions; the stages write them.

ensemble_metrics is reports/metrics.json (stage ensemble); read_predictions reads reports/test_predictions.csv
back and per_class_table is reports/per_class.csv (stage report).
"""
import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.metrics import ENSEMBLE_METHODS, accuracy, log_loss


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


def read_predictions(path, class_names):
    """The ensemble stage's test predictions with class ids added, and the probability matrix.

    Labels are read as text: MNIST's class names are the digits "0".."9", which pandas
    would otherwise turn into integers that match no name.
    """
    predictions = pd.read_csv(path, dtype={"actual": str, "predicted": str})
    index_of = {name: i for i, name in enumerate(class_names)}
    predictions["actual_id"] = predictions["actual"].map(index_of)
    predictions["predicted_id"] = predictions["predicted"].map(index_of)
    if predictions[["actual_id", "predicted_id"]].isna().any().any():
        unknown = sorted(set(predictions["actual"]).union(predictions["predicted"]) - set(class_names))
        raise PipelineError(f"{path}: labels {unknown} are not among the classes {class_names}; rerun `dvc repro`")
    predictions[["actual_id", "predicted_id"]] = predictions[["actual_id", "predicted_id"]].astype(int)
    return predictions, predictions[[f"p_{name}" for name in class_names]].to_numpy()


def per_class_table(actual, predicted, class_names):
    """Precision, recall, F1 and support of every class, and their macro average."""
    from sklearn.metrics import precision_recall_fscore_support  # here: only the report needs scikit-learn

    precision, recall, f1, support = precision_recall_fscore_support(
        actual, predicted, labels=range(len(class_names)), zero_division=0)
    frame = pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support}, index=class_names)
    frame.loc["macro average"] = [precision.mean(), recall.mean(), f1.mean(), support.sum()]
    return frame
