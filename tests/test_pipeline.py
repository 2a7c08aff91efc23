"""End to end: the real `dvc` CLI in a temporary git repository, on a slice of real data."""
import html
import importlib.metadata
import io
import json
import os
import re
import subprocess
import time
import zipfile

import numpy as np
import pandas as pd
import pytest

from pipeline.acceleration import cpu_flags

from conftest import ROOT
from project import BARE_PATH, dvc, make_project, ran, run


@pytest.fixture(scope="module")
def repo(first_run):
    """The project after its first run (conftest.first_run)."""
    return first_run


def test_first_run_writes_reports_and_metrics(repo):
    metrics = json.loads((repo / "reports" / "metrics.json").read_text())
    assert {group: sorted(values) for group, values in metrics.items()} == {
        "ensemble": ["gain_over_mean_member", "test_accuracy", "test_loss"],
        "members": ["best_test_accuracy", "mean_test_accuracy", "mean_val_accuracy"],
        "training": ["device", "inter_op_threads", "intra_op_threads", "precision"]}  # the rest: in the report
    assert 0.1 < metrics["ensemble"]["test_accuracy"] <= 1.0  # 1 epoch on 480 images: above chance
    assert metrics["members"]["best_test_accuracy"] >= metrics["members"]["mean_test_accuracy"]
    members = pd.read_csv(repo / "reports" / "members.csv", index_col="member")
    assert list(members.index) == ["member_0", "member_1", "average"]
    assert members.loc["average", "test_accuracy"] == pytest.approx(members["test_accuracy"][:2].mean(), abs=1e-5)
    assert members.loc["average", "test_accuracy"] == pytest.approx(metrics["members"]["mean_test_accuracy"], abs=1e-5)
    predictions = pd.read_csv(repo / "reports" / "test_predictions.csv")
    assert len(predictions) == 600 and "T-shirt/top" in set(predictions["actual"])
    assert (predictions["actual"] == predictions["predicted"]).mean() == pytest.approx(
        metrics["ensemble"]["test_accuracy"], abs=1e-6)
    curves = pd.read_csv(repo / "reports" / "training_curves.csv")
    assert sorted(curves["member"]) == [0, 1] and list(curves["epoch"]) == [1, 1]
    assert (repo / "models" / "member_1.keras").exists()
    member = repo / "models" / "member_1"
    assert os.listdir(member) == ["training.json"]  # the history is DVCLive's, in live/train_1/
    history = pd.read_csv(repo / "live" / "train_1" / "plots" / "metrics" / "val_accuracy.tsv", sep="\t")
    assert list(history.columns) == ["step", "val_accuracy"] and len(history) == 1
    assert history["val_accuracy"][0] == pytest.approx(curves["val_accuracy"][1], abs=1e-6)
    record = json.loads((member / "training.json").read_text())
    assert record["best_epoch"] == 1 and record["epochs_run"] == 1
    assert json.loads((repo / "live" / "progress.json").read_text()) == {"progress": {"done": 2, "of": 2}}
    summary = json.loads((repo / "data" / "predictions" / "members.json").read_text())
    assert summary["validation"]["mean_accuracy"] == pytest.approx(members.loc["average", "val_accuracy"], abs=1e-5)
    assert metrics["members"]["mean_val_accuracy"] == summary["validation"]["mean_accuracy"]
    training = summary["training"]
    bf16 = bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    assert training == {"backend": "tensorflow", "device": "cpu", "precision": "mixed_bfloat16" if bf16 else "float32",
                        "jit_compile": False, "steps_per_execution": 32 if bf16 else 1, "validation_batch_size": 1024,
                        "intra_op_threads": len(os.sched_getaffinity(0)),
                        "inter_op_threads": len(os.sched_getaffinity(0))}
    assert {key: record[key] for key in training} == training
    assert metrics["training"] == {key: training[key] for key in metrics["training"]}


