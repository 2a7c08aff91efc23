"""Keras (and TensorFlow under it) imported without TensorFlow's C++ start-up log.

TensorFlow's native libraries write several lines to stderr when they load (oneDNN and
CPU-feature notices, "All log messages before absl::InitializeLog()..."), which
TF_CPP_MIN_LOG_LEVEL no longer silences. They would bury a stage's own one-line error.
The import runs with file descriptor 2 pointed at a temporary file; the captured text
is shown only if the import fails. Every project module that uses Keras imports it from here:

    from pipeline.runtime.quiet_keras import keras
"""
import importlib
import os
import sys
import tempfile


def import_quietly(name):
    """`importlib.import_module(name)` with native stderr output captured; replayed only on failure."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # later INFO lines too; warnings still show
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
