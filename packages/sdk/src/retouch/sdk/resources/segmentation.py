"""``client.segmentation``: smart masks (``POST /api/smart-mask``) and cancelling them.

``image`` takes a path, encoded bytes or a PIL image; so does ``mask`` (a brush stroke). The
answer's ``image_id`` lets the next click on the same picture skip re-sending it. A smart mask
is a pure function of its inputs, so the request is retried on connection errors and
429/502/503/504 (503 is what a service still loading its model answers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, cast
from urllib.parse import quote

from retouch.sdk._base import NOT_GIVEN, RequestSpec, Timeout
from retouch.sdk.images import ImageInput, to_base64_bytes
from retouch.sdk.models.segmentation import CancelSmartMaskResponse, SmartMaskRequest, SmartMaskResponse
from retouch.sdk.resources import AsyncResource, SyncResource
from retouch.sdk.resources.assets import worth_uploading

__all__ = ["AsyncSegmentation", "Segmentation"]

Pair = Sequence[float]


def _smart_mask_spec(
    image: ImageInput | None,
    *,
    image_id: str | None,
    points: Sequence[Pair] | None,
    point_labels: Sequence[int] | None,
    bbox: Sequence[float] | None,
    mask: ImageInput | None,
    auto_detect: bool,
    border_adjustment: int,
    use_blur: bool,
    model_type: str | None,
    request_id: str | None,
) -> RequestSpec:
    if image is None and image_id is None:
        raise ValueError("give the picture (image=...) or the image_id of an earlier answer")
    # Sent as given: the service refuses a label other than 0 or 1 (422) rather than guessing.
    labels = None if point_labels is None else cast(list[Literal[0, 1]], [int(label) for label in point_labels])
    body = SmartMaskRequest(
        image=None if image is None else to_base64_bytes(image),
        image_id=image_id,
        points=None if points is None else [(float(p[0]), float(p[1])) for p in points],
        point_labels=labels,
        bbox=None if bbox is None else (float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])),
        mask=None if mask is None else to_base64_bytes(mask),
        auto_detect=auto_detect,
        border_adjustment=border_adjustment,
        use_blur=use_blur,
        model_type=model_type,
        request_id=request_id,
    )
    return RequestSpec("POST", "/api/smart-mask", body=body, cast=SmartMaskResponse, idempotent=True)


def _cancel_spec(request_id: str) -> RequestSpec:
    return RequestSpec("POST", f"/api/smart-mask/cancel/{quote(request_id, safe='')}", cast=CancelSmartMaskResponse)


class Segmentation(SyncResource):
    """Calls for smart masks (``/api/smart-mask``)."""

    def smart_mask(
        self,
        image: ImageInput | None = None,
        *,
        image_id: str | None = None,
        points: Sequence[Pair] | None = None,
        point_labels: Sequence[int] | None = None,
        bbox: Sequence[float] | None = None,
        mask: ImageInput | None = None,
        auto_detect: bool = False,
        border_adjustment: int = 0,
        use_blur: bool = False,
        model_type: str | None = None,
        request_id: str | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> SmartMaskResponse:
        """A mask of the object the prompts point at: a mode-L PNG (``mask_base64``) the picture's size.

        Send ``image`` or, for another click on the same picture, the ``image_id`` of an earlier
        answer. Prompts: ``points`` ``[(x, y), ...]`` in pixels with ``point_labels`` (1 include,
        0 exclude), ``bbox`` ``(x_min, y_min, x_max, y_max)``, ``mask`` (a brush stroke), or
        ``auto_detect``. ``border_adjustment`` grows (or, negative, shrinks) the mask by that many
        pixels; ``use_blur`` feathers its edge. ``request_id`` names the request for
        :meth:`cancel`. No prompt, a point outside the picture or nothing found raise
        :class:`~retouch.sdk.errors.UnprocessableEntityError`; an unknown ``image_id`` raises
        :class:`~retouch.sdk.errors.NotFoundError`. A picture over
        :data:`~retouch.sdk.resources.assets.UPLOAD_THRESHOLD` is uploaded once as an asset and
        named by reference (the next click on it sends nothing again).
        """
        if image is not None and worth_uploading(image):
            image = self._client.assets.ref(image, timeout=timeout)
        spec = _smart_mask_spec(
            image,
            image_id=image_id,
            points=points,
            point_labels=point_labels,
            bbox=bbox,
            mask=mask,
            auto_detect=auto_detect,
            border_adjustment=border_adjustment,
            use_blur=use_blur,
            model_type=model_type,
            request_id=request_id,
        )
        result: SmartMaskResponse = self._client._send(spec, timeout)
        return result

    def cancel(self, request_id: str, *, timeout: Timeout = NOT_GIVEN) -> CancelSmartMaskResponse:
        """Cancel the running smart-mask request ``request_id`` (it then fails with a 409 ``cancelled``).

        An unknown or already finished id raises :class:`~retouch.sdk.errors.NotFoundError`.
        """
        result: CancelSmartMaskResponse = self._client._send(_cancel_spec(request_id), timeout)
        return result


class AsyncSegmentation(AsyncResource):
    """Async twin of :class:`Segmentation`."""

    async def smart_mask(
        self,
        image: ImageInput | None = None,
        *,
        image_id: str | None = None,
        points: Sequence[Pair] | None = None,
        point_labels: Sequence[int] | None = None,
        bbox: Sequence[float] | None = None,
        mask: ImageInput | None = None,
        auto_detect: bool = False,
        border_adjustment: int = 0,
        use_blur: bool = False,
        model_type: str | None = None,
        request_id: str | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> SmartMaskResponse:
        """A mask of the object the prompts point at; see :meth:`Segmentation.smart_mask`."""
        if image is not None and worth_uploading(image):
            image = await self._client.assets.ref(image, timeout=timeout)
        spec = _smart_mask_spec(
            image,
            image_id=image_id,
            points=points,
            point_labels=point_labels,
            bbox=bbox,
            mask=mask,
            auto_detect=auto_detect,
            border_adjustment=border_adjustment,
            use_blur=use_blur,
            model_type=model_type,
            request_id=request_id,
        )
        result: SmartMaskResponse = await self._client._send(spec, timeout)
        return result

    async def cancel(self, request_id: str, *, timeout: Timeout = NOT_GIVEN) -> CancelSmartMaskResponse:
        """Cancel the running smart-mask request ``request_id``; see :meth:`Segmentation.cancel`."""
        result: CancelSmartMaskResponse = await self._client._send(_cancel_spec(request_id), timeout)
        return result
