"""The smart-mask contract: ``POST /api/smart-mask`` and ``POST /api/smart-mask/cancel/{request_id}``.

Coordinates are image pixels of the picture as sent (after its EXIF orientation is applied): ``x``
grows to the right, ``y`` downwards. A box is ``[x_min, y_min, x_max, y_max]`` with the max edges
exclusive, so ``[0, 0, width, height]`` is the whole picture.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from retouch.sdk._codec import Base64Bytes
from retouch.sdk.models.common import RouteInfo

__all__ = ["ROUTES", "CancelSmartMaskResponse", "SmartMaskRequest", "SmartMaskResponse"]

#: Client-chosen request ids (and the image ids the service hands out) match this.
ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"

Coordinate = Annotated[float, msgspec.Meta(ge=-1e9, le=1e9)]
Point = tuple[Coordinate, Coordinate]
Box = tuple[Coordinate, Coordinate, Coordinate, Coordinate]


class SmartMaskRequest(msgspec.Struct, kw_only=True):
    """A mask from prompts on ``image`` (or on an image sent earlier, by ``image_id``).

    At least one prompt is needed: ``points``, ``bbox``, ``mask`` or ``auto_detect``. Prompts
    combine (a box plus include/exclude points, a stroke plus points). How many points are allowed
    is configured by the service.
    """

    #: The picture (PNG, JPEG, WebP, ...); base64 or a ``data:`` URL.
    image: Base64Bytes | None = None
    #: The ``image_id`` of an earlier answer, instead of sending the picture again.
    image_id: Annotated[str, msgspec.Meta(pattern=ID_PATTERN)] | None = None
    #: Clicks, ``[[x, y], ...]`` in image pixels.
    points: list[Point] | None = None
    #: One label a point: 1 include (the default), 0 exclude.
    point_labels: list[Literal[0, 1]] | None = None
    #: ``[x_min, y_min, x_max, y_max]`` around the object.
    bbox: Box | None = None
    #: A brush stroke over the object (white = painted), used by its shape.
    mask: Base64Bytes | None = None
    #: Find the picture's main object without any prompt.
    auto_detect: bool = False
    #: Grow the mask by this many pixels (negative shrinks it).
    border_adjustment: Annotated[int, msgspec.Meta(ge=-1024, le=1024)] = 0
    #: Feather the mask's edge (grey levels instead of a hard 0/255 edge).
    use_blur: bool = False
    #: The engine to use: its name (``grabcut``, ``fastsam``, ...) or an alias of the seed system's
    #: client, ``segmentation`` (the default promptable engine) or ``birefnet`` (the salient-object
    #: engine where one is installed, else the default); another name is a 422 listing the served ones.
    model_type: str | None = None
    #: The caller's id for this request, to cancel it with ``POST /api/smart-mask/cancel/{request_id}``.
    request_id: Annotated[str, msgspec.Meta(pattern=ID_PATTERN)] | None = None


class SmartMaskResponse(msgspec.Struct, kw_only=True):
    """The mask: a mode-L PNG the size of the picture, white (>127) where the object is."""

    success: bool = True
    mask_base64: Base64Bytes
    #: Send this instead of the picture on the next click on the same picture.
    image_id: str
    request_id: str
    #: The engine's confidence in the mask, 0..1.
    score: float
    #: ``[x_min, y_min, x_max, y_max]`` of the mask (max edges exclusive).
    bbox: list[int]
    width: int = 0
    height: int = 0
    #: The engine that made the mask.
    engine: str | None = None
    #: The same, under the name the seed system's client reads: the engine that ran, whatever
    #: ``model_type`` (an engine's name or an alias) asked for.
    model_used: str | None = None
    #: Whether the per-image work was reused from an earlier request.
    cached: bool = False
    #: Milliseconds spent per stage (``decode``, ``prepare``, ``select``, ``postprocess``, ``encode``, ``total``).
    timings: dict[str, float] = msgspec.field(default_factory=dict)


class CancelSmartMaskResponse(msgspec.Struct, kw_only=True):
    """Answer of ``POST /api/smart-mask/cancel/{request_id}``: the request will stop at its next stage."""

    request_id: str
    status: Literal["cancelled"] = "cancelled"


#: The segmentation service's public routes.
ROUTES: tuple[RouteInfo, ...] = (
    RouteInfo(
        "POST",
        "/api/smart-mask",
        "segmentation",
        "A mask from clicks, a box, a brush stroke or auto-detect",
        request=SmartMaskRequest,
        response=SmartMaskResponse,
    ),
    RouteInfo(
        "POST",
        "/api/smart-mask/cancel/{request_id}",
        "segmentation",
        "Cancel a smart-mask request still running",
        response=CancelSmartMaskResponse,
    ),
)
