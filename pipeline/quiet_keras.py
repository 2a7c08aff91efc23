"""Imported first by every module that loads Keras: its import imports Keras (and TensorFlow under it) without the
native start-up log (pipeline.startup.import_quietly). Being an import, not a call, it keeps the imports after it
at the top of their file."""
from pipeline.startup import import_quietly

keras = import_quietly("keras")
