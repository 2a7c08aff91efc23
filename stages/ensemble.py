"""Stage ensemble: combine the members' softmax outputs (`ensemble.method`: mean or vote); accuracy, loss, gain.

Writes reports/metrics.json (the run's headline metrics, pipeline.results.headline_metrics) and
reports/test_predictions.csv (actual and predicted class of every test image, with
the ensemble's probability of each class).
"""

import numpy as np
import pandas as pd

from pipeline import prepared
from pipeline.params import load_params
from pipeline.paths import MEMBERS_SUMMARY, METRICS, PREDICTIONS, PREPARED_DIR, TEST_PREDICTIONS
from pipeline.results import ensemble_metrics, headline_metrics
from pipeline.runtime.errors import run_main
from pipeline.runtime.files import atomic_path, read_json, timed, write_json


def main():
    method = load_params()["ensemble"]["method"]
    data = prepared.load(PREPARED_DIR, names=("y_train", "y_test"))
    with timed("ensemble"), np.load(PREDICTIONS) as predictions:
        metrics, ensemble_test = ensemble_metrics(predictions["train"], predictions["test"],
                                                  data["y_train"], data["y_test"], method)
    write_json(METRICS, headline_metrics(metrics, read_json(MEMBERS_SUMMARY)))

    class_names = data["meta"]["class_names"]
    predicted = np.argmax(ensemble_test, axis=1)
    table = pd.DataFrame(ensemble_test, columns=[f"p_{name}" for name in class_names])
    table.insert(0, "predicted", [class_names[i] for i in predicted])
    table.insert(0, "actual", [class_names[i] for i in data["y_test"]])
    with atomic_path(TEST_PREDICTIONS) as temporary:
        table.to_csv(temporary, index_label="index", float_format="%.6f")
    ensemble = metrics["ensemble"]
    print(f"ensemble ({method}) of {ensemble['members']}: test accuracy {ensemble['test_accuracy']:.4f} "
          f"(mean member {metrics['members']['mean_test_accuracy']:.4f}, "
          f"best member {metrics['members']['best_test_accuracy']:.4f}), test loss {ensemble['test_loss']:.4f}")


if __name__ == "__main__":
    run_main(main)
