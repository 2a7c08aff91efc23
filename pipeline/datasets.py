"""The MNIST-family datasets: where their IDX files come from, and how to read them.

Every source (a local folder, Debian's package, a public mirror) is checked against
the sha256 of the *decompressed* bytes, so the files in data/raw/ are identical
whichever way they arrived, and so is their DVC hash. An IDX file is read only as far as
its header promises, and refused from that header when it promises more than
MAX_ARRAY_BYTES (a gzip bomb stops there, before it is decompressed).
"""
import gzip
import hashlib
import io
import math
import os
import shutil
import struct
import sys
import urllib.request
import zlib

import numpy as np

from pipeline.runtime.errors import PipelineError
from pipeline.runtime.files import atomic_path
from pipeline.user_data import MAX_ARRAY_BYTES, too_big

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

DATASETS = {
    "mnist": {
        "env": "MNIST_DIR",
        "debian_dir": None,  # Debian ships no MNIST package
        "mirrors": ("https://storage.googleapis.com/cvdf-datasets/mnist/",
                    "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        "sha256": {
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        "class_names": ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    },
    "fashion_mnist": {
        "env": "FASHION_MNIST_DIR",
        "debian_dir": "/usr/share/datasets/fashion-mnist",
        "mirrors": ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",),
        "sha256": {
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        "class_names": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    },
}

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801  # uint8 data, 3 or 1 dimensions
GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(data, name):
    """Return the array held by the IDX bytes `data`; `name` is used in errors."""
    if len(data) < 8:
        raise PipelineError(f"{name}: not an IDX file ({len(data)} bytes, header needs 8)")
    magic = struct.unpack(">I", data[:4])[0]
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise PipelineError(f"{name}: bad IDX magic number 0x{magic:08x} "
                            f"(expected 0x{IMAGES_MAGIC:08x} for images or 0x{LABELS_MAGIC:08x} for labels)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise PipelineError(f"{name}: truncated IDX header ({len(data)} bytes, needs {header})")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise PipelineError(f"{name}: IDX header says shape {shape} ({expected} bytes) "
                            f"but the file has {len(data)} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_bytes(handle, name):
    """The IDX bytes of the open binary file `handle`, gunzipped if it is gzip (decompressed as it is read), read only
    as far as the IDX header promises: a header promising more than MAX_ARRAY_BYTES is refused before anything else
    is read; a broken gzip stream, and data beyond the promise, are errors naming `name`. parse_idx checks the rest."""
    gzipped = handle.read(2) == GZIP_MAGIC
    handle.seek(0)
    stream = gzip.GzipFile(fileobj=handle, mode="rb") if gzipped else handle
    try:
        header, shape = _idx_header(stream)
        if shape is None:
            return header
        size = math.prod(shape)
        if size > MAX_ARRAY_BYTES:
            raise too_big(name, f"the IDX array of shape {shape} (uint8)", size)
        data = header + stream.read(size)
        if len(data) == len(header) + size and stream.read(1):  # one byte past the promise: a bomb may hold GBs more
            raise PipelineError(f"{name}: IDX header says shape {shape} ({len(data)} bytes) but the file has more")
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise PipelineError(f"{name}: not a valid gzip file ({error})") from None
    return data


def _idx_header(stream):
    """(the header bytes at the start of `stream`, the shape they declare); the shape is None where they declare
    none (a bad magic number, a truncated header), which parse_idx then names."""
    header = stream.read(8)  # the magic number and a first dimension: enough for parse_idx to name a bad one
    magic = int.from_bytes(header[:4], "big")
    if len(header) < 8 or magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        return header, None
    ndim = magic & 0xFF
    header += stream.read(4 * ndim - 4)
    if len(header) < 4 + 4 * ndim:
        return header, None
    return header, struct.unpack(f">{ndim}I", header[4:])


def decompress(raw, name):
    """The IDX bytes `raw` holds (gzip or not), by read_idx_bytes' rules."""
    return read_idx_bytes(io.BytesIO(raw), name)


def verify(data, dataset, file, source):
    """Check the sha256 and the IDX header of decompressed `data` for `file`."""
    digest = hashlib.sha256(data).hexdigest()
    expected = DATASETS[dataset]["sha256"][file]
    if digest != expected:
        parse_idx(data, source)  # a broken header gives the more useful message
        raise PipelineError(f"{source}: sha256 of the decompressed bytes is {digest}, "
                            f"expected {expected} for {dataset} {file}")
    parse_idx(data, source)


def _local_path(directory, file):
    """The path of `file` or `file.gz` in `directory`, or None if neither exists."""
    for candidate in (file, file + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def _download(url, timeout):
    """Bytes at `url`, with a progress bar on stderr."""
    from tqdm import tqdm  # imported here: only downloads need it

    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        chunks = []
        with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
                  file=sys.stderr, disable=None) as bar:
            while chunk := response.read(1 << 16):
                chunks.append(chunk)
                bar.update(len(chunk))
    return b"".join(chunks)


def find_local_source(dataset, environ, debian_dir):
    """The local folder to read: the one the dataset's variable names, else the Debian folder if it
    holds all four files, else None.

    A variable the user set must work: a folder that lacks a file is an error, not a reason to
    read other files silently.
    """
    variable = DATASETS[dataset]["env"]
    env_dir = environ.get(variable)
    if env_dir:
        if not os.path.isdir(env_dir):
            raise PipelineError(f"{variable}={env_dir}: not a directory")
        missing = [file for file in FILES if not _local_path(env_dir, file)]
        if missing:
            raise PipelineError(f"{variable}={env_dir}: lacks {', '.join(missing)}; allowed: a folder holding "
                                f"all four of {', '.join(FILES)} (each may be .gz)")
        return env_dir
    if debian_dir and all(_local_path(debian_dir, file) for file in FILES):
        return debian_dir
    return None


def fetch(dataset, destination, environ=None, debian_dir="default", mirrors=None, timeout=60):
    """Put the four verified, decompressed IDX files of `dataset` into `destination`.

    Sources, in order: the folder named by the dataset's environment variable, the
    Debian folder, then `mirrors` over HTTPS. Files are assembled in a temporary
    folder and renamed into place only when all four have passed their checks.
    """
    spec = DATASETS[dataset]
    environ = os.environ if environ is None else environ
    debian_dir = spec["debian_dir"] if debian_dir == "default" else debian_dir
    mirrors = spec["mirrors"] if mirrors is None else mirrors

    local = find_local_source(dataset, environ, debian_dir)

    if os.path.isdir(destination):
        shutil.rmtree(destination)
    with atomic_path(destination) as temporary:
        os.makedirs(temporary)
        for file in FILES:
            if local:
                source = _local_path(local, file)
                with open(source, "rb") as handle:
                    data = read_idx_bytes(handle, source)
            else:
                raw, source = _download_any(dataset, file, mirrors, timeout)
                data = decompress(raw, source)
            verify(data, dataset, file, source)
            with open(os.path.join(temporary, file), "wb") as handle:
                handle.write(data)
            print(f"{file}: verified, from {source}")
    return local or "download"


def _download_any(dataset, file, mirrors, timeout):
    errors = []
    for mirror in mirrors:
        url = mirror + file + ".gz"
        try:
            return _download(url, timeout), url
        except OSError as error:  # URLError, HTTPError, timeouts and resets are OSErrors
            errors.append(f"{url}: {getattr(error, 'reason', error)}")
    spec = DATASETS[dataset]
    ways = [f"set {spec['env']} to a folder holding the four IDX files (.gz or not)"]
    if spec["debian_dir"]:
        ways.append(f"install Debian's package (apt-get install dataset-fashion-mnist) "
                    f"which fills {spec['debian_dir']}")
    ways.append("allow HTTPS access to " + " or ".join(mirrors))
    raise PipelineError(f"no source for {dataset}: " + "; or ".join(ways)
                        + f" (download failed: {'; '.join(errors) or 'no mirrors'})")


def load_raw(directory):
    """The four arrays from a data/raw/<dataset> folder: x_train, y_train, x_test, y_test."""
    arrays = []
    for file in FILES:
        path = os.path.join(directory, file)
        with open(path, "rb") as handle:
            arrays.append(parse_idx(read_idx_bytes(handle, path), path))
    x_train, y_train, x_test, y_test = arrays
    return x_train, y_train, x_test, y_test
