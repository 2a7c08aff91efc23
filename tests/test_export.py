"""The exported ensemble and `python -m pipeline.predict`, on the project the end-to-end tests trained."""
import gzip
import io
import json
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_pictures import png_header_only

from pipeline.datasets import IMAGES_MAGIC

from project import BARE_PATH


@pytest.fixture(scope="module")
def exported(first_run):
    """The first run's project (its dvc repro ran export), with its test set and the ensemble's predictions."""
    x_test = np.load(first_run / "data" / "prepared" / "x_test.npy")
    expected = pd.read_csv(first_run / "reports" / "test_predictions.csv", index_col="index")
    return first_run, x_test, expected


def predict(repo, *arguments):
    """(exit code, CSV table, stderr lines) of `.venv/bin/python -m pipeline.predict ...` run in `repo`."""
    result = subprocess.run([str(repo / ".venv" / "bin" / "python"), "-m", "pipeline.predict", *map(str, arguments)],
                            cwd=repo, env={"PATH": BARE_PATH}, capture_output=True, text=True)
    table = pd.read_csv(io.StringIO(result.stdout)) if result.stdout else None
    return result.returncode, table, result.stderr.strip().splitlines()


def write_png(path, image):
    Image.fromarray((image[:, :, 0] * 255).round().astype(np.uint8)).save(path)


def test_the_artifact_is_declared_and_the_card_names_the_classes(exported):
    repo, _, expected = exported
    card = json.loads((repo / "export" / "ensemble.json").read_text())
    assert card["class_names"][:2] == ["T-shirt/top", "Trouser"] and card["members"] == [0, 1]
    assert card["test_images_checked"] == len(expected) and card["largest_gap_to_test_predictions"] <= 1e-5
    import yaml
    artifact = yaml.safe_load((repo / "dvc.yaml").read_text())["artifacts"]["cnn-ensemble"]
    assert artifact["path"] == "export/ensemble.keras" and artifact["type"] == "model"
    assert artifact["meta"]["class_names"] == card["class_names"]  # the default dataset's, as the run's


def test_the_exported_model_reproduces_the_ensembles_test_predictions(exported):
    import keras
    import tensorflow as tf

    repo, x_test, expected = exported
    model = keras.models.load_model(repo / "export" / "ensemble.keras")
    probabilities = model.predict(x_test, batch_size=1024, verbose=0)
    assert probabilities.dtype == np.float32
    reference = expected.filter(like="p_").to_numpy(np.float32)
    assert np.array_equal(probabilities.argmax(axis=1), reference.argmax(axis=1))
    assert np.abs(probabilities - reference).max() <= 1e-5
    saved_model = tf.saved_model.load(str(repo / "export" / "saved_model"))  # kept: its functions need it alive
    served = saved_model.serve(tf.constant(x_test[:64])).numpy()
    assert np.abs(served - probabilities[:64]).max() <= 1e-6


def test_pngs_of_test_images_get_exactly_the_ensembles_predictions(exported, tmp_path):
    repo, x_test, expected = exported
    paths = []
    for index in range(12):
        paths.append(tmp_path / f"test_{index}.png")
        write_png(paths[-1], x_test[index])
    code, table, errors = predict(repo, *paths, "--top", "3")
    assert code == 0 and errors == [], errors
    assert list(table.columns) == ["file", "index", "predicted", "probability", "class_2", "probability_2",
                                   "class_3", "probability_3"]
    assert list(table["predicted"]) == list(expected["predicted"][:12])
    for row, (_, reference) in zip(table.itertuples(), expected[:12].iterrows()):
        assert row.probability == pytest.approx(reference[f"p_{row.predicted}"], abs=1e-5)
        assert row.probability >= row.probability_2 >= row.probability_3


def test_idx_npz_and_csv_inputs_give_the_same_rows_as_pictures(exported, tmp_path):
    repo, x_test, expected = exported
    pixels = (x_test[:20, :, :, 0] * 255).round().astype(np.uint8)
    idx = tmp_path / "images-idx3-ubyte.gz"
    idx.write_bytes(gzip.compress(IMAGES_MAGIC.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in pixels.shape)
                                  + pixels.tobytes()))
    np.savez(tmp_path / "images.npz", features=pixels.reshape(20, 784), target=np.zeros(20))
    columns = [f"pixel{i}" for i in range(784)]
    pd.DataFrame(pixels.reshape(20, 784), columns=columns).to_csv(tmp_path / "images.csv", index=False)
    code, table, errors = predict(repo, idx, tmp_path / "images.npz", tmp_path / "images.csv", "--top", "1")
    assert code == 0 and errors == []
    assert list(table.columns) == ["file", "index", "predicted", "probability"]
    for name in ("images-idx3-ubyte.gz", "images.npz", "images.csv"):
        rows = table[table["file"].str.endswith(name)]
        assert list(rows["index"]) == list(range(20))
        assert list(rows["predicted"]) == list(expected["predicted"][:20]), name


