"""Helpers that turn whatever a caller has (a path, bytes, a PIL image) into image bytes."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from retouch.sdk._codec import ASSET_PREFIX, AssetRef, Base64Bytes
from retouch.sdk.files import write_atomically

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["ImageInput", "save_image", "to_base64_bytes", "to_bytes"]

#: Anything the SDK accepts where an image is expected.
ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, "PILImage.Image"]


def to_bytes(image: ImageInput | Any) -> bytes:
    """Encoded image bytes from a path, raw bytes, or a PIL image (saved as PNG); an
    ``"asset:<id>"`` string is an :class:`~retouch.sdk._codec.AssetRef`."""
    if isinstance(image, Base64Bytes):
        return image  # an AssetRef stays a reference
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image)
    # A command-line argument arrives as a Path: "asset:<id>" is a reference unless such a file
    # really exists.
    if (
        isinstance(image, str | os.PathLike)
        and os.fspath(image).startswith(ASSET_PREFIX)
        and (isinstance(image, str) or not Path(image).exists())
    ):
        return AssetRef.of(os.fspath(image)[len(ASSET_PREFIX) :])
    if isinstance(image, str | os.PathLike):
        return Path(image).read_bytes()
    save = getattr(image, "save", None)
    if callable(save):
        buf = io.BytesIO()
        save(buf, format="PNG")
        return buf.getvalue()
    raise TypeError(f"expected a path, bytes or a PIL image, not {type(image).__name__}")


def to_base64_bytes(image: ImageInput | Any) -> Base64Bytes:
    """Like :func:`to_bytes`, typed for a contract field."""
    return image if isinstance(image, Base64Bytes) else Base64Bytes(to_bytes(image))


def save_image(data: bytes, path: str | os.PathLike[str]) -> Path:
    """Write encoded image bytes to ``path`` (parents created, atomically: never a half-written
    picture) and return the path."""
    return write_atomically(path, data)
