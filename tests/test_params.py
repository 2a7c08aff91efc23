import copy
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest
import yaml

from pipeline import recipes
from pipeline.params import MAX_YAML_NODES, check_aliases, load_params, read_yaml, validate
from pipeline.runtime.errors import PipelineError

import bombs
from conftest import ROOT

NO_AUGMENT = {"shift": 0, "rotate": 0, "zoom": 0, "flip": False}  # train.augment as params.yaml ships it
SNAPSHOTS = {"lr_schedule": "cosine", "early_stopping": False, "keep_best": False}  # what train.snapshots > 1 needs


@pytest.fixture
def params():
    return load_params(str(ROOT / "params.yaml"))


def test_shipped_params_are_valid(params):
    assert params["dataset"] == "fashion_mnist" and params["members"] == list(range(10))
    assert params["epochs"] == 25 and params["batch_size"] == 128


@pytest.mark.parametrize("change, message", [
    ({"epochs": 0}, "params.yaml: epochs: 0 is not allowed; allowed: an integer >= 1"),
    ({"epochs": "ten"}, "params.yaml: epochs: 'ten' is not allowed; allowed: an integer >= 1"),
    ({"epochs": True}, "params.yaml: epochs: True is not allowed"),
    ({"batch_size": -5}, "params.yaml: batch_size: -5 is not allowed; allowed: an integer >= 1"),
    ({"members": []}, "params.yaml: members: [] is not allowed; allowed: a non-empty list"),
    ({"members": [0, 0]}, "params.yaml: members: [0, 0] is not allowed"),
    ({"dataset": "cifar10"}, "params.yaml: dataset: 'cifar10' is not allowed; allowed: one of fashion_mnist, mnist"),
    ({"limit": 0}, "params.yaml: limit: 0 is not allowed; allowed: null (all images) or an integer >= 1"),
    ({"arch": "vgg"}, "params.yaml: arch: 'vgg' is not allowed; allowed: one of ensemble_cnn"),
    ({"epoch": 3}, "params.yaml: epoch: unknown key (did you mean 'epochs'?)"),
    ({"train": {"optimizer": "rmsprop"}},
     "params.yaml: train.optimizer: 'rmsprop' is not allowed; allowed: one of nadam"),
    ({"train": {"patiense": 3}}, "params.yaml: train.patiense: unknown key (did you mean 'train.patience'?)"),
    ({"train": {"validation_fraction": 1.0}}, "params.yaml: train.validation_fraction: 1.0 is not allowed"),
    ({"report": {"dpi": 0}}, "params.yaml: report.dpi: 0 is not allowed"),
    ({"dataset": "digits.txt"}, "params.yaml: dataset: 'digits.txt' is not allowed; allowed: one of fashion_mnist, "
                                "mnist, or the path of your own .npz, .csv, .npy, .pkl file inside data/own/"),
    ({"classes": [3]}, "params.yaml: classes: [3] is not allowed; allowed: null (all classes) or a list of at least 2"),
    ({"classes": [1, 1, 2]}, "params.yaml: classes: [1, 1, 2] is not allowed"),
    ({"normalize": "zscore"}, "params.yaml: normalize: 'zscore' is not allowed; allowed: one of scale, standardize"),
    ({"split": "random"}, "params.yaml: split: 'random' is not allowed; allowed: one of per_member, fixed, none"),
    ({"test_fraction": 1.5}, "params.yaml: test_fraction: 1.5 is not allowed; allowed: null (the dataset's own"),
    ({"allow_pickle": "yes"}, "params.yaml: allow_pickle: 'yes' is not allowed; allowed: true or false"),
    ({"activation": "relux"}, "params.yaml: activation: 'relux' is not allowed; allowed: null (each architecture's "
                              "own) or one of relu, sigmoid"),
    ({"dropout": 1.0}, "params.yaml: dropout: 1.0 is not allowed; allowed: null (each architecture's own) or a number"),
    ({"max_params": 0}, "params.yaml: max_params: 0 is not allowed; allowed: null (no budget) or an integer >= 1"),
    ({"train": {"learning_rate": -1}}, "params.yaml: train.learning_rate: -1 is not allowed; allowed: null (Keras 2"),
    ({"train": {"lr_schedule": [[80]]}}, "params.yaml: train.lr_schedule: [[80]] is not allowed; allowed: cosine, or "
                                         "a list of [epoch, factor] pairs"),
    ({"train": {"lr_schedule": "linear"}}, "params.yaml: train.lr_schedule: 'linear' is not allowed; allowed: cosine"),
    ({"train": {"warmup_epochs": -1}}, "params.yaml: train.warmup_epochs: -1 is not allowed; allowed: an integer >= 0"),
    ({"train": {"warmup_epochs": 1}}, "params.yaml: train.warmup_epochs: 1 is not allowed with train.lr_schedule []; "
                                      "allowed: 0 (a warm-up leads into cosine)"),
    ({"train": {"warmup_epochs": 25, "lr_schedule": "cosine"}}, "params.yaml: train.warmup_epochs: 25 is not allowed "
                                                                 "with epochs 25; allowed: fewer warm-up epochs"),
    ({"train": {"snapshots": 0}}, "params.yaml: train.snapshots: 0 is not allowed; allowed: an integer >= 1"),
    ({"train": {"snapshots": 5}}, "params.yaml: train.snapshots: 5 is not allowed with train.lr_schedule []; allowed: "
                                  "1, or set train.lr_schedule: cosine"),
    ({"train": {"snapshots": 5, "lr_schedule": "cosine"}}, "params.yaml: train.early_stopping: true is not allowed "
                                                           "with train.snapshots 5 (each snapshot is the last epoch"),
    ({"train": {"snapshots": 5, "lr_schedule": "cosine", "early_stopping": False}},
     "params.yaml: train.keep_best: true is not allowed with train.snapshots 5"),
    ({"train": {"snapshots": 4, **SNAPSHOTS}}, "params.yaml: train.snapshots: 4 does not divide epochs 25; allowed: a "
                                               "divisor of epochs"),
    ({"train": {"snapshots": 5, "warmup_epochs": 1, **SNAPSHOTS}}, "params.yaml: train.warmup_epochs: 1 is not "
                                                                   "allowed with train.snapshots 5; allowed: 0"),
    ({"train": {"label_smoothing": 1.0}}, "params.yaml: train.label_smoothing: 1.0 is not allowed; allowed: a number "
                                          "from 0 up to (not including) 1"),
    ({"train": {"label_smoothing": True}}, "params.yaml: train.label_smoothing: True is not allowed"),
    ({"train": {"augment": {**NO_AUGMENT, "shift": -1}}}, "params.yaml: train.augment.shift: -1 is not allowed; "
                                                           "allowed: an integer from 0 to 14 (pixels)"),
    ({"train": {"augment": {**NO_AUGMENT, "shift": 1.5}}}, "params.yaml: train.augment.shift: 1.5 is not allowed"),
    ({"train": {"augment": {**NO_AUGMENT, "flip": "yes"}}}, "params.yaml: train.augment.flip: 'yes' is not allowed; "
                                                          "allowed: true or false"),
    ({"train": {"augment": {**NO_AUGMENT, "rotation": 5}}}, "params.yaml: train.augment.rotation: unknown key "
                                                             "(did you mean 'train.augment.rotate'?); allowed keys "
                                                             "here: shift, rotate, zoom, flip"),
    ({"train": {"augment": {**NO_AUGMENT, "rotate": -5}}}, "params.yaml: train.augment.rotate: -5 is not allowed; "
                                                          "allowed: a number from 0 to 180 (degrees)"),
    ({"train": {"augment": {**NO_AUGMENT, "zoom": 1}}}, "params.yaml: train.augment.zoom: 1 is not allowed; "
                                                       "allowed: a number from 0 up to (not including) 1"),
    ({"train": {"lr_schedule": [[120, 0.1], [80, 0.01]]}}, "params.yaml: train.lr_schedule: [[120, 0.1], [80, 0.01]]"),
    ({"train": {"early_stopping": "no"}}, "params.yaml: train.early_stopping: 'no' is not allowed; allowed: true or"),
    ({"ensemble": {"method": "median"}}, "params.yaml: ensemble.method: 'median' is not allowed; allowed: one of "
                                         "mean, vote"),
    ({"split": "none"}, "params.yaml: train.early_stopping: true is not allowed with split: none (no validation "
                        "set); allowed: false"),
    ({"split": "none", "train": {"early_stopping": False}}, "params.yaml: train.keep_best: true is not allowed with "
                                                            "split: none"),
])
def test_bad_values_name_key_value_and_what_is_allowed(params, change, message):
    bad = copy.deepcopy(params)
    for key, value in change.items():
        if isinstance(value, dict):
            bad[key].update(value)
        else:
            bad[key] = value
    with pytest.raises(PipelineError) as error:
        validate(bad)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_missing_key_is_named(params):
    del params["seed"]
    with pytest.raises(PipelineError, match="params.yaml: seed: missing; it is required"):
        validate(params)


