"""The benchmark scripts still run: their real entry points on a tiny slice of MNIST."""
import json

import pytest

from benchmarks import augment_speed, fast_search, train_outside_dvc

from conftest import ROOT


def test_train_outside_dvc_trains_and_reports_the_test_accuracy(mnist_dir, tmp_path, capsys):
    output = tmp_path / "figures.json"
    train_outside_dvc.main(["--arch", "lenet_like", "--source-dir", str(mnist_dir), "--epochs", "2",
                            "--limit", "2048", "--output", str(output)])
    figures = json.loads(output.read_text())
    assert figures == json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (figures["arch"], figures["parameters"], figures["train_images"], figures["test_images"]) == \
        ("lenet_like", 716234, 2048, 2048)
    assert len(figures["epoch_seconds"]) == 2
    # Adadelta at Keras 2's rate 1.0 learns on 2048 images within 2 epochs (32 steps); chance is 0.10.
    assert figures["test_accuracy"] > 0.5


def test_train_outside_dvc_names_an_unknown_architecture():
    with pytest.raises(ValueError, match="--arch 'lenet' is not in architectures.yaml: ensemble_cnn"):
        train_outside_dvc.main(["--arch", "lenet"])


def test_the_recipe_benchmarks_train_the_recipe_of_recipes_yaml():
    """recipe_cost.py's recipe is cpu-recipe-fashion of recipes.yaml applied to params.yaml, value for value, or the
    one --recipe names."""
    from benchmarks import recipe_cost
    from pipeline import recipes
    from pipeline.params import load_params
    from pipeline.training import TrainConfig

    for name in (augment_speed.RECIPE, "fast"):
        recipe = recipes.load(str(ROOT / recipes.RECIPES_FILE))[name]
        params = recipes.apply(load_params(str(ROOT / "params.yaml")), {**recipe, "epochs": 3})
        assert recipe_cost.configs(name, 3)["recipe"] == TrainConfig.from_params(params)
    cpu_recipe, fast = (recipe_cost.configs(name, 3)["recipe"] for name in (augment_speed.RECIPE, "fast"))
    assert (cpu_recipe.arch, cpu_recipe.split, cpu_recipe.augment) == (
        "ensemble_cnn_bn", "none", {"shift": 2, "rotate": 0, "zoom": 0, "flip": True})
    assert (fast.arch, fast.epochs, fast.dropout) == ("slim_cnn_bn", 3, 0.1)


def test_frontier_keeps_a_clones_reports_for_git_without_dvcs_gitignore(tmp_path):
    """frontier.keep: the named reports of a clone, stage timings included, and not DVC's .gitignore of its outputs
    (which would keep the copied timings out of git)."""
    from benchmarks import frontier

    reports = tmp_path / "clone" / "reports"
    (reports / "timings").mkdir(parents=True)
    (reports / "metrics.json").write_text("{}")
    (reports / "figures.png").write_bytes(b"not kept")
    (reports / "timings" / "train_0.json").write_text('{"stage": "train_0", "wall_time_s": 1.0}')
    (reports / "timings" / ".gitignore").write_text("/train_0.json\n")
    frontier.keep(str(tmp_path / "clone"), str(tmp_path / "kept"))
    kept = sorted(str(path.relative_to(tmp_path / "kept")) for path in (tmp_path / "kept").rglob("*"))
    assert kept == ["metrics.json", "timings", "timings/train_0.json"]


def test_frontier_draws_one_panel_per_dataset_with_the_points_of_other_sittings(tmp_path, capsys):
    """frontier.py plot: this sitting's points, the `earlier` ones (other sittings) and an errored run left out."""
    from PIL import Image

    from benchmarks import frontier

    def found(recipe, dataset, seconds, accuracy, tta=()):
        return {"recipe": recipe, "dataset": dataset, "members": 1, "tta": list(tta), "wall_seconds": seconds,
                "ensemble_test_accuracy": accuracy}

    results = tmp_path / "frontier.json"
    results.write_text(json.dumps({
        "cpu": "a CPU", "cpus": 2,
        "points": [found("fast", "fashion_mnist", 440.0, 0.9357, ["flip"]), found("default", "mnist", 3600.0, 0.9961),
                   {"recipe": "best-cpu", "error": "exit 1"}],
        "earlier": [{**found("notebook", "fashion_mnist", 5000.0, 0.935), "source": "../elsewhere/"}]}))
    frontier.main(["plot", str(results)])
    written = tmp_path / "frontier.png"
    assert capsys.readouterr().out.strip() == str(written)
    with Image.open(written) as image:
        # Two datasets: two 6 x 4.5 inch panels side by side at 120 dpi.
        assert (image.format, image.size) == ("PNG", (1440, 540))


def test_fixed_cost_times_each_stage_as_dvc_yaml_runs_it():
    """fixed_cost.py times each stage's command alone: the same commands as dvc.yaml's, in run order."""
    import yaml

    from benchmarks import fixed_cost

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    expected = [(f"train_{member}", stages["train"]["do"]["cmd"].replace("${item}", str(member)))
                if name == "train" else (name, stages[name]["cmd"]) for name in stages for member in
                ([0, 3] if name == "train" else [None])]
    assert [(name, " ".join(command)) for name, command in fixed_cost.stage_commands([0, 3])] == expected


def test_fast_search_hands_an_optimizer_option_to_keras_for_that_run_only(mnist_dir, monkeypatch, capsys):
    """--optimizer momentum=0.9 makes sgd another optimizer (another training loss), and the next run in the same
    process trains with Keras' own sgd again."""
    monkeypatch.setenv("MNIST_DIR", str(mnist_dir))
    candidate = ["-S", "dataset=mnist", "-S", "limit=600", "-S", "epochs=1", "-S", "train.optimizer=sgd"]
    runs = []
    for options in (["--optimizer", "momentum=0.9", "--optimizer", "nesterov=true"], [], []):
        fast_search.main([*candidate, *options])
        runs.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert [run["optimizer_options"] for run in runs] == [{"momentum": 0.9, "nesterov": True}, {}, {}]
    assert runs[0]["last_loss"] != runs[1]["last_loss"] == runs[2]["last_loss"]
