"""Each stage's key: what its result depends on besides its params and data, written by the check stage.

A stage runs the project modules it imports, followed through pipeline/ and stages/. The check stage writes
each stage's modules with their MD5 to data/keys/<stage>.json (train's key also holds the installed TensorFlow,
Keras and NumPy versions, installed_versions; train's and report's the architecture in use, from
architectures.yaml), and each stage depends on its own key file: DVC reruns a stage when one of its modules
changes, and only then. Found from the imports, the list cannot drift from the code, and it
costs `dvc exp show` one column per stage instead of one per module.

NOT_KEYED modules are in no key and are not followed: changing them must not retrain ten members.
"""
import ast
import hashlib
import importlib.metadata
import os

PACKAGES = ("pipeline", "stages")
NOT_KEYED = {  # a path, or a folder ending in "/" for every module in it
    "pipeline/runtime/": "the run machinery: error lines, atomic writes, quiet imports, runners; none changes a result",
    "pipeline/params.py": "reading and checking params.yaml: the values a stage uses are its params, which DVC "
                          "records itself (the check stage runs it on every change of the code)",
}
VERSIONED_STAGES = ("train",)  # another TensorFlow, Keras or NumPy may train other weights; the rest only predicts
ARCHITECTURE_STAGES = ("train", "report")  # the report prints the layer list

TRAINING_PACKAGES = ("tensorflow", "keras", "numpy")  # the modules; tensorflow's distribution may be tensorflow-cpu


def installed_versions(packages=TRAINING_PACKAGES):
    """{module: "distribution version"} for each of `packages`, or "not installed"."""
    distributions = importlib.metadata.packages_distributions()
    versions = {}
    for package in packages:
        names = sorted(set(distributions.get(package, [])))
        versions[package] = (", ".join(f"{name} {importlib.metadata.version(name)}" for name in names)
                             if names else "not installed")
    return versions


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


def is_keyed_out(path):
    """Whether the module at `path` is in NOT_KEYED, itself or by its folder."""
    return any(path == entry or (entry.endswith("/") and path.startswith(entry)) for entry in NOT_KEYED)


def stage_modules(name, root="."):
    """Stage `name`'s module, stages/<name>.py, and every project module it imports, followed through the project,
    NOT_KEYED left out and not followed."""
    seen, todo = set(), [f"stages/{name}.py"]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(name for name in project_imports(current, root) if not is_keyed_out(name))
    return sorted(seen)


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
