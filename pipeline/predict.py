"""Classify images with the exported ensemble (export/ensemble.keras, written by `dvc repro`).

    python -m pipeline.predict shirt.png boot.jpg [--top 3] [--output predictions.csv]

Inputs: pictures (PNG, JPEG, BMP, GIF, WebP, TIFF) of any mode up to 40 megapixels; IDX image
files (.gz or not); `.npz` with a `features` array and CSV with 784 pixel columns (an optional
`label` column is ignored), as for `dataset`; an array over pipeline.user_data.MAX_ARRAY_BYTES once
read is refused from the size its file declares, before it is read. Pictures become 28x28 grey
as a person sees them (pipeline.pictures: bit depth, transparency, palette, CMYK, EXIF
orientation), padded to a square with the background colour, resized with Lanczos filtering. The
datasets are light-on-dark; for dark-on-light pictures (a photo of a shirt on white paper) pass
--dark-on-light, which inverts them. Pixels are then divided as prepare divides the training images (pipeline.prepare):
8-bit pictures and IDX files by 255, arrays by the divisor rule.

Output: CSV rows `file, index, predicted, probability, class_2, probability_2, ...` (index
counts images inside a multi-image file). A bad file is one line on stderr naming it and the
rule; the others are still classified; the exit code is then 1.
"""
import argparse
import contextlib
import csv
import os
import sys

import numpy as np
from tqdm import tqdm

from pipeline.datasets import IMAGES_MAGIC, parse_idx, read_idx_bytes
from pipeline.ensemble_model import REBUILD, load_ensemble
from pipeline.inference import PREDICT_BATCH_SIZE, images_done
from pipeline.paths import ENSEMBLE_MODEL, MODEL_CARD
from pipeline.pictures import PICTURE_FORMATS, read_picture
from pipeline.prepare import pixel_divisor, scale
from pipeline.runtime.errors import PipelineError, print_error
from pipeline.runtime.files import atomic_path, read_json
from pipeline.user_data import IMAGE_SHAPE, check_pixel_range, read_features

ARRAY_FORMATS = (".npz", ".csv")
IMAGES_PER_CALL = 16 * PREDICT_BATCH_SIZE  # per model.predict call (50 MB of float32): fewer calls, each set up once


def read_idx(path):
    with open(path, "rb") as handle:
        data = read_idx_bytes(handle, path)
    array = parse_idx(data, path)
    if int.from_bytes(data[:4], "big") != IMAGES_MAGIC or array.shape[1:] != IMAGE_SHAPE:
        raise PipelineError(f"{path}: an IDX file of shape {array.shape}; allowed: 28x28 images (N, 28, 28)")
    return array


def read_images(path, dark_on_light=False):
    """The images of the file at `path` as a member's input, float32 (N, 28, 28, 1) in [0, 1]: checked (finite,
    within PIXEL_RANGE) and scaled as prepare scales (pictures and IDX files are 8-bit; arrays are divided by
    the divisor rule over the whole file)."""
    if os.path.isdir(path):
        raise PipelineError(f"{path}: a folder; allowed: files (name the pictures in it, "
                            f"e.g. {os.path.join(path, '*.png')})")
    if not os.path.isfile(path):
        raise PipelineError(f"{path}: file not found")
    name = path.lower().removesuffix(".gz")
    if name.endswith(PICTURE_FORMATS):
        images = read_picture(path, dark_on_light)
    elif name.endswith(ARRAY_FORMATS):
        images = read_features(path)
    elif name.endswith("ubyte") or name.endswith(".idx"):
        images = read_idx(path)
    else:
        raise PipelineError(f"{path}: unsupported file type; allowed: {', '.join(PICTURE_FORMATS + ARRAY_FORMATS)}, "
                            "or IDX image files (*-ubyte, *.idx, optionally .gz)")
    if not np.isfinite(images).all():
        raise PipelineError(f"{path}: holds NaN or infinite pixels")
    check_pixel_range(images, path)
    divisor = 255.0 if name.endswith(PICTURE_FORMATS) or not name.endswith(ARRAY_FORMATS) else pixel_divisor(images)
    images = scale(images, divisor)
    if dark_on_light and not name.endswith(PICTURE_FORMATS):  # pictures were inverted as they were read
        images = 1 - images
    return images


