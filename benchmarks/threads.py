"""Does the thread count change a member, and do members trained side by side match those trained one by one?

    python benchmarks/threads.py                      # 15,000 Fashion-MNIST images, 3 epochs, member 0 (and 1)
    python benchmarks/threads.py --limit 6000 --epochs 2

Trains member 0 of params.yaml (the default recipe) in child processes, each a fresh TensorFlow:
with train.threads 1 on one CPU and on all of them, with train.threads 2 and with TensorFlow's
default (null), and prints a digest of the kept weights, the first epoch's loss and the time. Then
members 0 and 1 one after the other (train.threads null, all CPUs) against both at once, each
pinned to its own CPU with train.threads 1 (as `python -m pipeline.runtime.side_by_side --jobs 2` trains
them). Prints figures; asserts nothing.
"""
import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time

from benchmarks.common import cpu_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train(member, threads, limit, epochs):
    """Train `member` in this process; print {digest, first_loss, seconds, threads} as JSON."""
    from benchmarks.common import load_data
    from pipeline.acceleration import detect, thread_counts
    from pipeline.params import load_params
    from pipeline.training import TrainConfig, train_member

    config = dataclasses.replace(TrainConfig.from_params(load_params(os.path.join(ROOT, "params.yaml"))),
                                 epochs=epochs, threads=threads)
    acceleration = detect(config.precision, config.accelerate, config.threads)
    x, y, _, _ = load_data("fashion_mnist", limit)
    start = time.perf_counter()
    model, history, *_ = train_member(x, y, 10, config, member, acceleration, verbose=0)
    digest = hashlib.sha256(b"".join(weights.tobytes() for weights in model.get_weights())).hexdigest()[:16]
    print(json.dumps({"digest": digest, "first_loss": history["loss"][0], "seconds": time.perf_counter() - start,
                      **thread_counts()}))


def child(member, threads, cpus, arguments):
    command = [sys.executable, os.path.abspath(__file__), "--one", str(member), "--threads", str(threads),
               "--limit", str(arguments.limit), "--epochs", str(arguments.epochs)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, cpus))


def result(process):
    output, _ = process.communicate()
    if process.returncode:
        sys.exit("a training process failed")
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=15000, help="training images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: train this member here
    parser.add_argument("--threads", default="null", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one is not None:
        return train(arguments.one, None if arguments.threads == "null" else int(arguments.threads),
                     arguments.limit, arguments.epochs)

    cpus = sorted(os.sched_getaffinity(0))
    print(f"CPU: {cpu_name()}; {len(cpus)} CPUs; {arguments.limit} images of fashion_mnist, {arguments.epochs} "
          "epochs, member 0 of params.yaml\n")
    ways = [("train.threads 1 on 1 CPU", 1, cpus[:1]), ("train.threads 1 on all CPUs", 1, cpus),
            ("train.threads 2 on all CPUs", 2, cpus), ("train.threads null on all CPUs", "null", cpus),
            ("train.threads null on 1 CPU", "null", cpus[:1])]
    for name, threads, allowed in ways:
        figures = result(child(0, threads, set(allowed), arguments))
        print(f"{name:32} weights {figures['digest']}  first-epoch loss {figures['first_loss']:.6f}  "
              f"{figures['seconds']:6.1f} s  (intra/inter-op threads {figures['intra_op_threads']}/"
              f"{figures['inter_op_threads']})", flush=True)
    if len(cpus) < 2:
        return
    start = time.perf_counter()
    serial = [result(child(member, "null", set(cpus), arguments)) for member in (0, 1)]
    serial_seconds = time.perf_counter() - start
    start = time.perf_counter()
    together = [child(member, 1, {cpus[member]}, arguments) for member in (0, 1)]
    parallel = [result(process) for process in together]
    parallel_seconds = time.perf_counter() - start
    print(f"\nmembers 0 and 1 one by one, threads null:      {serial_seconds:6.1f} s  weights "
          f"{serial[0]['digest']} {serial[1]['digest']}")
    print(f"members 0 and 1 side by side, 1 thread each:  {parallel_seconds:6.1f} s  weights "
          f"{parallel[0]['digest']} {parallel[1]['digest']}  ({serial_seconds / parallel_seconds:.2f}x)")


if __name__ == "__main__":
    main()
