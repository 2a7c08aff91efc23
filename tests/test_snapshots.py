"""End to end through the real `dvc` CLI: train.snapshots K makes each member's run K ensemble members, one stage
run each, cached and restored like any member's files."""
import hashlib
import json
import shutil

import pandas as pd

from project import dvc, ran

SNAPSHOTS = ["-S", "train.snapshots=2", "-S", "train.lr_schedule=cosine", "-S", "train.early_stopping=false",
             "-S", "train.keep_best=false", "-S", "epochs=2"]


def digests(folder):
    return {path.relative_to(folder): hashlib.md5(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_snapshot_members_run_through_dvc_and_come_back_from_the_run_cache(first_run):
    repo = first_run
    output = dvc(repo, "exp", "run", *SNAPSHOTS)
    assert "train@0: 2 epochs, snapshots at epochs 1 and 2 -> models/member_0.keras" in output
    members = pd.read_csv(repo / "reports/members.csv", index_col="member")
    assert list(members.index) == ["member_0.1", "member_0.2", "member_1.1", "member_1.2", "average"]
    assert json.loads((repo / "export/ensemble.json").read_text())["members"] == ["0.1", "0.2", "1.1", "1.2"]
    models = digests(repo / "models")
    assert "member_0/snapshot_1.keras" in {str(path) for path in models}

    shutil.rmtree(repo / "models")  # every member's snapshots: back from the cache, nothing retrains
    output = dvc(repo, "repro")
    assert ran(output) == [] and digests(repo / "models") == models

    output = dvc(repo, "exp", "run", "-S", "train.snapshots=1", "-S", "epochs=2")  # cosine, two plain members
    assert {"train@0", "train@1", "evaluate"} <= set(ran(output))
    assert list(pd.read_csv(repo / "reports/members.csv")["member"]) == ["member_0", "member_1", "average"]
    assert not (repo / "models/member_0/snapshot_1.keras").exists()
