"""Stage check: every value in params.yaml and architectures.yaml checked before any other stage runs; each
stage's key written.

DVC deletes a stage's outputs just before it runs the stage. Every stage comes after
this one (each depends on its key file here), so a value refused here costs nothing of
the last good run. A key holds the stage's modules and their MD5s (train's also the
TensorFlow, Keras and NumPy versions, train's and report's the architecture in use), not the
params: after a good edit of params.yaml, or of a module a stage does not import, the keys stay the
same and DVC reruns only the stages whose own params or modules changed (pipeline.runtime.keys).
"""
from pipeline.params import load_params
from pipeline.paths import KEYED_STAGES, KEYS_DIR, key_path
from pipeline.runtime.errors import run_main
from pipeline.runtime.files import write_json
from pipeline.runtime.keys import stage_key


def main():
    params = load_params()
    names = KEYED_STAGES
    for name in names:
        write_json(key_path(name), stage_key(name, params))
    print(f"check: params.yaml passed; the keys of {', '.join(names)} -> {KEYS_DIR}")


if __name__ == "__main__":
    run_main(main)
