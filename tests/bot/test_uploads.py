"""Tests of bot/uploads.py: generated names, atomic writes, no path tricks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.evidence import is_stored_name
from bot.uploads import StoredNameError, new_stored_name, remove, stored_path, write_atomically


def test_generated_names_are_random_and_typed() -> None:
    names = {new_stored_name("image/png") for _ in range(50)}
    assert len(names) == 50
    assert all(is_stored_name(name) and name.endswith(".png") for name in names)
    assert new_stored_name("image/webp").endswith(".webp")


def test_write_creates_the_folder_and_leaves_only_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    name = new_stored_name("image/jpeg")
    path = write_atomically(folder, name, b"abc")
    assert path == folder / name and path.read_bytes() == b"abc"
    assert os.listdir(folder) == [name]
    assert (path.stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize("name", ["../../etc/passwd", "a.jpg", "x\x00.jpg", "/etc/x.png"])
def test_path_tricks_are_refused_and_write_nothing(tmp_path: Path, name: str) -> None:
    with pytest.raises(StoredNameError):
        write_atomically(tmp_path / "uploads", name, b"abc")
    with pytest.raises(StoredNameError):
        stored_path(tmp_path, name)
    assert not (tmp_path / "uploads").exists()


def test_a_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_replace(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(tmp_path, new_stored_name("image/png"), b"abc")
    assert os.listdir(tmp_path) == []


def test_remove_is_quiet_when_the_file_is_gone(tmp_path: Path) -> None:
    name = new_stored_name("image/png")
    write_atomically(tmp_path, name, b"abc")
    remove(tmp_path, name)
    remove(tmp_path, name)
    assert os.listdir(tmp_path) == []
