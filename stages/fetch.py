"""Stage fetch: the four verified IDX files of `dataset` into data/raw/<dataset>/."""
import os

from pipeline.datasets import fetch
from pipeline.errors import run_main
from pipeline.files import record_wall_time
from pipeline.params import load_params


def main(argv=None):
    params = load_params()
    dataset = params["dataset"]
    with record_wall_time("fetch"):
        source = fetch(dataset, os.path.join("data", "raw", dataset))
    print(f"fetch: {dataset} from {source} -> data/raw/{dataset}/")


if __name__ == "__main__":
    run_main(main)
