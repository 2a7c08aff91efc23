"""Stage fetch: the data named by `dataset` into data/raw/.

A built-in dataset: its four verified IDX files into data/raw/<dataset>/. A path to the
user's own file: read, checked and stored as data/raw/user/data.npz.
"""
import os

import numpy as np

from pipeline.datasets import DATASETS, fetch
from pipeline.params import load_params
from pipeline.paths import RAW_DIR, USER_RAW_DIR
from pipeline.prepare import USER_ARRAYS
from pipeline.runtime.errors import run_main
from pipeline.runtime.files import atomic_path, timed, write_json
from pipeline.user_data import load_user_file


def store_user_file(path, allow_pickle):
    """Check the user's file and store its arrays in USER_RAW_DIR; return the number of examples."""
    features, target = load_user_file(path, allow_pickle)
    with atomic_path(USER_RAW_DIR) as temporary:
        os.makedirs(temporary)
        with open(os.path.join(temporary, USER_ARRAYS), "wb") as handle:
            np.savez(handle, features=features, target=target)
        write_json(os.path.join(temporary, "source.json"), {"path": path, "examples": len(target)})
    return len(target)


def main():
    params = load_params()
    dataset = params["dataset"]
    with timed("fetch"):
        if dataset in DATASETS:
            source = fetch(dataset, os.path.join(RAW_DIR, dataset))
            print(f"fetch: {dataset} from {source} -> {os.path.join(RAW_DIR, dataset)}/")
        else:
            count = store_user_file(dataset, params["allow_pickle"])
            print(f"fetch: {count} examples from {dataset} -> {os.path.join(USER_RAW_DIR, USER_ARRAYS)}")


if __name__ == "__main__":
    run_main(main)
