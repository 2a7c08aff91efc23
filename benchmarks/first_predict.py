"""Seconds of a loaded member's first and second pass over the training set, loaded compiled or not.

    python benchmarks/first_predict.py [--project .] [--member 0] [--repeats 2]

Run in a project after `dvc repro` (it needs models/ and data/prepared/). Each try is a fresh process that
loads the member as the evaluate stage does and predicts the training set twice (pipeline.inference's batch);
the two ways alternate. A member saved by the train stage carries its training's compile settings, steps_per_execution
among them (pipeline.acceleration), and Keras predicts with them when the model is loaded compiled.
Prints figures and whether both ways predicted the same bits; asserts nothing.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks.common import cpu_name
from pipeline.inference import PREDICT_BATCH_SIZE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_try(member, compiled):
    """In this process: {load, first, second} seconds and the MD5 of the first pass's outputs."""
    from pipeline import prepared
    from pipeline.paths import PREPARED_DIR, model_path
    from pipeline.runtime.quiet_keras import keras

    x_train = prepared.load(PREPARED_DIR, names=("x_train",))["x_train"]
    start = time.perf_counter()
    model = keras.models.load_model(model_path(member), compile=compiled)
    seconds = {"load": time.perf_counter() - start}
    for name in ("first", "second"):
        start = time.perf_counter()
        outputs = model.predict(x_train, batch_size=PREDICT_BATCH_SIZE, verbose=0)
        seconds[name] = time.perf_counter() - start
        if name == "first":
            digest = hashlib.md5(np.ascontiguousarray(outputs).tobytes()).hexdigest()
    return {**seconds, "images": len(x_train), "digest": digest,
            "steps_per_execution": getattr(model, "steps_per_execution", None)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", default=".", help="a project after `dvc repro` (default: here)")
    parser.add_argument("--member", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="tries of each way, alternating (default 2)")
    parser.add_argument("--one", choices=("compiled", "uncompiled"), help=argparse.SUPPRESS)  # a try's process
    arguments = parser.parse_args(argv)
    os.chdir(arguments.project)
    if arguments.one:
        print(json.dumps(one_try(arguments.member, arguments.one == "compiled")))
        return
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    rows = []
    for _ in range(arguments.repeats):
        for way in ("compiled", "uncompiled"):
            command = [sys.executable, "-m", "benchmarks.first_predict", f"--member={arguments.member}", f"--one={way}"]
            output = subprocess.run(command, capture_output=True, text=True, check=True, env=environment)
            rows.append((way, json.loads(output.stdout.strip().splitlines()[-1])))
    print(f"CPU: {cpu_name()}; {os.cpu_count()} CPUs; member {arguments.member}, {rows[0][1]['images']} training "
          f"images, batch {PREDICT_BATCH_SIZE}, {arguments.repeats} tries each way, alternating")
    print(f"{'way':<11} {'steps/exec':>10} {'load s':>7} {'first s':>8} {'second s':>9}")
    for way, row in rows:
        print(f"{way:<11} {row['steps_per_execution']!s:>10} {row['load']:>7.2f} {row['first']:>8.2f} "
              f"{row['second']:>9.2f}")
    print("same outputs both ways:", len({row["digest"] for _, row in rows}) == 1)


if __name__ == "__main__":
    main()
