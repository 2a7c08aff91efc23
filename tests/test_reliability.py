"""A mistyped value or a bad file never costs a result.

After one good run, every case below breaks one thing (a param, a data file, a model
file, the environment) and runs the stage that meets it, as DVC would: as its own
process, through python.sh. Each case asserts that the exit code is non-zero, that the
last line printed names the key or file and the rule, and that no file of the good run
changed. The DVC-level cases at the end show the same through `dvc exp run` / `dvc repro`.
"""
import contextlib
import hashlib
import os
import pickle
import re
import shutil
import signal
import subprocess
import time
import zipfile

import numpy as np
import psutil
import pytest
import yaml

import bombs
from conftest import ROOT
from project import dvc, make_project, ran, run, trainings

TRACKED = ("data", "models", "export", "reports", "dvc.lock")  # everything the good run wrote


def snapshot(repo):
    """{path: md5} of every file of the run."""
    digests = {}
    for name in TRACKED:
        top = repo / name
        paths = [top] if top.is_file() else sorted(path for path in top.rglob("*") if path.is_file())
        for path in paths:
            digests[str(path.relative_to(repo))] = hashlib.md5(path.read_bytes()).hexdigest()
    return digests


@pytest.fixture(scope="module")
def good(first_run):
    """The project as its good first run left it (600 images, 2 members, 1 epoch; conftest.first_run)."""
    return first_run


@pytest.fixture
def project(good):
    """The good project; after the test, params.yaml, data/own and the run's files must be as they were."""
    before = snapshot(good)
    yield good
    run(good, "git", "checkout", "--", "params.yaml", "architectures.yaml")
    run(good, "git", "clean", "-fdq", "data/own")
    assert snapshot(good) == before, "a refused input changed a file of the last good run"
    leftovers = os.listdir(good / ".tmp") if (good / ".tmp").exists() else []
    assert leftovers == [], f"temporaries left behind: {leftovers}"


def stage_environment(env=None):
    environment = {key: os.environ[key] for key in ("HOME", "MNIST_DIR", "FASHION_MNIST_DIR") if key in os.environ}
    return {**environment, "PATH": "/usr/bin:/bin", **(env or {})}


def stage_output(repo, name, *arguments, env=None):
    """(exit code, everything printed) of `sh python.sh -m stages.<name>` in `repo`, as DVC runs it."""
    result = subprocess.run(["sh", "python.sh", "-m", f"stages.{name}", *arguments], cwd=repo,
                            env=stage_environment(env), capture_output=True, text=True)
    return result.returncode, result.stdout + result.stderr


def stage(repo, name, *arguments, env=None):
    """(exit code, last line of output) of `sh python.sh -m stages.<name>` in `repo`, as DVC runs it."""
    code, output = stage_output(repo, name, *arguments, env=env)
    lines = output.strip().splitlines()
    return code, lines[-1] if lines else ""


def set_params(repo, change):
    """Apply `change` to params.yaml: {dotted.key: value} (value DELETE deletes the key), or raw YAML text or bytes.
    A key `architectures` or `architectures.<name>` sets architectures.yaml, or one architecture in it."""
    if isinstance(change, (str, bytes)):
        (repo / "params.yaml").write_bytes(change.encode() if isinstance(change, str) else change)
        return
    for dotted, value in change.items():
        file, dotted = ("architectures.yaml", dotted.partition(".")[2]) if dotted.split(".")[0] == "architectures" \
            else ("params.yaml", dotted)
        values = yaml.safe_load((repo / file).read_text())
        if not dotted:
            values = value
        else:
            *parents, key = dotted.split(".")
            section = values
            for parent in parents:
                section = section[parent]
            if value is DELETE:
                del section[key]
            else:
                section[key] = value
        (repo / file).write_text(yaml.safe_dump(values, sort_keys=False))


DELETE = object()
DEFAULT_TEXT = (ROOT / "params.yaml").read_text()


def line_of(start):
    """The 1-based line of the shipped params.yaml that starts with `start`."""
    return next(number for number, line in enumerate(DEFAULT_TEXT.splitlines(), 1) if line.startswith(start))


