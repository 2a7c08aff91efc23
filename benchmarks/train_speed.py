"""Training speed on full epochs: the notebook's way against the train stage's, lever by lever.

    python benchmarks/train_speed.py                     # notebook, stage with accelerate off, stage as run
    python benchmarks/train_speed.py --levers            # also each lever on its own, and two not adopted
    python benchmarks/train_speed.py --limit 12000 --epochs 3   # a quick look
    python benchmarks/train_speed.py --float32-costs --repeats 2  # float32: each of the stage's differences alone
    python benchmarks/train_speed.py --determinism-check --limit 6000 --epochs 2   # same weights with op determinism?
    python benchmarks/train_speed.py --float32-costs --ways notebook "stage in float32" --repeats 4  # two, in turns

Every way trains member 0 of params.yaml (its own split: 80 % training, 20 % validation,
evaluated every epoch as the stage does) for --epochs epochs in a fresh Python process,
so no precision policy or thread setting leaks between ways. The first epoch includes
compilation and is not counted: speed is (training + validation images) / the fastest
later epoch (over --repeats runs of each way). Start-up is the wall time from launching the
process to its first training batch: imports, data (fetched and decoded as load_data does),
then seeding, building and compiling up to fit's first batch. Test accuracy after those epochs
is shown beside it. Prints figures; asserts nothing.

--float32-costs runs every way in float32 (train.precision: float32, what a CPU without bf16
instructions trains in, whatever this one has): the notebook's way as it ran (seeds only, no
op determinism, TensorFlow imported first, so oneDNN as TensorFlow chooses for this CPU), then with one
of the train stage's differences switched on at a time, then the stage itself. Each way's ratio to
the notebook is that difference's cost. The stage's ways keep
params.yaml's keep_best and early_stopping; with --epochs at most train.patience, nothing stops
early. DVCLive and RunProgress write under a temporary working folder.

--determinism-check trains the float32 notebook way twice with op determinism off and twice on,
all with TensorFlow's thread pools pinned (--threads, else one per CPU), and says whether the
weights are identical within each pair and between off and on.
"""
import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.common import cpu_name, epoch_times, load_data
from pipeline.inference import PREDICT_BATCH_SIZE  # NumPy only at import: no TensorFlow in this process yet
from pipeline.runtime.processes import cpu_count

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Each way's process gets the environment as it was before this process imported Keras (main's cpu_flags), which
# sets TF_ENABLE_ONEDNN_OPTS: the notebook's ways must find TensorFlow's own choice.
ENVIRONMENT = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

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
# --float32-costs: way -> (what it is, notebook()'s keywords, or train_member's accelerate for the stage's ways).
# The notebook's ways import TensorFlow themselves, as a notebook does, so oneDNN is TensorFlow's own choice for this
# CPU (off without AVX-512 VNNI, bf16 or AMX); "+ oneDNN" turns it on there, as the project does for every stage.
# 1024 and 32 are pipeline.acceleration's VALIDATION_BATCH_SIZE and STEPS_PER_EXECUTION (imported, they would start
# Keras in this process). The stage's callbacks are made as stages/train.py makes them.
FLOAT32_COSTS = {
    "notebook": ("seeds only (keras.utils.set_random_seed), one-hot labels, validation in batches of 128", {}),
    "+ oneDNN": ("oneDNN's CPU kernels, TensorFlow imported as the project does (pipeline.runtime.quiet_keras)", {}),
    "+ op determinism": ("tf.config.experimental.enable_op_determinism", {"deterministic": True}),
    "+ sparse labels": ("integer labels, sparse_categorical_crossentropy", {"sparse": True}),
    "+ validation batches of 1024": ("accelerate auto's validation_batch_size", {"validation_batch_size": 1024}),
    "+ steps_per_execution 32": ("not the stage's in float32: auto keeps 1 without bf16", {"steps_per_execution": 32}),
    "+ KeepBestWeights": ("copies the weights at each better val_accuracy", {"callbacks": ["keep_best"]}),
    "+ EarlyStopping": ("on val_loss, train.patience", {"callbacks": ["early_stopping"]}),
    "+ DVCLive": ("dvclive.Live + LogToDvclive into live/train_0/", {"callbacks": ["dvclive"]}),
    "+ RunProgress": ("live/progress.json and a line per epoch", {"callbacks": ["progress"]}),
    "stage in float32": ("train_member, accelerate auto, the stage's callbacks", {"accelerate": "auto"}),
    "stage in float32, accelerate off": ("the same with plain model.fit", {"accelerate": "off"}),
}


