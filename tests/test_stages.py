"""Every stage's main() called in-process, in order, on a tiny project folder: no DVC, no subprocess (flax's way).

The data is a user's own .npz of 300 synthetic 28x28 images in 3 classes (a bright square in one of three places),
so fetch runs offline and the members learn something in one epoch. The end-to-end tests run the same stages
through the real `dvc` CLI (test_pipeline.py).
"""
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline import paths
from pipeline.members import HISTORY_KEYS, read_history
from stages import check, ensemble, evaluate, export, fetch, prepare, report, train

from conftest import ROOT

IMAGES_PER_CLASS = 100


def tiny_images(rng):
    """(features, target): IMAGES_PER_CLASS noisy images per class, class k a 10x10 square at column 2 + 8k."""
    features = rng.uniform(0, 60, size=(3 * IMAGES_PER_CLASS, 28, 28))
    target = np.repeat(np.arange(3), IMAGES_PER_CLASS)
    for index, label in enumerate(target):
        features[index, 9:19, 2 + 8 * label:12 + 8 * label] += 180
    return features.round().astype(np.uint8), target


def make_folder(folder, **changes):
    """A folder with params.yaml (2 members, 1 epoch, the tiny file, a carved test set, then `changes`: top-level
    values, `train` a dict of train.* values), architectures.yaml and the code."""
    shutil.copy(ROOT / paths.ARCHITECTURES, folder / paths.ARCHITECTURES)
    for package in ("pipeline", "stages"):  # check reads the stages' source for their keys
        (folder / package).symlink_to(ROOT / package, target_is_directory=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(dataset="data/own/tiny.npz", test_fraction=0.2, members=[0, 1], epochs=1, batch_size=32)
    params["train"].update(changes.pop("train", {}))
    params.update(changes)
    params["report"].update(samples_per_class=2, misclassified=4, dpi=40)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (folder / paths.OWN_DATA_DIR).mkdir(parents=True)
    features, target = tiny_images(np.random.default_rng(0))
    np.savez(folder / paths.OWN_DATA_DIR / "tiny.npz", features=features, target=target)
    return folder


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("stages"))


@pytest.fixture
def inside(project, monkeypatch):
    """Run in the project folder, as DVC runs a stage."""
    monkeypatch.chdir(project)
    return project


def read(path):
    return json.loads(path.read_text())


def test_check_writes_a_key_per_stage(inside):
    check.main()
    for stage in paths.KEYED_STAGES:
        assert "modules" in read(inside / paths.key_path(stage)), stage
    assert "versions" in read(inside / paths.key_path("train"))


def test_fetch_and_prepare_store_the_file_and_carve_a_test_set(inside):
    fetch.main()
    prepare.main()
    meta = read(inside / paths.PREPARED_DIR / "meta.json")
    assert (meta["num_train"], meta["num_test"]) == (240, 60)  # 0.2 of 300 carved out
    assert meta["class_names"] == ["0", "1", "2"]
    x_train = np.load(inside / paths.PREPARED_DIR / "x_train.npy")
    assert x_train.shape == (240, 28, 28, 1) and x_train.dtype == np.float32
    assert 0 <= x_train.min() < x_train.max() <= 1
    assert (inside / paths.timing_path("prepare")).exists()


def test_train_writes_each_member_its_record_its_live_history_and_the_run_progress(inside, capsys):
    for member in (0, 1):
        train.main(["--member", str(member)])
        record = read(inside / paths.record_path(member))
        assert record["epochs_run"] == 1 and record["best_epoch"] == 1
        assert (inside / paths.model_path(member)).stat().st_size > 0
        history = read_history(member, 1)  # DVCLive's files, where dvc.yaml declares them
        assert set(history) == set(HISTORY_KEYS) and all(len(values) == 1 for values in history.values())
        assert read(inside / paths.live_dir(member) / "metrics.json")["step"] == 0
        assert read(inside / paths.PROGRESS) == {"progress": {"done": member + 1, "of": 2}}
    lines = capsys.readouterr().out.splitlines()  # not a terminal: one line per epoch, no progress bar
    assert lines[0].startswith("train@0: member 1 of 2, at most 1 epochs; ")
    assert [line for line in lines if ": epoch " in line][0].startswith("train@0: epoch 1/1 in ")
    assert re.fullmatch(r"train@0: member 1 of 2 done in \d+ s; 1 left at about \d+ s each: the members should end "
                        r"about \d\d:\d\d", lines[lines.index(next(x for x in lines if "done in" in x))])
    assert re.fullmatch(r"train@1: member 2 of 2 done in \d+ s; the last member", lines[-1])


