"""Stage train@<member>: one ensemble member -> models/member_<i>.keras and its record.

The record, in models/member_<i>/: history.csv (loss and accuracy per epoch, read by
evaluate and report), training.json (the kept epoch, epochs run, and the backend,
device, precision and speed settings used) and dvclive/ (the same history logged live).
"""
import argparse
import dataclasses
import os
import sys

from dvclive import Live

from pipeline import prepared
from pipeline.acceleration import detect, thread_counts
from pipeline.model import plain_layers
from pipeline.params import load_params
from pipeline.paths import DVCLIVE_NAME, HISTORY_NAME, PREPARED_DIR, RECORD_NAME, member_dir, model_path
from pipeline.runtime.errors import PipelineError, run_main
from pipeline.runtime.files import atomic_path, timed, write_json
from pipeline.training import HistoryFile, LogToDvclive, TrainConfig, train_member


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--member", type=int, required=True, help="which member of `members` to train")
    member = parser.parse_args(argv).member
    params = load_params()
    if member not in params["members"]:
        raise PipelineError(f"params.yaml: members: {params['members']} does not include --member {member}")
    data = prepared.load(PREPARED_DIR, names=("x_train", "y_train"))
    config = TrainConfig.from_params(params)
    acceleration = detect(config.precision, config.accelerate, config.threads)
    print(f"train@{member}: {acceleration}", flush=True)
    verbose = 1 if sys.stdout.isatty() else 2  # progress bars when a person watches, one line per epoch in logs

    with timed(f"train_{member}"), atomic_path(member_dir(member)) as folder, \
            atomic_path(model_path(member)) as temporary_model:
        history_file = HistoryFile(os.path.join(folder, HISTORY_NAME))
        with Live(dir=os.path.join(folder, DVCLIVE_NAME), dvcyaml=False, save_dvc_exp=False, report=None) as live:
            model, history, kept_epoch = train_member(
                data["x_train"], data["y_train"], len(data["meta"]["class_names"]), config, member, acceleration,
                callbacks=[history_file, LogToDvclive(live)], verbose=verbose)
        write_json(os.path.join(folder, RECORD_NAME), {"best_epoch": kept_epoch, "epochs_run": len(history["loss"]),
                                                       **dataclasses.asdict(acceleration), **thread_counts(),
                                                       "jit_compile": bool(model.jit_compile)})  # as Keras chose
        plain_layers(model).save(temporary_model)  # only Keras' own layers: loads anywhere Keras does
    kept = (f"best val_accuracy {history['val_accuracy'][kept_epoch - 1]:.4f} at epoch {kept_epoch}"
            if config.keep_best else f"weights of the last epoch, {kept_epoch}")
    print(f"train@{member}: {len(history['loss'])} epochs, {kept} -> {model_path(member)}")


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