def test_another_training_package_version_retrains_every_member(repo):
    """check writes the installed TensorFlow, Keras and NumPy versions into train's key (data/keys/train.json):
    under another version (the key as that install would write it) every member is out of date, and no other
    stage downstream of check but through the members."""
    path = repo / "data" / "keys" / "train.json"
    key = json.loads(path.read_text())
    assert key["versions"]["keras"] == f"keras {importlib.metadata.version('keras')}"
    assert key["versions"]["numpy"] == f"numpy {importlib.metadata.version('numpy')}"
    path.write_text(json.dumps({**key, "versions": {**key["versions"], "numpy": "numpy 0.0.1"}}))
    status = json.loads(dvc(repo, "status", "--json"))
    assert sorted(status) == ["check", "train@0", "train@1"]
    assert status["train@0"] == [{"changed deps": {"data/keys/train.json": "modified"}}]
    dvc(repo, "checkout", "--force", "data/keys")
    assert json.loads(path.read_text()) == key and "up to date" in dvc(repo, "status")


@pytest.mark.parametrize("module, stages", [
    ("pipeline/plots.py", ["check", "report"]),  # only the report draws
    ("pipeline/prepared.py", ["check", "ensemble", "evaluate", "export", "prepare", "report", "train@0", "train@1"]),
    ("pipeline/runtime/errors.py", ["check"]),  # in no key (pipeline.runtime.keys.NOT_KEYED): retrains nothing
])
def test_a_module_edit_reruns_exactly_the_stages_that_import_it(repo, module, stages):
    """The keys follow the imports: an edit to a module reruns check and then exactly the stages whose key names it
    (here a comment only, so each rerun stage writes what it wrote before)."""
    path = repo / module
    text = path.read_text()
    path.write_text(text + "# an edit\n")
    try:
        assert ran(dvc(repo, "repro")) == stages
    finally:
        path.write_text(text)
        run(repo, "git", "checkout", "--", ".")  # dvc.lock and the report as committed (its timings differ)
        dvc(repo, "checkout", "--force")
    assert "up to date" in dvc(repo, "status")

EXP_SHOW_COLUMNS = 71  # DVC's 5, 10 metrics, 2 of progress, 37 params, 17 deps: a key per stage, the data
PROGRESS_COLUMNS = ["progress.done", "progress.of"]  # a finished run's (live/progress.json)
PARAMS_COLUMNS = 37  # every key of params.yaml: DVC shows the default params file whole
REPORT_SECTIONS = ["Ensemble (mean of the members' softmax outputs)", "Members", "Per class (ensemble, test set)",
                   "Training", "Data", "Model: ensemble_cnn (member 0)", "Run"]
FIGURES = ["samples", "class_means", "training_curves", "confusion_matrix", "error_matrix", "misclassified", "weights"]


