"""The HTTP routes of the segmentation service (the paths of API.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from retouch.runtime.http import StructResponse, read_struct
from retouch.sdk.models.segmentation import SmartMaskRequest
from retouch.segmentation.service import SegmentationService

__all__ = ["routes"]


def _service(request: Request) -> SegmentationService:
    service: SegmentationService = request.app.state.segmentation
    return service


async def smart_mask(request: Request) -> Response:
    """``POST /api/smart-mask``: a mask from points, a box, a brush stroke or auto-detect."""
    body = await read_struct(request, SmartMaskRequest)
    return StructResponse(await _service(request).smart_mask(body))


async def cancel(request: Request) -> Response:
    """``POST /api/smart-mask/cancel/{request_id}``: stop a running request (404 if none runs)."""
    return StructResponse(_service(request).cancel(request.path_params["request_id"]))


def routes() -> list[Route]:
    """The service's routes (``/api/health`` comes from the runtime)."""
    return [
        Route("/api/smart-mask", smart_mask, methods=["POST"]),
        Route("/api/smart-mask/cancel/{request_id}", cancel, methods=["POST"]),
    ]
