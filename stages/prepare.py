"""Stage prepare: IDX files -> float32 arrays in [0, 1] with a channel axis, in data/prepared/.

The test set is written here for evaluation only; no stage trains or selects on it.
"""
import os

import numpy as np

from pipeline import prepared
from pipeline.datasets import DATASETS, load_raw
from pipeline.errors import run_main
from pipeline.files import record_wall_time
from pipeline.params import load_params


def scale(images):
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def main(argv=None):
    params = load_params()
    dataset, limit = params["dataset"], params["limit"]
    x_train, y_train, x_test, y_test = load_raw(os.path.join("data", "raw", dataset))
    if limit is not None:  # the first N of each, as a quick-run slice
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[:limit], y_test[:limit]
    arrays = {"x_train": scale(x_train), "y_train": y_train.astype(np.int64),
              "x_test": scale(x_test), "y_test": y_test.astype(np.int64)}
    meta = {"dataset": dataset, "class_names": DATASETS[dataset]["class_names"],
            "num_train": len(x_train), "num_test": len(x_test), "limit": limit}
    with record_wall_time("prepare"):
        prepared.save(os.path.join("data", "prepared"), arrays, meta)
    print(f"prepare: {dataset}: {len(x_train)} training and {len(x_test)} test images -> data/prepared/")


if __name__ == "__main__":
    run_main(main)
