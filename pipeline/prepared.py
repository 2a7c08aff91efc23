"""The prepared arrays in data/prepared/: written once by prepare, read by later stages."""
import os

import numpy as np

from pipeline.runtime.files import atomic_path, read_json, write_json

ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def save(directory, arrays, meta):
    """Write `arrays` (name -> ndarray) as .npy files and `meta` as meta.json, each atomically."""
    os.makedirs(directory, exist_ok=True)
    for name in ARRAYS:
        with atomic_path(os.path.join(directory, f"{name}.npy")) as temporary:
            with open(temporary, "wb") as handle:
                np.save(handle, arrays[name])
    write_json(os.path.join(directory, "meta.json"), meta)


def load(directory, names=ARRAYS):
    """A dict with the arrays `names` (memory-mapped, read-only) and 'meta'."""
    data = {name: np.load(os.path.join(directory, f"{name}.npy"), mmap_mode="r") for name in names}
    data["meta"] = read_json(os.path.join(directory, "meta.json"))
    return data