# (change to params.yaml, what the last line must start with): refused by the check stage, before any other.
PARAM_CASES = [
    ({"epochs": 1.5}, "error: params.yaml: epochs: 1.5 is not allowed; allowed: an integer >= 1"),
    ({"epochs": True}, "error: params.yaml: epochs: True is not allowed; allowed: an integer >= 1"),
    ({"epochs": 0}, "error: params.yaml: epochs: 0 is not allowed; allowed: an integer >= 1"),
    ({"epochs": "25"}, "error: params.yaml: epochs: '25' is not allowed; allowed: an integer >= 1"),
    (DEFAULT_TEXT.replace("epochs: 25 ", "epochs: 1:30"),
     "error: params.yaml: epochs: '1:30' is not allowed; allowed: an integer >= 1"),
    (DEFAULT_TEXT.replace("allow_pickle: false", "allow_pickle: yes  "),
     "error: params.yaml: allow_pickle: 'yes' is not allowed; allowed: true or false"),
    ({"batch_size": 0}, "error: params.yaml: batch_size: 0 is not allowed; allowed: an integer >= 1"),
    ({"seed": -1}, "error: params.yaml: seed: -1 is not allowed; allowed: an integer >= 0"),
    ({"members": ["a"]}, "error: params.yaml: members: ['a'] is not allowed; allowed: a non-empty list"),
    ({"members": []}, "error: params.yaml: members: [] is not allowed; allowed: a non-empty list"),
    ({"members": [0, 0]}, "error: params.yaml: members: [0, 0] is not allowed; allowed: a non-empty list of distinct"),
    ({"members": 3}, "error: params.yaml: members: 3 is not allowed; allowed: a non-empty list"),
    ({"limit": 1}, "error: params.yaml: limit: 1 is not allowed with train.validation_fraction 0.2 (no image left "
                   "for training or validation); allowed: null or an integer >= 3"),
    ({"limit": 0}, "error: params.yaml: limit: 0 is not allowed; allowed: null (all images) or an integer >= 1"),
    ({"classes": [0]}, "error: params.yaml: classes: [0] is not allowed; allowed: null (all classes) or a list of at "
                       "least 2"),
    ({"classes": [0, 1.5]}, "error: params.yaml: classes: [0, 1.5] is not allowed"),
    ({"normalize": "zscore"}, "error: params.yaml: normalize: 'zscore' is not allowed; allowed: one of scale, "
                              "standardize"),
    ({"split": "random"}, "error: params.yaml: split: 'random' is not allowed; allowed: one of per_member, fixed, "
                          "none"),
    ({"split": "none"}, "error: params.yaml: train.early_stopping: true is not allowed with split: none"),
    ({"test_fraction": 1.0}, "error: params.yaml: test_fraction: 1.0 is not allowed; allowed: null (the dataset's own "
                             "test set) or a number between 0 and 1"),
    ({"dataset": "cifar10"}, "error: params.yaml: dataset: 'cifar10' is not allowed; allowed: one of fashion_mnist, "
                             "mnist, or the path of your own .npz, .csv, .npy, .pkl file inside data/own/"),
    ({"dataset": "data/mine.npz"}, "error: params.yaml: dataset: 'data/mine.npz' is not allowed; allowed: one of"),
    ({"dataset": "/tmp/data/own/mine.npz"}, "error: params.yaml: dataset: '/tmp/data/own/mine.npz' is not allowed"),
    ({"dataset": "data/own/../mine.npz"}, "error: params.yaml: dataset: 'data/own/../mine.npz' is not allowed"),
    ({"dataset": "data/own/mine.txt"}, "error: params.yaml: dataset: 'data/own/mine.txt' is not allowed"),
    ({"arch": "nonexistent"}, "error: params.yaml: arch: 'nonexistent' is not allowed; allowed: one of ensemble_cnn, "
                              "ensemble_cnn_bn, slim_cnn_bn, resnet, cnn_bn, resnet_v1, compact, lenet_like, vgg_like, "
                              "deep_custom"),
    ({"activation": "relux"}, "error: params.yaml: activation: 'relux' is not allowed; allowed: null (each "
                              "architecture's own) or one of relu, sigmoid"),
    ({"dropout": 1.0}, "error: params.yaml: dropout: 1.0 is not allowed; allowed: null (each architecture's own) or a "
                       "number from 0 up to (not including) 1"),
    ({"max_params": 0}, "error: params.yaml: max_params: 0 is not allowed; allowed: null (no budget) or an integer"),
    ({"train.optimizer": "rmsprop"}, "error: params.yaml: train.optimizer: 'rmsprop' is not allowed; allowed: one of "
                                     "nadam, adam, adadelta, sgd"),
    ({"train.learning_rate": 0}, "error: params.yaml: train.learning_rate: 0 is not allowed; allowed: null"),
    ({"train.learning_rate": "fast"}, "error: params.yaml: train.learning_rate: 'fast' is not allowed"),
    ({"train.validation_fraction": 0}, "error: params.yaml: train.validation_fraction: 0 is not allowed; allowed: a "
                                       "number between 0 and 1, exclusive"),
    ({"train.patience": 0}, "error: params.yaml: train.patience: 0 is not allowed; allowed: an integer >= 1"),
    ({"train.lr_schedule": [[10, 0.1], [5, 0.01]]},
     "error: params.yaml: train.lr_schedule: [[10, 0.1], [5, 0.01]] is not allowed; allowed: cosine, or a list of "
     "[epoch, factor] pairs"),
    ({"train.lr_schedule": "linear"}, "error: params.yaml: train.lr_schedule: 'linear' is not allowed; allowed: "
                                      "cosine, or a list"),
    ({"train.augment.shift": -1}, "error: params.yaml: train.augment.shift: -1 is not allowed; allowed: an integer "
                                  "from 0 to 14"),
    ({"train.precision": "bfloat16"}, "error: params.yaml: train.precision: 'bfloat16' is not allowed; allowed: one "
                                      "of auto, float32, mixed_bfloat16, mixed_float16"),
    ({"train.early_stopping": "no"}, "error: params.yaml: train.early_stopping: 'no' is not allowed; allowed: true or "
                                     "false"),
    ({"ensemble.method": "median"}, "error: params.yaml: ensemble.method: 'median' is not allowed; allowed: one of "
                                    "mean, vote"),
    ({"report.dpi": 0}, "error: params.yaml: report.dpi: 0 is not allowed; allowed: an integer from 1 to 600"),
    ({"report.dpi": 601}, "error: params.yaml: report.dpi: 601 is not allowed; allowed: an integer from 1 to 600"),
    ({"report.samples_per_class": 51}, "error: params.yaml: report.samples_per_class: 51 is not allowed; allowed: an "
                                       "integer from 1 to 50"),
    ({"epoch": 3}, "error: params.yaml: epoch: unknown key (did you mean 'epochs'?); allowed keys here: dataset"),
    ({"seed": DELETE}, "error: params.yaml: seed: missing; it is required"),
    ({"architectures.ensemble_cnn": DELETE}, "error: params.yaml: arch: 'ensemble_cnn' is not allowed; allowed: one of "
                                             "ensemble_cnn_bn, slim_cnn_bn, resnet"),
    ({"architectures": {}}, "error: architectures.yaml: (top level): {} is not allowed; allowed: a mapping of names"),
    ({"architectures.ensemble_cnn": []}, "error: architectures.yaml: ensemble_cnn: [] is not allowed; allowed: "
                                         "a non-empty list of {LayerType: {argument: value}}"),
    ({"architectures.ensemble_cnn": [{"Conv2D": {"filters": 8, "kernel_size": 3, "activation": "relux"}}]},
     "error: architectures.yaml: ensemble_cnn[0].activation: 'relux' is not allowed (did you mean 'relu'?); "
     "allowed: null or one of relu, sigmoid"),
    ({"members": list(range(0, 4000, 2)) + [0]}, "error: params.yaml: members: [0, 2, 4, 6, 8, 10, 12, 14, 16"),
    (DEFAULT_TEXT.replace("epochs: 25 ", "epochs: 25\nepochs: 30\n# "),
     f'error: params.yaml: not valid YAML at line {line_of("epochs: 25") + 1}: found duplicate key "epochs" with '
     'value "30"'),
    (DEFAULT_TEXT.encode().replace(b"batch_size: 128", b"batch_size: \xff128"),
     f"error: params.yaml: byte 0xff at line {line_of('batch_size: 128')} is not UTF-8; allowed: a UTF-8 text file"),
    ({"train": 5}, "error: params.yaml: train: 5 is not a mapping; allowed keys: optimizer"),
    (bombs.yaml_bomb(), "error: params.yaml: line 2: *l0 is an alias; allowed: each value written out (aliases only "
                        "as `<<: *name` in recipes.yaml)"),
    (DEFAULT_TEXT.replace("seed: 0 ", "seed: &s 0") + "\nlimit_as_seed: *s\n",
     f"error: params.yaml: line {len(DEFAULT_TEXT.splitlines()) + 2}: *s is an alias; allowed: each value written out"),
    ("epochs: [1,\n", "error: params.yaml: not valid YAML at line 2"),
    ("", "error: params.yaml: (top level): None is not a mapping; allowed keys: dataset"),
]


