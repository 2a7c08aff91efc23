"""From raw pixels to what a member sees: one module for prepare, predict and the benchmarks.

Images become float32 (N, 28, 28, 1) in [0, 1]: pixels are divided by 255 when any exceeds 1
(IDX files, Kaggle CSVs, PNGs: 0..255), else kept (study 002's arrays were already 0..1).
A member's own standardisation, if any, is a layer inside its model, so it needs nothing here.
"""
import os

import numpy as np

from pipeline.datasets import DATASETS, load_raw
from pipeline.paths import RAW_DIR, USER_RAW_DIR
from pipeline.runtime.errors import PipelineError
from pipeline.sampling import generator, part_size
from pipeline.user_data import relabel

CARVE_STREAM = 2**31  # mixed with `seed`: the carved test set draws from a stream of its own
USER_ARRAYS = "data.npz"  # in USER_RAW_DIR: the user's file as fetch stored it (features, target)


def pixel_divisor(images):
    """255 for 0..255 pixels, 1 for pixels already in [0, 1]."""
    return 255.0 if np.max(images, initial=0) > 1 else 1.0


def scale(images, divisor):
    """(N, 28, 28) pixels -> float32 (N, 28, 28, 1), divided by `divisor`."""
    return (np.asarray(images, dtype=np.float32) / divisor)[..., np.newaxis]


def to_inputs(images):
    """(N, 28, 28) pixels of one source -> a member's input, by the divisor rule."""
    return scale(images, pixel_divisor(images))


def load_dataset(dataset, test_fraction):
    """(x_train, y_train, x_test or None, y_test or None, class_names) of `dataset` from data/raw/."""
    if dataset in DATASETS:
        x_train, y_train, x_test, y_test = load_raw(os.path.join(RAW_DIR, dataset))
        return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64), DATASETS[dataset]["class_names"]
    with np.load(os.path.join(USER_RAW_DIR, USER_ARRAYS)) as archive:
        x_train, (y_train, original_labels) = archive["features"], relabel(archive["target"])
    if test_fraction is None:
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
    order = generator(seed, CARVE_STREAM).permutation(len(y))
    num_test = part_size(len(y), test_fraction)
    if num_test < 1 or num_test >= len(y):
        raise PipelineError(f"params.yaml: test_fraction: {test_fraction} of {len(y)} images leaves an empty "
                            "training or test set; allowed: a larger dataset or another fraction")
    test, train = np.sort(order[:num_test]), np.sort(order[num_test:])
    return x[train], y[train], x[test], y[test]
