import gzip
import http.server
import os
import shutil
import struct
import threading

import numpy as np
import pytest

from pipeline.datasets import DATASETS, FILES, decompress, fetch, load_raw, parse_idx
from pipeline.runtime.errors import PipelineError

import bombs


def idx_bytes(array):
    """IDX encoding of a uint8 array, as in the MNIST files."""
    magic = 0x00000800 | array.ndim
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def test_parse_idx_round_trip():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(idx_bytes(images), "x"), images)
    labels = np.array([3, 1, 4], dtype=np.uint8)
    np.testing.assert_array_equal(parse_idx(idx_bytes(labels), "y"), labels)


@pytest.mark.parametrize("data, message", [
    (b"\x00\x00", "not an IDX file"),
    (struct.pack(">I", 0x00000D03) + b"\x00" * 12, "bad IDX magic number 0x00000d03"),
    (struct.pack(">II", 0x00000803, 2), "truncated IDX header"),
    (struct.pack(">IIII", 0x00000803, 2, 2, 2) + b"\x00" * 3, "(24 bytes) but the file has 19 bytes"),
    (idx_bytes(np.zeros(2, np.uint8)) + b"\x00", "header says shape (2,)"),
])
def test_parse_idx_rejects_corrupt_input(data, message):
    with pytest.raises(PipelineError, match=r"^bad-file: .*") as error:
        parse_idx(data, "bad-file")
    assert message in str(error.value)