def notebook(config, x, y, callbacks, deterministic=True, sparse=False, validation_batch_size=None,
             steps_per_execution=1):
    """The notebook's compile and fit in float32, on member 0's split; the keywords switch on the stage's ways."""
    from pipeline.model import build_model
    from pipeline.runtime.quiet_keras import keras
    from pipeline.training import make_deterministic, member_seed, member_split

    (make_deterministic if deterministic else keras.utils.set_random_seed)(member_seed(config.seed, 0))
    keras.mixed_precision.set_global_policy("float32")
    train, validation = member_split(len(x), config.seed, 0, config.validation_fraction)
    model = build_model(config.architecture, x.shape[1:], 10, name=config.arch)
    model.compile(optimizer=keras.optimizers.Nadam(learning_rate=0.002),  # Keras 2's Nadam ran at 0.002
                  loss="sparse_categorical_crossentropy" if sparse else "categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    labels = y if sparse else keras.utils.to_categorical(y, 10)
    model.fit(x[train], labels[train], validation_data=(x[validation], labels[validation]),
              batch_size=config.batch_size, validation_batch_size=validation_batch_size, epochs=config.epochs,
              callbacks=callbacks, verbose=0)
    return model


def float32_way(way, config, members, x, y, timer):
    """One way of FLOAT32_COSTS in this process: (model, the stage's Acceleration or None)."""
    from pipeline.acceleration import detect
    from pipeline.paths import live_dir
    from pipeline.runtime.progress import RunProgress
    from pipeline.runtime.quiet_keras import keras
    from pipeline.training import KeepBestWeights, LogToDvclive, train_member

    keywords = dict(FLOAT32_COSTS[way][1])
    accelerate = keywords.pop("accelerate", None)  # the stage's ways; train_member adds KeepBest and EarlyStopping
    names = keywords.pop("callbacks", ["dvclive", "progress"] if accelerate else [])
    made = {"keep_best": KeepBestWeights, "dvclive": lambda: LogToDvclive(live_dir(0)),
            "early_stopping": lambda: keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience,
                                                                    mode="min"),
            "progress": lambda: RunProgress(0, members, config.epochs, lines=True)}  # lines: as under dvc repro
    callbacks = [made[name]() for name in names] + [timer]  # the timer last: its epochs include the others' ends
    if accelerate:
        acceleration = detect("float32", accelerate, config.threads)
        return train_member(x, y, 10, config, 0, acceleration, callbacks=callbacks, verbose=0)[0], acceleration
    return notebook(config, x, y, callbacks, **{"deterministic": False, **keywords}), None


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


