"""Training speed on full epochs: the notebook's way against the train stage's, lever by lever.

    python benchmarks/train_speed.py                     # notebook, stage with accelerate off, stage as run
    python benchmarks/train_speed.py --levers            # also each lever on its own, and two not adopted
    python benchmarks/train_speed.py --limit 12000 --epochs 3   # a quick look

Every way trains member 0 of params.yaml (its own split: 80 % training, 20 % validation,
evaluated every epoch as the stage does) for --epochs epochs in a fresh Python process,
so no precision policy or thread setting leaks between ways. The first epoch includes
compilation and is not counted: speed is (training + validation images) / the fastest
later epoch. Test accuracy after those epochs is shown beside it. Prints figures;
asserts nothing.
"""
import argparse
import dataclasses
import json
import os
import subprocess
import sys

from benchmarks.common import cpu_name, epoch_times, load_data
from pipeline.inference import PREDICT_BATCH_SIZE  # NumPy only at import: no TensorFlow in this process yet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# way -> what it is. "off" below is the stage with train.accelerate: off (precision still auto).
WAYS = {
    "notebook": "float32 model.fit on NumPy, one-hot labels, validation in batches of 128",
    "stage, accelerate off": "train.precision auto, plain model.fit",
    "stage": "the train stage as dvc repro runs it (precision and accelerate auto)",
}
LEVERS = {
    "off + steps_per_execution": "32 batches per call into the compiled function",
    "off + validation_batch_size": "validation in larger batches (pipeline.acceleration.VALIDATION_BATCH_SIZE)",
    "stage in float32": "accelerate auto with train.precision float32",
    "stage + XLA jit_compile": "not adopted: needs TensorFlow's op determinism off (Keras drops jit under it)",
    "stage + tf.data": "not adopted: input from a shuffled, prefetched tf.data pipeline",
    "stage + 1 inter-op thread": "not adopted: TensorFlow inter_op_parallelism_threads=1",
}


def notebook(config, x, y, timer):
    """The notebook's compile and fit, on member 0's split."""
    from pipeline.model import build_model
    from pipeline.runtime.quiet_keras import keras
    from pipeline.training import make_deterministic, member_seed, member_split

    make_deterministic(member_seed(config.seed, 0))
    keras.mixed_precision.set_global_policy("float32")
    train, validation = member_split(len(x), config.seed, 0, config.validation_fraction)
    model = build_model(config.architecture, x.shape[1:], 10, name=config.arch)
    model.compile(optimizer=keras.optimizers.Nadam(learning_rate=0.002),  # Keras 2's Nadam ran at 0.002
                  loss="categorical_crossentropy", metrics=["accuracy"])
    one_hot = keras.utils.to_categorical(y, 10)
    model.fit(x[train], one_hot[train], validation_data=(x[validation], one_hot[validation]),
              batch_size=config.batch_size, epochs=config.epochs, callbacks=[timer], verbose=0)
    return model


def variant(config, acceleration, x, y, timer, jit_compile):
    """The stage's model and settings, with XLA forced on (`jit_compile`) or fed from tf.data (otherwise)."""
    import tensorflow as tf

    from pipeline.model import build_model, compile_model
    from pipeline.runtime.quiet_keras import keras
    from pipeline.training import make_deterministic, member_seed, member_split

    if jit_compile:  # Keras silently drops jit_compile=True while TensorFlow's op determinism is on
        keras.utils.set_random_seed(member_seed(config.seed, 0))
    else:
        make_deterministic(member_seed(config.seed, 0))
    keras.mixed_precision.set_global_policy(acceleration.precision)
    train, validation = member_split(len(x), config.seed, 0, config.validation_fraction)
    model = compile_model(build_model(config.architecture, x.shape[1:], 10, name=config.arch), config.optimizer,
                          config.learning_rate, acceleration.steps_per_execution, jit_compile=jit_compile or "auto")
    if jit_compile:
        model.fit(x[train], y[train], validation_data=(x[validation], y[validation]), batch_size=config.batch_size,
                  validation_batch_size=acceleration.validation_batch_size, epochs=config.epochs, callbacks=[timer],
                  verbose=0)
        return model
    train_data = (tf.data.Dataset.from_tensor_slices((x[train], y[train])).shuffle(len(train), seed=config.seed)
                  .batch(config.batch_size).prefetch(tf.data.AUTOTUNE))
    validation_data = (tf.data.Dataset.from_tensor_slices((x[validation], y[validation]))
                       .batch(acceleration.validation_batch_size).prefetch(tf.data.AUTOTUNE))
    model.fit(train_data, validation_data=validation_data, epochs=config.epochs, callbacks=[timer], verbose=0)
    return model


