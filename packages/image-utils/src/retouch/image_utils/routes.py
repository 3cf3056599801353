"""The HTTP routes: ``POST /api/image-utils/<op>``, one per operation.

Each handler decodes the request with the contract's struct, runs the operation in a worker
thread (decoding, numpy/OpenCV and encoding are all CPU work) and answers with the response struct.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from retouch.image_utils.ops.color import white_balance
from retouch.image_utils.ops.composite import composite
from retouch.image_utils.ops.extract import add_shadow_preview, extract_object
from retouch.image_utils.ops.formats import convert, metadata
from retouch.image_utils.ops.geometry import letterbox, resize_image, unletterbox
from retouch.image_utils.ops.masks import mask_operation
from retouch.image_utils.seed_forms import is_form, white_balance_form
from retouch.runtime.concurrency import run_sync
from retouch.runtime.http import StructResponse, read_struct
from retouch.runtime.images import ImageLimits
from retouch.sdk.models import image_utils as m

__all__ = ["OPERATIONS", "build_routes"]

PREFIX = "/api/image-utils"

Operation = Callable[[Any, ImageLimits], msgspec.Struct]

#: Path segment -> (request type, the operation).
OPERATIONS: dict[str, tuple[type[msgspec.Struct], Operation]] = {
    "extract-object": (m.ExtractObjectRequest, extract_object),
    "add-shadow-preview": (m.AddShadowPreviewRequest, add_shadow_preview),
    "mask": (m.MaskRequest, mask_operation),
    "resize": (m.ResizeRequest, resize_image),
    "letterbox": (m.LetterboxRequest, letterbox),
    "unletterbox": (m.UnletterboxRequest, unletterbox),
    "composite": (m.CompositeRequest, composite),
    "convert": (m.ConvertRequest, convert),
    "white-balance": (m.WhiteBalanceRequest, white_balance),
    "metadata": (m.MetadataRequest, metadata),
}


def _endpoint(
    request_type: type[msgspec.Struct], op: Operation, limits: ImageLimits
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if op is white_balance and is_form(request):
            return await white_balance_form(request, limits)
        body = await read_struct(request, request_type)
        return StructResponse(await run_sync(op, body, limits))

    endpoint.__name__ = f"image_utils_{op.__name__}"
    return endpoint


def build_routes(limits: ImageLimits) -> list[Route]:
    """One ``POST`` route per operation, bound to ``limits``."""
    return [
        Route(f"{PREFIX}/{name}", _endpoint(request_type, op, limits), methods=["POST"])
        for name, (request_type, op) in OPERATIONS.items()
    ]
