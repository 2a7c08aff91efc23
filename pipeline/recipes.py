"""Named recipes (recipes.yaml) as ordinary DVC experiments: `python -m pipeline.recipes NAME [DVC ARGUMENTS]`.

    .venv/bin/python -m pipeline.recipes --list
    .venv/bin/python -m pipeline.recipes cpu-recipe-fashion                # dvc exp run -n cpu-recipe-fashion -S ...
    .venv/bin/python -m pipeline.recipes cpu-recipe-fashion -S epochs=2    # later -S values win
    .venv/bin/python -m pipeline.recipes cpu-recipe-mnist --queue          # any `dvc exp run` argument
    .venv/bin/python -m pipeline.recipes fast --jobs 2                     # members side by side

A recipe is the params.yaml values it changes; they are applied with -S, so dvc.lock and `dvc exp
show` hold the values that trained. The recipe's values are checked against params.yaml's rules
first: a bad recipe is one line and nothing runs.

With --jobs N the members train N at a time (DVC's `exp run` runs one stage at a time): the values
are written into params.yaml the way -S writes them (DVC's own code), `python -m pipeline.cluster
--local N` runs the pipeline, and `dvc exp save -n NAME` records the result as the experiment NAME,
as `dvc exp run -n NAME` would have. Only -S values may follow then. The recipe must pin
`train.threads` (the thread count changes the weights); with it, the weights are those of the
serial way.
"""
import copy
import json
import re
import sys

from pipeline.params import load_params, read_file, read_yaml, validate
from pipeline.runtime import children, dvc
from pipeline.runtime.errors import PipelineError, run_main

RECIPES_FILE = "recipes.yaml"


def load(path=RECIPES_FILE):
    """{name: {dotted key: value}} of the recipes file (a recipe may start from another: `<<: *name`)."""
    recipes = read_file(path, merge_keys=True)
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


def jobs_option(extra):
    """(N or None, the other arguments) of `--jobs N` / `-j N` / `--jobs=N` among the arguments after the name."""
    jobs, rest, words = None, [], list(extra)
    while words:
        word = words.pop(0)
        if word in ("--jobs", "-j") or word.startswith("--jobs="):
            value = word.split("=", 1)[1] if "=" in word else (words.pop(0) if words else "")
            if not re.fullmatch(r"[1-9][0-9]*", value):
                raise PipelineError(f"--jobs {value!r}: allowed: an integer >= 1 (members trained at once)")
            jobs = int(value)
        else:
            rest.append(word)
    return jobs, rest


def parse_setting(word):
    """(key, value) of a -S argument `key=value`, its value read as DVC reads it (YAML); a value the YAML reader
    refuses is one PipelineError naming the key."""
    key, value = word.split("=", 1)
    try:
        return key, read_yaml(value)
    except PipelineError as error:
        raise PipelineError(f"-S {key}: {error}") from None


def settings_only(name, extra):
    """{dotted key: value} of the -S/--set-param arguments in `extra`; anything else is refused (it has no meaning
    to pipeline.cluster)."""
    settings, words = {}, list(extra)
    while words:
        word = words.pop(0)
        if word in ("-S", "--set-param") and words and "=" in words[0]:
            key, value = parse_setting(words.pop(0))
            settings[key] = value
        else:
            raise PipelineError(f"{name} --jobs: {word!r} is not allowed after --jobs; allowed: -S key=value "
                                "(other `dvc exp run` options need the serial way, without --jobs)")
    return settings


def run_side_by_side(name, values, jobs):
    """`values` (the recipe, then later -S values) written into params.yaml as -S writes them, the pipeline run
    with the members `jobs` at a time (pipeline.cluster --local), the result saved as the experiment `name`."""
    from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` itself calls

    from pipeline import cluster  # here: pipeline.cluster imports this module

    # Before params.yaml changes: a bad value, --jobs and train.threads, all in one line.
    problems, threads = [], None
    try:
        threads = validate(apply(load_params(), values), f"{RECIPES_FILE}: {name}")["train"]["threads"]
    except PipelineError as error:
        problems.append(str(error))
    problems[:0] = cluster.argument_problems(cluster.parse(["--local", str(jobs)]), threads, "--jobs")
    if problems:
        raise PipelineError("; ".join(problems))
    settings = [setting(key, value) for key, value in values.items()]
    print("params.yaml: " + " ".join(settings), flush=True)
    with children.signals_held():  # a signal now would leave params.yaml half-written
        apply_overrides("params.yaml", settings)
    cluster.main(["--local", str(jobs)])
    dvc.run_dvc(["exp", "save", "--name", name])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    recipes = load()
    if not argv or argv[0] in ("-h", "--help", "--list"):
        print(__doc__.split("\n\n")[0] + "\n\nrecipes in " + RECIPES_FILE + ": " + ", ".join(recipes))
        return
    name, (jobs, extra) = argv[0], jobs_option(argv[1:])
    if name not in recipes:
        raise PipelineError(f"{RECIPES_FILE}: no recipe {name!r}; allowed: one of {', '.join(recipes)}")
    if jobs is not None:
        return run_side_by_side(name, {**recipes[name], **settings_only(name, extra)}, jobs)
    with children.stopped_with_children("pipeline.recipes"):
        # load_params holds architectures.yaml's entries, which a recipe's arch must name
        validate(apply(load_params(), recipes[name]), f"{RECIPES_FILE}: {name}")
        arguments = command(name, recipes[name], extra)
        print("dvc " + " ".join(arguments), flush=True)
        code = children.wait(children.start([dvc.dvc_command(), *arguments]))
    if code:
        sys.exit(code)


if __name__ == "__main__":
    run_main(main)