def worker(way, epochs, limit, dataset):
    """One way in this process; prints one JSON line."""
    from pipeline.acceleration import detect
    from pipeline.metrics import accuracy
    from pipeline.params import load_params
    from pipeline.training import TrainConfig, train_member

    if way == "stage + 1 inter-op thread":  # before anything starts TensorFlow's runtime
        import tensorflow as tf
        tf.config.threading.set_inter_op_parallelism_threads(1)
    params = load_params(os.path.join(ROOT, "params.yaml"))
    config = dataclasses.replace(TrainConfig.from_params(params), epochs=epochs, early_stopping=False,
                                 keep_best=False)  # every epoch runs, as in the notebook's fixed count
    x, y, x_test, y_test = load_data(dataset, limit)
    stage = detect(config.precision, "auto")
    off = detect(config.precision, "off")
    setups = {"stage": stage, "stage, accelerate off": off,
              "off + steps_per_execution": dataclasses.replace(off, steps_per_execution=stage.steps_per_execution),
              "off + validation_batch_size": dataclasses.replace(off,
                                                                 validation_batch_size=stage.validation_batch_size),
              "stage in float32": detect("float32", "auto"),
              "stage + 1 inter-op thread": stage}

    timer = epoch_times()
    if way == "notebook":
        model, acceleration = notebook(config, x, y, timer), None
    elif way in ("stage + XLA jit_compile", "stage + tf.data"):
        model, acceleration = variant(config, stage, x, y, timer, jit_compile=way == "stage + XLA jit_compile"), stage
    else:
        acceleration = setups[way]
        model, _, _ = train_member(x, y, 10, config, 0, acceleration, callbacks=[timer], verbose=0)
    seen = len(x)  # training and validation images, each seen once per epoch
    print("RESULT " + json.dumps({
        "way": way, "epoch_seconds": timer.seconds, "images_per_second": seen / min(timer.seconds[1:]),
        "test_accuracy": accuracy(model.predict(x_test, batch_size=PREDICT_BATCH_SIZE, verbose=0), y_test),
        "acceleration": dataclasses.asdict(acceleration) if acceleration else None,
        "jit_compile": bool(model.jit_compile)}))


def measure(way, arguments):
    command = [sys.executable, __file__, "--worker", way, "--epochs", str(arguments.epochs),
               "--limit", str(arguments.limit), "--dataset", arguments.dataset]
    output = subprocess.run(command, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, capture_output=True,
                            text=True, cwd=ROOT)
    for line in output.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{way} failed:\n{output.stderr[-3000:]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per way (at least 2; the first is not timed)")
    parser.add_argument("--limit", type=int, default=60000, help="training images used (80 %% train, 20 %% validation)")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--levers", action="store_true", help="also each lever on its own")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch compiles and is not timed")
    if arguments.worker:
        return worker(arguments.worker, arguments.epochs, arguments.limit, arguments.dataset)

    from pipeline.acceleration import cpu_flags

    model_name = cpu_name()
    shown = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in cpu_flags()]
    print(f"CPU: {model_name}, {os.cpu_count()} cores, flags {' '.join(shown) or 'none of avx2/avx512/amx'}")
    print(f"{arguments.limit} images of {arguments.dataset}, {arguments.epochs} epochs per way, "
          "fastest epoch after the first\n")
    ways = {**WAYS, **(LEVERS if arguments.levers else {})}
    notebook_speed = None
    print(f"{'way':30} {'images/s':>9} {'vs notebook':>12} {'test acc':>9}  epoch seconds / what")
    for way, description in ways.items():
        result = measure(way, arguments)
        speed = result["images_per_second"]
        notebook_speed = notebook_speed or speed
        seconds = " ".join(f"{value:.1f}" for value in result["epoch_seconds"])
        print(f"{way:30} {speed:9.0f} {speed / notebook_speed:11.2f}x {result['test_accuracy']:9.4f}  [{seconds}] "
              f"{description}", flush=True)
        if way == "stage":
            print(f"{'':30} chosen: {result['acceleration']}, jit_compile {result['jit_compile']}", flush=True)


if __name__ == "__main__":
    main()
