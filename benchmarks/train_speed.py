"""Training speed, memory and accuracy: the notebook's way against the train stage's way.

    python benchmarks/train_speed.py                 # throughput, memory, accuracy
    python benchmarks/train_speed.py --levers        # also each speed lever on its own
    python benchmarks/train_speed.py --steps 20 --epochs 1 --limit 6000   # a quick look

Each measurement runs in a fresh Python process, so peak memory is its own and no
TensorFlow global state (precision policy, determinism) leaks between them. It prints
figures; nothing here asserts a speed.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# way -> (description, environment overrides)
WAYS = {
    "notebook": ("float32 model.fit on NumPy, one-hot labels, categorical_crossentropy", {}),
    "stage": ("the train stage: pipeline.training as dvc repro runs it", {}),
}
LEVERS = {
    "stage+bfloat16": ("mixed_bfloat16 precision policy", {}),
    "stage+jit": ("XLA jit_compile=True", {}),
    "stage+steps_per_execution": ("steps_per_execution=32", {}),
    "stage+onednn_off": ("TF_ENABLE_ONEDNN_OPTS=0", {"TF_ENABLE_ONEDNN_OPTS": "0"}),
}


def load_data(dataset, limit):
    from pipeline.datasets import fetch, load_raw
    from pipeline.preprocess import to_inputs

    with tempfile.TemporaryDirectory() as directory:
        fetch(dataset, os.path.join(directory, dataset))
        x_train, y_train, x_test, y_test = load_raw(os.path.join(directory, dataset))
    return to_inputs(x_train[:limit]), y_train[:limit].astype("int64"), to_inputs(x_test), y_test.astype("int64")


def build(way, params, num_classes):
    """The compiled model of `way`, and the labels' form it trains on."""
    import keras
    from pipeline.model import build_model, compile_model

    import tensorflow as tf
    from pipeline.training import choose_precision, cpu_flags

    if way == "stage+bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    elif way.startswith("stage"):  # what the train stage would choose on this machine
        has_gpu = bool(tf.config.list_physical_devices("GPU"))
        keras.mixed_precision.set_global_policy(choose_precision(params["train"]["precision"], has_gpu, cpu_flags()))
    architecture = params["architectures"][params["arch"]]
    model = build_model(architecture, (28, 28, 1), num_classes, name=params["arch"])
    if way == "notebook":  # compile('nadam', 'categorical_crossentropy'): Keras 2's Nadam ran at 0.002
        model.compile(optimizer=keras.optimizers.Nadam(learning_rate=0.002),
                      loss="categorical_crossentropy", metrics=["accuracy"])
        return model, "one_hot"
    compile_model(model, params["train"]["optimizer"], params["train"]["learning_rate"])
    if way in ("stage+jit", "stage+steps_per_execution"):
        model.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"],
                      jit_compile=way == "stage+jit",
                      steps_per_execution=32 if way == "stage+steps_per_execution" else 1)
    return model, "sparse"


def worker(way, task, steps, epochs, limit, dataset):
    """One measurement in this process; prints one JSON line."""
    import keras
    import numpy as np
    from pipeline.metrics import accuracy
    from pipeline.params import load_params
    from pipeline.training import make_deterministic, member_seed, member_split

    params = load_params(os.path.join(ROOT, "params.yaml"))
    x, y, x_test, y_test = load_data(dataset, limit)
    make_deterministic(member_seed(params["seed"], 0))
    model, labels = build(way, params, 10)
    target = keras.utils.to_categorical(y, 10) if labels == "one_hot" else y
    batch_size = params["batch_size"]
    result = {"way": way}
    if task == "speed":
        count = steps * batch_size
        model.fit(x[:batch_size * 5], target[:batch_size * 5], batch_size=batch_size, epochs=1, verbose=0)  # warm-up
        start = time.perf_counter()
        model.fit(x[:count], target[:count], batch_size=batch_size, epochs=1, verbose=0)
        result["images_per_second"] = count / (time.perf_counter() - start)
    else:
        train, validation = member_split(len(x), params["seed"], 0, params["train"]["validation_fraction"])
        model.fit(x[train], target[train], validation_data=(x[validation], target[validation]),
                  batch_size=batch_size, epochs=epochs, verbose=0)
        result["test_accuracy"] = accuracy(model.predict(x_test, batch_size=1024, verbose=0), y_test)
    result["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def measure(way, task, arguments, environment):
    command = [sys.executable, __file__, "--worker", way, "--task", task, "--steps", str(arguments.steps),
               "--epochs", str(arguments.epochs), "--limit", str(arguments.limit), "--dataset", arguments.dataset]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **environment}
    output = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    for line in output.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{way} {task} failed:\n{output.stderr[-3000:]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100, help="training steps timed per way")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the accuracy comparison")
    parser.add_argument("--limit", type=int, default=60000, help="training images used")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--repeats", type=int, default=2, help="speed runs per way; the best is shown")
    parser.add_argument("--levers", action="store_true", help="also time each lever on its own")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--task", default="speed", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        return worker(arguments.worker, arguments.task, arguments.steps, arguments.epochs,
                      arguments.limit, arguments.dataset)

    from pipeline.training import cpu_flags

    shown = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if flag in cpu_flags()]
    print(f"CPU: {os.cpu_count()} cores, flags {' '.join(shown) or 'none of avx2/avx512/amx'}")
    print(f"{arguments.steps} steps of batch 128 per speed run, best of {arguments.repeats}\n")
    ways = {**WAYS, **(LEVERS if arguments.levers else {})}
    speeds = {}
    print(f"{'way':28} {'images/s':>9} {'vs notebook':>12} {'peak MB':>8}  what")
    for way, (description, environment) in ways.items():
        runs = [measure(way, "speed", arguments, environment) for _ in range(arguments.repeats)]
        speeds[way] = max(run["images_per_second"] for run in runs)
        peak = max(run["peak_memory_mb"] for run in runs)
        print(f"{way:28} {speeds[way]:9.0f} {speeds[way] / speeds['notebook']:11.2f}x {peak:8.0f}  {description}",
              flush=True)
    if arguments.epochs > 0:
        print(f"\ntest accuracy after {arguments.epochs} epochs of member 0, same seed and split:")
        for way in WAYS:
            result = measure(way, "accuracy", arguments, WAYS[way][1])
            print(f"{way:28} {result['test_accuracy']:.4f}   peak {result['peak_memory_mb']:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
