"""Users' own files (.npz, .csv, pickled .npy/.pkl) and what prepare does with them."""
import gzip
import io
import pickle
import re
import zipfile

import numpy as np
import pandas as pd
import pytest

from pipeline.prepare import carve_test, select_classes
from pipeline.runtime.errors import PipelineError
from pipeline.user_data import load_user_file, read_features, relabel

import bombs


def images(count, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, 28, 28)).astype(np.uint8)


def write_csv(path, count=3, labels=None):
    pixels = images(count).reshape(count, 784)
    table = pd.DataFrame(pixels, columns=[f"pixel{i}" for i in range(784)])
    table.insert(0, "label", labels if labels is not None else np.arange(count) % 10)
    table.to_csv(path, index=False)
    return table


def test_npz_with_features_and_target(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, features=images(5).reshape(5, 784), target=np.array([1, 2, 3, 4, 5]))
    features, target = load_user_file(str(path))
    assert features.shape == (5, 28, 28) and features.dtype == np.float32
    np.testing.assert_array_equal(target, [1, 2, 3, 4, 5])


def test_kaggle_csv(tmp_path):
    path = tmp_path / "train.csv"
    table = write_csv(path, count=4)
    features, target = load_user_file(str(path))
    np.testing.assert_array_equal(target, table["label"])
    np.testing.assert_array_equal(features[2].reshape(-1), table.iloc[2, 1:].to_numpy())


@pytest.mark.parametrize("make, message", [
    (lambda p: np.savez(p, features=images(3), labels=np.arange(3)),
     r"no 'target' array; the file has features, labels"),
    (lambda p: np.savez(p, features=images(3), target=np.arange(4)), r"3 feature rows but 4 targets"),
    (lambda p: np.savez(p, features=np.zeros((3, 32, 32)), target=np.arange(3)),
     r"features have shape \(3, 32, 32\); allowed: \(N, 784\), \(N, 28, 28\) or \(N, 28, 28, 1\)"),
    (lambda p: np.savez(p, features=images(2), target=np.array([0.5, 1.0])),
     r"target holds non-integer labels such as 0.5"),
    (lambda p: np.savez(p, features=np.zeros((0, 784)), target=np.zeros(0)), r"holds no examples"),
    (lambda p: p.write_bytes(b"PK\x03\x04 truncated"), r"not a readable .npz file"),
    (lambda p: p.write_bytes(b""), r"the file is empty"),
])
def test_malformed_npz_is_one_line_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.npz"
    make(path)
    with pytest.raises(PipelineError, match=rf"^{path}: {message}") as error:
        load_user_file(str(path))
    assert "\n" not in str(error.value)


def test_csv_with_a_non_numeric_cell_names_row_and_column(tmp_path):
    path = tmp_path / "train.csv"
    write_csv(path)
    lines = path.read_text().splitlines()
    cells = lines[2].split(",")
    cells[5] = "dark"
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PipelineError, match=rf"^{path}: row 3, column 'pixel4': 'dark' is not a number$"):
        load_user_file(str(path))


