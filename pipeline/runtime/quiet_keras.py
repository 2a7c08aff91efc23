"""Keras (and TensorFlow under it) imported without TensorFlow's C++ start-up log, with oneDNN's kernels on.

TensorFlow's native libraries write several lines to stderr when they load (oneDNN and
CPU-feature notices, "All log messages before absl::InitializeLog()..."), which
TF_CPP_MIN_LOG_LEVEL no longer silences. They would bury a stage's own one-line error.
The import runs with file descriptor 2 pointed at a temporary file; the captured text
is shown only if the import fails.

TensorFlow's x86 wheels use oneDNN's CPU kernels only where the CPU has AVX-512 VNNI, bf16 or AMX
instructions; on the float32-only CPUs (AMD Zen 1-3, AVX2) they fall back to TensorFlow's own, which
trained a member's epoch about 1.5x slower on a Zen 3 (benchmarks/results/onednn_zen3/). So the project turns
oneDNN on everywhere, before TensorFlow loads; `TF_ENABLE_ONEDNN_OPTS=0` in the environment keeps it off.
Results stay bit-reproducible under op determinism (the same weights twice), not bit-equal to a run
without oneDNN (another order of sums). Every project module that uses Keras imports it from here:

    from pipeline.runtime.quiet_keras import keras
"""
import importlib
import os
import sys
import tempfile

ONEDNN = "TF_ENABLE_ONEDNN_OPTS"  # TensorFlow's switch for oneDNN's CPU kernels: 1 on, 0 off, unset its own choice


def import_quietly(name):
    """`importlib.import_module(name)` with native stderr output captured; replayed only on failure."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # later INFO lines too; warnings still show
    os.environ.setdefault(ONEDNN, "1")  # read when TensorFlow loads: an earlier `import tensorflow` keeps its own
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return importlib.import_module(name)
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


keras = import_quietly("keras")
