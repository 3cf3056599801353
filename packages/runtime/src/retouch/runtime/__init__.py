"""retouch-runtime: what every retouch service is built on, written once."""

from __future__ import annotations

from retouch.runtime.__about__ import __version__
from retouch.runtime.app import create_service_app
from retouch.runtime.concurrency import run_sync
from retouch.runtime.http import StructResponse, decode_struct, read_struct
from retouch.runtime.images import ImageLimits, encode_image, open_image, open_mask
from retouch.runtime.problems import ProblemError, field_error
from retouch.runtime.settings import ServiceSettings, SettingsError, load_settings

__all__ = [
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
    "read_struct",
    "run_sync",
]
