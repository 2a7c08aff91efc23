"""Stage check: every value in params.yaml checked before any other stage runs; the training packages' versions.

DVC deletes a stage's outputs just before it runs the stage. Every stage comes after
this one (fetch depends on its output), so a value refused here costs nothing of the
last good run. The output holds one fixed line: it stays the same whatever the params
are, so after a good edit DVC still reruns only the stages whose own params changed. The
versions file changes only when TensorFlow, Keras or NumPy does, and then every member retrains.
"""
from pipeline.errors import run_main
from pipeline.files import write_json, write_text
from pipeline.params import load_params
from pipeline.paths import PARAMS_CHECKED, VERSIONS
from pipeline.versions import installed_versions


def main(argv=None):
    load_params()
    write_text(PARAMS_CHECKED, "params.yaml: every value allowed\n")
    versions = installed_versions()
    write_json(VERSIONS, versions)
    print(f"check: params.yaml passed -> {PARAMS_CHECKED}; " + ", ".join(versions.values()) + f" -> {VERSIONS}")


if __name__ == "__main__":
    run_main(main)
