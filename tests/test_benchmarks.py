"""The benchmark scripts still run: their real entry points on a tiny slice of MNIST."""
import json

import pytest
import yaml

from benchmarks import augment_speed, train_outside_dvc
from project import readme_recipes


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
    with pytest.raises(ValueError, match="--arch 'lenet' is not in params.yaml architectures: ensemble_cnn"):
        train_outside_dvc.main(["--arch", "lenet"])


def test_the_recipe_benchmarks_train_the_readmes_cpu_recipe():
    """augment_speed.py and recipe_cost.py time the README's Fashion-MNIST CPU recipe line, value for value."""
    line = next(arguments for arguments in readme_recipes().values() if "cpu-recipe-fashion" in arguments)
    settings = dict(line[index + 1].split("=", 1) for index, word in enumerate(line) if word == "-S")
    top_level = ("arch", "epochs", "split")
    expected = {**{(key if key in top_level else f"train.{key}"): value for key, value in augment_speed.RECIPE.items()},
                **{f"train.augment.{key}": value for key, value in augment_speed.AUGMENT.items()}}
    assert {key: yaml.safe_load(value) for key, value in settings.items()} == expected