def worker(way, arguments):
    """One way in this process; prints one JSON line."""
    if way == "notebook" or (arguments.float32_costs and way.startswith("+ ") and way != "+ oneDNN"):
        import tensorflow  # noqa: F401  before the project's Keras import: TensorFlow's own oneDNN choice
    from pipeline.acceleration import detect, use_threads
    from pipeline.metrics import accuracy
    from pipeline.params import load_params
    from pipeline.training import TrainConfig, train_member

    imported = time.time()
    if way == "stage + 1 inter-op thread":  # before anything starts TensorFlow's runtime
        import tensorflow as tf
        tf.config.threading.set_inter_op_parallelism_threads(1)
    use_threads(arguments.threads)
    params = load_params(os.path.join(ROOT, "params.yaml"))
    config = dataclasses.replace(TrainConfig.from_params(params), epochs=arguments.epochs, threads=arguments.threads)
    if not arguments.float32_costs:  # every epoch runs, as in the notebook's fixed count
        config = dataclasses.replace(config, early_stopping=False, keep_best=False)
    x, y, x_test, y_test = load_data(arguments.dataset, arguments.limit)
    loaded = time.time()
    stage = detect(config.precision, "auto")
    off = detect(config.precision, "off")
    setups = {"stage": stage, "stage, accelerate off": off,
              "off + steps_per_execution": dataclasses.replace(off, steps_per_execution=stage.steps_per_execution),
              "off + validation_batch_size": dataclasses.replace(off,
                                                                 validation_batch_size=stage.validation_batch_size),
              "stage in float32": detect("float32", "auto"),
              "stage + 1 inter-op thread": stage}

    timer = epoch_times()
    if arguments.float32_costs:
        with tempfile.TemporaryDirectory() as folder:
            os.chdir(folder)  # DVCLive and RunProgress write under live/ here, not into the project's
            model, acceleration = float32_way(way, dataclasses.replace(config, precision="float32"),
                                              params["members"], x, y, timer)
            os.chdir(ROOT)
    elif way == "notebook":
        model, acceleration = notebook(config, x, y, [timer]), None
    elif way in ("stage + XLA jit_compile", "stage + tf.data"):
        model, acceleration = variant(config, stage, x, y, timer, jit_compile=way == "stage + XLA jit_compile"), stage
    else:
        acceleration = setups[way]
        model, *_ = train_member(x, y, 10, config, 0, acceleration, callbacks=[timer], verbose=0)
    seen = len(x)  # training and validation images, each seen once per epoch
    from tensorflow.python.util import _pywrap_util_port  # oneDNN as TensorFlow loaded it in this process
    print("RESULT " + json.dumps({
        "way": way, "epoch_seconds": timer.seconds, "images_per_second": seen / min(timer.seconds[1:]),
        "test_accuracy": accuracy(model.predict(x_test, batch_size=PREDICT_BATCH_SIZE, verbose=0), y_test),
        "acceleration": dataclasses.asdict(acceleration) if acceleration else None,
        "jit_compile": bool(model.jit_compile), "onednn": _pywrap_util_port.IsMklEnabled(),
        "imported": imported, "loaded": loaded,
        "first_batch": timer.first_batch,
        "weights": hashlib.sha256(b"".join(weights.tobytes() for weights in model.get_weights())).hexdigest()[:16]}))


def measure(way, arguments):
    """`way`'s figures from a fresh process, with its start-up in seconds: {imports, data, build, total}."""
    command = [sys.executable, __file__, "--worker", way, "--epochs", str(arguments.epochs),
               "--limit", str(arguments.limit), "--dataset", arguments.dataset]
    command += ["--float32-costs"] if arguments.float32_costs else []
    command += ["--threads", str(arguments.threads)] if arguments.threads else []
    launched = time.time()
    output = subprocess.run(command, env=ENVIRONMENT, capture_output=True, text=True, cwd=ROOT)
    for line in output.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
            stamps = (launched, result["imported"], result["loaded"], result["first_batch"])
            result["startup"] = {"imports": stamps[1] - stamps[0], "data": stamps[2] - stamps[1],
                                 "build": stamps[3] - stamps[2], "total": stamps[3] - stamps[0]}
            return result
    raise RuntimeError(f"{way} failed:\n{output.stderr[-3000:]}")


def determinism_check(arguments):
    """The float32 notebook way twice with op determinism off, twice on, thread pools pinned: are the weights equal?"""
    arguments.threads = arguments.threads or cpu_count()
    arguments.float32_costs = True
    print(f"{arguments.limit} images of {arguments.dataset}, {arguments.epochs} epochs, float32, "
          f"train.threads {arguments.threads}\n")
    digests = {}
    for way, name in (("notebook", "op determinism off"), ("+ op determinism", "op determinism on")):
        runs = [measure(way, arguments) for _ in range(2)]
        digests[name] = {run["weights"] for run in runs}
        accuracies = " ".join(f"{run['test_accuracy']:.4f}" for run in runs)
        seconds = " ".join(f"{sum(run['epoch_seconds']):.1f}" for run in runs)
        print(f"{name:20} weights {' '.join(run['weights'] for run in runs)}  "
              f"{'identical' if len(digests[name]) == 1 else 'DIFFER'}  test acc {accuracies}  training s {seconds}",
              flush=True)
    same = digests["op determinism off"] == digests["op determinism on"]
    print(f"off against on: weights {'identical' if same else 'differ'}")


