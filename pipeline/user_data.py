"""A user's own labelled images: `.npz`, Kaggle-style `.csv`, and (opt-in) pickled `.npy` / `.pkl`.

Every reader returns (features, target): features shaped (N, 28, 28) as float32, target
shaped (N,) holding the file's own labels. Anything malformed is one PipelineError line
naming the file and the problem. Memory does not follow what a file claims: an array that would
take more than MAX_ARRAY_BYTES once read is refused from its declared size, before any of it is
read (.npz: the .npy header of each array; CSV: values counted first; IDX: pipeline.datasets).
Pickle formats are the exception: only a file the user trusts is read (allow_pickle).
"""
import gzip
import math
import os
import zipfile
import zlib

import numpy as np
import pandas as pd

from pipeline.runtime.errors import PipelineError

IMAGE_SHAPE = (28, 28)
PIXEL_RANGE = (0, 255)  # 0..255 (IDX, Kaggle CSV) or already 0..1 (002): prepare divides by 255 or 1
PICKLE_FORMATS = (".npy", ".pkl")  # only readable through pickle, which can run code from the file
# The most bytes one array of a data file may take once read (2 GiB): 2.7 million 28x28 uint8 images, 39x MNIST's
# 70,000, or 342,000 as float64. A 15 MB .npz can claim 15.7 GB; this refuses it before allocating anything.
MAX_ARRAY_BYTES = 2**31
# What pandas takes for a CSV cell beyond its text, reading the cells as text first: 20,000 rows of random pixels
# (4 bytes of text a cell) took 14.6 bytes a cell (pipeline.user_data.read_features, ru_maxrss).
CSV_CELL_BYTES = 12
READ_CHUNK = 1 << 20  # bytes read at a time while counting


def load_user_file(path, allow_pickle=False):
    """(features, target) from the user's file at `path`; pickle formats need `allow_pickle`."""
    suffix = os.path.splitext(path)[1].lower()
    if not os.path.isfile(path):
        raise PipelineError(f"{path}: file not found (params.yaml dataset)")
    if os.path.getsize(path) == 0:
        raise PipelineError(f"{path}: the file is empty")
    if suffix in PICKLE_FORMATS and not allow_pickle:
        raise PipelineError(f"{path}: a {suffix} file can only be read with pickle, which can run code hidden in "
                            "the file; convert it to .npz, or set allow_pickle: true in params.yaml if you trust it")
    if suffix not in READERS:
        raise PipelineError(f"{path}: unsupported format {suffix!r}; allowed: {', '.join(READERS)}")
    features, target = READERS[suffix](path)
    # A CSV's image i is on line i + 2 (after the header); other formats count images from 0.
    return _check(features, target, path, (lambda i: f"row {i + 2}") if suffix == ".csv" else (lambda i: f"image {i}"))


def too_big(path, what, size):
    """The PipelineError for an array of `path`, described by `what`, that would take `size` bytes once read."""
    return PipelineError(f"{path}: {what} would take {size:,} bytes once read; allowed: at most {MAX_ARRAY_BYTES:,} "
                         f"bytes ({MAX_ARRAY_BYTES / 2**30:g} GiB) an array, whatever the file's own size")


def read_npz_arrays(path, names):
    """{name: array} of the arrays `names` in the .npz file at `path`, read without pickle; one PipelineError for a
    file that is not a readable .npz, lacks one of them or declares one larger than MAX_ARRAY_BYTES."""
    if not zipfile.is_zipfile(path):  # NumPy would try it as a pickle and talk about allow_pickle
        raise PipelineError(f"{path}: not a readable .npz file (not a zip archive: damaged or another format)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in names if name not in archive.files]
            if missing:
                raise PipelineError(f"{path}: no {' or '.join(repr(name) for name in missing)} array; "
                                    f"the file has {', '.join(archive.files) or 'no arrays'}")
            for name in names:
                check_npz_member(archive.zip, name, path)
            return {name: archive[name] for name in names}
    except PipelineError:
        raise
    except ValueError as error:  # object arrays need pickle
        raise PipelineError(f"{path}: {str(error).splitlines()[0]}") from None
    except Exception as error:  # zipfile.BadZipFile, OSError, EOFError: not a readable .npz
        raise PipelineError(f"{path}: not a readable .npz file ({type(error).__name__}: {error})") from None


def check_npz_member(archive, name, path):
    """Refuse the array `name` of the open zip `archive` (the .npz file `path`) when it is no .npy array or its header
    declares more than MAX_ARRAY_BYTES: only the header is read (NumPy would allocate what it declares)."""
    member = name if name in archive.namelist() else name + ".npy"  # as numpy.lib.npyio.NpzFile finds it
    with archive.open(member) as handle:
        try:
            version = np.lib.format.read_magic(handle)
            # Version 3.0 differs from 2.0 only in encoding the header as UTF-8 (field names): shape and size match.
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = header(handle)
        except ValueError as error:
            raise PipelineError(f"{path}: not a readable .npz file ({name}: {str(error).splitlines()[0]})") from None
    size = math.prod(shape) * dtype.itemsize
    if size > MAX_ARRAY_BYTES:
        raise too_big(path, f"{name} of shape {shape} ({dtype})", size)


def _read_npz(path):
    arrays = read_npz_arrays(path, ("features", "target"))
    return arrays["features"], arrays["target"]


SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "bars"}  # what spreadsheets write instead of commas


