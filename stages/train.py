"""Stage train@<member>: one ensemble member -> models/member_<i>.keras and its history.

The history goes through dvclive into models/member_<i>/ (one .tsv per metric, and
metrics.json with the best epoch); evaluate turns these into tables and plots.
"""
import argparse
import os
import sys

from pipeline.startup import import_quietly

tf = import_quietly("tensorflow")  # before anything else loads it, so its start-up log stays quiet

from dvclive import Live  # noqa: E402

from pipeline import prepared  # noqa: E402
from pipeline.errors import PipelineError, run_main  # noqa: E402
from pipeline.files import atomic_path, record_wall_time  # noqa: E402
from pipeline.members import log_dir_path, model_path  # noqa: E402
from pipeline.params import load_params  # noqa: E402
from pipeline.training import LogToDvclive, choose_precision, cpu_flags, train_member  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--member", type=int, required=True, help="which member of `members` to train")
    member = parser.parse_args(argv).member
    params = load_params()
    if member not in params["members"]:
        raise PipelineError(f"params.yaml: members: {params['members']} does not include --member {member}")
    data = prepared.load(os.path.join("data", "prepared"), names=("x_train", "y_train"))
    num_classes = len(data["meta"]["class_names"])
    train = params["train"]
    precision = choose_precision(train["precision"], bool(tf.config.list_physical_devices("GPU")), cpu_flags())
    # Progress bars when a person watches, one line per epoch in logs.
    verbose = 1 if sys.stdout.isatty() else 2

    with record_wall_time(f"train_{member}"), atomic_path(log_dir_path(member)) as log_dir, \
            atomic_path(model_path(member)) as temporary_model:
        with Live(dir=log_dir, dvcyaml=False, save_dvc_exp=False, report=None) as live:
            model, history, best_epoch = train_member(
                data["x_train"], data["y_train"], num_classes, member=member, seed=params["seed"],
                architecture=params["architectures"][params["arch"]], arch=params["arch"],
                epochs=params["epochs"], batch_size=params["batch_size"], split=params["split"],
                normalize=params["normalize"], activation=params["activation"], dropout=params["dropout"],
                max_params=params["max_params"], optimizer=train["optimizer"],
                learning_rate=train["learning_rate"], validation_fraction=train["validation_fraction"],
                early_stopping=train["early_stopping"], patience=train["patience"],
                keep_best=train["keep_best"], lr_schedule=train["lr_schedule"], precision=precision,
                callbacks=[LogToDvclive(live)], verbose=verbose)
            live.log_metric("best_epoch", best_epoch, plot=False)
            live.log_metric("epochs_run", len(history["loss"]), plot=False)
            live.log_param("precision", precision)
        model.save(temporary_model)
    kept = (f"best val_accuracy {history['val_accuracy'][best_epoch - 1]:.4f} at epoch {best_epoch}"
            if params["train"]["keep_best"] else f"weights of the last epoch, {best_epoch}")
    print(f"train@{member}: {len(history['loss'])} epochs in {precision}, {kept} -> {model_path(member)}")


if __name__ == "__main__":
    run_main(main)
