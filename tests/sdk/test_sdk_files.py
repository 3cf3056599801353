"""Files written whole or not at all (the SDK's outputs, the jobs' blob store)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from retouch.sdk.files import write_atomically
from retouch.sdk.images import save_image


def test_writes_creating_parents_and_replaces_whole(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.png"
    assert write_atomically(target, b"first") == target
    write_atomically(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.png"]


def test_a_failed_write_keeps_the_old_content_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_save_image_is_atomic_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "result.png"
    save_image(b"picture", target)
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(OSError):
        save_image(b"other", target)
    assert target.read_bytes() == b"picture"
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]


def test_copy_atomically_copies_whole_and_keeps_the_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retouch.sdk.files import copy_atomically

    source = tmp_path / "upload.bin"
    source.write_bytes(b"x" * 100_000)
    target = tmp_path / "store" / "blob.bin"
    assert copy_atomically(source, target) == target
    assert target.read_bytes() == source.read_bytes()
    source.write_bytes(b"newer")
    monkeypatch.setattr(os, "replace", lambda *args: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space left"):
        copy_atomically(source, target)
    assert target.read_bytes() == b"x" * 100_000
    assert [p.name for p in target.parent.iterdir()] == ["blob.bin"]