@pytest.mark.parametrize("change, refusal", PARAM_CASES, ids=[str(case[1])[20:60] for case in PARAM_CASES])
def test_a_bad_param_is_refused_by_the_first_stage(project, change, refusal):
    set_params(project, change)
    code, output = stage_output(project, "check")
    last = output.strip().splitlines()[-1]
    assert code == 1 and last.startswith(refusal), last
    assert len(last) <= 300 and "Traceback" not in output, last  # one readable line


@pytest.mark.parametrize("name", ["params.yaml", "architectures.yaml"])
def test_a_missing_params_file_is_named(project, name):
    (project / name).unlink()
    code, last = stage(project, "check")
    assert code == 1 and last == f"error: {name}: file not found"


def test_architectures_left_in_params_yaml_are_refused_with_where_they_live(project):
    with open(project / "params.yaml", "a", encoding="utf-8") as handle:
        handle.write("architectures:\n  mine: [{Flatten: {}}]\n")
    code, last = stage(project, "check")
    assert code == 1 and last == "error: params.yaml: architectures: unknown key; the architectures live in " \
                                 "architectures.yaml"


def write_csv(path, rows, header=None):
    header = header or ["label"] + [f"pixel{i}" for i in range(784)]
    path.write_text("\n".join(",".join(map(str, row)) for row in [header, *rows]) + "\n")


IMAGES = np.full((6, 784), 7, dtype=np.uint8)
LABELS = np.array([0, 1, 2, 0, 1, 2])


def csv_with(cell_row, cell_column, value):
    def write(path):
        rows = [[label, *image] for label, image in zip(LABELS, IMAGES.tolist())]
        rows[cell_row][cell_column] = value
        write_csv(path, rows)
    return write


def npz_with(**arrays):
    def write(path):
        np.savez(path, **{"features": IMAGES.astype(np.float32) / 255, "target": LABELS, **arrays})
    return write


def npz_without_target(path):
    np.savez(path, features=IMAGES)


def negative_pixel(path):
    features = IMAGES.astype(np.float32) / 255
    features[5, 30] = -0.5
    np.savez(path, features=features, target=LABELS)


def nan_pixel(path):
    features = IMAGES.astype(np.float32)
    features[2, 0] = np.nan
    np.savez(path, features=features, target=LABELS)


def garbage(path):
    path.write_bytes(b"this is not a zip archive")


def pickled(path):
    with open(path, "wb") as handle:
        pickle.dump({"features": IMAGES, "target": LABELS}, handle)


# (file name in data/own, how to write it, what the last line of the fetch stage must start with)
DATA_CASES = [
    ("pixel300.csv", csv_with(1, 5, 300), "error: data/own/pixel300.csv: row 3, pixel 4: 300 is out of range; allowed: "
                                         "pixels from 0 to 255 (or 0 to 1)"),
    ("word.csv", csv_with(1, 5, "dark"), "error: data/own/word.csv: row 3, column 'pixel4': 'dark' is not a number"),
    ("nolabel.csv", lambda path: write_csv(path, IMAGES.tolist(), [f"pixel{i}" for i in range(784)]),
     "error: data/own/nolabel.csv: no 'label' column in the header"),
    ("narrow.csv", lambda path: write_csv(path, [[0] * 784], ["label"] + [f"pixel{i}" for i in range(783)]),
     "error: data/own/narrow.csv: 783 pixel columns; allowed: 784 (28x28)"),
    ("empty.csv", lambda path: path.write_text(""), "error: data/own/empty.csv: the file is empty"),
    ("header.csv", lambda path: write_csv(path, []), "error: data/own/header.csv: holds no examples"),
    ("negative.npz", negative_pixel, "error: data/own/negative.npz: image 5, pixel 30: -0.5 is out of range; allowed: "
                                     "pixels from 0 to 255"),
    ("nan.npz", nan_pixel, "error: data/own/nan.npz: features or target hold NaN or infinite values"),
    ("notarget.npz", npz_without_target, "error: data/own/notarget.npz: no 'target' array; the file has features"),
    ("small.npz", npz_with(features=np.zeros((6, 27, 27))), "error: data/own/small.npz: features have shape "
                                                            "(6, 27, 27); allowed: (N, 784), (N, 28, 28)"),
    ("short.npz", npz_with(target=LABELS[:4]), "error: data/own/short.npz: 6 feature rows but 4 targets"),
    ("halves.npz", npz_with(target=LABELS + 0.5), "error: data/own/halves.npz: target holds non-integer labels such "
                                                  "as 0.5"),
    ("objects.npz", npz_with(target=np.array([{}, 1, 2, 0, 1, 2], dtype=object)),
     "error: data/own/objects.npz: Object arrays cannot be loaded when allow_pickle=False"),
    ("garbage.npz", garbage, "error: data/own/garbage.npz: not a readable .npz file"),
    ("pickled.pkl", pickled, "error: data/own/pickled.pkl: a .pkl file can only be read with pickle, which can run "
                             "code hidden in the file"),
    ("absent.npz", None, "error: data/own/absent.npz: file not found"),
    ("semicolons.csv", lambda path: path.write_text("label;" + ";".join(f"pixel{i}" for i in range(784)) + "\n"
                                                    + ";".join(["1"] * 785) + "\n"),
     "error: data/own/semicolons.csv: the values are separated by semicolons; allowed: commas"),
    ("bomb.npz", bombs.npz_bomb, "error: data/own/bomb.npz: features of shape (20000000, 28, 28) (uint8) would take "
                                 "15,680,000,000 bytes once read; allowed: at most 2,147,483,648 bytes (2 GiB)"),
    ("bomb.csv", bombs.sparse_csv_bomb, "error: data/own/bomb.csv: 2,148,"),
]


