"""Stage prepare: raw data -> float32 arrays in [0, 1] with a channel axis, in data/prepared/.

In order: labels of a user's file mapped to 0..K-1, the `classes` subset (relabelled
0..K-1), a test set carved out of the training data when `test_fraction` is set, then
`limit`. The test set is written here for evaluation only; no stage trains or selects on it.
"""
import os

import numpy as np

from pipeline import prepared
from pipeline.datasets import DATASETS, load_raw
from pipeline.errors import PipelineError, run_main
from pipeline.files import record_wall_time
from pipeline.params import load_params
from pipeline.user_data import relabel


def scale(images, divisor):
    """(N, 28, 28) pixels -> float32 (N, 28, 28, 1), divided by `divisor`."""
    return (images.astype(np.float32) / divisor)[..., np.newaxis]


def load(params):
    """(x_train, y_train, x_test or None, y_test or None, class_names) of `params['dataset']`."""
    dataset = params["dataset"]
    if dataset in DATASETS:
        x_train, y_train, x_test, y_test = load_raw(os.path.join("data", "raw", dataset))
        return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64), DATASETS[dataset]["class_names"]
    with np.load(os.path.join("data", "raw", "user", "data.npz")) as archive:
        x_train, (y_train, original_labels) = archive["features"], relabel(archive["target"])
    if params["test_fraction"] is None:
        raise PipelineError(f"params.yaml: test_fraction: null is not allowed with {dataset}, which has no test "
                            "set of its own; allowed: a number between 0 and 1, e.g. 0.1")
    return x_train, y_train, None, None, [str(label) for label in original_labels]


def select_classes(x, y, classes):
    """The images of `classes` only, labels renumbered 0..K-1 in the order given."""
    keep = np.isin(y, classes)
    mapping = {old: new for new, old in enumerate(classes)}
    return x[keep], np.array([mapping[int(label)] for label in y[keep]], dtype=np.int64)


def carve_test(x, y, test_fraction, seed):
    """(x_train, y_train, x_test, y_test): a random `test_fraction` of (x, y) held out as the test set."""
    order = np.random.default_rng(np.random.SeedSequence([seed, 2**31])).permutation(len(y))
    num_test = int(round(len(y) * test_fraction))
    if num_test < 1 or num_test >= len(y):
        raise PipelineError(f"params.yaml: test_fraction: {test_fraction} of {len(y)} images leaves an empty "
                            "training or test set; allowed: a larger dataset or another fraction")
    test, train = np.sort(order[:num_test]), np.sort(order[num_test:])
    return x[train], y[train], x[test], y[test]


def main(argv=None):
    params = load_params()
    classes, limit = params["classes"], params["limit"]
    x_train, y_train, x_test, y_test, class_names = load(params)
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
    divisor = 255.0 if x_train.max(initial=0) > 1 else 1.0  # 0..255 pixels (IDX, Kaggle CSV); 002's were 0..1
    arrays = {"x_train": scale(x_train, divisor), "y_train": y_train,
              "x_test": scale(x_test, divisor), "y_test": y_test}
    meta = {"dataset": params["dataset"], "class_names": class_names, "classes": classes,
            "num_train": len(x_train), "num_test": len(x_test), "limit": limit,
            "test_fraction": params["test_fraction"]}
    with record_wall_time("prepare"):
        prepared.save(os.path.join("data", "prepared"), arrays, meta)
    print(f"prepare: {params['dataset']}: {len(x_train)} training and {len(x_test)} test images, "
          f"{len(class_names)} classes -> data/prepared/")


if __name__ == "__main__":
    run_main(main)
