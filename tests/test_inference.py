"""Test-time augmentation (pipeline.inference): the views, and the exported model computing what evaluate computes."""
import keras
import numpy as np
import pytest

from pipeline.ensemble_model import build_ensemble, check_against_ensemble
from pipeline.inference import VIEWS, predict_member, view
from pipeline.runtime.errors import PipelineError

IMAGES = np.random.default_rng(0).random((6, 28, 28, 1)).astype(np.float32)


def as_array(tensor):
    return keras.ops.convert_to_numpy(tensor)


def test_each_view_moves_the_whole_image_and_fills_with_background():
    assert np.array_equal(as_array(view(IMAGES, "flip")), IMAGES[:, :, ::-1])
    left, right = as_array(view(IMAGES, "left")), as_array(view(IMAGES, "right"))
    assert np.array_equal(left[:, :, :-1], IMAGES[:, :, 1:]) and (left[:, :, -1] == 0).all()
    assert np.array_equal(right[:, :, 1:], IMAGES[:, :, :-1]) and (right[:, :, 0] == 0).all()
    up, down = as_array(view(IMAGES, "up")), as_array(view(IMAGES, "down"))
    assert np.array_equal(up[:, :-1], IMAGES[:, 1:]) and (up[:, -1] == 0).all()
    assert np.array_equal(down[:, 1:], IMAGES[:, :-1]) and (down[:, 0] == 0).all()


def tiny_member(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                             keras.layers.Dense(3, activation="softmax")])


@pytest.mark.parametrize("tta", [(), ("flip",), VIEWS])
def test_the_exported_model_averages_the_same_views_as_evaluate(tmp_path, tta):
    members = [tiny_member(0), tiny_member(1)]
    expected = np.mean([predict_member(member, IMAGES, tta) for member in members], axis=0)
    model = build_ensemble(members, "mean", tta=tta)
    model.save(tmp_path / "ensemble.keras")
    got = keras.models.load_model(tmp_path / "ensemble.keras").predict(IMAGES, verbose=0)
    assert np.abs(got - expected).max() < 1e-6
    if tta:  # the views change what a member predicts
        assert np.abs(predict_member(members[0], IMAGES, tta) - predict_member(members[0], IMAGES)).max() > 1e-4


@pytest.mark.parametrize("method", ["mean", "vote"])
def test_export_checks_the_model_against_the_members_predictions(tmp_path, method):
    """check_against_ensemble: the combined model reproduces the members' saved test probabilities combined by
    `method` (as the ensemble stage combines them); a member's predictions that are not the model's are refused."""
    members = [tiny_member(0), tiny_member(1)]
    predictions = tmp_path / "members.npz"
    test = np.stack([predict_member(member, IMAGES, ("flip",)) for member in members])
    np.savez(predictions, test=test)
    model = build_ensemble(members, method, tta=("flip",))
    assert check_against_ensemble(model, IMAGES, method, predictions) < 1e-6
    np.savez(predictions, test=test[::-1] * 0.5 + np.eye(3)[[0, 1, 2, 0, 1, 2]] * 0.5)
    with pytest.raises(PipelineError, match=rf"export/ensemble.keras: does not reproduce the ensemble of {predictions} "
                                            r"\(largest probability gap .*\); allowed: a gap up to 1e-05"):
        check_against_ensemble(model, IMAGES, method, predictions)


def test_a_saved_member_loads_for_prediction_without_its_training_settings(tmp_path):
    """load_keras_file leaves the model uncompiled: compiled, Keras predicts the first pass with the training's
    steps_per_execution, 2-3.4x slower (benchmarks/first_predict.py); the outputs are the same."""
    from pipeline.runtime.files import load_keras_file

    member = tiny_member(0)
    member.compile(optimizer="adam", loss="sparse_categorical_crossentropy", steps_per_execution=32)
    member.save(tmp_path / "member.keras")
    loaded = load_keras_file(str(tmp_path / "member.keras"), "retrain it")
    assert not loaded.compiled
    assert np.array_equal(predict_member(loaded, IMAGES), member.predict(IMAGES, verbose=0))
