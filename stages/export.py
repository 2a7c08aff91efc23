"""Stage export: every member as one Keras model (export/ensemble.keras), a TensorFlow SavedModel for serving
(export/saved_model/), and export/ensemble.json with the class names and how inputs are prepared.

Before anything is written, the combined model predicts the prepared test set and must reproduce
reports/test_predictions.csv: the same class for every image, probabilities within 1e-5.
"""

from pipeline.startup import import_quietly

import_quietly("keras")  # before anything else loads TensorFlow, so its start-up log stays quiet

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline import prepared  # noqa: E402
from pipeline.ensemble_model import combine  # noqa: E402
from pipeline.paths import ENSEMBLE_MODEL, MODEL_CARD, PREPARED_DIR, SAVED_MODEL_DIR, TEST_PREDICTIONS  # noqa: E402
from pipeline.errors import PipelineError, run_main  # noqa: E402
from pipeline.files import atomic_path, record_wall_time, write_json  # noqa: E402
from pipeline.inference import PREDICT_BATCH_SIZE  # noqa: E402
from pipeline.members import load_member  # noqa: E402
from pipeline.params import load_params  # noqa: E402

TOLERANCE = 1e-5  # test_predictions.csv keeps 6 decimals


def check_against_ensemble(model, x_test, predictions_path):
    """The largest probability difference from `predictions_path`; a different class or a larger gap is an error."""
    expected = pd.read_csv(predictions_path, index_col="index").filter(like="p_").to_numpy(np.float32)
    probabilities = model.predict(x_test, batch_size=PREDICT_BATCH_SIZE, verbose=0)
    gap = float(np.max(np.abs(probabilities - expected)))
    same_class = np.array_equal(np.argmax(probabilities, axis=1), np.argmax(expected, axis=1))
    if not same_class or gap > TOLERANCE:
        raise PipelineError(f"{ENSEMBLE_MODEL}: does not reproduce {predictions_path} (largest probability gap "
                            f"{gap:.2g}, same classes: {same_class}); allowed: a gap up to {TOLERANCE:g}")
    return gap


def main(argv=None):
    params = load_params()
    method, tta, members = params["ensemble"]["method"], params["ensemble"]["tta"], params["members"]
    data = prepared.load(PREPARED_DIR, names=("x_test",))
    meta = data["meta"]
    with record_wall_time("export"):
        model = combine([load_member(member) for member in members], method, input_shape=data["x_test"].shape[1:],
                        tta=tta)
        gap = check_against_ensemble(model, data["x_test"], TEST_PREDICTIONS)
        with atomic_path(ENSEMBLE_MODEL) as temporary:
            model.save(temporary)
        with atomic_path(SAVED_MODEL_DIR) as temporary:
            model.export(temporary, format="tf_saved_model", verbose=False)
        write_json(MODEL_CARD, {
            "dataset": meta["dataset"], "class_names": meta["class_names"], "ensemble_method": method,
            "tta": tta, "members": members, "input": "float32 (N, 28, 28, 1), light-on-dark pixels in [0, 1] (pipeline.preprocess)",
            "output": "float32 (N, classes): the ensemble's probability of each class, in class_names' order",
            "test_images_checked": int(len(data["x_test"])), "largest_gap_to_test_predictions": gap})
    print(f"export: {len(members)} members ({method}) -> {ENSEMBLE_MODEL}, {SAVED_MODEL_DIR}/, {MODEL_CARD}; "
          f"reproduces {TEST_PREDICTIONS} on {len(data['x_test'])} images (largest gap {gap:.1g})")


if __name__ == "__main__":
    run_main(main)