def test_invalid_yaml_and_missing_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("epochs: [1, 2\n")
    with pytest.raises(PipelineError, match=r"params.yaml: not valid YAML at line 2"):
        load_params(str(path))
    with pytest.raises(PipelineError, match=r"nope.yaml: file not found"):
        load_params(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("pattern, line, key, value, message", [
    (r"^seed: .*$", "seed: 010", "seed", 10, None),  # PyYAML (YAML 1.1): octal, 8
    (r"^  learning_rate: .*$", "  learning_rate: 1e-3", "train.learning_rate", 0.001, None),  # PyYAML: '1e-3'
    (r"^epochs: .*$", "epochs: 1:30", "epochs", "1:30",  # PyYAML: sexagesimal, 90
     "params.yaml: epochs: '1:30' is not allowed; allowed: an integer >= 1"),
    (r"^allow_pickle: .*$", "allow_pickle: yes", "allow_pickle", "yes",  # PyYAML: true
     "params.yaml: allow_pickle: 'yes' is not allowed; allowed: true or false"),
])
def test_params_are_read_as_dvc_reads_them(tmp_path, monkeypatch, pattern, line, key, value, message):
    """What the stages train with must be what dvc.lock records: the code parses params.yaml as DVC does."""
    from dvc.utils.serialize import parse_yaml

    text, count = re.subn(pattern, line, (ROOT / "params.yaml").read_text(), count=1, flags=re.MULTILINE)
    assert count == 1
    monkeypatch.chdir(tmp_path)
    pathlib.Path("params.yaml").write_text(text)
    shutil.copy(ROOT / "architectures.yaml", "architectures.yaml")
    section, _, name = key.rpartition(".")
    dvc_reads = parse_yaml(text, "params.yaml")
    dvc_reads = dvc_reads[section][name] if section else dvc_reads[name]
    assert dvc_reads == value
    if message is None:
        ours = load_params()
        assert (ours[section][name] if section else ours[name]) == value
    else:
        with pytest.raises(PipelineError) as error:
            load_params()
        assert str(error.value) == message


def test_stage_with_bad_params_exits_non_zero_with_one_line_and_writes_nothing(tmp_path, params):
    params["batch_size"] = 0
    del params["architectures"]  # architectures.yaml's, merged in by load_params
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copy(ROOT / "architectures.yaml", tmp_path)
    result = subprocess.run([sys.executable, "-m", "stages.fetch"], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1
    assert result.stderr == ("error: params.yaml: batch_size: 0 is not allowed; allowed: an integer >= 1\n")
    assert sorted(os.listdir(tmp_path)) == ["architectures.yaml", "params.yaml"]


def test_the_studies_settings_are_valid(params):
    # study 004's recipe: no validation set, fixed epochs, Keras 2's Adadelta
    study_004 = {**params, "dataset": "mnist", "arch": "vgg_like", "split": "none", "members": [0], "epochs": 20,
                 "train": {**params["train"], "optimizer": "adadelta", "early_stopping": False, "keep_best": False}}
    validate(study_004)
    study_003 = {**params, "arch": "compact", "normalize": "standardize", "split": "fixed", "test_fraction": 0.1,
                 "max_params": 50_000, "activation": "relu", "dropout": 0.2}
    validate(study_003)
    validate({**params, "dataset": "data/own/my data/digits.CSV"})  # a path to the user's own file


def test_allowed_lists_agree_with_the_code_that_uses_them():
    # params.py keeps its own copy of the file formats so that checking params imports neither Keras nor pandas
    import keras

    from pipeline import options, user_data
    from pipeline import params as params_module
    assert all(hasattr(keras.optimizers, name) for name, _ in options.OPTIMIZERS.values())
    assert params_module.USER_FORMATS == tuple(user_data.READERS)
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    assert params_module.OWN_DATA_DIR in dvc_yaml["stages"]["fetch"]["deps"]  # what makes DVC see the file's bytes


def test_every_activation_name_the_check_allows_is_one_keras_has():
    import keras

    from pipeline.params import LAYER_ACTIVATIONS

    for name in LAYER_ACTIVATIONS:
        assert callable(keras.activations.get(name)), name


def _lists(section, prefix=""):
    """Dotted keys of the list values in `section` (architectures excluded: no one sets a layer list with -S)."""
    for key, value in section.items():
        if isinstance(value, dict) and key != "architectures":
            yield from _lists(value, f"{prefix}{key}.")
        elif isinstance(value, list) and key != "architectures":
            yield f"{prefix}{key}"


def test_every_list_survives_dvc_set_param_there_and_back(tmp_path):
    """`dvc exp run -S key=[...]` then `-S key=[]` rewrites params.yaml with DVC's own code (ruamel, round trip): a
    comment of several lines after a list once made the second write corrupt the file (`tta: []` then
    `architectures: ensemble_cnn:` on one line). Each list key of the shipped params.yaml, there and back."""
    from dvc.utils.hydra import apply_overrides  # what -S calls

    shipped = (ROOT / "params.yaml").read_text(encoding="utf-8")
    keys = sorted(_lists(read_yaml(shipped)))
    assert {"members", "train.lr_schedule", "ensemble.tta"} <= set(keys)
    for key in keys:
        path = tmp_path / f"{key}.yaml"
        path.write_text(shipped, encoding="utf-8")
        for value in ("[1, 2]", "[]", "[3]"):
            apply_overrides(str(path), [f"{key}={value}"])
            expected = recipes.apply(read_yaml(shipped), {key: read_yaml(value)})  # as -S sets a dotted key
            assert read_yaml(path.read_text(encoding="utf-8")) == expected, (key, value)


# --- aliases (tests/bombs.py): checked from the parser's events, before any Python object is built ---

ALIAS_REFUSED = "is an alias; allowed: each value written out (aliases only as `<<: *name` in recipes.yaml)"
BOMB_REFUSED = "more than 100,000 values once its aliases are expanded (an alias bomb?); allowed: at most 100,000"


def project_with(tmp_path, params=None, architectures=None, recipes_text=None):
    """tmp_path holding the shipped params.yaml, architectures.yaml and recipes.yaml, each replaced when given."""
    for name, text in (("params.yaml", params), ("architectures.yaml", architectures), ("recipes.yaml", recipes_text)):
        (tmp_path / name).write_text((ROOT / name).read_text() if text is None else text)
    return tmp_path


@pytest.mark.parametrize("files, read, refusal", [
    ({"params": bombs.yaml_bomb()}, "load_params", f"params.yaml: line 2: *l0 {ALIAS_REFUSED}"),
    ({"params": "seed: &s 0\nlimit: *s\n"}, "load_params", f"params.yaml: line 2: *s {ALIAS_REFUSED}"),
    ({"architectures": "mine: &m [{Flatten: {}}]\nyours: *m\n"}, "load_params",
     f"architectures.yaml: line 2: *m {ALIAS_REFUSED}"),
    ({"recipes_text": bombs.yaml_bomb(merge=True)}, "recipes", f"recipes.yaml: line 6: {BOMB_REFUSED}"),
    ({"recipes_text": bombs.yaml_bomb()}, "recipes", f"recipes.yaml: line 2: *l0 {ALIAS_REFUSED}"),
    ({"recipes_text": "base: &base\n  epochs: 3\nmine:\n  <<: *base\n  classes: *base\n"}, "recipes",
     f"recipes.yaml: line 5: *base {ALIAS_REFUSED}"),
    ({"recipes_text": "mine: &mine\n  <<: *mine\n"}, "recipes",
     "recipes.yaml: line 2: *mine is an alias inside the value it names (endless); allowed: no such alias"),
    ({"params": "epochs:\n  " + "[" * 2000 + "]" * 2000 + "\n"}, "load_params",
     "params.yaml: line 2: nested deeper than 50 levels; allowed: at most 50"),
])
def test_aliases_are_refused_in_one_line_before_any_value_is_built(tmp_path, monkeypatch, files, read, refusal):
    """An alias bomb (~500 bytes, 387 million values) costs milliseconds: the events are counted, aliases followed
    by their anchors' sizes, and nothing is expanded; params.yaml and architectures.yaml take no alias at all."""
    monkeypatch.chdir(project_with(tmp_path, **files))
    start = time.perf_counter()
    with pytest.raises(PipelineError) as error:
        load_params() if read == "load_params" else recipes.load()
    assert str(error.value) == refusal and time.perf_counter() - start < 1


def test_merge_keys_in_recipes_expand_within_the_bound(tmp_path):
    """Seven levels of merged recipes (7**7 = 823,543 values counted) are refused; three levels (~400) load."""
    path = tmp_path / "recipes.yaml"
    path.write_text(bombs.yaml_bomb(levels=3, width=7, merge=True))
    assert recipes.load(str(path))["l3"] == {"epochs": 1}
    path.write_text(bombs.yaml_bomb(levels=7, width=7, merge=True))
    with pytest.raises(PipelineError, match=re.escape(f"recipes.yaml: line 7: {BOMB_REFUSED}")):
        recipes.load(str(path))


def test_an_alias_in_a_set_value_is_refused_in_one_line():
    with pytest.raises(PipelineError, match=re.escape(f"-S members: line 1: *a {ALIAS_REFUSED}")):
        recipes.settings_only("fast", ["-S", "members=[&a 1, *a]"])


def test_the_shipped_files_are_far_within_the_bound():
    """MAX_YAML_NODES is 100,000; the shipped files hold a few hundred values each, recipes.yaml's merges included."""
    for name, merge_keys in (("params.yaml", False), ("architectures.yaml", False), ("recipes.yaml", True)):
        assert check_aliases((ROOT / name).read_text(), merge_keys) < MAX_YAML_NODES / 20, name
