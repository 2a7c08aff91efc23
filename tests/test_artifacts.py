"""The `cnn-ensemble` artifact (dvc.yaml's `artifacts:`) from another folder: gto versions it, `dvc artifacts get`
downloads it from the committed local-folder remote, and pipeline.predict uses it (docs/model.md)."""
import io
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.runtime.errors import PipelineError

from project import BARE_PATH, run

BIN = pathlib.Path(sys.prefix) / "bin"  # the project's .venv (make_project links the test repositories to it)
DVC, GTO, PYTHON = str(BIN / "dvc"), str(BIN / "gto"), str(BIN / "python")


@pytest.fixture(scope="module")
def published(first_run, tmp_path_factory):
    """(the team's folder, its repository): a git clone of the first run at <team>/project whose export is in the
    remote its committed .dvc/config names (../../cnn-ensembles-dvc-storage from .dvc/, so a folder in <team>) and
    nowhere else (no cache of its own), with cnn-ensemble v0.0.1 registered by gto and assigned to stage prod."""
    team = tmp_path_factory.mktemp("team")
    run(team, "git", "clone", "-q", str(first_run), "project")
    repo = team / "project"
    run(repo, "git", "config", "user.email", "test@example.com")  # gto's tags are annotated: they need a tagger
    run(repo, "git", "config", "user.name", "test")
    run(repo, DVC, "config", "--local", "cache.dir", str(first_run / ".dvc" / "cache"))  # the trained files, read
    assert "2 files pushed" in run(repo, DVC, "push", "export/ensemble.keras", "export/ensemble.json")
    run(repo, DVC, "config", "--local", "--unset", "cache.dir")
    assert "cnn-ensemble@v0.0.1" in run(repo, GTO, "register", "cnn-ensemble")
    run(repo, GTO, "assign", "cnn-ensemble", "--version", "v0.0.1", "--stage", "prod")
    shown = run(repo, GTO, "show")
    assert "cnn-ensemble" in shown and "#prod" in shown and shown.count("v0.0.1") == 2, shown
    return team, repo


def test_a_local_path_gets_the_artifact_from_the_committed_remote(published, first_run, tmp_path):
    team, repo = published
    (tmp_path / "model").mkdir()  # an existing folder: the file goes into it under its own name
    output = run(tmp_path, DVC, "artifacts", "get", str(repo), "cnn-ensemble", "-o", "model")
    assert "Downloaded 1 file(s) to 'model/ensemble.keras'" in output
    exported = first_run / "export" / "ensemble.keras"
    assert (tmp_path / "model" / "ensemble.keras").read_bytes() == exported.read_bytes()
    assert not (repo / ".dvc" / "cache").exists()  # so it came from <team>/cnn-ensembles-dvc-storage


def test_a_url_needs_the_remote_named_and_gets_a_version_and_its_card(published, first_run, tmp_path):
    """A URL is cloned into a temporary folder, where the committed relative remote names no folder; naming the
    remote's folder (--remote-config url=...) gets the version, the stage, and with `dvc get` the model card."""
    team, repo = published
    url, remote = f"file://{repo}", f"url={team / 'cnn-ensembles-dvc-storage'}"
    (tmp_path / "model").mkdir()
    failed = run(tmp_path, DVC, "artifacts", "get", url, "cnn-ensemble", "-o", "model", check=False)
    assert "No storage files available: 'export/ensemble.keras'" in failed, failed
    run(tmp_path, DVC, "artifacts", "get", url, "cnn-ensemble", "--rev", "v0.0.1", "-o", "model",
        "--remote-config", remote)
    run(tmp_path, DVC, "artifacts", "get", url, "cnn-ensemble", "--stage", "prod", "-o", "prod.keras",
        "--remote-config", remote)
    run(tmp_path, DVC, "get", url, "export/ensemble.json", "--rev", "cnn-ensemble@v0.0.1", "-o", "model",
        "--remote-config", remote)
    exported = first_run / "export"
    assert (tmp_path / "model" / "ensemble.keras").read_bytes() == (exported / "ensemble.keras").read_bytes()
    assert (tmp_path / "prod.keras").read_bytes() == (exported / "ensemble.keras").read_bytes()
    assert (tmp_path / "model" / "ensemble.json").read_bytes() == (exported / "ensemble.json").read_bytes()

    # the downloaded model, with its card beside it, classifies as the ensemble did (on the first run's test images)
    x_test = np.load(first_run / "data" / "prepared" / "x_test.npy")
    pictures = [tmp_path / f"test_{index}.png" for index in range(8)]
    for picture, image in zip(pictures, x_test):
        Image.fromarray((image[:, :, 0] * 255).round().astype(np.uint8)).save(picture)
    result = subprocess.run([PYTHON, "-m", "pipeline.predict", "--model", "model/ensemble.keras", *map(str, pictures)],
                            cwd=tmp_path, env={"PATH": BARE_PATH}, capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    expected = pd.read_csv(first_run / "reports" / "test_predictions.csv", index_col="index")
    assert list(pd.read_csv(io.StringIO(result.stdout))["predicted"]) == list(expected["predicted"][:8])

    from pipeline.predict import load_model  # the model alone has no class names: one line saying how to get them
    with pytest.raises(PipelineError, match=r"ensemble.json: missing \(the class names, kept beside the model\); .*"
                                            r"`dvc get <repository> export/ensemble.json"):
        load_model(str(tmp_path / "prod.keras"), str(tmp_path / "ensemble.json"))
