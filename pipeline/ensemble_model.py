"""The trained members as one Keras model, combined as `ensemble.method` says (pipeline.metrics does the same in NumPy).

Input: images shaped (N, 28, 28, 1), float32 in [0, 1] (pipeline.prepare). Output: (N, classes) float32
probabilities, each row summing to 1. Each member keeps its own layers, including the standardisation layer
of `normalize: standardize`, and its own dtype policy (mixed bfloat16 where it trained so), so the model
computes what evaluate computed.
"""
import numpy as np

from pipeline.inference import PREDICT_BATCH_SIZE, view
from pipeline.metrics import ENSEMBLE_METHODS, vote_probabilities
from pipeline.paths import ENSEMBLE_MODEL
from pipeline.runtime.errors import PipelineError
from pipeline.runtime.files import load_keras_file
from pipeline.runtime.quiet_keras import keras


@keras.saving.register_keras_serializable(package="cnn_ensembles")
class MajorityVote(keras.layers.Layer):
    """pipeline.metrics.vote_probabilities as a layer, the same formula in keras.ops: one vote per member for its
    predicted class, plus a tie-break split by the members' mean probabilities, divided so rows sum to 1."""

    def call(self, member_probabilities):
        return vote_probabilities(keras.ops.stack(member_probabilities, axis=0), keras.ops)  # (members, N, classes)


@keras.saving.register_keras_serializable(package="cnn_ensembles")
class View(keras.layers.Layer):
    """pipeline.inference.view as a layer: the test-time augmentation views (ensemble.tta) inside the model."""

    def __init__(self, view_name, **kwargs):
        super().__init__(**kwargs)
        self.view_name = view_name

    def call(self, images):
        return view(images, self.view_name)

    def get_config(self):
        return {**super().get_config(), "view_name": self.view_name}


def build_ensemble(members, method, input_shape=(28, 28, 1), tta=()):
    """One model: every Keras model in `members` on the same input, each averaged over the image and its `tta`
    views (pipeline.inference), combined by `method` (an ENSEMBLE_METHODS name)."""
    if method not in ENSEMBLE_METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(ENSEMBLE_METHODS)}")
    inputs = keras.Input(shape=input_shape, name="images")
    views = [inputs] + [View(name, name=f"view_{name}")(inputs) for name in tta]
    outputs = []
    for index, member in enumerate(members):
        member.name = f"member_{index}"  # the members share one architecture name; nested models need their own
        seen = [keras.ops.cast(member(images), "float32") for images in views]
        outputs.append(seen[0] if len(seen) == 1 else keras.layers.Average(dtype="float32",
                                                                           name=f"tta_{index}")(seen))
    if method == "vote":  # also for one member: a vote turns its probabilities into (one-hot + p / 2) / 1.5
        combined = MajorityVote(dtype="float32", name="vote")(outputs)
    elif len(outputs) == 1:  # the mean of one
        combined = outputs[0]
    else:
        combined = keras.layers.Average(dtype="float32", name="mean")(outputs)
    return keras.Model(inputs, combined, name=f"ensemble_{method}_of_{len(members)}")


TOLERANCE = 1e-5  # float32 sums of one graph against the members predicted one by one (measured: under 1e-6)


def check_against_ensemble(model, x_test, method, predictions_path):
    """The largest probability gap between `model` on `x_test` and the members' test probabilities in
    `predictions_path` (evaluate's .npz, "test": members x images x classes) combined by `method`; a different
    class for any image, or a larger gap than TOLERANCE, is a PipelineError."""
    with np.load(predictions_path) as predictions:
        expected = ENSEMBLE_METHODS[method].combine(predictions["test"]).astype(np.float32)
    probabilities = model.predict(x_test, batch_size=PREDICT_BATCH_SIZE, verbose=0)
    gap = float(np.max(np.abs(probabilities - expected)))
    same_class = np.array_equal(np.argmax(probabilities, axis=1), np.argmax(expected, axis=1))
    if not same_class or gap > TOLERANCE:
        raise PipelineError(f"{ENSEMBLE_MODEL}: does not reproduce the ensemble of {predictions_path} (largest "
                            f"probability gap {gap:.2g}, same classes: {same_class}); allowed: a gap up to "
                            f"{TOLERANCE:g}")
    return gap


REBUILD = "run `dvc repro export` (after `dvc repro` has trained the members)"  # how a missing export is made


def load_ensemble(path=ENSEMBLE_MODEL):
    """The exported ensemble; a missing or damaged file is one PipelineError saying how to rebuild it."""
    return load_keras_file(path, REBUILD)
