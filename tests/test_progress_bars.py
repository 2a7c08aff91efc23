"""Progress of long predictions: a tqdm bar on a terminal's stderr, counted per batch; nothing in logs, the same rows.

pipeline.predict and the evaluate stage count images through pipeline.inference.images_done (a Keras callback).
"""
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios

import numpy as np

from pipeline.datasets import IMAGES_MAGIC
from pipeline.inference import predict_member

from project import BARE_PATH

CLASSES = ["zero", "one", "two"]


def tiny_ensemble(folder):
    """A 3-class ensemble of one small member saved as `folder`/ensemble.keras, with its card (the class names)."""
    import keras

    from pipeline.ensemble_model import build_ensemble

    keras.utils.set_random_seed(0)
    member = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                               keras.layers.Dense(len(CLASSES), activation="softmax")])
    model = build_ensemble([member], "mean")
    model.save(folder / "ensemble.keras")
    (folder / "ensemble.json").write_text(json.dumps({"class_names": CLASSES}))
    return model


def write_idx(path, pixels):
    path.write_bytes(IMAGES_MAGIC.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in pixels.shape)
                     + pixels.tobytes())


def test_predict_member_counts_each_batch_of_each_view():
    import keras

    keras.utils.set_random_seed(0)
    member = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    images = np.random.default_rng(0).random((6, 28, 28, 1)).astype(np.float32)
    done = []
    with_progress = predict_member(member, images, ("flip",), batch_size=4, progress=done.append)
    assert done == [4, 2, 4, 2]  # the image, then its flipped view, in batches of 4
    assert np.array_equal(with_progress, predict_member(member, images, ("flip",), batch_size=4))


class Bar:
    """What predict() uses of a tqdm bar, recording what it was told."""

    def __init__(self):
        self.total, self.events = 0, []

    def refresh(self):
        self.events.append(f"total {self.total}")

    def update(self, count):
        self.events.append(count)


def test_predict_grows_the_total_as_files_are_read_and_moves_per_batch(tmp_path):
    from pipeline.predict import predict

    model = tiny_ensemble(tmp_path)
    pixels = np.random.default_rng(1).integers(0, 256, (25, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "a-idx3-ubyte", pixels[:15])
    write_idx(tmp_path / "b-idx3-ubyte", pixels[15:])
    bar = Bar()
    rows = list(predict([str(tmp_path / "a-idx3-ubyte"), str(tmp_path / "b-idx3-ubyte")], model=model,
                        class_names=CLASSES, batch_size=10, progress=bar))
    assert len(rows) == 25
    assert bar.events == ["total 15", "total 25", 10, 10, 5]  # both files fit one model call, of 3 batches


def start_predict(folder, rows, stderr):
    """`python -m pipeline.predict` on folder's images, its rows into the file `rows` (a pipe unread while the
    test reads the terminal would fill and stop it)."""
    with open(rows, "wb") as handle:
        return subprocess.Popen([sys.executable, "-m", "pipeline.predict", "--model", "ensemble.keras",
                                 "images-idx3-ubyte"], cwd=folder, env={"PATH": BARE_PATH, "TF_CPP_MIN_LOG_LEVEL": "2"},
                                stdout=handle, stderr=stderr)


def test_a_terminal_shows_the_bar_logs_get_nothing_and_the_rows_stay_the_same(tmp_path):
    model = tiny_ensemble(tmp_path)
    pixels = np.random.default_rng(2).integers(0, 256, (3000, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "images-idx3-ubyte", pixels)
    terminal, stderr_end = pty.openpty()
    # a new pty is 0 columns wide, where tqdm draws an empty line: give it a terminal's size
    fcntl.ioctl(stderr_end, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    watched = start_predict(tmp_path, tmp_path / "watched.csv", stderr=stderr_end)
    logged = start_predict(tmp_path, tmp_path / "logged.csv", stderr=subprocess.PIPE)  # as DVC or a log gets it
    os.close(stderr_end)
    drawn = b""
    while select.select([terminal], [], [], 120)[0]:  # read while it runs (a full pty would stop it), 2 min at most
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # EIO: the process closed the pty's other end
            break
        if not chunk:
            break
        drawn += chunk
    os.close(terminal)
    _, logged_errors = logged.communicate(timeout=120)
    assert watched.wait(timeout=120) == 0 and logged.returncode == 0, drawn.decode(errors="replace")
    drawn = drawn.decode()
    assert "| 3000/3000 [" in drawn and drawn.rstrip().endswith("image/s]"), drawn
    assert logged_errors == b""
    rows = (tmp_path / "watched.csv").read_text()
    assert rows == (tmp_path / "logged.csv").read_text()
    lines = rows.splitlines()
    assert lines[0] == "file,index,predicted,probability,class_2,probability_2,class_3,probability_3"
    from pipeline.predict import read_images

    expected = model.predict(read_images(str(tmp_path / "images-idx3-ubyte")), verbose=0).argmax(axis=1)
    assert [line.split(",")[2] for line in lines[1:]] == [CLASSES[k] for k in expected]
