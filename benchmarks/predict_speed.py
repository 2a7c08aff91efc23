"""Images per second: `python -m pipeline.predict` against the evaluate stage's own prediction, same test images.

    python benchmarks/predict_speed.py [--project .] [--limit N] [--repeats 2]

Run in a project after `dvc repro` (it needs models/, data/ and export/). evaluate predicts with
each member in turn (batch 1024) and averages in NumPy; predict reads the dataset's test IDX
file, scales it (pipeline.prepare) and runs the exported ensemble (batch 1024), writing CSV
rows. Model loading is timed apart. Prints figures; asserts nothing.
"""
import argparse
import csv
import io
import os
import tempfile
import time

import numpy as np

from benchmarks.common import cpu_name
from pipeline import predict as predict_module
from pipeline.datasets import FILES
from pipeline.inference import PREDICT_BATCH_SIZE
from pipeline.members import ensemble_members, load_member
from pipeline.metrics import average_probabilities
from pipeline.params import load_params
from pipeline.runtime.files import read_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best_of(repeats, work):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", default=".", help="a project after `dvc repro` (default: here)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N test images")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs (default 2)")
    arguments = parser.parse_args(argv)
    os.chdir(arguments.project)
    params = load_params()
    meta = read_json(os.path.join("data", "prepared", "meta.json"))
    x_test = np.load(os.path.join("data", "prepared", "x_test.npy"))[:arguments.limit]
    count = len(x_test)

    start = time.perf_counter()
    members = [load_member(entry) for entry in ensemble_members(params)]
    evaluate_load = time.perf_counter() - start
    evaluate_seconds = best_of(arguments.repeats, lambda: average_probabilities(
        [member.predict(x_test, batch_size=PREDICT_BATCH_SIZE, verbose=0) for member in members]))

    start = time.perf_counter()
    model, class_names = predict_module.load_model()
    predict_load = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as directory:
        images = os.path.join(directory, FILES[2])  # the test images as an IDX file, as a user would pass them
        pixels = (x_test[..., 0] * 255).round().astype(np.uint8)
        with open(images, "wb") as handle:
            handle.write((0x00000803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in pixels.shape))
            handle.write(pixels.tobytes())

        def run_predict():
            writer = csv.writer(io.StringIO())
            for row in predict_module.predict([images], model=model, class_names=class_names):
                writer.writerow(row)
        predict_seconds = best_of(arguments.repeats, run_predict)

    print(f"CPU: {cpu_name()}; {os.cpu_count()} cores; {meta['dataset']}, {len(members)} members "
          f"({params['arch']}), {count} test images, best of {arguments.repeats}")
    print(f"{'way':<44} {'load s':>7} {'predict s':>10} {'images/s':>9}")
    for way, load, seconds in (("evaluate (each member, then NumPy mean)", evaluate_load, evaluate_seconds),
                               ("pipeline.predict (IDX file -> CSV rows)", predict_load, predict_seconds)):
        print(f"{way:<44} {load:>7.1f} {seconds:>10.2f} {count / seconds:>9,.0f}")


if __name__ == "__main__":
    main()
