"""Each stage's code dependencies in dvc.yaml are the project modules it imports, followed through the project.

A module that dvc.yaml names as `not-a-dependency` (with its reason) is neither required nor followed: its
own imports are there for it, not for the stage.
"""
import ast
import re

from conftest import ROOT
from pipeline.params import read_yaml

PACKAGES = ("pipeline", "stages")


def not_dependencies():
    return set(re.findall(r"^#\s+not-a-dependency: (\S+)", (ROOT / "dvc.yaml").read_text(), re.MULTILINE))


def project_imports(path):
    """The project modules (as files) that the module at `path` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
            [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            if isinstance(node, ast.ImportFrom) and node.module else [])
        for name in names:
            candidate = ROOT / (name.replace(".", "/") + ".py")
            if name.split(".")[0] in PACKAGES and candidate.exists():
                found.add(str(candidate.relative_to(ROOT)))
    return found


def imported_by(module_file, excluded):
    seen, todo = set(), [module_file]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(name for name in project_imports(ROOT / current) if name not in excluded)
    return seen


def test_every_stage_depends_on_exactly_the_modules_it_imports():
    excluded = not_dependencies()
    assert excluded and all((ROOT / path).exists() for path in excluded)
    for name, stage in read_yaml((ROOT / "dvc.yaml").read_text())["stages"].items():
        stage = stage.get("do", stage)
        module = re.search(r"-m (\S+)", stage["cmd"]).group(1)
        imported = imported_by(module.replace(".", "/") + ".py", excluded - ({"pipeline/params.py"} if name == "check"
                                                                            else set()))
        listed = {dep for dep in stage["deps"] if isinstance(dep, str) and dep.endswith(".py")}
        assert listed - imported == set(), f"{name}: listed but not imported: {sorted(listed - imported)}"
        assert imported - excluded - listed == set(), f"{name}: imported but not listed: {sorted(imported - listed)}"
