"""Train one architecture of architectures.yaml on all training images, outside DVC, on any Keras backend.

    python benchmarks/train_outside_dvc.py --arch lenet_like --optimizer adadelta --epochs 20
    KERAS_BACKEND=jax python benchmarks/train_outside_dvc.py --arch deep_custom \
        --optimizer adadelta --epochs 20 --source-dir mnist_gz --output result.json

Study 004's recipe (split=none, no early stopping, last epoch's weights) through the
same model definition and training code as the train stage, then the test accuracy.
It exists for machines where the pipeline cannot run: a lent GPU machine has JAX but no
TensorFlow, and no registry to install it from, so the run goes through Keras' JAX
backend there (docs/studies.md). It prints figures and asserts nothing.
"""
import argparse
import dataclasses
import json
import os
import platform
import time

from benchmarks.common import epoch_times, load_data
from pipeline.acceleration import detect
from pipeline.datasets import DATASETS
from pipeline.inference import PREDICT_BATCH_SIZE
from pipeline.model import count_params
from pipeline.params import load_params
from pipeline.runtime.files import write_json
from pipeline.runtime.quiet_keras import keras
from pipeline.training import TrainConfig, train_member

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def device_name():
    if keras.backend.backend() == "jax":
        import jax
        return str(jax.devices()[0].device_kind)
    return platform.processor() or platform.machine()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", required=True, help="an entry of architectures.yaml")
    parser.add_argument("--dataset", default="mnist", choices=sorted(DATASETS))
    parser.add_argument("--source-dir",
                        help="folder with the dataset's four files (default: its variable, Debian, mirrors)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--optimizer", default="adadelta", help="nadam, adam, adadelta or sgd")
    parser.add_argument("--learning-rate", type=float, help="default: the Keras 2 rate the studies ran with")
    parser.add_argument("--precision", default="float32", help="auto or a Keras dtype policy (train.precision)")
    parser.add_argument("--accelerate", default="off", help="auto or off (train.accelerate)")
    parser.add_argument("--limit", type=int, help="first N training and N test images (a quick look)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    params = load_params(os.path.join(ROOT, "params.yaml"))
    if args.arch not in params["architectures"]:
        raise ValueError(f"--arch {args.arch!r} is not in architectures.yaml: "
                         f"{', '.join(params['architectures'])}")

    x_train, y_train, x_test, y_test = load_data(args.dataset, args.limit, args.source_dir, test_limit=args.limit)
    num_classes = int(y_train.max()) + 1
    timer = epoch_times()
    start = time.perf_counter()
    config = dataclasses.replace(  # study 004's recipe on the chosen architecture
        TrainConfig.from_params(params), seed=args.seed, arch=args.arch,
        architecture=params["architectures"][args.arch],
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, learning_rate=args.learning_rate,
        split="none", early_stopping=False, keep_best=False, normalize="scale", activation=None, dropout=None,
        max_params=None, lr_schedule=[], precision=args.precision, accelerate=args.accelerate)
    acceleration = detect(config.precision, config.accelerate)
    model, history, *_ = train_member(x_train, y_train, num_classes, config, 0, acceleration, callbacks=[timer],
                                     verbose=2)
    train_seconds = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=PREDICT_BATCH_SIZE, verbose=0)
    figures = {
        "arch": args.arch, "dataset": args.dataset, "parameters": count_params(model),
        "backend": keras.backend.backend(), "device": device_name(), **dataclasses.asdict(acceleration),
        "optimizer": args.optimizer, "epochs": args.epochs, "batch_size": args.batch_size,
        "train_images": len(x_train), "test_images": len(x_test),
        "train_seconds": round(train_seconds, 1), "epoch_seconds": timer.seconds,
        "final_train_accuracy": round(float(history["accuracy"][-1]), 4),
        "final_train_loss": round(float(history["loss"][-1]), 4),
        "test_accuracy": round(float(test_accuracy), 4), "test_loss": round(float(test_loss), 4),
    }
    print(json.dumps(figures))
    if args.output:
        write_json(args.output, figures)  # temp file, then rename


if __name__ == "__main__":
    main()
