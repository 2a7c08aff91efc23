"""Stage train@<member>: one ensemble member -> models/member_<i>.keras and its record.

Its history (loss and accuracy per epoch) is logged by DVCLive into live/train_<i>/ as each epoch
ends, for `dvc plots show` and your editor while it trains, and read back by evaluate and report;
models/member_<i>/training.json holds the kept epoch, epochs run, snapshot epochs, and the backend,
device, precision and speed settings used. With train.snapshots K > 1 the run's earlier cycles'
weights are models/member_<i>/snapshot_<k>.keras, the last cycle's models/member_<i>.keras.
live/progress.json and the printed lines say how far the run is.
"""
import argparse
import dataclasses
import os
import sys

from pipeline import prepared
from pipeline.acceleration import detect, thread_counts
from pipeline.model import plain_layers
from pipeline.params import load_params
from pipeline.paths import PREPARED_DIR, RECORD_NAME, live_dir, member_dir, member_stage, model_path, snapshot_path
from pipeline.runtime.errors import PipelineError, run_main
from pipeline.runtime.files import atomic_path, timed, write_json
from pipeline.runtime.progress import RunProgress
from pipeline.training import LogToDvclive, TrainConfig, train_member


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
    watched = sys.stdout.isatty()  # Keras' progress bar when a person watches, else one line per epoch (logs, runners)
    progress = RunProgress(member, params["members"], config.epochs, lines=not watched)
    print(f"{progress.first_line()}; {acceleration}", flush=True)

    with timed(member_stage(member)), atomic_path(member_dir(member)) as folder, \
            atomic_path(model_path(member)) as temporary_model:
        # DVCLive writes where dvc.yaml declares it, outside the atomic folders, so it is seen while it grows
        model, history, kept_epoch, snapshots = train_member(
            data["x_train"], data["y_train"], len(data["meta"]["class_names"]), config, member, acceleration,
            callbacks=[LogToDvclive(live_dir(member)), progress], verbose=1 if watched else 0)
        snapshot_epochs = [epoch for epoch, _ in snapshots] + [kept_epoch]
        write_json(os.path.join(folder, RECORD_NAME), {"best_epoch": kept_epoch, "epochs_run": len(history["loss"]),
                                                       "snapshot_epochs": snapshot_epochs,
                                                       **dataclasses.asdict(acceleration), **thread_counts(),
                                                       "jit_compile": bool(model.jit_compile)})  # as Keras chose
        last = model.get_weights()
        for snapshot, (_, weights) in enumerate(snapshots, start=1):  # into the atomic folder, by the same name
            model.set_weights(weights)
            plain_layers(model).save(os.path.join(folder, os.path.basename(snapshot_path(member, snapshot))))
        model.set_weights(last)
        plain_layers(model).save(temporary_model)  # only Keras' own layers: loads anywhere Keras does
    if snapshots:
        kept = f"snapshots at epochs {', '.join(str(epoch) for epoch, _ in snapshots)} and {kept_epoch}"
    elif config.keep_best:
        kept = f"best val_accuracy {history['val_accuracy'][kept_epoch - 1]:.4f} at epoch {kept_epoch}"
    else:
        kept = f"weights of the last epoch, {kept_epoch}"
    print(f"train@{member}: {len(history['loss'])} epochs, {kept} -> {model_path(member)}")
    print(progress.last_line(), flush=True)


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
