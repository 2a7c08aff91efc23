"""The studies' settings end to end on a user's own file: the real `dvc` CLI in a temporary git repository."""
import json
import pickle

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.datasets import decompress, parse_idx

from conftest import ROOT
from project import dvc, full_run, make_project, ran, run


@pytest.fixture(scope="module")
def study_repo(tmp_path_factory, fashion_dir):
    """Study 002's setting on the user's own .npz: labels 1..5, a fixed 90/5/5 split, cnn_bn, majority vote."""
    project = tmp_path_factory.mktemp("study")
    x, y = (parse_idx(decompress((fashion_dir / f"train-{kind}-idx{dims}-ubyte.gz").read_bytes(), kind), kind)[:600]
            for kind, dims in (("images", 3), ("labels", 1)))
    x = x / 255.0
    keep = y < 5  # five classes, labelled 1..5 as in 002's file, pixels already in [0, 1]
    (project / "data" / "own").mkdir(parents=True)
    np.savez(project / "data" / "own" / "mine.npz", features=x[keep], target=y[keep] + 1)
    make_project(project, dataset="data/own/mine.npz", members=[0, 1], epochs=2, arch="cnn_bn", split="fixed",
                 test_fraction=0.05, normalize="standardize", classes=[0, 1, 2, 4],
                 train={**yaml.safe_load((ROOT / "params.yaml").read_text())["train"], "optimizer": "sgd"},
                 ensemble={"method": "vote", "tta": []})
    output = dvc(project, "repro")
    assert ran(output) == full_run([0, 1])
    return project


def test_users_npz_with_class_subset_fixed_split_and_vote(study_repo):
    meta = json.loads((study_repo / "data" / "prepared" / "meta.json").read_text())
    assert meta["class_names"] == ["1", "2", "3", "5"]  # the file's own labels, relabelled 0..3
    assert meta["num_test"] == round(0.05 * (meta["num_train"] + meta["num_test"]))
    predictions = pd.read_csv(study_repo / "reports" / "test_predictions.csv", dtype=str)
    assert set(predictions["actual"]) <= {"1", "2", "3", "5"}
    report = (study_repo / "reports" / "report.md").read_text()
    assert "## Ensemble (majority vote of the members)" in report
    assert "one validation part held out for every member" in report
    validation = pd.read_csv(study_repo / "reports" / "members.csv", index_col="member")["val_loss"]
    assert validation.notna().all()
    assert ran(dvc(study_repo, "repro")) == []
    # a pickle file is refused before any work, naming pickle and the opt-in key
    with open(study_repo / "data" / "own" / "mine.pkl", "wb") as handle:
        pickle.dump({"features": np.zeros((4, 784)), "target": np.arange(4)}, handle)
    output = dvc(study_repo, "exp", "run", "-S", "dataset=data/own/mine.pkl", check=False)
    assert ("error: data/own/mine.pkl: a .pkl file can only be read with pickle, which can run code hidden in the "
            "file; convert it to .npz, or set allow_pickle: true in params.yaml if you trust it") in output
    run(study_repo, "git", "checkout", "--", "params.yaml")


def test_study_004_setting_trains_without_validation(study_repo):
    output = dvc(study_repo, "exp", "run", "-S", "split=none", "-S", "train.early_stopping=false",
                 "-S", "train.keep_best=false", "-S", "members=[0]")
    assert "train@0" in ran(output)
    members = pd.read_csv(study_repo / "reports" / "members.csv", index_col="member")
    assert members["val_loss"].isna().all() and members.loc["member_0", "best_epoch"] == 2
    summary = json.loads((study_repo / "data" / "predictions" / "members.json").read_text())
    assert summary["training"]["device"] == "cpu"
    assert summary["validation"] == {"mean_accuracy": None, "mean_loss": None}
    assert json.loads((study_repo / "reports" / "metrics.json").read_text())["members"]["mean_val_accuracy"] is None
    dvc(study_repo, "plots", "show", "-o", "plots_page")  # validation curves are empty, not an error
    assert "Training loss per member" in (study_repo / "plots_page" / "index.html").read_text()