def test_report_has_every_section_table_and_figure(repo):
    report = (repo / "reports" / "report.md").read_text()
    assert report.startswith("# fashion_mnist: an ensemble of 2 CNNs (ensemble_cnn)")
    for section in REPORT_SECTIONS:
        assert f"\n## {section}\n" in report
    for figure in FIGURES:
        assert f"(figures/{figure}.png)" in report
        assert (repo / "reports" / "figures" / f"{figure}.png").stat().st_size > 5_000
    assert "| member_1 |" in report and "| average |" in report
    assert "| T-shirt/top |" in report and "| macro average |" in report
    assert "| total |  |  | 331,450 |" in report
    for stage in ("fetch", "prepare", "train_0", "train_1", "evaluate", "ensemble"):
        assert f"| {stage} |" in report
    assert "batch_size: 128" in report and "epochs: 1" in report
    page = (repo / "reports" / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == len(FIGURES) and "src='figures/" not in page
    for section in REPORT_SECTIONS:
        assert f"<h2>{html.escape(section)}</h2>" in page
    per_class = pd.read_csv(repo / "reports" / "per_class.csv", index_col="class")
    assert list(per_class.index[:2]) == ["T-shirt/top", "Trouser"] and per_class["support"].iloc[:10].sum() == 600


def test_second_repro_skips_every_stage(repo):
    output = dvc(repo, "repro")
    assert ran(output) == [] and "Data and pipelines are up to date." in output


def test_metrics_and_plots_commands_work(repo):
    shown = json.loads(dvc(repo, "metrics", "show", "--json"))
    assert "ensemble" in json.dumps(shown)
    output = dvc(repo, "plots", "show", "-o", "plots_page")
    page = (repo / "plots_page" / "index.html").read_text()
    for title in ("Validation accuracy per member", "Validation loss per member", "Training loss per member",
                  "Training accuracy per member", "Ensemble confusion matrix (test set)"):
        assert title in page, output


def test_exp_show_has_a_readable_number_of_columns(repo):
    header = dvc(repo, "exp", "show", "--csv").splitlines()[0].split(",")
    assert "ensemble.test_accuracy" in header and "training.precision" in header and "train.accelerate" in header
    assert not [column for column in header if column.startswith("member_")]  # per member: reports/members.csv
    metrics = [column for column in header if column.split(".")[0] in ("ensemble", "members", "training")
               and column not in ("ensemble.method", "ensemble.tta", "members")]  # those three are params
    assert len(metrics) == 10, metrics  # reports/metrics.json; the others are in the report
    assert "members.mean_val_accuracy" in header  # what a search selects on
    code = [column for column in header if column.endswith(".py")]
    assert code == [], code  # a stage's code is one column, its key (data/keys/<stage>.json)
    assert len(header) == EXP_SHOW_COLUMNS, header
    drop = re.search(r"exp show --drop '([^']+)'", (ROOT / "README.md").read_text()).group(1)  # the README's view
    shown = dvc(repo, "exp", "show", "--drop", drop, "--csv").splitlines()[0].split(",")
    assert [column for column in header if column.startswith("progress.")] == PROGRESS_COLUMNS
    assert len(shown) == 5 + len(metrics) + len(PROGRESS_COLUMNS) + PARAMS_COLUMNS, shown
    assert "dataset" in shown and "report.dpi" in shown, shown
    assert not [column for column in shown if "/" in column or column.endswith(".yaml")], shown


def test_rerunning_a_member_reproduces_its_metrics(repo):
    before = (repo / "reports" / "members.csv").read_text()
    assert ran(dvc(repo, "repro", "--force", "--single-item", "train@0")) == ["train@0"]
    dvc(repo, "repro")
    assert (repo / "reports" / "members.csv").read_text() == before
    run(repo, "git", "checkout", "dvc.lock")  # .keras files record their save time; keep the lock clean


def test_exp_run_changes_only_what_its_params_reach(repo):
    output = dvc(repo, "exp", "run", "-S", "epochs=2")
    assert ran(output) == ["check", "ensemble", "evaluate", "export", "report", "train@0", "train@1"]
    diff = json.loads(dvc(repo, "metrics", "diff", "--json"))
    changed = diff["reports/metrics.json"]["ensemble.test_loss"]
    assert changed["old"] != changed["new"]
    assert pd.read_csv(repo / "reports" / "members.csv", index_col="member").loc["member_0", "best_epoch"] in (1, 2)

    output = dvc(repo, "exp", "run", "-S", "members=[0,1,2]")
    assert ran(output) == ["check", "ensemble", "evaluate", "export", "report", "train@2"]  # 0 and 1 untouched
    assert "ensemble of 3" in (repo / "reports" / "report.md").read_text()

    output = dvc(repo, "exp", "run", "-S", "report.misclassified=10")
    assert ran(output) == ["check", "report"]
    header = dvc(repo, "exp", "show", "--csv").splitlines()[0].split(",")
    assert {"epochs", "members", "report.misclassified", "ensemble.test_accuracy"} <= set(header)


def test_tta_reaches_every_prediction_and_retrains_nothing(repo):
    """ensemble.tta reruns what predicts (evaluate onwards), not the members; the exported model carries the views,
    so export's own check (it reproduces the ensemble of the members' predictions) passes and predict gives the
    ensemble's classes."""
    run(repo, "git", "reset", "--hard", "-q")
    before = json.loads((repo / "reports" / "metrics.json").read_text())["ensemble"]["test_loss"]
    output = dvc(repo, "exp", "run", "-S", "ensemble.tta=[flip, left]")
    assert ran(output) == ["check", "ensemble", "evaluate", "export", "report"]
    assert json.loads((repo / "reports" / "metrics.json").read_text())["ensemble"]["test_loss"] != before
    card = json.loads((repo / "export" / "ensemble.json").read_text())
    assert card["tta"] == ["flip", "left"] and card["largest_gap_to_test_predictions"] <= 1e-5
    predictions = pd.read_csv(repo / "reports" / "test_predictions.csv")
    np.savez(repo / "first.npz", features=np.load(repo / "data" / "prepared" / "x_test.npy")[:20, :, :, 0])
    run(repo, str(repo / ".venv" / "bin" / "python"), "-m", "pipeline.predict", "first.npz", "--top", "1",
        "--output", "first.csv")
    rows = pd.read_csv(repo / "first.csv")
    assert list(rows["predicted"]) == list(predictions["predicted"][:20])
    run(repo, "git", "reset", "--hard", "-q")
    dvc(repo, "checkout", "--force")


def test_the_recipes_run_through_their_command_as_named_experiments(repo):
    """Each recipe of recipes.yaml through `python -m pipeline.recipes NAME`, shortened to 2 epochs (a later -S wins),
    on the 600-image project: `fast` (one member, flip TTA) through the whole pipeline, the CPU and ResNet recipes
    through their train stages, the others through their check stage (every value accepted)."""
    run(repo, "git", "reset", "--hard", "-q")
    python = str(repo / ".venv" / "bin" / "python")
    listed = run(repo, python, "-m", "pipeline.recipes", "--list")
    assert ("recipes in recipes.yaml: cpu-recipe-fashion, cpu-recipe-mnist, resnet-fashion, fast, fast-mnist, "
            "best-cpu, best-cpu-mnist, notebook") in listed
    targets = {"fast": [], "cpu-recipe-fashion": ["train@0", "train@1"], "resnet-fashion": ["train@0", "train@1"],
               "cpu-recipe-mnist": ["check"], "fast-mnist": ["check"], "best-cpu": ["check"],
               "best-cpu-mnist": ["check"], "notebook": ["check"]}
    for name, stages in targets.items():
        run(repo, "git", "checkout", "params.yaml")  # each from the default params
        output = run(repo, python, "-m", "pipeline.recipes", name, "-S", "epochs=2", *stages)
        assert output.startswith(f"dvc exp run -n {name} -S "), output[:300]
        if stages == ["check"]:
            assert ran(output) == ["check"]
            continue
        member = 0 if name == "fast" else 1
        assert f"train@{member}" in ran(output)
        record = json.loads((repo / "models" / f"member_{member}" / "training.json").read_text())
        assert record["epochs_run"] == 2 and record["best_epoch"] == 2  # split none: the last epoch kept
        with zipfile.ZipFile(repo / "models" / f"member_{member}.keras") as saved:  # trained fused, saved as Keras' own
            config = saved.read("config.json").decode()
        assert '"BatchNormalization"' in config and "FusedBatchNormalization" not in config
    table = pd.read_csv(io.StringIO(dvc(repo, "exp", "show", "--csv"))).set_index("Experiment")
    # 2 epochs of 600 images are 10 steps, too few for BatchNormalization's moving statistics: the accuracy may be
    # chance; what must hold is one member's ensemble, a valid accuracy equal to the member's own
    accuracy = float(table.loc["fast", "ensemble.test_accuracy"])
    assert 0 <= accuracy <= 1 and accuracy == float(table.loc["fast", "members.mean_test_accuracy"])
    assert (table.loc["fast", "members"], table.loc["fast", "ensemble.tta"]) == ("[0]", "['flip']")
    assert table.loc["cpu-recipe-fashion", "arch"] == "ensemble_cnn_bn"
    assert table.loc["resnet-fashion", "arch"] == "resnet"
    header = dvc(repo, "exp", "show", "--only-changed", "--drop", r"training\.", "--csv").splitlines()[0]
    header = header.split(",")
    assert {"arch", "train.augment.shift", "train.lr_schedule", "ensemble.test_accuracy"} <= set(header)
    assert not [column for column in header if column.startswith("training.")]
    run(repo, "git", "reset", "--hard", "-q")
    dvc(repo, "checkout", "--force")


def test_grid_search_is_a_queued_dvc_sweep(repo):
    """Study 003's grid as DVC's own sweep (2 activations x 1 dropout rate: each cell costs a full run), run by the
    queue worker."""
    run(repo, "git", "reset", "--hard", "-q")  # queued experiments start from the workspace: make it the first run's
    output = dvc(repo, "exp", "run", "--queue", "-S", "members=[0]", "-S", "arch=compact",
                 "-S", "activation=relu,sigmoid", "-S", "dropout=0.3")
    assert output.count("Queued experiment") == 2, output
    # DVC starts queue workers as `dvc` from PATH, so this needs the venv on PATH, as after `source .venv/bin/activate`
    dvc(repo, "queue", "start", path=f"{repo / '.venv' / 'bin'}{os.pathsep}{BARE_PATH}")
    deadline = time.time() + 600
    while time.time() < deadline:
        status = dvc(repo, "queue", "status")
        if not any(state in status for state in ("Queued", "Running")):
            break
        time.sleep(5)
    assert status.count("Success") == 2, status
    table = pd.read_csv(io.StringIO(dvc(repo, "exp", "show", "--csv", "--sort-by", "ensemble.test_accuracy")))
    swept = table.dropna(subset=["activation"])
    assert sorted(zip(swept["activation"], swept["dropout"])) == [("relu", 0.3), ("sigmoid", 0.3)]
    assert swept["ensemble.test_accuracy"].notna().all() and swept["ensemble.test_accuracy"].nunique() > 1


def test_stages_run_with_the_projects_python_whatever_python_is_first_on_path(tmp_path):
    """The README's `.venv/bin/dvc repro` with an unrelated `python` and `python3` first on PATH."""
    impostors = tmp_path / "impostors"
    impostors.mkdir()
    for name in ("python", "python3"):
        (impostors / name).write_text("#!/bin/sh\necho 'wrong python' >&2\nexit 3\n")
        (impostors / name).chmod(0o755)
    project = make_project(tmp_path / "project", limit=600)
    output = dvc(project, "repro", "prepare", path=f"{impostors}{os.pathsep}{BARE_PATH}")
    assert ran(output) == ["check", "fetch", "prepare"] and "wrong python" not in output


def test_python_sh_prefers_project_python_then_the_nearest_venv_then_python3(tmp_path):
    def fake_python(path, says):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"#!/bin/sh\necho {says} \"$@\"\n")
        path.chmod(0o755)

    def python_sh(cwd, **env):
        result = subprocess.run(["/bin/sh", str(ROOT / "python.sh"), "-m", "stages.fetch"], cwd=cwd, env=env,
                                capture_output=True, text=True)
        return result.returncode, (result.stdout + result.stderr).strip()

    fake_python(tmp_path / "project" / ".venv" / "bin" / "python", "venv")
    queued = tmp_path / "project" / ".dvc" / "tmp" / "exps" / "run1"  # where a queued experiment runs
    queued.mkdir(parents=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert python_sh(queued, PATH=str(empty)) == (0, "venv -m pipeline.runtime.lifeline -m stages.fetch")
    fake_python(tmp_path / "conda" / "python", "conda")
    assert python_sh(queued, PATH=str(empty), PROJECT_PYTHON=str(tmp_path / "conda" / "python"))[1] == \
        "conda -m pipeline.runtime.lifeline -m stages.fetch"
    fake_python(tmp_path / "bin" / "python3", "path")
    assert python_sh(empty, PATH=str(tmp_path / "bin")) == (0, "path -m pipeline.runtime.lifeline -m stages.fetch")
    code, message = python_sh(empty, PATH=str(empty))
    assert code == 127 and message == (f"python.sh: no .venv/bin/python in {empty} or its parents and no python3 "
                                       "on PATH; run 'bash install.sh' or set PROJECT_PYTHON")


def test_members_trained_on_two_machines_are_shared_through_a_remote(repo, tmp_path):
    """Clone A trains member 0, clone B member 1, each pushes; clone C pulls and trains nothing.

    C's metrics equal those of `repo`, where one machine trained both members.
    """
    remote = tmp_path / "remote"  # a real DVC remote: a local folder

    def clone(name, members):
        project = make_project(tmp_path / name, limit=600, members=members, epochs=1)
        dvc(project, "remote", "modify", "--local", "storage", "url", str(remote))
        return project

    for name, member in (("a", 0), ("b", 1)):
        project = clone(name, [member])
        assert ran(dvc(project, "repro", f"train@{member}")) == ["check", "fetch", "prepare", f"train@{member}"]
        dvc(project, "push", "--run-cache")
    shared = clone("c", [0, 1])
    dvc(shared, "fetch", "--run-cache")  # the run-cache entries; `repro --pull` then gets the files they name
    output = dvc(shared, "repro", "--pull")
    # only what needs both members; and check, which reads every key, and C's members differ from A's and B's
    assert ran(output) == ["check", "ensemble", "evaluate", "export", "report"], output
    for stage in ("fetch", "prepare", "train@0", "train@1"):
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in output
    metrics = "reports/metrics.json"
    assert json.loads((shared / metrics).read_text()) == json.loads(run(repo, "git", "show", f"HEAD:{metrics}"))


def test_members_trained_side_by_side_match_those_trained_one_by_one(tmp_path):
    """`python -m pipeline.recipes NAME --jobs 2` with a recipe pinning train.threads to 1: each member a task of a
    2-worker LocalCluster (pipeline.cluster --local 2), saved as the experiment NAME, dvc.lock complete, status clean;
    retraining a member alone (1 thread, every CPU allowed) gives its numbers again."""
    repo = make_project(tmp_path / "parallel", limit=600, members=[0, 1], epochs=1)
    with open(repo / "recipes.yaml", "a", encoding="utf-8") as handle:
        handle.write("\nside-by-side:  # a test's recipe\n  train.threads: 1\n")
    python, cpus = str(repo / ".venv" / "bin" / "python"), len(os.sched_getaffinity(0))
    refused = run(repo, python, "-m", "pipeline.recipes", "side-by-side", "--jobs", str(cpus + 1), check=False)
    assert refused.strip().splitlines()[-1] == (f"error: --jobs {cpus + 1}: {cpus + 1} x train.threads 1 = {cpus + 1} "
                                                f"CPUs, but this process may use {cpus}; allowed: --jobs x "
                                                f"train.threads <= {cpus}")
    assert run(repo, "git", "status", "--porcelain", "params.yaml") == ""  # refused before params.yaml changed
    output = run(repo, python, "-m", "pipeline.recipes", "side-by-side", "--jobs", "2", "-S", "epochs=2")
    assert "params.yaml: train.threads=1 epochs=2" in output
    assert "cluster: 2 of 2 members to train" in output and output.count(" done on ") == 2
    assert "Data and pipelines are up to date." in dvc(repo, "status")
    table = pd.read_csv(io.StringIO(dvc(repo, "exp", "show", "--csv"))).set_index("Experiment")
    assert (table.loc["side-by-side", "train.threads"], table.loc["side-by-side", "epochs"]) == (1, 2)
    assert 0.1 < float(table.loc["side-by-side", "ensemble.test_accuracy"]) <= 1  # a column with "-" rows is text
    for member in (0, 1):
        record = json.loads((repo / "models" / f"member_{member}" / "training.json").read_text())
        assert (record["intra_op_threads"], record["inter_op_threads"]) == (1, 1)
    before = (repo / "reports" / "members.csv").read_text()
    assert ran(dvc(repo, "repro", "--force", "--single-item", "train@1")) == ["train@1"]
    dvc(repo, "repro")
    assert (repo / "reports" / "members.csv").read_text() == before
