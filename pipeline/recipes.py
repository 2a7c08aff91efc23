"""Named recipes (recipes.yaml) as ordinary DVC experiments: `python -m pipeline.recipes NAME [DVC ARGUMENTS]`.

    .venv/bin/python -m pipeline.recipes --list
    .venv/bin/python -m pipeline.recipes cpu-recipe-fashion                # dvc exp run -n cpu-recipe-fashion -S ...
    .venv/bin/python -m pipeline.recipes cpu-recipe-fashion -S epochs=2    # later -S values win
    .venv/bin/python -m pipeline.recipes cpu-recipe-mnist --queue          # any `dvc exp run` argument

A recipe is the params.yaml values it changes; they are applied with -S, so dvc.lock and `dvc exp
show` hold the values that trained. The recipe's values are checked against params.yaml's rules
first: a bad recipe is one line and nothing runs.
"""
import copy
import json
import os
import subprocess
import sys

from pipeline.errors import PipelineError, run_main
from pipeline.params import read_yaml, validate

RECIPES_FILE = "recipes.yaml"


def load(path=RECIPES_FILE):
    """{name: {dotted key: value}} of the recipes file."""
    with open(path, encoding="utf-8") as handle:
        recipes = read_yaml(handle.read())
    if not isinstance(recipes, dict) or not all(isinstance(values, dict) for values in recipes.values()):
        raise PipelineError(f"{path}: allowed: a mapping of recipe names to {{dotted.key: value}} mappings")
    return recipes


def apply(params, recipe):
    """A copy of `params` with the recipe's dotted keys set, as `dvc exp run -S` sets them."""
    changed = copy.deepcopy(params)
    for dotted, value in recipe.items():
        *parents, key = dotted.split(".")
        section = changed
        for parent in parents:
            section = section.setdefault(parent, {})
        section[key] = value
    return changed


def setting(key, value):
    """`key=value` as -S takes it (DVC reads the value as YAML)."""
    return f"{key}={value if isinstance(value, str) else json.dumps(value)}"


def command(name, recipe, extra=()):
    """The `dvc exp run` arguments (after `dvc`) that run `recipe` as the experiment `name`."""
    settings = [word for key, value in recipe.items() for word in ("-S", setting(key, value))]
    return ["exp", "run", "-n", name, *settings, *extra]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    recipes = load()
    if not argv or argv[0] in ("-h", "--help", "--list"):
        print(__doc__.split("\n\n")[0] + "\n\nrecipes in " + RECIPES_FILE + ": " + ", ".join(recipes))
        return
    name, extra = argv[0], argv[1:]
    if name not in recipes:
        raise PipelineError(f"{RECIPES_FILE}: no recipe {name!r}; allowed: one of {', '.join(recipes)}")
    with open("params.yaml", encoding="utf-8") as handle:
        params = read_yaml(handle.read())
    validate(apply(params, recipes[name]), f"{RECIPES_FILE}: {name}")
    arguments = command(name, recipes[name], extra)
    print("dvc " + " ".join(arguments), flush=True)
    dvc = os.path.join(os.path.dirname(sys.executable), "dvc")  # the project's own, beside this Python
    result = subprocess.run([dvc if os.path.exists(dvc) else "dvc", *arguments], check=False)
    if result.returncode:
        sys.exit(result.returncode)


if __name__ == "__main__":
    run_main(main)
