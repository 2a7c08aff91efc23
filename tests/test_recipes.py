"""recipes.yaml and its command (pipeline.recipes): each recipe is valid params, run with -S as a named experiment."""
import pytest

from pipeline import recipes
from pipeline.params import load_params, validate
from pipeline.runtime.errors import PipelineError

from conftest import ROOT


def test_every_recipe_is_valid_params():
    params = load_params(str(ROOT / "params.yaml"))
    for name, recipe in recipes.load(str(ROOT / recipes.RECIPES_FILE)).items():
        validate(recipes.apply(params, recipe), f"recipes.yaml: {name}")


def test_the_command_sets_each_value_as_dvc_reads_it():
    recipe = {"arch": "resnet", "epochs": 30, "train.augment.flip": True, "train.lr_schedule": [[5, 0.1]],
              "limit": None}
    assert recipes.command("mine", recipe, ["--queue"]) == [
        "exp", "run", "-n", "mine", "-S", "arch=resnet", "-S", "epochs=30", "-S", "train.augment.flip=true",
        "-S", "train.lr_schedule=[[5, 0.1]]", "-S", "limit=null", "--queue"]


@pytest.mark.parametrize("recipe, name, message", [
    ("mine:\n  epochs: 0\n", "mine", "recipes.yaml: mine: epochs: 0 is not allowed; allowed: an integer >= 1"),
    ("mine:\n  train.optimiser: adam\n", "mine", "recipes.yaml: mine: train.optimiser: unknown key (did you mean "
                                                 "'train.optimizer'?)"),
    ("mine:\n  epochs: 3\n", "yours", "recipes.yaml: no recipe 'yours'; allowed: one of mine"),
])
def test_a_bad_recipe_is_one_line_before_dvc_runs(tmp_path, monkeypatch, recipe, name, message):
    for name_of_file in ("params.yaml", "architectures.yaml"):
        (tmp_path / name_of_file).write_text((ROOT / name_of_file).read_text())
    (tmp_path / "recipes.yaml").write_text(recipe)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PipelineError) as refusal:
        recipes.main([name])
    assert str(refusal.value).startswith(message)


def test_a_recipe_starts_from_another_and_its_own_values_win(tmp_path):
    (tmp_path / "recipes.yaml").write_text("base: &base\n  arch: resnet\n  epochs: 30\n"
                                           "short: &short\n  <<: *base\n  epochs: 2\n"
                                           "shorter:\n  <<: *short\n  members: [0]\n")
    assert recipes.load(str(tmp_path / "recipes.yaml")) == {
        "base": {"arch": "resnet", "epochs": 30}, "short": {"arch": "resnet", "epochs": 2},
        "shorter": {"arch": "resnet", "epochs": 2, "members": [0]}}


def test_the_shipped_recipes_that_build_on_others_differ_only_where_they_say():
    shipped = recipes.load(str(ROOT / recipes.RECIPES_FILE))
    assert shipped["best-cpu-mnist"] == {**shipped["fast-mnist"], "members": list(range(8)), "arch": "ensemble_cnn_bn",
                                         "epochs": 14, "train.warmup_epochs": 1}
    assert shipped["best-cpu"] == {**shipped["resnet-fashion"], "members": [0], "ensemble.tta": ["flip"]}
    assert shipped["cpu-recipe-mnist"] == {**shipped["cpu-recipe-fashion"], "dataset": "mnist",
                                           "train.augment.flip": False}