@pytest.mark.parametrize("name, write, refusal", DATA_CASES, ids=[case[0] for case in DATA_CASES])
def test_a_bad_data_file_is_refused_naming_file_place_and_rule(project, name, write, refusal):
    if write:
        write(project / "data" / "own" / name)
    set_params(project, {"dataset": f"data/own/{name}", "test_fraction": 0.2})
    assert stage(project, "check")[0] == 0
    code, last = stage(project, "fetch")
    assert code == 1 and last.startswith(refusal), last


@pytest.mark.parametrize("labels, test_fraction, refusal", [
    ([3, 3, 3, 3, 3, 3], 0.2, "error: data/own/one.npz: the training images hold 1 class (3) after classes, "
                              "test_fraction and limit; allowed: at least 2 classes"),
    ([0, 1, 2, 0, 1, 2], None, "error: params.yaml: test_fraction: null is not allowed with data/own/one.npz, which "
                               "has no test set of its own"),
])
def test_prepare_refuses_what_cannot_be_trained_before_writing(project, labels, test_fraction, refusal):
    np.savez(project / "data" / "own" / "one.npz", features=IMAGES, target=np.array(labels))
    set_params(project, {"dataset": "data/own/one.npz", "test_fraction": test_fraction, "limit": None})
    with fetched(project):
        code, last = stage(project, "prepare")
    assert code == 1 and last.startswith(refusal), last


@contextlib.contextmanager
def fetched(project):
    """The user's file fetched (a good fetch: data/raw/user/ and its timing), undone afterwards."""
    timing = project / "reports" / "timings" / "fetch.json"
    kept = timing.read_bytes()
    try:
        assert stage(project, "fetch")[0] == 0
        yield
    finally:
        shutil.rmtree(project / "data" / "raw" / "user", ignore_errors=True)
        timing.write_bytes(kept)


def test_single_class_after_limit_is_refused_in_prepare(project):
    """The first 3 of a file sorted by label are all one class: refused before data/prepared is rewritten."""
    labels = np.repeat([0, 1, 2], 10)  # 6 of the 30 become the test set: at least 4 zeros stay first
    np.savez(project / "data" / "own" / "sorted.npz", features=np.zeros((30, 784)), target=labels)
    set_params(project, {"dataset": "data/own/sorted.npz", "test_fraction": 0.2, "limit": 3})
    with fetched(project):
        code, last = stage(project, "prepare")
    assert code == 1 and last.startswith("error: data/own/sorted.npz: the training images hold 1 class (0)"), last


@pytest.mark.parametrize("setup, refusal", [
    (lambda folder: None, "lacks t10k-images-idx3-ubyte"),
    ("not a folder", "not a directory"),
])
def test_a_dataset_variable_that_does_not_work_is_an_error_not_a_fallback(project, fashion_dir, tmp_path, setup,
                                                                          refusal):
    folder = tmp_path / "fashion"
    if isinstance(setup, str):
        folder.write_text(setup)
    else:
        folder.mkdir()
        for path in fashion_dir.iterdir():
            if not path.name.startswith("t10k-images"):
                os.symlink(path, folder / path.name)
    code, last = stage(project, "fetch", env={"FASHION_MNIST_DIR": str(folder)})
    assert code == 1 and last.startswith(f"error: FASHION_MNIST_DIR={folder}: {refusal}"), last


def test_an_unusable_project_python_is_named(project):
    code, last = stage(project, "check", env={"PROJECT_PYTHON": "/nowhere/python"})
    assert code == 127 and last == ("python.sh: PROJECT_PYTHON=/nowhere/python is not an executable; allowed: the "
                                    "path or command name of a Python with this project's packages")


