"""Stage export: every member as one Keras model (export/ensemble.keras), a TensorFlow SavedModel for serving
(export/saved_model/), and export/ensemble.json with the class names and how inputs are prepared.

Before anything is written, the combined model predicts the prepared test set and must reproduce what the
ensemble stage computed: the members' test probabilities (data/predictions/members.npz, full precision, with
`ensemble.tta`'s views) combined by `ensemble.method`: the same class for every image, probabilities within 1e-5.
"""


from pipeline import prepared
from pipeline.ensemble_model import build_ensemble, check_against_ensemble
from pipeline.members import ensemble_members, load_member
from pipeline.params import load_params
from pipeline.paths import ENSEMBLE_MODEL, MODEL_CARD, PREDICTIONS, PREPARED_DIR, SAVED_MODEL_DIR
from pipeline.runtime.errors import run_main
from pipeline.runtime.files import atomic_path, timed, write_json


def main():
    params = load_params()
    method, tta, entries = params["ensemble"]["method"], params["ensemble"]["tta"], ensemble_members(params)
    data = prepared.load(PREPARED_DIR, names=("x_test",))
    meta = data["meta"]
    with timed("export"):
        model = build_ensemble([load_member(entry) for entry in entries], method,
                               input_shape=data["x_test"].shape[1:], tta=tta)
        gap = check_against_ensemble(model, data["x_test"], method, PREDICTIONS)
        with atomic_path(ENSEMBLE_MODEL) as temporary:
            model.save(temporary)
        with atomic_path(SAVED_MODEL_DIR) as temporary:
            model.export(temporary, format="tf_saved_model", verbose=False)
        write_json(MODEL_CARD, {
            "dataset": meta["dataset"], "class_names": meta["class_names"], "ensemble_method": method,
            "tta": tta, "members": [entry.name for entry in entries],
            "input": "float32 (N, 28, 28, 1), light-on-dark pixels in [0, 1] (pipeline.prepare)",
            "output": "float32 (N, classes): the ensemble's probability of each class, in class_names' order",
            "test_images_checked": int(len(data["x_test"])), "largest_gap_to_test_predictions": gap})
    print(f"export: {len(entries)} members ({method}) -> {ENSEMBLE_MODEL}, {SAVED_MODEL_DIR}/, {MODEL_CARD}; "
          f"reproduces the ensemble of {PREDICTIONS} on {len(data['x_test'])} images (largest gap {gap:.1g})")


if __name__ == "__main__":
    run_main(main)