def check_csv_size(path):
    """Refuse the CSV file at `path` (gzip-compressed when its name ends .gz, as pandas reads it) when pandas would
    take more than MAX_ARRAY_BYTES to read it (its text, and CSV_CELL_BYTES a cell): a CSV states no size of its
    own, so its line ends and commas are counted in chunks first, and counting stops at the bound."""
    gzipped, rows, cells, text = path.lower().endswith(".gz"), 0, 0, 0
    if not gzipped and os.path.getsize(path) > MAX_ARRAY_BYTES:  # its text alone (a sparse file's costs no disk)
        raise too_big(path, f"{os.path.getsize(path):,} bytes of text", os.path.getsize(path))
    with (gzip.open if gzipped else open)(path, "rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            lines = chunk.count(b"\n")
            rows, cells, text = rows + lines, cells + lines + chunk.count(b","), text + len(chunk)  # commas + 1 a line
            if text + cells * CSV_CELL_BYTES > MAX_ARRAY_BYTES:
                raise too_big(path, f"at least {rows:,} lines, {cells:,} values, {text:,} bytes of text",
                              text + cells * CSV_CELL_BYTES)


def read_csv_table(path):
    """The cells of the CSV file at `path` as strings, with its header; one PipelineError if it is not CSV."""
    try:
        check_csv_size(path)
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            EOFError, gzip.BadGzipFile, zlib.error) as error:  # the last three: a broken .csv.gz
        reason = (str(error) or repr(error)).splitlines()[0]
        raise PipelineError(f"{path}: not a readable CSV file ({reason})") from None
    if table.shape[1] == 1:
        separator = next((mark for mark in SEPARATORS if mark in str(table.columns[0])), None)
        if separator:
            raise PipelineError(f"{path}: the values are separated by {SEPARATORS[separator]}; allowed: commas "
                                "(save it as comma-separated CSV)")
    return table


def _read_csv(path):
    """A header row, a `label` column and 784 pixel columns (Kaggle's digit-recognizer train.csv)."""
    return _table_to_arrays(read_csv_table(path), path, "no 'label' column in the header")


def label_columns(table):
    """The columns of `table` named `label` in any case (a file's labels)."""
    return [column for column in table.columns if str(column).strip().lower() == "label"]


def _table_to_arrays(table, path, no_label_message):
    """(pixels, labels) of a table with a `label` column (any case) and 784 numeric pixel columns."""
    labels = label_columns(table)
    if not labels:
        raise PipelineError(f"{path}: {no_label_message}")
    label_column = labels[0]
    pixels = table.drop(columns=[label_column])
    if pixels.shape[1] != np.prod(IMAGE_SHAPE):
        raise PipelineError(f"{path}: {pixels.shape[1]} pixel columns; allowed: {np.prod(IMAGE_SHAPE)} (28x28)")
    numeric = numeric_table(table, path)
    return numeric.drop(columns=[label_column]).to_numpy(), numeric[label_column].to_numpy()


def read_features(path):
    """(N, 28, 28) float32 pixels of an .npz (`features`) or a CSV (784 pixel columns, any `label` column left
    out): the images of a file to classify (pipeline.predict), by the same rules as a dataset's file."""
    if path.lower().endswith(".npz"):
        features = read_npz_arrays(path, ("features",))["features"]
    else:
        table = read_csv_table(path)
        features = numeric_table(table.drop(columns=label_columns(table)), path).to_numpy()
    features = image_shaped(_as_float(features, path, "features"), path)
    if len(features) == 0:
        raise PipelineError(f"{path}: holds no images")
    return features


