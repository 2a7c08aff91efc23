"""Each stage's code is its key (pipeline.runtime.keys): the project modules it imports, followed through the project.

dvc.yaml lists no module: every stage but check depends on its key file, which check writes from the imports.
The e2e side (an edit reruns exactly the stages that import the module) is in test_pipeline.py.
"""
import re

from pipeline.params import load_params, read_yaml
from pipeline.paths import KEYED_STAGES, KEYS_DIR, STAGES, key_path
from pipeline.runtime.keys import NOT_KEYED, is_keyed_out, stage_key, stage_modules

from conftest import ROOT


def stages():
    pipeline = read_yaml((ROOT / "dvc.yaml").read_text())
    return {name: stage.get("do", stage) for name, stage in pipeline["stages"].items()}


def test_every_stage_depends_on_its_key_and_on_no_module():
    for name, stage in stages().items():
        listed = [dep for dep in stage["deps"] if isinstance(dep, str)]
        assert not [dep for dep in listed if dep.endswith(".py")], name
        if name == "check":
            assert {"pipeline", "stages", "params.yaml", "architectures.yaml"} <= set(listed)
            assert stage["outs"] == [KEYS_DIR]
        else:
            assert key_path(name) in listed, name


def test_a_key_holds_exactly_the_modules_its_stage_imports():
    names = KEYED_STAGES
    assert list(stages()) == list(STAGES)  # the same stages, in the same order
    assert sorted(path.stem for path in (ROOT / "stages").glob("*.py") if path.stem != "__init__") == sorted(STAGES)
    for name, stage in stages().items():  # stage <name> runs stages/<name>.py
        assert re.search(r"-m stages\.(\w+)", stage["cmd"]).group(1) == name
    modules = {name: stage_modules(name, str(ROOT)) for name in names}
    assert {"stages/train.py", "pipeline/training.py", "pipeline/prepared.py", "pipeline/model.py",
            "pipeline/augment.py"} <= set(modules["train"])
    assert "pipeline/plots.py" not in modules["train"] and "pipeline/plots.py" in modules["report"]
    assert "pipeline/user_data.py" in modules["fetch"] and "pipeline/training.py" not in modules["fetch"]
    for name, found in modules.items():
        assert not [module for module in found if is_keyed_out(module)], name  # not keyed, and not followed
        assert all((ROOT / module).is_file() for module in found)


def test_only_train_keys_the_package_versions_and_train_and_report_the_architecture():
    params = load_params(str(ROOT / "params.yaml"))
    keys = {name: stage_key(name, params, str(ROOT)) for name in KEYED_STAGES}
    assert sorted(keys["train"]["versions"]) == ["keras", "numpy", "tensorflow"]
    assert [name for name, key in keys.items() if "versions" in key] == ["train"]
    architecture = {params["arch"]: params["architectures"][params["arch"]]}  # the one in use, no other
    assert sorted(name for name, key in keys.items() if key.get("architecture") == architecture) == ["report", "train"]


def test_the_modules_left_out_exist_and_say_why():
    for path, reason in NOT_KEYED.items():
        assert ((ROOT / path).is_dir() if path.endswith("/") else (ROOT / path).is_file()), path
        assert len(reason) > 10, path
    assert is_keyed_out("pipeline/runtime/files.py") and is_keyed_out("pipeline/params.py")
    assert not is_keyed_out("pipeline/training.py") and not is_keyed_out("pipeline/runtime.py")