def test_a_member_outside_members_is_refused(inside):
    with pytest.raises(Exception, match=r"does not include --member 5"):
        train.main(["--member", "5"])


def test_evaluate_ensemble_export_and_report(inside):
    evaluate.main()
    members = pd.read_csv(inside / paths.MEMBERS_CSV, index_col="member")
    assert list(members.index) == ["member_0", "member_1", "average"]
    ensemble.main()
    metrics = read(inside / paths.METRICS)
    assert metrics["ensemble"]["test_accuracy"] > 0.5  # three squares in three places: far above chance (1/3)
    export.main()
    card = read(inside / paths.MODEL_CARD)
    assert card["members"] == [0, 1] and card["largest_gap_to_test_predictions"] <= 1e-5
    report.main()
    text = (inside / paths.REPORT_MD).read_text()
    assert text.startswith("# data/own/tiny.npz: an ensemble of 2 CNNs")
    for stage in paths.timed_stages([0, 1]):
        assert f"| {stage} |" in text, stage


def test_snapshots_are_ensemble_members_in_every_stage(tmp_path, monkeypatch, capsys):
    """train.snapshots 2: each member's run gives two members, which evaluate, ensemble, export and report treat like
    any member; the run's history is one, whatever its snapshots."""
    monkeypatch.chdir(make_folder(tmp_path, epochs=4, train={"snapshots": 2, "lr_schedule": "cosine",
                                                             "early_stopping": False, "keep_best": False}))
    for stage in (check, fetch, prepare):
        stage.main()
    for member in (0, 1):
        train.main(["--member", str(member)])
        assert read(tmp_path / paths.record_path(member))["snapshot_epochs"] == [2, 4]
        assert (tmp_path / paths.snapshot_path(member, 1)).stat().st_size > 0
        assert not (tmp_path / paths.snapshot_path(member, 2)).exists()  # the last is models/member_<i>.keras
    assert "train@1: 4 epochs, snapshots at epochs 2 and 4 -> models/member_1.keras" in capsys.readouterr().out
    evaluate.main()
    members = pd.read_csv(tmp_path / paths.MEMBERS_CSV, index_col="member")
    assert list(members.index) == ["member_0.1", "member_0.2", "member_1.1", "member_1.2", "average"]
    assert list(members["best_epoch"][:4]) == [2, 4, 2, 4]
    with np.load(tmp_path / paths.PREDICTIONS) as stored:
        assert list(stored["members"]) == ["0.1", "0.2", "1.1", "1.2"]
        assert len({probabilities.tobytes() for probabilities in stored["test"]}) == 4  # four models, not one twice
    curves = pd.read_csv(tmp_path / paths.TRAINING_CURVES)
    assert sorted(set(curves["member"])) == [0, 1] and len(curves) == 8
    ensemble.main()
    assert read(tmp_path / paths.METRICS)["ensemble"]["test_accuracy"] > 0.5
    export.main()
    card = read(tmp_path / paths.MODEL_CARD)
    assert card["members"] == ["0.1", "0.2", "1.1", "1.2"] and card["largest_gap_to_test_predictions"] <= 1e-5
    report.main()
    assert (tmp_path / paths.REPORT_MD).read_text().startswith("# data/own/tiny.npz: an ensemble of 4 CNNs")