def numeric_table(table, path):
    """`table` (cells as read from the CSV file `path`) as numbers; the first cell that is none is one PipelineError."""
    numeric = table.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna().to_numpy()
    if bad.any():
        row, column = map(int, np.argwhere(bad)[0])
        raise PipelineError(f"{path}: row {row + 2}, column {table.columns[column]!r}: "
                            f"{table.iat[row, column]!r} is not a number")
    return numeric


def _read_pickled_npy(path):
    """Study 002's format: np.save of a dict {'features': ..., 'target': ...}."""
    try:
        content = np.load(path, allow_pickle=True)[()]
    except Exception as error:
        raise PipelineError(f"{path}: not a readable .npy file ({type(error).__name__}: {error})") from None
    return _from_object(content, path)


def _read_pkl(path):
    """A pickled dict {'features', 'target'}, a (features, target) pair, or a DataFrame with a label column."""
    try:
        content = pd.read_pickle(path)
    except Exception as error:
        raise PipelineError(f"{path}: not a readable pickle ({type(error).__name__}: {error})") from None
    if isinstance(content, pd.DataFrame):
        return _table_to_arrays(content, path, "the pickled table has no 'label' column")
    return _from_object(content, path)


def _from_object(content, path):
    if isinstance(content, dict) and "features" in content and "target" in content:
        return content["features"], content["target"]
    if isinstance(content, (tuple, list)) and len(content) == 2:
        return content
    raise PipelineError(f"{path}: holds a {type(content).__name__}; allowed: a dict with 'features' and "
                        "'target', or a (features, target) pair")


READERS = {".npz": _read_npz, ".csv": _read_csv, ".npy": _read_pickled_npy, ".pkl": _read_pkl}
USER_FORMATS = tuple(READERS)  # the suffixes `dataset` may name (pipeline.params)


def _as_float(values, path, what, dtype=np.float32):
    try:
        return np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise PipelineError(f"{path}: {what} must be numeric ({error})") from None


def image_shaped(features, path):
    """`features` (N, 784), (N, 28, 28) or (N, 28, 28, 1) as (N, 28, 28); any other shape is one PipelineError."""
    if features.ndim >= 2 and features.shape[1:] in ((784,), (28, 28, 1)):
        features = features.reshape(len(features), *IMAGE_SHAPE)
    if features.shape[1:] != IMAGE_SHAPE:
        raise PipelineError(f"{path}: features have shape {features.shape}; allowed: (N, 784), (N, 28, 28) "
                            "or (N, 28, 28, 1)")
    return features


def _check(features, target, path, where):
    """`features` as float32 (N, 28, 28), `target` as int64 (N,); `where(i)` names image i in errors."""
    features, target = _as_float(features, path, "features"), _as_float(target, path, "target", np.float64)
    if target.ndim == 2 and target.shape[1] == 1:
        target = target[:, 0]
    if target.ndim != 1:
        raise PipelineError(f"{path}: target has shape {target.shape}; allowed: (N,)")
    if len(features) != len(target):
        raise PipelineError(f"{path}: {len(features)} feature rows but {len(target)} targets")
    if len(target) == 0:
        raise PipelineError(f"{path}: holds no examples")
    features = image_shaped(features, path)
    if not (np.isfinite(features).all() and np.isfinite(target).all()):
        raise PipelineError(f"{path}: features or target hold NaN or infinite values")
    check_pixel_range(features, path, where)
    if not np.array_equal(target, np.round(target)):
        raise PipelineError(f"{path}: target holds non-integer labels such as {target[target != np.round(target)][0]}")
    return features, target.astype(np.int64)


def check_pixel_range(images, path, where=lambda image: f"image {image}"):
    """Raise a PipelineError naming the first pixel of `images` (N, 28, 28) outside PIXEL_RANGE."""
    outside = (images < PIXEL_RANGE[0]) | (images > PIXEL_RANGE[1])
    if outside.any():
        image, row, column = map(int, np.argwhere(outside)[0])
        raise PipelineError(f"{path}: {where(image)}, pixel {row * IMAGE_SHAPE[1] + column}: "
                            f"{images[image, row, column]:g} is out of range; allowed: pixels from "
                            f"{PIXEL_RANGE[0]} to {PIXEL_RANGE[1]} (or 0 to 1)")


def relabel(target):
    """(labels mapped to 0..K-1 in sorted order, the original label of each new id)."""
    originals, mapped = np.unique(target, return_inverse=True)
    return mapped.astype(np.int64), [int(label) for label in originals]