def damage(kind):
    def write(path):
        good = path.read_bytes()
        if kind == "garbage":
            path.write_bytes(b"not a model")
        elif kind == "truncated":
            path.write_bytes(good[:len(good) // 2])
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "other zip":
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr("notes.txt", "not a model")
        return good
    return write


@pytest.mark.parametrize("kind, reason", [
    ("truncated", "not a .keras file (not a zip archive: damaged or truncated)"),
    ("other zip", "not a loadable Keras model"),
])
def test_a_damaged_model_file_is_named_with_how_to_retrain_it(project, kind, reason):
    path = project / "models" / "member_0.keras"
    good = damage(kind)(path)
    try:
        code, last = stage(project, "evaluate")
    finally:
        path.write_bytes(good)
    assert code == 1 and last.startswith(f"error: models/member_0.keras: {reason}"), last
    assert last.endswith("; retrain it with `dvc repro -f train@0`")


@pytest.mark.parametrize("name, text, reason", [
    ("models/member_0/training.json", "{", "record is missing or unreadable (JSONDecodeError"),
    ("models/member_0/training.json", '{"best_epoch": 2, "epochs_run": 1}',
     "record is missing or unreadable (ValueError: the kept epoch 2 is not one of the 1 epochs run)"),
    ("models/member_0/training.json", '{"best_epoch": 1, "epochs_run": 1, "snapshot_epochs": [0, 1]}',
     "record is missing or unreadable (ValueError: the kept epoch 0 is not one of the 1 epochs run)"),
    ("models/member_0/training.json", '{"best_epoch": 1, "epochs_run": 1}',
     "record is missing or unreadable (KeyError: 'snapshot_epochs')"),
    ("live/train_0/plots/metrics/loss.tsv", "step\tloss\n", "history is missing or unreadable (ValueError: 0 rows"),
    ("live/train_0/plots/metrics/accuracy.tsv", "step\taccuracy\n3\t0.5\n",
     "history is missing or unreadable (ValueError: 1 rows, not one per epoch from step 0)"),
    ("live/train_0/plots/metrics/val_loss.tsv", "step\tval_loss\n0\t0.5\n1\t0.4\n",
     "2 epochs, not the 1 the member ran"),
])
def test_a_damaged_history_is_named_with_how_to_retrain_it(project, name, text, reason):
    path = project / name
    good = path.read_bytes()
    path.write_text(text)
    try:
        code, last = stage(project, "evaluate")
    finally:
        path.write_bytes(good)
    assert code == 1 and last.startswith(f"error: {name}: ") and reason in last, last
    assert last.endswith("retrain it with `dvc repro -f train@0`")


@pytest.mark.parametrize("change, refusal", [
    ({"architectures.ensemble_cnn": [{"Conv2D": {"filters": -3, "kernel_size": 3}}]},
     "error: architectures.yaml: ensemble_cnn[0]: Conv2D({'filters': -3, 'kernel_size': 3}): Invalid value for "
     "argument `filters`"),
    ({"max_params": 1000}, "error: architectures.yaml: ensemble_cnn: 331,450 parameters exceed max_params 1,000"),
])
def test_an_architecture_that_cannot_be_built_is_named_after_tensorflow_starts_quietly(project, change, refusal):
    set_params(project, change)
    code, last = stage(project, "train", "--member", "0")
    assert code == 1 and last.startswith(refusal), last


# --- through DVC, as a user meets them ---

@pytest.mark.parametrize("setting, refusal", [
    ("epochs=1.5", "error: params.yaml: epochs: 1.5 is not allowed; allowed: an integer >= 1"),
    ("ensemble.method=median", "error: params.yaml: ensemble.method: 'median' is not allowed; allowed: one of mean, "
                               "vote"),
    ("report.dpi=0", "error: params.yaml: report.dpi: 0 is not allowed; allowed: an integer from 1 to 600"),
])
def test_a_refused_exp_run_value_deletes_nothing(project, setting, refusal):
    """The check stage runs first and refuses the value before DVC removes any other stage's outputs."""
    output = dvc(project, "exp", "run", "-S", setting, check=False)
    assert refusal in output and ran(output) == ["check"]
    run(project, "git", "checkout", "--", "params.yaml")
    assert ran(dvc(project, "repro")) == []  # check's own output comes back from the run-cache


def test_a_refused_member_list_costs_no_training(project):
    """`dvc exp run` removes the outputs of stages the new member list drops before check refuses it;
    the next good repro restores them from the run-cache, byte for byte, training nothing."""
    output = dvc(project, "exp", "run", "-S", "members=[a]", check=False)
    assert "error: params.yaml: members: ['a'] is not allowed" in output
    run(project, "git", "checkout", "--", "params.yaml")
    output = dvc(project, "repro")
    assert ran(output) == [] and "Stage 'train@0' is cached - skipping run, checking out outputs" in output


def test_a_bad_data_file_through_dvc_costs_no_result(project):
    """fetch refuses the file after DVC removed data/raw; the next good repro restores it from the run-cache."""
    csv_with(1, 5, 300)(project / "data" / "own" / "bad.csv")
    output = dvc(project, "exp", "run", "-S", "dataset=data/own/bad.csv", "-S", "test_fraction=0.2", check=False)
    assert "error: data/own/bad.csv: row 3, pixel 4: 300 is out of range" in output
    (project / "data" / "own" / "bad.csv").unlink()
    run(project, "git", "checkout", "--", "params.yaml")
    assert ran(dvc(project, "repro")) == []


def test_a_training_killed_with_kill_9_leaves_nothing_in_tracked_folders(project):
    """Temporaries live in .tmp/, outside models/; the next stage that writes removes what a killed one left."""
    set_params(project, {"epochs": 50, "train.early_stopping": False})  # still training when killed
    log = project / "killed.log"
    with open(log, "w") as output:
        process = subprocess.Popen(["sh", "python.sh", "-m", "stages.train", "--member", "0"], cwd=project,
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 120
    while not training_started(log)():
        assert process.poll() is None and time.time() < deadline, "training ended early: " + log.read_text()[-2000:]
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    log.unlink()
    assert not [name for name in os.listdir(project / "models") if ".tmp" in name]
    run(project, "git", "checkout", "--", "params.yaml")
    assert stage(project, "check")[0] == 0  # any stage that writes cleans up


def test_an_edit_to_your_own_data_file_reruns_what_it_feeds(tmp_path):
    """fetch depends on data/own: editing the file in use reruns fetch and what its data feeds; editing another
    file there reruns fetch alone, whose output stays the same."""
    images = np.random.default_rng(0).integers(0, 256, size=(60, 784))
    repo = tmp_path / "own"
    (repo / "data" / "own").mkdir(parents=True)
    np.savez(repo / "data" / "own" / "mine.npz", features=images, target=np.arange(60) % 3)
    make_project(repo, dataset="data/own/mine.npz", test_fraction=0.2, members=[0], epochs=1)
    assert ran(dvc(repo, "repro", "prepare")) == ["check", "fetch", "prepare"]
    (repo / "data" / "own" / "notes.txt").write_text("another file")
    assert ran(dvc(repo, "repro", "prepare")) == ["fetch"]
    np.savez(repo / "data" / "own" / "mine.npz", features=images[:50], target=np.arange(50) % 3)
    assert ran(dvc(repo, "repro", "prepare")) == ["fetch", "prepare"]
    assert "num_train\": 40" in (repo / "data" / "prepared" / "meta.json").read_text()


# --- faults around the pipeline: signals, other and full disks, two experiments at once ---

def digests(folder):
    return {str(path.relative_to(folder)): hashlib.md5(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@contextlib.contextmanager
def filesystem(path, size):
    """A real tmpfs of `size` mounted at `path`; the test is skipped, with the reason, where none can be mounted."""
    path.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs at {path} (needs root): {(result.stderr or result.stdout).strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@contextlib.contextmanager
def on_other_disk(project, folder, disk, *kept):
    """`project/folder` moved onto `disk` with a symlink in its place (outputs on a bigger disk, a common set-up);
    afterwards the folder and the files `kept` are put back byte for byte."""
    source, backup = project / folder, disk.parent / f"{folder}.backup"
    shutil.copytree(source, backup, symlinks=True)
    kept_bytes = {path: (project / path).read_bytes() for path in kept}
    shutil.copytree(source, disk / folder, symlinks=True)
    shutil.rmtree(source)
    source.symlink_to(disk / folder, target_is_directory=True)
    try:
        yield disk / folder
    finally:
        source.unlink()
        shutil.copytree(backup, source, symlinks=True)
        for path, content in kept_bytes.items():
            (project / path).write_bytes(content)


def fill(disk):
    """Write zeros onto `disk` until it is full. Unbuffered: a buffered file would keep the part of its last
    write that did not fit and fail again on close, whenever the free space is not a whole number of writes."""
    with open(disk / "filler", "wb", buffering=0) as handle:
        with contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 2**16)


def test_outputs_on_another_filesystem_are_written_there(project, tmp_path):
    """export/ is a symlink to another filesystem: the temporaries are made there, so the rename works."""
    with filesystem(tmp_path / "disk", "256m") as disk, \
            on_other_disk(project, "export", disk, "reports/timings/export.json") as folder:
        before = digests(folder)
        code, last = stage(project, "export")
        assert code == 0 and last.startswith("export: 2 members"), last
        assert digests(folder).keys() == before.keys() and digests(folder) != before  # written anew, on that disk
        assert not [name for name in os.listdir(folder) if ".tmp" in name]


def test_a_full_disk_is_one_line_and_the_last_output_stays(project, tmp_path):
    with filesystem(tmp_path / "disk", "48m") as disk, on_other_disk(project, "export", disk) as folder:
        fill(disk)
        before = digests(folder)
        code, output = stage_output(project, "export")
        last = output.strip().splitlines()[-1]
        assert code == 1 and "Traceback" not in output, output[-3000:]
        assert last.startswith("error: export/ensemble.keras: cannot be written: no space left on the device "
                               f"({folder},"), last
        assert last.endswith("nothing was replaced: free some space or fix the folder, then run again")
        assert digests(folder) == before
        assert not [name for name in os.listdir(folder) if ".tmp" in name]


def test_a_read_only_folder_is_one_line_for_a_stage_and_for_predict(project, tmp_path):
    with filesystem(tmp_path / "disk", "48m") as disk, on_other_disk(project, "export", disk) as folder:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        before = digests(folder)
        code, output = stage_output(project, "export")
        last = output.strip().splitlines()[-1]
        assert code == 1 and "Traceback" not in output, output[-3000:]
        assert last.startswith("error: export/ensemble.keras: cannot be written: the folder is on a read-only "
                               "filesystem"), last
        result = subprocess.run([str(project / ".venv" / "bin" / "python"), "-m", "pipeline.predict", "--output",
                                 str(folder / "predictions.csv"), str(project / "reports" / "figures" / "samples.png")],
                                cwd=project, capture_output=True, text=True, env=stage_environment())
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
        assert lines[-1].startswith(f"error: {folder / 'predictions.csv'}: cannot be written: the folder is on a "
                                    "read-only filesystem"), lines[-1]
        assert digests(folder) == before


def default_signals():
    """In the child: the signals' default actions, as in a terminal (a CI runner or nohup may ignore SIGHUP)."""
    for each in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(each, signal.SIG_DFL)


@pytest.fixture
def started(project):
    """Start `dvc <arguments>` (or another `program` of .venv/bin) in `project`, output to a log, in a session of its
    own; whatever of it still runs
    after the test is killed, so that a failure does not leave a training behind for the next test."""
    processes = []

    def start(log, *arguments, program="dvc"):
        process = subprocess.Popen([str(project / ".venv" / "bin" / program), *arguments], cwd=project,
                                   stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=default_signals,
                                   env={**stage_environment(LIVE_OUTPUT), "DVC_NO_ANALYTICS": "1"})
        processes.append(process)
        return process
    yield start
    import psutil

    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


LIVE_OUTPUT = {"PYTHONUNBUFFERED": "1"}  # each epoch's line reaches the log as it is printed
LONG_TRAINING = {"epochs": 400, "train.early_stopping": False}  # far longer than any wait below


def wait_for(condition, what, seconds=180):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def training_process(dvc_process):
    """The Python process of the stage that `dvc_process` runs (below DVC, the `sh -c` it runs commands with)."""
    import psutil

    return next(child.pid for child in psutil.Process(dvc_process.pid).children(recursive=True)
                if "stages.train" in " ".join(child.cmdline()) and "python" in child.name())


def training_started(log):
    return lambda: re.search(r"train@\d+: epoch 1/", log.read_text())  # its first epoch's line: well into training


def gone(pid):
    """Whether process `pid` has ended (a zombie that no one has reaped yet counts as ended)."""
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def assert_restored_by_the_next_repro(project):
    """params.yaml back, then `dvc repro` trains nothing (the run-cache has the members) and leaves a clean status."""
    run(project, "git", "checkout", "--", "params.yaml")
    output = dvc(project, "repro")
    assert ran(output) == [], output[-2000:]
    assert "Data and pipelines are up to date." in dvc(project, "status")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_stopping_dvc_stops_the_training_and_the_next_repro_is_clean(project, started, tmp_path, signum):
    """Only DVC gets the signal (as from a scheduler or `kill`): the stage, its child, stops within seconds, its
    temporaries removed; nothing is written into models/ afterwards."""
    set_params(project, LONG_TRAINING)
    log = tmp_path / "dvc.log"
    process = started(log, "repro", "train@0")
    wait_for(training_started(log), "training to start")
    trainer = training_process(process)
    os.kill(process.pid, signum)
    process.wait(timeout=30)
    wait_for(lambda: gone(trainer), "the training process to stop", seconds=20)
    time.sleep(2)  # were it still training, it would write its member now
    assert not (project / "models" / "member_0.keras").exists()
    assert os.listdir(project / ".tmp") == []
    assert_restored_by_the_next_repro(project)


def test_dvc_stopped_as_its_stage_starts_stops_the_stage_too(project, started, tmp_path):
    """DVC ends the moment its stage's Python starts, before the stage can watch it (a Dask worker killed as a member
    starts takes its DVC with it): the `sh -c` in between then has another parent, and the stage stops at once."""
    set_params(project, LONG_TRAINING)
    log = tmp_path / "dvc.log"
    process = started(log, "repro", "train@0")
    deadline = time.time() + 180
    while True:  # polled often: the stage needs a few tens of milliseconds to start its watch
        with contextlib.suppress(StopIteration, psutil.Error):
            trainer = training_process(process)
            break
        assert time.time() < deadline, "timed out waiting for the stage to start"
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=30)
    wait_for(lambda: gone(trainer), "the stage to stop", seconds=30)
    output = log.read_text()
    assert ("error: stages.train: DVC, which started it, had ended before it began; nothing of it was written (its "
            "temporaries removed), and `dvc repro` runs it again") in output, output[-2000:]
    assert "train@0: epoch 1/" not in output and not (project / "models" / "member_0.keras").exists()
    assert_restored_by_the_next_repro(project)


def test_a_training_stopped_directly_reports_it_and_dvc_fails_the_stage(project, started, tmp_path):
    set_params(project, LONG_TRAINING)
    log = tmp_path / "dvc.log"
    process = started(log, "repro", "train@0")
    wait_for(training_started(log), "training to start")
    os.kill(training_process(process), signal.SIGTERM)
    assert process.wait(timeout=60) != 0
    output = log.read_text()
    assert ("error: stages.train: stopped by SIGTERM; nothing of it was written (its temporaries removed), and "
            "`dvc repro` runs it again") in output
    assert "ERROR: failed to reproduce 'train@0'" in output
    assert os.listdir(project / ".tmp") == []
    assert_restored_by_the_next_repro(project)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stage_stopped_by_a_signal_exits_as_a_shell_reports_it(project, tmp_path, signum, code):
    set_params(project, LONG_TRAINING)
    log = tmp_path / "stage.log"
    process = subprocess.Popen(["sh", "python.sh", "-m", "stages.train", "--member", "0"], cwd=project,
                               stdout=open(log, "w"), stderr=subprocess.STDOUT, env=stage_environment(LIVE_OUTPUT),
                               preexec_fn=default_signals)
    wait_for(training_started(log), "training to start")
    process.send_signal(signum)
    assert process.wait(timeout=60) == code
    lines = log.read_text().strip().splitlines()
    assert lines[-1] == (f"error: stages.train: stopped by {signal.Signals(signum).name}; nothing of it was written "
                         "(its temporaries removed), and `dvc repro` runs it again"), lines[-3:]
    assert "Traceback" not in log.read_text() and os.listdir(project / ".tmp") == []
    run(project, "git", "checkout", "--", "params.yaml")


def test_a_dvclive_file_taken_away_while_it_trains_is_one_line(project, tmp_path):
    """Another `dvc exp run` in this workspace stashes live/ and puts it back; DVCLive, which lists its folder and
    reads every file back as each epoch ends, then meets a file listed and gone (seen in CI). A dangling link is
    such a file, every time: the stage ends with one line naming it, writes nothing, and the next repro restores."""
    set_params(project, LONG_TRAINING)
    log = tmp_path / "stage.log"
    process = subprocess.Popen(["sh", "python.sh", "-m", "stages.train", "--member", "0"], cwd=project,
                               stdout=open(log, "w"), stderr=subprocess.STDOUT, env=stage_environment(LIVE_OUTPUT))
    wait_for(training_started(log), "training to start")
    taken = project / "live" / "train_0" / "plots" / "metrics" / "taken.tsv"
    taken.symlink_to(tmp_path / "nowhere.tsv")
    assert process.wait(timeout=120) == 1
    output = log.read_text()
    assert output.strip().splitlines()[-1] == (
        "error: live/train_0/plots/metrics/taken.tsv: taken away while the stage wrote it (another `dvc exp run` in "
        "this workspace stashes live/); nothing of this stage was recorded; run one experiment at a time, or several "
        "with `dvc exp run --queue` + `dvc queue start -j N`"), output[-3000:]
    assert "Traceback" not in output and os.listdir(project / ".tmp") == []
    taken.unlink()
    assert_restored_by_the_next_repro(project)


def test_a_second_experiment_started_meanwhile_cannot_change_the_first(project, started, tmp_path):
    """The second `dvc exp run` writes its value into params.yaml and fails (DVC: the workspace is busy); the first
    then refuses to record a member trained with other values than dvc.lock would say, and says how to recover.

    DVC's second run first stashes the workspace's changes (the first's params.yaml, and live/progress.json, which
    the first rewrites every epoch) and puts them back; when that fails ("Stash apply resulted in merge conflicts",
    seen on a loaded CI machine), params.yaml may be left as committed, which the first refuses just the same, or
    as the first wrote it, and then the first run is simply not disturbed. Either way dvc.lock records what
    trained. The stash may also take the first's live/ files away for a moment (seen once in CI), which ends the
    first run with one line (the test above); dvc.lock is safe that way too."""
    log = tmp_path / "first.log"
    first = started(log, "exp", "run", "-S", "epochs=60", "-S", "train.early_stopping=false")
    wait_for(training_started(log), "the first experiment's training to start")
    second = dvc(project, "exp", "run", "-S", "epochs=3", check=False)
    assert any(refusal in second for refusal in ("Unable to acquire lock", "busy", "Stash apply resulted in merge "
                                                 "conflicts")), second[-2000:]
    disturbed = yaml.safe_load((project / "params.yaml").read_text())["epochs"] != 60
    code = first.wait(timeout=300)
    output = log.read_text()
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    run(project, "git", "stash", "clear")  # what DVC could not put back, if it could not
    stash_took_live_files = re.search(r"^error: live/train_0/\S+: taken away while the stage wrote it", output, re.M)
    refused = ("error: params.yaml: changed during this run, after stage train@0 (another `dvc exp run` here?); "
               "its outputs are not recorded; get it back with `git checkout params.yaml` (or `dvc exp apply "
               "<exp>`); for several experiments at once: `dvc exp run --queue` + `dvc queue start -j N`")
    if disturbed or stash_took_live_files:
        assert code != 0
        assert stash_took_live_files or refused in output, output[-3000:]
        assert lock["stages"]["train@0"]["params"]["params.yaml"]["epochs"] == 1  # still the good run's entry
        assert_restored_by_the_next_repro(project)
    else:  # back to the good run: its members from the run-cache; the report (its outputs are git's) is made again
        assert code == 0, output[-3000:]
        assert lock["stages"]["train@0"]["params"]["params.yaml"]["epochs"] == 60  # what it trained with
        run(project, "git", "checkout", "--", "params.yaml")
        assert ran(dvc(project, "repro")) == ["report"]
        assert "Data and pipelines are up to date." in dvc(project, "status")


def test_stopping_the_cluster_runner_stops_its_workers_and_their_trainings(project, started, tmp_path):
    """SIGTERM to `python -m pipeline.cluster --local 2` alone, as a scheduler sends it: its LocalCluster's workers,
    their `dvc repro train@<i>` and the trainings stop too, nothing is half-written in the project; the next repro
    restores the members."""
    import psutil

    set_params(project, {**LONG_TRAINING, "train.threads": 1})
    log = tmp_path / "cluster.log"
    parent = started(log, "-m", "pipeline.cluster", "--local", "2", program="python")

    wait_for(lambda: len(trainings(parent.pid)) == 2, "both members to train")
    below = psutil.Process(parent.pid).children(recursive=True)
    os.kill(parent.pid, signal.SIGTERM)
    assert parent.wait(timeout=90) == 143
    assert log.read_text().strip().splitlines()[-1] == (
        "error: cluster: stopped by SIGTERM; every task was stopped and nothing it had not finished reached the "
        "remote; run the command again to go on")
    wait_for(lambda: all(gone(process.pid) for process in below), "every process below it to end", seconds=30)
    assert os.listdir(project / ".tmp") == []
    assert_restored_by_the_next_repro(project)


def test_predict_refuses_each_bomb_from_its_claim(project, tmp_path):
    """`pipeline.predict` on three files that claim 15.7 GB or more: three lines naming file, claim and bound; its
    peak memory is that of classifying three images, give or take bombs.PEAK_LIMIT_MB."""
    files = {"bomb.npz": bombs.npz_bomb, "bomb-idx3-ubyte.gz": bombs.gzip_idx_bomb, "bomb.csv.gz": bombs.csv_gz_bomb}
    for name, write in files.items():
        write(tmp_path / name)
    np.savez(tmp_path / "good.npz", features=IMAGES[:3])
    good_code, good_errors, good_peak = predict_peak(project, [tmp_path / "good.npz"])
    code, errors, peak = predict_peak(project, [tmp_path / name for name in files])
    assert good_code == 0 and code == 1, good_errors + errors
    lines = errors.strip().splitlines()[-4:]
    assert [line.split(": ")[1] for line in lines[:3]] == [str(tmp_path / name) for name in files], lines
    assert all("would take" in line and "allowed: at most 2,147,483,648 bytes (2 GiB)" in line for line in lines[:3])
    assert lines[3] == "error: 3 of 3 files not classified (see above)"
    assert peak < good_peak + bombs.PEAK_LIMIT_MB, (peak, good_peak)


def predict_peak(project, paths):
    """(exit code, stderr, peak memory in MB) of `python -m pipeline.predict PATHS` in `project`."""
    script = ("import runpy, sys\nsys.argv = ['predict', *sys.argv[1:]]\ntry:\n"
              "    runpy.run_module('pipeline.predict', run_name='__main__')\nexcept SystemExit as end:\n"
              f"    code = end.code\nprint(code, {bombs.PEAK_MB})\n")
    result = subprocess.run([str(project / ".venv" / "bin" / "python"), "-c", script, *map(str, paths)], cwd=project,
                            capture_output=True, text=True, env=stage_environment())
    code, peak = result.stdout.split()[-2:]
    return int(code), result.stderr, int(peak)
