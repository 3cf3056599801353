"""retouch-runtime: what every retouch service is built on, written once."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from retouch.runtime.__about__ import __version__
from retouch.runtime.app import create_service_app
from retouch.runtime.concurrency import run_sync
from retouch.runtime.http import StructResponse, decode_struct, read_struct
from retouch.runtime.problems import ProblemError, field_error
from retouch.runtime.settings import ServiceSettings, SettingsError, load_settings

if TYPE_CHECKING:
    from retouch.runtime.images import ImageHeader, ImageLimits, encode_image, open_image, open_mask, probe_image

__all__ = [
    "ImageHeader",
    "ImageLimits",
    "ProblemError",
    "ServiceSettings",
    "SettingsError",
    "StructResponse",
    "__version__",
    "create_service_app",
    "decode_struct",
    "encode_image",
    "field_error",
    "load_settings",
    "open_image",
    "open_mask",
    "probe_image",
    "read_struct",
    "run_sync",
]

# The image helpers pull in Pillow; services that never decode pictures (the gateway) should not pay
# for it at start-up, so they are resolved on first use.
_LAZY = {
    name: "retouch.runtime.images"
    for name in ("ImageHeader", "ImageLimits", "encode_image", "open_image", "open_mask", "probe_image")
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'retouch.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
