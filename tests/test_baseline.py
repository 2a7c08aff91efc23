"""The committed baseline: dvc.lock and the reports in git are what the committed dvc.yaml and params.yaml make."""
import hashlib
import json
import subprocess
import sys

from pipeline.params import load_params
from pipeline.params import read_yaml as parse
from pipeline.paths import key_path
from pipeline.runtime.files import json_text
from pipeline.runtime.keys import stage_key

from conftest import ROOT, stage_entries


def read_yaml(name):
    """`name` read as DVC reads it, so params compare with what dvc.lock records."""
    return parse((ROOT / name).read_text())


def lookup(params, dotted_key):
    value = params
    for part in dotted_key.split("."):
        value = value[part]
    return value


def test_committed_lock_was_produced_with_the_committed_params_and_commands():
    lock, pipeline, params = read_yaml("dvc.lock"), read_yaml("dvc.yaml"), read_yaml("params.yaml")
    expected = [name for name in pipeline["stages"] if name != "train"] + [f"train@{m}" for m in params["members"]]
    assert sorted(lock["stages"]) == sorted(expected)
    for name, stage in lock["stages"].items():
        definition = pipeline["stages"][name.split("@")[0]]
        definition = definition.get("do", definition)  # a foreach stage
        assert stage["cmd"] == definition["cmd"].replace("${item}", name.partition("@")[2]), name
        if "params" not in definition:  # the check stage: params.yaml as a file dependency
            assert "params.yaml" in definition["deps"] and "params" not in stage, name
            continue
        recorded = stage["params"]["params.yaml"]
        listed = [key.replace("${arch}", params["arch"]) for key in definition["params"]]
        assert sorted(recorded) == sorted(listed), name
        for key in listed:
            assert recorded[key] == lookup(params, key), f"{name}: {key}"


def test_committed_lock_was_produced_by_the_committed_code():
    """Each stage's key (its modules' MD5s, for train the package versions, pipeline.runtime.keys) and every file a
    stage
    depends on that git holds have the hash dvc.lock records: no stage is stale after a clone and an install."""
    lock, params = read_yaml("dvc.lock"), load_params(str(ROOT / "params.yaml"))
    keyed, checked = set(), 0
    for name, stage in lock["stages"].items():
        stage_name = name.split("@")[0]
        for dep in stage["deps"]:
            path = ROOT / dep["path"]
            if dep["path"] == key_path(stage_name):
                key = stage_key(stage_name, params, str(ROOT))
                assert hashlib.md5(json_text(key).encode()).hexdigest() == dep["md5"], f"{name}: its key"
                keyed.add(name)
            elif path.is_file():
                assert hashlib.md5(path.read_bytes()).hexdigest() == dep["md5"], f"{name}: {dep['path']}"
                checked += 1
    assert keyed == set(lock["stages"]) - {"check"} and checked >= 2  # check: params.yaml, architectures.yaml


def test_committed_reports_are_the_outputs_the_lock_records():
    """The outputs git holds (a workspace's cached ones may come from another run: an experiment's timings)."""
    lock = read_yaml("dvc.lock")
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split())
    checked = []
    for stage in lock["stages"].values():
        for out in stage["outs"]:
            path = ROOT / out["path"]
            if out["path"] in tracked and path.is_file():
                assert hashlib.md5(path.read_bytes()).hexdigest() == out["md5"], out["path"]
                checked.append(out["path"])
    assert {"reports/metrics.json", "reports/report.md", "reports/per_class.csv",
            "reports/test_predictions.csv", "reports/training_curves.csv"} <= set(checked)


def test_every_uncached_output_is_committed():
    """A clone gets every uncached output of the baseline (a stale .gitignore entry once kept members.csv out)."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    tracked = set(tracked.splitlines())
    uncached = [path for path, options in stage_entries(read_yaml("dvc.yaml"), ("outs", "metrics", "plots"))
                if options and options.get("cache") is False]  # git, not DVC's cache, keeps these
    assert "reports/members.csv" in uncached
    missing = [path for path in uncached if path not in tracked and not any(
        name.startswith(path + "/") for name in tracked)]
    assert not missing, f"in dvc.yaml with cache: false but not in git: {missing}"


def test_dvc_metrics_show_prints_the_baseline():
    shown = subprocess.run([sys.executable, "-m", "dvc", "metrics", "show", "--json"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout
    metrics = json.loads(shown)[""]["data"]["reports/metrics.json"]["data"]
    assert metrics == json.loads((ROOT / "reports" / "metrics.json").read_text())
    assert metrics["ensemble"]["test_accuracy"] > 0.9  # ten members on all of Fashion-MNIST
