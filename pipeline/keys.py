"""Each stage's key: what its result depends on besides its params and data, written by the check stage.

A stage runs the project modules it imports, followed through pipeline/ and stages/. The check stage writes
each stage's modules with their MD5 to data/keys/<stage>.json (train's key also holds the installed TensorFlow,
Keras and NumPy versions, pipeline.versions; train's and report's the architecture in use, from
architectures.yaml), and each stage depends on its own key file: DVC reruns a stage when one of its modules
changes, and only then. Found from the imports, the list cannot drift from the code, and it
costs `dvc exp show` one column per stage instead of one per module.

NOT_KEYED modules are in no key and are not followed: changing them must not retrain ten members.
"""
import ast
import hashlib
import os

from pipeline.versions import installed_versions

PACKAGES = ("pipeline", "stages")
NOT_KEYED = {
    "pipeline/errors.py": "the wording of error lines",
    "pipeline/files.py": "atomic writes and where temporaries live",
    "pipeline/startup.py": "importing TensorFlow without its start-up log",
    "pipeline/quiet_keras.py": "the same, as an import",
    "pipeline/params.py": "reading and checking params.yaml: the values a stage uses are its params, which DVC "
                          "records itself (the check stage runs it on every change of the code)",
}
VERSIONED_STAGES = ("train",)  # another TensorFlow, Keras or NumPy may train other weights; the rest only predicts
ARCHITECTURE_STAGES = ("train", "report")  # the report prints the layer list


def project_imports(path, root="."):
    """The project modules (as paths relative to `root`) that the module at `path` imports."""
    with open(os.path.join(root, path), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    found = set()
    for node in ast.walk(tree):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
            [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            if isinstance(node, ast.ImportFrom) and node.module else [])
        for name in names:
            candidate = name.replace(".", "/") + ".py"
            if name.split(".")[0] in PACKAGES and os.path.exists(os.path.join(root, candidate)):
                found.add(candidate)
    return found


def stage_modules(name, root="."):
    """Stage `name`'s module, stages/<name>.py, and every project module it imports, followed through the project,
    NOT_KEYED left out and not followed."""
    seen, todo = set(), [f"stages/{name}.py"]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(name for name in project_imports(current, root) if name not in NOT_KEYED)
    return sorted(seen)


def stage_names(root="."):
    """The stages with a key: stage <name> of dvc.yaml runs stages/<name>.py (tests/test_dependencies.py checks each
    command), so every module in stages/ but check's. Found from the folder, not from dvc.yaml, which DVC does not
    let a stage depend on."""
    return sorted(name[:-3] for name in os.listdir(os.path.join(root, "stages"))
                  if name.endswith(".py") and name not in ("__init__.py", "check.py"))


def md5(path):
    with open(path, "rb") as handle:
        return hashlib.md5(handle.read()).hexdigest()


def stage_key(name, params, root="."):
    """The key of stage `name` under `params` (pipeline.params.load_params)."""
    key = {"modules": {module: md5(os.path.join(root, module)) for module in stage_modules(name, root)}}
    if name in VERSIONED_STAGES:
        key["versions"] = installed_versions()
    if name in ARCHITECTURE_STAGES:
        key["architecture"] = {params["arch"]: params["architectures"][params["arch"]]}
    return key
