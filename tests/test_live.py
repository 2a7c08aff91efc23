"""A run seen while it trains: the files dvc.yaml declares grow epoch by epoch, and DVC's own views show them."""
import json
import os
import signal
import subprocess
import time

from pipeline.members import metric_file
from pipeline.paths import PROGRESS, live_dir, model_path

from project import BARE_PATH, dvc

WAIT_S = 300  # for the member's third epoch: start-up is most of it


def rows(path):
    """The data rows of a DVCLive file (0 while it does not exist)."""
    return len(path.read_text().splitlines()) - 1 if path.exists() else 0


def test_dvc_plots_show_and_exp_show_see_the_epochs_of_a_member_still_training(first_run):
    repo = first_run
    log = repo / "live-run.log"
    # early stopping off and many epochs: the member is still training when the views are read, then stopped
    command = [str(repo / ".venv" / "bin" / "dvc"), "exp", "run", "-S", "epochs=400", "-S", "members=[0]",
               "-S", "train.early_stopping=false"]
    with open(log, "w") as output:
        run = subprocess.Popen(command, cwd=repo, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                               env={"PATH": BARE_PATH, "HOME": os.environ["HOME"], "DVC_NO_ANALYTICS": "1"})
    try:
        losses = repo / metric_file(live_dir(0), "val_accuracy")
        deadline = time.monotonic() + WAIT_S
        while rows(losses) < 3 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert rows(losses) >= 3, log.read_text()[-3000:]
        assert not (repo / model_path(0)).exists()  # still training: its model is written at the end

        plots = json.loads(dvc(repo, "plots", "show", "--json"))["data"]
        live = {name: plot for name, plot in plots.items() if name.startswith(live_dir(0))}
        assert {os.path.basename(name) for name in live} >= {"loss.tsv", "val_accuracy.tsv"}, sorted(plots)
        values = live[metric_file(live_dir(0), "val_accuracy")][0]["content"]["data"]["values"]
        assert [int(point["step"]) for point in values][:3] == [0, 1, 2]

        shown = json.loads(dvc(repo, "exp", "show", "--json", "--no-fetch"))
        workspace = next(row for row in shown if row["rev"] == "workspace")
        progress = workspace["data"]["metrics"][PROGRESS]["data"]["progress"]
        assert (progress["done"], progress["of"], progress["member"]) == (0, 1, 0)
        assert progress["epoch"] >= 3 and 0 <= progress["val_accuracy"] <= 1
        assert "train@0: member 1 of 1, at most 400 epochs" in log.read_text()
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(60)
