"""Configuration of the image-utils service (``RETOUCH_*`` variables)."""

from __future__ import annotations

from retouch.runtime.settings import ServiceSettings

__all__ = ["ImageUtilsSettings"]


class ImageUtilsSettings(ServiceSettings, kw_only=True):
    """The shared service settings. ``max_image_pixels`` / ``max_image_side`` bound every decoded
    input and every image an operation creates (resize, letterbox, shadow canvas)."""
