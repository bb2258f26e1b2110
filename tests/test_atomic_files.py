"""`write_atomic`: the whole file or the old one, never a part, and no temporary file left behind."""

import os

import pytest

from kuzushiji_tf import atomic_files
from kuzushiji_tf.atomic_files import write_atomic


def test_writes_text_and_bytes_and_makes_parents_when_asked(tmp_path):
    assert write_atomic(tmp_path / "a.txt", "頁 1\n").read_text(encoding="utf-8") == "頁 1\n"
    assert write_atomic(tmp_path / "b.bin", b"\x00\xff").read_bytes() == b"\x00\xff"
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "new" / "c.txt", "x")
    assert write_atomic(tmp_path / "new" / "c.txt", "x", make_parents=True).read_text() == "x"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.bin", "c.txt", "new"]


def test_a_failure_mid_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path, monkeypatch):
    path = tmp_path / "manifest.json"
    path.write_text("old")

    def no_disk_left(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_files.os, "fsync", no_disk_left)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, "new and longer")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["manifest.json"]


def test_the_next_write_removes_what_a_killed_writer_left_and_keeps_a_live_writers_file(tmp_path):
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)  # that process has exited: its temporary file is an orphan
    path = tmp_path / "page[1].txt"  # glob characters in the name are matched literally
    orphan = tmp_path / f".page[1].txt.{dead_pid}.0a1b2c3d.tmp"
    live = tmp_path / f".page[1].txt.{os.getpid()}.deadbeef.tmp"  # a writer still running (this process)
    other = tmp_path / f".page[2].txt.{dead_pid}.0a1b2c3d.tmp"  # another file's: not this write's business
    for p in (orphan, live, other):
        p.write_text("partial")
    write_atomic(path, "whole")
    assert path.read_text() == "whole"
    assert not orphan.exists() and live.exists() and other.exists()
