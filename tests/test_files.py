"""Atomic writes (pipeline.runtime.files.atomic_path): a complete output or the last one, never half of one."""
import os

import pytest

from pipeline.runtime.files import TEMPORARY_DIR, atomic_path, temporary_dir_for


def test_a_folder_replaces_the_last_one_whole(tmp_path, monkeypatch):
    """A stage run twice without DVC removing its outputs first (os.replace alone refuses a non-empty folder)."""
    monkeypatch.chdir(tmp_path)
    for version in ("old", "new"):
        with atomic_path("out") as temporary:
            os.mkdir(temporary)
            (tmp_path / temporary / f"{version}.txt").write_text(version)
    assert os.listdir("out") == ["new.txt"] and os.listdir(TEMPORARY_DIR) == []


def test_a_failed_write_leaves_the_last_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.txt").write_text("good")
    with pytest.raises(RuntimeError), atomic_path("out.txt") as temporary:
        (tmp_path / temporary).write_text("half")
        raise RuntimeError("a bug half way")
    assert (tmp_path / "out.txt").read_text() == "good" and os.listdir(TEMPORARY_DIR) == []


def test_the_temporary_lives_on_the_outputs_own_filesystem(tmp_path, monkeypatch):
    """models/ a symlink to another filesystem: the temporary is made there, so the final rename never crosses."""
    other = "/dev/shm"
    if not os.path.isdir(other) or os.stat(other).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip(f"{other} is not another filesystem here")
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "elsewhere"
    os.symlink(os.path.realpath(os.path.join(other, ".")), target)
    folder = target / f"models-test-{os.getpid()}"
    folder.mkdir()
    try:
        os.symlink(folder, "models")
        os.mkdir("reports")  # atomic_path makes the folder first
        assert temporary_dir_for("models/member_0.keras") == os.path.realpath(folder)  # links resolved
        assert temporary_dir_for("reports/metrics.json") == TEMPORARY_DIR
        with atomic_path("models/member_0.keras") as temporary:
            assert os.path.dirname(temporary) == os.path.realpath(folder)
            (tmp_path / temporary).write_text("weights")
        assert (folder / "member_0.keras").read_text() == "weights" and os.listdir(folder) == ["member_0.keras"]
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


def test_what_is_published_is_synced_before_the_rename_and_its_folder_after(tmp_path, monkeypatch):
    """A power cut after the rename must not find an empty file: fsync of the data, then the rename, then the folder."""
    monkeypatch.chdir(tmp_path)
    events, real_fsync, real_replace = [], os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
                        or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", str(b))) or real_replace(a, b))
    with atomic_path("out.txt") as temporary:
        (tmp_path / temporary).write_text("data")
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"], events
    assert events[0][1].startswith(str(tmp_path / TEMPORARY_DIR)) and events[2][1] == str(tmp_path)