def load_model(model_path=ENSEMBLE_MODEL, card_path=MODEL_CARD):
    """(the exported ensemble, its class names)."""
    model = load_ensemble(model_path)
    if not os.path.exists(card_path):  # a model alone (`dvc artifacts get` gets only it) has no class names
        raise PipelineError(f"{card_path}: missing (the class names, kept beside the model); {REBUILD}, or beside a "
                            f"model from `dvc artifacts get`: `dvc get <repository> {MODEL_CARD} --rev <its tag>` "
                            "(docs/model.md)")
    return model, read_json(card_path)["class_names"]


def rows_for(probabilities, class_names, top, sources):
    """CSV rows for `probabilities` (N, classes); `sources` holds (file, index) per image."""
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top]
    for (file, index), ranked, row in zip(sources, order, probabilities):
        cells = [file, index]
        for klass in ranked:
            cells += [class_names[klass], f"{row[klass]:.6f}"]
        yield cells


def header(top):
    columns = ["file", "index", "predicted", "probability"]
    for rank in range(2, top + 1):
        columns += [f"class_{rank}", f"probability_{rank}"]
    return columns


def predict(paths, top=3, dark_on_light=False, model=None, class_names=None, batch_size=PREDICT_BATCH_SIZE,
            on_error=None, progress=None):
    """Yield a CSV row (see `header`) for every image of every file in `paths`, IMAGES_PER_CALL images at a time.

    A bad file calls `on_error(PipelineError)` (default: raise) and is skipped. `progress`, a tqdm bar, counts
    images: its total grows by each file's images once the file is read, and it moves on after each batch.
    """
    if model is None:
        model, class_names = load_model()
    top = min(top, len(class_names))
    pending, sources = [], []

    def flush():
        callbacks = [images_done(progress.update)] if progress is not None else []
        probabilities = model.predict(to_model_input(pending), batch_size=batch_size, verbose=0, callbacks=callbacks)
        yield from rows_for(probabilities, class_names, top, sources)
        pending.clear()
        sources.clear()

    for path in paths:
        try:
            images = read_images(path, dark_on_light)
        except PipelineError as error:
            if on_error is None:
                raise
            on_error(error)
            continue
        if progress is not None:
            progress.total += len(images)
            progress.refresh()
        for start in range(0, len(images), IMAGES_PER_CALL):
            chunk = images[start:start + IMAGES_PER_CALL]
            pending.append(chunk)
            sources.extend((path, start + offset) for offset in range(len(chunk)))
            if len(sources) >= IMAGES_PER_CALL:
                yield from flush()
    if sources:
        yield from flush()


def to_model_input(pending):
    return np.concatenate(pending) if len(pending) > 1 else pending[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", metavar="FILE", help="pictures, IDX, .npz or .csv files")
    parser.add_argument("--output", "-o", help="write the CSV here instead of to stdout")
    parser.add_argument("--top", type=int, default=3, help="classes per image, most likely first (default 3)")
    parser.add_argument("--dark-on-light", action="store_true",
                        help="invert the images first (the datasets are light-on-dark)")
    parser.add_argument("--model", default=ENSEMBLE_MODEL, help=f"the exported ensemble (default {ENSEMBLE_MODEL})")
    arguments = parser.parse_args(argv)
    if arguments.top < 1:
        parser.error(f"--top {arguments.top}: allowed: an integer >= 1")
    failures = []

    def report(error):
        failures.append(error)
        with tqdm.external_write_mode(file=sys.stderr):  # the line above the bar, not inside it
            print_error(error)

    try:
        model, class_names = load_model(arguments.model, os.path.join(os.path.dirname(arguments.model),
                                                                      os.path.basename(MODEL_CARD)))
    except PipelineError as error:
        print_error(error)
        return 1
    # A bar on stderr when a person watches it (disable=None: stderr is a terminal), nothing in logs; not when the
    # rows themselves go to that terminal: they would tear it.
    quiet = True if arguments.output is None and sys.stdout.isatty() else None
    try:
        with tqdm(total=0, unit="image", file=sys.stderr, disable=quiet) as bar, output_to(arguments.output) as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header(min(arguments.top, len(class_names))))
            for row in predict(arguments.files, arguments.top, arguments.dark_on_light, model, class_names,
                               on_error=report, progress=bar):
                writer.writerow(row)
    except PipelineError as error:  # the output cannot be written (a full disk, a read-only folder)
        print_error(error)
        return 1
    if failures:
        print_error(f"{len(failures)} of {len(arguments.files)} files not classified (see above)")
    return 1 if failures else 0


@contextlib.contextmanager
def output_to(path):
    """stdout, or a file at `path` written atomically."""
    if path is None:
        yield sys.stdout
        return
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8", newline="") as handle:
        yield handle


if __name__ == "__main__":
    sys.exit(main())
