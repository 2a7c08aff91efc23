"""How a member trains fast on this machine: precision and the compile settings that pay on it.

`train.precision: auto` and `train.accelerate: auto` choose by what the device has,
measured with benchmarks/train_speed.py (README, "Training speed"). Devices are found
through Keras, so this works on any Keras backend, TensorFlow not required.
"""
import dataclasses

import keras

from pipeline.options import ACCELERATE

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
    return keras.distribution.list_devices()[0].split(":")[0].lower()


def choose_precision(requested, device, flags):
    """The Keras dtype policy for `requested`; "auto" takes the one that pays on this hardware.

    Measured on a 2-core AMD EPYC without bf16 instructions (README): mixed_bfloat16 ran 15x slower
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
    without bf16 it measured slower (README). XLA jit is left to Keras ("auto"): off on a CPU
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


def detect(precision, accelerate):
    """choose_acceleration for this machine and Keras backend."""
    return choose_acceleration(precision, accelerate, device_kind(), cpu_flags(), keras.config.backend())
