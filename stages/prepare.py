"""Stage prepare: raw data -> float32 arrays in [0, 1] with a channel axis, in data/prepared/.

In order: labels of a user's file mapped to 0..K-1, the `classes` subset (relabelled
0..K-1), a test set carved out of the training data when `test_fraction` is set, then
`limit`. The test set is written here for evaluation only; no stage trains or selects on it.
"""
import numpy as np

from pipeline import prepared
from pipeline.params import load_params
from pipeline.paths import PREPARED_DIR
from pipeline.prepare import carve_test, load_dataset, pixel_divisor, scale, select_classes
from pipeline.runtime.errors import PipelineError, run_main
from pipeline.runtime.files import timed


def main():
    params = load_params()
    classes, limit = params["classes"], params["limit"]
    x_train, y_train, x_test, y_test, class_names = load_dataset(params["dataset"], params["test_fraction"])
    if classes is not None:
        unknown = [label for label in classes if label >= len(class_names)]
        if unknown:
            raise PipelineError(f"params.yaml: classes: {unknown} not in the data; allowed: class ids 0.."
                                f"{len(class_names) - 1} ({', '.join(class_names)})")
        x_train, y_train = select_classes(x_train, y_train, classes)
        if x_test is not None:
            x_test, y_test = select_classes(x_test, y_test, classes)
        class_names = [class_names[label] for label in classes]
    if params["test_fraction"] is not None:  # replaces a dataset's own test set (002, 003)
        x_train, y_train, x_test, y_test = carve_test(x_train, y_train, params["test_fraction"], params["seed"])
    if limit is not None:  # the first N of each, as a quick-run slice
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[:limit], y_test[:limit]
    present = np.unique(y_train)
    if len(present) < 2:  # nothing to tell apart; refused before data/prepared/ is rewritten
        only = ", ".join(class_names[label] for label in present) or "none"
        raise PipelineError(f"{params['dataset']}: the training images hold {len(present)} class ({only}) after "
                            "classes, test_fraction and limit; allowed: at least 2 classes (a classifier "
                            "needs two to tell apart)")
    divisor = pixel_divisor(x_train)  # test images are divided as the training images are
    arrays = {"x_train": scale(x_train, divisor), "y_train": y_train,
              "x_test": scale(x_test, divisor), "y_test": y_test}
    meta = {"dataset": params["dataset"], "class_names": class_names, "classes": classes,
            "num_train": len(x_train), "num_test": len(x_test), "limit": limit,
            "test_fraction": params["test_fraction"]}
    with timed("prepare"):
        prepared.save(PREPARED_DIR, arrays, meta)
    print(f"prepare: {params['dataset']}: {len(x_train)} training and {len(x_test)} test images, "
          f"{len(class_names)} classes -> {PREPARED_DIR}/")


if __name__ == "__main__":
    run_main(main)
