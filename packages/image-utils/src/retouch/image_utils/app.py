"""The image-utils service: ``create_app(settings)`` gives the Starlette app."""

from __future__ import annotations

from starlette.applications import Starlette

from retouch.image_utils.__about__ import __version__
from retouch.image_utils.routes import build_routes
from retouch.image_utils.settings import ImageUtilsSettings
from retouch.runtime.app import create_service_app
from retouch.runtime.images import ImageLimits
from retouch.runtime.settings import load_settings

__all__ = ["create_app"]

SERVICE_NAME = "image-utils"


def create_app(settings: ImageUtilsSettings | None = None) -> Starlette:
    """The image-utils app; ``settings`` default to the environment (``RETOUCH_*``)."""
    settings = settings if settings is not None else load_settings(ImageUtilsSettings)
    return create_service_app(
        name=SERVICE_NAME,
        version=__version__,
        settings=settings,
        routes=build_routes(ImageLimits.from_settings(settings)),
    )