def test_bad_files_are_one_line_each_and_the_good_ones_are_still_classified(exported, tmp_path):
    repo, x_test, _ = exported
    write_png(tmp_path / "good.png", x_test[0])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (tmp_path / "notes.txt").write_text("hello")
    np.savez(tmp_path / "wide.npz", features=np.zeros((2, 30, 30)))
    np.savez(tmp_path / "bright.npz", features=np.full((2, 784), 300.0))
    png_header_only(tmp_path / "bomb.png", 20000, 20000)  # 20000x20000 declared in a few hundred bytes
    (tmp_path / "folder").mkdir()
    code, table, errors = predict(repo, tmp_path / "good.png", tmp_path / "broken.png", tmp_path / "missing.png",
                                  tmp_path / "notes.txt", tmp_path / "wide.npz", tmp_path / "bright.npz",
                                  tmp_path / "bomb.png", tmp_path / "folder", tmp_path / "good.png")
    assert code == 1 and list(table["file"]) == [str(tmp_path / "good.png")] * 2
    assert errors[0].startswith(f"error: {tmp_path / 'broken.png'}: not a readable picture")
    assert errors[1] == f"error: {tmp_path / 'missing.png'}: file not found"
    assert errors[2].startswith(f"error: {tmp_path / 'notes.txt'}: unsupported file type; allowed: .png, .jpg")
    assert errors[3].startswith(f"error: {tmp_path / 'wide.npz'}: features have shape (2, 30, 30); allowed:")
    assert errors[4] == (f"error: {tmp_path / 'bright.npz'}: image 0, pixel 0: 300 is out of range; allowed: pixels "
                         "from 0 to 255 (or 0 to 1)")
    assert errors[5].startswith(f"error: {tmp_path / 'bomb.png'}: too large to decode")
    assert errors[6] == (f"error: {tmp_path / 'folder'}: a folder; allowed: files (name the pictures in it, e.g. "
                         f"{tmp_path / 'folder' / '*.png'})")
    assert errors[-1] == "error: 7 of 9 files not classified (see above)"


def test_a_missing_model_is_one_line_saying_how_to_make_it(exported, tmp_path):
    repo, x_test, _ = exported
    write_png(tmp_path / "good.png", x_test[0])
    code, table, errors = predict(repo, tmp_path / "good.png", "--model", tmp_path / "none.keras")
    assert code == 1 and table is None
    assert errors == [f"error: {tmp_path / 'none.keras'}: missing; run `dvc repro export` (after `dvc repro` has "
                      "trained the members)"]


def test_pictures_of_any_size_and_colour_become_the_training_images(tmp_path):
    """A dark-on-light colour photo, four times the size, comes back close to the 28x28 light-on-dark original;
    a wide one is padded with its background to a square first."""
    from pipeline.predict import read_images

    original = np.zeros((28, 28), dtype=np.uint8)
    original[6:22, 9:19] = 200  # a light garment on a dark background
    photo = Image.fromarray(255 - original).resize((112, 112), Image.NEAREST).convert("RGB")
    photo.save(tmp_path / "photo.jpg", quality=95)
    pixels = read_images(str(tmp_path / "photo.jpg"), dark_on_light=True)
    assert pixels.shape == (1, 28, 28, 1) and pixels.dtype == np.float32
    assert np.abs(pixels[0, :, :, 0] * 255 - original).mean() < 4  # resampling and JPEG blur the edges only
    assert read_images(str(tmp_path / "photo.jpg")).mean() > 0.5  # without the option it stays dark-on-light
    wide = Image.fromarray(np.pad(255 - original, ((0, 0), (14, 14)), constant_values=255)).convert("RGB")
    wide.save(tmp_path / "wide.png")
    pixels = read_images(str(tmp_path / "wide.png"), dark_on_light=True)[0, :, :, 0] * 255
    assert pixels[:6].max() == 0 and pixels[-6:].max() == 0  # padded with the (inverted) background
    assert pixels[10:18, 12:16].min() > 150  # the garment, centred, at half the size


def test_python_users_get_the_same_rows_from_the_function(exported, monkeypatch, tmp_path):
    from pipeline.predict import header
    from pipeline.predict import predict as predict_rows

    repo, x_test, expected = exported
    write_png(tmp_path / "one.png", x_test[3])
    monkeypatch.chdir(repo)
    rows = list(predict_rows([str(tmp_path / "one.png")], top=2))
    assert header(2) == ["file", "index", "predicted", "probability", "class_2", "probability_2"]
    assert rows[0][:3] == [str(tmp_path / "one.png"), 0, expected["predicted"][3]]


def test_vote_in_the_model_is_the_vote_in_numpy():
    """pipeline.ensemble_model.MajorityVote against pipeline.metrics.vote_probabilities, ties included."""
    import keras

    from pipeline.ensemble_model import build_ensemble
    from pipeline.metrics import vote_probabilities

    inputs = keras.Input(shape=(3,))
    fixed = [np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]]),
             np.array([[0.5, 0.4, 0.1], [0.6, 0.2, 0.2], [0.3, 0.3, 0.4]]),
             np.array([[0.1, 0.7, 0.2], [0.1, 0.1, 0.8], [0.1, 0.6, 0.3]])]
    members = []
    for index, table in enumerate(fixed):  # a "member" that outputs row i of its table for the one-hot input i
        layer = keras.layers.Dense(3, use_bias=False, name=f"table_{index}")
        member = keras.Model(inputs, layer(inputs))
        layer.set_weights([table])
        members.append(member)
    for count in (3, 1):  # a vote of one member is not its probabilities
        model = build_ensemble(members[:count], "vote", input_shape=(3,))
        got = model.predict(np.eye(3, dtype=np.float32), verbose=0)
        assert np.abs(got - vote_probabilities(np.stack(fixed[:count]))).max() < 1e-6
