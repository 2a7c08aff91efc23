"""How a member trains fast on this machine: precision and the compile settings that pay on it.

`train.precision: auto` and `train.accelerate: auto` choose by what the device has,
measured with benchmarks/train_speed.py (benchmarks/README.md, "Training speed"). Devices are found
through Keras, so this works on any Keras backend, TensorFlow not required.
"""
import dataclasses

from pipeline.options import ACCELERATE
from pipeline.runtime.processes import cpu_count
from pipeline.runtime.quiet_keras import keras

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # without one of these, bfloat16 is emulated and slow
STEPS_PER_EXECUTION = 32  # batches per call into the compiled function: less Python between batches
VALIDATION_BATCH_SIZE = 1024  # inference only: fewer, larger batches; memory stays small at 28x28


@dataclasses.dataclass(frozen=True)
class Acceleration:
    """What a member trains with; recorded per member (models/member_<i>/training.json), with jit_compile."""
    backend: str  # Keras backend: tensorflow, jax or torch
    device: str  # cpu or gpu
    precision: str  # a Keras dtype policy
    steps_per_execution: int
    validation_batch_size: int | None  # None: the training batch size, as model.fit does


def cpu_flags(path="/proc/cpuinfo"):
    """The CPU's feature flags (empty where /proc/cpuinfo does not exist)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return set(next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), []))
    except OSError:
        return set()


def device_kind():
    """"gpu" (or "tpu") when Keras' backend sees one, else "cpu"."""
    if keras.config.backend() == "torch":  # Keras' torch backend has no keras.distribution
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return keras.distribution.list_devices()[0].split(":")[0].lower()


def choose_precision(requested, device, flags):
    """The Keras dtype policy for `requested`; "auto" takes the one that pays on this hardware.

    Measured on a 2-core AMD EPYC without bf16 instructions (benchmarks/README.md): mixed_bfloat16 ran 15x slower
    than float32 there, so "auto" uses bfloat16 only where the CPU has bf16 instructions.
    """
    if requested != "auto":
        return requested
    if device != "cpu":
        return "mixed_float16" if device == "gpu" else "mixed_bfloat16"
    return "mixed_bfloat16" if flags & set(BF16_CPU_FLAGS) else "float32"


def choose_acceleration(precision, accelerate, device, flags, backend):
    """The Acceleration for params `train.precision` and `train.accelerate` on this device.

    off: plain model.fit, the notebook's settings (for comparison and debugging).
    auto: validation in large batches everywhere (less per-batch overhead, same sums); several
    steps per execution where steps are fast (a GPU, a CPU with bf16 instructions), as on a CPU
    without bf16 it measured slower (benchmarks/README.md). XLA jit is left to Keras ("auto"): off on a CPU
    under TensorFlow, where it measured 3x slower, and wherever TensorFlow's op determinism is
    on; always on under JAX.
    """
    if accelerate not in ACCELERATE:
        raise ValueError(f"accelerate {accelerate!r} is not one of {', '.join(ACCELERATE)}")
    policy = choose_precision(precision, device, flags)
    if accelerate == "off":
        return Acceleration(backend, device, policy, 1, None)
    fast_steps = device != "cpu" or policy == "mixed_bfloat16"
    return Acceleration(backend, device, policy, STEPS_PER_EXECUTION if fast_steps else 1, VALIDATION_BATCH_SIZE)


def use_threads(threads):
    """Pin TensorFlow's intra- and inter-op thread pools to `threads` (train.threads); None keeps its default, one
    thread per CPU this process may run on. The count changes the sums' order, so the weights: it is a param.

    Must come before TensorFlow runs its first op; elsewhere than TensorFlow it is a no-op.
    """
    if threads is None or keras.config.backend() != "tensorflow":
        return
    import tensorflow as tf

    for name in ("intra_op", "inter_op"):
        if getattr(tf.config.threading, f"get_{name}_parallelism_threads")() != threads:
            getattr(tf.config.threading, f"set_{name}_parallelism_threads")(threads)


THREAD_KEYS = ("intra_op_threads", "inter_op_threads")  # recorded per member beside the Acceleration
# How a member trained, as its record (models/member_<i>/training.json) holds it: the Acceleration, Keras' jit
# choice and the thread pools
TRAINING_KEYS = (*(field.name for field in dataclasses.fields(Acceleration)), "jit_compile", *THREAD_KEYS)


def summarise_training(records):
    """How the members trained: each of TRAINING_KEYS's values, or per member where they differ.

    `records` maps each member to its training record (models/member_<i>/training.json)."""
    summary = {}
    for key in TRAINING_KEYS:
        values = [record[key] for record in records.values()]
        summary[key] = (values[0] if all(value == values[0] for value in values)
                        else ", ".join(f"{member}: {record[key]}" for member, record in records.items()))
    return summary


def thread_counts():
    """{THREAD_KEYS: count}: the thread pools' sizes as TensorFlow runs them (its default, 0, is one thread per CPU
    the process may run on); None on other backends."""
    if keras.config.backend() != "tensorflow":
        return dict.fromkeys(THREAD_KEYS)
    import tensorflow as tf

    return {"intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or cpu_count(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or cpu_count()}


def detect(precision, accelerate, threads=None):
    """choose_acceleration for this machine and Keras backend, after pinning the thread pools to `threads`
    (train.threads; first, as finding the device starts TensorFlow)."""
    use_threads(threads)
    return choose_acceleration(precision, accelerate, device_kind(), cpu_flags(), keras.config.backend())
