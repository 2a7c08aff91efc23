"""Stage report: reports/report.md with the members' table, the ensemble's results
and the ensemble's confusion matrix on the test set."""
import os

import pandas as pd

from pipeline.errors import run_main
from pipeline.files import read_json, write_text
from pipeline.params import load_params
from pipeline.plots import confusion_counts, save_confusion_matrix


def cell(column, value):
    """The notebook's precision: epochs to 0.1, losses to 5 places, accuracies to 4."""
    if column == "best_epoch":
        return f"{value:.1f}"
    return f"{value:.5f}" if column.endswith("loss") else f"{value:.4f}"


def markdown_table(frame):
    """A pipe table of `frame` with its index as the first column (no extra dependency)."""
    header = [frame.index.name or ""] + [str(column) for column in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in frame.iterrows():
        lines.append("| " + " | ".join([str(index)] + [cell(c, v) for c, v in row.items()]) + " |")
    return "\n".join(lines)


def main(argv=None):
    params = load_params()
    meta = read_json(os.path.join("data", "prepared", "meta.json"))
    metrics = read_json(os.path.join("reports", "metrics.json"))
    members = pd.read_csv(os.path.join("reports", "members.csv"), index_col="member")
    predictions = pd.read_csv(os.path.join("reports", "test_predictions.csv"))

    class_names = meta["class_names"]
    index_of = {name: i for i, name in enumerate(class_names)}
    counts = confusion_counts(predictions["actual"].map(index_of).to_numpy(),
                              predictions["predicted"].map(index_of).to_numpy(), len(class_names))
    figure = os.path.join("figures", "confusion_matrix.png")
    save_confusion_matrix(counts, class_names, os.path.join("reports", figure), params["report"]["dpi"],
                          f"{meta['dataset']}: ensemble of {metrics['ensemble']['members']}, test set")

    ensemble, mean = metrics["ensemble"], metrics["members"]
    text = f"""# {meta['dataset']}: an ensemble of {ensemble['members']} CNNs

{meta['num_train']} training images (each member holds out its own validation part),
{meta['num_test']} test images{' (limit ' + str(meta['limit']) + ')' if meta['limit'] else ''}.

## Members

Best epoch (highest validation accuracy) and loss and accuracy there; test figures
use the member's best weights.

{markdown_table(members)}

## Ensemble (mean of the members' softmax outputs)

| | accuracy | loss |
|---|---|---|
| train | {ensemble['train_accuracy']:.4f} | {ensemble['train_loss']:.4f} |
| test | {ensemble['test_accuracy']:.4f} | {ensemble['test_loss']:.4f} |

Test accuracy gain: {100 * ensemble['gain_over_mean_member']:+.2f} points over the average
member ({mean['mean_test_accuracy']:.4f}), {100 * ensemble['gain_over_best_member']:+.2f} points over the best
member ({mean['best_test_accuracy']:.4f}).

## Confusion matrix (test set)

![Confusion matrix]({figure})
"""
    write_text(os.path.join("reports", "report.md"), text)
    print("report: reports/report.md")


if __name__ == "__main__":
    run_main(main)
