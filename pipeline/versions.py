"""The installed versions of the packages that change what a member trains: part of every train stage's key.

Another TensorFlow, Keras or NumPy may compute other weights from the same params and data, so the check stage
writes these versions into train's key (data/keys/train.json, pipeline.keys) and every train@<i> depends on that
file: a member trained under other versions is retrained, not restored silently from dvc.lock or the run-cache. Read from the installed
distributions' metadata, without importing TensorFlow.
"""
import importlib.metadata

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