def best(results):
    """Images per second of the fastest timed epoch over `results`, one per repeat."""
    return max(result["images_per_second"] for result in results)


def print_row(way, description, results, notebook_speed):
    """One way's line: its best epoch over `results` (one per repeat) and its shortest start-up."""
    speed = best(results)
    startup = min((result["startup"] for result in results), key=lambda parts: parts["total"])
    seconds = " | ".join(" ".join(f"{value:.1f}" for value in result["epoch_seconds"]) for result in results)
    onednn = "on" if results[-1]["onednn"] else "off"
    print(f"{way:33} {speed:9.0f} {speed / notebook_speed:11.2f}x {results[-1]['test_accuracy']:9.4f} "
          f"{startup['total']:5.1f} ({startup['imports']:.1f}+{startup['data']:.1f}+{startup['build']:.1f})  "
          f"{onednn:>6}  [{seconds}] {description}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per way (at least 2; the first is not timed)")
    parser.add_argument("--limit", type=int, default=60000, help="training images used (80 %% train, 20 %% validation)")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--levers", action="store_true", help="also each lever on its own")
    parser.add_argument("--float32-costs", action="store_true",
                        help="instead: in float32, the notebook's way with each of the stage's differences alone")
    parser.add_argument("--determinism-check", action="store_true",
                        help="instead: are the weights the same with op determinism on and off (pinned threads)?")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each way, in rounds; the best epoch counts")
    parser.add_argument("--threads", type=int, help="train.threads for every way (default: TensorFlow's)")
    parser.add_argument("--ways", nargs="+", metavar="WAY",
                        help="only these ways, by name as printed (the first is the one the others are compared with)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch compiles and is not timed")
    if arguments.worker:
        return worker(arguments.worker, arguments)

    from pipeline.acceleration import cpu_flags

    model_name = cpu_name()
    shown = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in cpu_flags()]
    print(f"CPU: {model_name}, {os.cpu_count()} cores, flags {' '.join(shown) or 'none of avx2/avx512/amx'}")
    if arguments.determinism_check:
        return determinism_check(arguments)
    print(f"{arguments.limit} images of {arguments.dataset}, {arguments.epochs} epochs per way, "
          f"{arguments.repeats} run(s) of each, fastest epoch after the first"
          f"{', all float32' if arguments.float32_costs else ''}\n")
    if arguments.float32_costs:
        ways = {way: description for way, (description, _) in FLOAT32_COSTS.items()}
    else:
        ways = {**WAYS, **(LEVERS if arguments.levers else {})}
    if arguments.ways:
        unknown = [way for way in arguments.ways if way not in ways]
        if unknown:
            parser.error(f"--ways: unknown {unknown}; the ways here: {list(ways)}")
        ways = {way: ways[way] for way in arguments.ways}
    baseline = next(iter(ways))  # the notebook, unless --ways starts with another way
    results = {way: [] for way in ways}
    for round_ in range(arguments.repeats):  # in rounds, so a slow spell of a shared machine hits every way
        last = round_ == arguments.repeats - 1
        if last:
            print(f"{'way':33} {'images/s':>9} {'vs notebook':>12} {'test acc':>9} start-up s (imports+data+build)  "
                  "oneDNN  epoch seconds / what")
        for way, description in ways.items():
            results[way].append(measure(way, arguments))
            if last:
                print_row(way, description, results[way], best(results[baseline]))
                if way == "stage":
                    print(f"{'':33} chosen: {results[way][-1]['acceleration']}, jit_compile "
                          f"{results[way][-1]['jit_compile']}", flush=True)
        if not last:
            print(f"round {round_ + 1} of {arguments.repeats} done", flush=True)
    if arguments.float32_costs and not arguments.ways:
        ratio = 1.0
        for way in ways:  # the stage's differences; steps_per_execution is a lever the float32 stage does not use
            if way.startswith("+ ") and way != "+ steps_per_execution 32":
                ratio *= best(results[way]) / best(results["notebook"])
        print(f"\nthe stage's differences multiplied, as if independent: {ratio:.2f}x the notebook; the stage in "
              f"float32 measured {best(results['stage in float32']) / best(results['notebook']):.2f}x")


if __name__ == "__main__":
    main()
