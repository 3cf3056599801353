"""The local blob store: atomic files under safe keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from retouch.jobs.blobs import LocalBlobStore, check_key


async def test_put_get_delete(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    await blobs.put("t1/result.png", b"png bytes")
    await blobs.put("t1/request.json", b"{}")
    assert await blobs.get("t1/result.png") == b"png bytes"
    await blobs.put("t1/result.png", b"replaced")
    assert await blobs.get("t1/result.png") == b"replaced"
    assert not list((tmp_path / "t1").glob(".*")), "no temporary files left behind"
    await blobs.delete("t1/request.json")
    await blobs.delete("t1/request.json")
    assert await blobs.get("t1/request.json") is None
    await blobs.delete_prefix("t1")
    assert await blobs.get("t1/result.png") is None and not (tmp_path / "t1").exists()
    await blobs.delete_prefix("t1")


@pytest.mark.parametrize("key", ["../escape", "/abs/path", "a/../../b", "", ".hidden", "a//b", "a/b/c/d/e"])
async def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        check_key(key)
    with pytest.raises(ValueError):
        await LocalBlobStore(tmp_path).put(key, b"x")