@pytest.mark.parametrize("header, message", [
    ("digit," + ",".join(f"p{i}" for i in range(784)), r"no 'label' column in the header"),
    ("label," + ",".join(f"p{i}" for i in range(700)), r"700 pixel columns; allowed: 784 \(28x28\)"),
])
def test_csv_with_wrong_columns(tmp_path, header, message):
    path = tmp_path / "train.csv"
    width = header.count(",")
    path.write_text(header + "\n" + ",".join(["1"] * (width + 1)) + "\n")
    with pytest.raises(PipelineError, match=rf"^{path}: {message}"):
        load_user_file(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(PipelineError, match=r"nope.npz: file not found"):
        load_user_file(str(tmp_path / "nope.npz"))


@pytest.mark.parametrize("suffix", [".npy", ".pkl"])
def test_pickle_formats_are_refused_unless_allowed(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    content = {"features": images(4) / 255.0, "target": np.array([1, 2, 3, 5])}  # 002: pixels 0..1, labels 1..5
    if suffix == ".npy":
        np.save(path, content, allow_pickle=True)
    else:
        path.write_bytes(pickle.dumps(content))
    with pytest.raises(PipelineError, match=rf"^{path}: a {suffix} file can only be read with pickle, which can run "
                                            r"code hidden in the file; convert it to .npz, or set allow_pickle: true"):
        load_user_file(str(path))
    features, target = load_user_file(str(path), allow_pickle=True)
    assert features.shape == (4, 28, 28) and features.max() <= 1.0
    np.testing.assert_array_equal(target, [1, 2, 3, 5])


def test_pickled_dataframe_with_a_label_column(tmp_path):
    path = tmp_path / "table.pkl"
    table = pd.DataFrame(images(3).reshape(3, 784))
    table["label"] = [7, 8, 9]
    table.to_pickle(path)
    features, target = load_user_file(str(path), allow_pickle=True)
    np.testing.assert_array_equal(target, [7, 8, 9])
    assert features.shape == (3, 28, 28)


def test_labels_that_are_not_0_to_k_minus_1_are_mapped_and_the_mapping_kept():
    mapped, originals = relabel(np.array([5, 1, 3, 1, 5]))
    np.testing.assert_array_equal(mapped, [2, 0, 1, 0, 2])
    assert originals == [1, 3, 5]


def test_class_subset_is_relabelled_in_the_order_given():
    x = np.arange(6)[:, None]
    y = np.array([0, 3, 5, 3, 9, 5])
    subset_x, subset_y = select_classes(x, y, [5, 3])
    np.testing.assert_array_equal(subset_x[:, 0], [1, 2, 3, 5])
    np.testing.assert_array_equal(subset_y, [1, 0, 1, 0])


def test_carved_test_set_is_disjoint_and_seeded():
    x, y = np.arange(100)[:, None], np.arange(100) % 5
    x_train, _, x_test, _ = carve_test(x, y, 0.05, seed=0)
    assert len(x_test) == 5 and len(x_train) == 95
    assert np.intersect1d(x_train, x_test).size == 0
    np.testing.assert_array_equal(carve_test(x, y, 0.05, seed=0)[2], x_test)
    assert not np.array_equal(carve_test(x, y, 0.05, seed=1)[2], x_test)
    with pytest.raises(PipelineError, match=r"test_fraction: 0.001 of 100 images leaves an empty training or test set"):
        carve_test(x, y, 0.001, seed=0)


# --- files that claim more than MAX_ARRAY_BYTES (tests/bombs.py): refused from the claim, before reading ---

TOO_BIG = (r"would take {size} bytes once read; allowed: at most 2,147,483,648 bytes \(2 GiB\) an array, whatever "
           r"the file's own size")


@pytest.mark.parametrize("name, write, call, refusal", [
    ("bomb.npz", bombs.npz_bomb, "load_user_file", r"features of shape \(20000000, 28, 28\) \(uint8\) "
                                                   + TOO_BIG.format(size="15,680,000,000")),
    ("bomb.npz", bombs.npz_bomb, "read_features", r"features of shape \(20000000, 28, 28\) \(uint8\) "
                                                  + TOO_BIG.format(size="15,680,000,000")),
    ("bomb.csv.gz", bombs.csv_gz_bomb, "read_features", r"at least [\d,]+ lines, [\d,]+ values, [\d,]+ bytes of text "
                                                        + TOO_BIG.format(size=r"2,1[\d,]+")),
    ("bomb.csv", bombs.sparse_csv_bomb, "load_user_file", r"2,148,[\d,]+ bytes of text "
                                                          + TOO_BIG.format(size=r"2,148,[\d,]+")),
])
def test_a_file_claiming_more_than_the_bound_is_refused_before_it_is_read(tmp_path, name, write, call, refusal):
    """What fetch (load_user_file) and predict (read_features) meet: one line naming the file, its claim and the
    bound, at a peak memory far below what the file claims (each bomb really holds 256+ MiB behind its claim)."""
    path = tmp_path / name
    write(path)
    line, peak_mb = bombs.refusal_and_peak(f"from pipeline.user_data import {call}; {call}({str(path)!r})")
    assert re.fullmatch(rf"error: {re.escape(str(path))}: {refusal}", line), line
    assert peak_mb < bombs.PEAK_LIMIT_MB, f"{peak_mb} MB to refuse {name}"


def test_a_target_array_is_bounded_too(tmp_path):
    path = tmp_path / "labels.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("features.npy", npy_bytes(np.zeros((3, 784), np.uint8)))
        archive.writestr("target.npy", npy_header({"descr": "<i8", "fortran_order": False, "shape": (2**28 + 1,)}))
    with pytest.raises(PipelineError, match=rf"^{path}: target of shape \(268435457,\) \(int64\) "
                                            + TOO_BIG.format(size="2,147,483,656")):
        load_user_file(str(path))


def test_an_npz_member_that_is_no_npy_array_is_refused_unread(tmp_path):
    path = tmp_path / "raw.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("features.npy", b"\x00" * 1000)
        archive.writestr("target.npy", npy_bytes(np.zeros(3)))
    with pytest.raises(PipelineError, match=rf"^{path}: not a readable .npz file \(features: the magic string is not "
                                            "correct"):
        load_user_file(str(path))


def npy_header(header):
    handle = io.BytesIO()
    np.lib.format.write_array_header_1_0(handle, header)
    return handle.getvalue()


def npy_bytes(array):
    handle = io.BytesIO()
    np.save(handle, array)
    return handle.getvalue()


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_files_within_the_bound_read_as_before(tmp_path, suffix):
    """The checks read ahead of NumPy and pandas, which then read the file as they always did: the same arrays."""
    table = write_csv(tmp_path / "plain.csv", count=5)
    path = tmp_path / f"mine{suffix}"
    (path.write_bytes(gzip.compress((tmp_path / "plain.csv").read_bytes())) if suffix.endswith(".gz")
     else path.write_bytes((tmp_path / "plain.csv").read_bytes()))
    expected = table.drop(columns="label").to_numpy().reshape(5, 28, 28).astype(np.float32)
    np.testing.assert_array_equal(read_features(str(path)), expected)
    np.savez_compressed(tmp_path / "mine.npz", features=expected.astype(np.uint8), target=np.arange(5))
    features, target = load_user_file(str(tmp_path / "mine.npz"))
    assert features.dtype == np.float32 and np.array_equal(features, expected) and target.tolist() == [0, 1, 2, 3, 4]


def test_a_broken_gzip_csv_is_one_line(tmp_path):
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(gzip.compress(CSV_TEXT.encode())[:-30])
    with pytest.raises(PipelineError, match=rf"^{path}: not a readable CSV file \(Compressed file ended"):
        read_features(str(path))


CSV_TEXT = bombs.CSV_HEADER + ",".join(["1"] * 785) + "\n"