IMAGES = np.arange(5 * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(5, 28, 28)


def test_decompress_passes_plain_bytes_and_rejects_broken_gzip():
    assert decompress(idx_bytes(IMAGES), "f") == idx_bytes(IMAGES)
    assert decompress(gzip.compress(idx_bytes(IMAGES)), "f") == idx_bytes(IMAGES)
    with pytest.raises(PipelineError, match="f.gz: not a valid gzip file"):
        decompress(gzip.compress(idx_bytes(IMAGES))[:-20], "f.gz")
    with pytest.raises(PipelineError, match="f.gz: not a valid gzip file .*CRC check failed"):
        stream = bytearray(gzip.compress(idx_bytes(IMAGES)))
        stream[-8] ^= 1  # the CRC in the trailer, read only after the header's promise is met
        decompress(bytes(stream), "f.gz")


def test_an_idx_file_is_read_as_gzip_decompress_reads_it_whole():
    """Decompressed as it is read, member after member: the same bytes as gzip.decompress of the whole stream."""
    raw = gzip.compress(idx_bytes(IMAGES)[:300]) + gzip.compress(idx_bytes(IMAGES)[300:]) + b"\0" * 16
    assert gzip.decompress(raw) == decompress(raw, "f") == idx_bytes(IMAGES)


@pytest.mark.parametrize("data, message", [
    (idx_bytes(IMAGES) + b"\0", r"IDX header says shape \(5, 28, 28\) \(3936 bytes\) but the file has more$"),
    (gzip.compress(idx_bytes(IMAGES) + b"\0"), r"IDX header says shape \(5, 28, 28\) \(3936 bytes\) but the file has "
                                               "more$"),
    (struct.pack(">4I", 0x00000803, 2**20, 2**20, 2**20),
     r"the IDX array of shape \(1048576, 1048576, 1048576\) \(uint8\) would take 1,152,921,504,606,846,976 bytes "
     r"once read; allowed: at most 2,147,483,648 bytes \(2 GiB\) an array"),
])
def test_an_idx_file_is_read_no_further_than_its_header_promises(data, message):
    with pytest.raises(PipelineError, match=rf"^f: {message}"):
        decompress(data, "f")


def test_a_gzip_idx_bomb_is_refused_from_its_header(tmp_path):
    """What predict and fetch meet: one line naming the file, the shape its header claims and the bound, at a peak
    memory far below the claim (the stream really holds 256 MiB of zeros, which gzip.decompress would allocate)."""
    path = tmp_path / "bomb-idx3-ubyte.gz"
    bombs.gzip_idx_bomb(path)
    line, peak_mb = bombs.refusal_and_peak(f"from pipeline.datasets import read_idx_bytes; "
                                           f"read_idx_bytes(open({str(path)!r}, 'rb'), {str(path)!r})")
    assert line == (f"error: {path}: the IDX array of shape (20000000, 28, 28) (uint8) would take 15,680,000,000 "
                    "bytes once read; allowed: at most 2,147,483,648 bytes (2 GiB) an array, whatever the file's own "
                    "size"), line
    assert peak_mb < bombs.PEAK_LIMIT_MB, f"{peak_mb} MB to refuse {path.name}"


def test_fetch_refuses_a_gzip_idx_bomb_from_its_header_and_leaves_nothing(tmp_path):
    folder, destination = tmp_path / "fashion", tmp_path / "raw" / "fashion_mnist"
    folder.mkdir()
    bombs.gzip_idx_bomb(folder / f"{FILES[0]}.gz")
    for file in FILES[1:]:
        (folder / file).write_bytes(b"")
    line, peak_mb = bombs.refusal_and_peak(
        f"from pipeline.datasets import fetch; fetch('fashion_mnist', {str(destination)!r}, "
        f"environ={{'FASHION_MNIST_DIR': {str(folder)!r}}}, debian_dir=None, mirrors=())")
    assert line.startswith(f"error: {folder / FILES[0]}.gz: the IDX array of shape (20000000, 28, 28) (uint8) would "
                           "take 15,680,000,000 bytes once read; allowed: at most 2,147,483,648 bytes"), line
    assert peak_mb < bombs.PEAK_LIMIT_MB, f"{peak_mb} MB to refuse it"
    assert os.listdir(tmp_path / "raw") == []


@pytest.mark.e2e  # real data, its fixture found by name
@pytest.mark.parametrize("dataset, fixture, test_counts", [
    ("fashion_mnist", "fashion_dir", [1000] * 10),
    ("mnist", "mnist_dir", [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
])
def test_fetch_from_environment_folder(dataset, fixture, test_counts, request, tmp_path):
    folder = request.getfixturevalue(fixture)
    destination = tmp_path / "raw" / dataset
    source = fetch(dataset, str(destination), environ={DATASETS[dataset]["env"]: str(folder)}, debian_dir=None,
                   mirrors=())
    assert source == str(folder)
    assert sorted(os.listdir(destination)) == sorted(FILES)
    x_train, y_train, x_test, y_test = load_raw(str(destination))
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_test).tolist() == test_counts


def corrupt_copy(fashion_dir, tmp_path, file, transform):
    broken = tmp_path / "broken"
    shutil.copytree(fashion_dir, broken)
    path = broken / f"{file}.gz"
    os.chmod(path, 0o644)
    path.write_bytes(transform(path.read_bytes()))
    return broken


@pytest.mark.parametrize("transform, message", [
    (lambda raw: raw[: len(raw) // 2], "not a valid gzip file"),                   # truncated .gz
    (lambda raw: gzip.compress(gzip.decompress(raw)[:-1]), "header says shape"),  # one byte short
    (lambda raw: gzip.compress(gzip.decompress(raw)[:-1] + b"\x01"), "sha256 of the decompressed bytes"),
    (lambda raw: b"not gzip at all", "bad IDX magic number"),
])
def test_fetch_rejects_corrupt_file_and_leaves_nothing(fashion_dir, tmp_path, transform, message):
    broken = corrupt_copy(fashion_dir, tmp_path, "t10k-labels-idx1-ubyte", transform)
    destination = tmp_path / "raw" / "fashion_mnist"
    with pytest.raises(PipelineError) as error:
        fetch("fashion_mnist", str(destination), environ={"FASHION_MNIST_DIR": str(broken)}, debian_dir=None,
              mirrors=())
    assert "t10k-labels-idx1-ubyte" in str(error.value) and message in str(error.value)
    assert "\n" not in str(error.value)
    assert os.listdir(tmp_path / "raw") == []  # no partial folder, no temporary left


def test_fetch_without_any_source_lists_the_three_ways(tmp_path):
    # Port 9 (discard) on loopback: nothing listens, so the download is refused at once.
    with pytest.raises(PipelineError) as error:
        fetch("fashion_mnist", str(tmp_path / "out"), environ={}, debian_dir=str(tmp_path / "none"),
              mirrors=("http://127.0.0.1:9/",), timeout=5)
    message = str(error.value)
    assert message.startswith("no source for fashion_mnist: set FASHION_MNIST_DIR")
    assert "apt-get install dataset-fashion-mnist" in message
    assert "allow HTTPS access to http://127.0.0.1:9/" in message
    assert not (tmp_path / "out").exists()


def test_fetch_environment_variable_must_name_a_folder(tmp_path):
    with pytest.raises(PipelineError, match=r"MNIST_DIR=.*nowhere: not a directory"):
        fetch("mnist", str(tmp_path / "out"), environ={"MNIST_DIR": str(tmp_path / "nowhere")}, mirrors=())


def test_fetch_downloads_from_a_mirror(fashion_dir, tmp_path):
    """The real download code, against a mirror served on loopback from the real files."""
    handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(fashion_dir))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        mirror = f"http://127.0.0.1:{server.server_address[1]}/"
        source = fetch("fashion_mnist", str(tmp_path / "out"), environ={}, debian_dir=None,
                       mirrors=("http://127.0.0.1:9/", mirror), timeout=10)
    finally:
        server.shutdown()
    assert source == "download"
    assert sorted(os.listdir(tmp_path / "out")) == sorted(FILES)
